"""Run an assignment's source notebook in this process: the quick check of hidden tests under a term's secret.

``run_source(assignment, secret, edits)`` parses ``scripts/exercise_sources/<assignment>.py`` (solutions and hidden
tests included), applies a catalogue variant's edits to the answers, and runs every code cell in order in one
namespace whose ``TERM_SECRET`` is ``secret``, as the judge's test namespace has it. It returns, per test cell, the
error it raised (``None`` when it passed). No sandbox and no wire: the answers are trusted code from the
repository (the solution and ``tests/grader_bugs``), so this is a fast stand-in for a grading run, used to check
that the hidden tests' drawn inputs keep the solution at full marks and every catalogued bug failing.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Callable, Optional, Sequence

from course_grading.authoring import answer_source, parse_source
from course_grading.diagnose import Edit

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "scripts" / "exercise_sources"


def answer_functions(source: str) -> list[str]:
    """The names of the functions an answer cell defines at its top level."""
    import ast

    return [node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)]


def run_source(assignment: str, secret: Optional[bytes], edits: Sequence[Edit] = (),
               wrap: Optional[Callable] = None) -> dict[str, Optional[str]]:
    """grade_id -> error message (``None``: passed) of every test cell of ``assignment`` under ``secret``.

    ``wrap(name, function) -> function``, if given, replaces each function an answer cell defines (to watch the
    calls the tests make).
    """
    _, nb = parse_source((SOURCES / f"{assignment}.py").read_text(encoding="utf-8"))
    answers = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            answers[meta["grade_id"]] = answer_source(cell.source)
    for edit in edits:
        if edit.old is None:
            answers[edit.cell] = edit.new
        else:
            if answers[edit.cell].count(edit.old) != 1:
                raise ValueError(f"{assignment}, cell {edit.cell!r}: {edit.old!r} does not occur exactly once")
            answers[edit.cell] = answers[edit.cell].replace(edit.old, edit.new)
    ns: dict = {"__name__": "__main__", "TERM_SECRET": secret}
    results: dict[str, Optional[str]] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        source = answers[meta["grade_id"]] if meta.get("solution") else cell.source
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(source, f"<{assignment}:{meta.get('grade_id', 'cell')}>", "exec"), ns)  # noqa: S102 - runs the notebook's cells
            if wrap is not None and meta.get("solution"):
                for name in answer_functions(source):
                    ns[name] = wrap(name, ns[name])
        except Exception as err:  # a failing test cell (or an answer that does not run) is a result
            if not meta.get("grade"):
                if meta.get("solution"):
                    continue     # the answer cell fails; its tests will say so
                raise
            results[meta["grade_id"]] = f"{type(err).__name__}: {err}"
        else:
            if meta.get("grade"):
                results[meta["grade_id"]] = None
    return results


def hidden_cells(assignment: str) -> set[str]:
    """The grade_ids of the test cells with hidden tests."""
    _, nb = parse_source((SOURCES / f"{assignment}.py").read_text(encoding="utf-8"))
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and "### BEGIN HIDDEN TESTS" in c.source}
