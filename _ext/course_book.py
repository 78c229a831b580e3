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
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

MATHJAX_DIR = Path(__file__).resolve().parent.parent / "node_modules" / "mathjax" / "es5"


def _check_mathjax(app: Sphinx) -> None:
    if app.builder.format == "html" and not (MATHJAX_DIR / "tex-mml-chtml.js").is_file():
        raise ExtensionError(
            f"MathJax is not installed ({MATHJAX_DIR} missing). Run `npm ci` (or `make setup`) in the repository root.")


def _copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        shutil.copytree(MATHJAX_DIR, Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True)


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
    app.connect("build-finished", _copy_mathjax)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("html-page-context", _set_default_mode)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
