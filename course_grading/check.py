"""``make check``: a student's notebook through the grader's rule, worker and judge, with the released tests.

The messages are the grader's own words. bubblewrap is used when it works; otherwise the notebook runs without it
(it is the student's own code on the student's own machine) and one line says so.
"""

from __future__ import annotations

from pathlib import Path

from . import judge
from .results import NoteKind


def _spec_for(root: Path, notebook: Path):
    from .course import read_spec

    """The released test cells of ``notebook``: from ``solutions/<assignment>/<name>``, hidden tests removed."""
    assignment = notebook.resolve().parent.name
    source = Path(root) / "solutions" / assignment / notebook.name
    if source.is_file():
        return read_spec(source, hidden=False)
    return read_spec(notebook, hidden=False)   # a student's copy without solutions/: its own (released) cells


def check_notebooks(root: Path, notebooks: list, limits: judge.Limits, *, use_sandbox: bool = True,
                    out=print) -> int:
    problem = judge.probe() if use_sandbox else None
    if problem:
        out(f"note: running without a sandbox ({problem}); grading will use one.")
        use_sandbox = False
    status = 0
    for path in notebooks:
        path = Path(path)
        # the worker first: it imports torch in the sandbox while this process imports torch (the judge's channel),
        # then reads the notebook (as JSON: nbformat takes seconds to import) and the tests
        worker = judge.start_worker(limits, use_sandbox=use_sandbox, folder=path.resolve().parent)
        from .course import read_notebook

        try:
            nb = read_notebook(path)
        except Exception as err:  # noqa: BLE001
            worker.stop("not a readable notebook")
            out(f"{path}: not a readable notebook ({type(err).__name__})")
            status = 1
            continue
        spec = _spec_for(root, path)
        res = judge.judge_notebook(spec, nb, limits, use_sandbox=use_sandbox, hidden=False, worker=worker)
        for note in res.notes:
            out(f"{path}: {note}")
        failed = 0
        for v in res.verdicts:
            if v.hidden_only:
                out(f"  hidden  {v.grade_id} ({v.points:g} points): run when graded")
            elif v.passed:
                out(f"  passed  {v.grade_id} ({v.points:g} points)")
            else:
                failed += 1
                # the message's lines, the diagnosis (a known mistake the failure matches) on its own line
                first, *rest = v.message.splitlines() or [""]
                out(f"  FAILED  {v.grade_id} ({v.points:g} points): {first}")
                for line in rest:
                    out(f"          {line}")
        for gid, points in spec.written.items():
            out(f"  by hand {gid} ({points:g} point{'s' if points != 1 else ''}): a written answer, graded by the "
                "instructor")
        if failed or any(n.kind is NoteKind.POLICY_VIOLATION for n in res.notes):
            status = 1
            out(f"{path}: {failed} test cell(s) failed.")
        else:
            out(f"{path}: every released test passed.")
    return status
