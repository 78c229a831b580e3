"""The built book: every toc page is there, chapters carry their figures, exercises are shown unexecuted, math is
typeset at build time.

These tests read ``_build/html`` as ``make book`` left it (``make test`` builds the book first, with warnings as
errors and every page re-read, so a clean build is proven there and not repeated here). ``COURSE_HTML`` points them
at another build, e.g. a copy made by ``scripts/build_book.py --out DIR``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTML = Path(os.environ.get("COURSE_HTML", ROOT / "_build" / "html")).resolve()
SOURCE = HTML.parent.parent  # the book's source folder (holds _toc.yml)

pytestmark = pytest.mark.slow


def toc_files() -> list[str]:
    toc = yaml.safe_load((SOURCE / "_toc.yml").read_text())
    files = []

    def walk(entries):
        for entry in entries or []:
            files.append(entry["file"])
            walk(entry.get("sections"))  # a chapter's further pages

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return files


def source_of(entry: str) -> Path:
    found = [p for p in SOURCE.glob(entry + ".*") if p.suffix in (".md", ".ipynb")]
    assert len(found) == 1, f"{entry}: expected one .md or .ipynb source, found {found}"
    return found[0]


@pytest.fixture(scope="module")
def built() -> Path:
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML} has no built book: run `make book` first (`make test` does).")
    return HTML


def test_build_is_current(built):
    """The pages were built from the sources as they are now: a source edited after the last `make book` would
    make every other test here check an old page."""
    stale = []
    for entry in toc_files() + ["intro"]:
        page, source = built / f"{entry}.html", source_of(entry)
        if not page.is_file() or page.stat().st_mtime < source.stat().st_mtime:
            stale.append(entry)
    assert not stale, f"pages older than their sources (run `make book`): {stale}"


def test_every_toc_entry_has_a_page(built):
    for entry in toc_files():
        assert (built / f"{entry}.html").is_file(), f"{entry} missing from the HTML build"


def test_chapters_contain_figures(built):
    chapters = [f for f in toc_files() if f.startswith("chapters/")]
    assert chapters, "no chapter in the toc"
    for entry in chapters:
        html = (built / f"{entry}.html").read_text()
        images = re.findall(r'<img[^>]+src="([^"]+\.(?:png|svg|jpg))"', html)
        assert images, f"{entry}: no figure on the page"
        for src in images:
            assert (built / Path(entry).parent / src).resolve().is_file(), f"{entry}: image {src} not in the build"


def test_exercises_are_shown_not_executed(built):
    exercises = [f for f in toc_files() if f.startswith("exercises/")]
    assert exercises, "no exercise in the toc"
    for entry in exercises:
        html = (built / f"{entry}.html").read_text()
        assert "YOUR CODE HERE" in html, f"{entry}: the student's answer cell is not shown"
        assert 'class="cell_output' not in html, f"{entry}: the exercise was executed at build time"


def test_math_is_typeset_at_build_time(built):
    """Every page's math was typeset by MathJax when the book was built: no TeX left in a math element, no MathJax
    script loaded (nor any script from another host), and the CHTML stylesheet in the page points at MathJax's fonts
    inside the book."""
    import sys

    sys.path.insert(0, str(ROOT / "_ext"))
    from course_book import MATH_ELEMENT

    typeset = 0
    for page in sorted(built.rglob("*.html")):
        html = page.read_text(encoding="utf-8")
        name = page.relative_to(built)
        assert not MATH_ELEMENT.search(html), f"{name}: math left as TeX"
        scripts = re.findall(r'<script[^>]+src="([^"]*)"', html)
        assert not [s for s in scripts if "mathjax" in s.lower() or "://" in s], f"{name}: {scripts}"
        if "<mjx-container" not in html:
            continue
        typeset += 1
        styles = re.findall(r'<style id="MJX-CHTML-styles">(.*?)</style>', html, re.S)
        assert len(styles) == 1, f"{name}: {len(styles)} MathJax stylesheets"
        fonts = re.findall(r'url\("?([^")]+\.woff)"?\)', styles[0])
        assert fonts, f"{name}: no MathJax font in the stylesheet"
        for font in fonts:
            assert "://" not in font and (page.parent / font).resolve().is_file(), f"{name}: {font} missing"
    assert typeset >= 12, f"only {typeset} pages with typeset math"


def test_typeset_page_fails_on_a_tex_error_and_leaves_other_pages_alone(tmp_path):
    """course_book.typeset_page: a TeX error stops the build naming the expression (a reader would see it in red);
    a page without TeX is not rewritten; typesetting is done once (a second run finds nothing to do); Sphinx's
    equation number and its link stay in the display math's element."""
    import sys

    from sphinx.errors import ExtensionError

    sys.path.insert(0, str(ROOT / "_ext"))
    from course_book import typeset_page

    head = "<html><head><title>t</title></head><body>"
    (tmp_path / "sub").mkdir()
    plain = tmp_path / "plain.html"
    plain.write_text(head + "<p>no math, only \\(text\\) outside a math element</p></body></html>")
    before = plain.read_bytes()
    assert typeset_page(plain, tmp_path) == 0 and plain.read_bytes() == before
    good = tmp_path / "sub" / "good.html"
    good.write_text(head + '<p>a <span class="math notranslate nohighlight">\\(x_t &lt; y\\)</span> b</p>'
                    '<div class="math notranslate nohighlight" id="equation-e">\n<span class="eqno">(1.2)<a '
                    'class="headerlink" href="#equation-e">#</a></span>\\[\\begin{aligned}a &amp;= b\\end{aligned}\\]</div></body></html>')
    assert typeset_page(good, tmp_path) == 2
    html = good.read_text()
    assert html.count("<mjx-container") == 2 and 'display="true"' in html and "<mo>&lt;</mo>" in html
    assert '<span class="eqno">(1.2)<a class="headerlink" href="#equation-e">#</a></span><mjx-container' in html
    assert '"../_static/mathjax/output/chtml/fonts/woff-v2/' in html
    assert typeset_page(good, tmp_path) == 0 and good.read_text() == html
    bad = tmp_path / "bad.html"
    bad.write_text(head + '<span class="math notranslate nohighlight">\\(\\frac{1}{\\)</span></body></html>')
    with pytest.raises(ExtensionError, match=r"bad\.html.*frac"):
        typeset_page(bad, tmp_path)


def test_no_page_shows_an_error(built):
    """An exception raised while a cell's result is displayed (a figure whose title matplotlib's mathtext cannot
    parse, a failing ``_repr_html_``) does not fail the cell, so neither ``allow_errors: false`` nor the build's
    stderr warning catches it: IPython publishes it as an error output, which myst-nb renders as a traceback
    block. No page of the book may show one."""
    shown = []
    for entry in toc_files() + ["intro"]:
        page = built / f"{entry}.html"
        html = page.read_text() if page.is_file() else ""  # a missing page fails test_every_toc_entry_has_a_page
        if re.search(r'class="[^"]*\boutput traceback\b', html) or "Traceback (most recent call last)" in html:
            shown.append(entry)
    assert not shown, f"pages that show a traceback: {shown}"


def test_every_figure_has_alt_text_that_says_what_it_shows(built):
    """Every image of every page carries alt text, never empty and never a file path or name (myst-nb's default
    for a cell output is its ``../_images/<hash>.png`` path); a figure (``_images/``) in a sentence of at least four
    words, a button's logo in at least two ("Colab logo")."""
    from html.parser import HTMLParser

    class Images(HTMLParser):
        def __init__(self):
            super().__init__()
            self.alts: list[tuple[str, str | None]] = []

        def handle_starttag(self, tag, attrs):
            if tag == "img":
                attrs = dict(attrs)
                self.alts.append((attrs.get("src", ""), attrs.get("alt")))

    bad = []
    pages = [f"{entry}.html" for entry in toc_files()] + ["intro.html"]
    for page in pages:
        parser = Images()
        parser.feed((built / page).read_text(encoding="utf-8"))
        for src, alt in parser.alts:
            text = (alt or "").strip()
            path_like = re.search(r"\.(?:png|svg|jpe?g|gif)\b|_images|\.\./|^/|[0-9a-f]{16}", text, re.IGNORECASE)
            figure = src.split("/")[-2:-1] == ["_images"]  # a chapter's figure, not a button's logo
            if len(text.split()) < (4 if figure else 2) or path_like:
                bad.append(f"{page}: {src.rsplit('/', 1)[-1][:20]} alt={alt!r}")
    assert not bad, f"{len(bad)} images without alt text that says what they show:\n" + "\n".join(bad[:40])


def test_slim_png_keeps_the_picture():
    """The palette PNGs the pages serve (course_book.slim_png) are smaller and show the same picture: every pixel
    within a few levels of the original (anti-aliasing shades are merged, colours are not changed)."""
    import io
    import sys

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(ROOT / "_ext"))
    from course_book import slim_png

    fig, axes = plt.subplots(1, 2, figsize=(8, 3), dpi=100)
    xs = np.linspace(-2, 2, 200)
    for k, ax in enumerate(axes):
        ax.contour(xs, xs, np.add.outer(xs ** 2, (k + 3) * xs ** 2), 15, cmap="Greys")
        ax.plot(xs, np.sin(3 * xs), color="crimson")
        ax.set_title(f"panel {k}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    original = buffer.getvalue()
    slim = slim_png(original)
    assert len(slim) < 0.6 * len(original), (len(slim), len(original))
    a = np.asarray(Image.open(io.BytesIO(original)).convert("RGBA"), dtype=float)
    b = np.asarray(Image.open(io.BytesIO(slim)).convert("RGBA"), dtype=float)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 1.0 and np.percentile(np.abs(a - b).max(axis=-1), 99.9) <= 24
    assert slim_png(slim) == slim, "a palette image is left as it is"
