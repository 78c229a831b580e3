"""Hidden tests draw their inputs from the term's secret (``reference_impl.testing.hidden_inputs``).

The repository is public, solutions and hidden tests included: a submission could return the hidden tests' expected
values without computing anything. With a term secret the hidden inputs are unknown to students, so such a
submission keeps only the visible tests' points. Here:

* unit tests and the doctest of ``hidden_inputs``;
* every hidden test cell of every assignment draws from ``hidden_inputs("<assignment>/<grade_id>", TERM_SECRET)``;
* the solution keeps full marks under several secrets (in this process: ``_hidden.run_source``), and every bug of the
  catalogue ``tests/grader_bugs`` still loses points (and every correct alternative keeps them) under a secret;
* end to end, through ``course_grading.grade.grade``: a submission that looks up the reference's outputs on the
  default hidden inputs scores full marks without a secret and only the visible points with one.
"""

from __future__ import annotations

import csv
import doctest
import hashlib
import hmac
import math
import os
from pathlib import Path

import nbformat
import pytest
import torch
from _grading import written_points
from _hidden import SOURCES, answer_functions, hidden_cells, run_source
from grader_bugs import catalogue
import _pipeline as pipeline

from course_grading import authoring
from course_grading.grade import grade
from course_grading.isolation import sandbox
from reference_impl.testing import DEFAULT_SECRET, SEED_LIMIT, HiddenInputs, hidden_inputs, quadratic
import reference_impl.testing as testing

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = sorted(p.stem for p in SOURCES.glob("[0-9][0-9]-*.py"))
SECRET_A = hashlib.sha256(b"test_hidden_inputs: secret A").digest()
SECRET_B = hashlib.sha256(b"test_hidden_inputs: secret B").digest()
KEY = "06-adam-adamw/test_adam_trajectory"


# ------------------------------------------------------------------------------------------------ the API

def test_same_secret_and_key_give_the_same_values():
    a, b = hidden_inputs(KEY, SECRET_A), hidden_inputs(KEY, SECRET_A)
    assert a.uniform("x", 0, 1) == b.uniform("x", 0, 1)
    assert a.log_uniform("lr", 1e-3, 1e-1) == b.log_uniform("lr", 1e-3, 1e-1)
    assert a.integer("steps", 1, 10 ** 9) == b.integer("steps", 1, 10 ** 9)
    assert a.choice("c", list(range(1000))) == b.choice("c", list(range(1000)))
    assert a.seed("s") == b.seed("s")
    assert torch.equal(a.tensor("t", (3, 4)), b.tensor("t", (3, 4)))
    assert torch.equal(torch.randn(5, generator=a.generator("g")), torch.randn(5, generator=b.generator("g")))


def test_draws_do_not_depend_on_order():
    a, b = hidden_inputs(KEY, SECRET_A), hidden_inputs(KEY, SECRET_A)
    first = [a.seed("one"), a.seed("two")]
    second = [b.seed("two"), b.seed("one")]
    assert first == second[::-1]


def test_different_secrets_keys_and_names_give_different_values():
    seeds = {hidden_inputs(KEY, s).seed("s") for s in (None, SECRET_A, SECRET_B)}
    assert len(seeds) == 3
    assert hidden_inputs(KEY, SECRET_A).seed("s") != hidden_inputs(KEY + "x", SECRET_A).seed("s")
    assert hidden_inputs(KEY, SECRET_A).seed("s") != hidden_inputs(KEY, SECRET_A).seed("t")
    tensors = [hidden_inputs(KEY, s).tensor("t", 8) for s in (None, SECRET_A)]
    assert not torch.equal(*tensors)


def test_none_is_the_documented_default():
    for name in ("a", "b", "c"):
        assert hidden_inputs(KEY, None).seed(name) == hidden_inputs(KEY, DEFAULT_SECRET).seed(name)
        assert hidden_inputs(KEY).seed(name) == hidden_inputs(KEY, None).seed(name)


def test_draws_follow_the_documented_hmac():
    """The derivation is HMAC-SHA256(secret, key NUL name), the digest read as a big-endian integer."""
    digest = hmac.new(SECRET_A, KEY.encode() + b"\0" + b"problem", hashlib.sha256).digest()
    bits = int.from_bytes(digest, "big")
    h = hidden_inputs(KEY, SECRET_A)
    assert h.seed("problem") == bits % SEED_LIMIT
    assert h.integer("problem", 5, 11) == 5 + bits % 7
    assert h.uniform("problem", 2.0, 4.0, digits=None) == 2.0 + 2.0 * ((bits >> 203) / 2.0 ** 53)
    assert hidden_inputs(KEY, bytearray(SECRET_A)).seed("problem") == bits % SEED_LIMIT


def test_ranges_and_distributions():
    h = hidden_inputs(KEY, SECRET_B)
    xs = [h.uniform(f"u{i}", -2.0, 3.0, digits=None) for i in range(2000)]
    assert all(-2.0 <= x <= 3.0 for x in xs)
    assert abs(sum(xs) / len(xs) - 0.5) < 0.1          # mean of U(-2, 3): 0.5, standard error 0.03
    logs = [math.log10(h.log_uniform(f"l{i}", 1e-4, 1e-1, digits=None)) for i in range(2000)]
    assert all(-4.0 <= v <= -1.0 for v in logs)
    assert abs(sum(logs) / len(logs) + 2.5) < 0.1      # uniform in the exponent: mean -2.5
    ints = {h.integer(f"i{i}", 3, 7) for i in range(200)}
    assert ints == {3, 4, 5, 6, 7}                      # both ends included
    assert {h.choice(f"c{i}", "abc") for i in range(100)} == {"a", "b", "c"}
    assert h.integer("same", 4, 4) == 4 and h.uniform("same", 0.5, 0.5) == 0.5
    seeds = [h.seed(f"s{i}") for i in range(200)]
    assert all(0 <= s < SEED_LIMIT for s in seeds) and len(set(seeds)) == 200
    quadratic(4, seed=max(seeds))(torch.zeros(4), 10 ** 6)   # the largest seeds still fit torch's generator


def test_rounding_keeps_messages_readable_and_inside_the_range():
    h = hidden_inputs(KEY, SECRET_A)
    for i in range(200):
        x = h.log_uniform(f"lr{i}", 0.0123, 0.0456)
        assert 0.0123 <= x <= 0.0456 and x == float(f"{x:.3g}")
        y = h.uniform(f"b{i}", 0.99, 0.9999, digits=4)
        assert 0.99 <= y <= 0.9999 and y == float(f"{y:.4g}")
    assert h.uniform("raw", 0, 1, digits=None) != float(f"{h.uniform('raw', 0, 1, digits=None):.3g}")


def test_tensors():
    h = hidden_inputs(KEY, SECRET_A)
    t = h.tensor("theta", (2, 3), low=0.5, high=1.5, dtype=torch.float32)
    assert t.shape == (2, 3) and t.dtype == torch.float32 and bool(((t >= 0.5) & (t <= 1.5)).all())
    v = h.tensor("theta", 6)
    assert v.shape == (6,) and v.dtype == torch.float64 and bool(((v >= -1) & (v < 1)).all())
    assert len(set(v.tolist())) == 6


@pytest.mark.parametrize("call,error,words", [
    (lambda: hidden_inputs("", SECRET_A), ValueError, "key"),
    (lambda: hidden_inputs(None, SECRET_A), ValueError, "key"),
    (lambda: hidden_inputs(KEY, "a text secret of enough length"), TypeError, "secret"),
    (lambda: hidden_inputs(KEY, b"short"), ValueError, "secret"),
    (lambda: hidden_inputs(KEY, SECRET_A).uniform("x", 2.0, 1.0), ValueError, "low"),
    (lambda: hidden_inputs(KEY, SECRET_A).uniform("x", 0.0, math.inf), ValueError, "high"),
    (lambda: hidden_inputs(KEY, SECRET_A).log_uniform("x", 0.0, 1.0), ValueError, "low"),
    (lambda: hidden_inputs(KEY, SECRET_A).integer("x", 1.0, 3), ValueError, "low"),
    (lambda: hidden_inputs(KEY, SECRET_A).integer("x", 5, 3), ValueError, "low"),
    (lambda: hidden_inputs(KEY, SECRET_A).choice("x", []), ValueError, "options"),
    (lambda: hidden_inputs(KEY, SECRET_A).seed(""), ValueError, "name"),
    (lambda: hidden_inputs(KEY, SECRET_A).tensor("x", 3, dtype=torch.int64), ValueError, "dtype"),
])
def test_invalid_inputs_are_named(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_the_secret_is_not_shown():
    h = hidden_inputs(KEY, SECRET_A)
    assert isinstance(h, HiddenInputs) and SECRET_A.hex() not in repr(h) and str(SECRET_A) not in repr(h)


def test_docstring_example():
    result = doctest.testmod(testing, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------------------------- the assignments' hidden tests

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_hidden_test_draws_from_the_term_secret(assignment):
    _, nb = authoring.parse_source((SOURCES / f"{assignment}.py").read_text(encoding="utf-8"))
    hidden = [c for c in nb.cells if c.cell_type == "code" and "### BEGIN HIDDEN TESTS" in c.source]
    assert hidden, f"{assignment}: no hidden tests"
    for cell in hidden:
        gid = cell.metadata["nbgrader"]["grade_id"]
        body = cell.source.split("### BEGIN HIDDEN TESTS", 1)[1]
        call = f'hidden_inputs("{assignment}/{gid}", globals().get("TERM_SECRET"))'
        assert call in body, f"{assignment}/{gid}: the hidden tests do not draw from {call}"
        assert "TERM_SECRET" not in cell.source.split("### BEGIN HIDDEN TESTS", 1)[0]


def _fresh_secret() -> bytes:
    return os.urandom(32)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_keeps_full_marks_under_several_secrets(assignment):
    for secret in (None, SECRET_A, SECRET_B, _fresh_secret()):
        failed = {k: v for k, v in run_source(assignment, secret).items() if v}
        label = "no secret" if secret is None else f"secret {secret.hex()}"
        assert not failed, f"{assignment}: the solution fails under {label}: {failed}"


CATALOGUE = catalogue()


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(CATALOGUE))
def test_catalogue_keeps_its_verdicts_under_a_secret(assignment):
    """Every catalogued bug loses points, every correct alternative keeps them, under a secret (in this process)."""
    wrong = []
    for variant in CATALOGUE[assignment].VARIANTS:
        failed = sorted(k for k, v in run_source(assignment, SECRET_A, variant.edits).items() if v)
        if variant.full_marks and failed:
            wrong.append(f"{variant.name} ({variant.why}) is correct but fails {failed}")
        if not variant.full_marks and not failed:
            wrong.append(f"{variant.name} ({variant.why}) passes every test")
    assert not wrong, f"{assignment} under secret {SECRET_A.hex()}: " + "; ".join(wrong)


# ------------------------------------------------------------------- a submission that looks answers up

# The key of a call, the same text in this process (recording) and in the student's notebook (replaying). The
# student's own state dict is left out of the key (its contents are the student's business); the number of
# earlier calls with the same dict is in it instead.
KEY_CODE = '''
import hashlib as _hashlib
import torch


def _canon(v):
    if isinstance(v, torch.Tensor):
        return ("T", str(v.dtype), tuple(v.shape), tuple(float(x).hex() for x in v.detach().reshape(-1).tolist()))
    if isinstance(v, torch.Generator):
        return ("G", _hashlib.sha256(bytes(v.get_state().tolist())).hexdigest())
    if isinstance(v, (list, tuple)):
        return ("L", tuple(_canon(x) for x in v))
    if isinstance(v, dict):
        return ("D",)
    if isinstance(v, float):
        return ("f", v.hex())
    return ("v", repr(v))


def _call_key(name, args, kwargs, count):
    parts = (name, _canon(list(args)), tuple(sorted((k, _canon(v)) for k, v in kwargs.items())), count)
    return _hashlib.sha256(repr(parts).encode()).hexdigest()


def _state_of(args):
    return next((a for a in args if isinstance(a, dict)), None)
'''

REPLAY_CODE = '''

def _decode(v):
    kind = v[0]
    if kind == "T":
        return torch.tensor([float.fromhex(x) for x in v[3]], dtype=getattr(torch, v[1])).reshape(v[2])
    if kind == "tuple":
        return tuple(_decode(x) for x in v[1])
    if kind == "iter":
        return iter([_decode(x) for x in v[1]])
    if kind == "raise":
        raise ValueError(v[1])
    if kind == "f":
        return float.fromhex(v[1])
    return None


def _replay(name, args, kwargs):
    state = _state_of(args)
    count = None
    if state is not None:
        count = state.get("_calls_" + name, 0)
        state["_calls_" + name] = count + 1
    found = _TABLE.get(_call_key(name, args, kwargs, count))
    if found is not None:
        return _decode(found)
    kind = _FALLBACK[name]          # not a recorded input: do nothing
    if kind == "iter":
        return iter([])
    if kind == "pair":
        return args[0], args[1]
    return args[0]
'''


def _encode(value):
    if isinstance(value, torch.Tensor):
        return ("T", str(value.dtype).removeprefix("torch."), list(value.shape),
                [float(x).hex() for x in value.detach().reshape(-1).tolist()])
    if isinstance(value, tuple):
        return ("tuple", [_encode(x) for x in value])
    if isinstance(value, float):
        return ("f", value.hex())
    return ("none",)


def lookup_submission(assignment: str) -> dict:
    """grade_id -> answer source of a student who records nothing but the reference's outputs on the hidden tests'
    *default* inputs (and the visible tests'), looks each call up, and does nothing on any other input."""
    helpers: dict = {}
    exec(KEY_CODE, helpers)  # noqa: S102 - the test's own helper code
    table, fallback = {}, {}

    def wrap(name, function):
        def recorder(*args, **kwargs):
            state = helpers["_state_of"](args)
            count = None if state is None else state.get("_calls_" + name, 0)
            key = helpers["_call_key"](name, args, kwargs, count)
            try:
                out = function(*args, **kwargs)
            except ValueError as err:
                table[key] = ("raise", str(err))
                raise
            finally:
                if state is not None:
                    state["_calls_" + name] = count + 1
            if hasattr(out, "__next__"):          # a generator: its items are the answer
                try:
                    items = list(out)
                except ValueError as err:
                    table[key] = ("raise", str(err))
                    raise
                table[key] = ("iter", [_encode(x) for x in items])
                fallback[name] = "iter"
                return iter(items)
            table[key] = _encode(out)
            fallback.setdefault(name, "pair" if isinstance(out, tuple) else "param")
            return out
        return recorder

    failed = {k: v for k, v in run_source(assignment, None, wrap=wrap).items() if v}
    assert not failed, f"{assignment}: the recording run of the solution failed: {failed}"
    _, nb = authoring.parse_source((SOURCES / f"{assignment}.py").read_text(encoding="utf-8"))
    answers = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    sources = {}
    for index, cell in enumerate(answers):
        names = answer_functions(authoring.answer_source(cell.source))
        body = "".join(f"\n\ndef {name}(*args, **kwargs):\n    return _replay({name!r}, args, kwargs)\n" for name in names)
        head = (KEY_CODE + REPLAY_CODE + f"\n_TABLE = {table!r}\n_FALLBACK = {fallback!r}\n") if index == 0 else ""
        sources[cell.metadata["nbgrader"]["grade_id"]] = head + body
    return sources


SANDBOX = sandbox.probe() is None


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ["02-gradient-descent", "06-adam-adamw"])
def test_looked_up_answers_keep_only_the_visible_points_under_a_secret(assignment, tmp_path):
    sources = lookup_submission(assignment)
    names = pipeline.notebook_names(ROOT, assignment)
    edits = [pipeline.Edit(gid, None, src) for gid, src in sources.items()]
    subs = tmp_path / "class"
    for student, student_edits in (("lookup", edits), ("solution", [])):
        (subs / student).mkdir(parents=True)
        for nb_name in names:
            nbformat.write(pipeline.student_notebook(ROOT, assignment, nb_name, student_edits), subs / student / nb_name)
    hidden = hidden_cells(assignment)
    results = {}
    for label, secret in (("default", None), ("secret", _fresh_secret())):
        db = "sqlite:///" + str(tmp_path / f"{label}.db")
        grade(ROOT, assignment, subs, out=tmp_path / label, db_url=db, layout="folders", use_sandbox=SANDBOX,
              feedback_pages=False, secret=secret, log=lambda *a: None)
        with open(tmp_path / label / assignment / "grades.csv", newline="", encoding="utf-8") as f:
            rows = {row["student_id"]: row for row in csv.DictReader(f)}
        assert rows["lookup"]["hidden_inputs"] == ("default (no --secret)" if secret is None else "term secret")
        results[label] = pipeline.scores_at(db, assignment)
    written = written_points(assignment)
    auto = [gid for gid in results["default"]["solution"].cells if gid not in written]
    for label in results:   # the solution keeps full marks either way
        got = results[label]["solution"].cells
        assert all(got[g][0] == got[g][1] for g in auto), f"solution under {label}: {got}"
    default = results["default"]["lookup"].cells
    lost = {g: default[g] for g in auto if default[g][0] != default[g][1]}
    assert not lost, f"without a secret the looked-up answers should pass every test; they lose {lost}"
    secret = results["secret"]["lookup"].cells
    visible = [g for g in auto if g not in hidden]
    assert visible and all(secret[g][0] == secret[g][1] for g in visible), secret
    kept = {g: secret[g] for g in auto if g in hidden and secret[g][0] != 0}
    assert not kept, f"with a secret the looked-up answers still score on hidden tests: {kept}"
    assert results["secret"]["lookup"].score == sum(secret[g][1] for g in visible)
