"""The data of the book's interactive figures is what the library computes (reference_impl.explorers).

The oracles are independent of the module under test: paths are re-run by a plain training loop written here
(:func:`plain_path`; for schedule-free SGD the points are read from the optimizer's own ``x`` state), each
optimizer built here from its documented hyperparameter; schedules are called directly; Adam's first
step is its closed form; divergence of gradient descent follows the step-size bound 2 / L.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

from reference_impl import explorers as E
from reference_impl import schedules as S
from reference_impl.optim import SGD, Adagrad, Adam, Lion, RMSprop, SGDScheduleFree
from reference_impl.problems import Quadratic, rosenbrock

RTOL = 6e-4  # 4 significant digits are stored: relative error <= 5e-4

# the explorer's optimizers, built here from their names (the module's table is what is under test)
BUILD = {
    "GD": lambda p, lr, b: SGD(p, lr=lr),
    "heavy ball": lambda p, lr, b: SGD(p, lr=lr, momentum=b),
    "Nesterov": lambda p, lr, b: SGD(p, lr=lr, momentum=b, nesterov=True),
    "AdaGrad": lambda p, lr, b: Adagrad(p, lr=lr),
    "RMSprop": lambda p, lr, b: RMSprop(p, lr=lr, alpha=b),
    "Adam": lambda p, lr, b: Adam(p, lr=lr, betas=(b, 0.999)),
    "Lion": lambda p, lr, b: Lion(p, lr=lr, betas=(b, 0.99)),
}


def plain_path(make, f, start, steps, schedule=None) -> np.ndarray:
    """The oracle: ``steps`` plain optimizer steps from ``start`` (lr set from ``schedule`` first), every point kept,
    NaN rows from the first non-finite one on."""
    w = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    opt = make([w])
    points = [list(start)]
    for t in range(steps):
        if schedule is not None:
            for group in opt.param_groups:
                group["lr"] = schedule(t)
        opt.zero_grad()
        f(w).backward()
        opt.step()
        points.append(w.detach().tolist())
    path = np.array(points)
    bad = np.nonzero(~np.all(np.isfinite(path), axis=1))[0]
    if len(bad):
        path[bad[0]:] = np.nan
    return path


def assert_path(record, expected: np.ndarray, stride: int = 1):
    """The stored (rounded, possibly strided) path equals ``expected`` up to where the record stops."""
    n = record["steps"] + 1
    kept = sorted(set(range(0, n, stride)) | {n - 1})  # the steps the record keeps (explorers._path_record)
    assert "t" not in record
    ref = expected[kept]
    got = np.array([record["x"], record["y"]], dtype=float).T
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=1e-12)


@pytest.fixture(scope="module")
def grid():
    return E.trajectory_grid(count=4)


def test_problems_are_the_library_problems():
    quad = E.PROBLEMS["quadratic"]["f"]
    assert isinstance(quad, Quadratic) and quad.condition_number == 50
    assert E.PROBLEMS["rosenbrock"]["f"] is rosenbrock


@pytest.mark.parametrize("name", list(BUILD))
def test_grid_paths_equal_a_plain_loop(grid, name):
    entry = grid["optimizers"][name]
    assert set(entry["runs"]) == {"quadratic", "rosenbrock"}
    for prob, spec in E.PROBLEMS.items():
        lrs = entry["lrs"][prob]
        assert len(entry["runs"][prob]) == len(lrs) == 4
        for i, lr in enumerate(lrs):
            for j, beta in enumerate(entry["betas"]):
                record = entry["runs"][prob][i][j]
                ref = plain_path(lambda p, lr=lr, beta=beta: BUILD[name](p, lr, beta), spec["f"], spec["start"], spec["steps"])
                finite = ref[np.all(np.isfinite(ref), axis=1)]
                escaped = np.nonzero(np.max(np.abs(finite), axis=1) > E.ESCAPE)[0]
                stop = int(escaped[0]) if len(escaped) else len(finite) - 1
                assert record["steps"] == stop, (name, prob, lr, beta)
                assert record["diverged"] == (stop < spec["steps"] or len(escaped) > 0)
                assert_path(record, ref[: stop + 1], spec["stride"])
                if not record["diverged"]:
                    loss = float(spec["f"](torch.tensor(ref[stop])))
                    assert record["loss"] == pytest.approx(loss, rel=RTOL, abs=1e-300)
                else:
                    assert record["loss"] is None


def test_schedule_free_is_drawn_at_its_average(grid):
    entry = grid["optimizers"]["schedule-free SGD"]
    spec = E.PROBLEMS["quadratic"]
    for i, lr in enumerate(entry["lrs"]["quadratic"]):
        for j, beta in enumerate(entry["betas"]):
            w = torch.nn.Parameter(torch.tensor(spec["start"], dtype=torch.float64))
            opt = SGDScheduleFree([w], lr=lr, momentum=beta)
            xs = [list(spec["start"])]
            for _ in range(spec["steps"]):
                opt.zero_grad()
                spec["f"](w).backward()
                opt.step()
                xs.append(opt.state[w]["x"].tolist())
            record = entry["runs"]["quadratic"][i][j]
            assert_path(record, np.array(xs)[: record["steps"] + 1])


def test_gradient_descent_diverges_exactly_past_two_over_l():
    """GD on a quadratic is stable iff lr < 2 / L: the stored divergence flag must say so."""
    grid = E.trajectory_grid(optimizers=["GD"], problems=["quadratic"], count=9)
    smoothness = E.PROBLEMS["quadratic"]["f"].smoothness
    lrs = grid["optimizers"]["GD"]["lrs"]["quadratic"]
    flags = [row[0]["diverged"] for row in grid["optimizers"]["GD"]["runs"]["quadratic"]]
    assert any(flags) and not all(flags), "the grid should show both sides of the bound"
    for lr, diverged in zip(lrs, flags, strict=True):
        if lr < 2 / smoothness:
            assert not diverged, lr
        elif lr > 2.5 / smoothness:  # past the bound, |1 - lr L| > 1.25: leaves the box within 60 steps
            assert diverged, lr


@pytest.fixture(scope="module")
def schedule_data():
    return E.schedule_grid(every=7)


def _direct_schedule(name: str, kw: dict, total: int):
    """The library's schedule ``name`` (peak lr 1) with the explorer's hyperparameters ``kw``, built directly."""
    direct = {
        "constant": lambda: S.constant(1.0),
        "step_decay": lambda: S.step_decay(1.0, kw["step_size"], kw["gamma"]),
        "exponential_decay": lambda: S.exponential_decay(1.0, kw["gamma"]),
        "cosine_annealing": lambda: S.cosine_annealing(1.0, total, kw["min_lr"]),
        "cosine_warm_restarts": lambda: S.cosine_warm_restarts(1.0, kw["first_cycle_steps"], kw["cycle_mult"]),
        "linear_warmup": lambda: S.linear_warmup(1.0, kw["warmup_steps"], kw["start_factor"]),
        "warmup_cosine": lambda: S.warmup_cosine(1.0, kw["warmup_steps"], total, kw["min_lr"]),
        "one_cycle": lambda: S.one_cycle(1.0, total, pct_start=kw["pct_start"], three_phase=kw["three_phase"]),
        "wsd": lambda: S.wsd(1.0, total, kw["warmup_steps"], kw["decay_steps"], decay=kw["decay"]),
    }
    return direct[name]()


@pytest.mark.parametrize("name", list(E.SCHEDULES))
def test_schedule_curves_equal_the_schedules(schedule_data, name):
    data = schedule_data
    steps = data["steps"]
    entry = data["schedules"][name]
    params = E.SCHEDULES[name][1]
    assert len(entry["curves"]) == math.prod(len(v) for v in params.values())
    for key, curve in entry["curves"].items():
        idx = [int(i) for i in key.split(",")] if key else []
        kw = {p: values[i] for (p, values), i in zip(params.items(), idx, strict=True)}
        total = E.TOTAL_STEPS
        if name == "ReduceLROnPlateau":
            rule = S.ReduceLROnPlateau(1.0, patience=kw["patience"], factor=kw["factor"])
            lrs = [1.0] + [rule.update(E._plateau_metric(t)) for t in range(total)]
            expected = [lrs[t] for t in steps]
        else:
            sched = _direct_schedule(name, kw, total)
            expected = [sched(t) for t in steps]
        np.testing.assert_allclose(curve, expected, rtol=RTOL, atol=1e-12, err_msg=f"{name} {kw}")


def test_reduce_on_plateau_curves_do_reduce():
    curves = E.schedule_grid()["schedules"]["ReduceLROnPlateau"]["curves"]
    assert all(min(c) < 1.0 for c in curves.values()), "the made-up metric should plateau and trigger reductions"


def test_adam_eps_first_step_is_its_closed_form():
    data = E.adam_eps_grid(steps=5)
    g = np.array(data["grads"])
    for eps, step in zip(data["eps"], data["first_step"], strict=True):
        # first Adam step with bias correction: m_hat = g, v_hat = g^2 -> lr * g / (|g| + eps)
        np.testing.assert_allclose(step, g / (np.abs(g) + eps), rtol=RTOL)
    assert data["eps"][0] == 1e-8 and data["eps"][-1] == 1.0
    first, last = np.array(data["first_step"][0]), np.array(data["first_step"][-1])
    assert np.allclose(first[g > 1e-4], 1.0, rtol=1e-2)  # sign-like
    assert np.allclose(last[g < 1e-2], g[g < 1e-2], rtol=2e-2)  # SGD-like: g / eps with eps = 1


def test_adam_eps_paths_equal_a_plain_loop():
    data = E.adam_eps_grid(lr=0.2, steps=30)
    spec = E.PROBLEMS["quadratic"]
    base = spec["f"]
    scaled = Quadratic(curvatures=[E.EPS_SCALE * c for c in base.curvatures], minimum=base.minimum, angle=base.angle)
    for eps, record in zip(data["eps"][::4], data["paths"][::4], strict=True):
        ref = plain_path(lambda p, eps=eps: Adam(p, lr=0.2, eps=eps), scaled, spec["start"], 30)
        assert_path(record, ref)


def test_adam_eps_moves_the_path():
    """On the scaled quadratic eps decides where Adam gets: the paths' end points spread over most of the window
    (on the unscaled one they moved by at most 1e-4 up to eps = 1e-4)."""
    data = E.adam_eps_grid(lr=0.2, steps=60)
    ends = np.array([[p["x"][-1], p["y"][-1]] for p in data["paths"]])
    assert np.linalg.norm(ends[0] - ends[-1]) > 1.0
    # monotone: a larger eps never gets closer to the minimum on this problem
    losses = [p["loss"] for p in data["paths"]]
    assert all(a <= b * (1 + 1e-9) for a, b in itertools.pairwise(losses))


def test_schedule_grid_carries_the_plateau_metric():
    data = E.schedule_grid(every=5)
    np.testing.assert_allclose(data["plateau_metric"], [E._plateau_metric(t) for t in data["steps"]], rtol=RTOL)


def test_momentum_live_is_the_quadratic():
    data = E.momentum_live()
    f = E.PROBLEMS["quadratic"]["f"]
    assert np.allclose(data["hessian"], f.hessian.numpy(), rtol=0, atol=0)
    assert data["start"] == list(E.PROBLEMS["quadratic"]["start"]) and data["escape"] == E.ESCAPE


def test_race_equals_a_plain_loop_with_and_without_schedule():
    sched = S.cosine_annealing(0.02, 40)
    data = E.race({"hb": lambda p: SGD(p, lr=0.02, momentum=0.9),
                   "cos": lambda p: SGD(p, lr=0.02, momentum=0.9)}, "quadratic", 40, schedules={"cos": sched})
    spec = E.PROBLEMS["quadratic"]
    plain = plain_path(lambda p: SGD(p, lr=0.02, momentum=0.9), spec["f"], spec["start"], 40)
    cosine = plain_path(lambda p: SGD(p, lr=0.02, momentum=0.9), spec["f"], spec["start"], 40, schedule=sched)
    for name, ref in (("hb", plain), ("cos", cosine)):
        got = np.array([data["paths"][name]["x"], data["paths"][name]["y"]]).T
        np.testing.assert_allclose(got, ref, rtol=RTOL, atol=1e-12)
        losses = spec["f"](torch.tensor(ref)).numpy()
        np.testing.assert_allclose(data["paths"][name]["loss"], losses, rtol=RTOL, atol=1e-300)
    assert not np.allclose(plain, cosine), "the schedule must change the run"


def test_a_diverging_race_stops_where_it_leaves_the_box_with_or_without_schedule():
    """One divergence rule for every path of the explorers: the first point outside [-ESCAPE, ESCAPE] is the last."""
    spec = E.PROBLEMS["quadratic"]
    sched = S.constant(0.05)  # lr 0.05 > 2 / L = 0.04: GD diverges on the quadratic
    data = E.race({"plain": lambda p: SGD(p, lr=0.05), "scheduled": lambda p: SGD(p, lr=1.0)}, "quadratic", 80,
                  schedules={"scheduled": sched})
    ref = plain_path(lambda p: SGD(p, lr=0.05), spec["f"], spec["start"], 80)
    stop = int(np.nonzero(np.max(np.abs(ref), axis=1) > E.ESCAPE)[0][0])
    for name in ("plain", "scheduled"):
        got = np.array([data["paths"][name]["x"], data["paths"][name]["y"]]).T
        np.testing.assert_allclose(got, ref[: stop + 1], rtol=RTOL, atol=1e-12)


def test_figure_html_carries_the_json_safely():
    fig = E.Figure("race", {"text": "</script><b>", "v": [1.5]}, "demo", caption="a <caption>")
    html = fig._repr_html_()
    assert html.startswith('<div class="course-explorer" id="explorer-demo" data-kind="race">')
    assert "</script><b>" not in html and "&lt;caption&gt;" in html
    start = html.index(">", html.index("<script")) + 1
    payload = html[start:html.index("</script>")]
    assert json.loads(payload) == {"text": "</script><b>", "v": [1.5]}


def test_packed_paths_unpack_to_the_path_within_half_a_step():
    """pack_path's integer differences, summed and divided by the scale (what explorers.js does), give every point back
    to within 0.5 / scale, diverged runs (coordinates of hundreds) and zeros included; the first value is absolute."""
    rng = np.random.default_rng(0)
    values = np.concatenate([[-1.8, 0.0, 3e-5, -404.7], np.cumsum(rng.normal(0, 0.3, 200))]).tolist()
    packed = E.pack_path(values)
    assert packed["scale"] == E.PATH_SCALE and all(isinstance(d, int) for d in packed["delta"])
    assert packed["delta"][0] == -18_000
    np.testing.assert_allclose(E.unpack_paths(packed), values, rtol=0, atol=0.5 / E.PATH_SCALE + 1e-12)
    assert E.unpack_paths({"a": [packed, 2], "b": "text"}) == {"a": [E.unpack_paths(packed), 2], "b": "text"}


def test_trajectory_figure_packs_every_path_and_keeps_everything_else(grid):
    """The trajectory explorer's JSON holds its runs' x and y packed; unpacked, it is the grid (points within
    0.5e-4), and is smaller than the plain JSON."""
    fig = E.Figure("trajectory", grid, "t")
    sent = json.loads(fig.json())
    plain = json.dumps(grid, separators=(",", ":"))
    assert len(fig.json()) < 0.7 * len(plain)
    run = sent["optimizers"]["Adam"]["runs"]["rosenbrock"][1][2]
    assert set(run["x"]) == {"scale", "delta"}
    back = E.unpack_paths(sent)
    for name, entry in grid["optimizers"].items():
        assert {k: v for k, v in back["optimizers"][name].items() if k != "runs"} == \
            {k: v for k, v in entry.items() if k != "runs"}
        for prob, rows in entry["runs"].items():
            for row, got_row in zip(rows, back["optimizers"][name]["runs"][prob], strict=True):
                for want, got in zip(row, got_row, strict=True):
                    assert {k: v for k, v in got.items() if k not in "xy"} == \
                        {k: v for k, v in want.items() if k not in "xy"}
                    for axis in "xy":
                        np.testing.assert_allclose(got[axis], want[axis], rtol=0, atol=0.5 / E.PATH_SCALE + 1e-12)
    assert back["problems"] == grid["problems"] and back["contours"] == grid["contours"]


@pytest.mark.parametrize("call", [
    lambda: E.Figure("pie", {}, "x"),
    lambda: E.pack_path([1.0], scale=0),
    lambda: E.Figure("race", {}, "bad id"),
    lambda: E.Figure("race", {"v": float("nan")}, "x").json(),
    lambda: E.trajectory_grid(optimizers=["Nadam"]),
    lambda: E.trajectory_grid(problems=["himmelblau"]),
    lambda: E.lr_grid(0.0),
    lambda: E.schedule_grid(every=0),
    lambda: E.race({}, "himmelblau", 3),
    lambda: E.contour_grid("himmelblau"),
    lambda: E.adam_eps_grid(scale=0.0),
    lambda: E.momentum_live(problem="rosenbrock"),
    lambda: E.momentum_live(steps=0),
    lambda: E.momentum_live(lr=1.0),
    lambda: E.momentum_live(momentum=1.0),
])
def test_invalid_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()
