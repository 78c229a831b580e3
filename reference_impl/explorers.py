"""Data for the book's interactive figures ("explorers" and animations), computed by this package at build time.

The book is a static site: no Python runs while it is read. So every position of every slider is computed here,
when the chapter is executed, by the same optimizers and schedules the rest of the course uses; the page's script
only *chooses* among the precomputed results (it never re-implements an update rule).

* :func:`trajectory_grid` -- for each optimizer of :data:`TRAJECTORY_OPTIMIZERS`, the path on the ill-conditioned
  quadratic and on Rosenbrock's valley for every learning rate x momentum/beta of a grid, whether it diverged,
  and the loss it ended at (the lr x beta map of the explorer).
* :func:`schedule_grid` -- every schedule of :mod:`reference_impl.schedules` over a training run, for every
  combination of its parameters on a small grid.
* :func:`adam_eps_grid` -- Adam's first step per coordinate and its path on the quadratic scaled so that gradients are
  about 1e-6 (where eps matters), for eps from 1e-8 to 1.
* :func:`momentum_live` -- what the page needs to run heavy-ball momentum *itself* on the quadratic, over continuous
  step size and momentum (the one explorer computed in the page; the tests compare it with :class:`~.optim.SGD`).
* :func:`race` -- two or more optimizers run side by side, recorded step by step (the animations).
* :class:`Figure` -- wraps a figure specification for a notebook: its HTML is a placeholder ``<div>`` holding the
  data as JSON, which the book's script (served with the book, like MathJax) turns into a plotly figure.

Only the standard library, numpy and torch are needed here; the page script and plotly.js belong to the book.
Points are stored with 4 significant digits (what a plot can show); the tests check them against
:func:`reference_impl.problems.run_trajectory` to that precision. In a page, the trajectory explorer's paths travel
packed (:func:`pack_path`: integer steps of 1e-4, about 40 % of the bytes); the page's script unpacks them.
"""

from __future__ import annotations

import html
import itertools
import json
import math
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch

from . import schedules as S
from .optim import SGD, Adagrad, Adam, Lion, RMSprop, SGDScheduleFree
from .problems import Quadratic, rosenbrock, run_trajectory

__all__ = [
    "PROBLEMS",
    "TRAJECTORY_OPTIMIZERS",
    "BETAS",
    "lr_grid",
    "explorer_path",
    "trajectory_grid",
    "SCHEDULES",
    "schedule_grid",
    "adam_eps_grid",
    "momentum_live",
    "race",
    "contour_grid",
    "pack_path",
    "unpack_paths",
    "Figure",
]

SIGNIFICANT = 4
"""Significant digits kept for stored numbers."""

ESCAPE = 10.0
"""A run *diverged* once a coordinate leaves [-ESCAPE, ESCAPE] (or becomes non-finite); its path stops there."""


def _round(value: float) -> Optional[float]:
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.{SIGNIFICANT}g}")


def _rounded(values) -> list:
    return [_round(v) for v in np.asarray(values, dtype=float).ravel()]


PATH_SCALE = 10_000
"""A packed path stores its coordinates as whole multiples of ``1 / PATH_SCALE`` (1e-4: a sixtieth of a pixel in
the explorer's 4-unit-wide windows)."""


def pack_path(values: Sequence[float], scale: int = PATH_SCALE) -> dict[str, Any]:
    """A list of coordinates as ``{"scale": scale, "delta": [n0, n1 - n0, n2 - n1, ...]}`` where ``n_i =
    round(values[i] * scale)``: a path moves little from one step to the next, so the differences are short
    integers (the trajectory explorer's data: 392 kB instead of 658 kB). :func:`unpack_paths` reverses it, to within
    ``0.5 / scale``."""
    if not (isinstance(scale, int) and scale > 0):
        raise ValueError(f"Invalid scale: {scale!r} (expected a positive integer)")
    steps = [round(float(v) * scale) for v in values]
    return {"scale": scale, "delta": steps[:1] + [b - a for a, b in itertools.pairwise(steps)]}


def unpack_paths(data: Any) -> Any:
    """``data`` with every :func:`pack_path` object replaced by its list of coordinates (what the page's script
    does when it reads a figure's data)."""
    if isinstance(data, dict):
        if set(data) == {"scale", "delta"}:
            total, out = 0, []
            for step in data["delta"]:
                total += step
                out.append(total / data["scale"])
            return out
        return {key: unpack_paths(value) for key, value in data.items()}
    if isinstance(data, list):
        return [unpack_paths(value) for value in data]
    return data


# ----------------------------------------------------------------------------------------------------------------
# the two test problems and the optimizers of the trajectory explorer
# ----------------------------------------------------------------------------------------------------------------

PROBLEMS: dict[str, dict[str, Any]] = {
    "quadratic": dict(
        title="ill-conditioned quadratic (κ = 50)",
        f=Quadratic(curvatures=(1.0, 50.0), angle=math.pi / 6),
        start=(-1.8, 0.3), steps=60, stride=1, view=((-2.2, 2.2), (-1.5, 1.5)), minimum=(0.0, 0.0)),
    "rosenbrock": dict(
        title="Rosenbrock's valley",
        f=rosenbrock, start=(-1.2, 1.0), steps=200, stride=2, view=((-2.0, 2.0), (-1.0, 3.0)), minimum=(1.0, 1.0)),
}
"""The problems of the trajectory explorer: function, start, number of steps, every how many steps a point is kept
(``stride``: the last point is always kept), plotted window, minimizer."""

BETAS = (0.5, 0.8, 0.9, 0.95, 0.99)
"""The momentum / beta values of the explorer's second slider."""


def lr_grid(low: float, count: int = 9, factor: float = 2.0) -> list[float]:
    """``count`` learning rates ``low * factor**k`` (a geometric grid)."""
    if not (isinstance(low, (int, float)) and low > 0 and math.isfinite(low)):
        raise ValueError(f"Invalid low: {low!r} (expected a number > 0)")
    if not (isinstance(count, int) and count >= 1):
        raise ValueError(f"Invalid count: {count!r} (expected an integer >= 1)")
    if not (isinstance(factor, (int, float)) and factor > 1):
        raise ValueError(f"Invalid factor: {factor!r} (expected a number > 1)")
    return [_round(low * factor**k) for k in range(count)]


# name -> (make(params, lr, beta), name of the beta hyperparameter or None, lowest lr per problem)
TRAJECTORY_OPTIMIZERS: dict[str, tuple[Callable, Optional[str], dict[str, float]]] = {
    "GD": (lambda p, lr, b: SGD(p, lr=lr), None, {"quadratic": 1.25e-3, "rosenbrock": 3.125e-5}),
    "heavy ball": (lambda p, lr, b: SGD(p, lr=lr, momentum=b), "momentum",
                   {"quadratic": 1.25e-3, "rosenbrock": 3.125e-5}),
    "Nesterov": (lambda p, lr, b: SGD(p, lr=lr, momentum=b, nesterov=True), "momentum",
                 {"quadratic": 1.25e-3, "rosenbrock": 3.125e-5}),
    "AdaGrad": (lambda p, lr, b: Adagrad(p, lr=lr), None, {"quadratic": 0.02, "rosenbrock": 0.01}),
    "RMSprop": (lambda p, lr, b: RMSprop(p, lr=lr, alpha=b), "alpha", {"quadratic": 4e-3, "rosenbrock": 2e-3}),
    "Adam": (lambda p, lr, b: Adam(p, lr=lr, betas=(b, 0.999)), "beta1", {"quadratic": 4e-3, "rosenbrock": 2e-3}),
    "Lion": (lambda p, lr, b: Lion(p, lr=lr, betas=(b, 0.99)), "beta1", {"quadratic": 4e-3, "rosenbrock": 2e-3}),
    "schedule-free SGD": (lambda p, lr, b: SGDScheduleFree(p, lr=lr, momentum=b), "momentum",
                          {"quadratic": 1.25e-3, "rosenbrock": 3.125e-5}),
}
"""The optimizers of the trajectory explorer (schedule-free SGD is recorded at its average x, the point to use)."""


def explorer_path(make: Callable[[list[torch.Tensor]], torch.optim.Optimizer], problem: str, steps: int,
                  schedule: Optional[Callable[[int], float]] = None) -> np.ndarray:
    """The path of ``make``'s optimizer on ``problem`` (a key of :data:`PROBLEMS`) from its start, shape ``(n, 2)``.

    :func:`reference_impl.problems.run_trajectory` with the explorer's :data:`ESCAPE` box, the rows after a stop
    dropped: a diverged path ends at its first point outside the box (or its last finite one). For a schedule-free
    optimizer the points are its average ``x``, the point to use.
    """
    spec = PROBLEMS[problem]
    path = run_trajectory(make, spec["f"], spec["start"], steps, schedule=schedule, escape=ESCAPE)
    return path[np.all(np.isfinite(path), axis=1)]


def _path_record(path: np.ndarray, steps: int, f: Callable, stride: int = 1) -> dict[str, Any]:
    diverged = len(path) < steps + 1 or bool(np.max(np.abs(path[-1])) > ESCAPE)
    last = torch.tensor(path[-1], dtype=torch.float64)
    # the steps kept are 0, stride, 2 * stride, ... and the last one (not stored: the page does not need them, and
    # a list per run was a sixth of the trajectory explorer's bytes)
    kept = sorted(set(range(0, len(path), stride)) | {len(path) - 1})
    return {"x": _rounded(path[kept, 0]), "y": _rounded(path[kept, 1]),
            "diverged": diverged, "steps": len(path) - 1, "loss": None if diverged else _round(float(f(last)))}


def trajectory_grid(optimizers: Optional[Sequence[str]] = None, problems: Optional[Sequence[str]] = None,
                    count: int = 9) -> dict[str, Any]:
    """Paths of every optimizer on every problem, for every learning rate and beta of the explorer's grid.

    Returns ``{"problems": {name: {title, start, minimum, view, steps, stride}}, "optimizers": {name: {"beta_name",
    "betas", "lrs": {problem: [...]}, "runs": {problem: [[record per beta] per lr]}}}}`` where a record is
    ``{"x", "y", "diverged", "steps", "loss"}`` (the points of steps 0, stride, 2 * stride, ... and the last one;
    loss at the last point, None when diverged). Optimizers without a beta have one column (``betas == [None]``).
    """
    names = list(TRAJECTORY_OPTIMIZERS) if optimizers is None else list(optimizers)
    probs = list(PROBLEMS) if problems is None else list(problems)
    for name in names:
        if name not in TRAJECTORY_OPTIMIZERS:
            raise ValueError(
                f"Invalid optimizers: unknown {name!r} (expected names of {list(TRAJECTORY_OPTIMIZERS)})")
    for prob in probs:
        if prob not in PROBLEMS:
            raise ValueError(f"Invalid problems: unknown {prob!r} (expected names of {list(PROBLEMS)})")
    out: dict[str, Any] = {"problems": {}, "optimizers": {}}
    for prob in probs:
        spec = PROBLEMS[prob]
        out["problems"][prob] = {"title": spec["title"], "start": list(spec["start"]),
                                 "minimum": list(spec["minimum"]), "view": [list(v) for v in spec["view"]],
                                 "steps": spec["steps"], "stride": spec["stride"]}
    for name in names:
        make, beta_name, lows = TRAJECTORY_OPTIMIZERS[name]
        betas = list(BETAS) if beta_name else [None]
        entry = {"beta_name": beta_name, "betas": betas, "lrs": {}, "runs": {}}
        for prob in probs:
            spec = PROBLEMS[prob]
            lrs = lr_grid(lows[prob], count)
            entry["lrs"][prob] = lrs
            rows = []
            for lr in lrs:
                row = []
                for beta in betas:
                    path = explorer_path(lambda p, lr=lr, beta=beta, make=make: make(p, lr, beta), prob, spec["steps"])
                    row.append(_path_record(path, spec["steps"], spec["f"], spec["stride"]))
                rows.append(row)
            entry["runs"][prob] = rows
        out["optimizers"][name] = entry
    out["contours"] = {prob: contour_grid(prob) for prob in probs}
    return out


def contour_grid(problem: str, points: int = 61) -> dict[str, Any]:
    """``log10(f + 1e-3)`` of a problem on a ``points x points`` grid over its plotted window (for contours)."""
    if problem not in PROBLEMS:
        raise ValueError(f"Invalid problem: {problem!r} (expected one of {list(PROBLEMS)})")
    spec = PROBLEMS[problem]
    (x0, x1), (y0, y1) = spec["view"]
    xs, ys = torch.linspace(x0, x1, points, dtype=torch.float64), torch.linspace(y0, y1, points, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)
    z = torch.log10(spec["f"](grid) + 1e-3)
    return {"x": _rounded(xs), "y": _rounded(ys), "z": [_rounded(row) for row in z.numpy()]}


# ----------------------------------------------------------------------------------------------------------------
# schedules
# ----------------------------------------------------------------------------------------------------------------

TOTAL_STEPS = 1000


def _plateau_metric(t: int) -> float:
    """A made-up validation loss for ReduceLROnPlateau: fast progress, then a noisy plateau (fixed, no randomness)."""
    return 0.3 + 0.7 * math.exp(-t / 80.0) + 0.01 * math.sin(1.7 * t) * math.cos(0.31 * t)


def _plateau(lr: float, patience: int, factor: float) -> Callable[[int], float]:
    rule = S.ReduceLROnPlateau(lr, patience=patience, factor=factor)
    values = [lr]
    for t in range(TOTAL_STEPS):
        values.append(rule.update(_plateau_metric(t)))
    return lambda step: values[min(step, TOTAL_STEPS)]


T = TOTAL_STEPS
SCHEDULES: dict[str, tuple[Callable, dict[str, Sequence]]] = {
    "constant": (lambda: S.constant(1.0), {}),
    "step_decay": (lambda step_size, gamma: S.step_decay(1.0, step_size, gamma),
                   {"step_size": [100, 200, 250, 300, 500], "gamma": [0.1, 0.3, 0.5, 0.7, 0.9]}),
    "exponential_decay": (lambda gamma: S.exponential_decay(1.0, gamma),
                          {"gamma": [0.99, 0.995, 0.997, 0.998, 0.999, 0.9995]}),
    "cosine_annealing": (lambda min_lr: S.cosine_annealing(1.0, T, min_lr),
                         {"min_lr": [0.0, 0.01, 0.1, 0.3, 0.5]}),
    "cosine_warm_restarts": (lambda first_cycle_steps, cycle_mult: S.cosine_warm_restarts(1.0, first_cycle_steps,
                                                                                          cycle_mult),
                             {"first_cycle_steps": [50, 100, 200, 300, 500], "cycle_mult": [1, 2, 3]}),
    "linear_warmup": (lambda warmup_steps, start_factor: S.linear_warmup(1.0, warmup_steps, start_factor),
                      {"warmup_steps": [10, 50, 100, 200, 500], "start_factor": [0.0, 0.1, 1 / 3, 0.5]}),
    "warmup_cosine": (lambda warmup_steps, min_lr: S.warmup_cosine(1.0, warmup_steps, T, min_lr),
                      {"warmup_steps": [10, 20, 50, 100, 200], "min_lr": [0.0, 0.1]}),
    "one_cycle": (lambda pct_start, three_phase: S.one_cycle(1.0, T, pct_start=pct_start, three_phase=three_phase),
                  {"pct_start": [0.1, 0.2, 0.3, 0.4, 0.45], "three_phase": [False, True]}),
    "wsd": (lambda warmup_steps, decay_steps, decay: S.wsd(1.0, T, warmup_steps, decay_steps, decay=decay),
            {"warmup_steps": [0, 10, 50, 100, 200], "decay_steps": [100, 200, 300, 500],
             "decay": ["linear", "cosine", "sqrt"]}),
    "ReduceLROnPlateau": (lambda patience, factor: _plateau(1.0, patience, factor),
                          {"patience": [5, 10, 20, 50], "factor": [0.1, 0.3, 0.5]}),
}
"""Every schedule of :mod:`reference_impl.schedules` (peak lr 1, over ``TOTAL_STEPS`` steps) and its parameter grid.

ReduceLROnPlateau is fed a fixed made-up validation loss (:func:`_plateau_metric`), one value per step."""


def schedule_grid(every: int = 5) -> dict[str, Any]:
    """The learning rate at steps ``0, every, 2*every, ..., TOTAL_STEPS``, every schedule, every parameter combination.

    Returns ``{"steps": [...], "plateau_metric": [...], "schedules": {name: {"params": {param: values}, "curves":
    {key: [lr, ...]}}}}`` (``plateau_metric``: the made-up validation loss ReduceLROnPlateau reacts to) where
    ``key`` joins the parameter indices with commas (``"2,0"``: third value of the first parameter, first of the
    second; ``""`` for a schedule without parameters).
    """
    if not (isinstance(every, int) and 1 <= every <= TOTAL_STEPS):
        raise ValueError(f"Invalid every: {every!r} (expected an integer in [1, {TOTAL_STEPS}])")
    steps = list(range(0, TOTAL_STEPS + 1, every))
    # the validation loss ReduceLROnPlateau is fed (the value of step t is fed after step t: the lr at t+1 reacts)
    out: dict[str, Any] = {"steps": steps, "total_steps": TOTAL_STEPS, "schedules": {},
                           "plateau_metric": _rounded([_plateau_metric(t) for t in steps])}
    for name, (make, params) in SCHEDULES.items():
        curves = {}
        for index in itertools.product(*(range(len(v)) for v in params.values())):
            kwargs = {p: values[i] for (p, values), i in zip(params.items(), index, strict=True)}
            schedule = make(**kwargs)
            curves[",".join(map(str, index))] = _rounded([schedule(t) for t in steps])
        out["schedules"][name] = {"params": {p: [v if isinstance(v, str) else (_round(v) if not isinstance(v, bool)
                                                                              else v) for v in values]
                                             for p, values in params.items()},
                                  "curves": curves}
    return out


# ----------------------------------------------------------------------------------------------------------------
# Adam's eps: from sign-like to SGD-like
# ----------------------------------------------------------------------------------------------------------------

EPSILONS = tuple(10.0 ** (k / 2) for k in range(-16, 1))
"""eps from 1e-8 to 1, two values per decade."""


EPS_SCALE = 1e-6
"""The Adam-eps explorer's path runs on the quadratic multiplied by this: gradients of about 1e-6 to 1e-4, the range
in which eps from 1e-8 to 1 turns Adam from sign-like to SGD-like (on the unscaled quadratic, with gradients of
order 1 to 100, every eps up to about 1e-4 gives the same path)."""


def adam_eps_grid(lr: float = 0.2, steps: int = 60, scale: float = EPS_SCALE) -> dict[str, Any]:
    """For every eps of :data:`EPSILONS`: Adam's first step per coordinate, and Adam's path on a scaled quadratic.

    ``first_step``: one :class:`~reference_impl.optim.Adam` step (lr 1) on a parameter whose gradient
    coordinates are ``g = 10**k`` for k from -6 to 2: the returned ``|step|`` is 1 for every coordinate when the
    step is sign-like, and proportional to ``g`` (``g / eps``) when it is SGD-like. ``paths``: ``lr``-Adam from the
    start of :data:`PROBLEMS`' quadratic on that quadratic times ``scale`` (same contours, gradients ``scale`` times
    smaller); its ``loss`` is the scaled loss.
    """
    if not (isinstance(scale, (int, float)) and scale > 0 and math.isfinite(scale)):
        raise ValueError(f"Invalid scale: {scale!r} (expected a number > 0)")
    grads = torch.logspace(-6, 2, 33, dtype=torch.float64)
    spec = PROBLEMS["quadratic"]
    base = spec["f"]
    f = Quadratic(curvatures=tuple(scale * c for c in base.curvatures), minimum=base.minimum, angle=base.angle)
    out: dict[str, Any] = {"eps": [_round(e) for e in EPSILONS], "grads": _rounded(grads), "lr": lr,
                           "first_step": [], "paths": [], "contour": contour_grid("quadratic"),
                           "view": [list(v) for v in spec["view"]], "scale": scale,
                           "problem": f"quadratic × {scale:g}: gradients ~{scale:g}–{50 * 3 * scale:.0e}"}
    for eps in EPSILONS:
        w = torch.zeros_like(grads, requires_grad=True)
        opt = Adam([w], lr=1.0, eps=eps)
        w.grad = grads.clone()
        opt.step()
        out["first_step"].append(_rounded(w.detach().abs()))
        path = run_trajectory(lambda p, eps=eps: Adam(p, lr=lr, eps=eps), f, spec["start"], steps, escape=ESCAPE)
        out["paths"].append(_path_record(path[np.all(np.isfinite(path), axis=1)], steps, f))
    return out


# ----------------------------------------------------------------------------------------------------------------
# momentum computed in the page
# ----------------------------------------------------------------------------------------------------------------


def momentum_live(problem: str = "quadratic", steps: int = 80, lr: float = 0.02, momentum: float = 0.9,
                  lr_range: Sequence[float] = (1e-3, 0.06), momentum_range: Sequence[float] = (0.0, 0.99)
                  ) -> dict[str, Any]:
    """The data of the live momentum explorer: the quadratic's Hessian, minimizer and start, the number of steps,
    the initial slider values and their ranges, and the contours. The page computes heavy-ball paths itself, with
    torch.optim.SGD's update; nothing here is a precomputed path."""
    if problem not in PROBLEMS or not isinstance(PROBLEMS[problem]["f"], Quadratic):
        quads = [n for n, p in PROBLEMS.items() if isinstance(p["f"], Quadratic)]
        raise ValueError(f"Invalid problem: {problem!r} (expected a quadratic of PROBLEMS: {quads})")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"Invalid steps: {steps!r} (expected an integer >= 1)")
    if not (len(lr_range) == 2 and 0 < lr_range[0] < lr_range[1] and lr_range[0] <= lr <= lr_range[1]):
        raise ValueError(f"Invalid lr_range: {lr_range!r} (expected 0 < low < high, with lr {lr!r} inside)")
    if not (len(momentum_range) == 2 and 0 <= momentum_range[0] < momentum_range[1] < 1
            and momentum_range[0] <= momentum <= momentum_range[1]):
        raise ValueError(f"Invalid momentum_range: {momentum_range!r} (expected 0 <= low < high < 1, with momentum "
                         f"{momentum!r} inside)")
    spec = PROBLEMS[problem]
    f = spec["f"]
    return {"problem": problem, "hessian": f.hessian.tolist(), "minimum": list(f.minimum),
            "curvatures": list(f.curvatures), "start": list(spec["start"]), "steps": steps, "escape": ESCAPE,
            "lr": lr, "momentum": momentum, "lr_range": list(lr_range), "momentum_range": list(momentum_range),
            "view": [list(v) for v in spec["view"]], "contour": contour_grid(problem)}


# ----------------------------------------------------------------------------------------------------------------
# races (animations)
# ----------------------------------------------------------------------------------------------------------------


def race(runners: Mapping[str, Callable[[list[torch.Tensor]], torch.optim.Optimizer]], problem: str, steps: int,
         schedules: Optional[Mapping[str, Callable[[int], float]]] = None) -> dict[str, Any]:
    """Run each optimizer of ``runners`` (name -> ``params -> optimizer``) on ``problem`` for ``steps`` steps.

    ``schedules`` optionally gives a ``step -> lr`` schedule per runner name (set before each step). Paths are
    recorded by :func:`explorer_path`: a diverging run stops where it leaves the plotted box. Returns
    ``{"problem": ..., "paths": {name: {"x", "y", "loss"}}}`` with the loss at every recorded point.
    """
    if problem not in PROBLEMS:
        raise ValueError(f"Invalid problem: {problem!r} (expected one of {list(PROBLEMS)})")
    schedules = dict(schedules or {})
    spec = PROBLEMS[problem]
    paths = {}
    for name, make in runners.items():
        path = explorer_path(make, problem, steps, schedules.get(name))
        losses = spec["f"](torch.tensor(path, dtype=torch.float64))
        paths[name] = {"x": _rounded(path[:, 0]), "y": _rounded(path[:, 1]), "loss": _rounded(losses)}
    return {"problem": problem, "steps": steps, "paths": paths, "contour": contour_grid(problem),
            "view": [list(v) for v in spec["view"]]}


# ----------------------------------------------------------------------------------------------------------------
# the notebook side: a placeholder the page script fills in
# ----------------------------------------------------------------------------------------------------------------


class Figure:
    """An interactive figure for the book: ``kind`` names the page script's renderer, ``data`` its JSON input.

    In a notebook its HTML is a ``<div class="course-explorer">`` with the data inside a
    ``<script type="application/json">`` element and a short text for readers without JavaScript. The book's
    script (``explorers.js``, served with plotly.js only on pages that hold such a div) draws it. Outside the book
    (Jupyter, Colab) the div stays a placeholder: the text says so.
    """

    KINDS = ("trajectory", "schedules", "adam-eps", "race", "momentum-live")

    def __init__(self, kind: str, data: Mapping[str, Any], ident: str, caption: str = "") -> None:
        if kind not in self.KINDS:
            raise ValueError(f"Invalid kind: {kind!r} (expected one of {self.KINDS})")
        if not (isinstance(ident, str) and ident.replace("-", "").isalnum()):
            raise ValueError(f"Invalid ident: {ident!r} (expected letters, digits and '-')")
        self.kind, self.data, self.ident, self.caption = kind, dict(data), ident, caption

    def json(self) -> str:
        data = self.data
        if self.kind == "trajectory":  # the paths of every run, packed (pack_path); the page unpacks them
            data = dict(data, optimizers={
                name: dict(entry, runs={prob: [[dict(run, x=pack_path(run["x"]), y=pack_path(run["y"])) for run in row]
                                              for row in rows] for prob, rows in entry["runs"].items()})
                for name, entry in data["optimizers"].items()})
        # "</" would end the script element early; JSON allows the escaped form.
        return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")

    def _repr_html_(self) -> str:
        return (f'<div class="course-explorer" id="explorer-{self.ident}" data-kind="{self.kind}">'
                f'<script type="application/json" class="course-explorer-data">{self.json()}</script>'
                f'<p class="course-explorer-fallback">{html.escape(self.caption)} (Interactive figure: it is drawn '
                "by the book's own script, in the HTML book.)</p></div>")

    def __repr__(self) -> str:
        return f"Figure({self.kind!r}, ident={self.ident!r}, {len(self.json())} bytes of data)"
