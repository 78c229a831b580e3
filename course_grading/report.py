"""What leaves the grader besides nbgrader's record: the grade table, per-student records, a Canvas import CSV and a
class report, all written by :func:`write_class` (for ``grade``, ``merge`` and ``remove`` alike).

``grades.csv``
    One :class:`~course_grading.results.Row` a student: the notebooks' scores, the total and where it comes from.
``class.json``
    The assignment, the submissions' layout, the maximum and the notebooks (``remove`` and ``release`` read it).
``records.jsonl``
    One JSON object per graded student: the grade-table row and every test cell's verdict (notebook, grade id,
    points, passed, the message the student saw). The class report and the shard merge read only this file.
``canvas.csv``
    The grades in the form Canvas's gradebook import takes. Canvas's gradebook export (and so its import) starts
    with the columns ``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per
    assignment; the import needs one of Student name / ID / SIS User ID to find the student, plus the SIS Login ID
    and Section columns, and an assignment column whose name is new creates a new assignment (Canvas's guide
    "How do I import grades in the Gradebook?", as summarised by Ohio State's "Import a CSV file to Carmen Grades",
    teaching.resources.osu.edu). When intake read a Canvas export, the student id *is* the Canvas user id, so it
    goes in ``ID`` and Canvas matches on it. Other layouts have no Canvas id: the student id goes in
    ``SIS Login ID`` (a folder or nbgrader id is usually the login) and ``ID`` stays empty, so check the match
    on Canvas's import preview. The assignment column is named after the assignment; rename it to the Canvas
    column (``Name (id)``) to update an existing assignment instead of creating one.
``report.html``
    One self-contained page (no script, no external file; the histogram is inline SVG; values from submissions
    escaped, and a Content-Security-Policy that refuses scripts, frames and requests): the distribution of
    totals, and for every test cell the share of graded students who failed it and the most common message they
    saw (the message's first line, so "which idea the class missed" is not split by a number in a second line).
"""

from __future__ import annotations

import csv
import html
import json
import os
from collections import Counter
from pathlib import Path

from .results import ClassInfo, Row, Status, StudentRecord


def write_class(out_a: Path, info: ClassInfo, records: list, *, export_pending: bool = False,
                ignored: int = 0) -> None:
    """Every output of a graded class besides nbgrader's record, in ``out_a``: grades.csv, class.json,
    records.jsonl, canvas.csv and report.html, from the class's :class:`StudentRecord` list (in the order of the
    rows). The one writer: ``grade``, ``merge`` and ``remove`` all call it."""
    records = list(records)
    rows = [r.row for r in records]
    write_csv(rows, out_a / "grades.csv", info.notebooks)
    _replace(out_a / "class.json", json.dumps(info.to_json()))
    write_records(records, out_a / "records.jsonl")
    write_canvas_csv(rows, info.assignment, info.layout, out_a / "canvas.csv", info.max_score, export_pending)
    write_report(records, info.assignment, info.max_score, out_a / "report.html", ignored)


def read_class(out_a: Path, assignment: str) -> tuple:
    """``(ClassInfo, records)`` of the outputs :func:`write_class` left in ``out_a``; ``None`` when it holds none."""
    if not (out_a / "records.jsonl").is_file() or not (out_a / "class.json").is_file():
        return None
    info = ClassInfo.from_json(json.loads((out_a / "class.json").read_text(encoding="utf-8")), assignment)
    return info, read_records(out_a / "records.jsonl")


def _replace(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_csv(rows: list, path: Path, notebooks: list) -> None:
    """grades.csv: one :class:`Row` a line, the notebooks' scores then :attr:`Row.COLUMNS`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["student_id", *notebooks, *Row.COLUMNS], extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:g}" if isinstance(v, float) else v) for k, v in row.cells().items()})
    os.replace(tmp, path)


CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def write_records(records: list, path: Path) -> None:
    _replace(path, "".join(json.dumps(rec.to_json(), ensure_ascii=False, sort_keys=True) + "\n" for rec in records))


def read_records(path: Path) -> list:
    """The :class:`StudentRecord` list of a records.jsonl."""
    with open(path, encoding="utf-8") as f:
        return [StudentRecord.from_json(json.loads(line)) for line in f if line.strip()]


def write_canvas_csv(rows: list, assignment: str, layout: str, path: Path, max_score: float | None = None,
                     export_pending: bool = False) -> None:
    """``rows``: grade-table rows (:class:`Row`). See the module docstring for the columns. The second
    row is Canvas's ``Points Possible`` row (the assignment's maximum). A student whose grade is not final (a written
    answer pending manual grading, a submission to review, a grade the grader could not compute) is exported with
    an empty score, so Canvas keeps whatever it had, unless ``export_pending``."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([*CANVAS_COLUMNS, assignment])
        writer.writerow(["Points Possible", "", "", "", "", f"{float(max_score):g}" if max_score is not None else ""])
        for row in rows:
            sid, total = row.student_id, row.total
            canvas_id = sid if layout == "canvas" else ""
            login = "" if layout == "canvas" else sid
            final = row.status.final or export_pending
            score = f"{float(total):g}" if final and total not in ("", None) else ""
            writer.writerow([row.name or sid, canvas_id, "", login, row.section, score])
    os.replace(tmp, path)


def cell_failures(records: list) -> list:
    """For each test cell (in notebook order): ``(notebook, grade_id, points, failed, graded, message, count)``.

    ``graded``: students with verdicts (a student the grader could not grade has none and is not counted);
    ``message``/``count``: the most common first line of the failure messages and how many students saw it
    (ties: the alphabetically first message).
    """
    order, stats = [], {}
    for rec in records:
        for v in rec.verdicts:
            key = (v.notebook, v.grade_id)
            if key not in stats:
                order.append(key)
                stats[key] = {"points": v.points, "graded": 0, "messages": Counter()}
            stats[key]["graded"] += 1
            if not v.passed:
                stats[key]["messages"][message_form(v.message or "failed")] += 1
    out = []
    for key in order:
        s = stats[key]
        failed = sum(s["messages"].values())
        message, count = min(s["messages"].items(), key=lambda kv: (-kv[1], kv[0])) if failed else ("", 0)
        out.append((*key, s["points"], failed, s["graded"], message, count))
    return out


def message_form(message: str) -> str:
    """A message's first line with its numbers masked (``#``), so that students told the same thing about
    different values are counted together: "at step #, expected #, got #"."""
    import re

    line = message.splitlines()[0][:300] if message else ""
    return re.sub(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", "#", line)


def mistake_counts(records: list) -> list:
    """``[(notebook, grade_id, mistake, what it is, students)]``, most students first: the catalogued mistakes the
    grader recognised in failed tests (``diagnosis``), each student counted once per test cell. "What it is" is the
    catalogue's own sentence, read from the line the feedback showed."""
    counts, said = Counter(), {}
    for rec in records:
        for v in rec.verdicts:
            name = v.diagnosis
            if name and not v.passed:
                key = (v.notebook, v.grade_id, name)
                counts[key] += 1
                line = next((ln for ln in (v.message or "").splitlines() if "known mistake" in ln), "")
                said.setdefault(key, line.split("known mistake", 1)[-1].lstrip(", ").split(". See ")[0][:300])
    return [(*key, said[key], n) for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def histogram(totals: list, max_score: float) -> list:
    """``[(low, high, count)]``. Up to 30 points: one bin per whole score ``[k, k+1)`` for k = 0..max (a half
    point counts with the whole score below it, full marks have their own bin); above, 20 equal bins over
    ``[0, max]``, the last one closed."""
    top = max(max_score, max(totals, default=0.0), 1.0)
    if top <= 30:
        n_bins, width = int(top) + 1, 1.0
    else:
        n_bins, width = 20, top / 20
    counts = [0] * n_bins
    for t in totals:
        counts[min(int(t / width), n_bins - 1)] += 1
    return [(i * width, (i + 1) * width, c) for i, c in enumerate(counts)]


def _svg(bins: list) -> str:
    w, h, pad = 640, 220, 30
    peak = max((c for _, _, c in bins), default=0) or 1
    bw = (w - 2 * pad) / len(bins)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 40}" role="img" '
             f'aria-label="distribution of totals">']
    for i, (low, high, count) in enumerate(bins):
        bh = (h - pad) * count / peak
        x = pad + i * bw
        parts.append(f'<rect x="{x:.1f}" y="{h - bh:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" fill="#4a78a8">'
                     f'<title>{low:g}-{high:g}: {count}</title></rect>')
        if count:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{h - bh - 4:.1f}" font-size="11" '
                         f'text-anchor="middle">{count}</text>')
        parts.append(f'<text x="{x + bw / 2:.1f}" y="{h + 16}" font-size="10" text-anchor="middle">{low:g}</text>')
    parts.append(f'<line x1="{pad}" y1="{h}" x2="{w - pad}" y2="{h}" stroke="#333"/></svg>')
    return "".join(parts)


# report.html runs no script and loads nothing: every value from a submission (messages are the students' words)
# is escaped, and the browser is told to refuse scripts, frames and requests anyway (inline styles and the inline
# SVG stay allowed)
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def write_report(records: list, assignment: str, max_score: float, path: Path, ignored: int = 0) -> None:
    """The class report (see the module docstring). Numbers are also in ``data-*`` attributes for tools."""
    e = html.escape
    totals = [float(r.row.total or 0) for r in records]
    graded = [r for r in records if r.row.status != Status.FAILED]
    status = Counter(r.row.status for r in records)
    late = sum(r.row.late == "yes" for r in records)
    bins = histogram(totals, max_score)
    mean = sum(totals) / len(totals) if totals else 0.0
    rows = []
    for nb, gid, points, failed, n, message, count in cell_failures(graded):
        share = failed / n if n else 0.0
        rows.append(f'<tr data-cell="{e(gid)}" data-failed="{failed}" data-graded="{n}" '
                    f'data-message-count="{count}"><td>{e(nb)}</td><td>{e(gid)}</td><td>{points:g}</td>'
                    f'<td>{failed} / {n} ({share:.0%})</td><td>{e(message)}</td><td>{count or ""}</td></tr>')
    mistakes = "".join(f'<tr data-mistake="{e(name)}" data-cell="{e(gid)}" data-students="{n}"><td>{e(nb)}</td>'
                       f'<td>{e(gid)}</td><td>{e(what)}</td><td>{n}</td></tr>'
                       for nb, gid, name, what, n in mistake_counts(graded))
    mistakes = (f"<table><tr><th>notebook</th><th>test cell</th><th>mistake</th><th>students</th></tr>{mistakes}"
                "</table>") if mistakes else "<p>None recognised.</p>"
    bin_rows = "".join(f'<tr data-bin-low="{lo:g}" data-bin-high="{hi:g}" data-count="{c}"><td>{lo:g}</td>'
                       f'<td>{hi:g}</td><td>{c}</td></tr>' for lo, hi, c in bins)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>{e(assignment)}: class report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}}</style></head><body>
<h1>{e(assignment)}: class report</h1>
<p data-students="{len(records)}" data-failed-students="{len(records) - len(graded)}">{len(records)} students,
mean {mean:.2f} / {max_score:g}; {len(records) - len(graded)} could not be graded (counted as 0 in the
distribution, left out of the test table).</p>
<p data-pending="{status[Status.PENDING]}" data-late="{late}" data-flagged="{status[Status.FLAGGED]}"
data-needs-review="{status[Status.NEEDS_REVIEW]}" data-unreadable="{status[Status.UNREADABLE]}"
data-ignored="{ignored}">{status[Status.PENDING]} pending manual grading, {status[Status.NEEDS_REVIEW]}
to review (changed after your grade), {late} late, {status[Status.FLAGGED]} flagged (rule), {status[Status.UNREADABLE]}
with an unreadable notebook, {ignored} submitted file(s) ignored (see the grading log).</p>
<h2>Distribution of totals</h2>
{_svg(bins)}
<details><summary>as a table</summary><table><tr><th>from</th><th>to (excl.)</th><th>students</th></tr>
{bin_rows}</table></details>
<h2>Known mistakes the class made</h2>
<p>Failed tests whose results match a mistake of the course's catalogue (scripts/mistakes), as the feedback named
it; each student counted once per test cell.</p>
{mistakes}
<h2>Test cells, in notebook order</h2>
<p>Failed: students whose notebook failed the cell (a notebook not submitted fails every cell). The message is the
most common first line of what those students were told, numbers masked (#), so the same mistake counts once.</p>
<table><tr><th>notebook</th><th>test cell</th><th>points</th><th>failed</th><th>most common message</th>
<th>students with it</th></tr>
{"".join(rows)}</table>
{similarity_section(path.parent)}
</body></html>
"""
    _replace(path, page)


# ------------------------------------------------------------------------ the similarity section (similarity.py)
SIMILARITY_FILE = "similarity.json"          # written by the similarity command beside report.html
SIMILARITY_SOLUTION = "(published solution)"  # the name the published solution has among the students


def _side(code: str, lines: list) -> str:
    marked = set(lines)
    out = []
    for n, line in enumerate(code.splitlines(), start=1):
        text = html.escape(line) or " "
        out.append(f'<span class="m">{text}</span>' if n in marked else text)
    return "\n".join(out)


def similarity_section(folder: Path) -> str:
    """The "Similar answers" section of report.html, from the ``similarity.json`` that the ``similarity`` command
    (course_grading/similarity.py) wrote beside it (empty when there is none).
    Every value from a submission is escaped; the page runs no script."""
    path = Path(folder) / SIMILARITY_FILE
    if not path.is_file():
        return ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        settings, pairs = data["settings"], data["pairs"]
    except (OSError, ValueError, KeyError):
        return "<h2>Similar answers</h2><p>similarity.json could not be read.</p>"
    e = html.escape
    docs = dict(data.get("documents", {}))
    docs[SIMILARITY_SOLUTION] = data.get("solution", "")
    rows = []
    for p in pairs:
        sa, sb = p["similarity"]
        rows.append(
            f'<details data-pair="{e(p["a"])}|{e(p["b"])}"><summary>{e(p["a"])} ~ {e(p["b"])}: {sa:.0%} / '
            f'{sb:.0%} ({p["tokens"]} matching characters)</summary><table class="side"><tr><th>{e(p["a"])}</th>'
            f'<th>{e(p["b"])}</th></tr><tr><td><pre>{_side(docs.get(p["a"], ""), p["lines"][0])}</pre></td>'
            f'<td><pre>{_side(docs.get(p["b"], ""), p["lines"][1])}</pre></td></tr></table></details>')
    solution = e(SIMILARITY_SOLUTION)
    return (f'<h2>Similar answers</h2>\n<style>.side td{{width:50%}}.side pre{{white-space:pre-wrap;font-size:.8em}}'
            f'.m{{background:#ffe08a}}</style>\n'
            f'<p data-similar-pairs="{len(pairs)}">{len(pairs)} pair(s) of {settings["students"]} students whose '
            f'answer code is at least {settings["threshold"]:.0%} alike (copydetect fingerprints of '
            f'{settings["noise"]} characters after every name is replaced by one letter, matches of at least '
            f'{settings["min_tokens"]} characters). Left out as evidence: the release\'s answer cells, and between two '
            f'students the published '
            f'solution and what more than {settings["common_share"]:.0%} of the class wrote alike '
            f'({settings["common_fingerprints"]} fingerprints). "{solution}": the answer matches the course\'s '
            f'public solution up to renaming. Highlighted lines hold matching code. A match is a reason to look, '
            f'not a finding. Computed {e(str(data.get("written_at", "")))}.</p>\n' + "\n".join(rows))
