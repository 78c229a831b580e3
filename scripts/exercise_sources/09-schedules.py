# notebook: schedules.ipynb
# %% [setup] id=install_course
# Makes the course package importable: installs it from the course repository when it is missing
# (e.g. on Colab) and does nothing when it is already installed.
import importlib.util, subprocess, sys
if importlib.util.find_spec("reference_impl") is None:
    _course = "optimizers-course @ git+https://github.com/optimizers-course/optimizers-and-schedules"
    print(f"reference_impl is not installed: running pip install '{_course}' ...", flush=True)
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", _course])
    print("Installed the course package reference_impl.")

# %% [markdown]
# # Exercise: learning-rate schedules
#
# This notebook goes with the chapter [Learning-rate schedules](../../chapters/09-schedules.md). A schedule maps
# the step index $t = 0, 1, 2, \dots$ to the learning rate of optimizer step $t$. You implement the schedules of
# the chapter as plain functions `f(step, **hyperparameters) -> lr`, so that they agree with the course's
# `reference_impl.schedules` (which matches `torch.optim.lr_scheduler` where torch has the schedule) at every
# step:
#
# | function | what it computes | points |
# |---|---|---|
# | `step_decay` | multiply by $\gamma$ every $s$ steps | 2 |
# | `cosine_annealing` | half a cosine from `lr` to `min_lr`, then hold `min_lr` | 3 |
# | `cosine_warm_restarts` | SGDR: cosine cycles of growing length, restarting at `lr` | 3 |
# | `linear_warmup` | a linear ramp from `start_factor * lr` to `lr`, then constant | 2 |
# | `join` | run one schedule after another, each counting from its own step 0 | 3 |
# | `one_cycle` | Smith's one-cycle policy: learning rate *and* momentum | 3 |
# | `reduce_on_plateau` | cut the learning rate when a metric stops improving | 4 |
# | `wsd` | warm-up, stable, decay | 3 |
# | (written) | in your own words: why warm-up helps Adam early; graded by hand | 1 |
#
# Two rules hold for every finite schedule here: step $t$ counts from 0, and **after its last step a schedule
# holds its final value** (it does not restart, rise again or raise an error).
#
# **How to work.** Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()`
# line), then run every cell. The test cell after each function checks it; a failure tells you which step failed,
# with which hyperparameters, what was expected and what your function returned. Some test cells are empty in
# your copy: they hold hidden tests that run only when your notebook is graded (other hyperparameters, the
# boundaries between phases, steps past the end). To check the whole notebook from a terminal, run
# `make check NB=exercises/09-schedules/schedules.ipynb` in the course repository: it exits with an error if any
# test fails.
#
# **Rules.** Use the Python standard library (`math`) only. Your answers must not import or call anything from
# `reference_impl` (the course's reference implementations, which the tests compare you with) nor use
# `torch.optim`: the grader checks this outside the notebook. Do not edit or delete the test cells; they are
# restored before grading. Return plain Python numbers.

# %% [setup]
import math

# %% [markdown]
# ## 1. Step decay (2 points)
#
# $$\eta_t = \eta_0\, \gamma^{\lfloor t / s \rfloor}$$
#
# with $\eta_0$ = `lr`, $s$ = `step_size` and $\gamma$ = `gamma` (PyTorch's `StepLR`). It never ends: it keeps
# decaying.

# %% [answer] id=step_decay
def step_decay(step, lr, step_size, gamma=0.1):
    """The learning rate of step `step` (from 0) under step decay.

    Args:
        step: int >= 0.
        lr: the initial learning rate eta_0.
        step_size: s, the number of steps between two decays (int >= 1).
        gamma: the factor of each decay.

    Returns:
        eta_t (a float).
    """
    ### BEGIN SOLUTION
    return lr * gamma ** (step // step_size)
    ### END SOLUTION

# %% [tests] id=test_step_decay_visible points=1
# Visible tests (1 point): lr=0.1, step_size=30, gamma=0.1 on steps 0-99.
from reference_impl.testing import assert_same_schedule, describe
from reference_impl import schedules as ref

hyper = dict(lr=0.1, step_size=30, gamma=0.1)
assert_same_schedule(lambda t: step_decay(t, **hyper), ref.step_decay(**hyper), range(100),
                     what=describe("step_decay", hyper))
print("step_decay: visible tests passed")

# %% [tests] id=test_step_decay_hidden points=1
# Hidden tests (1 point): step_size=1, gamma > 1, the steps just before and at each decay, the default gamma.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("09-schedules/test_step_decay_hidden", globals().get("TERM_SECRET"))

for hyper in [dict(lr=h.log_uniform("lr0", 0.3, 3.0), step_size=1, gamma=h.uniform("gamma0", 0.3, 0.7)),
              dict(lr=h.log_uniform("lr1", 0.003, 0.03), step_size=h.integer("step_size1", 5, 9), gamma=h.uniform("gamma1", 1.5, 3.0)),
              dict(lr=h.log_uniform("lr2", 0.1, 1.0), step_size=h.integer("step_size2", 3, 6))]:
    assert_same_schedule(lambda t: step_decay(t, **hyper), ref.step_decay(**hyper), range(h.integer("steps", 30, 50)),
                         what=describe("step_decay", hyper))
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Cosine annealing (3 points)
#
# $$\eta_t = \eta_{min} + \tfrac12 (\eta_{max} - \eta_{min}) \Big(1 + \cos\big(\pi \tfrac{t}{T}\big)\Big),
# \qquad 0 \le t \le T,$$
#
# with $\eta_{max}$ = `lr`, $\eta_{min}$ = `min_lr` and $T$ = `total_steps`: step 0 has `lr`, step $T$ has
# `min_lr`, and **every step after $T$ holds `min_lr`** (PyTorch's `CosineAnnealingLR` would climb back up).

# %% [answer] id=cosine_annealing
def cosine_annealing(step, lr, total_steps, min_lr=0.0):
    """The learning rate of step `step` under cosine annealing from lr (step 0) to min_lr (step total_steps).

    Args:
        step: int >= 0.
        lr: eta_max; total_steps: T (int >= 1); min_lr: eta_min.

    Returns:
        eta_t (a float); min_lr for every step >= total_steps.
    """
    ### BEGIN SOLUTION
    t = min(step, total_steps)
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * t / total_steps)) / 2
    ### END SOLUTION

# %% [tests] id=test_cosine_visible points=1
# Visible tests (1 point): lr=0.1, total_steps=10 on steps 0-15 (the steps past total_steps hold min_lr).
from reference_impl.testing import assert_same_schedule, describe
from reference_impl import schedules as ref

hyper = dict(lr=0.1, total_steps=10)
assert_same_schedule(lambda t: cosine_annealing(t, **hyper), ref.cosine_annealing(**hyper), range(16),
                     what=describe("cosine_annealing", hyper))
print("cosine_annealing: visible tests passed")

# %% [tests] id=test_cosine_min_lr points=1
# Hidden tests (1 point): min_lr > 0, total_steps=1, a long schedule.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("09-schedules/test_cosine_min_lr", globals().get("TERM_SECRET"))

for hyper in [dict(lr=h.log_uniform("lr0", 0.1, 1.0), total_steps=h.integer("total_steps0", 20, 50), min_lr=h.log_uniform("min_lr0", 0.002, 0.05)),
              dict(lr=h.log_uniform("lr1", 0.1, 3.0), total_steps=1),
              dict(lr=h.log_uniform("lr2", 1e-4, 1e-3), total_steps=h.integer("total_steps2", 800, 1200), min_lr=h.log_uniform("min_lr2", 5e-6, 5e-5))]:
    assert_same_schedule(lambda t: cosine_annealing(t, **hyper), ref.cosine_annealing(**hyper),
                         range(hyper["total_steps"] + 1), what=describe("cosine_annealing", hyper))
### END HIDDEN TESTS

# %% [tests] id=test_cosine_past_end points=1
# Hidden tests (1 point): steps past total_steps hold min_lr.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("09-schedules/test_cosine_past_end", globals().get("TERM_SECRET"))

for hyper in [dict(lr=h.log_uniform("lr0", 0.03, 0.3), total_steps=h.integer("total_steps0", 8, 15)),
              dict(lr=h.log_uniform("lr1", 0.1, 1.0), total_steps=h.integer("total_steps1", 15, 25), min_lr=h.log_uniform("min_lr1", 0.005, 0.05))]:
    assert_same_schedule(lambda t: cosine_annealing(t, **hyper), ref.cosine_annealing(**hyper),
                         list(range(hyper["total_steps"], 4 * hyper["total_steps"])) + [h.integer("far", 10 ** 5, 10 ** 7)],
                         what=describe("cosine_annealing", hyper) + " past the end")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Cosine annealing with warm restarts (3 points)
#
# SGDR splits the steps into cycles. Cycle $i = 0, 1, \dots$ lasts $T_i = T_0\, T_{mult}^{\,i}$ steps; with
# $T_{cur}$ the number of steps since the start of the current cycle,
#
# $$\eta_t = \eta_{min} + \tfrac12 (\eta_{max} - \eta_{min}) \Big(1 + \cos\big(\pi \tfrac{T_{cur}}{T_i}\big)\Big).$$
#
# The step where $T_{cur}$ would reach $T_i$ is the first step of the next cycle: its learning rate is back at
# $\eta_{max}$ (the restart). $T_0$ = `first_cycle_steps`, $T_{mult}$ = `cycle_mult` (an integer $\ge 1$). The
# schedule never ends. (PyTorch: `CosineAnnealingWarmRestarts(optimizer, T_0, T_mult, eta_min)`.)

# %% [answer] id=cosine_warm_restarts
def cosine_warm_restarts(step, lr, first_cycle_steps, cycle_mult=1, min_lr=0.0):
    """The learning rate of step `step` under SGDR (cosine annealing with warm restarts).

    Args:
        step: int >= 0.
        lr: eta_max; first_cycle_steps: T_0 (int >= 1); cycle_mult: T_mult (int >= 1); min_lr: eta_min.

    Returns:
        eta_t (a float).
    """
    ### BEGIN SOLUTION
    t_cur, t_i = step, first_cycle_steps
    while t_cur >= t_i:
        t_cur -= t_i
        t_i *= cycle_mult
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * t_cur / t_i)) / 2
    ### END SOLUTION

# %% [tests] id=test_sgdr_visible points=1
# Visible tests (1 point): lr=0.1, first_cycle_steps=5, cycle_mult=1 on steps 0-19; first_cycle_steps=2, cycle_mult=2
# (cycles of 2, 4, 8 steps) on steps 0-19.
from reference_impl.testing import assert_same_schedule, describe
from reference_impl import schedules as ref

for hyper in [dict(lr=0.1, first_cycle_steps=5, cycle_mult=1), dict(lr=0.1, first_cycle_steps=2, cycle_mult=2)]:
    assert_same_schedule(lambda t: cosine_warm_restarts(t, **hyper), ref.cosine_warm_restarts(**hyper), range(20),
                         what=describe("cosine_warm_restarts", hyper))
print("cosine_warm_restarts: visible tests passed")

# %% [tests] id=test_sgdr_mult points=1
# Hidden tests (1 point): cycle_mult=2 and 3 (cycles of T, 2T, 4T, ... steps) through several restarts.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("09-schedules/test_sgdr_mult", globals().get("TERM_SECRET"))

for hyper in [dict(lr=h.log_uniform("lr0", 0.03, 0.3), first_cycle_steps=h.integer("first0", 2, 4), cycle_mult=2),
              dict(lr=h.log_uniform("lr1", 0.3, 3.0), first_cycle_steps=h.integer("first1", 2, 3), cycle_mult=3)]:
    assert_same_schedule(lambda t: cosine_warm_restarts(t, **hyper), ref.cosine_warm_restarts(**hyper),
                         range(h.integer("steps", 100, 140)), what=describe("cosine_warm_restarts", hyper))
### END HIDDEN TESTS

# %% [tests] id=test_sgdr_min_lr points=1
# Hidden tests (1 point): min_lr > 0, first_cycle_steps=1 (a restart at every step), far steps.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("09-schedules/test_sgdr_min_lr", globals().get("TERM_SECRET"))

for hyper in [dict(lr=h.log_uniform("lr0", 0.05, 0.5), first_cycle_steps=h.integer("first0", 3, 6), cycle_mult=1, min_lr=h.log_uniform("min_lr0", 0.002, 0.02)),
              dict(lr=h.log_uniform("lr1", 0.05, 0.5), first_cycle_steps=1),
              dict(lr=h.log_uniform("lr2", 0.2, 1.0), first_cycle_steps=h.integer("first2", 8, 12), cycle_mult=2,
                   min_lr=h.log_uniform("min_lr2", 0.02, 0.1))]:
    assert_same_schedule(lambda t: cosine_warm_restarts(t, **hyper), ref.cosine_warm_restarts(**hyper),
                         list(range(50)) + [h.integer("far0", 500, 2000), h.integer("far1", 10000, 20000)],
                         what=describe("cosine_warm_restarts", hyper))
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Linear warm-up (2 points)
#
# $$\eta_t = \eta \Big(f_0 + (1 - f_0)\, \frac{\min(t, W)}{W}\Big)$$
#
# with $\eta$ = `lr`, $W$ = `warmup_steps` and $f_0$ = `start_factor`: step 0 has $f_0\,\eta$, step $W$ and every
# later step has $\eta$. (PyTorch's `LinearLR(optimizer, start_factor, 1.0, total_iters=W)`, default $f_0 = 1/3$;
# here $f_0 = 0$, a start from zero, is allowed too.)

# %% [answer] id=linear_warmup
def linear_warmup(step, lr, warmup_steps, start_factor=1.0 / 3):
    """The learning rate of step `step` under a linear warm-up from start_factor * lr to lr over warmup_steps.

    Args:
        step: int >= 0.
        lr: eta, the learning rate reached at step warmup_steps; warmup_steps: W (int >= 1);
        start_factor: f_0 in [0, 1].

    Returns:
        eta_t (a float).
    """
    ### BEGIN SOLUTION
    t = min(step, warmup_steps)
    return lr * (start_factor + (1 - start_factor) * t / warmup_steps)
    ### END SOLUTION

# %% [tests] id=test_warmup_visible points=1
# Visible tests (1 point): lr=0.1, warmup_steps=5, start_factor=0 and the default start_factor, on steps 0-9.
from reference_impl.testing import assert_same_schedule, describe
from reference_impl import schedules as ref

for hyper in [dict(lr=0.1, warmup_steps=5, start_factor=0.0), dict(lr=0.1, warmup_steps=5)]:
    assert_same_schedule(lambda t: linear_warmup(t, **hyper), ref.linear_warmup(**hyper), range(10),
                         what=describe("linear_warmup", hyper))
print("linear_warmup: visible tests passed")

# %% [tests] id=test_warmup_hidden points=1
# Hidden tests (1 point): the default start_factor, warmup_steps=1, a long warm-up and steps far past it.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("09-schedules/test_warmup_hidden", globals().get("TERM_SECRET"))

for hyper in [dict(lr=h.log_uniform("lr0", 0.1, 1.0), warmup_steps=h.integer("warmup_steps0", 3, 6)),
              dict(lr=h.log_uniform("lr1", 0.3, 3.0), warmup_steps=1, start_factor=h.uniform("start_factor1", 0.3, 0.7)),
              dict(lr=h.log_uniform("lr2", 1e-3, 1e-2), warmup_steps=h.integer("warmup_steps2", 80, 120),
                   start_factor=h.log_uniform("start_factor2", 0.005, 0.05))]:
    assert_same_schedule(lambda t: linear_warmup(t, **hyper), ref.linear_warmup(**hyper),
                         list(range(2 * hyper["warmup_steps"] + 2)) + [h.integer("far", 10 ** 4, 10 ** 6)],
                         what=describe("linear_warmup", hyper))
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Joining schedules (3 points)
#
# `join` runs `schedules[0]` until step `boundaries[0]`, then `schedules[1]` until `boundaries[1]`, and so on; the
# last schedule runs forever. **Each piece counts from its own step 0**: for $b_{i-1} \le t < b_i$ (with $b_{-1} =
# 0$ and the last boundary $b = \infty$),
#
# $$\eta_t = \text{schedules}[i]\,(t - b_{i-1}).$$
#
# Each schedule is a function `step -> lr`; there is one boundary fewer than there are schedules, and they
# increase strictly. (PyTorch's `SequentialLR` works this way.) For example, a warm-up to `lr` over 10 steps
# followed by a cosine over 90 steps:
#
# ```python
# join(t, [lambda s: linear_warmup(s, 0.1, 10, 0.0), lambda s: cosine_annealing(s, 0.1, 90)], [10])
# ```

# %% [answer] id=join
def join(step, schedules, boundaries):
    """The learning rate of step `step` of the schedules run one after another.

    Args:
        step: int >= 0.
        schedules: a list of functions step -> lr.
        boundaries: a list of len(schedules) - 1 strictly increasing ints >= 1: where each next schedule starts.

    Returns:
        eta_t = schedules[i](step - start of piece i) (a float).
    """
    ### BEGIN SOLUTION
    start = 0
    for schedule, boundary in zip(schedules, list(boundaries) + [math.inf]):
        if step < boundary:
            return schedule(step - start)
        start = boundary
    ### END SOLUTION

# %% [tests] id=test_join_visible points=1
# Visible tests (1 point): a warm-up from 0 over 10 steps then a cosine over 90 steps, on steps 0-119; two constants
# joined at step 3 (the boundary step belongs to the second piece), on steps 0-6.
from reference_impl.testing import assert_same_schedule
from reference_impl import schedules as ref

pieces = [ref.linear_warmup(0.1, 10, start_factor=0.0), ref.cosine_annealing(0.1, 90)]
assert_same_schedule(lambda t: join(t, pieces, [10]), ref.join(pieces, [10]), range(120),
                     what="join(step, [linear_warmup(0.1, 10, start_factor=0), cosine_annealing(0.1, 90)], [10])")
pieces = [ref.constant(0.1), ref.constant(0.05)]
assert_same_schedule(lambda t: join(t, pieces, [3]), ref.join(pieces, [3]), range(7),
                     what="join(step, [constant(0.1), constant(0.05)], [3])")
print("join: visible tests passed")

# %% [tests] id=test_join_pieces points=1
# Hidden tests (1 point): three pieces (constant, step decay, cosine), each restarting its own count; boundary 1.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("09-schedules/test_join_pieces", globals().get("TERM_SECRET"))

c, (lr, size, gamma), (lr_cos, total, min_cos) = (h.uniform("constant", 0.03, 0.08),
                                                   (h.uniform("decay_lr", 0.09, 0.2), h.integer("step_size", 3, 7), h.uniform("gamma", 0.3, 0.7)),
                                                   (h.uniform("cosine_lr", 0.01, 0.03), h.integer("total_steps", 15, 25), h.uniform("min_lr", 5e-4, 2e-3)))
b1 = h.integer("boundary1", 2, 5)
b2 = b1 + h.integer("boundary2", 10, 20)
pieces = [ref.constant(c), ref.step_decay(lr, size, gamma), ref.cosine_annealing(lr_cos, total, min_cos)]
assert_same_schedule(lambda t: join(t, pieces, [b1, b2]), ref.join(pieces, [b1, b2]), range(b2 + h.integer("steps", 30, 50)),
                     what=f"join(step, [constant({c}), step_decay({lr}, {size}, {gamma}), cosine_annealing({lr_cos}, {total}, {min_cos})], [{b1}, {b2}])")
c, lr, gamma = h.uniform("constant_b", 0.7, 1.5), h.uniform("decay_lr_b", 0.2, 0.6), h.uniform("gamma_b", 0.3, 0.7)
pieces = [ref.constant(c), ref.step_decay(lr, 1, gamma)]
assert_same_schedule(lambda t: join(t, pieces, [1]), ref.join(pieces, [1]), range(h.integer("steps_b", 8, 12)),
                     what=f"join(step, [constant({c}), step_decay({lr}, 1, {gamma})], [1])")
### END HIDDEN TESTS

# %% [tests] id=test_join_edges points=1
# Hidden tests (1 point): a single schedule (no boundary), tuples instead of lists, the steps at and around each boundary.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("09-schedules/test_join_edges", globals().get("TERM_SECRET"))

lr, total = h.uniform("cosine_lr", 0.05, 0.2), h.integer("total_steps", 6, 12)
one = [ref.cosine_annealing(lr, total)]
assert_same_schedule(lambda t: join(t, one, []), ref.join(one, []), range(h.integer("steps", 15, 25)),
                     what=f"join(step, [cosine_annealing({lr}, {total})], [])")
lr_w, w, f = h.uniform("warmup_lr", 0.5, 1.5), h.integer("warmup_steps", 3, 6), h.uniform("start_factor", 0.1, 0.5)
c, lr_d, size = h.uniform("constant", 0.3, 0.6), h.uniform("decay_lr", 0.1, 0.25), h.integer("step_size", 2, 4)
pieces = (ref.linear_warmup(lr_w, w, f), ref.constant(c), ref.step_decay(lr_d, size))
assert_same_schedule(lambda t: join(t, pieces, (w, w + 1)), ref.join(pieces, (w, w + 1)),
                     [0, w - 1, w, w + 1, w + 2, w + 3, h.integer("far", 50, 200)],
                     what=f"join(step, (linear_warmup({lr_w}, {w}, {f}), constant({c}), step_decay({lr_d}, {size})), ({w}, {w + 1}))")
### END HIDDEN TESTS

# %% [markdown]
# ## 6. One-cycle (3 points)
#
# Smith's one-cycle policy, exactly as PyTorch's `OneCycleLR` (two phases, cosine annealing). With $N$ =
# `total_steps`, $p$ = `pct_start`, $d$ = `div_factor` and $d_f$ = `final_div_factor`, the learning rate goes
#
# * from $\eta_{max}/d$ at step 0 up to $\eta_{max}$ at step $e_1 = pN - 1$ (a float in general),
# * then down to $\eta_{max}/(d\, d_f)$ at step $e_2 = N - 1$.
#
# Inside a phase from step $s$ to step $e$, going from value $a$ to value $b$, with $u = (t - s)/(e - s)$:
#
# $$\text{value}_t = b + \tfrac12 (a - b)(1 + \cos \pi u).$$
#
# The first phase is $s = 0, e = e_1$ (it holds the steps $t \le e_1$), the second $s = e_1, e = e_2$. The
# **momentum** moves the other way, in the same phases: from `max_momentum` down to `base_momentum` in the first
# phase, back up to `max_momentum` in the second. Steps $t \ge N$ hold the values of step $N - 1$. Return the pair
# `(lr, momentum)`.

# %% [answer] id=one_cycle
def one_cycle(step, max_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4,
              base_momentum=0.85, max_momentum=0.95):
    """The learning rate and momentum of step `step` under the one-cycle policy (OneCycleLR, two phases, cos).

    Args:
        step: int >= 0.
        max_lr: the peak learning rate; total_steps: N; pct_start: p, the fraction of the steps spent going up;
        div_factor: d (the start is max_lr / d); final_div_factor: d_f (the end is max_lr / (d * d_f));
        base_momentum, max_momentum: the momentum range.

    Returns:
        (lr, momentum) (floats).
    """
    ### BEGIN SOLUTION
    def anneal(a, b, u):
        return b + (a - b) * (1 + math.cos(math.pi * u)) / 2

    t = min(step, total_steps - 1)
    start_lr = max_lr / div_factor
    end_lr = start_lr / final_div_factor
    peak = pct_start * total_steps - 1
    if t <= peak:
        u = t / peak
        return anneal(start_lr, max_lr, u), anneal(max_momentum, base_momentum, u)
    u = (t - peak) / (total_steps - 1 - peak)
    return anneal(max_lr, end_lr, u), anneal(base_momentum, max_momentum, u)
    ### END SOLUTION

# %% [tests] id=test_one_cycle_visible points=1
# Visible tests (1 point): max_lr=0.1, total_steps=20 (other arguments at their defaults), lr and momentum on steps 0-24
# (the steps from total_steps on hold the last values).
from reference_impl.testing import assert_same_schedule, describe
from reference_impl import schedules as ref


def one_cycle_part(index, **hyper):
    def value(t):
        out = one_cycle(t, **hyper)
        assert isinstance(out, tuple) and len(out) == 2, (
            f"{describe('one_cycle', hyper)} must return a pair (lr, momentum); at step {t} it returned {out!r:.80}")
        return out[index]
    return value


def check_one_cycle(steps, **hyper):
    reference = ref.one_cycle(**hyper)
    assert_same_schedule(one_cycle_part(0, **hyper), reference, steps, what=describe("one_cycle", hyper) + " (lr)")
    assert_same_schedule(one_cycle_part(1, **hyper), reference.momentum, steps,
                         what=describe("one_cycle", hyper) + " (momentum)")


check_one_cycle(range(25), max_lr=0.1, total_steps=20)
print("one_cycle: visible tests passed")

# %% [tests] id=test_one_cycle_phases points=1
# Hidden tests (1 point): a fractional peak (p N not an integer), other factors and momenta, a long run.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("09-schedules/test_one_cycle_phases", globals().get("TERM_SECRET"))

total = 4 * h.integer("quarters", 3, 6) + h.integer("rest", 1, 3)  # p N - 1 with p = 0.25 is not an integer
check_one_cycle(range(total), max_lr=h.log_uniform("max_lr0", 0.3, 3.0), total_steps=total, pct_start=0.25)
total = h.integer("total_steps1", 80, 120)
check_one_cycle(range(total), max_lr=h.log_uniform("max_lr1", 0.003, 0.03), total_steps=total, pct_start=h.uniform("pct_start1", 0.35, 0.5),
                div_factor=h.uniform("div_factor1", 5.0, 20.0), final_div_factor=h.log_uniform("final_div_factor1", 50.0, 500.0),
                base_momentum=h.uniform("base_momentum1", 0.75, 0.85), max_momentum=h.uniform("max_momentum1", 0.95, 0.99))
total = h.integer("total_steps2", 800, 1200)
check_one_cycle(range(total), max_lr=h.log_uniform("max_lr2", 0.1, 1.0), total_steps=total)
### END HIDDEN TESTS

# %% [tests] id=test_one_cycle_past_end points=1
# Hidden tests (1 point): steps at and past total_steps hold the final lr and momentum.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("09-schedules/test_one_cycle_past_end", globals().get("TERM_SECRET"))

N = h.integer("total_steps0", 15, 30)
check_one_cycle([N - 1, N, N + 1, N + h.integer("later", 5, 50), h.integer("far", 10 ** 5, 10 ** 7)],
                max_lr=h.log_uniform("max_lr0", 0.03, 0.3), total_steps=N)
N = h.integer("total_steps1", 8, 14)
check_one_cycle([N - 1, N, N + 1, h.integer("far1", 100, 1000)], max_lr=h.log_uniform("max_lr1", 0.5, 5.0), total_steps=N,
                pct_start=h.uniform("pct_start1", 0.4, 0.6), base_momentum=h.uniform("base_momentum1", 0.4, 0.6),
                max_momentum=h.uniform("max_momentum1", 0.85, 0.95))
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Reduce on plateau (4 points)
#
# The one schedule that depends on the training: it is updated once per evaluation with the monitored metric
# (a validation loss, say) and cuts the learning rate when the metric stops improving. As PyTorch's
# `ReduceLROnPlateau`, at each update:
#
# 1. The metric $m$ **improves** when it beats the best value so far $m^*$ by more than the threshold: in
#    `mode="min"`, $m < m^* - \delta$; in `mode="max"`, $m > m^* + \delta$. Here $\delta$ = `threshold` when
#    `threshold_mode="abs"` and $\delta$ = `threshold` $\cdot\, |m^*|$ when `threshold_mode="rel"` (note the
#    absolute value: it matters for negative metrics). Before the first update $m^* = +\infty$ (min) or
#    $-\infty$ (max), so the first metric always improves. An improvement sets $m^* = m$ and the count of bad
#    epochs to 0; anything else adds 1 to the count.
# 2. During the `cooldown` updates that follow a reduction, the count of bad epochs is reset to 0 (and the
#    remaining cooldown decreases by 1 at each update).
# 3. When the count of bad epochs **exceeds** `patience` (strictly greater), the learning rate becomes
#    $\max(\eta \cdot \text{factor}, \eta_{min})$ — unless that lowers it by `eps` or less, in which case it stays
#    — the count restarts at 0, and the cooldown starts (`cooldown` updates).
#
# Then return the learning rate to use from now on. `state` is a dict, **empty before the first update**: keep
# the current learning rate, $m^*$, the count and the cooldown in it (the key names are yours). `lr` is the
# initial learning rate.

# %% [answer] id=reduce_on_plateau
def reduce_on_plateau(state, metric, lr, mode="min", factor=0.1, patience=10, threshold=1e-4,
                      threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
    """Record one evaluation of the metric and return the learning rate to use next (as ReduceLROnPlateau).

    Args:
        state: dict, empty before the first update; keep lr, best, the bad-epoch count and the cooldown in it.
        metric: the monitored value (float).
        lr: the initial learning rate.
        mode: "min" or "max"; factor: the cut (< 1); patience: bad epochs tolerated; threshold, threshold_mode:
            "rel" or "abs"; cooldown: updates after a cut during which bad epochs are not counted;
        min_lr: the floor; eps: smaller cuts are ignored.

    Returns:
        The learning rate after this update (a float).
    """
    ### BEGIN SOLUTION
    if not state:
        state.update(lr=lr, best=math.inf if mode == "min" else -math.inf, bad=0, cooldown=0)
    best = state["best"]
    if threshold_mode == "abs":
        delta = threshold
    else:
        delta = threshold * abs(best) if math.isfinite(best) else 0.0  # inf * threshold - inf would be nan
    improved = metric < best - delta if mode == "min" else metric > best + delta
    if improved:
        state["best"] = metric
        state["bad"] = 0
    else:
        state["bad"] += 1
    if state["cooldown"] > 0:
        state["cooldown"] -= 1
        state["bad"] = 0
    if state["bad"] > patience:
        new_lr = max(state["lr"] * factor, min_lr)
        if state["lr"] - new_lr > eps:
            state["lr"] = new_lr
        state["cooldown"] = cooldown
        state["bad"] = 0
    return state["lr"]
    ### END SOLUTION

# %% [tests] id=test_plateau_visible points=1
# Visible tests (1 point): lr=0.1, patience=2, factor=0.5, mode="min", threshold_mode="abs", threshold=0.01: a loss that stalls twice;
# then the rules of section 7: a relative threshold on a negative metric, a cooldown and min_lr on a loss that never improves.
from reference_impl.schedules import ReduceLROnPlateau


def check_plateau(metrics, lr, **hyper):
    reference, state = ReduceLROnPlateau(lr, **hyper), {}
    args = ", ".join(f"{k}={v!r}" for k, v in dict(lr=lr, **hyper).items())
    for k, metric in enumerate(metrics):
        expected = reference.update(metric)
        got = reduce_on_plateau(state, metric, lr, **hyper)
        assert isinstance(got, (int, float)) and not isinstance(got, bool), (
            f"reduce_on_plateau({args}): at update {k + 1} it returned {got!r:.80}, expected a number")
        assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-15), (
            f"reduce_on_plateau({args}): after update {k + 1} (metric {metric!r}), expected lr {expected:.10g}, "
            f"got {got:.10g}; metrics so far: {list(metrics[:k + 1])}")


check_plateau([1.0, 0.9, 0.895, 0.893, 0.891, 0.85, 0.85, 0.85, 0.85, 0.835, 0.845, 0.845], lr=0.1, patience=2,
              factor=0.5, threshold=0.01, threshold_mode="abs")
check_plateau([-1.0, -1.05, -1.05, -1.05, -1.3, -1.32, -1.32, -1.32], lr=0.1, patience=1, factor=0.5, threshold=0.1,
              threshold_mode="rel")
check_plateau([1.0] * 12, lr=0.1, patience=1, factor=0.5, cooldown=2, min_lr=0.02)
print("reduce_on_plateau: visible tests passed")

# %% [tests] id=test_plateau_patience points=1
# Hidden tests (1 point): exactly patience bad epochs (no cut) vs patience + 1 (a cut); patience=0; repeated cuts down to min_lr.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("09-schedules/test_plateau_patience", globals().get("TERM_SECRET"))

p, a = h.integer("patience", 2, 5), h.uniform("metric", 0.5, 2.0)
b = a * h.uniform("improvement", 0.3, 0.8)
check_plateau([a] + [a] * p + [b] + [b] * (p + 1), lr=h.log_uniform("lr0", 0.1, 2.0), patience=p, threshold_mode="abs", threshold=0.0)
a = h.uniform("metric1", 2.0, 8.0)
b = a * h.uniform("improvement1", 0.5, 0.9)
check_plateau([a, a, a, b, b], lr=h.log_uniform("lr1", 0.1, 2.0), patience=0,
              factor=h.uniform("factor1", 0.3, 0.7))
check_plateau([h.uniform("metric2", 0.5, 5.0)] * h.integer("updates2", 25, 35), lr=h.log_uniform("lr2", 0.5, 2.0), patience=1,
              factor=h.uniform("factor2", 0.3, 0.7), min_lr=h.log_uniform("min_lr2", 0.05, 0.1))
check_plateau([h.uniform("metric3", 0.5, 5.0)] * h.integer("updates3", 10, 14), lr=h.log_uniform("lr3", 3e-9, 1.5e-8), patience=1,
              factor=0.5)  # cuts smaller than eps are ignored
### END HIDDEN TESTS

# %% [tests] id=test_plateau_threshold points=1
# Hidden tests (1 point): relative threshold with positive and negative metrics, mode="max", improvements just below and above the threshold.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("09-schedules/test_plateau_threshold", globals().get("TERM_SECRET"))

c = h.log_uniform("scale", 0.2, 5.0, digits=None)  # rescaling the metrics keeps every relative decision
lr = h.log_uniform("lr", 0.03, 0.3)
check_plateau([c * m for m in [1.0, 0.95, 0.9499, 0.94, 0.9399, 0.9399, 0.9398, 0.93]], lr=lr, patience=1, threshold=0.01)
check_plateau([c * m for m in [-1.0, -1.005, -1.02, -1.0201, -1.025, -1.026, -1.03, -1.5]], lr=lr, patience=1, threshold=0.01)
check_plateau([c * m for m in [0.5, 0.6, 0.605, 0.65, 0.651, 0.649, 0.7]], lr=2 * lr, mode="max", patience=1,
              factor=h.uniform("factor", 0.3, 0.7), threshold=0.01)
check_plateau([c * m for m in [-3.0, -2.0, -1.99, -1.981, -1.0]], lr=2 * lr, mode="max", patience=0, threshold=0.01)
check_plateau([c * m for m in [0.5, 0.6, 0.61, 0.62, 0.7]], lr=2 * lr, mode="max", patience=0, threshold=0.05 * c, threshold_mode="abs")
### END HIDDEN TESTS

# %% [tests] id=test_plateau_cooldown points=1
# Hidden tests (1 point): cooldown after a cut (bad epochs not counted), a long noisy run.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("09-schedules/test_plateau_cooldown", globals().get("TERM_SECRET"))

check_plateau([h.uniform("metric0", 0.5, 2.0)] * h.integer("updates0", 15, 25), lr=h.log_uniform("lr0", 0.3, 3.0), patience=1,
              cooldown=h.integer("cooldown0", 2, 3), factor=h.uniform("factor0", 0.3, 0.7))
c = h.log_uniform("scale1", 0.2, 5.0, digits=None)
check_plateau([c * m for m in [1.0, 0.9, 0.9, 0.9, 0.8, 0.9, 0.9, 0.9, 0.9, 0.7, 0.9]], lr=h.log_uniform("lr1", 0.3, 3.0), patience=1,
              cooldown=3, factor=h.uniform("factor1", 0.3, 0.7), threshold_mode="abs", threshold=0.0)
import random
rng = random.Random(h.seed("noise"))
noisy = [1.0 / (1 + 0.05 * k) + 0.05 * rng.random() for k in range(h.integer("updates2", 150, 250))]
check_plateau(noisy, lr=h.log_uniform("lr2", 0.03, 0.3), patience=h.integer("patience2", 4, 6), cooldown=h.integer("cooldown2", 1, 3),
              factor=h.uniform("factor2", 0.2, 0.5), min_lr=1e-4)
### END HIDDEN TESTS

# %% [markdown]
# ## 8. Warm-up, stable, decay (3 points)
#
# The "trapezoid": a linear warm-up **from 0** over $W$ steps, a long stable phase at $\eta$, and a final decay
# over the last $D$ steps to $\eta_{min}$ at step $T$. With $p = (t - (T - D))/D$:
#
# $$\eta_t = \begin{cases}
#   \eta\, t / W & 0 \le t < W \\
#   \eta & W \le t < T - D \\
#   \eta_{min} + (\eta - \eta_{min})\, g(p) & T - D \le t \le T \\
#   \eta_{min} & t > T
# \end{cases}$$
#
# where the decay shape $g$ falls from 1 to 0: `decay="linear"`: $g(p) = 1 - p$; `"cosine"`: $g(p) = \tfrac12(1 +
# \cos \pi p)$; `"sqrt"`: $g(p) = 1 - \sqrt{p}$. $W$ = `warmup_steps` (0: no warm-up), $D$ = `decay_steps`
# ($\ge 1$), $T$ = `total_steps`, with $W + D \le T$.

# %% [answer] id=wsd
def wsd(step, lr, total_steps, warmup_steps, decay_steps, min_lr=0.0, decay="linear"):
    """The learning rate of step `step` under warm-up (from 0), stable, decay (to min_lr at total_steps).

    Args:
        step: int >= 0.
        lr: eta, the stable learning rate; total_steps: T; warmup_steps: W (0 for none); decay_steps: D >= 1;
        min_lr: eta_min; decay: "linear", "cosine" or "sqrt".

    Returns:
        eta_t (a float); min_lr for every step >= total_steps.
    """
    ### BEGIN SOLUTION
    t = min(step, total_steps)
    if t < warmup_steps:
        return lr * t / warmup_steps
    decay_start = total_steps - decay_steps
    if t < decay_start:
        return lr
    p = (t - decay_start) / decay_steps
    if decay == "linear":
        g = 1 - p
    elif decay == "cosine":
        g = (1 + math.cos(math.pi * p)) / 2
    else:
        g = 1 - math.sqrt(p)
    return min_lr + (lr - min_lr) * g
    ### END SOLUTION

# %% [tests] id=test_wsd_visible points=1
# Visible tests (1 point): lr=0.1, total_steps=20, warmup_steps=4, decay_steps=6, linear and sqrt decay, on steps 0-20.
from reference_impl.testing import assert_same_schedule, describe
from reference_impl import schedules as ref

for hyper in [dict(lr=0.1, total_steps=20, warmup_steps=4, decay_steps=6),
              dict(lr=0.1, total_steps=20, warmup_steps=4, decay_steps=6, decay="sqrt")]:
    assert_same_schedule(lambda t: wsd(t, **hyper), ref.wsd(**hyper), range(21), what=describe("wsd", hyper))
print("wsd: visible tests passed")

# %% [tests] id=test_wsd_shapes points=1
# Hidden tests (1 point): the cosine and sqrt decays, min_lr > 0, no warm-up, no stable phase.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("09-schedules/test_wsd_shapes", globals().get("TERM_SECRET"))

def phases(k, total, warmup, decay):
    return dict(total_steps=h.integer(f"total_steps{k}", *total), warmup_steps=h.integer(f"warmup_steps{k}", *warmup),
                decay_steps=h.integer(f"decay_steps{k}", *decay))


w3, d3 = h.integer("warmup_steps3", 3, 5), h.integer("decay_steps3", 6, 9)
for hyper in [dict(lr=h.log_uniform("lr0", 0.3, 3.0), **phases(0, (40, 60), (3, 7), (8, 12)), decay="cosine"),
              dict(lr=h.log_uniform("lr1", 0.3, 3.0), **phases(1, (40, 60), (3, 7), (8, 12)), min_lr=h.log_uniform("min_lr1", 0.01, 0.1),
                   decay="sqrt"),
              dict(lr=h.log_uniform("lr2", 0.1, 1.0), **phases(2, (25, 35), (0, 0), (5, 9)), min_lr=h.log_uniform("min_lr2", 0.005, 0.05)),
              dict(lr=h.log_uniform("lr3", 0.1, 1.0), total_steps=w3 + d3, warmup_steps=w3, decay_steps=d3, decay="cosine")]:
    assert_same_schedule(lambda t: wsd(t, **hyper), ref.wsd(**hyper), range(hyper["total_steps"] + 1),
                         what=describe("wsd", hyper))
### END HIDDEN TESTS

# %% [tests] id=test_wsd_boundaries points=1
# Hidden tests (1 point): the steps at each phase boundary, decay_steps=1, and steps past total_steps.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("09-schedules/test_wsd_boundaries", globals().get("TERM_SECRET"))

for hyper in [dict(lr=h.log_uniform("lr0", 0.03, 0.3), total_steps=h.integer("total_steps0", 16, 24), warmup_steps=h.integer("warmup_steps0", 3, 5),
                   decay_steps=h.integer("decay_steps0", 5, 8), min_lr=h.log_uniform("min_lr0", 0.001, 0.01)),
              dict(lr=h.log_uniform("lr1", 0.03, 0.3), total_steps=h.integer("total_steps1", 6, 12), warmup_steps=1, decay_steps=1),
              dict(lr=h.log_uniform("lr2", 0.2, 1.0), total_steps=h.integer("total_steps2", 80, 120), warmup_steps=h.integer("warmup_steps2", 8, 12),
                   decay_steps=h.integer("decay_steps2", 15, 25), decay="sqrt")]:
    T, W, D = hyper["total_steps"], hyper["warmup_steps"], hyper["decay_steps"]
    steps = sorted({0, 1, W - 1 if W else 0, W, W + 1, T - D - 1, T - D, T - D + 1, T - 1, T, T + 1, 2 * T, 10 ** 6})
    assert_same_schedule(lambda t: wsd(t, **hyper), ref.wsd(**hyper), steps, what=describe("wsd", hyper))
### END HIDDEN TESTS

# %% [markdown]
# ## 9. In your own words (1 point)
#
# Answer in two to four sentences, in the cell below (it is graded by hand, not by a test). **Why does a
# learning-rate warm-up help Adam in its first steps?**

# %% [written] id=written_warmup points=1
# ### BEGIN SOLUTION
# In the first steps Adam's second-moment estimate $\hat v_t$ averages only a handful of gradients, so it is a
# noisy estimate, and the step $\hat m_t / \sqrt{\hat v_t}$ is close to $\pm 1$ per coordinate (exactly the sign
# of the gradient at step 1) whatever the gradient's size: every coordinate moves by about the full learning rate,
# in a direction chosen from very few samples. A warm-up keeps those early, badly normalised steps small until
# $\hat v_t$ has averaged over enough steps (of the order of $1/(1-\beta_2)$) to be trusted; the variance
# argument is the one behind RAdam (Liu et al., 2020).
# ### END SOLUTION
