"""Throughput of the instructors' grading command (``make grade``): seconds per notebook for N students.

    python benchmarks/bench_grading.py [--n 10 50] [--assignment 02-gradient-descent] [--no-sandbox]

Builds N synthetic submissions of one assignment (a folder per student: every third student gets
the first answer wrong, the others submit the solution), grades them with :func:`course_grading.grade.grade`
(each notebook in its own bubblewrap worker, the tests in the judge, nbgrader's gradebook and feedback) into a
temporary gradebook, checks that every student got exactly the expected score (no lost or duplicated grade), and
prints wall-clock and CPU seconds per notebook (this process, the workers and everything they started). Then it times
``make check`` on the assignment's solution notebooks as a student runs it (a fresh ``python -m course_grading check``
process each time, bubblewrap included: the wall clock from start to exit, best and median of ``--check-runs``). A benchmark, not
a test: the wall-clock figures depend on what else runs on the machine (the load average is printed with them);
CPU seconds per notebook divided by the number of cores is what an otherwise idle machine would take.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hostile import corpus  # noqa: E402  (release/solution builders shared with the hostile corpus)

import _pipeline as pipeline  # noqa: E402
from course_grading.grade import grade  # noqa: E402
from course_grading.isolation import cgroups, sandbox  # noqa: E402


def synthetic(dest: Path, assignment: str, n: int) -> dict:
    """Write ``n`` submissions into ``dest``; return student -> expected total."""
    dest.mkdir(parents=True)
    notebook = pipeline.notebook_names(ROOT, assignment)[0]
    solution = pipeline.student_notebook(ROOT, assignment, notebook)
    points = corpus._points(assignment, notebook)
    full = sum(points.values())
    partial = full - sum(points[t] for t in corpus._first_answer_tests(assignment, notebook))
    first_id = corpus._answer_ids(solution)[0]
    first_src = next(c.source for c in solution.cells if c.metadata.get("nbgrader", {}).get("grade_id") == first_id)
    broken = corpus._with_first_answer(solution, first_src.replace("return ", "return 2 * (", 1).rstrip() + ")\n")
    expected = {}
    for i in range(n):
        student = f"s{i:03d}"
        wrong = i % 3 == 2
        (dest / student).mkdir()
        nbformat.write(broken if wrong else solution, dest / student / notebook)   # the "folders" layout
        expected[student] = partial if wrong else full
    return expected


def run(n: int, assignment: str, limits: sandbox.Limits, use_sandbox: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-grading-{n}-") as tmp:
        tmp = Path(tmp)
        expected = synthetic(tmp / "subs", assignment, n)
        start = time.perf_counter()
        cpu0 = _cpu()
        summary = grade(ROOT, assignment, tmp / "subs", out=tmp / "out", db_url="sqlite:///" + str(tmp / "gb.db"),
                        limits=limits, use_sandbox=use_sandbox, log=lambda *a: None)
        seconds = time.perf_counter() - start
        cpu = _cpu() - cpu0
        with open(tmp / "out" / assignment / "grades.csv", newline="") as f:
            got = {row["student_id"]: float(row["total"]) for row in csv.DictReader(f)}
        if got != expected:
            raise SystemExit(f"N={n}: wrong or missing grades: {sorted(set(got.items()) ^ set(expected.items()))}")
        notebooks = n * len(pipeline.notebook_names(ROOT, assignment))
        return {"n": n, "seconds": seconds, "per_notebook": seconds / notebooks, "cpu_per_notebook": cpu / notebooks,
                "summary": summary}


def check_wall(assignment: str, runs: int, use_sandbox: bool) -> dict:
    """Wall-clock seconds of ``python -m course_grading check`` on each solution notebook of ``assignment``."""
    out = {}
    for name in pipeline.notebook_names(ROOT, assignment):
        cmd = [sys.executable, "-m", "course_grading", "check", str(ROOT / "solutions" / assignment / name)]
        if not use_sandbox:
            cmd.append("--no-sandbox")
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise SystemExit(f"check failed on the solution {name}:\n{proc.stdout}{proc.stderr}")
        out[name] = times
    return out


def _cpu() -> float:
    """CPU seconds of this process (the judge, nbgrader), of its finished children (bubblewrap, nbgrader's helpers)
    and of the sandboxed workers (their processes live in their own PID namespace and are not reaped by this
    process: their time is read from /proc just before each worker ends)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
            + cgroups.workers_cpu_seconds())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--assignment", default="02-gradient-descent")
    parser.add_argument("--no-sandbox", action="store_true", help="grade without bubblewrap (compare its cost)")
    parser.add_argument("--check-runs", type=int, default=3, help="runs of make check per notebook (0: skip)")
    args = parser.parse_args(argv)
    limits = sandbox.Limits()
    use_sandbox = not args.no_sandbox
    if use_sandbox and sandbox.probe():
        raise SystemExit(f"{sandbox.probe()}; run with --no-sandbox to measure without it")
    print(f"assignment {args.assignment}, {'bubblewrap' if use_sandbox else 'NO sandbox'}, {os.cpu_count()} CPU(s), "
          f"load average before: {os.getloadavg()[0]:.1f}")
    rows = []
    for n in args.n:
        r = run(n, args.assignment, limits, use_sandbox)
        rows.append(r)
        print(f"N={n:3d}: {r['seconds']:7.1f} s total, {r['per_notebook']:5.2f} s per notebook wall clock, "
              f"{r['cpu_per_notebook']:5.2f} CPU s per notebook (every grade exact; load average now "
              f"{os.getloadavg()[0]:.1f})", flush=True)
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(f"growth: {b['seconds'] / a['seconds']:.2f}x time for {b['n'] / a['n']:.1f}x students")
    if args.check_runs > 0:
        for name, times in check_wall(args.assignment, args.check_runs, use_sandbox).items():
            print(f"make check {args.assignment}/{name}: best {min(times):.2f} s, median "
                  f"{statistics.median(times):.2f} s wall clock over {len(times)} runs (load average now "
                  f"{os.getloadavg()[0]:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
