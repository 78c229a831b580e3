"""Figures the chapters share: learning-rate schedules and the LR range test.

Only this module imports matplotlib, so that the optimizers and schedules work without it. Other chapters may add
their own plotting helpers in other modules.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Optional, Union

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

__all__ = ["plot_schedules", "plot_lr_range"]


def plot_schedules(
    schedules: Mapping[str, Callable[[int], float]],
    steps: Union[int, Iterable[int]],
    ax: Optional[Axes] = None,
    *,
    log_y: bool = False,
    title: Optional[str] = None,
    xlabel: str = "step",
    ylabel: str = "learning rate",
    **line_kwargs,
) -> Axes:
    """Draw every schedule of ``schedules`` (label -> ``step -> value``) on one Axes and return it.

    ``steps`` is a number of steps ``n`` (drawn on ``0 .. n-1``) or any iterable of step indices. ``log_y`` puts the
    learning rate on a log scale (useful for step and exponential decay). Extra keyword arguments go to every
    ``Axes.plot`` call (e.g. ``linewidth=1``). Any callable works, e.g. ``one_cycle(...).momentum`` with
    ``ylabel="momentum"``.

    >>> from reference_impl.schedules import cosine_annealing, step_decay
    >>> ax = plot_schedules({"cosine": cosine_annealing(0.1, 100), "step": step_decay(0.1, 30)}, 101)
    >>> [line.get_label() for line in ax.get_lines()]
    ['cosine', 'step']
    """
    if not schedules:
        raise ValueError("Invalid schedules: expected at least one schedule to draw")
    xs = list(range(steps)) if isinstance(steps, int) else [int(s) for s in steps]
    if not xs:
        raise ValueError(f"Invalid steps: {steps!r} (expected at least one step)")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    for label, schedule in schedules.items():
        ax.plot(xs, [schedule(x) for x in xs], label=label, **line_kwargs)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def plot_lr_range(result, ax: Optional[Axes] = None, *, show_raw: bool = True, title: Optional[str] = None) -> Axes:
    """Draw an :class:`~reference_impl.schedules.LRRangeResult`: loss against learning rate (log axis).

    The smoothed loss is a solid line, the raw mini-batch losses faint dots (``show_raw``), and the suggested
    learning rate a dashed vertical line.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    if show_raw:
        ax.plot(result.lrs, result.raw_losses, ".", alpha=0.3, label="mini-batch loss")
    ax.plot(result.lrs, result.losses, label="smoothed loss")
    ax.axvline(result.suggestion, linestyle="--", color="k", label=f"suggestion {result.suggestion:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    if title is not None:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax
