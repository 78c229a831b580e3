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
