"""Two-dimensional test problems the book reuses, a trajectory recorder and a contour plot.

* :class:`Quadratic` -- :math:`f(w) = \\tfrac12 (w - w^\\star)^\\top H (w - w^\\star)` with a chosen spectrum and
  orientation: the model of ill-conditioning (condition number :math:`\\kappa = \\lambda_{max}/\\lambda_{min}`).
* :func:`rosenbrock` -- the curved "banana" valley, :math:`(a - x)^2 + b (y - x^2)^2`.
* :func:`run_trajectory` -- run any ``torch.optim.Optimizer`` on a 2-D function and record the visited points
  (the one trajectory recorder of the package: the explorers use it too).
* :func:`plot_trajectories` -- log-spaced contours of the function with one coloured path per optimizer.

Every function takes points as tensors of shape ``(..., 2)``, so one call evaluates a whole grid.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch

from ._validation import check_nonnegative_int, check_positive

__all__ = ["Quadratic", "rosenbrock", "ROSENBROCK_MINIMUM", "run_trajectory", "plot_trajectories"]

ROSENBROCK_MINIMUM = (1.0, 1.0)
"""The minimizer of :func:`rosenbrock` with its default ``a = 1`` (the minimum is ``(a, a**2)``)."""


def _pair(name: str, value: Any, *, positive: bool = False) -> tuple[float, float]:
    """Check that ``value`` is two finite real numbers (> 0 with ``positive``) and return them as floats."""
    try:
        items = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"Invalid {name}: {value!r} (expected two finite numbers)") from None
    if len(items) != 2 or not all(math.isfinite(v) for v in items):
        raise ValueError(f"Invalid {name}: {value!r} (expected two finite numbers)")
    if positive and min(items) <= 0:
        raise ValueError(f"Invalid {name}: {value!r} (expected two numbers > 0)")
    return items


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"Invalid {name}: {value!r} (expected a finite number)")
    return float(value)


def _check_points(w: Any) -> torch.Tensor:
    if not isinstance(w, torch.Tensor) or w.ndim == 0 or w.shape[-1] != 2:
        shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
        raise ValueError(f"Invalid w: expected a tensor of shape (..., 2), got {shape}")
    return w


class Quadratic:
    r"""The quadratic :math:`f(w) = \tfrac12 (w - w^\star)^\top H (w - w^\star)` in two dimensions.

    :math:`H = R(\alpha)\,\mathrm{diag}(\lambda_1, \lambda_2)\,R(\alpha)^\top`, with :math:`R(\alpha)` the rotation
    by ``angle`` :math:`\alpha` (radians): the curvatures are :math:`H`'s eigenvalues, the axes of the elliptic
    contours are rotated by :math:`\alpha`. Its gradient is :math:`H (w - w^\star)`, its minimum value 0.

    Args:
        curvatures: the eigenvalues :math:`(\lambda_1, \lambda_2)` of :math:`H`, both > 0 (default ``(1, 10)``).
        minimum: the minimizer :math:`w^\star` (default the origin).
        angle: rotation :math:`\alpha` of the principal axes, in radians (default 0: axis-aligned).

    Attributes:
        hessian: :math:`H` as a 2x2 float64 tensor.
        minimum: :math:`w^\star` as a tuple of two floats.
        curvatures: :math:`(\lambda_1, \lambda_2)`.
        smoothness: :math:`L = \max_i \lambda_i` (gradient descent is stable for :math:`\eta < 2/L`).
        strong_convexity: :math:`\mu = \min_i \lambda_i`.
        condition_number: :math:`\kappa = L/\mu`.

    Example:
        >>> f = Quadratic(curvatures=(1.0, 50.0))
        >>> f.condition_number
        50.0
        >>> f(torch.tensor([1.0, 1.0]))
        tensor(25.5000)
    """

    def __init__(
        self,
        curvatures: Sequence[float] = (1.0, 10.0),
        minimum: Sequence[float] = (0.0, 0.0),
        angle: float = 0.0,
    ) -> None:
        self.curvatures = _pair("curvatures", curvatures, positive=True)
        self.minimum = _pair("minimum", minimum)
        self.angle = _finite("angle", angle)
        c, s = math.cos(self.angle), math.sin(self.angle)
        rotation = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
        self.hessian = rotation @ torch.diag(torch.tensor(self.curvatures, dtype=torch.float64)) @ rotation.T
        self.smoothness = max(self.curvatures)
        self.strong_convexity = min(self.curvatures)
        self.condition_number = self.smoothness / self.strong_convexity

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        """The loss at ``w`` (shape ``(..., 2)``); returns a tensor of shape ``w.shape[:-1]``."""
        w = _check_points(w)
        d = w - torch.tensor(self.minimum, dtype=w.dtype, device=w.device)
        h = self.hessian.to(dtype=w.dtype, device=w.device)
        return 0.5 * ((d @ h) * d).sum(-1)

    def gradient(self, w: torch.Tensor) -> torch.Tensor:
        """The closed-form gradient :math:`H (w - w^\\star)` at ``w`` (shape ``(..., 2)``)."""
        w = _check_points(w)
        d = w - torch.tensor(self.minimum, dtype=w.dtype, device=w.device)
        return d @ self.hessian.to(dtype=w.dtype, device=w.device)  # H is symmetric

    def __repr__(self) -> str:
        return f"Quadratic(curvatures={self.curvatures}, minimum={self.minimum}, angle={self.angle})"


def rosenbrock(w: torch.Tensor, a: float = 1.0, b: float = 100.0) -> torch.Tensor:
    r"""Rosenbrock's function :math:`f(x, y) = (a - x)^2 + b\,(y - x^2)^2` at ``w = (..., [x, y])``.

    Its minimum 0 lies at :math:`(a, a^2)` (:data:`ROSENBROCK_MINIMUM` for the defaults) at the bottom of a
    narrow curved valley: easy to find, slow to follow. Returns a tensor of shape ``w.shape[:-1]``.
    """
    w = _check_points(w)
    a = _finite("a", a)
    b = _finite("b", b)
    x, y = w[..., 0], w[..., 1]
    return (a - x) ** 2 + b * (y - x**2) ** 2


rosenbrock.minimum = ROSENBROCK_MINIMUM  # type: ignore[attr-defined]  # read by plot_trajectories


def run_trajectory(
    make_optimizer: Callable[[list[torch.Tensor]], torch.optim.Optimizer],
    f: Callable[[torch.Tensor], torch.Tensor],
    start: Sequence[float],
    steps: int,
    schedule: Optional[Callable[[int], float]] = None,
    dtype: torch.dtype = torch.float64,
    escape: Optional[float] = None,
) -> np.ndarray:
    """Run an optimizer on a 2-D function and return the points it visits.

    A parameter is created at ``start``, the optimizer is built with ``make_optimizer([param])`` and ``steps``
    steps are taken, each on the exact gradient of ``f``. With ``schedule``, the learning rate of every parameter
    group is set to ``schedule(t)`` before step ``t`` (``t = 0, 1, ...``). The recorded point is the one to
    evaluate at: the parameter, or for a schedule-free optimizer (one with ``eval()`` and ``train()``) its average
    ``x``, read in eval mode after each step.

    Args:
        make_optimizer: e.g. ``lambda p: SGD(p, lr=0.05, momentum=0.9)``.
        f: a function of a tensor of shape ``(2,)`` returning a scalar loss (e.g. a :class:`Quadratic`).
        start: the starting point ``(x, y)``.
        steps: the number of optimizer steps (>= 0).
        schedule: optional ``step -> lr`` callable.
        dtype: the parameter's dtype (default float64, so that slow convergence is not hidden by round-off).
        escape: optional bound: the run also stops after the first point with a coordinate outside
            ``[-escape, escape]`` (that point is kept), e.g. to keep a diverging path off a plot.

    Returns:
        A float64 array of shape ``(steps + 1, 2)``: row 0 is ``start``, row ``t`` the point after ``t`` steps.
        **Divergence**: the run stops at the first non-finite point (or after leaving the ``escape`` box); that
        row, if not kept, and all later rows are NaN.
    """
    if not callable(make_optimizer):
        raise ValueError(f"Invalid make_optimizer: {make_optimizer!r} (expected a callable params -> optimizer)")
    if not callable(f):
        raise ValueError(f"Invalid f: {f!r} (expected a callable)")
    if schedule is not None and not callable(schedule):
        raise ValueError(f"Invalid schedule: {schedule!r} (expected a callable step -> lr, or None)")
    start = _pair("start", start)
    check_nonnegative_int("steps", steps)
    if escape is not None:
        check_positive("escape", escape)
    param = torch.nn.Parameter(torch.tensor(start, dtype=dtype))
    optimizer = make_optimizer([param])
    points = np.full((steps + 1, 2), np.nan)
    points[0] = start
    for t in range(steps):
        if schedule is not None:
            lr = schedule(t)
            for group in optimizer.param_groups:
                group["lr"] = lr
        optimizer.zero_grad()
        f(param).backward()
        optimizer.step()
        point = _evaluation_point(optimizer, param)
        if not np.all(np.isfinite(point)):
            break  # diverged: this row and the later ones stay NaN
        points[t + 1] = point
        if escape is not None and np.max(np.abs(point)) > escape:
            break  # left the box: this point is kept, the later rows stay NaN
    return points


def _evaluation_point(optimizer: torch.optim.Optimizer, param: torch.Tensor) -> np.ndarray:
    """``param`` as a float64 array; for a schedule-free optimizer its average x (eval mode, then train again)."""
    schedule_free = callable(getattr(optimizer, "eval", None)) and callable(getattr(optimizer, "train", None))
    if schedule_free:
        optimizer.eval()
    point = param.detach().to(torch.float64).numpy().copy()
    if schedule_free:
        optimizer.train()
    return point


def plot_trajectories(
    f: Callable[[torch.Tensor], torch.Tensor],
    trajectories: Mapping[str, np.ndarray],
    ax: Any = None,
    xlim: Sequence[float] = (-2, 2),
    ylim: Sequence[float] = (-2, 2),
    levels: int = 30,
    title: Optional[str] = None,
    minimum: Optional[Sequence[float]] = None,
) -> Any:
    """Draw log-spaced contours of ``f`` and one coloured path per trajectory; return the matplotlib Axes.

    Args:
        f: a function of tensors of shape ``(..., 2)`` (evaluated on a 300x300 grid).
        trajectories: name -> array of points of shape ``(n, 2)`` (e.g. from :func:`run_trajectory`);
            NaN rows (a diverged run) are not drawn.
        ax: the Axes to draw on (a new figure when ``None``).
        xlim, ylim: the plotted window.
        levels: the number of contour levels, spaced geometrically above the grid's minimum.
        title: the Axes title.
        minimum: where to put the star marking the minimum; by default ``f.minimum`` when ``f`` has one
            (:class:`Quadratic`, :func:`rosenbrock`), otherwise no marker.
    """
    import matplotlib.pyplot as plt

    if not callable(f):
        raise ValueError(f"Invalid f: {f!r} (expected a callable)")
    if not isinstance(trajectories, Mapping):
        raise ValueError(f"Invalid trajectories: expected a dict name -> array of shape (n, 2), got {type(trajectories).__name__}")
    xlim = _pair("xlim", xlim)
    ylim = _pair("ylim", ylim)
    check_nonnegative_int("levels", levels)
    if levels < 2:
        raise ValueError(f"Invalid levels: {levels!r} (expected an integer >= 2)")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.8))
    xs = np.linspace(*xlim, 300)
    ys = np.linspace(*ylim, 300)
    grid = torch.tensor(np.stack(np.meshgrid(xs, ys), axis=-1), dtype=torch.float64)
    with torch.no_grad():
        z = f(grid).numpy()
    low = float(np.min(z))
    span = float(np.max(z)) - low
    offset = max(span * 1e-6, 1e-12)  # contour z - low + offset on a log scale
    values = np.geomspace(offset, span + offset, levels)
    ax.contour(xs, ys, z - low + offset, levels=values, cmap="Greys_r", linewidths=0.6, alpha=0.7)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, path) in enumerate(trajectories.items()):
        path = np.asarray(path, dtype=float)
        if path.ndim != 2 or path.shape[1] != 2:
            raise ValueError(f"Invalid trajectories[{name!r}]: expected shape (n, 2), got {path.shape}")
        path = path[np.all(np.isfinite(path), axis=1)]
        colour = colours[index % len(colours)]
        ax.plot(path[:, 0], path[:, 1], "-", color=colour, lw=1.4, label=name)
        ax.plot(path[:, 0], path[:, 1], ".", color=colour, ms=3)
        ax.plot(path[:1, 0], path[:1, 1], "o", color=colour, ms=5)
    if minimum is None:
        minimum = getattr(f, "minimum", None)
    if minimum is not None:
        ax.plot([minimum[0]], [minimum[1]], "*", color="crimson", ms=13, label="minimum", zorder=5)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    if title is not None:
        ax.set_title(title)
    if trajectories:
        ax.legend(loc="best", fontsize="small")
    return ax
