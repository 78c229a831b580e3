"""Closed-form checks of SOAP, Muon and schedule-free beyond oracle parity (``test_optim_parity.py``).

They cover what parity cannot: SOAP's float64 basis refresh (the port runs it in float32), Newton–Schulz against the
SVD, and the schedule-free train/eval contract.
"""

from __future__ import annotations

import pytest
import torch

from _nets import make_batches, make_model, train
from reference_impl.optim import (
    SOAP,
    AdamWScheduleFree,
    Muon,
    SGDScheduleFree,
    schedule_free_weight,
    soap_project,
    soap_project_back,
    soap_refresh_eigenbases,
    zeropower_via_newtonschulz,
)

# ----------------------------------------------------------------------------------------------- Muon / Newton–Schulz


def _random(shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _quintic(s, coefficients=(3.4445, -4.775, 2.0315), steps=5):
    a, b, c = coefficients
    for _ in range(steps):
        s = a * s + b * s**3 + c * s**5
    return s


@pytest.mark.parametrize("shape", [(32, 16), (16, 32), (8, 8)], ids=["tall", "wide", "square"])
def test_newton_schulz_float64_is_the_quintic_applied_to_the_singular_values(shape):
    g = _random(shape)
    u, s, vh = torch.linalg.svd(g, full_matrices=False)
    expected = u @ torch.diag(_quintic(s / torch.linalg.norm(g))) @ vh  # X_5 = U p^(5)(S / ||G||_F) V^T
    out = zeropower_via_newtonschulz(g, dtype=torch.float64)
    assert out.dtype == torch.float64 and out.shape == g.shape
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
@pytest.mark.parametrize("shape", [(32, 16), (16, 32)], ids=["tall", "wide"])
def test_newton_schulz_approximates_u_vt(shape, dtype):
    """Five quintic steps land every singular value in about [0.7, 1.12] (not 1: the coefficients trade exactness
    for a steep slope at 0), so the spectral distance to U V^T is at most ~0.3 on a Gaussian matrix, whose
    smallest normalised singular value (~0.07 here) is far above the ~1/200 the iteration can lift to 0.7.
    bfloat16 (8-bit mantissa) adds about 0.01. Tolerance 0.35 on both; measured 0.29 (float64), 0.30 (bfloat16)."""
    g = _random(shape, seed=1)
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    out = zeropower_via_newtonschulz(g, dtype=dtype).double()
    assert torch.linalg.matrix_norm(out - u @ vh, ord=2) < 0.35
    singular = torch.linalg.svdvals(out)
    assert singular.min() > 0.65 and singular.max() < 1.2


def test_newton_schulz_with_the_convergent_cubic_reaches_u_vt():
    """With (a, b, c) = (1.5, -0.5, 0), the classical cubic Newton–Schulz iteration, X converges to U V^T."""
    g = _random((24, 10), seed=2)
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    out = zeropower_via_newtonschulz(g, (1.5, -0.5, 0.0), ns_steps=60, dtype=torch.float64)
    torch.testing.assert_close(out, u @ vh, rtol=0, atol=1e-12)


def test_muon_rejects_parameters_that_are_not_matrices():
    model = make_model("conv", torch.float32)  # conv kernels (4-D) and biases (1-D)
    with pytest.raises(ValueError, match="params") as info:
        Muon(model.parameters())
    assert "2-D" in str(info.value)


# ------------------------------------------------------------------------------------------------------------ SOAP


def _spd(n, seed=0):
    a = _random((n, n), seed)
    return a @ a.T + n * torch.eye(n, dtype=torch.float64)  # symmetric positive definite


def test_soap_refresh_orders_the_basis_and_permutes_the_second_moment():
    """Start from the exact eigenvectors in a shuffled order: one refresh must put them in decreasing-eigenvalue
    order (up to sign) and move the rows of V with them."""
    p = _spd(6)
    _, vectors = torch.linalg.eigh(p)  # ascending
    shuffle = torch.tensor([2, 5, 0, 3, 1, 4])
    v = _random((6, 4), seed=3).abs()
    (q,), v_new = soap_refresh_eigenbases([p], [vectors[:, shuffle]], v)
    descending = torch.flip(vectors, dims=[1])
    torch.testing.assert_close((q.T @ descending).abs(), torch.eye(6, dtype=torch.float64), rtol=0, atol=1e-10)
    # the new first row of V is the row that belonged to the largest eigenvalue (column 5 of `vectors`)
    order = [list(shuffle).index(i) for i in (5, 4, 3, 2, 1, 0)]
    torch.testing.assert_close(v_new, v[order], rtol=0, atol=0)


def test_soap_refresh_in_float64_is_power_iteration_towards_the_eigenvectors():
    """P = V diag(8, 7, ..., 1) V^T: repeated refreshes are orthogonal (subspace) iteration, which converges to V
    (up to signs) at the slowest rate (7/8)^k; after 400 refreshes that is 6e-24."""
    vectors = torch.linalg.qr(_random((8, 8), seed=4))[0]
    p = vectors @ torch.diag(torch.arange(8, 0, -1, dtype=torch.float64)) @ vectors.T
    q = torch.eye(8, dtype=torch.float64)  # an arbitrary orthogonal start
    v = torch.zeros(8, 3, dtype=torch.float64)
    for _ in range(400):
        (q,), v = soap_refresh_eigenbases([p], [q], v)
        torch.testing.assert_close(q.T @ q, torch.eye(8, dtype=torch.float64), rtol=0, atol=1e-13)
    torch.testing.assert_close((q.T @ vectors).abs(), torch.eye(8, dtype=torch.float64), rtol=0, atol=1e-10)


def test_soap_rotation_is_q_transpose_g_q_and_is_inverted_by_project_back():
    ql, qr = torch.linalg.qr(_random((5, 5)))[0], torch.linalg.qr(_random((7, 7), seed=1))[0]
    g = _random((5, 7), seed=2)
    torch.testing.assert_close(soap_project(g, [ql, qr]), ql.T @ g @ qr, rtol=0, atol=1e-13)
    t = _random((5, 3, 7), seed=3)  # a tensor whose middle axis is not rotated
    bases = [ql, None, qr]
    torch.testing.assert_close(soap_project_back(soap_project(t, bases), bases), t, rtol=0, atol=1e-13)


def test_soap_first_step_only_initialises():
    w = torch.nn.Parameter(_random((4, 3)))
    before = w.detach().clone()
    opt = SOAP([w], lr=0.1, weight_decay=0.5)
    w.grad = _random((4, 3), seed=1)
    opt.step()
    assert torch.equal(w.detach(), before)  # no step, no decay
    state = opt.state[w]
    assert state["step"] == 0 and not state["exp_avg"].any() and not state["exp_avg_sq"].any()
    # L = (1 - beta_s) G G^T with beta_s = betas[1] = 0.95, and Q_L its eigenvectors, largest eigenvalue first
    torch.testing.assert_close(state["GG"][0], 0.05 * w.grad @ w.grad.T, rtol=1e-14, atol=0)
    eigenvalues = torch.diag(state["Q"][0].T @ state["GG"][0] @ state["Q"][0])
    assert torch.all(eigenvalues[:-1] >= eigenvalues[1:] - 1e-15)


def test_soap_runs_in_float64_with_basis_refreshes():
    """The authors' code fails on float64 parameters; ours keeps every statistic, basis and QR in float64."""
    model = make_model("conv", torch.float64)
    opt = SOAP(model.parameters(), lr=3e-3, precondition_frequency=3, precondition_1d=True, merge_dims=True,
               max_precond_dim=15)
    before = [p.detach().clone() for p in model.parameters()]
    losses = train(model, opt, make_batches(torch.float64, 40))
    assert all(torch.isfinite(torch.tensor(losses))) and all(torch.isfinite(p).all() for p in model.parameters())
    assert all(not torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
    for state in opt.state.values():
        tensors = [state["exp_avg"], state["exp_avg_sq"]] + [t for t in state["GG"] + state["Q"] if t is not None]
        assert all(t.dtype == torch.float64 for t in tensors)
        for q in state["Q"]:
            if q is not None:
                torch.testing.assert_close(q.T @ q, torch.eye(q.shape[0], dtype=torch.float64), rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------------- schedule-free


@pytest.mark.parametrize("cls, kwargs", [(SGDScheduleFree, dict(lr=0.2)), (AdamWScheduleFree, dict(lr=5e-3))],
                         ids=["sgd", "adamw"])
def test_schedule_free_eval_train_round_trip_restores_parameters_to_rounding(cls, kwargs):
    """x is not stored (the authors' memory): eval() extrapolates it from y and z, train() interpolates back. The
    round trip must return y to within 2 ulps of max(|y|, |z|) at beta = 0.9 (measured: 1), and state["x"] must be
    what eval() puts in the parameters."""
    model = make_model("conv", torch.float32)
    opt = cls(model.parameters(), warmup_steps=5, **kwargs)
    train(model, opt, make_batches(torch.float32, 37))
    y = [p.detach().clone() for p in model.parameters()]
    x_read = [opt.state[p]["x"] for p in model.parameters()]
    opt.eval()
    x = [p.detach().clone() for p in model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(x, x_read, strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(x, y, strict=True)), "eval() did not change the parameters"
    assert all(torch.equal(opt.state[p]["x"], p.detach()) for p in model.parameters())
    opt.train()
    for p, before in zip(model.parameters(), y, strict=True):
        scale = torch.maximum(before.abs(), opt.state[p]["z"].abs())
        ulp = torch.nextafter(scale, torch.tensor(float("inf"))) - scale
        assert ((p.detach() - before).abs() <= 2 * ulp).all()
    assert set(opt.state[next(model.parameters())]) <= {"z", "exp_avg_sq"}, "x must not be stored"


@pytest.mark.parametrize("cls", [SGDScheduleFree, AdamWScheduleFree])
def test_schedule_free_step_in_eval_mode_raises(cls):
    w = torch.nn.Parameter(torch.ones(3))
    opt = cls([w])
    w.grad = torch.ones(3)
    opt.step()  # starts in train mode, like an nn.Module
    opt.eval()
    with pytest.raises(RuntimeError, match=r"train\(\)"):
        opt.step()


def test_schedule_free_weights_closed_forms():
    # constant lr, r = 0: c_{t+1} = 1 / (t + 1), x is the running mean of the z iterates
    lr_max, total = -1.0, 0.0
    for t in range(50):
        lr_t, c, lr_max, total = schedule_free_weight(t, 0.5, warmup_steps=0, r=0.0, weight_lr_power=2.0,
                                                      lr_max=lr_max, weight_sum=total)
        assert lr_t == 0.5 and c == pytest.approx(1 / (t + 1), rel=1e-14)
    # linear warm-up over 4 steps, weights lr_max^2: c_4 = 1 / (1 + 4 + 9 + 16) * 16 after the ramp
    lr_max, total, cs = -1.0, 0.0, []
    for t in range(5):
        lr_t, c, lr_max, total = schedule_free_weight(t, 1.0, warmup_steps=4, r=0.0, weight_lr_power=2.0,
                                                      lr_max=lr_max, weight_sum=total)
        cs.append(c)
        assert lr_t == pytest.approx(min(1.0, (t + 1) / 4), rel=1e-15)
    assert cs[3] == pytest.approx(1.0 / (1 / 16 + 4 / 16 + 9 / 16 + 1), rel=1e-14)
    assert cs[4] == pytest.approx(1.0 / (1 / 16 + 4 / 16 + 9 / 16 + 2), rel=1e-14)
    # lr = 0: every weight is 0 and c is 0 instead of 0 / 0
    assert schedule_free_weight(0, 0.0, warmup_steps=0, r=0.0, weight_lr_power=2.0, lr_max=-1.0, weight_sum=0.0)[1] == 0
