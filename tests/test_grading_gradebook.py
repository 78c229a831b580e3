"""The gradebook features instructors rely on, through the grading command and nbgrader's own Gradebook API.

- Written answers (nbgrader "manually graded answer" cells) wait in the formgrader, with the student's text, as
  needing a manual grade; they are not zeroed; the CSV says "pending manual grading" until an instructor grades.
- A re-grade keeps the instructor's formgrader scores and comments, for an unchanged submission and for a changed
  one (then with a note that the submission changed after them).
- Due dates, per-student extensions and nbgrader's late-submission penalty plugin are honoured.

Each test grades two or three notebooks of one assignment (the course's own solution notebooks), with the gradebook
and outputs in a temporary folder.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from _grading import ROOT, SANDBOX
from _layouts import place_nbgrader as _place
from nbgrader.api import Gradebook
import _pipeline as pipeline

from course_grading.grade import PENDING, grade

WRITTEN = "03-momentum"          # has a written answer (written_lookahead, 1 point)
NB = "momentum.ipynb"


def _run(root: Path, assignment: str, subs: Path, tmp: Path, feedback: bool = False, **kw) -> dict:
    log: list[str] = []
    grade(root, assignment, subs, out=tmp / "out", db_url="sqlite:///" + str(tmp / "gradebook.db"),
          layout="nbgrader", use_sandbox=SANDBOX, feedback_pages=feedback, log=log.append, **kw)
    with open(tmp / "out" / assignment / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    rows["_log"] = "\n".join(log)
    return rows


def test_written_answers_wait_for_the_instructor_and_regrades_keep_their_work(tmp_path):
    subs = tmp_path / "subs"
    alice = pipeline.student_notebook(ROOT, WRITTEN, NB)            # every answer, written one included
    bob = pipeline.student_notebook(ROOT, WRITTEN, NB, [pipeline.Edit("written_lookahead", None,
                                                                      "It looks ahead, so it overshoots less.")])
    _place(subs, WRITTEN, "alice", {NB: alice})
    _place(subs, WRITTEN, "bob", {NB: bob})
    db = "sqlite:///" + str(tmp_path / "gradebook.db")

    rows = _run(ROOT, WRITTEN, subs, tmp_path)
    for student in ("alice", "bob"):
        row = rows[student]
        assert row["status"] == PENDING, row
        assert float(row["total"]) == 12 and float(row["max_score"]) == 13, row
        assert f"written_lookahead (1 point): {PENDING}" in row["reasons"]
    with Gradebook(db) as gb:
        for student in ("alice", "bob"):
            written = gb.find_grade("written_lookahead", "momentum", WRITTEN, student)
            assert written.needs_manual_grade and written.auto_score is None and written.manual_score is None
            assert written.max_score == 1
            assert gb.find_submission(WRITTEN, student).needs_manual_grade
    # the formgrader's own listing (NbGraderAPI, as the Manual Grading page calls it) shows both as needing grading
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    config.CourseDirectory.autograded_directory = str(tmp_path / "out" / "autograded")
    config.CourseDirectory.db_url = db
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    listed = {s["student"]: s for s in api.get_notebook_submissions(WRITTEN, "momentum")}
    assert sorted(listed) == ["alice", "bob"] and all(s["needs_manual_grade"] for s in listed.values()), listed
    # the formgrader reads the autograded notebook: the student's own text is there, not the model answer
    kept = nbformat.read(tmp_path / "out" / "autograded" / "bob" / WRITTEN / NB, as_version=4)
    cell = next(c for c in kept.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "written_lookahead")
    assert cell.cell_type == "markdown" and cell.source == "It looks ahead, so it overshoots less."

    # the instructor grades in the formgrader (nbgrader's Gradebook API is what the formgrader writes through)
    with Gradebook(db) as gb:
        gb.find_grade("written_lookahead", "momentum", WRITTEN, "alice").manual_score = 1
        gb.find_comment("written_lookahead", "momentum", WRITTEN, "alice").manual_comment = "Clear."
        gb.find_grade("written_lookahead", "momentum", WRITTEN, "bob").manual_score = 0
        gb.find_grade("test_heavy_ball_visible", "momentum", WRITTEN, "bob").manual_score = 0.5   # an override
        gb.find_comment("heavy_ball_velocity_step", "momentum", WRITTEN, "bob").manual_comment = "See me."
        gb.db.commit()

    rows = _run(ROOT, WRITTEN, subs, tmp_path)      # re-grade, nothing changed
    assert rows["alice"]["status"] == "graded" and float(rows["alice"]["total"]) == 13, rows["alice"]
    assert float(rows["bob"]["total"]) == 11.5, rows["bob"]
    assert "kept the instructor's formgrader work" in rows["bob"]["reasons"]
    assert "changed after" not in rows["bob"]["reasons"]

    bob2 = pipeline.student_notebook(ROOT, WRITTEN, NB, [pipeline.Edit("written_lookahead", None,
                                                                       "The gradient at the look-ahead point "
                                                                       "already points back.")])
    _place(subs, WRITTEN, "bob", {NB: bob2})
    rows = _run(ROOT, WRITTEN, subs, tmp_path)      # re-grade after bob changed his submission
    assert "changed after it (momentum.ipynb)" in rows["bob"]["reasons"], rows["bob"]["reasons"]
    assert "changed after" not in rows["alice"]["reasons"]
    with Gradebook(db) as gb:
        assert gb.find_grade("written_lookahead", "momentum", WRITTEN, "alice").manual_score == 1
        assert gb.find_comment("written_lookahead", "momentum", WRITTEN, "alice").manual_comment == "Clear."
        assert gb.find_grade("written_lookahead", "momentum", WRITTEN, "bob").manual_score == 0
        assert gb.find_grade("test_heavy_ball_visible", "momentum", WRITTEN, "bob").manual_score == 0.5
        assert gb.find_comment("heavy_ball_velocity_step", "momentum", WRITTEN, "bob").manual_comment == "See me."
        assert gb.find_submission(WRITTEN, "bob").score == 11.5


def test_a_hand_grade_reaches_the_feedback_page_of_a_student_not_graded_again(tmp_path):
    """An instructor grades a written answer after the run; the next run skips the unchanged student but renders
    their page again, so the score and comment reach the student; a run after that renders nothing again."""
    _place(tmp_path / "subs", WRITTEN, "alice", {NB: pipeline.student_notebook(ROOT, WRITTEN, NB)})
    _run(ROOT, WRITTEN, tmp_path / "subs", tmp_path, feedback=True)
    page = tmp_path / "out" / WRITTEN / "feedback" / "alice" / "momentum.html"

    def text():   # the page as a reader sees it
        return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))

    assert "Written response (Score: 0.0 / 1.0)" in text()
    with Gradebook("sqlite:///" + str(tmp_path / "gradebook.db")) as gb:
        gb.find_grade("written_lookahead", "momentum", WRITTEN, "alice").manual_score = 1
        gb.find_comment("written_lookahead", "momentum", WRITTEN, "alice").manual_comment = "Well put."
        gb.db.commit()
    rows = _run(ROOT, WRITTEN, tmp_path / "subs", tmp_path, feedback=True)
    assert rows["alice"]["graded_in"] == "earlier run (unchanged since)" and float(rows["alice"]["total"]) == 13
    assert "alice: feedback page rendered again" in rows["_log"]
    assert "Written response (Score: 1.0 / 1.0)" in text() and "Well put." in text()
    assert "(Score: 13.0 / 13.0)" in text()
    rows = _run(ROOT, WRITTEN, tmp_path / "subs", tmp_path, feedback=True)
    assert "rendered again" not in rows["_log"], "an unchanged page is rendered once"


DEADLINE = "02-gradient-descent"


def test_due_date_extension_and_late_penalty(tmp_path):
    course = pipeline.make_course(tmp_path / "course", [DEADLINE], root=ROOT, release=False)
    shutil.copytree(ROOT / "exercises" / DEADLINE, course / "exercises" / DEADLINE)
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as f:   # nbgrader's own plugin: late -> 0
        f.write('\nc.AssignLatePenalties.plugin_class = "nbgrader.plugins.LateSubmissionPlugin"\n'
                'c.LateSubmissionPlugin.penalty_method = "zero"\n')
    names = pipeline.notebook_names(course, DEADLINE)
    work = {n: pipeline.student_notebook(course, DEADLINE, n) for n in names}
    due = dt.datetime(2026, 11, 10, 17, 0, tzinfo=dt.timezone.utc)
    handed_in = {"ontime": due - dt.timedelta(hours=1), "late": due + dt.timedelta(hours=2, minutes=30),
                 "extended": due + dt.timedelta(hours=2, minutes=30)}
    extension_hours = {"extended": 3}
    subs = tmp_path / "subs"
    for student, when in handed_in.items():
        _place(subs, DEADLINE, student, work, when.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))

    rows = _run(course, DEADLINE, subs, tmp_path, due="2026-11-10 17:00:00 UTC", extensions=extension_hours)
    full = float(rows["ontime"]["max_score"])
    for student, when in handed_in.items():
        own_due = due + dt.timedelta(hours=extension_hours.get(student, 0))
        expect_late = max(0.0, (when - own_due).total_seconds())
        row = rows[student]
        assert float(row["seconds_late"]) == expect_late, (student, row)
        assert float(row["late_penalty"]) == (full if expect_late else 0.0), (student, row)
        assert float(row["total"]) == (0.0 if expect_late else full), (student, row)
        assert row["late"] == ("yes" if expect_late else ""), (student, row)
    assert "late: 9000 s after the due date, penalty" in rows["late"]["reasons"]
    with Gradebook("sqlite:///" + str(tmp_path / "gradebook.db")) as gb:
        assert gb.find_assignment(DEADLINE).duedate == due.replace(tzinfo=None)
        assert gb.find_submission(DEADLINE, "extended").extension == dt.timedelta(hours=3)
        assert gb.find_submission(DEADLINE, "late").late_submission_penalty == full


def test_cli_rejects_bad_deadline_options(tmp_path):
    from course_grading.cli import main

    subs = tmp_path / "subs"
    subs.mkdir()
    for bad in (["--due", "not a date"], ["--extension", "alice"], ["--extension", "alice=-2"]):
        assert main(["--course", str(ROOT), "grade", DEADLINE, str(subs), "--out", str(tmp_path / "o"),
                     "--db-url", "sqlite:///" + str(tmp_path / "g.db"), "--no-sandbox", *bad]) == 2


@pytest.mark.parametrize("source", ["# notebook: x.ipynb\n# %% [written] id=w\n# ### BEGIN SOLUTION\n# a\n"
                                    "# ### END SOLUTION\n",
                                    "# notebook: x.ipynb\n# %% [written] id=w points=1\n# just text\n"])
def test_written_marker_needs_points_and_a_model_answer(source):
    from course_grading import authoring

    with pytest.raises(ValueError):
        authoring.parse_source(source)


def test_canvas_late_tag_is_reported(tmp_path):
    subs = tmp_path / "canvas"
    subs.mkdir()
    names = pipeline.notebook_names(ROOT, DEADLINE)
    for name in names:
        nbformat.write(pipeline.student_notebook(ROOT, DEADLINE, name), subs / f"doejane_LATE_4711_90210_{name}")
    log: list[str] = []
    grade(ROOT, DEADLINE, subs, out=tmp_path / "out", db_url="sqlite:///" + str(tmp_path / "gradebook.db"),
          layout="canvas", use_sandbox=SANDBOX, feedback_pages=False, log=log.append)
    with open(tmp_path / "out" / DEADLINE / "grades.csv", newline="", encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    assert row["late"] == "yes" and float(row["seconds_late"]) == 0 and float(row["late_penalty"]) == 0, row
    assert "the LMS marked it late (_LATE)" in row["reasons"], row


def test_worker_never_runs_a_written_answer():
    from course_grading.course import read_spec, student_cells

    spec = read_spec(ROOT / "solutions" / WRITTEN / NB)
    assert spec.written == {"written_lookahead": 1.0} and spec.max_score == 12
    nb = pipeline.student_notebook(ROOT, WRITTEN, NB)
    labels = [label for label, _ in student_cells(nb, spec)]
    assert "heavy_ball_velocity_step" in labels and "written_lookahead" not in labels
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "written_lookahead")
    cell.cell_type, cell.source = "code", "import os; os.system('echo ran')"   # a student turns it into code
    cell.outputs, cell.execution_count = [], None
    assert "written_lookahead" not in [label for label, _ in student_cells(nb, spec)]
    assert not any("os.system" in source for _, source in student_cells(nb, spec))


def test_a_rerun_of_part_of_the_class_keeps_the_rest_and_only_remove_removes(tmp_path):
    """A term: the class is graded, then one resubmission alone is graded into the same gradebook. Nobody leaves the
    gradebook or the outputs (each row says where its grade comes from); unchanged students are skipped; a student
    leaves only through ``remove``, which lists who goes and needs ``--yes``."""
    from course_grading import cli

    assignment, notebook = "02-gradient-descent", "gradient_descent.ipynb"
    solution = pipeline.student_notebook(ROOT, assignment, notebook)
    release = nbformat.read(ROOT / "exercises" / assignment / notebook, as_version=4)
    first, again, only_jane = tmp_path / "first", tmp_path / "again", tmp_path / "only_jane"
    for student in ("alice", "bob", "jane"):
        _place(first, assignment, student, {notebook: solution if student != "jane" else release})
    for student in ("alice", "bob"):
        _place(again, assignment, student, {notebook: solution})
    (again / "bob" / assignment / "notes.py").write_text("print('not a notebook')\n")
    _place(only_jane, assignment, "jane", {notebook: solution})
    db = "sqlite:///" + str(tmp_path / "gradebook.db")
    rows = _run(ROOT, assignment, first, tmp_path)
    assert float(rows["jane"]["total"]) == 0 and rows["jane"]["graded_in"] == "this run"
    rows = _run(ROOT, assignment, again, tmp_path)   # alice and bob unchanged, jane not given
    log = rows.pop("_log")
    assert sorted(rows) == ["alice", "bob", "jane"], "a run never shrinks the record"
    assert rows["alice"]["graded_in"] == "earlier run (unchanged since)"
    assert rows["jane"]["graded_in"] == "earlier run (not in these submissions)"
    assert "files found 3 = graded 2 + ignored 1" in log
    assert "students found 2 + kept from earlier runs 1 = rows in the CSV 3 = students in the gradebook 3" in log
    rows = _run(ROOT, assignment, only_jane, tmp_path)   # the resubmission
    rows.pop("_log")
    assert sorted(rows) == ["alice", "bob", "jane"]
    assert float(rows["jane"]["total"]) == 11 and rows["jane"]["graded_in"] == "this run"
    assert float(rows["alice"]["total"]) == 11 and rows["alice"]["graded_in"].startswith("earlier run")
    with open(tmp_path / "out" / assignment / "canvas.csv", newline="") as f:
        assert len(list(csv.reader(f))) == 2 + 3, "header, Points Possible, the whole class"
    args = ["--course", str(ROOT), "remove", assignment, "bob", "--db-url", db, "--out", str(tmp_path / "out")]
    assert cli.main(args) == 1, "without --yes nothing goes"
    with Gradebook(db) as gb:
        assert len(gb.find_assignment(assignment).submissions) == 3
    assert cli.main(args + ["--yes"]) == 0
    with Gradebook(db) as gb:
        assert sorted(s.student_id for s in gb.find_assignment(assignment).submissions) == ["alice", "jane"]
    with open(tmp_path / "out" / assignment / "grades.csv", newline="") as f:
        assert sorted(r["student_id"] for r in csv.DictReader(f)) == ["alice", "jane"]
    rows = _run(ROOT, assignment, again, tmp_path, force=True)   # --force grades the given students again
    rows.pop("_log")
    assert rows["alice"]["graded_in"] == "this run" and sorted(rows) == ["alice", "bob", "jane"]


def test_unreadable_notebooks_get_a_row_with_the_reason(tmp_path):
    """An empty, truncated or non-notebook file: 0 with "not a readable notebook: <why>", in the gradebook and the
    CSV; the run exits normally (every student has a row)."""
    from course_grading import cli

    assignment, notebook = "02-gradient-descent", "gradient_descent.ipynb"
    subs = tmp_path / "subs"
    solution = pipeline.student_notebook(ROOT, assignment, notebook)
    _place(subs, assignment, "ok", {notebook: solution})
    text = nbformat.writes(solution)
    for student, content in (("empty", ""), ("truncated", text[:len(text) // 2]), ("json", '{"a": 1}')):
        (subs / student / assignment).mkdir(parents=True)
        (subs / student / assignment / notebook).write_text(content)
    status = cli.main(["--course", str(ROOT), "grade", assignment, str(subs), "--out", str(tmp_path / "out"),
                       "--db-url", "sqlite:///" + str(tmp_path / "gradebook.db"), "--layout", "nbgrader"]
                      + ([] if SANDBOX else ["--no-sandbox"]))
    assert status == 0
    with open(tmp_path / "out" / assignment / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert float(rows["ok"]["total"]) == 11
    for student in ("empty", "truncated", "json"):
        assert float(rows[student]["total"]) == 0 and rows[student]["status"] == "unreadable", rows[student]
        assert "not a readable notebook" in rows[student]["reasons"]
    assert "the file is empty" in rows["empty"]["reasons"]
    with Gradebook("sqlite:///" + str(tmp_path / "gradebook.db")) as gb:
        assert sorted(s.student_id for s in gb.find_assignment(assignment).submissions) == sorted(rows)


def test_a_deleted_test_cell_is_restored_and_its_points_count(tmp_path):
    assignment, notebook = "02-gradient-descent", "gradient_descent.ipynb"
    nb = pipeline.student_notebook(ROOT, assignment, notebook)
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade_id", "").endswith("_hidden")]
    _place(tmp_path / "subs", assignment, "tidy", {notebook: nb})
    rows = _run(ROOT, assignment, tmp_path / "subs", tmp_path)
    assert float(rows["tidy"]["total"]) == 11, rows["tidy"]["reasons"]
    assert "restored the deleted cell test_gd_step_hidden" in rows["tidy"]["reasons"]
    assert rows["tidy"]["status"] == "graded"


@pytest.mark.parametrize("due,zone,ok", [
    ("2026-11-10T17:00+01:00", None, "2026-11-10T16:00:00+00:00"),
    ("2026-11-10 17:00 UTC", None, "2026-11-10T17:00:00+00:00"),
    ("2026-11-10 17:00", "Europe/Paris", "2026-11-10T16:00:00+00:00"),
    ("2026-11-10 17:00", None, None),
    ("10/11/2026 17:00", None, None),
    ("2026-11-10 17:00", "Mars/Olympus", None),
])
def test_dates_are_never_guessed(due, zone, ok):
    from course_grading.cli import parse_due

    if ok:
        assert parse_due(due, zone) == ok
    else:
        with pytest.raises(ValueError, match="--due|--timezone") as err:
            parse_due(due, zone)
        assert "2026-11-10T17:00+01:00" in str(err.value) or "time zone name" in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir()))
def test_feedback_pages_show_scores_and_messages_on_every_assignment(tmp_path, assignment):
    """nbgrader's own feedback page (hidden tests cleared) for an honest and a buggy student: never replaced by
    the fallback score table, with the notebook's score and the failed test's message."""
    from grader_bugs import catalogue

    names = pipeline.notebook_names(ROOT, assignment)
    variant = catalogue()[assignment].VARIANTS[0]
    target = variant.notebook or names[0]
    subs = tmp_path / "subs"
    _place(subs, assignment, "honest", {n: pipeline.student_notebook(ROOT, assignment, n) for n in names})
    _place(subs, assignment, "buggy", {n: pipeline.student_notebook(ROOT, assignment, n,
                                                                    variant.edits if n == target else ())
                                       for n in names})
    rows = _run(ROOT, assignment, subs, tmp_path, feedback=True)
    log = rows.pop("_log")
    assert "feedback showed" not in log, log
    for student in ("honest", "buggy"):
        for name in names:
            page = (tmp_path / "out" / assignment / "feedback" / student / name.replace(".ipynb", ".html"))
            text = page.read_text(encoding="utf-8")
            assert "BEGIN HIDDEN TESTS" not in text
            assert "Score:" in text or "score" in text.lower(), page
    buggy = (tmp_path / "out" / assignment / "feedback" / "buggy" / target.replace(".ipynb", ".html")).read_text()
    failed = [r for r in rows["buggy"]["reasons"].split(" | ") if " failed: " in r]
    assert failed, rows["buggy"]
    first_message = failed[0].split(" failed: ", 1)[1][:40]
    import html as _html
    assert _html.escape(first_message)[:30] in buggy or first_message[:30] in buggy, (first_message, target)
