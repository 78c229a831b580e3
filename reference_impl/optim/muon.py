r"""Muon: momentum orthogonalised by Newton–Schulz (Keller Jordan et al., 2024), for 2-D weight matrices.

Muon replaces the momentum step :math:`M` of a weight matrix by the nearest semi-orthogonal matrix
:math:`UV^\top` (where :math:`M = U\Sigma V^\top` is the reduced SVD): every singular direction of the update gets
the same step size, however small its singular value was. The SVD is too slow on accelerators, so Muon
approximates :math:`UV^\top` with five steps of a quintic Newton–Schulz iteration that runs in bfloat16.

**Precision, and why we reproduce it.** ``torch.optim.Muon`` casts the momentum to bfloat16 before
Newton–Schulz *whatever the parameter dtype*, and adds the bfloat16 result to the (float32 or float64) parameter.
:class:`Muon` does exactly the same, so its trajectory equals torch's bit for bit; a float32 Newton–Schulz would
drift 1e-2 to 7e-2 from torch's over a few hundred steps (the bfloat16 rounding is large and is part of the
algorithm as shipped). The pure function :func:`zeropower_via_newtonschulz` takes the working dtype as an argument
(default bfloat16) so that the book can show the iteration in float64 and compare it with the SVD.

Only 2-D parameters (hidden-layer weight matrices) are accepted. Embeddings, output heads, biases and gains are
meant for AdamW, in a second optimizer (see the example of :class:`Muon`).
"""

from __future__ import annotations

import math
from typing import Iterable, Optional

import torch

from ._shell import Shell, scalar
from .._validation import (
    check_bool,
    check_choice,
    check_finite_reals,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_unit_interval,
)

__all__ = ["Muon", "muon_update", "zeropower_via_newtonschulz", "muon_adjusted_lr"]

NS_COEFFICIENTS = (3.4445, -4.775, 2.0315)  # Keller Jordan's quintic: maximal slope at 0, still converges near 1


@torch.no_grad()
def zeropower_via_newtonschulz(
    matrix: torch.Tensor,
    ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
    ns_steps: int = 5,
    eps: float = 1e-7,
    dtype: torch.dtype = torch.bfloat16,
) -> torch.Tensor:
    r"""Approximate the orthogonal factor :math:`UV^\top` of ``matrix`` :math:`= U\Sigma V^\top`.

    With :math:`(a, b, c)` = ``ns_coefficients`` and :math:`k` = ``ns_steps``:

    .. math::

        X_0 &= G / \max(\lVert G \rVert_F, \epsilon)
            && \text{(all singular values now in } [0, 1]\text{)} \\
        A_j &= X_j X_j^\top, \qquad
        X_{j+1} = a\, X_j + \bigl(b\, A_j + c\, A_j^2\bigr) X_j, \quad j = 0, \dots, k-1
            && \text{(eq-newton-schulz)}

    Each step maps every singular value :math:`\sigma` to :math:`p(\sigma) = a\sigma + b\sigma^3 + c\sigma^5` and
    leaves the singular vectors alone, so :math:`X_k = U\, p^{(k)}(\Sigma / \lVert G\rVert_F)\, V^\top`. The default
    coefficients make :math:`p` steep at 0 (slope 3.4445) at the price of not converging exactly to 1: after 5
    steps the singular values land roughly in :math:`[0.7, 1.2]`, which is close enough to :math:`UV^\top` for
    training.

    A wide matrix is used as is and a tall one is transposed first, so that :math:`A_j` is the smaller Gram matrix.

    Args:
        matrix: :math:`G`, a 2-D tensor (not modified).
        ns_coefficients: :math:`(a, b, c)`.
        ns_steps: :math:`k`.
        eps: :math:`\epsilon`, guards the division for a zero matrix.
        dtype: the working precision (default bfloat16, as ``torch.optim.Muon``).

    Returns:
        :math:`X_k`, in ``dtype``, with the shape of ``matrix``.
    """
    if matrix.ndim != 2:
        raise ValueError(f"Newton–Schulz needs a 2-D matrix, got shape {tuple(matrix.shape)}")
    a, b, c = ns_coefficients
    tall = matrix.size(0) > matrix.size(1)
    x = matrix.to(dtype)
    if tall:
        x = x.T  # work with the smaller Gram matrix X X^T
    x = x.div(x.norm().clamp(min=eps))  # X_0 = G / ||G||_F
    for _ in range(ns_steps):
        gram = x @ x.T  # A = X X^T
        poly = torch.addmm(gram, gram, gram, beta=b, alpha=c)  # b A + c A^2 (one fused op, as torch does)
        x = torch.addmm(x, poly, x, beta=a)  # (eq-newton-schulz)  X <- a X + (b A + c A^2) X
    return x.T if tall else x


def muon_adjusted_lr(lr: float, shape: torch.Size, adjust_lr_fn: Optional[str]) -> float:
    r"""The learning rate actually applied to an :math:`m \times n` matrix.

    * ``None`` or ``"original"`` (Keller Jordan): :math:`\gamma \sqrt{\max(1, m/n)}`, so that tall matrices,
      whose orthogonalised update has smaller entries, get a comparable per-entry step;
    * ``"match_rms_adamw"`` (Moonshot AI, Liu et al. 2025): :math:`0.2\,\gamma\sqrt{\max(m, n)}`, which gives the
      update the RMS of a typical AdamW update (about 0.2), so AdamW's lr and weight decay can be reused.
    """
    rows, cols = shape[0], shape[1]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1, rows / cols))
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    raise ValueError(f"Invalid adjust_lr_fn: {adjust_lr_fn!r} (expected None, 'original' or 'match_rms_adamw')")


@torch.no_grad()
def muon_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    momentum_buffer: torch.Tensor,
    *,
    lr: float,
    weight_decay: float = 0.1,
    momentum: float = 0.95,
    nesterov: bool = True,
    ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
    eps: float = 1e-7,
    ns_steps: int = 5,
    adjust_lr_fn: Optional[str] = None,
) -> None:
    r"""Apply one Muon step to the matrix ``param`` in place (and update ``momentum_buffer`` in place).

    With :math:`\gamma` = ``lr``, :math:`\lambda` = ``weight_decay``, :math:`\mu` = ``momentum``:

    .. math::

        M_t &= \mu\, M_{t-1} + (1-\mu)\, G_t  && (M_0 = 0) \\
        U_t &= \begin{cases} (1-\mu)\, G_t + \mu\, M_t & \text{Nesterov} \\ M_t & \text{otherwise} \end{cases} \\
        O_t &= \mathrm{NS}_k(U_t) \approx U V^\top  && \text{(eq-newton-schulz)} \\
        \theta_t &= (1 - \gamma\lambda)\,\theta_{t-1} - \gamma\, s(m, n)\, O_t  && \text{(eq-muon-update)}

    where :math:`s(m, n)` is the shape factor of :func:`muon_adjusted_lr`. The decay uses the *unscaled*
    :math:`\gamma` and is applied before the orthogonalised step, as in ``torch.optim.Muon``.

    Args:
        param: :math:`\theta`, a 2-D tensor, updated in place.
        grad: :math:`G_t` (not modified).
        momentum_buffer: :math:`M_{t-1}` (zeros before the first step), updated in place to :math:`M_t`.
        lr, weight_decay, momentum, nesterov, ns_coefficients, eps, ns_steps, adjust_lr_fn: as in :class:`Muon`.
    """
    momentum_buffer.lerp_(grad, 1 - momentum)  # M = mu M + (1 - mu) G
    update = grad.lerp(momentum_buffer, momentum) if nesterov else momentum_buffer  # U = (1 - mu) G + mu M
    ortho = zeropower_via_newtonschulz(update, ns_coefficients, ns_steps, eps)  # (eq-newton-schulz), bfloat16
    param.mul_(1 - lr * weight_decay)  # decoupled decay (eq-decoupled-decay)
    param.add_(ortho, alpha=-muon_adjusted_lr(lr, param.shape, adjust_lr_fn))  # (eq-muon-update)


class Muon(Shell):
    r"""Muon: SGD with Nesterov momentum whose step is orthogonalised by Newton–Schulz; 2-D parameters only.

    The update is :func:`muon_update`; this class only manages parameter groups, state and validation. It
    reproduces ``torch.optim.Muon`` step for step, bit for bit (same keywords, same defaults, same state key
    ``"momentum_buffer"``, Newton–Schulz in bfloat16 as torch; see the module docstring).

    Args:
        params: an iterable of 2-D tensors or of parameter-group dicts; any other shape raises ``ValueError``.
        lr: learning rate :math:`\gamma` (default ``1e-3``), before the shape factor of ``adjust_lr_fn``.
        weight_decay: decoupled decay :math:`\lambda`, applied as :math:`\theta \leftarrow (1-\gamma\lambda)\theta`
            (default ``0.1``).
        momentum: :math:`\mu \in [0, 1)` (default ``0.95``). ``torch.optim.Muon`` accepts any :math:`\mu \ge 0`;
            we reject :math:`\mu \ge 1`, where the buffer stops averaging.
        nesterov: use the Nesterov look-ahead :math:`(1-\mu)G + \mu M` (default ``True``).
        ns_coefficients: :math:`(a, b, c)` of the quintic Newton–Schulz iteration
            (default ``(3.4445, -4.775, 2.0315)``).
        eps: :math:`\epsilon` guarding the normalisation :math:`G/\max(\lVert G\rVert_F, \epsilon)` (default ``1e-7``).
        ns_steps: number :math:`k` of Newton–Schulz steps, ``0 <= k < 100`` (default ``5``).
        adjust_lr_fn: ``None`` / ``"original"`` (:math:`\sqrt{\max(1, m/n)}`) or ``"match_rms_adamw"``
            (:math:`0.2\sqrt{\max(m, n)}`); see :func:`muon_adjusted_lr`.
        maximize: keyword only; maximize the objective instead (default ``False``): the gradient is negated first.

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        >>> hidden = [p for p in model.parameters() if p.ndim == 2]
        >>> others = [p for p in model.parameters() if p.ndim != 2]
        >>> muon, adamw = Muon(hidden, lr=0.02), torch.optim.AdamW(others, lr=3e-4)
        >>> model(torch.randn(16, 4)).pow(2).mean().backward()
        >>> muon.step(); adamw.step()

    References:
        Jordan, Jin, Boza, You, Cesista, Newhouse & Bernstein (2024), *Muon: An optimizer for hidden layers in
        neural networks* (kellerjordan.github.io/posts/muon); Liu et al. (2025), *Muon is Scalable for LLM
        Training*; Bernstein & Newhouse (2024), *Old optimizer, new norm*.
    """

    update = staticmethod(muon_update)

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: Optional[str] = None,
        *,
        maximize: bool = False,
    ) -> None:
        check_nonnegative("weight_decay", weight_decay)
        check_unit_interval("momentum", momentum)
        check_bool("nesterov", nesterov)
        check_finite_reals("ns_coefficients", ns_coefficients, 3)
        check_positive("eps", eps)
        check_nonnegative_int("ns_steps", ns_steps)
        if ns_steps >= 100:
            raise ValueError(f"Invalid ns_steps: {ns_steps!r} (expected an integer < 100, as torch.optim.Muon)")
        check_choice("adjust_lr_fn", adjust_lr_fn, (None, "original", "match_rms_adamw"))
        defaults = dict(
            lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
            ns_coefficients=tuple(ns_coefficients), eps=eps, ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn,
            maximize=maximize,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            for param in group["params"]:
                if param.ndim != 2:
                    raise ValueError(
                        f"Invalid params: Muon optimizes 2-D weight matrices only, got a parameter of shape "
                        f"{tuple(param.shape)}; give biases, gains, embeddings and heads to AdamW"
                    )

    def _init_state(self, state: dict, param: torch.Tensor, group: dict) -> None:
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(param.grad)  # M_0 = 0

    def _state_args(self, state: dict, group: dict) -> tuple:
        return (state["momentum_buffer"],)

    def _hyper(self, group: dict) -> dict:
        return dict(lr=scalar(group["lr"]), weight_decay=group["weight_decay"], momentum=group["momentum"],
                    nesterov=group["nesterov"], ns_coefficients=group["ns_coefficients"], eps=group["eps"],
                    ns_steps=group["ns_steps"], adjust_lr_fn=group["adjust_lr_fn"])
