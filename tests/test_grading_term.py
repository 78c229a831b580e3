"""A term of grading loses nothing and tells every student what to fix (issue 26, "How to check"), as one test.

A class of 13 students with awkward ids hands in one assignment in four layouts (plain folders, nbgrader's
``submitted/``, a Canvas zip, a Moodle zip); each layout is graded with the public command into one gradebook and
one output folder. Then a second round: one resubmission graded alone, a written answer graded by hand with a
comment and a test cell's score overridden (through nbgrader's Gradebook API, which the formgrader writes through),
a submission changed after its hand grade ("needs review"), and a run stopped by SIGINT (exit 130, saying how far it
got) whose rerun skips the students already done. Throughout: 13 rows in grades.csv, canvas.csv and report.html,
and every student's feedback page with their total and the message of every test they failed.

03-momentum is graded: the cheapest assignment with a written answer (02-gradient-descent has none).
"""

from __future__ import annotations

import csv
import html
import io
import os
import re
import signal
import subprocess
import sys
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import pytest
from _grading import CATALOGUE, ROOT, SANDBOX
from _layouts import canvas_name, moodle_prefix, place_nbgrader
from nbgrader.api import Gradebook

import _pipeline as pipeline
from course_grading import cli
from course_grading.report import read_records

ASSIGNMENT, NB = "03-momentum", "momentum.ipynb"
WRITTEN, MAX = "written_lookahead", 13.0
BUGS = {v.name: v for v in CATALOGUE[ASSIGNMENT].VARIANTS if not v.full_marks}
# student id -> the catalogued bug in their notebook (None: the solution; "release": the untouched release)
FOLDERS = {"o_brien.k": None, "ana+1@uni.edu": "velocity-sign", "李雷": "nesterov-old-buffer", "zoë-2": "release"}
NBGRADER = {"0042": None, "j.doe": "ema-weights-swapped", "mary-jane": "lookahead-no-lr"}
CANVAS = {"1001": ("Élodie Durand", None), "1002": ("Nguyễn Văn An", "ema-first-step-damped"),
          "1003": ("Kim Ji-woo", "lookahead-sign")}          # Canvas user id -> (display name, bug)
MOODLE = {"301": ("Ana María López", "velocity-lr-twice"), "302": ("Zhang Wei", None),
          "303": ("Sam Taylor", "nesterov-is-heavy-ball")}    # Moodle participant id -> (display name, bug)
CLASS = [*FOLDERS, *NBGRADER, *CANVAS, *MOODLE]


def _notebook(bug):
    if bug == "release":
        return nbformat.read(ROOT / "exercises" / ASSIGNMENT / NB, as_version=4)
    return pipeline.student_notebook(ROOT, ASSIGNMENT, NB, BUGS[bug].edits if bug else ())


def _folders(root: Path, people: dict) -> Path:
    for sid, bug in people.items():
        (root / sid).mkdir(parents=True)
        nbformat.write(_notebook(bug), root / sid / NB)
    return root


def _nbgrader(root: Path, people: dict) -> Path:
    for k, (sid, bug) in enumerate(people.items()):
        place_nbgrader(root, ASSIGNMENT, sid, {NB: _notebook(bug)}, f"2026-11-{10 + k:02d} 09:30:00.000000 UTC")
    return root


def _canvas_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for k, (uid, (display, bug)) in enumerate(CANVAS.items()):
            zf.writestr(f"{canvas_name(display)}_{uid}_{5000 + 10 * k}_{NB}", nbformat.writes(_notebook(bug)))
    return path


def _moodle_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for pid, (display, bug) in MOODLE.items():
            zf.writestr(f"{moodle_prefix(display, pid)}_assignsubmission_file_/{NB}", nbformat.writes(_notebook(bug)))
    return path


def _args(tmp: Path, subs: Path, layout: str) -> list:
    return (["--course", str(ROOT), "grade", ASSIGNMENT, str(subs), "--out", str(tmp / "out"),
             "--db-url", "sqlite:///" + str(tmp / "gradebook.db"), "--layout", layout]
            + ([] if SANDBOX else ["--no-sandbox"]))


def _grade(tmp: Path, subs: Path, layout: str) -> str:
    """``course-grading grade`` (the public command, in this process); returns what it printed."""
    printed = io.StringIO()
    with redirect_stdout(printed):
        status = cli.main(_args(tmp, subs, layout))
    assert status == 0, printed.getvalue()[-3000:]
    return printed.getvalue()


def _page(tmp: Path, student: str) -> str:
    """The text of ``student``'s feedback page, as a reader sees it (tags dropped, entities decoded)."""
    page = (tmp / "out" / ASSIGNMENT / "feedback" / student / NB.replace(".ipynb", ".html")).read_text(encoding="utf-8")
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _class(tmp: Path) -> dict:
    """The class as the outputs show it: 13 rows in grades.csv, canvas.csv and report.html; every feedback page
    with the student's total and the message of each test they failed. Returns the grades.csv rows."""
    out = tmp / "out" / ASSIGNMENT
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert sorted(rows) == sorted(CLASS), "a student was dropped, merged or renamed"
    with open(out / "canvas.csv", newline="", encoding="utf-8") as f:
        canvas = list(csv.reader(f))
    assert len(canvas) == 2 + len(CLASS), "header, Points Possible, the whole class"
    assert f'data-students="{len(CLASS)}"' in (out / "report.html").read_text(encoding="utf-8")
    for record in read_records(out / "records.jsonl"):
        sid = record.student
        page = _page(tmp, sid)
        assert f"(Score: {float(rows[sid]['total']):.1f} / {MAX:.1f})" in page, f"{sid}: total not on the page"
        for verdict in record.verdicts:
            if not verdict.passed:
                message = verdict.message.splitlines()[0][:60]
                assert message in page, f"{sid}: {message!r} not on the page"
    return rows


@pytest.mark.slow
def test_a_term_of_grading_loses_nothing_and_tells_every_student_what_to_fix(tmp_path):
    # ---- round 1: the class hands in through four systems, graded into one gradebook
    _grade(tmp_path, _folders(tmp_path / "r1" / "folders", FOLDERS), "folders")
    _grade(tmp_path, _nbgrader(tmp_path / "r1" / "submitted", NBGRADER), "nbgrader")
    _grade(tmp_path, _canvas_zip(tmp_path / "canvas.zip"), "canvas")
    log = _grade(tmp_path, _moodle_zip(tmp_path / "moodle.zip"), "moodle")
    assert "students found 3 + kept from earlier runs 10 = rows in the CSV 13 = students in the gradebook 13" in log
    rows = _class(tmp_path)
    for sid, bug in {**FOLDERS, **NBGRADER, **{k: b for k, (_, b) in {**CANVAS, **MOODLE}.items()}}.items():
        if bug is None:   # every test passed; the written answer waits for the instructor
            assert float(rows[sid]["total"]) == MAX - 1 and rows[sid]["status"] == "pending manual grading", rows[sid]
        else:
            assert float(rows[sid]["total"]) < MAX - 1, (sid, bug)

    # ---- round 2: ana fixes her bug and hands in again; graded alone into the same gradebook
    log = _grade(tmp_path, _folders(tmp_path / "r2" / "ana", {"ana+1@uni.edu": None}), "folders")
    assert "students found 1 + kept from earlier runs 12 = rows in the CSV 13" in log
    rows = _class(tmp_path)
    assert float(rows["ana+1@uni.edu"]["total"]) == MAX - 1 and rows["ana+1@uni.edu"]["graded_in"] == "this run"
    assert rows["0042"]["graded_in"] == "earlier run (not in these submissions)"

    # the instructor grades o_brien.k's written answer with a comment and overrides a test cell of 0042's, in the
    # formgrader (nbgrader's Gradebook API is what the formgrader writes through)
    with Gradebook("sqlite:///" + str(tmp_path / "gradebook.db")) as gb:
        gb.find_grade(WRITTEN, "momentum", ASSIGNMENT, "o_brien.k").manual_score = 1
        gb.find_comment(WRITTEN, "momentum", ASSIGNMENT, "o_brien.k").manual_comment = "Clear: the look-ahead point."
        gb.find_grade("test_heavy_ball_visible", "momentum", ASSIGNMENT, "0042").manual_score = 0.5
        gb.find_comment("heavy_ball_velocity_step", "momentum", ASSIGNMENT, "0042").manual_comment = "See me."
        gb.db.commit()

    # o_brien.k then changes the notebook: the hand grade is kept, for the instructor to review; the folders' other
    # students are unchanged and skipped
    changed = dict(FOLDERS, **{"ana+1@uni.edu": None, "o_brien.k": "velocity-sign"})
    log = _grade(tmp_path, _folders(tmp_path / "r2" / "changed", changed), "folders")
    assert "(1 graded now, 3 unchanged" in log and "feedback showed" not in log, log[-3000:]
    rows = _class(tmp_path)
    assert rows["o_brien.k"]["status"] == "needs review", rows["o_brien.k"]
    assert "the submission changed after it (momentum.ipynb): review it" in rows["o_brien.k"]["reasons"]
    assert [sid for sid, r in rows.items() if r["status"] == "needs review"] == ["o_brien.k"]
    assert 'data-needs-review="1"' in (tmp_path / "out" / ASSIGNMENT / "report.html").read_text(encoding="utf-8")
    page = _page(tmp_path, "o_brien.k")
    assert "Clear: the look-ahead point." in page and "Written response (Score: 1.0 / 1.0)" in page

    # two nbgrader students hand in again; the run is stopped (Ctrl-C) while it grades the second
    again = _nbgrader(tmp_path / "r2" / "submitted", dict(NBGRADER, **{"j.doe": None, "mary-jane": None}))
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "course_grading", *_args(tmp_path, again, "nbgrader")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    printed = []
    for line in proc.stdout:
        printed.append(line)
        if re.match(r"(j\.doe|mary-jane): ", line):   # the first one is graded: stop the run during the second
            proc.send_signal(signal.SIGINT)
            break
    printed.append(proc.communicate(timeout=300)[0])
    printed = "".join(printed)
    assert proc.returncode == 130, printed[-3000:]
    assert "interrupted: 1 of 2 students graded in this run" in printed and "stopped (Ctrl-C)" in printed, printed
    rows = _class(tmp_path)
    assert sum(rows[s]["graded_in"] == "this run" for s in ("j.doe", "mary-jane")) == 1, "how far it got"
    # the same command again grades only the student it did not get to
    log = _grade(tmp_path, again, "nbgrader")
    assert "(1 graded now, 2 unchanged" in log, log[-800:]
    rows = _class(tmp_path)
    assert float(rows["j.doe"]["total"]) == float(rows["mary-jane"]["total"]) == MAX - 1
    # 0042 was skipped (unchanged): the override and its comment reach the page all the same
    assert float(rows["0042"]["total"]) == MAX - 1 - 0.5, rows["0042"]
    assert "kept the instructor's formgrader work" in rows["0042"]["reasons"]
    page = _page(tmp_path, "0042")
    assert "See me." in page and "Test cell (Score: 0.5 / 1.0)" in page, "the override is not on 0042's page"
    assert rows["o_brien.k"]["status"] == "needs review"
