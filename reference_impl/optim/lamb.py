"""LAMB: Adam's direction, rescaled per layer by a trust ratio ||theta|| / ||update||.

A pure update function, :func:`lamb_update`, and a thin ``torch.optim.Optimizer`` shell, :class:`Lamb` (the pattern
of :mod:`reference_impl.optim.sgd`). Implementations of LAMB disagree (bias correction or not, clamping of the
trust ratio, where the weight decay sits, an ε in the ratio); the variant here is the paper's Algorithm 2 and is
stated exactly in :func:`lamb_update`.
"""

from __future__ import annotations

from typing import Iterable

import torch

from ._shell import Shell, scalar
from .._validation import check_betas, check_nonnegative

__all__ = ["Lamb", "lamb_update"]


@torch.no_grad()
def lamb_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    *,
    step: int,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
) -> float:
    r"""Apply one LAMB step to the parameter tensor ``param`` (one "layer") and its moments, all in place.

    With :math:`\eta` = ``lr``, :math:`\beta_1, \beta_2` = ``beta1``, ``beta2``, :math:`\epsilon` = ``eps``,
    :math:`\lambda` = ``weight_decay`` and :math:`t` = ``step`` (1 on the first step), one step computes, for the
    whole tensor :math:`\theta` (from :math:`m_0 = v_0 = 0`; products and quotients element-wise)

    .. math::

        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
        \hat m_t &= m_t / (1-\beta_1^t), \qquad \hat v_t = v_t / (1-\beta_2^t) \\
        u_t &= \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} + \lambda\,\theta_{t-1} \\
        \rho_t &= \begin{cases} \lVert\theta_{t-1}\rVert_2 / \lVert u_t\rVert_2
                   & \text{if both norms are} > 0 \\ 1 & \text{otherwise} \end{cases} \\
        \theta_t &= \theta_{t-1} - \eta\, \rho_t\, u_t

    with :math:`g_t = \nabla f(\theta_{t-1})`. This is Algorithm 2 of You et al. (2020) with the scaling function
    :math:`\phi` = identity. Precisely, the variant is:

    * **bias-corrected** moments (as in Adam; the paper's Algorithm 2 has them, some implementations drop them);
    * weight decay :math:`\lambda\theta` added to the Adam direction *inside* the trust ratio (not to the
      gradient, and not applied separately after it);
    * trust ratio :math:`\lVert\theta\rVert/\lVert u\rVert`, **not clamped** and with no ε; it is 1 when either
      norm is 0 (e.g. a bias initialised to zeros, whose first step is then a plain Adam step of size :math:`\eta`);
    * one trust ratio per parameter tensor (a "layer" is a tensor: a weight and its bias get separate ratios).

    Because :math:`\lVert\rho_t u_t\rVert = \lVert\theta_{t-1}\rVert`, every layer moves by a fraction
    :math:`\eta` of its own norm per step, whatever the scale of its gradients.

    Args:
        param: :math:`\theta`, updated in place.
        grad: :math:`g_t` (not modified).
        exp_avg: :math:`m_{t-1}` → :math:`m_t`.
        exp_avg_sq: :math:`v_{t-1}` → :math:`v_t`.
        step: :math:`t`, counting from 1.
        lr, beta1, beta2, eps, weight_decay: as in :class:`Lamb`.

    Returns:
        The trust ratio :math:`\rho_t` used for this step (a Python float).
    """
    exp_avg.lerp_(grad, 1 - beta1)  # (eq-adam-m)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # (eq-adam-v)
    bias_correction1 = 1 - beta1**step  # (eq-adam-bias-correction)
    bias_correction2 = 1 - beta2**step  # (eq-adam-bias-correction)
    denom = exp_avg_sq.sqrt().div_(bias_correction2**0.5).add_(eps)  # sqrt(v_hat) + eps
    # m_hat / (sqrt(v_hat) + eps), written into denom's memory: one new tensor per step, not two
    update = torch.div(exp_avg, denom, out=denom).div_(bias_correction1)
    if weight_decay != 0:
        update.add_(param, alpha=weight_decay)  # (eq-lamb-update)  u_t = ... + lambda theta
    param_norm = torch.linalg.vector_norm(param)
    update_norm = torch.linalg.vector_norm(update)
    if param_norm > 0 and update_norm > 0:
        trust_ratio = (param_norm / update_norm).item()  # (eq-lamb-trust-ratio)
    else:
        trust_ratio = 1.0  # (eq-lamb-trust-ratio)  a zero norm: no rescaling
    param.add_(update, alpha=-lr * trust_ratio)  # (eq-lamb-update)
    return trust_ratio


class Lamb(Shell):
    r"""LAMB: layer-wise adaptive moments for large-batch training (Adam direction times a per-tensor trust ratio).

    The update is :func:`lamb_update` (its docstring states the exact variant); this class manages parameter
    groups and state (keys ``"step"``, ``"exp_avg"``, ``"exp_avg_sq"``, as in ``torch.optim.Adam``).

    Args:
        params: an iterable of tensors or of parameter-group dicts.
        lr: learning rate :math:`\eta` (default ``1e-3``): the fraction of its norm a layer moves per step.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1) (default ``(0.9, 0.999)``).
        eps: :math:`\epsilon`, added to :math:`\sqrt{\hat v_t}` (default ``1e-6``, the paper's).
        weight_decay: :math:`\lambda`, added to the Adam direction inside the trust ratio (default ``0``).
        maximize: keyword only; maximize the objective instead (default ``False``): the gradient is negated first.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([3.0, -4.0]))
        >>> opt = Lamb([w], lr=0.1)
        >>> (w ** 2).sum().backward()
        >>> opt.step()  # u = sign(g) = (1, -1); rho = ||w|| / ||u|| = 5 / sqrt(2): w moves by 0.1 * ||w|| = 0.5
        >>> w.detach()
        tensor([ 2.6464, -3.6464])

    References:
        You et al. (2020), "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes", ICLR
        (Algorithm 2).
    """

    update = staticmethod(lamb_update)
    counts_steps = passes_step = True  # the bias corrections need t

    _buffers = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ) -> None:
        check_betas("betas", betas)
        check_nonnegative("eps", eps)
        check_nonnegative("weight_decay", weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _hyper(self, group: dict) -> dict:
        beta1, beta2 = group["betas"]
        return dict(lr=scalar(group["lr"]), beta1=beta1, beta2=beta2, eps=group["eps"],
                    weight_decay=group["weight_decay"])
