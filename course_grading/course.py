"""The course on disk: where its root is, and what the cells of an assignment's notebooks are for.

The root is the folder that holds ``nbgrader_config.py``: the ``--course`` option, else the current working directory
or the nearest folder above it that has one. Never this package's own location (it may be installed anywhere).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_CELL = "install_course"   # a cell that installs the course package: never run by the grader


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


def strip_hidden(source: str) -> str:
    """A test cell's source as released: without the lines between the hidden-test markers."""
    out, hidden = [], False
    for line in source.splitlines():
        if line.strip() == "### BEGIN HIDDEN TESTS":
            hidden = True
        elif line.strip() == "### END HIDDEN TESTS":
            hidden = False
        elif not hidden:
            out.append(line)
    return "\n".join(out)


@dataclass
class TestCell:
    grade_id: str
    points: float
    source: str          # what the judge runs (hidden tests included when grading)
    hidden_only: bool    # nothing left once hidden tests are removed


@dataclass
class NotebookSpec:
    """One notebook of an assignment, read from its source (``solutions/<assignment>/<name>``)."""

    name: str
    setup: list = field(default_factory=list)                 # sources of the instructor's setup cells
    locked: dict = field(default_factory=dict)                # grade_id -> source of locked non-test cells
    tests: list = field(default_factory=list)                 # TestCell, in notebook order
    released_tests: set = field(default_factory=set)          # stripped sources (copies of them are not run)
    written: dict = field(default_factory=dict)               # grade_id -> points of written answers (by hand)

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
    spec = NotebookSpec(name=Path(path).name)
    for cell in nb.cells:
        m = meta(cell)
        if cell.cell_type == "markdown" and m.get("grade"):
            spec.written[m["grade_id"]] = float(m.get("points", 0))   # graded by hand; the judge never sees it
        if cell.cell_type != "code":
            continue
        if is_test(cell):
            visible = strip_hidden(cell.source)
            spec.tests.append(TestCell(m["grade_id"], float(m.get("points", 0)), cell.source if hidden else visible,
                                       hidden_only=not _has_code(visible)))
            spec.released_tests.add(visible.strip())
        elif m.get("locked") and not m.get("solution"):
            spec.locked[m["grade_id"]] = cell.source
            if m.get("grade_id") != INSTALL_CELL:
                spec.setup.append(cell.source)
    return spec


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
            out.append((f"cell {index}", spec.locked[gid]))
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        if not m and source.strip() in spec.released_tests:
            continue
        out.append((gid if m.get("solution") and gid else f"cell {index}", source))
    return out
