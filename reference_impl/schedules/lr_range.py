"""Smith's learning-rate range test ("LR finder"): a short training run while the learning rate grows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from .._validation import check_positive, check_positive_int
from .shapes import exponential_decay
from .torch_adapter import as_torch_scheduler

__all__ = ["LRRangeResult", "lr_range_test"]


@dataclass
class LRRangeResult:
    """The outcome of :func:`lr_range_test`.

    ``lrs[k]`` is the learning rate of step ``k``, ``raw_losses[k]`` the mini-batch loss at that step (before the
    update), ``losses[k]`` its smoothed, bias-corrected running average, and ``suggestion`` the learning rate where
    the smoothed loss falls fastest per decade of lr.
    """

    lrs: list[float]
    losses: list[float]
    raw_losses: list[float]
    suggestion: float
    suggestion_index: int
    diverged: bool


def lr_range_test(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batches: Iterable,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    smooth: float = 0.98,
    diverge_factor: float = 4.0,
) -> LRRangeResult:
    r"""Smith's learning-rate range test ("LR finder"): train briefly while the lr grows geometrically.

    Step ``k = 0 .. num_steps-1`` uses :math:`\eta_k = \eta_{lo} (\eta_{hi}/\eta_{lo})^{k/(K-1)}`, i.e.
    ``exponential_decay(min_lr, gamma)`` with :math:`\gamma = (\eta_{hi}/\eta_{lo})^{1/(K-1)} > 1`. Each step takes
    the next ``(inputs, targets)`` batch from ``batches`` (restarting it when exhausted), computes
    ``loss_fn(model(inputs), targets)``, records it, and takes an optimizer step. The recorded curve is smoothed
    with a bias-corrected exponential moving average :math:`\bar L_k = \text{EMA}_k / (1 - s^{k+1})`,
    :math:`s` = ``smooth``; the test stops early when the smoothed loss exceeds ``diverge_factor`` times its best
    value so far, or the loss is not finite.

    The **suggestion** is the learning rate where the smoothed loss decreases fastest against
    :math:`\log \eta` (the most negative central difference), searched on the descending part of the curve,
    i.e. at learning rates below the one of the lowest smoothed loss (the chaotic region after the minimum can
    have steep drops too). It is a starting point, not a tuned value.

    The model's parameters and buffers and the optimizer's state (momentum buffers, learning rates) are restored
    afterwards, so the test leaves no trace. ``optimizer`` must be built on ``model``'s parameters.
    """
    check_positive("min_lr", min_lr)
    check_positive("max_lr", max_lr)
    if max_lr <= min_lr:
        raise ValueError(f"Invalid max_lr: {max_lr!r} (expected max_lr > min_lr = {min_lr!r})")
    check_positive_int("num_steps", num_steps)
    if num_steps < 3:
        raise ValueError(f"Invalid num_steps: {num_steps!r} (expected at least 3 steps)")
    if not (isinstance(smooth, (int, float)) and 0 <= smooth < 1):
        raise ValueError(f"Invalid smooth: {smooth!r} (expected 0 <= smooth < 1)")
    if not (isinstance(diverge_factor, (int, float)) and diverge_factor > 1):
        raise ValueError(f"Invalid diverge_factor: {diverge_factor!r} (expected a number > 1)")

    sweep = exponential_decay(min_lr, (max_lr / min_lr) ** (1 / (num_steps - 1)))
    model_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizer_state = _clone_state(optimizer.state_dict())
    scheduler = as_torch_scheduler(optimizer, sweep)
    was_training = model.training
    model.train()
    lrs, raw, smoothed = [], [], []
    average, best, diverged = 0.0, math.inf, False
    stream = _cycle(batches)
    try:
        for k in range(num_steps):
            inputs, targets = next(stream)
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            value = loss.item()
            if not math.isfinite(value):
                diverged = True
                break
            loss.backward()
            optimizer.step()
            average = smooth * average + (1 - smooth) * value
            current = average / (1 - smooth ** (k + 1))  # bias-corrected running average
            lrs.append(sweep(k))
            raw.append(value)
            smoothed.append(current)
            best = min(best, current)
            if current > diverge_factor * best:
                diverged = True
                break
            scheduler.step()
    finally:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
        model.train(was_training)
    if len(lrs) < 3:
        raise ValueError(
            f"Invalid min_lr: {min_lr!r} (the loss diverged after {len(lrs)} steps; start the sweep lower)"
        )
    # the slope of the smoothed loss against log(lr), on the descending part (up to the lowest loss);
    # the suggestion is where that slope is most negative
    lowest = min(range(len(smoothed)), key=smoothed.__getitem__)
    logs = [math.log(lr) for lr in lrs]
    slopes = {i: (smoothed[i + 1] - smoothed[i - 1]) / (logs[i + 1] - logs[i - 1]) for i in range(1, max(lowest, 2))}
    index = min(slopes, key=slopes.__getitem__)
    return LRRangeResult(lrs, smoothed, raw, lrs[index], index, diverged)


def _cycle(batches: Iterable):
    """Yield from ``batches`` forever, restarting it (e.g. a new DataLoader epoch) whenever it runs out."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ValueError(
                "Invalid batches: ran out of batches (pass a list or a DataLoader, which can be iterated again)"
            )


def _clone_state(state):
    """A deep copy of an optimizer ``state_dict`` (tensors cloned), so that later steps cannot change it."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {key: _clone_state(value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_clone_state(value) for value in state)
    return state
