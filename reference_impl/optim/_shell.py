"""What every optimizer shell does the same way, whatever its math.

The shells (``SGD``, ``Adam``, ...) hold no math; the few steps they share are written once here.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch


def evaluate_closure(closure: Optional[Callable[[], torch.Tensor]]) -> Optional[torch.Tensor]:
    """Run ``closure`` (which re-evaluates the model and calls ``backward``) with gradients enabled.

    ``step()`` runs under ``torch.no_grad()``; the closure must be able to build a graph, as in ``torch.optim``.
    Returns the closure's loss, or ``None`` when there is no closure.
    """
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def check_dense(name: str, param: torch.Tensor) -> None:
    """Raise ``RuntimeError`` if ``param``'s gradient is sparse (no optimizer of the course supports that)."""
    if param.grad.is_sparse:
        raise RuntimeError(f"{name} does not support sparse gradients")


def check_dense_real(name: str, param: torch.Tensor) -> None:
    """:func:`check_dense`, and also raise ``RuntimeError`` for a complex parameter."""
    check_dense(name, param)
    if torch.is_complex(param):
        raise RuntimeError(f"{name} supports real parameters only (got {param.dtype})")
