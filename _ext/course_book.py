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
5. **Colab buttons that open a notebook.** sphinx-book-theme points the Colab button of a MyST ``.md`` chapter at
   the ``.md`` file in the repository, which Colab cannot open. After the build, every such chapter is written as
   ``<html>/colab/<page>.ipynb`` (jupytext, without outputs) with a first cell that installs the course package when
   it is missing, and the button is pointed at that file on the branch the book is published to
   (``course_publish_branch``, default ``gh-pages``: ``make publish`` pushes ``_build/html`` there).
6. **Code fits the page.** ``_ext/course.css`` (copied to ``<html>/_static/course/``, linked from every page) sets
   the code font so that an 88-character line fits a laptop-width content column and wraps longer lines (the
   library's source, wide outputs) instead of scrolling sideways.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

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


def _point_colab_at_notebooks(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Runs after the theme made its launch buttons: a MyST chapter's Colab button opens ``colab/<page>.ipynb``."""
    if pagename not in _myst_notebooks(app):
        return
    for group in context.get("header_buttons") or []:
        for button in group.get("buttons", []) if isinstance(group, dict) else []:
            if button.get("text") == "Colab" and "/blob/" in button.get("url", ""):
                head = button["url"].split("/blob/")[0]
                button["url"] = f"{head}/blob/{app.config.course_publish_branch}/{COLAB_DIR}/{pagename}.ipynb"


def _myst_notebooks(app: Sphinx) -> list[str]:
    """The pages written as MyST Markdown notebooks (a ``.md`` source with a kernelspec)."""
    return sorted(doc for doc in app.env.found_docs
                  if str(app.env.doc2path(doc)).endswith(".md") and "kernelspec" in app.env.metadata.get(doc, {}))


def _write_colab_notebooks(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    import jupytext
    import nbformat

    repository_url = (app.config.html_theme_options or {}).get("repository_url", "")
    for pagename in _myst_notebooks(app):
        notebook = jupytext.read(app.env.doc2path(pagename))
        notebook.metadata.pop("jupytext", None)
        notebook.cells.insert(0, nbformat.v4.new_code_cell(install_cell_source(repository_url)))
        target = Path(app.outdir) / COLAB_DIR / f"{pagename}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, str(target))


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
    app.add_css_file("course/" + COURSE_CSS.name)
    app.add_config_value("course_publish_branch", "gh-pages", "html")
    app.connect("build-finished", _copy_mathjax)
    app.connect("build-finished", _write_colab_notebooks)
    app.connect("html-page-context", _add_explorer_scripts)
    app.connect("html-page-context", _point_colab_at_notebooks, priority=502)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("html-page-context", _set_default_mode)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
