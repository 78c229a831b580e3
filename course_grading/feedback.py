"""Feedback pages: nbgrader's HTML (hidden tests cleared), checked before a student sees it.

A page must not show a hidden test's source or a path on the grading machine; :func:`leaks` finds either, and
:func:`publish` refuses to write a page that has one (it writes a short page with the scores instead).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from .course import NotebookSpec


def hidden_lines(spec: NotebookSpec) -> list:
    """The meaningful lines of ``spec``'s hidden tests (what a page must never show)."""
    lines, hidden = [], False
    for test in spec.tests:
        for line in test.source.splitlines():
            text = line.strip()
            if text == "### BEGIN HIDDEN TESTS":
                hidden = True
            elif text == "### END HIDDEN TESTS":
                hidden = False
            elif hidden and len(text) > 12 and not text.startswith("#"):
                lines.append(text)
    visible = {line.strip() for source in spec.released_tests for line in source.splitlines()}
    return [line for line in lines if line not in visible]


def leaks(page: str, spec: NotebookSpec, paths: list) -> list:
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    found = [f"hidden test line {line!r}" for line in hidden_lines(spec) if line in text]
    found += [f"path {p}" for p in paths if p and p in text]
    if "BEGIN HIDDEN TESTS" in text:
        found.append("a hidden-test marker")
    return found


def fallback_page(student: str, notebook: str, verdicts: list) -> str:
    rows = "".join(f"<tr><td>{html.escape(v.grade_id)}</td><td>{v.points if v.passed else 0:g} / {v.points:g}</td>"
                   f"<td>{html.escape('passed' if v.passed else v.message)}</td></tr>" for v in verdicts)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(notebook)}</title></head><body>"
            f"<h1>{html.escape(notebook)}: {html.escape(student)}</h1><table>{rows}</table></body></html>")


def publish(pages: list, student: str, results: list, specs: dict, paths: list, own: dict | None = None) -> list:
    """Check each rendered page; replace any that leaks by the score table. Returns the problems found.

    ``own``: notebook name -> the text the student submitted (a path the student wrote is not a leak).
    """
    problems = []
    by_name = {r.name[:-len(".ipynb")]: r for r in results}
    for page in pages:
        page = Path(page)
        res = by_name.get(page.stem)
        spec = specs.get(page.stem + ".ipynb")
        if res is None or spec is None:
            continue
        mine = (own or {}).get(res.name, "")
        found = leaks(page.read_text(encoding="utf-8", errors="replace"), spec, [p for p in paths if p not in mine])
        if found:
            problems += found
            page.write_text(fallback_page(student, res.name, res.verdicts), encoding="utf-8")
    return problems
