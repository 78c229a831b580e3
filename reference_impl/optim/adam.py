"""Adam and AdamW: bias-corrected moment estimates, with L2 (Adam) or decoupled (AdamW) weight decay.

One pure update function, :func:`adam_update`, holds the math for both; the flag ``decoupled_weight_decay``
chooses where the decay goes. The two shells :class:`Adam` and :class:`AdamW` differ only in that flag and in the
default ``weight_decay`` -- exactly as ``torch.optim.Adam`` and ``torch.optim.AdamW`` do.

The function updates the parameter and the moments *in place*, with the floating-point operations of PyTorch's
single-tensor code path, in the same order, so trajectories agree with ``torch.optim`` to rounding.
"""

from __future__ import annotations

from typing import Iterable, Optional

import torch

from ._shell import Shell, scalar
from .._validation import check_betas, check_bool, check_nonnegative

__all__ = ["Adam", "AdamW", "adam_update"]


@torch.no_grad()
def adam_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    max_exp_avg_sq: Optional[torch.Tensor],
    *,
    step: int,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
) -> None:
    r"""Apply one Adam (or AdamW) step to ``param`` and its moments, all in place.

    With :math:`\gamma` = ``lr``, :math:`\beta_1, \beta_2` = ``beta1``, ``beta2``, :math:`\epsilon` = ``eps``,
    :math:`\lambda` = ``weight_decay`` and :math:`t` = ``step`` (1 on the first step), one step computes
    (element-wise, from :math:`m_0 = v_0 = 0`)

    .. math::

        g_t &= \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
            && \text{(Adam: L2 penalty in the gradient)} \\
        \theta_{t-1} &\leftarrow (1 - \gamma\lambda)\,\theta_{t-1},\quad g_t = \nabla f(\theta_{t-1})
            && \text{(AdamW: decoupled decay instead)} \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
        v_t &= \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
        \hat m_t &= m_t / (1-\beta_1^t), \qquad \hat v_t = v_t / (1-\beta_2^t) \\
        \theta_t &= \theta_{t-1} - \gamma\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)

    ε sits *outside* the root (the slide deck's eq. (12) puts it inside, where 1e-8 acts like 1e-4 outside), and
    the bias-corrected :math:`\hat m_t, \hat v_t` are used for the step only: the running averages
    :math:`m_t, v_t` are kept uncorrected (overwriting them, as the deck's notation suggests, corrupts them).

    **AMSGrad** (pass ``max_exp_avg_sq``) keeps :math:`v^{\max}_t = \max(v^{\max}_{t-1}, v_t)` and uses
    :math:`\hat v_t = v^{\max}_t / (1-\beta_2^t)`. Like PyTorch, the maximum is taken over the *uncorrected*
    :math:`v_t` and then bias-corrected; Reddi et al.'s algorithm has no bias correction at all.

    **AdamW and the paper.** Loshchilov & Hutter's Algorithm 2 writes
    :math:`\theta_t = \theta_{t-1} - \eta_t(\alpha \hat m_t/(\sqrt{\hat v_t}+\epsilon) + \lambda'\theta_{t-1})`
    with :math:`\alpha` the learning rate and :math:`\eta_t` a *schedule multiplier*. PyTorch (and this function)
    multiplies the decay by the whole learning rate :math:`\gamma = \eta_t\alpha`: the parameter shrinks by
    :math:`\gamma\lambda\theta_{t-1}` per step. The two agree when :math:`\lambda' = \alpha\lambda`, so PyTorch's
    default :math:`\lambda = 10^{-2}` at :math:`\gamma = 10^{-3}` is a paper :math:`\lambda'` of :math:`10^{-5}`,
    and changing the learning rate changes the effective decay too. The Adam step is computed from the gradient
    only, so subtracting :math:`\gamma\lambda\theta_{t-1}` before the Adam step (as here) or after it gives the
    same :math:`\theta_t` up to rounding; shrinking the *new* :math:`\theta_t` after the step would not (it differs
    by :math:`\gamma^2\lambda` times the Adam step).

    Args:
        param: :math:`\theta`, updated in place.
        grad: :math:`\nabla f(\theta_{t-1})` (not modified).
        exp_avg: :math:`m_{t-1}` → :math:`m_t`.
        exp_avg_sq: :math:`v_{t-1}` → :math:`v_t`.
        max_exp_avg_sq: :math:`v^{\max}_{t-1}` → :math:`v^{\max}_t` for AMSGrad, or ``None`` for plain Adam.
        step: :math:`t`, counting from 1.
        lr, beta1, beta2, eps, weight_decay: as in :class:`Adam`.
        decoupled_weight_decay: ``False`` for Adam's L2 penalty, ``True`` for AdamW's decoupled decay.
    """
    if weight_decay != 0:
        if decoupled_weight_decay:
            param.mul_(1 - lr * weight_decay)  # (eq-decoupled-decay)  AdamW: shrink theta
        else:
            grad = grad.add(param, alpha=weight_decay)  # (eq-l2-gradient)
    exp_avg.lerp_(grad, 1 - beta1)  # (eq-adam-m)  m_t = beta1 m + (1 - beta1) g
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # (eq-adam-v)
    bias_correction1 = 1 - beta1**step  # (eq-adam-bias-correction)
    bias_correction2 = 1 - beta2**step  # (eq-adam-bias-correction)
    second_moment = exp_avg_sq
    if max_exp_avg_sq is not None:
        torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)  # (eq-amsgrad)
        second_moment = max_exp_avg_sq
    # sqrt(v_hat) + eps, with 1/(1 - beta1^t) folded into the step size: the same numbers as m_hat / (...)
    denom = second_moment.sqrt().div_(bias_correction2**0.5).add_(eps)
    param.addcdiv_(exp_avg, denom, value=-(lr / bias_correction1))  # (eq-adam-update), (eq-adamw-update)


class Adam(Shell):
    r"""Adam: momentum on the gradient, divided by the root of a running mean of squared gradients.

    The update is :func:`adam_update`; this class reproduces ``torch.optim.Adam`` step for step (same keywords,
    defaults and state keys ``"step"``, ``"exp_avg"``, ``"exp_avg_sq"``, ``"max_exp_avg_sq"`` (AMSGrad)).

    Args:
        params: an iterable of tensors or of parameter-group dicts.
        lr: learning rate :math:`\gamma` (default ``1e-3``).
        betas: :math:`(\beta_1, \beta_2)`, decay rates of the first and second moments, each in [0, 1)
            (default ``(0.9, 0.999)``).
        eps: :math:`\epsilon`, added to :math:`\sqrt{\hat v_t}` (default ``1e-8``).
        weight_decay: :math:`\lambda` (default ``0``). In :class:`Adam` it is an L2 penalty added to the gradient,
            which then gets divided by :math:`\sqrt{\hat v_t}` like the rest of the gradient -- parameters with large
            gradients are decayed *less*. :class:`AdamW` decouples it.
        amsgrad: use the running maximum of :math:`v_t` (AMSGrad, default ``False``).
        decoupled_weight_decay: keyword only; ``True`` turns this into :class:`AdamW` (as in ``torch.optim.Adam``).
        maximize: keyword only; maximize the objective instead (default ``False``): the gradient is negated first.
        foreach, fused: keyword only; ``True`` runs :func:`adam_update` over all tensors of a group compiled with
            ``torch.compile`` -- the fast path, one pass over memory per tensor like torch's fused CPU Adam, with
            the same function (the same math to rounding). Default ``None``: the eager loop. The first fast step
            pays the compilation (tens of seconds on a small CPU; measured in the README's table), and one more
            when the step count first changes; without a working compiler the eager loop runs, with a one-line
            warning.

    ``state["step"]`` is a Python ``int`` (torch keeps a float tensor; the values are the same).

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = Adam([w], lr=0.1)
        >>> (w ** 2).sum().backward()
        >>> opt.step()  # first step: m_hat / sqrt(v_hat) = g / |g|, each coordinate moves by lr
        >>> w.detach()
        tensor([ 0.9000, -1.9000])

    References:
        Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization", ICLR; Reddi, Kale & Kumar (2018),
        "On the Convergence of Adam and Beyond", ICLR, for AMSGrad.
    """

    update = staticmethod(adam_update)
    counts_steps = passes_step = True  # the bias corrections need t

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
        foreach: Optional[bool] = None,
        fused: Optional[bool] = None,
    ) -> None:
        check_betas("betas", betas)
        check_nonnegative("eps", eps)
        check_nonnegative("weight_decay", weight_decay)
        check_bool("amsgrad", amsgrad)
        check_bool("decoupled_weight_decay", decoupled_weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        fused=fused)
        super().__init__(params, defaults)

    def _init_state(self, state: dict, param: torch.Tensor, group: dict) -> None:
        if "exp_avg" not in state:
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def _state_args(self, state: dict, group: dict) -> tuple:
        return state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"] if group["amsgrad"] else None

    def _hyper(self, group: dict) -> dict:
        beta1, beta2 = group["betas"]
        return dict(lr=scalar(group["lr"]), beta1=beta1, beta2=beta2, eps=group["eps"],
                    weight_decay=group["weight_decay"], decoupled_weight_decay=group["decoupled_weight_decay"])


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay, :math:`\theta \leftarrow (1-\gamma\lambda)\theta` each step.

    Same update (:func:`adam_update` with ``decoupled_weight_decay=True``), keywords and state as :class:`Adam`;
    the default ``weight_decay`` is ``1e-2``, as in ``torch.optim.AdamW``. The decay is multiplied by the full
    learning rate :math:`\gamma`, not by a schedule multiplier as in the paper: see :func:`adam_update` for how
    PyTorch's :math:`\lambda` maps to the paper's.

    Args:
        params, lr, betas, eps, amsgrad, maximize, foreach, fused: as in :class:`Adam`.
        weight_decay: decoupled decay :math:`\lambda` (default ``1e-2``): each step multiplies the parameter by
            :math:`1-\gamma\lambda` before the Adam step, whatever the gradient's scale.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = AdamW([w], lr=0.1, weight_decay=0.5)
        >>> (w ** 2).sum().backward()
        >>> opt.step()  # shrink by 1 - 0.1 * 0.5 = 0.95, then move each coordinate by lr
        >>> w.detach()
        tensor([ 0.8500, -1.8000])

    References:
        Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization", ICLR.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: Optional[bool] = None,
        fused: Optional[bool] = None,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay=True,
                         maximize=maximize, foreach=foreach, fused=fused)
