"""Every optimizer of reference_impl.optim follows its oracle's parameter trajectory, step for step.

Driven by the case table in ``tests/optim_cases``: for each case and dtype, two copies of the same network are
trained on the same mini-batches, one by our optimizer and one by the oracle, and the parameters are compared
after every step (relative tolerance 1e-5 in float32 and 1e-10 in float64 unless a case documents otherwise).
A case's ``hook(optimizer, step)`` runs before every step and once more after the last one (``step == steps``),
followed by one more comparison.
"""

from __future__ import annotations

import pytest
import torch

from _nets import make_batches, make_model, param_groups
from optim_cases import all_cases

CASES = [pytest.param(case, dtype, id=f"{case.id}-{str(dtype).split('.')[-1]}")
         for case in all_cases() if case.make_oracle is not None for dtype in case.dtypes]


@pytest.mark.parametrize("case, dtype", CASES)
def test_trajectory_matches_oracle(case, dtype):
    ours_model, oracle_model = make_model(case.model, dtype), make_model(case.model, dtype)
    ours = case.make_ours(param_groups(ours_model, case.group2), **case.kwargs)
    oracle = case.make_oracle(param_groups(oracle_model, case.group2), **case.kwargs)
    rtol, atol = case.rtol[dtype], case.atol[dtype]
    for step, (x, y) in enumerate(make_batches(dtype, case.steps)):
        for model, opt in ((ours_model, ours), (oracle_model, oracle)):
            if case.hook is not None:
                case.hook(opt, step)
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        _assert_same(case, ours_model, oracle_model, rtol, atol, f"after step {step + 1}")
    if case.hook is not None:
        # one last call after the final step: a case can switch to its evaluation state here (schedule-free: the
        # parameters then hold the average x instead of the gradient point y), which is compared too
        for opt in (ours, oracle):
            case.hook(opt, case.steps)
        _assert_same(case, ours_model, oracle_model, rtol, atol, f"after the final hook call (step {case.steps})")


def _assert_same(case, ours_model, oracle_model, rtol, atol, when):
    for (name, p), q in zip(ours_model.named_parameters(), oracle_model.parameters(), strict=True):
        torch.testing.assert_close(
            p, q, rtol=rtol, atol=atol, msg=lambda m, name=name: f"{case.id}: parameter {name} differs {when}: {m}")
