"""Grade the attacks that found the grading boundary's gaps, each followed by an honest student; print a table.

    .venv/bin/python benchmarks/attack_class.py [--secret FILE] [--out DIR]

For each attack: the assignment, the attacker's score, the blank release's score, and the score of the honest
student graded right after it (who must get every autograded point). The permanent checks of the same attacks are
tests (tests/test_grading_boundary.py, tests/test_grading_wire.py, tests/test_intake.py); this script prints the
numbers of one run, for a report. It needs bubblewrap, like ``make grade``.
"""

from __future__ import annotations

import argparse
import copy
import csv
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))   # the nbgrader test kit (tests/_pipeline.py)

import _pipeline as pipeline  # noqa: E402
from course_grading import course  # noqa: E402
from course_grading.grade import grade  # noqa: E402
from course_grading.isolation import sandbox  # noqa: E402

NOTEBOOK = {"02-gradient-descent": "gradient_descent.ipynb", "03-momentum": "momentum.ipynb",
            "06-adam-adamw": "adam_adamw.ipynb", "09-schedules": "schedules.ipynb"}

IDENTITY = "def {fn}(*args, **kwargs):\n    return args[0] if args else None\n"
ATTACKS = [
    # (name, assignment, first answer cell's new source, extra last cell)
    ("def dict() forging {'lr': 0.0}; answers return param", "06-adam-adamw",
     "def dict(*a, **k):\n    return {'lr': 0.0}\n" + IDENTITY.format(fn="adam_step") + IDENTITY.format(fn="adamw_step"),
     None),
    ("def range() returning []; a look-ahead that does nothing", "03-momentum",
     "def range(*a, **k):\n    return []\n" + "".join(IDENTITY.format(fn=f) for f in (
         "heavy_ball_velocity_step", "ema_momentum_step", "nesterov_step", "nesterov_lookahead_step")), None),
    ("range/enumerate/sorted -> [], every function 0.0", "09-schedules",
     "def range(*a, **k):\n    return []\nenumerate = sorted = range\n" + "".join(
         f"def {f}(*a, **k):\n    return 0.0\n" for f in ("step_decay", "cosine_annealing", "cosine_warm_restarts",
                                                         "linear_warmup", "join", "one_cycle", "reduce_on_plateau",
                                                         "wsd")), None),
    ("list/len/enumerate/zip redefined, no real code", "02-gradient-descent",
     "def list(*a, **k):\n    return []\ndef len(*a):\n    return 0\ndef enumerate(*a):\n    return []\n"
     "def zip(*a):\n    return []\n" + "".join(IDENTITY.format(fn=f) for f in ("gd_step", "minibatches",
                                                                         "sgd_momentum_step")), None),
    ("torch.optim through an alias (import torch as th)", "06-adam-adamw",
     "import torch as th\ndef adam_step(param, grad, state, lr=1e-3, **kw):\n"
     "    if 'opt' not in state:\n        state['w'] = th.nn.Parameter(param.clone())\n"
     "        state['opt'] = th.optim.Adam([state['w']], lr=lr, **kw)\n"
     "    state['w'].grad = grad.clone()\n    state['opt'].step()\n    return state['w'].detach().clone()\n", None),
    ("torch.optim behind a %time line", "03-momentum",
     "%time x = 1\nimport torch as th\nSGD = th.optim.SGD\n" + IDENTITY.format(fn="heavy_ball_velocity_step"), None),
    ("a callback loop far past the budget", "02-gradient-descent",
     "def gd_step(param, grad, lr):\n    import time\n    end = time.time() + 70\n    while time.time() < end:\n"
     "        pass\n    return param\n", None),
    ("param.set_(1000 float64); return [param] * 20000", "02-gradient-descent",
     "import torch\ndef gd_step(param, grad, lr):\n    param.set_(torch.randn(1000, dtype=torch.float64))\n"
     "    return [param] * 20000\n", None),
    ("1 GB into /dev/shm and /tmp", "02-gradient-descent",
     "for d in ('/dev/shm', '/tmp'):\n    for i in range(8):\n        try:\n"
     "            open(f'{d}/f{i}', 'wb').write(b'x' * (60 << 20))\n        except OSError:\n            break\n"
     + IDENTITY.format(fn="gd_step"), None),
    ("hidden inputs written into an exception's class name", "02-gradient-descent",
     "def gd_step(param, grad, lr):\n    raise type(f'LEAK lr={lr} g0={grad.tolist()[:3]}', (Exception,), {})()\n",
     None),
]


def _set_first_answer(nb, source):
    nb = copy.deepcopy(nb)
    answers = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    answers[0].source = source
    return nb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--secret", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    problem = sandbox.probe()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    secret = args.secret.read_bytes().strip() if args.secret else None
    work = Path(args.out or tempfile.mkdtemp(prefix="attack-class-"))
    rows_out = []
    for assignment in sorted({a for _, a, _, _ in ATTACKS} | {"09-schedules"}):
        name = NOTEBOOK[assignment]
        release = nbformat.read(ROOT / "exercises" / assignment / name, as_version=4)
        honest = pipeline.student_notebook(ROOT, assignment, name)
        auto = sum(t.points for t in course.read_spec(ROOT / "solutions" / assignment / name).tests)
        subs = work / assignment / "class"
        students = {"000-blank": (release, "the blank release")}
        for i, (why, a, source, last) in enumerate(ATTACKS):
            if a != assignment:
                continue
            nb = _set_first_answer(release, source)
            if last:
                nb.cells.append(nbformat.v4.new_code_cell(last))
            students[f"{i:02d}a-attack"] = (nb, why)
            students[f"{i:02d}b-honest"] = (honest, "honest, right after it")
        if assignment == "09-schedules":
            star = copy.deepcopy(honest)
            star.cells.append(nbformat.v4.new_code_cell("from numpy import *\n"))
            students["90-star"] = (star, "honest + a later `from numpy import *`")
        if assignment == "02-gradient-descent":
            old = copy.deepcopy(honest)
            old.nbformat_minor = 4
            students["91-minor4"] = (old, "honest, saved as format 4.4 with cell ids")
            big = copy.deepcopy(honest)
            big.cells.append(nbformat.v4.new_markdown_cell("x" * 19_500_000))
            students["92a-attack"] = (big, "a 19.5 MB markdown cell")
            students["92b-honest"] = (honest, "honest, right after it")
        for student, (nb, _) in students.items():
            (subs / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, subs / student / name)
        start = time.perf_counter()
        grade(ROOT, assignment, subs, out=work / assignment / "out", db_url=f"sqlite:///{work / assignment}/gb.db",
              layout="folders", feedback_pages=False, secret=secret, log=lambda *_: None)
        seconds = time.perf_counter() - start
        with open(work / assignment / "out" / assignment / "grades.csv", newline="") as f:
            rows = {r["student_id"]: r for r in csv.DictReader(f)}
        written = float(rows["000-blank"]["max_score"]) - auto
        for student, (_, why) in students.items():
            row = rows[student]
            score = float(row["total"])
            rows_out.append((assignment, student, why, score, auto, row["status"], row["reasons"][:150]))
        print(f"{assignment}: {len(students)} students graded in {seconds:.1f} s (written answers: {written:g} pt)",
              file=sys.stderr)
    width = max(len(r[2]) for r in rows_out)
    print(f"{'assignment':<20} {'student':<12} {'what':<{width}} {'score':>7} {'of':>4}  status / first reason")
    for assignment, student, why, score, auto, status, reasons in rows_out:
        print(f"{assignment:<20} {student:<12} {why:<{width}} {score:>7g} {auto:>4g}  {status}: {reasons[:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
