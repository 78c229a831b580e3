"""What every optimizer shell does the same way, whatever its math.

The shells (``SGD``, ``Adam``, ...) hold no math; the few steps they share are written once here.
"""

from __future__ import annotations

import types
import warnings
from typing import Any, Callable, Optional, Sequence

import torch


def evaluate_closure(closure: Optional[Callable[[], torch.Tensor]]) -> Optional[torch.Tensor]:
    """Run ``closure`` (which re-evaluates the model and calls ``backward``) with gradients enabled.

    ``step()`` runs under ``torch.no_grad()``; the closure must be able to build a graph, as in ``torch.optim``.
    Returns the closure's loss, or ``None`` when there is no closure.
    """
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def check_dense(name: str, param: torch.Tensor) -> None:
    """Raise ``RuntimeError`` if ``param``'s gradient is sparse (no optimizer of the course supports that)."""
    if param.grad.is_sparse:
        raise RuntimeError(f"{name} does not support sparse gradients")


def check_dense_real(name: str, param: torch.Tensor) -> None:
    """:func:`check_dense`, and also raise ``RuntimeError`` for a complex parameter."""
    check_dense(name, param)
    if torch.is_complex(param):
        raise RuntimeError(f"{name} supports real parameters only (got {param.dtype})")


def gradient(param: torch.Tensor, maximize: bool) -> torch.Tensor:
    """``param.grad``, negated when ``maximize`` (as torch.optim does, before any other use of the gradient)."""
    return torch.neg(param.grad) if maximize else param.grad


def scalar(value: Any) -> Any:
    """A hyperparameter as a Python number: a one-element tensor (torch accepts a tensor ``lr``) is read out."""
    return value.item() if isinstance(value, torch.Tensor) else value


def check_fast_flags(foreach: Optional[bool], fused: Optional[bool]) -> None:
    """Validate torch's ``foreach`` / ``fused`` keywords (``None`` or a bool; not both ``True``)."""
    for name, value in (("foreach", foreach), ("fused", fused)):
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"Invalid {name}: {value!r} (expected None, True or False)")
    if foreach and fused:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def wants_fast_path(group: dict) -> bool:
    """Whether a parameter group asked for the compiled group step (``foreach=True`` or ``fused=True``)."""
    return bool(group.get("foreach")) or bool(group.get("fused"))


# --------------------------------------------------------------------------------------------- the fast path
#
# The fast path runs the family's *own* pure update function over every tensor of a parameter group, compiled
# with ``torch.compile`` (Inductor). The compiler fuses each tensor's chain of in-place operations into one loop
# that reads and writes every element once -- what torch's hand-written fused CPU kernels do -- while the math
# stays the one function the chapters show. The first step pays the compilation (seconds to tens of seconds on a
# small CPU, once per process and group shape set); hyperparameters that change between steps (the step count,
# a scheduled lr) are traced as inputs after the first change, so they cost one more compilation, not one per step.

_COMPILED: dict[Callable, Callable] = {}
_FAILED: set[Callable] = set()


def _make_group_step(update: Callable) -> Callable:
    def group_step(columns: Sequence[Sequence[Any]], hyper: dict) -> list:
        return [update(*args, **hyper) for args in zip(*columns)]

    return group_step


_group_step_code = _make_group_step(len).__code__  # the template; `update` is its one free variable


def _loop(update: Callable) -> Callable:
    """``_group_step`` bound to ``update``, with a code object of its own: torch.compile keeps its compiled
    versions (and its recompilation limit) per code object, so each family gets its own cache."""
    name = f"{update.__name__}_group"
    code = _group_step_code.replace(co_name=name, co_qualname=name)
    return types.FunctionType(code, globals(), name, None, (types.CellType(update),))


def _compile_errors() -> tuple[type, ...]:
    errors: list[type] = []
    for module, name in (
        ("torch._dynamo.exc", "BackendCompilerFailed"),
        ("torch._inductor.exc", "InductorError"),
        ("torch._inductor.exc", "InvalidCxxCompiler"),
        ("torch._inductor.exc", "CppCompileError"),
    ):
        try:
            errors.append(getattr(__import__(module, fromlist=[name]), name))
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


# Inductor fuses every pointwise producer into its consumers unless it decides to store it. The step-dependent
# scalars of an update (Adam's ``1 - beta1**step`` and ``(1 - beta2**step)**0.5``, ``lr / bias_correction1``) are
# 0-dim tensors here, and fused they are recomputed inside the element loop: two libm ``pow`` calls every 16
# elements, which the C compiler may not hoist (Inductor keeps errno semantics), cost Adam ~25% of its step.
# Storing every multi-use intermediate of more than one operation computes them once per step instead; the
# full-size intermediates of our updates are used once (the in-place chains), so no extra pass over memory is
# added -- `make bench` shows it per optimizer.
_INDUCTOR_OPTIONS = {"realize_opcount_threshold": 1}

_VARYING = ("lr", "step", "c")  # the step count, a scheduled lr, schedule-free's averaging weight


def _as_input(name: str, value: Any) -> Any:
    if name in _VARYING and isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(value, dtype=torch.float64)
    return value


def apply_to_group(update: Callable, columns: Sequence[Sequence[Any]], hyper: dict, *, fast: bool) -> list:
    """Apply ``update(*args, **hyper)`` to each row ``args`` of ``columns`` (one list per argument); return the
    list of what it returned.

    With ``fast`` the loop over the group is compiled with ``torch.compile``; if the compiler is missing or
    fails, a one-line warning is given once and the eager loop is used (the same function, uncompiled).
    """
    if not columns or not len(columns[0]):
        return []
    if fast and update not in _FAILED:
        compiled = _COMPILED.get(update)
        if compiled is None:
            compiled = _COMPILED[update] = torch.compile(_loop(update), options=_INDUCTOR_OPTIONS)
        try:
            # hyperparameters that change from step to step enter the graph as 0-dim float64 tensors: one
            # compilation serves every step count and every scheduled learning rate
            return compiled(columns, {k: _as_input(k, v) for k, v in hyper.items()})
        except _compile_errors() as error:  # compilation fails before anything is written
            _FAILED.add(update)
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            warnings.warn(f"torch.compile unavailable for {update.__name__} ({first_line}); using the eager path",
                          RuntimeWarning, stacklevel=3)
    return [update(*args, **hyper) for args in zip(*columns)]


def apply_by_step(update: Callable, columns: Sequence[Sequence[Any]], steps: Sequence[int], hyper: dict, *,
                  fast: bool) -> None:
    """:func:`apply_to_group` for an update with a per-tensor ``step=`` keyword: the tensors are batched by their
    step count (all of a group share it, unless some parameter skipped steps without a gradient)."""
    for step in sorted(set(steps)):
        rows = [i for i, s in enumerate(steps) if s == step]
        batch = [[column[i] for i in rows] for column in columns]
        apply_to_group(update, batch, {**hyper, "step": step}, fast=fast)
