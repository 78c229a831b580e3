"""Grading runs per assignment, shared by test_nbgrader_pipeline.py and test_grader_strength.py.

``graded(assignment)`` copies the course into a temporary folder, regenerates the release there (nbgrader
``generate_assignment``), and grades with the course's grader (``course_grading.grade``: sandboxed worker, judge,
nbgrader's gradebook) the students ``solution`` (the solution's answers in the release notebook), ``release`` (the
untouched release) and one student per variant of ``scripts/mistakes/<assignment>.py`` (copied into the course
with the chapters, so that the grader names the catalogued mistakes). Returns the course folder,
the scores read back from its gradebook and the timing. The result is cached for the test session.

With ``$COURSE_GRADING_SECRET_FILE`` set, the hidden tests draw their inputs from that term secret (as
``python -m course_grading grade`` does), so the whole catalogue can be checked under a secret:
``COURSE_GRADING_SECRET_FILE=FILE pytest tests/test_grader_strength.py``.
"""

from __future__ import annotations

import atexit
import functools
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from grader_bugs import catalogue
import _pipeline as pipeline

from course_grading.cli import read_secret
from course_grading.grade import grade
from course_grading.isolation import sandbox

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
CATALOGUE = catalogue()
TIMINGS: dict[str, tuple[float, float]] = {}  # assignment -> (wall seconds, CPU seconds) of the grading run
SANDBOX = sandbox.probe() is None


@dataclass
class Graded:
    course: Path
    scores: dict[str, pipeline.Score]
    generate_seconds: float
    autograde_seconds: float
    autograde_output: str


def _students(course: Path, assignment: str) -> dict[str, dict]:
    names = pipeline.notebook_names(course, assignment)
    students = {
        "solution": {nb: pipeline.student_notebook(course, assignment, nb) for nb in names},
        "release": {nb: nbformat.read(course / "exercises" / assignment / nb, as_version=4) for nb in names},
    }
    for variant in getattr(CATALOGUE.get(assignment), "VARIANTS", []):
        target = variant.notebook or names[0]
        students[variant.name] = {nb: pipeline.student_notebook(course, assignment, nb,
                                                                variant.edits if nb == target else ())
                                  for nb in names}
    return students


@functools.lru_cache(maxsize=None)
def graded(assignment: str) -> Graded:
    tmp = Path(tempfile.mkdtemp(prefix=f"grade-{assignment}-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    course = pipeline.make_course(tmp / "course", [assignment], root=ROOT, release=False)
    # what the grader reads to name a catalogued mistake: the catalogue and the chapters its sections are in
    (course / "scripts" / "mistakes").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "mistakes" / f"{assignment}.py", course / "scripts" / "mistakes")
    shutil.copytree(ROOT / "chapters", course / "chapters")
    shutil.copy2(ROOT / "_config.yml", course / "_config.yml")
    start = time.perf_counter()
    pipeline.generate_assignment(course, assignment, timeout=300)
    generate_seconds = time.perf_counter() - start
    subs = tmp / "submissions"
    for student, notebooks in _students(course, assignment).items():
        (subs / student).mkdir(parents=True)
        for name, nb in notebooks.items():
            nbformat.write(nb, subs / student / name)
    log: list[str] = []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    own0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    grade(course, assignment, subs, out=tmp / "out", db_url="sqlite:///" + str(course / "gradebook.db"),
          layout="folders", use_sandbox=SANDBOX, feedback_pages=False, secret=read_secret(None), log=log.append)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = sum(getattr(after, f) - getattr(before, f) + getattr(own1, f) - getattr(own0, f)
              for f in ("ru_utime", "ru_stime"))
    TIMINGS[assignment] = (wall, cpu)
    return Graded(course, pipeline.scores(course, assignment), generate_seconds, wall, "\n".join(log))


def written_points(assignment: str) -> dict:
    """grade_id -> points of the assignment's written answers (graded by hand: pending after autograding)."""
    out = {}
    for path in (ROOT / "solutions" / assignment).glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "markdown" and meta.get("grade"):
                out[meta["grade_id"]] = float(meta["points"])
    return out
