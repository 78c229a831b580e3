"""Small real data sets, mini-batches, a small MLP and a plain training loop for the book's experiments.

The data sets ship with scikit-learn (no download): ``digits`` (1797 8x8 images, 10 classes, 64 features),
``breast_cancer`` (569 samples, 2 classes, 30 features) and ``wine`` (178 samples, 3 classes, 13 features).
scikit-learn is imported only when a data set is loaded.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, NamedTuple, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ._validation import check_nonnegative_int, check_positive_int

__all__ = ["Split", "History", "DATASETS", "load_classification", "iterate_minibatches", "make_mlp", "train"]

DATASETS = ("digits", "breast_cancer", "wine")
"""The names :func:`load_classification` accepts."""


class Split(NamedTuple):
    """A train/test split: float features (standardised with the training statistics), long labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


@dataclass
class History:
    """What :func:`train` records.

    Attributes:
        train_loss: the mini-batch loss of every step (before the step's update).
        lr: the learning rate of the first parameter group at every step.
        test_loss: mean test loss after every epoch.
        test_accuracy: test accuracy (fraction in [0, 1]) after every epoch.
        epoch_train_loss: mean loss on the whole training set after every epoch.
        wall_time: cumulative training seconds at the end of every epoch (evaluation time excluded).
    """

    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    epoch_train_loss: list[float] = field(default_factory=list)
    wall_time: list[float] = field(default_factory=list)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"Invalid seed: {seed!r} (expected an integer >= 0)")
    return int(seed)


def load_classification(
    name: str = "digits",
    test_fraction: float = 0.25,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Split:
    """Load a scikit-learn classification data set as a standardised, stratified train/test split.

    Features are standardised with the *training* mean and standard deviation (constant features, such as the
    always-blank corner pixels of ``digits``, are only centred). Labels are ``torch.long`` class indices.

    Args:
        name: ``"digits"``, ``"breast_cancer"`` or ``"wine"``.
        test_fraction: the share of samples held out for testing, in (0, 1).
        seed: the seed of the (stratified) shuffle.
        dtype: the floating dtype of the features.
    """
    if name not in DATASETS:
        raise ValueError(f"Invalid name: {name!r} (expected one of {DATASETS})")
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, (int, float))
        or not 0 < test_fraction < 1
    ):
        raise ValueError(f"Invalid test_fraction: {test_fraction!r} (expected a number in (0, 1))")
    seed = _check_seed(seed)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"Invalid dtype: {dtype!r} (expected a floating torch dtype)")

    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    loader = {"digits": datasets.load_digits, "breast_cancer": datasets.load_breast_cancer, "wine": datasets.load_wine}
    x, y = loader[name](return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x.astype(np.float64), y, test_size=test_fraction, random_state=seed, stratify=y
    )
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0
    x_train = (x_train - mean) / std
    x_test = (x_test - mean) / std
    return Split(
        torch.tensor(x_train, dtype=dtype),
        torch.tensor(y_train, dtype=torch.long),
        torch.tensor(x_test, dtype=dtype),
        torch.tensor(y_test, dtype=torch.long),
    )


def iterate_minibatches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(xb, yb)`` mini-batches that cover every sample exactly once (one epoch).

    With ``shuffle`` the order is a random permutation drawn from ``seed`` (same seed, same order); otherwise
    the samples come in their stored order. The last batch is smaller when ``batch_size`` does not divide the
    number of samples; a ``batch_size`` at least the number of samples gives one full batch.
    """
    if not isinstance(x, torch.Tensor) or x.ndim == 0:
        raise ValueError(f"Invalid x: expected a tensor with a leading sample dimension, got {type(x).__name__}")
    if not isinstance(y, torch.Tensor) or y.ndim == 0 or len(y) != len(x):
        raise ValueError(f"Invalid y: expected a tensor with {len(x)} samples like x")
    check_positive_int("batch_size", batch_size)
    seed = _check_seed(seed)
    n = len(x)
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    else:
        order = torch.arange(n)
    for begin in range(0, n, batch_size):
        index = order[begin : begin + batch_size]
        yield x[index], y[index]


def make_mlp(
    in_features: int,
    hidden: Sequence[int] = (64,),
    out_features: int = 10,
    seed: int = 0,
    activation: str = "tanh",
) -> nn.Sequential:
    """A fully connected network ``Linear -> act -> ... -> Linear`` with PyTorch's default initialisation.

    Args:
        in_features: the input width.
        hidden: the widths of the hidden layers (``()`` gives a linear model, i.e. logistic regression
            with a cross-entropy loss).
        out_features: the number of outputs (classes).
        seed: the seed of the initial weights (``torch.manual_seed`` is set, so the call is reproducible).
        activation: ``"tanh"`` (default: smooth, bounded) or ``"relu"``.
    """
    check_positive_int("in_features", in_features)
    check_positive_int("out_features", out_features)
    try:
        widths = [int(h) for h in hidden]
    except (TypeError, ValueError):
        raise ValueError(f"Invalid hidden: {hidden!r} (expected a sequence of integers >= 1)") from None
    if any(w < 1 for w in widths) or any(isinstance(h, bool) for h in hidden):
        raise ValueError(f"Invalid hidden: {hidden!r} (expected a sequence of integers >= 1)")
    seed = _check_seed(seed)
    acts = {"tanh": nn.Tanh, "relu": nn.ReLU}
    if activation not in acts:
        raise ValueError(f"Invalid activation: {activation!r} (expected 'tanh' or 'relu')")
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    sizes = [in_features, *widths]
    for fan_in, fan_out in itertools.pairwise(sizes):
        layers += [nn.Linear(fan_in, fan_out), acts[activation]()]
    layers.append(nn.Linear(sizes[-1], out_features))
    return nn.Sequential(*layers)


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(dim=1) == y).float().mean().item()
    return loss, accuracy


def train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    split: Split,
    epochs: int,
    batch_size: int,
    schedule: Optional[Callable[[int], float]] = None,
    seed: int = 0,
    progress: bool = False,
) -> History:
    """Train ``model`` with the softmax cross-entropy loss and mini-batch steps; return a :class:`History`.

    Epoch ``e`` visits the training set in the order drawn by :func:`iterate_minibatches` with seed
    ``seed + e``. With ``schedule``, the learning rate of every parameter group is set to ``schedule(t)``
    before step ``t`` (counted from 0 over the whole run). Optimizers with ``train()``/``eval()`` modes
    (schedule-free) are switched to ``eval()`` for the per-epoch evaluation and back. A tqdm progress bar over
    the epochs is shown only with ``progress=True``.

    If the loss becomes non-finite the run stops early; the history then has fewer epochs than asked.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"Invalid model: expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"Invalid optimizer: expected a torch.optim.Optimizer, got {type(optimizer).__name__}")
    if not isinstance(split, Split):
        raise ValueError(f"Invalid split: expected a Split, got {type(split).__name__}")
    check_nonnegative_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    if schedule is not None and not callable(schedule):
        raise ValueError(f"Invalid schedule: {schedule!r} (expected a callable step -> lr, or None)")
    seed = _check_seed(seed)

    epoch_range: Sequence[int] | Iterator[int] = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        epoch_range = tqdm(epoch_range, desc="epochs")
    has_modes = callable(getattr(optimizer, "train", None)) and callable(getattr(optimizer, "eval", None))
    history = History()
    step = 0
    elapsed = 0.0
    for epoch in epoch_range:
        model.train()
        if has_modes:
            optimizer.train()
        started = time.perf_counter()
        diverged = False
        for xb, yb in iterate_minibatches(split.x_train, split.y_train, batch_size, shuffle=True, seed=seed + epoch):
            if schedule is not None:
                lr = schedule(step)
                for group in optimizer.param_groups:
                    group["lr"] = lr
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            value = loss.item()
            history.train_loss.append(value)
            history.lr.append(float(optimizer.param_groups[0]["lr"]))
            step += 1
            if not math.isfinite(value):
                diverged = True
                break
        elapsed += time.perf_counter() - started
        if diverged:
            break
        model.eval()
        if has_modes:
            optimizer.eval()
        test_loss, test_accuracy = _evaluate(model, split.x_test, split.y_test)
        train_loss, _ = _evaluate(model, split.x_train, split.y_train)
        history.test_loss.append(test_loss)
        history.test_accuracy.append(test_accuracy)
        history.epoch_train_loss.append(train_loss)
        history.wall_time.append(elapsed)
    if has_modes:
        optimizer.train()
    return history
