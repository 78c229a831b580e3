"""Grade a class: intake, then for each student the worker (sandboxed) and the judge, then nbgrader's record.

A run is a list of named steps (:func:`grade` reads as that list, each step a function): read the submissions
(``_read_submissions``), open the record (``_open_record``), keep the students whose submissions are unchanged
(``_skip_unchanged``), grade the others one by one (``_grade_students``; one student is ``_Grader.grade_student``),
write the outputs of the whole class (``_Outputs``, through ``report.write_class``) and sum up (``_summary``).

The gradebook is the term's record: a run updates the students it was given and never removes another (removing a
student is its own command, ``python -m course_grading remove``). grades.csv, canvas.csv and report.html always
describe the whole class of the gradebook, each row saying where its grade comes from (``graded_in``). Each
student's grades reach the gradebook, the CSV and the feedback folder as soon as that student is done, so an
interrupted run leaves every finished grade readable; a re-run skips a student whose submission, tests and secret
are unchanged since their grade (``--force`` grades everyone again). The next notebook's worker starts (imports
torch) while the current one is judged.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import nbformat

from . import feedback, gradebook, intake, judge, report, shards
from .course import assignment_specs
from .intake.notebook import read_notebook
from .results import ClassInfo, NoteKind, Row, Status, StudentRecord

PENDING, NEEDS_REVIEW = Status.PENDING, Status.NEEDS_REVIEW   # the words of the summary line
KEPT = "kept the instructor's formgrader work"


def run_key(root: Path, assignment: str, secret: bytes | None) -> str:
    """A digest of what grading depends on besides the submission: the assignment's source notebooks (its tests)
    and the term's secret. A student is graded again when it changes."""
    h = hashlib.sha256()
    for path in sorted((Path(root) / "solutions" / assignment).glob("*.ipynb")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(hashlib.sha256(secret or b"").digest())
    return h.hexdigest()


def grade(root: Path, assignment: str, submissions: Path, *, out: Path | None = None, db_url: str | None = None,
          layout: str | None = None, limits: judge.Limits | None = None, use_sandbox: bool = True,
          feedback_pages: bool = True, shard: tuple[int, int] | None = None, due: str | None = None,
          extensions: dict | None = None, secret: bytes | None = None, force: bool = False,
          export_pending: bool = False, log=print) -> dict:
    """Grade ``assignment``'s submissions (see the module docstring); returns the run's summary."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", assignment or ""):
        raise ValueError(f"assignment: {assignment!r} is not an assignment name")
    specs = assignment_specs(root, assignment)
    run = _Run(Path(root), assignment, specs, Path(out or Path(root) / "grades") / assignment,
               Path(tempfile.mkdtemp(prefix=f"grading-{assignment}-")), log)
    try:
        taken, students = _read_submissions(run, Path(submissions), layout, shard)
        if shard:   # its own gradebook unless --db-url says otherwise
            run.out_a.mkdir(parents=True, exist_ok=True)
            db_url = db_url or "sqlite:///" + str((run.out_a / "gradebook.db").resolve())
        record = _open_record(run, taken, db_url, due, extensions)
        if shard:
            shards.write_meta(run.out_a, assignment, shard, list(taken.students), [s.student for s in students],
                              taken.layout, record.db_url)
        grader = _Grader(run.root, specs, limits or judge.Limits(), use_sandbox, secret, record, run.out_a,
                         feedback_pages, [str(run.root.resolve()), str(run.scratch)], log)
        outputs = _Outputs(run, record, ClassInfo(assignment, taken.layout, run.max_total, run.names),
                           export_pending, len(taken.ignored))
        todo = _skip_unchanged(run, record, outputs, students, run_key(run.root, assignment, secret), force)
        failed = _grade_students(run, grader, record, outputs, todo)
        rows = _rest_of_class(grader, record, outputs, {sub.student for sub, _, _ in todo}, taken.students,
                              feedback_pages)
        counts = {"graded_now": len(todo), "skipped": outputs.skipped, "failed": failed}
        return _summary(run, taken, record, rows, counts, shard, use_sandbox)
    finally:
        shutil.rmtree(run.scratch, ignore_errors=True)


@dataclass
class _Run:
    """What every step of one grading run shares."""

    root: Path
    assignment: str
    specs: list
    out_a: Path                  # <out>/<assignment>/
    scratch: Path                # removed when the run ends
    log: object
    start: float = field(default_factory=time.perf_counter)

    @property
    def names(self) -> list:
        return [s.name for s in self.specs]

    @property
    def max_total(self) -> float:
        return sum(s.max_score + s.written_points for s in self.specs)


def _read_submissions(run: _Run, submissions: Path, layout: str | None, shard) -> tuple:
    """Step 1: ``(what intake took, the students this run grades)``; a shard takes its slice of the class."""
    taken = intake.read_submissions(submissions, run.assignment, run.names, scratch=run.scratch, layout=layout)
    for item in taken.ignored:
        run.log(f"ignored {item.path}: {item.reason}")
    students = list(taken.students.values())
    if shard:   # a slice of the class (see shards.py)
        students = [taken.students[s] for s in shards.select(taken.students, *shard)]
        run.log(f"shard {shard[0]}/{shard[1]}: {len(students)} of {len(taken.students)} students")
    run.log(f"files found {taken.files_found} = graded {_graded_files(taken)} + ignored {len(taken.ignored)}; "
            f"students found {len(taken.students)}")
    return taken, students


def _graded_files(taken) -> int:
    return sum(len(s.notebooks) for s in taken.students.values())


def _open_record(run: _Run, taken, db_url: str | None, due: str | None, extensions: dict | None):
    """Step 2: nbgrader's gradebook for the assignment, with the due date and the students' extensions."""
    record = gradebook.Record(run.root, run.assignment, run.scratch / "course", db_url)
    unknown = sorted(set(extensions or {}) - set(taken.students))
    if unknown:
        run.log(f"warning: --extension for {', '.join(unknown)}: no such student in the submissions (ignored)")
    record.set_due(due, {k: v for k, v in (extensions or {}).items() if k in taken.students})
    due_used = record.due_date()
    run.log(f"due date: {due_used.isoformat(sep=' ')} UTC" if due_used else
            "due date: none (nobody is late; set one with --due)")
    return record


class _Outputs:
    """The class's records as the run goes (this run's students and the gradebook's others), and their one writer."""

    def __init__(self, run: _Run, record, info: ClassInfo, export_pending: bool, ignored: int):
        self.run, self.record, self.info, self.export_pending, self.ignored = run, record, info, export_pending, ignored
        path = run.out_a / "records.jsonl"
        self.earlier = {r.student: r for r in report.read_records(path)} if path.is_file() else {}
        self.done: dict = {}     # student -> StudentRecord of this run (graded, or skipped as unchanged)
        self.others: dict | None = None
        self.skipped = 0         # students skipped as unchanged

    def write(self, refresh: bool = False) -> list:
        """Every output for the whole class (``refresh``: the other students' rows read again from the gradebook);
        returns the rows."""
        if refresh or self.others is None:
            self.others = _others(self.record, self.earlier, self.done)
        return _write(self.run.out_a, self.info, self.done, self.others, self.export_pending, self.ignored)


def _skip_unchanged(run: _Run, record, outputs: _Outputs, students: list, key: str, force: bool) -> list:
    """Step 3: ``[(submission, file digests)]`` to grade; a student graded from the same files, tests and secret
    keeps the earlier record (refreshed from the gradebook), unless ``force``."""
    todo = []
    for sub in students:
        digests = {name: _file_digest(path) for name, path in sub.notebooks.items()}
        rec = outputs.earlier.get(sub.student)
        if not force and rec and record.unchanged(sub.student, digests, key):
            outputs.done[sub.student] = StudentRecord(rec.student, _refresh(record, sub.student, rec.row).but(
                graded_in="earlier run (unchanged since)"), rec.verdicts, rec.feedback_work)
        else:
            todo.append((sub, digests, key))
    outputs.skipped = len(students) - len(todo)
    return todo


def _grade_students(run: _Run, grader: "_Grader", record, outputs: _Outputs, todo: list) -> int:
    """Step 4: each student in turn, written out as soon as done (an interrupted run keeps every finished grade);
    returns how many the grader failed on."""
    grader.plan([(s.student, name, s.notebooks[name]) for s, _, _ in todo for name in run.names
                 if name in s.notebooks])
    failed, finished = 0, 0   # finished: students whose grade this run has stored (an interrupt keeps them)
    try:
        for sub, digests, key in todo:
            t0 = time.perf_counter()
            row, results = grader.grade_student(sub, outputs.info.layout)
            failed += row.status == Status.FAILED
            if row.status != Status.FAILED:
                record.remember(sub.student, digests, key)
            outputs.done[sub.student] = StudentRecord.of(row, results if row.status != Status.FAILED else [])
            finished += 1
            if grader.feedback_pages and row.status != Status.FAILED:   # what the page shows of the instructor's work
                outputs.done[sub.student].feedback_work = record.work_digest(sub.student)
            outputs.write()
            run.log(f"{sub.student}: {row.total:g}/{row.max_score:g} {row.status} ({time.perf_counter() - t0:.1f} s)"
                    + (f" -- {row.cells()['reasons']}" if row.reasons else ""))
    except KeyboardInterrupt:
        grader.stop()
        outputs.write()
        run.log(f"\ninterrupted: {finished} of {len(todo)} students graded in this run (their grades are in the "
                f"gradebook and {run.out_a / 'grades.csv'}); run the same command again to grade the others (the "
                "students already graded are skipped while their submissions are unchanged)")
        raise
    grader.stop()
    return failed


def _rest_of_class(grader: "_Grader", record, outputs: _Outputs, graded_now: set, submissions: dict,
                   feedback_pages: bool) -> list:
    """Step 5: the whole class written out: the gradebook's students this run did not grade keep their rows,
    refreshed from the gradebook, and their feedback pages are rendered again where the instructor's scores or
    comments changed since (a hand grade or an override reaches the student without a re-grade). Returns the rows."""
    outputs.others = _others(record, outputs.earlier, outputs.done)
    if feedback_pages:
        grader.feedback_again({**{s: r for s, r in outputs.done.items() if s not in graded_now}, **outputs.others},
                              submissions)
    return outputs.write()


def _summary(run: _Run, taken, record, rows: list, counts: dict, shard, use_sandbox: bool) -> dict:
    """Step 6: the run's summary (returned, and said in the log), with the count that must add up."""
    kept = [r for r in rows if r.student_id not in taken.students]
    if kept and not shard:
        run.log(f"kept {len(kept)} student(s) graded earlier and not in these submissions: "
                f"{', '.join(r.student_id for r in kept[:10])}{' ...' if len(kept) > 10 else ''} "
                "(to remove a student: python -m course_grading remove)")
    elapsed = time.perf_counter() - run.start
    totals = [float(r.total or 0) for r in rows]
    statuses = [r.status for r in rows]
    late = sum(r.late == "yes" for r in rows)
    due_used = record.due_date()
    graded_now, skipped, failed = counts["graded_now"], counts["skipped"], counts["failed"]
    out_a, in_gradebook = run.out_a, record.students()
    summary = {"assignment": run.assignment, "students": len(rows), "graded_now": graded_now,
               "skipped_unchanged": skipped, "kept": len(kept), "layout": taken.layout,
               "files_found": taken.files_found, "ignored": len(taken.ignored),
               "mean": sum(totals) / len(totals) if totals else 0.0, "max_score": run.max_total,
               "failed": failed, "pending": statuses.count(PENDING),
               "flagged": statuses.count(Status.FLAGGED), "needs_review": statuses.count(NEEDS_REVIEW),
               "unreadable": statuses.count(Status.UNREADABLE), "late": late,
               "due": due_used.isoformat() if due_used else None, "seconds": elapsed,
               "csv": str(out_a / "grades.csv"), "feedback": str(out_a / "feedback"), "db_url": record.db_url,
               "graded_files": _graded_files(taken), "students_found": len(taken.students),
               "gradebook_students": len(in_gradebook)}
    if shard is None:
        line = (f"students found {len(taken.students)} + kept from earlier runs {len(kept)} = rows in the CSV "
                f"{len(rows)} = students in the gradebook {len(in_gradebook)}")
        if not len(taken.students) + len(kept) == len(rows) == len(in_gradebook):
            run.log("warning: " + line.replace(" = ", " != ", 1) + ": they should be equal")
        run.log("\n" + line)
    run.log(f"\n{run.assignment}: {len(rows)} students ({graded_now} graded now, {skipped} unchanged, "
            f"{len(kept)} kept; {taken.layout} layout, {taken.files_found} files, {len(taken.ignored)} ignored), "
            f"mean {summary['mean']:.2f}/{run.max_total:g}, {late} late, {summary['flagged']} flagged, "
            f"{summary['needs_review']} {NEEDS_REVIEW}, {summary['unreadable']} unreadable, {failed} "
            f"failed, {summary['pending']} {PENDING}; {elapsed:.1f} s" + ("" if use_sandbox else " -- UNSANDBOXED"))
    run.log(f"grade table: {summary['csv']}\nfeedback:    {summary['feedback']}/<student>/\n"
            f"also:        canvas.csv (Canvas gradebook import), report.html (class report), records.jsonl")
    return summary


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def _refresh(record, student: str, row: Row) -> Row:
    """``row`` with what the gradebook may have changed since it was written: scores (a manual grade, an
    override), what is still pending, the note on the instructor's work."""
    try:
        scores = record.scores(student)
        work = record.instructor_work(student)
    except Exception:  # noqa: BLE001 - a student the gradebook no longer has keeps the earlier row
        return row
    reasons = [r for r in row.reasons if not r.endswith(PENDING) and not r.startswith(KEPT)]
    reasons += [f"{p}: {PENDING}" for p in scores.pending]
    if work:
        reasons.append(f"{KEPT} ({'; '.join(work)})")
    status = row.status
    if status in (PENDING, Status.GRADED):
        status = PENDING if scores.pending else Status.GRADED
    return row.but(scores={**row.scores, **scores.notebooks}, total=scores.score, max_score=scores.max_score,
                   reasons=reasons, status=status)


def _others(record, earlier: dict, done: dict) -> dict:
    """The records of the gradebook's students that are not in ``done``: from the earlier records of this output
    folder, refreshed from the gradebook (a manual grade, an override), marked as graded earlier."""
    others = {}
    for student in record.students():
        if student in done:
            continue
        rec = earlier.get(student) or StudentRecord(student, Row(
            student, reasons=["graded before this output folder kept records: see the gradebook"]))
        row = _refresh(record, student, rec.row).but(graded_in="earlier run (not in these submissions)")
        others[student] = StudentRecord(student, row, rec.verdicts, rec.feedback_work)
    return others


def _write(out_a: Path, info: ClassInfo, done: dict, others: dict, export_pending: bool, ignored: int) -> list:
    """The outputs (:func:`report.write_class`) for the whole class: the students done in this run and every
    other student of the gradebook. Returns the rows."""
    records = {**{s: r for s, r in others.items() if s not in done}, **done}
    ordered = [records[s] for s in sorted(records)]
    report.write_class(out_a, info, ordered, export_pending=export_pending, ignored=ignored)
    return [r.row for r in ordered]


class _Grader:
    """Grades one student at a time; starts the next notebook's worker while the current one is judged."""

    def __init__(self, root, specs, limits, use_sandbox, secret, record, out_a, feedback_pages, secret_paths, log):
        self.root, self.specs, self.limits, self.use_sandbox, self.secret = root, specs, limits, use_sandbox, secret
        self.record, self.out_a, self.feedback_pages, self.secret_paths, self.log = \
            record, out_a, feedback_pages, secret_paths, log
        self.by_name = {s.name: s for s in specs}
        self.prefetched: dict = {}
        self.order: list = []
        self.step = 0

    def plan(self, order: list) -> None:
        self.order, self.step = order, 0

    def _prefetch(self, index: int) -> None:
        if index < len(self.order) and self.order[index][:2] not in self.prefetched:
            student, name, path = self.order[index]
            self.prefetched[(student, name)] = judge.start_worker(self.limits, use_sandbox=self.use_sandbox,
                                                                  folder=Path(path).parent)

    def _worker(self, student: str, name: str):
        self._prefetch(self.step)
        worker = self.prefetched.pop((student, name), None)
        self.step += 1
        self._prefetch(self.step)
        return worker

    def stop(self) -> None:
        for worker in self.prefetched.values():
            worker.stop()
        self.prefetched.clear()

    def feedback_again(self, records: dict, submissions: dict) -> None:
        """Render again the pages of students graded in an earlier run (``records``: student -> record) whose
        instructor's scores or comments changed since their page was rendered, so that a hand grade, a comment or an
        override reaches the student without grading them again."""
        for student, rec in records.items():
            work = self.record.work_digest(student)
            if work == rec.feedback_work:
                continue
            try:
                pages = self.record.feedback_again(student, self.out_a.parent / "autograded",
                                                   self.out_a / "feedback" / student)
                # the verdicts as the earlier run recorded them: the score table if a page leaks
                results = [SimpleNamespace(name=name, verdicts=[v for v in rec.verdicts if v.notebook == name])
                           for name in dict.fromkeys(v.notebook for v in rec.verdicts)]
                sub = submissions.get(student)
                own = {name: Path(path).read_text(encoding="utf-8", errors="replace")
                       for name, path in (sub.notebooks.items() if sub else ())}
                leaks = feedback.publish(pages, student, results, self.by_name, self.secret_paths, own)
                if leaks:
                    self.log(f"warning: {student}'s feedback showed {leaks[0]}; replaced by the score table")
                rec.feedback_work = work
                self.log(f"{student}: feedback page rendered again (the instructor's scores or comments changed)")
            except Exception as err:  # noqa: BLE001 - one page must not stop the run; the old page stays
                self.log(f"warning: {student}'s feedback page was not rendered again ({type(err).__name__}: "
                         f"{str(err)[:200]}): it does not show the instructor's latest scores and comments")

    def grade_student(self, sub, layout: str) -> tuple:
        """``(row, results)`` of one student; a failure of the grader itself gives a row with status "failed"."""
        row = Row(sub.student, late="yes" if sub.late else "", submitted_at=sub.submitted_at or "",
                  sandbox="bwrap" if self.use_sandbox else "unsandboxed",
                  hidden_inputs="term secret" if self.secret else "default (no --secret)", graded_in="this run")
        results: list = []
        try:
            notebooks = {}
            for spec in self.specs:
                path = sub.notebooks.get(spec.name)
                nb, problem = read_notebook(path) if path else (None, None)
                worker = self._worker(sub.student, spec.name) if path else None
                if problem:
                    res = judge.unreadable(spec, problem, worker)
                else:
                    res = judge.judge_notebook(spec, nb, self.limits, use_sandbox=self.use_sandbox, worker=worker,
                                               secret=self.secret)
                results.append(res)
                notebooks[spec.name] = nb
            scores = self.record.record(sub.student, notebooks, results, sub.submitted_at)
            self.record.keep_autograded(sub.student, self.out_a.parent / "autograded")
            if self.feedback_pages:
                self._feedback(sub.student, notebooks, results)
            return row.but(scores=scores.notebooks, total=scores.score, max_score=scores.max_score,
                           late="yes" if (sub.late or scores.seconds_late > 0) else "",
                           seconds_late=scores.seconds_late, late_penalty=scores.penalty,
                           status=_status(results, scores), reasons=_reasons(sub, results, scores)), results
        except Exception as err:  # noqa: BLE001 - one student's failure must not stop the class
            return row.but(total=0.0, max_score=sum(s.max_score + s.written_points for s in self.specs),
                           status=Status.FAILED,
                           reasons=[f"grader error: {type(err).__name__}: {str(err)[:300]}"]), results

    def _feedback(self, student: str, notebooks: dict, results: list) -> None:
        """The student's feedback pages, sanitised (a page that would show a secret is replaced)."""
        pages = self.record.feedback(student, self.out_a / "feedback" / student)
        own = {name: nbformat.writes(nb) for name, nb in notebooks.items() if nb is not None}
        leaks = feedback.publish(pages, student, results, self.by_name, self.secret_paths, own)
        if leaks:
            self.log(f"warning: {student}'s feedback showed {leaks[0]}; replaced by the score table")


def _status(results: list, scores) -> Status:
    kinds = {n.kind for r in results for n in r.notes}
    if NoteKind.POLICY_VIOLATION in kinds:
        return Status.FLAGGED
    if scores.changed_after_instructor:
        return Status.NEEDS_REVIEW
    if NoteKind.UNREADABLE in kinds:
        return Status.UNREADABLE
    return Status.PENDING if scores.pending else Status.GRADED


def _reasons(sub, results: list, scores) -> list:
    reasons = list(getattr(sub, "notes", []))   # intake's choices (which copy was graded)
    reasons += [f"{r.name}: {n}" for r in results for n in r.notes]
    reasons += [f"{r.name}: {v.grade_id} failed: {v.message}" for r in results for v in r.verdicts if not v.passed]
    reasons += [f"{p}: {PENDING}" for p in scores.pending] + scores.notes
    if scores.seconds_late > 0:
        reasons.append(f"late: {scores.seconds_late:g} s after the due date"
                       + (f" (with a {scores.extension_hours:g} h extension)" if scores.extension_hours else "")
                       + f", penalty {scores.penalty:g}")
    if sub.late:
        reasons.append("late: the LMS marked it late (_LATE)")
    if getattr(sub, "timestamp_problem", None):
        reasons.append(sub.timestamp_problem)
    return reasons
