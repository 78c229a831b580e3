"""The cases of the hostile corpus (see ``tests/hostile/__init__.py``).

Every hostile answer goes into the assignment's FIRST answer cell; the other answer cells stay as released
(``raise NotImplementedError()``), so a hostile submission earns nothing unless its attack works.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import nbformat

from reference_impl.grading import pipeline

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Case:
    student: str
    kind: str                      # "honest" or "hostile"
    why: str
    expected: Optional[float] = None   # honest cases: the score the grader must give
    flag: Optional[str] = None         # a word the reasons must contain


def _release(assignment: str, notebook: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "exercises" / assignment / notebook, as_version=4)


def _solution(assignment: str, notebook: str, edits=()) -> nbformat.NotebookNode:
    return pipeline.student_notebook(ROOT, assignment, notebook, edits)


def _answer_ids(nb) -> list:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")]


def _with_first_answer(nb, source: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    first = _answer_ids(nb)[0]
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == first:
            cell.source = source
    return nb


def _points(assignment: str, notebook: str) -> dict:
    nb = nbformat.read(ROOT / "solutions" / assignment / notebook, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"]) for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")}


def _first_answer_tests(assignment: str, notebook: str) -> list:
    """The test cells between the first answer cell and the next one: those a broken first answer fails."""
    nb = nbformat.read(ROOT / "solutions" / assignment / notebook, as_version=4)
    tests, seen_answer = [], 0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            seen_answer += 1
        elif meta.get("grade") and seen_answer == 1:
            tests.append(meta["grade_id"])
    return tests


HOSTILE_ANSWERS = {
    "infinite-loop": ("while True: pass", "while True:\n    pass\n"),
    "swallow-interrupt": ("a loop that swallows KeyboardInterrupt",
                          "while True:\n    try:\n        while True:\n            pass\n"
                          "    except KeyboardInterrupt:\n        pass\n"),
    "os-exit": ("os._exit in the answer", "import os\nos._exit(0)\n"),
    "segfault": ("a segfault through ctypes", "import ctypes\nctypes.string_at(0)\n"),
    "memory-bomb": ("allocates until memory runs out",
                    "hog = []\nwhile True:\n    hog.append('x' * 10**8)\n"),
    "fork-bomb": ("a bounded fork bomb whose children sleep",
                  "import os\nfor _ in range(16):\n    try:\n        if os.fork() == 0:\n"
                  "            import time\n            time.sleep(600)\n            os._exit(0)\n"
                  "    except Exception:\n        pass\n"),
    "big-print": ("a 10 MB single-line print", "print('x' * 10_000_000)\n"),
    "write-outside": ("writes files outside its folder",
                      "for target in [{marker!r}, '../../../../../../hostile-escape.txt']:\n    try:\n"
                      "        with open(target, 'w') as f:\n            f.write('escaped')\n"
                      "    except Exception as err:\n        print(err)\n"),
    "read-solutions": ("reads solutions/ and runs the solution's answers",
                       "import json, pathlib, reference_impl\n"
                       "root = pathlib.Path(reference_impl.__file__).resolve().parents[1]\n"
                       "for path in root.glob('solutions/*/*.ipynb'):\n"
                       "    for cell in json.loads(path.read_text())['cells']:\n"
                       "        if cell.get('metadata', {{}}).get('nbgrader', {{}}).get('solution'):\n"
                       "            try:\n                exec(''.join(cell['source']))\n"
                       "            except Exception:\n                pass\n"),
    "sleep": ("sleeps past the limit", "import time\ntime.sleep(3600)\n"),
    "monkeypatch-torch": ("replaces torch.isclose/allclose so every comparison passes",
                          "import torch\n"
                          "torch.isclose = lambda a, b, **k: torch.ones_like(torch.as_tensor(b), dtype=torch.bool)\n"
                          "torch.allclose = lambda *a, **k: True\n"
                          "torch.equal = lambda *a, **k: True\n"
                          "def {fn}(*args, **kwargs):\n    return args[0].clone()\n"),
    "reference-impl": ("calls the course's reference implementation",
                       "import torch\nfrom reference_impl.optim import SGD\n"
                       "def {fn}(param, grad, lr):\n    p = torch.nn.Parameter(param.detach().clone())\n"
                       "    opt = SGD([p], lr=lr)\n    p.grad = grad.detach().clone()\n    opt.step()\n"
                       "    return p.detach()\n"),
    "obfuscated-import": ("imports the reference implementation through __import__",
                          "_m = __import__('ref' + 'erence_' + 'impl.optim', fromlist=['SGD'])\n"
                          "def {fn}(param, grad, lr):\n    p = torch.nn.Parameter(param.detach().clone())\n"
                          "    opt = _m.SGD([p], lr=lr)\n    p.grad = grad.detach().clone()\n    opt.step()\n"
                          "    return p.detach()\n"),
    "builtins-patch": ("redefines AssertionError and patches builtins",
                       "import builtins\nclass AssertionError(Exception):\n    pass\n"
                       "builtins.AssertionError = AssertionError\n"
                       "builtins.isinstance = lambda *a: True\n"
                       "def {fn}(*args, **kwargs):\n    return args[0].clone()\n"),
    "sys-modules": ("replaces the test helpers in sys.modules by no-ops",
                    "import sys, types\nfake = types.ModuleType('reference_impl.grading.testing')\n"
                    "for name in ('assert_same_trajectory', 'assert_close', 'fixed_gradients', 'optimizer',\n"
                    "             'quadratic', 'stateless', 'with_buffer', 'with_state_dict', 'describe'):\n"
                    "    setattr(fake, name, lambda *a, **k: None)\n"
                    "sys.modules['reference_impl.grading.testing'] = fake\n"
                    "def {fn}(*args, **kwargs):\n    return args[0].clone()\n"),
    "kill-grader": ("kills its parent process (the grader)",
                    "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"),
    "gradebook-write": ("opens the course gradebook and deletes every grade",
                        "import sqlite3\ncon = sqlite3.connect({db!r})\ncon.execute('DELETE FROM grade')\n"
                        "con.commit()\n"),
}


def build(dest: Path, assignment: str, marker: Path, db_path: Path) -> list:
    """Write the corpus for ``assignment`` (its first notebook) into ``dest``; return the cases."""
    dest.mkdir(parents=True, exist_ok=True)
    notebook = pipeline.notebook_names(ROOT, assignment)[0]
    release = _release(assignment, notebook)
    solution = _solution(assignment, notebook)
    points = _points(assignment, notebook)
    full = sum(points.values())
    first_tests = _first_answer_tests(assignment, notebook)
    partial = full - sum(points[t] for t in first_tests)
    first_id = _answer_ids(release)[0]
    first_src = next(c.source for c in solution.cells
                     if c.metadata.get("nbgrader", {}).get("grade_id") == first_id)
    fn = first_src.split("def ", 1)[1].split("(", 1)[0]
    cases = []

    def write(student: str, nb, name: str = notebook, raw: bytes = None):
        path = dest / f"{student}_{name}"
        if raw is not None:
            path.write_bytes(raw)
        else:
            nbformat.write(nb, path)

    # --- honest submissions
    write("honest-full", solution)
    cases.append(Case("honest-full", "honest", "the solution's answers", full))
    broken = _with_first_answer(solution, first_src.replace("return ", "return 2 * (", 1).rstrip() + ")\n"
                                if "return " in first_src else first_src)
    write("honest-partial", broken)
    cases.append(Case("honest-partial", "honest", "first answer wrong, others right", partial))
    extras = copy.deepcopy(solution)
    extras.metadata["kernelspec"] = {"name": "python3-custom", "display_name": "Mine", "language": "python"}
    extras.cells.append(nbformat.v4.new_code_cell("scratch = 1 + 1"))
    dup_test = next(c for c in extras.cells if c.metadata.get("nbgrader", {}).get("grade"))
    extras.cells.append(copy.deepcopy(dup_test))   # a duplicated grade_id aborts plain nbgrader's whole run
    write("honest-extras", extras)
    cases.append(Case("honest-extras", "honest", "extra cells, wrong kernel name, a duplicated test cell", full,
                      flag="extra"))
    renamed = _with_first_answer(solution, first_src.replace(f"def {fn}(", f"def {fn}_v2(", 1))
    write("honest-renamed", renamed)
    cases.append(Case("honest-renamed", "honest", "renamed the first function", partial, flag="renamed"))
    (dest / f"dupe_attempt_2026-01-01-10-00-00_{notebook}").write_text(nbformat.writes(broken))
    (dest / f"dupe_attempt_2026-01-02-10-00-00_{notebook}").write_text(nbformat.writes(solution))
    cases.append(Case("dupe", "honest", "two attempts; the later one is graded", full, flag="latest"))
    write("release", release)
    cases.append(Case("release", "honest", "the untouched release", 0.0))

    # --- hostile answers in the first answer cell, other answers left as released
    for name, (why, source) in HOSTILE_ANSWERS.items():
        student = f"h-{name}"
        code = source.format(fn=fn, marker=str(marker), db=str(db_path))
        write(student, _with_first_answer(release, code))
        cases.append(Case(student, "hostile", why))
    # a limit hit scores 0 even with correct answers
    write("h-big-print-correct", _with_first_answer(solution, first_src + "\nprint('y' * 10_000_000)\n"))
    cases.append(Case("h-big-print-correct", "hostile", "correct answers, but a 10 MB print", flag="output"))

    # --- broken files and edited structure
    text = nbformat.writes(release)
    write("h-corrupted-json", None, raw=text[: len(text) // 2].encode())
    cases.append(Case("h-corrupted-json", "hostile", "corrupted JSON", flag="JSON"))
    write("h-empty-file", None, raw=b"")
    cases.append(Case("h-empty-file", "hostile", "an empty file", flag="empty"))
    write("h-not-notebook", None, name=notebook.replace(".ipynb", ".py"), raw=first_src.encode())
    cases.append(Case("h-not-notebook", "hostile", "a .py file instead of the notebook", flag="not a notebook"))
    edited = copy.deepcopy(release)
    for cell in edited.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            cell.source = "pass"
            meta["points"] = 100
    write("h-edited-tests", edited)
    cases.append(Case("h-edited-tests", "hostile", "test cells replaced by pass, points set to 100",
                      flag="restored"))
    deleted = copy.deepcopy(release)
    deleted.cells = [c for c in deleted.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    write("h-deleted-tests", deleted)
    cases.append(Case("h-deleted-tests", "hostile", "every test cell deleted", flag="restored"))
    stripped = copy.deepcopy(release)
    for cell in stripped.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            del cell.metadata["nbgrader"]
    write("h-stripped-metadata", stripped)
    cases.append(Case("h-stripped-metadata", "hostile", "nbgrader metadata removed from the test cells",
                      flag="restored"))
    return cases


def dump(cases: list) -> str:
    return json.dumps([c.__dict__ for c in cases], indent=1)
