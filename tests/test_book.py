"""The book builds from a clean copy with warnings as errors, and its chapters carry their figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = []
    for part in toc.get("parts", []):
        files += [entry["file"] for entry in part.get("chapters", [])]
    return files


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A copy of the repository (as a clean clone would have it) built with -W -n --keep-going.

    The execution cache of the working copy's last `make book` is reused, so only changed chapters execute.
    """
    out = tmp_path_factory.mktemp("book")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_book.py"), "--out", str(out)],
                            capture_output=True, text=True)
    warnings = [line for line in (result.stdout + result.stderr).splitlines() if "WARNING" in line or "ERROR" in line]
    assert result.returncode == 0, "book build failed:\n" + "\n".join(warnings[-30:] or [result.stdout[-3000:]])
    return out / "_build" / "html"


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


def test_math_is_served_locally(built):
    chapter = next(f for f in toc_files() if f.startswith("chapters/"))
    html = (built / f"{chapter}.html").read_text()
    scripts = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', html)
    assert scripts and all("://" not in s for s in scripts), f"MathJax not served by the book itself: {scripts}"
    assert (built / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()
