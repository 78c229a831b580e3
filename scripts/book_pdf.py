"""The whole book as one PDF, printed from the built HTML by the Chromium the browser tests use (``make pdf``).

Every page of ``_toc.yml`` (intro, chapters, exercises, bibliography), in the toc's order, is opened from
``_build/html`` through a local HTTP server with the network blocked (its math was typeset when the book was built), its
interactive figures drawn by plotly.js, then printed with the theme's print styles (no sidebars, no buttons); the
pages' PDFs are joined with ``pdfunite`` (poppler, which also provides the ``pdftotext`` the tests use). Links
between pages point at the published book (``html.baseurl`` of ``_config.yml``), not at the local server.

    python scripts/book_pdf.py [--html _build/html] [--out _build/html/book.pdf] [--pages chapters/02-gradient-descent ...]

The PDF lands beside the HTML (``_build/html/book.pdf``), so ``make publish`` publishes it with the book and the
intro's link finds it. This is Jupyter Book's ``pdfhtml`` idea (print the HTML with headless Chromium) without its
``pyppeteer``, which downloads its own Chromium and cannot work offline.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import importlib.util
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urljoin

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# What the printed pages should not carry: the page's header buttons, the "previous / next" footer, the back-to-top
# button, the page's own table of contents and the explorers' controls (a printed figure shows the state it
# opened in).
PRINT_CSS = """
.bd-header-article, .prev-next-area, #pst-back-to-top, .course-explorer-controls, .modebar-container,
.header-article-items, .bd-footer-content, .bd-footer-article, .bd-sidebar-secondary { display: none !important; }
.course-explorer { break-inside: avoid; }
"""


def toc_pages(root: Path) -> list[str]:
    """Every page of _toc.yml in reading order (root first), without suffix."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(str(Path(entry["file"]).with_suffix("")))
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return pages


def chromium() -> str:
    spec = importlib.util.spec_from_file_location("check_prereqs", ROOT / "scripts" / "check_prereqs.py")
    prereqs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prereqs)
    found, problem = prereqs.find_chromium()
    if problem:
        sys.exit(prereqs.report(["pdf"], {"chromium": [problem]}))
    return found


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def print_pages(html: Path, pages: list[str], out: Path, baseurl: str) -> list[Path]:
    """Print each page to its own PDF in a temporary folder beside ``out``; returns their paths in order."""
    from playwright.sync_api import sync_playwright

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_address[1]}/"
    folder = Path(tempfile.mkdtemp(prefix="book-pdf-"))
    printed = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            for number, page_name in enumerate(pages):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(site) else r.abort())
                page.goto(urljoin(site, page_name + ".html"), wait_until="load")
                if page.locator(".course-explorer").count():
                    page.wait_for_selector(".course-explorer[data-ready] .main-svg", timeout=60_000)
                page.add_style_tag(content=PRINT_CSS)
                # links to other pages of the book: to the published book, not to this temporary server
                page.evaluate("""([site, base]) => document.querySelectorAll('a[href]').forEach(a => {
                    if (a.href.startsWith(site)) a.setAttribute('href', base + a.href.slice(site.length)); })""",
                              [site, baseurl])
                page.emulate_media(media="print")
                target = folder / f"{number:03d}.pdf"
                page.pdf(path=str(target), format="A4", print_background=True,
                         margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"})
                printed.append(target)
                page.close()
            browser.close()
    finally:
        server.shutdown()
    return printed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html", help="the built book")
    parser.add_argument("--out", type=Path, default=None, help="the PDF to write (default: HTML/book.pdf)")
    parser.add_argument("--pages", nargs="*", default=None, help="only these toc pages (default: all)")
    args = parser.parse_args(argv)
    html = args.html.resolve()
    if not (html / "index.html").is_file():
        sys.exit(f"{html} has no built book: run `make book` first.")
    out = (args.out or html / "book.pdf").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    baseurl = config.get("html", {}).get("baseurl", "")
    pages = args.pages or toc_pages(ROOT)
    started = time.monotonic()
    printed = print_pages(html, pages, out, baseurl)
    try:
        subprocess.run(["pdfunite", *map(str, printed), str(out)], check=True)
    finally:
        for part in printed:
            part.unlink(missing_ok=True)
        printed[0].parent.rmdir() if printed else None
    print(f"Wrote {out} ({out.stat().st_size:,} bytes, {len(pages)} pages of the book) in "
          f"{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
