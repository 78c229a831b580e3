"""Adaptive methods: Adagrad, RMSprop and Adadelta (per-coordinate step sizes from squared gradients).

Each optimizer is a **pure update function** holding the math (one equation per line, tagged with the book's
equation label) and a **thin shell**, a ``torch.optim.Optimizer`` subclass that validates hyperparameters and says which state and
hyperparameters the update takes (see :mod:`reference_impl.optim.sgd`).

The functions update the parameter and the state tensors *in place*, with the same floating-point operations in
the same order as PyTorch's single-tensor code paths, so the trajectories agree with ``torch.optim`` to rounding.
Where PyTorch differs from the original method or the slide deck (ε placement, a learning rate for Adadelta),
the docstring says so.
"""

from __future__ import annotations

from typing import Iterable, Optional

import torch

from ._shell import Shell, scalar
from .._validation import check_bool, check_nonnegative, check_unit_interval

__all__ = ["Adagrad", "RMSprop", "Adadelta", "adagrad_update", "rmsprop_update", "adadelta_update"]


# ----------------------------------------------------------------------------------------------------- Adagrad


@torch.no_grad()
def adagrad_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    sum_sq: torch.Tensor,
    *,
    step: int,
    lr: float,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    eps: float = 1e-10,
) -> None:
    r"""Apply one Adagrad step to ``param`` and to the accumulator ``sum_sq``, both in place.

    With :math:`\gamma` = ``lr``, :math:`\kappa` = ``lr_decay``, :math:`\lambda` = ``weight_decay``,
    :math:`\epsilon` = ``eps`` and :math:`t` = ``step`` (1 on the first step), one step computes

    .. math::

        g_t &= \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1} \\
        \tilde\gamma_t &= \frac{\gamma}{1 + (t-1)\,\kappa} \\
        r_t &= r_{t-1} + g_t \odot g_t \\
        \theta_t &= \theta_{t-1} - \tilde\gamma_t\, \frac{g_t}{\sqrt{r_t} + \epsilon}

    element-wise, with :math:`r_0` = ``initial_accumulator_value``. The accumulator only grows, so every
    coordinate's step size shrinks like :math:`1/\sqrt{t}` once its gradients stop being small.
    ε sits *outside* the root, as in PyTorch and in Duchi et al.'s diagonal AdaGrad (which adds
    :math:`\delta I` to :math:`\operatorname{diag}(r_t)^{1/2}`); the slide deck's eq. (4) puts it inside
    (:math:`\sqrt{r_t + \epsilon}`), a valid variant that behaves differently while :math:`r_t` is tiny.

    Args:
        param: :math:`\theta`, updated in place.
        grad: :math:`\nabla f(\theta_{t-1})` (not modified).
        sum_sq: :math:`r_{t-1}` on entry, :math:`r_t` on return (PyTorch's state key ``"sum"``).
        step: :math:`t`, counting from 1.
        lr, lr_decay, weight_decay, eps: as in :class:`Adagrad`.
    """
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)  # (eq-l2-gradient)
    decayed_lr = lr / (1 + (step - 1) * lr_decay)
    sum_sq.addcmul_(grad, grad, value=1)  # (eq-adagrad)  r_t = r_{t-1} + g_t^2
    denom = sum_sq.sqrt().add_(eps)
    param.addcdiv_(grad, denom, value=-decayed_lr)  # (eq-adagrad)


class Adagrad(Shell):
    r"""Adagrad: each coordinate's step is divided by the root of the sum of its past squared gradients.

    The update is :func:`adagrad_update`; this class reproduces ``torch.optim.Adagrad`` step for step (same
    keywords, defaults and state keys ``"step"``, ``"sum"``).

    Args:
        params: an iterable of tensors or of parameter-group dicts.
        lr: learning rate :math:`\gamma` (default ``1e-2``).
        lr_decay: :math:`\kappa`, the step size at step :math:`t` is :math:`\gamma/(1+(t-1)\kappa)` (default ``0``).
        weight_decay: L2 penalty :math:`\lambda` added to the gradient (default ``0``).
        initial_accumulator_value: :math:`r_0`, the starting value of every accumulator (default ``0``).
            Unlike ``torch.optim.Adagrad``, which always uses the constructor's value, a value given in a
            parameter group is honoured for that group's parameters.
        eps: :math:`\epsilon`, added to :math:`\sqrt{r_t}` (default ``1e-10``).
        maximize: maximize the objective instead (default ``False``): the gradient is negated first, as in torch.
        foreach, fused: ``True`` runs :func:`adagrad_update` over all tensors of a group compiled with ``torch.compile``
            (the fast path: the same function, the same math to rounding). Default ``None``: the eager loop. The
            first fast step pays the compilation (see the README); without a compiler the eager loop is used, with
            a one-line warning.

    State is created on a parameter's first step (PyTorch creates it in the constructor; the numbers are the same).

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = Adagrad([w], lr=0.1)
        >>> (w ** 2).sum().backward()
        >>> opt.step()  # first step: g / sqrt(g^2) = sign(g), so each coordinate moves by lr
        >>> w.detach()
        tensor([ 0.9000, -1.9000])

    References:
        Duchi, Hazan & Singer (2011), "Adaptive Subgradient Methods for Online Learning and Stochastic
        Optimization", JMLR 12.
    """

    update = staticmethod(adagrad_update)
    counts_steps = passes_step = True  # lr_decay needs t

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
        foreach: Optional[bool] = None,
        fused: Optional[bool] = None,
    ) -> None:
        check_nonnegative("lr_decay", lr_decay)
        check_nonnegative("weight_decay", weight_decay)
        check_nonnegative("initial_accumulator_value", initial_accumulator_value)
        check_nonnegative("eps", eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize,
                        foreach=foreach, fused=fused)
        super().__init__(params, defaults)

    def _init_state(self, state: dict, param: torch.Tensor, group: dict) -> None:
        if "sum" not in state:
            state["sum"] = torch.full_like(param, group["initial_accumulator_value"],
                                           memory_format=torch.preserve_format)

    def _state_args(self, state: dict, group: dict) -> tuple:
        return (state["sum"],)

    def _hyper(self, group: dict) -> dict:
        return dict(lr=scalar(group["lr"]), lr_decay=group["lr_decay"], weight_decay=group["weight_decay"],
                    eps=group["eps"])


# ----------------------------------------------------------------------------------------------------- RMSprop


@torch.no_grad()
def rmsprop_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    square_avg: torch.Tensor,
    grad_avg: Optional[torch.Tensor],
    momentum_buffer: Optional[torch.Tensor],
    *,
    lr: float,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
) -> None:
    r"""Apply one RMSprop step to ``param`` and its state tensors, all in place.

    With :math:`\gamma` = ``lr``, :math:`\alpha` = ``alpha``, :math:`\epsilon` = ``eps``, :math:`\lambda` =
    ``weight_decay`` and :math:`\mu` = ``momentum``, one step computes (element-wise)

    .. math::

        g_t &= \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1} \\
        v_t &= \alpha\, v_{t-1} + (1-\alpha)\, g_t^2 \\
        \bar g_t &= \alpha\, \bar g_{t-1} + (1-\alpha)\, g_t
            && \text{(centered only)} \\
        s_t &= \sqrt{v_t} + \epsilon \quad\text{or, centered,}\quad s_t = \sqrt{v_t - \bar g_t^2} + \epsilon \\
        b_t &= \mu\, b_{t-1} + g_t / s_t
            && \text{(only if } \mu > 0\text{)} \\
        \theta_t &= \theta_{t-1} - \gamma\, b_t \quad\text{or, with } \mu = 0,\quad
            \theta_t = \theta_{t-1} - \gamma\, g_t / s_t

    from :math:`v_0 = \bar g_0 = b_0 = 0`. Unlike Adam there is no bias correction, so the first steps are
    large: :math:`v_1 = (1-\alpha) g_1^2` makes the first step about :math:`\gamma/\sqrt{1-\alpha}` = 10γ per
    coordinate at α = 0.99. The centered form divides by an estimate of the gradient's standard deviation
    instead of its root mean square. ε sits outside the root, as in PyTorch (the deck's eq. (11) puts it inside;
    TensorFlow's RMSprop also differs).

    Args:
        param: :math:`\theta`, updated in place.
        grad: :math:`\nabla f(\theta_{t-1})` (not modified).
        square_avg: :math:`v_{t-1}` → :math:`v_t`.
        grad_avg: :math:`\bar g_{t-1}` → :math:`\bar g_t`, or ``None`` for the plain (uncentered) form.
        momentum_buffer: :math:`b_{t-1}` → :math:`b_t`; must be a tensor when ``momentum > 0`` (ignored otherwise).
        lr, alpha, eps, weight_decay, momentum: as in :class:`RMSprop`.
    """
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)  # (eq-l2-gradient)
    square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)  # (eq-rmsprop)  v_t
    if grad_avg is not None:
        grad_avg.lerp_(grad, 1 - alpha)  # (eq-rmsprop-centered)  mean gradient
        denom = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()  # (eq-rmsprop-centered)
    else:
        denom = square_avg.sqrt()  # (eq-rmsprop)
    denom.add_(eps)
    if momentum > 0:
        momentum_buffer.mul_(momentum).addcdiv_(grad, denom)  # heavy ball on the normalised gradient
        param.add_(momentum_buffer, alpha=-lr)
    else:
        param.addcdiv_(grad, denom, value=-lr)  # (eq-rmsprop)


class RMSprop(Shell):
    r"""RMSprop: divide the gradient by a running root mean square of recent gradients.

    The update is :func:`rmsprop_update`; this class reproduces ``torch.optim.RMSprop`` step for step (same
    keywords, defaults and state keys ``"step"``, ``"square_avg"``, ``"grad_avg"`` (centered),
    ``"momentum_buffer"`` (momentum > 0)).

    Args:
        params: an iterable of tensors or of parameter-group dicts.
        lr: learning rate :math:`\gamma` (default ``1e-2``; the slides suggest smaller values, ~1e-3).
        alpha: smoothing constant :math:`\alpha` of the squared-gradient average, in [0, 1] (default ``0.99``).
        eps: :math:`\epsilon`, added to the root (default ``1e-8``).
        weight_decay: L2 penalty :math:`\lambda` added to the gradient (default ``0``).
        momentum: :math:`\mu` of a heavy-ball buffer on the normalised gradient (default ``0``).
        centered: divide by the gradient's estimated standard deviation instead of its RMS (default ``False``).
        maximize: maximize the objective instead (default ``False``): the gradient is negated first, as in torch.
        foreach, fused: ``True`` runs :func:`rmsprop_update` over all tensors of a group compiled with ``torch.compile``
            (the fast path: the same function, the same math to rounding). Default ``None``: the eager loop. The
            first fast step pays the compilation (see the README); without a compiler the eager loop is used, with
            a one-line warning.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = RMSprop([w], lr=0.01)
        >>> (w ** 2).sum().backward()
        >>> opt.step()  # first step: g / sqrt(0.01 g^2) = 10 sign(g)
        >>> w.detach()
        tensor([ 0.9000, -1.9000])

    References:
        Tieleman & Hinton (2012), Lecture 6.5 of "Neural Networks for Machine Learning" (Coursera);
        Graves (2013), "Generating Sequences With Recurrent Neural Networks", for the centered form.
    """

    update = staticmethod(rmsprop_update)
    counts_steps = True  # not used by the math; kept so that the state looks like torch's

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
        foreach: Optional[bool] = None,
        fused: Optional[bool] = None,
    ) -> None:
        check_unit_interval("alpha", alpha, closed_right=True)
        check_nonnegative("eps", eps)
        check_nonnegative("weight_decay", weight_decay)
        check_nonnegative("momentum", momentum)
        check_bool("centered", centered)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered,
                        maximize=maximize, foreach=foreach, fused=fused)
        super().__init__(params, defaults)

    def _init_state(self, state: dict, param: torch.Tensor, group: dict) -> None:
        # buffers appear when a flag asks for them (also if the group is changed after some steps)
        for key, wanted in (("square_avg", True), ("momentum_buffer", group["momentum"] > 0),
                            ("grad_avg", group["centered"])):
            if wanted and key not in state:
                state[key] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def _state_args(self, state: dict, group: dict) -> tuple:
        return state["square_avg"], state["grad_avg"] if group["centered"] else None, state.get("momentum_buffer")

    def _hyper(self, group: dict) -> dict:
        return dict(lr=scalar(group["lr"]), alpha=group["alpha"], eps=group["eps"],
                    weight_decay=group["weight_decay"], momentum=group["momentum"])


# ---------------------------------------------------------------------------------------------------- Adadelta


@torch.no_grad()
def adadelta_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    square_avg: torch.Tensor,
    acc_delta: torch.Tensor,
    *,
    lr: float = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
) -> None:
    r"""Apply one Adadelta step to ``param`` and its two running averages, all in place.

    With :math:`\gamma` = ``lr``, :math:`\rho` = ``rho``, :math:`\epsilon` = ``eps`` and :math:`\lambda` =
    ``weight_decay``, one step computes (element-wise, from :math:`E[g^2]_0 = E[\Delta^2]_0 = 0`)

    .. math::

        g_t &= \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1} \\
        E[g^2]_t &= \rho\, E[g^2]_{t-1} + (1-\rho)\, g_t^2 \\
        \Delta_t &= \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\; g_t \\
        E[\Delta^2]_t &= \rho\, E[\Delta^2]_{t-1} + (1-\rho)\, \Delta_t^2 \\
        \theta_t &= \theta_{t-1} - \gamma\, \Delta_t

    The ratio of two RMS values gives the step the units of :math:`\theta`, so Zeiler's paper needs no learning
    rate: it is :math:`\gamma = 1`. PyTorch adds ``lr`` as a plain multiplier of the final step; the running
    average :math:`E[\Delta^2]` still accumulates the *unscaled* :math:`\Delta_t`. Here ε sits inside both roots,
    as in the paper.

    Args:
        param: :math:`\theta`, updated in place.
        grad: :math:`\nabla f(\theta_{t-1})` (not modified).
        square_avg: :math:`E[g^2]_{t-1}` → :math:`E[g^2]_t`.
        acc_delta: :math:`E[\Delta^2]_{t-1}` → :math:`E[\Delta^2]_t`.
        lr, rho, eps, weight_decay: as in :class:`Adadelta`.
    """
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)  # (eq-l2-gradient)
    square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)  # (eq-adadelta)  E[g^2]_t
    rms_grad = square_avg.add(eps).sqrt_()
    delta = acc_delta.add(eps).sqrt_()  # RMS of past steps, E[Delta^2]_{t-1}
    delta.div_(rms_grad).mul_(grad)  # (eq-adadelta)  Delta_t
    acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)  # (eq-adadelta)  E[Delta^2]_t
    param.add_(delta, alpha=-lr)  # (eq-adadelta)


class Adadelta(Shell):
    r"""Adadelta: RMSprop whose step is rescaled by a running RMS of past steps (no learning rate needed).

    The update is :func:`adadelta_update`; this class reproduces ``torch.optim.Adadelta`` step for step (same
    keywords, defaults and state keys ``"step"``, ``"square_avg"``, ``"acc_delta"``).

    Args:
        params: an iterable of tensors or of parameter-group dicts.
        lr: :math:`\gamma`, a multiplier of the step that the paper does not have (default ``1.0``, the paper).
        rho: decay :math:`\rho` of both running averages, in [0, 1] (default ``0.9``).
        eps: :math:`\epsilon`, inside both roots (default ``1e-6``). It also sets the size of the first steps:
            with :math:`E[\Delta^2]_0 = 0` the first step is about :math:`\sqrt{\epsilon}/\sqrt{1-\rho}` per
            coordinate.
        weight_decay: L2 penalty :math:`\lambda` added to the gradient (default ``0``).
        maximize: maximize the objective instead (default ``False``): the gradient is negated first, as in torch.
        foreach, fused: ``True`` runs :func:`adadelta_update` over all tensors of a group compiled with
            ``torch.compile``
            (the fast path: the same function, the same math to rounding). Default ``None``: the eager loop. The
            first fast step pays the compilation (see the README); without a compiler the eager loop is used, with
            a one-line warning.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
        >>> opt = Adadelta([w])
        >>> (w ** 2).sum().backward()
        >>> opt.step()  # first step ~ sqrt(eps / (1 - rho)) = 0.00316 per coordinate
        >>> w.detach()
        tensor([ 0.9968, -1.9968], dtype=torch.float64)

    References:
        Zeiler (2012), "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701.
    """

    update = staticmethod(adadelta_update)
    counts_steps = True  # not used by the math; kept so that the state looks like torch's

    _buffers = ("square_avg", "acc_delta")

    def __init__(
        self,
        params: Iterable,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        *,
        maximize: bool = False,
        foreach: Optional[bool] = None,
        fused: Optional[bool] = None,
    ) -> None:
        check_unit_interval("rho", rho, closed_right=True)
        check_nonnegative("eps", eps)
        check_nonnegative("weight_decay", weight_decay)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize, foreach=foreach,
                        fused=fused)
        super().__init__(params, defaults)

    def _hyper(self, group: dict) -> dict:
        return dict(lr=scalar(group["lr"]), rho=group["rho"], eps=group["eps"], weight_decay=group["weight_decay"])
