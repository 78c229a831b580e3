"""Local Sphinx extension of the course book.

1. **Offline math.** MathJax is installed by npm (``package.json``: ``mathjax``) into ``node_modules/``; this
   extension copies its browser build (``es5/``) into the *output* folder ``<html>/_static/mathjax/`` after the
   build, and ``_config.yml`` sets ``mathjax_path: mathjax/tex-mml-chtml.js`` (Sphinx prefixes ``_static/``). Pages
   then typeset math with no network. The files are never placed in a *source* static folder: Jupyter Book adds
   every ``.js`` file found there to every page.
2. **No duplicated inline scripts.** Sphinx 7.x emits some inline ``<script>`` blocks twice per page (fixed upstream
   in Sphinx 8); the second copy of ``const THEBE_JS_URL = ...`` is a JavaScript error in every browser. We drop
   exact duplicates from each page's script list before the page is rendered.
3. **An explicit colour mode.** The page template reads ``default_mode``, which sphinx-book-theme never sets; the
   empty value makes the theme's script log "Got invalid theme mode" as a console error on every page. We set it.
4. **Interactive figures, offline.** plotly.js (npm ``plotly.js-cartesian-dist-min``, the cartesian partial bundle)
   is copied from ``node_modules/`` into ``<html>/_static/plotly/`` and the book's own ``_ext/explorers/explorers.js``
   into ``<html>/_static/explorers/``, like MathJax. Both are added only to pages that hold a figure of
   ``reference_impl.explorers`` (a ``<div class="course-explorer">``), so other pages do not load 1.5 MB of plotly.
5. **Every chapter as a notebook for Colab, Binder and download.** After the build, every MyST chapter is written as
   ``<html>/colab/<page>.ipynb``: the executed notebook (outputs kept) with its MyST translated into the Markdown
   Jupyter and Colab display, numbers glued in, citations and references resolved, and a first cell installing
   what it imports (``_ext/notebook_export.py``). The Colab and Binder buttons open that file on the branch the book
   is published to (``course_publish_branch``, default ``gh-pages``: ``make publish`` pushes ``_build/html``
   there, with a ``binder/`` environment beside the notebooks), and the ``.ipynb`` download is that file.
7. **The science, not the plumbing.** Displayed code cells lose their ``glue(...)`` calls, ``assert`` statements
   and ``myst_nb`` imports (they still run; :func:`notebook_export.strip_plumbing`), and a cell left empty loses its
   input box. A ``literalinclude`` of a documented function shows the docstring rendered (math typeset) above the
   code instead of raw reStructuredText inside it.
6. **Code fits the page.** ``_ext/course.css`` (copied to ``<html>/_static/course/``, linked from every page) sets
   the code font so that an 88-character line fits a laptop-width content column and wraps longer lines (the
   library's source, wide outputs) instead of scrolling sideways.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.directives.code import LiteralInclude
from sphinx.errors import ExtensionError

from notebook_export import docstring_markdown, glue_names, split_docstring, strip_plumbing

EXT_DIR = Path(__file__).resolve().parent
ROOT = EXT_DIR.parent
MATHJAX_DIR = ROOT / "node_modules" / "mathjax" / "es5"
PLOTLY_JS = ROOT / "node_modules" / "plotly.js-cartesian-dist-min" / "plotly-cartesian.min.js"
EXPLORERS_JS = EXT_DIR / "explorers" / "explorers.js"
COURSE_CSS = EXT_DIR / "course.css"
EXPLORER_MARKER = 'class="course-explorer"'
COLAB_DIR = "colab"


def _check_mathjax(app: Sphinx) -> None:
    if app.builder.format == "html" and not (MATHJAX_DIR / "tex-mml-chtml.js").is_file():
        raise ExtensionError(
            f"MathJax is not installed ({MATHJAX_DIR} missing). Run `npm ci` (or `make setup`) in the repository root.")
    if app.builder.format == "html" and not PLOTLY_JS.is_file():
        raise ExtensionError(
            f"plotly.js is not installed ({PLOTLY_JS} missing). Run `npm ci` (or `make setup`) in the repository "
            "root.")


def _copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        shutil.copytree(MATHJAX_DIR, Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True)
        for source, folder in ((PLOTLY_JS, "plotly"), (EXPLORERS_JS, "explorers"), (COURSE_CSS, "course")):
            target = Path(app.outdir) / "_static" / folder
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / source.name)


def _add_explorer_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Load plotly.js and the explorers' script on the pages that hold an interactive figure, and only there."""
    if EXPLORER_MARKER in (context.get("body") or ""):
        app.add_js_file("plotly/" + PLOTLY_JS.name)
        app.add_js_file("explorers/" + EXPLORERS_JS.name)


def install_cell_source(repository_url: str) -> str:
    """The first cell of a notebook opened outside the course's environment: install the course when missing."""
    return (
        "# Makes the course package importable: installs it from the course repository when it is missing\n"
        "# (e.g. on Colab) and does nothing when it is already installed.\n"
        "import importlib.util, subprocess, sys\n"
        "if importlib.util.find_spec(\"reference_impl\") is None:\n"
        f"    _course = \"reference_impl @ git+{repository_url}\"\n"
        "    print(f\"reference_impl is not installed: running pip install '{_course}' ...\", flush=True)\n"
        "    subprocess.check_call([sys.executable, \"-m\", \"pip\", \"install\", \"--quiet\", _course])\n"
        "    print(\"Installed the course package reference_impl.\")")


def _point_launchers_at_notebooks(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Runs after the theme made its buttons: a MyST chapter's Colab and Binder buttons open ``colab/<page>.ipynb``
    on the publishing branch, and its ``.ipynb`` download is that notebook (with the build's outputs)."""
    if pagename not in _myst_notebooks(app):
        return
    branch, notebook = app.config.course_publish_branch, f"{COLAB_DIR}/{pagename}.ipynb"
    for group in context.get("header_buttons") or []:
        for button in group.get("buttons", []) if isinstance(group, dict) else []:
            url = button.get("url", "")
            if button.get("text") == "Colab" and "/blob/" in url:
                button["url"] = f"{url.split('/blob/')[0]}/blob/{branch}/{notebook}"
            elif button.get("text") == "Binder" and "/v2/" in url and "?" in url:
                head = url.split("?")[0].rsplit("/", 1)[0]
                button["url"] = f"{head}/{branch}?urlpath=lab/tree/{notebook}"
            elif button.get("label") == "download-notebook-button":
                button["url"] = "../" * pagename.count("/") + notebook


def _myst_notebooks(app: Sphinx) -> list[str]:
    """The pages written as MyST Markdown notebooks (a ``.md`` source with a kernelspec)."""
    return sorted(doc for doc in app.env.found_docs
                  if str(app.env.doc2path(doc)).endswith(".md") and "kernelspec" in app.env.metadata.get(doc, {}))


def _write_colab_notebooks(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    import nbformat
    from notebook_export import BookIndex, convert, executed_notebook, glue_data

    repository_url = (app.config.html_theme_options or {}).get("repository_url", "")
    executed = Path(app.outdir).parent / "jupyter_execute"
    cache = Path(app.env.mystnb_config.execution_cache_path)  # myst-nb sets it (default _build/.jupyter_cache)
    index = BookIndex.from_env(app.env, app.config.html_baseurl)
    for pagename in _myst_notebooks(app):
        source = Path(app.env.doc2path(pagename))
        notebook = convert(executed_notebook(executed, pagename, cache), pagename, source.parent, index,
                           glue_data(executed, pagename), repository_url, ROOT)
        target = Path(app.outdir) / COLAB_DIR / f"{pagename}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, str(target))
    _write_binder_environment(app, repository_url)


def _write_binder_environment(app: Sphinx, repository_url: str) -> None:
    """Binder builds the publishing branch (``_build/html``): give it the course's environment there, with the
    course package installed from the repository (the notebooks' first cell then has nothing to do)."""
    target = Path(app.outdir) / "binder"
    target.mkdir(exist_ok=True)
    shutil.copy2(ROOT / "requirements-lock.txt", target / "requirements-lock.txt")
    lines = (ROOT / "binder" / "requirements.txt").read_text().replace("../requirements-lock.txt",
                                                                       "requirements-lock.txt")
    (target / "requirements.txt").write_text(lines)
    post_build = target / "postBuild"
    post_build.write_text(
        "#!/usr/bin/env bash\n"
        "# Binder on the published book (written by _ext/course_book.py): the course package from its repository.\n"
        "set -euo pipefail\n"
        f'pip install --no-deps "reference_impl @ git+{repository_url}@{app.config.html_theme_options.get("repository_branch", "main")}"\n')
    post_build.chmod(0o755)


def _hide_plumbing(app: Sphinx, doctree: nodes.document) -> None:
    """Displayed code cells without glue calls, asserts and the myst_nb import (the cells still ran them)."""
    cells = [c for c in doctree.findall(nodes.container) if c.get("nb_element") == "cell_code_source"]
    if not cells:
        return
    import jupytext

    notebook = jupytext.read(app.env.doc2path(app.env.docname))
    names = glue_names([c.source for c in notebook.cells if c.cell_type == "code"])
    for cell in cells:
        block = next(iter(cell.findall(nodes.literal_block)), None)
        if block is None:
            continue
        text = block.astext()
        shown = strip_plumbing(text, names)
        if shown == text:
            continue
        if not shown.strip():
            cell.parent.remove(cell)
            continue
        block[:] = [nodes.Text(shown)]
        block.rawsource = shown


class DocumentedLiteralInclude(LiteralInclude):
    """``literalinclude`` whose ``:pyobject:`` docstring is shown rendered above the code, not as raw reST in it."""

    def run(self) -> list[nodes.Node]:
        result = super().run()
        if "pyobject" not in self.options:
            return result
        for position, node in enumerate(result):
            block = node if isinstance(node, nodes.literal_block) else next(iter(node.findall(nodes.literal_block)),
                                                                           None)
            if block is None:
                continue
            docstring, code = split_docstring(block.astext())
            if docstring is None:
                return result
            block[:] = [nodes.Text(code)]
            block.rawsource = code
            box = nodes.container(classes=["course-docstring"])
            text = f"**`{self.options['pyobject']}`**, from its docstring:\n\n" + docstring_markdown(docstring)
            self.state.nested_parse(StringList(text.split("\n"), source=block.get("source", "")),
                                    self.content_offset, box)
            return result[:position] + [box] + result[position:]
        return result


def _set_default_mode(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    context.setdefault("default_mode", "light")


def _drop_duplicate_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # same file and attributes (an inline script's text is its "body" attribute), whatever the priority
        key = (getattr(script, "filename", str(script)) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", _check_mathjax)
    app.add_directive("literalinclude", DocumentedLiteralInclude, override=True)
    app.connect("doctree-read", _hide_plumbing)
    app.add_css_file("course/" + COURSE_CSS.name)
    app.add_config_value("course_publish_branch", "gh-pages", "html")
    app.connect("build-finished", _copy_mathjax)
    app.connect("build-finished", _write_colab_notebooks)
    app.connect("html-page-context", _add_explorer_scripts)
    app.connect("html-page-context", _point_launchers_at_notebooks, priority=502)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("html-page-context", _set_default_mode)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
