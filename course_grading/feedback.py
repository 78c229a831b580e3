"""Pages built from submissions: nothing a student wrote runs there, and no hidden test shows.

**Sanitising.** Every page an instructor or a student looks at that holds a student's notebook (the formgrader's
submission page, the feedback page) is rendered by nbconvert's ``HTMLExporter`` with the course's configuration
(:func:`configure_exporter`; ``nbgrader_config.py`` sets the same, and the formgrader reads that file):

* :class:`SanitizeNotebook` runs first on the notebook: it drops every output of a type that can run or carry
  markup (``text/html``, ``application/javascript``, ``image/svg+xml``, ``text/markdown``, ``text/latex``, widget
  views...) and the outputs' metadata (nbconvert writes an image's ``width`` into an unquoted attribute), keeps the
  notebook's ``kernelspec``/``language_info`` only (no widget state, no title), and drops cell metadata other than
  nbgrader's (whose ``grade_id`` must match nbgrader's own pattern; a raw cell loses its ``text/html`` format);
* the template's ``markdown2html`` filter becomes :func:`markdown2html`: the markdown is rendered as nbconvert renders
  it, then cleaned by ``bleach`` (the sanitiser nbconvert itself uses) with :data:`TAGS`/:func:`clean`'s attribute
  rules. nbgrader's formgrader and feedback templates render markdown cells without nbconvert's ``clean_html``
  even when ``HTMLExporter.sanitize_html`` is on, so that switch alone leaves raw HTML in markdown live;
* ``HTMLExporter.sanitize_html`` is on as well (nbconvert then leaves out JavaScript outputs and widget scripts),
  and ``HTMLExporter.exclude_raw`` (raw cells are not rendered at all).

Written answers stay readable: text, math (MathJax reads the text), lists, tables, code, links (http, https,
mailto) and images given as ``data:image/png|jpeg|gif|webp`` URIs survive; other markup is shown escaped, as text.
The grading run also stores the autograded copies the formgrader reads through :class:`SanitizeNotebook`
(``gradebook.Record``), so they carry no active output either.

**Leaks.** A page must not show a hidden test's source or a path on the grading machine; :func:`leaks` finds
either, and :func:`publish` refuses to write a page that has one (it writes a short page with the scores instead).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import bleach
import jinja2
from bleach.css_sanitizer import CSSSanitizer
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from .course import NotebookSpec

# --------------------------------------------------------------------------------------------- sanitising

# what rendered markdown may keep (nbconvert's renderer writes these; pygments marks code up with span classes)
TAGS = frozenset({"a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2",
                  "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "samp", "span",
                  "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul"})
PROTOCOLS = frozenset({"http", "https", "mailto", "data"})   # data: for images only (see _attribute)
DATA_IMAGE = re.compile(r"data:image/(png|jpeg|jpg|gif|webp);base64,[A-Za-z0-9+/=\s]*", re.IGNORECASE)
_CSS = CSSSanitizer(allowed_css_properties=["text-align"])
# output types a page may show from a student's notebook: plain text (escaped by nbconvert) and bitmaps
SAFE_OUTPUT_TYPES = frozenset({"text/plain", "image/png", "image/jpeg"})
GRADE_ID = re.compile(r"[a-zA-Z0-9_\-]*")   # nbgrader's own pattern for grade ids
NOTEBOOK_METADATA = ("kernelspec", "language_info")


def _normalised_uri(value: str) -> str:
    """The URL as bleach compares its scheme (entities decoded by the parser; blanks and controls removed)."""
    return re.sub(r"[`\000-\040\177-\240\s]+", "", value).lower()


def _attribute(tag: str, name: str, value: str) -> bool:
    """Which attributes survive ``bleach`` (it also checks every URL's scheme against :data:`PROTOCOLS`)."""
    if tag == "a":
        return name == "title" or (name == "href" and not _normalised_uri(value).startswith("data:"))
    if tag == "img":
        return name in ("alt", "title", "width", "height") or (name == "src" and bool(DATA_IMAGE.fullmatch(
            value.strip())))
    if tag in ("code", "div", "pre", "span"):
        return name == "class"
    if tag in ("td", "th"):
        return name in ("align", "style")
    if tag == "ol":
        return name == "start"
    return tag == "abbr" and name == "title"


def clean(markup: str) -> str:
    """``markup`` with only :data:`TAGS` and the attributes :func:`_attribute` allows; anything else escaped."""
    return bleach.clean(markup, tags=TAGS, attributes=_attribute, protocols=PROTOCOLS, css_sanitizer=_CSS,
                        strip=False, strip_comments=True)


@jinja2.pass_context
def markdown2html(context, source: str) -> str:
    """The ``markdown2html`` template filter: nbconvert's rendering (cell attachments, math kept as TeX for
    MathJax, harmful link schemes refused), then :func:`clean`."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    cell = context.get("cell", {}) or {}
    path = (context.get("resources", {}) or {}).get("metadata", {}).get("path", "")
    renderer = IPythonRenderer(escape=False, allow_harmful_protocols=False, exclude_anchor_links=True,
                               attachments=cell.get("attachments", {}), path=path)
    return clean(MarkdownWithMath(renderer=renderer).render(source))


def _safe_output(output):
    """``output`` reduced to what a page may render, or ``None``."""
    kind = output.get("output_type")
    if kind == "stream":
        text = output.get("text", "")
        return {"output_type": "stream", "name": "stderr" if output.get("name") == "stderr" else "stdout",
                "text": "".join(text) if isinstance(text, list) else str(text)}
    if kind == "error":
        trace = output.get("traceback", [])
        return {"output_type": "error", "ename": str(output.get("ename", "")), "evalue": str(output.get("evalue", "")),
                "traceback": [str(line) for line in trace] if isinstance(trace, list) else [str(trace)]}
    if kind in ("display_data", "execute_result"):
        data = {k: v for k, v in (output.get("data") or {}).items() if k in SAFE_OUTPUT_TYPES}
        if not data:
            return None
        safe = {"output_type": kind, "data": data, "metadata": {}}
        if kind == "execute_result":
            count = output.get("execution_count")
            safe["execution_count"] = count if isinstance(count, int) and not isinstance(count, bool) else None
        return safe
    return None


class SanitizeNotebook(Preprocessor):
    """Leaves in a student's notebook only what renders inert (see the module docstring)."""

    enabled = Bool(True, help="on wherever it is listed (nbgrader registers preprocessors without enabling them)"
                   ).tag(config=True)

    def preprocess(self, nb, resources):
        from nbformat import from_dict

        nb.metadata = from_dict({k: nb.metadata[k] for k in NOTEBOOK_METADATA if k in nb.get("metadata", {})})
        for cell in nb.cells:
            meta = cell.get("metadata", {})
            grading = meta.get("nbgrader")
            kept = {k: meta[k] for k in ("deletable", "editable") if isinstance(meta.get(k), bool)}
            if isinstance(grading, dict) and GRADE_ID.fullmatch(str(grading.get("grade_id", ""))):
                kept["nbgrader"] = grading
            cell.metadata = from_dict(kept)
            if cell.cell_type == "code":
                count = cell.get("execution_count")
                cell.execution_count = count if isinstance(count, int) and not isinstance(count, bool) else None
                cell.outputs = [from_dict(out) for out in map(_safe_output, cell.get("outputs", [])) if out]
            elif cell.cell_type == "markdown" and "attachments" in cell:
                cell.attachments = from_dict({
                    name: {k: v for k, v in bundle.items() if k in SAFE_OUTPUT_TYPES - {"text/plain"}}
                    for name, bundle in (cell.attachments or {}).items() if isinstance(bundle, dict)})
        return nb, resources


def configure_exporter(config) -> None:
    """Set, on a traitlets ``config``, how ``HTMLExporter`` renders pages built from submissions (as
    ``nbgrader_config.py`` does)."""
    config.HTMLExporter.sanitize_html = True
    config.HTMLExporter.exclude_raw = True
    config.HTMLExporter.preprocessors = ["course_grading.feedback.SanitizeNotebook"]
    config.HTMLExporter.filters = {"markdown2html": "course_grading.feedback.markdown2html"}


# --------------------------------------------------------------------------------------------- leaks


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
    # lines of the released (visible) tests are no leak, even when a hidden line is part of one
    # ("from m import a" hidden, "from m import a, b" visible)
    visible = {line.strip() for source in spec.released_tests for line in source.splitlines() if line.strip()}
    text = "\n".join(line for line in text.splitlines() if line.strip() not in visible)
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
