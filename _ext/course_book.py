"""Local Sphinx extension of the course book.

1. **Math typeset at build time, offline.** MathJax is installed by npm (``package.json``: ``mathjax``) into
   ``node_modules/``. Sphinx writes each page's math as TeX in ``<span class="math">``/``<div class="math">``
   (the ``course_mathjax`` renderer: Sphinx's MathJax markup, without the script tag); after the build,
   :func:`typeset_page` hands every page's TeX to ``_ext/typeset_math.js``, which typesets it in Node with that
   MathJax (TeX input with the AMS and ``\newcommand`` packages, CHTML output with the hidden MathML screen
   readers read), and puts the result and its stylesheet in the page. A reader's browser then loads MathJax's
   web fonts only, not its ~760 kB of script, and a TeX error fails the build instead of showing in red. The
   fonts are copied into the *output* folder ``<html>/_static/mathjax/`` (never a *source* static folder:
   Jupyter Book adds every ``.js`` file found there to every page).
2. **No duplicated inline scripts.** Sphinx 7.x emits some inline ``<script>`` blocks twice per page (fixed upstream
   in Sphinx 8); the second copy of ``const THEBE_JS_URL = ...`` is a JavaScript error in every browser. We drop
   exact duplicates from each page's script list before the page is rendered.
3. **An explicit colour mode.** The page template reads ``default_mode``, which sphinx-book-theme never sets; the
   empty value makes the theme's script log "Got invalid theme mode" as a console error on every page. We set it.
4. **Interactive figures, offline.** plotly.js (npm ``plotly.js-basic-dist-min``, the smallest official bundle:
   scatter, bar and pie; the explorers draw level lines and the lr x beta maps with scatter traces and shapes, 1.19
   MB instead of the cartesian bundle's 1.50 MB) is copied from ``node_modules/`` into ``<html>/_static/plotly/``
   and the book's own ``_ext/explorers/explorers.js`` into ``<html>/_static/explorers/``, like MathJax. Both are added only to pages that hold a figure of
   ``reference_impl.explorers`` (a ``<div class="course-explorer">``), so other pages do not load 1.2 MB of plotly.
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
8. **Light pages.** The theme loads Font Awesome twice for about seventeen icons: a 1.5 MB script
   (``fontawesome.js``, which redraws every icon as SVG) and its web fonts (270 kB) through the theme's CSS. After the
   build the script tag is removed from every page and the two fonts are subset to the icons the pages use
   (fontTools, a matplotlib dependency) and served from ``<html>/_static/course/``, declared after the theme's fonts
   (``icons.css``) so that the browser never fetches the full ones. The theme's CSS keeps the icon rules of those icons only.
   The pages other than ``search.html`` stop loading the 150 kB search index and its scripts (the theme loads them
   everywhere for a search-as-you-type mode this book leaves off), and pages without a sphinx-design element stop
   loading its CSS and script. No page loads MathJax's script (1. above). The figures' PNGs are served as 256-colour palette images
   (:func:`slim_png`: the same picture, about a third of the bytes).
6. **Code fits the page.** ``_ext/course.css`` (copied to ``<html>/_static/course/``, linked from every page) sets
   the code font so that an 88-character line fits a laptop-width content column and wraps longer lines (the
   library's source, wide outputs) instead of scrolling sideways.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.directives.code import LiteralInclude
from sphinx.errors import ExtensionError

from notebook_export import course_distribution, docstring_markdown, glue_names, split_docstring, strip_plumbing

EXT_DIR = Path(__file__).resolve().parent
ROOT = EXT_DIR.parent
MATHJAX_DIR = ROOT / "node_modules" / "mathjax" / "es5"
PLOTLY_JS = ROOT / "node_modules" / "plotly.js-basic-dist-min" / "plotly-basic.min.js"
EXPLORERS_JS = EXT_DIR / "explorers" / "explorers.js"
COURSE_CSS = EXT_DIR / "course.css"
EXPLORER_MARKER = 'class="course-explorer"'
COLAB_DIR = "colab"
MATHJAX_FONTS = "output/chtml/fonts/woff-v2"
TYPESET_JS = EXT_DIR / "typeset_math.js"
# Sphinx's MathJax markup (``mathjax_inline``/``mathjax_display`` delimiters, HTML-escaped TeX)
INLINE_MATH = re.compile(r'(<span class="math notranslate nohighlight">)\\\((.*?)\\\)(</span>)', re.S)
DISPLAY_MATH = re.compile(r'(<div class="math notranslate nohighlight"[^>]*>\s*(?:<span class="eqno">.*?</span>)?)'
                          r'\s*\\\[(.*?)\\\]\s*(</div>)', re.S)
MATH_ELEMENT = re.compile(r'<(span|div) class="math notranslate nohighlight"[^>]*>(?!\s*(?:<span class="eqno">.*?'
                          r'</span>)?\s*<mjx-container)', re.S)


def typeset_page(page: Path, html_root: Path) -> int:
    """Typeset the TeX of one built page with MathJax in Node (``_ext/typeset_math.js``); return how many
    expressions. The page keeps Sphinx's math elements (equation numbers and links included), each now holding
    MathJax's CHTML output, and gets the stylesheet of the characters it uses. A page with no TeX left is not
    touched, so an incremental build typesets only the pages it wrote."""
    text = page.read_text(encoding="utf-8")
    found = [(m, False) for m in INLINE_MATH.finditer(text)] + [(m, True) for m in DISPLAY_MATH.finditer(text)]
    if not found:
        return 0
    found.sort(key=lambda item: item[0].start())
    depth = len(page.relative_to(html_root).parts) - 1
    fonts = "../" * depth + "_static/mathjax/" + MATHJAX_FONTS
    items = [{"tex": html.unescape(m.group(2)), "display": display} for m, display in found]
    done = subprocess.run(["node", str(TYPESET_JS), str(MATHJAX_DIR), fonts], input=json.dumps(items),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise ExtensionError(f"MathJax could not typeset {page.relative_to(html_root)}: {done.stderr.strip()}")
    result = json.loads(done.stdout)
    pieces, last = [], 0
    for (m, _), typeset in zip(found, result["html"], strict=True):
        pieces += [text[last:m.start()], m.group(1), typeset, m.group(3)]
        last = m.end()
    pieces.append(text[last:])
    text = "".join(pieces)
    untypeset = [text[m.start():m.start() + 120] for m in MATH_ELEMENT.finditer(text)]
    if untypeset:
        raise ExtensionError(f"{page.relative_to(html_root)}: math left untypeset: {untypeset[:3]}")
    css = re.sub(r"\n\s*", "", result["css"])
    text = text.replace("</head>", f'<style id="MJX-CHTML-styles">{css}</style>\n</head>', 1)
    page.write_text(text, encoding="utf-8")
    return len(items)


def _typeset_math(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    pages = sorted(out.rglob("*.html"))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(lambda page: typeset_page(page, out), pages))


def _html_math_renderer(app: Sphinx) -> None:
    """Sphinx's MathJax markup for math, under the renderer name ``course_mathjax`` (``_config.yml``), so that Sphinx
    does not add MathJax's script to the pages: their math is typeset at build time (:func:`typeset_page`)."""
    from sphinx.ext import mathjax

    app.add_html_math_renderer("course_mathjax", (mathjax.html_visit_math, None),
                               (mathjax.html_visit_displaymath, None))


def _check_mathjax(app: Sphinx) -> None:
    if app.builder.format == "html" and not (MATHJAX_DIR / "startup.js").is_file():
        raise ExtensionError(
            f"MathJax is not installed ({MATHJAX_DIR} missing). Run `npm ci` (or `make setup`) in the repository root.")
    if app.builder.format == "html" and shutil.which("node") is None:
        raise ExtensionError("Node.js is not on PATH: the book typesets its math with it at build time. Install it "
                             "(`make setup-system`, or your system's `nodejs` package).")
    if app.builder.format == "html" and not PLOTLY_JS.is_file():
        raise ExtensionError(
            f"plotly.js is not installed ({PLOTLY_JS} missing). Run `npm ci` (or `make setup`) in the repository "
            "root.")


def _copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        shutil.copytree(MATHJAX_DIR / MATHJAX_FONTS, Path(app.outdir) / "_static" / "mathjax" / MATHJAX_FONTS,
                        dirs_exist_ok=True)
        for source, folder in ((PLOTLY_JS, "plotly"), (EXPLORERS_JS, "explorers"), (COURSE_CSS, "course")):
            target = Path(app.outdir) / "_static" / folder
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / source.name)


FA_WEBFONTS = ("vendor/fontawesome/webfonts/fa-solid-900.ttf", "vendor/fontawesome/webfonts/fa-brands-400.ttf")
FA_FAMILIES = {"fa-solid-900.ttf": ("Font Awesome 6 Free", 900), "fa-brands-400.ttf": ("Font Awesome 6 Brands", 400)}
ICONS_CSS = "icons.css"


def icon_codepoints(theme_css: str) -> dict[str, int]:
    """Font Awesome icon name -> code point, read from the theme's CSS (``.fa-bars:before{content:"\\f0c9"}``)."""
    found: dict[str, int] = {}
    for selectors, code in re.findall(r'((?:\.fa-[a-z0-9-]+:(?::)?before,?)+)\{content:"\\([0-9a-f]+)"\}', theme_css):
        for name in re.findall(r"\.fa-([a-z0-9-]+):", selectors):
            found.setdefault(name, int(code, 16))
    return found


def css_codepoints(css: str) -> set[int]:
    """Private-use code points a stylesheet draws outside the ``.fa-NAME`` classes: the theme's ``--pst-icon-*``
    variables (admonition and external-link icons) and ``content:`` rules of its own."""
    css = re.sub(r'(?:\.fa-[a-z0-9-]+:(?::)?before,?)+\{content:"[^"]*"\}', "", css)
    found = set()
    for value in re.findall(r'(?:--pst-icon-[a-z-]+|content)\s*:\s*"(\\[0-9a-fA-F]{4}|[\ue000-\uf8ff])"', css):
        found.add(int(value[1:], 16) if value.startswith("\\") else ord(value))
    return {c for c in found if 0xE000 <= c <= 0xF8FF}


def used_icons(pages: list[Path]) -> set[str]:
    """The ``fa-NAME`` classes the built pages use (style and size classes included; they simply match no icon)."""
    names: set[str] = set()
    for page in pages:
        names |= set(re.findall(r"\bfa-([a-z0-9-]+)", page.read_text(encoding="utf-8")))
    return names


def _slim_theme_assets(app: Sphinx, exception: Exception | None) -> None:
    """Subset Font Awesome to the icons in use, drop its script and the search index from pages that do not need
    them (see 8. above)."""
    if exception is not None or app.builder.format != "html":
        return
    from fontTools import subset

    out = Path(app.outdir)
    static = out / "_static"
    pages = sorted(out.rglob("*.html"))
    theme_css = [(static / "styles" / name).read_text(encoding="utf-8")
                 for name in ("pydata-sphinx-theme.css", "sphinx-book-theme.css")]
    codes = icon_codepoints(theme_css[0])
    in_pages = {codes[n] for n in used_icons(pages) if n in codes}
    if not in_pages:
        raise ExtensionError("No Font Awesome icon found in the built pages: the theme's markup changed.")
    wanted = sorted(in_pages.union(*(css_codepoints(css) for css in theme_css)))
    target = static / "course"
    target.mkdir(parents=True, exist_ok=True)
    rules = []
    for font in FA_WEBFONTS:
        source = static / font
        name = Path(font).name.replace(".ttf", "-subset.woff")
        options = subset.Options()
        options.flavor, options.layout_features = "woff", []
        fonts = subset.load_font(str(source), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=wanted)
        subsetter.subset(fonts)
        subset.save_font(fonts, str(target / name), options)
        family, weight = FA_FAMILIES[Path(font).name]
        rules.append(f'@font-face {{ font-family: "{family}"; font-style: normal; font-weight: {weight}; '
                     f'font-display: block; src: url("{name}") format("woff"); }}')
    (target / ICONS_CSS).write_text(
        "/* Font Awesome subset to the icons the book's pages use (written by _ext/course_book.py); declared after the\n"
        "   theme's own @font-face rules, so the browser uses these and never fetches the full fonts. */\n"
        + "\n".join(rules) + "\n")
    # the theme's CSS keeps the rules of the icons in use only (it carries ~2,400 `.fa-NAME:before` rules)
    names = used_icons(pages) | {"search"}
    css_file = static / "styles" / "pydata-sphinx-theme.css"

    def keep(rule: re.Match) -> str:
        return rule.group(0) if set(re.findall(r"\.fa-([a-z0-9-]+):", rule.group(1))) & names else ""

    css_file.write_text(re.sub(r'((?:\.fa-[a-z0-9-]+:(?::)?before,?)+)\{content:"[^"]*"\}', keep,
                               css_file.read_text(encoding="utf-8")), encoding="utf-8")
    script = re.compile(r'\s*<script defer src="[^"]*_static/scripts/fontawesome\.js[^"]*"></script>')
    search = re.compile(r'\s*<script src="[^"]*(?:searchindex|_static/searchtools|_static/language_data)\.js">'
                        r"</script>")
    design = re.compile(r'\s*<link rel="stylesheet" type="text/css" href="[^"]*_static/sphinx-design\.min\.css[^"]*" />'
                        r'|\s*<script data-sd-tabs-storage-prefix="[^"]*" src="[^"]*_static/design-tabs\.js[^"]*">'
                        r"</script>")
    for page in pages:
        text = page.read_text(encoding="utf-8")
        slim = script.sub("", text)
        if page.name != "search.html":
            slim = search.sub("", slim)
        if 'class="sd-' not in slim and "class='sd-" not in slim:
            slim = design.sub("", slim)
        if slim != text:
            page.write_text(slim, encoding="utf-8")


def slim_png(data: bytes) -> bytes:
    """A figure's PNG with its colours reduced to a 256-colour palette (Pillow, a matplotlib dependency), when that is
    smaller: matplotlib's line plots use a few colours plus their anti-aliasing shades, and the palette image looks
    the same at a third of the bytes. Transparency is kept; an image that is already a palette is returned as is."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(data))
    if image.mode not in ("RGB", "RGBA"):
        return data
    opaque = image.mode == "RGB" or image.getchannel("A").getextrema()[0] == 255
    if opaque:
        palette = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    else:
        palette = image.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, "PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data


def _slim_images(app: Sphinx, exception: Exception | None) -> None:
    """The figures of the built pages (``<html>/_images``, written there by myst-nb from the executed notebooks) as
    palette PNGs: what a reader downloads; the notebooks keep the build's original outputs."""
    if exception is not None or app.builder.format != "html":
        return
    for png in sorted((Path(app.outdir) / "_images").glob("*.png")):
        data = png.read_bytes()
        slim = slim_png(data)
        if slim is not data:
            png.write_bytes(slim)


def _add_explorer_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Load plotly.js and the explorers' script on the pages that hold an interactive figure, and only there."""
    if EXPLORER_MARKER in (context.get("body") or ""):
        app.add_js_file("plotly/" + PLOTLY_JS.name)
        app.add_js_file("explorers/" + EXPLORERS_JS.name)


def install_cell_source(repository_url: str) -> str:
    """The first cell of a notebook opened outside the course's environment: install the course when missing
    (pip is asked for the course's distribution, which ships the package ``reference_impl``)."""
    return (
        "# Makes the course package importable: installs it from the course repository when it is missing\n"
        "# (e.g. on Colab) and does nothing when it is already installed.\n"
        "import importlib.util, subprocess, sys\n"
        "if importlib.util.find_spec(\"reference_impl\") is None:\n"
        f"    _course = \"{course_distribution(ROOT)} @ git+{repository_url}\"\n"
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
                           glue_data(executed, pagename), repository_url, ROOT,
                           repository_branch=(app.config.html_theme_options or {}).get("repository_branch", "main"))
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
        f'pip install --no-deps "{course_distribution(ROOT)} @ git+{repository_url}@{app.config.html_theme_options.get("repository_branch", "main")}"\n')
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
    _html_math_renderer(app)
    app.connect("builder-inited", _check_mathjax)
    app.add_directive("literalinclude", DocumentedLiteralInclude, override=True)
    app.connect("doctree-read", _hide_plumbing)
    app.add_css_file("course/" + COURSE_CSS.name)
    app.add_css_file("course/" + ICONS_CSS)
    app.add_config_value("course_publish_branch", "gh-pages", "html")
    app.connect("build-finished", _copy_mathjax)
    app.connect("build-finished", _write_colab_notebooks)
    app.connect("build-finished", _slim_theme_assets)
    app.connect("build-finished", _slim_images)
    app.connect("build-finished", _typeset_math)
    app.connect("html-page-context", _add_explorer_scripts)
    app.connect("html-page-context", _point_launchers_at_notebooks, priority=502)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("html-page-context", _set_default_mode)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
