r"""The math of schedule-free SGD and AdamW (Defazio et al., 2024, "The Road Less Scheduled"): pure functions.

Schedule-free methods replace the learning-rate schedule by an *average* of the iterates. They keep three
sequences, named as in the paper:

* :math:`z` -- the base sequence, moved by plain (S)GD or Adam steps: the "fast" weights;
* :math:`x` -- a weighted running average of the :math:`z` iterates: the point to *evaluate* at;
* :math:`y` -- the interpolation between them where the gradient is *taken* (the weights the model trains with).

One step, with :math:`\gamma_t` the (warmed-up) learning rate, :math:`\beta` the interpolation ("momentum")
and :math:`c_{t+1}` the averaging weight:

.. math::

    y_t &= (1-\beta)\, z_t + \beta\, x_t  && \text{(eq-sf-y)} \\
    z_{t+1} &= z_t - \gamma_t\, d_t  && \text{(eq-sf-z)} \\
    x_{t+1} &= (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1}  && \text{(eq-sf-x)} \\
    c_{t+1} &= \frac{w_{t+1}}{\sum_{i \le t+1} w_i}, \quad
        w_{t+1} = (t+1)^r \, \bigl(\max_{i \le t} \gamma_i\bigr)^{p}  && \text{(eq-sf-weights)}

where :math:`d_t` is the gradient at :math:`y_t` (SGD) or its Adam-normalised form (AdamW), plus weight decay at
:math:`y_t`. With a constant learning rate and :math:`r = 0`, :math:`c_{t+1} = 1/(t+1)`: :math:`x` is the plain
average of all :math:`z` iterates.

Two forms of each step live here. The readable three-sequence functions :func:`schedule_free_sgd_update` and
:func:`schedule_free_adamw_update` hold the math as the paper writes it (the book shows them). The optimizers of
:mod:`reference_impl.optim.schedule_free` do not store :math:`x`: they step with
:func:`schedule_free_sgd_update_yz` and :func:`schedule_free_adamw_update_yz`, the same step written on :math:`y`
and :math:`z` alone (:math:`x` eliminated by substitution), and convert the parameters between :math:`y` and
:math:`x` with :func:`schedule_free_eval_params` and :func:`schedule_free_train_params`.
``tests/test_optim_fast.py`` checks step by step that the two forms agree to rounding.

The price of not storing :math:`x`: an ``eval()`` / ``train()`` round trip restores :math:`y` only up to
rounding. Measured on 6M float32 parameters after 40 steps (``tests/test_optim_soap_muon_schedule_free.py``
repeats the measurement on a small network and bounds it): with :math:`\beta = 0.9` (SGD and AdamW) the round trip
moves a parameter by at most 1 ulp of :math:`\max(|y|, |z|)` (4% of the SGD parameters move at all, 0.2% of the
AdamW ones); with :math:`\beta = 0.5`, at most 2 ulps; with :math:`\beta = 0.1`, at most 11 ulps -- the extrapolation
:math:`x = (y - (1-\beta) z)/\beta` amplifies rounding by :math:`1/\beta`. (Measured in ulps of :math:`y` itself
the error is unbounded where :math:`y \approx 0` while :math:`z` is not: cancellation.)
"""

from __future__ import annotations

import torch

__all__ = [
    "schedule_free_weight",
    "schedule_free_interpolate",
    "schedule_free_sgd_update",
    "schedule_free_adamw_update",
    "schedule_free_sgd_update_yz",
    "schedule_free_adamw_update_yz",
    "schedule_free_eval_params",
    "schedule_free_train_params",
]


def schedule_free_weight(
    step: int,
    lr: float,
    *,
    warmup_steps: int,
    r: float,
    weight_lr_power: float,
    lr_max: float,
    weight_sum: float,
) -> tuple[float, float, float, float]:
    r"""The learning rate and averaging weight of step ``step`` (counting from 0).

    .. math::

        \gamma_t &= \gamma \cdot \min\!\left(1, \tfrac{t+1}{T_{\text{warmup}}}\right)
            && \text{(linear warm-up)} \\
        \gamma_{\max} &= \max(\gamma_{\max}, \gamma_t) \\
        w_{t+1} &= (t+1)^r\, \gamma_{\max}^{\,p}, \qquad S_{t+1} = S_t + w_{t+1} \\
        c_{t+1} &= w_{t+1} / S_{t+1}  && \text{(eq-sf-weights)}

    Symbols: :math:`t` = ``step``, :math:`\gamma` = ``lr``, :math:`T_{\text{warmup}}` = ``warmup_steps``,
    :math:`r` = ``r``, :math:`p` = ``weight_lr_power``, :math:`\gamma_{\max}` = ``lr_max`` (``-1`` before the first
    step), :math:`S` = ``weight_sum``. Weighting by :math:`\gamma_{\max}^2` keeps the small steps of the warm-up
    from dominating the average.

    Returns:
        ``(lr_t, c, lr_max, weight_sum)``: the learning rate to use now, :math:`c_{t+1}` (0 while every weight
        is 0, e.g. with ``lr=0``), and the updated running maximum and sum to carry to the next step.
    """
    lr_t = lr * (step + 1) / warmup_steps if step < warmup_steps else lr  # linear warm-up
    lr_max = max(lr_t, lr_max)
    weight = ((step + 1) ** r) * (lr_max**weight_lr_power)  # (eq-sf-weights)
    weight_sum = weight_sum + weight
    c = weight / weight_sum if weight_sum != 0 else 0.0  # (eq-sf-weights)
    return lr_t, c, lr_max, weight_sum


@torch.no_grad()
def schedule_free_interpolate(x: torch.Tensor, z: torch.Tensor, beta: float) -> torch.Tensor:
    r"""The gradient point :math:`y = (1-\beta)\, z + \beta\, x` (eq-sf-y), as a new tensor.

    Every place that needs :math:`y` (the step and ``train()``) calls this one function, so :math:`y` is always
    the same bits for the same :math:`x, z`.
    """
    return torch.lerp(z, x, beta)  # (eq-sf-y)  z + beta (x - z)


@torch.no_grad()
def schedule_free_sgd_update(
    y: torch.Tensor,
    grad: torch.Tensor,
    z: torch.Tensor,
    x: torch.Tensor,
    *,
    lr: float,
    c: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
) -> None:
    r"""One schedule-free SGD step: update :math:`z, x` in place and write the new :math:`y` into ``y``.

    .. math::

        g_t &= \nabla f(y_t) + \lambda\, y_t  && \text{(L2 penalty at } y\text{)} \\
        z_{t+1} &= z_t - \gamma_t\, g_t  && \text{(eq-sf-z)} \\
        x_{t+1} &= (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1}  && \text{(eq-sf-x)} \\
        y_{t+1} &= (1-\beta)\, z_{t+1} + \beta\, x_{t+1}  && \text{(eq-sf-y)}

    Args:
        y: the parameter, holding :math:`y_t` (train mode); overwritten with :math:`y_{t+1}`.
        grad: :math:`\nabla f(y_t)` (not modified).
        z, x: the state tensors :math:`z_t, x_t`, updated in place.
        lr: :math:`\gamma_t`, the warmed-up learning rate of this step (see :func:`schedule_free_weight`).
        c: :math:`c_{t+1}`, the averaging weight of this step.
        momentum: :math:`\beta`; weight_decay: :math:`\lambda`.
    """
    if weight_decay != 0:
        grad = grad.add(y, alpha=weight_decay)  # L2 penalty at y
    z.sub_(grad, alpha=lr)  # (eq-sf-z)
    x.lerp_(z, c)  # (eq-sf-x)  x + c (z - x)
    y.copy_(schedule_free_interpolate(x, z, momentum))  # (eq-sf-y)


def _adamw_direction(y: torch.Tensor, grad: torch.Tensor, exp_avg_sq: torch.Tensor, step: int, beta2: float,
                     eps: float, weight_decay: float) -> torch.Tensor:
    r"""Both AdamW forms' :math:`d_t = g_t / (\sqrt{v_t / (1-\beta_2^t)} + \epsilon) + \lambda y_t`, updating
    :math:`v` in place; a new tensor (one temporary: the quotient is written over the denominator)."""
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # second moment, as Adam (eq-adam-v)
    denom = exp_avg_sq.div(1 - beta2**step).sqrt_().add_(eps)  # bias-corrected (eq-adam-bias-correction)
    direction = torch.div(grad, denom, out=denom)
    if weight_decay != 0:
        direction.add_(y, alpha=weight_decay)  # decoupled decay, taken at y
    return direction


@torch.no_grad()
def schedule_free_adamw_update(
    y: torch.Tensor,
    grad: torch.Tensor,
    z: torch.Tensor,
    x: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    *,
    step: int,
    lr: float,
    c: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> None:
    r"""One schedule-free AdamW step: update :math:`z, x, v` in place and write the new :math:`y` into ``y``.

    There is no first-moment EMA: the interpolation :math:`y` plays the role of momentum, with :math:`\beta_1`
    as :math:`\beta`.

    .. math::

        v_t &= \beta_2\, v_{t-1} + (1-\beta_2)\, g_t^2, \quad g_t = \nabla f(y_t) \\
        d_t &= \frac{g_t}{\sqrt{v_t / (1-\beta_2^{t})} + \epsilon} + \lambda\, y_t
            && \text{(decay at } y \text{, scaled by } \gamma_t \text{ below)} \\
        z_{t+1} &= z_t - \gamma_t\, d_t  && \text{(eq-sf-z)} \\
        x_{t+1} &= (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1}  && \text{(eq-sf-x)} \\
        y_{t+1} &= (1-\beta_1)\, z_{t+1} + \beta_1\, x_{t+1}  && \text{(eq-sf-y)}

    Args:
        y: the parameter, holding :math:`y_t`; overwritten with :math:`y_{t+1}`.
        grad: :math:`g_t = \nabla f(y_t)` (not modified).
        z, x, exp_avg_sq: the state :math:`z_t, x_t, v_{t-1}`, updated in place.
        step: :math:`t`, counting from 1 (for the bias correction).
        lr, c: :math:`\gamma_t` and :math:`c_{t+1}` (see :func:`schedule_free_weight`).
        betas: :math:`(\beta_1, \beta_2)`; eps: :math:`\epsilon`; weight_decay: :math:`\lambda`.
    """
    beta1, beta2 = betas
    direction = _adamw_direction(y, grad, exp_avg_sq, step, beta2, eps, weight_decay)
    z.sub_(direction, alpha=lr)  # (eq-sf-z)
    x.lerp_(z, c)  # (eq-sf-x)
    y.copy_(schedule_free_interpolate(x, z, beta1))  # (eq-sf-y)


@torch.no_grad()
def schedule_free_sgd_update_yz(
    y: torch.Tensor,
    grad: torch.Tensor,
    z: torch.Tensor,
    *,
    lr: float,
    c: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
) -> None:
    r""":func:`schedule_free_sgd_update` without storing :math:`x`: the same step on :math:`y` and :math:`z` only.

    Substituting :math:`\beta x_t = y_t - (1-\beta) z_t` into (eq-sf-x) and (eq-sf-y) eliminates :math:`x`:

    .. math::

        y_{t+1} &= (1 - c_{t+1})\, y_t + c_{t+1}\, z_t + \gamma_t\,\bigl(\beta (1 - c_{t+1}) - 1\bigr)\, g_t \\
        z_{t+1} &= z_t - \gamma_t\, g_t  && \text{(eq-sf-z)}

    with :math:`g_t = \nabla f(y_t) + \lambda y_t`. These are the authors' operations, in their order.
    Arguments as in :func:`schedule_free_sgd_update`, without ``x``; ``y`` and ``z`` are updated in place.
    """
    if weight_decay != 0:
        grad = grad.add(y, alpha=weight_decay)  # L2 penalty at y
    y.lerp_(z, c)  # (1 - c) y_t + c z_t
    y.add_(grad, alpha=lr * (momentum * (1 - c) - 1))  # (eq-sf-x) and (eq-sf-y), x eliminated
    z.add_(grad, alpha=-lr)  # (eq-sf-z); add_ of -lr: torch.compile mishandles a tensor alpha in sub_ (torch 2.13)


@torch.no_grad()
def schedule_free_adamw_update_yz(
    y: torch.Tensor,
    grad: torch.Tensor,
    z: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    *,
    step: int,
    lr: float,
    c: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> None:
    r""":func:`schedule_free_adamw_update` without storing :math:`x` (see :func:`schedule_free_sgd_update_yz`).

    The direction :math:`d_t` is computed as in :func:`schedule_free_adamw_update`; then
    :math:`y_{t+1} = (1 - c_{t+1}) y_t + c_{t+1} z_t + \gamma_t(\beta_1(1 - c_{t+1}) - 1)\, d_t` and
    :math:`z_{t+1} = z_t - \gamma_t d_t`. ``y``, ``z`` and ``exp_avg_sq`` are updated in place.
    """
    beta1, beta2 = betas
    direction = _adamw_direction(y, grad, exp_avg_sq, step, beta2, eps, weight_decay)
    y.lerp_(z, c)  # (1 - c) y_t + c z_t
    y.add_(direction, alpha=lr * (beta1 * (1 - c) - 1))  # (eq-sf-x) and (eq-sf-y), x eliminated
    z.add_(direction, alpha=-lr)  # (eq-sf-z), written as add_ for the compiled path (see the SGD form)


@torch.no_grad()
def schedule_free_eval_params(y: torch.Tensor, z: torch.Tensor, beta: float) -> torch.Tensor:
    r"""In place: turn the training weights :math:`y` into the average :math:`x = (y - (1-\beta) z)/\beta`.

    Written as the authors do, ``y.lerp_(z, 1 - 1/beta)``: :math:`y + (1 - 1/\beta)(z - y)`. Returns ``y``.
    """
    return y.lerp_(z, 1 - 1 / beta)


@torch.no_grad()
def schedule_free_train_params(x: torch.Tensor, z: torch.Tensor, beta: float) -> torch.Tensor:
    r"""In place: turn the average :math:`x` back into :math:`y = (1-\beta) z + \beta x` (eq-sf-y). Returns ``x``.

    The inverse of :func:`schedule_free_eval_params` up to rounding (measured in the module docstring).
    """
    return x.lerp_(z, 1 - beta)
