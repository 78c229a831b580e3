"""The course on disk: where its root is, and what the cells of an assignment's notebooks are for.

The root is the folder that holds ``nbgrader_config.py``: the ``--course`` option, else the current working directory
or the nearest folder above it that has one. Never this package's own location (it may be installed anywhere).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_CELL = "install_course"   # a cell that installs the course package: never run by the grader
_MAGIC = re.compile(r"^(\s*)[%!].*$", flags=re.M)


def strip_magics(source: str) -> str:
    """A cell's source with each IPython magic or shell line (``%...``, ``%%...``, ``!...``) replaced by ``pass``:
    the code the worker runs, and the code the course's rule checks."""
    return _MAGIC.sub(r"\1pass", source)


def find_root(option: str | Path | None = None) -> Path:
    if option:
        root = Path(option).resolve()
        if not (root / "nbgrader_config.py").is_file():
            raise ValueError(f"--course: {root} has no nbgrader_config.py")
        return root
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "nbgrader_config.py").is_file():
            return folder
    raise ValueError("no nbgrader_config.py in the current folder or above it: run from the course folder or pass "
                     "--course DIR")


def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test(cell) -> bool:
    m = meta(cell)
    return cell.cell_type == "code" and bool(m.get("grade")) and not m.get("solution")


def without_markers(source: str, region: str, *, keep_inside: bool = False) -> str:
    """``source`` without nbgrader's ``### BEGIN <region>`` / ``### END <region>`` lines, and without the lines
    between them unless ``keep_inside``."""
    out, inside = [], False
    for line in source.splitlines():
        if line.strip() == f"### BEGIN {region}":
            inside = True
        elif line.strip() == f"### END {region}":
            inside = False
        elif keep_inside or not inside:
            out.append(line)
    return "\n".join(out)


def strip_hidden(source: str) -> str:
    """A test cell's source as released: without the lines between the hidden-test markers."""
    return without_markers(source, "HIDDEN TESTS")


@dataclass
class TestCell:
    grade_id: str
    points: float
    source: str          # what the judge runs (hidden tests included when grading)
    hidden_only: bool    # nothing left once hidden tests are removed
    after: str | None = None   # grade_id of the answer cell above it in the source (where it runs if deleted)


@dataclass
class NotebookSpec:
    """One notebook of an assignment, read from its source (``solutions/<assignment>/<name>``)."""

    name: str
    setup: list = field(default_factory=list)                 # sources of the instructor's setup cells
    locked: dict = field(default_factory=dict)                # grade_id -> source of locked non-test cells
    tests: list = field(default_factory=list)                 # TestCell, in notebook order
    released_tests: set = field(default_factory=set)          # stripped sources (copies of them are not run)
    written: dict = field(default_factory=dict)               # grade_id -> points of written answers (by hand)
    functions: list = field(default_factory=list)             # names the answer cells define: all the judge calls
    path: Path | None = None                                  # the notebook it was read from

    @property
    def written_points(self) -> float:
        return sum(self.written.values())

    @property
    def max_score(self) -> float:
        return sum(t.points for t in self.tests)


class _Node(dict):
    """A notebook node read from JSON: a dict whose keys are also attributes (as nbformat's nodes)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key, value):
        self[key] = value

    def __delattr__(self, key):
        try:
            del self[key]
        except KeyError:
            raise AttributeError(key) from None


def _node(value):
    if isinstance(value, dict):
        return _Node((k, _node(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_node(v) for v in value]
    return value


def read_notebook(path: Path):
    """A notebook (format 4) as nodes, read as JSON without importing nbformat, which takes seconds to import.

    Multi-line sources given as lists of lines are joined, as nbformat does. Any other format (or a file that is not
    a format-4 notebook) is left to ``nbformat.read``, which converts or raises.
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError):
        data = None
    if not (isinstance(data, dict) and data.get("nbformat") == 4 and isinstance(data.get("cells"), list)
            and all(isinstance(c, dict) and isinstance(c.get("cell_type"), str) for c in data["cells"])):
        import nbformat

        return nbformat.read(path, as_version=4)
    nb = _node(data)
    for cell in nb.cells:
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(str(line) for line in cell["source"])
        cell.setdefault("source", "")
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = _Node()
    return nb


def read_spec(path: Path, *, hidden: bool = True) -> NotebookSpec:
    nb = read_notebook(path)
    spec = NotebookSpec(name=Path(path).name, path=Path(path))
    answer = None
    for cell in nb.cells:
        m = meta(cell)
        if cell.cell_type == "code" and m.get("solution") and not m.get("grade"):
            answer = m.get("grade_id") or answer
            for name in defined_names(cell.source):
                if name not in spec.functions:
                    spec.functions.append(name)
        if cell.cell_type == "markdown" and m.get("grade"):
            spec.written[m["grade_id"]] = float(m.get("points", 0))   # graded by hand; the judge never sees it
        if cell.cell_type != "code":
            continue
        if is_test(cell):
            visible = strip_hidden(cell.source)
            spec.tests.append(TestCell(m["grade_id"], float(m.get("points", 0)), cell.source if hidden else visible,
                                       hidden_only=not _has_code(visible), after=answer))
            spec.released_tests.add(visible.strip())
        elif m.get("locked") and not m.get("solution"):
            spec.locked[m["grade_id"]] = cell.source
            if m.get("grade_id") != INSTALL_CELL:
                spec.setup.append(cell.source)
    return spec


def defined_names(source: str) -> list:
    """The functions and classes a cell defines at its top level (an answer cell's declared names)."""
    try:
        tree = ast.parse(strip_magics(source))
    except (SyntaxError, ValueError):
        return []
    return [node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def _has_code(source: str) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in source.splitlines())


def assignment_specs(root: Path, assignment: str, *, hidden: bool = True) -> list:
    folder = Path(root) / "solutions" / assignment
    paths = sorted(folder.glob("*.ipynb"))
    if not paths:
        raise ValueError(f"assignment: no notebooks in solutions/{assignment}")
    return [read_spec(p, hidden=hidden) for p in paths]


def student_cells(nb, spec: NotebookSpec) -> list:
    """``(label, source)`` of the code the worker runs for a student's notebook, in notebook order.

    Test cells are left out (the judge runs them), and so are the install cell and unlabelled cells that are
    copies of a released test cell; locked cells (setup) run as the instructor wrote them; answer cells and any
    cell the student added run as the student wrote them. ``label`` is the answer cell's grade_id, else
    ``cell N`` (its position, from 1).
    """
    return [(label, source) for _, label, source in _runnable(nb, spec)]


def _runnable(nb, spec: NotebookSpec) -> list:
    """``(position, label, source)`` of each cell the worker runs (see :func:`student_cells`)."""
    out = []
    for index, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        m = meta(cell)
        gid = m.get("grade_id")
        if m.get("grade") and not m.get("solution"):
            continue
        if gid == INSTALL_CELL or (gid and gid in spec.written):
            continue   # a written answer turned into code is still prose for the instructor, never run
        if gid and gid in spec.locked:
            out.append((index, f"cell {index}", spec.locked[gid]))
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        if not m and source.strip() in spec.released_tests:
            continue
        out.append((index, gid if m.get("solution") and gid else f"cell {index}", strip_magics(source)))
    return out


def plan(nb, spec: NotebookSpec) -> list:
    """The order in which a student's notebook is graded, as nbgrader's Validate runs it: a list of steps, each
    ``("cells", [(label, source), ...])`` (student and setup cells, see :func:`student_cells`) or
    ``("test", TestCell)``. Each test runs after the cells above it in the student's notebook and before those
    below it. A test cell the student deleted runs right after the answer cell it follows in the source (at the
    end if that is gone too); a test cell present twice runs once, where it first appears."""
    runnable = {index: (label, source) for index, label, source in _runnable(nb, spec)}
    tests = {t.grade_id: t for t in spec.tests}
    placed: set = set()
    steps: list = []

    def add_cells(item):
        if steps and steps[-1][0] == "cells":
            steps[-1][1].append(item)
        else:
            steps.append(("cells", [item]))

    def add_test(test):
        placed.add(test.grade_id)
        steps.append(("test", test))

    missing_after: dict = {}
    present = {meta(c).get("grade_id") for c in nb.cells if is_test(c)}
    for test in spec.tests:
        if test.grade_id not in present:
            missing_after.setdefault(test.after, []).append(test)
    for index, cell in enumerate(nb.cells, start=1):
        m = meta(cell)
        gid = m.get("grade_id")
        if cell.get("cell_type") == "code" and is_test(cell):
            if gid in tests and gid not in placed:
                add_test(tests[gid])
            continue
        if index in runnable:
            add_cells(runnable.pop(index))
        if gid and m.get("solution") and gid in missing_after:
            for test in missing_after.pop(gid):
                add_test(test)
    for test in spec.tests:
        if test.grade_id not in placed:
            add_test(test)
    return steps
