"""What every optimizer shell does the same way, whatever its math.

The shells (``SGD``, ``Adam``, ...) hold no math: each is a subclass of :class:`Shell`, which writes ``step()``
once for all of them -- walk the parameter groups, skip a parameter without a gradient, create its state lazily,
gather the group into parallel lists and call the family's pure update function on them (eagerly, or compiled:
the fast path below). A family only says which state its update needs and which hyperparameters it takes.
"""

from __future__ import annotations

import types
import warnings
from typing import Any, Callable, ClassVar, Iterator, Optional, Sequence

import torch

from .._validation import check_bool, check_lr


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
        return [update(*args, **hyper) for args in zip(*columns, strict=True)]

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
    return [update(*args, **hyper) for args in zip(*columns, strict=True)]


def apply_by_step(update: Callable, columns: Sequence[Sequence[Any]], steps: Sequence[int], hyper: dict, *,
                  fast: bool) -> None:
    """:func:`apply_to_group` for an update with a per-tensor ``step=`` keyword: the tensors are batched by their
    step count (all of a group share it, unless some parameter skipped steps without a gradient)."""
    for step in sorted(set(steps)):
        rows = [i for i, s in enumerate(steps) if s == step]
        batch = [[column[i] for i in rows] for column in columns]
        apply_to_group(update, batch, {**hyper, "step": step}, fast=fast)


# --------------------------------------------------------------------------------------------------- the shell


class Shell(torch.optim.Optimizer):
    """The base class of every optimizer of the course: everything ``step()`` does except the math.

    A family's class (``SGD``, ``Adam``, ...) names its pure update function, ``update(param, grad, *state_args,
    **hyper)``, and answers three questions, each a short method:

    * :meth:`_init_state` -- which state a parameter needs (created on its first step with a gradient);
    * :meth:`_state_args` -- which of that state the update takes, in order, after ``param`` and ``grad``;
    * :meth:`_hyper` -- which hyperparameters of the group it takes as keywords.

    ``step()`` then does the same for every family: evaluate the closure with gradients enabled; for each parameter
    group, skip the parameters without a gradient, refuse sparse gradients (and complex parameters, unless
    ``complex_ok``), negate the gradient for ``maximize``, create state, count steps (``counts_steps``), and apply
    the update to the whole group at once -- compiled with ``torch.compile`` when the group asked for
    ``foreach=True`` or ``fused=True`` (:func:`apply_to_group`). A family whose step is not one update per tensor
    (SOAP) overrides :meth:`_step_group` and still walks the group with :meth:`_with_grad`.
    """

    update: ClassVar[Callable[..., Any]]
    """The family's pure update function (set as ``update = staticmethod(adam_update)``)."""

    complex_ok: ClassVar[bool] = False
    """Accept complex parameters (torch's SGD does); otherwise they raise ``RuntimeError`` on the first step."""

    counts_steps: ClassVar[bool] = False
    """Keep torch's per-parameter ``state["step"]``: 0 when the state is created, +1 before each update."""

    passes_step: ClassVar[bool] = False
    """Hand that count to the update as ``step=`` (Adam's bias correction needs it; RMSprop only keeps it)."""

    def __init__(self, params: Any, defaults: dict) -> None:
        """Check the keywords every shell shares (``lr``, ``maximize``, and ``foreach`` / ``fused`` where the family
        has a fast path), then let ``torch.optim.Optimizer`` build the groups. Each family checks its own first."""
        check_lr(defaults["lr"])
        check_bool("maximize", defaults["maximize"])
        if "foreach" in defaults or "fused" in defaults:
            check_fast_flags(defaults.get("foreach"), defaults.get("fused"))
        super().__init__(params, defaults)

    # ------------------------------------------------------------------------------------- what a family says

    # the zero-initialised buffers the update takes after ``(param, grad)``, in its order (a family whose state is
    # only that declares the names; one with conditional or non-zero state overrides the two methods below)
    _buffers: tuple = ()

    def _init_state(self, state: dict, param: torch.Tensor, group: dict) -> None:
        """Create whatever state ``param`` lacks (called before every update; a no-op once it exists)."""
        for name in self._buffers:
            if name not in state:
                state[name] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def _state_args(self, state: dict, group: dict) -> tuple:
        """The state the update takes after ``(param, grad)``, in its order."""
        return tuple(state[name] for name in self._buffers)

    def _hyper(self, group: dict) -> dict:
        """The update's keyword arguments for this group."""
        raise NotImplementedError  # pragma: no cover - every family defines it

    def _can_compile(self, group: dict, columns: Sequence[list]) -> bool:
        """Whether this step may take the compiled path (when the group asked for it)."""
        return True

    def _store(self, params: Sequence[torch.Tensor], results: Sequence[Any]) -> None:
        """Keep what the update returned for each parameter (SGD: its new momentum buffer); nothing by default."""

    # ----------------------------------------------------------------------------- the same for every family

    def _state_of(self, param: torch.Tensor, group: dict) -> dict:
        """``param``'s state dict (schedule-free returns one that can also compute ``x``)."""
        return self.state[param]

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], torch.Tensor]] = None) -> Optional[torch.Tensor]:
        """Perform one optimization step; ``closure`` re-evaluates the model and returns the loss."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _with_grad(self, group: dict) -> Iterator[tuple[torch.Tensor, torch.Tensor, dict]]:
        """``(param, grad, state)`` for each parameter of ``group`` that has a gradient, its state created."""
        name, check = type(self).__name__, check_dense if self.complex_ok else check_dense_real
        for param in group["params"]:
            if param.grad is None:
                continue  # a parameter that took no part in the loss is left alone
            check(name, param)
            state = self._state_of(param, group)
            if self.counts_steps and "step" not in state:
                state["step"] = 0
            self._init_state(state, param, group)
            yield param, gradient(param, group.get("maximize", False)), state

    def _step_group(self, group: dict) -> None:
        """Gather the group into parallel lists ``param, grad, *state_args`` and apply the update to them."""
        rows, steps = [], []
        for param, grad, state in self._with_grad(group):
            if self.counts_steps:
                state["step"] += 1
                steps.append(state["step"])
            rows.append((param, grad, *self._state_args(state, group)))
        columns = [list(column) for column in zip(*rows, strict=True)]
        fast = wants_fast_path(group) and self._can_compile(group, columns)
        if self.passes_step:
            apply_by_step(self.update, columns, steps, self._hyper(group), fast=fast)
        else:
            results = apply_to_group(self.update, columns, self._hyper(group), fast=fast)
            self._store(columns[0] if columns else [], results)
