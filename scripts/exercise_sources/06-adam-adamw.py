# notebook: adam_adamw.ipynb
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
# # Exercise: Adam and AdamW
#
# This notebook goes with the chapter [Adam and AdamW](../../chapters/06-adam-adamw.md). You implement Adam, with
# bias correction, an optional L2 penalty and the AMSGrad variant, and then AdamW, exactly as PyTorch does, so
# that your functions reproduce `torch.optim.Adam` and `torch.optim.AdamW` step for step:
#
# | function | what it computes | points |
# |---|---|---|
# | `adam_step` | Adam (`torch.optim.Adam`), with `weight_decay` as an L2 penalty and `amsgrad` | 6 |
# | `adamw_step` | AdamW (`torch.optim.AdamW`): decoupled weight decay | 3 |
# | (written) | in your own words: where $\epsilon$ sits and when it matters; graded by hand | 1 |
#
# Both functions have the shape `f(param, grad, state, **hyperparameters) -> new_param`. `state` is a dict that
# is **empty at the first step**; your function creates what it needs in it (the moments, the step count, the
# AMSGrad maximum: the key names are yours) and updates it, and the same dict comes back at the next step.
#
# **How to work.** Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()`
# line), then run every cell. The test cell after each function checks it; a failure tells you what was
# expected, what your function returned, at which step and with which hyperparameters. Some test cells are empty
# in your copy: they hold hidden tests that run only when your notebook is graded (long runs, other
# hyperparameters, AMSGrad, weight decay on and off). To check the whole notebook from a terminal, run
# `make check NB=exercises/06-adam-adamw/adam_adamw.ipynb` in the course repository: it exits with an error if
# any test fails.
#
# **Rules.** Use `torch` only. Your answers must not import or call anything from `reference_impl` (the course's
# reference implementations, which the tests compare you with) nor use `torch.optim`: the grader checks this
# outside the notebook. Do not edit or delete the test cells; they are restored before grading.

# %% [setup]
import torch

# %% [markdown]
# ## 1. Adam (6 points)
#
# With the step count $t$ (1 at the first step), $m_0 = v_0 = 0$ and element-wise operations:
#
# $$\begin{aligned}
# g_t &= \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1} && \text{(L2 penalty; nothing when } \lambda = 0\text{)} \\
# m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
# \hat m_t &= \frac{m_t}{1-\beta_1^t}, \qquad \hat v_t = \frac{v_t}{1-\beta_2^t} \\
# \theta_t &= \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}.
# \end{aligned}$$
#
# Two traps the course's slides fall into (eq. 12): $\epsilon$ belongs *outside* the root, and the
# bias-corrected $\hat m_t, \hat v_t$ are used for the step only; the running averages $m_t, v_t$ stay
# uncorrected.
#
# **AMSGrad** (`amsgrad=True`) keeps the running maximum of the *uncorrected* second moment,
# $v^{\max}_t = \max(v^{\max}_{t-1}, v_t)$ with $v^{\max}_0 = 0$, and uses $\hat v_t = v^{\max}_t / (1-\beta_2^t)$
# in the step, as PyTorch does.

# %% [answer] id=adam_step
def adam_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
    """One Adam step, as torch.optim.Adam computes it.

    Args:
        param: tensor, theta_{t-1}.
        grad: tensor, the gradient of the loss at theta_{t-1}.
        state: dict, empty at the first step; keep t, m, v (and the AMSGrad maximum) in it.
        lr, betas, eps, weight_decay, amsgrad: as in torch.optim.Adam (weight_decay is an L2 penalty).

    Returns:
        The new parameter theta_t.
    """
    ### BEGIN SOLUTION
    beta1, beta2 = betas
    if not state:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(param)
        state["exp_avg_sq"] = torch.zeros_like(param)
        state["max_exp_avg_sq"] = torch.zeros_like(param)
    if weight_decay != 0:
        grad = grad + weight_decay * param
    state["step"] += 1
    t = state["step"]
    state["exp_avg"] = beta1 * state["exp_avg"] + (1 - beta1) * grad
    state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad * grad
    second = state["exp_avg_sq"]
    if amsgrad:
        state["max_exp_avg_sq"] = torch.maximum(state["max_exp_avg_sq"], state["exp_avg_sq"])
        second = state["max_exp_avg_sq"]
    m_hat = state["exp_avg"] / (1 - beta1 ** t)
    v_hat = second / (1 - beta2 ** t)
    return param - lr * m_hat / (v_hat.sqrt() + eps)
    ### END SOLUTION

# %% [tests] id=test_adam_visible points=1
# Visible tests (1 point): five steps with lr=0.1, betas=(0.9, 0.999), eps=1e-8 against torch-style Adam; then the
# two traps of section 1: a large eps (where its place, outside the root, shows) and AMSGrad on gradients that
# vanish after two steps (where the maximum of the raw v differs from a maximum of the corrected v-hat).
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_state_dict
from reference_impl.optim import Adam

theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
for hyper, zero_steps in [(dict(lr=0.1, betas=(0.9, 0.999), eps=1e-8), []),
                          (dict(lr=0.1, betas=(0.9, 0.999), eps=0.1), []),
                          (dict(lr=0.1, betas=(0.9, 0.9), eps=1e-8, amsgrad=True), [2, 3, 4])]:
    assert_same_trajectory(with_state_dict(adam_step, **hyper), optimizer(Adam, **hyper), theta0,
                           fixed_gradients(3, seed=61, zero_steps=zero_steps), steps=5)
print("adam_step: visible tests passed")

# %% [tests] id=test_adam_first_step points=1
# Hidden tests (1 point): the first step is lr * g / (|g| + eps) (bias correction), a zero gradient does not move.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_close, hidden_inputs

h = hidden_inputs("06-adam-adamw/test_adam_first_step", globals().get("TERM_SECRET"))
# two ordinary gradients, a zero one and a tiny one (where eps matters)
g = torch.cat([h.tensor("grad", 2, low=-3.0, high=3.0), torch.zeros(1, dtype=torch.float64),
               h.tensor("tiny_grad", 1, low=5e-4, high=2e-3)])
theta = h.tensor("theta", 4, low=0.5, high=1.5)
lr, betas = h.log_uniform("lr", 0.005, 0.05), (h.uniform("beta1", 0.8, 0.95), h.uniform("beta2", 0.99, 0.9999, digits=4))
for eps in (h.log_uniform("eps_small", 1e-9, 1e-7), h.log_uniform("eps_large", 0.03, 0.3)):
    new = adam_step(theta.clone(), g.clone(), {}, lr=lr, betas=betas, eps=eps)
    assert_close(new, theta - lr * g / (g.abs() + eps),
                 what=f"adam_step(lr={lr}, betas={betas}, eps={eps}): parameter after the first step "
                      "(expected theta - lr * g / (|g| + eps))")
### END HIDDEN TESTS

# %% [tests] id=test_adam_trajectory points=2
# Hidden tests (2 points): 80-120 steps on a quadratic with several lr, betas and eps (large eps and beta1 = 0
# included), a coordinate with no gradient, float32.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, fixed_gradients, hidden_inputs, optimizer, quadratic, with_state_dict
from reference_impl.optim import Adam

h = hidden_inputs("06-adam-adamw/test_adam_trajectory", globals().get("TERM_SECRET"))
grads = quadratic(6, seed=h.seed("quadratic"), zero=[h.integer("zero", 0, 5)])
for k, hyper in enumerate([dict(lr=h.log_uniform("lr0", 0.005, 0.02)),
                           dict(lr=h.log_uniform("lr1", 0.03, 0.08), betas=(h.uniform("beta1_1", 0.4, 0.6), h.uniform("beta2_1", 0.85, 0.95))),
                           dict(lr=h.log_uniform("lr2", 0.01, 0.04), betas=(h.uniform("beta1_2", 0.85, 0.95), h.uniform("beta2_2", 0.98, 0.995)),
                                eps=h.log_uniform("eps2", 5e-4, 5e-3)),
                           dict(lr=h.log_uniform("lr3", 0.03, 0.08), betas=(0.0, h.uniform("beta2_3", 0.99, 0.9995, digits=4)),
                                eps=h.log_uniform("eps3", 0.05, 0.2))]):
    assert_same_trajectory(with_state_dict(adam_step, **hyper), optimizer(Adam, **hyper),
                           h.tensor(f"theta0_{k}", 6, low=0.5, high=1.5), grads, steps=h.integer(f"steps{k}", 80, 120))
lr = h.log_uniform("lr_float32", 0.05, 0.2)
assert_same_trajectory(with_state_dict(adam_step, lr=lr), optimizer(Adam, lr=lr), h.tensor("theta0_float32", (2, 3), dtype=torch.float32),
                       fixed_gradients((2, 3), seed=h.seed("gradients_float32"), dtype=torch.float32, zero_steps=[1]),
                       steps=h.integer("steps_float32", 6, 10), rtol=1e-5, atol=1e-6)
### END HIDDEN TESTS

# %% [tests] id=test_adam_amsgrad points=1
# Hidden tests (1 point): AMSGrad, 80-120 steps, with gradients that shrink so that the maximum matters.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_state_dict
from reference_impl.optim import Adam

h = hidden_inputs("06-adam-adamw/test_adam_amsgrad", globals().get("TERM_SECRET"))
grads = quadratic(6, seed=h.seed("quadratic"), noise=0.01)
for k, hyper in enumerate([dict(lr=h.log_uniform("lr0", 0.03, 0.08), amsgrad=True),
                           dict(lr=h.log_uniform("lr1", 0.01, 0.04), betas=(h.uniform("beta1_1", 0.7, 0.9), h.uniform("beta2_1", 0.85, 0.95)),
                                eps=h.log_uniform("eps1", 5e-4, 5e-3), amsgrad=True)]):
    assert_same_trajectory(with_state_dict(adam_step, **hyper), optimizer(Adam, **hyper),
                           h.tensor(f"theta0_{k}", 6, low=2.5, high=3.5), grads, steps=h.integer(f"steps{k}", 80, 120))
### END HIDDEN TESTS

# %% [tests] id=test_adam_weight_decay points=1
# Hidden tests (1 point): the L2 penalty (weight_decay > 0), with and without AMSGrad.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_state_dict
from reference_impl.optim import Adam

h = hidden_inputs("06-adam-adamw/test_adam_weight_decay", globals().get("TERM_SECRET"))
grads = quadratic(6, seed=h.seed("quadratic"))
for k, hyper in enumerate([dict(lr=h.log_uniform("lr0", 0.01, 0.04), weight_decay=h.log_uniform("weight_decay0", 0.2, 1.0)),
                           dict(lr=h.log_uniform("lr1", 0.01, 0.04), weight_decay=h.log_uniform("weight_decay1", 0.05, 0.2), amsgrad=True,
                                eps=h.log_uniform("eps1", 5e-4, 5e-3))]):
    assert_same_trajectory(with_state_dict(adam_step, **hyper), optimizer(Adam, **hyper),
                           h.tensor(f"theta0_{k}", 6, low=0.5, high=1.5), grads, steps=h.integer(f"steps{k}", 50, 70))
### END HIDDEN TESTS

# %% [markdown]
# ## 2. AdamW (3 points)
#
# AdamW moves the weight decay out of the gradient: the moments see only $g_t = \nabla f(\theta_{t-1})$, and the
# parameters are shrunk directly. In PyTorch's convention the shrink is $\eta\lambda\,\theta_{t-1}$ (the whole
# learning rate multiplies $\lambda$, default $\lambda = 10^{-2}$):
#
# $$\theta_t = \theta_{t-1} - \eta\lambda\,\theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon},$$
#
# with $\hat m_t, \hat v_t$ (and AMSGrad) exactly as in Adam. You may call your `adam_step` inside `adamw_step`:
# the AdamW tests accept an `adamw_step` that is right *given your `adam_step`*, so a bug in `adam_step` costs
# only `adam_step`'s points.

# %% [answer] id=adamw_step
def adamw_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
    """One AdamW step, as torch.optim.AdamW computes it.

    Args:
        param: tensor, theta_{t-1}.
        grad: tensor, the gradient of the loss at theta_{t-1}.
        state: dict, empty at the first step.
        lr, betas, eps, weight_decay, amsgrad: as in torch.optim.AdamW (weight_decay is decoupled).

    Returns:
        The new parameter theta_t.
    """
    ### BEGIN SOLUTION
    shrunk = param * (1 - lr * weight_decay)
    return adam_step(shrunk, grad, state, lr=lr, betas=betas, eps=eps, weight_decay=0.0, amsgrad=amsgrad)
    ### END SOLUTION

# %% [tests] id=test_adamw_visible points=1
# Visible tests (1 point): five steps with lr=0.1, weight_decay=0.1 (other arguments at their defaults) against
# torch-style AdamW, or against AdamW computed with your adam_step (so that a bug there is not counted twice).
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_state_dict
from reference_impl.optim import AdamW

def adamw_from_your_adam_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                              amsgrad=False):
    """AdamW built on your adam_step: if adamw_step calls a faulty adam_step, only adam_step's tests lose points."""
    return adam_step(param * (1 - lr * weight_decay), grad, state, lr=lr, betas=betas, eps=eps, amsgrad=amsgrad)

theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
assert_same_trajectory(with_state_dict(adamw_step, lr=0.1, weight_decay=0.1), optimizer(AdamW, lr=0.1, weight_decay=0.1),
                       theta0, fixed_gradients(3, seed=66), steps=5,
                       built_on=with_state_dict(adamw_from_your_adam_step, lr=0.1, weight_decay=0.1))
print("adamw_step: visible tests passed")

# %% [tests] id=test_adamw_trajectory points=1
# Hidden tests (1 point): 80-120 steps on a quadratic, default and strong decay, large eps.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_state_dict
from reference_impl.optim import AdamW

def adamw_from_your_adam_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                              amsgrad=False):
    """AdamW built on your adam_step: if adamw_step calls a faulty adam_step, only adam_step's tests lose points."""
    return adam_step(param * (1 - lr * weight_decay), grad, state, lr=lr, betas=betas, eps=eps, amsgrad=amsgrad)

h = hidden_inputs("06-adam-adamw/test_adamw_trajectory", globals().get("TERM_SECRET"))
grads = quadratic(6, seed=h.seed("quadratic"))
for k, hyper in enumerate([dict(lr=h.log_uniform("lr0", 0.005, 0.02)),
                           dict(lr=h.log_uniform("lr1", 0.03, 0.08), weight_decay=h.log_uniform("weight_decay1", 0.2, 1.0)),
                           dict(lr=h.log_uniform("lr2", 0.01, 0.04), betas=(h.uniform("beta1_2", 0.4, 0.6), h.uniform("beta2_2", 0.85, 0.95)),
                                eps=h.log_uniform("eps2", 5e-4, 5e-3), weight_decay=h.log_uniform("weight_decay2", 1.0, 3.0))]):
    assert_same_trajectory(with_state_dict(adamw_step, **hyper), optimizer(AdamW, **hyper),
                           h.tensor(f"theta0_{k}", 6, low=0.5, high=1.5), grads, steps=h.integer(f"steps{k}", 80, 120),
                           built_on=with_state_dict(adamw_from_your_adam_step, **hyper))
### END HIDDEN TESTS

# %% [tests] id=test_adamw_edges points=1
# Hidden tests (1 point): weight_decay=0 is Adam; AMSGrad with decay; zero gradients shrink the parameters only.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, fixed_gradients, hidden_inputs, optimizer, quadratic, with_state_dict
from reference_impl.optim import Adam, AdamW

h = hidden_inputs("06-adam-adamw/test_adamw_edges", globals().get("TERM_SECRET"))
def adamw_from_your_adam_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                              amsgrad=False):
    """AdamW built on your adam_step: if adamw_step calls a faulty adam_step, only adam_step's tests lose points."""
    return adam_step(param * (1 - lr * weight_decay), grad, state, lr=lr, betas=betas, eps=eps, amsgrad=amsgrad)

lr = h.log_uniform("lr_no_decay", 0.03, 0.08)
assert_same_trajectory(with_state_dict(adamw_step, lr=lr, weight_decay=0.0), optimizer(Adam, lr=lr),
                       h.tensor("theta0_no_decay", 6, low=0.5, high=1.5), quadratic(6, seed=h.seed("quadratic_no_decay")),
                       steps=h.integer("steps_no_decay", 30, 50),
                       built_on=with_state_dict(adamw_from_your_adam_step, lr=lr, weight_decay=0.0))
lr, wd = h.log_uniform("lr_amsgrad", 0.03, 0.08), h.log_uniform("weight_decay_amsgrad", 0.15, 0.6)
assert_same_trajectory(with_state_dict(adamw_step, lr=lr, weight_decay=wd, amsgrad=True),
                       optimizer(AdamW, lr=lr, weight_decay=wd, amsgrad=True),
                       h.tensor("theta0_amsgrad", 6, low=2.5, high=3.5), quadratic(6, seed=h.seed("quadratic_amsgrad"), noise=0.01),
                       steps=h.integer("steps_amsgrad", 50, 70),
                       built_on=with_state_dict(adamw_from_your_adam_step, lr=lr, weight_decay=wd, amsgrad=True))
lr, wd = h.log_uniform("lr_zero_grad", 0.05, 0.2), h.log_uniform("weight_decay_zero_grad", 0.2, 1.0)
assert_same_trajectory(with_state_dict(adamw_step, lr=lr, weight_decay=wd), optimizer(AdamW, lr=lr, weight_decay=wd),
                       h.tensor("theta0_zero_grad", 4, low=0.5, high=1.5),
                       fixed_gradients(4, seed=h.seed("gradients_zero_grad"), zero_steps=[0, 1, 2]),
                       steps=h.integer("steps_zero_grad", 5, 8),
                       built_on=with_state_dict(adamw_from_your_adam_step, lr=lr, weight_decay=wd))
### END HIDDEN TESTS

# %% [markdown]
# ## 3. In your own words (1 point)
#
# Answer in two to four sentences, in the cell below (it is graded by hand, not by a test). PyTorch's Adam
# divides by $\sqrt{\hat v_t} + \epsilon$; some implementations divide by $\sqrt{\hat v_t + \epsilon}$. **Why
# does the choice make no visible difference at the default $\epsilon = 10^{-8}$, and why does it matter at a
# large $\epsilon$ such as $10^{-3}$?**

# %% [written] id=written_epsilon points=1
# ### BEGIN SOLUTION
# $\epsilon$ only changes the step for coordinates whose $\sqrt{\hat v}$ is not much larger than the term it is
# added to. Outside the root that happens when $\sqrt{\hat v} \lesssim \epsilon$; inside it, when
# $\hat v \lesssim \epsilon$, i.e. $\sqrt{\hat v} \lesssim \sqrt{\epsilon}$. At $\epsilon = 10^{-8}$ both
# thresholds ($10^{-8}$ and $10^{-4}$) lie far below the gradient scale of most coordinates, so both forms give
# $g/\sqrt{\hat v}$. At $\epsilon = 10^{-3}$ the inside form already acts below $\sqrt{\hat v} \approx 0.03$, a
# common gradient size, so it shrinks the steps of many coordinates (Adam becomes closer to SGD there) while the
# outside form still barely changes them: the two are the same optimizer only when $\epsilon$ is tiny.
# ### END SOLUTION
