"""The examples in the library's docstrings run and print what they say (they are the first code a reader sees).

Every module of ``reference_impl`` is found by walking the package, so a new module's examples run without
being listed here.
"""

import doctest
import importlib
import inspect
import pkgutil

import pytest

import reference_impl

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(reference_impl.__path__, prefix=f"{reference_impl.__name__}.")
)


def test_every_library_module_is_walked():
    """The walk reaches the subpackages' modules too (a wrong walk would leave the test below with nothing)."""
    assert {"reference_impl.optim.soap", "reference_impl.optim.muon", "reference_impl.optim.schedule_free",
            "reference_impl.problems", "reference_impl.plotting"} <= set(MODULES)
    assert any(name.startswith("reference_impl.schedules") for name in MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    if ">>>" in inspect.getsource(module):
        # an example that doctest does not collect (say, in a nested function's docstring) would never run
        assert result.attempted > 0, f"{name} has examples, but doctest found none of them"
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (see the output above)"
