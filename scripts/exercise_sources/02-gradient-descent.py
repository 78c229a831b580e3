# notebook: gradient_descent.ipynb
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
# # Exercise: gradient descent, mini-batches and momentum
#
# This notebook goes with the chapter [Gradient descent](../../chapters/02-gradient-descent.md). You implement
# three small functions:
#
# | function | what it computes | points |
# |---|---|---|
# | `gd_step` | one gradient-descent step | 2 |
# | `minibatches` | the mini-batches of one epoch | 4 |
# | `sgd_momentum_step` | one step of SGD with heavy-ball momentum, as `torch.optim.SGD` does it | 5 |
#
# **How to work.** Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()`
# line), then run every cell. The test cell after each function checks it; a failure tells you what was
# expected, what your function returned, at which step and with which hyperparameters. Some test cells are empty
# in your copy: they hold hidden tests that run only when your notebook is graded (longer runs, edge cases,
# other hyperparameters). To check the whole notebook from a terminal, run
# `make check NB=exercises/02-gradient-descent/gradient_descent.ipynb` in the course repository: it exits
# with an error if any test fails.
#
# **Rules.** Use `torch` only. Your answers must not import or call anything from `reference_impl` (the course's
# reference implementations, which the tests compare you with) nor use `torch.optim`: the grader checks this
# outside the notebook. Do not edit or delete the test cells; they are restored before grading. You may update
# tensors in place or return new ones, as long as you return the new values.

# %% [setup]
import torch

# %% [markdown]
# ## 1. One gradient-descent step (2 points)
#
# Gradient descent moves the parameters $\theta$ a step of size $\eta$ (the learning rate) against the gradient:
#
# $$\theta_t = \theta_{t-1} - \eta \, \nabla f(\theta_{t-1}).$$
#
# Implement it for one tensor of parameters.

# %% [answer] id=gd_step
def gd_step(param, grad, lr):
    """Return the parameters after one gradient-descent step.

    Args:
        param: tensor, the current parameters theta_{t-1}.
        grad: tensor of the same shape, the gradient of the loss at theta_{t-1}.
        lr: float, the learning rate eta.

    Returns:
        A tensor of the same shape: theta_t = theta_{t-1} - eta * grad.
    """
    ### BEGIN SOLUTION
    return param - lr * grad
    ### END SOLUTION

# %% [tests] id=test_gd_step_visible points=1
# Visible tests (1 point): three steps from theta_0 = (1, -2, 0.5), compared with the course's reference SGD.
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, stateless
from reference_impl.optim import SGD

theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
assert_same_trajectory(stateless(gd_step, lr=0.1), optimizer(SGD, lr=0.1), theta0, fixed_gradients(3, seed=1), steps=3)
print("gd_step: visible tests passed")

# %% [tests] id=test_gd_step_hidden points=1
# Hidden tests (1 point): 40-60 steps on a quadratic, a matrix-shaped parameter, float32, zero gradients.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, fixed_gradients, hidden_inputs, optimizer, quadratic, stateless
from reference_impl.optim import SGD

h = hidden_inputs("02-gradient-descent/test_gd_step_hidden", globals().get("TERM_SECRET"))
lr = h.log_uniform("lr", 0.02, 0.08)
assert_same_trajectory(stateless(gd_step, lr=lr), optimizer(SGD, lr=lr), h.tensor("theta0", 6),
                       quadratic(6, seed=h.seed("quadratic")), steps=h.integer("steps", 40, 60))
lr = h.uniform("lr_float32", 0.1, 0.5)
assert_same_trajectory(stateless(gd_step, lr=lr), optimizer(SGD, lr=lr), h.tensor("theta0_float32", (2, 3), dtype=torch.float32),
                       fixed_gradients((2, 3), seed=h.seed("gradients"), dtype=torch.float32, zero_steps=[1]),
                       steps=h.integer("steps_float32", 3, 6), rtol=1e-5, atol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Mini-batches (4 points)
#
# Stochastic gradient descent estimates the gradient on a *mini-batch* $B$ of $m$ examples,
#
# $$\theta_t = \theta_{t-1} - \frac{\eta}{m} \sum_{i \in B} \nabla L(\theta_{t-1}; x_i, y_i),$$
#
# and one *epoch* walks through the whole data set once, batch after batch. Write a generator that yields the
# batches of one epoch.
#
# * Without shuffling, the batches are consecutive slices: examples `0..b-1`, then `b..2b-1`, and so on.
# * With `shuffle=True`, first draw the order `torch.randperm(n, generator=generator)` (exactly this call, once
#   per epoch, so that the grader can reproduce your batches), then cut that order into consecutive slices.
# * The last batch is smaller when `batch_size` does not divide `n`; with `drop_last=True` it is left out.
# * A `batch_size` smaller than 1 raises `ValueError` (mention `batch_size` in the message).

# %% [answer] id=minibatches
def minibatches(X, y, batch_size, shuffle=False, generator=None, drop_last=False):
    """Yield the mini-batches (X_batch, y_batch) of one epoch.

    Args:
        X: tensor of shape (n, ...), the inputs; y: tensor of shape (n, ...), the targets.
        batch_size: int >= 1, the number of examples per batch.
        shuffle: if True, visit the examples in the order torch.randperm(n, generator=generator).
        generator: a torch.Generator (or None) passed to torch.randperm.
        drop_last: if True, leave out a last batch smaller than batch_size.

    Yields:
        Pairs (X[idx], y[idx]) for consecutive slices idx of the order.

    Raises:
        ValueError: if batch_size < 1.
    """
    ### BEGIN SOLUTION
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    n = X.shape[0]
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        if drop_last and len(idx) < batch_size:
            break
        yield X[idx], y[idx]
    ### END SOLUTION

# %% [tests] id=test_minibatches_visible points=1
# Visible tests (1 point): ten examples in batches of four, without shuffling; then the rules of section 2: one
# shuffled epoch against torch's RandomSampler + BatchSampler with the same generator, drop_last, batch_size=0.
from torch.utils.data import BatchSampler, RandomSampler

X = torch.arange(20.0).reshape(10, 2)
y = torch.arange(10)
batches = list(minibatches(X, y, batch_size=4))
sizes = [len(xb) for xb, _ in batches]
assert sizes == [4, 4, 2], f"minibatches(n=10, batch_size=4): expected batch sizes [4, 4, 2], got {sizes}"
for k, (xb, yb) in enumerate(batches):
    expected = y[4 * k:4 * k + 4]
    assert torch.equal(yb, expected), f"batch {k} without shuffling: expected targets {expected.tolist()}, got {yb.tolist()}"
    assert torch.equal(xb, X[expected]), f"batch {k}: the inputs do not belong to the targets {expected.tolist()}"
got = [yb.tolist() for _, yb in minibatches(X, y, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(7))]
want = list(BatchSampler(RandomSampler(range(10), generator=torch.Generator().manual_seed(7)), 4, False))
assert got == want, (f"minibatches(n=10, batch_size=4, shuffle=True, generator seeded with 7): expected {want}, got {got} "
                     "(draw torch.randperm(n, generator=generator) once, then cut it into slices)")
got = [yb.tolist() for _, yb in minibatches(X, y, batch_size=4, drop_last=True)]
assert got == [[0, 1, 2, 3], [4, 5, 6, 7]], f"minibatches(n=10, batch_size=4, drop_last=True): expected two batches, got {got}"
try:
    list(minibatches(X, y, batch_size=0))
except ValueError as err:
    assert "batch_size" in str(err), f"the ValueError for batch_size=0 should mention batch_size: {err}"
else:
    raise AssertionError("minibatches(batch_size=0) should raise ValueError")
print("minibatches: visible tests passed")

# %% [tests] id=test_minibatches_shuffle points=2
# Hidden tests (2 points): shuffled epochs against torch's RandomSampler + BatchSampler with the same generator
# (a batch size that does not divide n, with and without drop_last, another one, one batch of all examples).
### BEGIN HIDDEN TESTS
from torch.utils.data import BatchSampler, RandomSampler
from reference_impl.testing import hidden_inputs

h = hidden_inputs("02-gradient-descent/test_minibatches_shuffle", globals().get("TERM_SECRET"))
cases = []
for k in range(2):  # n = q b + r with 0 < r < b: the last batch is smaller
    b = h.integer(f"batch_size{k}", 3, 6)
    n = b * h.integer(f"batches{k}", 2, 4) + h.integer(f"rest{k}", 1, b - 1)
    cases += [(n, b, False), (n, b, True)] if k == 0 else [(n, b, False)]
n = h.integer("n_one_batch", 5, 12)
cases.append((n, n, False))
for n, b, drop in cases:
    X = h.tensor(f"X{n}", (n, 3))
    y = torch.arange(n)
    seed = h.seed(f"generator{n}_{b}_{drop}")
    got = list(minibatches(X, y, batch_size=b, shuffle=True, generator=torch.Generator().manual_seed(seed), drop_last=drop))
    want = list(BatchSampler(RandomSampler(range(n), generator=torch.Generator().manual_seed(seed)), b, drop))
    assert len(got) == len(want), f"minibatches(n={n}, batch_size={b}, shuffle=True, drop_last={drop}): expected {len(want)} batches, got {len(got)}"
    for k, ((xb, yb), idx) in enumerate(zip(got, want)):
        assert yb.tolist() == idx, f"minibatches(n={n}, batch_size={b}, shuffle=True, drop_last={drop}), batch {k}: expected examples {idx}, got {yb.tolist()}"
        assert torch.equal(xb, X[idx]), f"minibatches(n={n}, batch_size={b}, shuffle=True): batch {k} inputs do not match its targets"
### END HIDDEN TESTS

# %% [tests] id=test_minibatches_edges points=1
# Hidden tests (1 point): drop_last without shuffling, a batch larger than the data set, batch_size < 1.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("02-gradient-descent/test_minibatches_edges", globals().get("TERM_SECRET"))
b = h.integer("batch_size", 2, 5)
n = b * h.integer("batches", 2, 3) + h.integer("rest", 1, b - 1)
y = torch.arange(n)
X = y.float().unsqueeze(1) + h.uniform("offset", -1.0, 1.0)
want = [list(range(start, start + b)) for start in range(0, n - b + 1, b)]
got = [yb.tolist() for _, yb in minibatches(X, y, batch_size=b, drop_last=True)]
assert got == want, f"minibatches(n={n}, batch_size={b}, drop_last=True): expected {want}, got {got}"
big = n + h.integer("excess", 1, 5)
got = [yb.tolist() for _, yb in minibatches(X, y, batch_size=big)]
assert got == [list(range(n))], f"minibatches(n={n}, batch_size={big}): expected one batch of all {n} examples, got {got}"
got = [yb.tolist() for _, yb in minibatches(X, y, batch_size=big, drop_last=True)]
assert got == [], f"minibatches(n={n}, batch_size={big}, drop_last=True): expected no batch, got {got}"
for bad in (0, -h.integer("negative_batch_size", 1, 9)):
    try:
        list(minibatches(X, y, batch_size=bad))
    except ValueError as err:
        assert "batch_size" in str(err), f"the ValueError for batch_size={bad} should mention batch_size: {err}"
    else:
        raise AssertionError(f"minibatches(batch_size={bad}) should raise ValueError")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. SGD with momentum (5 points)
#
# Heavy-ball momentum keeps a buffer $b$ of past gradients. In the form PyTorch's `torch.optim.SGD` uses
# (momentum $\mu$, no dampening), one step is
#
# $$b_t = \mu\, b_{t-1} + g_t, \qquad \theta_t = \theta_{t-1} - \eta\, b_t,$$
#
# where $g_t$ is the gradient at $\theta_{t-1}$. At the very first step there is no buffer yet (`buf` is `None`):
# PyTorch then sets $b_1 = g_1$ (a copy of the gradient).

# %% [answer] id=sgd_momentum_step
def sgd_momentum_step(param, grad, buf, lr, momentum):
    """One step of SGD with heavy-ball momentum (torch.optim.SGD with dampening=0, nesterov=False).

    Args:
        param: tensor, theta_{t-1}.
        grad: tensor, the gradient g_t at theta_{t-1}.
        buf: tensor b_{t-1}, or None at the first step.
        lr: float, the learning rate eta.
        momentum: float, the momentum mu (0 gives plain gradient descent).

    Returns:
        (new_param, new_buf): theta_t and b_t.
    """
    ### BEGIN SOLUTION
    if buf is None:
        new_buf = grad.clone()
    else:
        new_buf = momentum * buf + grad
    return param - lr * new_buf, new_buf
    ### END SOLUTION

# %% [tests] id=test_sgd_momentum_visible points=1
# Visible tests (1 point): five steps with lr=0.1, momentum=0.9, compared with the course's reference SGD.
from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_buffer
from reference_impl.optim import SGD

theta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
assert_same_trajectory(with_buffer(sgd_momentum_step, lr=0.1, momentum=0.9), optimizer(SGD, lr=0.1, momentum=0.9),
                       theta0, fixed_gradients(3, seed=4), steps=5)
print("sgd_momentum_step: visible tests passed")

# %% [tests] id=test_sgd_momentum_first_step points=1
# Hidden tests (1 point): the first step (buf=None) sets b_1 = g_1 and leaves grad unchanged.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_close, hidden_inputs

h = hidden_inputs("02-gradient-descent/test_sgd_momentum_first_step", globals().get("TERM_SECRET"))
lr, mu = h.uniform("lr", 0.1, 1.0), h.uniform("momentum", 0.3, 0.95)
theta = h.tensor("theta", 3, low=-2.0, high=2.0)
g = h.tensor("grad", 3, low=-3.0, high=3.0)
g_before = g.clone()
new_theta, new_buf = sgd_momentum_step(theta.clone(), g, None, lr=lr, momentum=mu)
assert_close(new_buf, g_before, what=f"sgd_momentum_step(lr={lr}, momentum={mu}): buffer b_1 after the first step (buf=None)")
assert_close(new_theta, theta - lr * g_before, what=f"sgd_momentum_step(lr={lr}, momentum={mu}): parameter after the first step")
assert_close(g, g_before, what="the gradient passed in (it must not be modified)")
### END HIDDEN TESTS

# %% [tests] id=test_sgd_momentum_trajectory points=2
# Hidden tests (2 points): 50-70 steps on a quadratic for several momenta, and a matrix-shaped float32 parameter.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, optimizer, quadratic, with_buffer
from reference_impl.optim import SGD

h = hidden_inputs("02-gradient-descent/test_sgd_momentum_trajectory", globals().get("TERM_SECRET"))
grads = quadratic(5, seed=h.seed("quadratic"))
for k, (lrs, mus) in enumerate([((0.01, 0.04), (0.85, 0.95)), ((0.03, 0.08), (0.4, 0.6)), ((0.005, 0.02), (0.97, 0.995))]):
    lr, mu = h.log_uniform(f"lr{k}", *lrs), h.uniform(f"momentum{k}", *mus)
    assert_same_trajectory(with_buffer(sgd_momentum_step, lr=lr, momentum=mu), optimizer(SGD, lr=lr, momentum=mu),
                           h.tensor(f"theta0_{k}", 5), grads, steps=h.integer(f"steps{k}", 50, 70))
lr, mu = h.uniform("lr_float32", 0.05, 0.12), h.uniform("momentum_float32", 0.7, 0.9)
assert_same_trajectory(with_buffer(sgd_momentum_step, lr=lr, momentum=mu), optimizer(SGD, lr=lr, momentum=mu),
                       h.tensor("theta0_float32", (3, 2), dtype=torch.float32),
                       quadratic(6, seed=h.seed("quadratic_float32"), dtype=torch.float32),
                       steps=h.integer("steps_float32", 15, 25), rtol=1e-5, atol=1e-6)
### END HIDDEN TESTS

# %% [tests] id=test_sgd_momentum_edges points=1
# Hidden tests (1 point): momentum=0 is gradient descent; zero gradients keep the parameters moving on momentum.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, fixed_gradients, hidden_inputs, optimizer, with_buffer
from reference_impl.optim import SGD

h = hidden_inputs("02-gradient-descent/test_sgd_momentum_edges", globals().get("TERM_SECRET"))
lr = h.uniform("lr_no_momentum", 0.05, 0.3)
assert_same_trajectory(with_buffer(sgd_momentum_step, lr=lr, momentum=0.0), optimizer(SGD, lr=lr),
                       h.tensor("theta0_no_momentum", 4), fixed_gradients(4, seed=h.seed("gradients_no_momentum")),
                       steps=h.integer("steps_no_momentum", 5, 8))
lr, mu = h.uniform("lr", 0.05, 0.3), h.uniform("momentum", 0.8, 0.95)
assert_same_trajectory(with_buffer(sgd_momentum_step, lr=lr, momentum=mu), optimizer(SGD, lr=lr, momentum=mu),
                       h.tensor("theta0", 4), fixed_gradients(4, seed=h.seed("gradients"), zero_steps=[2, 3, 4]),
                       steps=h.integer("steps", 7, 10))
### END HIDDEN TESTS
