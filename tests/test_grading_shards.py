"""Grading outputs beyond nbgrader's record (Canvas CSV, class report) and grading a class in shards.

The slow test grades a small class with known bugs (``tests/grader_bugs``) once, and again as 3 shards in 3
separate processes followed by ``merge``; the merged CSV rows and gradebook scores must equal the single run's,
the class report's numbers must equal counts made from the CSV, and ``nbgrader export`` must read the merged
gradebook.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from grader_bugs import catalogue
import _pipeline as pipeline

from course_grading import report, shards
from course_grading.isolation import sandbox
from course_grading.results import Row, StudentRecord

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "02-gradient-descent"
NOTEBOOK = "gradient_descent.ipynb"


@pytest.mark.parametrize("text", ["3/3", "-1/2", "1", "a/b", "0/0", "", "1/2/3"])
def test_bad_shard_raises_naming_it(text):
    with pytest.raises(ValueError, match="shard"):
        shards.parse(text)


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_are_disjoint_cover_the_class_and_are_balanced(count):
    ids = ["zoë", "1002", "ann_b", "bo.c", "d-1", "Émile", "x"]
    slices = [shards.select(set(ids), i, count) for i in range(count)]
    flat = [s for part in slices for s in part]
    assert sorted(flat) == sorted(ids) and len(flat) == len(set(flat))
    assert max(map(len, slices)) - min(map(len, slices)) <= 1
    assert slices == [shards.select(list(reversed(ids)), i, count) for i in range(count)]   # order-free


def test_histogram_counts_every_total_once():
    totals = [0, 0.5, 3, 9, 9, 4.5]
    bins = report.histogram(totals, 9)
    assert len(bins) == 10 and sum(c for _, _, c in bins) == len(totals)
    assert [c for _, _, c in bins] == [2, 0, 0, 1, 1, 0, 0, 0, 0, 2]   # full marks (9) have their own bin
    wide = report.histogram([0, 50, 100, 99.9], 100)
    assert len(wide) == 20 and [c for _, _, c in wide] == [1] + [0] * 9 + [1] + [0] * 8 + [2]


def test_canvas_csv_columns_and_key(tmp_path):
    rows = [{"student_id": "1001", "total": 7.0}, {"student_id": "1002", "total": 0.5}]
    rows.append({"student_id": "1003", "total": 4.0, "status": "pending manual grading"})
    rows = [Row.from_json(r) for r in rows]
    report.write_canvas_csv(rows, ASSIGNMENT, "canvas", tmp_path / "c.csv", 11.0)
    report.write_canvas_csv(rows, ASSIGNMENT, "folders", tmp_path / "f.csv", 11.0)
    report.write_canvas_csv(rows, ASSIGNMENT, "canvas", tmp_path / "p.csv", 11.0, export_pending=True)
    with open(tmp_path / "c.csv", newline="") as f:
        canvas = list(csv.reader(f))
    with open(tmp_path / "f.csv", newline="") as f:
        folders = list(csv.DictReader(f))
    with open(tmp_path / "p.csv", newline="") as f:
        pending = list(csv.reader(f))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT]
    assert canvas[1] == ["Points Possible", "", "", "", "", "11"], "Canvas's import format has this row"
    assert [(r[1], r[5]) for r in canvas[2:]] == [("1001", "7"), ("1002", "0.5"), ("1003", "")], \
        "a grade still pending manual grading is not exported as final"
    assert pending[-1][5] == "4"
    assert [(r["ID"], r["SIS Login ID"]) for r in folders[1:]] == [("", "1001"), ("", "1002"), ("", "1003")]


def test_report_groups_messages_by_form_and_counts_every_status(tmp_path):
    rows = [{"student_id": s, "total": 1.0, "status": st, "late": lt} for s, st, lt in
            (("a", "graded", ""), ("b", "pending manual grading", "yes"), ("c", "flagged", ""),
             ("d", "unreadable", ""), ("e", "needs review", "yes"))]
    records = [{"student": r["student_id"], "row": r, "verdicts": [
        {"notebook": "n.ipynb", "grade_id": "t1", "points": 1.0, "passed": False,
         "message": f"adam_step(lr=0.1): at step {i + 2}, expected 0.{i}5, got 1.{i}"}]} for i, r in enumerate(rows)]
    records[0]["verdicts"][0].update(diagnosis="adam-no-bias-correction", message="adam_step(lr=0.1): at step 9, expected 0.1, got 2\n"
                                     "Your code matches a known mistake, Adam without bias correction: m and v start "
                                     "at zero. See chapter 6, 'Bias correction' (https://example.org/06.html#x).")
    records[1]["verdicts"][0].update(diagnosis="adam-no-bias-correction")
    records = [StudentRecord.from_json(r) for r in records]
    report.write_report(records, ASSIGNMENT, 10.0, tmp_path / "r.html", ignored=3)
    page = (tmp_path / "r.html").read_text()
    assert 'data-message-count="5"' in page, "five students told the same thing with other numbers: one group"
    assert "at step #, expected #, got #" in page
    for attr, n in (("pending", 1), ("late", 2), ("flagged", 1), ("needs-review", 1), ("unreadable", 1),
                    ("ignored", 3)):
        assert f'data-{attr}="{n}"' in page, attr
    assert "/ 10" in page
    assert 'data-mistake="adam-no-bias-correction" data-cell="t1" data-students="2"' in page, \
        "students per recognised mistake, for the lecture"
    assert "Adam without bias correction: m and v start at zero" in page


def _class(folder: Path) -> dict:
    """Canvas-named submissions: user id -> variant name (None: the solution). Two share a bug."""
    bugs = {v.name: v for v in catalogue()[ASSIGNMENT].VARIANTS}
    people = {"2001": None, "2002": "gd-ascent", "2003": "minibatch-drops-tail", "2004": "gd-ascent",
              "2005": "momentum-dampened"}
    folder.mkdir(parents=True)
    for n, (uid, bug) in enumerate(people.items()):
        edits = bugs[bug].edits if bug else ()
        nbformat.write(pipeline.student_notebook(ROOT, ASSIGNMENT, NOTEBOOK, edits),
                       folder / f"student{n}_{uid}_{9000 + n}_{NOTEBOOK}")
    return people


def _grade_cmd(subs: Path, out: Path, *extra: str) -> list:
    cmd = [sys.executable, "-m", "course_grading", "--course", str(ROOT), "grade", ASSIGNMENT, str(subs),
           "--out", str(out), *extra]
    return cmd + ([] if sandbox.probe() is None else ["--no-sandbox"])  # no namespaces: unsandboxed


def _rows(path: Path) -> dict:
    with open(path, newline="", encoding="utf-8") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


def _cells(db: Path) -> dict:
    return {s: (v.score, v.cells) for s, v in pipeline.scores_at("sqlite:///" + str(db), ASSIGNMENT).items()}


@pytest.mark.slow
def test_three_shards_merge_to_what_one_run_gets(tmp_path):
    people = _class(tmp_path / "subs")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    one = subprocess.run(_grade_cmd(tmp_path / "subs", tmp_path / "one", "--db-url",
                                    "sqlite:///" + str(tmp_path / "one.db")),
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    one_seconds = time.perf_counter() - start
    assert one.returncode == 0, one.stdout + one.stderr

    start = time.perf_counter()
    procs = [subprocess.Popen(_grade_cmd(tmp_path / "subs", tmp_path / f"s{i}", "--shard", f"{i}/3"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
             for i in range(3)]
    outs = [p.communicate()[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(outs)
    merge = subprocess.run([sys.executable, "-m", "course_grading", "--course", str(ROOT), "merge", ASSIGNMENT,
                            *(str(tmp_path / f"s{i}") for i in (2, 0, 1)), "--out", str(tmp_path / "merged"),
                            "--db-url", "sqlite:///" + str(tmp_path / "merged.db")],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    shard_seconds = time.perf_counter() - start
    assert merge.returncode == 0, merge.stdout + merge.stderr
    print(f"\none run: {one_seconds:.1f} s; 3 shards in parallel + merge: {shard_seconds:.1f} s "
          f"({len(people)} students)")

    # each shard graded its slice of the sorted ids, and only that
    for i in range(3):
        assert sorted(_rows(tmp_path / f"s{i}" / ASSIGNMENT / "grades.csv")) == sorted(people)[i::3]
    single, merged = _rows(tmp_path / "one" / ASSIGNMENT / "grades.csv"), _rows(tmp_path / "merged" / ASSIGNMENT /
                                                                                  "grades.csv")
    assert set(single) == set(people) and merged == single
    assert _cells(tmp_path / "merged.db") == _cells(tmp_path / "one.db")
    assert single["2001"]["total"] == single["2001"]["max_score"]
    assert all(float(single[s]["total"]) < float(single[s]["max_score"]) for s in people if people[s])
    assert sorted(p.parent.name for p in (tmp_path / "merged" / ASSIGNMENT / "feedback").glob("*/*.html")) == \
        sorted(people)

    for out in (tmp_path / "one", tmp_path / "merged"):
        _check_report_against_csv(out / ASSIGNMENT)

    # nbgrader's own export reads the merged gradebook
    export = tmp_path / "export.csv"
    proc = subprocess.run([str(pipeline.BIN / "nbgrader"), "export", "--CourseDirectory.db_url=sqlite:///"
                           + str(tmp_path / "merged.db"), f"--CsvExportPlugin.to={export}"],
                          capture_output=True, text=True, cwd=tmp_path, env=pipeline.course_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(export, newline="") as f:
        exported = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f) if r["assignment"] == ASSIGNMENT}
    assert exported == {s: float(r["total"]) for s, r in single.items()}


def _check_report_against_csv(out_a: Path) -> None:
    rows = _rows(out_a / "grades.csv")
    # Canvas import file: keyed on the Canvas user id (intake read a Canvas export), the total as the grade
    with open(out_a / "canvas.csv", newline="", encoding="utf-8") as f:
        canvas = list(csv.DictReader(f))
    assert list(canvas[0])[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[0]["Student"] == "Points Possible"
    assert {r["ID"]: float(r[ASSIGNMENT]) for r in canvas[1:]} == {s: float(r["total"]) for s, r in rows.items()}
    page = (out_a / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page and "<svg" in page
    # distribution: bin counts equal the CSV's totals counted per one-point bin
    totals = Counter(int(float(r["total"])) for r in rows.values())
    bins = {int(float(lo)): int(c) for lo, c in re.findall(r'data-bin-low="([\d.]+)" data-bin-high="[\d.]+" '
                                                          r'data-count="(\d+)"', page)}
    assert {k: v for k, v in bins.items() if v} == dict(totals)
    # every test cell: failures and the most common message, from the CSV's reasons
    failed, messages = Counter(), {}
    for r in rows.values():
        for entry in r["reasons"].split(" | ") if r["reasons"] else []:
            m = re.match(r"[^:]+\.ipynb: (\S+) failed: (.*)", entry, re.S)
            if m:
                failed[m.group(1)] += 1
                messages.setdefault(m.group(1), Counter())[report.message_form(m.group(2))] += 1
    shown = {gid: (int(f), int(n), int(c)) for gid, f, n, c in
             re.findall(r'data-cell="([^"]+)" data-failed="(\d+)" data-graded="(\d+)" data-message-count="(\d+)"',
                        page)}
    assert failed and set(failed) <= set(shown)
    for gid, (f, n, c) in shown.items():
        assert n == len(rows) and f == failed.get(gid, 0), gid
        if f:
            top, count = min(messages[gid].items(), key=lambda kv: (-kv[1], kv[0]))
            assert c == count and report.html.escape(top) in page, gid


def test_merge_refuses_anything_but_the_n_slices_of_one_class(tmp_path):
    ids = ["a", "b", "c", "d"]

    def meta(i, n, students=None, everyone=ids):
        return {"assignment": ASSIGNMENT, "shard": [i, n], "class": everyone,
                "students": shards.select(everyone, i, n) if students is None else students}

    shards._check([meta(0, 2), meta(1, 2)], ASSIGNMENT)   # the good case
    for metas, word in [([meta(0, 2)], "shards 0..1"),                          # one missing
                        ([meta(0, 2), meta(0, 2)], "shards 0..1"),              # one twice
                        ([meta(0, 2), meta(1, 3)], "different N"),
                        ([meta(0, 2), meta(1, 2, everyone=ids + ["e"])], "class lists"),
                        ([meta(0, 2), meta(1, 2, students=["b"])], "not exactly the class")]:
        with pytest.raises(ValueError, match=word):
            shards._check(metas, ASSIGNMENT)
    from course_grading import cli

    assert cli.main(["--course", str(ROOT), "grade", ASSIGNMENT, str(tmp_path), "--shard", "3/3"]) == 2
    assert cli.main(["--course", str(ROOT), "merge", ASSIGNMENT, str(tmp_path), "--out", str(tmp_path / "m")]) == 2
    assert not (tmp_path / "m").exists()
