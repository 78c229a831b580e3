"""How much memory an optimizer's state takes: one function, used by the benchmarks, the bake-off and the book."""

from __future__ import annotations

from typing import Any, Iterable, Union

import torch

__all__ = ["optimizer_state_bytes"]


def optimizer_state_bytes(optimizers: Union[torch.optim.Optimizer, Iterable[torch.optim.Optimizer]]) -> int:
    """Bytes of the tensors held in the per-parameter state of ``optimizers`` (one optimizer or several).

    Every tensor in ``optimizer.state`` counts, also inside lists, tuples and dicts (SOAP keeps its statistics and
    eigenbases in lists), with the whole of its storage; a storage shared by several tensors (views, or a tensor
    held twice) counts once, and an empty tensor not at all. Hyperparameters in the parameter groups are not
    state. State is created lazily, so before the first ``step()`` the answer is 0.
    """
    if isinstance(optimizers, torch.optim.Optimizer):
        optimizers = [optimizers]
    seen: set[int] = set()

    def size(value: Any) -> int:
        if isinstance(value, torch.Tensor):
            storage = value.untyped_storage()
            if value.numel() == 0 or storage.data_ptr() in seen:
                return 0
            seen.add(storage.data_ptr())
            return storage.nbytes()
        if isinstance(value, dict):
            return sum(size(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return sum(size(v) for v in value)
        return 0

    total = 0
    for optimizer in optimizers:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"Invalid optimizers: {optimizer!r} (expected torch.optim.Optimizer instances)")
        total += sum(size(state) for state in optimizer.state.values())
    return total
