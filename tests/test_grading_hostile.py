"""The grading command against hostile students: rules, intake, and one graded class (``-m slow``).

The class (see ``tests/hostile/corpus.py``) is graded once through ``course_grading.grade`` with short limits.
Passing means: no hostile submission scores above the untouched release, every honest one gets its true score,
the CSV and the gradebook agree, no feedback page shows a hidden test line or a path of the grading machine, and
no process a student started is left running.
"""

from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path

import nbformat
import pytest
from hostile import corpus
import _pipeline as pipeline

from course_grading import course, feedback, intake, rules
from course_grading.grade import grade
from course_grading.isolation import sandbox

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "02-gradient-descent"
NOTEBOOK = "gradient_descent.ipynb"
BWRAP = sandbox.probe() is None


@pytest.mark.parametrize("source,word", [
    ("from reference_impl.optim import SGD", "reference_impl"),
    ("import reference_impl.testing as t", "reference_impl"),
    ("import torch.optim", "torch.optim"),
    ("from torch import optim", "torch.optim"),
    ("from torch.optim import Adam", "torch.optim"),
    ("import torch\nopt = torch.optim.SGD([], lr=1)", "torch.optim"),
])
def test_rule_flags_the_reference_and_torch_optim_with_the_line(source, word):
    found = rules.violations([("gd_step", "x = 1\n" + source)])
    line = len(source.splitlines()) + 1   # the forbidden use is on the last line, after "x = 1"
    assert found and word in found[0] and f"line {line} " in found[0] and "gd_step" in found[0]


@pytest.mark.parametrize("source", [
    "import scipy\nimport numpy as np\nmax = 3\nsum = 0",
    "def helper(x):\n    return x.__class__.__name__\n",
    "import operator\nf = operator.attrgetter('shape')",
    "optim = 'not torch.optim'\n# import reference_impl",
    "def f(:",   # a syntax error is the worker's to report
])
def test_rule_accepts_honest_code(source):
    assert rules.violations([("cell 3", source)]) == []


def test_every_solution_and_simulated_student_passes_the_rule():
    from grader_bugs import catalogue

    for assignment in sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir()):
        for spec in course.assignment_specs(ROOT, assignment):
            nbs = [pipeline.student_notebook(ROOT, assignment, spec.name)]
            nbs += [pipeline.student_notebook(ROOT, assignment, spec.name, v.edits)
                    for v in getattr(catalogue().get(assignment), "VARIANTS", []) if v.notebook in (None, spec.name)]
            for nb in nbs:
                assert rules.violations(course.student_cells(nb, spec)) == [], assignment


def test_student_cells_skip_tests_install_cell_and_copied_tests():
    spec = course.read_spec(ROOT / "solutions" / ASSIGNMENT / NOTEBOOK)
    nb = pipeline.student_notebook(ROOT, ASSIGNMENT, NOTEBOOK)
    visible = next(c for c in nb.cells if course.is_test(c)).source
    nb.cells.insert(1, nbformat.v4.new_code_cell(visible))              # a copy of a test cell, unlabelled
    install = nbformat.v4.new_code_cell("!pip install course")
    install.metadata["nbgrader"] = {"grade_id": course.INSTALL_CELL, "locked": True, "grade": False,
                                    "solution": False}
    nb.cells.insert(1, install)
    cells = course.student_cells(nb, spec)
    sources = "\n".join(src for _, src in cells)
    assert "assert_same_trajectory" not in sources and "pip install" not in sources
    assert [label for label, _ in cells if not label.startswith("cell ")] == ["gd_step", "minibatches",
                                                                              "sgd_momentum_step"]


def test_intake_layouts(tmp_path):
    """The grader's view of intake (tests/test_intake.py has the full layout x id matrix): Canvas names with the
    LATE tag, a zip with an unsafe member, an nbgrader tree with its timestamp, a missing folder."""
    sol = tmp_path / "sol.ipynb"
    nbformat.write(pipeline.student_notebook(ROOT, ASSIGNMENT, NOTEBOOK), sol)
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in (f"ann_1001_5001_{NOTEBOOK}", f"bob_LATE_1002_5002_{NOTEBOOK}", "notes.txt"):
        (flat / name).write_bytes(sol.read_bytes())
    got = intake.read_submissions(flat, ASSIGNMENT, [NOTEBOOK], scratch=tmp_path / "s1")
    assert got.layout == "canvas" and sorted(got.students) == ["1001", "1002"] and got.students["1002"].late
    assert got.files_found == 3 and [i.path for i in got.ignored] == ["notes.txt"]
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(flat / f"ann_1001_5001_{NOTEBOOK}", f"ann_1001_5001_{NOTEBOOK}")
        zf.writestr("../evil.ipynb", "{}")
    got = intake.read_submissions(archive, ASSIGNMENT, [NOTEBOOK], scratch=tmp_path / "s2")
    assert list(got.students) == ["1001"] and any("../evil.ipynb" in i.path for i in got.ignored)
    tree = tmp_path / "submitted"
    for student in ("cy", "dee"):
        (tree / student / ASSIGNMENT).mkdir(parents=True)
        (tree / student / ASSIGNMENT / NOTEBOOK).write_bytes(sol.read_bytes())
        (tree / student / ASSIGNMENT / "timestamp.txt").write_text(
            "2026-01-02 10:00:00.000000 UTC" if student == "cy" else "2026-01-02 10:00:00")
    got = intake.read_submissions(tree, ASSIGNMENT, [NOTEBOOK], scratch=tmp_path / "s3")
    assert got.layout == "nbgrader" and got.students["cy"].submitted_at.startswith("2026-01-02T10:00:00")
    assert got.students["dee"].submitted_at is None, "a time without a zone is never guessed"
    assert "not a date and time with a time zone" in got.students["dee"].timestamp_problem
    with pytest.raises(ValueError, match="does not exist"):
        intake.read_submissions(tmp_path / "missing", ASSIGNMENT, [NOTEBOOK], scratch=tmp_path / "s4")


def test_feedback_leak_detector_finds_hidden_lines_and_paths():
    spec = course.read_spec(ROOT / "solutions" / ASSIGNMENT / NOTEBOOK)
    hidden = feedback.hidden_lines(spec)
    assert hidden and all(line not in "\n".join(spec.released_tests) for line in hidden)
    assert feedback.leaks(f"<pre>{hidden[0]}</pre>", spec, []) and feedback.leaks("<p>/srv/x</p>", spec, ["/srv/x"])
    assert feedback.leaks("<p>fine</p>", spec, ["/srv/x"]) == []


def _processes_with(markers) -> list:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = (Path("/proc") / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmd.startswith("sleep ") and any(m in cmd for m in markers):
            found.append(f"{pid}: {cmd}")
    return found


@pytest.mark.slow
@pytest.mark.skipif(not BWRAP, reason="bubblewrap cannot create namespaces here: the isolation claims need it")
def test_hostile_class(tmp_path):
    cases = corpus.build(tmp_path / "class", ASSIGNMENT)
    log: list[str] = []
    limits = sandbox.Limits(notebook_seconds=15, cpu_seconds=30, memory_mb=3000, output_mb=64)
    summary = grade(ROOT, ASSIGNMENT, tmp_path / "class", out=tmp_path / "out",
                    db_url="sqlite:///" + str(tmp_path / "gb.db"), layout="folders", limits=limits, log=log.append)
    output = "\n".join(log)
    with open(tmp_path / "out" / ASSIGNMENT / "grades.csv", newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert summary["failed"] == 0, output
    assert set(rows) == {c.student for c in cases}, output
    release = float(rows["release"]["total"])
    assert release == 0
    for case in cases:
        row = rows[case.student]
        total = float(row["total"])
        assert row["sandbox"] == "bwrap"
        if case.kind == "honest":
            assert total == case.expected, f"{case.student} ({case.why}): {total}, expected {case.expected}\n{row}"
        else:
            assert total <= release, f"{case.student} ({case.why}) scored {total}: the attack worked\n{row}"
        if case.flag:
            assert case.flag in row["reasons"] and row["status"] == "flagged", row
    reasons = {s: rows[s]["reasons"] for s in rows}
    assert "time limit" in reasons["h-sleep"] and "time limit" in reasons["h-loop"]
    assert "memory" in reasons["h-memory-bomb"].lower() and "time limit" not in reasons["h-memory-bomb"]
    assert "output limit" in reasons["h-huge-output"]
    # the gradebook holds what the CSV says
    scores = pipeline.scores_at("sqlite:///" + str(tmp_path / "gb.db"), ASSIGNMENT)
    assert {s: v.score for s, v in scores.items()} == {s: float(r["total"]) for s, r in rows.items()}
    # feedback: every page rendered by nbgrader, none with a hidden test line or a path of this machine
    spec = course.read_spec(ROOT / "solutions" / ASSIGNMENT / NOTEBOOK)
    pages = sorted((tmp_path / "out" / ASSIGNMENT / "feedback").glob("*/*.html"))
    assert len(pages) == len(cases)
    for page in pages:
        text = page.read_text()
        own = (tmp_path / "class" / page.parent.name / NOTEBOOK).read_text()   # a student may write a path
        paths = [p for p in (str(ROOT), str(tmp_path), "/root/", "/tmp/") if p not in own]
        assert feedback.leaks(text, spec, paths) == [], page
        assert "nbgrader" in text.lower() or "<table" in text
    assert "feedback showed" not in output, output
    partial = (tmp_path / "out" / ASSIGNMENT / "feedback" / "honest-partial" / "gradient_descent.html").read_text()
    assert "test_gd_step_hidden" in partial or "gd_step" in partial
    assert _processes_with(corpus.MARKERS) == [], "processes started by students outlived the run"


def test_grade_stops_at_once_without_bubblewrap(tmp_path, monkeypatch, capsys):
    from course_grading import cli

    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    (tmp_path / "subs").mkdir()
    status = cli.main(["--course", str(ROOT), "grade", ASSIGNMENT, str(tmp_path / "subs"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and "bubblewrap" in err and "apt-get install bubblewrap" in err and "--no-sandbox" in err
    assert not (tmp_path / ASSIGNMENT).exists()


def test_course_root_comes_from_the_option_or_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT / "exercises")
    assert course.find_root() == ROOT
    assert course.find_root(ROOT) == ROOT
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="nbgrader_config.py"):
        course.find_root()


@pytest.mark.slow
def test_no_sandbox_is_recorded_in_the_csv(tmp_path):
    from course_grading import cli

    subs = tmp_path / "subs" / "ann"
    subs.mkdir(parents=True)
    nbformat.write(pipeline.student_notebook(ROOT, ASSIGNMENT, NOTEBOOK), subs / NOTEBOOK)
    status = cli.main(["--course", str(ROOT), "grade", ASSIGNMENT, str(tmp_path / "subs"), "--out", str(tmp_path / "o"),
                       "--db-url", "sqlite:///" + str(tmp_path / "gb.db"), "--no-sandbox"])
    with open(tmp_path / "o" / ASSIGNMENT / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert status == 0 and [(r["student_id"], r["sandbox"], r["total"]) for r in rows] == [("ann", "unsandboxed",
                                                                                             rows[0]["max_score"])]


# Answers that return values built to fool a comparison: each notebook replaces all three answers of
# 02-gradient-descent, so one worker tries three tricks. None may score above the untouched release.
_TRICKS = {
    "subclass-eq-bool": {
        "gd_step": ("import torch\n"
                    "class Liar(torch.Tensor):\n"
                    "    @classmethod\n"
                    "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
                    "        return True\n"
                    "    def __eq__(self, other):\n        return True\n"
                    "    def __bool__(self):\n        return True\n"
                    "def gd_step(param, grad, lr):\n"
                    "    return param.as_subclass(Liar)\n"),
        "minibatches": ("class Always(dict):\n"
                        "    def __eq__(self, other):\n        return True\n"
                        "    def __bool__(self):\n        return True\n"
                        "def minibatches(X, y, batch_size, shuffle=False, generator=None, drop_last=False):\n"
                        "    if batch_size < 1:\n        raise ValueError('batch_size must be at least 1')\n"
                        "    return Always()\n"),
        "sgd_momentum_step": ("import torch\n"
                              "def sgd_momentum_step(param, grad, buf, lr, momentum):\n"
                              "    grad.fill_(float('nan'))   # poison the caller's gradient in place\n"
                              "    return param.expand(2, *param.shape)[0], torch.full_like(param, float('nan'))\n"),
    },
    "nan-views-generators": {
        "gd_step": ("import torch\n"
                    "def gd_step(param, grad, lr):\n"
                    "    grad.zero_()   # zero the caller's gradient so that 'unchanged' looks right\n"
                    "    return torch.full_like(param, float('nan'))\n"),
        "minibatches": ("def minibatches(X, y, batch_size, shuffle=False, generator=None, drop_last=False):\n"
                        "    raise ValueError(f'batch_size {batch_size}')   # raises for every input\n"),
        "sgd_momentum_step": ("import torch\n"
                              "def sgd_momentum_step(param, grad, buf, lr, momentum):\n"
                              "    yield param\n    yield param\n"),
    },
}


def _with_answers(nb, answers: dict):
    import copy

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    return nb


@pytest.mark.parametrize("name", sorted(_TRICKS))
def test_values_built_to_fool_a_comparison_score_no_more_than_the_release(name):
    from course_grading import judge

    spec = course.read_spec(ROOT / "solutions" / ASSIGNMENT / NOTEBOOK)
    release = course.read_notebook(ROOT / "exercises" / ASSIGNMENT / NOTEBOOK)
    assert set(_TRICKS[name]) == {c.metadata["nbgrader"]["grade_id"] for c in release.cells
                                  if c.metadata.get("nbgrader", {}).get("solution")}
    limits = sandbox.Limits(notebook_seconds=20)
    blank = judge.judge_notebook(spec, release, limits, use_sandbox=BWRAP)
    tricked = judge.judge_notebook(spec, _with_answers(release, _TRICKS[name]), limits, use_sandbox=BWRAP)
    assert len(tricked.verdicts) == len(spec.tests) and not tricked.cell_errors, tricked.cell_errors
    assert tricked.score <= blank.score, [(v.grade_id, v.message) for v in tricked.verdicts if v.passed]


def test_the_console_script_is_the_grading_command():
    """``course-grading`` (pyproject's console script, installed by ``make setup``) is ``python -m course_grading``."""
    import subprocess
    import sys

    script = Path(sys.executable).parent / "course-grading"
    assert script.is_file(), "make setup installs the console script (pyproject.toml [project.scripts])"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "gradescope" in out.stdout and "remove" in out.stdout
