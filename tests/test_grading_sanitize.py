"""Nothing a student writes runs where an instructor or a student looks, checked in a real headless Chromium.

One hostile student hands in the written-answer assignment with the classic script injections everywhere a
notebook can carry them: raw HTML in a markdown cell (``<img onerror>``, ``<svg onload>``, ``<script>``, a
``javascript:`` link, an ``<iframe srcdoc>``), a markdown ``javascript:`` link and autolink, a raw cell marked
``text/html``, saved code-cell outputs (``text/html``, ``application/javascript``, ``image/svg+xml``,
``text/markdown``, a PNG whose ``width`` metadata breaks out of nbconvert's unquoted attribute), widget state, and an
exception message that reaches the verdicts. Its written answer also has an honest part: text, math, a list, inline
code and a data-URI image.

The class is graded by ``course_grading.grade.grade`` (the real path: intake, worker, judge, nbgrader's autograde,
feedback), and three pages built from it are opened: the feedback page, ``report.html``, and the submission as the
formgrader serves it (nbgrader's formgrader extension in a headless Jupyter server started in the course folder,
reading the course's ``nbgrader_config.py``). The grading run's autograded copies hold only the judge's outputs, so
the formgrader's and the feedback's renderers (configured as the course configures them) are also given the
submission with its saved outputs, as a plain ``nbgrader autograde`` would leave it. Each payload, if it ran, would
set a global ``xss_<name>`` on the top window; the links are clicked. Every page must end with no such global, no
dialog and the honest answer readable.

A control renders the same submission with nbconvert's stock HTML exporter (no sanitising) and requires every
payload to fire there: the payloads and the detection are live, so a clean page means the defence worked.
"""

from __future__ import annotations

import functools
import http.server
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from _grading import ROOT, SANDBOX
import _pipeline as pipeline

from course_grading.grade import grade

# the browser tests share one grading run, one Chromium and one Jupyter server: one xdist worker for them
slow = [pytest.mark.slow, pytest.mark.xdist_group("test_grading_sanitize")]


def browser_test(f):
    for mark in slow:
        f = mark(f)
    return f

ASSIGNMENT, NB, STUDENT = "03-momentum", "momentum.ipynb", "mallory"
HONEST = "It looks ahead, so it overshoots less."
HONEST_ITEM = "the velocity shrinks when the gradient turns"
HONEST_CODE = "lookahead = param - lr * momentum * v"
# a 1x1 PNG: written answers may carry images as data URIs
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def js(name: str) -> str:
    """The script a payload runs: sets ``xss_<name>`` on the top window (no quote, space or parenthesis)."""
    return f"top.xss_{name}=1"


# raw HTML and markdown that a student can put in any markdown cell (here: the written answer and a new cell)
MARKDOWN_PAYLOADS = {
    "img": f'<img src="x" onerror="{js("img")}">',
    "svg": f'<svg onload="{js("svg")}"></svg>',
    "script": f"<script>{js('script')}</script>",
    "ahref": f'<a href="javascript:{js("ahref")}">click-ahref</a>',
    "iframe": f'<iframe srcdoc="<script>{js("iframe")}</script>"></iframe>',
    "mdlink": f"[click-mdlink](javascript:{js('mdlink')})",
    "autolink": f"<javascript:{js('autolink')}>",
    "details": f"<details open ontoggle={js('details')}><summary>s</summary>d</details>",
}
OUTPUT_PAYLOADS = ("outhtml", "outjs", "outsvg", "outmd", "outpng", "widgets")
MESSAGE_PAYLOAD = f"<img src=x onerror={js('message')}>"   # raised by the student's function: reaches the verdicts
ALL = sorted([*MARKDOWN_PAYLOADS, *(f"{n}_new" for n in MARKDOWN_PAYLOADS), "raw", *OUTPUT_PAYLOADS, "message"])


def written_answer() -> str:
    payloads = "\n\n".join(MARKDOWN_PAYLOADS.values())
    return (f"{HONEST} With $\\beta < 1$ the look-ahead gradient $\\nabla f(\\theta - \\eta\\beta v)$ pulls back:\n\n"
            f"- {HONEST_ITEM}\n- it damps the oscillation\n\n`{HONEST_CODE}`\n\n![sketch](data:image/png;base64,{PNG})"
            f"\n\n{payloads}\n")


def hostile_notebook():
    edits = [pipeline.Edit("written_lookahead", None, written_answer()),
             pipeline.Edit("nesterov_step", None, "def nesterov_step(param, grad, buf, lr, momentum):\n"
                                                  f"    raise ValueError({MESSAGE_PAYLOAD!r})\n")]
    nb = pipeline.student_notebook(ROOT, ASSIGNMENT, NB, edits)
    extra = "\n\n".join(p.replace(f"xss_{n}=", f"xss_{n}_new=") for n, p in MARKDOWN_PAYLOADS.items())
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("A note of my own.\n\n" + extra))
    nb.cells.insert(3, nbformat.v4.new_raw_cell(f"<img src=x onerror={js('raw')}>",
                                                metadata={"raw_mimetype": "text/html"}))
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "heavy_ball_velocity_step")
    answer.execution_count = 1
    answer.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": f"<img src=x onerror={js('outhtml')}>",
                                                     "text/plain": "html"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": js("outjs")}),
        nbformat.v4.new_output("display_data", data={
            "image/svg+xml": f'<svg xmlns="http://www.w3.org/2000/svg" onload="{js("outsvg")}"></svg>'}),
        nbformat.v4.new_output("display_data", data={"text/markdown": f'<img src="x" onerror="{js("outmd")}">'}),
        # nbconvert writes width={{ width | escape_html }} without quotes: a space starts a new attribute
        nbformat.v4.new_output("display_data", data={"image/png": "bm90IGEgcG5n"},
                               metadata={"image/png": {"width": f"1 onerror={js('outpng')}"}}),
    ]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {"x": f"</script><script>{js('widgets')}</script>"}, "version_major": 2, "version_minor": 0}}
    nbformat.validate(nb)
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The course copy, graded: ``mallory`` (every payload) and ``alice`` (the model answers)."""
    tmp = tmp_path_factory.mktemp("sanitize")
    course = pipeline.make_course(tmp / "course", [ASSIGNMENT], root=ROOT, release=False)
    subs = tmp / "subs"
    for student, nb in {STUDENT: hostile_notebook(), "alice": pipeline.student_notebook(ROOT, ASSIGNMENT, NB)}.items():
        (subs / student).mkdir(parents=True)
        nbformat.write(nb, subs / student / NB)
    log: list[str] = []
    grade(course, ASSIGNMENT, subs, out=course / "grades", db_url="sqlite:///" + str(course / "gradebook.db"),
          layout="folders", use_sandbox=SANDBOX, feedback_pages=True, log=log.append)
    return tmp, course, "\n".join(log)


@pytest.fixture(scope="module")
def site(graded):
    """Serves the temporary folder (course copy and control page) over HTTP, as a page would be opened."""
    from test_browser import QuietHandler   # (imported here: the fast tests below need no browser)

    handler = functools.partial(QuietHandler, directory=str(graded[0]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM_ARGS, chromium_path   # how the book's browser tests find and start Chromium

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def formgrader(graded):
    """nbgrader's formgrader in a headless Jupyter server started in the course folder: (base URL, token)."""
    tmp, course, _ = graded
    port, token = _free_port(), secrets.token_hex(16)
    home = tmp / "jupyter"
    env = pipeline.course_env({"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                               "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "run"),
                               "HOME": str(home)})
    log = open(tmp / "formgrader.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ip=127.0.0.1",
                             f"--port={port}", f"--IdentityProvider.token={token}",
                             f"--ServerApp.root_dir={course}",
                             "--ServerApp.jpserver_extensions={'nbgrader.server_extensions.formgrader': True}"],
                            cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the Jupyter server did not start:\n" + (tmp / "formgrader.log").read_text()[-3000:])
                time.sleep(0.5)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def visit(browser, url: str, local: str, *, click: bool = True) -> dict:
    """Open ``url`` (requests outside ``local`` are refused: no network), click every link the payloads made,
    and return what ran: the ``xss_*`` globals of the page and of its frames, dialogs, and the page's text."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(local) else r.abort())
    try:
        response = page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, f"{url}: HTTP {response and response.status}"
        page.wait_for_timeout(300)
        if click:
            for label in ("click-ahref", "click-mdlink", "javascript:"):
                for link in page.locator("a", has_text=label).all():
                    link.evaluate("a => a.click()")
            page.wait_for_timeout(300)
        ran = set()
        for frame in page.frames:
            try:
                ran |= set(frame.evaluate("() => Object.keys(window).filter(k => k.startsWith('xss_'))"))
            except Exception:  # noqa: BLE001 - a frame that navigated away
                pass
        return {"ran": sorted(k[len("xss_"):] for k in ran), "dialogs": dialogs,
                "text": page.evaluate("() => document.body.innerText"),
                "images": page.evaluate("() => Array.from(document.images).filter(i => i.complete && "
                                        "i.naturalWidth > 0 && i.src.startsWith('data:image/png')).length"),
                "items": page.evaluate("() => Array.from(document.querySelectorAll('li')).map(e => e.innerText)"),
                "codes": page.evaluate("() => Array.from(document.querySelectorAll('code')).map(e => e.innerText)")}
    finally:
        page.close()


def readable(seen: dict) -> list:
    """What of the honest written answer is missing from a rendered page."""
    missing = [what for what, ok in [("text", HONEST in seen["text"]),
                                     ("list item", any(HONEST_ITEM in i for i in seen["items"])),
                                     ("inline code", any(HONEST_CODE in c for c in seen["codes"])),
                                     ("math", "\\beta < 1" in seen["text"] or "β" in seen["text"]),
                                     ("data-URI image", seen["images"] >= 1)] if not ok]
    return missing


# payloads that nbconvert 7.17's own templates already neutralise, sanitising or not: a raw cell goes through its
# clean_html, an SVG output becomes an <img> (whose scripts never run), widget state is JSON-escaped
NEUTRAL_IN_NBCONVERT = {"raw", "outsvg", "widgets"}


@browser_test
def test_control_every_payload_runs_in_an_unsanitised_page(graded, site, browser):
    """nbconvert's stock exporter (classic template, the base of nbgrader's, no sanitising) on the submitted
    notebook runs every payload (jQuery, which its JavaScript outputs expect, is served from nbgrader's copy)."""
    import nbgrader
    from nbconvert.exporters import HTMLExporter

    tmp = graded[0]
    jquery = Path(nbgrader.__file__).parent / "server_extensions/formgrader/static/node_modules/jquery/dist"
    shutil.copyfile(jquery / "jquery.min.js", tmp / "jquery.min.js")
    exporter = HTMLExporter(template_name="classic", jquery_url=site + "jquery.min.js")
    body, _ = exporter.from_notebook_node(hostile_notebook())
    (tmp / "control.html").write_text(body, encoding="utf-8")
    seen = visit(browser, site + "control.html", site)
    expected = set(ALL) - NEUTRAL_IN_NBCONVERT - {"message"}   # the message exists only once the judge has run
    assert set(seen["ran"]) == expected, f"payloads that did not run unsanitised: {sorted(expected - set(seen['ran']))}"
    assert not readable(seen), readable(seen)


@browser_test
def test_feedback_page_runs_nothing_and_keeps_the_answer(graded, site, browser):
    tmp, course, log = graded
    page = course / "grades" / ASSIGNMENT / "feedback" / STUDENT / "momentum.html"
    assert page.is_file(), log
    seen = visit(browser, site + page.relative_to(tmp).as_posix(), site)
    assert not seen["ran"] and not seen["dialogs"], f"student scripts ran in the feedback page: {seen['ran']}"
    assert not readable(seen), f"the written answer lost its {readable(seen)} in the feedback page"
    assert "onerror=top.xss_message=1" in seen["text"], "the failure message is shown, as text"


@browser_test
def test_report_runs_nothing(graded, site, browser):
    tmp, course, log = graded
    page = course / "grades" / ASSIGNMENT / "report.html"
    seen = visit(browser, site + page.relative_to(tmp).as_posix(), site)
    assert not seen["ran"] and not seen["dialogs"], f"student scripts ran in report.html: {seen['ran']}"
    assert "onerror=top.xss_message=" in seen["text"], "the payload reached the report (shown as text)"
    # second line of defence: were a value ever written unescaped, the page's policy still refuses to run it
    broken = page.read_text(encoding="utf-8").replace(
        "<h2>", f'<img src="x" onerror="{js("unescaped")}"><script>{js("unescaped_script")}</script><h2>', 1)
    (tmp / "report-unescaped.html").write_text(broken, encoding="utf-8")
    seen = visit(browser, site + "report-unescaped.html", site)
    assert not seen["ran"], f"report.html's Content-Security-Policy let {seen['ran']} run"
    assert "Distribution of totals" in seen["text"]


@browser_test
def test_formgrader_runs_nothing_and_keeps_the_answer(graded, formgrader, browser):
    from nbgrader.api import Gradebook

    tmp, course, log = graded
    base, token = formgrader
    with Gradebook("sqlite:///" + str(course / "gradebook.db")) as gb:
        sid = gb.find_submission_notebook(Path(NB).stem, ASSIGNMENT, STUDENT).id
    seen = visit(browser, f"{base}/formgrader/submissions/{sid}/?token={token}", base)
    assert "Student's answer" in seen["text"], seen["text"][:2000]
    assert not seen["ran"] and not seen["dialogs"], f"student scripts ran in the formgrader: {seen['ran']}"
    assert not readable(seen), f"the written answer lost its {readable(seen)} in the formgrader"


@browser_test
@pytest.mark.parametrize("template", ["formgrade", "feedback"])
def test_course_exporter_runs_nothing_from_saved_outputs(graded, site, browser, template):
    """The formgrader and feedback renderers, configured as the course configures them, on the submission *with*
    its saved outputs (an autograded copy made by plain ``nbgrader autograde`` keeps what the student's code
    displays; the grading run's copies have only the judge's outputs)."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers

    from course_grading.gradebook import course_config

    tmp, course, _ = graded
    config = course_config(course)   # what the formgrader loads from the course folder; then nbgrader's settings
    config.HTMLExporter.template_name = template
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    config.HTMLExporter.extra_template_paths = [str(Path(handlers.static_path) / "node_modules/bootstrap/dist/css")]
    resources = {"base_url": "", "index": 0, "total": 1, "student": STUDENT, "assignment_id": ASSIGNMENT,
                 "notebook_id": "momentum", "submission_id": "x", "notebook_path": NB,
                 "nbgrader": {"notebook": "momentum", "score": 0, "max_score": 13, "late_penalty": 0}}
    nb = hostile_notebook()
    for cell in nb.cells:   # what nbgrader's GetGrades adds before the feedback template renders
        if "nbgrader" in cell.metadata:
            cell.metadata.nbgrader.update(score=0, comment="")
    body, _ = HTMLExporter(config=config).from_notebook_node(nb, resources=resources)
    (tmp / f"{template}.html").write_text(body, encoding="utf-8")
    seen = visit(browser, site + f"{template}.html", site)
    assert not seen["ran"] and not seen["dialogs"], f"student scripts ran ({template} template): {seen['ran']}"
    assert not readable(seen), f"the written answer lost its {readable(seen)} ({template} template)"


@browser_test
def test_stored_autograded_copy_carries_no_active_content(graded):
    """What the formgrader reads (and an instructor may open as a live notebook): no student output of an active
    type, no raw HTML cell, no widget state; the written answer's text is the student's own."""
    course = graded[1]
    nb = nbformat.read(course / "grades" / "autograded" / STUDENT / ASSIGNMENT / NB, as_version=4)
    kinds = {key for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
             for key in out.get("data", {})}
    assert kinds <= {"text/plain", "image/png", "image/jpeg"}, kinds
    assert "widgets" not in nb.metadata
    assert not [c for c in nb.cells if c.cell_type == "raw" and (c.metadata.get("raw_mimetype")
                                                                 or c.metadata.get("format"))]
    written = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "written_lookahead")
    assert written.source == written_answer()


# ------------------------------------------------------------------------------------------ fast checks


def test_markdown_filter_keeps_a_written_answer_and_escapes_markup():
    """The filter the course's templates use, on its own: the honest parts keep their elements, raw HTML becomes
    text, and no event handler, ``javascript:`` URL or non-image data URL survives."""
    import re

    from course_grading.feedback import markdown2html

    context = {"cell": {}, "resources": {}}
    table = "| a | b |\n|:--|--:|\n| 1 | 2 |\n"
    out = markdown2html(context, written_answer() + "\n# Title\n\n" + table + "\n[ok](https://example.org)"
                        "\n\n<a href=\"data:text/html,x\">d</a> <img src=\"data:image/svg+xml;base64,PHN2Zz4=\">")
    for element in ("<li>", "<code>", '<img src="data:image/png;base64,', 'alt="sketch"', "<h1>", "<table>",
                    '<a href="https://example.org">ok</a>', "$\\beta &lt; 1$"):
        assert element in out, (element, out)
    assert "&lt;script&gt;" in out and "&lt;iframe" in out    # shown as text, not dropped silently
    tags = re.findall(r"<[a-z][^>]*>", out)
    assert not [t for t in tags if re.search(r"\son[a-z]+=|javascript:|data:(?!image/png)", t, re.I)], tags


def test_leak_check_tells_a_visible_line_from_a_hidden_one():
    """A visible test line that merely contains a hidden one is no leak (the 03-momentum feedback page was replaced
    by the score table for every student because of it); the hidden line on its own still is."""
    from course_grading import course, feedback

    spec = course.read_spec(ROOT / "solutions" / ASSIGNMENT / NB)
    hidden = "from reference_impl.testing import assert_close"
    visible = "from reference_impl.testing import assert_close, quadratic"   # a released line that contains it
    spec.tests[0].source += f"\n### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS\n"
    spec.released_tests.add(visible)
    assert hidden in feedback.hidden_lines(spec)
    assert feedback.leaks(f"<pre>{visible}</pre>", spec, []) == []
    assert feedback.leaks(f"<pre>{hidden}</pre>", spec, [])
