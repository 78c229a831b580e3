# notebook: soap_muon.ipynb
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
# # Exercise: SOAP and Muon
#
# This notebook goes with the chapter [SOAP and Muon](../../chapters/08-soap-muon.md). Both optimizers precondition
# a weight *matrix* as a whole. SOAP runs Adam in the eigenbasis of Shampoo's statistics $L \approx
# \mathbb{E}[GG^\top]$ and $R \approx \mathbb{E}[G^\top G]$ and refreshes that basis every few steps; Muon
# replaces its momentum by the nearest semi-orthogonal matrix, computed with a Newton–Schulz iteration. You
# implement the core of each; the tests run your functions inside the rest of the algorithm and compare with the
# course's `SOAP` and `Muon`:
#
# | function | what it computes | points |
# |---|---|---|
# | `soap_adam_step` | SOAP's Adam step in given eigenbases $Q_L, Q_R$ | 5 |
# | `soap_refresh` | the eigenbasis refresh: one power-iteration step with QR, and the re-ordering of $V$ | 3 |
# | `newton_schulz` | the quintic Newton–Schulz iteration $\approx UV^\top$ | 3 |
# | `muon_step` | one Muon step (Nesterov momentum, orthogonalised, decoupled decay) | 4 |
#
# **How to work.** Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()`
# line), then run every cell. The test cell after each function checks it; a failure tells you what was
# expected, what your function returned, at which step and with which hyperparameters. Some test cells are empty
# in your copy: they hold hidden tests that run only when your notebook is graded (long runs, other
# hyperparameters and shapes, zero gradients, weight decay on and off). To check the whole notebook from a
# terminal, run `make check NB=exercises/08-soap-muon/soap_muon.ipynb` in the course repository: it exits with an
# error if any test fails.
#
# **Rules.** Use `torch` only. Your answers must not import or call anything from `reference_impl` (the course's
# reference implementations, which the tests compare you with) nor use `torch.optim`: the grader checks this
# outside the notebook. Do not edit or delete the test cells; they are restored before grading. You may update
# tensors in place or return new ones, as long as you return the new values. The tests use small float64
# matrices, so your results must match the reference to about 1e-9 (no bfloat16 here).

# %% [setup]
import torch

# %% [markdown]
# ## 1. SOAP: Adam in a rotated basis (5 points)
#
# Take the eigenbases as given: $Q_L$ ($m \times m$) and $Q_R$ ($n \times n$) are orthogonal matrices, and the
# parameter $W$ and its gradient $G$ are $m \times n$. With the Adam step count $t$ (1 at the first call of your
# function), $M_0 = V_0 = 0$, the learning rate $\eta$, $(\beta_1, \beta_2)$, $\epsilon$ and the decoupled weight
# decay $\lambda$, one step is (squares, square roots and the quotient element-wise):
#
# $$\begin{aligned}
# G' &= Q_L^\top G\, Q_R && \text{(the gradient in the eigenbasis)} \\
# M_t &= \beta_1 M_{t-1} + (1-\beta_1)\, G && \text{(first moment, kept in the original coordinates)} \\
# V_t &= \beta_2 V_{t-1} + (1-\beta_2)\, G' \odot G' && \text{(second moment, kept in the rotated coordinates)} \\
# N_t &= Q_L \left( \frac{Q_L^\top M_t\, Q_R}{\sqrt{V_t} + \epsilon} \right) Q_R^\top && \text{(Adam's direction, rotated back)} \\
# W_t &= \Big(W_{t-1} - \eta\, \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\, N_t\Big)(1 - \eta\lambda) && \text{(bias correction in the step size; decay after the step)}
# \end{aligned}$$
#
# Note where $\epsilon$ sits: it is added to $\sqrt{V_t}$, the *uncorrected* second moment, and the bias
# correction multiplies the step size (this is the authors' code, not Adam's $\hat m / (\sqrt{\hat v} +
# \epsilon)$). `state` is a dict, **empty at the first step**. Its keys are fixed, because the refresh of section
# 2 needs $V$: keep the step count in `state["step"]`, $M$ in `state["M"]` and $V$ in `state["V"]`.

# %% [answer] id=soap_adam_step
def soap_adam_step(param, grad, state, QL, QR, lr=3e-3, betas=(0.95, 0.95), eps=1e-8, weight_decay=0.01):
    """One Adam step of SOAP in the eigenbases QL, QR (the authors' SOAP, given the bases).

    Args:
        param: m x n tensor, W_{t-1}.
        grad: m x n tensor, the gradient G at W_{t-1}.
        state: dict, empty at the first step; keys "step" (t), "M" (original coordinates), "V" (rotated).
        QL: m x m orthogonal matrix; QR: n x n orthogonal matrix.
        lr: eta; betas: (beta1, beta2); eps: added to sqrt(V); weight_decay: lambda (decoupled, after the step).

    Returns:
        The new parameter W_t.
    """
    ### BEGIN SOLUTION
    beta1, beta2 = betas
    if not state:
        state["step"] = 0
        state["M"] = torch.zeros_like(param)
        state["V"] = torch.zeros_like(param)
    state["step"] += 1
    t = state["step"]
    rotated = QL.T @ grad @ QR
    state["M"] = beta1 * state["M"] + (1 - beta1) * grad
    state["V"] = beta2 * state["V"] + (1 - beta2) * rotated * rotated
    direction = QL @ ((QL.T @ state["M"] @ QR) / (state["V"].sqrt() + eps)) @ QR.T
    step_size = lr * (1 - beta2 ** t) ** 0.5 / (1 - beta1 ** t)
    return (param - step_size * direction) * (1 - lr * weight_decay)
    ### END SOLUTION

# %% [tests] id=test_soap_step_visible points=1
# Visible tests (1 point): five steps with lr=0.01, betas=(0.95, 0.95), eps=1e-8, weight_decay=0.01 in fixed random bases (4 x 3 matrix);
# then the traps of section 1: a large eps=0.1 (where it sits shows), and bases that change after the third step (M stays in
# the original coordinates and is rotated with the current basis).
from reference_impl.testing import assert_same_trajectory, fixed_gradients
from reference_impl.optim import soap_update


def random_orthogonal(n, seed):
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return q


def fixed_bases_soap(function, QL, QR, later=None, **hyper):
    """Steppers (student, reference) running SOAP's Adam step in the fixed bases QL, QR; with later=(k, QL2, QR2),
    in the bases QL2, QR2 from step k + 1 on."""
    calls = {"student": 0, "reference": 0}

    def bases(who):
        calls[who] += 1
        return (later[1], later[2]) if later and calls[who] > later[0] else (QL, QR)

    def student(param, grad, state):
        state = {} if state is None else state
        left, right = bases("student")
        new = function(param, grad, state, left.clone(), right.clone(), **hyper)
        assert isinstance(new, torch.Tensor), f"{function.__name__} must return the new parameter as a tensor"
        return new, state

    def reference(param, grad, state):
        if state is None:
            state = dict(step=0, M=torch.zeros_like(param), V=torch.zeros_like(param))
        state["step"] += 1
        new = param.clone()
        soap_update(new, grad, state["M"], state["V"], list(bases("reference")), step=state["step"], **hyper)
        return new, state

    args = ", ".join(f"{k}={v!r}" for k, v in hyper.items())
    student.function = (f"{function.__name__}({args}, fixed bases QL {tuple(QL.shape)}, QR {tuple(QR.shape)}"
                        + (f", other bases after step {later[0]}" if later else "") + ")")
    return student, reference


theta0 = torch.arange(12, dtype=torch.float64).reshape(4, 3) / 10 - 0.5
for hyper, later in [(dict(lr=0.01, betas=(0.95, 0.95), eps=1e-8, weight_decay=0.01), None),
                     (dict(lr=0.01, betas=(0.95, 0.95), eps=0.1, weight_decay=0.01), None),
                     (dict(lr=0.01, betas=(0.95, 0.95), eps=1e-8, weight_decay=0.01),
                      (3, random_orthogonal(4, 84), random_orthogonal(3, 85)))]:
    student, reference = fixed_bases_soap(soap_adam_step, random_orthogonal(4, 81), random_orthogonal(3, 82), later,
                                          **hyper)
    assert_same_trajectory(student, reference, theta0, fixed_gradients((4, 3), seed=83), steps=5)
print("soap_adam_step: visible tests passed")

# %% [tests] id=test_soap_step_first points=1
# Hidden tests (1 point): identity bases, first step: W - lr * G / (|G| + eps) * sqrt(1 - beta2) / (1 - beta1), no decay.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_close, hidden_inputs

h = hidden_inputs("08-soap-muon/test_soap_step_first", globals().get("TERM_SECRET"))
# ordinary gradients, a zero one and a tiny one (where eps matters)
g = h.tensor("grad", (2, 3), low=-2.0, high=2.0)
g[0, 2], g[1, 0] = 0.0, h.uniform("tiny_grad", 5e-4, 2e-3)
w = h.tensor("param", (2, 3), low=-3.0, high=3.0)
lr, b1, b2 = h.log_uniform("lr", 0.003, 0.03), h.uniform("beta1", 0.8, 0.95), h.uniform("beta2", 0.95, 0.995)
for eps in (h.log_uniform("eps_small", 1e-9, 1e-7), h.log_uniform("eps_large", 0.03, 0.3)):
    new = soap_adam_step(w.clone(), g.clone(), {}, torch.eye(2, dtype=torch.float64), torch.eye(3, dtype=torch.float64),
                         lr=lr, betas=(b1, b2), eps=eps, weight_decay=0.0)
    expected = w - lr * (1 - b2) ** 0.5 / (1 - b1) * (1 - b1) * g / ((1 - b2) ** 0.5 * g.abs() + eps)
    assert_close(new, expected, what=f"soap_adam_step(lr={lr}, betas={(b1, b2)}, eps={eps}, weight_decay=0.0) with "
                                     "identity bases: parameter after the first step")
### END HIDDEN TESTS

# %% [tests] id=test_soap_step_trajectory points=2
# Hidden tests (2 points): 50-70 steps on a quadratic in random bases, several lr, betas, eps (large eps included), shapes 4 x 3 and 2 x 5.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, quadratic

h = hidden_inputs("08-soap-muon/test_soap_step_trajectory", globals().get("TERM_SECRET"))
u, lu = h.uniform, h.log_uniform
for k, (shape, hyper) in enumerate([((4, 3), dict(lr=lu("lr0", 0.005, 0.02))),
                                    ((4, 3), dict(lr=lu("lr1", 0.01, 0.04), betas=(u("beta1_1", 0.85, 0.95), u("beta2_1", 0.99, 0.9995, digits=4)),
                                                  eps=lu("eps1", 5e-4, 5e-3), weight_decay=0.0)),
                                    ((2, 5), dict(lr=lu("lr2", 0.005, 0.02), betas=(u("beta1_2", 0.4, 0.6), u("beta2_2", 0.7, 0.9)),
                                                  eps=lu("eps2", 0.05, 0.2), weight_decay=lu("weight_decay2", 0.05, 0.2)))]):
    m, n = shape
    student, reference = fixed_bases_soap(soap_adam_step, random_orthogonal(m, h.seed(f"QL{k}")), random_orthogonal(n, h.seed(f"QR{k}")),
                                          **hyper)
    assert_same_trajectory(student, reference, h.tensor(f"theta0_{k}", shape, low=0.5, high=1.5),
                           quadratic(m * n, seed=h.seed(f"quadratic{k}")), steps=h.integer(f"steps{k}", 50, 70))
### END HIDDEN TESTS

# %% [tests] id=test_soap_step_edges points=1
# Hidden tests (1 point): strong weight decay, zero gradients at some steps, a square matrix.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, fixed_gradients, hidden_inputs

h = hidden_inputs("08-soap-muon/test_soap_step_edges", globals().get("TERM_SECRET"))
QL, QR = random_orthogonal(3, h.seed("QL")), random_orthogonal(3, h.seed("QR"))
grads = fixed_gradients((3, 3), seed=h.seed("gradients"), zero_steps=[2, 3])
for k, hyper in enumerate([dict(lr=h.uniform("lr0", 0.05, 0.2), weight_decay=h.uniform("weight_decay0", 1.0, 3.0)),
                           dict(lr=h.uniform("lr1", 0.02, 0.08), betas=(h.uniform("beta1_1", 0.85, 0.95), h.uniform("beta2_1", 0.9, 0.97)),
                                weight_decay=0.0)]):
    student, reference = fixed_bases_soap(soap_adam_step, QL, QR, **hyper)
    assert_same_trajectory(student, reference, h.tensor(f"theta0_{k}", (3, 3), low=0.5, high=1.5), grads,
                           steps=h.integer(f"steps{k}", 7, 10))
### END HIDDEN TESTS

# %% [markdown]
# ## 2. SOAP: refreshing the eigenbasis (3 points)
#
# SOAP keeps Shampoo's statistics $L_t = \beta_s L_{t-1} + (1-\beta_s) G G^\top$ and $R_t = \beta_s R_{t-1} +
# (1-\beta_s) G^\top G$ (the tests update them for you). Every $f$ steps it refreshes each basis with **one step
# of power iteration followed by a QR decomposition**, which is much cheaper than a new eigendecomposition. For a
# statistic $P$ ($L$ or $R$) with current basis $Q$ (columns $q_j$):
#
# $$\begin{aligned}
# \hat\lambda_j &= q_j^\top P\, q_j && \text{(the current estimates of the eigenvalues)} \\
# \pi &= \text{the order that sorts } \hat\lambda \text{ in decreasing order} \\
# Q_{\text{new}} &= \text{the } Q \text{ factor of the QR decomposition of } (P\,Q)_{:,\pi}
#   && \text{(the columns of } PQ \text{ in the order } \pi\text{)}
# \end{aligned}$$
#
# Because $V$ lives in the rotated coordinates, its entries must follow their eigenvectors: permute the **rows**
# of $V$ by $\pi_L$ (the order of $L$) and its **columns** by $\pi_R$. Use `torch.linalg.qr` (the tests accept a
# Q factor whose columns differ from it by their signs only; SOAP's step does not depend on those signs). Do not
# modify the inputs; return new tensors.

# %% [answer] id=soap_refresh
def soap_refresh(L, R, QL, QR, V):
    """Refresh SOAP's eigenbases by one power-iteration step with QR, and re-order V to match.

    Args:
        L: m x m statistic, R: n x n statistic (symmetric, positive semi-definite).
        QL: m x m current basis of L; QR: n x n current basis of R.
        V: m x n second moment in the rotated coordinates.

    Returns:
        (new_QL, new_QR, new_V).
    """
    ### BEGIN SOLUTION
    def refresh(P, Q):
        power = P @ Q
        estimates = (Q * power).sum(dim=0)
        order = torch.argsort(estimates, descending=True)
        q, _ = torch.linalg.qr(power[:, order])
        return q, order

    new_QL, order_L = refresh(L, QL)
    new_QR, order_R = refresh(R, QR)
    return new_QL, new_QR, V[order_L][:, order_R]
    ### END SOLUTION

# %% [tests] id=test_soap_refresh_visible points=1
# Visible tests (1 point): one refresh of random 4 x 4 and 3 x 3 statistics from random bases.
from reference_impl.testing import assert_close
from reference_impl.optim import soap_refresh_eigenbases


def random_statistic(n, seed):
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n + 2, generator=gen, dtype=torch.float64)
    return a @ a.T


def random_orthogonal(n, seed):
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return q


def check_refresh(L, R, QL, QR, V, what):
    (ref_QL, ref_QR), ref_V = soap_refresh_eigenbases([L, R], [QL, QR], V)
    out = soap_refresh(L.clone(), R.clone(), QL.clone(), QR.clone(), V.clone())
    assert isinstance(out, tuple) and len(out) == 3, f"{what}: expected a tuple (new_QL, new_QR, new_V), got {out!r:.80}"
    for name, got, expected in [("new_QL", out[0], ref_QL), ("new_QR", out[1], ref_QR)]:
        assert isinstance(got, torch.Tensor) and got.shape == expected.shape, (
            f"{what}: {name} should be a tensor of shape {tuple(expected.shape)}, got {got!r:.80}")
        signs = torch.sign((got * expected).sum(dim=0))  # a column may be flipped: QR is unique up to signs
        signs[signs == 0] = 1
        assert_close(got * signs, expected, what=f"{what}: {name} (columns compared up to their signs)",
                     rtol=1e-7, atol=1e-9)
    assert_close(out[2], ref_V, what=f"{what}: new_V (the rows of V in the order of L's estimates, its columns in "
                                     "the order of R's)")


L, R = random_statistic(4, 91), random_statistic(3, 92)
V = torch.arange(12, dtype=torch.float64).reshape(4, 3)
check_refresh(L, R, random_orthogonal(4, 93), random_orthogonal(3, 94), V, "soap_refresh(4 x 4 L, 3 x 3 R)")
print("soap_refresh: visible tests passed")

# %% [tests] id=test_soap_refresh_cases points=1
# Hidden tests (1 point): bases already sorted (identity order), a reversed basis, 1 x 1 and 5 x 2 shapes.
### BEGIN HIDDEN TESTS
import torch
from reference_impl.testing import hidden_inputs

h = hidden_inputs("08-soap-muon/test_soap_refresh_cases", globals().get("TERM_SECRET"))
L, R = random_statistic(5, h.seed("L")), random_statistic(2, h.seed("R"))
_, vec_L = torch.linalg.eigh(L)
_, vec_R = torch.linalg.eigh(R)
V = h.tensor("V", (5, 2), low=0.0, high=1.0)
check_refresh(L, R, vec_L.flip(1), vec_R.flip(1), V, "soap_refresh(bases already in decreasing order)")
check_refresh(L, R, vec_L, vec_R, V, "soap_refresh(bases in increasing order: the refresh reverses them)")
check_refresh(random_statistic(3, h.seed("L_3x3")), torch.full((1, 1), h.uniform("R_1x1", 0.5, 3.0), dtype=torch.float64),
              random_orthogonal(3, h.seed("QL_3x3")), torch.ones(1, 1, dtype=torch.float64),
              h.tensor("V_3x1", (3, 1), low=0.0, high=1.0), "soap_refresh(3 x 3 L, 1 x 1 R)")
### END HIDDEN TESTS

# %% [tests] id=test_soap_full points=1
# Hidden tests (1 point): your two functions inside the whole SOAP loop (statistics, initial eigenbases, refresh every f steps) against the course's SOAP, 40 steps.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, optimizer, quadratic
from reference_impl.optim import SOAP, soap_init_eigenbases, soap_update_preconditioner


def student_soap(lr, betas, eps, weight_decay, precondition_frequency):
    def step(param, grad, state):
        if state is None:  # SOAP's first call: statistics and exact eigenbases from the first gradient, no step
            factors = [torch.zeros(param.shape[0], param.shape[0], dtype=param.dtype),
                       torch.zeros(param.shape[1], param.shape[1], dtype=param.dtype)]
            soap_update_preconditioner(factors, grad, shampoo_beta=betas[1])
            return param.clone(), dict(GG=factors, Q=soap_init_eigenbases(factors), adam={})
        new = soap_adam_step(param, grad.clone(), state["adam"], state["Q"][0].clone(), state["Q"][1].clone(),
                             lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        soap_update_preconditioner(state["GG"], grad, shampoo_beta=betas[1])
        if state["adam"]["step"] % precondition_frequency == 0:
            QL, QR, V = soap_refresh(state["GG"][0].clone(), state["GG"][1].clone(), state["Q"][0].clone(),
                                     state["Q"][1].clone(), state["adam"]["V"].clone())
            state["Q"], state["adam"]["V"] = [QL, QR], V
        return new, state
    step.function = (f"SOAP built from soap_adam_step and soap_refresh (lr={lr}, betas={betas}, eps={eps}, "
                     f"weight_decay={weight_decay}, precondition_frequency={precondition_frequency})")
    return step


from reference_impl.testing import hidden_inputs

h = hidden_inputs("08-soap-muon/test_soap_full", globals().get("TERM_SECRET"))
for k, hyper in enumerate([dict(lr=h.log_uniform("lr0", 0.005, 0.02), betas=(0.95, 0.95), eps=1e-8,
                                weight_decay=h.log_uniform("weight_decay0", 0.005, 0.02), precondition_frequency=h.integer("frequency0", 2, 4)),
                           dict(lr=h.log_uniform("lr1", 0.01, 0.03), betas=(h.uniform("beta1_1", 0.85, 0.92), h.uniform("beta2_1", 0.98, 0.995)),
                                eps=1e-6, weight_decay=0.0, precondition_frequency=1)]):
    assert_same_trajectory(student_soap(**hyper), optimizer(SOAP, **hyper), h.tensor(f"theta0_{k}", (4, 3), low=0.5, high=1.5),
                           quadratic(12, seed=h.seed(f"quadratic{k}"), noise=0.3), steps=h.integer(f"steps{k}", 30, 50),
                           rtol=1e-6, atol=1e-8)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Newton–Schulz orthogonalisation (3 points)
#
# For a matrix $G = U\Sigma V^\top$ (reduced SVD), Muon wants $UV^\top$: every singular value replaced by 1. The
# quintic Newton–Schulz iteration approximates it with matrix products only. With coefficients $(a, b, c)$ and
# $k$ steps:
#
# $$\begin{aligned}
# X_0 &= G / \max(\lVert G \rVert_F, \epsilon) && \text{(Frobenius norm: every singular value is now at most 1)} \\
# A_j &= X_j X_j^\top, \qquad X_{j+1} = a\, X_j + \big(b\, A_j + c\, A_j^2\big) X_j, \qquad j = 0, \dots, k-1,
# \end{aligned}$$
#
# and the result is $X_k$. Each step maps every singular value $\sigma$ to $a\sigma + b\sigma^3 + c\sigma^5$. For a
# tall matrix ($m > n$) you may work with the transpose (so that $A_j$ is the smaller $n \times n$ Gram matrix)
# and transpose back: it is the same polynomial. Work in the dtype of `G` (the tests use float64) and return a
# tensor of the shape of `G`.

# %% [answer] id=newton_schulz
def newton_schulz(G, steps=5, coefficients=(3.4445, -4.775, 2.0315), eps=1e-7):
    """The quintic Newton-Schulz iteration: approximately U V^T for G = U S V^T.

    Args:
        G: 2-D tensor (not modified).
        steps: the number k of iterations (0 returns the normalised G).
        coefficients: (a, b, c).
        eps: the floor of the Frobenius norm in the normalisation.

    Returns:
        X_k, a tensor with the shape and dtype of G.
    """
    ### BEGIN SOLUTION
    a, b, c = coefficients
    tall = G.shape[0] > G.shape[1]
    X = G.T if tall else G
    X = X / max(X.norm().item(), eps)
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if tall else X
    ### END SOLUTION

# %% [tests] id=test_ns_visible points=1
# Visible tests (1 point): 5 steps on random 3 x 5 and 5 x 3 matrices against the course's zeropower_via_newtonschulz (in float64).
from reference_impl.testing import assert_close
from reference_impl.optim import zeropower_via_newtonschulz


def check_ns(G, **kw):
    expected = zeropower_via_newtonschulz(G, kw.get("coefficients", (3.4445, -4.775, 2.0315)), kw.get("steps", 5),
                                          kw.get("eps", 1e-7), dtype=G.dtype)
    args = ", ".join(f"{k}={v!r}" for k, v in kw.items())
    assert_close(newton_schulz(G.clone(), **kw), expected, what=f"newton_schulz(G of shape {tuple(G.shape)}, {args})",
                 rtol=1e-9, atol=1e-12)


gen = torch.Generator().manual_seed(102)
check_ns(torch.randn(3, 5, generator=gen, dtype=torch.float64))
check_ns(torch.randn(5, 3, generator=gen, dtype=torch.float64))
print("newton_schulz: visible tests passed")

# %% [tests] id=test_ns_cases points=1
# Hidden tests (1 point): 0, 1 and 10 steps, other coefficients, a square matrix, a row vector, a zero matrix.
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("08-soap-muon/test_ns_cases", globals().get("TERM_SECRET"))
gen = h.generator("matrices")
G = torch.randn(4, 6, generator=gen, dtype=torch.float64)
check_ns(G, steps=0)
check_ns(G, steps=1)
check_ns(G.T.contiguous(), steps=h.integer("many_steps", 8, 12))
check_ns(torch.randn(4, 4, generator=gen, dtype=torch.float64), coefficients=(2.0, -1.5, 0.5))
check_ns(torch.randn(1, 5, generator=gen, dtype=torch.float64), steps=3)
check_ns(torch.zeros(3, 2, dtype=torch.float64))
check_ns(1e-9 * torch.randn(2, 3, generator=gen, dtype=torch.float64), steps=2)
### END HIDDEN TESTS

# %% [tests] id=test_ns_svd points=1
# Hidden tests (1 point): the cubic iteration (a, b, c) = (1.5, -0.5, 0) converges to U V^T of the SVD (an independent oracle).
### BEGIN HIDDEN TESTS
from reference_impl.testing import hidden_inputs

h = hidden_inputs("08-soap-muon/test_ns_svd", globals().get("TERM_SECRET"))
gen = h.generator("matrices")
for shape in [(4, 6), (6, 4), (3, 3)]:
    G = torch.randn(*shape, generator=gen, dtype=torch.float64)
    U, S, Vh = torch.linalg.svd(G, full_matrices=False)
    assert_close(newton_schulz(G.clone(), steps=60, coefficients=(1.5, -0.5, 0.0)), U @ Vh,
                 what=f"newton_schulz(G of shape {shape}, steps=60, coefficients=(1.5, -0.5, 0.0)) vs U V^T of the SVD",
                 rtol=1e-6, atol=1e-8)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Muon (4 points)
#
# Muon is SGD with Nesterov momentum whose step is orthogonalised. For an $m \times n$ weight matrix $W$ with
# gradient $G_t$, momentum $\mu$ ($M_0 = 0$), learning rate $\eta$ and decoupled weight decay $\lambda$:
#
# $$\begin{aligned}
# M_t &= \mu M_{t-1} + (1-\mu)\, G_t \\
# U_t &= (1-\mu)\, G_t + \mu M_t && \text{(Nesterov; without it, } U_t = M_t\text{)} \\
# O_t &= \mathrm{NS}_k(U_t) && \text{(} k \text{ Newton–Schulz steps, default coefficients)} \\
# W_t &= (1 - \eta\lambda)\, W_{t-1} - \eta\, \sqrt{\max(1, m/n)}\; O_t
# \end{aligned}$$
#
# Use your `newton_schulz` for $\mathrm{NS}_k$, with $k$ = `ns_steps`, and `nesterov=False` for $U_t = M_t$. The
# Muon tests accept a `muon_step` that is right *given your `newton_schulz`*, so a bug there costs only
# `newton_schulz`'s points.
# The factor $\sqrt{\max(1, m/n)}$ (Keller Jordan's) gives tall matrices, whose orthogonalised update has smaller
# entries, a comparable per-entry step. The decay uses $\eta$ without that factor and shrinks the *old* weights.
# (The course's `Muon`, like `torch.optim.Muon`, runs Newton–Schulz in bfloat16; here everything stays in the
# parameter's float64, and the tests compare with the same algorithm in float64.) `buf` is $M_{t-1}$, `None` at
# the first step. Return `(new_param, new_buf)`.

# %% [answer] id=muon_step
def muon_step(param, grad, buf, lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.1, ns_steps=5):
    """One Muon step for an m x n weight matrix (Newton-Schulz in the parameter's dtype).

    Args:
        param: m x n tensor, W_{t-1}.
        grad: m x n tensor, G_t.
        buf: M_{t-1}, or None at the first step (zeros).
        lr: eta; momentum: mu; nesterov: use U_t = (1 - mu) G_t + mu M_t; weight_decay: lambda;
        ns_steps: the number of Newton-Schulz steps.

    Returns:
        (new_param, new_buf): W_t and M_t.
    """
    ### BEGIN SOLUTION
    if buf is None:
        buf = torch.zeros_like(param)
    buf = momentum * buf + (1 - momentum) * grad
    update = (1 - momentum) * grad + momentum * buf if nesterov else buf
    ortho = newton_schulz(update, steps=ns_steps)
    rows, cols = param.shape
    scale = max(1.0, rows / cols) ** 0.5
    return (1 - lr * weight_decay) * param - lr * scale * ortho, buf
    ### END SOLUTION

# %% [tests] id=test_muon_visible points=1
# Visible tests (1 point): five steps on a 3 x 4 matrix with lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.1, ns_steps=5,
# against the course's Muon or against Muon computed with your newton_schulz (so that a bug there is not counted twice).
from reference_impl.testing import assert_same_trajectory, fixed_gradients, with_buffer
from reference_impl.optim import muon_adjusted_lr, zeropower_via_newtonschulz


def reference_muon(lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.1, ns_steps=5, your_newton_schulz=False):
    """The course's muon_update, with Newton-Schulz in float64 instead of bfloat16. With your_newton_schulz=True,
    Muon built on your newton_schulz: if muon_step calls a faulty newton_schulz, only its tests lose points."""
    def step(param, grad, buf):
        buf = torch.zeros_like(param) if buf is None else buf
        buf = buf.lerp(grad, 1 - momentum)
        update = grad.lerp(buf, momentum) if nesterov else buf
        if your_newton_schulz:
            ortho = newton_schulz(update.clone(), steps=ns_steps)
        else:
            ortho = zeropower_via_newtonschulz(update, ns_steps=ns_steps, dtype=param.dtype)
        new = param * (1 - lr * weight_decay) - muon_adjusted_lr(lr, param.shape, None) * ortho
        return new, buf
    return step


hyper = dict(lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.1, ns_steps=5)
theta0 = torch.arange(12, dtype=torch.float64).reshape(3, 4) / 10 - 0.5
assert_same_trajectory(with_buffer(muon_step, **hyper), reference_muon(**hyper), theta0,
                       fixed_gradients((3, 4), seed=105), steps=5, rtol=1e-8, atol=1e-10,
                       built_on=reference_muon(**hyper, your_newton_schulz=True))
print("muon_step: visible tests passed")

# %% [tests] id=test_muon_trajectory points=2
# Hidden tests (2 points): 50 steps on a quadratic, tall and wide matrices, with and without Nesterov, several momenta and ns_steps.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, hidden_inputs, quadratic, with_buffer

h = hidden_inputs("08-soap-muon/test_muon_trajectory", globals().get("TERM_SECRET"))
grads = quadratic(12, seed=h.seed("quadratic"), noise=0.3)
u, lu = h.uniform, h.log_uniform
for k, (shape, hyper) in enumerate([((4, 3), dict(lr=lu("lr0", 0.01, 0.04))),
                                    ((3, 4), dict(lr=lu("lr1", 0.03, 0.08), momentum=u("momentum1", 0.85, 0.95), nesterov=False)),
                                    ((6, 2), dict(lr=lu("lr2", 0.005, 0.02), momentum=u("momentum2", 0.4, 0.6), weight_decay=0.0,
                                                  ns_steps=h.integer("ns_steps2", 2, 4))),
                                    ((2, 6), dict(lr=lu("lr3", 0.01, 0.04), momentum=u("momentum3", 0.7, 0.9), nesterov=True,
                                                  weight_decay=lu("weight_decay3", 0.5, 2.0)))]):
    assert_same_trajectory(with_buffer(muon_step, **hyper), reference_muon(**hyper),
                           h.tensor(f"theta0_{k}", shape, low=0.5, high=1.5), grads, steps=h.integer(f"steps{k}", 40, 60),
                           rtol=1e-8, atol=1e-10, built_on=reference_muon(**hyper, your_newton_schulz=True))
### END HIDDEN TESTS

# %% [tests] id=test_muon_edges points=1
# Hidden tests (1 point): zero gradients (a zero first step: only the decay), strong decay, a square matrix.
### BEGIN HIDDEN TESTS
from reference_impl.testing import assert_same_trajectory, fixed_gradients, hidden_inputs, with_buffer

h = hidden_inputs("08-soap-muon/test_muon_edges", globals().get("TERM_SECRET"))
grads = fixed_gradients((3, 3), seed=h.seed("gradients"), zero_steps=[0, 3])
for k, hyper in enumerate([dict(lr=h.uniform("lr0", 0.05, 0.2), weight_decay=h.uniform("weight_decay0", 0.2, 1.0)),
                           dict(lr=h.uniform("lr1", 0.05, 0.2), momentum=h.uniform("momentum1", 0.5, 0.7), nesterov=False,
                                weight_decay=h.uniform("weight_decay1", 1.0, 3.0))]):
    assert_same_trajectory(with_buffer(muon_step, **hyper), reference_muon(**hyper), h.tensor(f"theta0_{k}", (3, 3), low=0.5, high=1.5),
                           grads, steps=h.integer(f"steps{k}", 7, 10), rtol=1e-8, atol=1e-10,
                           built_on=reference_muon(**hyper, your_newton_schulz=True))
### END HIDDEN TESTS
