"""reference_impl.schedules against torch.optim.lr_scheduler (where torch has the schedule) or a closed form.

Every expected value comes from torch's own schedulers driving a real optimizer, or from a closed form written
here independently of the library (vectorised with numpy, structured differently from the library's code).
"""

from __future__ import annotations

import io
import math

import matplotlib
import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as tls

from reference_impl import schedules as S

RTOL, ATOL = 1e-10, 1e-14


# ----------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------


def torch_trace(make_scheduler, lr, steps, optimizer="sgd"):
    """Learning rates (and momenta) that a torch scheduler gives optimizer steps 0..steps-1."""
    param = torch.nn.Parameter(torch.zeros(1))
    if optimizer == "sgd":
        opt = torch.optim.SGD([param], lr=lr, momentum=0.9)
    else:
        opt = torch.optim.Adam([param], lr=lr)
    sched = make_scheduler(opt)
    lrs, momenta = [], []
    for _ in range(steps):
        group = opt.param_groups[0]
        lrs.append(group["lr"])
        momenta.append(group["momentum"] if optimizer == "sgd" else group["betas"][0])
        opt.step()  # no gradient: a no-op, but keeps torch's "scheduler before optimizer" check quiet
        sched.step()
    return lrs, momenta


def ours(schedule, steps):
    return [schedule(t) for t in range(steps)]


def assert_same(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float), rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------------------------------------------
# single schedules against their torch scheduler, every step 0..N
# ----------------------------------------------------------------------------------------------------------------


def test_constant():
    assert ours(S.constant(0.3), 50) == [0.3] * 50
    lrs, _ = torch_trace(lambda o: tls.ConstantLR(o, factor=1.0, total_iters=1), 0.3, 50)
    assert_same(ours(S.constant(0.3), 50), lrs)


@pytest.mark.parametrize(
    "lr,step_size,gamma", [(0.1, 1, 0.1), (0.5, 7, 0.5), (1.0, 30, 0.9), (0.1, 100, 0.1), (0.2, 4, 1.0)]
)
def test_step_decay_matches_steplr(lr, step_size, gamma):
    n = 121
    expected, _ = torch_trace(lambda o: tls.StepLR(o, step_size=step_size, gamma=gamma), lr, n)
    assert_same(ours(S.step_decay(lr, step_size, gamma), n), expected)


def test_step_decay_default_gamma_and_boundaries():
    sched = S.step_decay(1.0, 10)  # gamma defaults to StepLR's 0.1
    assert sched(9) == 1.0 and sched(10) == pytest.approx(0.1) and sched(19) == pytest.approx(0.1)
    assert sched(20) == pytest.approx(0.01)


@pytest.mark.parametrize("lr,gamma", [(0.1, 0.9), (1.0, 0.99), (0.3, 1.0), (2.0, 0.5)])
def test_exponential_decay_matches_exponentiallr(lr, gamma):
    n = 100
    expected, _ = torch_trace(lambda o: tls.ExponentialLR(o, gamma=gamma), lr, n)
    assert_same(ours(S.exponential_decay(lr, gamma), n), expected)


COSINE_CASES = [(0.1, 1, 0.0), (0.1, 10, 0.0), (1.0, 100, 0.01), (0.3, 257, 0.3), (0.05, 1000, 1e-4)]


@pytest.mark.parametrize("lr,total,min_lr", COSINE_CASES)
def test_cosine_annealing_matches_cosineannealinglr(lr, total, min_lr):
    expected, _ = torch_trace(lambda o: tls.CosineAnnealingLR(o, T_max=total, eta_min=min_lr), lr, total + 1)
    sched = S.cosine_annealing(lr, total, min_lr)
    assert_same(ours(sched, total + 1), expected)  # steps 0..total, both ends included
    assert sched(0) == lr and sched(total) == pytest.approx(min_lr, abs=1e-15)


@pytest.mark.parametrize("lr,total,min_lr", COSINE_CASES)
def test_cosine_annealing_holds_min_lr_after_the_end(lr, total, min_lr):
    sched = S.cosine_annealing(lr, total, min_lr)
    for t in [total + 1, total + 2, 2 * total, 2 * total + 1, 10 * total + 3]:
        assert sched(t) == sched(total)


@pytest.mark.parametrize(
    "lr,t0,mult,min_lr", [(0.1, 10, 1, 0.0), (0.1, 5, 2, 1e-3), (1.0, 3, 3, 0.0), (0.2, 1, 1, 0.0), (0.2, 1, 2, 0.05)]
)
def test_cosine_warm_restarts_matches_torch(lr, t0, mult, min_lr):
    n = 400
    expected, _ = torch_trace(
        lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=t0, T_mult=mult, eta_min=min_lr), lr, n
    )
    assert_same(ours(S.cosine_warm_restarts(lr, t0, mult, min_lr), n), expected)


def test_cosine_warm_restarts_restart_positions():
    # T_0 = 5, T_mult = 2: cycles of 5, 10, 20, 40 steps, restarts at 5, 15, 35, 75
    sched = S.cosine_warm_restarts(1.0, 5, cycle_mult=2, min_lr=0.1)
    for restart, length in [(0, 5), (5, 10), (15, 20), (35, 40), (75, 80)]:
        assert sched(restart) == 1.0
        if restart:
            assert sched(restart - 1) < 0.2  # end of the previous cycle, just above min_lr
        half = restart + length // 2
        expected = 0.1 + 0.9 * (1 + math.cos(math.pi * (length // 2) / length)) / 2
        assert sched(half) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "lr,warmup,start", [(0.1, 5, 1 / 3), (1.0, 10, 0.1), (0.5, 1, 0.5), (0.2, 37, 1.0), (0.3, 8, 0.01)]
)
def test_linear_warmup_matches_linearlr(lr, warmup, start):
    n = warmup + 20
    expected, _ = torch_trace(lambda o: tls.LinearLR(o, start_factor=start, end_factor=1.0, total_iters=warmup), lr, n)
    assert_same(ours(S.linear_warmup(lr, warmup, start_factor=start), n), expected)


def test_linear_warmup_default_and_zero_start():
    expected, _ = torch_trace(lambda o: tls.LinearLR(o, total_iters=5), 0.6, 12)  # torch's defaults (1/3, 5)
    assert_same(ours(S.linear_warmup(0.6, 5), 12), expected)
    sched = S.linear_warmup(2.0, 4, start_factor=0.0)  # LinearLR refuses 0; the closed form is lr * t / W
    assert ours(sched, 7) == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 2.0])


# ----------------------------------------------------------------------------------------------------------------
# join and warm-up + cosine
# ----------------------------------------------------------------------------------------------------------------

JOIN_CASES = {
    "warmup-cosine": (
        0.5,
        [
            lambda o: tls.LinearLR(o, start_factor=0.1, total_iters=10),
            lambda o: tls.CosineAnnealingLR(o, T_max=50, eta_min=1e-3),
        ],
        [S.linear_warmup(0.5, 10, 0.1), S.cosine_annealing(0.5, 50, 1e-3)],
        [10],
        61,
    ),
    "step-exp-linear": (
        0.2,
        [
            lambda o: tls.StepLR(o, 5, 0.5),
            lambda o: tls.ExponentialLR(o, 0.9),
            lambda o: tls.LinearLR(o, 0.25, total_iters=8),
        ],
        [S.step_decay(0.2, 5, 0.5), S.exponential_decay(0.2, 0.9), S.linear_warmup(0.2, 8, 0.25)],
        [12, 30],
        60,
    ),
    "boundary-at-1": (
        1.0,
        [lambda o: tls.ExponentialLR(o, 0.5), lambda o: tls.CosineAnnealingLR(o, T_max=20)],
        [S.exponential_decay(1.0, 0.5), S.cosine_annealing(1.0, 20)],
        [1],
        21,
    ),
}


@pytest.mark.parametrize("case", sorted(JOIN_CASES))
def test_join_matches_sequentiallr(case):
    lr, torch_pieces, pieces, boundaries, n = JOIN_CASES[case]
    expected, _ = torch_trace(
        lambda o: tls.SequentialLR(o, [make(o) for make in torch_pieces], milestones=boundaries), lr, n
    )
    assert_same(ours(S.join(pieces, boundaries), n), expected)


def test_join_restarts_each_piece_at_its_boundary():
    identity = lambda t: float(t)  # noqa: E731 - reports the step each piece receives
    joined = S.join([identity, lambda t: 100.0 + t, lambda t: 200.0 + t], [3, 7])
    assert ours(joined, 10) == [0, 1, 2, 100, 101, 102, 103, 200, 201, 202]
    assert joined(1000) == 200 + 993  # the last piece runs on forever


def test_join_continuity_of_warmup_then_cosine():
    lr, warmup, total = 1.0, 10, 60
    joined = S.join([S.linear_warmup(lr, warmup, 0.0), S.cosine_annealing(lr, total - warmup)], [warmup])
    values = np.array(ours(joined, total + 1))
    jumps = np.abs(np.diff(values))
    assert joined(warmup) == lr  # the cosine starts at its own step 0, i.e. at lr
    assert jumps[warmup - 1] <= lr / warmup + 1e-15  # no jump larger than one warm-up increment
    assert jumps.max() <= lr / warmup + 1e-15
    # a join that is *not* continuous is reported faithfully: step down at the boundary
    stepped = S.join([S.constant(1.0), S.constant(0.1)], [5])
    assert stepped(4) == 1.0 and stepped(5) == 0.1


WARMUP_COSINE_CASES = [
    (1.0, 10, 100, 0.0),
    (3e-4, 50, 1000, 3e-5),
    (0.1, 1, 20, 0.0),
    (0.2, 0, 30, 0.01),  # no warm-up: plain cosine
    (0.5, 29, 30, 0.0),  # the cosine is a single step
]


def _warmup_cosine_closed_form(lr, warmup, total, min_lr, t):
    t = np.minimum(np.asarray(t, float), total)
    ramp = lr * t / max(warmup, 1)
    progress = (t - warmup) / (total - warmup)
    decay = min_lr + 0.5 * (lr - min_lr) * (1 + np.cos(np.pi * progress))
    return np.where(t < warmup, ramp, decay)


@pytest.mark.parametrize("lr,warmup,total,min_lr", WARMUP_COSINE_CASES)
def test_warmup_cosine_closed_form_and_lambdalr(lr, warmup, total, min_lr):
    steps = np.arange(total + 15)
    sched = S.warmup_cosine(lr, warmup, total, min_lr)
    assert_same(ours(sched, len(steps)), _warmup_cosine_closed_form(lr, warmup, total, min_lr, steps))
    # torch: LambdaLR with the Hugging Face multiplier (min_lr = 0 cases only), on steps 0..total
    if min_lr == 0:
        def factor(t):
            if t < warmup:
                return t / warmup
            return 0.5 * (1 + math.cos(math.pi * (t - warmup) / (total - warmup)))

        expected, _ = torch_trace(lambda o: tls.LambdaLR(o, factor), lr, total + 1)
        assert_same(ours(sched, total + 1), expected)
    assert sched(warmup) == lr and sched(total) == pytest.approx(min_lr, abs=1e-15)


# ----------------------------------------------------------------------------------------------------------------
# one-cycle
# ----------------------------------------------------------------------------------------------------------------

ONE_CYCLE_CASES = [
    dict(max_lr=0.1, total_steps=100),
    dict(
        max_lr=1.0, total_steps=1000, pct_start=0.25, div_factor=10.0, final_div_factor=100.0, anneal_strategy="linear"
    ),
    dict(max_lr=0.5, total_steps=37, pct_start=0.3),  # pct_start * total_steps = 11.1: the peak falls between steps
    dict(max_lr=0.1, total_steps=100, pct_start=0.3, three_phase=True),
    dict(max_lr=2.0, total_steps=50, pct_start=0.2, anneal_strategy="linear", three_phase=True),
    dict(max_lr=0.3, total_steps=77, pct_start=0.45, three_phase=True, base_momentum=0.8, max_momentum=0.99),
]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("case", range(len(ONE_CYCLE_CASES)))
def test_one_cycle_matches_onecyclelr(case, optimizer):
    kwargs = ONE_CYCLE_CASES[case]
    n = kwargs["total_steps"]
    expected_lr, expected_momentum = torch_trace(lambda o: tls.OneCycleLR(o, **kwargs), 1.0, n, optimizer)
    sched = S.one_cycle(**kwargs)
    assert_same(ours(sched, n), expected_lr)  # steps 0..total_steps-1, where OneCycleLR is defined
    assert_same(ours(sched.momentum, n), expected_momentum)


@pytest.mark.parametrize("kwargs", ONE_CYCLE_CASES)
def test_one_cycle_holds_final_values_after_the_end(kwargs):
    sched, n = S.one_cycle(**kwargs), kwargs["total_steps"]
    final_lr = kwargs["max_lr"] / kwargs.get("div_factor", 25.0) / kwargs.get("final_div_factor", 1e4)
    assert sched(n - 1) == pytest.approx(final_lr, rel=1e-12)
    for t in [n, n + 1, 2 * n]:
        assert sched(t) == sched(n - 1)
        assert sched.momentum(t) == kwargs.get("max_momentum", 0.95)


def test_one_cycle_three_phase_closed_form():
    # pct_start * total_steps = 25 is an integer, so the phases end exactly at steps 24, 48 and 99
    max_lr, n, div, final_div = 0.8, 100, 25.0, 1e4
    sched = S.one_cycle(max_lr, n, pct_start=0.25, three_phase=True)
    lo, end = max_lr / div, max_lr / div / final_div
    t = np.arange(n, dtype=float)

    def half_cosine(a, b, u):
        return b + (a - b) * (1 + np.cos(np.pi * u)) / 2

    expected_lr = np.piecewise(
        t,
        [t <= 24, (t > 24) & (t <= 48), t > 48],
        [lambda x: half_cosine(lo, max_lr, x / 24), lambda x: half_cosine(max_lr, lo, (x - 24) / 24),
         lambda x: half_cosine(lo, end, (x - 48) / 51)],
    )
    expected_momentum = np.piecewise(
        t,
        [t <= 24, (t > 24) & (t <= 48), t > 48],
        [lambda x: half_cosine(0.95, 0.85, x / 24), lambda x: half_cosine(0.85, 0.95, (x - 24) / 24), 0.95],
    )
    assert_same(ours(sched, n), expected_lr)
    assert_same(ours(sched.momentum, n), expected_momentum)
    assert sched(24) == pytest.approx(max_lr) and sched(48) == pytest.approx(lo)
    assert sched.momentum(24) == pytest.approx(0.85)


# ----------------------------------------------------------------------------------------------------------------
# warmup-stable-decay
# ----------------------------------------------------------------------------------------------------------------

WSD_CASES = [
    (1.0, 100, 10, 20, 0.0, "linear"),
    (0.5, 1000, 0, 200, 0.05, "cosine"),
    (3e-4, 200, 20, 180, 1e-5, "sqrt"),  # no stable phase at all
    (0.1, 50, 5, 1, 0.0, "linear"),
    (2.0, 64, 16, 16, 0.2, "cosine"),
]


def _wsd_closed_form(lr, total, warmup, decay_steps, min_lr, decay, t):
    t = np.asarray(t, float)
    g = {
        "linear": lambda p: 1 - p,
        "cosine": lambda p: 0.5 * (1 + np.cos(np.pi * p)),
        "sqrt": lambda p: 1 - np.sqrt(p),
    }[decay]
    p = np.clip((t - (total - decay_steps)) / decay_steps, 0.0, 1.0)
    out = min_lr + (lr - min_lr) * g(p)  # stable phase: p = 0 gives lr; after the end p = 1 gives min_lr
    if warmup:
        out = np.where(t < warmup, lr * t / warmup, out)
    return out


@pytest.mark.parametrize("lr,total,warmup,decay_steps,min_lr,decay", WSD_CASES)
def test_wsd_closed_form(lr, total, warmup, decay_steps, min_lr, decay):
    sched = S.wsd(lr, total, warmup, decay_steps, min_lr, decay)
    steps = np.arange(total + 20)
    assert_same(ours(sched, len(steps)), _wsd_closed_form(lr, total, warmup, decay_steps, min_lr, decay, steps))
    assert sched(warmup) == lr and sched(total - decay_steps) == lr
    assert sched(total) == pytest.approx(min_lr, abs=1e-15) and sched(total + 100) == sched(total)
    values = np.array(ours(sched, total + 1))
    assert np.all(np.diff(values[: warmup + 1]) >= 0) and np.all(np.diff(values[warmup:]) <= 1e-15)


def test_wsd_default_decay_is_linear():
    sched = S.wsd(1.0, 100, 10, 20)
    assert sched(90) == pytest.approx(0.5) and sched(85) == pytest.approx(0.75) and sched(5) == pytest.approx(0.5)


# ----------------------------------------------------------------------------------------------------------------
# ReduceLROnPlateau
# ----------------------------------------------------------------------------------------------------------------


def _metric_sequences(seed, n=150):
    rng = np.random.default_rng(seed)
    iid = rng.uniform(0.5, 1.5, n)  # improvements get rarer and rarer
    trend = 1.0 / (1.0 + 0.03 * np.arange(n)) * (1 + 0.05 * rng.standard_normal(n))  # noisy progress
    plateaus = np.round(np.repeat(rng.uniform(0.2, 1.0, n // 10 + 1), 10)[:n], 2)  # ties and long flat stretches
    tiny = 1.0 - 1e-5 * np.arange(n)  # improvements below the default relative threshold
    return [iid, trend, plateaus, tiny]


PLATEAU_CONFIGS = [
    dict(),
    dict(patience=0),
    dict(patience=3, cooldown=2, factor=0.5),
    dict(patience=2, threshold=1e-2, min_lr=1e-3),
    dict(patience=1, factor=0.5, min_lr=0.0, lr=1e-7),  # reductions soon fall below eps = 1e-8 and are skipped
    dict(patience=4, cooldown=5, factor=0.3, threshold=0.0, min_lr=0.01),
]


def _torch_plateau(metrics, lr=0.1, **kwargs):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr)
    sched = tls.ReduceLROnPlateau(opt, **kwargs)
    out = []
    for m in metrics:
        opt.step()
        sched.step(float(m))
        out.append(opt.param_groups[0]["lr"])
    return out


def _our_plateau(metrics, lr=0.1, **kwargs):
    plateau = S.ReduceLROnPlateau(lr, **kwargs)
    return [plateau.update(m) for m in metrics]


@pytest.mark.parametrize("threshold_mode", ["rel", "abs"])
@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("config", range(len(PLATEAU_CONFIGS)))
def test_reduce_on_plateau_matches_torch(config, mode, threshold_mode):
    kwargs = dict(PLATEAU_CONFIGS[config], mode=mode, threshold_mode=threshold_mode)
    reductions = 0
    for seed in range(3):
        for metrics in _metric_sequences(seed):
            if mode == "max":
                metrics = 3.0 - metrics  # positive, and "better" now means larger
            expected = _torch_plateau(metrics, **kwargs)
            assert _our_plateau(metrics, **kwargs) == expected  # same floats, update by update
            reductions += len(set(expected)) - 1
    assert reductions >= 5  # the sequences do trigger reductions (the comparison is not vacuous)


@pytest.mark.parametrize("config", range(len(PLATEAU_CONFIGS)))
def test_reduce_on_plateau_negative_metrics_in_rel_mode(config):
    # For negative metrics the relative threshold is |best| * threshold here. Independent oracle: minimising m < 0
    # is maximising -m > 0, where torch's rel rule is right.
    for seed in range(3):
        for metrics in _metric_sequences(seed):
            negative = -metrics
            for ours_mode, torch_mode in [("min", "max"), ("max", "min")]:
                ours_metrics = negative if ours_mode == "min" else -(3.0 - metrics)
                expected = _torch_plateau(-ours_metrics, **PLATEAU_CONFIGS[config], mode=torch_mode)
                assert _our_plateau(ours_metrics, **PLATEAU_CONFIGS[config], mode=ours_mode) == expected


@pytest.mark.parametrize("patience", [0, 1, 5, 10])
def test_reduce_on_plateau_fires_when_bad_epochs_exceed_patience(patience):
    plateau = S.ReduceLROnPlateau(1.0, patience=patience, factor=0.5)
    lrs = [plateau.update(1.0) for _ in range(2 * patience + 3)]  # update 0 sets the baseline, then all are bad
    # patience + 1 bad epochs ( > patience) before each cut, not patience ( >= ); the count restarts after a cut
    assert lrs == [1.0] * (patience + 1) + [0.5] * (patience + 1) + [0.25]
    assert plateau.num_bad_epochs == 0 and plateau.best == 1.0


# ----------------------------------------------------------------------------------------------------------------
# as_torch_scheduler drives a real optimizer
# ----------------------------------------------------------------------------------------------------------------


def _tiny_problem(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    return model, x, y


def _train(model, opt, sched, x, y, steps, before_step=None):
    seen = []
    for k in range(steps):
        if before_step is not None:
            before_step(opt, k)
        seen.append([g["lr"] for g in opt.param_groups])
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        if sched is not None:
            sched.step()
    return seen


@pytest.mark.parametrize(
    "schedule",
    [
        S.cosine_annealing(0.1, 30, 1e-3),
        S.one_cycle(0.5, 40),
        S.warmup_cosine(0.2, 5, 40),
        S.wsd(0.1, 40, 4, 10),
        S.cosine_warm_restarts(0.1, 7, 2),
    ],
    ids=["cosine", "one_cycle", "warmup_cosine", "wsd", "sgdr"],
)
def test_as_torch_scheduler_sets_lr_to_schedule(schedule):
    steps = 45
    model, x, y = _tiny_problem()
    opt = torch.optim.SGD(model.parameters(), lr=123.0, momentum=0.9)
    seen = _train(model, opt, S.as_torch_scheduler(opt, schedule), x, y, steps)
    assert [lrs[0] for lrs in seen] == [schedule(k) for k in range(steps)]  # identical floats
    # the same training with the lr set by hand before every step gives bit-identical parameters
    twin, _, _ = _tiny_problem()
    twin_opt = torch.optim.SGD(twin.parameters(), lr=123.0, momentum=0.9)

    def set_lr(o, k):
        o.param_groups[0]["lr"] = schedule(k)

    _train(twin, twin_opt, None, x, y, steps, before_step=set_lr)
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(p, q)


def test_as_torch_scheduler_trains_like_torch_cosine():
    model, x, y = _tiny_problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    _train(model, opt, S.as_torch_scheduler(opt, S.cosine_annealing(0.1, 50, 1e-3)), x, y, 51)
    twin, _, _ = _tiny_problem()
    twin_opt = torch.optim.SGD(twin.parameters(), lr=0.1)
    _train(twin, twin_opt, tls.CosineAnnealingLR(twin_opt, T_max=50, eta_min=1e-3), x, y, 51)
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_as_torch_scheduler_cycles_momentum_like_onecyclelr(optimizer):
    steps, kwargs = 40, dict(max_lr=0.05, total_steps=40, pct_start=0.25, three_phase=True)

    def make(model):
        if optimizer == "sgd":
            return torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.5)
        return torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.5, 0.999))

    def momentum_of(o):
        return o.param_groups[0]["momentum"] if optimizer == "sgd" else o.param_groups[0]["betas"][0]

    model, x, y = _tiny_problem()
    opt = make(model)
    cycle = S.one_cycle(**kwargs)
    seen_momenta = []
    _train(model, opt, S.as_torch_scheduler(opt, cycle, momentum=cycle.momentum), x, y, steps,
           before_step=lambda o, k: seen_momenta.append(momentum_of(o)))
    twin, _, _ = _tiny_problem()
    twin_opt = make(twin)
    torch_momenta = []
    _train(twin, twin_opt, tls.OneCycleLR(twin_opt, **kwargs), x, y, steps,
           before_step=lambda o, k: torch_momenta.append(momentum_of(o)))
    assert_same(seen_momenta, torch_momenta)
    assert_same(seen_momenta, [cycle.momentum(k) for k in range(steps)])
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_as_torch_scheduler_groups_and_state_dict():
    model, x, y = _tiny_problem()
    opt = torch.optim.SGD([{"params": model[0].parameters()}, {"params": model[2].parameters()}], lr=1.0)
    first, second = S.cosine_annealing(0.1, 20), S.step_decay(0.05, 3)
    sched = S.as_torch_scheduler(opt, [first, second])
    seen = _train(model, opt, sched, x, y, 10)
    assert seen == [[first(k), second(k)] for k in range(10)]
    buffer = io.BytesIO()
    torch.save(sched.state_dict(), buffer)  # picklable: the functions are not part of the state
    buffer.seek(0)
    restored = S.as_torch_scheduler(opt, [first, second])
    restored.load_state_dict(torch.load(buffer, weights_only=False))
    restored.step()
    assert [g["lr"] for g in opt.param_groups] == [first(11), second(11)]


# ----------------------------------------------------------------------------------------------------------------
# LR range test on real data (scikit-learn's digits)
# ----------------------------------------------------------------------------------------------------------------


def test_lr_range_test_on_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.long)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(x), generator=gen)
    batches = [(x[i], y[i]) for i in order.split(64)]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    result = S.lr_range_test(
        model, opt, torch.nn.functional.cross_entropy, batches, min_lr=1e-4, max_lr=100.0, num_steps=150
    )

    # the sweep is geometric from min_lr
    n = len(result.lrs)
    assert_same(result.lrs, 1e-4 * (100.0 / 1e-4) ** (np.arange(n) / 149), rtol=1e-12)
    # the model and the optimizer are left exactly as they were
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    assert opt.param_groups[0]["lr"] == 0.05 and len(opt.state) == 0
    # the curve goes down, bottoms out, and climbs (the sweep stopped early on divergence)
    losses = np.array(result.losses)
    best = int(np.argmin(losses))
    assert result.diverged and n < 150 and losses[-1] > 3 * losses[best]
    assert losses[best] < 0.75 * losses[0]
    # the suggestion lies in the descending part: before the minimum, with the loss falling around it, and
    # falling faster there (per decade of lr) than on average between the start and the minimum
    i = result.suggestion_index
    assert result.suggestion == result.lrs[i]
    assert 0 < i < best
    assert losses[best] < losses[i] < losses[0]
    log_lr = np.log(result.lrs)
    local_slope = (losses[i + 1] - losses[i - 1]) / (log_lr[i + 1] - log_lr[i - 1])
    assert local_slope < (losses[best] - losses[0]) / (log_lr[best] - log_lr[0]) < 0
    # and it trains: two epochs at the suggested lr cut the loss of the untouched model
    def full_loss():
        with torch.no_grad():
            return torch.nn.functional.cross_entropy(model(x), y).item()

    start = full_loss()
    train_opt = torch.optim.SGD(model.parameters(), lr=result.suggestion, momentum=0.9)
    for xb, yb in batches * 2:
        train_opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xb), yb).backward()
        train_opt.step()
    assert full_loss() < 0.5 * start


# ----------------------------------------------------------------------------------------------------------------
# the plotting helper
# ----------------------------------------------------------------------------------------------------------------


def test_plot_schedules_draws_every_schedule():
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from reference_impl.plotting import plot_schedules

    curves = {"cosine": S.cosine_annealing(0.1, 50), "step": S.step_decay(0.1, 10), "one-cycle": S.one_cycle(0.1, 51)}
    ax = plot_schedules(curves, 51, log_y=True, title="three schedules")
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == list(curves)
    for line, schedule in zip(lines, curves.values(), strict=True):
        assert list(line.get_xdata()) == list(range(51))
        assert list(line.get_ydata()) == ours(schedule, 51)
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "learning rate" and ax.get_yscale() == "log"
    fig, given = plt.subplots()
    momentum = {"momentum": curves["one-cycle"].momentum}
    assert plot_schedules(momentum, range(0, 51, 5), ax=given, ylabel="momentum") is given
    assert list(given.get_lines()[0].get_xdata()) == list(range(0, 51, 5))
    plt.close("all")


# ----------------------------------------------------------------------------------------------------------------
# invalid arguments and steps
# ----------------------------------------------------------------------------------------------------------------

INVALID = [
    (S.constant, dict(lr=-0.1), "lr"),
    (S.step_decay, dict(lr=0.1, step_size=0), "step_size"),
    (S.step_decay, dict(lr=0.1, step_size=2.5), "step_size"),
    (S.step_decay, dict(lr=0.1, step_size=3, gamma=0.0), "gamma"),
    (S.exponential_decay, dict(lr=0.1, gamma=-0.9), "gamma"),
    (S.cosine_annealing, dict(lr=0.1, total_steps=0), "total_steps"),
    (S.cosine_annealing, dict(lr=0.1, total_steps=10, min_lr=0.2), "min_lr"),
    (S.cosine_annealing, dict(lr=float("nan"), total_steps=10), "lr"),
    (S.cosine_warm_restarts, dict(lr=0.1, first_cycle_steps=0), "first_cycle_steps"),
    (S.cosine_warm_restarts, dict(lr=0.1, first_cycle_steps=5, cycle_mult=1.5), "cycle_mult"),
    (S.linear_warmup, dict(lr=0.1, warmup_steps=0), "warmup_steps"),
    (S.linear_warmup, dict(lr=0.1, warmup_steps=5, start_factor=1.5), "start_factor"),
    (S.join, dict(schedules=[], boundaries=[]), "schedules"),
    (S.join, dict(schedules=[S.constant(1.0), S.constant(2.0)], boundaries=[]), "boundaries"),
    (S.join, dict(schedules=[S.constant(1.0)] * 3, boundaries=[5, 5]), "boundaries"),
    (S.join, dict(schedules=[S.constant(1.0)] * 2, boundaries=[0]), "boundaries"),
    (S.warmup_cosine, dict(lr=0.1, warmup_steps=10, total_steps=10), "warmup_steps"),
    (S.warmup_cosine, dict(lr=0.1, warmup_steps=-1, total_steps=10), "warmup_steps"),
    (S.one_cycle, dict(max_lr=0.0, total_steps=100), "max_lr"),
    (S.one_cycle, dict(max_lr=0.1, total_steps=0), "total_steps"),
    (S.one_cycle, dict(max_lr=0.1, total_steps=100, pct_start=1.0), "pct_start"),
    (S.one_cycle, dict(max_lr=0.1, total_steps=100, pct_start=0.5, three_phase=True), "pct_start"),
    (S.one_cycle, dict(max_lr=0.1, total_steps=3, pct_start=0.3), "pct_start"),  # empty warm-up phase
    (S.one_cycle, dict(max_lr=0.1, total_steps=100, anneal_strategy="exp"), "anneal_strategy"),
    (S.one_cycle, dict(max_lr=0.1, total_steps=100, div_factor=0), "div_factor"),
    (S.wsd, dict(lr=0.1, total_steps=100, warmup_steps=60, decay_steps=50), "warmup_steps"),
    (S.wsd, dict(lr=0.1, total_steps=100, warmup_steps=10, decay_steps=0), "decay_steps"),
    (S.wsd, dict(lr=0.1, total_steps=0, warmup_steps=0, decay_steps=1), "total_steps"),
    (S.wsd, dict(lr=0.1, total_steps=100, warmup_steps=10, decay_steps=10, decay="exp"), "decay"),
    (S.ReduceLROnPlateau, dict(lr=0.1, factor=1.0), "factor"),
    (S.ReduceLROnPlateau, dict(lr=0.1, factor=-0.1), "factor"),
    (S.ReduceLROnPlateau, dict(lr=0.1, mode="minimum"), "mode"),
    (S.ReduceLROnPlateau, dict(lr=0.1, threshold_mode="relative"), "threshold_mode"),
    (S.ReduceLROnPlateau, dict(lr=0.1, patience=-1), "patience"),
    (S.ReduceLROnPlateau, dict(lr=0.1, cooldown=1.5), "cooldown"),
    (S.ReduceLROnPlateau, dict(lr=0.1, min_lr=-1.0), "min_lr"),
]


@pytest.mark.parametrize(
    "factory,kwargs,name", INVALID, ids=[f"{f.__name__}-{n}-{i}" for i, (f, _, n) in enumerate(INVALID)]
)
def test_invalid_arguments_raise_naming_the_argument(factory, kwargs, name):
    with pytest.raises(ValueError, match=rf"Invalid {name}\b"):
        factory(**kwargs)


def test_invalid_arguments_of_adapters():
    model, _, _ = _tiny_problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="Invalid optimizer"):
        S.as_torch_scheduler("sgd", S.constant(0.1))
    with pytest.raises(ValueError, match="Invalid schedule"):
        S.as_torch_scheduler(opt, [S.constant(0.1), S.constant(0.2)])  # one group, two schedules
    with pytest.raises(ValueError, match="Invalid momentum"):
        S.as_torch_scheduler(torch.optim.Adagrad(model.parameters()), S.constant(0.1), momentum=S.constant(0.9))
    loss = torch.nn.functional.mse_loss
    with pytest.raises(ValueError, match="Invalid max_lr"):
        S.lr_range_test(model, opt, loss, [], min_lr=1.0, max_lr=0.1)
    with pytest.raises(ValueError, match="Invalid batches"):
        S.lr_range_test(model, opt, loss, iter([]), num_steps=10)


ALL_SCHEDULES = {
    "constant": S.constant(0.1),
    "step_decay": S.step_decay(0.1, 5),
    "exponential_decay": S.exponential_decay(0.1, 0.9),
    "cosine_annealing": S.cosine_annealing(0.1, 10),
    "cosine_warm_restarts": S.cosine_warm_restarts(0.1, 5, 2),
    "linear_warmup": S.linear_warmup(0.1, 5),
    "join": S.join([S.constant(0.1), S.constant(0.2)], [3]),
    "warmup_cosine": S.warmup_cosine(0.1, 2, 10),
    "one_cycle": S.one_cycle(0.1, 20),
    "one_cycle.momentum": S.one_cycle(0.1, 20).momentum,
    "wsd": S.wsd(0.1, 20, 2, 5),
}


@pytest.mark.parametrize("name", sorted(ALL_SCHEDULES))
@pytest.mark.parametrize("step", [-1, -100, 2.5, "3", None, True])
def test_bad_steps_raise(name, step):
    with pytest.raises(ValueError, match="Invalid step"):
        ALL_SCHEDULES[name](step)


@pytest.mark.parametrize("name", sorted(ALL_SCHEDULES))
def test_numpy_integer_steps_are_accepted(name):
    assert ALL_SCHEDULES[name](np.int64(3)) == ALL_SCHEDULES[name](3)
