"""The grading boundary under attack: what a student's notebook may send across, and what it may cost.

Each class is graded once through ``course_grading.grade`` (bubblewrap worker, separate judge). Passing means:
* nothing of the student's but the functions the answer cells declare reaches the tests: every builtin the test
  cells use, shadowed by the student, scores as the blank release (all nine assignments);
* every cost is charged to the student who causes it: an honest notebook graded right after each costly attack
  gets full marks, and the host's shared memory is back where it was;
* cells run in notebook order, as nbgrader's Validate runs them (a later ``from numpy import *`` costs nothing);
* a notebook nbformat can normalise (format 4.4 with cell ids) is graded, not failed.
"""

from __future__ import annotations

import ast
import builtins
import copy
import csv
from pathlib import Path

import nbformat
import pytest
import _pipeline as pipeline

from course_grading import course
from course_grading.grade import grade
from course_grading.isolation import sandbox

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
BWRAP = sandbox.probe() is None
needs_bwrap = pytest.mark.skipif(not BWRAP, reason="bubblewrap cannot create namespaces here")


def _builtins_used(spec) -> list:
    """Every builtin name the assignment's setup and test cells use."""
    names = set()
    for source in [*spec.setup, *(t.source for t in spec.tests)]:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and hasattr(builtins, node.id):
                names.add(node.id)
    return sorted(names - {"True", "False", "None", "__name__"})


def _forgeries(names: list) -> str:
    """A cell that shadows each name with a function returning something a lax test could take for a pass."""
    values = ["[]", "{'lr': 0.0}", "0.0", "True", "0", "()"]
    return "\n".join(f"def {name}(*args, **kwargs):\n    return {values[i % len(values)]}\n"
                     for i, name in enumerate(names))


def _identity_answers(spec) -> str:
    return "\n".join(f"def {fn}(*args, **kwargs):\n    return args[0] if args else None\n" for fn in spec.functions)


def _with_cells(nb, first: str | None = None, last: str | None = None, answers: str | None = None):
    nb = copy.deepcopy(nb)
    ids = [i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution")
           and c.cell_type == "code"]
    if answers is not None:
        nb.cells[ids[0]].source = answers
        for i in ids[1:]:
            nb.cells[i].source = "# (answered above)\n"
    if first is not None:
        nb.cells.insert(ids[0], nbformat.v4.new_code_cell(first))
    if last is not None:
        nb.cells.append(nbformat.v4.new_code_cell(last))
    return nb


def _grade_class(tmp_path: Path, assignment: str, students: dict, **limits) -> dict:
    """Write ``students`` ({id: {notebook: nb}}) as a folder class, grade it, return the CSV rows by id."""
    subs = tmp_path / "class"
    for student, notebooks in students.items():
        for name, nb in notebooks.items():
            (subs / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, subs / student / name)
    log: list = []
    summary = grade(ROOT, assignment, subs, out=tmp_path / "out", db_url="sqlite:///" + str(tmp_path / "gb.db"),
                    layout="folders", limits=sandbox.Limits(**limits), feedback_pages=False, log=log.append)
    assert summary["failed"] == 0, "\n".join(log)
    with open(tmp_path / "out" / assignment / "grades.csv", newline="") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


@pytest.mark.slow
@needs_bwrap
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_shadowed_builtins_score_as_the_blank_release(tmp_path, assignment):
    """``def dict(*a, **k): return {'lr': 0.0}`` (or ``range``, ``len``, ``sorted``... returning ``[]``) forged
    passes when the judge proxied every student callable the tests' namespace lacked. Now only the declared
    functions cross: shadowing every builtin the tests use changes nothing."""
    specs = course.assignment_specs(ROOT, assignment)
    students: dict = {"a-blank": {}, "b-shadow": {}, "c-identity": {}, "d-identity-shadow": {}}
    for spec in specs:
        release = nbformat.read(ROOT / "exercises" / assignment / spec.name, as_version=4)
        forged = _forgeries(_builtins_used(spec))
        identity = _identity_answers(spec)
        students["a-blank"][spec.name] = release
        students["b-shadow"][spec.name] = _with_cells(release, first=forged, last=forged)
        students["c-identity"][spec.name] = _with_cells(release, answers=identity)
        students["d-identity-shadow"][spec.name] = _with_cells(release, answers=identity + "\n" + forged,
                                                               last=forged)
    rows = _grade_class(tmp_path, assignment, students, notebook_seconds=20)
    blank = float(rows["a-blank"]["total"])
    assert float(rows["b-shadow"]["total"]) == blank, rows["b-shadow"]
    assert float(rows["d-identity-shadow"]["total"]) == float(rows["c-identity"]["total"]), \
        (rows["d-identity-shadow"]["reasons"], rows["c-identity"]["reasons"])


def _shmem_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Shmem:"):
            return int(line.split()[1])
    return 0


COSTLY = {
    # a callback the judge passed, called back for longer than the budget
    "callback-loop": ("def gd_step(param, grad, lr):\n    import time\n    end = time.time() + 60\n"
                      "    while time.time() < end:\n        float(lr) * 1.0\n        grad.sum()\n    return param\n"
                      "def minibatches(n, batch_size, generator=None):\n    import time\n"
                      "    end = time.time() + 60\n    while time.time() < end:\n"
                      "        generator.initial_seed() if generator is not None else None\n    return []\n"),
    # a reply of many references to the caller's own tensor, after growing it
    "many-references": ("import torch\ndef gd_step(param, grad, lr):\n"
                        "    param.set_(torch.randn(1000, dtype=torch.float64))\n    return [param] * 20000\n"
                        "def minibatches(n, batch_size, generator=None):\n    x = [0]\n    return [x] * 1_000_000\n"),
    # files in the sandbox's tmpfs folders: bounded, and gone with the sandbox
    "tmpfs": ("import os\nfor d in ('/tmp', '/dev/shm'):\n    for i in range(8):\n        try:\n"
              "            with open(f'{d}/f{i}', 'wb') as f:\n                f.write(b'x' * (60 << 20))\n"
              "        except OSError:\n            break\n"
              "def gd_step(param, grad, lr):\n    return param\n"),
}


@pytest.mark.slow
@needs_bwrap
def test_each_costly_attack_is_charged_to_its_author_not_to_the_next_student(tmp_path):
    assignment, name = "02-gradient-descent", "gradient_descent.ipynb"
    release = nbformat.read(ROOT / "exercises" / assignment / name, as_version=4)
    honest = pipeline.student_notebook(ROOT, assignment, name)
    students = {"0-blank": {name: release}}
    for i, (attack, source) in enumerate(COSTLY.items(), start=1):
        students[f"{i}a-{attack}"] = {name: _with_cells(release, answers=source)}
        students[f"{i}b-honest"] = {name: honest}
    big = copy.deepcopy(honest)   # a 19.5 MB markdown cell: the judge reads it, the student pays nothing else
    big.cells.append(nbformat.v4.new_markdown_cell("x" * 19_500_000))
    students["4a-huge-markdown"] = {name: big}
    students["4b-honest"] = {name: honest}
    shmem = _shmem_kb()
    rows = _grade_class(tmp_path, assignment, students, notebook_seconds=15, startup_seconds=60)
    full = float(rows["1b-honest"]["max_score"])
    blank = float(rows["0-blank"]["total"])
    for student, row in rows.items():
        if student.endswith("honest"):
            assert float(row["total"]) == full, (student, row["reasons"])
        elif student not in ("0-blank", "4a-huge-markdown"):
            assert float(row["total"]) <= blank, (student, row["reasons"])
    assert "time limit" in rows["1a-callback-loop"]["reasons"], rows["1a-callback-loop"]["reasons"]
    assert "references" in rows["2a-many-references"]["reasons"], rows["2a-many-references"]["reasons"]
    assert float(rows["4a-huge-markdown"]["total"]) == full
    assert _shmem_kb() - shmem < 50 * 1024, "files a sandbox wrote to its tmpfs outlived it"


@pytest.mark.slow
@needs_bwrap
def test_cells_run_in_notebook_order_and_normalisable_notebooks_are_graded(tmp_path):
    """A later ``from numpy import *`` rebinds names only for the cells below it, as in Validate; a notebook saved as
    format 4.4 with cell ids (a mix of Jupyter versions) is normalised, not failed."""
    assignment, name = "09-schedules", "schedules.ipynb"
    honest = pipeline.student_notebook(ROOT, assignment, name)
    star = _with_cells(honest, last="from numpy import *\nimport math\nbool = int\n")
    old = copy.deepcopy(honest)
    old.nbformat_minor = 4
    rows = _grade_class(tmp_path, assignment, {"honest": {name: honest}, "star": {name: star},
                                               "minor4": {name: old}}, notebook_seconds=60)
    full = sum(t.points for t in course.read_spec(ROOT / "solutions" / assignment / name).tests)   # autograded
    assert float(rows["honest"]["total"]) == full, rows["honest"]["reasons"]
    assert float(rows["star"]["total"]) == full, rows["star"]["reasons"]
    assert float(rows["minor4"]["total"]) == full, rows["minor4"]["reasons"]


def test_plan_runs_each_test_after_the_cells_above_it():
    spec = course.read_spec(ROOT / "solutions" / "02-gradient-descent" / "gradient_descent.ipynb")
    nb = pipeline.student_notebook(ROOT, "02-gradient-descent", "gradient_descent.ipynb")
    steps = course.plan(nb, spec)
    order = [item.grade_id if kind == "test" else [label for label, _ in item] for kind, item in steps]
    tests = [t.grade_id for t in spec.tests]
    assert [s for s in order if isinstance(s, str)] == tests
    first_test = order.index(tests[0])
    assert any("gd_step" in batch for batch in order[:first_test] if isinstance(batch, list))
    assert not any("minibatches" in batch for batch in order[:first_test] if isinstance(batch, list))
    # a deleted test cell runs right after the answer cell it follows in the source
    gone = copy.deepcopy(nb)
    gone.cells = [c for c in gone.cells if c.metadata.get("nbgrader", {}).get("grade_id") != tests[0]]
    order2 = [item.grade_id if kind == "test" else [label for label, _ in item] for kind, item in
              course.plan(gone, spec)]
    assert [s for s in order2 if isinstance(s, str)] == tests


@pytest.mark.parametrize("source", [
    "import torch as th\nopt = th.optim.Adam([], lr=0.1)",
    "import torch\nt = torch\nA = t.optim.Adam",
    "from torch import optim as o\n",
    "import torch\nA = getattr(torch, 'op' + 'tim').Adam",
    "import importlib\nm = importlib.import_module('torch.optim')",
    "m = __import__('torch.optim')",
    "import sys, torch\nm = sys.modules['torch.optim']",
    "%time x = 1\nimport torch as th\nopt = th.optim.SGD",
    "%%time\nimport torch as th\nopt = th.optim.SGD",
])
def test_the_rule_resolves_aliases_and_reads_cells_as_the_worker_runs_them(source):
    from course_grading import rules
    from course_grading.course import strip_magics

    assert rules.violations([("cell 3", strip_magics(source))]), source


def test_an_alias_bound_in_one_cell_is_followed_into_the_next():
    from course_grading import rules

    assert rules.violations([("cell 3", "import torch as th"), ("gd_step", "Opt = th.optim.SGD")])
    assert rules.violations([("cell 3", "import torch as th"), ("gd_step", "x = th.zeros(3)")]) == []


@needs_bwrap
def test_the_students_own_module_beside_the_notebook_imports_in_check_and_grading(tmp_path):
    """README: helper modules are fine. ``helpers.py`` beside the notebook imports in the worker, as in Jupyter,
    under ``make check`` and in grading; a link out of the folder is not bound."""
    from course_grading.check import check_notebooks

    assignment, name = "02-gradient-descent", "gradient_descent.ipynb"
    nb = _with_cells(pipeline.student_notebook(ROOT, assignment, name),
                     answers="from helpers import scaled\ndef gd_step(param, grad, lr):\n"
                             "    return param - scaled(lr, grad)\n" + _solution_rest(assignment, name))
    folder = tmp_path / "class" / "ann"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / name)
    (folder / "helpers.py").write_text("def scaled(lr, grad):\n    return lr * grad\n")
    (folder / "secret.py").symlink_to(ROOT / "solutions" / assignment / name)
    assert [p.name for p in sandbox.student_modules(folder)] == ["helpers.py"]
    out: list = []
    status = check_notebooks(ROOT, [folder / name], sandbox.Limits(), out=out.append)
    assert status == 0, "\n".join(out)
    log: list = []
    grade(ROOT, assignment, tmp_path / "class", out=tmp_path / "out", db_url="sqlite:///" + str(tmp_path / "g.db"),
          layout="folders", feedback_pages=False, log=log.append)
    with open(tmp_path / "out" / assignment / "grades.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["total"]) == 11, row["reasons"]
    # the rule reads the modules too: a helper module is no way round it
    (folder / "helpers.py").write_text("import torch as th\nSGD = th.optim.SGD\ndef scaled(lr, grad):\n"
                                       "    return lr * grad\n")
    out = []
    assert check_notebooks(ROOT, [folder / name], sandbox.Limits(), out=out.append) == 1
    assert any("policy violation: helpers.py, line 2 uses torch.optim" in line for line in out), out


def _solution_rest(assignment: str, name: str) -> str:
    """The solution's answer cells after the first, as one source (the first answer is the test's own)."""
    from course_grading.authoring import answer_source

    solution = nbformat.read(ROOT / "solutions" / assignment / name, as_version=4)
    answers = [answer_source(c.source) for c in solution.cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    return "\n".join(answers[1:])


@pytest.mark.slow
@needs_bwrap
def test_validate_check_and_grade_agree_on_honest_notebooks(tmp_path):
    """The same notebook passes nbgrader's Validate (its kernel, notebook order), ``make check`` (the worker and
    judge, released tests) and gets every autograded point in grading -- a later ``from numpy import *`` included."""
    from course_grading.check import check_notebooks

    assignment, name = "09-schedules", "schedules.ipynb"
    honest = pipeline.student_notebook(ROOT, assignment, name)
    star = _with_cells(honest, last="from numpy import *\nbool = int\n")
    students = {"honest": honest, "star": star}
    for student, nb in students.items():
        (tmp_path / "class" / student).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "class" / student / name)
        assert pipeline.validate_notebook(tmp_path / "class" / student / name) == {}, student
        out: list = []
        assert check_notebooks(ROOT, [tmp_path / "class" / student / name], sandbox.Limits(), out=out.append) == 0, \
            "\n".join(out)
    rows = _grade_class(tmp_path, assignment, {s: {name: nb} for s, nb in students.items()}, notebook_seconds=60)
    full = sum(t.points for t in course.read_spec(ROOT / "solutions" / assignment / name).tests)
    assert [float(rows[s]["total"]) for s in students] == [full, full], {s: rows[s]["reasons"] for s in students}
