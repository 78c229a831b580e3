"""The judge: runs the instructor's setup and test cells, never a line of student code.

What crosses from the student is declared: the test cells run in a namespace where each function the assignment's
answer cells define (``NotebookSpec.functions``, read from the source notebook) is a remote function
(:class:`~course_grading.isolation.channel.Remote`); calling it sends the arguments to the worker (see
:mod:`course_grading.isolation`) and returns what came back. No other name of the student's notebook (a builtin it
shadows, a module, a variable) reaches the tests. The notebook runs in the order nbgrader's Validate runs it
(:func:`course_grading.course.plan`): each test after the student's cells above it and before those below it.

A test cell passes when it raises nothing. The message recorded for a failure is the exception's own message (the
tests write expected / got / step / hyperparameters into their assertions), never the test's source, a traceback or
a path on the grading machine. In a test with hidden parts, nothing the student's code wrote reaches the message:
an exception of the student's is named by its built-in type only, and every string or type name the worker sent
during that test is cut out of the message (the student's function sees the hidden test's arguments and could
write them into either).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

from . import rules
from .course import NotebookSpec, plan, strip_hidden, strip_magics, student_cells
from .isolation.sandbox import HOW_TO, Limits, Worker, WorkerStopped, probe, student_modules
from .messages import HIDDEN_NOTE, exception_message
from .results import Note, NoteKind

# isolation.channel and isolation.codec import torch (~2 s): they are imported where they are used, so that a worker
# started through this module (start_worker) imports torch in its sandbox while this process does

__all__ = ["HOW_TO", "Limits", "NotebookResult", "Verdict", "Worker", "judge_notebook", "probe", "start_worker",
           "unreadable"]

def start_worker(limits: Limits, *, use_sandbox: bool = True, folder: Path | None = None) -> Worker:
    """Start a worker for a notebook in ``folder`` (its own modules beside it, ``helpers.py``, are bound into the
    sandbox; the course's rule reads them): ahead of time, so that it imports torch while another notebook is
    judged. :func:`judge_notebook` takes it and stops it."""
    return Worker(limits, sandbox=use_sandbox, modules=student_modules(Path(folder)) if folder else ())


@dataclass
class Verdict:
    grade_id: str
    points: float
    passed: bool
    message: str = ""          # why it failed, in the words the student sees
    hidden_only: bool = False  # (check mode) the cell has only hidden tests: not run
    diagnosis: str = ""        # the catalogued mistake the failure matches (its name in scripts/mistakes), or ""


@dataclass
class NotebookResult:
    name: str
    verdicts: list
    cell_errors: dict          # label -> reason, for the student's cells that raised
    notes: list                # Note: policy violations, a stopped worker...

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


def failure_message(err: BaseException, hidden_test: bool = False, student_text: list = ()) -> str:
    """What the student reads for a failed test. In a test with hidden parts (``hidden_test``), an exception the
    student's own code raised is named by its built-in type only, and each of ``student_text`` (what the worker
    sent during the test) is cut out of the message."""
    from .isolation.channel import RemoteError, from_other_side
    from .isolation.codec import WireError

    if hidden_test and from_other_side(err):
        if isinstance(err, RemoteError):
            return f"your function raised an exception of a class your notebook defines ({HIDDEN_NOTE})"
        return f"your function raised {type(err).__name__} ({HIDDEN_NOTE})"
    if isinstance(err, WorkerStopped):
        return f"your notebook was stopped: {err}"
    if isinstance(err, WireError):
        return f"your function returned something the grader cannot read ({err})"
    # a student's exception of their own class arrives as RemoteError, its text already "Type: message"
    return exception_message(err, hidden_test, student_text, named=not isinstance(err, RemoteError))


def run_tests(spec: NotebookSpec, worker: "Worker | None" = None, steps: list | None = None, *,
              stopped: str | None = None, hidden: bool = True, secret: bytes | None = None) -> tuple:
    """Run ``spec``'s setup, then the ``steps`` of :func:`course_grading.course.plan` (each batch of the student's
    cells in the worker, each test here); without a worker every test fails with ``stopped``. Returns one
    :class:`Verdict` per test cell (in the source's order) and ``{label: reason}`` for the student's cells that
    raised.

    ``secret`` (the term's secret, or ``None`` for the default) is the name ``TERM_SECRET`` of the tests' namespace,
    from which hidden tests draw their inputs; it never reaches the worker.
    """
    patched = _skip_dynamo_import()
    try:
        return _run_tests(spec, worker, steps, stopped=stopped, hidden=hidden, secret=secret)
    finally:
        _restore_dynamo(patched)


def _run_tests(spec: NotebookSpec, worker, steps, *, stopped, hidden: bool, secret) -> tuple:
    from .isolation.channel import Remote, from_other_side
    from .isolation.codec import Encoder, WireError

    ns: dict = {"__name__": "__main__", "TERM_SECRET": secret if hidden else None}
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        for source in spec.setup:
            exec(compile(source, "<setup>", "exec"), ns)  # noqa: S102 - the instructor's setup cell
    channel = worker.channel if worker is not None else None
    if channel is not None:
        if channel.seen_text is None:
            channel.seen_text = []
        for name in spec.functions:
            ns[name] = Remote(channel, name, name)   # the student's function, in the worker
    if steps is None:
        steps = [("test", t) for t in spec.tests]
    verdicts, cell_errors, comparable = {}, {}, {}
    for kind, item in steps:
        if kind == "cells":
            if channel is None or worker.stopped:
                continue
            try:
                report = channel.request(b"x", Encoder().encode(item))
                if not (isinstance(report, list) and all(isinstance(r, tuple) and len(r) == 2 for r in report)):
                    raise WireError("malformed report of the cells")
            except (WorkerStopped, WireError) as err:
                if not worker.stopped:
                    worker.stop(str(err))
                continue
            cell_errors.update({str(label): str(reason)[:500] for label, reason in report if reason})
            continue
        test = item
        if not hidden and test.hidden_only:
            verdicts[test.grade_id] = Verdict(test.grade_id, test.points, False, "hidden tests: run when graded",
                                              hidden_only=True)
            continue
        reason = stopped or (f"your notebook was stopped: {worker.stopped}" if worker is not None and worker.stopped
                             else None)
        if reason:
            verdicts[test.grade_id] = Verdict(test.grade_id, test.points, False, reason)
            continue
        seen = channel.seen_text if channel is not None else []
        del seen[:]
        try:
            sink.seek(0)
            sink.truncate()
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                exec(compile(test.source, f"<test {test.grade_id}>", "exec"), ns)  # noqa: S102
            verdicts[test.grade_id] = Verdict(test.grade_id, test.points, True)
        except Exception as err:  # noqa: BLE001 - a failing test is any exception
            has_hidden = hidden and strip_hidden(test.source) != "\n".join(test.source.splitlines())
            verdicts[test.grade_id] = Verdict(test.grade_id, test.points, False,
                                              failure_message(err, has_hidden, seen))
            if isinstance(err, AssertionError) and not from_other_side(err):
                # the test's own account of the values: a known mistake may match it. Compared unscrubbed (a bug
                # run in the judge sends no text to scrub); only the catalogue's line is ever added to the message
                comparable[test.grade_id] = failure_message(err, has_hidden, ())
        sink.seek(0)
        sink.truncate()
    if comparable:
        add_diagnoses(spec, verdicts, comparable, hidden=hidden, secret=secret)
    ordered = [verdicts.get(t.grade_id) or Verdict(t.grade_id, t.points, False, stopped or "not run")
               for t in spec.tests]
    return ordered, cell_errors


DIAGNOSIS_BUDGET_S = 30.0   # seconds one catalogued bug's run may take (once per notebook and grading process)


def add_diagnoses(spec: NotebookSpec, verdicts: dict, failed: dict, *, hidden: bool, secret) -> None:
    """Name the catalogued mistake (:mod:`course_grading.diagnose`) that each test of ``failed`` (grade_id -> its
    message before scrubbing) shows, if one does: one line appended to its verdict's message, the mistake's name in
    ``Verdict.diagnosis``. Nothing of the student's runs: the catalogued bugs are the instructor's solution with an
    edit, run here."""
    from . import diagnose

    try:
        doctor = diagnose.Diagnoser(spec, hidden=hidden, secret=secret, budget_s=DIAGNOSIS_BUDGET_S)
        if not doctor.variants:
            return
        seen = {gid: (None if v.passed else failed.get(gid, v.message)) for gid, v in verdicts.items()
                if not v.hidden_only}
        for gid, message in failed.items():
            verdict = verdicts[gid]
            found = doctor.diagnose(gid, message, seen)
            if found is not None:
                verdict.diagnosis = found.name
                verdict.message = f"{verdict.message}\n{doctor.line(found)}"
    except Exception:  # noqa: BLE001 - a diagnosis is a courtesy: the verdicts stand without it
        return


def judge_notebook(spec: NotebookSpec, nb, limits: Limits, *, use_sandbox: bool = True,
                   hidden: bool = True, worker: Worker | None = None,
                   secret: bytes | None = None) -> NotebookResult:
    """Grade one student notebook (an nbformat node, or ``None`` when nothing usable was submitted). The worker
    (started ahead of time, or here) is stopped before this returns."""
    if nb is None:
        if worker:
            worker.stop("no notebook")
        verdicts, _ = run_tests(spec, stopped="no notebook was submitted", hidden=hidden)
        return NotebookResult(spec.name, verdicts, {}, [Note(NoteKind.NO_NOTEBOOK, "no notebook was submitted")])
    modules = []   # the student's own modules beside the notebook, which its cells may import: the rule reads them
    for path in getattr(worker, "modules", []) or []:
        try:
            modules.append((path.name, strip_magics(path.read_text(encoding="utf-8", errors="replace"))))
        except OSError:
            pass
    problems = rules.violations(modules + student_cells(nb, spec))
    if problems:
        if worker:
            worker.stop("policy violation")
        verdicts, _ = run_tests(spec, stopped=problems[0], hidden=hidden)
        return NotebookResult(spec.name, verdicts, {}, [Note(NoteKind.POLICY_VIOLATION, p) for p in problems])
    worker = worker or start_worker(limits, use_sandbox=use_sandbox)
    try:
        try:
            worker.start_clock()
        except WorkerStopped as err:
            reason = failure_message(err)
            verdicts, _ = run_tests(spec, stopped=reason, hidden=hidden)
            return NotebookResult(spec.name, verdicts, {}, [Note(NoteKind.STOPPED, reason)])
        from .isolation.channel import Remote

        worker.channel.make_remote = lambda number, name: Remote(worker.channel, number, name)
        verdicts, cell_errors = run_tests(spec, worker, plan(nb, spec), hidden=hidden, secret=secret)
        notes = [Note(NoteKind.CELL_ERROR, f"{label}: {reason}") for label, reason in cell_errors.items()]
        if worker.stopped:
            notes.append(Note(NoteKind.STOPPED, f"your notebook was stopped: {worker.stopped}"))
        return NotebookResult(spec.name, verdicts, cell_errors, notes)
    finally:
        worker.close()


def unreadable(spec: NotebookSpec, problem: str, worker: Worker | None = None) -> NotebookResult:
    """The result of a submitted file that is not a readable notebook (``problem`` says why): every test fails with
    the problem, which is the note (the notebook's status is "unreadable"). Its worker, if one was started, stops."""
    if worker:
        worker.stop("not a readable notebook")
    verdicts, _ = run_tests(spec, stopped="no notebook was submitted", hidden=True)
    return NotebookResult(spec.name, verdicts, {}, [Note(NoteKind.UNREADABLE, problem)])
