"""Stochastic gradient descent with heavy-ball or Nesterov momentum and L2 weight decay.

The pattern every optimizer of the course follows:

1. a **pure update function** (:func:`sgd_update`) that holds the math, one equation per line, each line tagged
   with the label of the equation in the book (``# (eq-heavy-ball)`` is equation ``eq-heavy-ball`` in the
   momentum chapter);
2. a **thin shell** (:class:`SGD`), a ``torch.optim.Optimizer`` subclass that validates hyperparameters and tells
   the shared :class:`~reference_impl.optim._shell.Shell` which state and hyperparameters the update takes; the
   shell walks the parameter groups, creates state lazily and evaluates the closure. It contains no math.

"Pure" means the function depends only on its arguments and keeps no state of its own; for speed it updates the
parameter and the momentum buffer *in place*, exactly as ``torch.optim.SGD`` does, so the two agree bit for bit.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

import torch

from ._shell import Shell, scalar
from .._validation import check_nonnegative

__all__ = ["SGD", "sgd_update"]


@torch.no_grad()
def sgd_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    momentum_buffer: Optional[torch.Tensor],
    *,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> Optional[torch.Tensor]:
    r"""Apply one SGD step to ``param`` in place and return the new momentum buffer.

    With :math:`\gamma` = ``lr``, :math:`\mu` = ``momentum``, :math:`\tau` = ``dampening`` and
    :math:`\lambda` = ``weight_decay``, one step computes

    .. math::

        g_t &= \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
              && \text{(L2 penalty folded into the gradient)} \\
        b_t &= \begin{cases} g_1 & t = 1 \\ \mu\, b_{t-1} + (1-\tau)\, g_t & t > 1 \end{cases}
              && \text{(heavy-ball buffer)} \\
        d_t &= \begin{cases} g_t + \mu\, b_t & \text{Nesterov} \\ b_t & \text{otherwise} \end{cases} \\
        \theta_t &= \theta_{t-1} - \gamma\, d_t

    With ``momentum=0`` it is plain gradient descent, :math:`\theta_t = \theta_{t-1} - \gamma g_t`.
    Note the first step: the buffer is *set* to :math:`g_1`, not damped, which is what PyTorch does.

    Args:
        param: the parameter :math:`\theta`, updated in place.
        grad: its gradient :math:`\nabla f(\theta_{t-1})` (not modified).
        momentum_buffer: :math:`b_{t-1}`, or ``None`` before the first step (or when ``momentum == 0``).
        lr, momentum, dampening, weight_decay, nesterov: as in :class:`SGD`.

    Returns:
        The buffer :math:`b_t` (the same tensor, updated in place, after the first step), or ``None`` when
        ``momentum == 0``.

    Non-finite gradients are not filtered: a NaN or inf in ``grad`` propagates into ``param`` (and the buffer),
    as in ``torch.optim.SGD``. Guard against it with gradient clipping or a loss-scale check before ``step()``.
    """
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)  # (eq-l2-gradient)
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = grad.detach().clone()  # b_1 = g_1
        else:
            momentum_buffer.mul_(momentum).add_(grad, alpha=1 - dampening)  # (eq-heavy-ball)
        if nesterov:
            grad = grad.add(momentum_buffer, alpha=momentum)  # (eq-nesterov-pytorch)
        else:
            grad = momentum_buffer
    param.add_(grad, alpha=-lr)  # (eq-gd-update)
    return momentum_buffer


class SGD(Shell):
    r"""Stochastic gradient descent, optionally with momentum (heavy ball or Nesterov) and L2 weight decay.

    The update is :func:`sgd_update`; this class only validates the hyperparameters and says which state and
    hyperparameters the update takes (its base class, ``Shell``, walks the groups and keeps the state).
    It reproduces ``torch.optim.SGD`` step for step (same keywords, same defaults, same state key
    ``"momentum_buffer"``).

    Args:
        params: an iterable of tensors or of parameter-group dicts.
        lr: learning rate :math:`\gamma` (default ``1e-3``).
        momentum: momentum factor :math:`\mu` (default ``0``).
        dampening: dampening :math:`\tau` of the gradient added to the buffer (default ``0``).
            ``dampening=momentum`` gives the EMA form :math:`b_t = \mu b_{t-1} + (1-\mu) g_t` of the slides'
            eq. (5), whose steps are :math:`1/(1-\mu)` times shorter at the same ``lr``.
        weight_decay: L2 penalty :math:`\lambda` added to the gradient (default ``0``). For SGD this equals
            decoupled decay with factor :math:`\gamma\lambda`; for adaptive methods it does not (see AdamW).
        nesterov: use Nesterov momentum (default ``False``); needs ``momentum > 0`` and ``dampening == 0``.
        maximize: maximize the objective instead (default ``False``): the gradient is negated first, as in torch.
        foreach, fused: ``True`` runs :func:`sgd_update` over all tensors of a group compiled with
            ``torch.compile`` (the fast path; the same function, so the same math to rounding). Default ``None``:
            the eager loop. The first fast step pays the compilation (see the README's table); without a working
            compiler the eager loop is used, with a one-line warning.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = SGD([w], lr=0.1, momentum=0.9)
        >>> (w ** 2).sum().backward()
        >>> opt.step()
        >>> w.detach()
        tensor([ 0.8000, -1.6000])

    References:
        Robbins & Monro (1951); Polyak (1964) for the heavy ball; Nesterov (1983) and Sutskever et al. (2013)
        for the Nesterov form used here.
    """

    update = staticmethod(sgd_update)
    complex_ok = True  # as torch.optim.SGD

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: Optional[bool] = None,
        fused: Optional[bool] = None,
    ) -> None:
        check_nonnegative("momentum", momentum)
        check_nonnegative("dampening", dampening)
        check_nonnegative("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Invalid nesterov: Nesterov momentum requires momentum > 0 and dampening == 0")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                        maximize=maximize, foreach=foreach, fused=fused)
        super().__init__(params, defaults)

    def _state_args(self, state: dict, group: dict) -> tuple:
        return (state.get("momentum_buffer"),)  # None until the first momentum step

    def _hyper(self, group: dict) -> dict:
        return dict(lr=scalar(group["lr"]), momentum=group["momentum"], dampening=group["dampening"],
                    weight_decay=group["weight_decay"], nesterov=group["nesterov"])

    def _can_compile(self, group: dict, columns: Sequence[list]) -> bool:
        # the first momentum step creates the buffers (a clone of the gradient): done eagerly, once
        return group["momentum"] == 0 or not columns or all(buffer is not None for buffer in columns[2])

    def _store(self, params: Sequence[torch.Tensor], results: Sequence[Optional[torch.Tensor]]) -> None:
        for param, buffer in zip(params, results, strict=True):
            self.state[param]["momentum_buffer"] = buffer
