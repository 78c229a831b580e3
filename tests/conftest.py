from __future__ import annotations

import os
import sys

import pytest

# the test helpers (_nets, optim_cases) are imported as top-level modules
sys.path.insert(0, os.path.dirname(__file__))
# nbgrader calls `alembic` and notebooks run on the environment's `python3` kernel: whether pytest was started by
# `make test` or as `.venv/bin/python -m pytest`, this environment's bin folder comes first on PATH.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
# tests never draw on screen
os.environ.setdefault("MPLBACKEND", "Agg")
# The test tensors are tiny: one thread is fastest. With the default (one per core), OpenMP threads spin against
# each other on a loaded 2-core machine: 100 SOAP steps (eigh, QR) took 20 s instead of 0.5 s (measured).
os.environ.setdefault("OMP_NUM_THREADS", "1")  # also for subprocesses (notebook kernels)
import torch

torch.set_num_threads(1)


# ------------------------------------------------------------------------------------------ parallel test runs
# `make test` runs the suite on every core with pytest-xdist (`-n auto --dist loadgroup`). Tests that share an
# expensive set-up must run in the same worker, or each worker repeats it:
# * every test that calls `_grading.graded(assignment)` (a per-process cache of one grading run of an assignment's
#   whole catalogue) -> one group per assignment, "graded-<assignment>", so the assignments spread over the workers
#   and each is graded once;
# * the tests of a module whose module-scoped fixtures start something (a browser, a server) -> one group per
#   module (test_browser.py: one Chromium and one HTTP server for all pages).
# xdist hands out the largest group first (loadscope reordering), so the longest unit of work starts at once and
# the other tests fill the other workers around it. Without xdist the marks do nothing.
SHARED_MODULES = {"test_browser.py"}


def _global_names(code) -> set[str]:
    """Global names a function's code uses, its nested comprehensions and lambdas included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _global_names(const)
    return names


def _xdist_group(item) -> str | None:
    code = getattr(getattr(item, "function", None), "__code__", None)
    if code is not None and "graded" in _global_names(code):
        params = getattr(getattr(item, "callspec", None), "params", {})
        assignment = params.get("assignment")
        return f"graded-{assignment}" if assignment else "graded-course"
    if item.path.name in SHARED_MODULES:
        return item.path.stem
    return None


# tryfirst: xdist's worker turns the marks into "@group" suffixes of the test ids in its own hook of the same name,
# which runs before a conftest's hook unless this one asks to go first
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        group = _xdist_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))



def pytest_configure(config):
    """Stop before any test when `--dist loadgroup` would ignore the groups: pytest-xdist 3.8 tags grouped tests by
    editing their ids, which pytest >= 9.2 no longer lets it do (pytest-xdist issue 1386). The set-up of every group
    would then repeat in each worker, silently; the lock pins pytest < 9.2."""
    if hasattr(config, "workerinput") or config.getoption("dist", "no") != "loadgroup":
        return
    from importlib.metadata import version

    def numbers(text: str) -> tuple[int, ...]:
        return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())

    if numbers(pytest.__version__) >= (9, 2) and numbers(version("pytest-xdist")) <= (3, 8):
        raise pytest.UsageError(
            f"pytest {pytest.__version__} with pytest-xdist {version('pytest-xdist')}: `--dist loadgroup` would "
            "ignore every xdist_group mark (pytest-xdist issue 1386). Install the locked versions (`make setup`).")
