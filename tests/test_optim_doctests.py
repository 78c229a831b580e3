"""The examples in the optimizer docstrings run and print what they say (they are the first code a reader sees)."""

import doctest
import importlib

import pytest

MODULES = [
    "reference_impl.optim.sgd",
    "reference_impl.optim.adaptive",
    "reference_impl.optim.adam",
    "reference_impl.optim.lion",
    "reference_impl.optim.lamb",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (see the output above)"
