"""Behaviour every optimizer shell must have, whatever its math (driven by ``tests/optim_cases``)."""

from __future__ import annotations

import io

import pytest
import torch

from _nets import make_batches, make_model, param_groups, train
from optim_cases import all_behaviour, all_invalid

BEHAVIOUR = [pytest.param(case, id=case.id) for case in all_behaviour()]


def quadratic(w: torch.Tensor) -> torch.Tensor:
    """An ill-conditioned quadratic (curvatures 1 and 20) with its minimum 0 at w = (1, -1)."""
    d = w.reshape(-1) - torch.tensor([1.0, -1.0], dtype=w.dtype)
    return 0.5 * (d[0] ** 2 + 20.0 * d[1] ** 2)


def rosenbrock(w: torch.Tensor) -> torch.Tensor:
    """Rosenbrock's banana, minimum 0 at w = (1, 1)."""
    x, y = w.reshape(-1)
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


@pytest.mark.parametrize("case", BEHAVIOUR)
@pytest.mark.parametrize("problem, start", [(quadratic, (-1.5, 1.0)), (rosenbrock, (-1.0, 1.5))], ids=["quadratic", "rosenbrock"])
def test_reduces_loss_on_toy_problems(case, problem, start):
    w = torch.nn.Parameter(torch.tensor([start], dtype=torch.float64))  # shape (1, 2): matrix optimizers apply
    opt = case.make([w], **case.toy_kwargs)
    initial = problem(w).item()
    for _ in range(case.toy_steps):
        opt.zero_grad()
        problem(w).backward()
        opt.step()
    if hasattr(opt, "eval"):
        opt.eval()  # schedule-free: evaluate at the averaged point x
    final = problem(w).item()
    assert final < 0.5 * initial, f"{case.id} did not halve the {problem.__name__} loss: {initial:.4g} -> {final:.4g}"


@pytest.mark.parametrize("case", BEHAVIOUR)
def test_closure_returns_loss_and_equals_plain_step(case):
    batches = make_batches(torch.float64, 10)
    runs = []
    for use_closure in (False, True):
        model = make_model(case.model, torch.float64)
        opt = case.make(model.parameters(), **case.kwargs)
        losses = train(model, opt, batches, use_closure=use_closure)
        runs.append((losses, [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == pytest.approx(runs[1][0], rel=1e-12)
    for p, q in zip(runs[0][1], runs[1][1], strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", BEHAVIOUR)
def test_parameter_without_gradient_is_skipped(case):
    model = make_model(case.model, torch.float64)
    frozen = [p for p in model.parameters() if p.dim() == 2][0]
    before = frozen.detach().clone()
    opt = case.make(model.parameters(), **case.kwargs)
    for x, y in make_batches(torch.float64, 5):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        frozen.grad = None
        opt.step()
    assert torch.equal(frozen.detach(), before)
    assert frozen not in opt.state or not opt.state[frozen]


def _save_and_load(checkpoint: dict) -> dict:
    """Write ``checkpoint`` with ``torch.save`` and read it back with ``torch.load``'s defaults.

    Since torch 2.6 the default is ``weights_only=True``: only tensors and plain Python containers and numbers
    load; anything else in a state_dict ("Unsupported global: GLOBAL ...") makes the checkpoint unloadable
    for every user who does not opt out of that safety.
    """
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    buffer.seek(0)
    return torch.load(buffer)


ROUND_TRIPS = [pytest.param(case, False, id=case.id) for case in all_behaviour()]
ROUND_TRIPS += [pytest.param(case, True, id=f"{case.id}-saved-in-eval-mode")
                for case in all_behaviour() if hasattr(case.make, "eval")]  # schedule-free: x in the parameters


@pytest.mark.parametrize("case, eval_before_saving", ROUND_TRIPS)
def test_state_dict_round_trip_resumes_identically(case, eval_before_saving):
    """Stop after 15 steps, checkpoint model and optimizer, resume in fresh objects: the next 15 steps equal
    those of the run that was never interrupted, bit for bit. (Schedule-free optimizers are also saved in eval
    mode, as their docs advise, and put back into train mode on both sides.)"""
    batches = make_batches(torch.float64, 30)
    model = make_model(case.model, torch.float64)
    opt = case.make(param_groups(model, None), **case.kwargs)
    train(model, opt, batches[:15])
    if eval_before_saving:
        opt.eval()
    saved = _save_and_load({"model": model.state_dict(), "opt": opt.state_dict()})
    resumed_model = make_model(case.model, torch.float64, seed=123)  # different initial weights, overwritten below
    resumed_model.load_state_dict(saved["model"])
    resumed = case.make(resumed_model.parameters(), **case.kwargs)
    resumed.load_state_dict(saved["opt"])
    if eval_before_saving:
        opt.train()
        resumed.train()
    train(model, opt, batches[15:])
    train(resumed_model, resumed, batches[15:])
    for p, q in zip(model.parameters(), resumed_model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_state_dict_round_trip_covers_every_optimizer():
    """The round trip above runs for all twelve optimizer classes of the library."""
    import reference_impl.optim as optim

    exported = {name for name in optim.__all__ if isinstance(getattr(optim, name), type)}
    covered = {case.make.__name__ for case in all_behaviour()}
    assert len(exported) == 12 and exported <= covered, sorted(exported - covered)


@pytest.mark.parametrize("case", BEHAVIOUR)
def test_nonfinite_gradient_propagates(case):
    """Documented behaviour: no optimizer of the course filters NaN/inf; a NaN gradient poisons the parameter."""
    w = torch.nn.Parameter(torch.ones(2, 2, dtype=torch.float64))
    opt = case.make([w], **case.toy_kwargs)
    for _ in range(2):  # some optimizers (SOAP) only initialise on the first step
        w.grad = torch.full_like(w, float("nan"))
        opt.step()
    assert torch.isnan(w).any(), f"{case.id}: a NaN gradient left the parameter finite"


INVALID = [pytest.param(case, id=case.id) for case in all_invalid()]


@pytest.mark.parametrize("case", INVALID)
def test_invalid_hyperparameter_raises_value_error_naming_it(case):
    params = [torch.nn.Parameter(torch.zeros(3, 3))]
    with pytest.raises(ValueError) as info:
        case.make(params, **case.kwargs)
    assert case.arg in str(info.value), f"message {str(info.value)!r} does not name {case.arg!r}"


def test_every_public_optimizer_has_cases():
    """Each class exported by reference_impl.optim appears in the behaviour table."""
    import reference_impl.optim as optim

    exported = {name for name in optim.__all__ if isinstance(getattr(optim, name), type)}
    covered = {case.make.__name__ for case in all_behaviour() if isinstance(case.make, type)}
    assert exported <= covered, f"no behaviour case for {sorted(exported - covered)}"


def test_optimizer_state_bytes_counts_every_storage_once():
    """One size function serves the benchmarks, the bake-off and the book: nested containers are searched, a view
    or a second reference adds nothing, empty tensors and non-tensors count 0, several optimizers add up."""
    from reference_impl.optim import SGD, optimizer_state_bytes

    p, q = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
    first, second = SGD([p], lr=0.1), SGD([q], lr=0.1)
    assert optimizer_state_bytes([first, second]) == 0  # no state before the first step
    buffer = torch.zeros(10, dtype=torch.float64)  # 80 bytes
    first.state[p] = {"m": buffer, "view": buffer[2:5], "again": [buffer, None], "step": 3,
                      "nested": {"v": torch.zeros(4, dtype=torch.float32)}, "empty": torch.zeros(0)}  # + 16 bytes
    second.state[q] = {"m": torch.zeros(5, dtype=torch.int16)}  # 10 bytes
    assert optimizer_state_bytes(first) == 80 + 16
    assert optimizer_state_bytes([first, second]) == 80 + 16 + 10
    with pytest.raises(ValueError, match="optimizers"):
        optimizer_state_bytes([first, "not an optimizer"])
