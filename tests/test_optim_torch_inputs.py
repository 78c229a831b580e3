"""PyTorch's own optimizer test inputs, run on ours: every optimizer that torch also has must take torch's
constructor inputs unchanged and follow torch's trajectory, and must refuse torch's error inputs with the same
exception type.

The inputs come from ``torch.testing._internal.common_optimizers.optim_db`` (the table that drives torch's
``test/test_optim.py``; it imports only with the test-only package ``expecttest``). For each constructor input,
ours and torch (single-tensor path) train two copies of the same small network on the same gradients for 20 steps;
the parameters must agree after every step (rtol 1e-5 / atol 1e-6 in float32). Error messages are ours (they name
the argument), so only the exception *type* is compared, as is whether the error comes at construction or at
``step()``; a warning input must warn with the same category.
"""

from __future__ import annotations

import inspect
import warnings

import pytest
import torch

import reference_impl.optim as ours

common_optimizers = pytest.importorskip("torch.testing._internal.common_optimizers",
                                        reason="needs the test-only package expecttest (pip install expecttest)")
OptimizerErrorEnum = common_optimizers.OptimizerErrorEnum

SHARED = [info for info in common_optimizers.optim_db if hasattr(ours, info.optim_cls.__name__)]
STEPS = 20


def _inputs():
    for info in SHARED:
        for index, optim_input in enumerate(info.optim_inputs_func(device="cpu", dtype=torch.float32)):
            yield pytest.param(info, optim_input, id=f"{info.optim_cls.__name__}-{index}-{optim_input.desc}")


def _errors():
    for info in SHARED:
        for index, error in enumerate(info.optim_error_inputs_func(device="cpu", dtype=torch.float32)):
            yield pytest.param(info, error, id=f"{info.optim_cls.__name__}-{index}-{error.optimizer_error_input.desc}")


def test_every_optimizer_torch_also_has_is_covered():
    names = {info.optim_cls.__name__ for info in SHARED}
    assert {"SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Muon"} <= names


def _params(matrices_only: bool) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(0)
    shapes = [(4, 3), (3, 2)] if matrices_only else [(4, 3), (4,), (3, 2, 2)]
    return [torch.nn.Parameter(torch.randn(shape, generator=gen)) for shape in shapes]


@pytest.mark.parametrize("info, optim_input", list(_inputs()))
def test_torch_constructor_inputs_follow_torchs_trajectory(info, optim_input):
    name = info.optim_cls.__name__
    accepted = set(inspect.signature(getattr(ours, name).__init__).parameters)
    refused = set(optim_input.kwargs) - accepted
    assert not refused, f"ours does not take {sorted(refused)}"
    assert optim_input.params is None  # torch's inputs use the test's own parameters
    matrices_only = name == "Muon"
    mine, theirs = _params(matrices_only), _params(matrices_only)
    kwargs = dict(optim_input.kwargs)
    oracle_kwargs = dict(kwargs, foreach=False) if "foreach" in inspect.signature(info.optim_cls).parameters else kwargs
    opt_mine = getattr(ours, name)(mine, **kwargs)
    opt_theirs = info.optim_cls(theirs, **oracle_kwargs)
    gen = torch.Generator().manual_seed(1)
    for step in range(STEPS):
        for p, q in zip(mine, theirs, strict=True):
            g = torch.randn(p.shape, generator=gen)
            p.grad, q.grad = g.clone(), g.clone()
        opt_mine.step()
        opt_theirs.step()
        for p, q in zip(mine, theirs, strict=True):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6,
                                       msg=lambda m, step=step: f"{name}({optim_input.desc}) step {step + 1}: {m}")


# Error inputs that encode a limitation of torch's implementation, not an invalid input: torch's hand-written
# foreach kernels cannot take a tensor lr; our foreach path (the compiled update function) can. Ours must accept
# these and step; every other error input must raise.
TORCH_LIMITATIONS = {"lr as Tensor doesn't work with foreach & not capturable"}


@pytest.mark.parametrize("info, error", list(_errors()))
def test_torch_error_inputs_raise_the_same_type(info, error):
    cls = getattr(ours, info.optim_cls.__name__)
    optim_input = error.optimizer_error_input
    params = optim_input.params
    if params is None:  # errors raised by hyperparameter validation come before the parameters are looked at
        params = _params(info.optim_cls.__name__ == "Muon")
    if optim_input.desc in TORCH_LIMITATIONS:
        opt = cls(params, **optim_input.kwargs)
        for p in params:
            p.grad = torch.ones_like(p)
        before = [p.detach().clone() for p in params]
        opt.step()
        assert all(not torch.equal(p, b) for p, b in zip(params, before, strict=True))
        return

    def expect(action):
        if issubclass(error.error_type, Warning):
            with pytest.warns(error.error_type):
                action()
        else:
            with pytest.raises(error.error_type), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                action()

    if error.error_on == OptimizerErrorEnum.CONSTRUCTION_ERROR:
        expect(lambda: cls(params, **optim_input.kwargs))
    else:
        opt = cls(params, **optim_input.kwargs)
        expect(opt.step)
