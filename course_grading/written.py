"""Written answers (nbgrader's manually graded markdown cells) as PDFs for the people who grade them by hand.

``python -m course_grading written ASSIGNMENT SUBMISSIONS --out DIR`` writes ``DIR/<student>.pdf`` for each student
and ``DIR/class.pdf`` for the class: each written question (its text from the assignment's source notebook, in
notebook order) with the student's answer (every student, in id order, in the class PDF).

Rendering: one HTML page per PDF, then Chromium headless ``--print-to-pdf`` (the browser the course's tests already
need). The student's markdown goes through :func:`course_grading.feedback.markdown2html`'s renderer and cleaner (the
ones the formgrader and feedback pages use): only inert markup survives, so no script of the student's exists in the
page. The page itself carries a Content-Security-Policy that allows scripts only from the page's own folder, where
MathJax (the npm package the book serves offline, from the course's ``node_modules``) is copied: math is typeset;
nothing is fetched from the network; any inline script or event handler that slipped through would be refused by
the browser. Chromium prints once the page's load and MathJax's typesetting are done (``--virtual-time-budget``).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .course import NotebookSpec, meta


def written_answers(nb, spec: NotebookSpec) -> dict:
    """``{grade_id: the student's text}`` of ``spec``'s written answers in the student's notebook ``nb`` (an
    answer cell the student turned into code still counts: it is prose for the instructor). Missing ones are left
    out; an answer left as the release's placeholder is kept as it is."""
    if nb is None:
        return {}
    out = {}
    for cell in nb.get("cells", []):
        gid = meta(cell).get("grade_id")
        if gid in spec.written and gid not in out:
            source = cell.get("source", "")
            out[gid] = "".join(source) if isinstance(source, list) else str(source)
    return out


def questions(root: Path, assignment: str, specs: list) -> list:
    """``[(notebook, grade_id, points, question markdown)]`` in notebook order: each written answer of the
    source notebooks, with the markdown cells right above it (the question) joined."""
    from .course import read_notebook

    out = []
    for spec in specs:
        nb = read_notebook(Path(root) / "solutions" / assignment / spec.name)
        above: list = []
        for cell in nb.cells:
            gid = meta(cell).get("grade_id")
            if gid in spec.written:
                out.append((spec.name, gid, spec.written[gid], "\n\n".join(above)))
                above = []
            elif cell.get("cell_type") == "markdown" and not meta(cell):
                above.append(str(cell.get("source", "")))
            else:
                above = []
    return out


def _markdown(source: str) -> str:
    """Markdown as the formgrader and feedback pages render a student's: nbconvert's renderer (math left as TeX for
    MathJax), then the course's cleaner (:func:`course_grading.feedback.clean`)."""
    from .feedback import markdown2html

    return markdown2html({}, source)


CSP = ("default-src 'none'; script-src 'self'; font-src 'self'; style-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'")
STYLE = ("body{font-family:serif;max-width:46em;margin:1.5em auto;font-size:11pt}h1{font-size:1.4em}"
         "h2{font-size:1.15em;border-top:1px solid #999;padding-top:.5em}.q{color:#333;background:#f4f4f4;"
         "padding:.3em .8em}.a{border-left:3px solid #4a78a8;padding:.1em .8em;margin:.6em 0}"
         ".who{font-weight:bold}.none{color:#a00}section{break-inside:auto}.student{break-before:page}")


def page(title: str, items: list, students: list, answers: dict) -> str:
    """One HTML page: for each question of ``items`` (see :func:`questions`), each of ``students``'s answers
    (``answers[student][(notebook, grade_id)]``), in that order. Only sanitised markup; MathJax from the page's
    folder."""
    e = html.escape
    parts = [f"<h1>{e(title)}</h1>"]
    for notebook, gid, points, question in items:
        parts.append(f"<h2>{e(notebook)}: {e(gid)} ({points:g} point{'s' if points != 1 else ''})</h2>"
                     f"<div class='q'>{_markdown(question)}</div>")
        for student in students:
            text = answers.get(student, {}).get((notebook, gid))
            body = _markdown(text) if text and text.strip() else "<p class='none'>(no answer)</p>"
            parts.append(f"<div class='a'><p class='who'>{e(student)}</p>{body}</div>")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\"><title>{e(title)}</title>"
            f"<style>{STYLE}</style><script src='mathjax-config.js'></script>"
            f"<script src='mathjax/tex-mml-chtml.js' id='MathJax-script'></script></head><body>"
            + "\n".join(parts) + "</body></html>")


MATHJAX_CONFIG = ("window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], displayMath: [['$$', '$$'], "
                  "['\\\\[', '\\\\]']], processEscapes: true}, options: {enableMenu: false}, "
                  "startup: {typeset: true}, chtml: {fontURL: 'mathjax/output/chtml/fonts/woff-v2'}};\n")


def find_mathjax(root: Path) -> Path:
    """The MathJax ``es5`` folder of the course's npm install (``make setup`` installs it, as for the book)."""
    folder = Path(root) / "node_modules" / "mathjax" / "es5"
    if not (folder / "tex-mml-chtml.js").is_file():
        raise ValueError(f"MathJax is not installed in {folder.parent} (run `npm ci` in the course folder, as "
                         "`make setup` does)")
    return folder


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    raise ValueError("Chromium is needed to print the PDFs (Debian/Ubuntu: `sudo apt-get install chromium`)")


def print_pdf(html_text: str, dest: Path, mathjax: Path, chromium: str, timeout: float = 120) -> Path:
    """``html_text`` printed to ``dest`` by Chromium headless, MathJax beside the page."""
    with tempfile.TemporaryDirectory(prefix="written-") as tmp:
        folder = Path(tmp)
        (folder / "mathjax").symlink_to(Path(mathjax).resolve(), target_is_directory=True)
        (folder / "mathjax-config.js").write_text(MATHJAX_CONFIG)
        (folder / "page.html").write_text(html_text, encoding="utf-8")
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-pdf-header-footer",
               f"--user-data-dir={folder / 'profile'}",
               "--virtual-time-budget=20000",
               f"--print-to-pdf={dest.resolve()}", (folder / "page.html").as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not dest.is_file():
            raise RuntimeError(f"Chromium could not print {dest.name}: {proc.stderr.strip()[-500:]}")
    return dest


def run(root: Path, assignment: str, submissions: Path, out: Path, *, layout: str | None = None, log=print) -> list:
    """One PDF per student (``out/<student>.pdf``) and one for the class (``out/class.pdf``); returns the paths."""
    from . import intake
    from .course import assignment_specs
    from .intake.notebook import read_notebook

    if not re.fullmatch(r"[A-Za-z0-9_\-]+", assignment or ""):
        raise ValueError(f"assignment: {assignment!r} is not an assignment name")
    specs = assignment_specs(root, assignment)
    items = questions(root, assignment, specs)
    if not items:
        raise ValueError(f"assignment: {assignment} has no written answers (manually graded markdown cells)")
    mathjax, chromium = find_mathjax(root), find_chromium()
    scratch = Path(tempfile.mkdtemp(prefix="written-intake-"))
    try:
        taken = intake.read_submissions(Path(submissions), assignment, [s.name for s in specs], scratch=scratch,
                                        layout=layout)
        answers = {}
        for student, sub in taken.students.items():
            mine = {}
            for spec in specs:
                path = sub.notebooks.get(spec.name)
                nb = read_notebook(path)[0] if path else None
                mine.update({(spec.name, gid): text for gid, text in written_answers(nb, spec).items()})
            answers[student] = mine
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    students = sorted(answers)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for student in students:
        written.append(print_pdf(page(f"{assignment}: written answers of {student}", items, [student], answers),
                                 out / f"{student}.pdf", mathjax, chromium))
    written.append(print_pdf(page(f"{assignment}: written answers, the class ({len(students)} students)", items,
                                  students, answers), out / "class.pdf", mathjax, chromium))
    log(f"{len(written) - 1} student PDF(s) and class.pdf in {out}")
    return written
