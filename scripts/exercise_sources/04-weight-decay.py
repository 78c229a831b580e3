# notebook: weight_decay.ipynb
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
# # Exercise: L2 penalty versus decoupled weight decay
#
# This notebook goes with the chapter [Weight decay](../../chapters/04-weight-decay.md). Weight decay can enter an
# optimizer in two places: added to the gradient (an L2 penalty), or applied to the parameters directly
# (decoupled). For plain SGD the two coincide; with momentum, and above all with Adam, they do not. You write
# both, for SGD with momentum and for Adam:
#
# | function | what it computes | points |
# |---|---|---|
# | `sgd_l2_step` | SGD with momentum and an L2 penalty (`torch.optim.SGD(weight_decay=...)`) | 3 |
# | `sgd_decoupled_step` | SGD with momentum and decoupled decay | 3 |
# | `adam_l2_step` | Adam with an L2 penalty (`torch.optim.Adam(weight_decay=...)`) | 3 |
# | `adam_decoupled_step` | Adam with decoupled decay, i.e. AdamW (`torch.optim.AdamW`) | 3 |
#
# **How to work.** Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()`
# line), then run every cell. The test cell after each function checks it; a failure tells you what was
# expected, what your function returned, at which step and with which hyperparameters. Some test cells are empty
# in your copy: they hold hidden tests that run only when your notebook is graded. To check the whole notebook
# from a terminal, run `make check NB=exercises/04-weight-decay/weight_decay.ipynb` in the course repository: it
# exits with an error if any test fails.
#
# **Rules.** Use `torch` and the helper `adam_direction` given below. Your answers must not import or call
# anything from `reference_impl` (the course's reference implementations, which the tests compare you with): the
# grader checks this outside the notebook. Do not edit or delete the test cells or the cell with the helper; they
# are restored before grading. You may update tensors in place or return new ones, as long as you return the new
# values.

# %% [markdown]
# The Adam part of this exercise is about *where the decay goes*, so the Adam direction itself is given (you
# write Adam from scratch in the exercise of chapter 6). `adam_direction(grad, state, betas, eps)` updates the
# moment estimates kept in the dict `state` (empty before the first step) with `grad` and returns
# $\hat m_t / (\sqrt{\hat v_t} + \epsilon)$.

# %% [setup]
import torch


def adam_direction(grad, state, betas, eps):
    """Update Adam's moments in `state` with `grad` and return m_hat / (sqrt(v_hat) + eps). Given; do not edit."""
    beta1, beta2 = betas
    if not state:
        state["t"] = 0
        state["m"] = torch.zeros_like(grad)
        state["v"] = torch.zeros_like(grad)
    state["t"] += 1
    state["m"] = beta1 * state["m"] + (1 - beta1) * grad
    state["v"] = beta2 * state["v"] + (1 - beta2) * grad * grad
    m_hat = state["m"] / (1 - beta1 ** state["t"])
    v_hat = state["v"] / (1 - beta2 ** state["t"])
    return m_hat / (v_hat.sqrt() + eps)

# %% [markdown]
# ## 1. SGD with an L2 penalty (3 points)
#
# An L2 penalty $\frac{\lambda}{2}\lVert\theta\rVert^2$ added to the loss adds $\lambda\theta$ to the gradient,
# *before* anything else the optimizer does with it (here: heavy-ball momentum as in `torch.optim.SGD`):
#
# $$g_t = \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}, \qquad b_t = \mu\, b_{t-1} + g_t \ (b_1 = g_1),
# \qquad \theta_t = \theta_{t-1} - \eta\, b_t.$$

# %% [answer] id=sgd_l2_step
def sgd_l2_step(param, grad, buf, lr, momentum, weight_decay):
    """One step of SGD with heavy-ball momentum and an L2 penalty, as torch.optim.SGD computes it.

    Args:
        param: tensor, theta_{t-1}.
        grad: tensor, the gradient of the loss (without the penalty) at theta_{t-1}.
        buf: tensor b_{t-1}, or None at the first step.
        lr: float eta; momentum: float mu; weight_decay: float lambda.

    Returns:
        (new_param, new_buf): theta_t and b_t.
    """
    ### BEGIN SOLUTION
    g = grad + weight_decay * param
    new_buf = g.clone() if buf is None else momentum * buf + g
    return param - lr * new_buf, new_buf
    ### END SOLUTION

# %% [tests] id=test_sgd_l2_visible points=1
# Visible tests (1 point): five steps with lr=0.1, momentum=0.9, weight_decay=0.1 against torch-style SGD.
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_buffer
from reference_impl.optim import SGD

theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
assert_same_trajectory(with_buffer(sgd_l2_step, lr=0.1, momentum=0.9, weight_decay=0.1),
                       optimizer(SGD, lr=0.1, momentum=0.9, weight_decay=0.1), theta0, fixed_gradients(3, seed=21),
                       steps=5)
print("sgd_l2_step: visible tests passed")

# %% [tests] id=test_sgd_l2_hidden points=2
# Hidden tests (2 points): 50-70 steps on a quadratic with decay on and off, several momenta (0 included), float32.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, fixed_gradients, hidden_inputs, optimizer, quadratic, with_buffer
from reference_impl.optim import SGD

h = hidden_inputs("04-weight-decay/test_sgd_l2_hidden", globals().get("TERM_SECRET"))
grads = quadratic(5, seed=h.seed("quadratic"))
for k, (lrs, mus, wds) in enumerate([((0.01, 0.03), (0.85, 0.95), (0.2, 1.0)), ((0.03, 0.07), (0.0, 0.0), (0.05, 0.2)),
                                     ((0.01, 0.03), (0.85, 0.95), (0.0, 0.0)), ((0.005, 0.02), (0.4, 0.6), (1.0, 3.0))]):
    lr, mu = h.log_uniform(f"lr{k}", *lrs), h.uniform(f"momentum{k}", *mus)
    wd = h.log_uniform(f"weight_decay{k}", *wds) if wds[0] > 0 else 0.0
    assert_same_trajectory(with_buffer(sgd_l2_step, lr=lr, momentum=mu, weight_decay=wd),
                           optimizer(SGD, lr=lr, momentum=mu, weight_decay=wd), h.tensor(f"theta0_{k}", 5, low=0.5, high=1.5),
                           grads, steps=h.integer(f"steps{k}", 50, 70))
lr, mu, wd = h.uniform("lr_float32", 0.05, 0.15), h.uniform("momentum_float32", 0.8, 0.95), h.uniform("weight_decay_float32", 0.1, 0.5)
assert_same_trajectory(with_buffer(sgd_l2_step, lr=lr, momentum=mu, weight_decay=wd),
                       optimizer(SGD, lr=lr, momentum=mu, weight_decay=wd), h.tensor("theta0_float32", (2, 3), dtype=torch.float32),
                       fixed_gradients((2, 3), seed=h.seed("gradients_float32"), dtype=torch.float32, zero_steps=[1, 2]),
                       steps=h.integer("steps_float32", 5, 8), rtol=1e-5, atol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. SGD with decoupled decay (3 points)
#
# Decoupled decay shrinks the parameters directly, by the factor $1 - \eta\lambda$, and keeps the penalty out of
# the momentum buffer, which sees only the gradient of the loss:
#
# $$b_t = \mu\, b_{t-1} + g_t \ (b_1 = g_1), \qquad
# \theta_t = \theta_{t-1} - \eta\lambda\,\theta_{t-1} - \eta\, b_t,$$
#
# with $g_t = \nabla f(\theta_{t-1})$. Without momentum this is the L2 step again; with momentum it is not.

# %% [answer] id=sgd_decoupled_step
def sgd_decoupled_step(param, grad, buf, lr, momentum, weight_decay):
    """One step of SGD with heavy-ball momentum and decoupled weight decay.

    Args:
        param: tensor, theta_{t-1}.
        grad: tensor, the gradient g_t of the loss at theta_{t-1}.
        buf: tensor b_{t-1}, or None at the first step.
        lr: float eta; momentum: float mu; weight_decay: float lambda.

    Returns:
        (new_param, new_buf): theta_t = (1 - eta*lambda) theta_{t-1} - eta b_t, and b_t.
    """
    ### BEGIN SOLUTION
    new_buf = grad.clone() if buf is None else momentum * buf + grad
    return param - lr * weight_decay * param - lr * new_buf, new_buf
    ### END SOLUTION

# %% [tests] id=test_sgd_decoupled_visible points=1
# Visible tests (1 point): five steps with lr=0.1, momentum=0.9, weight_decay=0.1: shrink, then a torch-style SGD step.
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_buffer
from reference_impl.optim import SGD


def decoupled_reference(lr, momentum, weight_decay):
    """theta_t = (1 - lr*wd) theta_{t-1} - lr * b_t: the course's SGD (no decay) applied after the shrink."""
    sgd = optimizer(SGD, lr=lr, momentum=momentum)

    def step(param, grad, state):
        return sgd(param * (1 - lr * weight_decay), grad, state)
    return step


theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
assert_same_trajectory(with_buffer(sgd_decoupled_step, lr=0.1, momentum=0.9, weight_decay=0.1),
                       decoupled_reference(0.1, 0.9, 0.1), theta0, fixed_gradients(3, seed=24), steps=5)
print("sgd_decoupled_step: visible tests passed")

# %% [tests] id=test_sgd_decoupled_hidden points=2
# Hidden tests (2 points): 50-70 steps on a quadratic, decay on and off; without momentum it equals the L2 step.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_buffer
from reference_impl.optim import SGD

h = hidden_inputs("04-weight-decay/test_sgd_decoupled_hidden", globals().get("TERM_SECRET"))
grads = quadratic(5, seed=h.seed("quadratic"))
for k, (lrs, mus, wds) in enumerate([((0.01, 0.03), (0.85, 0.95), (0.2, 1.0)), ((0.01, 0.03), (0.85, 0.95), (0.0, 0.0)),
                                     ((0.005, 0.02), (0.4, 0.6), (1.0, 3.0))]):
    lr, mu = h.log_uniform(f"lr{k}", *lrs), h.uniform(f"momentum{k}", *mus)
    wd = h.log_uniform(f"weight_decay{k}", *wds) if wds[0] > 0 else 0.0
    assert_same_trajectory(with_buffer(sgd_decoupled_step, lr=lr, momentum=mu, weight_decay=wd),
                           decoupled_reference(lr, mu, wd), h.tensor(f"theta0_{k}", 5, low=0.5, high=1.5),
                           grads, steps=h.integer(f"steps{k}", 50, 70))
lr, wd = h.log_uniform("lr_no_momentum", 0.03, 0.07), h.uniform("weight_decay_no_momentum", 0.1, 0.5)
assert_same_trajectory(with_buffer(sgd_decoupled_step, lr=lr, momentum=0.0, weight_decay=wd),
                       optimizer(SGD, lr=lr, weight_decay=wd), h.tensor("theta0_no_momentum", 5, low=0.5, high=1.5),
                       quadratic(5, seed=h.seed("quadratic_no_momentum")), steps=h.integer("steps_no_momentum", 20, 40))
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Adam with an L2 penalty (3 points)
#
# `torch.optim.Adam(weight_decay=...)` adds $\lambda\theta_{t-1}$ to the gradient *before* the moment estimates
# see it, so the penalty is rescaled by $1/(\sqrt{\hat v_t}+\epsilon)$ like everything else:
#
# $$g_t = \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}, \qquad
# \theta_t = \theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon).$$
#
# Use the given `adam_direction(g, state, betas, eps)` for $\hat m_t / (\sqrt{\hat v_t} + \epsilon)$.

# %% [answer] id=adam_l2_step
def adam_l2_step(param, grad, state, lr, betas, eps, weight_decay):
    """One Adam step with an L2 penalty, as torch.optim.Adam(weight_decay=...) computes it.

    Args:
        param: tensor, theta_{t-1}.
        grad: tensor, the gradient of the loss (without the penalty) at theta_{t-1}.
        state: dict for adam_direction (empty at the first step); pass it on unchanged.
        lr: float eta; betas: (beta1, beta2); eps: float; weight_decay: float lambda.

    Returns:
        The new parameter theta_t.
    """
    ### BEGIN SOLUTION
    g = grad + weight_decay * param
    return param - lr * adam_direction(g, state, betas, eps)
    ### END SOLUTION

# %% [tests] id=test_adam_l2_visible points=1
# Visible tests (1 point): five steps with lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1 against torch-style Adam.
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_state_dict
from reference_impl.optim import Adam

hyper = dict(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
assert_same_trajectory(with_state_dict(adam_l2_step, **hyper), optimizer(Adam, **hyper), theta0,
                       fixed_gradients(3, seed=27), steps=5)
print("adam_l2_step: visible tests passed")

# %% [tests] id=test_adam_l2_hidden points=2
# Hidden tests (2 points): 50-70 steps on a quadratic, decay on and off, other betas, large eps.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_state_dict
from reference_impl.optim import Adam

h = hidden_inputs("04-weight-decay/test_adam_l2_hidden", globals().get("TERM_SECRET"))
grads = quadratic(5, seed=h.seed("quadratic"))
for k, hyper in enumerate([dict(lr=h.log_uniform("lr0", 0.03, 0.08), betas=(0.9, 0.999), eps=1e-8,
                                weight_decay=h.log_uniform("weight_decay0", 0.2, 1.0)),
                           dict(lr=h.log_uniform("lr1", 0.03, 0.08), betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
                           dict(lr=h.log_uniform("lr2", 0.005, 0.02), betas=(h.uniform("beta1_2", 0.4, 0.6), h.uniform("beta2_2", 0.85, 0.95)),
                                eps=h.log_uniform("eps2", 5e-3, 2e-2), weight_decay=h.log_uniform("weight_decay2", 1.0, 3.0))]):
    assert_same_trajectory(with_state_dict(adam_l2_step, **hyper), optimizer(Adam, **hyper),
                           h.tensor(f"theta0_{k}", 5, low=0.5, high=1.5), grads, steps=h.integer(f"steps{k}", 50, 70))
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Adam with decoupled decay: AdamW (3 points)
#
# AdamW (Loshchilov & Hutter) shrinks the parameters directly and lets the moments see only the gradient of the
# loss. In PyTorch's convention the shrink factor is $1 - \eta\lambda$ (the whole learning rate multiplies
# $\lambda$):
#
# $$\theta_t = \theta_{t-1} - \eta\lambda\,\theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon),$$
#
# with $\hat m_t, \hat v_t$ built from $g_t = \nabla f(\theta_{t-1})$ alone.

# %% [answer] id=adam_decoupled_step
def adam_decoupled_step(param, grad, state, lr, betas, eps, weight_decay):
    """One AdamW step, as torch.optim.AdamW computes it.

    Args:
        param: tensor, theta_{t-1}.
        grad: tensor, the gradient g_t of the loss at theta_{t-1}.
        state: dict for adam_direction (empty at the first step); pass it on unchanged.
        lr: float eta; betas: (beta1, beta2); eps: float; weight_decay: float lambda.

    Returns:
        The new parameter theta_t.
    """
    ### BEGIN SOLUTION
    direction = adam_direction(grad, state, betas, eps)
    return param - lr * weight_decay * param - lr * direction
    ### END SOLUTION

# %% [tests] id=test_adam_decoupled_visible points=1
# Visible tests (1 point): five steps with lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1 against torch-style AdamW.
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_state_dict
from reference_impl.optim import AdamW

hyper = dict(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
assert_same_trajectory(with_state_dict(adam_decoupled_step, **hyper), optimizer(AdamW, **hyper), theta0,
                       fixed_gradients(3, seed=29), steps=5)
print("adam_decoupled_step: visible tests passed")

# %% [tests] id=test_adam_decoupled_hidden points=2
# Hidden tests (2 points): 50-70 steps on a quadratic, decay on and off, other betas, large eps; wd=0 is plain Adam.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_state_dict
from reference_impl.optim import Adam, AdamW

h = hidden_inputs("04-weight-decay/test_adam_decoupled_hidden", globals().get("TERM_SECRET"))
grads = quadratic(5, seed=h.seed("quadratic"))
for k, hyper in enumerate([dict(lr=h.log_uniform("lr0", 0.03, 0.08), betas=(0.9, 0.999), eps=1e-8,
                                weight_decay=h.log_uniform("weight_decay0", 0.2, 1.0)),
                           dict(lr=h.log_uniform("lr1", 0.005, 0.02), betas=(h.uniform("beta1_1", 0.4, 0.6), h.uniform("beta2_1", 0.85, 0.95)),
                                eps=h.log_uniform("eps1", 5e-3, 2e-2), weight_decay=h.log_uniform("weight_decay1", 1.0, 3.0))]):
    assert_same_trajectory(with_state_dict(adam_decoupled_step, **hyper), optimizer(AdamW, **hyper),
                           h.tensor(f"theta0_{k}", 5, low=0.5, high=1.5), grads, steps=h.integer(f"steps{k}", 50, 70))
hyper = dict(lr=h.log_uniform("lr_no_decay", 0.03, 0.08), betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
assert_same_trajectory(with_state_dict(adam_decoupled_step, **hyper), optimizer(Adam, **hyper),
                       h.tensor("theta0_no_decay", 5, low=0.5, high=1.5), quadratic(5, seed=h.seed("quadratic_no_decay")),
                       steps=h.integer("steps_no_decay", 20, 40))
### END HIDDEN TESTS
