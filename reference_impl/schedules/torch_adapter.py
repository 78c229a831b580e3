"""Handing a schedule to torch: a ``torch.optim.lr_scheduler.LRScheduler`` that sets ``lr = schedule(step)``."""

from __future__ import annotations

from typing import Optional, Sequence, Union

import torch

from .shapes import Schedule

__all__ = ["ScheduleLR", "as_torch_scheduler"]


class ScheduleLR(torch.optim.lr_scheduler.LRScheduler):
    """A ``torch.optim.lr_scheduler.LRScheduler`` that sets each group's ``lr`` to ``schedule(step)``.

    Built by :func:`as_torch_scheduler`. ``last_epoch`` is the step index: after construction the optimizer's lr is
    ``schedule(0)``, and after the ``k``-th ``scheduler.step()`` it is ``schedule(k)``. The usual loop
    ``optimizer.step(); scheduler.step()`` therefore runs optimizer step ``k`` with ``schedule(k)``. With a
    momentum schedule it also sets each group's ``momentum`` (or the first of its ``betas``), as ``OneCycleLR``
    does. The schedules themselves are not saved in ``state_dict()`` (functions are not data); rebuild them and
    load the step count.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedules: list[Schedule],
        momentum: Optional[Schedule] = None,
        last_epoch: int = -1,
    ) -> None:
        self.schedules = schedules
        self.momentum_schedule = momentum
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if self.momentum_schedule is not None:
            for group in self.optimizer.param_groups:
                if "betas" in group:  # Adam-type: the momentum is beta_1
                    group["betas"] = (self.momentum_schedule(step), *group["betas"][1:])
                else:
                    group["momentum"] = self.momentum_schedule(step)
        return [schedule(step) for schedule in self.schedules]

    def _get_closed_form_lr(self) -> list[float]:
        return self.get_lr()

    def state_dict(self) -> dict:
        functions = ("optimizer", "schedules", "momentum_schedule")
        return {key: value for key, value in self.__dict__.items() if key not in functions}


def as_torch_scheduler(
    optimizer: torch.optim.Optimizer,
    schedule: Union[Schedule, Sequence[Schedule]],
    momentum: Optional[Schedule] = None,
) -> ScheduleLR:
    r"""Wrap a schedule (or one schedule per parameter group) as a torch ``LRScheduler`` for ``optimizer``.

    Every group's ``lr`` is *set* to ``schedule(step)`` (not multiplied by the group's initial lr, unlike
    ``LambdaLR``). Use it as any torch scheduler: ``optimizer.step()`` then ``scheduler.step()`` once per step.
    ``momentum``, a schedule ``step -> momentum`` such as ``one_cycle(...).momentum``, also sets every group's
    ``momentum`` (SGD, RMSprop) or :math:`\beta_1` (Adam-type ``betas``); by default momentum is left alone.

    >>> import torch
    >>> from reference_impl.schedules import cosine_annealing
    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> opt = torch.optim.SGD([w], lr=1.0)
    >>> sched = as_torch_scheduler(opt, cosine_annealing(0.1, total_steps=4))
    >>> opt.param_groups[0]["lr"]
    0.1
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"Invalid optimizer: {optimizer!r} (expected a torch.optim.Optimizer)")
    n_groups = len(optimizer.param_groups)
    schedules = [schedule] * n_groups if callable(schedule) else list(schedule)
    if len(schedules) != n_groups or not all(callable(s) for s in schedules):
        raise ValueError(
            f"Invalid schedule: {schedule!r} (expected a callable or a list of {n_groups} callables, one per group)"
        )
    if momentum is not None:
        if not callable(momentum):
            raise ValueError(f"Invalid momentum: {momentum!r} (expected a schedule step -> momentum, or None)")
        if not all("momentum" in group or "betas" in group for group in optimizer.param_groups):
            raise ValueError("Invalid momentum: the optimizer has neither a 'momentum' nor a 'betas' hyperparameter")
    return ScheduleLR(optimizer, schedules, momentum)
