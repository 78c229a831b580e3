"""The cases of the hostile corpus (see ``tests/hostile/__init__.py``).

Every hostile answer goes into the assignment's FIRST answer cell; the other answer cells stay as released
(``raise NotImplementedError()``), so a hostile submission earns nothing unless its attack works. Several attacks
would earn full marks if they worked (they run the solution's code, which they try to steal from a file the worker
must not see), so a broken isolation shows up as points, not only as an exception.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import nbformat
import _pipeline as pipeline

from course_grading.authoring import answer_source

ROOT = Path(__file__).resolve().parents[2]
MARKERS = ("4242", "4243", "4244")   # sleep durations of the processes hostile cases leave behind


@dataclass
class Case:
    student: str
    kind: str                          # "honest" or "hostile"
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
    tests, inside = [], False
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            if inside:
                break
            inside = True
        elif inside and meta.get("grade"):
            tests.append(meta["grade_id"])
    return tests


def _solution_code(assignment: str, notebook: str) -> str:
    nb = nbformat.read(ROOT / "solutions" / assignment / notebook, as_version=4)
    return "\n\n".join(answer_source(c.source) for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))


def hostile_answers(fn: str, steal_from: str, other_student: str) -> dict:
    """student -> (why, source of the first answer cell). ``fn`` is the first answer's function name."""
    identity = f"def {fn}(param, *args, **kwargs):\n    return param\n"
    steal = ("import json\n"
             "def _steal(text):\n"
             "    nb = json.loads(text)\n"
             "    for cell in nb['cells']:\n"
             "        src = ''.join(cell['source'])\n"
             "        if 'def ' in src and 'BEGIN SOLUTION' in src or cell.get('metadata', {}).get('nbgrader', {})"
             ".get('solution'):\n"
             "            exec(src, globals())\n")
    return {
        "h-forged-stdout": ("prints forged pass lines and JSON results, implements nothing",
                            "import sys\nfor t in ['test_gd_step_visible', 'test_gd_step_hidden']:\n"
                            "    print(f'{t}: PASSED'); print('{\"score\": 11, \"max_score\": 11}')\n"
                            "sys.stdout.write('gd_step: visible tests passed\\n')\n" + identity),
        "h-runtime-names-frames": ("attribute names built at run time, frames and tracebacks to reach the tests",
                                   "import operator, sys, builtins\n"
                                   "getf = operator.attrgetter('_get' + 'frame')(sys)\n"
                                   "f = getf(0)\n"
                                   "while f is not None:\n"
                                   "    f.f_globals['assert_same_trajectory'] = lambda *a, **k: None\n"
                                   "    f = f.f_back\n"
                                   "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n"
                                   "    tb = e.__traceback__\n    tb.tb_frame.f_globals['AssertionError'] = None\n"
                                   "setattr(builtins, 'Assertion' + 'Error', type('A', (Exception,), {}))\n"
                                   + identity),
        "h-patch-torch": ("patches torch and the test helpers through module dicts",
                          "import sys, importlib\n"
                          "t = sys.modules['torch']\n"
                          "for name in ['allclose', 'equal', 'isclose']:\n"
                          "    t.__dict__[name] = (lambda *a, **k: True)\n"
                          "try:\n"
                          "    m = importlib.import_module('reference_' + 'impl.testing')\n"
                          "    m.__dict__['assert_same_trajectory'] = lambda *a, **k: None\n"
                          "except ImportError:\n    pass\n" + identity),
        "h-ipython-hooks": ("registers IPython hooks and a sys.excepthook",
                            "import sys\nsys.excepthook = lambda *a: None\n"
                            "try:\n    ip = get_ipython()\n    ip.events.register('post_run_cell', lambda r: None)\n"
                            "    ip.set_custom_exc((Exception,), lambda *a, **k: None)\nexcept NameError:\n    pass\n"
                            + identity),
        "h-from-file": ("reads the solution notebook through torch.from_file (a native read)",
                        "import torch\n" + steal +
                        f"try:\n    raw = torch.from_file({steal_from!r}, size=2_000_000, dtype=torch.uint8)\n"
                        "    _steal(bytes(raw.tolist()).split(b'\\x00')[0].decode())\nexcept Exception:\n    pass\n"
                        f"if '{fn}' not in globals():\n" + "\n".join("    " + line for line in identity.splitlines())),
        "h-other-student": ("reads another student's submission and runs its answers",
                            steal + f"try:\n    _steal(open({other_student!r}).read())\nexcept Exception:\n    pass\n"
                            f"if '{fn}' not in globals():\n"
                            + "\n".join("    " + line for line in identity.splitlines())),
        "h-network": ("opens network connections (loopback and outside)",
                      "import socket, urllib.request\n"
                      "for addr in [('127.0.0.1', 22), ('1.1.1.1', 80)]:\n"
                      "    try:\n        socket.create_connection(addr, timeout=2).close()\n"
                      "        raise SystemExit('connected')\n    except OSError:\n        pass\n" + identity),
        "h-leftovers": ("leaves processes and threads running",
                        "import subprocess, threading, time, os\n"
                        "subprocess.Popen(['sleep', '4242'], start_new_session=True)\n"
                        "if os.fork() == 0:\n    os.setsid()\n    os.execvp('sleep', ['sleep', '4243'])\n"
                        "threading.Thread(target=time.sleep, args=(4000,)).start()\n" + identity),
        "h-fork-storm": ("forks 200 sleeping processes (bounded, to spare the shared machine)",
                         "import os\nfor _ in range(200):\n    try:\n        if os.fork() == 0:\n"
                         "            os.execvp('sleep', ['sleep', '4244'])\n    except OSError:\n        break\n"
                         + identity),
        "h-memory-bomb": ("allocates far more memory than allowed",
                          "import torch\nblocks = []\nwhile True:\n    blocks.append(torch.empty(1 << 28))\n"
                          + identity),
        "h-sleep": ("sleeps at the top level of its cell", "import time\ntime.sleep(1000)\n" + identity),
        "h-loop": ("its function never returns", f"def {fn}(param, *args, **kwargs):\n    while True:\n"
                   "        pass\n"),
        "h-huge-output": ("returns an 80 MB tensor (over the 64 MB reply cap)",
                          f"import torch\ndef {fn}(param, *args, **kwargs):\n    return torch.zeros(20_000_000)\n"),
        "h-protocol-forgery": ("writes forged replies on every open file descriptor",
                               "import os\n"
                               f"def {fn}(param, *args, **kwargs):\n"
                               "    frame = (9).to_bytes(8, 'little') + b'r' + b'U' + (2).to_bytes(4, 'little') + "
                               "b'L' + bytes(4) + b'T'\n"
                               "    for fd in range(3, 64):\n"
                               "        try:\n            os.write(fd, frame)\n        except OSError:\n"
                               "            pass\n    return param\n"),
        "h-reference-impl": ("imports the reference implementation (a policy violation)",
                             "from reference_impl.optim import SGD\n" + identity),
        "h-exit": ("exits the worker from the first call", "import os\n"
                   f"def {fn}(param, *args, **kwargs):\n    os._exit(0)\n"),
    }


def build(dest: Path, assignment: str) -> list:
    """Write the class (a folder per student) into ``dest``; return its :class:`Case` list."""
    notebook = pipeline.notebook_names(ROOT, assignment)[0]
    release, solution = _release(assignment, notebook), _solution(assignment, notebook)
    points = _points(assignment, notebook)
    full = sum(points.values())
    partial = full - sum(points[t] for t in _first_answer_tests(assignment, notebook))
    first_id = _answer_ids(solution)[0]
    first_src = next(c.source for c in solution.cells if c.metadata.get("nbgrader", {}).get("grade_id") == first_id)
    fn = first_src.split("def ", 1)[1].split("(", 1)[0]
    cases = []

    def write(student: str, nb) -> Path:
        (dest / student).mkdir(parents=True, exist_ok=True)
        path = dest / student / notebook
        nbformat.write(nb, path)
        return path

    honest_path = write("honest-full", solution)
    cases.append(Case("honest-full", "honest", "the solution's answers", full))
    helpers = copy.deepcopy(solution)
    index = next(i for i, c in enumerate(helpers.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == first_id)
    helpers.cells.insert(index, nbformat.v4.new_code_cell("def _scaled(lr, grad):\n    return lr * grad\n"))
    helpers.cells[index + 1].source = (f"import scipy\nmax = 3\n\ndef {fn}(param, grad, lr):\n"
                                       "    return param - _scaled(lr, grad)\n")
    write("honest-helpers", helpers)
    cases.append(Case("honest-helpers", "honest", "a helper in an extra cell, an unused import scipy, a variable "
                      "named max", full))
    wrong = _with_first_answer(solution, first_src.replace("return ", "return 2 * (", 1).rstrip() + ")\n")
    write("honest-partial", wrong)
    cases.append(Case("honest-partial", "honest", "first answer wrong, others right", partial))
    write("release", release)
    cases.append(Case("release", "honest", "the untouched release", 0.0))
    steal_from = str(ROOT / "solutions" / assignment / notebook)
    for student, (why, source) in hostile_answers(fn, steal_from, str(honest_path)).items():
        write(student, _with_first_answer(release, source))
        cases.append(Case(student, "hostile", why, flag="policy violation" if student == "h-reference-impl" else None))
    return cases
