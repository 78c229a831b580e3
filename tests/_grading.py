"""One autograde run per assignment, shared by test_nbgrader_pipeline.py and test_grader_strength.py.

``graded(assignment)`` copies the course into a temporary folder, regenerates the release, submits the students
-- ``solution`` (the solution's answers in the release notebook), ``release`` (the untouched release) and one
student per variant of ``tests/grader_bugs/<assignment>.py`` -- grades them all in ONE ``nbgrader autograde`` run
and returns the course folder, the scores and the timing. The result is cached for the test session.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grader_bugs import catalogue

from reference_impl.grading import pipeline

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
CATALOGUE = catalogue()
TIMINGS: dict[str, tuple[float, float]] = {}  # assignment -> (wall seconds, CPU seconds) of the autograde run


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
        "release": {nb: course / "exercises" / assignment / nb for nb in names},
    }
    for variant in getattr(CATALOGUE.get(assignment), "VARIANTS", []):
        target = variant.notebook or names[0]
        notebooks = {nb: pipeline.student_notebook(course, assignment, nb,
                                                   variant.edits if nb == target else ()) for nb in names}
        students[variant.name] = notebooks
    return students


@functools.lru_cache(maxsize=None)
def graded(assignment: str) -> Graded:
    tmp = Path(tempfile.mkdtemp(prefix=f"grade-{assignment}-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    course = pipeline.make_course(tmp / "course", [assignment], release=False)
    start = time.perf_counter()
    pipeline.generate_assignment(course, assignment, timeout=300)
    generate_seconds = time.perf_counter() - start
    for student, notebooks in _students(course, assignment).items():
        pipeline.submit(course, assignment, student, notebooks)
    proc = pipeline.autograde(course, assignment, timeout=1800)
    TIMINGS[assignment] = (proc.seconds, proc.cpu_seconds)
    return Graded(course, pipeline.scores(course, assignment), generate_seconds, proc.seconds,
                  proc.stdout + proc.stderr)
