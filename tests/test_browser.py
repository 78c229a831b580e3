"""The built book as a reader sees it, in a real headless Chromium (issue: offline math, real-browser tests).

Runs against ``_build/html`` (``make test`` builds the book first), served from a local HTTP server. Chromium comes
from the system packages (``apt-get install chromium``; ``make setup-system`` and ``.ci/run`` install it; ``CHROMIUM``
names another executable), found the way ``scripts/check_prereqs.py`` finds it; Playwright drives it through
``executable_path`` (its own browser download cannot work offline). Without Chromium these tests fail, with the
same message ``make test`` stops with before it starts.
"""

from __future__ import annotations

import functools
import json
import http.server
import importlib.util
import os
import re
import threading
from pathlib import Path
from urllib.parse import urljoin, urldefrag, urlparse

import pytest
import yaml

from reference_impl.explorers import unpack_paths

# COURSE_HTML points the tests at another build (e.g. a copy made by scripts/build_book.py --out DIR).
HTML = Path(os.environ.get("COURSE_HTML", Path(__file__).resolve().parent.parent / "_build" / "html")).resolve()
ROOT = HTML.parent.parent  # the book's source folder (holds _toc.yml)
SCREENSHOTS = HTML.parent / "screenshots"
# Chromium flags for a sandboxed machine with no network (see the project's toolchain notes).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.slow


def toc_pages() -> list[str]:
    """Every page listed in _toc.yml, as a path relative to the HTML root."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [str(Path(p).with_suffix("")) + ".html" for p in pages]


PAGES = toc_pages()


def _prereqs():
    path = Path(__file__).resolve().parent.parent / "scripts" / "check_prereqs.py"
    spec = importlib.util.spec_from_file_location("check_prereqs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chromium_path() -> str:
    prereqs = _prereqs()
    found, problem = prereqs.find_chromium()
    if problem:
        pytest.fail(prereqs.report(["test"], {"chromium": [problem]}))
    return found


@pytest.fixture(scope="module")
def site():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML} has no built book: run `make book` first (`make test` does).")
    handler = functools.partial(QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output readable
        pass


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, url: str):
    """Open ``url``; return (page, response, console errors list)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    response = page.goto(url, wait_until="load")
    return page, response, errors


def test_internal_links_resolve(browser, site):
    """Every internal link of every toc page answers 200, and every #fragment exists on its target page."""
    page = browser.new_page()
    ids_cache: dict[str, set[str]] = {}
    failures = []

    def ids_of(url: str) -> set[str] | None:
        if url not in ids_cache:
            response = page.request.get(url)
            if response.status != 200:
                return None
            ids_cache[url] = set(re.findall(r'\bid="([^"]+)"', response.text()))
        return ids_cache[url]

    try:
        for path in PAGES:
            page.goto(urljoin(site, path))
            hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
            for href in hrefs:
                if urlparse(href).netloc != urlparse(site).netloc:
                    continue  # external links are not checked (no network)
                target, fragment = urldefrag(href)
                ids = ids_of(target)
                if ids is None:
                    failures.append(f"{path}: {href} -> not found")
                elif fragment and fragment not in ids and not target.endswith("search.html"):
                    failures.append(f"{path}: {href} -> no element with id {fragment!r}")
        assert not failures, "broken internal links:\n" + "\n".join(sorted(set(failures))[:50])
    finally:
        page.close()


def test_search_finds_nesterov(browser, site):
    page, response, errors = open_page(browser, urljoin(site, "search.html?q=Nesterov"))
    try:
        page.wait_for_selector("#search-results ul.search li", timeout=30_000)
        hits = page.locator("#search-results ul.search li").count()
        assert hits >= 1
        assert not errors, errors
    finally:
        page.close()


def test_screenshots_for_review(browser, site):
    """Screenshots of the landing page and one chapter, saved for a human to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    chapters = [p for p in PAGES if p.startswith("chapters/")]
    targets = {"landing.png": PAGES[0]}
    if chapters:
        targets["chapter.png"] = chapters[min(2, len(chapters) - 1)]
    for name, path in targets.items():
        page, response, _ = open_page(browser, urljoin(site, path))
        try:
            page.screenshot(path=str(SCREENSHOTS / name), full_page=False)
        finally:
            page.close()
        assert (SCREENSHOTS / name).stat().st_size > 10_000, f"{name} looks empty"


# ---------------------------------------------------------------------------------------------------------------
# Interactive figures (reference_impl.explorers + explorers.js + plotly.js served by the book), network blocked
# ---------------------------------------------------------------------------------------------------------------

EXPLORERS = {"trajectories": "chapters/03-momentum.html", "adam-eps": "chapters/06-adam-adamw.html",
             "schedules": "chapters/09-schedules.html"}
RACES = {"race-momentum": "chapters/03-momentum.html", "race-adam-lion": "chapters/07-lion-lamb.html",
         "race-schedule-free": "chapters/10-schedule-free.html"}
PAGE_LIMIT = 3_000_000  # bytes: a chapter's HTML, and all a page loads when the host compresses


def open_offline(browser, site: str, path: str, width: int = 1280):
    """Open a page with every non-local request aborted; return (page, console errors, blocked URLs)."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    blocked: list[str] = []

    def route(r):
        if r.request.url.startswith(site):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    response = page.goto(urljoin(site, path), wait_until="load")
    assert response is not None and response.status == 200
    return page, errors, blocked


def explorer_json(page, ident: str) -> dict:
    return page.evaluate(f"() => JSON.parse(document.querySelector('#explorer-{ident} script.course-explorer-data')"
                         ".textContent)")


def plotted(page, ident: str, meta: str) -> dict:
    """The x/y arrays plotly holds for the trace tagged ``meta``, and the SVG path it drew for it."""
    return page.evaluate("""([ident, meta]) => {
        const gd = document.querySelector('#explorer-' + ident + ' .js-plotly-plot');
        const i = gd.data.findIndex(t => t.meta === meta);
        const line = gd.querySelector('g.trace' + gd._fullData[i].uid + ' path.js-line');
        return {x: Array.from(gd.data[i].x), y: Array.from(gd.data[i].y), d: line ? line.getAttribute('d') : null};
    }""", [ident, meta])


def move(page, ident: str, selector: str, index: int) -> None:
    page.evaluate("""([ident, selector, index]) => {
        const input = document.querySelector('#explorer-' + ident + ' ' + selector);
        input.value = String(index);
        input.dispatchEvent(new Event('input', {bubbles: true}));
    }""", [ident, selector, index])


def page_bytes(page, site: str) -> dict[str, int]:
    """Bytes of everything the page loaded (document and resources), read from the built files: raw and gzipped
    (what a host that compresses, such as GitHub Pages, sends), and the document alone."""
    import gzip

    urls = page.evaluate("""() => performance.getEntriesByType('navigation').concat(
        performance.getEntriesByType('resource')).map(e => e.name)""")
    raw = packed = 0
    for url in urls:
        assert url.startswith(site), url
        data = (HTML / urlparse(url).path.lstrip("/")).read_bytes()
        raw += len(data)
        packed += len(gzip.compress(data, compresslevel=6))
    document = (HTML / urlparse(urls[0]).path.lstrip("/")).stat().st_size
    return {"raw": raw, "gzip": packed, "document": document}


def finish(page, ident: str, errors: list, blocked: list) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"explorer-{ident}.png"
    page.locator(f"#explorer-{ident}").screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000, f"{shot} looks empty"
    assert not errors, f"JavaScript errors: {errors}"
    assert not blocked, f"the page tried to reach the network: {blocked}"


def test_trajectory_explorer_sliders_redraw_the_library_paths(browser, site):
    page, errors, blocked = open_offline(browser, site, EXPLORERS["trajectories"])
    try:
        page.wait_for_selector("#explorer-trajectories[data-ready] .main-svg", timeout=30_000)
        # the page's data, its packed paths unpacked in Python (reference_impl.explorers.unpack_paths), not by the page
        data = unpack_paths(explorer_json(page, "trajectories"))
        page.click('#explorer-trajectories [data-param="optimizer"] button[data-value="Nesterov"]')
        seen = set()
        for lr, beta in [(1, 0), (5, 0), (5, 4), (8, 2)]:
            move(page, "trajectories", 'input[data-param="lr"]', lr)
            move(page, "trajectories", 'input[data-param="beta"]', beta)
            for prob in ("quadratic", "rosenbrock"):
                shown = plotted(page, "trajectories", f"path-{prob}")
                run = data["optimizers"]["Nesterov"]["runs"][prob][lr][beta]
                assert shown["x"] == run["x"] and shown["y"] == run["y"], (lr, beta, prob)
                assert shown["d"], "no line drawn"
                seen.add((prob, shown["d"]))
        assert len(seen) == 8, "moving the sliders must change the drawn paths"
        # a diverging run is marked on the map
        page.click('#explorer-trajectories [data-param="optimizer"] button[data-value="GD"]')
        move(page, "trajectories", 'input[data-param="lr"]', 8)
        state = json.loads(page.get_attribute("#explorer-trajectories", "data-state"))
        assert state == {"optimizer": "GD", "lr": 8, "beta": 0}
        crosses = page.evaluate("""() => document.querySelector('#explorer-trajectories .js-plotly-plot').data
            .filter(t => t.name === 'diverged').map(t => t.x.length)""")
        assert data["optimizers"]["GD"]["runs"]["quadratic"][8][0]["diverged"] and crosses[0] >= 1
        finish(page, "trajectories", errors, blocked)
    finally:
        page.close()


def test_schedule_explorer_overlays_two_schedules(browser, site):
    page, errors, blocked = open_offline(browser, site, EXPLORERS["schedules"])
    try:
        page.wait_for_selector("#explorer-schedules[data-ready] .main-svg", timeout=30_000)
        data = explorer_json(page, "schedules")
        curve = lambda i: page.evaluate(  # noqa: E731
            f"() => Array.from(document.querySelector('#explorer-schedules .js-plotly-plot').data[{i}].y)")
        before = curve(0)
        move(page, "schedules", '[data-side="0"] input[data-param="warmup_steps"]', 4)
        after = curve(0)
        assert after != before and after == data["schedules"]["warmup_cosine"]["curves"]["4,0"]
        page.click('#explorer-schedules [data-side="1"] button[data-value="cosine_warm_restarts"]')
        move(page, "schedules", '[data-side="1"] input[data-param="cycle_mult"]', 1)
        move(page, "schedules", '[data-side="1"] input[data-param="first_cycle_steps"]', 1)
        assert curve(1) == data["schedules"]["cosine_warm_restarts"]["curves"]["1,1"]
        assert set(data["schedules"]) >= {"step_decay", "cosine_annealing", "wsd", "one_cycle", "ReduceLROnPlateau"}
        finish(page, "schedules", errors, blocked)
    finally:
        page.close()


def test_adam_eps_explorer_goes_from_sign_to_sgd(browser, site):
    page, errors, blocked = open_offline(browser, site, EXPLORERS["adam-eps"])
    try:
        page.wait_for_selector("#explorer-adam-eps[data-ready] .main-svg", timeout=30_000)
        data = explorer_json(page, "adam-eps")
        small = plotted(page, "adam-eps", "first-step")
        move(page, "adam-eps", 'input[data-param="eps"]', len(data["eps"]) - 1)
        large = plotted(page, "adam-eps", "first-step")
        assert small["y"] == data["first_step"][0] and large["y"] == data["first_step"][-1]
        assert small["d"] != large["d"]
        assert plotted(page, "adam-eps", "path")["x"] == data["paths"][-1]["x"]
        finish(page, "adam-eps", errors, blocked)
    finally:
        page.close()


@pytest.mark.parametrize("ident", list(RACES))
def test_animation_plays(browser, site, ident):
    page, errors, blocked = open_offline(browser, site, RACES[ident])
    try:
        page.wait_for_selector(f"#explorer-{ident}[data-ready] .main-svg", timeout=30_000)
        start = len(plotted(page, ident, "path")["x"])
        assert start == 1
        page.click(f'#explorer-{ident} button[data-action="play"]')
        page.wait_for_function("""(ident) => +(document.querySelector('#explorer-' + ident)
            .getAttribute('data-frame') || 0) >= 3""", arg=ident, timeout=30_000)
        page.click(f'#explorer-{ident} button[data-action="pause"]')
        assert len(plotted(page, ident, "path")["x"]) > start, "the path must grow while playing"
        steps = int(page.get_attribute(f'#explorer-{ident} input[data-param="step"]', "max")) + 1
        assert steps > 10, "the step scrubber needs steps"
        finish(page, ident, errors, blocked)
    finally:
        page.close()


@pytest.mark.parametrize("path", sorted(set(EXPLORERS.values()) | set(RACES.values())))
def test_pages_with_figures_stay_light(browser, site, path):
    """The chapter's HTML stays under 3 MB, and so does everything the page loads as a compressing host sends it.

    (Uncompressed, a page of this Jupyter Book theme loads about 0.6 MB of theme CSS, scripts and fonts before its
    text, math and figures; the interactive figures add plotly.js, explorers.js and their data.)"""
    page, errors, blocked = open_offline(browser, site, path)
    try:
        page.wait_for_selector(".course-explorer[data-ready] .main-svg", timeout=30_000)
        sizes = page_bytes(page, site)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        with open(SCREENSHOTS / "page_bytes.txt", "a") as out:
            out.write(f"{path} {json.dumps(sizes)}\n")
        assert sizes["document"] < PAGE_LIMIT, f"{path}: {sizes}"
        assert sizes["gzip"] < PAGE_LIMIT, f"{path}: {sizes}"
        assert not errors and not blocked, (errors, blocked)
    finally:
        page.close()


# ---------------------------------------------------------------------------------------------------------------
# The science, not the plumbing (issue 28, item 6): what a reader sees of the code
# ---------------------------------------------------------------------------------------------------------------

CHAPTER_PAGES = [p for p in PAGES if p.startswith("chapters/")]


def included_docstrings_with_math(chapter: Path) -> int:
    """How many ``literalinclude :pyobject:`` of the chapter show an object whose docstring has reST math."""
    import ast

    count = 0
    for file, options in re.findall(r"```\{literalinclude\} (\S+)\n((?::[\w-]+:.*\n)+)", chapter.read_text()):
        obj = re.search(r":pyobject: (\S+)", options)
        if not obj or re.search(r":(start|end)-|:lines:", options):  # a fragment: no docstring shown
            continue
        obj = obj.group(1)
        tree = ast.parse((chapter.parent / file).read_text())
        for name in obj.split("."):
            tree = next(n for n in ast.walk(tree) if getattr(n, "name", None) == name)
        count += ":math:" in (ast.get_docstring(tree) or "") or ".. math::" in (ast.get_docstring(tree) or "")
    return count


@pytest.mark.parametrize("path", CHAPTER_PAGES)
def test_code_shows_no_glue_calls_asserts_or_raw_docstring_math(browser, site, path):
    page, response, errors = open_page(browser, urljoin(site, path))
    try:
        code = page.evaluate("""() => Array.from(document.querySelectorAll('div.cell div.highlight pre, '
            + 'div.highlight-python pre')).map(p => p.innerText).join('\\n')""")
        plumbing = re.findall(r"^.*(?:\bglue\s*\(|myst_nb|^\s*assert\b|:math:`|\.\. math::).*$", code, re.MULTILINE)
        assert not plumbing, f"{path}: plumbing shown to the reader: {plumbing[:5]}"
        boxes = page.evaluate("""() => Array.from(document.querySelectorAll('div.course-docstring')).map(
            d => [d.innerText.includes(':math:'), d.querySelectorAll('mjx-container').length])""")
        assert all(not raw for raw, _ in boxes), f"{path}: raw reST math in a rendered docstring"
        with_math = included_docstrings_with_math(ROOT / "chapters" / Path(path).with_suffix(".md").name)
        assert len(boxes) >= with_math, f"{path}: {with_math} included docstrings with math, {len(boxes)} rendered"
        if with_math:
            assert sum(n for _, n in boxes) >= with_math, f"{path}: docstring math not typeset"
        assert not errors, f"{path}: JavaScript errors: {errors}"
    finally:
        page.close()


# ---------------------------------------------------------------------------------------------------------------
# Any screen, any theme, any input device (issue 28, items 3, 4, 5, 7, 8)
# ---------------------------------------------------------------------------------------------------------------

WIDTHS = (390, 1280)
TEXT_PAGE_LIMIT = 1_500_000  # bytes a page without figures loads, uncompressed
CHAPTER_LIMIT = 3_000_000  # bytes the heaviest chapter loads, uncompressed
LAYOUT_JS = """() => {
    const doc = document.documentElement, right = doc.clientWidth;
    function scrollsInABox(e) {
        for (let p = e; p && p !== document.body; p = p.parentElement) {
            const s = getComputedStyle(p);
            if ((s.overflowX === 'auto' || s.overflowX === 'scroll') && p.clientWidth <= right) return true;
        }
        return false;
    }
    const sel = 'mjx-container[display="true"], div.proof, table, pre, img, .course-explorer, code, mjx-container';
    const clipped = Array.from(document.querySelectorAll('main ' + sel.split(', ').join(', main '))).filter(e => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.right > right + 1 && !scrollsInABox(e);
    }).map(e => e.tagName + ' ' + (e.innerText || e.getAttribute('src') || '').slice(0, 50).replace(/\\s+/g, ' '));
    return {sideways: doc.scrollWidth - doc.clientWidth, clipped: clipped.slice(0, 5)};
}"""


FIGURES_JS = """() => Array.from(document.querySelectorAll('div.cell_output img')).filter(i => i.naturalWidth > 0)
    .map(i => [i.getBoundingClientRect().width / i.naturalWidth, i.getAttribute('src'), i.naturalWidth,
               i.closest('div.cell_output').clientWidth])"""


PAGE_JS = """() => {
    const main = document.querySelector('main') || document.body;
    const clone = main.cloneNode(true);
    clone.querySelectorAll('pre, code, mjx-container, script, style, .highlight').forEach(e => e.remove());
    return {
        math: document.querySelectorAll('.math, span.math, div.math').length,
        containers: document.querySelectorAll('mjx-container').length,
        text: clone.innerText,  // the article's visible text, code blocks and typeset math excluded
        broken: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
        wide_code: Array.from(document.querySelectorAll('div.highlight pre, div.cell_output pre'))
            .filter(p => p.scrollWidth > p.clientWidth + 1)
            .map(p => p.innerText.split('\\n').find(l => l.length > 0).slice(0, 60)),
    };
}"""


@pytest.fixture(scope="module")
def sweep(browser, site) -> dict:
    """Every page opened once at each width of ``WIDTHS`` (offline, its explorers drawn) and measured for the tests
    below: layout (``LAYOUT_JS``), the chapters' figures (``FIGURES_JS``) and, at 1280 px, its math, images and
    code (``PAGE_JS``) and the bytes it loaded.
    One pass instead of one per test: each page load of the book costs about a second."""
    found = {}
    for width in WIDTHS:
        for path in PAGES:
            page, errors, blocked = open_offline(browser, site, path, width)
            try:
                explorer = page.locator(".course-explorer").count() > 0
                if explorer:
                    page.wait_for_selector(".course-explorer[data-ready] .main-svg", timeout=30_000)
                page.wait_for_timeout(300)
                record = {"layout": page.evaluate(LAYOUT_JS), "explorer": explorer,
                          "figures": page.evaluate(FIGURES_JS) if path in CHAPTER_PAGES else [],
                          "text_only": not page.locator("main img, .course-explorer").count(),
                          "errors": errors, "blocked": blocked}
                if width == 1280:
                    record["bytes"] = page_bytes(page, site)
                    record["page"] = page.evaluate(PAGE_JS)
                found[width, path] = record
            finally:
                page.close()
    return found


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scrolls_sideways_and_wide_content_scrolls_in_its_box(sweep, width):
    """At 390 px (a phone) and 1280 px no page scrolls sideways, and every display equation, algorithm box, table,
    code block, figure and explorer either fits the screen or scrolls inside a box of its own; no page logs a
    JavaScript error or asks for anything from another host at either width."""
    failures = [f"{path}: {sweep[width, path]['layout']}" for path in PAGES
                if sweep[width, path]["layout"]["sideways"] > 0 or sweep[width, path]["layout"]["clipped"]]
    failures += [f"{path}: {sweep[width, path]['errors']} {sweep[width, path]['blocked']}" for path in PAGES
                 if sweep[width, path]["errors"] or sweep[width, path]["blocked"]]
    assert not failures, f"at {width} px:\n" + "\n".join(failures)


def test_page_loads_without_errors_and_typesets_math(sweep):
    """At 1280 px every page's math is typeset (no TeX delimiters left in the article's visible text), its images
    load, and no code block or output scrolls sideways (code fits a laptop-width window)."""
    failures = []
    for path in PAGES:
        found = sweep[1280, path]["page"]
        if found["math"] and found["containers"] < found["math"]:
            failures.append(f"{path}: {found['math']} math elements but {found['containers']} typeset by MathJax")
        raw = re.findall(r"\\\(|\\\[|\$\$", found["text"])
        if raw:
            failures.append(f"{path}: untypeset TeX left on the page: {raw[:5]}")
        if found["broken"]:
            failures.append(f"{path}: images that did not load: {found['broken']}")
        if found["wide_code"]:
            failures.append(f"{path}: code that scrolls sideways at 1280 px: {found['wide_code'][:3]}")
    assert not failures, "\n".join(failures)


def test_figures_are_never_shrunk_below_natural_size_and_fit_a_laptop_column(sweep):
    """Figure text stays legible: matplotlib figures (100 dpi, no text below "x-small", i.e. >= 9.6 px at natural
    size) are shown at natural size or larger at 390 and 1280 px, scrolling in their box when wider than the
    column (on a phone). At 1280 px every figure fits its column: none has to be scrolled sideways to see its last
    panel. (An honest bound only while the chapters keep those font settings; checked in the sources below.)"""
    for chapter in (ROOT / "chapters").glob("*.md"):
        text = chapter.read_text()
        sizes = re.findall(r"fontsize\s*=\s*([0-9.]+)", text)
        assert all(float(v) >= 7 for v in sizes), f"{chapter.name}: figure text below 7 pt: {sizes}"
        assert "xx-small" not in text, f"{chapter.name}: figure text 'xx-small'"
        dpis = re.findall(r"(?:figure\.dpi\"\]\s*=|\bdpi\s*=)\s*([0-9.]+)", text)
        assert all(float(v) == 100 for v in dpis), f"{chapter.name}: figure dpi is not 100: {dpis}"
    shrunk, wide, seen = [], [], 0
    for width in WIDTHS:
        for path in CHAPTER_PAGES:
            figures = sweep[width, path]["figures"]
            seen += len(figures)
            shrunk += [f"{width} px {path}: {src} at {scale:.2f}" for scale, src, _, _ in figures if scale < 0.999]
            if width == 1280:
                wide += [f"{path}: {src} {natural} px in a {column}-px column"
                         for _, src, natural, column in figures if natural > column]
    assert seen > 100, f"only {seen} figures seen"
    assert not shrunk, "figures shown below natural size:\n" + "\n".join(shrunk[:20])
    assert not wide, f"{len(wide)} figures wider than their column at 1280 px:\n" + "\n".join(wide[:50])


CONTRAST_JS = """() => {
    function rgba(c) { const m = c.match(/[\\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; }
    function lum([r, g, b]) {
        const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    }
    function background(e) {
        let layers = [];
        for (let p = e; p; p = p.parentElement) {
            const c = rgba(getComputedStyle(p).backgroundColor);
            if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
        }
        let out = [255, 255, 255];
        if (layers.length && layers[layers.length - 1][3] >= 1) out = layers.pop().slice(0, 3);
        for (const c of layers.reverse()) out = out.map((v, i) => c[i] * c[3] + v * (1 - c[3]));
        return out;
    }
    const controls = document.querySelectorAll(
        '.course-explorer button, .course-explorer label > span, .course-explorer output, .course-explorer-choice > span');
    return Array.from(controls).filter(e => e.getClientRects().length).map(e => {
        const fg = rgba(getComputedStyle(e).color), bg = background(e);
        const color = fg.slice(0, 3).map((v, i) => v * fg[3] + bg[i] * (1 - fg[3]));
        const [a, b] = [lum(color), lum(bg)].sort((x, y) => y - x);
        return [(a + 0.05) / (b + 0.05), e.tagName + ' ' + (e.innerText || '').slice(0, 30)];
    });
}"""


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("path", sorted(set(EXPLORERS.values()) | set(RACES.values())))
def test_explorer_controls_meet_wcag_aa_contrast(browser, site, path, theme):
    page, errors, blocked = open_offline(browser, site, path)
    try:
        page.wait_for_selector(".course-explorer[data-ready] .main-svg", timeout=30_000)
        page.evaluate("(t) => { document.documentElement.dataset.theme = t; document.documentElement.dataset.mode = t; }",
                      theme)
        page.wait_for_timeout(100)
        ratios = page.evaluate(CONTRAST_JS)
        assert ratios, "no explorer controls found"
        low = [(round(r, 2), what) for r, what in ratios if r < 4.5]
        assert not low, f"{path} ({theme}): contrast below 4.5:1: {low[:8]}"
    finally:
        page.close()


@pytest.mark.parametrize("path", sorted(set(EXPLORERS.values()) | set(RACES.values())))
def test_explorers_work_from_the_keyboard_and_announce_values(browser, site, path):
    """Every slider carries aria-valuetext with its value; Tab reaches every control of every explorer; the arrow
    keys move a focused slider and the figure follows; Enter on a focused button presses it."""
    page, errors, blocked = open_offline(browser, site, path)
    try:
        page.wait_for_selector(".course-explorer[data-ready] .main-svg", timeout=30_000)
        sliders = page.locator(".course-explorer input[type=range]")
        assert sliders.count() >= 1
        for i in range(sliders.count()):
            text = sliders.nth(i).get_attribute("aria-valuetext")
            assert text and re.search(r"\d", text), f"slider {i}: aria-valuetext {text!r}"
        # Tab order reaches every control
        controls = page.evaluate("() => document.querySelectorAll('.course-explorer button, .course-explorer input')"
                                 ".length")
        page.focus("body")
        reached = set()
        for _ in range(400):
            page.keyboard.press("Tab")
            key = page.evaluate("""() => { const e = document.activeElement;
                return e && e.closest('.course-explorer') && e.matches('button, input')
                    ? e.closest('.course-explorer').id + '|' + Array.from(e.closest('.course-explorer')
                        .querySelectorAll('button, input')).indexOf(e) : null; }""")
            if key:
                reached.add(key)
            if len(reached) == controls:
                break
        assert len(reached) == controls, f"Tab reached {len(reached)} of {controls} explorer controls"
        # arrow keys on the first slider of each explorer change what is drawn
        for ident in page.evaluate("() => Array.from(document.querySelectorAll('.course-explorer')).map(e => e.id)"):
            slider = page.locator(f"#{ident} input[type=range]").first
            before = page.evaluate(f"() => JSON.stringify(document.querySelector('#{ident} .js-plotly-plot').data"
                                   ".map(t => [t.x, t.y]))")
            slider.focus()
            value = slider.input_value()
            page.keyboard.press("ArrowRight" if ident != "explorer-adam-eps" else "End")
            page.wait_for_timeout(300)
            assert slider.input_value() != value, f"{ident}: the arrow key did not move the slider"
            after = page.evaluate(f"() => JSON.stringify(document.querySelector('#{ident} .js-plotly-plot').data"
                                  ".map(t => [t.x, t.y]))")
            assert after != before, f"{ident}: moving the slider from the keyboard changed nothing"
            buttons = page.locator(f"#{ident} button[aria-pressed=false]")
            if buttons.count():
                buttons.first.focus()
                page.keyboard.press("Enter")
                assert buttons.first.get_attribute("aria-pressed") in ("true", None) or \
                    page.locator(f"#{ident} button[aria-pressed=true]").count() >= 1
        assert not errors and not blocked, (errors, blocked)
    finally:
        page.close()


def test_page_weights(sweep):
    """Bytes each page loads at 1280 px, uncompressed, everything the browser fetched for it (document, scripts,
    styles, fonts, figures, explorer data), read from the built files (printed, and saved beside the screenshots):
    text-only pages <= 1.5 MB, every other page, the chapters with interactive figures included, <= 3 MB."""
    rows, over = [], []
    for path in PAGES:
        record = sweep[1280, path]
        sizes = record["bytes"]
        limit = TEXT_PAGE_LIMIT if record["text_only"] else CHAPTER_LIMIT
        kind = "text" if record["text_only"] else "explorer" if record["explorer"] else "figs"
        rows.append(f"{sizes['raw']:>10,} {sizes['gzip']:>10,} {kind:8} {path}")
        if sizes["raw"] > limit:
            over.append(f"{path}: {sizes['raw']:,} > {limit:,}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "page_weights.txt").write_text("       raw       gzip kind     page\n" + "\n".join(rows) + "\n")
    print("\n".join(rows))
    assert not over, "pages too heavy:\n" + "\n".join(over)


def test_live_momentum_explorer_matches_reference_impl(browser, site):
    """The page computes heavy ball itself; on a grid of step sizes x momenta its paths equal reference_impl's
    SGD(lr, momentum) on the same quadratic (float64 both sides), divergence included."""
    import numpy as np

    from reference_impl.explorers import explorer_path
    from reference_impl.optim import SGD

    page, errors, blocked = open_offline(browser, site, "chapters/03-momentum.html")
    try:
        page.wait_for_selector("#explorer-momentum-live[data-ready] .main-svg", timeout=30_000)
        data = explorer_json(page, "momentum-live")
        seen = set()
        for lr in (0.001, 0.0047, 0.02, 0.039, 0.06):
            for beta in (0.0, 0.3, 0.77, 0.9, 0.99):
                page.evaluate("""([lr, beta]) => {
                    const root = document.querySelector('#explorer-momentum-live');
                    for (const [param, value] of [['lr', Math.log10(lr)], ['momentum', beta]]) {
                        const input = root.querySelector('input[data-param="' + param + '"]');
                        input.value = String(value);
                        input.dispatchEvent(new Event('input', {bubbles: true}));
                    }
                }""", [lr, beta])
                state = json.loads(page.get_attribute("#explorer-momentum-live", "data-state"))
                shown = plotted(page, "momentum-live", "path")
                ref = explorer_path(lambda p: SGD(p, lr=state["lr"], momentum=state["momentum"]),  # noqa: B023
                                    data["problem"], data["steps"])
                assert abs(state["lr"] - lr) <= 1e-12 * lr and abs(state["momentum"] - beta) <= 1e-15
                got = np.array([shown["x"], shown["y"]]).T
                assert got.shape == ref.shape, (lr, beta, got.shape, ref.shape)
                np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12, err_msg=f"lr {lr}, momentum {beta}")
                seen.add(len(ref))
        assert max(seen) == data["steps"] + 1 and min(seen) < data["steps"] + 1, \
            "the grid must hold converging and diverging runs"
        finish(page, "momentum-live", errors, blocked)
    finally:
        page.close()
