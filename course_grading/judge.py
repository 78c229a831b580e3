"""The judge: runs the instructor's setup and test cells, never a line of student code.

The test cells run in a namespace where each function the student's notebook defined is a :class:`RemoteFunction`:
calling it sends the arguments to the worker (see :mod:`course_grading.wire`) and returns what came back. A test
cell passes when it raises nothing. The message recorded for a failure is the exception's own message (the tests
write expected / got / step / hyperparameters into their assertions), never the test's source, a traceback or a
path on the grading machine. In a test with hidden parts, an exception raised by the student's own code is named
without its message (that code sees the hidden arguments and could write them into it).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from dataclasses import dataclass

from . import rules, sandbox, wire
from .course import NotebookSpec, strip_hidden, student_cells


class RemoteFunction:
    """A function of the student's notebook, living in the worker."""

    def __init__(self, channel: wire.Channel, target, name: str):
        self._channel, self._target = channel, target
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        return self._channel.call(self._target, args, kwargs)

    def __repr__(self):
        return f"<student function {self.__name__}>"


@dataclass
class Verdict:
    grade_id: str
    points: float
    passed: bool
    message: str = ""          # why it failed, in the words the student sees
    hidden_only: bool = False  # (check mode) the cell has only hidden tests: not run


@dataclass
class NotebookResult:
    name: str
    verdicts: list
    cell_errors: dict          # label -> reason, for the student's cells that raised
    notes: list                # policy violations, a stopped worker...

    @property
    def score(self) -> float:
        return sum(v.points for v in self.verdicts if v.passed)

    @property
    def max_score(self) -> float:
        return sum(v.points for v in self.verdicts)


def _skip_dynamo_import() -> list:
    """Spare the judge the ~2.5 s import of ``torch._dynamo`` on the first optimizer it builds.

    ``torch.optim.Optimizer``'s methods (``add_param_group``, ``zero_grad``...) are wrapped by torch so that
    ``torch.compile`` does not trace them; the wrapper imports ``torch._dynamo`` on its first call and keeps the
    "disabled" function it builds in the wrapped function's ``__dynamo_disable`` attribute. The judge never compiles,
    so the disabled function is the function itself: giving it that attribute first changes nothing but the import.
    If torch's wrapper changes, the attribute is simply unused (the import happens, nothing else differs). Returns
    the functions given the attribute, for :func:`_restore_dynamo` (other code in this process may compile).
    """
    import torch.optim

    patched = []
    for cls in (torch.optim.Optimizer,):
        for value in vars(cls).values():
            code = getattr(value, "__code__", None)
            inner = getattr(value, "__wrapped__", None)
            if code is not None and inner is not None and code.co_qualname == "_disable_dynamo.<locals>.inner" \
                    and getattr(inner, "__dynamo_disable", None) is None:
                inner.__dynamo_disable = inner
                patched.append(inner)
    return patched


def _restore_dynamo(patched: list) -> None:
    for inner in patched:
        if getattr(inner, "__dynamo_disable", None) is inner:
            del inner.__dynamo_disable


_SCRUB = []


def _scrub_paths(text: str) -> str:
    if not _SCRUB:
        roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, os.getcwd(), os.path.expanduser("~"),
                                                 os.path.dirname(os.path.dirname(os.path.abspath(__file__))))}
        _SCRUB.extend(sorted((r for r in roots if len(r) > 1), key=len, reverse=True))
    for root in _SCRUB:
        text = text.replace(root, "...")
    return re.sub(r"(/[\w.\-]+){2,}/([\w.\-]+\.py)", r"\2", text)


def failure_message(err: BaseException, hidden_test: bool = False) -> str:
    """What the student reads for a failed test. In a test with hidden parts, an exception the student's own code
    raised is named without its message: the student's function sees the hidden test's arguments and could write
    them into that message."""
    if hidden_test and wire.from_other_side(err):
        name = str(err).split(":", 1)[0] if isinstance(err, wire.RemoteError) else type(err).__name__
        return f"your function raised {name[:100]} (in a test with hidden parts its message is not shown)"
    if isinstance(err, sandbox.WorkerStopped):
        return f"your notebook was stopped: {err}"
    if isinstance(err, wire.WireError):
        return f"your function returned something the grader cannot read ({err})"
    try:
        text = str(err)
    except Exception:  # noqa: BLE001
        text = ""
    name = type(err).__name__
    if isinstance(err, wire.RemoteError):
        return _scrub_paths(text)[:2000]
    return _scrub_paths(f"{name}: {text}" if text else name)[:2000]


def run_tests(spec: NotebookSpec, channel: wire.Channel | None, names: dict, *, stopped: str | None = None,
              hidden: bool = True, secret: bytes | None = None) -> list:
    """Run ``spec``'s setup, then each test cell; return one :class:`Verdict` per test cell.

    ``secret`` (the term's secret, or ``None`` for the default) is the name ``TERM_SECRET`` of the tests' namespace,
    from which hidden tests draw their inputs; it never reaches the worker.
    """
    patched = _skip_dynamo_import()
    try:
        return _run_tests(spec, channel, names, stopped=stopped, hidden=hidden, secret=secret)
    finally:
        _restore_dynamo(patched)


def _run_tests(spec: NotebookSpec, channel, names: dict, *, stopped, hidden: bool, secret) -> list:
    ns: dict = {"__name__": "__main__", "TERM_SECRET": secret if hidden else None}
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        for source in spec.setup:
            exec(compile(source, "<setup>", "exec"), ns)  # noqa: S102 - the instructor's setup cell
    if channel is not None:
        for name, kind in names.items():
            if kind == "callable" and name not in ns and isinstance(name, str) and name.isidentifier():
                ns[name] = RemoteFunction(channel, name, name)
    verdicts = []
    for test in spec.tests:
        if not hidden and test.hidden_only:
            verdicts.append(Verdict(test.grade_id, test.points, False, "hidden tests: run when graded",
                                    hidden_only=True))
            continue
        if stopped:
            verdicts.append(Verdict(test.grade_id, test.points, False, stopped))
            continue
        try:
            sink.seek(0)
            sink.truncate()
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                exec(compile(test.source, f"<test {test.grade_id}>", "exec"), ns)  # noqa: S102
            verdicts.append(Verdict(test.grade_id, test.points, True))
        except Exception as err:  # noqa: BLE001 - a failing test is any exception
            has_hidden = hidden and strip_hidden(test.source) != "\n".join(test.source.splitlines())
            verdicts.append(Verdict(test.grade_id, test.points, False, failure_message(err, has_hidden)))
    return verdicts


def judge_notebook(spec: NotebookSpec, nb, limits: sandbox.Limits, *, use_sandbox: bool = True,
                   hidden: bool = True, worker: sandbox.Worker | None = None,
                   secret: bytes | None = None) -> NotebookResult:
    """Grade one student notebook (an nbformat node, or ``None`` when nothing usable was submitted)."""
    if nb is None:
        return NotebookResult(spec.name, run_tests(spec, None, {}, stopped="no notebook was submitted",
                                                   hidden=hidden), {}, ["no notebook was submitted"])
    cells = student_cells(nb, spec)
    problems = rules.violations(cells)
    if problems:
        if worker:
            worker.stop("policy violation")
        return NotebookResult(spec.name, run_tests(spec, None, {}, stopped=problems[0], hidden=hidden), {}, problems)
    worker = worker or sandbox.Worker(limits, sandbox=use_sandbox)
    try:
        try:
            worker.start_clock()
            worker.channel.send(b"c", wire.Encoder().encode(cells))
            kind, body = worker.channel.receive()
            report = wire.Decoder(body).decode()
            cell_errors = {label: reason for label, reason in report["cells"] if reason}
            names = report["names"] if isinstance(report.get("names"), dict) else {}
        except (sandbox.WorkerStopped, wire.WireError, KeyError, TypeError, ValueError) as err:
            reason = failure_message(err)
            return NotebookResult(spec.name, run_tests(spec, None, {}, stopped=reason, hidden=hidden), {}, [reason])
        notes = [f"{label}: {reason}" for label, reason in cell_errors.items()]
        worker.channel.make_remote = lambda number, name: RemoteFunction(worker.channel, number, name)
        verdicts = run_tests(spec, worker.channel, names, hidden=hidden, secret=secret)
        if worker.stopped:
            notes.append(f"your notebook was stopped: {worker.stopped}")
        return NotebookResult(spec.name, verdicts, cell_errors, notes)
    finally:
        worker.close()
