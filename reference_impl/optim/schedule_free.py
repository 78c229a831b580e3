r"""Schedule-free SGD and AdamW (Defazio et al., 2024, "The Road Less Scheduled").

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

**Train and eval mode, and memory.** The model's parameters hold :math:`y` in train mode and :math:`x` in eval
mode; the optimizer's ``train()`` and ``eval()`` convert them in place. As in the authors' package, the optimizer
state holds only :math:`z` (plus Adam's :math:`v` for AdamW): 4 bytes per float32 parameter for SGD, 8 for AdamW,
the same as SGD's momentum buffer and one tensor less than Adam. :math:`x` is never stored: since
:math:`y = (1-\beta) z + \beta x`, it is recovered as :math:`x = (y - (1-\beta) z)/\beta`
(:func:`schedule_free_eval_params`), and the step is written on :math:`y` and :math:`z` alone
(:func:`schedule_free_sgd_update_yz`, :func:`schedule_free_adamw_update_yz`; :math:`x` eliminated by substitution).
The readable three-sequence functions :func:`schedule_free_sgd_update` and :func:`schedule_free_adamw_update` hold
the math as the paper writes it; ``tests/test_optim_fast.py`` checks step by step that the two forms agree to
rounding. ``state["x"]`` can still be read (it is computed from the parameter and :math:`z` on access, not stored).
The trajectories equal the authors' step for step, bit for bit on CPU (same operations in the same order).

The price of not storing :math:`x`: an ``eval()`` / ``train()`` round trip restores :math:`y` only up to
rounding. Measured on 6M float32 parameters after 40 steps (``tests/test_optim_soap_muon_schedule_free.py``
repeats the measurement on a small network and bounds it): with :math:`\beta = 0.9` (SGD and AdamW) the round trip
moves a parameter by at most 1 ulp of :math:`\max(|y|, |z|)` (4% of the SGD parameters move at all, 0.2% of the
AdamW ones); with :math:`\beta = 0.5`, at most 2 ulps; with :math:`\beta = 0.1`, at most 11 ulps -- the extrapolation
:math:`x = (y - (1-\beta) z)/\beta` amplifies rounding by :math:`1/\beta`. (Measured in ulps of :math:`y` itself
the error is unbounded where :math:`y \approx 0` while :math:`z` is not: cancellation.)

**Differences from the ``schedulefree`` package, all deliberate:**

* the optimizer starts in *train* mode (as an ``nn.Module`` does); ``schedulefree`` starts in eval mode and
  raises on the first ``step()`` unless ``train()`` was called. Calling ``train()`` first, as its docs ask,
  is harmless here;
* ``step()`` in eval mode raises ``RuntimeError`` (``schedulefree`` raises a bare ``Exception``): the
  parameters then hold :math:`x`, and a gradient taken there would be applied as if it had been taken at
  :math:`y`;
* ``p.grad`` is left untouched (``schedulefree`` adds the decay into it and divides it in place).

BatchNorm running statistics are not averaged: recompute them at :math:`x` (a few forward passes in
``model.train()`` after ``optimizer.eval()``) before evaluating a network that has BatchNorm.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

import torch

from ._shell import Shell, scalar
from .._validation import check_betas, check_nonnegative, check_nonnegative_int, check_open_unit_interval

__all__ = [
    "SGDScheduleFree",
    "AdamWScheduleFree",
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
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # second moment, as Adam (eq-adam-v)
    denom = exp_avg_sq.div(1 - beta2**step).sqrt_().add_(eps)  # bias-corrected (eq-adam-bias-correction)
    direction = grad.div(denom)
    if weight_decay != 0:
        direction.add_(y, alpha=weight_decay)  # decoupled decay, taken at y
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
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # second moment, as Adam (eq-adam-v)
    denom = exp_avg_sq.div(1 - beta2**step).sqrt_().add_(eps)  # bias-corrected (eq-adam-bias-correction)
    direction = torch.div(grad, denom, out=denom)  # g / denom, written over denom: one temporary, not two
    if weight_decay != 0:
        direction.add_(y, alpha=weight_decay)  # decoupled decay, taken at y
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


class _LazyXState(dict):
    """A parameter's schedule-free state (``"z"``, and ``"exp_avg_sq"`` for AdamW) that also answers ``["x"]``.

    :math:`x` is not stored; reading ``state["x"]`` computes it from the parameter and :math:`z` (a new tensor).
    Pickling, copying and ``state_dict()`` see a plain ``dict`` of the stored tensors.
    """

    def __init__(self, stored: dict, param: torch.Tensor, group: dict, beta: Callable[[dict], float]) -> None:
        super().__init__(stored)
        self._param, self._group, self._beta = param, group, beta

    def __missing__(self, key):
        if key != "x" or "z" not in self:
            raise KeyError(key)
        x = self._param.detach().clone()
        if self._group["train_mode"]:
            schedule_free_eval_params(x, self["z"], self._beta(self._group))
        return x

    def __reduce__(self):
        return (dict, (dict(self),))


class _ScheduleFreeBase(Shell):
    """What both schedule-free shells share: the averaging hyperparameters, train/eval mode, the state that
    answers ``["x"]``, and the per-group bookkeeping of the averaging weights."""

    complex_ok = True  # as the authors' package

    def __init__(self, params: Iterable, defaults: dict) -> None:
        """Check the averaging hyperparameters, then add the per-group bookkeeping (saved with ``state_dict``)."""
        check_nonnegative("weight_decay", defaults["weight_decay"])
        check_nonnegative_int("warmup_steps", defaults["warmup_steps"])
        check_nonnegative("r", defaults["r"])
        check_nonnegative("weight_lr_power", defaults["weight_lr_power"])
        super().__init__(params, dict(defaults, k=0, lr_max=-1.0, weight_sum=0.0, train_mode=True))

    def _beta(self, group: dict) -> float:
        raise NotImplementedError  # pragma: no cover - defined by each subclass

    @torch.no_grad()
    def eval(self) -> None:
        """Put :math:`x` (the average, the point to evaluate) into the parameters, in place."""
        for group in self.param_groups:
            if group["train_mode"]:
                for param in group["params"]:
                    state = self.state[param]
                    if "z" in state:
                        schedule_free_eval_params(param, state["z"], self._beta(group))
                group["train_mode"] = False

    @torch.no_grad()
    def train(self) -> None:
        """Put :math:`y` (the gradient point) back into the parameters; the inverse of :meth:`eval` to rounding."""
        for group in self.param_groups:
            if not group["train_mode"]:
                for param in group["params"]:
                    state = self.state[param]
                    if "z" in state:
                        schedule_free_train_params(param, state["z"], self._beta(group))
                group["train_mode"] = True

    def state_dict(self) -> dict:
        """``torch.optim.Optimizer.state_dict``, each parameter's state a plain ``dict``.

        The live state is a :class:`_LazyXState` (a ``dict`` subclass); pickled as it is, it would need the global
        ``builtins.dict`` to load, which ``torch.load`` refuses by default (``weights_only=True``).
        """
        saved = super().state_dict()
        saved["state"] = {index: dict(state) for index, state in saved["state"].items()}
        return saved

    def _state_of(self, param: torch.Tensor, group: dict) -> dict:
        """The parameter's state, as a dict that also answers ``["x"]`` (after ``load_state_dict`` too)."""
        state = self.state[param]
        if not isinstance(state, _LazyXState):
            state = self.state[param] = _LazyXState(state, param, group, self._beta)
        return state

    def _check_train_mode(self) -> None:
        if not all(group["train_mode"] for group in self.param_groups):
            raise RuntimeError(
                f"{type(self).__name__}.step() called in eval mode: the parameters hold the average x, not the "
                "gradient point y. Call optimizer.train() before training steps and optimizer.eval() before "
                "evaluating or saving."
            )

    def step(self, closure: Optional[Callable[[], torch.Tensor]] = None) -> Optional[torch.Tensor]:
        """Perform one optimization step (in train mode); ``closure`` re-evaluates the model and returns the loss."""
        self._check_train_mode()
        return super().step(closure)

    def _step_group(self, group: dict) -> None:
        super()._step_group(group)
        group["k"] += 1

    def _next_weight(self, group: dict) -> tuple[float, float]:
        """This step's warmed-up lr and averaging weight; advances the group's running max lr and weight sum."""
        lr_t, c, group["lr_max"], group["weight_sum"] = schedule_free_weight(
            group["k"],
            scalar(group["lr"]),
            warmup_steps=group["warmup_steps"],
            r=group["r"],
            weight_lr_power=group["weight_lr_power"],
            lr_max=group["lr_max"],
            weight_sum=group["weight_sum"],
        )
        return lr_t, c


class SGDScheduleFree(_ScheduleFreeBase):
    r"""Schedule-free SGD: no learning-rate schedule, evaluate at the running average :math:`x`.

    The update is :func:`schedule_free_sgd_update` with the weights of :func:`schedule_free_weight`; see the
    module docstring for the three sequences and for train/eval mode. It reproduces
    ``schedulefree.SGDScheduleFree`` (same keywords and defaults) to rounding.

    Args:
        params: an iterable of tensors or of parameter-group dicts.
        lr: base learning rate :math:`\gamma` of the :math:`z` steps (default ``1.0``, the package's default).
        momentum: interpolation :math:`\beta \in (0, 1)` between :math:`x` and :math:`z` (default ``0.9``).
        weight_decay: L2 penalty :math:`\lambda` added to the gradient at :math:`y` (default ``0``).
        warmup_steps: linear warm-up length :math:`T_{\text{warmup}}` in steps (default ``0``).
        r: polynomial weighting power :math:`r` of the average (default ``0``).
        weight_lr_power: power :math:`p` of the learning rate in the averaging weights (default ``2``).
        maximize: keyword only; maximize the objective instead (default ``False``): the gradient is negated first.
        foreach, fused: keyword only; ``True`` runs :func:`schedule_free_sgd_update_yz` over all tensors of a group
            compiled with ``torch.compile`` (the fast path: the same function, the same math to rounding).
            Default ``None``: the eager loop. The first fast step pays the compilation (see the README); without a
            compiler the eager loop is used, with a one-line warning.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = SGDScheduleFree([w], lr=0.1)
        >>> (w ** 2).sum().backward()
        >>> opt.step()
        >>> w.detach()  # y = 0.1 z + 0.9 x, with z = x = w - 0.1 * 2w after one step
        tensor([ 0.8000, -1.6000])
        >>> opt.eval()  # parameters now hold x (= z after one step)
        >>> opt.train()  # and y again (to rounding: x is not stored)

    References:
        Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky (2024), *The Road Less Scheduled*, NeurIPS;
        github.com/facebookresearch/schedule_free.
    """

    update = staticmethod(schedule_free_sgd_update_yz)

    def __init__(
        self,
        params: Iterable,
        lr: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        *,
        maximize: bool = False,
        foreach: Optional[bool] = None,
        fused: Optional[bool] = None,
    ) -> None:
        check_open_unit_interval("momentum", momentum)
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, warmup_steps=warmup_steps, r=r,
                        weight_lr_power=weight_lr_power, maximize=maximize, foreach=foreach, fused=fused)
        super().__init__(params, defaults)

    def _beta(self, group: dict) -> float:
        return group["momentum"]

    def _init_state(self, state: dict, param: torch.Tensor, group: dict) -> None:
        if "z" not in state:
            state["z"] = param.detach().clone()  # z_1 = x_1 = y_1 = the initial weights

    def _state_args(self, state: dict, group: dict) -> tuple:
        return (state["z"],)

    def _hyper(self, group: dict) -> dict:
        lr_t, c = self._next_weight(group)
        return dict(lr=lr_t, c=c, momentum=group["momentum"], weight_decay=group["weight_decay"])


class AdamWScheduleFree(_ScheduleFreeBase):
    r"""Schedule-free AdamW: Adam's per-coordinate scaling on the :math:`z` sequence, no first-moment EMA.

    The update is :func:`schedule_free_adamw_update` with the weights of :func:`schedule_free_weight`; see the
    module docstring for the three sequences and for train/eval mode. It reproduces
    ``schedulefree.AdamWScheduleFree`` (same keywords and defaults) to rounding.

    Args:
        params: an iterable of tensors or of parameter-group dicts.
        lr: base learning rate :math:`\gamma` (default ``0.0025``).
        betas: :math:`(\beta_1, \beta_2)`: :math:`\beta_1` is the interpolation between :math:`x` and :math:`z`,
            :math:`\beta_2` the second-moment EMA (default ``(0.9, 0.999)``).
        eps: :math:`\epsilon` added to the denominator (default ``1e-8``).
        weight_decay: :math:`\lambda`, decoupled decay applied at :math:`y` and scaled by the learning rate
            (default ``0``).
        warmup_steps: linear warm-up length in steps (default ``0``).
        r: polynomial weighting power of the average (default ``0``).
        weight_lr_power: power of the learning rate in the averaging weights (default ``2``).
        maximize: keyword only; maximize the objective instead (default ``False``): the gradient is negated first.
        foreach, fused: keyword only; ``True`` runs :func:`schedule_free_adamw_update_yz` over all tensors of a group
            compiled with ``torch.compile`` (the fast path: the same function, the same math to rounding).
            Default ``None``: the eager loop. The first fast step pays the compilation (see the README); without a
            compiler the eager loop is used, with a one-line warning.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = AdamWScheduleFree([w], lr=0.1)
        >>> (w ** 2).sum().backward()
        >>> opt.step()
        >>> w.detach()  # every coordinate moved by about lr: Adam's first step is sign-like
        tensor([ 0.9000, -1.9000])

    References:
        Defazio et al. (2024), *The Road Less Scheduled*; Loshchilov & Hutter (2019) for decoupled decay;
        github.com/facebookresearch/schedule_free.
    """

    update = staticmethod(schedule_free_adamw_update_yz)

    def __init__(
        self,
        params: Iterable,
        lr: float = 0.0025,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        *,
        maximize: bool = False,
        foreach: Optional[bool] = None,
        fused: Optional[bool] = None,
    ) -> None:
        check_betas("betas", betas)
        check_open_unit_interval("betas[0] (beta1)", betas[0])  # beta1 = 0 would make eval() divide by zero
        check_nonnegative("eps", eps)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, warmup_steps=warmup_steps, r=r,
                        weight_lr_power=weight_lr_power, maximize=maximize, foreach=foreach, fused=fused)
        super().__init__(params, defaults)

    def _beta(self, group: dict) -> float:
        return group["betas"][0]

    def _init_state(self, state: dict, param: torch.Tensor, group: dict) -> None:
        if "z" not in state:
            state["z"] = param.detach().clone()
            state["exp_avg_sq"] = torch.zeros_like(param)

    def _state_args(self, state: dict, group: dict) -> tuple:
        return state["z"], state["exp_avg_sq"]

    def _hyper(self, group: dict) -> dict:
        lr_t, c = self._next_weight(group)
        return dict(step=group["k"] + 1, lr=lr_t, c=c, betas=group["betas"], eps=group["eps"],
                    weight_decay=group["weight_decay"])
