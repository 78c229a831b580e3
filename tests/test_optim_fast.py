"""The fast paths and the memory-saving forms compute what the readable pure functions compute.

* ``foreach=True`` / ``fused=True`` run the family's own update function over all tensors of a group, compiled with
  ``torch.compile``. Each family's compiled path is stepped side by side with its eager path (the readable function,
  tensor by tensor) on the same gradients, with a learning-rate change mid-run, and must agree to float32 rounding.
  Each case compiles once (seconds to tens of seconds on a small CPU).
* Schedule-free keeps only ``z`` (the parameter holds ``y``): the ``*_yz`` update forms are checked step by step
  against the readable three-sequence forms (``x`` stored) that the chapter shows.
* ``maximize=True`` on every optimizer equals minimising with the negated gradient.
* Without a working compiler the eager path runs, with one warning.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import reference_impl.optim as optim
from reference_impl.optim import _shell

SHAPES = [(5, 4), (4,), (2, 3, 2)]


def _params(seed: int, dtype=torch.float32) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape, generator=gen, dtype=dtype)) for shape in SHAPES]


def _run_side_by_side(make, steps: int = 6, hook=None):
    """Step an eager and a fast optimizer (built by ``make(params, fast)``) on identical gradients; yield after
    every step the two parameter lists."""
    eager_params, fast_params = _params(0), _params(0)
    eager, fast = make(eager_params, False), make(fast_params, True)
    gen = torch.Generator().manual_seed(1)
    for step in range(steps):
        if hook is not None:
            hook(eager, step), hook(fast, step)
        for p, q in zip(eager_params, fast_params, strict=True):
            g = torch.randn(p.shape, generator=gen)
            p.grad, q.grad = g.clone(), g.clone()
        eager.step()
        fast.step()
        yield step, eager_params, fast_params, eager, fast


def _halve_lr_at_3(opt, step):
    if step == 3:
        for group in opt.param_groups:
            group["lr"] = group["lr"] * 0.5


FAST_CASES = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=1e-2)),
    ("RMSprop", dict(lr=1e-2, momentum=0.5, centered=True, weight_decay=1e-2)),
    ("Adadelta", dict(lr=0.5, weight_decay=1e-2)),
    ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=1e-2, maximize=True)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1)),
    ("Lion", dict(lr=1e-2, weight_decay=0.1)),
    ("SGDScheduleFree", dict(lr=0.1, weight_decay=1e-2, warmup_steps=2)),
    ("AdamWScheduleFree", dict(lr=1e-2, weight_decay=1e-2, warmup_steps=2)),
]


@pytest.mark.parametrize("name, kwargs", FAST_CASES, ids=[c[0] for c in FAST_CASES])
def test_compiled_fast_path_equals_eager_path(name, kwargs):
    cls = getattr(optim, name)
    keyword = "foreach" if name in ("SGD", "Lion") else "fused"  # both keywords select the same path

    def make(params, fast):
        opt = cls(params, **kwargs, **({keyword: True} if fast else {}))
        if hasattr(opt, "train"):
            opt.train()
        return opt

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a compiler fallback would make this test meaningless
        for step, eager_params, fast_params, _, _ in _run_side_by_side(make, hook=_halve_lr_at_3):
            for p, q in zip(eager_params, fast_params, strict=True):
                torch.testing.assert_close(q, p, rtol=2e-6, atol=2e-7, msg=lambda m, step=step: f"{name} step {step + 1}: {m}")


def _loop_bodies(source: str) -> list[str]:
    """The bodies of the element loops (``for(int64_t x...``) of Inductor's generated C++, braces matched."""
    bodies = []
    for start in [i for i in range(len(source)) if source.startswith("for(int64_t x", i)]:
        open_at = source.index("{", start)
        depth, end = 0, open_at
        for end in range(open_at, len(source)):
            depth += {"{": 1, "}": -1}.get(source[end], 0)
            if depth == 0:
                break
        bodies.append(source[open_at:end + 1])
    return bodies


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_compiled_adam_computes_the_bias_corrections_once_per_step(name, monkeypatch):
    """Fused into the element loop, ``1 - beta ** step`` is two libm ``pow`` calls every 16 elements (the C compiler
    may not hoist them), which made the compiled Adam 1.4x torch's fused kernel; the fast path's Inductor options
    store such step scalars once. Checked on the generated code, not by timing."""
    from torch._inductor.utils import run_and_get_code

    monkeypatch.setattr(_shell, "_COMPILED", {})  # compile here, in this test, whatever ran before
    params = [torch.nn.Parameter(torch.randn(64, 64)) for _ in range(2)]
    opt = getattr(optim, name)(params, lr=1e-3, fused=True)

    def two_steps():
        for _ in range(2):  # the first step traces the step count as a constant; the second as an input
            for p in params:
                p.grad = torch.randn_like(p)
            opt.step()

    with torch._inductor.config.patch(fx_graph_cache=False), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _, sources = run_and_get_code(two_steps)
    loops = [body for source in sources for body in _loop_bodies(source)]
    assert loops, "no element loop in the generated code: is the fast path compiled at all?"
    assert not [body for body in loops if "pow(" in body], "a pow() is evaluated inside an element loop"


def test_missing_compiler_falls_back_to_eager_with_one_warning(monkeypatch):
    def broken_compile(fn, *args, **kwargs):
        def run(*a, **k):
            raise torch._inductor.exc.InvalidCxxCompiler()

        return run

    monkeypatch.setattr(_shell.torch, "compile", broken_compile)
    monkeypatch.setattr(_shell, "_COMPILED", {})
    monkeypatch.setattr(_shell, "_FAILED", set())

    def make(params, fast):
        return optim.AdamW(params, lr=1e-2, fused=fast)

    with pytest.warns(RuntimeWarning, match="eager path") as record:
        for _, eager_params, fast_params, _, _ in _run_side_by_side(make, steps=3):
            for p, q in zip(eager_params, fast_params, strict=True):
                assert torch.equal(p, q)  # the eager path itself: bit for bit
    assert len([w for w in record if "eager path" in str(w.message)]) == 1


def test_foreach_and_fused_together_raise():
    with pytest.raises(RuntimeError, match="cannot be `True` together"):
        optim.Adam([torch.nn.Parameter(torch.ones(2))], foreach=True, fused=True)
    with pytest.raises(ValueError, match="fused"):
        optim.Adam([torch.nn.Parameter(torch.ones(2))], fused=1)


# ----------------------------------------------------------------------------------- schedule-free: y/z vs x/y/z


@pytest.mark.parametrize("family", ["sgd", "adamw"])
@pytest.mark.parametrize("beta, weight_decay", [(0.9, 0.0), (0.5, 0.1)])
def test_schedule_free_yz_form_equals_readable_form(family, beta, weight_decay):
    """The step written on y and z alone (what the optimizers run) tracks the three-sequence form of the chapter."""
    gen = torch.Generator().manual_seed(3)
    y0 = torch.randn(50, generator=gen, dtype=torch.float64)
    y, z, x = y0.clone(), y0.clone(), y0.clone()  # readable form: y, z, x
    y2, z2 = y0.clone(), y0.clone()  # memory form: y, z
    v, v2 = torch.zeros(50, dtype=torch.float64), torch.zeros(50, dtype=torch.float64)
    lr_max, weight_sum = -1.0, 0.0
    for k in range(60):
        g = torch.randn(50, generator=gen, dtype=torch.float64)
        lr, c, lr_max, weight_sum = optim.schedule_free_weight(k, 0.05, warmup_steps=5, r=0.0, weight_lr_power=2.0,
                                                               lr_max=lr_max, weight_sum=weight_sum)
        if family == "sgd":
            optim.schedule_free_sgd_update(y, g, z, x, lr=lr, c=c, momentum=beta, weight_decay=weight_decay)
            optim.schedule_free_sgd_update_yz(y2, g, z2, lr=lr, c=c, momentum=beta, weight_decay=weight_decay)
        else:
            kw = dict(step=k + 1, lr=lr, c=c, betas=(beta, 0.99), eps=1e-8, weight_decay=weight_decay)
            optim.schedule_free_adamw_update(y, g, z, x, v, **kw)
            optim.schedule_free_adamw_update_yz(y2, g, z2, v2, **kw)
        torch.testing.assert_close(y2, y, rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(z2, z, rtol=1e-12, atol=1e-13)
        x2 = optim.schedule_free_eval_params(y2.clone(), z2, beta)
        torch.testing.assert_close(x2, x, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("name, bytes_per_param", [("SGDScheduleFree", 4), ("AdamWScheduleFree", 8)])
def test_schedule_free_state_is_the_authors_size(name, bytes_per_param):
    params = _params(0)
    opt = getattr(optim, name)(params)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    stored = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values() if torch.is_tensor(t))
    assert stored == bytes_per_param * sum(p.numel() for p in params)


# -------------------------------------------------------------------------------------------------------- maximize

ALL = [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("Adagrad", dict(lr=0.1)),
    ("RMSprop", dict(lr=1e-2, centered=True)),
    ("Adadelta", dict()),
    ("Adam", dict(lr=1e-2)),
    ("AdamW", dict(lr=1e-2)),
    ("Lion", dict(lr=1e-2)),
    ("Lamb", dict(lr=1e-2)),
    ("SOAP", dict(lr=1e-2, precondition_frequency=2)),
    ("Muon", dict(lr=1e-2)),
    ("SGDScheduleFree", dict(lr=0.1)),
    ("AdamWScheduleFree", dict(lr=1e-2)),
]


@pytest.mark.parametrize("name, kwargs", ALL, ids=[c[0] for c in ALL])
def test_maximize_equals_minimising_the_negated_gradient(name, kwargs):
    cls = getattr(optim, name)
    gen = torch.Generator().manual_seed(5)
    start = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    a, b = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    maxi, mini = cls([a], maximize=True, **kwargs), cls([b], **kwargs)
    for _ in range(5):
        g = torch.randn(4, 3, generator=gen, dtype=torch.float64)
        a.grad, b.grad = g.clone(), -g
        maxi.step(), mini.step()
        assert torch.equal(a, b)
        assert torch.equal(a.grad, g), "the gradient must not be modified"


@pytest.mark.parametrize("name", [c[0] for c in ALL])
def test_tensor_lr_is_accepted_and_must_have_one_element(name):
    cls = getattr(optim, name)
    w = torch.nn.Parameter(torch.ones(2, 2))
    cls([w], lr=torch.tensor(0.01))
    with pytest.raises(ValueError, match="lr"):
        cls([w], lr=torch.tensor([0.01, 0.02]))
    with pytest.raises(ValueError, match="lr"):
        cls([w], lr=torch.tensor(-0.01))
