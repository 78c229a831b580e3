"""Feedback delivered (``python -m course_grading release``): through nbgrader's exchange, as one archive per student,
and as Canvas's "Re-Upload Submissions" zip.

A small class of one assignment (02-gradient-descent: two students, one with a wrong answer so that the pages
differ) is graded with feedback pages, then released. The exchange test runs the whole nbgrader round trip with a
temporary exchange root: each student submits with nbgrader's own ``ExchangeSubmit`` (their own cache, as separate
users have), the instructor collects with ``NbGraderAPI.collect``, the grader grades the collected ``submitted/``
folder, ``release`` releases, and each student's ``fetch_feedback`` finds exactly their own pages.
"""

from __future__ import annotations

import csv
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from _grading import ROOT, SANDBOX
import _pipeline as pipeline

from course_grading.grade import grade
from course_grading.release import exchange_root, grades_text, release

ASSIGNMENT, NB = "02-gradient-descent", "gradient_descent.ipynb"
STUDENTS = ("alice", "bob")


def _answers(student: str):
    """alice: the solution; bob: the solution with the first answer cell broken (a different page)."""
    nb = pipeline.student_notebook(ROOT, ASSIGNMENT, NB)
    if student == "bob":
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
                cell.source = "def gd_step(*args, **kwargs):\n    return None\n"
                break
    return nb


def _grade(course: Path, subs: Path, out: Path, layout: str) -> dict:
    grade(course, ASSIGNMENT, subs, out=out, db_url="sqlite:///" + str(out.parent / "gradebook.db"), layout=layout,
          use_sandbox=SANDBOX, feedback_pages=True, log=lambda *_: None)
    with open(out / ASSIGNMENT / "grades.csv", newline="", encoding="utf-8") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


def _pages(out: Path, student: str) -> dict:
    folder = out / ASSIGNMENT / "feedback" / student
    return {p.name: p.read_bytes() for p in folder.glob("*.html")}


@pytest.fixture(scope="module")
def folders_class(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("release")
    subs = tmp / "subs"
    for student in STUDENTS:
        (subs / student).mkdir(parents=True)
        nbformat.write(_answers(student), subs / student / NB)
    rows = _grade(ROOT, subs, tmp / "out", "folders")
    return tmp, rows


def test_one_archive_per_student_with_exactly_their_pages(folders_class):
    tmp, rows = folders_class
    out = tmp / "out"
    log: list = []
    done = release(ROOT, ASSIGNMENT, out=out, bundle=True, log=log.append)
    assert done.how == "bundle" and sorted(done.delivered) == list(STUDENTS), log
    pages = {s: _pages(out, s) for s in STUDENTS}
    assert pages["alice"] and pages["alice"] != pages["bob"], "the two students' pages must differ for this test"
    for student in STUDENTS:
        with zipfile.ZipFile(out / ASSIGNMENT / "release" / f"{student}.zip") as zf:
            names = sorted(zf.namelist())
            assert names == sorted([*pages[student], "grades.txt"])
            for name, data in pages[student].items():
                assert zf.read(name) == data
            other = "bob" if student == "alice" else "alice"
            assert all(zf.read(n) != pages[other].get(n) for n in pages[other]), "nobody else's page"
            text = zf.read("grades.txt").decode()
        assert text == grades_text(ASSIGNMENT, rows[student])
        assert f"total: {float(rows[student]['total']):g} / {float(rows[student]['max_score']):g}" in text
        assert f"status: {rows[student]['status']}" in text
    assert float(rows["bob"]["total"]) < float(rows["alice"]["total"])
    assert "failed" in zipfile.ZipFile(out / ASSIGNMENT / "release" / "bob.zip").read("grades.txt").decode()


def test_the_command(folders_class, tmp_path):
    from course_grading import cli

    tmp, _ = folders_class
    out = tmp_path / "out"
    shutil.copytree(tmp / "out", out)
    assert cli.main(["--course", str(ROOT), "release", ASSIGNMENT, "--out", str(out), "--bundle"]) == 0
    assert sorted(p.name for p in (out / ASSIGNMENT / "release").iterdir()) == ["alice.zip", "bob.zip"]
    assert cli.main(["--course", str(ROOT), "release", ASSIGNMENT, "--out", str(tmp_path / "none")]) == 2


def test_a_student_without_pages_is_listed_not_given_someone_elses(folders_class, tmp_path):
    tmp, _ = folders_class
    out = tmp_path / "out"
    shutil.copytree(tmp / "out", out)
    shutil.rmtree(out / ASSIGNMENT / "feedback" / "bob")
    shutil.rmtree(out / ASSIGNMENT / "release", ignore_errors=True)
    log: list = []
    done = release(ROOT, ASSIGNMENT, out=out, bundle=True, log=log.append)
    assert sorted(done.delivered) == ["alice"] and "bob" in done.skipped
    assert not (out / ASSIGNMENT / "release" / "bob.zip").exists()
    assert any(line.startswith("not released: bob: no feedback pages") for line in log)


def test_release_refuses_an_ungraded_assignment(tmp_path):
    with pytest.raises(ValueError, match="no graded class"):
        release(ROOT, ASSIGNMENT, out=tmp_path, bundle=True, log=lambda *_: None)
    with pytest.raises(ValueError, match="assignment"):
        release(ROOT, "../x", out=tmp_path, log=lambda *_: None)


def test_the_course_config_decides_the_exchange(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    assert exchange_root(tmp_path) is None
    assert exchange_root(ROOT) is None, "this course sets no exchange: release makes archives"
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Exchange.root = '/srv/nbgrader/exchange'\n")
    assert exchange_root(tmp_path) == "/srv/nbgrader/exchange"


def test_canvas_bundle_names_each_page_after_the_students_submitted_file(tmp_path):
    """Canvas routes a re-uploaded file by the first two all-digit pieces of its name: user id, then the id of a
    file of that student's submission. The ids here are those of the Download Submissions names."""
    subs = tmp_path / "canvas"
    subs.mkdir()
    files = {"1001": ("smith_jane", 5001), "1002": ("doe_2_john", 5002)}   # a name may itself hold _<digits>
    for (uid, (name, fid)), student in zip(files.items(), STUDENTS, strict=True):
        nbformat.write(_answers(student), subs / f"{name}_{uid}_{fid}_{NB}")
    out = tmp_path / "out"
    rows = _grade(ROOT, subs, out, "canvas")
    assert sorted(rows) == sorted(files)
    done = release(ROOT, ASSIGNMENT, out=out, submissions=subs, bundle=True, log=lambda *_: None)
    assert done.bundle is not None and sorted(done.delivered) == sorted(files)
    with zipfile.ZipFile(done.bundle) as zf:
        names = sorted(zf.namelist())
        assert names == sorted(f"{uid}_{fid}_{Path(NB).stem}.html" for uid, (_, fid) in files.items())
        for uid, (_, fid) in files.items():
            name = f"{uid}_{fid}_{Path(NB).stem}.html"
            # Canvas's own reading of the name: the first two all-digit pieces (LATE dropped)
            digits = [t for t in name.split("_") if t != "LATE" and t.isdigit()][:2]
            assert digits == [uid, str(fid)]
            assert zf.read(name) == _pages(out, uid)[f"{Path(NB).stem}.html"]
    # without the Canvas zip there is no bundle, and the log says why
    log: list = []
    assert release(ROOT, ASSIGNMENT, out=out, bundle=True, log=log.append).bundle is None
    assert any("--submissions" in line for line in log)


@pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")   # nbgrader's own typo
def test_exchange_round_trip_fetch_feedback_finds_each_students_own_pages(tmp_path):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeSubmit
    from traitlets.config import Config

    course = pipeline.make_course(tmp_path / "course", [ASSIGNMENT], root=ROOT)
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as f:
        f.write(f"\nc.Exchange.root = {str(exchange)!r}\n")
    course_id = "optimizers-course"
    shutil.copytree(course / "exercises" / ASSIGNMENT, exchange / course_id / "outbound" / ASSIGNMENT)
    (exchange / course_id / "inbound").mkdir()

    def config_for(student: str | None) -> Config:
        c = Config()
        c.CourseDirectory.root = str(course)
        c.CourseDirectory.course_id = course_id
        c.CourseDirectory.db_url = "sqlite:///" + str(tmp_path / "exchange.db")
        c.Exchange.root = str(exchange)
        if student:
            c.Exchange.cache = str(tmp_path / "home" / student / ".cache")
            c.Exchange.assignment_dir = str(tmp_path / "home" / student)
        return c

    for student in STUDENTS:   # each student submits from their own home, with their own cache
        home = tmp_path / "home" / student / ASSIGNMENT
        home.mkdir(parents=True)
        nbformat.write(_answers(student), home / NB)
        c = config_for(student)
        coursedir = CourseDirectory(config=c, assignment_id=ASSIGNMENT, student_id=student)
        ExchangeSubmit(coursedir=coursedir, authenticator=Authenticator(config=c), config=c).start()
    api = NbGraderAPI(coursedir=CourseDirectory(config=config_for(None)), config=config_for(None))
    assert api.collect(ASSIGNMENT)["success"]
    submitted = course / "submitted"
    assert all((submitted / s / ASSIGNMENT / "submission_secret.txt").is_file() for s in STUDENTS)

    out = tmp_path / "out"
    _grade(course, submitted, out, "nbgrader")
    assert exchange_root(course) == str(exchange)
    log: list = []
    done = release(course, ASSIGNMENT, out=out, log=log.append)   # the course's config sets the exchange
    assert done.how == "exchange" and sorted(done.delivered) == list(STUDENTS), log

    pages = {s: _pages(out, s) for s in STUDENTS}
    assert pages["alice"] != pages["bob"]
    for student in STUDENTS:
        c = config_for(student)
        mine = NbGraderAPI(coursedir=CourseDirectory(config=c), config=c)
        result = mine.fetch_feedback(ASSIGNMENT, student)
        assert result["success"], result
        fetched = list((tmp_path / "home" / student / ASSIGNMENT / "feedback").glob("*/*.html"))
        assert {p.name: p.read_bytes() for p in fetched} == pages[student]
