"""Learning-rate schedules as plain functions ``step -> lr``.

A **schedule** is any callable that maps a step index ``t = 0, 1, 2, ...`` to a learning rate. The learning rate
``schedule(t)`` is the one used by the optimizer step number ``t`` (counted from 0). A **factory** binds the
hyperparameters and returns such a function::

    >>> sched = cosine_annealing(0.1, total_steps=100)
    >>> sched(0), sched(50), sched(100)
    (0.1, 0.05, 0.0)

Because a schedule is a pure function (no state, no hidden counter), ``sched(t)`` is the same whatever was called
before, it can be plotted, composed with :func:`join`, and tested against a closed form at every step. PyTorch's
``torch.optim.lr_scheduler`` classes are the oracle in the tests; :func:`as_torch_scheduler` hands any of our
schedules to a real optimizer. The one stateful exception is :class:`ReduceLROnPlateau`, whose learning rate depends
on the metrics it has seen.

Rules shared by every factory:

* invalid hyperparameters raise ``ValueError`` naming the argument (``Invalid total_steps: 0 ...``);
* a negative or non-integer step raises ``ValueError`` naming ``step``;
* every schedule is defined for *all* steps ``t >= 0``. What happens after the last step of a finite schedule is
  documented in each factory; the rule is that a finite schedule **holds its final value** (cosine stays at
  ``min_lr``, one-cycle stays at its final lr). PyTorch differs there: ``CosineAnnealingLR`` rises again after
  ``T_max`` (it is periodic) and ``OneCycleLR`` raises after one extra step.

Equation labels in the comments (``# (eq-cosine)``) are those of the schedules chapter of the book.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple, Optional, Sequence, Union

import torch

from ._validation import check_nonnegative, check_nonnegative_int, check_positive, check_positive_int

__all__ = [
    "Schedule",
    "constant",
    "step_decay",
    "exponential_decay",
    "cosine_annealing",
    "cosine_warm_restarts",
    "linear_warmup",
    "join",
    "warmup_cosine",
    "one_cycle",
    "wsd",
    "ReduceLROnPlateau",
    "as_torch_scheduler",
    "ScheduleLR",
    "lr_range_test",
    "LRRangeResult",
]

Schedule = Callable[[int], float]


# ----------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------


def _check_step(step) -> int:
    """Return ``step`` as an ``int``; raise ``ValueError`` unless it is an integer >= 0."""
    if isinstance(step, bool):
        raise ValueError(f"Invalid step: {step!r} (expected an integer >= 0)")
    try:
        step = operator.index(step)  # accepts int and numpy integers, refuses 2.5
    except TypeError:
        raise ValueError(f"Invalid step: {step!r} (expected an integer >= 0)") from None
    if step < 0:
        raise ValueError(f"Invalid step: {step!r} (expected an integer >= 0)")
    return step


def _check_min_lr(min_lr, lr, lr_name: str = "lr") -> None:
    check_nonnegative("min_lr", min_lr)
    if min_lr > lr:
        raise ValueError(f"Invalid min_lr: {min_lr!r} (expected min_lr <= {lr_name} = {lr!r})")


def _cosine(start: float, end: float, p: float) -> float:
    """Half a cosine from ``start`` (at p = 0) to ``end`` (at p = 1)."""
    return end + (start - end) * (1 + math.cos(math.pi * p)) / 2


def _linear(start: float, end: float, p: float) -> float:
    """A straight line from ``start`` (at p = 0) to ``end`` (at p = 1)."""
    return start + (end - start) * p


# ----------------------------------------------------------------------------------------------------------------
# the basic shapes
# ----------------------------------------------------------------------------------------------------------------


def constant(lr: float) -> Schedule:
    r"""The constant schedule :math:`\eta_t = \eta` for every step."""
    check_nonnegative("lr", lr)

    def schedule(step: int) -> float:
        _check_step(step)
        return lr

    return schedule


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    r"""Step decay: multiply the learning rate by ``gamma`` every ``step_size`` steps.

    .. math:: \eta_t = \eta_0\, \gamma^{\lfloor t / s \rfloor}

    with :math:`\eta_0` = ``lr``, :math:`s` = ``step_size``, :math:`\gamma` = ``gamma``. Equals
    ``torch.optim.lr_scheduler.StepLR(optimizer, step_size, gamma)`` at every step. Defined for all ``t >= 0``
    (it keeps decaying).
    """
    check_nonnegative("lr", lr)
    check_positive_int("step_size", step_size)
    check_positive("gamma", gamma)

    def schedule(step: int) -> float:
        t = _check_step(step)
        return lr * gamma ** (t // step_size)  # (eq-step-decay)

    return schedule


def exponential_decay(lr: float, gamma: float) -> Schedule:
    r"""Exponential decay :math:`\eta_t = \eta_0\, \gamma^t`, as ``torch.optim.lr_scheduler.ExponentialLR``.

    ``gamma`` must be positive. ``gamma < 1`` decays; ``gamma > 1`` grows, which is how the LR range test
    (:func:`lr_range_test`) sweeps learning rates geometrically. Defined for all ``t >= 0``.
    """
    check_nonnegative("lr", lr)
    check_positive("gamma", gamma)

    def schedule(step: int) -> float:
        t = _check_step(step)
        return lr * gamma**t

    return schedule


def cosine_annealing(lr: float, total_steps: int, min_lr: float = 0.0) -> Schedule:
    r"""Cosine annealing from ``lr`` at step 0 down to ``min_lr`` at step ``total_steps``.

    .. math::
        \eta_t = \eta_{min} + \tfrac12 (\eta_{max} - \eta_{min}) \bigl(1 + \cos(\pi t / T)\bigr),
        \qquad 0 \le t \le T

    with :math:`\eta_{max}` = ``lr``, :math:`\eta_{min}` = ``min_lr``, :math:`T` = ``total_steps``. On steps
    ``0..total_steps`` it equals ``torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps,
    eta_min=min_lr)`` (torch computes it recursively; the two agree to rounding).

    **After the last step** (``t > total_steps``) the learning rate stays at ``min_lr``. ``CosineAnnealingLR``
    instead climbs back up (its formula is periodic with period ``2 * T_max``), which is rarely what anyone wants.
    """
    check_nonnegative("lr", lr)
    check_positive_int("total_steps", total_steps)
    _check_min_lr(min_lr, lr)

    def schedule(step: int) -> float:
        t = min(_check_step(step), total_steps)  # hold min_lr after the end
        return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * t / total_steps)) / 2  # (eq-cosine)

    return schedule


def cosine_warm_restarts(lr: float, first_cycle_steps: int, cycle_mult: int = 1, min_lr: float = 0.0) -> Schedule:
    r"""Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter 2017).

    Cycle :math:`i` lasts :math:`T_i = T_0\, T_{mult}^{\,i}` steps; inside it, with :math:`T_{cur}` the steps since
    the last restart,

    .. math:: \eta_t = \eta_{min} + \tfrac12 (\eta_{max} - \eta_{min}) \bigl(1 + \cos(\pi T_{cur} / T_i)\bigr)

    and at the step where :math:`T_{cur}` would reach :math:`T_i` the learning rate jumps back to
    :math:`\eta_{max}` (the restart). :math:`T_0` = ``first_cycle_steps``, :math:`T_{mult}` = ``cycle_mult`` (an
    integer >= 1). Equals ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0, T_mult, eta_min)``
    driven by plain ``step()`` calls. The schedule never ends: restarts continue forever.
    """
    check_nonnegative("lr", lr)
    check_positive_int("first_cycle_steps", first_cycle_steps)
    check_positive_int("cycle_mult", cycle_mult)
    _check_min_lr(min_lr, lr)

    def schedule(step: int) -> float:
        t_cur, t_i = _check_step(step), first_cycle_steps
        if cycle_mult == 1:
            t_cur %= t_i
        else:
            while t_cur >= t_i:  # walk through the finished cycles (logarithmically many)
                t_cur -= t_i
                t_i *= cycle_mult  # T_{i+1} = T_mult * T_i
        return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * t_cur / t_i)) / 2  # (eq-sgdr)

    return schedule


def linear_warmup(lr: float, warmup_steps: int, start_factor: float = 1.0 / 3) -> Schedule:
    r"""Linear warm-up from ``start_factor * lr`` at step 0 to ``lr`` at step ``warmup_steps``, then constant.

    .. math:: \eta_t = \eta \Bigl(f_0 + (1 - f_0) \frac{\min(t, W)}{W}\Bigr)

    with :math:`f_0` = ``start_factor`` and :math:`W` = ``warmup_steps``. Equals
    ``torch.optim.lr_scheduler.LinearLR(optimizer, start_factor, end_factor=1.0, total_iters=warmup_steps)``,
    including its default ``start_factor = 1/3``. Unlike ``LinearLR``, ``start_factor = 0`` (start from a zero
    learning rate) is allowed. After ``warmup_steps`` it holds ``lr`` forever.
    """
    check_nonnegative("lr", lr)
    check_positive_int("warmup_steps", warmup_steps)
    if not (isinstance(start_factor, (int, float)) and 0 <= start_factor <= 1):
        raise ValueError(f"Invalid start_factor: {start_factor!r} (expected a number in [0, 1])")

    def schedule(step: int) -> float:
        t = min(_check_step(step), warmup_steps)
        return lr * (start_factor + (1 - start_factor) * t / warmup_steps)  # (eq-linear-warmup)

    return schedule


# ----------------------------------------------------------------------------------------------------------------
# composition
# ----------------------------------------------------------------------------------------------------------------


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    r"""Run ``schedules[0]`` until ``boundaries[0]``, then ``schedules[1]`` until ``boundaries[1]``, and so on.

    **Each piece restarts its own step count at its boundary**, as ``torch.optim.lr_scheduler.SequentialLR`` (and
    optax's ``join_schedules``) do: for :math:`b_{i-1} \le t < b_i`,

    .. math:: \eta_t = \text{schedules}[i](t - b_{i-1}), \qquad b_{-1} = 0,\ b_{n-1} = \infty .

    So at a boundary the new piece starts at *its* step 0; the joined schedule is continuous there exactly when
    the old piece, continued one more step, would have reached the new piece's starting value (as for a warm-up
    to ``lr`` followed by a cosine starting at ``lr``, see :func:`warmup_cosine`). ``boundaries`` are strictly
    increasing positive integers, one fewer than ``schedules``. After the last boundary the last piece runs
    forever, so the joined schedule behaves past its end as its last piece does.

    ``SequentialLR`` gives every piece the optimizer's initial lr; here each piece carries its own.
    """
    schedules, boundaries = list(schedules), list(boundaries)
    if not schedules or not all(callable(s) for s in schedules):
        raise ValueError(f"Invalid schedules: {schedules!r} (expected a non-empty sequence of callables)")
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"Invalid boundaries: {boundaries!r} "
            f"(expected {len(schedules) - 1} boundaries for {len(schedules)} schedules)"
        )
    for b in boundaries:
        check_positive_int("boundaries", b)
    if any(b1 >= b2 for b1, b2 in zip(boundaries, boundaries[1:])):
        raise ValueError(f"Invalid boundaries: {boundaries!r} (expected strictly increasing integers)")

    def schedule(step: int) -> float:
        t = _check_step(step)
        start = 0
        for piece, boundary in zip(schedules, boundaries + [math.inf]):
            if t < boundary:
                return piece(t - start)  # the piece counts from its own step 0
            start = boundary
        raise AssertionError("unreachable: the last boundary is infinite")

    return schedule


def warmup_cosine(lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> Schedule:
    r"""Linear warm-up from 0 to ``lr`` over ``warmup_steps``, then cosine annealing to ``min_lr`` at ``total_steps``.

    .. math::
        \eta_t = \begin{cases}
            \eta\, t / W & t < W \\
            \eta_{min} + \tfrac12(\eta - \eta_{min})\bigl(1 + \cos(\pi \tfrac{t - W}{T - W})\bigr) & W \le t \le T \\
            \eta_{min} & t > T
        \end{cases}

    It is ``join([linear_warmup(lr, W, start_factor=0), cosine_annealing(lr, T - W, min_lr)], [W])``: the
    warm-up ends where the cosine starts, so the curve is continuous (the shape of Hugging Face's
    ``get_cosine_schedule_with_warmup``). Step 0 has learning rate 0 when ``warmup_steps > 0``;
    ``warmup_steps = 0`` gives plain :func:`cosine_annealing`. Note that ``ChainedScheduler(LinearLR,
    CosineAnnealingLR)`` is *not* this shape: it multiplies the two. After ``total_steps`` it holds ``min_lr``.
    """
    check_nonnegative_int("warmup_steps", warmup_steps)
    check_positive_int("total_steps", total_steps)
    if warmup_steps >= total_steps:
        raise ValueError(
            f"Invalid warmup_steps: {warmup_steps!r} (expected warmup_steps < total_steps = {total_steps})"
        )
    cosine = cosine_annealing(lr, total_steps - warmup_steps, min_lr)
    if warmup_steps == 0:
        return cosine
    warmup = linear_warmup(lr, warmup_steps, start_factor=0.0)
    return join([warmup, cosine], [warmup_steps])


# ----------------------------------------------------------------------------------------------------------------
# one-cycle and warmup-stable-decay
# ----------------------------------------------------------------------------------------------------------------


class _Phase(NamedTuple):
    """One phase of the one-cycle policy: it ends at step ``end`` (possibly fractional)."""

    end: float
    lr_from: float
    lr_to: float
    momentum_from: float
    momentum_to: float


def one_cycle(
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    anneal_strategy: str = "cos",
    three_phase: bool = False,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
) -> Schedule:
    r"""Smith's one-cycle policy, exactly as ``torch.optim.lr_scheduler.OneCycleLR``.

    The learning rate goes from :math:`\eta_{max}/d` up to :math:`\eta_{max}` and then down to
    :math:`\eta_{max}/(d\, d_f)`, with :math:`d` = ``div_factor``, :math:`d_f` = ``final_div_factor``. Phases end at
    the (possibly fractional) steps of ``OneCycleLR``:

    * two phases (default): up until :math:`e_1 = p N - 1`, down until :math:`e_2 = N - 1`;
    * ``three_phase=True`` (the paper's shape): up until :math:`p N - 1`, back down to :math:`\eta_{max}/d` at
      :math:`2 p N - 2`, then the annihilation phase down to :math:`\eta_{max}/(d\, d_f)` at :math:`N - 1`;

    with :math:`N` = ``total_steps``, :math:`p` = ``pct_start``. Inside a phase from :math:`s` to :math:`e` running
    from value :math:`a` to :math:`b`, with :math:`u = (t - s)/(e - s)`,

    .. math:: \eta_t = b + \tfrac12 (a - b)(1 + \cos \pi u) \quad\text{(cos)}, \qquad
              \eta_t = a + (b - a)\, u \quad\text{(linear)}.

    The peak is hit exactly only when :math:`p N` is an integer.

    **Momentum**: the returned schedule has an attribute ``.momentum``, itself a schedule ``step -> momentum``, that
    cycles inversely (``max_momentum`` → ``base_momentum`` → ``max_momentum``), as ``OneCycleLR`` sets the
    optimizer's ``momentum`` (or Adam's :math:`\beta_1`).

    **Steps**: ``OneCycleLR`` defines steps ``0..total_steps-1``, extrapolates one more step and then raises. Here
    every step ``t >= total_steps`` holds the final values (lr :math:`\eta_{max}/(d\, d_f)`, momentum
    ``max_momentum``). Arguments whose phases would be empty (e.g. :math:`p N \le 1`) raise ``ValueError``.
    """
    check_positive("max_lr", max_lr)
    check_positive_int("total_steps", total_steps)
    if not isinstance(three_phase, bool):
        raise ValueError(f"Invalid three_phase: {three_phase!r} (expected True or False)")
    if not (isinstance(pct_start, (int, float)) and 0 < pct_start < (0.5 if three_phase else 1)):
        bound = "0.5 (three_phase)" if three_phase else "1"
        raise ValueError(f"Invalid pct_start: {pct_start!r} (expected 0 < pct_start < {bound})")
    check_positive("div_factor", div_factor)
    check_positive("final_div_factor", final_div_factor)
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(f"Invalid anneal_strategy: {anneal_strategy!r} (expected 'cos' or 'linear')")
    check_nonnegative("base_momentum", base_momentum)
    check_nonnegative("max_momentum", max_momentum)

    initial_lr = max_lr / div_factor
    final_lr = initial_lr / final_div_factor
    up = float(pct_start * total_steps) - 1  # end of the warm-up phase (OneCycleLR's convention)
    if three_phase:
        phases = [
            _Phase(up, initial_lr, max_lr, max_momentum, base_momentum),
            _Phase(float(2 * pct_start * total_steps) - 2, max_lr, initial_lr, base_momentum, max_momentum),
            _Phase(total_steps - 1, initial_lr, final_lr, max_momentum, max_momentum),  # annihilation
        ]
    else:
        phases = [
            _Phase(up, initial_lr, max_lr, max_momentum, base_momentum),
            _Phase(total_steps - 1, max_lr, final_lr, base_momentum, max_momentum),
        ]
    ends = [0.0] + [phase.end for phase in phases]
    if any(e1 >= e2 for e1, e2 in zip(ends, ends[1:])):
        raise ValueError(
            f"Invalid pct_start: {pct_start!r} with total_steps={total_steps} leaves an empty phase "
            f"(phase ends {ends[1:]}); use more steps or another pct_start"
        )
    anneal = _cosine if anneal_strategy == "cos" else _linear

    def locate(step: int) -> tuple[_Phase, float]:
        """The phase that holds ``step``, and the progress u in [0, 1] through it."""
        t = min(_check_step(step), total_steps - 1)  # hold the final values after the end
        start = 0.0
        for phase in phases:
            if t <= phase.end:
                break
            start = phase.end
        return phase, (t - start) / (phase.end - start)

    def schedule(step: int) -> float:
        phase, u = locate(step)
        return anneal(phase.lr_from, phase.lr_to, u)  # (eq-one-cycle)

    def momentum(step: int) -> float:
        phase, u = locate(step)
        return anneal(phase.momentum_from, phase.momentum_to, u)

    schedule.momentum = momentum
    return schedule


_WSD_DECAYS = {  # g(p): the fraction of (lr - min_lr) left after a fraction p of the decay phase
    "linear": lambda p: 1 - p,
    "cosine": lambda p: (1 + math.cos(math.pi * p)) / 2,
    "sqrt": lambda p: 1 - math.sqrt(p),
}


def wsd(
    lr: float, total_steps: int, warmup_steps: int, decay_steps: int, min_lr: float = 0.0, decay: str = "linear"
) -> Schedule:
    r"""Warmup–stable–decay ("trapezoidal") schedule.

    With :math:`W` = ``warmup_steps``, :math:`D` = ``decay_steps``, :math:`T` = ``total_steps`` and the decay
    progress :math:`p = (t - (T - D)) / D`:

    .. math::
        \eta_t = \begin{cases}
            \eta\, t / W & 0 \le t < W \quad\text{(warm-up from 0)} \\
            \eta & W \le t < T - D \quad\text{(stable)} \\
            \eta_{min} + (\eta - \eta_{min})\, g(p) & T - D \le t \le T \quad\text{(decay)} \\
            \eta_{min} & t > T
        \end{cases}

    where the decay shape :math:`g` falls from 1 at :math:`p = 0` to 0 at :math:`p = 1`:

    * ``decay="linear"``: :math:`g(p) = 1 - p` (the default);
    * ``decay="cosine"``: :math:`g(p) = \tfrac12 (1 + \cos \pi p)`;
    * ``decay="sqrt"``: :math:`g(p) = 1 - \sqrt{p}` (the "1 − sqrt" cooldown of Hägele et al. 2024).

    Requires ``warmup_steps + decay_steps <= total_steps`` and ``decay_steps >= 1``; ``warmup_steps = 0`` skips the
    warm-up. After ``total_steps`` the learning rate holds ``min_lr``. There is no oracle in torch; the tests
    check the closed form.
    """
    check_nonnegative("lr", lr)
    check_positive_int("total_steps", total_steps)
    check_nonnegative_int("warmup_steps", warmup_steps)
    check_positive_int("decay_steps", decay_steps)
    if warmup_steps + decay_steps > total_steps:
        raise ValueError(
            f"Invalid warmup_steps: {warmup_steps!r} + decay_steps {decay_steps!r} exceed total_steps {total_steps!r}"
        )
    _check_min_lr(min_lr, lr)
    if decay not in _WSD_DECAYS:
        raise ValueError(f"Invalid decay: {decay!r} (expected one of {sorted(_WSD_DECAYS)})")
    shape = _WSD_DECAYS[decay]
    decay_start = total_steps - decay_steps

    def schedule(step: int) -> float:
        t = min(_check_step(step), total_steps)  # hold min_lr after the end
        if t < warmup_steps:
            return lr * t / warmup_steps  # (eq-wsd) warm-up
        if t < decay_start:
            return lr  # (eq-wsd) stable
        return min_lr + (lr - min_lr) * shape((t - decay_start) / decay_steps)  # (eq-wsd) decay

    return schedule


# ----------------------------------------------------------------------------------------------------------------
# reduce on plateau (the one stateful schedule)
# ----------------------------------------------------------------------------------------------------------------


class ReduceLROnPlateau:
    r"""Cut the learning rate by ``factor`` when a monitored metric stops improving.

    Call :meth:`update` once per evaluation (usually once per epoch) with the metric; it returns the learning rate
    to use next. The rule, as in ``torch.optim.lr_scheduler.ReduceLROnPlateau``:

    1. the metric *improves* when it beats the best value so far by more than the threshold:
       ``mode="min"``: :math:`m < m^* - \delta`, ``mode="max"``: :math:`m > m^* + \delta`, with
       :math:`\delta` = ``threshold`` (``threshold_mode="abs"``) or :math:`\delta` = ``threshold`` ·
       :math:`|m^*|` (``"rel"``); an improvement resets the count of bad epochs, anything else adds one;
    2. during the ``cooldown`` updates that follow a reduction, bad epochs are not counted;
    3. when the count of bad epochs **exceeds** ``patience`` (``>``, not ``>=``), the learning rate becomes
       :math:`\max(\eta \cdot \text{factor}, \eta_{min})` — unless that changes it by less than ``eps`` — the
       count restarts and the cooldown begins.

    One deliberate difference from torch: the relative threshold uses :math:`|m^*|`. Torch multiplies by
    :math:`m^*` itself, so for a negative metric (a log-likelihood, say) its "improvement" test in ``rel`` mode
    is backwards by :math:`2\delta|m^*|` (in ``min`` mode a slightly *worse* value counts as better). For
    positive metrics, and in ``abs`` mode, the two agree at every update.

    Attributes: ``lr`` (current learning rate), ``best``, ``num_bad_epochs``, ``cooldown_counter``.
    """

    def __init__(
        self,
        lr: float,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        check_nonnegative("lr", lr)
        if mode not in ("min", "max"):
            raise ValueError(f"Invalid mode: {mode!r} (expected 'min' or 'max')")
        if not (isinstance(factor, (int, float)) and 0 <= factor < 1):
            raise ValueError(f"Invalid factor: {factor!r} (expected 0 <= factor < 1)")
        check_nonnegative_int("patience", patience)
        check_nonnegative("threshold", threshold)
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"Invalid threshold_mode: {threshold_mode!r} (expected 'rel' or 'abs')")
        check_nonnegative_int("cooldown", cooldown)
        _check_min_lr(min_lr, lr)
        check_nonnegative("eps", eps)
        self.lr, self.mode, self.factor, self.patience = float(lr), mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown, self.min_lr, self.eps = (
            threshold, threshold_mode, cooldown, min_lr, eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def is_better(self, metric: float) -> bool:
        """Whether ``metric`` counts as an improvement on ``self.best``."""
        sign = 1.0 if self.mode == "min" else -1.0  # +1: smaller is better
        if self.threshold_mode == "abs":
            bound = self.best - sign * self.threshold
        elif self.best >= 0:
            bound = self.best * (1 - sign * self.threshold)  # best -/+ threshold * |best|
        else:
            bound = self.best * (1 + sign * self.threshold)  # the same for best < 0 (torch moves it the wrong way)
        return sign * metric < sign * bound

    def update(self, metric) -> float:
        """Record one evaluation of the metric and return the learning rate to use from now on."""
        metric = float(metric)
        if self.is_better(metric):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:  # bad epochs do not count while cooling down
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:  # strictly more than `patience` bad epochs
            new_lr = max(self.lr * self.factor, self.min_lr)
            if self.lr - new_lr > self.eps:  # ignore negligible reductions, as torch does
                self.lr = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        return self.lr


# ----------------------------------------------------------------------------------------------------------------
# handing a schedule to torch
# ----------------------------------------------------------------------------------------------------------------


class ScheduleLR(torch.optim.lr_scheduler.LRScheduler):
    """A ``torch.optim.lr_scheduler.LRScheduler`` that sets each group's ``lr`` to ``schedule(step)``.

    Built by :func:`as_torch_scheduler`. ``last_epoch`` is the step index: after construction the optimizer's lr is
    ``schedule(0)``, and after the ``k``-th ``scheduler.step()`` it is ``schedule(k)``. The usual loop
    ``optimizer.step(); scheduler.step()`` therefore runs optimizer step ``k`` with ``schedule(k)``. With a
    momentum schedule it also sets each group's ``momentum`` (or the first of its ``betas``), as ``OneCycleLR``
    does. The schedules themselves are not saved in ``state_dict()`` (functions are not data); rebuild them and
    load the step count.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedules: list[Schedule],
        momentum: Optional[Schedule] = None,
        last_epoch: int = -1,
    ) -> None:
        self.schedules = schedules
        self.momentum_schedule = momentum
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if self.momentum_schedule is not None:
            for group in self.optimizer.param_groups:
                if "betas" in group:  # Adam-type: the momentum is beta_1
                    group["betas"] = (self.momentum_schedule(step), *group["betas"][1:])
                else:
                    group["momentum"] = self.momentum_schedule(step)
        return [schedule(step) for schedule in self.schedules]

    def _get_closed_form_lr(self) -> list[float]:
        return self.get_lr()

    def state_dict(self) -> dict:
        functions = ("optimizer", "schedules", "momentum_schedule")
        return {key: value for key, value in self.__dict__.items() if key not in functions}


def as_torch_scheduler(
    optimizer: torch.optim.Optimizer,
    schedule: Union[Schedule, Sequence[Schedule]],
    momentum: Optional[Schedule] = None,
) -> ScheduleLR:
    r"""Wrap a schedule (or one schedule per parameter group) as a torch ``LRScheduler`` for ``optimizer``.

    Every group's ``lr`` is *set* to ``schedule(step)`` (not multiplied by the group's initial lr, unlike
    ``LambdaLR``). Use it as any torch scheduler: ``optimizer.step()`` then ``scheduler.step()`` once per step.
    ``momentum``, a schedule ``step -> momentum`` such as ``one_cycle(...).momentum``, also sets every group's
    ``momentum`` (SGD, RMSprop) or :math:`\beta_1` (Adam-type ``betas``); by default momentum is left alone.

    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> opt = torch.optim.SGD([w], lr=1.0)
    >>> sched = as_torch_scheduler(opt, cosine_annealing(0.1, total_steps=4))
    >>> opt.param_groups[0]["lr"]
    0.1
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"Invalid optimizer: {optimizer!r} (expected a torch.optim.Optimizer)")
    n_groups = len(optimizer.param_groups)
    schedules = [schedule] * n_groups if callable(schedule) else list(schedule)
    if len(schedules) != n_groups or not all(callable(s) for s in schedules):
        raise ValueError(
            f"Invalid schedule: {schedule!r} (expected a callable or a list of {n_groups} callables, one per group)"
        )
    if momentum is not None:
        if not callable(momentum):
            raise ValueError(f"Invalid momentum: {momentum!r} (expected a schedule step -> momentum, or None)")
        if not all("momentum" in group or "betas" in group for group in optimizer.param_groups):
            raise ValueError("Invalid momentum: the optimizer has neither a 'momentum' nor a 'betas' hyperparameter")
    return ScheduleLR(optimizer, schedules, momentum)


# ----------------------------------------------------------------------------------------------------------------
# Smith's learning-rate range test
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class LRRangeResult:
    """The outcome of :func:`lr_range_test`.

    ``lrs[k]`` is the learning rate of step ``k``, ``raw_losses[k]`` the mini-batch loss at that step (before the
    update), ``losses[k]`` its smoothed, bias-corrected running average, and ``suggestion`` the learning rate where
    the smoothed loss falls fastest per decade of lr.
    """

    lrs: list[float]
    losses: list[float]
    raw_losses: list[float]
    suggestion: float
    suggestion_index: int
    diverged: bool


def lr_range_test(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batches: Iterable,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    smooth: float = 0.98,
    diverge_factor: float = 4.0,
) -> LRRangeResult:
    r"""Smith's learning-rate range test ("LR finder"): train briefly while the lr grows geometrically.

    Step ``k = 0 .. num_steps-1`` uses :math:`\eta_k = \eta_{lo} (\eta_{hi}/\eta_{lo})^{k/(K-1)}`, i.e.
    ``exponential_decay(min_lr, gamma)`` with :math:`\gamma = (\eta_{hi}/\eta_{lo})^{1/(K-1)} > 1`. Each step takes
    the next ``(inputs, targets)`` batch from ``batches`` (restarting it when exhausted), computes
    ``loss_fn(model(inputs), targets)``, records it, and takes an optimizer step. The recorded curve is smoothed
    with a bias-corrected exponential moving average :math:`\bar L_k = \text{EMA}_k / (1 - s^{k+1})`,
    :math:`s` = ``smooth``; the test stops early when the smoothed loss exceeds ``diverge_factor`` times its best
    value so far, or the loss is not finite.

    The **suggestion** is the learning rate where the smoothed loss decreases fastest against
    :math:`\log \eta` (the most negative central difference), searched on the descending part of the curve,
    i.e. at learning rates below the one of the lowest smoothed loss (the chaotic region after the minimum can
    have steep drops too). It is a starting point, not a tuned value.

    The model's parameters and buffers and the optimizer's state (momentum buffers, learning rates) are restored
    afterwards, so the test leaves no trace. ``optimizer`` must be built on ``model``'s parameters.
    """
    check_positive("min_lr", min_lr)
    check_positive("max_lr", max_lr)
    if max_lr <= min_lr:
        raise ValueError(f"Invalid max_lr: {max_lr!r} (expected max_lr > min_lr = {min_lr!r})")
    check_positive_int("num_steps", num_steps)
    if num_steps < 3:
        raise ValueError(f"Invalid num_steps: {num_steps!r} (expected at least 3 steps)")
    if not (isinstance(smooth, (int, float)) and 0 <= smooth < 1):
        raise ValueError(f"Invalid smooth: {smooth!r} (expected 0 <= smooth < 1)")
    if not (isinstance(diverge_factor, (int, float)) and diverge_factor > 1):
        raise ValueError(f"Invalid diverge_factor: {diverge_factor!r} (expected a number > 1)")

    sweep = exponential_decay(min_lr, (max_lr / min_lr) ** (1 / (num_steps - 1)))
    model_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizer_state = _clone_state(optimizer.state_dict())
    scheduler = as_torch_scheduler(optimizer, sweep)
    was_training = model.training
    model.train()
    lrs, raw, smoothed = [], [], []
    average, best, diverged = 0.0, math.inf, False
    stream = _cycle(batches)
    try:
        for k in range(num_steps):
            inputs, targets = next(stream)
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            value = loss.item()
            if not math.isfinite(value):
                diverged = True
                break
            loss.backward()
            optimizer.step()
            average = smooth * average + (1 - smooth) * value
            current = average / (1 - smooth ** (k + 1))  # bias-corrected running average
            lrs.append(sweep(k))
            raw.append(value)
            smoothed.append(current)
            best = min(best, current)
            if current > diverge_factor * best:
                diverged = True
                break
            scheduler.step()
    finally:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
        model.train(was_training)
    if len(lrs) < 3:
        raise ValueError(
            f"Invalid min_lr: {min_lr!r} (the loss diverged after {len(lrs)} steps; start the sweep lower)"
        )
    # the slope of the smoothed loss against log(lr), on the descending part (up to the lowest loss);
    # the suggestion is where that slope is most negative
    lowest = min(range(len(smoothed)), key=smoothed.__getitem__)
    logs = [math.log(lr) for lr in lrs]
    slopes = {i: (smoothed[i + 1] - smoothed[i - 1]) / (logs[i + 1] - logs[i - 1]) for i in range(1, max(lowest, 2))}
    index = min(slopes, key=slopes.__getitem__)
    return LRRangeResult(lrs, smoothed, raw, lrs[index], index, diverged)


def _cycle(batches: Iterable):
    """Yield from ``batches`` forever, restarting it (e.g. a new DataLoader epoch) whenever it runs out."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ValueError(
                "Invalid batches: ran out of batches (pass a list or a DataLoader, which can be iterated again)"
            )


def _clone_state(state):
    """A deep copy of an optimizer ``state_dict`` (tensors cloned), so that later steps cannot change it."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {key: _clone_state(value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_clone_state(value) for value in state)
    return state
