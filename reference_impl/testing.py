"""What the exercise notebooks' test cells use: run a student's function beside the reference, fail readably.

A *stepper* is a function ``step(param, grad, state) -> (new_param, new_state)``; ``state`` is ``None`` before the
first step. The adapters below turn the three shapes of student functions used in the course into steppers:

* :func:`stateless` -- ``fn(param, grad, **hyper) -> new_param`` (gradient descent);
* :func:`with_buffer` -- ``fn(param, grad, buf, **hyper) -> (new_param, new_buf)``, ``buf`` ``None`` at first;
* :func:`with_state_dict` -- ``fn(param, grad, state, **hyper) -> new_param``, ``state`` a dict, empty at first,
  that the function fills and updates (its keys are the student's business).

:func:`optimizer` turns a ``torch.optim.Optimizer`` class (the reference implementations of
:mod:`reference_impl.optim`) into a stepper. :func:`assert_same_trajectory` runs a student stepper and a reference
stepper side by side, each taking gradients at its *own* iterate, and stops at the first step where the parameters
differ, with a message such as::

    sgd_momentum_step(lr=0.1, momentum=0.9): at step 3 of 20, parameter element [1] is wrong:
    expected 0.4216, got 0.4312 (difference 0.0096; steps 1-2 matched).

Students' functions get clones of the tensors, so updating in place or returning new tensors are both fine.

Hidden tests draw their inputs (hyperparameters, seeds, step counts, tensors) with :func:`hidden_inputs` from the
term's secret, which the grader defines as ``TERM_SECRET`` in the tests' namespace: the repository is public, so
fixed hidden inputs could be looked up instead of computed. Without a secret the draws are the repository's default.

This module imports only torch and the standard library (the grading kernel imports it next to the student's code).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import Callable, Iterable, Optional, Sequence

import torch

__all__ = [
    "assert_close",
    "assert_same_schedule",
    "assert_same_trajectory",
    "describe",
    "fixed_gradients",
    "hidden_inputs",
    "HiddenInputs",
    "optimizer",
    "quadratic",
    "stateless",
    "with_buffer",
    "with_state_dict",
]

Stepper = Callable[[torch.Tensor, torch.Tensor, object], tuple]
Gradients = Callable[[torch.Tensor, int], torch.Tensor]


def describe(function: str, hyper: Optional[dict] = None) -> str:
    """``"adam_step(lr=0.01, betas=(0.9, 0.999))"`` -- how a call is named in failure messages."""
    args = ", ".join(f"{k}={v!r}" for k, v in (hyper or {}).items())
    return f"{function}({args})"


def brief(value, depth: int = 0) -> str:
    """A short description of a value a student's function returned, built from a bounded prefix of it (never its
    whole ``repr``: a list of 20,000 tensors would take minutes to print).

    >>> brief([1.5, torch.zeros(2, 3), "abc", None])
    'list of 4: [1.5, tensor of shape (2, 3), str of 3 characters, ...]'
    """
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, float)):
        return _fmt(value) if isinstance(value, float) else str(value)[:24]
    if isinstance(value, str):
        return f"str of {len(value)} characters"
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)}" if value.dim() else f"0-dim tensor {_fmt(float(value))}"
    if isinstance(value, (list, tuple, dict)):
        if depth >= 1:
            return f"{type(value).__name__} of {len(value)}"
        items = list(value.items())[:3] if isinstance(value, dict) else list(value[:3])
        shown = [f"{brief(k, 1)}: {brief(v, 1)}" for k, v in items] if isinstance(value, dict) else \
            [brief(v, 1) for v in items]
        more = ", ..." if len(value) > 3 else ""
        left, right = ("{", "}") if isinstance(value, dict) else ("(", ")") if isinstance(value, tuple) else ("[", "]")
        return f"{type(value).__name__} of {len(value)}: {left}{', '.join(shown)}{more}{right}"
    received = getattr(value, "type_name", None)   # a value the grader could not receive names its type
    kind = received if isinstance(received, str) else type(value).__name__
    return f"an object of type {kind[:40]} (use tensors, numbers, lists, tuples or dicts)"


def _fmt(x: float) -> str:
    return f"{x:.10g}"


def _first_mismatch(actual: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float, equal_nan: bool = False):
    a = actual.detach().to(torch.float64).reshape(-1)
    e = expected.detach().to(torch.float64).reshape(-1)
    bad = ~torch.isclose(a, e, rtol=rtol, atol=atol, equal_nan=equal_nan)
    if not bool(bad.any()):
        return None
    flat = int(torch.nonzero(bad)[0])
    index = list(torch.unravel_index(torch.tensor(flat), expected.shape)) if expected.dim() else []
    return [int(i) for i in index], float(a[flat]), float(e[flat]), int(bad.sum())


def assert_close(actual, expected: torch.Tensor, *, what: str, rtol: float = 1e-6, atol: float = 1e-9,
                 equal_nan: bool = False) -> None:
    """Assert that tensor ``actual`` equals ``expected`` within tolerance; ``what`` names it in the message.

    With ``equal_nan``, a NaN matches a NaN at the same place.
    """
    if not isinstance(actual, torch.Tensor):
        raise AssertionError(f"{what}: expected a torch.Tensor, got {brief(actual)}")
    if tuple(actual.shape) != tuple(expected.shape):
        raise AssertionError(f"{what}: expected a tensor of shape {tuple(expected.shape)}, "
                             f"got shape {tuple(actual.shape)}")
    if actual.is_floating_point() != expected.is_floating_point():
        raise AssertionError(f"{what}: expected dtype {expected.dtype}, got {actual.dtype}")
    found = _first_mismatch(actual, expected, rtol, atol, equal_nan)
    if found is None:
        return
    index, a, e, count = found
    where = f" element {index}" if index else ""
    diff = abs(a - e) if math.isfinite(a) and math.isfinite(e) else float("nan")
    raise AssertionError(f"{what}{where}: expected {_fmt(e)}, got {_fmt(a)} (difference {diff:.3g}; "
                         f"{count} of {expected.numel()} elements differ)")


def stateless(fn: Callable, **hyper) -> Stepper:
    """Stepper for ``fn(param, grad, **hyper) -> new_param``."""
    def step(param, grad, state):
        return _check_param(fn(param, grad, **hyper), fn, hyper), None
    step.function = describe(fn.__name__, hyper)
    return step


def with_buffer(fn: Callable, **hyper) -> Stepper:
    """Stepper for ``fn(param, grad, buf, **hyper) -> (new_param, new_buf)`` with ``buf=None`` at the first step."""
    def step(param, grad, state):
        out = fn(param, grad, state, **hyper)
        if not isinstance(out, tuple) or len(out) != 2:
            raise AssertionError(f"{describe(fn.__name__, hyper)} must return a pair (new_param, new_buf); "
                                 f"it returned {brief(out)}")
        new_param, new_buf = out
        _check_param(new_param, fn, hyper)
        if not isinstance(new_buf, torch.Tensor):
            raise AssertionError(f"{describe(fn.__name__, hyper)} must return the new buffer as a tensor; "
                                 f"it returned {type(new_buf).__name__}")
        return new_param, new_buf
    step.function = describe(fn.__name__, hyper)
    return step


def with_state_dict(fn: Callable, **hyper) -> Stepper:
    """Stepper for ``fn(param, grad, state, **hyper) -> new_param`` with ``state`` a dict, empty at first.

    After each call the values in ``state`` must be tensors, numbers, strings, ``None`` or lists, tuples and dicts of
    those (what the grader can receive); anything else (a numpy array, say) fails here with a message that names the
    key and the type, in Jupyter as in grading.
    """
    def step(param, grad, state):
        state = {} if state is None else state
        new_param = _check_param(fn(param, grad, state, **hyper), fn, hyper)
        _check_state(state, fn, hyper)
        return new_param, state
    step.function = describe(fn.__name__, hyper)
    return step


_STATE_TYPES = (torch.Tensor, int, float, str, type(None))


def _bad_state_value(value, where: str, depth: int = 0):
    """``(where, type name)`` of the first value in ``value`` the grader cannot receive, or ``None``."""
    if isinstance(value, _STATE_TYPES) or (depth > 0 and isinstance(value, torch.Generator)):
        return None
    if isinstance(value, (list, tuple)) and depth < 4:
        for i, item in enumerate(value[:1000]):
            found = _bad_state_value(item, f"{where}[{i}]", depth + 1)
            if found:
                return found
        return None
    if isinstance(value, dict) and depth < 4:
        for key, item in list(value.items())[:1000]:
            found = _bad_state_value(item, f"{where}[{key!r:.40}]", depth + 1)
            if found:
                return found
        return None
    import numbers
    if isinstance(value, numbers.Number):   # numpy scalars are numbers: the grader receives them as numbers
        return None
    received = getattr(value, "type_name", None)   # a value the grader could not receive names its type
    name = received if isinstance(received, str) else type(value).__name__
    return where, name[:40]


def _check_state(state, fn, hyper):
    if not isinstance(state, dict):
        return
    found = _bad_state_value(state, "state", depth=1) if state else None
    if found:
        where, name = found
        hint = " (a numpy array)" if name == "ndarray" else ""
        raise AssertionError(f"{describe(fn.__name__, hyper)}: {where} is of type {name}{hint}; keep torch tensors "
                             f"(or Python numbers) in state: the grader cannot pass a {name} back to your "
                             f"function at the next step")


def _check_param(new_param, fn, hyper):
    if not isinstance(new_param, torch.Tensor):
        raise AssertionError(f"{describe(fn.__name__, hyper)} must return the new parameter as a torch.Tensor; "
                             f"it returned {brief(new_param)}")
    return new_param


def optimizer(optimizer_class: type, **hyper) -> Stepper:
    """Stepper running a ``torch.optim.Optimizer`` class on a single tensor parameter."""
    def step(param, grad, state):
        if state is None:
            weight = torch.nn.Parameter(param.detach().clone())
            state = (weight, optimizer_class([weight], **hyper))
        weight, opt = state
        with torch.no_grad():
            weight.copy_(param)
        weight.grad = grad.detach().clone()
        opt.step()
        return weight.detach().clone(), state
    step.function = describe(optimizer_class.__name__, hyper)
    return step


def quadratic(dim: int = 5, *, seed: int = 0, condition: float = 20.0, noise: float = 0.1,
              zero: Iterable[int] = (), dtype: torch.dtype = torch.float64) -> Gradients:
    """Gradients of a random convex quadratic ``0.5 (x - c)^T A (x - c)`` plus fixed noise at each step.

    ``A`` has eigenvalues from 1 to ``condition``; the noise at step ``k`` is drawn from a generator seeded with
    ``seed`` and ``k``, so every call sequence sees the same gradients at the same iterates. Coordinates listed in
    ``zero`` always get a zero gradient (an edge case for adaptive methods). Works for parameters of any shape
    with ``dim`` elements.
    """
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
    eigen = torch.logspace(0, math.log10(condition), dim, dtype=torch.float64)
    a = (q * eigen) @ q.T
    centre = torch.randn(dim, generator=gen, dtype=torch.float64)
    mask = torch.ones(dim, dtype=torch.float64)
    mask[list(zero)] = 0.0

    def grads(param: torch.Tensor, k: int) -> torch.Tensor:
        x = param.detach().to(torch.float64).reshape(-1)
        step_gen = torch.Generator().manual_seed(seed * 100_003 + k)
        g = a @ (x - centre) + noise * torch.randn(dim, generator=step_gen, dtype=torch.float64)
        return (g * mask).reshape(param.shape).to(param.dtype if param.is_floating_point() else dtype)

    return grads


def fixed_gradients(shape, *, seed: int = 0, scale: float = 1.0, zero_steps: Iterable[int] = (),
                    dtype: torch.dtype = torch.float64) -> Gradients:
    """A gradient sequence that ignores the iterate: step ``k`` gets N(0, scale^2) noise (zero at ``zero_steps``)."""
    zero_steps = set(zero_steps)

    def grads(param: torch.Tensor, k: int) -> torch.Tensor:
        if k in zero_steps:
            return torch.zeros(shape, dtype=dtype)
        gen = torch.Generator().manual_seed(seed * 100_003 + k)
        return scale * torch.randn(shape, generator=gen, dtype=dtype)

    return grads


def assert_same_trajectory(student: Stepper, reference: Stepper, param0: torch.Tensor, grads: Gradients,
                           steps: int, *, rtol: float = 1e-6, atol: float = 1e-9,
                           built_on: Optional[Stepper] = None) -> list[torch.Tensor]:
    """Run both steppers for ``steps`` steps from ``param0``; fail at the first step whose parameters differ.

    Each stepper takes its gradient at its own iterate (``grads(param, k)``, ``k`` from 0), so a wrong step is
    reported where it happens. The student's stepper receives clones, and its result is copied, so in-place and
    functional implementations are treated alike. Returns the reference trajectory (``steps`` tensors).

    ``built_on`` makes one bug cost one function's points: it is the same algorithm as ``reference`` computed with
    the student's *own* version of a function the tested one may call (AdamW from the student's ``adam_step``, say).
    A trajectory that differs from ``reference`` but matches ``built_on`` passes: the tested function is right and
    the fault lies in the function it builds on, whose own tests take the points. When both differ, the message is
    the one against ``reference``.
    """
    if built_on is None:
        return _same_trajectory(student, reference, param0, grads, steps, rtol, atol)
    try:
        return _same_trajectory(student, reference, param0, grads, steps, rtol, atol)
    except AssertionError as err:
        against_reference = err
    try:
        # NaN for NaN too: a helper that divides by zero makes the function built on it NaN where it is right
        _same_trajectory(student, built_on, param0, grads, steps, rtol, atol, equal_nan=True)
    except Exception as err:   # a helper of the student's that raises: the message stays the one against reference
        if getattr(err, "stops_channel", False):   # the grader's channel to the student's code is gone
            raise
        raise against_reference from None
    return _same_trajectory(reference, reference, param0, grads, steps, rtol, atol)


def _same_trajectory(student: Stepper, reference: Stepper, param0: torch.Tensor, grads: Gradients, steps: int,
                     rtol: float, atol: float, equal_nan: bool = False) -> list[torch.Tensor]:
    name = getattr(student, "function", "the function")
    mine, theirs = param0.detach().clone(), param0.detach().clone()
    state_s = state_r = None
    trajectory = []
    for k in range(steps):
        grad_s = grads(mine, k)
        grad_r = grads(theirs, k)
        new_s, state_s = student(mine.clone(), grad_s.clone(), state_s)
        theirs, state_r = reference(theirs, grad_r, state_r)
        before = "the first step" if k == 0 else f"steps 1-{k} matched" if k > 1 else "step 1 matched"
        try:
            assert_close(new_s, theirs, what=f"{name}: parameter after step {k + 1} of {steps}", rtol=rtol,
                         atol=atol, equal_nan=equal_nan)
        except AssertionError as err:
            raise AssertionError(f"{err} [{before}; gradient at this step: "
                                 f"{_short(grad_s)}]") from None
        mine = new_s.detach().clone()
        trajectory.append(theirs.clone())
    return trajectory


def _short(t: torch.Tensor, n: int = 4) -> str:
    flat = t.detach().reshape(-1)
    body = ", ".join(f"{float(x):.4g}" for x in flat[:n])
    return f"[{body}{', ...' if flat.numel() > n else ''}]"


def assert_same_schedule(schedule: Callable[[int], object], reference: Callable[[int], float], steps: Iterable[int],
                         *, what: str, rtol: float = 1e-9, atol: float = 1e-12) -> None:
    """Compare two functions ``step -> number`` (learning rates, momenta) at every step of ``steps``, in order.

    Fails at the first step where they differ, with a message such as::

        cosine_annealing(lr=0.1, total_steps=10): at step 3, expected 0.07938926261, got 0.07269952499
        (difference 0.00669; steps 0-2 matched)

    ``schedule`` may return a Python number or a one-element tensor. ``what`` names the call in the message.
    """
    checked = []
    for step in steps:
        expected = float(reference(step))
        value = schedule(step)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AssertionError(f"{what}: at step {step}, expected a number, got {brief(value)}")
        value = float(value)
        before = (f"steps {checked[0]}-{checked[-1]} matched" if len(checked) > 1
                  else f"step {checked[0]} matched" if checked else "the first step checked")
        if not math.isclose(value, expected, rel_tol=rtol, abs_tol=atol):
            diff = abs(value - expected) if math.isfinite(value) else float("nan")
            raise AssertionError(f"{what}: at step {step}, expected {_fmt(expected)}, got {_fmt(value)} "
                                 f"(difference {diff:.3g}; {before})")
        checked.append(step)


# ------------------------------------------------------------------------------------------- hidden test inputs

#: the key of every draw when no secret is given: the repository's default hidden inputs (public, like the tests)
DEFAULT_SECRET = b"reference_impl.testing: the repository's default hidden inputs"
MIN_SECRET_BYTES = 16
SEED_LIMIT = 2 ** 40   # seeds stay below this, so that quadratic()'s ``seed * 100_003 + k`` fits torch's 64 bits


class HiddenInputs:
    """Deterministic draws for one hidden test, keyed by the term's secret and the test's name.

    Every draw is named, and its value is computed from ``HMAC-SHA256(secret, key + name)`` alone: the same secret,
    key and name always give the same value, whatever was drawn before (adding a draw changes no other), and
    without the secret the values cannot be predicted. Make one with :func:`hidden_inputs`.

    Floats are rounded to ``digits`` significant digits (default 3) so that failure messages stay readable; the
    rounded value is kept inside ``[low, high]``.
    """

    def __init__(self, key: str, secret: Optional[bytes] = None):
        if not isinstance(key, str) or not key:
            raise ValueError(f"hidden_inputs: key must be a non-empty string naming the test, got {key!r:.80}")
        if secret is None:
            secret = DEFAULT_SECRET
        elif isinstance(secret, (bytearray, memoryview)):
            secret = bytes(secret)
        elif not isinstance(secret, bytes):
            raise TypeError(f"hidden_inputs: secret must be bytes or None, got {type(secret).__name__}")
        elif len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"hidden_inputs: secret must hold at least {MIN_SECRET_BYTES} bytes, got {len(secret)}")
        self.key = key
        self._secret = secret

    def __repr__(self) -> str:
        return f"HiddenInputs({self.key!r})"   # never the secret

    # the source of every draw: 256 bits from HMAC-SHA256(secret, key NUL name)
    def _bits(self, name: str) -> int:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.key}: the name of a draw must be a non-empty string, got {name!r:.80}")
        message = self.key.encode() + b"\0" + name.encode()
        return int.from_bytes(hmac.new(self._secret, message, hashlib.sha256).digest(), "big")

    def _unit(self, name: str) -> float:
        """A float in [0, 1) from the draw's top 53 bits."""
        return (self._bits(name) >> (256 - 53)) / 2.0 ** 53

    @staticmethod
    def _rounded(x: float, low: float, high: float, digits: Optional[int]) -> float:
        if digits is not None:
            x = float(f"{x:.{digits}g}")
        return min(max(x, low), high)

    @staticmethod
    def _check_range(what: str, low, high, *, positive: bool = False) -> None:
        for label, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{what}: {label} must be a finite number, got {v!r:.80}")
        if positive and low <= 0:
            raise ValueError(f"{what}: low must be positive for a log-uniform draw, got {low!r}")
        if low > high:
            raise ValueError(f"{what}: low ({low!r}) must not exceed high ({high!r})")

    def uniform(self, name: str, low: float, high: float, *, digits: Optional[int] = 3) -> float:
        """A float drawn uniformly from ``[low, high]``."""
        self._check_range(f"uniform({name!r})", low, high)
        return self._rounded(low + (high - low) * self._unit(name), low, high, digits)

    def log_uniform(self, name: str, low: float, high: float, *, digits: Optional[int] = 3) -> float:
        """A float in ``[low, high]`` (both positive) whose logarithm is uniform: for learning rates, eps, decay."""
        self._check_range(f"log_uniform({name!r})", low, high, positive=True)
        x = math.exp(math.log(low) + (math.log(high) - math.log(low)) * self._unit(name))
        return self._rounded(x, low, high, digits)

    def integer(self, name: str, low: int, high: int) -> int:
        """An int drawn uniformly from ``low..high``, both included (step counts, sizes)."""
        for label, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"integer({name!r}): {label} must be an int, got {v!r:.80}")
        if low > high:
            raise ValueError(f"integer({name!r}): low ({low}) must not exceed high ({high})")
        return low + self._bits(name) % (high - low + 1)   # 256 bits: the modulo bias is below 2**-200

    def choice(self, name: str, options: Sequence):
        """One element of the non-empty sequence ``options``, each equally likely."""
        options = list(options)
        if not options:
            raise ValueError(f"choice({name!r}): options must not be empty")
        return options[self._bits(name) % len(options)]

    def seed(self, name: str) -> int:
        """A seed in ``[0, 2**40)`` for :func:`quadratic`, :func:`fixed_gradients` or a ``torch.Generator``."""
        return self._bits(name) % SEED_LIMIT

    def generator(self, name: str) -> torch.Generator:
        """A CPU ``torch.Generator`` seeded with :meth:`seed` of the same name."""
        return torch.Generator().manual_seed(self.seed(name))

    def tensor(self, name: str, shape, *, low: float = -1.0, high: float = 1.0,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """A tensor of ``shape`` with elements uniform in ``[low, high)``, from :meth:`generator` of the same name."""
        self._check_range(f"tensor({name!r})", low, high)
        if not dtype.is_floating_point:
            raise ValueError(f"tensor({name!r}): dtype must be a floating-point dtype, got {dtype}")
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        u = torch.rand(shape, generator=self.generator(name), dtype=torch.float64)
        return (low + (high - low) * u).to(dtype)


def hidden_inputs(key: str, secret: Optional[bytes] = None) -> HiddenInputs:
    """The draws of the hidden test ``key`` (e.g. ``"06-adam-adamw/test_adam_trajectory"``) under ``secret``.

    ``secret`` is the term's secret (bytes, at least 16), which the grader puts into the tests' namespace as
    ``TERM_SECRET``; with ``None`` (no secret, or a test cell run outside the grader: read it as
    ``globals().get("TERM_SECRET")``) the draws are the repository's default, the same everywhere.

    >>> from reference_impl.testing import hidden_inputs, quadratic
    >>> h = hidden_inputs("06-adam-adamw/test_adam_trajectory", None)
    >>> lr = h.log_uniform("lr", 0.005, 0.05)
    >>> 0.005 <= lr <= 0.05 and lr == hidden_inputs("06-adam-adamw/test_adam_trajectory").log_uniform("lr", 0.005, 0.05)
    True
    >>> steps = h.integer("steps", 80, 120)
    >>> grads = quadratic(6, seed=h.seed("problem"))
    >>> theta0 = h.tensor("theta0", 6, low=0.5, high=1.5)
    >>> tuple(theta0.shape), bool(((theta0 >= 0.5) & (theta0 < 1.5)).all())
    ((6,), True)
    >>> other = hidden_inputs("06-adam-adamw/test_adam_trajectory", b"a term secret of 32 bytes or so..")
    >>> other.seed("problem") != h.seed("problem")
    True
    """
    return HiddenInputs(key, secret)
