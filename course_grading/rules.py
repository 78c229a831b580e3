"""The course's one static rule: answers may not use ``reference_impl`` or ``torch.optim``.

Everything else (helper functions, extra cells, any installed module, any variable name) is graded on its results.
The rule is checked on the code the worker will run (see :func:`course_grading.course.student_cells`); a cell that
does not parse is left to the worker, which reports the syntax error. Names built at run time are not the rule's
business: inside the sandbox ``reference_impl`` cannot be imported at all.
"""

from __future__ import annotations

import ast

FORBIDDEN = ("reference_impl", "torch.optim")


def _forbidden(module: str) -> str | None:
    for name in FORBIDDEN:
        if module == name or module.startswith(name + "."):
            return name
    return None


def violations(cells) -> list:
    """``["policy violation: <label>, line N uses torch.optim", ...]`` for ``(label, source)`` cells."""
    found = []
    for label, source in cells:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            used = None
            if isinstance(node, ast.Import):
                used = next((_forbidden(a.name) for a in node.names if _forbidden(a.name)), None)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [_forbidden(f"{node.module}.{a.name}") for a in node.names]
                used = _forbidden(node.module) or next((n for n in names if n), None)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                used = _forbidden(f"{node.value.id}.{node.attr}")
            elif isinstance(node, ast.Name) and node.id == "reference_impl":
                used = "reference_impl"
            if used:
                found.append(f"policy violation: {label}, line {node.lineno} uses {used} (answers may not use "
                             f"reference_impl or torch.optim)")
    return sorted(set(found), key=found.index)
