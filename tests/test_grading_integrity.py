"""Academic integrity: the similarity report (copydetect fingerprints) on a planted class.

The class of 03-momentum (four answer cells): alice wrote her own answers and bob copied them, renaming every
variable, rewriting the comments and the spacing; carol copied the published solution and renamed its variables;
dave, erin, frank and grace wrote their own answers, each in their own way (dave's three first answers are the
grader catalogue's full-marks "alt-algebra" student). Exactly the two copies must be listed.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from _grading import ROOT
import _pipeline as pipeline

from course_grading import similarity
from course_grading.cli import main as cli
from course_grading.course import assignment_specs
from course_grading.intake.notebook import read_notebook

ASSIGNMENT = "03-momentum"
NB = "momentum.ipynb"

ALICE = {
"heavy_ball_velocity_step": '''def heavy_ball_velocity_step(param, grad, velocity, lr, momentum):
    # start from rest on the first call
    step = -lr * grad
    if velocity is not None:
        step = step + momentum * velocity
    updated = param.clone()
    updated += step
    return updated, step
''',
"ema_momentum_step": '''def ema_momentum_step(param, grad, buf, lr, beta):
    if buf is None:
        avg = grad.detach().clone()
    else:
        avg = buf.mul(beta).add(grad, alpha=1 - beta)
    return param.sub(avg, alpha=lr), avg
''',
"nesterov_step": '''def nesterov_step(param, grad, buf, lr, momentum):
    acc = grad.detach().clone() if buf is None else buf.mul(momentum).add(grad)
    direction = grad.add(acc, alpha=momentum)
    return param.sub(direction, alpha=lr), acc
''',
"nesterov_lookahead_step": '''def nesterov_lookahead_step(param, velocity, grad_fn, lr, momentum):
    v_prev = torch.zeros_like(param) if velocity is None else velocity
    peek = param.sub(v_prev, alpha=lr * momentum)
    v_new = v_prev.mul(momentum).add(grad_fn(peek))
    return param.sub(v_new, alpha=lr), v_new
''',
}
BOB = {   # alice's answers, names changed, comments rewritten, spacing changed
"heavy_ball_velocity_step": '''def heavy_ball_velocity_step(param, grad, velocity, lr, momentum):
    # v_0 = 0: the first step is plain gradient descent
    delta = -lr*grad
    if velocity is not None:
        delta = delta + momentum*velocity

    new_param = param.clone()
    new_param += delta
    return new_param, delta
''',
"ema_momentum_step": '''def ema_momentum_step(param, grad, buf, lr, beta):
    if buf is None:
        running = grad.detach().clone()
    else:
        running = buf.mul(beta).add(grad, alpha=1-beta)   # EMA of the gradients
    return param.sub(running, alpha=lr), running
''',
"nesterov_step": '''def nesterov_step(param, grad, buf, lr, momentum):
    b = grad.detach().clone() if buf is None else buf.mul(momentum).add(grad)
    d = grad.add(b, alpha=momentum)
    return param.sub(d, alpha=lr), b
''',
"nesterov_lookahead_step": '''def nesterov_lookahead_step(param, velocity, grad_fn, lr, momentum):
    vel = torch.zeros_like(param) if velocity is None else velocity
    probe = param.sub(vel, alpha=lr * momentum)   # where momentum takes us
    nv = vel.mul(momentum).add(grad_fn(probe))
    return param.sub(nv, alpha=lr), nv
''',
}
CAROL = {   # the published solution, names changed
"heavy_ball_velocity_step": '''def heavy_ball_velocity_step(param, grad, velocity, lr, momentum):
    if velocity is None:
        velocity = torch.zeros_like(param)
    v = momentum * velocity - lr * grad
    return param + v, v
''',
"ema_momentum_step": '''def ema_momentum_step(param, grad, buf, lr, beta):
    if buf is None:
        m = grad.clone()
    else:
        m = beta * buf + (1 - beta) * grad
    return param - lr * m, m
''',
"nesterov_step": '''def nesterov_step(param, grad, buf, lr, momentum):
    b = grad.clone() if buf is None else momentum * buf + grad
    return param - lr * (grad + momentum * b), b
''',
"nesterov_lookahead_step": '''def nesterov_lookahead_step(param, velocity, grad_fn, lr, momentum):
    if velocity is None:
        velocity = torch.zeros_like(param)
    ahead = param - lr * momentum * velocity
    v = momentum * velocity + grad_fn(ahead)
    return param - lr * v, v
''',
}
DAVE = {
"heavy_ball_velocity_step": '''def heavy_ball_velocity_step(param, grad, velocity, lr, momentum):
    step = -lr * grad if velocity is None else momentum * velocity - lr * grad
    param.add_(step)
    return param, step
''',
"ema_momentum_step": '''def ema_momentum_step(param, grad, buf, lr, beta):
    if buf is None:
        buf = grad.clone()
    else:
        buf.lerp_(grad, 1 - beta)  # buf + (1 - beta) * (grad - buf)
    param.sub_(lr * buf)
    return param, buf
''',
"nesterov_step": '''def nesterov_step(param, grad, buf, lr, momentum):
    # g + mu * b_t written as (1 + mu) g + mu^2 b_{t-1}, with b_0 = 0
    old = torch.zeros_like(grad) if buf is None else buf
    new_buf = momentum * old + grad
    return param - lr * ((1 + momentum) * grad + momentum ** 2 * old), new_buf
''',
"nesterov_lookahead_step": '''def nesterov_lookahead_step(param, velocity, grad_fn, lr, momentum):
    if velocity is None:
        g = grad_fn(param)
        return param - lr * g, g
    point = param - lr * momentum * velocity
    new_v = momentum * velocity + grad_fn(point)
    return param - lr * new_v, new_v
''',
}
ERIN = {
"heavy_ball_velocity_step": '''def heavy_ball_velocity_step(param, grad, velocity, lr, momentum):
    prev = 0.0 if velocity is None else velocity
    v = torch.as_tensor(momentum * prev - lr * grad)
    return torch.add(param, v), v
''',
"ema_momentum_step": '''def ema_momentum_step(param, grad, buf, lr, beta):
    m = grad.clone() if buf is None else torch.lerp(grad, buf, beta)
    return torch.sub(param, lr * m), m
''',
"nesterov_step": '''def nesterov_step(param, grad, buf, lr, momentum):
    if buf is None:
        buf = torch.zeros_like(grad)
    b = torch.addcmul(grad, buf, torch.full_like(buf, momentum))
    return torch.sub(param, lr * torch.add(grad, b, alpha=momentum)), b
''',
"nesterov_lookahead_step": '''def nesterov_lookahead_step(param, velocity, grad_fn, lr, momentum):
    vel = torch.zeros_like(param) if velocity is None else velocity
    g_ahead = grad_fn(torch.addcmul(param, vel, torch.full_like(vel, -lr * momentum)))
    vel = torch.addcmul(g_ahead, vel, torch.full_like(vel, momentum))
    return torch.addcmul(param, vel, torch.full_like(vel, -lr)), vel
''',
}
FRANK = {
"heavy_ball_velocity_step": '''def _zero_if_none(t, like):
    return torch.zeros_like(like) if t is None else t


def heavy_ball_velocity_step(param, grad, velocity, lr, momentum):
    velocity = _zero_if_none(velocity, param) * momentum
    velocity -= lr * grad
    return param + velocity, velocity
''',
"ema_momentum_step": '''def ema_momentum_step(param, grad, buf, lr, beta):
    first = buf is None
    new = grad.clone() if first else (beta * buf).add_((1.0 - beta) * grad)
    return param - new * lr, new
''',
"nesterov_step": '''def nesterov_step(param, grad, buf, lr, momentum):
    b = grad.clone()
    if buf is not None:
        b.add_(buf, alpha=momentum)
    update = grad + b * momentum
    return param - update * lr, b
''',
"nesterov_lookahead_step": '''def nesterov_lookahead_step(param, velocity, grad_fn, lr, momentum):
    velocity = _zero_if_none(velocity, param)
    x_look = param - (lr * momentum) * velocity
    velocity = velocity * momentum + grad_fn(x_look)
    return param - velocity * lr, velocity
''',
}
GRACE = {
"heavy_ball_velocity_step": '''def heavy_ball_velocity_step(param, grad, velocity, lr, momentum):
    out_v = grad.mul(-lr)
    if velocity is not None:
        out_v.add_(velocity.mul(momentum))
    return param.add(out_v), out_v
''',
"ema_momentum_step": '''def ema_momentum_step(param, grad, buf, lr, beta):
    if buf is None:
        buf = grad
    else:
        buf = buf * beta + grad * (1 - beta)
    return param.add(buf, alpha=-lr), buf.clone()
''',
"nesterov_step": '''def nesterov_step(param, grad, buf, lr, momentum):
    b_t = grad if buf is None else grad + buf * momentum
    b_t = b_t.clone()
    return param.add(grad + b_t * momentum, alpha=-lr), b_t
''',
"nesterov_lookahead_step": '''def nesterov_lookahead_step(param, velocity, grad_fn, lr, momentum):
    v = velocity if velocity is not None else param * 0
    probe = param.add(v, alpha=-lr * momentum)
    v = grad_fn(probe) + momentum * v
    return param.add(v, alpha=-lr), v
''',
}
CLASS = {"alice": ALICE, "bob": BOB, "carol": CAROL, "dave": DAVE, "erin": ERIN, "frank": FRANK, "grace": GRACE}



def _write_class(folder: Path, students: dict = CLASS) -> Path:
    for student, cells in students.items():
        nb = pipeline.student_notebook(ROOT, ASSIGNMENT, NB, [pipeline.Edit(k, None, v) for k, v in cells.items()])
        (folder / student).mkdir(parents=True)
        nbformat.write(nb, folder / student / NB)
    return folder


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return _write_class(tmp_path_factory.mktemp("similarity") / "class")


def test_exactly_the_copies_are_listed(planted, tmp_path):
    out = tmp_path / "out"
    assert cli(["--course", str(ROOT), "similarity", ASSIGNMENT, str(planted), "--out", str(out)]) == 0
    data = json.loads((out / ASSIGNMENT / "similarity.json").read_text())
    assert {(p["a"], p["b"]) for p in data["pairs"]} == {("alice", "bob"), ("carol", similarity.SOLUTION)}
    copied = next(p for p in data["pairs"] if p["b"] == "bob")
    assert min(copied["similarity"]) > 0.9        # renaming and reformatting did not hide it
    assert copied["lines"][0] and copied["lines"][1]
    # the class report carries the section, with both sides' code, escaped
    page = (out / ASSIGNMENT / "report.html").read_text()
    assert 'data-similar-pairs="2"' in page and "alice ~ bob" in page
    assert "running = buf.mul(beta)" in page and "avg = buf.mul(beta)" in page
    assert "Content-Security-Policy" in page


def test_the_exclusions_are_what_keep_honest_pairs_off_the_list(planted):
    """Without leaving out what most of the class wrote alike, an honest pair crosses the threshold: the exclusion
    is doing the work (and the honest students are alike enough for the test to mean something)."""
    specs = assignment_specs(ROOT, ASSIGNMENT)
    docs = {d.name: similarity.answer_code(read_notebook(d / NB)[0], specs[0]) for d in planted.iterdir()}
    solution, template = similarity._solution_and_template(ROOT, ASSIGNMENT, specs)
    kept = similarity.compare(docs, solution, template)
    loose = similarity.compare(docs, solution, template, common_share=1.0)
    honest = {"dave", "erin", "frank", "grace"}
    assert not any(p["a"] in honest or p["b"] in honest for p in kept["pairs"])
    assert any(p["a"] in honest or p["b"] in honest for p in loose["pairs"])


def test_a_bad_threshold_is_named(planted, tmp_path):
    assert cli(["--course", str(ROOT), "similarity", ASSIGNMENT, str(planted), "--out", str(tmp_path),
                "--threshold", "1.5"]) == 2


def test_the_section_escapes_what_students_wrote(tmp_path):
    hostile = {s: dict(cells) for s, cells in CLASS.items() if s in ("alice", "dave", "erin")}
    hostile["mallory"] = {k: v.replace("# start from rest", "# </pre><script>alert(1)</script><img src=x onerror=alert(2)>")
                          for k, v in ALICE.items()}
    folder = _write_class(tmp_path / "class", hostile)
    similarity.run(ROOT, ASSIGNMENT, folder, tmp_path / "out", layout="folders", log=lambda *_: None)
    page = (tmp_path / "out" / ASSIGNMENT / "report.html").read_text()
    assert "alice ~ mallory" in page
    assert "<script>" not in page and "<img" not in page and "&lt;script&gt;" in page


# --------------------------------------------------------------------------------------------- written answers as PDFs


def _pdf_text(path: Path) -> str:
    import shutil
    import subprocess

    if not shutil.which("pdftotext"):
        pytest.fail("pdftotext is needed to read the PDFs back (Debian/Ubuntu: apt-get install poppler-utils)")
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_written_answers_as_pdfs_math_rendered_nothing_run(tmp_path):
    answers = {
        "zoe": "The gradient at the look-ahead point $\\theta_t - \\eta\\mu v_t$ already points back: ZOE-ANSWER.",
        "mallory": ("<img src=x onerror=\"document.body.innerHTML='PWNED-BY-IMG'\">MALLORY-ANSWER "
                    "<script>document.write('PWNED-BY-SCRIPT')</script>"),
        "adam": "ADAM-ANSWER: it damps because $$\\mu (g_t - g_{t-1})$$ opposes sign changes.",
    }
    subs = tmp_path / "class"
    for student, text in answers.items():
        nb = pipeline.student_notebook(ROOT, ASSIGNMENT, NB, [pipeline.Edit("written_lookahead", None, text)])
        (subs / student).mkdir(parents=True)
        nbformat.write(nb, subs / student / NB)
    out = tmp_path / "pdfs"
    assert cli(["--course", str(ROOT), "written", ASSIGNMENT, str(subs), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["adam.pdf", "class.pdf", "mallory.pdf", "zoe.pdf"]
    whole = _pdf_text(out / "class.pdf")
    # every answer, in id order, under the question
    positions = [whole.index(f"{s.upper()}-ANSWER") for s in ("adam", "mallory", "zoe")]
    assert positions == sorted(positions) and whole.index("In your own words") < positions[0]
    # nothing of mallory's ran: her text is there, the payloads' effects are not
    mallory = _pdf_text(out / "mallory.pdf")
    assert "MALLORY-ANSWER" in mallory and "PWNED-BY-IMG" not in mallory
    assert "PWNED-BY-SCRIPT" not in mallory.replace("document.write('PWNED-BY-SCRIPT')", "")
    # math typeset by MathJax: the TeX source is gone, its symbols are there
    zoe = _pdf_text(out / "zoe.pdf")
    assert "ZOE-ANSWER" in zoe and "\\theta" not in zoe and "\\eta" not in zoe and "θ" in zoe and "μ" in zoe
    assert "\\mu" not in whole and "\\theta" not in whole   # the question's math too
