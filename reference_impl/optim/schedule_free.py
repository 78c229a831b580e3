r"""Schedule-free SGD and AdamW (Defazio et al., 2024, "The Road Less Scheduled"): the optimizers.

Schedule-free methods replace the learning-rate schedule by an *average* of the iterates: a base sequence
:math:`z` moved by (S)GD or Adam steps, its weighted running average :math:`x` (the point to evaluate at), and
their interpolation :math:`y` (where the gradient is taken). The equations and the pure update functions are in
:mod:`reference_impl.optim.schedule_free_updates` (all of them are importable from here too); this module holds
the two ``torch.optim.Optimizer`` shells around them and their train/eval mode.

**Train and eval mode, and memory.** The model's parameters hold :math:`y` in train mode and :math:`x` in eval
mode; the optimizer's ``train()`` and ``eval()`` convert them in place. As in the authors' package, the optimizer
state holds only :math:`z` (plus Adam's :math:`v` for AdamW): 4 bytes per float32 parameter for SGD, 8 for AdamW,
the same as SGD's momentum buffer and one tensor less than Adam. :math:`x` is never stored: since
:math:`y = (1-\beta) z + \beta x`, it is recovered as :math:`x = (y - (1-\beta) z)/\beta`
(:func:`schedule_free_eval_params`), and the step is written on :math:`y` and :math:`z` alone
(:func:`schedule_free_sgd_update_yz`, :func:`schedule_free_adamw_update_yz`; :math:`x` eliminated by substitution).
``state["x"]`` can still be read (it is computed from the parameter and :math:`z` on access, not stored).
The trajectories equal the authors' step for step, bit for bit on CPU (same operations in the same order).
Since :math:`x` is not stored, an ``eval()`` / ``train()`` round trip restores :math:`y` only up to rounding
(measured in :mod:`reference_impl.optim.schedule_free_updates`).

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

from .._validation import check_betas, check_nonnegative, check_nonnegative_int, check_open_unit_interval
from ._shell import Shell, scalar
from .schedule_free_updates import (
    schedule_free_adamw_update,
    schedule_free_adamw_update_yz,
    schedule_free_eval_params,
    schedule_free_interpolate,
    schedule_free_sgd_update,
    schedule_free_sgd_update_yz,
    schedule_free_train_params,
    schedule_free_weight,
)

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

    The update is :func:`schedule_free_sgd_update` with the weights of :func:`schedule_free_weight`; see
    :mod:`reference_impl.optim.schedule_free_updates` for the three sequences and the module docstring for
    train/eval mode. It reproduces ``schedulefree.SGDScheduleFree`` (same keywords and defaults) to rounding.

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

    The update is :func:`schedule_free_adamw_update` with the weights of :func:`schedule_free_weight`; see
    :mod:`reference_impl.optim.schedule_free_updates` for the three sequences and the module docstring for
    train/eval mode. It reproduces ``schedulefree.AdamWScheduleFree`` (same keywords and defaults) to rounding.

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
