# notebook: schedule_free.ipynb
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
# # Exercise: schedule-free SGD and AdamW
#
# This notebook goes with the chapter [Schedule-free optimization](../../chapters/10-schedule-free.md).
# Schedule-free methods (Defazio et al., 2024) replace the learning-rate schedule by an average of the iterates.
# They keep three sequences: $z$, moved by plain SGD (or Adam) steps; $x$, a weighted running average of the
# $z$ iterates, where the model is *evaluated*; and $y$, an interpolation of the two, where the gradient is
# *taken*. You implement the averaging weights, one step of schedule-free SGD and AdamW, and the switch between
# the training weights $y$ and the evaluation weights $x$, so that your functions agree with the course's
# `SGDScheduleFree` and `AdamWScheduleFree` (which match the authors' `schedulefree` package) step for step:
#
# | function | what it computes | points |
# |---|---|---|
# | `sf_weight` | the warmed-up learning rate and the averaging weight $c_{t+1}$ | 3 |
# | `sf_sgd_step` | one schedule-free SGD step | 4 |
# | `sf_adamw_step` | one schedule-free AdamW step | 4 |
# | `sf_eval_params`, `sf_train_params` | the parameters for evaluation ($x$) and for training ($y$) | 3 |
#
# **How to work.** Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()`
# line), then run every cell. The test cell after each function checks it; a failure tells you what was
# expected, what your function returned, at which step and with which hyperparameters. Some test cells are empty
# in your copy: they hold hidden tests that run only when your notebook is graded (long runs, warm-up, other
# weightings, weight decay on and off, zero gradients). To check the whole notebook from a terminal, run
# `make check NB=exercises/10-schedule-free/schedule_free.ipynb` in the course repository: it exits with an error
# if any test fails.
#
# **Rules.** Use `torch` and `math` only. Your answers must not import or call anything from `reference_impl`
# (the course's reference implementations, which the tests compare you with) nor use `torch.optim` or the
# `schedulefree` package: the grader checks this outside the notebook. Do not edit or delete the test cells; they
# are restored before grading. You may update tensors in place or return new ones, as long as you return the new
# values.

# %% [setup]
import math

import torch

# %% [markdown]
# ## 1. The averaging weights (3 points)
#
# Step $t = 0, 1, 2, \dots$ (counted from 0) uses the warmed-up learning rate
#
# $$\gamma_t = \gamma \cdot \min\Big(1, \frac{t+1}{T_{\text{warmup}}}\Big) \qquad (\gamma_t = \gamma \text{ when }
# T_{\text{warmup}} = 0),$$
#
# and gives the new $z$ iterate the averaging weight
#
# $$\gamma_{\max} \leftarrow \max(\gamma_{\max}, \gamma_t), \qquad w_{t+1} = (t+1)^r\, \gamma_{\max}^{\,p}, \qquad
# S \leftarrow S + w_{t+1}, \qquad c_{t+1} = \frac{w_{t+1}}{S}$$
#
# ($c_{t+1} = 0$ while $S = 0$, e.g. with $\gamma = 0$). The running maximum $\gamma_{\max}$ (which starts at
# $-1$) and the running sum $S$ (which starts at 0) are passed in and returned, so the function keeps no state.
# With a constant learning rate and $r = 0$, every weight is the same and $c_{t+1} = 1/(t+1)$: $x$ is the plain
# average of the $z$ iterates. The weighting by $\gamma_{\max}^2$ (default $p = 2$) keeps the small steps of the
# warm-up from dominating the average; the *maximum* matters when the learning rate is lowered during a run.

# %% [answer] id=sf_weight
def sf_weight(step, lr, warmup_steps, r, weight_lr_power, lr_max, weight_sum):
    """The learning rate and averaging weight of step `step` (from 0) of a schedule-free method.

    Args:
        step: t, int >= 0.
        lr: the base learning rate gamma; warmup_steps: T_warmup (0: no warm-up);
        r: the power of (t + 1) in the weight; weight_lr_power: p, the power of the largest learning rate;
        lr_max: the largest warmed-up learning rate so far (-1 before the first step);
        weight_sum: S, the sum of the weights so far (0 before the first step).

    Returns:
        (lr_t, c, new_lr_max, new_weight_sum), all floats.
    """
    ### BEGIN SOLUTION
    lr_t = lr * (step + 1) / warmup_steps if step < warmup_steps else lr
    lr_max = max(lr_max, lr_t)
    weight = (step + 1) ** r * lr_max ** weight_lr_power
    weight_sum = weight_sum + weight
    c = weight / weight_sum if weight_sum != 0 else 0.0
    return lr_t, c, lr_max, weight_sum
    ### END SOLUTION

# %% [tests] id=test_weight_visible points=1
# Visible tests (1 point): 10 steps with lr=0.1, no warm-up, r=0, p=2: c = 1, 1/2, 1/3, ...; then the traps of
# section 1: a warm-up of 3 steps (steps count from 0), r=1 (the weight of step t is (t + 1)^r) and a learning rate
# lowered after 4 steps (the largest one so far weights the average).
from reference_impl.optim import schedule_free_weight


def check_weights(lrs, warmup_steps=0, r=0.0, weight_lr_power=2.0):
    """Call sf_weight and the reference on steps 0, 1, ... with the learning rates lrs, carrying lr_max and S."""
    mine = theirs = (-1.0, 0.0)
    args = f"warmup_steps={warmup_steps}, r={r}, weight_lr_power={weight_lr_power}"
    for step, lr in enumerate(lrs):
        expected = schedule_free_weight(step, lr, warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
                                        lr_max=theirs[0], weight_sum=theirs[1])
        got = sf_weight(step, lr, warmup_steps, r, weight_lr_power, mine[0], mine[1])
        assert isinstance(got, tuple) and len(got) == 4, (
            f"sf_weight(step={step}, lr={lr}, {args}, ...) must return (lr_t, c, lr_max, weight_sum); got {got!r:.80}")
        for name, g, e in zip(("lr_t", "c", "lr_max", "weight_sum"), got, expected):
            assert math.isclose(float(g), e, rel_tol=1e-12, abs_tol=1e-15), (
                f"sf_weight(step={step}, lr={lr}, {args}, lr_max={mine[0]!r}, weight_sum={mine[1]!r}): {name} "
                f"expected {e:.10g}, got {float(g):.10g} (learning rates so far: {list(lrs[:step + 1])})")
        mine, theirs = (got[2], got[3]), (expected[2], expected[3])


check_weights([0.1] * 10)
check_weights([0.1] * 4 + [0.02] * 3, warmup_steps=3, r=1.0)
print("sf_weight: visible tests passed")

# %% [tests] id=test_weight_warmup points=1
# Hidden tests (1 point): a warm-up of 1 and of several steps, a learning rate lowered mid-run (the maximum counts), lr = 0 at first.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("10-schedule-free/test_weight_warmup", globals().get("TERM_SECRET"))

u, lu, n = h.uniform, h.log_uniform, h.integer
check_weights([lu("lr0", 0.03, 0.3)] * n("steps0", 10, 14), warmup_steps=n("warmup_steps0", 4, 6))
check_weights([lu("lr1", 0.3, 3.0)] * n("steps1", 3, 6), warmup_steps=1)
high, low, middle = lu("lr_high", 0.3, 1.0), lu("lr_low", 0.01, 0.1), lu("lr_middle", 0.12, 0.28)
check_weights([high] * n("steps_high", 4, 6) + [low] * n("steps_low", 4, 6) + [middle] * n("steps_middle", 2, 4),
              warmup_steps=n("warmup_steps2", 2, 3))
check_weights([0.0] * n("steps_zero", 2, 4) + [lu("lr3", 0.03, 0.3)] * n("steps3", 2, 4))
### END HIDDEN TESTS

# %% [tests] id=test_weight_powers points=1
# Hidden tests (1 point): polynomial weighting r > 0 and other powers p of the learning rate.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("10-schedule-free/test_weight_powers", globals().get("TERM_SECRET"))

u, lu, n = h.uniform, h.log_uniform, h.integer
check_weights([lu("lr0", 0.03, 0.3)] * n("steps0", 12, 18), r=u("r0", 0.5, 1.5))
check_weights([lu("lr1", 0.1, 1.0)] * n("steps1", 8, 12), warmup_steps=n("warmup_steps1", 3, 5), r=u("r1", 0.3, 0.7),
              weight_lr_power=u("power1", 0.5, 1.5))
first = lu("lr2", 0.15, 0.4)
check_weights([first] * n("steps2a", 5, 7) + [first * u("lowered2", 0.3, 0.7)] * n("steps2b", 5, 7), warmup_steps=n("warmup_steps2", 2, 4),
              r=u("r2", 1.5, 2.5), weight_lr_power=0.0)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Schedule-free SGD (4 points)
#
# The parameter the function receives and returns is $y$ (the training weights). On the first call, `state` is
# an empty dict: start with $z = x = y$ (copies of the parameter), $\gamma_{\max} = -1$, $S = 0$ and the step count
# $t = 0$. Then, with $(\gamma_t, c_{t+1})$ from `sf_weight` for step $t$ (call your function: the tests of sections 2
# and 3 accept a step that is right *given your `sf_weight`*, so a bug there costs only its points), the interpolation
# $\beta$ = `momentum` and the weight decay $\lambda$:
#
# $$\begin{aligned}
# g_t &= \nabla f(y_t) + \lambda\, y_t && \text{(an L2 penalty taken at } y\text{)} \\
# z_{t+1} &= z_t - \gamma_t\, g_t \\
# x_{t+1} &= (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1} \\
# y_{t+1} &= (1-\beta)\, z_{t+1} + \beta\, x_{t+1} && \text{(returned)}
# \end{aligned}$$
#
# and $t$ increases by one. Keep $z$ in `state["z"]` and $x$ in `state["x"]` (section 4 reads them); the other
# keys are yours.

# %% [answer] id=sf_sgd_step
def sf_sgd_step(param, grad, state, lr=1.0, momentum=0.9, weight_decay=0.0, warmup_steps=0, r=0.0,
                weight_lr_power=2.0):
    """One schedule-free SGD step (as schedulefree.SGDScheduleFree).

    Args:
        param: tensor, y_t (the training weights).
        grad: tensor, the gradient of the loss at y_t.
        state: dict, empty at the first step; keep z in state["z"] and x in state["x"].
        lr: gamma; momentum: beta; weight_decay: lambda (L2 penalty at y); warmup_steps, r, weight_lr_power: as in
            sf_weight.

    Returns:
        The new parameter y_{t+1}.
    """
    ### BEGIN SOLUTION
    if not state:
        state.update(z=param.clone(), x=param.clone(), step=0, lr_max=-1.0, weight_sum=0.0)
    lr_t, c, state["lr_max"], state["weight_sum"] = sf_weight(state["step"], lr, warmup_steps, r, weight_lr_power,
                                                              state["lr_max"], state["weight_sum"])
    state["step"] += 1
    g = grad + weight_decay * param
    state["z"] = state["z"] - lr_t * g
    state["x"] = (1 - c) * state["x"] + c * state["z"]
    return (1 - momentum) * state["z"] + momentum * state["x"]
    ### END SOLUTION

# %% [tests] id=test_sf_sgd_visible points=1
# Visible tests (1 point): five steps with lr=0.1, momentum=0.9 (other arguments at their defaults), then with
# weight_decay=0.5 (where the penalty is taken, at y, shows), against the course's SGDScheduleFree, or against
# schedule-free SGD computed with your sf_weight (so that a bug there is not counted twice).
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_state_dict
from reference_impl.optim import SGDScheduleFree, schedule_free_sgd_update


def sf_sgd_from_your_sf_weight(param, grad, state, lr=1.0, momentum=0.9, weight_decay=0.0, warmup_steps=0, r=0.0,
                               weight_lr_power=2.0):
    """Schedule-free SGD built on your sf_weight: if sf_sgd_step calls a faulty sf_weight, only its tests lose points."""
    if not state:
        state.update(z=param.clone(), x=param.clone(), step=0, lr_max=-1.0, weight_sum=0.0)
    lr_t, c, state["lr_max"], state["weight_sum"] = sf_weight(state["step"], lr, warmup_steps, r, weight_lr_power,
                                                              state["lr_max"], state["weight_sum"])
    state["step"] += 1
    y = param.clone()
    schedule_free_sgd_update(y, grad, state["z"], state["x"], lr=float(lr_t), c=float(c), momentum=momentum,
                             weight_decay=weight_decay)
    return y


theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
for hyper in [dict(lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9, weight_decay=0.5)]:
    assert_same_trajectory(with_state_dict(sf_sgd_step, **hyper), optimizer(SGDScheduleFree, **hyper), theta0,
                           fixed_gradients(3, seed=111), steps=5,
                           built_on=with_state_dict(sf_sgd_from_your_sf_weight, **hyper))
print("sf_sgd_step: visible tests passed")

# %% [tests] id=test_sf_sgd_first_step points=1
# Hidden tests (1 point): the first step is a plain SGD step (z = x = y); zero gradients do not move.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, with_state_dict

h = hidden_inputs("10-schedule-free/test_sf_sgd_first_step", globals().get("TERM_SECRET"))

g = torch.cat([h.tensor("grad", 2, low=-2.0, high=2.0), torch.zeros(1, dtype=torch.float64)])
theta = h.tensor("theta", 3, low=-2.0, high=2.0)
lr, mu = h.log_uniform("lr", 0.03, 0.3), h.uniform("momentum", 0.5, 0.95)
wd, lr_zero_grad = h.uniform("weight_decay", 0.2, 1.0), h.log_uniform("lr_zero_grad", 0.03, 0.3)
# each case: the closed form, or schedule-free SGD computed with your sf_weight (a bug there costs only its own points)
for hyper, expected, gradient, steps, why in [
        (dict(lr=lr, momentum=mu, weight_decay=0.0), theta - lr * g, g, 1, "expected the SGD step theta - lr * g"),
        (dict(lr=lr, momentum=mu, weight_decay=wd), theta - lr * (g + wd * theta), g, 1,
         "expected the SGD step theta - lr * (g + weight_decay * theta)"),
        (dict(lr=lr_zero_grad), theta, torch.zeros(3, dtype=torch.float64), h.integer("steps_zero_grad", 2, 4),
         "zero gradients: expected no move")]:
    stepper = with_state_dict(sf_sgd_step, **hyper)
    stepper.function += f" ({why})"
    assert_same_trajectory(stepper, lambda param, grad, state, expected=expected: (expected, state), theta,
                           lambda param, k, gradient=gradient: gradient, steps=steps,
                           built_on=with_state_dict(sf_sgd_from_your_sf_weight, **hyper))
### END HIDDEN TESTS

# %% [tests] id=test_sf_sgd_trajectory points=1
# Hidden tests (1 point): 80-120 steps on a quadratic with several lr and momentum, polynomial weighting r > 0.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_state_dict

h = hidden_inputs("10-schedule-free/test_sf_sgd_trajectory", globals().get("TERM_SECRET"))

from reference_impl.optim import SGDScheduleFree

grads = quadratic(6, seed=h.seed("quadratic"))
u, lu = h.uniform, h.log_uniform
for k, hyper in enumerate([dict(lr=lu("lr0", 0.03, 0.07)), dict(lr=lu("lr1", 0.07, 0.1), momentum=u("momentum1", 0.4, 0.6)),
                           dict(lr=lu("lr2", 0.01, 0.03), momentum=u("momentum2", 0.96, 0.99), r=u("r2", 0.5, 1.5))]):
    assert_same_trajectory(with_state_dict(sf_sgd_step, **hyper), optimizer(SGDScheduleFree, **hyper),
                           h.tensor(f"theta0_{k}", 6, low=0.5, high=1.5), grads, steps=h.integer(f"steps{k}", 80, 120),
                           built_on=with_state_dict(sf_sgd_from_your_sf_weight, **hyper))
### END HIDDEN TESTS

# %% [tests] id=test_sf_sgd_decay_warmup points=1
# Hidden tests (1 point): weight decay, warm-up (with the default weight_lr_power=2 and with 0), float32 parameters of shape (2, 3).
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, fixed_gradients, hidden_inputs, optimizer, quadratic, with_state_dict

h = hidden_inputs("10-schedule-free/test_sf_sgd_decay_warmup", globals().get("TERM_SECRET"))

from reference_impl.optim import SGDScheduleFree

grads = quadratic(6, seed=h.seed("quadratic"))
u, lu, n = h.uniform, h.log_uniform, h.integer
for k, hyper in enumerate([dict(lr=lu("lr0", 0.03, 0.07), weight_decay=lu("weight_decay0", 0.2, 1.0)),
                           dict(lr=lu("lr1", 0.05, 0.1), warmup_steps=n("warmup_steps1", 5, 15)),
                           dict(lr=lu("lr2", 0.05, 0.1), momentum=u("momentum2", 0.7, 0.9), warmup_steps=n("warmup_steps2", 3, 7),
                                weight_lr_power=0.0, weight_decay=lu("weight_decay2", 0.05, 0.2))]):
    assert_same_trajectory(with_state_dict(sf_sgd_step, **hyper), optimizer(SGDScheduleFree, **hyper),
                           h.tensor(f"theta0_{k}", 6, low=0.5, high=1.5), grads, steps=n(f"steps{k}", 30, 50),
                           built_on=with_state_dict(sf_sgd_from_your_sf_weight, **hyper))
lr = lu("lr_float32", 0.05, 0.2)
assert_same_trajectory(with_state_dict(sf_sgd_step, lr=lr), optimizer(SGDScheduleFree, lr=lr), h.tensor("theta0_float32", (2, 3), dtype=torch.float32),
                       fixed_gradients((2, 3), seed=h.seed("gradients_float32"), dtype=torch.float32, zero_steps=[1]),
                       steps=n("steps_float32", 6, 10), rtol=1e-5, atol=1e-6,
                       built_on=with_state_dict(sf_sgd_from_your_sf_weight, lr=lr))
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Schedule-free AdamW (4 points)
#
# Schedule-free AdamW moves $z$ by an Adam-normalised step. It has **no first-moment average**: the
# interpolation $y$ plays the role of momentum, with $\beta_1$ as $\beta$. With the second moment $v$ ($v = 0$ at
# the start), the step count $t$ (1 at the first step, for the bias correction) and $(\gamma_t, c_{t+1})$ from
# `sf_weight` for step $t - 1$:
#
# $$\begin{aligned}
# v_t &= \beta_2\, v_{t-1} + (1-\beta_2)\, g_t^2, \qquad g_t = \nabla f(y_t) \\
# d_t &= \frac{g_t}{\sqrt{v_t / (1-\beta_2^{t})} + \epsilon} + \lambda\, y_t && \text{(decoupled decay, taken at } y\text{)} \\
# z_{t+1} &= z_t - \gamma_t\, d_t \\
# x_{t+1} &= (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1} \\
# y_{t+1} &= (1-\beta_1)\, z_{t+1} + \beta_1\, x_{t+1} && \text{(returned)}
# \end{aligned}$$
#
# Start as in section 2 ($z = x = y$ at the first call). Keep $z$ in `state["z"]` and $x$ in `state["x"]`.

# %% [answer] id=sf_adamw_step
def sf_adamw_step(param, grad, state, lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, warmup_steps=0,
                  r=0.0, weight_lr_power=2.0):
    """One schedule-free AdamW step (as schedulefree.AdamWScheduleFree).

    Args:
        param: tensor, y_t.
        grad: tensor, the gradient of the loss at y_t.
        state: dict, empty at the first step; keep z in state["z"] and x in state["x"].
        lr: gamma; betas: (beta1 = the interpolation, beta2 = the second-moment decay); eps; weight_decay: lambda
            (decoupled, at y, scaled by the learning rate); warmup_steps, r, weight_lr_power: as in sf_weight.

    Returns:
        The new parameter y_{t+1}.
    """
    ### BEGIN SOLUTION
    beta1, beta2 = betas
    if not state:
        state.update(z=param.clone(), x=param.clone(), v=torch.zeros_like(param), step=0, lr_max=-1.0,
                     weight_sum=0.0)
    lr_t, c, state["lr_max"], state["weight_sum"] = sf_weight(state["step"], lr, warmup_steps, r, weight_lr_power,
                                                              state["lr_max"], state["weight_sum"])
    state["step"] += 1
    t = state["step"]
    state["v"] = beta2 * state["v"] + (1 - beta2) * grad * grad
    d = grad / ((state["v"] / (1 - beta2 ** t)).sqrt() + eps) + weight_decay * param
    state["z"] = state["z"] - lr_t * d
    state["x"] = (1 - c) * state["x"] + c * state["z"]
    return (1 - beta1) * state["z"] + beta1 * state["x"]
    ### END SOLUTION

# %% [tests] id=test_sf_adamw_visible points=1
# Visible tests (1 point): five steps with lr=0.1 (other arguments at their defaults), then with weight_decay=0.5
# (decoupled, scaled by the learning rate), against the course's AdamWScheduleFree, or against schedule-free AdamW
# computed with your sf_weight (so that a bug there is not counted twice).
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_state_dict
from reference_impl.optim import AdamWScheduleFree, schedule_free_adamw_update


def sf_adamw_from_your_sf_weight(param, grad, state, lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                                 warmup_steps=0, r=0.0, weight_lr_power=2.0):
    """Schedule-free AdamW built on your sf_weight: if sf_adamw_step calls a faulty sf_weight, only its tests lose
    points."""
    if not state:
        state.update(z=param.clone(), x=param.clone(), v=torch.zeros_like(param), step=0, lr_max=-1.0,
                     weight_sum=0.0)
    lr_t, c, state["lr_max"], state["weight_sum"] = sf_weight(state["step"], lr, warmup_steps, r, weight_lr_power,
                                                              state["lr_max"], state["weight_sum"])
    state["step"] += 1
    y = param.clone()
    schedule_free_adamw_update(y, grad, state["z"], state["x"], state["v"], step=state["step"], lr=float(lr_t),
                               c=float(c), betas=betas, eps=eps, weight_decay=weight_decay)
    return y


theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
for hyper in [dict(lr=0.1), dict(lr=0.1, weight_decay=0.5)]:
    assert_same_trajectory(with_state_dict(sf_adamw_step, **hyper), optimizer(AdamWScheduleFree, **hyper), theta0,
                           fixed_gradients(3, seed=115), steps=5,
                           built_on=with_state_dict(sf_adamw_from_your_sf_weight, **hyper))
print("sf_adamw_step: visible tests passed")

# %% [tests] id=test_sf_adamw_trajectory points=2
# Hidden tests (2 points): 80-120 steps on a quadratic with several lr, betas and eps (large eps included), warm-up, r > 0.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_state_dict

h = hidden_inputs("10-schedule-free/test_sf_adamw_trajectory", globals().get("TERM_SECRET"))

from reference_impl.optim import AdamWScheduleFree

grads = quadratic(6, seed=h.seed("quadratic"))
u, lu, n = h.uniform, h.log_uniform, h.integer
for k, hyper in enumerate([dict(lr=lu("lr0", 0.005, 0.02)), dict(lr=lu("lr1", 0.03, 0.08), betas=(u("beta1_1", 0.4, 0.6), u("beta2_1", 0.85, 0.95))),
                           dict(lr=lu("lr2", 0.01, 0.04), betas=(u("beta1_2", 0.92, 0.97), u("beta2_2", 0.98, 0.995)), eps=lu("eps2", 0.05, 0.2)),
                           dict(lr=lu("lr3", 0.03, 0.08), warmup_steps=n("warmup_steps3", 5, 15)),
                           dict(lr=lu("lr4", 0.01, 0.04), r=u("r4", 0.5, 1.5), weight_lr_power=u("power4", 0.5, 1.5))]):
    assert_same_trajectory(with_state_dict(sf_adamw_step, **hyper), optimizer(AdamWScheduleFree, **hyper),
                           h.tensor(f"theta0_{k}", 6, low=0.5, high=1.5), grads, steps=n(f"steps{k}", 80, 120),
                           built_on=with_state_dict(sf_adamw_from_your_sf_weight, **hyper))
### END HIDDEN TESTS

# %% [tests] id=test_sf_adamw_edges points=1
# Hidden tests (1 point): weight decay on and off, zero gradients at the first steps, float32 parameters.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, fixed_gradients, hidden_inputs, optimizer, quadratic, with_state_dict

h = hidden_inputs("10-schedule-free/test_sf_adamw_edges", globals().get("TERM_SECRET"))

from reference_impl.optim import AdamWScheduleFree

grads = quadratic(6, seed=h.seed("quadratic"))
lu, n = h.log_uniform, h.integer
for k, hyper in enumerate([dict(lr=lu("lr0", 0.03, 0.08), weight_decay=lu("weight_decay0", 0.2, 1.0)),
                           dict(lr=lu("lr1", 0.03, 0.08), weight_decay=lu("weight_decay1", 1.0, 3.0), warmup_steps=n("warmup_steps1", 2, 5))]):
    assert_same_trajectory(with_state_dict(sf_adamw_step, **hyper), optimizer(AdamWScheduleFree, **hyper),
                           h.tensor(f"theta0_{k}", 6, low=0.5, high=1.5), grads, steps=n(f"steps{k}", 30, 50),
                           built_on=with_state_dict(sf_adamw_from_your_sf_weight, **hyper))
lr, wd = lu("lr_zero_grad", 0.05, 0.2), lu("weight_decay_zero_grad", 0.1, 0.5)
assert_same_trajectory(with_state_dict(sf_adamw_step, lr=lr, weight_decay=wd),
                       optimizer(AdamWScheduleFree, lr=lr, weight_decay=wd), h.tensor("theta0_zero_grad", 4, low=0.5, high=1.5),
                       fixed_gradients(4, seed=h.seed("gradients_zero_grad"), zero_steps=[0, 1, 4]), steps=n("steps_zero_grad", 7, 10),
                       built_on=with_state_dict(sf_adamw_from_your_sf_weight, lr=lr, weight_decay=wd))
lr = lu("lr_float32", 0.05, 0.2)
assert_same_trajectory(with_state_dict(sf_adamw_step, lr=lr), optimizer(AdamWScheduleFree, lr=lr), h.tensor("theta0_float32", (2, 3), dtype=torch.float32),
                       fixed_gradients((2, 3), seed=h.seed("gradients_float32"), dtype=torch.float32), steps=n("steps_float32", 6, 10),
                       rtol=1e-5, atol=1e-6, built_on=with_state_dict(sf_adamw_from_your_sf_weight, lr=lr))
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Train and eval weights (3 points)
#
# The model trains with $y$ but should be *evaluated* (and saved) at the average $x$. The course's optimizers
# (like the authors') have `optimizer.eval()`, which puts $x$ into the parameters, and `optimizer.train()`, which
# puts $y = (1-\beta) z + \beta x$ back. Write the two functions that compute those parameters from a state
# (after any number of steps) that holds $z$ in `state["z"]` and $x$ in `state["x"]`; read only those two keys.
# The tests hand your functions the course optimizer's $z$ and $x$ after each of its steps, so they do not depend on
# your step functions:
#
# * `sf_eval_params(state)` returns $x$;
# * `sf_train_params(state, beta)` returns $y = (1-\beta)\, z + \beta\, x$ ($\beta$ = `momentum` for SGD,
#   $\beta_1$ for AdamW): the parameter the last step returned.
#
# Return new tensors, and leave `state` unchanged: evaluating in the middle of training must not change the
# training run.

# %% [answer] id=sf_train_eval
def sf_eval_params(state):
    """The evaluation weights x (a new tensor); state is not modified."""
    ### BEGIN SOLUTION
    return state["x"].clone()
    ### END SOLUTION


def sf_train_params(state, beta):
    """The training weights y = (1 - beta) z + beta x (a new tensor); state is not modified."""
    ### BEGIN SOLUTION
    return (1 - beta) * state["z"] + beta * state["x"]
    ### END SOLUTION

# %% [tests] id=test_train_eval_visible points=1
# Visible tests (1 point): after each of 6 steps of the course's SGDScheduleFree(lr=0.1, momentum=0.9), given its z and x,
# eval gives x, train gives y, and both leave the state unchanged.
from reference_impl.testing import assert_close, fixed_gradients, quadratic
from reference_impl.optim import AdamWScheduleFree, SGDScheduleFree


def check_train_eval(reference_class, beta, steps, grads, param0, **hyper):
    """Step the course's optimizer; after every step give your functions its z and x, compare eval (x) and train (y)
    and check that the state is left as it was."""
    name = f"{reference_class.__name__}({', '.join(f'{k}={v!r}' for k, v in hyper.items())})"
    weight = torch.nn.Parameter(param0.clone())
    opt = reference_class([weight], **hyper)
    for k in range(steps):
        weight.grad = grads(weight.detach(), k).clone()
        opt.step()
        y = weight.detach().clone()
        opt.eval()
        x = weight.detach().clone()
        opt.train()
        z = opt.state[weight]["z"].detach().clone()
        state = {"z": z.clone(), "x": x.clone()}
        when = f"after step {k + 1} of {name}"
        assert_close(sf_eval_params(state), x, what=f"sf_eval_params(state) {when} (expected x)")
        assert_close(sf_train_params(state, beta), y, what=f"sf_train_params(state, beta={beta}) {when} (expected y)")
        for key, value in (("z", z), ("x", x)):
            assert key in state, f"sf_eval_params or sf_train_params removed state[{key!r}] {when}"
            assert_close(state[key], value, what=f"state[{key!r}] after sf_eval_params and sf_train_params {when} "
                                                 "(they must leave the state unchanged)")


check_train_eval(SGDScheduleFree, 0.9, 6, fixed_gradients(3, seed=120), torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64),
                 lr=0.1, momentum=0.9)
print("sf_eval_params, sf_train_params: visible tests passed")

# %% [tests] id=test_train_eval_sgd points=1
# Hidden tests (1 point): 40-60 steps of SGD with warm-up, r > 0 and a small momentum.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("10-schedule-free/test_train_eval_sgd", globals().get("TERM_SECRET"))

mu = h.uniform("momentum", 0.2, 0.4)
check_train_eval(SGDScheduleFree, mu, h.integer("steps", 40, 60), quadratic(6, seed=h.seed("quadratic")),
                 h.tensor("theta0", 6, low=0.5, high=1.5), lr=h.log_uniform("lr", 0.03, 0.07), momentum=mu,
                 warmup_steps=h.integer("warmup_steps", 3, 7), r=h.uniform("r", 0.5, 1.5))
### END HIDDEN TESTS

# %% [tests] id=test_train_eval_adamw points=1
# Hidden tests (1 point): 40-60 steps of AdamW with weight decay, and with other betas.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("10-schedule-free/test_train_eval_adamw", globals().get("TERM_SECRET"))

check_train_eval(AdamWScheduleFree, 0.9, h.integer("steps", 40, 60), quadratic(6, seed=h.seed("quadratic")),
                 h.tensor("theta0", 6, low=0.5, high=1.5), lr=h.log_uniform("lr", 0.03, 0.08), weight_decay=h.log_uniform("weight_decay", 0.05, 0.2))
betas_each = (h.uniform("beta1_each", 0.7, 0.9), h.uniform("beta2_each", 0.98, 0.995))
check_train_eval(AdamWScheduleFree, betas_each[0], h.integer("steps_each", 20, 40), quadratic(6, seed=h.seed("quadratic_each")),
                 h.tensor("theta0_each", 6, low=0.5, high=1.5), lr=h.log_uniform("lr_each", 0.03, 0.08), betas=betas_each)
### END HIDDEN TESTS
