"""Build the nbgrader source notebooks from readable, diffable py-percent sources.

Each assignment ``NN-slug`` has one source file ``scripts/exercise_sources/NN-slug.py``; it becomes
``solutions/NN-slug/<notebook>.ipynb`` (the notebook name is given on the file's first line). The sources live
outside ``solutions/`` because ``nbgrader generate_assignment`` copies every file of a source folder into the
release.

Source format: the first line is ``# notebook: <name>.ipynb``; then cells, each opened by a marker line::

    # %% [markdown]          a Markdown cell; every line starts with "# " (or is a lone "#")
    # %% [setup]             a read-only code cell (nbgrader: locked), grade_id "setup"
    # %% [code]              an ordinary code cell, no nbgrader metadata
    # %% [answer] id=ID      a student answer cell (nbgrader: solution, not graded); the part between
                             "### BEGIN SOLUTION" and "### END SOLUTION" is replaced by a stub in the release
    # %% [tests] id=ID points=N
                             an autograded test cell worth N points (nbgrader: grade, locked); the part between
                             "### BEGIN HIDDEN TESTS" and "### END HIDDEN TESTS" is removed from the release
    # %% [written] id=ID points=N
                             a written answer graded by hand (nbgrader "manually graded answer": a Markdown cell,
                             solution and grade, N points); lines start with "# " as in [markdown]; the model
                             answer between "### BEGIN SOLUTION" and "### END SOLUTION" is replaced by
                             "YOUR ANSWER HERE" in the release. The grader never runs it: it waits in the
                             formgrader, with the student's text, as "needs manual grade".

Trailing blank lines of a cell are dropped. The output is deterministic (cell ids come from the grade_id or the
cell's position), so ``build --check`` can verify that the committed notebooks match their sources byte for byte.
Notebooks are written without outputs.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

SOURCES = Path("scripts") / "exercise_sources"   # relative to the course root
SOLUTIONS = Path("solutions")

_MARKER = re.compile(r"^# %% \[(markdown|written|setup|code|answer|tests)\](.*)$")
_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _nbgrader_meta(*, grade: bool, solution: bool, locked: bool, grade_id: str, points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def _options(text: str, lineno: int) -> dict[str, str]:
    opts = {}
    for item in text.split():
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"line {lineno}: expected key=value after the cell marker, got {item!r}")
        opts[key] = value
    return opts


def parse_source(text: str) -> tuple[str, nbformat.NotebookNode]:
    """Parse a source file; return ``(notebook file name, notebook)``."""
    lines = text.splitlines()
    first = re.match(r"^# notebook: (\S+\.ipynb)$", lines[0] if lines else "")
    if not first:
        raise ValueError("the first line must be '# notebook: <name>.ipynb'")
    cells: list[tuple[str, dict, list[str], int]] = []
    for lineno, line in enumerate(lines[1:], start=2):
        marker = _MARKER.match(line)
        if marker:
            cells.append((marker.group(1), _options(marker.group(2), lineno), [], lineno))
        elif cells:
            cells[-1][2].append(line)
        elif line.strip():
            raise ValueError(f"line {lineno}: text before the first cell marker")
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(_KERNELSPEC), "language_info": {"name": "python"}}
    seen: set[str] = set()
    for index, (kind, opts, body, lineno) in enumerate(cells):
        while body and not body[-1].strip():
            body.pop()
        if kind in ("markdown", "written"):
            out = []
            for line in body:
                if line == "#":
                    out.append("")
                elif line.startswith("# "):
                    out.append(line[2:])
                else:
                    raise ValueError(f"cell at line {lineno}: Markdown lines must start with '# ': {line!r}")
            cell = nbformat.v4.new_markdown_cell("\n".join(out))
            cell.id = f"md-{index:02d}"
            if kind == "written":
                grade_id = opts.get("id")
                if not grade_id or not re.fullmatch(r"[a-zA-Z0-9_\-]+", grade_id):
                    raise ValueError(f"cell at line {lineno}: needs id=<grade_id> made of letters, digits, _ or -")
                if grade_id in seen:
                    raise ValueError(f"cell at line {lineno}: duplicate grade_id {grade_id!r}")
                seen.add(grade_id)
                if "points" not in opts:
                    raise ValueError(f"cell at line {lineno}: a written cell needs points=N")
                if "### BEGIN SOLUTION" not in cell.source or "### END SOLUTION" not in cell.source:
                    raise ValueError(f"cell at line {lineno}: a written cell needs a model answer between "
                                     "### BEGIN SOLUTION and ### END SOLUTION")
                points = float(opts["points"])
                if not points > 0:
                    raise ValueError(f"cell at line {lineno}: points must be > 0, got {opts['points']!r}")
                cell.id = grade_id
                cell.metadata["nbgrader"] = _nbgrader_meta(grade=True, solution=True, locked=False,
                                                           grade_id=grade_id,
                                                           points=int(points) if points.is_integer() else points)
        else:
            cell = nbformat.v4.new_code_cell("\n".join(body))
            cell.id = f"code-{index:02d}"
            grade_id = opts.get("id", "setup" if kind == "setup" else None)
            if kind in ("answer", "tests", "setup"):
                if not grade_id or not re.fullmatch(r"[a-zA-Z0-9_\-]+", grade_id):
                    raise ValueError(f"cell at line {lineno}: needs id=<grade_id> made of letters, digits, _ or -")
                if grade_id in seen:
                    raise ValueError(f"cell at line {lineno}: duplicate grade_id {grade_id!r}")
                seen.add(grade_id)
                cell.id = grade_id
            if kind == "setup":
                cell.metadata["nbgrader"] = _nbgrader_meta(grade=False, solution=False, locked=True,
                                                           grade_id=grade_id)
            elif kind == "answer":
                if "### BEGIN SOLUTION" not in cell.source:
                    raise ValueError(f"cell at line {lineno}: an answer cell needs ### BEGIN/END SOLUTION")
                cell.metadata["nbgrader"] = _nbgrader_meta(grade=False, solution=True, locked=False,
                                                           grade_id=grade_id)
            elif kind == "tests":
                if "points" not in opts:
                    raise ValueError(f"cell at line {lineno}: a tests cell needs points=N")
                points = float(opts["points"])
                cell.metadata["nbgrader"] = _nbgrader_meta(grade=True, solution=False, locked=True,
                                                           grade_id=grade_id,
                                                           points=int(points) if points.is_integer() else points)
        nb.cells.append(cell)
    nbformat.validate(nb)
    return first.group(1), nb


def notebook_bytes(nb: nbformat.NotebookNode) -> bytes:
    """The exact bytes ``nbformat.write`` produces (indent 1, sorted keys, final newline)."""
    return (nbformat.writes(nb) + "\n").encode("utf-8")


def build_all(root: Path, check: bool = False, only: list[str] | None = None) -> list[str]:
    """Write (or, with ``check``, compare) every ``solutions/NN-slug/<notebook>.ipynb`` of the course at ``root``
    (or those of ``only``). Returns the list of problems found (``check``) or of files written.
    """
    sources, solutions = Path(root) / SOURCES, Path(root) / SOLUTIONS
    report = []
    for src in sorted(sources.glob("[0-9][0-9]-*.py")):
        if only and src.stem not in only:
            continue
        name, nb = parse_source(src.read_text(encoding="utf-8"))
        target = solutions / src.stem / name
        data = notebook_bytes(nb)
        if check:
            if not target.exists():
                report.append(f"{target.relative_to(solutions.parent)} is missing (source {src.name})")
            elif target.read_bytes() != data:
                report.append(f"{target.relative_to(solutions.parent)} differs from its source {src.name}")
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            report.append(str(target.relative_to(solutions.parent)))
    return report


def answer_source(source: str) -> str:
    """The code a student would write: an answer cell's source without the solution marker lines."""
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
