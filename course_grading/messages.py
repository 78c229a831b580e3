"""The words of a failed test: an exception made into the message the student reads.

Shared by the judge (:func:`course_grading.judge.failure_message`, which first handles what only the boundary with
the worker raises) and the diagnosis (:mod:`course_grading.diagnose`, which runs tests on the instructor's code and
must word them exactly as the judge does). Never a path on the grading machine; in a test with hidden parts, never a
piece of text the student's code sent.
"""

from __future__ import annotations

import os
import re
import sys

HIDDEN_NOTE = "in a test with hidden parts its message is not shown"


def exception_message(err: BaseException, hidden_test: bool = False, student_text=(), *, named: bool = True) -> str:
    """``"Type: text"`` of ``err`` (``named=False``: its text alone), with paths cut out and, in a test with hidden
    parts, each of ``student_text`` (what the worker sent during the test); at most 2000 characters."""
    try:
        text = str(err)[:4000]
    except Exception:  # noqa: BLE001
        text = ""
    name = type(err).__name__
    message = _scrub_paths(f"{name}: {text}" if named and text else text if not named else name)
    if hidden_test:
        message = scrub(message, student_text)
    return message[:2000]


def scrub(message: str, student_text) -> str:
    """``message`` with every piece of text the student's code sent (3 characters or more) cut out, longest first."""
    for piece in sorted({t for t in student_text if isinstance(t, str) and len(t) >= 3}, key=len, reverse=True):
        if piece in message:
            message = message.replace(piece, "<text of yours, not shown in a test with hidden parts>")
    return message


_SCRUB = []


def _scrub_paths(text: str) -> str:
    if not _SCRUB:
        roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, os.getcwd(), os.path.expanduser("~"),
                                                 os.path.dirname(os.path.dirname(os.path.abspath(__file__))))}
        _SCRUB.extend(sorted((r for r in roots if len(r) > 1), key=len, reverse=True))
    for root in _SCRUB:
        text = text.replace(root, "...")
    return re.sub(r"(/[\w.\-]+){2,}/([\w.\-]+\.py)", r"\2", text)


HIDDEN_NOTE = "in a test with hidden parts its message is not shown"
