"""Every measured number in the book's prose is glued from the code that measured it.

The test reads each page of the book's table of contents that carries prose (the intro and chapters/*.md), keeps
what a reader sees as text (markdown outside code cells, inline and display math, the bodies of admonitions,
exercises, solutions and algorithm boxes) and looks for the kinds of number a measurement produces:

* decimals (0.41, 3.5),
* scientific notation (5.5e-4, 3×10⁻⁴, 3 \\times 10^{-4}, 10^{-8}),
* percentages (75 %, 2.5\\%, 12 percent),
* ratios (8×, "six times", "4-fold", "twelve orders of magnitude").

Numbers inserted by a glue role ({glue:text}`ch03_rho:.1f`, {glue}`key`) are not in the text, so they pass. A typed
number passes only if the page's allow file (tests/glue_allow/<page>.yml) or the book-wide one
(tests/glue_allow/_global.yml) lists it, with the reason it is not a measurement: a default of an API, a constant of
a test problem, a figure from a cited paper. Values are compared as numbers of the same kind, so an allowed
"1e-8" also covers $10^{-8}$ and "0.9" covers 0.90; the sign is ignored.

Each failure lists the offending number with its file and line. Allow entries that match nothing are reported too,
so the lists stay as short as the book needs. Plain integers ("90 steps") are not scanned: too many are counts of
layers, steps and examples chosen by the author; glue the measured ones anyway.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ALLOW_DIR = ROOT / "tests" / "glue_allow"

# ---------------------------------------------------------------------------------------------------------------
# Which pages: the root page and every chapter of the table of contents


def prose_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if entry["file"].startswith("chapters/"):
                pages.append(entry["file"])
            walk(entry.get("sections"))  # a chapter's further pages

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return pages


def page_path(page: str) -> Path:
    return ROOT / f"{page}.md"


def glue_prefix(page: str) -> str:
    """Glue keys of chapters/NN-slug (or NNb-slug, a chapter's second page) start with chNN_ (chNNb_); the
    intro's with intro_."""
    name = Path(page).name
    match = re.match(r"(\d\d[a-z]?)-", name)
    return f"ch{match.group(1)}_" if match else f"{name}_"


# ---------------------------------------------------------------------------------------------------------------
# What the reader sees as text

# Directives whose body is code or a file, not prose: skipped whole.
CODE_DIRECTIVES = {"code-cell", "code-block", "code", "sourcecode", "literalinclude", "raw", "eval-rst", "glue:figure",
                   "glue:any", "glue:", "glue", "glue:math", "mermaid", "graphviz", "include", "bibliography"}
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,}|:{3,})\s*(\{([^}]*)\})?\s*(\S*)")
OPTION = re.compile(r"^\s*:[\w-]+:")
# roles whose content is a reference or inserted text, not typed prose
DROPPED_ROLE = re.compile(r"\{(?!math\})[\w:+-]+\}`[^`]*`")
MATH_ROLE = re.compile(r"\{math\}`([^`]*)`")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
NUMERIC_CODE = re.compile(r"^[\s\d.,eE+\-−×%⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+$")
LINK_TARGET = re.compile(r"\]\([^)]*\)")
URL = re.compile(r"(?:https?|file)://\S+")
HTML_COMMENT = re.compile(r"<!--.*?-->")
LABEL_LINE = re.compile(r"^\s*\([\w:.-]+\)=\s*$")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, visible text) for every line of prose in a MyST page."""
    lines = text.splitlines()
    out: list[tuple[int, str]] = []
    start = 0
    if lines and lines[0].strip() == "---":  # front matter
        for i in range(1, len(lines)):
            if lines[i].strip() == "---":
                start = i + 1
                break
    stack: list[tuple[str, bool]] = []  # (fence, is code)
    in_options = False
    in_comment = False
    for i in range(start, len(lines)):
        line = lines[i]
        number = i + 1
        fence = FENCE.match(line)
        if fence:
            marker = fence.group(2)
            rest = line[fence.end():].strip()
            closes = stack and marker[0] == stack[-1][0][0] and len(marker) >= len(stack[-1][0]) \
                and not fence.group(3) and not fence.group(5) and not rest
            if closes:
                stack.pop()
                in_options = False
                continue
            inside_code = bool(stack) and stack[-1][1]
            if not inside_code:
                name = fence.group(4)
                is_code = name is None or name.strip() in CODE_DIRECTIVES  # ```python is code too
                stack.append((marker, is_code))
                in_options = not is_code
                continue
        if stack and stack[-1][1]:
            continue
        if in_options:
            if OPTION.match(line):
                continue
            in_options = False
        if "<!--" in line and "-->" not in line.split("<!--", 1)[1]:
            in_comment = True
            line = line.split("<!--", 1)[0]
        elif in_comment:
            if "-->" in line:
                in_comment = False
                line = line.split("-->", 1)[1]
            else:
                continue
        if LABEL_LINE.match(line) or line.lstrip().startswith("%"):
            continue
        out.append((number, visible(line)))
    return out


def visible(line: str) -> str:
    line = HTML_COMMENT.sub(" ", line)
    line = MATH_ROLE.sub(lambda m: m.group(1), line)
    line = DROPPED_ROLE.sub(" ", line)
    line = INLINE_CODE.sub(lambda m: m.group(2) if NUMERIC_CODE.match(m.group(2)) else " ", line)
    line = LINK_TARGET.sub("]", line)
    line = URL.sub(" ", line)
    return line


# ---------------------------------------------------------------------------------------------------------------
# The numbers

SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
         "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
         "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100,
         "thousand": 1000, "million": 10**6}
WORD = "|".join(sorted(WORDS, key=len, reverse=True))
NUM = r"\d+(?:\.\d+)?"
MINUS = r"[-−]"
TIMES = r"(?:×|\\times|\\cdot|·)"  # in scientific notation
RATIO_TIMES = r"(?:×|\\times)"
START = r"(?<![\w.\\])"  # not inside a word, a longer number or a TeX command

TOKEN = re.compile("|".join([
    rf"(?P<version>{START}\d+(?:\.\d+){{2,}})",
    rf"(?P<sci_e>{START}{NUM}[eE][-+−]?\d+)(?![\w.])",
    rf"(?P<sci_pow>{START}(?:(?P<mant>{NUM})\s*{TIMES}\s*)?10\s*"
    rf"(?:\^\s*\{{\s*(?P<exp1>{MINUS}?\s*\d+)\s*\}}|\^\s*(?P<exp2>{MINUS}?\d+)|(?P<exp3>[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)))",
    rf"(?P<percent>{START}{NUM})\s*(?:\\?%|percent\b|per cent\b)",
    rf"(?P<ratio_sym>{START}{NUM})\s*{RATIO_TIMES}(?!\s*[\d{{])",
    rf"\b(?P<ratio_word>{NUM}|{WORD})(?:\s+|-)(?:times|fold)\b",
    rf"\b(?P<ratio_fold>{WORD})fold\b",
    rf"\b(?P<orders>{NUM}|{WORD})\s+orders?\s+of\s+magnitude\b",
    rf"(?P<decimal>{START}\d*\.\d+)(?![\d])",
]), re.IGNORECASE)


@dataclass(frozen=True)
class Number:
    kind: str  # "number", "percent", "ratio" or "orders"
    value: float
    text: str

    def key(self) -> tuple[str, float]:
        return (self.kind, float(f"{abs(self.value):.12g}"))


def word_or_number(text: str) -> float:
    return float(WORDS[text.lower()]) if text.lower() in WORDS else float(text)


def numbers_in(text: str) -> list[Number]:
    found = []
    for m in TOKEN.finditer(text):
        kind = m.lastgroup
        if m.group("version"):
            continue
        if m.group("sci_e"):
            found.append(Number("number", float(m.group("sci_e").replace("−", "-")), m.group(0)))
        elif m.group("sci_pow"):
            exponent = (m.group("exp1") or m.group("exp2") or (m.group("exp3") or "").translate(SUPERSCRIPT))
            exponent = int(exponent.replace("−", "-").replace(" ", ""))
            mantissa = float(m.group("mant")) if m.group("mant") else 1.0
            found.append(Number("number", mantissa * 10.0**exponent, m.group(0)))
        elif m.group("percent"):
            found.append(Number("percent", float(m.group("percent")), m.group(0)))
        elif m.group("ratio_sym"):
            found.append(Number("ratio", float(m.group("ratio_sym")), m.group(0)))
        elif m.group("ratio_word") or m.group("ratio_fold"):
            found.append(Number("ratio", word_or_number(m.group("ratio_word") or m.group("ratio_fold")), m.group(0)))
        elif m.group("orders"):
            found.append(Number("orders", word_or_number(m.group("orders")), m.group(0)))
        elif m.group("decimal"):
            found.append(Number("number", float(m.group("decimal")), m.group(0)))
        else:  # pragma: no cover - every alternative is named
            raise AssertionError(kind)
    return found


# ---------------------------------------------------------------------------------------------------------------
# The allow lists


@dataclass(frozen=True)
class Allowed:
    value: str
    why: str
    source: str

    @property
    def key(self) -> tuple[str, float]:
        parsed = numbers_in(self.value)
        assert len(parsed) == 1, f"{self.source}: allow value {self.value!r} must be one number, parsed {parsed}"
        return parsed[0].key()


def load_allow(path: Path) -> list[Allowed]:
    if not path.exists():
        return []
    entries = yaml.safe_load(path.read_text()) or []
    assert isinstance(entries, list), f"{path.name}: a YAML list of {{value, why}} expected"
    allowed = []
    for entry in entries:
        assert isinstance(entry, dict) and set(entry) == {"value", "why"}, \
            f"{path.name}: each entry is {{value: ..., why: ...}}, got {entry!r}"
        assert str(entry["why"]).strip(), f"{path.name}: {entry['value']!r} needs a reason"
        allowed.append(Allowed(str(entry["value"]), str(entry["why"]), path.name))
    return allowed


def page_allow(page: str) -> list[Allowed]:
    return load_allow(ALLOW_DIR / f"{Path(page).name}.yml")


def global_allow() -> list[Allowed]:
    return load_allow(ALLOW_DIR / "_global.yml")


def unglued(page_text: str, allowed: list[Allowed]) -> list[tuple[int, Number, str]]:
    keys = {entry.key for entry in allowed}
    bad = []
    for number, line in prose_lines(page_text):
        for found in numbers_in(line):
            if found.key() not in keys:
                bad.append((number, found, line.strip()))
    return bad


def keys_in(page_text: str) -> set[tuple[str, float]]:
    return {found.key() for _, line in prose_lines(page_text) for found in numbers_in(line)}


# ---------------------------------------------------------------------------------------------------------------
# The tests on the book

PAGES = prose_pages()


@pytest.mark.parametrize("page", PAGES, ids=[Path(p).name for p in PAGES])
def test_every_number_in_the_prose_is_glued_or_allowed(page):
    path = page_path(page)
    bad = unglued(path.read_text(), page_allow(page) + global_allow())
    report = "\n".join(f"  {path.relative_to(ROOT)}:{line}: {found.text!r}  in: {context[:110]}"
                       for line, found, context in bad)
    assert not bad, (f"{len(bad)} typed number(s) neither glued nor allowed (glue them, or list them with the reason "
                     f"in tests/glue_allow/{Path(page).name}.yml):\n{report}")


@pytest.mark.parametrize("page", PAGES, ids=[Path(p).name for p in PAGES])
def test_allow_entries_of_a_page_are_used(page):
    present = keys_in(page_path(page).read_text())
    stale = [entry.value for entry in page_allow(page) if entry.key not in present]
    assert not stale, f"tests/glue_allow/{Path(page).name}.yml lists values the page no longer has: {stale}"


def test_global_allow_entries_are_used_somewhere():
    present = set().union(*(keys_in(page_path(p).read_text()) for p in PAGES))
    stale = [entry.value for entry in global_allow() if entry.key not in present]
    assert not stale, f"tests/glue_allow/_global.yml lists values no page has: {stale}"


def test_every_allow_file_belongs_to_a_page():
    names = {Path(p).name for p in PAGES} | {"_global"}
    orphans = [p.name for p in ALLOW_DIR.glob("*.yml") if p.stem not in names] if ALLOW_DIR.exists() else []
    assert not orphans, f"allow files for no page of the table of contents: {orphans}"


GLUE_ROLE = re.compile(r"\{glue(?::\w*)?\}`([^`:]+)")
GLUE_DIRECTIVE = re.compile(r"^\s*(?:`{3,}|:{3,})\{glue(?::\w*)?\}\s+([^\s:]+)", re.MULTILINE)
GLUE_CALL = re.compile(r"\bglue\(\s*(f?)([\"'])(.+?)\2")


@pytest.mark.parametrize("page", PAGES, ids=[Path(p).name for p in PAGES])
def test_glue_keys_are_prefixed_and_defined_on_the_page(page):
    text = page_path(page).read_text()
    used = set(GLUE_ROLE.findall(text)) | set(GLUE_DIRECTIVE.findall(text))
    literal, patterns = set(), []
    for is_f, _, key in GLUE_CALL.findall(text):
        if is_f:
            patterns.append(re.compile(re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(key)) + "$"))
        else:
            literal.add(key)
    prefix = glue_prefix(page)
    wrong_prefix = sorted(k for k in used | literal if not k.startswith(prefix))
    assert not wrong_prefix, f"{page}: glue keys must start with {prefix!r}: {wrong_prefix}"
    undefined = sorted(k for k in used if k not in literal and not any(p.match(k) for p in patterns))
    assert not undefined, f"{page}: glued in the text but never glue()d in a code cell: {undefined}"


# ---------------------------------------------------------------------------------------------------------------
# The scanner itself: it finds what it must and skips what it must (so the tests above can fail)

SAMPLE = """---
jupytext: {}
---
(ch-x)=
# Title 1.5

SOAP ends at 5.5e-4, Muon at {glue:text}`ch08_muon:.1e`, about ten times lower; the rate is $0.41$.

```{code-cell} ipython3
x = 0.123
```

```{math}
:label: eq-x
\\eta = 3 \\times 10^{-4}
```

:::{exercise}
:label: ex-x
Show that 2.5× holds, with 75 % of the data and 12 orders of magnitude, a fourfold gain and $10^{-8}$.
:::

```python
y = 9.99
```
Run `SGD(lr=0.7)` and `4.25`; see [v2](https://example.org/a1.5) and {cite:p}`key2.5`, version 2.13.0, 8×8 images.
"""


def test_scanner_finds_typed_numbers_and_skips_glue_code_and_references():
    found = [(line, n.kind, float(f"{n.value:.12g}")) for line, n, _ in unglued(SAMPLE, [])]
    assert found == [
        (5, "number", 1.5),
        (7, "number", 5.5e-4), (7, "ratio", 10.0), (7, "number", 0.41),
        (15, "number", 3e-4),
        (20, "ratio", 2.5), (20, "percent", 75.0), (20, "orders", 12.0), (20, "ratio", 4.0), (20, "number", 1e-8),
        (26, "number", 4.25),
    ]


def test_allow_entries_match_every_spelling_of_their_value():
    allowed = [Allowed("1e-8", "test", "t"), Allowed("0.9", "test", "t"), Allowed("75%", "test", "t"),
               Allowed("ten times", "test", "t")]
    text = "a $10^{-8}$ b 1×10⁻⁸ c 0.90 d 75 \\% e 10× f -0.9 g 0.99\n"
    assert [n.text for _, n, _ in unglued(text, allowed)] == ["0.99"]
    assert math.isclose(numbers_in("3×10⁻⁴")[0].value, 3e-4)
