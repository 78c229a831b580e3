"""Learning-rate schedules as plain functions ``step -> lr``.

A **schedule** is any callable that maps a step index ``t = 0, 1, 2, ...`` to a learning rate. The learning rate
``schedule(t)`` is the one used by the optimizer step number ``t`` (counted from 0). A **factory** binds the
hyperparameters and returns such a function::

    >>> sched = cosine_annealing(0.1, total_steps=100)
    >>> sched(0), sched(50), sched(100)
    (0.1, 0.05, 0.0)

Because a schedule is a pure function (no state, no hidden counter), ``sched(t)`` is the same whatever was called
before, it can be plotted, composed with :func:`join`, and tested against a closed form at every step. PyTorch's
``torch.optim.lr_scheduler`` classes are the oracle in the tests; :func:`as_torch_scheduler` hands any of our
schedules to a real optimizer. The one stateful exception is :class:`ReduceLROnPlateau`, whose learning rate depends
on the metrics it has seen.

Rules shared by every factory:

* invalid hyperparameters raise ``ValueError`` naming the argument (``Invalid total_steps: 0 ...``);
* a negative or non-integer step raises ``ValueError`` naming ``step``;
* every schedule is defined for *all* steps ``t >= 0``. What happens after the last step of a finite schedule is
  documented in each factory; the rule is that a finite schedule **holds its final value** (cosine stays at
  ``min_lr``, one-cycle stays at its final lr). PyTorch differs there: ``CosineAnnealingLR`` rises again after
  ``T_max`` (it is periodic) and ``OneCycleLR`` raises after one extra step.

Equation labels in the comments (``# (eq-cosine)``) are those of the schedules chapter of the book.

The package, one module per concern (everything public is imported here, so ``reference_impl.schedules.NAME``
works for every name below):

* :mod:`~reference_impl.schedules.shapes` -- the pure schedules (constant, step and exponential decay, cosine with
  and without restarts, linear warm-up, one-cycle, warmup-stable-decay) and the step check they share;
* :mod:`~reference_impl.schedules.compose` -- :func:`join` and the warm-up + cosine built with it;
* :mod:`~reference_impl.schedules.plateau` -- :class:`ReduceLROnPlateau`, the one stateful schedule;
* :mod:`~reference_impl.schedules.torch_adapter` -- :func:`as_torch_scheduler`, any schedule as a torch scheduler;
* :mod:`~reference_impl.schedules.lr_range` -- Smith's LR range test, a short training loop.
"""

from .compose import join, warmup_cosine
from .plateau import ReduceLROnPlateau
from .lr_range import LRRangeResult, lr_range_test
from .shapes import (
    Schedule,
    constant,
    cosine_annealing,
    cosine_warm_restarts,
    exponential_decay,
    linear_warmup,
    one_cycle,
    step_decay,
    wsd,
)
from .torch_adapter import ScheduleLR, as_torch_scheduler

__all__ = [
    "Schedule",
    "constant",
    "step_decay",
    "exponential_decay",
    "cosine_annealing",
    "cosine_warm_restarts",
    "linear_warmup",
    "join",
    "warmup_cosine",
    "one_cycle",
    "wsd",
    "ReduceLROnPlateau",
    "as_torch_scheduler",
    "ScheduleLR",
    "lr_range_test",
    "LRRangeResult",
]
