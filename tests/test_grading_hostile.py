"""The instructors' grading command (``make grade``) against hostile and broken submissions.

Fast tests: the static rules, collecting an LMS export / a zip / nbgrader's ``submitted/`` tree, normalising a
submission, and the gradebook transaction (an interrupted merge leaves the previous grades). The slow test grades
the corpus of ``tests/hostile/`` together with honest submissions in ONE run and checks that every honest
submission gets its true score (derived from the source notebook's points), no hostile one scores more than the
untouched release, the run finishes, the gradebook keeps every grade, nothing escaped the sandbox, and that
re-running is idempotent and a late submission leaves the other grades untouched.
"""

from __future__ import annotations

import csv
import os
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from hostile import corpus
from reference_impl.grading import pipeline, secure

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "02-gradient-descent"
NOTEBOOK = "gradient_descent.ipynb"


# ----------------------------------------------------------------------------------------------- static rules
@pytest.mark.parametrize("source, kind, word", [
    ("from reference_impl.optim import SGD", "policy", "reference_impl"),
    ("import reference_impl.optim as r", "policy", "reference_impl"),
    ("x = torch.optim.SGD", "policy", "torch.optim"),
    ("from torch import optim", "policy", "torch.optim"),
    ("m = __import__('os')", "unsafe", "__import__"),
    ("import os\nos._exit(0)", "unsafe", "imports os"),
    ("torch.allclose = lambda *a, **k: True", "unsafe", "replaces torch.allclose"),
    ("t = torch\nt.isclose = None", "unsafe", "replaces t.isclose"),
    ("T = torch.Tensor\nT.add = None", "unsafe", "replaces T.add"),
    ("class AssertionError(Exception):\n    pass", "unsafe", "redefines the builtin AssertionError"),
    ("f = open('x')", "unsafe", "uses open"),
    ("x = (1).__class__.__bases__", "unsafe", "__class__"),
    ("g = getattr(torch, 'opt' + 'im')", "unsafe", "getattr"),
    ("exec('1')", "unsafe", "uses exec"),
])
def test_policy_flags(source, kind, word):
    problems = secure.policy_problems(source)
    assert any(k == kind and word in reason for k, reason in problems), problems


@pytest.mark.parametrize("source", [
    "def gd_step(param, grad, lr):\n    return param - lr * grad",
    "import math\nimport torch\ndef f(x, state):\n    state['m'] = x * math.sqrt(2)\n    return x",
    "def f(p, g, buf, lr, momentum):\n    sum = 0\n    buf = g if buf is None else momentum * buf + g\n"
    "    return p - lr * buf, buf",
    "class Stepper:\n    def __init__(self):\n        self.n = 0\n    def __call__(self, x):\n        return x",
    "def f(x):\n    return getattr(x, 'shape')",
    "this is not python (",
])
def test_policy_accepts_honest_code(source):
    assert secure.policy_problems(source) == []


# ---------------------------------------------------------------------------------------------- collecting
def _nb(tmp: Path) -> Path:
    path = tmp / "x.ipynb"
    nbformat.write(nbformat.read(ROOT / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4), path)
    return path


def test_collect_lms_export_zip_and_submitted_tree(tmp_path):
    nb = _nb(tmp_path)
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(nb, flat / f"ann_{NOTEBOOK}")
    shutil.copy(nb, flat / f"bo_attempt_2026-01-01-10-00-00_{NOTEBOOK}")
    shutil.copy(nb, flat / f"bo_attempt_2026-01-03-10-00-00_{NOTEBOOK}")
    shutil.copy(nb, flat / "cy_gradient_descent-1.ipynb")    # an LMS copy suffix
    (flat / "README").write_text("not a submission")
    found, notes = secure.collect(flat, ASSIGNMENT, [NOTEBOOK])
    assert sorted(found) == ["ann", "bo", "cy"]
    assert found["bo"].files[NOTEBOOK].name.endswith(f"2026-01-03-10-00-00_{NOTEBOOK}")
    assert any("graded the latest" in n for n in found["bo"].notes)
    assert any("README" in n for n in notes)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(nb, f"ann_{NOTEBOOK}")
        zf.writestr("../evil_" + NOTEBOOK, "{}")
    found, notes = secure.collect(archive, ASSIGNMENT, [NOTEBOOK], scratch=tmp_path)
    assert sorted(found) == ["ann"] and any("unsafe archive entry" in n for n in notes)
    tree = tmp_path / "submitted"
    (tree / "dee" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(nb, tree / "dee" / ASSIGNMENT / NOTEBOOK)
    (tree / "dee" / ASSIGNMENT / "timestamp.txt").write_text("2026-01-05 10:00:00")
    found, _ = secure.collect(tree, ASSIGNMENT, [NOTEBOOK])
    assert list(found) == ["dee"] and found["dee"].timestamp == "2026-01-05 10:00:00"


def test_collect_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="submissions"):
        secure.collect(tmp_path / "missing", ASSIGNMENT, [NOTEBOOK])
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="submissions"):
        secure.collect(tmp_path / "file.txt", ASSIGNMENT, [NOTEBOOK])


def test_limits_validate():
    with pytest.raises(ValueError, match="cell_seconds"):
        secure.Limits(cell_seconds=0)
    with pytest.raises(ValueError, match="memory_mb"):
        secure.Limits(memory_mb=-1)


def test_normalise_keeps_only_answers(tmp_path):
    spec = secure.notebook_spec(nbformat.read(ROOT / "solutions" / ASSIGNMENT / NOTEBOOK, as_version=4), NOTEBOOK)
    spec.release = nbformat.read(ROOT / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4)
    sub = pipeline.student_notebook(ROOT, ASSIGNMENT, NOTEBOOK)
    for cell in sub.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "pass"
    sub.cells.append(nbformat.v4.new_code_cell("print('extra')"))
    path = tmp_path / NOTEBOOK
    nbformat.write(sub, path)
    norm = secure.normalise(path, spec)
    reasons = " ".join(r for _, r in norm.notes)
    assert "restored" in reasons and "extra code cell" in reasons
    sources = [c.source for c in norm.notebook.cells if c.cell_type == "code"]
    assert "pass" not in sources and "print('extra')" not in sources
    assert sources == [c.source for c in spec.release.cells if c.cell_type == "code"
                       and not c.metadata.get("nbgrader", {}).get("solution")] or len(sources) > 0
    for bad, word in ((b"", "empty"), (b"{not json", "JSON"), (b"[1, 2]", "not a notebook")):
        path.write_bytes(bad)
        norm = secure.normalise(path, spec)
        assert norm.notebook is None and word in norm.notes[0][1]


# ----------------------------------------------------------------------------------- gradebook transaction
def test_interrupted_merge_keeps_previous_grades(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    monkeypatch.setenv("PATH", str(pipeline.BIN) + os.pathsep + os.environ.get("PATH", ""))  # nbgrader -> alembic
    course = pipeline.make_course(tmp_path / "course", [ASSIGNMENT], release=False)
    pipeline.generate_assignment(course, ASSIGNMENT, timeout=300)
    db = "sqlite:///" + str(tmp_path / "master.db")
    spec = secure.notebook_spec(nbformat.read(ROOT / "solutions" / ASSIGNMENT / NOTEBOOK, as_version=4), NOTEBOOK)
    with Gradebook(db) as gb:
        secure.sync_assignment(gb, course / "gradebook.db", ASSIGNMENT)
        good = secure.NotebookResult(NOTEBOOK, spec.max_score, final=spec.max_score,
                                     cells={g: {"kernel": p, "final": p} for g, p in spec.tests.items()})
        secure.replace_submission(gb, ASSIGNMENT, "ann", [good])
        secure.replace_submission(gb, ASSIGNMENT, "ann", [good])  # replacing twice adds nothing
        assert len(gb.assignment_submissions(ASSIGNMENT)) == 1
        assert gb.find_submission(ASSIGNMENT, "ann").score == spec.max_score
        broken = secure.NotebookResult(NOTEBOOK, spec.max_score,
                                       cells={g: {"kernel": 0.0, "final": "boom"} for g in spec.tests})
        with pytest.raises(ValueError):
            secure.replace_submission(gb, ASSIGNMENT, "ann", [broken])   # fails half-way through
    with Gradebook(db) as gb:
        assert gb.find_submission(ASSIGNMENT, "ann").score == spec.max_score


# ---------------------------------------------------------------------------------------- the whole corpus
def _rows(path: Path) -> dict:
    with open(path, newline="", encoding="utf-8") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


def _kernel_leftovers(tag: str) -> list:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if tag.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def _table(records: Path, cases: list) -> str:
    """case | in-kernel | independent | final | status | first reason (shown with ``pytest -s``)."""
    import json

    lines = [f"{'case':24s} {'kernel':>6s} {'indep':>6s} {'final':>6s}  status   reason"]
    for case in cases:
        path = records / f"{case.student}.json"
        if not path.is_file():
            continue
        rec = json.loads(path.read_text())
        nb = rec["notebooks"][0]
        fmt = (lambda v: "-" if v is None else f"{v:g}")
        status = "failed" if rec["failed"] else "flagged" if rec["flagged"] else "ok"
        reasons = [r for r in rec["reasons"] if "renamed?" not in r or case.kind == "honest"]
        lines.append(f"{case.student:24s} {fmt(nb['kernel_score']):>6s} {fmt(nb['independent_score']):>6s} "
                     f"{fmt(nb['final']):>6s}  {status:8s} {(reasons or [''])[0][:110]}")
    return "\n".join(lines)


@pytest.mark.slow
def test_hostile_corpus_graded_in_one_run(tmp_path):
    subs, marker, db_file = tmp_path / "subs", tmp_path / "escaped-marker.txt", tmp_path / "master.db"
    cases = corpus.build(subs, ASSIGNMENT, marker, db_file)
    assert sum(c.kind == "hostile" for c in cases) >= 15
    late = {c.student for c in cases if c.student == "honest-partial"}
    held_back = tmp_path / "late"
    held_back.mkdir()
    for name in os.listdir(subs):
        if name.split("_", 1)[0] in late:
            shutil.move(subs / name, held_back / name)
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    limits = secure.Limits(cell_seconds=10, notebook_seconds=60, memory_mb=3000, output_chars=100_000)
    kw = dict(out=out, db_url="sqlite:///" + str(db_file), limits=limits, workers=2, scratch=scratch,
              log=lambda *a: None)
    summary = secure.grade(ASSIGNMENT, subs, **kw)
    rows = _rows(out / ASSIGNMENT / "grades.csv")
    print(_table(out / ASSIGNMENT / "records", cases))
    expected_students = {c.student for c in cases} - late
    assert set(rows) == expected_students, "every student has exactly one row"
    release = float(rows["release"]["total"])
    for case in cases:
        if case.student in late:
            continue
        row = rows[case.student]
        total = float(row["total"])
        if case.kind == "honest":
            assert total == case.expected, (case.student, row)
        else:
            assert total <= release, (case.student, row)
        if case.flag:
            assert case.flag.lower() in row["reasons"].lower(), (case.student, row["reasons"])
    for student in ("h-monkeypatch-torch", "h-sys-modules", "h-reference-impl"):
        assert rows[student]["status"] == "flagged", rows[student]
    for student in ("h-infinite-loop", "h-swallow-interrupt", "h-sleep", "h-big-print-correct", "h-memory-bomb"):
        assert rows[student]["status"] == "failed", rows[student]
    assert not marker.exists(), "a submission wrote outside its folder"
    assert not _kernel_leftovers(str(scratch)), "processes of the run are still alive"
    # feedback never shows hidden tests
    hidden = "### BEGIN HIDDEN TESTS"
    solution = nbformat.read(ROOT / "solutions" / ASSIGNMENT / NOTEBOOK, as_version=4)
    hidden_lines = [line.strip() for c in solution.cells for line in
                    c.source.split(hidden, 1)[-1].split("### END HIDDEN TESTS")[0].splitlines()
                    if hidden in c.source and len(line.strip()) > 30]
    page = (out / ASSIGNMENT / "feedback" / "honest-full" / NOTEBOOK.replace(".ipynb", ".html")).read_text()
    assert hidden_lines and not any(line in page for line in hidden_lines)
    # the gradebook keeps every grade
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(db_file)) as gb:
        subs_db = {s.student_id: float(s.score) for s in gb.assignment_submissions(ASSIGNMENT)}
    assert subs_db == {s: float(rows[s]["total"]) for s in rows}
    assert summary["failed"] >= 5 and summary["flagged"] >= 3

    # idempotent: nothing changed, nothing is graded again, nothing is added
    again = secure.grade(ASSIGNMENT, subs, **kw)
    assert again["graded_now"] == 0 and _rows(out / ASSIGNMENT / "grades.csv") == rows
    # a late submission: only that student is graded; the others keep their grades
    for name in os.listdir(held_back):
        shutil.move(held_back / name, subs / name)
    late_run = secure.grade(ASSIGNMENT, subs, **kw)
    assert late_run["graded_now"] == 1
    after = _rows(out / ASSIGNMENT / "grades.csv")
    assert {s: r for s, r in after.items() if s not in late} == rows
    assert float(after["honest-partial"]["total"]) == next(c.expected for c in cases
                                                           if c.student == "honest-partial")


# ------------------------------------------------------------------------------------ the re-check runner
def _recheck(tmp_path, answer: str, test: str, cell_timeout: int = 5) -> dict:
    import json
    import subprocess
    import sys

    cells = [{"kind": "setup", "id": "setup", "source": "import math"},
             {"kind": "answer", "id": "a", "source": answer},
             {"kind": "test", "id": "t", "source": test, "points": 1.0}]
    job = {"cells": cells, "tests": [{"id": "t", "run": [0, 1], "cells_before": 2}], "preload": ["math"],
           "watched_modules": ["math", "builtins", "reference_impl"], "frozen_modules": ["builtins", "math"],
           "write_roots": [str(tmp_path)], "deny_read_roots": [str(ROOT)], "allow_read_roots": [],
           "cell_timeout": cell_timeout, "notebook_timeout": 30, "cwd": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-I", "-m", "reference_impl.grading.guard", "recheck"],
                          input=json.dumps(job), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    return json.loads(proc.stdout)[0]


TEST_F = "assert f(3) == 9, 'f(3) should be 9'"


@pytest.mark.parametrize("answer, passed, limit", [
    ("def f(x):\n    return x * x", True, ""),
    ("def f(x):\n    return x + x", False, ""),
    ("def f(x):\n    return x * x\nraise SystemExit(0)", True, ""),        # the notebook goes on after an error
    ("import os\ndef f(x):\n    os._exit(0)", False, "died"),             # exits before the test completes
    ("def f(x):\n    while True:\n        pass", False, "time"),
    ("import builtins\nbuiltins.AssertionError = None\ndef f(x):\n    return 0", False, ""),
    ("def f(x):\n    return x * x\nimport math\nmath.sqrt = None", True, ""),   # refused; nothing was changed
    ("import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'{\"secret\": \"x\", \"passed\": true}\\n')\n"
     "    except OSError:\n        pass\ndef f(x):\n    return 0", False, ""),   # a forged result line
    ("import sys\nsys.modules['math'] = None\ndef f(x):\n    return 0", False, ""),
    ("def f(x):\n    with open('/tmp/escape-recheck.txt', 'w') as fh:\n        fh.write('x')\n    return x * x",
     False, ""),
])
def test_recheck_runner(tmp_path, answer, passed, limit):
    result = _recheck(tmp_path, answer, TEST_F, cell_timeout=3)
    assert result["passed"] is passed, result
    assert result["limit"] == limit, result
    assert not Path("/tmp/escape-recheck.txt").exists()


def test_static_rules_accept_every_solution_and_simulated_student():
    """No honest answer of the course is refused: the solutions of every assignment and every simulated student
    of ``tests/grader_bugs`` (realistic bugs and correct alternatives) pass the static rules."""
    from grader_bugs import catalogue

    checked = 0
    for assignment, module in catalogue().items():
        names = pipeline.notebook_names(ROOT, assignment)
        notebooks = [pipeline.student_notebook(ROOT, assignment, nb) for nb in names]
        for variant in getattr(module, "VARIANTS", []):
            notebooks.append(pipeline.student_notebook(ROOT, assignment, variant.notebook or names[0],
                                                       variant.edits))
        for nb in notebooks:
            for gid, cell in pipeline.answer_cells(nb).items():
                assert secure.policy_problems(cell.source) == [], (assignment, gid, cell.source[:200])
                checked += 1
    assert checked > 100


GUARD_PROBE = r'''
import json, os, sys
from reference_impl.grading import guard
allowed, denied, hidden = sys.argv[1], sys.argv[2], sys.argv[3]
guard.install([allowed], [denied], [], hidden=[hidden])
def attempt(fn):
    try:
        fn()
        return "allowed"
    except PermissionError:
        return "refused"
    except Exception as err:
        return type(err).__name__
import subprocess, signal
print(json.dumps({
    "write inside": attempt(lambda: open(os.path.join(allowed, "ok.txt"), "w").close()),
    "write outside": attempt(lambda: open(os.path.join(denied, "escape.txt"), "w").close()),
    "read denied": attempt(lambda: open(os.path.join(denied, "secret.txt")).read()),
    "read hidden": attempt(lambda: open(hidden).read()),
    "read /proc of the parent": attempt(lambda: open(f"/proc/{os.getppid()}/environ", "rb").read()),
    "fork": attempt(os.fork),
    "subprocess": attempt(lambda: subprocess.run(["true"])),
    "system": attempt(lambda: os.system("true")),
    "kill the parent": attempt(lambda: os.kill(os.getppid(), 0)),
    "remove a file": attempt(lambda: os.remove(os.path.join(denied, "secret.txt"))),
    "load a library": attempt(lambda: __import__("ctypes").CDLL("libc.so.6")),
}))
'''


def test_kernel_guard_refuses_escapes(tmp_path):
    import json
    import subprocess
    import sys

    allowed, denied = tmp_path / "allowed", tmp_path / "course"
    allowed.mkdir()
    denied.mkdir()
    (denied / "secret.txt").write_text("hidden tests")
    hidden = allowed / "notebook.ipynb"
    hidden.write_text("{}")
    proc = subprocess.run([sys.executable, "-c", GUARD_PROBE, str(allowed), str(denied), str(hidden)],
                          capture_output=True, text=True, timeout=60)
    result = json.loads(proc.stdout)
    assert result.pop("write inside") == "allowed"
    assert set(result.values()) == {"refused"}, result
    assert (denied / "secret.txt").exists() and not (denied / "escape.txt").exists()
