"""Grading a class on several machines: ``grade --shard i/N`` and ``merge``.

Which students a shard grades: every shard reads the whole submissions folder (intake is cheap), sorts the
student ids (Python string order, ids in NFC as intake gives them) and takes positions ``i, i+N, i+2N, ...``
(``i`` counts from 0, like ``SLURM_ARRAY_TASK_ID`` with ``--array=0-(N-1)`` and Kubernetes'
``JOB_COMPLETION_INDEX``). The slices are disjoint, cover the class, and differ in size by at most one student;
they depend only on the set of ids, so every shard computes the same split without talking to the others.

A shard writes into its own ``--out``: ``grades.csv``, ``feedback/``, ``records.jsonl``, ``canvas.csv``,
``report.html`` (its students only), ``shard.json`` (the split it used) and, unless ``--db-url`` is given, its own
gradebook ``gradebook.db`` (several machines cannot share one SQLite file). ``merge`` checks that the shards are
the N distinct slices of one class, then writes the class's CSVs, report and feedback folder, and copies every
shard's grades into the course's gradebook (scores, comments, timestamps and late penalties; a manual score or
comment already in that gradebook is kept unless the shard's gradebook has one).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path


def parse(text: str) -> tuple[int, int]:
    """``"i/N"`` -> ``(i, N)`` with ``0 <= i < N``; anything else raises ValueError naming ``shard``."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise ValueError(f"shard: {text!r} is not i/N with 0 <= i < N (i counts from 0)")
    return int(m.group(1)), int(m.group(2))


def select(student_ids, index: int, count: int) -> list:
    """The ids shard ``index`` of ``count`` grades (see the module docstring), in sorted order."""
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard: {index}/{count} is not i/N with 0 <= i < N")
    return sorted(student_ids)[index::count]


def write_meta(out_a: Path, assignment: str, shard: tuple[int, int], everyone: list, mine: list, layout: str,
               db_url: str) -> None:
    meta = {"assignment": assignment, "shard": list(shard), "class": sorted(everyone), "students": mine,
            "layout": layout, "db_url": db_url}
    out_a.mkdir(parents=True, exist_ok=True)
    (out_a / "shard.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")


def _check(metas: list, assignment: str) -> None:
    counts = {m["shard"][1] for m in metas}
    if len(counts) != 1:
        raise ValueError(f"shards: the outputs were graded with different N ({sorted(counts)})")
    n = counts.pop()
    seen = sorted(m["shard"][0] for m in metas)
    if seen != list(range(n)):
        raise ValueError(f"shards: need shards 0..{n - 1} of {n} once each, got {seen}")
    if any(m["assignment"] != assignment for m in metas):
        raise ValueError(f"shards: an output is not of assignment {assignment}")
    if any(m["class"] != metas[0]["class"] for m in metas):
        raise ValueError("shards: the shards read different submissions (their class lists differ)")
    graded = sorted(s for m in metas for s in m["students"])
    if graded != metas[0]["class"]:
        raise ValueError("shards: the shards' students are not exactly the class")


def copy_grades(src_url: str, dst_url: str, assignment: str, students: list) -> None:
    """Copy ``students``' submissions of ``assignment`` from one nbgrader gradebook into another (which must hold
    the assignment already)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(src_url) as src, Gradebook(dst_url) as dst:
        for student in students:
            sub = src.find_submission(assignment, student)
            person = sub.student
            dst.update_or_create_student(student, first_name=person.first_name, last_name=person.last_name,
                                         email=person.email, lms_user_id=person.lms_user_id)
            try:
                target = dst.find_submission(assignment, student)
            except MissingEntry:
                target = dst.add_submission(assignment, student)
            target.timestamp, target.extension = sub.timestamp, sub.extension
            for nb in sub.notebooks:
                tnb = dst.find_submission_notebook(nb.name, assignment, student)
                tnb.flagged, tnb.late_submission_penalty = nb.flagged, nb.late_submission_penalty
                for grade in nb.grades:
                    t = dst.find_grade(grade.name, nb.name, assignment, student)
                    t.auto_score, t.needs_manual_grade = grade.auto_score, grade.needs_manual_grade
                    if grade.manual_score is not None:
                        t.manual_score = grade.manual_score
                    if grade.extra_credit is not None:
                        t.extra_credit = grade.extra_credit
                for comment in nb.comments:
                    t = dst.find_comment(comment.name, nb.name, assignment, student)
                    t.auto_comment = comment.auto_comment
                    if comment.manual_comment is not None:
                        t.manual_comment = comment.manual_comment
            dst.db.commit()


def merge(root: Path, assignment: str, outputs: list, out: Path, *, db_url: str | None = None,
          log=print) -> dict:
    """Combine shard outputs (each a ``grade --shard`` ``--out`` folder) into ``out/<assignment>/``."""
    from . import gradebook, report
    from .course import assignment_specs
    from .results import ClassInfo

    folders = [Path(o) / assignment for o in outputs]
    missing = [str(f) for f in folders if not (f / "shard.json").is_file()]
    if missing:
        raise ValueError(f"shards: no shard.json in {', '.join(missing)} (graded without --shard?)")
    metas = [json.loads((f / "shard.json").read_text(encoding="utf-8")) for f in folders]
    _check(metas, assignment)
    specs = assignment_specs(root, assignment)
    names = [s.name for s in specs]
    max_score = sum(s.max_score + s.written_points for s in specs)   # the CSV's maximum
    out_a = Path(out) / assignment
    records = []
    for folder in folders:
        records += report.read_records(folder / "records.jsonl")
    by_student = {r.student: r for r in records}
    if sorted(by_student) != metas[0]["class"] or len(records) != len(by_student):
        raise ValueError("shards: the records do not hold each student of the class once (a shard unfinished?)")
    records = [by_student[s] for s in metas[0]["class"]]
    report.write_class(out_a, ClassInfo(assignment, metas[0]["layout"], max_score, names), records)
    for folder in folders:
        if (folder / "feedback").is_dir():
            shutil.copytree(folder / "feedback", out_a / "feedback", dirs_exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"grading-merge-{assignment}-"))
    try:
        record = gradebook.Record(root, assignment, scratch / "course", db_url)   # puts the assignment in it
        for meta in metas:
            copy_grades(meta["db_url"], record.db_url, assignment, meta["students"])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log(f"{assignment}: merged {len(metas)} shards, {len(records)} students -> {out_a}/grades.csv, canvas.csv, "
        f"report.html; gradebook {record.db_url}")
    return {"students": len(records), "csv": str(out_a / "grades.csv"), "db_url": record.db_url}
