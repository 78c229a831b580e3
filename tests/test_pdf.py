"""`make pdf`: the whole book as one PDF, printed from the built HTML by headless Chromium (scripts/book_pdf.py).

The test prints the intro and every chapter from ``_build/html`` (``make test`` builds it first) into a temporary PDF,
opens it with ``pdftotext`` and finds the title of every chapter and of the intro, in the toc's order, with the math
typeset (no raw TeX) and no link left pointing at the temporary local server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = Path(os.environ.get("COURSE_HTML", ROOT / "_build" / "html")).resolve()
sys.path.insert(0, str(ROOT / "scripts"))
import book_pdf  # noqa: E402

pytestmark = pytest.mark.slow


class FirstHeading(HTMLParser):
    """The text of a page's first <h1>, without the permalink sign."""

    def __init__(self):
        super().__init__()
        self.inside, self.done, self.text = False, False, ""

    def handle_starttag(self, tag, attrs):
        if tag == "h1" and not self.done:
            self.inside = True

    def handle_endtag(self, tag):
        if tag == "h1" and self.inside:
            self.inside, self.done = False, True

    def handle_data(self, data):
        if self.inside:
            self.text += data


def normal(text: str) -> str:
    """Whitespace collapsed, and none after a hyphen (a title may break after "Learning-")."""
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).replace("#", "")).strip()
    return re.sub(r"(?<=\w)- (?=\w)", "-", text)


def title_of(page: str) -> str:
    parser = FirstHeading()
    parser.feed((HTML / f"{page}.html").read_text(encoding="utf-8"))
    return normal(parser.text)


def test_book_pdf_has_every_chapter_title_in_order(tmp_path):
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML} has no built book: run `make book` first (`make test` does).")
    out = tmp_path / "book.pdf"
    pages = book_pdf.toc_pages(ROOT)
    chapters = ["intro"] + [p for p in pages if p.startswith("chapters/")]
    assert len(chapters) >= 13
    # the intro and every chapter (the exercises, instructors' page and bibliography are printed by `make pdf` the
    # same way; left out here to keep the test at a few minutes on a busy 2-core machine)
    assert book_pdf.main(["--html", str(HTML), "--out", str(out), "--pages", *chapters]) == 0
    text = normal(subprocess.run(["pdftotext", "-layout", str(out), "-"], check=True, capture_output=True,
                                 text=True).stdout)
    position = 0
    for page in chapters:
        title = title_of(page)
        assert title, f"{page}: no <h1> title"
        found = text.find(title, position)
        assert found >= 0, f"{page}: title {title!r} not found in the PDF after position {position}"
        position = found + len(title)
    # MathJax's delimiters left in the text mean untypeset math (TeX commands alone may be code: plot labels)
    raw_tex = re.findall(r"\\\(|\\\)|\\\[|\\\]|\$\$", text)
    assert not raw_tex, f"untypeset TeX in the PDF: {raw_tex[:5]}"
    assert b"127.0.0.1" not in out.read_bytes(), "a link in the PDF points at the temporary local server"
    pdf_pages = subprocess.run(["pdfinfo", str(out)], check=True, capture_output=True, text=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", pdf_pages).group(1)) > 2 * len(chapters)
