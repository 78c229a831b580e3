"""Autograding runs per assignment (two in parallel), shared by test_nbgrader_pipeline.py and test_grader_strength.py.

``graded(assignment)`` copies the course into a temporary folder, regenerates the release, submits the students
-- ``solution`` (the solution's answers in the release notebook), ``release`` (the untouched release) and one
student per variant of ``tests/grader_bugs/<assignment>.py`` -- grades them with ``nbgrader autograde``
and returns the course folder, the scores and the timing. The result is cached for the test session. The students
are spread over two course copies graded in parallel (both cores), each copy one autograde run.
"""

from __future__ import annotations

import atexit
import functools
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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


# Students are split over this many independent course copies, autograded at the same time (one nbgrader run and
# one gradebook per copy, so no two runs share a database); the scores are merged afterwards.
WORKERS = max(1, min(2, os.cpu_count() or 1))


@functools.lru_cache(maxsize=None)
def graded(assignment: str) -> Graded:
    tmp = Path(tempfile.mkdtemp(prefix=f"grade-{assignment}-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    courses = [pipeline.make_course(tmp / f"course{i}", [assignment], release=False) for i in range(WORKERS)]
    start = time.perf_counter()
    for course in courses:
        pipeline.generate_assignment(course, assignment, timeout=300)
    generate_seconds = (time.perf_counter() - start) / len(courses)
    for index, (student, notebooks) in enumerate(_students(courses[0], assignment).items()):
        pipeline.submit(courses[index % len(courses)], assignment, student, notebooks)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(courses)) as pool:
        procs = list(pool.map(lambda course: pipeline.autograde(course, assignment, timeout=1800), courses))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    TIMINGS[assignment] = (wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    scores: dict[str, pipeline.Score] = {}
    for course in courses:
        scores.update(pipeline.scores(course, assignment))
    output = "\n".join(proc.stdout + proc.stderr for proc in procs)
    return Graded(courses[0], scores, generate_seconds, wall, output)
