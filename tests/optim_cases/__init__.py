"""The table of optimizer cases that drives every optimizer test.

Each module in this package describes one family and defines

* ``CASES``: a list of :class:`OptimCase` (ours vs. its oracle, hyperparameters, tolerances);
* ``INVALID``: a list of :class:`InvalidCase` (keyword arguments that must raise ``ValueError`` naming ``arg``).

Adding a family = adding a module here; the tests in ``tests/test_optim_*.py`` pick it up.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch


@dataclass(frozen=True)
class OptimCase:
    """One optimizer configuration checked against its oracle.

    ``make_ours(params, **kwargs)`` / ``make_oracle(params, **kwargs)`` build the optimizers; ``kwargs`` is shared;
    ``group2`` overrides hyperparameters for a second parameter group (the last parameters of the model).
    ``model`` selects the test network (``"conv"``: 1-D, 2-D and 4-D parameters; ``"matrix"``: 2-D only).
    """

    id: str
    make_ours: Callable[..., torch.optim.Optimizer]
    make_oracle: Optional[Callable[..., torch.optim.Optimizer]]
    kwargs: dict = field(default_factory=dict)
    group2: Optional[dict] = None
    model: str = "conv"
    steps: int = 100
    dtypes: tuple = (torch.float32, torch.float64)
    rtol: dict = field(default_factory=lambda: {torch.float32: 1e-5, torch.float64: 1e-10})
    atol: dict = field(default_factory=lambda: {torch.float32: 1e-6, torch.float64: 1e-12})
    # called as hook(optimizer, step) before each step, and once more with step == steps after the last step
    # (then the parameters are compared again); schedule-free uses it to switch train/eval
    hook: Optional[Callable[[torch.optim.Optimizer, int], None]] = None
    note: str = ""


@dataclass(frozen=True)
class InvalidCase:
    """Constructing ``make(params, **kwargs)`` must raise ``ValueError`` whose message names ``arg``."""

    id: str
    make: Callable[..., torch.optim.Optimizer]
    kwargs: dict
    arg: str


def _families() -> list[Any]:
    return [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)]


def all_cases() -> list[OptimCase]:
    return [case for module in _families() for case in getattr(module, "CASES", [])]


def all_invalid() -> list[InvalidCase]:
    return [case for module in _families() for case in getattr(module, "INVALID", [])]


@dataclass(frozen=True)
class BehaviourCase:
    """One representative configuration per optimizer class, for behaviour tests.

    ``kwargs`` are used on the test network (``model`` as in :class:`OptimCase`); ``toy_kwargs`` on the 2-D toy
    problems (a quadratic and Rosenbrock, whose parameter is a ``(1, 2)`` matrix so that matrix optimizers apply),
    run for ``toy_steps`` steps.
    """

    id: str
    make: Callable[..., torch.optim.Optimizer]
    kwargs: dict
    toy_kwargs: dict
    model: str = "conv"
    toy_steps: int = 500


def all_behaviour() -> list[BehaviourCase]:
    return [case for module in _families() for case in getattr(module, "BEHAVIOUR", [])]
