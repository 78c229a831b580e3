# notebook: momentum.ipynb
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
# # Exercise: three ways to write momentum, and Nesterov
#
# This notebook goes with the chapter [Momentum](../../chapters/03-momentum.md). Momentum is written in several
# conventions that look different and are easy to get subtly wrong. You implement four of them:
#
# | function | what it computes | points |
# |---|---|---|
# | `heavy_ball_velocity_step` | heavy ball with a velocity that already contains the learning rate | 3 |
# | `ema_momentum_step` | momentum as an exponential moving average of the gradients | 3 |
# | `nesterov_step` | Nesterov momentum in the form `torch.optim.SGD(nesterov=True)` uses | 3 |
# | `nesterov_lookahead_step` | Nesterov momentum with the gradient taken at the look-ahead point | 3 |
# | (written) | in your own words: why the look-ahead damps oscillation; graded by hand | 1 |
#
# **How to work.** Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()`
# line), then run every cell. The test cell after each function checks it; a failure tells you what was
# expected, what your function returned, at which step and with which hyperparameters. Some test cells are empty
# in your copy: they hold hidden tests that run only when your notebook is graded. To check the whole notebook
# from a terminal, run `make check NB=exercises/03-momentum/momentum.ipynb` in the course repository: it exits
# with an error if any test fails.
#
# **Rules.** Use `torch` only. Your answers must not import or call anything from `reference_impl` (the course's
# reference implementations, which the tests compare you with) nor use `torch.optim`: the grader checks this
# outside the notebook. Do not edit or delete the test cells; they are restored before grading. You may update
# tensors in place or return new ones, as long as you return the new values.

# %% [setup]
import torch

# %% [markdown]
# ## 1. Heavy ball with a velocity (3 points)
#
# Polyak's heavy ball is often written with a *velocity* $v$ that already includes the learning rate:
#
# $$v_t = \mu\, v_{t-1} - \eta\, g_t, \qquad \theta_t = \theta_{t-1} + v_t, \qquad v_0 = 0,$$
#
# with $g_t$ the gradient at $\theta_{t-1}$. At a constant learning rate this is exactly PyTorch's heavy ball
# $b_t = \mu b_{t-1} + g_t$, $\theta_t = \theta_{t-1} - \eta b_t$ (check: $v_t = -\eta\, b_t$), so the tests
# compare your parameters with `torch.optim.SGD(lr=eta, momentum=mu)`. At the first step `velocity` is `None`:
# treat it as zero.

# %% [answer] id=heavy_ball_velocity_step
def heavy_ball_velocity_step(param, grad, velocity, lr, momentum):
    """One heavy-ball step in velocity form.

    Args:
        param: tensor, theta_{t-1}.
        grad: tensor, the gradient g_t at theta_{t-1}.
        velocity: tensor v_{t-1}, or None at the first step (meaning v_0 = 0).
        lr: float, the learning rate eta.
        momentum: float, mu.

    Returns:
        (new_param, new_velocity): theta_t = theta_{t-1} + v_t and v_t = mu * v_{t-1} - eta * g_t.
    """
    ### BEGIN SOLUTION
    if velocity is None:
        velocity = torch.zeros_like(param)
    new_velocity = momentum * velocity - lr * grad
    return param + new_velocity, new_velocity
    ### END SOLUTION

# %% [tests] id=test_heavy_ball_visible points=1
# Visible tests (1 point): five steps with lr=0.1, momentum=0.9 against torch-style SGD with momentum.
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_buffer
from reference_impl.optim import SGD

theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
assert_same_trajectory(with_buffer(heavy_ball_velocity_step, lr=0.1, momentum=0.9),
                       optimizer(SGD, lr=0.1, momentum=0.9), theta0, fixed_gradients(3, seed=11), steps=5)
print("heavy_ball_velocity_step: visible tests passed")

# %% [tests] id=test_heavy_ball_hidden points=2
# Hidden tests (2 points): 60-100 steps on an ill-conditioned quadratic for several momenta (0 included), float32,
# zero gradients.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, fixed_gradients, hidden_inputs, optimizer, quadratic, with_buffer
from reference_impl.optim import SGD

h = hidden_inputs("03-momentum/test_heavy_ball_hidden", globals().get("TERM_SECRET"))
grads = quadratic(6, seed=h.seed("quadratic"), condition=50.0)
for k, (lrs, mus) in enumerate([((0.005, 0.02), (0.85, 0.95)), ((0.015, 0.04), (0.4, 0.6)), ((0.001, 0.004), (0.97, 0.995)),
                                ((0.01, 0.035), (0.0, 0.0))]):
    lr, mu = h.log_uniform(f"lr{k}", *lrs), h.uniform(f"momentum{k}", *mus)
    assert_same_trajectory(with_buffer(heavy_ball_velocity_step, lr=lr, momentum=mu),
                           optimizer(SGD, lr=lr, momentum=mu), h.tensor(f"theta0_{k}", 6), grads,
                           steps=h.integer(f"steps{k}", 60, 100))
lr, mu = h.uniform("lr_float32", 0.05, 0.2), h.uniform("momentum_float32", 0.8, 0.95)
assert_same_trajectory(with_buffer(heavy_ball_velocity_step, lr=lr, momentum=mu),
                       optimizer(SGD, lr=lr, momentum=mu), h.tensor("theta0_float32", (2, 2), dtype=torch.float32),
                       fixed_gradients((2, 2), seed=h.seed("gradients_float32"), dtype=torch.float32, zero_steps=[0, 3]),
                       steps=h.integer("steps_float32", 5, 8), rtol=1e-5, atol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Momentum as a moving average (3 points)
#
# Many texts (and the course's slides, eq. 5) average the gradients instead of summing them:
#
# $$v_t = \beta\, v_{t-1} + (1-\beta)\, g_t, \qquad \theta_t = \theta_{t-1} - \eta\, v_t.$$
#
# The steps are $1/(1-\beta)$ times shorter than the heavy ball's at the same $\eta$ (ten times at
# $\beta = 0.9$). Implement it **the way PyTorch does** with `torch.optim.SGD(momentum=beta, dampening=beta)`:
# at the first step (`buf` is `None`) the average is *set* to the gradient, $v_1 = g_1$, not damped to
# $(1-\beta)\,g_1$.

# %% [answer] id=ema_momentum_step
def ema_momentum_step(param, grad, buf, lr, beta):
    """One step of momentum in moving-average (EMA) form, PyTorch's first-step convention.

    Args:
        param: tensor, theta_{t-1}.
        grad: tensor, the gradient g_t at theta_{t-1}.
        buf: tensor v_{t-1}, or None at the first step.
        lr: float, the learning rate eta.
        beta: float in [0, 1), the averaging factor.

    Returns:
        (new_param, new_buf): theta_t and v_t, with v_1 = g_1 and v_t = beta * v_{t-1} + (1 - beta) * g_t after.
    """
    ### BEGIN SOLUTION
    if buf is None:
        new_buf = grad.clone()
    else:
        new_buf = beta * buf + (1 - beta) * grad
    return param - lr * new_buf, new_buf
    ### END SOLUTION

# %% [tests] id=test_ema_visible points=1
# Visible tests (1 point): five steps with lr=0.5, beta=0.9 against SGD(momentum=0.9, dampening=0.9).
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_buffer
from reference_impl.optim import SGD

theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
assert_same_trajectory(with_buffer(ema_momentum_step, lr=0.5, beta=0.9),
                       optimizer(SGD, lr=0.5, momentum=0.9, dampening=0.9), theta0, fixed_gradients(3, seed=14),
                       steps=5)
print("ema_momentum_step: visible tests passed")

# %% [tests] id=test_ema_first_step points=1
# Hidden tests (1 point): the first step sets v_1 = g_1.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_close, hidden_inputs

h = hidden_inputs("03-momentum/test_ema_first_step", globals().get("TERM_SECRET"))
g = h.tensor("grad", 3, low=-2.0, high=2.0)
theta = h.tensor("theta", 3, low=0.5, high=1.5)
lr, beta = h.uniform("lr", 0.05, 0.5), h.uniform("beta", 0.5, 0.95)
new_theta, v1 = ema_momentum_step(theta.clone(), g.clone(), None, lr=lr, beta=beta)
assert_close(v1, g, what=f"ema_momentum_step(lr={lr}, beta={beta}): v_1 after the first step (expected v_1 = g_1)")
assert_close(new_theta, theta - lr * g, what=f"ema_momentum_step(lr={lr}, beta={beta}): parameter after the first step")
### END HIDDEN TESTS

# %% [tests] id=test_ema_trajectory points=1
# Hidden tests (1 point): 60-100 steps on a quadratic for several betas; beta=0 is gradient descent.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_buffer
from reference_impl.optim import SGD

h = hidden_inputs("03-momentum/test_ema_trajectory", globals().get("TERM_SECRET"))
grads = quadratic(5, seed=h.seed("quadratic"))
for k, (lrs, betas) in enumerate([((0.03, 0.08), (0.85, 0.95)), ((0.01, 0.04), (0.4, 0.6)), ((0.03, 0.08), (0.0, 0.0)),
                                  ((0.06, 0.15), (0.97, 0.995))]):
    lr, beta = h.log_uniform(f"lr{k}", *lrs), h.uniform(f"beta{k}", *betas)
    assert_same_trajectory(with_buffer(ema_momentum_step, lr=lr, beta=beta),
                           optimizer(SGD, lr=lr, momentum=beta, dampening=beta), h.tensor(f"theta0_{k}", 5),
                           grads, steps=h.integer(f"steps{k}", 60, 100))
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Nesterov momentum, PyTorch form (3 points)
#
# `torch.optim.SGD(nesterov=True)` keeps the heavy-ball buffer and steps along the gradient plus the *updated*
# buffer:
#
# $$b_t = \mu\, b_{t-1} + g_t \ (b_1 = g_1), \qquad \theta_t = \theta_{t-1} - \eta\,(g_t + \mu\, b_t).$$

# %% [answer] id=nesterov_step
def nesterov_step(param, grad, buf, lr, momentum):
    """One step of Nesterov momentum as torch.optim.SGD(nesterov=True, dampening=0) computes it.

    Args:
        param: tensor, theta_{t-1}.
        grad: tensor, the gradient g_t at theta_{t-1}.
        buf: tensor b_{t-1}, or None at the first step.
        lr: float, the learning rate eta.
        momentum: float, mu > 0.

    Returns:
        (new_param, new_buf): theta_t and b_t.
    """
    ### BEGIN SOLUTION
    new_buf = grad.clone() if buf is None else momentum * buf + grad
    return param - lr * (grad + momentum * new_buf), new_buf
    ### END SOLUTION

# %% [tests] id=test_nesterov_visible points=1
# Visible tests (1 point): five steps with lr=0.1, momentum=0.9 against SGD(nesterov=True).
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_buffer
from reference_impl.optim import SGD

theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
assert_same_trajectory(with_buffer(nesterov_step, lr=0.1, momentum=0.9),
                       optimizer(SGD, lr=0.1, momentum=0.9, nesterov=True), theta0, fixed_gradients(3, seed=16),
                       steps=5)
print("nesterov_step: visible tests passed")

# %% [tests] id=test_nesterov_hidden points=2
# Hidden tests (2 points): 60-100 steps on a quadratic for several momenta, a float32 matrix, zero gradients.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, fixed_gradients, hidden_inputs, optimizer, quadratic, with_buffer
from reference_impl.optim import SGD

h = hidden_inputs("03-momentum/test_nesterov_hidden", globals().get("TERM_SECRET"))
grads = quadratic(6, seed=h.seed("quadratic"), condition=50.0)
for k, (lrs, mus) in enumerate([((0.005, 0.02), (0.85, 0.95)), ((0.015, 0.04), (0.4, 0.6)), ((0.001, 0.004), (0.97, 0.995))]):
    lr, mu = h.log_uniform(f"lr{k}", *lrs), h.uniform(f"momentum{k}", *mus)
    assert_same_trajectory(with_buffer(nesterov_step, lr=lr, momentum=mu),
                           optimizer(SGD, lr=lr, momentum=mu, nesterov=True), h.tensor(f"theta0_{k}", 6), grads,
                           steps=h.integer(f"steps{k}", 60, 100))
lr, mu = h.uniform("lr_float32", 0.05, 0.2), h.uniform("momentum_float32", 0.8, 0.95)
assert_same_trajectory(with_buffer(nesterov_step, lr=lr, momentum=mu),
                       optimizer(SGD, lr=lr, momentum=mu, nesterov=True), h.tensor("theta0_float32", (3, 2), dtype=torch.float32),
                       fixed_gradients((3, 2), seed=h.seed("gradients_float32"), dtype=torch.float32, zero_steps=[2, 3]),
                       steps=h.integer("steps_float32", 5, 8), rtol=1e-5, atol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Nesterov momentum with a look-ahead (3 points)
#
# The textbook form takes the gradient at the point the momentum is about to carry us to:
#
# $$v_t = \mu\, v_{t-1} + \nabla f(\theta_{t-1} - \eta\,\mu\, v_{t-1}), \qquad \theta_t = \theta_{t-1} - \eta\, v_t,
# \qquad v_0 = 0.$$
#
# (The course's slides, eq. 9, put a plus sign in the look-ahead and leave out $\eta$: both are wrong, see the
# chapter.) Your function receives `grad_fn`, a function that returns the gradient at any point; call it once,
# at the look-ahead point. The tests check that the look-ahead points $\theta_t - \eta\mu v_t$ follow exactly
# the trajectory of `torch.optim.SGD(nesterov=True)`, which is this method written in those variables.

# %% [answer] id=nesterov_lookahead_step
def nesterov_lookahead_step(param, velocity, grad_fn, lr, momentum):
    """One step of Nesterov momentum in look-ahead form.

    Args:
        param: tensor, theta_{t-1}.
        velocity: tensor v_{t-1}, or None at the first step (meaning v_0 = 0).
        grad_fn: function mapping a tensor x (same shape as param) to the gradient of the loss at x.
        lr: float, the learning rate eta.
        momentum: float, mu.

    Returns:
        (new_param, new_velocity): theta_t and v_t.
    """
    ### BEGIN SOLUTION
    if velocity is None:
        velocity = torch.zeros_like(param)
    lookahead = param - lr * momentum * velocity
    new_velocity = momentum * velocity + grad_fn(lookahead)
    return param - lr * new_velocity, new_velocity
    ### END SOLUTION

# %% [tests] id=test_lookahead_visible points=1
# Visible tests (1 point): five steps with lr=0.02, momentum=0.9 on a quadratic; look-ahead points vs SGD(nesterov=True).
from reference_impl.testing import assert_close, quadratic
from reference_impl.optim import SGD


def check_lookahead(lr, momentum, steps, grads, theta0):
    hyper = f"lr={lr}, momentum={momentum}"
    ref = torch.nn.Parameter(theta0.clone())
    opt = SGD([ref], lr=lr, momentum=momentum, nesterov=True)
    theta, velocity = theta0.clone(), None
    for k in range(steps):
        theta, velocity = nesterov_lookahead_step(theta.clone(), velocity, lambda x: grads(x, k), lr=lr, momentum=momentum)
        assert isinstance(velocity, torch.Tensor), f"nesterov_lookahead_step({hyper}) must return (new_param, new_velocity)"
        ref.grad = grads(ref.detach(), k)
        opt.step()
        assert_close(theta - lr * momentum * velocity, ref.detach(),
                     what=f"nesterov_lookahead_step({hyper}): look-ahead point theta_t - lr*momentum*v_t after step {k + 1} of {steps}")


check_lookahead(0.02, 0.9, 5, quadratic(4, seed=19), torch.ones(4, dtype=torch.float64))
print("nesterov_lookahead_step: visible tests passed")

# %% [tests] id=test_lookahead_hidden points=2
# Hidden tests (2 points): 80-120 steps on an ill-conditioned quadratic for several momenta and learning rates.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("03-momentum/test_lookahead_hidden", globals().get("TERM_SECRET"))
grads = quadratic(6, seed=h.seed("quadratic"), condition=50.0)
for k, (lrs, mus) in enumerate([((0.005, 0.02), (0.85, 0.95)), ((0.015, 0.04), (0.4, 0.6)), ((0.0005, 0.002), (0.97, 0.995)),
                                ((0.01, 0.03), (0.2, 0.4))]):
    lr, mu = h.log_uniform(f"lr{k}", *lrs), h.uniform(f"momentum{k}", *mus)
    check_lookahead(lr, mu, h.integer(f"steps{k}", 80, 120), grads, h.tensor(f"theta0_{k}", 6))
### END HIDDEN TESTS

# %% [markdown]
# ## 5. In your own words (1 point)
#
# Answer in two to four sentences, in the cell below (it is graded by hand, not by a test): on a narrow valley,
# heavy ball overshoots the valley floor and oscillates across it. **Why does taking the gradient at the
# look-ahead point $\theta + \mu v$ damp that oscillation?**

# %% [written] id=written_lookahead points=1
# ### BEGIN SOLUTION
# The look-ahead point is where momentum is about to carry the parameters. When the velocity would take them past
# the valley floor, the gradient there already points back, so the correction is applied one step earlier than
# with heavy ball, which only feels the far wall after it has overshot. Written out on a quadratic, Nesterov's
# step is heavy ball plus a term proportional to the change of the gradient, $\mu(g_t - g_{t-1})$: a derivative
# term that opposes fast sign changes of the gradient, i.e. damping.
# ### END SOLUTION
