"""The course's one static rule: answers may not use ``reference_impl`` or ``torch.optim``.

Everything else (helper functions, extra cells, any installed module, any variable name) is graded on its results.
The rule reads the code the worker runs, magics already replaced (:func:`course_grading.course.student_cells`); a
cell that does not parse is left to the worker, which reports the syntax error and runs nothing of it.

Names are resolved across the notebook's cells, in order: ``import torch as th`` makes ``th.optim`` a use;
so do ``from torch import optim``, ``o = th.optim``, ``t = torch`` then ``t.optim``, ``getattr(torch, "optim")``,
``importlib.import_module("torch.optim")``, ``__import__("torch.optim")``, ``sys.modules["torch.optim"]``, and
any string constant naming the forbidden modules, where the strings are constants or sums / f-strings of
constants. What it cannot see (names built from data at run time, e.g. from character codes, or reached through a
module's ``__dict__``) is stated in instructors.md; inside the sandbox ``reference_impl`` cannot be imported at all.
"""

from __future__ import annotations

import ast

FORBIDDEN = ("reference_impl", "torch.optim")
_IMPORTERS = {"importlib.import_module", "builtins.__import__", "__import__", "importlib.__import__"}


def _forbidden(module: str | None) -> str | None:
    if not module:
        return None
    for name in FORBIDDEN:
        if module == name or module.startswith(name + "."):
            return name
    return None


def _constant_string(node) -> str | None:
    """The value of a string built from constants only (``"a"``, ``"a" + "b"``, ``f"{'a'}b"``), else ``None``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _constant_string(node.left), _constant_string(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            part = _constant_string(value.value) if isinstance(value, ast.FormattedValue) else \
                _constant_string(value)
            if part is None:
                return None
            parts.append(part)
        return "".join(parts)
    return None


class _Resolver(ast.NodeVisitor):
    """Walks a notebook's cells in order, binding names to the modules they stand for."""

    def __init__(self):
        self.bound: dict[str, str] = {}   # name -> dotted module path it stands for
        self.found: list = []
        self.label = ""

    def use(self, node, module: str | None) -> None:
        name = _forbidden(module)
        if name:
            self.found.append(f"policy violation: {self.label}, line {getattr(node, 'lineno', '?')} uses {name} "
                              f"(answers may not use reference_impl or torch.optim)")

    def path(self, node) -> str | None:
        """The dotted module path an expression stands for, where the rule can tell."""
        if isinstance(node, ast.Name):
            return self.bound.get(node.id, node.id if node.id in ("reference_impl", "importlib", "__import__")
                                  else None)
        if isinstance(node, ast.Attribute):
            base = self.path(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            func = self.path(node.func)
            first = _constant_string(node.args[0]) if node.args else None
            if func in _IMPORTERS and first:
                return first if func == "importlib.import_module" or "." not in first else first.split(".")[0]
            if (func in ("getattr", "builtins.getattr") or (isinstance(node.func, ast.Name)
                                                            and node.func.id == "getattr")) and len(node.args) >= 2:
                base, attr = self.path(node.args[0]), _constant_string(node.args[1])
                return f"{base}.{attr}" if base and attr else None
        if isinstance(node, ast.Subscript):   # sys.modules["torch.optim"]
            base = self.path(node.value)
            key = _constant_string(node.slice)
            if base == "sys.modules" and key:
                return key
        return None

    # -- bindings
    def visit_Import(self, node):
        for alias in node.names:
            self.use(node, alias.name)
            if alias.asname:
                self.bound[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.bound[top] = top

    def visit_ImportFrom(self, node):
        if node.level or not node.module:
            return
        self.use(node, node.module)
        for alias in node.names:
            full = f"{node.module}.{alias.name}"
            if alias.name != "*":
                self.use(node, full)
                self.bound[alias.asname or alias.name] = full

    def visit_Assign(self, node):
        self.generic_visit(node)
        module = self.path(node.value)
        for target in node.targets:
            if isinstance(target, ast.Name):
                if module:
                    self.bound[target.id] = module
                else:
                    self.bound.pop(target.id, None)

    # -- uses
    def visit_Attribute(self, node):
        self.use(node, self.path(node))
        self.generic_visit(node)

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load):
            self.use(node, self.bound.get(node.id, node.id if node.id == "reference_impl" else None))

    def visit_Call(self, node):
        self.use(node, self.path(node))
        self.generic_visit(node)

    def visit_Subscript(self, node):
        self.use(node, self.path(node))
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            self.use(node, node.value.strip())

    def visit_BinOp(self, node):
        value = _constant_string(node)
        if value is not None:
            self.use(node, value.strip())
        self.generic_visit(node)


def violations(cells) -> list:
    """``["policy violation: <label>, line N uses torch.optim", ...]`` for ``(label, source)`` cells, read in order
    (an alias bound in one cell is followed into the next)."""
    resolver = _Resolver()
    for label, source in cells:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        resolver.label = label
        resolver.visit(tree)
    found = resolver.found
    return sorted(set(found), key=found.index)
