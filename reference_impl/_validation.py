"""Argument validation shared by the whole package: optimizer shells, schedules, data sets, models, problems.

torch.optim validates hyperparameters in ``__init__`` and raises ``ValueError`` with a message that names the
argument ("Invalid learning rate: -1"). We do the same, with the argument's keyword in the message so that a student
or a test can tell at once which argument was wrong.
"""

from __future__ import annotations

import math
from typing import Any


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_nonnegative(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite real number >= 0."""
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"Invalid {name}: {value!r} (expected a finite number >= 0)")


def check_positive(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite real number > 0."""
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"Invalid {name}: {value!r} (expected a finite number > 0)")


def check_unit_interval(name: str, value: Any, *, closed_right: bool = False) -> None:
    """Raise ``ValueError`` unless ``0 <= value < 1`` (or ``<= 1`` with ``closed_right``)."""
    ok = _is_real(value) and math.isfinite(value) and value >= 0 and (value <= 1 if closed_right else value < 1)
    if not ok:
        bound = "[0, 1]" if closed_right else "[0, 1)"
        raise ValueError(f"Invalid {name}: {value!r} (expected a number in {bound})")


def check_betas(name: str, betas: Any, count: int = 2) -> None:
    """Raise ``ValueError`` unless ``betas`` is a sequence of ``count`` numbers, each in [0, 1)."""
    try:
        values = tuple(betas)
    except TypeError:
        raise ValueError(f"Invalid {name}: {betas!r} (expected a tuple of {count} numbers in [0, 1))") from None
    if len(values) != count:
        raise ValueError(f"Invalid {name}: {betas!r} (expected a tuple of {count} numbers in [0, 1))")
    for index, value in enumerate(values):
        check_unit_interval(f"{name}[{index}] (beta{index + 1})", value)


def check_positive_int(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Invalid {name}: {value!r} (expected an integer >= 1)")


def check_nonnegative_int(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"Invalid {name}: {value!r} (expected an integer >= 0)")


def check_bool(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is ``True`` or ``False`` (a flag given as 0/1 or "yes" is a mistake)."""
    if not isinstance(value, bool):
        raise ValueError(f"Invalid {name}: {value!r} (expected True or False)")


def check_open_unit_interval(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``0 < value < 1``."""
    if not _is_real(value) or not math.isfinite(value) or not 0 < value < 1:
        raise ValueError(f"Invalid {name}: {value!r} (expected a number in (0, 1))")


def check_choice(name: str, value: Any, choices: tuple) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices`` (compared with ``==``, type included)."""
    if not any(type(value) is type(choice) and value == choice for choice in choices):
        raise ValueError(f"Invalid {name}: {value!r} (expected one of {', '.join(map(repr, choices))})")


def check_finite_reals(name: str, values: Any, count: int) -> None:
    """Raise ``ValueError`` unless ``values`` is a sequence of exactly ``count`` finite real numbers."""
    try:
        items = tuple(values)
    except TypeError:
        items = None
    if items is None or len(items) != count or not all(_is_real(v) and math.isfinite(v) for v in items):
        raise ValueError(f"Invalid {name}: {values!r} (expected a tuple of {count} finite numbers)")


def check_lr(value: Any, name: str = "lr") -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number >= 0 or a one-element tensor holding one.

    torch.optim accepts a 0-dim tensor learning rate (so that a schedule can change it without a new Python
    float); so do we. A tensor with more than one element is refused, with torch's wording.
    """
    if _is_tensor(value):
        if value.numel() != 1:
            raise ValueError(f"Tensor {name} must be 1-element (got {value.numel()} elements)")
        if value.is_complex() or not math.isfinite(float(value)) or float(value) < 0:
            raise ValueError(f"Invalid {name}: {value!r} (expected a finite number >= 0)")
        return
    check_nonnegative(name, value)


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)
