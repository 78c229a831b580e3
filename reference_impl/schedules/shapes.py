"""The pure schedules: each factory binds its hyperparameters and returns a function ``step -> lr``.

Shared rules (see :mod:`reference_impl.schedules`): invalid hyperparameters raise ``ValueError`` naming the
argument, a step must be an integer >= 0, and a finite schedule holds its final value after its end.
"""

from __future__ import annotations

import itertools
import math
import operator
from typing import Callable, NamedTuple

from .._validation import check_nonnegative, check_nonnegative_int, check_positive, check_positive_int

__all__ = ["Schedule", "constant", "step_decay", "exponential_decay", "cosine_annealing", "cosine_warm_restarts",
           "linear_warmup", "one_cycle", "wsd"]

Schedule = Callable[[int], float]
"""A learning-rate schedule: step index (from 0) -> learning rate."""


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
    if any(e1 >= e2 for e1, e2 in itertools.pairwise(ends)):
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
