"""Answers that are alike: every pair of students, and each student against the published solutions.

``python -m course_grading similarity ASSIGNMENT SUBMISSIONS [--out DIR] [--threshold T]`` reads the class with the
course's intake, writes ``DIR/ASSIGNMENT/similarity.json`` and renders its section into ``report.html`` there
(``report.similarity_section``, which the class report renders whenever it is written, so a later ``grade``
run keeps it).

What is compared: for each student, the code the worker runs from their notebook (``course._runnable``: the answer
cells and any code cell the student added), without the instructor's locked cells, tests and written answers, as one
Python document per student. The published solution is the same document made from ``solutions/ASSIGNMENT``.

How: copydetect's fingerprints (:class:`copydetect.CodeFingerprint`, :func:`copydetect.compare_files`; the winnowing
of Schleimer, Wilkerson and Aiken 2003). copydetect tokenises with Pygments and replaces every name by one letter, so
renaming variables or functions, reformatting and comments change nothing. A pair is listed when the share of either
document's fingerprinted tokens that the other one also has reaches ``threshold`` (default :data:`THRESHOLD`) and the
matching stretch is at least :data:`MIN_TOKENS` filtered characters long.

What is not evidence, and is removed before comparing (copydetect's "boilerplate"):

* the release's answer cells (signature, docstring, ``raise NotImplementedError()``): every student starts there;
* between two students, also the solution's fingerprints (two students who both wrote the published answer are each
  flagged against the solution, not as a pair) and every fingerprint more than :data:`COMMON_SHARE` of the class
  wrote (the short update rule a whole class writes the same way, as MOSS's limit on how often a passage may occur).
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

from .report import SIMILARITY_FILE as FILE
from .report import SIMILARITY_SOLUTION as SOLUTION

THRESHOLD = 0.6       # share of a document's fingerprinted tokens found in the other
MIN_TOKENS = 40       # shortest total match (filtered characters) worth listing
COMMON_SHARE = 0.5    # a fingerprint in more than this share of the class is not evidence between two students
NOISE = 25            # copydetect's noise threshold: k-grams of this many filtered characters


def answer_code(nb, spec, *, keep_solution: bool = True) -> str:
    """The student's code the worker runs (answer cells, cells the student added), locked cells left out; with
    ``keep_solution=False`` (for a source notebook) without its solution regions."""
    from .course import _runnable, meta, without_markers

    parts = []
    for index, label, source in _runnable(nb, spec):
        gid = meta(nb.cells[index - 1]).get("grade_id")
        if gid and gid in spec.locked:
            continue
        code = without_markers(source, "SOLUTION", keep_inside=keep_solution).strip()
        parts.append(f"# {label}\n{code}\n")
    return "\n".join(parts)


def _fingerprint(code: str, boilerplate=None):
    import numpy as np
    from copydetect import CodeFingerprint

    return CodeFingerprint("answers.py", NOISE, 1, boilerplate=np.array(sorted(boilerplate or []), dtype=np.int64),
                           language="python", fp=io.StringIO(code))


def _lines(code: str, slices) -> list:
    """1-based numbers of the lines that hold matched characters (``slices``: copydetect's 2xN start/end array)."""
    starts = [0]
    for i, ch in enumerate(code):
        if ch == "\n":
            starts.append(i + 1)
    import bisect

    found = set()
    for a, b in zip(*slices, strict=True):
        first, last = bisect.bisect_right(starts, int(a)) - 1, bisect.bisect_right(starts, max(int(b) - 1, int(a))) - 1
        found.update(range(first + 1, last + 2))
    return sorted(found)


def compare(documents: dict, solution: str, template: str, *, threshold: float = THRESHOLD,
            common_share: float = COMMON_SHARE, min_tokens: int = MIN_TOKENS) -> dict:
    """``documents``: student -> code. Returns ``{"pairs": [...], "settings": {...}}``, pairs sorted by
    similarity, each ``{"a", "b", "similarity": [sa, sb], "tokens", "lines": [lines of a, lines of b]}``;
    ``b`` is :data:`SOLUTION` for a match with the published solution."""
    from copydetect import compare_files

    if not 0 < threshold <= 1:
        raise ValueError(f"threshold: expected a share in (0, 1], got {threshold!r}")
    base = set(_fingerprint(template, None).hashes) if template.strip() else set()
    # boilerplate hashes must be computed as copydetect computes them (window 1: every k-gram)
    students = sorted(documents)
    prints = {s: _fingerprint(documents[s], base) for s in students}
    sol = _fingerprint(solution, base)
    counts: dict = {}
    for s in students:
        for h in prints[s].hashes:
            counts[h] = counts.get(h, 0) + 1
    common = {h for h, n in counts.items() if len(students) >= 3 and n > common_share * len(students)}
    between = base | set(sol.hashes) | common
    pair_prints = {s: _fingerprint(documents[s], between) for s in students}
    pairs = []

    def consider(a, b, fa, fb, code_b):
        tokens, (sa, sb), slices = compare_files(fa, fb)
        if tokens >= min_tokens and max(sa, sb) >= threshold:
            pairs.append({"a": a, "b": b, "similarity": [round(float(sa), 3), round(float(sb), 3)],
                          "tokens": int(tokens), "lines": [_lines(documents[a], slices[0]),
                                                           _lines(code_b, slices[1])]})

    for i, a in enumerate(students):
        consider(a, SOLUTION, prints[a], sol, solution)
        for b in students[i + 1:]:
            consider(a, b, pair_prints[a], pair_prints[b], documents[b])
    pairs.sort(key=lambda p: (-max(p["similarity"]), p["a"], p["b"]))
    return {"pairs": pairs, "settings": {"threshold": threshold, "min_tokens": min_tokens, "noise": NOISE,
                                         "common_share": common_share, "students": len(students),
                                         "common_fingerprints": len(common)}}


def _solution_and_template(root: Path, assignment: str, specs: list) -> tuple:
    """The published solution's answer code, and the template every student starts from: the same cells with each
    ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region removed, as nbgrader's release removes it."""
    from .course import read_notebook

    solution, template = [], []
    for spec in specs:
        source = read_notebook(Path(root) / "solutions" / assignment / spec.name)
        solution.append(answer_code(source, spec))
        template.append(answer_code(source, spec, keep_solution=False))
    return "\n".join(solution), "\n".join(template)


def run(root: Path, assignment: str, submissions: Path, out: Path | None = None, *, layout: str | None = None,
        threshold: float = THRESHOLD, log=print) -> dict:
    """Compare the class in ``submissions``; write ``similarity.json`` (and the report's section) into
    ``out/ASSIGNMENT`` (default ``grades/``). Returns the result."""
    import re
    import shutil
    import tempfile

    from . import intake
    from .course import assignment_specs
    from .intake.notebook import read_notebook

    if not re.fullmatch(r"[A-Za-z0-9_\-]+", assignment or ""):
        raise ValueError(f"assignment: {assignment!r} is not an assignment name")
    specs = assignment_specs(root, assignment)
    scratch = Path(tempfile.mkdtemp(prefix="similarity-"))
    try:
        taken = intake.read_submissions(Path(submissions), assignment, [s.name for s in specs], scratch=scratch,
                                        layout=layout)
        documents, unread = {}, []
        for student, sub in sorted(taken.students.items()):
            parts = []
            for spec in specs:
                path = sub.notebooks.get(spec.name)
                nb, problem = read_notebook(path) if path else (None, None)
                if problem:
                    unread.append(f"{student}: {problem}")
                if nb is not None:
                    parts.append(answer_code(nb, spec))
            documents[student] = "\n".join(parts)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    solution, template = _solution_and_template(root, assignment, specs)
    result = compare(documents, solution, template, threshold=threshold)
    result.update(assignment=assignment, written_at=time.strftime("%Y-%m-%d %H:%M:%S %Z"), unread=unread,
                  documents={s: documents[s] for s in sorted({p["a"] for p in result["pairs"]}
                                                             | {p["b"] for p in result["pairs"]}) if s in documents},
                  solution=solution)
    folder = Path(out or Path(root) / "grades") / assignment
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (FILE + ".tmp")
    tmp.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, folder / FILE)
    _rewrite_report(folder, assignment, specs)
    for p in result["pairs"]:
        log(f"{p['a']} ~ {p['b']}: {max(p['similarity']):.0%} of the answer code ({p['tokens']} matching characters "
            f"after renaming)")
    log(f"{len(result['pairs'])} pair(s) at or above {threshold:.0%} among {len(documents)} students; "
        f"written to {folder / FILE} and the similarity section of {folder / 'report.html'}")
    return result


def _rewrite_report(folder: Path, assignment: str, specs: list) -> None:
    """report.html again, from records.jsonl when a grading run left one (else the report of an ungraded class)."""
    from . import report

    records = report.read_records(folder / "records.jsonl") if (folder / "records.jsonl").is_file() else []
    report.write_report(records, assignment, sum(s.max_score for s in specs), folder / "report.html")
