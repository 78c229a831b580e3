"""A chapter of the book as a notebook that Jupyter, Colab and Binder display: the MyST -> Markdown translation.

The kept tools do the rest: myst-nb executes each chapter, keeps its outputs in jupyter-cache and writes the
notebook it read and its glued values to ``_build/jupyter_execute``; Sphinx's environment knows every label, equation number, algorithm number,
page title and citation; Sphinx's ``LiteralIncludeReader`` cuts ``literalinclude`` snippets; nbformat writes the
result. What none of them does, and this module does, is turn the MyST of the markdown cells into the Markdown that
Jupyter and Colab render:

* ``{math}`` directives -> ``$$ ... \\tag{3.1} $$`` (number from the book); ``(label)=`` targets are dropped;
* admonitions, ``prf:*`` boxes, exercises and solutions -> block quotes with a bold, numbered title;
* ``{cite:p}``/``{cite:t}`` -> "(Author, year)" / "Author (year)", with the chapter's references at the end;
* ``{ref}``, ``{eq}``, ``{doc}``, ``{prf:ref}``, ``{numref}`` -> links into the online book (``html_baseurl``);
* ``{glue:text}``/``{glue}`` -> the glued value, formatted as the book formats it (myst-nb's own function);
* ``literalinclude`` -> the included code, its docstring rendered as Markdown above it (:func:`split_docstring`).

Code cells keep their outputs. What is plumbing for a reader (``glue(...)`` calls, ``assert`` statements, the
``myst_nb`` import) is removed by :func:`strip_plumbing`, the same function the book uses to hide those lines in the
HTML; a ``glue`` that cannot be removed (e.g. inside a helper function) gets a two-line local stand-in instead of
the import, so the notebook needs no build-only package. A first cell installs whatever the notebook imports that is
missing and downloads the repository's stored results the chapter reads (``results/*.json``) when the notebook runs
outside a clone of the repository, as on Colab (:func:`chapter_install_cell_source`).

Anything this translation does not know (an unknown directive or role, an unknown label, a missing glued value)
raises :class:`ConversionError` naming it and the chapter, so the build fails instead of shipping raw MyST.
"""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import json
import posixpath
import re
import sys
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import nbformat


class ConversionError(ValueError):
    """The chapter holds MyST this translation does not handle, or names something the book does not define."""


# --------------------------------------------------------------------------------------------------------------
# Code: what is plumbing for a reader
# --------------------------------------------------------------------------------------------------------------

BUILD_ONLY_MODULES = ("myst_nb",)


def glue_names(sources: list[str]) -> set[str]:
    """The names that glue: bound by ``from myst_nb import glue [as name]`` in any of the cells, and, repeatedly,
    every function defined there whose body (docstring aside) only calls such names (a wrapper such as
    ``def g(key, value): glue(f"ch12_{key}", value)``)."""
    names: set[str] = set()
    trees = [tree for tree in map(_parse, sources) if tree is not None]
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in BUILD_ONLY_MODULES:
                names.update(alias.asname or alias.name for alias in node.names)
    grown = bool(names)
    while grown:
        grown = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and node.name not in names and _is_wrapper(node, names):
                    names.add(node.name)
                    grown = True
    return names


def _is_wrapper(node: ast.FunctionDef, names: set[str]) -> bool:
    body = node.body[1:] if _docstring_node(node) else node.body
    return bool(body) and all(isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
                              and isinstance(s.value.func, ast.Name) and s.value.func.id in names for s in body)


def _docstring_node(node) -> bool:
    first = node.body[0] if node.body else None
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)


def _parse(source: str) -> ast.Module | None:
    """Parse a cell; IPython magics (``%matplotlib inline``) become comments of the same length first."""
    lines = [("#" + line[1:]) if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n")]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _removable(node: ast.stmt, names: set[str], drop_defs: bool = True) -> bool:
    """A statement with no effect a reader needs: a glue call, an assert, the build-only import, the definition of
    a glue wrapper, or a loop/if whose whole body is such statements."""
    if isinstance(node, ast.FunctionDef) and node.name in names:
        return drop_defs
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in BUILD_ONLY_MODULES:
        return True
    if isinstance(node, ast.Import) and all(a.name.split(".")[0] in BUILD_ONLY_MODULES for a in node.names):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        return isinstance(func, ast.Name) and func.id in names
    if isinstance(node, (ast.For, ast.If, ast.While, ast.With)):
        body = list(node.body) + list(getattr(node, "orelse", []))
        return all(_removable(child, names, drop_defs) for child in body)
    return False


def strip_plumbing(source: str, names: set[str], drop_defs: bool = True) -> str:
    """``source`` without its glue calls, asserts and build-only imports (top level, or in a block that keeps
    other statements); a cell that does not parse is returned unchanged. Blank lines left in a row collapse."""
    tree = _parse(source)
    if tree is None:
        return source
    drop: set[int] = set()

    def visit(body: list[ast.stmt]) -> None:
        keep = [node for node in body if not _removable(node, names, drop_defs)]
        if not keep:  # a block must keep one statement: leave it alone (its owner decides)
            return
        for node in body:
            if _removable(node, names, drop_defs):
                start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
                drop.update(range(start, node.end_lineno + 1))
            else:
                for attr in ("body", "orelse", "finalbody"):
                    child = getattr(node, attr, None)
                    if isinstance(child, list) and child and isinstance(child[0], ast.stmt):
                        visit(child)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    if all(_removable(node, names, drop_defs) for node in tree.body):
        return ""
    visit(tree.body)
    lines = [line for number, line in enumerate(source.split("\n"), 1) if number not in drop]
    return re.sub(r"\n{4,}", "\n\n\n", "\n".join(lines)).strip("\n")


def glue_stand_in(names: set[str]) -> str:
    """A local replacement for ``from myst_nb import glue``: shows the value only where the book displays it."""
    lines = []
    for name in sorted(names):
        lines += [f"def {name}(name, value, display=True):",
                  '    """The book build\'s glue, reduced to showing the value where the book displays it."""',
                  "    if display:",
                  "        from IPython.display import display as show",
                  "        show(value)"]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Library docstrings: reStructuredText -> Markdown (math as $...$)
# --------------------------------------------------------------------------------------------------------------

_SECTIONS = ("Args", "Arguments", "Parameters", "Returns", "Return", "Yields", "Raises", "Example", "Examples",
             "References", "Reference", "Note", "Notes", "Attributes", "Warning", "See Also")
_LIST_SECTIONS = ("Args", "Arguments", "Parameters", "Raises", "Attributes")
_PY_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc|const):`~?([^`]+)`")


def _inline_rst(text: str) -> str:
    text = re.sub(r":math:`([^`]+)`", lambda m: "$" + m.group(1).strip() + "$", text)
    text = _PY_ROLE.sub(lambda m: "`" + m.group(1) + "`", text)
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    return text


def _display_math(lines: list[str]) -> list[str]:
    body = textwrap.dedent("\n".join(lines)).strip("\n")
    if "\\\\" in body and not body.lstrip().startswith("\\begin"):
        body = "\\begin{aligned}\n" + body + "\n\\end{aligned}"
    return ["$$", *body.split("\n"), "$$"]


def docstring_markdown(docstring: str) -> str:
    """A Google-style, reStructuredText docstring (``:math:``, ``.. math::``, ``Args:``) as Markdown."""
    lines = inspect.cleandoc(docstring).split("\n")
    out: list[str] = []
    i, section = 0, None
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        math = re.match(r"^(\s*)\.\. math::\s*(.*)$", line)
        if math:
            indent = len(math.group(1))
            block = [math.group(2)] if math.group(2) else []
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i])
                i += 1
            out += ["", *_display_math(block), ""]
            continue
        heading = re.match(r"^(%s):\s*$" % "|".join(_SECTIONS), line)
        if heading:
            section = heading.group(1)
            out += ["", f"**{section}**", ""]
            i += 1
            continue
        if section and line and not line.startswith(" "):
            section = None
        if section in _LIST_SECTIONS and re.match(r"^ {4}\S", line):
            entry = re.match(r"^ {4}([^:]+):\s*(.*)$", line)
            if entry:
                out.append(f"- `{entry.group(1).strip()}`: {_inline_rst(entry.group(2))}")
            else:
                out.append("- " + _inline_rst(stripped))
        elif section and stripped.startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].strip() and lines[i].startswith(" "):
                block.append(lines[i][4:] if lines[i].startswith("    ") else lines[i].lstrip())
                i += 1
            out += ["", "```python", *block, "```", ""]
            continue
        elif section:
            out.append(("  " if section in _LIST_SECTIONS else "") + _inline_rst(stripped))
        else:
            out.append(_inline_rst(line))
        i += 1
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")
    if ":math:" in text or ".. math::" in text:
        raise ConversionError(f"reStructuredText math left in a docstring: {text[:200]!r}")
    return text


def split_docstring(code: str) -> tuple[str | None, str]:
    """``(docstring, code without it)`` for a snippet that is one function or class; ``(None, code)`` else."""
    dedented = textwrap.dedent(code)
    try:
        tree = ast.parse(dedented)
    except SyntaxError:
        return None, code
    if len(tree.body) != 1 or not isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return None, code
    first = tree.body[0].body[0]
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)) or len(tree.body[0].body) < 2:
        return None, code
    lines = code.split("\n")
    kept = lines[:first.lineno - 1] + lines[first.end_lineno:]
    while first.lineno - 1 < len(kept) and not kept[first.lineno - 1].strip():  # blank line after the docstring
        del kept[first.lineno - 1]
    return first.value.value, "\n".join(kept)


# --------------------------------------------------------------------------------------------------------------
# What the built book knows
# --------------------------------------------------------------------------------------------------------------

@dataclass
class BookIndex:
    """Labels, numbers, titles and citations of a built book, and the URL it is published at."""

    base_url: str
    labels: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # label -> (docname, anchor, title)
    equations: dict[str, str] = field(default_factory=dict)  # label -> docname
    numbers: dict[str, dict[str, dict[str, tuple[int, ...]]]] = field(default_factory=dict)  # doc -> type -> id
    titles: dict[str, str] = field(default_factory=dict)
    citations: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # key -> (authors, year, entry md)

    @classmethod
    def from_env(cls, env, base_url: str) -> "BookIndex":
        """Read a Sphinx ``BuildEnvironment`` (live, or unpickled from ``.doctrees/environment.pickle``)."""
        if not base_url:
            raise ConversionError("html_baseurl is not set: the notebooks' links need the online book's URL "
                                  "(set `html: baseurl:` in _config.yml)")
        index = cls(base_url=base_url.rstrip("/") + "/")
        for label, (docname, anchor, title) in env.domaindata["std"]["labels"].items():
            index.labels[label] = (docname, anchor, str(title))
        for label, (docname, anchor) in env.domaindata["std"]["anonlabels"].items():
            index.labels.setdefault(label, (docname, anchor, ""))
        for label, (docname, _number) in env.domaindata["math"]["objects"].items():
            index.equations[label] = docname
        index.numbers = {doc: {kind: dict(ids) for kind, ids in kinds.items()}
                         for doc, kinds in env.toc_fignumbers.items()}
        index.titles = {doc: title.astext() for doc, title in env.titles.items()}
        for citation in env.domaindata.get("cite", {}).get("citations", []):
            index.citations[citation.key] = (_authors(citation.entry), citation.entry.fields.get("year", "n.d."),
                                             " ".join(citation.formatted_entry.text.render_as("markdown").split()))
        for label, proof in getattr(env, "proof_list", {}).items():  # sphinx-proof's boxes (prf:ref targets)
            number = index.number(proof["docname"], proof["countertype"], label)
            title = proof["realtype"].capitalize() + (f" {number}" if number else "")
            index.labels.setdefault(label, (proof["docname"], label, title))
        for label, (docname, anchor, title) in list(index.labels.items()):
            if label in index.equations:
                continue
            for kind, ids in index.numbers.get(docname, {}).items():
                if anchor in ids and not title:
                    index.labels[label] = (docname, anchor, f"{kind.capitalize()} {_dotted(ids[anchor])}")
        return index

    def url(self, from_doc: str, docname: str, anchor: str = "") -> str:
        return f"{self.base_url}{docname}.html" + (f"#{anchor}" if anchor else "")

    def number(self, docname: str, kind: str, anchor: str) -> str | None:
        found = self.numbers.get(docname, {}).get(kind, {}).get(anchor)
        return _dotted(found) if found else None


def _dotted(number) -> str:
    return ".".join(str(n) for n in number)


def _authors(entry) -> str:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    last = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in people]
    if not last:
        return entry.fields.get("organization", entry.fields.get("title", "Anonymous")).replace("{", "").replace("}", "")
    if len(last) == 1:
        return last[0]
    if len(last) == 2:
        return f"{last[0]} and {last[1]}"
    return f"{last[0]} et al."


# --------------------------------------------------------------------------------------------------------------
# MyST -> Markdown
# --------------------------------------------------------------------------------------------------------------

ADMONITIONS = {"note", "warning", "tip", "important", "hint", "caution", "attention", "danger", "error", "seealso"}
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
TARGET = re.compile(r"^\s*\(([^()\s]+)\)=\s*$")
ROLE_OR_CODE = re.compile(r"\{(?P<role>[A-Za-z][\w:+-]*)\}`(?P<text>[^`]+)`|(?P<code>`+)(?:.|\n)*?(?P=code)")
MYST_LEFT = re.compile(r"\{glue|\{cite|\{ref\}|\{eq\}|\{doc\}|\{prf:|\{numref\}|^\s*(`{3,}|:{3,})\{|^\s*\([^()\s]+\)=\s*$",
                       re.MULTILINE)


@dataclass
class Chapter:
    """One chapter being converted: where it is, what the book knows, what it has glued."""

    docname: str
    source_dir: Path
    index: BookIndex
    glue: dict[str, dict]
    cited: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def fail(self, message: str) -> ConversionError:
        return ConversionError(f"{self.docname}: {message}")


def translate(text: str, chapter: Chapter) -> str:
    """The MyST text of one markdown cell as plain Markdown."""
    lines = text.split("\n")
    out: list[str] = []
    prose: list[str] = []

    def flush() -> None:
        if prose:
            out.extend(_inline("\n".join(prose), chapter).split("\n"))
            prose.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        match = FENCE.match(line)
        if match:
            flush()
            fence, info = match.group("fence"), match.group("info").strip()
            if fence[0] == "`" and "`" in info:  # not a fence: inline code at a line start
                prose.append(line)
                i += 1
                continue
            close = re.compile(r"^ {0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$")
            j = i + 1
            while j < len(lines) and not close.match(lines[j]):
                j += 1
            if j == len(lines):
                raise chapter.fail(f"unclosed {fence} fence opened by {line.strip()!r}")
            body = lines[i + 1:j]
            directive = re.match(r"^\{([^}]+)\}\s*(.*)$", info)
            if directive:
                out.extend(_directive(directive.group(1), directive.group(2), body, chapter).split("\n"))
            else:
                out.extend(lines[i:j + 1])  # a plain code block stays as it is
            i = j + 1
            continue
        if TARGET.match(line):
            flush()
            i += 1
            continue
        prose.append(line)
        i += 1
    flush()
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def _split_options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    options: dict[str, str] = {}
    rest = list(body)
    if rest and rest[0].strip() == "---":
        import yaml
        end = rest.index("---", 1)
        options = {k: str(v) for k, v in (yaml.safe_load("\n".join(rest[1:end])) or {}).items()}
        rest = rest[end + 1:]
    else:
        while rest and re.match(r"^:[\w-]+:", rest[0]):
            key, _, value = rest.pop(0)[1:].partition(":")
            options[key] = value.strip()
    while rest and not rest[0].strip():
        rest.pop(0)
    return options, rest


def _quote(title: str, content: str) -> str:
    """A titled box. An HTML ``<blockquote>`` around Markdown, not ``>`` prefixes: Jupyter and Colab cut math out
    of the raw text before parsing Markdown, so a ``>`` inside a multi-line ``$$`` block would be typeset."""
    return "\n".join(["<blockquote>", "", f"**{title}**", "", content, "", "</blockquote>"])


def _directive(name: str, argument: str, body: list[str], chapter: Chapter) -> str:
    options, content_lines = _split_options(body)
    content = "\n".join(content_lines)
    label = options.get("label") or options.get("name")
    if name == "math":
        return _math_block(content, label, chapter)
    if name in ("code-block", "code", "sourcecode"):
        return "\n".join([f"```{argument}", *content_lines, "```"])
    if name == "literalinclude":
        return _literalinclude(argument, options, chapter)
    if name == "admonition":
        return _quote(_inline(argument, chapter), translate(content, chapter))
    if name in ADMONITIONS:
        title = "See also" if name == "seealso" else name.capitalize()
        if argument:
            content = argument + "\n" + content
        return _quote(title, translate(content, chapter))
    if name.startswith("prf:"):
        kind = name[4:]
        title = kind.capitalize()
        if kind != "proof" and "nonumber" not in options:
            title += " " + _box_number(chapter, kind, label)
        if argument:
            title += f" ({_inline(argument, chapter)})"
        return _quote(title, translate(content, chapter))
    if name == "exercise":
        title = "Exercise " + _box_number(chapter, "exercise", label)
        if argument:
            title += f" ({_inline(argument, chapter)})"
        return _quote(title, translate(content, chapter))
    if name == "solution":
        target = argument.strip()
        docname, anchor, _ = chapter.index.labels.get(target, (chapter.docname, target, ""))
        number = chapter.index.number(docname, "exercise", anchor)
        if number is None:
            raise chapter.fail(f"solution to an unknown exercise {target!r}")
        return _quote(f"Solution to Exercise {number}", translate(content, chapter))
    raise chapter.fail(f"directive {{{name}}} has no Markdown translation (extend _ext/notebook_export.py)")


def _box_number(chapter: Chapter, kind: str, label: str | None) -> str:
    """The book's number of an algorithm/theorem/exercise box: by label, else the next unlabelled one in order."""
    ids = chapter.index.numbers.get(chapter.docname, {}).get(kind, {})
    if label and label in ids:
        return _dotted(ids[label])
    position = chapter.counters.get(kind, 0)
    chapter.counters[kind] = position + 1
    ordered = sorted(ids.values())
    if position >= len(ordered):
        raise chapter.fail(f"the book numbers no {kind} {label or '(unlabelled)'}")
    return _dotted(ordered[position])


def _math_block(content: str, label: str | None, chapter: Chapter) -> str:
    parts = [part.strip("\n") for part in re.split(r"\n\s*\n", content) if part.strip()]
    body = " \\\\\n".join(parts)
    if ("\\\\" in body) and not body.lstrip().startswith("\\begin"):
        body = "\\begin{aligned}\n" + body + "\n\\end{aligned}"
    if label:
        docname = chapter.index.equations.get(label)
        number = chapter.index.number(docname or "", "displaymath", f"equation-{label}")
        if number is None:
            raise chapter.fail(f"equation {label!r} has no number in the book")
        body += f" \\tag{{{number}}}"
    return "\n".join(["$$", body, "$$"])


def _literalinclude(argument: str, options: dict[str, str], chapter: Chapter) -> str:
    from sphinx.directives.code import LiteralIncludeReader

    path = (chapter.source_dir / argument).resolve()
    if not path.is_file():
        raise chapter.fail(f"literalinclude of a missing file {argument!r}")
    reader_options = {key: (value if value != "" else True) for key, value in options.items()}
    if "dedent" in reader_options:
        reader_options["dedent"] = int(reader_options["dedent"])
    code, _ = LiteralIncludeReader(str(path), reader_options, SimpleNamespace(source_encoding="utf-8-sig")).read()
    language = options.get("language", "python")
    docstring, code = split_docstring(code.rstrip("\n"))
    fenced = "\n".join([f"```{language}", code, "```"])
    if docstring is None:
        return fenced
    return docstring_block(options.get("pyobject", ""), docstring) + "\n\n" + fenced


def docstring_block(name: str, docstring: str) -> str:
    """The rendered docstring shown above a listing whose docstring was cut out (Markdown, math as $...$)."""
    return _quote(f"`{name}`: docstring" if name else "Docstring", docstring_markdown(docstring))


def _inline(text: str, chapter: Chapter) -> str:
    def replace(match: re.Match) -> str:
        if match.group("code"):
            return match.group(0)
        return _role(match.group("role"), match.group("text").strip(), chapter)
    return ROLE_OR_CODE.sub(replace, text)


def _explicit(text: str) -> tuple[str | None, str]:
    found = re.match(r"^(.*?)\s*<([^<>]+)>$", text, re.DOTALL)
    return (found.group(1).strip(), found.group(2).strip()) if found else (None, text)


def _role(role: str, text: str, chapter: Chapter) -> str:
    index = chapter.index
    if role in ("glue", "glue:", "glue:text"):
        return _glue_text(text, chapter, default_format="" if role != "glue:text" else "s")
    if role in ("cite:p", "cite:t", "cite", "cite:ps", "cite:ts", "cite:ct", "cite:cp"):
        keys = [key.strip() for key in text.split(",")]
        for key in keys:
            if key not in index.citations:
                raise chapter.fail(f"citation {key!r} is not in references.bib")
            if key not in chapter.cited:
                chapter.cited.append(key)
        if role.startswith("cite:t"):
            return "; ".join(f"{index.citations[k][0]} ({index.citations[k][1]})" for k in keys)
        return "(" + "; ".join(f"{index.citations[k][0]}, {index.citations[k][1]}" for k in keys) + ")"
    if role in ("ref", "numref", "prf:ref"):
        title, label = _explicit(text)
        if label not in index.labels:
            raise chapter.fail(f"{{{role}}} to an unknown label {label!r}")
        docname, anchor, default = index.labels[label]
        return f"[{title or default or label}]({index.url(chapter.docname, docname, anchor)})"
    if role == "eq":
        title, label = _explicit(text)
        docname = index.equations.get(label)
        number = index.number(docname or "", "displaymath", f"equation-{label}")
        if number is None:
            raise chapter.fail(f"{{eq}} to an unknown equation {label!r}")
        return f"[{title or '(' + number + ')'}]({index.url(chapter.docname, docname, 'equation-' + label)})"
    if role == "doc":
        title, target = _explicit(text)
        target = target.removesuffix(".md").removesuffix(".ipynb")
        docname = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
            posixpath.join(posixpath.dirname(chapter.docname), target))
        if docname not in index.titles:
            raise chapter.fail(f"{{doc}} to an unknown page {target!r}")
        return f"[{title or index.titles[docname]}]({index.url(chapter.docname, docname)})"
    if role == "math":
        return f"${text}$"
    if role in ("code", "literal", "samp", "file", "kbd", "command"):
        return f"`{text}`"
    raise chapter.fail(f"role {{{role}}} has no Markdown translation (extend _ext/notebook_export.py)")


def _glue_text(text: str, chapter: Chapter, default_format: str) -> str:
    from myst_nb.core.variables import format_plain_text

    key, fmt = text.rsplit(":", 1) if ":" in text.split("::")[-1] else (text, default_format)
    data = chapter.glue.get(key)
    if data is None or "text/plain" not in data.get("data", {}):
        raise chapter.fail(f"no glued text/plain value {key!r}")
    return format_plain_text(data["data"]["text/plain"], fmt)


# --------------------------------------------------------------------------------------------------------------
# The notebook
# --------------------------------------------------------------------------------------------------------------

def _imported_modules(sources: list[str]) -> list[str]:
    """Top-level modules imported by the cells (``import x``, ``from x import y``), in order of appearance."""
    found: list[str] = []
    for source in sources:
        tree = _parse(source)
        for node in ast.walk(tree) if tree else []:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            for name in names:
                if name not in found:
                    found.append(name)
    return found


def _library_imports(module: str, root: Path, seen: set[str]) -> set[str]:
    """The third-party top-level modules a course module imports, its own course imports followed (also
    imports inside functions: ``reference_impl.data`` imports scikit-learn only when it loads a data set)."""
    if module in seen:
        return set()
    seen.add(module)
    path = root.joinpath(*module.split("."))
    file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    if not file.is_file():
        return set()
    third_party = set()
    for name in _imported_modules([file.read_text()]):
        top = name.split(".")[0]
        if top == module.split(".")[0]:
            third_party |= _library_imports(name, root, seen)
        elif top not in sys.stdlib_module_names:
            third_party.add(top)
    for node in ast.walk(ast.parse(file.read_text())):  # relative imports: from .x import y
        if isinstance(node, ast.ImportFrom) and node.level:
            base = module.split(".")[: len(module.split(".")) - node.level + (1 if path.is_dir() else 0)]
            target = ".".join(base + ([node.module] if node.module else []))
            third_party |= _library_imports(target, root, seen)
            for alias in node.names:
                third_party |= _library_imports(f"{target}.{alias.name}", root, seen)
    return third_party


def course_distribution(root: Path) -> str:
    """The name pip knows the course by: ``[project] name`` of the course's ``pyproject.toml`` (the distribution that
    ships ``reference_impl`` and ``course_grading``). A ``name @ git+URL`` requirement must carry exactly this name."""
    with open(Path(root) / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]["name"]


def requirements(sources: list[str], course_package: str, repository_url: str, root: Path) -> dict[str, str]:
    """``{module: pip requirement}`` for every non-standard module the code imports (the course package from
    the repository, under the course's distribution name; others pinned to the version the book was built
    with)."""
    wanted: list[str] = []
    for name in _imported_modules(sources):
        top = name.split(".")[0]
        if top == course_package:
            for extra in sorted(_library_imports(name, root, set())):
                if extra not in wanted and extra != course_package:
                    wanted.append(extra)
        if top not in sys.stdlib_module_names and top not in wanted:
            wanted.append(top)
    distributions = importlib.metadata.packages_distributions()
    result: dict[str, str] = {}
    for module in wanted:
        if module == course_package:
            result[module] = f"{course_distribution(root)} @ git+{repository_url}"
            continue
        if module in BUILD_ONLY_MODULES:
            raise ConversionError(f"the notebook would import the build-only module {module}")
        dist = (distributions.get(module) or [module])[0]
        try:
            version = importlib.metadata.version(dist).split("+")[0]
        except importlib.metadata.PackageNotFoundError:
            raise ConversionError(
                f"the notebook imports {module}, which is not installed where the book is built") from None
        result[module] = f"{dist}=={version}"
    # the course package first: installing it pulls its declared dependencies
    return dict(sorted(result.items(), key=lambda item: item[0] != course_package))


DATA_FOLDER = "results"
"""The repository's folder of stored results that chapters read (e.g. chapter 12's bake-off)."""


def data_files(sources: list[str], root: Path, folder: str = DATA_FOLDER) -> list[str]:
    """The files of ``root/folder`` that the code names (``"bakeoff.json"``), as repository paths
    (``results/bakeoff.json``): a notebook opened outside the repository (Colab) has to fetch them."""
    code = "\n".join(sources)
    found = sorted(p for p in (root / folder).glob("*") if p.is_file() and re.search(
        rf"[\"'/]{re.escape(p.name)}[\"']", code))
    return [f"{folder}/{p.name}" for p in found]


def raw_url(repository_url: str, branch: str, path: str) -> str:
    """Where a file of the repository can be downloaded (GitHub's raw host; other hosts' ``/raw/`` route)."""
    github = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?", repository_url)
    if github:
        return f"https://raw.githubusercontent.com/{github.group(1)}/{github.group(2)}/{branch}/{path}"
    return f"{repository_url.rstrip('/')}/raw/{branch}/{path}"


def chapter_install_cell_source(needed: dict[str, str], data: dict[str, str] | None = None) -> str:
    """The first cell: install, with pip, each module the notebook imports that this Python cannot import; and
    download each repository file in ``data`` (``{repository path: URL}``) that is not in the working folder or a
    folder above it (where the chapter looks for it), into the working folder."""
    table = "".join(f"    {module!r}: {requirement!r},\n" for module, requirement in needed.items())
    source = (
        "# Installs what this notebook imports and this Python lacks (on Colab: the course package reference_impl,\n"
        "# from its repository); does nothing where everything is installed (Binder, the course's environment).\n"
        "import importlib.util, subprocess, sys\n"
        "NEEDED = {\n" + table + "}\n"
        "missing = [pip for module, pip in NEEDED.items() if importlib.util.find_spec(module) is None]\n"
        "if missing:\n"
        "    print('installing', *missing, flush=True)\n"
        "    subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet', *missing])")
    if data:
        files = "".join(f"    {path!r}: {url!r},\n" for path, url in data.items())
        source += (
            "\n# The stored results this chapter reads, files of the course repository: downloaded into this folder\n"
            "# when neither it nor a folder above it has them (outside a clone of the repository, e.g. on Colab).\n"
            "import pathlib, urllib.request\n"
            "DATA = {\n" + files + "}\n"
            "for path, url in DATA.items():\n"
            "    if not any((folder / path).is_file() for folder in (pathlib.Path.cwd(), *pathlib.Path.cwd().parents)):\n"
            "        print('downloading', url, flush=True)\n"
            "        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)\n"
            "        urllib.request.urlretrieve(url, path)")
    return source


def convert(executed: nbformat.NotebookNode, docname: str, source_dir: Path, index: BookIndex,
            glue: dict[str, dict], repository_url: str, root: Path, course_package: str = "reference_impl",
            repository_branch: str = "main") -> nbformat.NotebookNode:
    """The executed MyST notebook of chapter ``docname`` as a notebook for Jupyter/Colab (outputs kept)."""
    chapter = Chapter(docname, source_dir, index, glue)
    code_cells = [c for c in executed.cells if c.cell_type == "code"]
    names = glue_names([c.source for c in code_cells])
    stripped = {id(c): strip_plumbing(c.source, names) for c in code_cells}
    # glue calls that could not be removed (in a helper function, say) need a local stand-in for the import
    still_called = any(re.search(rf"\b{re.escape(n)}\s*\(", s) for s in stripped.values() for n in names)
    if still_called:  # keep the wrappers; the import becomes a local stand-in
        stripped = {id(c): strip_plumbing(_with_stand_in(c.source), names, drop_defs=False) for c in code_cells}
    cells = []
    kept_sources = []
    for cell in executed.cells:
        if cell.cell_type == "markdown":
            source = translate(cell.source, chapter)
            if source.strip():
                cells.append(nbformat.v4.new_markdown_cell(source))
            continue
        if cell.cell_type != "code":
            continue
        tags = set(cell.metadata.get("tags", []))
        source = stripped[id(cell)]
        outputs = [] if tags & {"remove-output", "remove-cell"} else [
            o for o in cell.get("outputs", []) if "scrapbook" not in o.get("metadata", {})]
        if not source.strip() and not outputs:
            continue
        new = nbformat.v4.new_code_cell(source, outputs=outputs, execution_count=cell.get("execution_count"))
        if tags:
            new.metadata["tags"] = sorted(tags)
        if tags & {"remove-input", "hide-input", "remove-cell"}:
            new.metadata["jupyter"] = {"source_hidden": True}
        cells.append(new)
        kept_sources.append(source)
    leftover = [s for s in kept_sources if re.search(r"^\s*(from|import) myst_nb", s, re.MULTILINE)]
    if leftover:
        raise chapter.fail(f"a cell still imports myst_nb: {leftover[0][:120]!r}")
    needed = requirements(kept_sources, course_package, repository_url, root)
    data = {path: raw_url(repository_url, repository_branch, path) for path in data_files(kept_sources, root)}
    head = [nbformat.v4.new_code_cell(chapter_install_cell_source(needed, data))]
    if chapter.cited:
        entries = sorted(chapter.cited, key=lambda k: (index.citations[k][0].lower(), index.citations[k][1]))
        cells.append(nbformat.v4.new_markdown_cell(
            "## References\n\n" + "\n".join(f"- {index.citations[k][2]}" for k in entries)))
    cells.append(nbformat.v4.new_markdown_cell(
        f"*This notebook is generated from the chapter [{index.titles.get(docname, docname)}]"
        f"({index.url(docname, docname)}) of the online book, with the outputs of the book's build.*"))
    notebook = nbformat.v4.new_notebook(cells=head + cells, metadata={
        "kernelspec": executed.metadata.get("kernelspec", {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}),
        "language_info": executed.metadata.get("language_info", {"name": "python"}),
    })
    for number, cell in enumerate(notebook.cells):  # stable ids: the same chapter gives the same file
        cell["id"] = f"cell-{number}"
    left = [c.source for c in notebook.cells if c.cell_type == "markdown" and MYST_LEFT.search(c.source)]
    if left:
        raise chapter.fail(f"MyST left after the translation: {MYST_LEFT.search(left[0]).group(0)!r}")
    return notebook


def _with_stand_in(source: str) -> str:
    """``source`` with its ``from myst_nb import ...`` statements replaced by local stand-ins, for glue calls that
    cannot be removed (e.g. inside a helper function)."""
    tree = _parse(source)
    lines = source.split("\n")
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               and (n.module or "").split(".")[0] in BUILD_ONLY_MODULES] if tree else []
    for node in sorted(imports, key=lambda n: -n.lineno):
        indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
        bound = {a.asname or a.name for a in node.names}
        lines[node.lineno - 1:node.end_lineno] = [indent + line for line in glue_stand_in(bound).split("\n")]
    return "\n".join(lines)


def executed_notebook(executed_dir: Path, docname: str, cache_path: Path | None) -> nbformat.NotebookNode:
    """The chapter as myst-nb read and executed it. myst-nb writes ``jupyter_execute/<doc>.ipynb`` *without*
    outputs when they come from its cache (its client merges them into a copy), which is also why the theme's
    ``.ipynb`` download lacked them; so the outputs are merged here from the same jupyter-cache."""
    notebook = nbformat.read(executed_dir / f"{docname}.ipynb", as_version=4)
    if cache_path is not None and Path(cache_path).is_dir():
        from jupyter_cache import get_cache

        try:
            _, notebook = get_cache(str(cache_path)).merge_match_into_notebook(notebook)
        except KeyError:  # not cached: myst-nb executed this notebook itself, outputs included
            pass
    return notebook


def glue_data(executed_dir: Path, docname: str) -> dict[str, dict]:
    """The glued values myst-nb stored beside the executed notebook (``<docname>.glue.json``)."""
    path = executed_dir / f"{docname}.glue.json"
    return json.loads(path.read_text()) if path.is_file() else {}
