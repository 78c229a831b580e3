"""The built book as a reader sees it, in a real headless Chromium (issue: offline math, real-browser tests).

Runs against ``_build/html`` (``make test`` builds the book first), served from a local HTTP server. Chromium comes
from the system packages (``apt-get install chromium``; ``make setup-system`` and ``.ci/run`` install it; ``CHROMIUM``
names another executable), found the way ``scripts/check_prereqs.py`` finds it; Playwright drives it through
``executable_path`` (its own browser download cannot work offline). Without Chromium these tests fail, with the
same message ``make test`` stops with before it starts.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import re
import threading
from pathlib import Path
from urllib.parse import urljoin, urldefrag, urlparse

import pytest
import yaml

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


def wait_for_mathjax(page) -> None:
    page.wait_for_function("() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)")
    page.evaluate("() => window.MathJax ? window.MathJax.startup.promise : null")


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_without_errors_and_typesets_math(browser, site, path):
    page, response, errors = open_page(browser, urljoin(site, path))
    try:
        assert response is not None and response.status == 200, f"{path}: HTTP {response and response.status}"
        wait_for_mathjax(page)
        math_nodes = page.locator(".math, span.math, div.math").count()
        containers = page.locator("mjx-container").count()
        if math_nodes:
            assert containers >= math_nodes, f"{path}: {math_nodes} math elements but {containers} typeset by MathJax"
        # raw TeX delimiters left in the visible text of the article (code blocks excluded)
        text = page.evaluate("""() => {
            const main = document.querySelector('main') || document.body;
            const clone = main.cloneNode(true);
            clone.querySelectorAll('pre, code, mjx-container, script, style, .highlight').forEach(e => e.remove());
            return clone.innerText;
        }""")
        raw = re.findall(r"\\\(|\\\[|\$\$", text)
        assert not raw, f"{path}: untypeset TeX left on the page: {raw[:5]}"
        # every image has loaded
        broken = page.evaluate("() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        assert not broken, f"{path}: images that did not load: {broken}"
        assert not errors, f"{path}: JavaScript errors: {errors}"
    finally:
        page.close()


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
            wait_for_mathjax(page)
            page.screenshot(path=str(SCREENSHOTS / name), full_page=False)
        finally:
            page.close()
        assert (SCREENSHOTS / name).stat().st_size > 10_000, f"{name} looks empty"
