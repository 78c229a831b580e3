"""A Gradescope autograder for one assignment: the course's own rule, worker and judge, packed as Gradescope wants.

``python -m course_grading gradescope ASSIGNMENT --out DIR [--secret FILE]`` writes ``DIR/autograder.zip`` in the
format of Gradescope's autograder specification (gradescope-autograders.readthedocs.io, "Autograder
Specifications"): ``setup.sh`` and ``run_autograder`` at the root of the archive, the rest of it unpacked by Gradescope
under ``/autograder/source``. Here that is ``course/``: the assignment's source notebooks (``solutions/ASSIGNMENT``,
hidden tests included: the zip is for the instructor's Gradescope account only), the packages ``course_grading`` and
``reference_impl``, ``nbgrader_config.py`` (so the folder is a course root), the lock file, ``gradescope.json`` (which
assignment) and, with ``--secret``, ``term_secret``: the term's secret, baked into the zip and never written into the
repository (:func:`build` refuses an output folder that git would track).

``run_autograder`` runs :func:`run` once per submission: the notebooks in ``ROOT/submission`` are found by the
course's intake (read as one student's folder), each is graded by :func:`course_grading.judge.judge_notebook` (the
rule, then the worker, then the judge, exactly as ``grade`` grades), and ``ROOT/results/results.json`` gets one test
per test cell: ``name`` (notebook: grade id), ``score``, ``max_score``, ``status``, ``output`` (the judge's message,
the words the feedback page shows; empty when it passed) and ``visibility`` (``visible`` for a cell with only released
tests, ``after_published`` for a cell with hidden parts: its outcome tells something about the hidden tests). Written
answers (graded by hand) are listed as tests without a score, with the student's text, for a manually graded question
of the assignment. ``ROOT`` is ``/autograder`` unless ``$COURSE_GRADING_GRADESCOPE_ROOT`` says otherwise (tests run
the whole thing in a temporary folder).

Isolation: bubblewrap when :func:`course_grading.judge.probe` finds that it can create namespaces in Gradescope's
container; otherwise the worker runs without it, as ``grade --no-sandbox`` does (the judge/worker split with the
worker's resource limits). ``results.json`` says which in ``extra_data.sandbox`` and in its ``output``. Without
bubblewrap the student's code runs as the container's user, beside the judge: see instructors.md ("Gradescope") for
what that allows. Every process the worker left behind is killed before ``results.json`` is written (this process is
made a child subreaper, so a process that detached itself from the worker is still found as a descendant).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT_ENV = "COURSE_GRADING_GRADESCOPE_ROOT"
DEFAULT_ROOT = "/autograder"
CONFIG = "gradescope.json"
SECRET_FILE = "term_secret"
PACKAGES = ("course_grading", "reference_impl")
# what run_autograder imports: torch, reference_impl's own dependencies, nbformat (reading notebooks); each is pinned
# by the course's lock file, which setup.sh passes to pip as constraints
RUN_REQUIREMENTS = ("torch", "numpy", "matplotlib", "tqdm", "nbformat")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (choose an Ubuntu 24.04 base image:
# the course needs Python 3.11 or newer). It installs bubblewrap (used when the container lets it create
# namespaces) and a virtual environment with the course's pinned versions of what grading imports.
set -euo pipefail
apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "the course needs Python 3.11 or newer: pick the Ubuntu 24.04 base image")'
python3 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --quiet --upgrade pip
# torch's CPU wheels come from PyTorch's own index; every version is the one in the course's lock file
/autograder/venv/bin/python -m pip install --quiet --index-url https://download.pytorch.org/whl/cpu \\
    --extra-index-url https://pypi.org/simple -c /autograder/source/course/requirements-lock.txt {requirements}
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this once per submission. The root is /autograder unless $COURSE_GRADING_GRADESCOPE_ROOT names
# another folder (holding source/, submission/ and results/ as Gradescope lays them out).
set -u
ROOT="${COURSE_GRADING_GRADESCOPE_ROOT:-/autograder}"
PYTHON="$ROOT/venv/bin/python"
[ -x "$PYTHON" ] || PYTHON="/autograder/venv/bin/python"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
cd "$ROOT/source/course" || exit 1
# -E -s: no PYTHONPATH, no user site; the course's packages are imported from this folder (the zip's copy)
exec "$PYTHON" -E -s -m course_grading.gradescope run "$ROOT"
"""


# --------------------------------------------------------------------------------------------- building the zip


def _tracked_by_git(root: Path, path: Path) -> bool:
    """Whether ``path`` lies in ``root``'s git work tree and git would not ignore it."""
    try:
        path.resolve().relative_to(Path(root).resolve())
    except ValueError:
        return False
    try:
        inside = subprocess.run(["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
                                capture_output=True, text=True, timeout=30)
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return False
        ignored = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", str(path.resolve())],
                                 capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return True   # cannot tell: treat it as tracked (the secret must not land in the repository)
    return ignored.returncode != 0


def _add(zf: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    zf.writestr(info, data)


def build(root: Path, assignment: str, out: Path, secret: bytes | None = None) -> Path:
    """Write ``out/autograder.zip`` for ``assignment`` of the course at ``root``; returns its path."""
    import re

    from .course import assignment_specs

    if not re.fullmatch(r"[A-Za-z0-9_\-]+", assignment or ""):
        raise ValueError(f"assignment: {assignment!r} is not an assignment name")
    root = Path(root).resolve()
    specs = assignment_specs(root, assignment)   # raises when the assignment has no notebooks
    out = Path(out)
    target = out / "autograder.zip"
    if secret is not None and _tracked_by_git(root, target):
        raise ValueError(f"--out: {out} is inside the course's repository and not ignored by git; the zip holds the "
                         "term's secret: write it outside the repository (or in an ignored folder such as grades/)")
    for package in PACKAGES:
        if not (root / package / "__init__.py").is_file():
            raise ValueError(f"--course: {root} has no {package}/ package to put into the autograder")
    lock = root / "requirements-lock.txt"
    if not lock.is_file():
        raise ValueError(f"--course: {root} has no requirements-lock.txt (setup.sh installs its versions)")
    out.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        _add(zf, "setup.sh", SETUP_SH.format(requirements=" ".join(RUN_REQUIREMENTS)).encode(), executable=True)
        _add(zf, "run_autograder", RUN_AUTOGRADER.encode(), executable=True)
        _add(zf, "course/nbgrader_config.py", (root / "nbgrader_config.py").read_bytes())
        _add(zf, "course/requirements-lock.txt", lock.read_bytes())
        for package in PACKAGES:
            for path in sorted((root / package).rglob("*.py")):
                if "__pycache__" not in path.parts:
                    _add(zf, f"course/{path.relative_to(root).as_posix()}", path.read_bytes())
        for path in sorted((root / "solutions" / assignment).glob("*.ipynb")):
            _add(zf, f"course/solutions/{assignment}/{path.name}", path.read_bytes())
        # the catalogue of known mistakes, and where the book explains them, so that results.json names a mistake
        # as the feedback page does (course_grading/diagnose.py)
        mistakes = root / "scripts" / "mistakes" / f"{assignment}.py"
        if mistakes.is_file():
            _add(zf, f"course/scripts/mistakes/{mistakes.name}", mistakes.read_bytes())
        for path in [root / "_config.yml", *sorted((root / "chapters").glob("[0-9][0-9]*-*.md"))]:
            if path.is_file():
                _add(zf, f"course/{path.relative_to(root).as_posix()}", path.read_bytes())
        config = {"assignment": assignment, "notebooks": [s.name for s in specs],
                  "max_score": sum(s.max_score for s in specs), "written_points": sum(s.written_points for s in specs)}
        _add(zf, f"course/{CONFIG}", (json.dumps(config, indent=1) + "\n").encode())
        if secret is not None:
            _add(zf, f"course/{SECRET_FILE}", secret)
    os.replace(tmp, target)
    return target


# --------------------------------------------------------------------------------------------- grading one submission


def _become_subreaper() -> bool:
    """Make this process adopt every orphaned descendant (Linux ``PR_SET_CHILD_SUBREAPER``); ``False`` elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0   # PR_SET_CHILD_SUBREAPER = 36
    except (OSError, AttributeError):
        return False


def _descendants(pid: int) -> list:
    children: dict = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                state, ppid = fields[0], int(fields[1])
            except (OSError, ValueError, IndexError):
                continue
            if state != "Z":   # a zombie has exited already (it is only waiting to be reaped)
                children.setdefault(ppid, []).append(int(entry.name))
    found, frontier = [], [pid]
    while frontier:
        for child in children.get(frontier.pop(), []):
            found.append(child)
            frontier.append(child)
    return found


def reap_strays() -> int:
    """Kill every process below this one (what a worker left running) and reap it; returns how many there were."""
    if not os.path.isdir("/proc"):
        return 0
    killed = 0
    _reap_zombies()
    for _ in range(20):
        strays = _descendants(os.getpid())
        if not strays:
            break
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.05)
        _reap_zombies()
    return killed


def _reap_zombies() -> None:
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                return
        except ChildProcessError:
            return


def _find_notebooks(submission: Path, assignment: str, names: list, scratch: Path) -> tuple:
    """``({notebook name: path}, [notes])`` of one student's upload, read by the course's intake as the folder of
    one student (so a renamed copy such as ``momentum (1).ipynb`` is found as ``grade`` finds it)."""
    from . import intake

    student = scratch / "upload" / "student"
    student.parent.mkdir(parents=True)
    if submission.is_dir():
        shutil.copytree(submission, student, symlinks=True)
    else:
        student.mkdir()
    try:
        taken = intake.read_submissions(student.parent, assignment, names, scratch=scratch, layout="folders")
    except ValueError as err:
        return {}, [str(err)]
    notes = [f"ignored {item.path}: {item.reason}" for item in taken.ignored]
    found = taken.students.get("student")
    return (dict(found.notebooks) if found else {}), notes + (list(found.notes) if found else [])


def _visibility(test) -> str:
    from .course import strip_hidden

    has_hidden = strip_hidden(test.source) != "\n".join(test.source.splitlines())
    return "after_published" if has_hidden else "visible"


def results_for(specs: list, results: list, notebooks: dict, *, sandbox_mode: str, secret: bool,
                notes: list, seconds: float) -> dict:
    """The ``results.json`` object for one submission (see the module docstring)."""
    from .written import written_answers

    tests, total, lines = [], 0.0, []
    by_name = {r.name: r for r in results}
    for spec in specs:
        res = by_name[spec.name]
        visibility = {t.grade_id: _visibility(t) for t in spec.tests}
        for v in res.verdicts:
            score = v.points if v.passed else 0.0
            total += score
            tests.append({"name": f"{spec.name}: {v.grade_id}", "score": score, "max_score": v.points,
                          "status": "passed" if v.passed else "failed", "output": "" if v.passed else v.message,
                          "visibility": visibility.get(v.grade_id, "after_published")})
        answers = written_answers(notebooks.get(spec.name), spec)
        for gid, points in spec.written.items():
            text = answers.get(gid)
            tests.append({"name": f"{spec.name}: {gid} (written answer, {points:g} point{'s' if points != 1 else ''}"
                                  ", graded by hand)",
                          "output": ("The answer, as submitted:\n\n" + text) if text else "No answer was submitted.",
                          "visibility": "visible", "tags": ["written"]})
        lines += [f"{spec.name}: {note}" for note in res.notes]
    max_score = sum(s.max_score for s in specs)
    written = sum(s.written_points for s in specs)
    head = [f"Autograded: {total:g} / {max_score:g} points." + (
        f" Written answers ({written:g} point{'s' if written != 1 else ''}) are graded by hand." if written else "")]
    where = ("Student code ran under bubblewrap (no network, no view of the grader's files)."
             if sandbox_mode == "bwrap" else
             f"Student code ran WITHOUT bubblewrap ({sandbox_mode}), with the worker's resource limits only.")
    return {"score": total, "execution_time": round(seconds, 1),
            "output": "\n".join(head + notes + lines + [where]), "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"sandbox": sandbox_mode, "hidden_inputs": "term secret" if secret else "default",
                           "max_score": max_score, "written_points": written}}


def run(root: Path, *, course: Path | None = None, limits=None, log=print) -> dict:
    """Grade the submission in ``root/submission`` and write ``root/results/results.json``; returns the object."""
    from . import judge
    from .course import assignment_specs
    from .intake.notebook import read_notebook

    start = time.perf_counter()
    _become_subreaper()
    course = Path(course or Path.cwd()).resolve()
    config = json.loads((course / CONFIG).read_text(encoding="utf-8"))
    assignment = config["assignment"]
    secret_path = course / SECRET_FILE
    secret = secret_path.read_bytes().strip() if secret_path.is_file() else None
    specs = assignment_specs(course, assignment)
    problem = judge.probe()
    use_sandbox = problem is None
    sandbox_mode = "bwrap" if use_sandbox else f"unsandboxed: {problem}"
    log(f"{assignment}: {'bubblewrap' if use_sandbox else 'no bubblewrap (' + problem + ')'}; hidden inputs from "
        f"{'the term secret' if secret else 'the default'}")
    limits = limits or judge.Limits()
    scratch = Path(tempfile.mkdtemp(prefix="gradescope-"))
    results, notebooks = [], {}
    try:
        found, notes = _find_notebooks(Path(root) / "submission", assignment, [s.name for s in specs], scratch)
        for spec in specs:
            path = found.get(spec.name)
            nb, problem_nb = read_notebook(path) if path else (None, None)
            if problem_nb:
                res = judge.unreadable(spec, problem_nb)
            else:
                res = judge.judge_notebook(spec, nb, limits, use_sandbox=use_sandbox, secret=secret)
            results.append(res)
            notebooks[spec.name] = nb
    finally:
        strays = reap_strays()
        shutil.rmtree(scratch, ignore_errors=True)
    if strays:
        notes.append(f"{strays} process(es) the notebook left running were stopped")
    out = results_for(specs, results, notebooks, sandbox_mode=sandbox_mode, secret=secret is not None, notes=notes,
                      seconds=time.perf_counter() - start)
    folder = Path(root) / "results"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "results.json.tmp"
    tmp.write_text(json.dumps(out, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, folder / "results.json")
    for test in out["tests"]:
        log(f"  {test.get('status', 'by hand'):8} {test['name']}: {test.get('score', '-')}/{test.get('max_score', '-')}")
    log(f"total {out['score']:g}/{out['extra_data']['max_score']:g}")
    return out


def main(argv: list | None = None) -> int:
    """``python -m course_grading.gradescope run ROOT`` (what ``run_autograder`` calls)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 2 or argv[0] != "run":
        print("usage: python -m course_grading.gradescope run ROOT", file=sys.stderr)
        return 2
    run(Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
