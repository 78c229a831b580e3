"""The catalogue of simulated students, as the tests read it: ``scripts/mistakes/NN-slug.py`` of the course.

The catalogue lives in the course's files because the grader reads it at grading time (a failed test that one of
its bugs reproduces names the mistake: :mod:`course_grading.diagnose`). Each module defines ``ASSIGNMENT`` (the
nbgrader assignment name) and ``VARIANTS``, a list of :class:`course_grading.diagnose.Variant`: a name, the edits
applied to the solution's answer cells (:class:`~course_grading.diagnose.Edit`: grade_id, old text, new text;
``old=None`` replaces the whole cell), whether the result must keep full marks (a correct answer written
differently) or lose points (a realistic bug), why, and for a bug what a student whose code matches it reads
(``says``, ``look``) and the chapter section that explains it (``section``, a ``(label)=`` target). A variant
whose ``notebook`` is ``None`` applies to the assignment's only notebook.

To add an assignment: write ``scripts/mistakes/NN-slug.py`` with at least three bugs and one correct alternative;
``test_grader_strength.py`` and ``test_diagnosis.py`` pick it up.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from course_grading import diagnose

ROOT = Path(__file__).resolve().parent.parent.parent


def catalogue() -> dict[str, ModuleType]:
    """assignment name -> catalogue module, for every ``NN-slug.py`` of ``scripts/mistakes``."""
    return diagnose.catalogue(ROOT)
