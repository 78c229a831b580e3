"""Catalogue of simulated students, one module per assignment (``NN-slug.py``), used by test_grader_strength.

Each module defines ``ASSIGNMENT`` (the nbgrader assignment name) and ``VARIANTS``, a list of
:class:`course_grading.pipeline.Variant`: a name, the edits applied to the solution's answer cells
(:class:`~course_grading.pipeline.Edit`: grade_id, old text, new text; ``old=None`` replaces the whole
cell), whether the result must keep full marks (a correct answer written differently) or lose points (a
realistic bug), and why. A variant whose ``notebook`` is ``None`` applies to the assignment's only notebook.

To add an assignment: write ``tests/grader_bugs/NN-slug.py`` with at least three bugs and one correct
alternative; ``test_grader_strength.py`` picks it up.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


def catalogue() -> dict[str, ModuleType]:
    """assignment name -> catalogue module, for every ``NN-slug.py`` here."""
    modules = {}
    for path in sorted(HERE.glob("[0-9][0-9]-*.py")):
        spec = importlib.util.spec_from_file_location(f"grader_bugs_{path.stem.replace('-', '_')}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if module.ASSIGNMENT != path.stem:
            raise ValueError(f"{path.name}: ASSIGNMENT is {module.ASSIGNMENT!r}, expected {path.stem!r}")
        modules[path.stem] = module
    return modules
