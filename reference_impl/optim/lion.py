"""Lion (EvoLved Sign Momentum): the sign of an interpolation between momentum and gradient, one state tensor.

A pure update function, :func:`lion_update`, and a thin ``torch.optim.Optimizer`` shell, :class:`Lion` (the pattern
of :mod:`reference_impl.optim.sgd`). The operations and their order are those of the authors' algorithm as the
``lion-pytorch`` package writes it, so the two agree step for step.
"""

from __future__ import annotations

from typing import Iterable, Optional

import torch

from ._shell import Shell, scalar
from .._validation import check_betas, check_nonnegative

__all__ = ["Lion", "lion_update"]


@torch.no_grad()
def lion_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    *,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.99,
    weight_decay: float = 0.0,
) -> None:
    r"""Apply one Lion step to ``param`` and its momentum ``exp_avg``, both in place.

    With :math:`\eta` = ``lr``, :math:`\beta_1, \beta_2` = ``beta1``, ``beta2`` and :math:`\lambda` =
    ``weight_decay``, one step computes (element-wise, from :math:`m_0 = 0`)

    .. math::

        c_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
        \theta_t &= \theta_{t-1} - \eta\,\big(\operatorname{sign}(c_t) + \lambda\,\theta_{t-1}\big) \\
        m_t &= \beta_2 m_{t-1} + (1-\beta_2)\, g_t

    with :math:`g_t = \nabla f(\theta_{t-1})`. Two betas play two roles: :math:`\beta_1` mixes the *current*
    gradient into the direction of this step, :math:`\beta_2` (closer to 1) sets how long the momentum remembers.
    The slide deck's eq. (14) has a single beta and takes the sign of the momentum itself: that is a different
    (and worse-behaved) method.

    Every coordinate moves by exactly :math:`\eta` (plus decay), so Lion's update has a much larger norm than
    Adam's: use a 3-10x smaller learning rate and a 3-10x larger :math:`\lambda` than for AdamW. The decay is
    decoupled, :math:`\theta \leftarrow (1-\eta\lambda)\theta`, multiplied by the learning rate as in PyTorch's
    AdamW; it is applied before the sign step, which is the same as the formula above because the sign step does
    not depend on :math:`\theta`.

    Non-finite gradients are not filtered. Note that ``torch.sign`` maps NaN to 0: written naively (as in
    ``lion-pytorch``), a NaN gradient gives a zero step, poisons the momentum and then freezes the affected
    coordinates *silently*. Here a NaN (or infinite) :math:`c_t` reaches :math:`\theta`, as with every optimizer
    of the course; for finite gradients the two agree exactly.

    Args:
        param: :math:`\theta`, updated in place.
        grad: :math:`g_t` (not modified).
        exp_avg: :math:`m_{t-1}` → :math:`m_t`, the only state Lion keeps.
        lr, beta1, beta2, weight_decay: as in :class:`Lion`.
    """
    if weight_decay != 0:
        param.mul_(1 - lr * weight_decay)  # (eq-decoupled-decay), the lambda term of (eq-lion-update)
    interp = exp_avg.mul(beta1).add_(grad, alpha=1 - beta1)  # (eq-lion-interp)  c_t
    # torch.sign maps NaN to 0, which would hide a NaN gradient. Adding 0 * c_t leaves theta unchanged where c_t
    # is finite and makes it NaN where c_t is NaN or infinite (one pass, no mask, no new tensor).
    param.add_(interp, alpha=0)
    param.add_(interp.sign_(), alpha=-lr)  # (eq-lion-update)
    exp_avg.mul_(beta2).add_(grad, alpha=1 - beta2)  # (eq-lion-momentum)


class Lion(Shell):
    r"""Lion: a sign update on an interpolation of momentum and gradient, with decoupled weight decay.

    The update is :func:`lion_update`; this class reproduces the authors' Lion (``lion_pytorch.Lion``) step for
    step (same keywords and defaults; state key ``"exp_avg"``). Lion keeps one state tensor per parameter, half
    of Adam's optimizer memory, and needs no step counter (there is no bias correction).

    Args:
        params: an iterable of tensors or of parameter-group dicts.
        lr: learning rate :math:`\eta` (default ``1e-4``).
        betas: :math:`(\beta_1, \beta_2)`, the interpolation and the momentum decay, each in [0, 1)
            (default ``(0.9, 0.99)``).
        weight_decay: decoupled decay :math:`\lambda` (default ``0``): each step multiplies the parameter by
            :math:`1 - \eta\lambda`.
        maximize: maximize the objective instead (default ``False``): the gradient is negated first, as in torch.
        foreach, fused: ``True`` runs :func:`lion_update` over all tensors of a group compiled with
            ``torch.compile`` (the fast path: the same function, the same math to rounding). Default ``None``: the
            eager loop. The first fast step pays the compilation (see the README); without a compiler the eager
            loop is used, with a one-line warning.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = Lion([w], lr=0.1)
        >>> (w ** 2).sum().backward()
        >>> opt.step()  # every coordinate moves by exactly lr, against the sign of its gradient
        >>> w.detach()
        tensor([ 0.9000, -1.9000])

    References:
        Chen et al. (2023), "Symbolic Discovery of Optimization Algorithms", NeurIPS (Algorithm 2); the authors'
        code in google/automl (``lion``).
    """

    update = staticmethod(lion_update)

    _buffers = ("exp_avg",)

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        foreach: Optional[bool] = None,
        fused: Optional[bool] = None,
    ) -> None:
        check_betas("betas", betas)
        check_nonnegative("weight_decay", weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay, maximize=maximize, foreach=foreach,
                        fused=fused)
        super().__init__(params, defaults)

    def _hyper(self, group: dict) -> dict:
        beta1, beta2 = group["betas"]
        return dict(lr=scalar(group["lr"]), beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"])
