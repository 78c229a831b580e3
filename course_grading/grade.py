"""Grade a class: intake, then for each student the worker (sandboxed) and the judge, then nbgrader's record.

A run is a list of named steps (:func:`grade` reads as that list): read the submissions, open the record, grade each
student (:func:`grade_student`), add the rows of the class that this run was not given, write the outputs.

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
import json
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import nbformat

from . import feedback, gradebook, intake, judge, report, sandbox, shards
from .course import assignment_specs
from .report import write_csv

PENDING = "pending manual grading"
NEEDS_REVIEW = "needs review"
KEPT = "kept the instructor's formgrader work"


def normalise(nb):
    """What nbformat can repair, repaired: cell ids in a notebook saved as format 4.4 (a common mix of Jupyter
    versions: the ids are what 4.5 added), missing or duplicated ids. Returns the repaired notebook."""
    import uuid

    from nbformat.validator import normalize

    if nb.get("nbformat") == 4 and nb.get("nbformat_minor", 0) < 5 and any("id" in c for c in nb.get("cells", [])):
        nb["nbformat_minor"] = 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, fixed = normalize(nb)
        fixed = nbformat.from_dict(fixed)
    seen = set()
    for cell in fixed.get("cells", []):   # duplicated ids: nbformat's own repair, done here without a warning
        if "id" in cell and cell["id"] in seen:
            cell["id"] = uuid.uuid4().hex[:8]
        seen.add(cell.get("id"))
    return fixed


def read_notebook(path: Path):
    """``(notebook, None)``, or ``(None, why)`` for a file that is not a readable notebook."""
    try:
        if path.stat().st_size == 0:
            return None, "not a readable notebook: the file is empty"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # nbformat warns of the ids that normalise repairs
            nb = normalise(nbformat.read(path, as_version=4))
            nbformat.validate(nb)
        return nb, None
    except Exception as err:  # noqa: BLE001 - any unreadable file
        why = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        return None, f"not a readable notebook: {type(err).__name__}: {why}"


def run_key(root: Path, assignment: str, secret: bytes | None) -> str:
    """A digest of what grading depends on besides the submission: the assignment's source notebooks (its tests)
    and the term's secret. A student is graded again when it changes."""
    h = hashlib.sha256()
    for path in sorted((Path(root) / "solutions" / assignment).glob("*.ipynb")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(hashlib.sha256(secret or b"").digest())
    return h.hexdigest()


def grade(root: Path, assignment: str, submissions: Path, *, out: Path | None = None, db_url: str | None = None,
          layout: str | None = None, limits: sandbox.Limits | None = None, use_sandbox: bool = True,
          feedback_pages: bool = True, shard: tuple[int, int] | None = None, due: str | None = None,
          extensions: dict | None = None, secret: bytes | None = None, force: bool = False,
          export_pending: bool = False, log=print) -> dict:
    import re

    if not re.fullmatch(r"[A-Za-z0-9_\-]+", assignment or ""):
        raise ValueError(f"assignment: {assignment!r} is not an assignment name")
    limits = limits or sandbox.Limits()
    specs = assignment_specs(root, assignment)
    names = [s.name for s in specs]
    out_a = Path(out or Path(root) / "grades") / assignment
    max_total = sum(s.max_score + s.written_points for s in specs)
    scratch = Path(tempfile.mkdtemp(prefix=f"grading-{assignment}-"))
    start = time.perf_counter()
    try:
        # 1. the submissions
        taken = intake.read_submissions(Path(submissions), assignment, names, scratch=scratch, layout=layout)
        for item in taken.ignored:
            log(f"ignored {item.path}: {item.reason}")
        students = list(taken.students.values())
        if shard:   # a slice of the class (see shards.py); its own gradebook unless --db-url says otherwise
            mine = shards.select(taken.students, *shard)
            students = [taken.students[s] for s in mine]
            out_a.mkdir(parents=True, exist_ok=True)
            db_url = db_url or "sqlite:///" + str((out_a / "gradebook.db").resolve())
            log(f"shard {shard[0]}/{shard[1]}: {len(mine)} of {len(taken.students)} students")
        graded_files = sum(len(s.notebooks) for s in taken.students.values())
        log(f"files found {taken.files_found} = graded {graded_files} + ignored {len(taken.ignored)}; "
            f"students found {len(taken.students)}")
        # 2. the record: nbgrader's gradebook, the due date, what earlier runs wrote
        record = gradebook.Record(root, assignment, scratch / "course", db_url)
        unknown = sorted(set(extensions or {}) - set(taken.students))
        if unknown:
            log(f"warning: --extension for {', '.join(unknown)}: no such student in the submissions (ignored)")
        record.set_due(due, {k: v for k, v in (extensions or {}).items() if k in taken.students})
        due_used = record.due_date()
        log(f"due date: {due_used.isoformat(sep=' ')} UTC" if due_used else
            "due date: none (nobody is late; set one with --due)")
        if shard:
            shards.write_meta(out_a, assignment, shard, list(taken.students), mine, taken.layout, record.db_url)
        earlier = {r["student"]: r for r in report.read_records(out_a / "records.jsonl")} \
            if (out_a / "records.jsonl").is_file() else {}
        key = run_key(root, assignment, secret)
        # 3. each student
        done: dict = {}   # student -> record (row + verdicts)
        counts = {"failed": 0, "skipped": 0}
        grader = _Grader(root, specs, limits, use_sandbox, secret, record, out_a, feedback_pages,
                         [str(Path(root).resolve()), str(scratch)], log)
        todo = []
        for sub in students:
            digests = {name: _file_digest(path) for name, path in sub.notebooks.items()}
            if not force and sub.student in earlier and record.unchanged(sub.student, digests, key):
                rec = dict(earlier[sub.student])
                rec["row"] = {**rec["row"], **_refresh(record, sub.student, rec["row"]),
                              "graded_in": "earlier run (unchanged since)"}
                done[sub.student] = rec
                counts["skipped"] += 1
                continue
            todo.append((sub, digests))
        grader.plan([(s.student, name, s.notebooks[name]) for s, _ in todo for name in names if name in s.notebooks])
        others = _others(record, earlier, done)

        def write() -> list:
            return _write(out_a, assignment, names, taken.layout, max_total, done, others, export_pending,
                          len(taken.ignored))
        index = 0
        graded_now = {sub.student for sub, _ in todo}
        try:
            for index, (sub, digests) in enumerate(todo):
                t0 = time.perf_counter()
                row, results = grader.grade_student(sub, taken.layout)
                failed = row["status"] == "failed"
                counts["failed"] += failed
                if not failed:
                    record.remember(sub.student, digests, key)
                done[sub.student] = report.record_of(row, results if not failed else [])
                if feedback_pages and not failed:   # what the page shows of the instructor's work
                    done[sub.student]["feedback_work"] = record.work_digest(sub.student)
                write()
                log(f"{sub.student}: {row['total']:g}/{row['max_score']:g} {row['status']} "
                    f"({time.perf_counter() - t0:.1f} s)" + (f" -- {row['reasons']}" if row["reasons"] else ""))
        except KeyboardInterrupt:
            grader.stop()
            write()
            log(f"\ninterrupted: {index} of {len(todo)} students graded in this run (their grades are in the "
                f"gradebook and {out_a / 'grades.csv'}); run the same command again to grade the others (the "
                "students already graded are skipped while their submissions are unchanged)")
            raise
        grader.stop()
        # 4. the whole class: the students of the gradebook this run was not given keep their rows; the pages of
        # students graded earlier show the instructor's scores and comments given since
        others = _others(record, earlier, done)
        if feedback_pages:
            grader.feedback_again({**{s: r for s, r in done.items() if s not in graded_now}, **others},
                                  taken.students)
        rows = write()
        kept = [r for r in rows if r["student_id"] not in taken.students]
        if kept and not shard:
            log(f"kept {len(kept)} student(s) graded earlier and not in these submissions: "
                f"{', '.join(r['student_id'] for r in kept[:10])}{' ...' if len(kept) > 10 else ''} "
                "(to remove a student: python -m course_grading remove)")
        elapsed = time.perf_counter() - start
        totals = [float(r["total"]) for r in rows]
        statuses = [r["status"] for r in rows]
        late = sum(r.get("late") == "yes" for r in rows)
        summary = {"assignment": assignment, "students": len(rows), "graded_now": len(todo),
                   "skipped_unchanged": counts["skipped"], "kept": len(kept), "layout": taken.layout,
                   "files_found": taken.files_found, "ignored": len(taken.ignored),
                   "mean": sum(totals) / len(totals) if totals else 0.0, "max_score": max_total,
                   "failed": counts["failed"], "pending": statuses.count(PENDING),
                   "flagged": statuses.count("flagged"), "needs_review": statuses.count(NEEDS_REVIEW),
                   "unreadable": statuses.count("unreadable"), "late": late,
                   "due": due_used.isoformat() if due_used else None, "seconds": elapsed,
                   "csv": str(out_a / "grades.csv"), "feedback": str(out_a / "feedback"), "db_url": record.db_url}
        in_gradebook = record.students()
        summary.update(graded_files=graded_files, students_found=len(taken.students),
                       gradebook_students=len(in_gradebook))
        if shard is None:
            line = (f"students found {len(taken.students)} + kept from earlier runs {len(kept)} = rows in the CSV "
                    f"{len(rows)} = students in the gradebook {len(in_gradebook)}")
            if not len(taken.students) + len(kept) == len(rows) == len(in_gradebook):
                log("warning: " + line.replace(" = ", " != ", 1) + ": they should be equal")
            log("\n" + line)
        log(f"\n{assignment}: {len(rows)} students ({len(todo)} graded now, {counts['skipped']} unchanged, "
            f"{len(kept)} kept; {taken.layout} layout, {taken.files_found} files, {len(taken.ignored)} ignored), "
            f"mean {summary['mean']:.2f}/{max_total:g}, {late} late, {summary['flagged']} flagged, "
            f"{summary['needs_review']} {NEEDS_REVIEW}, {summary['unreadable']} unreadable, {counts['failed']} "
            f"failed, {summary['pending']} {PENDING}; {elapsed:.1f} s" + ("" if use_sandbox else " -- UNSANDBOXED"))
        log(f"grade table: {summary['csv']}\nfeedback:    {summary['feedback']}/<student>/\n"
            f"also:        canvas.csv (Canvas gradebook import), report.html (class report), records.jsonl")
        return summary
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def _refresh(record, student: str, row: dict) -> dict:
    """The parts of an earlier row the gradebook may have changed since: scores (a manual grade, an override),
    what is still pending, the note on the instructor's work."""
    try:
        scores = record.scores(student)
        work = record.instructor_work(student)
    except Exception:  # noqa: BLE001 - a student the gradebook no longer has keeps the earlier row
        return {}
    out = dict(scores["notebooks"])
    out.update(total=scores["score"], max_score=scores["max_score"])
    reasons = [r for r in (row.get("reasons") or "").split(" | ") if r and not r.endswith(PENDING)
               and not r.startswith(KEPT)]
    reasons += [f"{p}: {PENDING}" for p in scores["pending"]]
    if work:
        reasons.append(f"{KEPT} ({'; '.join(work)})")
    out["reasons"] = " | ".join(reasons)
    if row.get("status") in (PENDING, "graded"):
        out["status"] = PENDING if scores["pending"] else "graded"
    return out


def _others(record, earlier: dict, done: dict) -> dict:
    """The records of the gradebook's students that are not in ``done``: from the earlier records of this output
    folder, refreshed from the gradebook (a manual grade, an override), marked as graded earlier."""
    others = {}
    for student in record.students():
        if student in done:
            continue
        rec = dict(earlier.get(student) or {"student": student, "verdicts": [], "row": {
            "student_id": student, "status": "graded",
            "reasons": "graded before this output folder kept records: see the gradebook"}})
        rec["row"] = {**rec["row"], **_refresh(record, student, rec["row"]),
                      "graded_in": "earlier run (not in these submissions)"}
        others[student] = rec
    return others


def _write(out_a: Path, assignment: str, names: list, layout: str, max_total: float, done: dict, others: dict,
           export_pending: bool, ignored: int) -> list:
    """grades.csv, records.jsonl, canvas.csv and report.html for the whole class: the students done in this run
    and every other student of the gradebook."""
    records = {**{s: r for s, r in others.items() if s not in done}, **done}
    ordered = [records[s] for s in sorted(records)]
    rows = [r["row"] for r in ordered]
    write_csv(rows, out_a / "grades.csv", names)
    about = {"layout": layout, "max_score": max_total, "notebooks": names}   # for `remove`, which rewrites these
    (out_a / "class.json").write_text(json.dumps(about), encoding="utf-8")
    report.write_outputs(ordered, assignment, layout, max_total, out_a, export_pending=export_pending,
                         ignored=ignored)
    return rows


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
            self.prefetched[(student, name)] = sandbox.Worker(
                self.limits, sandbox=self.use_sandbox, modules=sandbox.student_modules(Path(path).parent))

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
            if work == rec.get("feedback_work", ""):
                continue
            try:
                pages = self.record.feedback_again(student, self.out_a.parent / "autograded",
                                                   self.out_a / "feedback" / student)
                verdicts = rec.get("verdicts", [])   # as the earlier run recorded them: the score table if a page leaks
                results = [SimpleNamespace(name=name, verdicts=[
                    SimpleNamespace(**{k: v[k] for k in ("grade_id", "points", "passed", "message")})
                    for v in verdicts if v["notebook"] == name])
                    for name in dict.fromkeys(v["notebook"] for v in verdicts)]
                sub = submissions.get(student)
                own = {name: Path(path).read_text(encoding="utf-8", errors="replace")
                       for name, path in (sub.notebooks.items() if sub else ())}
                leaks = feedback.publish(pages, student, results, self.by_name, self.secret_paths, own)
                if leaks:
                    self.log(f"warning: {student}'s feedback showed {leaks[0]}; replaced by the score table")
                rec["feedback_work"] = work
                self.log(f"{student}: feedback page rendered again (the instructor's scores or comments changed)")
            except Exception as err:  # noqa: BLE001 - one page must not stop the run; the old page stays
                self.log(f"warning: {student}'s feedback page was not rendered again ({type(err).__name__}: "
                         f"{str(err)[:200]}): it does not show the instructor's latest scores and comments")

    def grade_student(self, sub, layout: str) -> tuple:
        """``(row, results)`` of one student; a failure of the grader itself gives a row with status "failed"."""
        row = {"student_id": sub.student, "late": "yes" if sub.late else "", "submitted_at": sub.submitted_at or "",
               "sandbox": "bwrap" if self.use_sandbox else "unsandboxed",
               "hidden_inputs": "term secret" if self.secret else "default (no --secret)", "graded_in": "this run"}
        results: list = []
        try:
            notebooks, unreadable = {}, []
            for spec in self.specs:
                path = sub.notebooks.get(spec.name)
                nb, problem = read_notebook(path) if path else (None, None)
                worker = self._worker(sub.student, spec.name) if path else None
                if problem:
                    if worker:
                        worker.stop("not a readable notebook")
                    res = judge.judge_notebook(spec, None, self.limits, hidden=True)
                    res.notes = [problem]
                    unreadable.append(problem)
                else:
                    res = judge.judge_notebook(spec, nb, self.limits, use_sandbox=self.use_sandbox, worker=worker,
                                               secret=self.secret)
                results.append(res)
                notebooks[spec.name] = nb
            scores = self.record.record(sub.student, notebooks, results, sub.submitted_at)
            self.record.keep_autograded(sub.student, self.out_a.parent / "autograded")
            if self.feedback_pages:
                pages = self.record.feedback(sub.student, self.out_a / "feedback" / sub.student)
                own = {name: nbformat.writes(nb) for name, nb in notebooks.items() if nb is not None}
                leaks = feedback.publish(pages, sub.student, results, self.by_name, self.secret_paths, own)
                if leaks:
                    self.log(f"warning: {sub.student}'s feedback showed {leaks[0]}; replaced by the score table")
            row.update(scores["notebooks"])
            row.update(total=scores["score"], max_score=scores["max_score"],
                       late="yes" if (sub.late or scores["seconds_late"] > 0) else "",
                       seconds_late=scores["seconds_late"], late_penalty=scores["penalty"],
                       status=_status(results, scores, unreadable), reasons=" | ".join(_reasons(sub, results, scores)))
        except Exception as err:  # noqa: BLE001 - one student's failure must not stop the class
            row.update(total=0.0, max_score=sum(s.max_score + s.written_points for s in self.specs), status="failed",
                       reasons=f"grader error: {type(err).__name__}: {str(err)[:300]}")
        return row, results


def _status(results: list, scores: dict, unreadable: list) -> str:
    if any(n.startswith("policy violation") for r in results for n in r.notes):
        return "flagged"
    if scores.get("changed_after_instructor"):
        return NEEDS_REVIEW
    if unreadable:
        return "unreadable"
    return PENDING if scores["pending"] else "graded"


def _reasons(sub, results: list, scores: dict) -> list:
    reasons = list(getattr(sub, "notes", []))   # intake's choices (which copy was graded)
    reasons += [f"{r.name}: {n}" for r in results for n in r.notes]
    reasons += [f"{r.name}: {v.grade_id} failed: {v.message}" for r in results for v in r.verdicts if not v.passed]
    reasons += [f"{p}: {PENDING}" for p in scores["pending"]] + scores["notes"]
    if scores["seconds_late"] > 0:
        reasons.append(f"late: {scores['seconds_late']:g} s after the due date"
                       + (f" (with a {scores['extension_hours']:g} h extension)" if scores["extension_hours"] else "")
                       + f", penalty {scores['penalty']:g}")
    if sub.late:
        reasons.append("late: the LMS marked it late (_LATE)")
    if getattr(sub, "timestamp_problem", None):
        reasons.append(sub.timestamp_problem)
    return reasons
