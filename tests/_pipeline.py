"""Drive nbgrader in a throw-away copy of the course: release, submit, autograde, read the gradebook.

The tests' kit (``import _pipeline as pipeline``; the benchmarks use it too): it is not part of the grader, which
drives nbgrader through its Python API (``course_grading.gradebook``). Everything runs nbgrader the way it works in
this course: from the course root (where ``nbgrader_config.py`` is), with the virtual environment's ``bin`` first on
``PATH`` (nbgrader calls ``alembic``; the ``python3`` kernel runs ``python`` from ``PATH``).

Typical use::

    course = make_course(tmp_path, ["03-momentum"])
    generate_assignment(course, "03-momentum")
    for variant in variants:                       # Variant: a named set of edits to the solution's answers
        submit(course, "03-momentum", variant.name, {"momentum.ipynb": student_notebook(course, "03-momentum",
               "momentum.ipynb", variant.edits)})
    autograde(course, "03-momentum")               # one nbgrader run for every student
    table = scores(course, "03-momentum")          # {student: Score(score, max_score, cells)}
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence, Union

import nbformat

from course_grading.authoring import answer_source
from course_grading.diagnose import Edit, Variant, apply_edits  # the catalogue's types (scripts/mistakes/NN-slug.py)

BIN = Path(sys.executable).parent

__all__ = [
    "Edit",
    "Score",
    "Variant",
    "answer_cells",
    "autograde",
    "course_env",
    "generate_assignment",
    "make_course",
    "nbgrader",
    "notebook_names",
    "scores",
    "scores_at",
    "student_notebook",
    "submit",
    "validate_notebook",
]


@dataclass
class Score:
    score: float
    max_score: float
    cells: dict[str, tuple[float, float]] = field(default_factory=dict)  # grade_id -> (score, max_score)
    needs_manual_grade: bool = False


def course_env(extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """The environment nbgrader needs: this interpreter's ``bin`` first on PATH, no display."""
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    env.pop("JUPYTER_CONFIG_DIR", None)
    if extra:
        env.update(extra)
    return env


def make_course(dest: Union[str, Path], assignments: Iterable[str], *, root: Path,
                release: bool = True) -> Path:
    """Copy ``nbgrader_config.py``, ``solutions/<a>`` (and ``exercises/<a>`` if ``release``) into ``dest``.

    ``dest`` is created (it must not hold a course already). Returns ``dest`` as a Path. The copy has its own
    ``gradebook.db`` (the config puts it next to itself).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "nbgrader_config.py", dest / "nbgrader_config.py")
    for name in assignments:
        shutil.copytree(root / "solutions" / name, dest / "solutions" / name)
        if release and (root / "exercises" / name).is_dir():
            shutil.copytree(root / "exercises" / name, dest / "exercises" / name)
    return dest


def nbgrader(course: Path, *args: str, timeout: Optional[float] = None, check: bool = True
             ) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``course`` (its root) and return the completed process (output captured).

    With ``check`` a non-zero exit raises ``RuntimeError`` carrying nbgrader's output.
    """
    cmd = [str(BIN / "nbgrader"), *args]
    proc = subprocess.run(cmd, cwd=course, env=course_env(), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def generate_assignment(course: Path, assignment: str, **kw) -> subprocess.CompletedProcess:
    """``nbgrader generate_assignment ASSIGNMENT --force``: writes ``exercises/<assignment>`` and the gradebook."""
    return nbgrader(course, "generate_assignment", assignment, "--force", **kw)


def notebook_names(course: Path, assignment: str) -> list[str]:
    """File names of the assignment's notebooks (from ``solutions/<assignment>``)."""
    return sorted(p.name for p in (Path(course) / "solutions" / assignment).glob("*.ipynb"))


def answer_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """grade_id -> cell, for the answer (solution) cells of a notebook."""
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def student_notebook(course: Path, assignment: str, notebook: str, edits: Sequence[Edit] = ()
                     ) -> nbformat.NotebookNode:
    """What a student hands in: the *release* notebook with every answer cell filled in with the solution's code
    (markers removed), then ``edits`` applied. An edit whose ``old`` text is not found exactly once raises
    ``ValueError`` (a bug catalogue entry that no longer matches the solution must not pass silently).
    """
    course = Path(course)
    solution = nbformat.read(course / "solutions" / assignment / notebook, as_version=4)
    release = nbformat.read(course / "exercises" / assignment / notebook, as_version=4)
    answers = {gid: answer_source(cell.source) for gid, cell in answer_cells(solution).items()}
    answers = apply_edits(answers, edits, notebook)
    for gid, cell in answer_cells(release).items():
        cell.source = answers[gid]
    return release


def submit(course: Path, assignment: str, student: str,
           notebooks: Mapping[str, Union[nbformat.NotebookNode, str, Path]], *, timestamp: str = None) -> Path:
    """Place a student's notebooks in ``submitted/<student>/<assignment>/`` (as ``nbgrader collect`` would).

    Values may be notebook objects or paths to copy (a path lets a test submit a corrupted file as is).
    """
    folder = Path(course) / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in notebooks.items():
        if isinstance(nb, (str, Path)):
            shutil.copyfile(nb, folder / name)
        else:
            nbformat.write(nb, folder / name)
    if timestamp:
        (folder / "timestamp.txt").write_text(timestamp)
    return folder


def autograde(course: Path, assignment: str, *, student: Optional[str] = None,
              timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    """One ``nbgrader autograde`` run for every submitted student (or ``student``: an id or glob), ``--force``.

    nbgrader exits 1 when any student's notebook errored; that is not raised here (``check=False``): read the
    scores. The elapsed wall-clock seconds are stored on the returned process as ``.seconds``, the CPU seconds of
    nbgrader and its kernels (user + system, independent of how busy the machine is) as ``.cpu_seconds``.
    """
    args = ["autograde", assignment, "--force"]
    if student is not None:
        args += ["--student", student]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = nbgrader(course, *args, timeout=timeout, check=False)
    proc.seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc.cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc


def scores(course: Path, assignment: str) -> dict[str, Score]:
    """Read every graded submission of ``assignment`` from the course's ``gradebook.db``."""
    return scores_at("sqlite:///" + str(Path(course) / "gradebook.db"), assignment)


def scores_at(db_url: str, assignment: str) -> dict[str, Score]:
    """Read every graded submission of ``assignment`` from the gradebook at ``db_url``."""
    from nbgrader.api import Gradebook

    table: dict[str, Score] = {}
    with Gradebook(db_url) as gb:
        for sub in gb.assignment_submissions(assignment):
            entry = Score(score=float(sub.score), max_score=float(sub.max_score),
                          needs_manual_grade=bool(sub.needs_manual_grade))
            for nb in sub.notebooks:
                for grade in nb.grades:
                    entry.cells[grade.name] = (float(grade.score), float(grade.max_score))
            table[sub.student_id] = entry
    return table


def validate_notebook(path: Union[str, Path], *, invert: bool = False, timeout: int = 60) -> dict:
    """``nbgrader validate`` from Python: ``{}`` when every test cell passes (with ``invert``: when every one fails).

    Otherwise a dict with ``failed`` / ``passed`` / ``changed`` / ``type_changed`` lists, as
    ``nbgrader.validator.Validator.validate`` returns it. The kernel is the ``python3`` kernel, so this
    interpreter's ``bin`` is put first on ``PATH`` while it runs.
    """
    from nbgrader.validator import Validator
    from traitlets.config import Config

    config = Config()
    config.Validator.invert = invert
    config.Execute.timeout = timeout
    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = str(BIN) + os.pathsep + old_path
    try:
        return Validator(config=config).validate(str(Path(path).resolve()))
    finally:
        os.environ["PATH"] = old_path
