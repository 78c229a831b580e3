"""Feedback that names the mistake (course_grading.diagnose): right when it speaks, silent otherwise.

The oracle for "the right name" is the catalogue itself: a bug's notebook is the solution with the bug's edits
(``scripts/mistakes/NN-slug.py``), and a name is right only for code that every test of the notebook cannot tell
from the named bug. Generated mutants of the solutions (operators, comparisons, constants, swapped arguments,
dropped signs) are the uncatalogued bugs: each is named correctly or not at all.
"""

from __future__ import annotations

import ast
import os
import re
import time
from pathlib import Path

import pytest
from _grading import ASSIGNMENTS, CATALOGUE, ROOT

from course_grading import diagnose
from course_grading.course import read_spec

MUTANTS_PER_ASSIGNMENT = int(os.environ.get("DIAGNOSIS_MUTANTS", "12"))


def _spec(assignment: str, hidden: bool = True):
    (path,) = sorted((ROOT / "solutions" / assignment).glob("*.ipynb"))
    return read_spec(path, hidden=hidden)


def _bugs(assignment):
    """The catalogued bugs the grader can name (a bug whose results depend on unseeded randomness cannot be)."""
    return [v for v in CATALOGUE[assignment].VARIANTS if not v.full_marks and not v.random]


def _student(spec, edits=(), answers=None, hidden=True):
    """What the tests say about a notebook of instructor code: grade_id -> message (None: passed)."""
    answers = answers if answers is not None else diagnose.apply_edits(diagnose.solution_answers(spec), edits)
    return diagnose.run_answers(spec, answers, hidden=hidden, secret=None, budget_s=20)


def _names(doctor, results) -> dict:
    """grade_id -> the name the diagnosis gives each failed test (None: no name)."""
    out = {}
    for gid, message in results.items():
        if message is not None:
            found = doctor.diagnose(gid, message, results)
            out[gid] = found.name if found else None
    return out


def _indistinguishable(doctor, variant, results) -> bool:
    theirs = doctor.results(variant)
    return set(theirs) == set(results) and all(
        (a is None) == (theirs[g] is None) and (a is None or diagnose.same_message(a, theirs[g]))
        for g, a in results.items())


# ------------------------------------------------------------------------------------------- the catalogue's text

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_bug_says_what_it_is_and_where_to_read(assignment):
    for v in _bugs(assignment):
        assert v.says and v.look and v.section, f"{assignment}:{v.name}: says, look and section are needed"
        section = diagnose.find_section(ROOT, v.section)
        assert section is not None, f"{assignment}:{v.name}: no '({v.section})=' target before a heading in chapters/"
        assert section.url.endswith(f"chapters/{Path(section.url).name.split('#')[0]}#{v.section}")
        line = diagnose.hint(v, section)
        assert line.count("\n") == 0 and v.says in line and f"chapter {section.chapter}, '{section.title}'" in line


def test_a_section_is_found_from_its_label(tmp_path):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "07-some-thing.md").write_text("# Title\n\n(sec-x)=\n### The part\n\ntext\n(sec-y)=\n\n")
    (tmp_path / "_config.yml").write_text("html:\n  baseurl: https://example.org/book\n")
    found = diagnose.find_section(tmp_path, "sec-x")
    assert found == diagnose.Section("sec-x", 7, "The part", "https://example.org/book/chapters/07-some-thing.html#sec-x")
    assert diagnose.find_section(tmp_path, "sec-y") is None      # a target with no heading after it
    assert diagnose.find_section(tmp_path, "sec-z") is None


# --------------------------------------------------------------------------------------------- the comparison

def test_same_message_compares_numbers_to_the_tests_tolerance():
    m = ("AssertionError: f(lr=0.1): parameter after step 3 of 5 element [1]: expected 0.9000000035, got "
         "0.6837725881 (difference 0.216; 1 of 3 elements differ) [steps 1-2 matched; gradient at this step: [0.5, -1]]")
    assert diagnose.same_message(m, m)
    assert diagnose.same_message(m, m.replace("0.6837725881", "0.6837725882"))          # a rounding apart
    assert not diagnose.same_message(m, m.replace("0.6837725881", "0.6837735881"))      # 1.5e-6 apart
    assert not diagnose.same_message(m, m.replace("step 3 of 5", "step 4 of 5"))
    assert not diagnose.same_message(m, m.replace("element [1]", "element [2]"))
    assert not diagnose.same_message(m, m.replace("1 of 3", "2 of 3"))
    assert not diagnose.same_message(m, m.replace("matched", "differed"))
    assert not diagnose.same_message(m, m.replace("got 0.6837725881", "got nan"))


def test_the_line_is_the_catalogues_text_only():
    v = diagnose.Variant("x", (), says="a thing", look="look there", section="sec-adam-bias-correction")
    section = diagnose.find_section(ROOT, v.section)
    assert diagnose.hint(v, section) == (f"Your code matches a known mistake, a thing: look there. See chapter 6, "
                                         f"'{section.title}' ({section.url}).")
    assert diagnose.hint(v, None) == "Your code matches a known mistake, a thing: look there."


# ---------------------------------------------------------------------------------------- no false diagnosis

@pytest.mark.parametrize("hidden", [True, False], ids=["graded", "make-check"])
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_bug_is_named_as_itself_and_alternatives_are_not_named(assignment, hidden):
    spec = _spec(assignment, hidden)
    doctor = diagnose.Diagnoser(spec, hidden=hidden, secret=None)
    assert {v.name for v in doctor.variants} == {v.name for v in _bugs(assignment)}
    missed = []
    for v in CATALOGUE[assignment].VARIANTS:
        results = _student(spec, v.edits, hidden=hidden)
        names = _names(doctor, results)
        if v.full_marks:
            assert not names, f"{v.name} is correct but fails {names}"
            continue
        assert set(names.values()) <= {v.name, None}, f"{v.name} named as {names}"
        if v.random:   # unseeded randomness: no re-run reproduces it, so it is never named (and never a candidate)
            assert v.name not in names.values()
            continue
        if hidden:
            assert v.name in names.values(), f"{v.name} fails {sorted(names)} but is never named"
        elif names and v.name not in names.values() and not any(
                _indistinguishable(doctor, other, results) for other in doctor.variants if other is not v):
            missed.append(v.name)
    # the visible tests alone name a bug they make fail, unless another bug fails them identically (02's visible
    # momentum test has lr = 1 - momentum: a dampened buffer and a buffer with lr folded in are the same there)
    assert not missed, f"visible tests fail but do not name: {missed}"


def test_a_second_secret_changes_nothing_in_the_names():
    spec = _spec("06-adam-adamw")
    doctor = diagnose.Diagnoser(spec, hidden=True, secret=b"another term")
    bug = next(v for v in _bugs("06-adam-adamw") if v.name == "no-bias-correction")
    results = diagnose.run_answers(spec, diagnose.apply_edits(diagnose.solution_answers(spec), bug.edits),
                                   hidden=True, secret=b"another term")
    assert set(_names(doctor, results).values()) == {"no-bias-correction"}


def test_only_the_courses_solutions_are_run(tmp_path):
    """A notebook outside solutions/ (a student's copy read for its released tests) has nothing to compare with:
    nothing of it is executed as the instructor's code."""
    import shutil

    copy = tmp_path / "06-adam-adamw" / "adam_adamw.ipynb"
    copy.parent.mkdir()
    shutil.copy(ROOT / "solutions" / "06-adam-adamw" / "adam_adamw.ipynb", copy)
    assert diagnose.Diagnoser(read_spec(copy, hidden=False), hidden=False, secret=None).variants == []


def test_a_bug_that_runs_forever_is_stopped_by_the_budget():
    spec = _spec("09-schedules")
    answers = diagnose.apply_edits(diagnose.solution_answers(spec), [diagnose.Edit(
        "step_decay", "gamma ** (step // step_size)", "gamma ** (step // step_size) if step < 0 else [0 for _ in iter(int, 1)]")])
    start = time.perf_counter()
    results = diagnose.run_answers(spec, answers, hidden=True, secret=None, budget_s=1.0)
    assert time.perf_counter() - start < 10
    assert "test_step_decay_visible" not in results or results["test_step_decay_visible"] is not None


# ------------------------------------------------------------------------------------------------- mutants

_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult,
         ast.FloorDiv: ast.Div, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
         ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}


def _sites(tree) -> list:
    """Each place one mutation applies: (kind, index among the nodes of ast.walk)."""
    sites = []
    for i, node in enumerate(ast.walk(tree)):
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _SWAP:
            sites.append(("op", i))
        elif isinstance(node, ast.Compare) and type(node.ops[0]) in _SWAP:
            sites.append(("cmp", i))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float) and not isinstance(node.value, bool):
            sites.append(("const", i))
        elif isinstance(node, ast.Call) and len(node.args) >= 2:
            sites.append(("swap", i))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            sites.append(("neg", i))
    return sites


def _mutate(source: str, site) -> str:
    tree = ast.parse(source)
    kind, index = site
    node = list(ast.walk(tree))[index]
    if kind == "op":
        node.op = _SWAP[type(node.op)]()
    elif kind == "cmp":
        node.ops[0] = _SWAP[type(node.ops[0])]()
    elif kind == "const":
        node.value = node.value + 1 if isinstance(node.value, int) else (node.value * 2 if node.value else 0.5)
    elif kind == "swap":
        node.args[0], node.args[1] = node.args[1], node.args[0]
    elif kind == "neg":
        for parent in ast.walk(tree):
            for field, value in ast.iter_fields(parent):
                if value is node:
                    setattr(parent, field, node.operand)
                elif isinstance(value, list) and node in value:
                    value[value.index(node)] = node.operand
    return ast.unparse(tree)


def mutants(spec, limit: int) -> list:
    """Up to ``limit`` one-change mutants of the solution's answers, spread evenly over all mutation sites."""
    answers = diagnose.solution_answers(spec)
    everything = []
    for gid, source in answers.items():
        tree = ast.parse(source)
        for site in _sites(tree):
            everything.append((gid, site))
    step = max(1, len(everything) // max(limit, 1))
    out = []
    for gid, site in everything[::step][:limit]:
        try:
            mutated = _mutate(answers[gid], site)
        except (ValueError, TypeError):
            continue
        out.append((f"{gid}:{site[0]}@{site[1]}", {**answers, gid: mutated}))
    return out


def mutant_rates(assignment: str, limit: int) -> dict:
    spec = _spec(assignment)
    doctor = diagnose.Diagnoser(spec, hidden=True, secret=None)
    counts = {"mutants": 0, "failing": 0, "named": 0, "right": 0, "wrong": []}
    for label, answers in mutants(spec, limit):
        counts["mutants"] += 1
        results = diagnose.run_answers(spec, answers, hidden=True, secret=None, budget_s=10)
        if all(m is None for m in results.values()):
            continue   # an equivalent mutant (or one the tests cannot see)
        counts["failing"] += 1
        names = {n for n in _names(doctor, results).values() if n}
        if names:
            counts["named"] += 1
        for name in names:
            variant = next(v for v in doctor.variants if v.name == name)
            if _indistinguishable(doctor, variant, results):
                counts["right"] += 1
            else:
                counts["wrong"].append(f"{label} named {name}")
    return counts


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_mutants_are_named_correctly_or_not_at_all(assignment, capsys):
    counts = mutant_rates(assignment, MUTANTS_PER_ASSIGNMENT)
    with capsys.disabled():
        print(f"\n{assignment}: {counts['mutants']} mutants, {counts['failing']} fail a test, {counts['named']} named "
              f"({counts['right']} right), wrong: {counts['wrong']}")
    assert counts["failing"] > 0
    assert counts["wrong"] == []


def test_the_mutant_generator_changes_the_code():
    spec = _spec("06-adam-adamw")
    made = mutants(spec, 10)
    assert len(made) == 10
    original = diagnose.solution_answers(spec)
    for label, answers in made:
        gid = label.split(":")[0]
        assert ast.dump(ast.parse(answers[gid])) != ast.dump(ast.parse(original[gid])), label
    assert re.fullmatch(r"\w+:(op|cmp|const|swap|neg)@\d+", made[0][0])


# ------------------------------------------------------------------------------------- through the worker and judge

def test_make_check_prints_the_named_mistake_and_a_fix_removes_it(tmp_path):
    """``make check`` on a notebook with the bias correction forgotten: the failed visible test's message ends with
    the catalogue's line for it, which is the whole added text; with the bug fixed the line is gone."""
    from course_grading import check
    import _pipeline as pipeline
    from course_grading.isolation import sandbox

    bug = next(v for v in _bugs("06-adam-adamw") if v.name == "no-bias-correction")
    folder = tmp_path / "06-adam-adamw"
    folder.mkdir()
    lines = {}
    for label, edits in (("bug", bug.edits), ("fixed", ())):
        nb = pipeline.student_notebook(ROOT, "06-adam-adamw", "adam_adamw.ipynb", edits)
        import nbformat

        nbformat.write(nb, folder / "adam_adamw.ipynb")
        out = []
        check.check_notebooks(ROOT, [folder / "adam_adamw.ipynb"], sandbox.Limits(), use_sandbox=sandbox.probe() is None,
                              out=out.append)
        lines[label] = out
    expected = diagnose.hint(bug, diagnose.find_section(ROOT, bug.section))
    assert f"          {expected}" in lines["bug"]
    # test_adam_visible only: AdamW's tests accept an AdamW built on the student's own adam_step (one bug costs one
    # function's points), so the same bug is not AdamW's mistake
    assert sum(expected in line for line in lines["bug"]) == 1
    assert not any("known mistake" in line for line in lines["fixed"])
