"""Composing schedules: :func:`join` runs one schedule after another; :func:`warmup_cosine` is built with it."""

from __future__ import annotations

import itertools
import math
from typing import Sequence

from .._validation import check_nonnegative_int, check_positive_int
from .shapes import Schedule, _check_step, cosine_annealing, linear_warmup

__all__ = ["join", "warmup_cosine"]


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
    if any(b1 >= b2 for b1, b2 in itertools.pairwise(boundaries)):
        raise ValueError(f"Invalid boundaries: {boundaries!r} (expected strictly increasing integers)")

    def schedule(step: int) -> float:
        t = _check_step(step)
        start = 0
        for piece, boundary in zip(schedules, boundaries + [math.inf], strict=True):
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
