"""Unit tests of the grading helpers: readable failures, in-place vs functional answers, the notebook builder."""

from __future__ import annotations

import pytest
import torch
import _pipeline as pipeline

from pathlib import Path

from course_grading import authoring
from reference_impl.testing import (assert_close, assert_same_trajectory, fixed_gradients, optimizer,
                                            quadratic, stateless, with_buffer, with_state_dict)
from reference_impl.optim import SGD

ROOT = Path(__file__).resolve().parent.parent

THETA0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)


def momentum_functional(param, grad, buf, lr, momentum):
    buf = grad.clone() if buf is None else momentum * buf + grad
    return param - lr * buf, buf


def momentum_in_place(param, grad, buf, lr, momentum):
    if buf is None:
        buf = torch.zeros_like(param)
    buf.mul_(momentum).add_(grad)
    param.sub_(lr * buf)
    return param, buf


def momentum_damped(param, grad, buf, lr, momentum):
    buf = grad.clone() if buf is None else momentum * buf + (1 - momentum) * grad
    return param - lr * buf, buf


@pytest.mark.parametrize("fn", [momentum_functional, momentum_in_place])
def test_correct_answers_pass_in_either_style(fn):
    assert_same_trajectory(with_buffer(fn, lr=0.1, momentum=0.9), optimizer(SGD, lr=0.1, momentum=0.9), THETA0,
                           quadratic(3, seed=1), steps=30)


def test_failure_names_step_hyperparameters_and_values():
    with pytest.raises(AssertionError) as err:
        assert_same_trajectory(with_buffer(momentum_damped, lr=0.1, momentum=0.9),
                               optimizer(SGD, lr=0.1, momentum=0.9), THETA0, fixed_gradients(3, seed=4), steps=5)
    message = str(err.value)
    assert "momentum_damped(lr=0.1, momentum=0.9)" in message
    assert "after step 2 of 5" in message and "step 1 matched" in message  # the first step agrees (b_1 = g_1)
    assert "expected" in message and "got" in message and "element [" in message


def test_wrong_return_shapes_are_explained():
    with pytest.raises(AssertionError, match="must return a pair"):
        assert_same_trajectory(with_buffer(lambda p, g, b, lr: p - lr * g, lr=0.1), optimizer(SGD, lr=0.1), THETA0,
                               fixed_gradients(3), steps=1)
    with pytest.raises(AssertionError, match="must return the new parameter"):
        assert_same_trajectory(with_state_dict(lambda p, g, s, lr: None, lr=0.1), optimizer(SGD, lr=0.1), THETA0,
                               fixed_gradients(3), steps=1)
    with pytest.raises(AssertionError, match="shape"):
        assert_close(torch.zeros(2), torch.zeros(3), what="x")


def test_stateless_gradient_descent_matches_sgd():
    assert_same_trajectory(stateless(lambda param, grad, lr: param - lr * grad, lr=0.05), optimizer(SGD, lr=0.05),
                           torch.zeros(4, dtype=torch.float64), quadratic(4, seed=2, zero=[1]), steps=20)


def test_gradient_sources_are_reproducible():
    grads = quadratic(4, seed=3, zero=[2])
    x = torch.randn(4, dtype=torch.float64)
    assert torch.equal(grads(x, 5), grads(x.clone(), 5))
    assert not torch.equal(grads(x, 5), grads(x, 6))
    assert grads(x, 0)[2] == 0
    fixed = fixed_gradients((2, 2), seed=1, zero_steps=[1])
    assert torch.equal(fixed(None, 0), fixed(None, 0)) and not fixed(None, 1).any()


def test_builder_rejects_malformed_sources():
    with pytest.raises(ValueError, match="first line"):
        authoring.parse_source("# %% [markdown]\n# hi\n")
    with pytest.raises(ValueError, match="points"):
        authoring.parse_source("# notebook: x.ipynb\n# %% [tests] id=t\nassert True\n")
    with pytest.raises(ValueError, match="duplicate"):
        authoring.parse_source("# notebook: x.ipynb\n# %% [tests] id=t points=1\npass\n# %% [tests] id=t points=1\npass\n")
    with pytest.raises(ValueError, match="BEGIN/END SOLUTION"):
        authoring.parse_source("# notebook: x.ipynb\n# %% [answer] id=a\ndef f():\n    pass\n")


def test_builder_metadata():
    name, nb = authoring.parse_source("# notebook: x.ipynb\n# %% [markdown]\n# # Title\n#\n# text\n"
                                      "# %% [answer] id=a\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n\n\n"
                                      "# %% [tests] id=t points=2\nassert x == 1\n")
    assert name == "x.ipynb" and nb.metadata.kernelspec.name == "python3"
    md, answer, test = nb.cells
    assert md.source == "# Title\n\ntext" and "nbgrader" not in md.metadata
    assert answer.metadata.nbgrader == {"grade": False, "grade_id": "a", "locked": False, "schema_version": 3,
                                        "solution": True, "task": False}
    assert answer.source.endswith("### END SOLUTION")  # trailing blank lines dropped
    assert test.metadata.nbgrader["points"] == 2 and test.metadata.nbgrader["locked"]
    assert authoring.answer_source(answer.source) == "x = 1"


def test_student_notebook_rejects_stale_edits():
    with pytest.raises(ValueError, match="occurs 0 times"):
        pipeline.student_notebook(ROOT, "02-gradient-descent", "gradient_descent.ipynb",
                                  [pipeline.Edit("gd_step", "no such text", "x")])
    with pytest.raises(ValueError, match="no answer cell"):
        pipeline.student_notebook(ROOT, "02-gradient-descent", "gradient_descent.ipynb",
                                  [pipeline.Edit("nope", None, "x")])


def test_assert_same_schedule_reports_the_first_wrong_step():
    from reference_impl.testing import assert_same_schedule
    from reference_impl.schedules import cosine_annealing

    reference = cosine_annealing(0.1, 10)
    assert_same_schedule(lambda t: reference(t), reference, range(15), what="cosine")
    assert_same_schedule(lambda t: torch.tensor(reference(t), dtype=torch.float64), reference, range(3), what="cosine as a tensor")
    shifted = cosine_annealing(0.1, 11)
    with pytest.raises(AssertionError, match=r"cosine\(lr=0.1\): at step 1, expected 0.09755282581, got .*"
                                             r"step 0 matched"):
        assert_same_schedule(shifted, reference, range(15), what="cosine(lr=0.1)")
    with pytest.raises(AssertionError, match=r"at step 0, expected a number, got tuple"):
        assert_same_schedule(lambda t: (0.1, 0.9), reference, range(3), what="one_cycle")


def test_a_numpy_array_in_state_is_named_with_the_type_expected():
    import numpy as np
    from reference_impl.optim import Adam
    from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_state_dict

    def keeps_numpy(param, grad, state, lr=0.1):
        state["m"] = np.zeros(3)
        return param - lr * grad

    with pytest.raises(AssertionError, match=r"state\['m'\] is of type ndarray \(a numpy array\); keep torch tensors"):
        assert_same_trajectory(with_state_dict(keeps_numpy, lr=0.1), optimizer(Adam, lr=0.1),
                               torch.zeros(3, dtype=torch.float64), fixed_gradients(3), steps=2)


def test_built_on_accepts_a_function_right_given_its_faulty_helper():
    from reference_impl.optim import AdamW
    from reference_impl.testing import assert_same_trajectory, fixed_gradients, optimizer, with_state_dict

    def faulty_adam(param, grad, state, lr=0.1, weight_decay=0.0):   # not Adam at all: plain gradient descent
        return param - lr * grad

    def adamw(param, grad, state, lr=0.1, weight_decay=0.1):
        return faulty_adam(param * (1 - lr * weight_decay), grad, state, lr=lr)

    def built(param, grad, state, lr=0.1, weight_decay=0.1):
        return faulty_adam(param * (1 - lr * weight_decay), grad, state, lr=lr)

    def wrong(param, grad, state, lr=0.1, weight_decay=0.1):
        return faulty_adam(param, grad, state, lr=lr)

    args = (optimizer(AdamW, lr=0.1, weight_decay=0.1), torch.ones(3, dtype=torch.float64), fixed_gradients(3))
    with pytest.raises(AssertionError):
        assert_same_trajectory(with_state_dict(adamw), *args, steps=3)
    assert_same_trajectory(with_state_dict(adamw), *args, steps=3, built_on=with_state_dict(built))
    with pytest.raises(AssertionError, match=r"wrong\(\): parameter after step 1"):
        assert_same_trajectory(with_state_dict(wrong), *args, steps=3, built_on=with_state_dict(built))
