# notebook: lion_lamb.ipynb
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
# # Exercise: Lion and LAMB
#
# This notebook goes with the chapter [Lion and LAMB](../../chapters/07-lion-lamb.md). Lion takes the *sign* of an
# interpolation between its momentum and the gradient, so every coordinate moves by exactly the learning rate;
# LAMB takes Adam's direction and rescales it per tensor ("layer") so that the layer moves by a fixed fraction of
# its own norm. You implement both, so that your functions reproduce the course's `Lion` (which matches the
# authors' `lion-pytorch` step for step) and `Lamb` (Algorithm 2 of You et al., 2020):
#
# | function | what it computes | points |
# |---|---|---|
# | `lion_step` | one Lion step, with decoupled weight decay | 5 |
# | `lamb_trust_ratio` | LAMB's trust ratio $\lVert\theta\rVert / \lVert r\rVert$ (1 when a norm is 0) | 2 |
# | `lamb_step` | one LAMB step | 5 |
#
# **How to work.** Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()`
# line), then run every cell. The test cell after each function checks it; a failure tells you what was
# expected, what your function returned, at which step and with which hyperparameters. Some test cells are empty
# in your copy: they hold hidden tests that run only when your notebook is graded (long runs, other
# hyperparameters, zero gradients, weight decay on and off). To check the whole notebook from a terminal, run
# `make check NB=exercises/07-lion-lamb/lion_lamb.ipynb` in the course repository: it exits with an error if
# any test fails.
#
# **Rules.** Use `torch` only. Your answers must not import or call anything from `reference_impl` (the course's
# reference implementations, which the tests compare you with) nor use `torch.optim`: the grader checks this
# outside the notebook. Do not edit or delete the test cells; they are restored before grading. You may update
# tensors in place or return new ones, as long as you return the new values.

# %% [setup]
import torch

# %% [markdown]
# ## 1. Lion (5 points)
#
# Lion keeps one state tensor, the momentum $m$ ($m_0 = 0$). With the gradient $g_t = \nabla f(\theta_{t-1})$,
# the learning rate $\eta$, the two betas $\beta_1, \beta_2$ and the decoupled weight decay $\lambda$, one step is
# (element-wise, $\operatorname{sign}(0) = 0$):
#
# $$\begin{aligned}
# c_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t && \text{(the direction of this step)} \\
# \theta_t &= \theta_{t-1} - \eta\,\big(\operatorname{sign}(c_t) + \lambda\,\theta_{t-1}\big) \\
# m_t &= \beta_2 m_{t-1} + (1-\beta_2)\, g_t && \text{(the momentum kept for the next step)}
# \end{aligned}$$
#
# The order matters: $c_t$ uses the *old* momentum $m_{t-1}$, and the momentum is an average of raw gradients,
# not of their signs. The two betas have two roles ($\beta_1$ mixes the current gradient into this step,
# $\beta_2$ sets how long the momentum remembers); the slides' single-beta version, $\operatorname{sign}(m_t)$,
# is a different method.
#
# `buf` is $m_{t-1}$: `None` at the first step (treat it as zeros). Return the pair `(new_param, new_buf)`.

# %% [answer] id=lion_step
def lion_step(param, grad, buf, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
    """One Lion step, as the authors' Lion (lion-pytorch) computes it.

    Args:
        param: tensor, theta_{t-1}.
        grad: tensor, the gradient of the loss at theta_{t-1}.
        buf: tensor m_{t-1}, or None at the first step (zeros).
        lr: learning rate eta.
        betas: (beta1, beta2): the interpolation of this step and the decay of the momentum.
        weight_decay: decoupled decay lambda (theta is multiplied by 1 - lr * weight_decay).

    Returns:
        (new_param, new_buf): theta_t and m_t.
    """
    ### BEGIN SOLUTION
    beta1, beta2 = betas
    if buf is None:
        buf = torch.zeros_like(param)
    c = beta1 * buf + (1 - beta1) * grad
    new_param = param - lr * (torch.sign(c) + weight_decay * param)
    new_buf = beta2 * buf + (1 - beta2) * grad
    return new_param, new_buf
    ### END SOLUTION

# %% [tests] id=test_lion_visible points=1
# Visible tests (1 point): five steps with lr=0.1, betas=(0.9, 0.99), no decay, against the course's Lion; then the
# traps of section 1: ten steps with beta1 > beta2 and weight_decay=0.5 (where the order of the two averages, the
# momentum of raw gradients and the decay's lr show).
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_buffer
from reference_impl.optim import Lion

theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
for hyper, grads, steps in [(dict(lr=0.1, betas=(0.9, 0.99)), fixed_gradients(3, seed=71), 5),
                            (dict(lr=0.1, betas=(0.9, 0.5), weight_decay=0.5), fixed_gradients(3, seed=72), 10)]:
    assert_same_trajectory(with_buffer(lion_step, **hyper), optimizer(Lion, **hyper), theta0, grads, steps=steps)
print("lion_step: visible tests passed")

# %% [tests] id=test_lion_first_step points=1
# Hidden tests (1 point): the first step is -lr * sign(g) (plus decay); a zero gradient does not move.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_close, hidden_inputs

h = hidden_inputs("07-lion-lamb/test_lion_first_step", globals().get("TERM_SECRET"))
# two ordinary gradients, a zero one and a tiny one (its sign still counts)
g = torch.cat([h.tensor("grad", 2, low=-3.0, high=3.0), torch.zeros(1, dtype=torch.float64),
               h.tensor("tiny_grad", 1, low=1e-7, high=1e-5)])
theta = h.tensor("theta", 4, low=-2.0, high=2.0)
lr, betas = h.log_uniform("lr", 0.003, 0.03), (h.uniform("beta1", 0.8, 0.95), h.uniform("beta2", 0.97, 0.999))
for wd in (0.0, h.uniform("weight_decay", 0.2, 1.0)):
    new, m = lion_step(theta.clone(), g.clone(), None, lr=lr, betas=betas, weight_decay=wd)
    assert_close(new, theta * (1 - lr * wd) - lr * torch.sign(g),
                 what=f"lion_step(lr={lr}, betas={betas}, weight_decay={wd}): parameter after the first step "
                      "(expected theta * (1 - lr * weight_decay) - lr * sign(g))")
    assert_close(m, (1 - betas[1]) * g, what=f"lion_step(lr={lr}, betas={betas}): momentum after the first step "
                                             "(expected (1 - beta2) * g)")
### END HIDDEN TESTS

# %% [tests] id=test_lion_trajectory points=2
# Hidden tests (2 points): 80-120 steps on a quadratic with several lr and betas (beta1 > beta2 and beta1 = 0
# included), with and without decay.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_buffer
from reference_impl.optim import Lion

h = hidden_inputs("07-lion-lamb/test_lion_trajectory", globals().get("TERM_SECRET"))
grads = quadratic(6, seed=h.seed("quadratic"), noise=0.5)
u = h.uniform
for k, hyper in enumerate([dict(lr=h.log_uniform("lr0", 0.005, 0.02)),
                           dict(lr=h.log_uniform("lr1", 0.01, 0.04), betas=(u("beta1_1", 0.4, 0.6), u("beta2_1", 0.85, 0.95))),
                           dict(lr=h.log_uniform("lr2", 0.005, 0.02), betas=(u("beta1_2", 0.97, 0.995), u("beta2_2", 0.7, 0.9))),
                           dict(lr=h.log_uniform("lr3", 0.005, 0.02), betas=(u("beta1_3", 0.85, 0.95), u("beta2_3", 0.97, 0.995)),
                                weight_decay=h.log_uniform("weight_decay3", 0.5, 2.0)),
                           dict(lr=h.log_uniform("lr4", 0.003, 0.008), betas=(0.0, u("beta2_4", 0.4, 0.6)),
                                weight_decay=h.log_uniform("weight_decay4", 0.05, 0.2))]):
    assert_same_trajectory(with_buffer(lion_step, **hyper), optimizer(Lion, **hyper),
                           h.tensor(f"theta0_{k}", 6, low=0.5, high=1.5), grads, steps=h.integer(f"steps{k}", 80, 120))
### END HIDDEN TESTS

# %% [tests] id=test_lion_zero_gradients points=1
# Hidden tests (1 point): steps with zero gradients move by the sign of the momentum; float32 parameters of shape (2, 3).
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, fixed_gradients, hidden_inputs, optimizer, with_buffer
from reference_impl.optim import Lion

h = hidden_inputs("07-lion-lamb/test_lion_zero_gradients", globals().get("TERM_SECRET"))
grads = fixed_gradients(4, seed=h.seed("gradients"), zero_steps=[0, 3, 4])
for k, hyper in enumerate([dict(lr=h.uniform("lr0", 0.05, 0.2), betas=(h.uniform("beta1_0", 0.85, 0.95), h.uniform("beta2_0", 0.97, 0.995))),
                           dict(lr=h.uniform("lr1", 0.05, 0.2), betas=(h.uniform("beta1_1", 0.2, 0.4), h.uniform("beta2_1", 0.5, 0.7)),
                                weight_decay=h.uniform("weight_decay1", 0.1, 0.4))]):
    assert_same_trajectory(with_buffer(lion_step, **hyper), optimizer(Lion, **hyper),
                           h.tensor(f"theta0_{k}", 4, low=0.5, high=1.5), grads, steps=h.integer(f"steps{k}", 7, 10))
lr = h.uniform("lr_float32", 0.05, 0.2)
assert_same_trajectory(with_buffer(lion_step, lr=lr), optimizer(Lion, lr=lr), h.tensor("theta0_float32", (2, 3), dtype=torch.float32),
                       fixed_gradients((2, 3), seed=h.seed("gradients_float32"), dtype=torch.float32, zero_steps=[2]),
                       steps=h.integer("steps_float32", 6, 10), rtol=1e-5, atol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. LAMB's trust ratio (2 points)
#
# LAMB rescales a proposed update $r$ of one parameter tensor $\theta$ by the **trust ratio**
#
# $$\rho = \begin{cases} \lVert\theta\rVert_2 / \lVert r\rVert_2 & \text{if both norms are } > 0 \\
# 1 & \text{otherwise,} \end{cases}$$
#
# with the Euclidean norm of the whole tensor (all its elements, whatever its shape). No clamping, no $\epsilon$.
# Return $\rho$ as a Python float (a 0-dimensional tensor is accepted too).

# %% [answer] id=lamb_trust_ratio
def lamb_trust_ratio(param, update):
    """LAMB's trust ratio ||param|| / ||update|| over the whole tensor, or 1.0 if either norm is 0.

    Args:
        param: tensor theta (any shape).
        update: tensor r, same shape.

    Returns:
        The trust ratio rho (a float).
    """
    ### BEGIN SOLUTION
    param_norm = torch.linalg.vector_norm(param)
    update_norm = torch.linalg.vector_norm(update)
    if param_norm > 0 and update_norm > 0:
        return (param_norm / update_norm).item()
    return 1.0
    ### END SOLUTION

# %% [tests] id=test_trust_ratio_visible points=1
# Visible tests (1 point): a vector, a matrix (norm over all its elements), a zero parameter (trust ratio 1).
import math

def check_ratio(param, update, expected):
    got = lamb_trust_ratio(param.clone(), update.clone())
    got = float(got)
    assert math.isclose(got, expected, rel_tol=1e-9), (
        f"lamb_trust_ratio(param={param.tolist()}, update={update.tolist()}): expected {expected:.10g}, "
        f"got {got:.10g}")

check_ratio(torch.tensor([3.0, 4.0], dtype=torch.float64), torch.tensor([1.0, -1.0], dtype=torch.float64),
            5 / math.sqrt(2))
check_ratio(torch.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=torch.float64),
            torch.tensor([[0.5, 0.0], [0.0, 0.0]], dtype=torch.float64), 10.0)
check_ratio(torch.zeros(3, dtype=torch.float64), torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64), 1.0)
print("lamb_trust_ratio: visible tests passed")

# %% [tests] id=test_trust_ratio_zero points=1
# Hidden tests (1 point): a zero parameter or a zero update gives 1; tiny and huge norms.
### BEGIN HIDDEN TESTS
import math

def check_ratio(param, update, expected):
    got = lamb_trust_ratio(param.clone(), update.clone())
    got = float(got)
    assert math.isclose(got, expected, rel_tol=1e-9), (
        f"lamb_trust_ratio(param={param.tolist()}, update={update.tolist()}): expected {expected:.10g}, "
        f"got {got:.10g}")

from reference_impl.testing import hidden_inputs

h = hidden_inputs("07-lion-lamb/test_trust_ratio_zero", globals().get("TERM_SECRET"))
n = h.integer("size", 2, 6)
zeros = torch.zeros(n, dtype=torch.float64)
check_ratio(zeros, h.tensor("update", n, low=0.5, high=2.0), 1.0)
check_ratio(h.tensor("param", n, low=-2.0, high=2.0), zeros, 1.0)
check_ratio(zeros, zeros, 1.0)
ones = torch.ones(n, dtype=torch.float64)
tiny, huge = h.log_uniform("tiny", 1e-4, 1e-2), h.log_uniform("huge", 1e2, 1e4)
check_ratio(tiny * ones, huge * ones, tiny / huge)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. LAMB (5 points)
#
# With the step count $t$ (1 at the first step), $m_0 = v_0 = 0$, element-wise products and quotients, and the
# trust ratio $\rho$ of section 2 (you may call your `lamb_trust_ratio`: the LAMB tests accept a `lamb_step` that
# is right *given your `lamb_trust_ratio`*, so a bug there costs only `lamb_trust_ratio`'s points):
#
# $$\begin{aligned}
# m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
# \hat m_t &= \frac{m_t}{1-\beta_1^t}, \qquad \hat v_t = \frac{v_t}{1-\beta_2^t} \\
# r_t &= \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} + \lambda\,\theta_{t-1} \\
# \theta_t &= \theta_{t-1} - \eta\, \rho(\theta_{t-1}, r_t)\, r_t.
# \end{aligned}$$
#
# The weight decay $\lambda\theta_{t-1}$ is added to Adam's direction *before* the trust ratio (it is not added
# to the gradient, and it is not applied separately). `param` is one tensor (one "layer"): one trust ratio for
# the whole tensor. `state` is a dict that is **empty at the first step**; keep $t, m, v$ in it (the key names
# are yours).

# %% [answer] id=lamb_step
def lamb_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):
    """One LAMB step for one parameter tensor (Algorithm 2 of You et al., 2020, phi = identity).

    Args:
        param: tensor, theta_{t-1}.
        grad: tensor, the gradient of the loss at theta_{t-1}.
        state: dict, empty at the first step; keep t, m, v in it.
        lr: learning rate eta (the fraction of its norm the tensor moves per step).
        betas: (beta1, beta2) of the moments.
        eps: added to sqrt(v_hat).
        weight_decay: lambda, added to Adam's direction inside the trust ratio.

    Returns:
        The new parameter theta_t.
    """
    ### BEGIN SOLUTION
    beta1, beta2 = betas
    if not state:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(param)
        state["exp_avg_sq"] = torch.zeros_like(param)
    state["step"] += 1
    t = state["step"]
    state["exp_avg"] = beta1 * state["exp_avg"] + (1 - beta1) * grad
    state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad * grad
    m_hat = state["exp_avg"] / (1 - beta1 ** t)
    v_hat = state["exp_avg_sq"] / (1 - beta2 ** t)
    update = m_hat / (v_hat.sqrt() + eps) + weight_decay * param
    return param - lr * lamb_trust_ratio(param, update) * update
    ### END SOLUTION

# %% [tests] id=test_lamb_visible points=1
# Visible tests (1 point): five steps with lr=0.1, betas=(0.9, 0.999), eps=1e-6, without and with weight_decay=0.5
# (where its place, in the direction before the trust ratio, shows) against the course's Lamb, or against LAMB computed
# with your lamb_trust_ratio (so that a bug there is not counted twice).
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_state_dict
from reference_impl.optim import Lamb, adam_update


def lamb_from_your_trust_ratio(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):
    """LAMB built on your lamb_trust_ratio: if lamb_step calls a faulty lamb_trust_ratio, only its tests lose points."""
    if not state:
        state.update(step=0, exp_avg=torch.zeros_like(param), exp_avg_sq=torch.zeros_like(param))
    state["step"] += 1
    direction = torch.zeros_like(param)   # the course's Adam step of lr = -1 from 0 is m_hat / (sqrt(v_hat) + eps)
    adam_update(direction, grad, state["exp_avg"], state["exp_avg_sq"], None, step=state["step"], lr=-1.0,
                beta1=betas[0], beta2=betas[1], eps=eps)
    update = direction + weight_decay * param
    return param - lr * lamb_trust_ratio(param.clone(), update.clone()) * update


theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
for hyper in [dict(lr=0.1, betas=(0.9, 0.999), eps=1e-6), dict(lr=0.1, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.5)]:
    assert_same_trajectory(with_state_dict(lamb_step, **hyper), optimizer(Lamb, **hyper), theta0,
                           fixed_gradients(3, seed=75), steps=5,
                           built_on=with_state_dict(lamb_from_your_trust_ratio, **hyper))
print("lamb_step: visible tests passed")

# %% [tests] id=test_lamb_first_step points=1
# Hidden tests (1 point): the first step moves the tensor by exactly lr * ||theta||; a zero tensor takes a plain Adam step.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, with_state_dict

h = hidden_inputs("07-lion-lamb/test_lamb_first_step", globals().get("TERM_SECRET"))
g = h.tensor("grad", 4, low=-3.0, high=3.0)
theta = h.tensor("theta", 4, low=-2.0, high=2.0)
lr, betas, eps = h.log_uniform("lr", 0.003, 0.03), (h.uniform("beta1", 0.8, 0.95), h.uniform("beta2", 0.99, 0.9999, digits=4)), h.log_uniform("eps", 1e-7, 1e-5)
r = g / (g.abs() + eps)
zero = torch.zeros(4, dtype=torch.float64)
wd = h.uniform("weight_decay", 0.05, 0.5)
for start, hyper, expected, why in [
        (theta, dict(lr=lr, betas=betas, eps=eps), theta - lr * theta.norm() / r.norm() * r,
         "expected theta - lr * ||theta|| / ||r|| * r with r = g / (|g| + eps)"),
        (zero, dict(lr=lr, betas=betas, eps=eps, weight_decay=wd), -lr * r,
         "from theta = 0, trust ratio 1: expected -lr * g / (|g| + eps)")]:
    first_step = with_state_dict(lamb_step, **hyper)
    first_step.function += f" ({why})"
    # the closed form, or LAMB computed with your lamb_trust_ratio (a bug there costs only its own points)
    assert_same_trajectory(first_step, lambda param, grad, state, expected=expected: (expected, state), start,
                           lambda param, k: g, steps=1, built_on=with_state_dict(lamb_from_your_trust_ratio, **hyper))
### END HIDDEN TESTS

# %% [tests] id=test_lamb_trajectory points=2
# Hidden tests (2 points): 80-120 steps on a quadratic with several lr, betas and eps, with and without weight decay.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_state_dict
from reference_impl.optim import Lamb

h = hidden_inputs("07-lion-lamb/test_lamb_trajectory", globals().get("TERM_SECRET"))
grads = quadratic(6, seed=h.seed("quadratic"))
u, lu = h.uniform, h.log_uniform
for k, hyper in enumerate([dict(lr=lu("lr0", 0.005, 0.02)), dict(lr=lu("lr1", 0.03, 0.08), betas=(u("beta1_1", 0.4, 0.6), u("beta2_1", 0.85, 0.95))),
                           dict(lr=lu("lr2", 0.01, 0.04), eps=lu("eps2", 0.05, 0.2)),
                           dict(lr=lu("lr3", 0.01, 0.04), weight_decay=lu("weight_decay3", 0.2, 1.0)),
                           dict(lr=lu("lr4", 0.005, 0.02), betas=(u("beta1_4", 0.7, 0.9), u("beta2_4", 0.98, 0.995)),
                                eps=lu("eps4", 5e-4, 5e-3), weight_decay=lu("weight_decay4", 1.0, 3.0))]):
    assert_same_trajectory(with_state_dict(lamb_step, **hyper), optimizer(Lamb, **hyper),
                           h.tensor(f"theta0_{k}", 6, low=0.5, high=1.5), grads, steps=h.integer(f"steps{k}", 80, 120),
                           built_on=with_state_dict(lamb_from_your_trust_ratio, **hyper))
### END HIDDEN TESTS

# %% [tests] id=test_lamb_edges points=1
# Hidden tests (1 point): zero gradients at some steps, a zero initial tensor, a matrix parameter, float32.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, fixed_gradients, hidden_inputs, optimizer, with_state_dict
from reference_impl.optim import Lamb

h = hidden_inputs("07-lion-lamb/test_lamb_edges", globals().get("TERM_SECRET"))
lr, wd = h.uniform("lr_zero_grad", 0.05, 0.2), h.uniform("weight_decay_zero_grad", 0.1, 0.5)
assert_same_trajectory(with_state_dict(lamb_step, lr=lr, weight_decay=wd), optimizer(Lamb, lr=lr, weight_decay=wd),
                       h.tensor("theta0_zero_grad", 4, low=0.5, high=1.5),
                       fixed_gradients(4, seed=h.seed("gradients_zero_grad"), zero_steps=[0, 1, 4]), steps=h.integer("steps_zero_grad", 7, 10),
                       built_on=with_state_dict(lamb_from_your_trust_ratio, lr=lr, weight_decay=wd))
lr = h.uniform("lr_zero_init", 0.05, 0.2)
assert_same_trajectory(with_state_dict(lamb_step, lr=lr), optimizer(Lamb, lr=lr), torch.zeros(3, 2, dtype=torch.float64),
                       fixed_gradients((3, 2), seed=h.seed("gradients_zero_init")), steps=h.integer("steps_zero_init", 8, 12),
                       built_on=with_state_dict(lamb_from_your_trust_ratio, lr=lr))
lr = h.uniform("lr_float32", 0.02, 0.1)
assert_same_trajectory(with_state_dict(lamb_step, lr=lr), optimizer(Lamb, lr=lr), h.tensor("theta0_float32", (2, 3), dtype=torch.float32),
                       fixed_gradients((2, 3), seed=h.seed("gradients_float32"), dtype=torch.float32),
                       steps=h.integer("steps_float32", 6, 10), rtol=1e-5, atol=1e-6,
                       built_on=with_state_dict(lamb_from_your_trust_ratio, lr=lr))
### END HIDDEN TESTS
