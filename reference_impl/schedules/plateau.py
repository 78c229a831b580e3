"""Reduce the learning rate when a metric stops improving: the one schedule with state."""

from __future__ import annotations

import math

from .._validation import check_nonnegative, check_nonnegative_int
from .shapes import _check_min_lr

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau:
    r"""Cut the learning rate by ``factor`` when a monitored metric stops improving.

    Call :meth:`update` once per evaluation (usually once per epoch) with the metric; it returns the learning rate
    to use next. The rule, as in ``torch.optim.lr_scheduler.ReduceLROnPlateau``:

    1. the metric *improves* when it beats the best value so far by more than the threshold:
       ``mode="min"``: :math:`m < m^* - \delta`, ``mode="max"``: :math:`m > m^* + \delta`, with
       :math:`\delta` = ``threshold`` (``threshold_mode="abs"``) or :math:`\delta` = ``threshold`` ·
       :math:`|m^*|` (``"rel"``); an improvement resets the count of bad epochs, anything else adds one;
    2. during the ``cooldown`` updates that follow a reduction, bad epochs are not counted;
    3. when the count of bad epochs **exceeds** ``patience`` (``>``, not ``>=``), the learning rate becomes
       :math:`\max(\eta \cdot \text{factor}, \eta_{min})` — unless that changes it by less than ``eps`` — the
       count restarts and the cooldown begins.

    One deliberate difference from torch: the relative threshold uses :math:`|m^*|`. Torch multiplies by
    :math:`m^*` itself, so for a negative metric (a log-likelihood, say) its "improvement" test in ``rel`` mode
    is backwards by :math:`2\delta|m^*|` (in ``min`` mode a slightly *worse* value counts as better). For
    positive metrics, and in ``abs`` mode, the two agree at every update.

    Attributes: ``lr`` (current learning rate), ``best``, ``num_bad_epochs``, ``cooldown_counter``.
    """

    def __init__(
        self,
        lr: float,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        check_nonnegative("lr", lr)
        if mode not in ("min", "max"):
            raise ValueError(f"Invalid mode: {mode!r} (expected 'min' or 'max')")
        if not (isinstance(factor, (int, float)) and 0 <= factor < 1):
            raise ValueError(f"Invalid factor: {factor!r} (expected 0 <= factor < 1)")
        check_nonnegative_int("patience", patience)
        check_nonnegative("threshold", threshold)
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"Invalid threshold_mode: {threshold_mode!r} (expected 'rel' or 'abs')")
        check_nonnegative_int("cooldown", cooldown)
        _check_min_lr(min_lr, lr)
        check_nonnegative("eps", eps)
        self.lr, self.mode, self.factor, self.patience = float(lr), mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown, self.min_lr, self.eps = (
            threshold, threshold_mode, cooldown, min_lr, eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def is_better(self, metric: float) -> bool:
        """Whether ``metric`` counts as an improvement on ``self.best``."""
        sign = 1.0 if self.mode == "min" else -1.0  # +1: smaller is better
        if self.threshold_mode == "abs":
            bound = self.best - sign * self.threshold
        elif self.best >= 0:
            bound = self.best * (1 - sign * self.threshold)  # best -/+ threshold * |best|
        else:
            bound = self.best * (1 + sign * self.threshold)  # the same for best < 0 (torch moves it the wrong way)
        return sign * metric < sign * bound

    def update(self, metric) -> float:
        """Record one evaluation of the metric and return the learning rate to use from now on."""
        metric = float(metric)
        if self.is_better(metric):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:  # bad epochs do not count while cooling down
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:  # strictly more than `patience` bad epochs
            new_lr = max(self.lr * self.factor, self.min_lr)
            if self.lr - new_lr > self.eps:  # ignore negligible reductions, as torch does
                self.lr = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        return self.lr
