"""The Gradescope autograder: built by the command, unpacked as Gradescope unpacks it, run on three submissions.

The oracle is the course's own grading command (``course_grading.grade.grade``), run on the same three students
with the same term secret: every test cell's score and the total in ``results.json`` must be what ``grade`` put in
its records and grade table. The zip is run from a temporary root (``$COURSE_GRADING_GRADESCOPE_ROOT``) by its own
``run_autograder``, with PYTHONPATH unset, so it runs the zip's copy of the course's code.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from _grading import ROOT, SANDBOX
import _pipeline as pipeline

from course_grading.cli import main as cli
from course_grading.grade import grade
from course_grading.report import read_records

ASSIGNMENT = "03-momentum"   # visible and hidden tests, and a written answer
NB = "momentum.ipynb"
SECRET = "a-test-term-secret-0123456789abcdef"
BUG = pipeline.Edit("heavy_ball_velocity_step", "return param + new_velocity, new_velocity",
                    "return param - new_velocity, new_velocity")


def _students() -> dict:
    return {"honest": pipeline.student_notebook(ROOT, ASSIGNMENT, NB),
            "buggy": pipeline.student_notebook(ROOT, ASSIGNMENT, NB, [BUG]),
            "blank": nbformat.read(ROOT / "exercises" / ASSIGNMENT / NB, as_version=4)}


def _env(root: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COURSE_GRADING_SECRET_FILE")}
    env["COURSE_GRADING_GRADESCOPE_ROOT"] = str(root)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _unpack(zip_path: Path, root: Path) -> None:
    """As Gradescope lays it out: the zip in source/, run_autograder copied to the root."""
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():   # zipfile does not restore modes
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(root / "source" / info.filename, mode)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")


def _run_autograder(root: Path, nb, filename: str = NB) -> dict:
    sub = root / "submission"
    shutil.rmtree(sub, ignore_errors=True)
    shutil.rmtree(root / "results", ignore_errors=True)
    sub.mkdir()
    nbformat.write(nb, sub / filename)
    proc = subprocess.run([str(root / "run_autograder")], cwd=root, env=_env(root), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((root / "results" / "results.json").read_text())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gradescope")
    secret = tmp / "secret.txt"
    secret.write_text(SECRET + "\n")
    assert cli(["--course", str(ROOT), "gradescope", ASSIGNMENT, "--out", str(tmp / "out"),
                "--secret", str(secret)]) == 0
    return tmp, tmp / "out" / "autograder.zip"


def test_the_zip_has_gradescopes_layout_and_the_secret_only_there(built, tmp_path):
    tmp, zip_path = built
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
        assert {"setup.sh", "run_autograder"} <= names                  # at the root, as Gradescope requires
        assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
        assert zf.read("course/term_secret").decode() == SECRET         # baked in (stripped as `grade` reads it)
        assert f"course/solutions/{ASSIGNMENT}/{NB}" in names
        setup = zf.read("setup.sh").decode()
        lock = zf.read("course/requirements-lock.txt").decode()
    assert subprocess.run(["bash", "-n", "-c", setup]).returncode == 0
    pinned = {line.split("==")[0].lower() for line in lock.splitlines() if "==" in line}
    installed = setup.split("requirements-lock.txt", 1)[1].split()
    assert installed and all(name.lower() in pinned for name in installed), installed   # every install pinned
    # the secret never goes into the repository: an output folder git would track is refused
    secret = tmp / "secret.txt"
    inside = ROOT / "gradescope-test-output"
    assert cli(["--course", str(ROOT), "gradescope", ASSIGNMENT, "--out", str(inside), "--secret", str(secret)]) == 2
    assert not inside.exists()
    # an unknown assignment is named in the error
    assert cli(["--course", str(ROOT), "gradescope", "no-such-assignment", "--out", str(tmp_path)]) == 2


def test_run_autograder_gives_the_grading_commands_scores(built, tmp_path):
    tmp, zip_path = built
    root = tmp_path / "autograder"
    _unpack(zip_path, root)
    students = _students()
    # the oracle: the course's grading command on the same class, with the same secret
    subs = tmp_path / "class"
    for student, nb in students.items():
        (subs / student).mkdir(parents=True)
        nbformat.write(nb, subs / student / NB)
    grade(ROOT, ASSIGNMENT, subs, out=tmp_path / "grades", db_url="sqlite:///" + str(tmp_path / "gradebook.db"),
          layout="folders", use_sandbox=SANDBOX, feedback_pages=False, secret=SECRET.encode(), log=lambda *_: None)
    records = {r.student: r for r in read_records(tmp_path / "grades" / ASSIGNMENT / "records.jsonl")}
    with open(tmp_path / "grades" / ASSIGNMENT / "grades.csv", newline="") as f:
        totals = {row["student_id"]: float(row["total"]) for row in csv.DictReader(f)}
    seen_totals = set()
    for student, nb in students.items():
        results = _run_autograder(root, nb, filename=f"{NB[:-6]} (1).ipynb" if student == "buggy" else NB)
        scored = [t for t in results["tests"] if "max_score" in t]
        expected = {f"{v.notebook}: {v.grade_id}": v for v in records[student].verdicts}
        assert [t["name"] for t in scored] == list(expected), student
        for test in scored:
            v = expected[test["name"]]
            assert test["max_score"] == v.points
            assert test["score"] == (v.points if v.passed else 0), (student, test)
            assert test["status"] == ("passed" if v.passed else "failed")
            assert test["output"] == v.message                            # the feedback page's words
        assert results["score"] == totals[student], student
        seen_totals.add(results["score"])
        assert results["extra_data"]["sandbox"] == ("bwrap" if SANDBOX else results["extra_data"]["sandbox"])
        assert results["extra_data"]["hidden_inputs"] == "term secret"
        # visibility: released-only cells visible, cells with hidden parts after publication
        by_id = {t["name"].split(": ")[1]: t["visibility"] for t in scored}
        assert by_id["test_heavy_ball_visible"] == "visible" and by_id["test_heavy_ball_hidden"] == "after_published"
        # the written answer is listed for grading by hand, unscored, with the student's text
        written = [t for t in results["tests"] if "written" in t.get("tags", [])]
        assert len(written) == 1 and "score" not in written[0] and "written_lookahead" in written[0]["name"]
        if student == "honest":
            assert "look-ahead point" in written[0]["output"]
    assert len(seen_totals) == 3   # honest, buggy and blank score differently: the comparison has teeth
    assert totals["honest"] == 12 and totals["blank"] == 0


def test_without_bubblewrap_it_says_so_and_stops_what_the_notebook_left_running(built, tmp_path):
    """The fallback (no namespaces in the container): the worker runs unsandboxed, results.json says so, and a
    process the student's code detached from the worker (a new session, a double fork) is killed."""
    tmp, zip_path = built
    root = tmp_path / "autograder"
    _unpack(zip_path, root)
    marker = tmp_path / "stray-alive"
    program = f"import time, pathlib\nwhile True:\n    pathlib.Path({str(marker)!r}).touch(); time.sleep(0.2)\n"
    stray = f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {program!r}], start_new_session=True)\n"
    nb = pipeline.student_notebook(ROOT, ASSIGNMENT, NB)
    nb.cells.insert(3, nbformat.v4.new_code_cell(stray))
    (root / "submission").mkdir()
    nbformat.write(nb, root / "submission" / NB)
    code = ("import sys; from pathlib import Path; from course_grading import gradescope; from course_grading.isolation import sandbox; "
            "sandbox.probe = lambda: 'bwrap cannot create namespaces here (test)'; "
            "gradescope.run(Path(sys.argv[1]))")
    proc = subprocess.run([sys.executable, "-E", "-s", "-c", code, str(root)], cwd=root / "source" / "course",
                          env=_env(root), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["extra_data"]["sandbox"].startswith("unsandboxed: bwrap cannot create namespaces")
    assert "WITHOUT bubblewrap" in results["output"]
    assert results["score"] == 12
    assert "left running were stopped" in results["output"]
    assert marker.exists()                      # the stray did run...
    marker.unlink()
    import time

    time.sleep(1.0)
    assert not marker.exists()                  # ...and is gone
