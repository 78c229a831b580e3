"""A grader is only as good as the wrong answers it rejects.

For every assignment with a catalogue ``scripts/mistakes/<assignment>.py``: each realistic student bug loses
points and its feedback names it (never another mistake), each correct but differently written answer keeps full
marks and is named nothing. All students of an assignment are graded in
one grading run (shared with test_nbgrader_pipeline.py through ``_grading.graded``).
"""

from __future__ import annotations

import pytest
from _grading import ASSIGNMENTS, CATALOGUE, ROOT, graded, written_points
import _pipeline as pipeline

CASES = [(a, v) for a in sorted(CATALOGUE) for v in CATALOGUE[a].VARIANTS]


def test_every_assignment_has_a_catalogue():
    for assignment in ASSIGNMENTS:
        assert assignment in CATALOGUE, f"scripts/mistakes/{assignment}.py is missing"
        variants = CATALOGUE[assignment].VARIANTS
        bugs = [v for v in variants if not v.full_marks]
        alternatives = [v for v in variants if v.full_marks]
        assert len(bugs) >= 3, f"{assignment}: at least three realistic bugs, got {len(bugs)}"
        assert alternatives, f"{assignment}: at least one correct alternative answer"
        names = [v.name for v in variants]
        assert len(names) == len(set(names)) and not {"solution", "release"} & set(names)


@pytest.mark.parametrize("assignment,variant", CASES, ids=[f"{a}:{v.name}" for a, v in CASES])
def test_variant_applies_to_the_solution(assignment, variant):
    """Every edit still matches the solution (exactly once), so no catalogue entry silently stops testing."""
    course = ROOT
    for nb in pipeline.notebook_names(course, assignment):
        if variant.notebook in (None, nb):
            edited = pipeline.student_notebook(course, assignment, nb, variant.edits)
            original = pipeline.student_notebook(course, assignment, nb)
            assert [c.source for c in edited.cells] != [c.source for c in original.cells]
            break


@pytest.mark.slow
@pytest.mark.parametrize("assignment,variant", CASES, ids=[f"{a}:{v.name}" for a, v in CASES])
def test_variant_score(assignment, variant):
    result = graded(assignment)
    score = result.scores[variant.name]
    written = written_points(assignment)             # graded by hand: pending, not part of what is tested here
    auto_max = score.max_score - sum(written.values())
    if variant.full_marks:
        lost = {k: v for k, v in score.cells.items() if k not in written and v[0] != v[1]}
        assert score.score == auto_max, f"{variant.name} ({variant.why}) is correct but loses {lost}"
    else:
        assert score.score < auto_max, f"{variant.name} ({variant.why}) keeps full marks: the grader misses it"
    named = _named(result, assignment, variant.name)
    others = {v.says for v in CATALOGUE[assignment].VARIANTS if not v.full_marks and v.name != variant.name}
    assert not named & others, f"{variant.name} is named as another mistake: {named}"
    if not variant.full_marks and not variant.random:
        assert variant.says in named, f"{variant.name}: its feedback does not name it ({named or 'nothing'})"
    else:
        assert not named, f"{variant.name} is correct but named {named}"


MARK = "Your code matches a known mistake, "


def _named(result, assignment: str, student: str) -> set:
    """The mistakes the feedback of ``student`` names (the ``says`` of each diagnosis line of records.jsonl)."""
    from course_grading.report import read_records

    (record,) = [r for r in read_records(result.course.parent / "out" / assignment / "records.jsonl")
                 if r.student == student]
    lines = [line for v in record.verdicts for line in v.message.splitlines() if line.startswith(MARK)]
    says = {v.says for v in CATALOGUE[assignment].VARIANTS if v.says}
    named = {s for s in says for line in lines if line.startswith(f"{MARK}{s}: ")}
    assert len(named) >= bool(lines), f"{student}: a diagnosis line names no catalogued mistake: {lines}"
    return named


#: assignment -> (the answer cell other answers' solutions call, the test cells of those other answers): a bug in the
#: first must cost nothing in the others' tests (one bug, one function's points), because those tests also accept
#: the answer computed with the student's own version of the function it builds on (10's train/eval tests read the
#: course optimizer's state, so they depend on no step function at all)
BUILT_ON = {
    "06-adam-adamw": ("adam_step", ("test_adamw_visible", "test_adamw_trajectory", "test_adamw_edges")),
    "07-lion-lamb": ("lamb_trust_ratio", ("test_lamb_visible", "test_lamb_first_step", "test_lamb_trajectory",
                                          "test_lamb_edges")),
    "08-soap-muon": ("newton_schulz", ("test_muon_visible", "test_muon_trajectory", "test_muon_edges")),
    "10-schedule-free": ("sf_weight", ("test_sf_sgd_visible", "test_sf_sgd_first_step", "test_sf_sgd_trajectory",
                                       "test_sf_sgd_decay_warmup", "test_sf_adamw_visible", "test_sf_adamw_trajectory",
                                       "test_sf_adamw_edges", "test_train_eval_visible", "test_train_eval_sgd",
                                       "test_train_eval_adamw")),
}
HELPER_BUGS = [(a, v) for a, (cell, _) in sorted(BUILT_ON.items()) for v in CATALOGUE[a].VARIANTS
               if not v.full_marks and {e.cell for e in v.edits} == {cell}]


def test_every_built_on_function_has_catalogued_bugs():
    for assignment, (cell, _) in BUILT_ON.items():
        assert any(a == assignment for a, _ in HELPER_BUGS), f"{assignment}: no catalogued bug of {cell} alone"


@pytest.mark.slow
@pytest.mark.parametrize("assignment,variant", HELPER_BUGS, ids=[f"{a}:{v.name}" for a, v in HELPER_BUGS])
def test_a_bug_costs_only_its_own_function(assignment, variant):
    cell, dependent = BUILT_ON[assignment]
    cells = graded(assignment).scores[variant.name].cells
    lost = {k: cells[k] for k in dependent if cells[k][0] != cells[k][1]}
    assert not lost, f"{variant.name} (a bug in {cell} only) also costs the tests of the function built on it: {lost}"
