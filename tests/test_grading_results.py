"""The grader's result types keep the files' formats: records.jsonl and grades.csv read and write as before."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from course_grading import report
from course_grading.results import ClassInfo, Row, Status, StudentRecord

ROOT = Path(__file__).resolve().parent.parent

# one line of records.jsonl as the grader wrote it before its results were types (a row with the notebooks' scores
# as columns, reasons joined by " | ")
EARLIER = {"student": "ann", "row": {
    "student_id": "ann", "momentum.ipynb": 3.0, "total": 3.0, "max_score": 5.0, "late": "yes",
    "submitted_at": "2026-01-02 10:00:00", "seconds_late": 60.0, "late_penalty": 0.0, "sandbox": "bwrap",
    "hidden_inputs": "term secret", "graded_in": "this run", "status": "pending manual grading",
    "reasons": "momentum.ipynb: heavy_ball failed: at step 2, expected 1, got 2 | written: pending manual grading"},
    "verdicts": [{"notebook": "momentum.ipynb", "grade_id": "heavy_ball", "points": 2.0, "passed": False,
                  "message": "at step 2, expected 1, got 2", "diagnosis": ""}]}


def test_an_earlier_record_reads_back_and_writes_the_same_json():
    rec = StudentRecord.from_json(EARLIER)
    assert rec.row.status is Status.PENDING and not rec.row.status.final
    assert rec.row.scores == {"momentum.ipynb": 3.0}
    assert rec.row.reasons == ["momentum.ipynb: heavy_ball failed: at step 2, expected 1, got 2",
                               "written: pending manual grading"]
    assert rec.verdicts[0].grade_id == "heavy_ball" and not rec.verdicts[0].passed
    assert json.loads(json.dumps(rec.to_json())) == EARLIER


def test_a_row_without_grades_has_empty_cells_and_a_status_is_its_text(tmp_path):
    failed = Row("bo", status=Status.FAILED, reasons=["grader error: RuntimeError: x"], total=0.0)
    report.write_csv([failed, StudentRecord.from_json(EARLIER).row], tmp_path / "grades.csv", ["momentum.ipynb"])
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8") as f:
        bo, ann = list(csv.DictReader(f))
    assert bo["status"] == "failed" and bo["momentum.ipynb"] == "" and bo["late_penalty"] == "" and bo["total"] == "0"
    assert ann["status"] == "pending manual grading" and ann["momentum.ipynb"] == "3"
    assert ann["reasons"] == EARLIER["row"]["reasons"]


def test_the_one_writer_leaves_what_remove_and_release_read(tmp_path):
    info = ClassInfo("03-momentum", "folders", 5.0, ["momentum.ipynb"])
    records = [StudentRecord.from_json(EARLIER)]
    report.write_class(tmp_path, info, records)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["canvas.csv", "class.json", "grades.csv", "records.jsonl",
                                                          "report.html"]
    again, read = report.read_class(tmp_path, "03-momentum")
    assert again == info and [r.to_json() for r in read] == [EARLIER]
    assert report.read_class(tmp_path / "nothing", "03-momentum") is None


def test_a_status_is_one_of_the_enum_also_from_its_text():
    assert Row("a", status="flagged").status is Status.FLAGGED
    assert [s for s in Status if not s.final] == [Status.PENDING, Status.NEEDS_REVIEW, Status.FAILED]
    with pytest.raises(ValueError):
        Row("a", status="graded, more or less")


def test_the_verdicts_reach_nbgrader_through_its_configuration():
    """gradebook.Verdicts reads c.Verdicts.verdicts (student -> notebook -> verdicts), as nbgrader configures any
    preprocessor: a failed test cell gets the judge's message as an error output, a passed one none, and a test cell
    of a notebook the configuration does not name fails as "not graded"."""
    import nbformat
    from traitlets.config import Config

    from course_grading.gradebook import Verdicts

    def test_cell(gid):
        return nbformat.v4.new_code_cell("assert f(1) == 2", metadata={"nbgrader": {
            "grade": True, "solution": False, "grade_id": gid, "points": 1, "locked": True}})

    nb = nbformat.v4.new_notebook(cells=[test_cell("t_pass"), test_cell("t_fail")])
    config = Config()
    config.Verdicts.verdicts = {"ann": {"momentum": {"tests": {"t_pass": None, "t_fail": "AssertionError: got 3"},
                                                     "cells": {}}}}
    out, _ = Verdicts(config=config).preprocess(nbformat.from_dict(nb), {"nbgrader": {"student": "ann",
                                                                                       "notebook": "momentum"}})
    assert out.cells[0].outputs == []
    assert out.cells[1].outputs[0]["ename"] == "AssertionError" and out.cells[1].outputs[0]["evalue"] == "got 3"
    other, _ = Verdicts(config=config).preprocess(nbformat.from_dict(nb), {"nbgrader": {"student": "bo",
                                                                                         "notebook": "momentum"}})
    assert [c.outputs[0]["evalue"] for c in other.cells] == ["not graded", "not graded"]


def test_a_new_gradebook_is_stamped_without_alembic_on_path(tmp_path):
    """nbgrader stamps a new gradebook by running ``alembic`` from PATH; the grader stamps it in process, so a run
    whose PATH lacks the environment's bin (cron, an IDE) works, and no PATH is changed for the process. The
    revision must be the one nbgrader's own ``alembic heads`` prints (the oracle: the program, run explicitly)."""
    import subprocess
    import sys

    from nbgrader.dbutil import _temp_alembic_ini

    url = "sqlite:///" + str(tmp_path / "gradebook.db")
    code = ("import sys; from course_grading.gradebook import stamp_new_gradebook; from nbgrader.api import Gradebook;"
            "stamp_new_gradebook(sys.argv[1]); Gradebook(sys.argv[1]).close()")
    bare = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code, url], env=bare, check=True, timeout=120)
    import sqlite3
    stamped = sqlite3.connect(tmp_path / "gradebook.db").execute("SELECT version_num FROM alembic_version").fetchall()
    with _temp_alembic_ini("sqlite:////tmp/unused.db") as ini:
        heads = subprocess.check_output([str(Path(sys.executable).parent / "alembic"), "-c", ini, "heads"], text=True)
    assert stamped == [(heads.split()[0],)]
