"""Grade a class: intake, then for each student the worker (sandboxed) and the judge, then nbgrader's record.

Each student's grades reach the gradebook, the CSV and the feedback folder as soon as that student is done, so an
interrupted run leaves every finished grade readable. The next notebook's worker starts (imports torch) while the
current one is judged.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from . import feedback, gradebook, intake, judge, report, sandbox, shards
from .course import assignment_specs
from .report import write_csv

PENDING = "pending manual grading"


def normalise(nb):
    """What nbformat can repair, repaired: cell ids in a notebook saved as format 4.4 (a common mix of Jupyter
    versions: the ids are what 4.5 added), missing or duplicated ids. Returns the repaired notebook."""
    import warnings

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
                import uuid

                cell["id"] = uuid.uuid4().hex[:8]
            seen.add(cell.get("id"))
    return fixed


def _read_notebook(path: Path):
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # nbformat warns of the ids that normalise repairs
            nb = normalise(nbformat.read(path, as_version=4))
            nbformat.validate(nb)
        return nb, None
    except Exception as err:  # noqa: BLE001 - any unreadable file
        return None, f"{path.name} is not a readable notebook ({type(err).__name__})"


def grade(root: Path, assignment: str, submissions: Path, *, out: Path | None = None, db_url: str | None = None,
          layout: str | None = None, limits: sandbox.Limits | None = None, use_sandbox: bool = True,
          feedback_pages: bool = True, shard: tuple[int, int] | None = None, due: str | None = None,
          extensions: dict | None = None, secret: bytes | None = None, log=print) -> dict:
    import re

    if not re.fullmatch(r"[A-Za-z0-9_\-]+", assignment or ""):
        raise ValueError(f"assignment: {assignment!r} is not an assignment name")
    limits = limits or sandbox.Limits()
    specs = assignment_specs(root, assignment)
    names = [s.name for s in specs]
    by_name = {s.name: s for s in specs}
    out_root = Path(out or Path(root) / "grades")
    out_a = out_root / assignment
    scratch = Path(tempfile.mkdtemp(prefix=f"grading-{assignment}-"))
    start = time.perf_counter()
    try:
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
        record = gradebook.Record(root, assignment, scratch / "course", db_url)
        unknown = sorted(set(extensions or {}) - set(taken.students))
        if unknown:
            log(f"warning: --extension for {', '.join(unknown)}: no such student in the submissions (ignored)")
        record.set_due(due, {k: v for k, v in (extensions or {}).items() if k in taken.students})
        # the gradebook holds exactly the students of these submissions: an earlier run's phantom rows go
        # (every shard reads the whole class, so a shard never removes another shard's students)
        for gone in record.reconcile(set(taken.students)):
            log(f"removed from the gradebook: {gone}: not in these submissions (left by an earlier run)")
        graded_files = sum(len(s.notebooks) for s in taken.students.values())
        log(f"files found {taken.files_found} = graded {graded_files} + ignored {len(taken.ignored)}; "
            f"students found {len(taken.students)}")
        if shard:
            shards.write_meta(out_a, assignment, shard, list(taken.students), mine, taken.layout, record.db_url)
        plan = [(s.student, name) for s in students for name in names if name in s.notebooks]
        prefetched: dict = {}

        def prefetch(index: int) -> None:
            if index < len(plan) and plan[index] not in prefetched:
                prefetched[plan[index]] = sandbox.Worker(limits, sandbox=use_sandbox)

        rows, records, failed, step = [], [], 0, 0
        secret_paths = [str(Path(root).resolve()), str(scratch)]
        for sub in students:
            t0 = time.perf_counter()
            results = []
            row = {"student_id": sub.student, "late": "yes" if sub.late else "", "submitted_at": sub.submitted_at or "",
                   "sandbox": "bwrap" if use_sandbox else "unsandboxed",
                   "hidden_inputs": "term secret" if secret else "default (no --secret)"}
            try:
                results, notebooks = [], {}
                for spec in specs:
                    path = sub.notebooks.get(spec.name)
                    nb, problem = _read_notebook(path) if path else (None, None)
                    worker = None
                    if path:
                        prefetch(step)
                        worker = prefetched.pop((sub.student, spec.name), None)
                        step += 1
                        prefetch(step)
                    if problem:
                        if worker:
                            worker.stop()
                        res = judge.judge_notebook(spec, None, limits, hidden=True)
                        res.notes = [problem]
                    else:
                        res = judge.judge_notebook(spec, nb, limits, use_sandbox=use_sandbox, worker=worker,
                                                   secret=secret)
                    results.append(res)
                    notebooks[spec.name] = nb
                scores = record.record(sub.student, notebooks, results, sub.submitted_at)
                record.keep_autograded(sub.student, out_root / "autograded")
                if feedback_pages:
                    pages = record.feedback(sub.student, out_a / "feedback" / sub.student)
                    own = {name: nbformat.writes(nb) for name, nb in notebooks.items() if nb is not None}
                    leaks = feedback.publish(pages, sub.student, results, by_name, secret_paths, own)
                    if leaks:
                        log(f"warning: {sub.student}'s feedback showed {leaks[0]}; replaced by the score table")
                reasons = list(getattr(sub, "notes", []))   # intake's choices (which copy was graded)
                reasons += [f"{r.name}: {n}" for r in results for n in r.notes]
                reasons += [f"{r.name}: {v.grade_id} failed: {v.message}" for r in results for v in r.verdicts
                            if not v.passed]
                reasons += [f"{p}: {PENDING}" for p in scores["pending"]] + scores["notes"]
                if scores["seconds_late"] > 0:
                    reasons.append(f"late: {scores['seconds_late']:g} s after the due date"
                                   + (f" (with a {scores['extension_hours']:g} h extension)"
                                      if scores["extension_hours"] else "")
                                   + f", penalty {scores['penalty']:g}")
                if sub.late:
                    reasons.append("late: the LMS marked it late (_LATE)")
                policy = any(n.startswith("policy violation") for r in results for n in r.notes)
                row.update(scores["notebooks"])
                row.update(total=scores["score"], max_score=scores["max_score"],
                           late="yes" if (sub.late or scores["seconds_late"] > 0) else "",
                           seconds_late=scores["seconds_late"], late_penalty=scores["penalty"],
                           status="flagged" if policy else (PENDING if scores["pending"] else "graded"),
                           reasons=" | ".join(reasons))
            except Exception as err:  # noqa: BLE001 - one student's failure must not stop the class
                failed += 1
                row.update(total=0.0, max_score=sum(s.max_score + s.written_points for s in specs), status="failed",
                           reasons=f"grader error: {type(err).__name__}: {str(err)[:300]}")
            rows.append(row)
            records.append(report.record_of(row, results if row["status"] != "failed" else []))
            write_csv(rows, out_a / "grades.csv", names)
            report.write_outputs(records, assignment, taken.layout, sum(s.max_score for s in specs), out_a)
            log(f"{sub.student}: {row['total']:g}/{row['max_score']:g} {row['status']} "
                f"({time.perf_counter() - t0:.1f} s)" + (f" -- {row['reasons']}" if row["reasons"] else ""))
        for worker in prefetched.values():
            worker.stop()
        if not rows:   # an empty class or shard still leaves its (empty) outputs for a merge
            write_csv(rows, out_a / "grades.csv", names)
            report.write_outputs(records, assignment, taken.layout, sum(s.max_score for s in specs), out_a)
        elapsed = time.perf_counter() - start
        totals = [r["total"] for r in rows]
        summary = {"assignment": assignment, "students": len(rows), "layout": taken.layout,
                   "files_found": taken.files_found, "ignored": len(taken.ignored),
                   "mean": sum(totals) / len(totals) if totals else 0.0,
                   "max_score": sum(s.max_score + s.written_points for s in specs), "failed": failed,
                   "pending": sum(r["status"] == PENDING for r in rows),
                   "flagged": sum(r["status"] == "flagged" for r in rows), "seconds": elapsed,
                   "csv": str(out_a / "grades.csv"), "feedback": str(out_a / "feedback"), "db_url": record.db_url}
        in_gradebook = record.students()
        summary.update(graded_files=graded_files, students_found=len(taken.students), gradebook_students=len(in_gradebook))
        if shard is None and not (len(taken.students) == len(rows) == len(in_gradebook)):
            log(f"warning: students found {len(taken.students)}, rows in the CSV {len(rows)}, students in the "
                f"gradebook {len(in_gradebook)}: they should be equal")
        log(f"\nstudents found {len(taken.students)} = rows in the CSV {len(rows)} = students in the gradebook "
            f"{len(in_gradebook)}" if shard is None else "")
        log(f"\n{assignment}: {len(rows)} students ({taken.layout} layout, {taken.files_found} files, "
            f"{len(taken.ignored)} ignored), mean {summary['mean']:.2f}/{summary['max_score']:g}, "
            f"{summary['flagged']} flagged, {failed} failed, {summary['pending']} {PENDING}; {elapsed:.1f} s"
            + ("" if use_sandbox else " -- UNSANDBOXED"))
        log(f"grade table: {summary['csv']}\nfeedback:    {summary['feedback']}/<student>/\n"
            f"also:        canvas.csv (Canvas gradebook import), report.html (class report), records.jsonl")
        return summary
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
