"""How each submission layout names a student's files, shared by the tests that build classes by hand.

Written from each system's documented naming, not from the reader under test (``course_grading/intake.py``):
Canvas's "Download Submissions" file prefix, Moodle's "Download all submissions" folder prefix, and nbgrader's
``submitted/<student>/<assignment>/`` tree.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import nbformat


def canvas_name(display: str) -> str:
    """Canvas's prefix rule (lib/content_zipper.rb): _<digits>_ collapsed, lower case, then every character that
    is not a Unicode word character (letter, mark, decimal digit, connector punctuation) removed."""
    name = re.sub(r"_(\d+)_", r"\1", display).lower()
    return "".join(c for c in name if unicodedata.category(c)[0] in "LM" or unicodedata.category(c) in ("Nd", "Pc"))


def moodle_prefix(display: str, pid: str) -> str:
    """Moodle's prefix of a participant's files: the full name, then the participant id."""
    return display.replace("_", " ").title() + f"_{pid}"


def place_nbgrader(subs: Path, assignment: str, student: str, nb: dict, timestamp: str | None = None) -> None:
    """nbgrader's submitted/ layout: <student>/<assignment>/<notebook> (+ timestamp.txt); ``nb``: name -> notebook."""
    folder = subs / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    for name, node in nb.items():
        nbformat.write(node, folder / name)
    if timestamp:
        (folder / "timestamp.txt").write_text(timestamp)
