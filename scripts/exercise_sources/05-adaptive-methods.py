# notebook: adaptive_methods.ipynb
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
# # Exercise: AdaGrad, RMSprop and AdaDelta
#
# This notebook goes with the chapter [Adaptive methods](../../chapters/05-adaptive-methods.md). Adaptive methods
# divide each coordinate's step by a running measure of that coordinate's gradient size. You implement three of
# them exactly as PyTorch does, so that your functions reproduce `torch.optim.Adagrad`, `torch.optim.RMSprop`
# and `torch.optim.Adadelta` step for step:
#
# | function | what it computes | points |
# |---|---|---|
# | `adagrad_step` | AdaGrad, with learning-rate decay and an initial accumulator value | 3 |
# | `rmsprop_step` | RMSprop, plain, centered and with momentum | 4 |
# | `adadelta_step` | AdaDelta | 3 |
#
# All three functions have the same shape: `f(param, grad, state, **hyperparameters) -> new_param`. `state` is a
# dict that is **empty at the first step**; your function creates what it needs in it (running sums, averages,
# a step counter: the key names are yours) and updates it, and the same dict comes back at the next step. All
# operations are element-wise.
#
# **How to work.** Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()`
# line), then run every cell. The test cell after each function checks it; a failure tells you what was
# expected, what your function returned, at which step and with which hyperparameters. Some test cells are empty
# in your copy: they hold hidden tests that run only when your notebook is graded (long runs, other
# hyperparameters, zero gradients). To check the whole notebook from a terminal, run
# `make check NB=exercises/05-adaptive-methods/adaptive_methods.ipynb` in the course repository: it exits with
# an error if any test fails.
#
# **Rules.** Use `torch` only. Your answers must not import or call anything from `reference_impl` (the course's
# reference implementations, which the tests compare you with) nor use `torch.optim`: the grader checks this
# outside the notebook. Do not edit or delete the test cells; they are restored before grading.

# %% [setup]
import torch

# %% [markdown]
# ## 1. AdaGrad (3 points)
#
# AdaGrad sums the squared gradients and divides by the root of the sum; PyTorch puts $\epsilon$ *outside* the
# root and decays the learning rate with the step count $t$ (1 at the first step):
#
# $$r_t = r_{t-1} + g_t^2, \quad r_0 = \texttt{initial\_accumulator\_value}, \qquad
# \eta_t = \frac{\eta}{1 + (t-1)\,\texttt{lr\_decay}}, \qquad
# \theta_t = \theta_{t-1} - \eta_t\, \frac{g_t}{\sqrt{r_t} + \epsilon}.$$

# %% [answer] id=adagrad_step
def adagrad_step(param, grad, state, lr=1e-2, lr_decay=0.0, eps=1e-10, initial_accumulator_value=0.0):
    """One AdaGrad step, as torch.optim.Adagrad computes it (no weight decay).

    Args:
        param: tensor, theta_{t-1}.
        grad: tensor, the gradient g_t at theta_{t-1}.
        state: dict, empty at the first step; keep the sum r and the step count t in it.
        lr, lr_decay, eps, initial_accumulator_value: as in torch.optim.Adagrad.

    Returns:
        The new parameter theta_t.
    """
    ### BEGIN SOLUTION
    if not state:
        state["step"] = 0
        state["sum"] = torch.full_like(param, initial_accumulator_value)
    state["step"] += 1
    state["sum"] = state["sum"] + grad * grad
    clr = lr / (1 + (state["step"] - 1) * lr_decay)
    return param - clr * grad / (state["sum"].sqrt() + eps)
    ### END SOLUTION

# %% [tests] id=test_adagrad_visible points=1
# Visible tests (1 point): five steps with lr=0.1 (other arguments at their defaults) against torch-style Adagrad;
# then the traps of section 1: lr_decay=0.5 (the decay counts from t - 1), initial_accumulator_value=0.5 and a large
# eps=0.1 (where its place, outside the root, shows).
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_state_dict
from reference_impl.optim import Adagrad

theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
for hyper in [dict(lr=0.1), dict(lr=0.1, lr_decay=0.5, initial_accumulator_value=0.5, eps=0.1)]:
    assert_same_trajectory(with_state_dict(adagrad_step, **hyper), optimizer(Adagrad, **hyper), theta0,
                           fixed_gradients(3, seed=41), steps=5)
print("adagrad_step: visible tests passed")

# %% [tests] id=test_adagrad_hidden points=1
# Hidden tests (1 point): 50-70 steps on a quadratic with lr_decay, an initial accumulator and a large eps.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_state_dict
from reference_impl.optim import Adagrad

h = hidden_inputs("05-adaptive-methods/test_adagrad_hidden", globals().get("TERM_SECRET"))
grads = quadratic(5, seed=h.seed("quadratic"))
for k, hyper in enumerate([dict(lr=h.log_uniform("lr0", 0.3, 0.8)),
                           dict(lr=h.log_uniform("lr1", 0.3, 0.8), lr_decay=h.log_uniform("lr_decay1", 0.05, 0.2)),
                           dict(lr=h.log_uniform("lr2", 0.2, 0.5), initial_accumulator_value=h.log_uniform("initial2", 0.2, 1.0)),
                           dict(lr=h.log_uniform("lr3", 0.3, 0.8), eps=h.log_uniform("eps3", 0.05, 0.2)),
                           dict(lr=h.log_uniform("lr4", 0.6, 1.5), lr_decay=h.log_uniform("lr_decay4", 0.02, 0.1),
                                eps=h.log_uniform("eps4", 5e-4, 5e-3), initial_accumulator_value=h.log_uniform("initial4", 1.0, 3.0))]):
    assert_same_trajectory(with_state_dict(adagrad_step, **hyper), optimizer(Adagrad, **hyper),
                           h.tensor(f"theta0_{k}", 5, low=0.5, high=1.5), grads, steps=h.integer(f"steps{k}", 50, 70))
### END HIDDEN TESTS

# %% [tests] id=test_adagrad_edges points=1
# Hidden tests (1 point): zero gradients (a coordinate that never moves, a first step with no gradient), float32.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, fixed_gradients, hidden_inputs, optimizer, quadratic, with_state_dict
from reference_impl.optim import Adagrad

h = hidden_inputs("05-adaptive-methods/test_adagrad_edges", globals().get("TERM_SECRET"))
lr = h.log_uniform("lr", 0.3, 0.8)
assert_same_trajectory(with_state_dict(adagrad_step, lr=lr), optimizer(Adagrad, lr=lr),
                       h.tensor("theta0", 5, low=0.5, high=1.5), quadratic(5, seed=h.seed("quadratic"), zero=[1, 3]),
                       steps=h.integer("steps", 20, 40))
lr, lr_decay = h.log_uniform("lr_float32", 0.05, 0.2), h.log_uniform("lr_decay_float32", 0.1, 0.4)
assert_same_trajectory(with_state_dict(adagrad_step, lr=lr, lr_decay=lr_decay), optimizer(Adagrad, lr=lr, lr_decay=lr_decay),
                       h.tensor("theta0_float32", (2, 3), dtype=torch.float32),
                       fixed_gradients((2, 3), seed=h.seed("gradients_float32"), dtype=torch.float32, zero_steps=[0, 2]),
                       steps=h.integer("steps_float32", 5, 8), rtol=1e-5, atol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. RMSprop (4 points)
#
# RMSprop replaces AdaGrad's sum by an exponential moving average, so old gradients are forgotten. PyTorch's
# form (all averages start at zero, $\epsilon$ outside the root):
#
# $$v_t = \alpha\, v_{t-1} + (1-\alpha)\, g_t^2, \qquad
# \theta_t = \theta_{t-1} - \eta\, \frac{g_t}{\sqrt{v_t} + \epsilon}.$$
#
# * `centered=True` also averages the gradients, $\bar g_t = \alpha\,\bar g_{t-1} + (1-\alpha)\, g_t$, and divides
#   by $\sqrt{v_t - \bar g_t^2} + \epsilon$ (an estimate of the standard deviation instead of the root mean
#   square).
# * `momentum` $\mu > 0$ adds a buffer of the scaled steps, starting at zero:
#   $b_t = \mu\, b_{t-1} + g_t / (\text{denominator})$, $\theta_t = \theta_{t-1} - \eta\, b_t$.

# %% [answer] id=rmsprop_step
def rmsprop_step(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, centered=False):
    """One RMSprop step, as torch.optim.RMSprop computes it (no weight decay).

    Args:
        param: tensor, theta_{t-1}.
        grad: tensor, the gradient g_t at theta_{t-1}.
        state: dict, empty at the first step; keep the averages (and the momentum buffer) in it.
        lr, alpha, eps, momentum, centered: as in torch.optim.RMSprop.

    Returns:
        The new parameter theta_t.
    """
    ### BEGIN SOLUTION
    if not state:
        state["square_avg"] = torch.zeros_like(param)
        state["grad_avg"] = torch.zeros_like(param)
        state["momentum_buffer"] = torch.zeros_like(param)
    state["square_avg"] = alpha * state["square_avg"] + (1 - alpha) * grad * grad
    if centered:
        state["grad_avg"] = alpha * state["grad_avg"] + (1 - alpha) * grad
        denom = (state["square_avg"] - state["grad_avg"] ** 2).sqrt() + eps
    else:
        denom = state["square_avg"].sqrt() + eps
    if momentum > 0:
        state["momentum_buffer"] = momentum * state["momentum_buffer"] + grad / denom
        return param - lr * state["momentum_buffer"]
    return param - lr * grad / denom
    ### END SOLUTION

# %% [tests] id=test_rmsprop_visible points=1
# Visible tests (1 point): five steps with lr=0.01, alpha=0.9 against torch-style RMSprop, plain, centered=True and
# with momentum=0.5 (the two variants of section 2).
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_state_dict
from reference_impl.optim import RMSprop

theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
for hyper in [dict(lr=0.01, alpha=0.9), dict(lr=0.01, alpha=0.9, centered=True), dict(lr=0.01, alpha=0.9, momentum=0.5)]:
    assert_same_trajectory(with_state_dict(rmsprop_step, **hyper), optimizer(RMSprop, **hyper), theta0,
                           fixed_gradients(3, seed=45), steps=5)
print("rmsprop_step: visible tests passed")

# %% [tests] id=test_rmsprop_plain points=1
# Hidden tests (1 point): 50-70 steps on a quadratic, default alpha, large eps, zero-gradient coordinates.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_state_dict
from reference_impl.optim import RMSprop

h = hidden_inputs("05-adaptive-methods/test_rmsprop_plain", globals().get("TERM_SECRET"))
grads = quadratic(5, seed=h.seed("quadratic"), zero=[h.integer("zero", 0, 4)])
for k, hyper in enumerate([dict(lr=h.log_uniform("lr0", 0.005, 0.02)),
                           dict(lr=h.log_uniform("lr1", 0.01, 0.04), alpha=h.uniform("alpha1", 0.4, 0.6), eps=h.log_uniform("eps1", 0.05, 0.2)),
                           dict(lr=h.log_uniform("lr2", 0.005, 0.02), alpha=h.uniform("alpha2", 0.85, 0.95), eps=h.log_uniform("eps2", 5e-4, 5e-3))]):
    assert_same_trajectory(with_state_dict(rmsprop_step, **hyper), optimizer(RMSprop, **hyper),
                           h.tensor(f"theta0_{k}", 5, low=0.5, high=1.5), grads, steps=h.integer(f"steps{k}", 50, 70))
### END HIDDEN TESTS

# %% [tests] id=test_rmsprop_centered points=1
# Hidden tests (1 point): centered RMSprop, 50-70 steps, two settings.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_state_dict
from reference_impl.optim import RMSprop

h = hidden_inputs("05-adaptive-methods/test_rmsprop_centered", globals().get("TERM_SECRET"))
grads = quadratic(5, seed=h.seed("quadratic"))
for k, hyper in enumerate([dict(lr=h.log_uniform("lr0", 0.005, 0.02), centered=True),
                           dict(lr=h.log_uniform("lr1", 0.01, 0.04), alpha=h.uniform("alpha1", 0.7, 0.9), eps=h.log_uniform("eps1", 5e-4, 5e-3),
                                centered=True)]):
    assert_same_trajectory(with_state_dict(rmsprop_step, **hyper), optimizer(RMSprop, **hyper),
                           h.tensor(f"theta0_{k}", 5, low=0.5, high=1.5), grads, steps=h.integer(f"steps{k}", 50, 70))
### END HIDDEN TESTS

# %% [tests] id=test_rmsprop_momentum points=1
# Hidden tests (1 point): RMSprop with momentum, plain and centered, 50-70 steps.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_state_dict
from reference_impl.optim import RMSprop

h = hidden_inputs("05-adaptive-methods/test_rmsprop_momentum", globals().get("TERM_SECRET"))
grads = quadratic(5, seed=h.seed("quadratic"))
for k, hyper in enumerate([dict(lr=h.log_uniform("lr0", 0.003, 0.008), momentum=h.uniform("momentum0", 0.85, 0.95)),
                           dict(lr=h.log_uniform("lr1", 0.003, 0.008), alpha=h.uniform("alpha1", 0.85, 0.95),
                                momentum=h.uniform("momentum1", 0.4, 0.6), centered=True)]):
    assert_same_trajectory(with_state_dict(rmsprop_step, **hyper), optimizer(RMSprop, **hyper),
                           h.tensor(f"theta0_{k}", 5, low=0.5, high=1.5), grads, steps=h.integer(f"steps{k}", 50, 70))
### END HIDDEN TESTS

# %% [markdown]
# ## 3. AdaDelta (3 points)
#
# AdaDelta (Zeiler 2012) keeps a second average, of the squared *updates*, and uses its root in the numerator,
# so the step has the units of the parameters. With both averages starting at zero:
#
# $$\begin{aligned}
# E[g^2]_t &= \rho\, E[g^2]_{t-1} + (1-\rho)\, g_t^2, \\
# \Delta_t &= \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\; g_t, \\
# E[\Delta^2]_t &= \rho\, E[\Delta^2]_{t-1} + (1-\rho)\, \Delta_t^2, \\
# \theta_t &= \theta_{t-1} - \eta\, \Delta_t .
# \end{aligned}$$
#
# Note the indices: the numerator uses the update average of the *previous* step. The paper has no learning rate;
# PyTorch multiplies by `lr` (default 1.0). Here $\epsilon$ sits *inside* both roots, as in the paper and PyTorch.

# %% [answer] id=adadelta_step
def adadelta_step(param, grad, state, lr=1.0, rho=0.9, eps=1e-6):
    """One AdaDelta step, as torch.optim.Adadelta computes it (no weight decay).

    Args:
        param: tensor, theta_{t-1}.
        grad: tensor, the gradient g_t at theta_{t-1}.
        state: dict, empty at the first step; keep both running averages in it.
        lr, rho, eps: as in torch.optim.Adadelta.

    Returns:
        The new parameter theta_t.
    """
    ### BEGIN SOLUTION
    if not state:
        state["square_avg"] = torch.zeros_like(param)
        state["acc_delta"] = torch.zeros_like(param)
    state["square_avg"] = rho * state["square_avg"] + (1 - rho) * grad * grad
    delta = (state["acc_delta"] + eps).sqrt() / (state["square_avg"] + eps).sqrt() * grad
    state["acc_delta"] = rho * state["acc_delta"] + (1 - rho) * delta * delta
    return param - lr * delta
    ### END SOLUTION

# %% [tests] id=test_adadelta_visible points=1
# Visible tests (1 point): five steps with the defaults (lr=1.0, rho=0.9, eps=1e-6), then with lr=0.5 (PyTorch's
# learning rate), against torch-style Adadelta.
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_state_dict
from reference_impl.optim import Adadelta

theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
for hyper in [dict(), dict(lr=0.5)]:
    assert_same_trajectory(with_state_dict(adadelta_step, **hyper), optimizer(Adadelta, **hyper), theta0,
                           fixed_gradients(3, seed=49), steps=5)
print("adadelta_step: visible tests passed")

# %% [tests] id=test_adadelta_hidden points=1
# Hidden tests (1 point): 80-120 steps on a quadratic with the defaults and with other lr, rho and eps.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_state_dict
from reference_impl.optim import Adadelta

h = hidden_inputs("05-adaptive-methods/test_adadelta_hidden", globals().get("TERM_SECRET"))
grads = quadratic(5, seed=h.seed("quadratic"))
for k, hyper in enumerate([dict(), dict(lr=h.uniform("lr1", 0.3, 0.7), rho=h.uniform("rho1", 0.4, 0.6)),
                           dict(lr=h.uniform("lr2", 1.5, 3.0), rho=h.uniform("rho2", 0.92, 0.97), eps=h.log_uniform("eps2", 5e-4, 5e-3)),
                           dict(eps=h.log_uniform("eps3", 0.05, 0.2))]):
    assert_same_trajectory(with_state_dict(adadelta_step, **hyper), optimizer(Adadelta, **hyper),
                           h.tensor(f"theta0_{k}", 5, low=0.5, high=1.5), grads, steps=h.integer(f"steps{k}", 80, 120))
### END HIDDEN TESTS

# %% [tests] id=test_adadelta_edges points=1
# Hidden tests (1 point): zero gradients (a coordinate that never moves, steps with no gradient), float32.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, fixed_gradients, hidden_inputs, optimizer, quadratic, with_state_dict
from reference_impl.optim import Adadelta

h = hidden_inputs("05-adaptive-methods/test_adadelta_edges", globals().get("TERM_SECRET"))
rho = h.uniform("rho", 0.7, 0.9)
assert_same_trajectory(with_state_dict(adadelta_step, lr=1.0, rho=rho), optimizer(Adadelta, lr=1.0, rho=rho),
                       h.tensor("theta0", 5, low=0.5, high=1.5), quadratic(5, seed=h.seed("quadratic"), zero=[0, 4]),
                       steps=h.integer("steps", 30, 50))
eps = h.log_uniform("eps_float32", 5e-4, 5e-3)
assert_same_trajectory(with_state_dict(adadelta_step, eps=eps), optimizer(Adadelta, eps=eps),
                       h.tensor("theta0_float32", (3, 2), dtype=torch.float32),
                       fixed_gradients((3, 2), seed=h.seed("gradients_float32"), dtype=torch.float32, zero_steps=[0, 3]),
                       steps=h.integer("steps_float32", 5, 8), rtol=1e-5, atol=1e-6)
### END HIDDEN TESTS
