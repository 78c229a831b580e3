"""Feedback that names the mistake: a failed test compared with the course's catalogue of known wrong answers.

The catalogue (``scripts/mistakes/NN-slug.py`` under the course root, one module per assignment) lists realistic
wrong implementations as :class:`Variant`: edits to the solution's answer cells, the sentence a student reads
(``says``: what the code matches; ``look``: where to look) and the book section that explains it (``section``: a
``(label)=`` target of a chapter). The same entries drive the grader-strength tests (each bug loses points, each
correct alternative keeps full marks).

How a failure is diagnosed (:class:`Diagnoser`): each catalogued bug is run as a notebook of the instructor's code
-- the solution's answer cells with the bug's edits, executed here in the judge, never anything of the student's --
through the same setup and test cells, with the same ``TERM_SECRET``; what each test says about it is kept (one run
per bug and notebook, shared by every student of a grading run). A student's failed test names bug ``B`` when

1. ``B`` fails that test with the same message: same step, same element, the same expected value and the same
   values got to the test's relative tolerance 1e-6 (:func:`same_message`), the same gradient, the same count of
   elements that differ -- the test's own account of the steps it checked;
2. nothing the student passed fails for ``B`` (a test the student passes and ``B`` fails proves it is not ``B``);
3. every test that calls a function ``B``'s edits change, or a function of the answers linked to it (one it calls
   or one that calls it, directly or not), says the same of the student and of ``B`` (passed, or failed with the
   same message): the whole trajectory of those functions, as the tests see it. Tests of unrelated functions may
   differ (a second bug of the student's there does not hide the first);
4. and ``B`` is the only such bug, or, when several are, the only one whose every test result equals the
   student's (the whole notebook matches). Otherwise nothing is named.

The line added to the message (:func:`hint`) is the catalogue's fixed text and a link to the chapter's section:
it never carries a test's inputs or a value. Correct alternatives (``full_marks``) are never candidates, and a
failure no catalogued bug reproduces gets the test's message only.

Cost: bugs are run only when a student fails a test the judge can compare (an assertion of the test, not an
exception of the student's or a stopped worker); each bug's run is bounded by ``Diagnoser.budget_s`` seconds (a
timer interrupts it where the judge runs in the main thread), and the results are cached per notebook, bug,
hidden/visible and secret for the life of the process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import math
import re
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Optional

CATALOGUE_DIR = Path("scripts") / "mistakes"   # relative to the course root
CHAPTERS_DIR = Path("chapters")

__all__ = ["Edit", "Variant", "Section", "Diagnoser", "apply_edits", "catalogue", "load_catalogue",
           "find_section", "hint", "same_message", "class_counts"]


@dataclass(frozen=True)
class Edit:
    """A change to one answer cell (by grade_id) of the solution: replace ``old`` by ``new`` (exactly once).

    ``old=None`` replaces the whole cell source by ``new``.
    """

    cell: str
    old: Optional[str]
    new: str


@dataclass(frozen=True)
class Variant:
    """A simulated student: the solution's answers with some edits. ``full_marks`` is what the grader must give.

    A bug (``full_marks=False``) also carries what its student reads when their code matches it: ``says`` (what
    the code is, e.g. "Adam without bias correction"), ``look`` (where to look, in plain words, never the correct
    code) and ``section`` (the label of the chapter section that explains it).
    """

    name: str
    edits: tuple
    full_marks: bool = False
    why: str = ""
    notebook: Optional[str] = None  # the notebook file the edits apply to (None: the assignment's only notebook)
    says: str = ""
    look: str = ""
    section: str = ""
    random: bool = False   # its results depend on the worker's unseeded global random state: no re-run in the
                           # judge reproduces them, so the grader cannot name it (it still loses its points)


# ---------------------------------------------------------------------------------------------------- catalogue

def load_catalogue(root: Path, assignment: str) -> Optional[ModuleType]:
    """The catalogue module of ``assignment`` (``scripts/mistakes/<assignment>.py`` under ``root``), or ``None``."""
    path = Path(root) / CATALOGUE_DIR / f"{assignment}.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"course_mistakes_{assignment.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if getattr(module, "ASSIGNMENT", None) != assignment:
        raise ValueError(f"{path.name}: ASSIGNMENT is {getattr(module, 'ASSIGNMENT', None)!r}, expected "
                         f"{assignment!r}")
    return module


def catalogue(root: Path) -> dict:
    """assignment name -> catalogue module, for every ``NN-slug.py`` of the course's catalogue folder."""
    folder = Path(root) / CATALOGUE_DIR
    return {p.stem: load_catalogue(root, p.stem) for p in sorted(folder.glob("[0-9][0-9]-*.py"))}


def answer_code(source: str) -> str:
    """An answer cell of the solution as a student would write it: without the solution marker lines."""
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def apply_edits(answers: dict, edits, where: str = "") -> dict:
    """``answers`` (grade_id -> code) with ``edits`` applied. An edit whose cell is missing or whose ``old`` text is
    not found exactly once raises ``ValueError`` (a catalogue entry that no longer matches must not pass silently)."""
    answers = dict(answers)
    for edit in edits:
        if edit.cell not in answers:
            raise ValueError(f"{where}: no answer cell {edit.cell!r} (have {sorted(answers)})")
        if edit.old is None:
            answers[edit.cell] = edit.new
            continue
        count = answers[edit.cell].count(edit.old)
        if count != 1:
            raise ValueError(f"{where}, cell {edit.cell!r}: {edit.old!r} occurs {count} times (need exactly 1)")
        answers[edit.cell] = answers[edit.cell].replace(edit.old, edit.new)
    return answers


# ------------------------------------------------------------------------------------------------- book sections

@dataclass(frozen=True)
class Section:
    label: str
    chapter: int
    title: str
    url: str


_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$")


def _baseurl(root: Path) -> str:
    try:
        import yaml

        config = yaml.safe_load((Path(root) / "_config.yml").read_text(encoding="utf-8")) or {}
        url = ((config.get("html") or {}).get("baseurl") or "").strip()
    except Exception:  # noqa: BLE001 - no configuration: links relative to the book's root
        url = ""
    return url if not url or url.endswith("/") else url + "/"


def find_section(root: Path, label: str) -> Optional[Section]:
    """The chapter section a ``(label)=`` target opens: chapter number (from ``chapters/NN-slug.md``, or
    ``NNb-slug.md`` for a chapter's second page), the heading that follows the target, and the page's address in the
    published book (``html.baseurl`` of ``_config.yml``)."""
    if not label:
        return None
    target = f"({label})="
    for path in sorted((Path(root) / CHAPTERS_DIR).glob("[0-9][0-9]*-*.md")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.strip() != target:
                continue
            for after in lines[i + 1:i + 4]:
                heading = _HEADING.match(after)
                if heading:
                    page = f"{CHAPTERS_DIR.as_posix()}/{path.stem}.html#{label}"
                    return Section(label, int(path.stem[:2]), heading.group(1), _baseurl(root) + page)
            return None
    return None


def hint(variant: Variant, section: Optional[Section]) -> str:
    """The line a student reads under a failure that matches ``variant``: the catalogue's text, never a value."""
    line = f"Your code matches a known mistake, {variant.says}: {variant.look}."
    if section is not None:
        line += f" See chapter {section.chapter}, '{section.title}' ({section.url})."
    return line


# ------------------------------------------------------------------------------------------------ the comparison

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|\b(?:nan|inf)\b")


def same_message(a: str, b: str, rtol: float = 1e-6, atol: float = 1e-12) -> bool:
    """Whether two failure messages say the same thing: identical words, and each number equal to ``rtol`` (the
    tests' default relative tolerance), so the same step, element and count, the same expected value and got values
    that the test itself could not tell apart."""
    if a == b:
        return True
    words_a, words_b = _NUMBER.split(a), _NUMBER.split(b)
    nums_a, nums_b = _NUMBER.findall(a), _NUMBER.findall(b)
    if words_a != words_b or len(nums_a) != len(nums_b):
        return False
    for x, y in zip(nums_a, nums_b, strict=True):
        if x == y:
            continue
        try:
            fx, fy = float(x), float(y)
        except ValueError:
            return False
        if not (math.isfinite(fx) and math.isfinite(fy)) or abs(fx - fy) > atol + rtol * max(abs(fx), abs(fy)):
            return False
    return True


# -------------------------------------------------------------------------------------------------- the runs

class _OutOfTime(BaseException):   # not caught by a test's own `except Exception`
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Interrupt the block after ``seconds`` (a real-time timer; only in the main thread, where signals arrive)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread() \
            or signal.getitimer(signal.ITIMER_REAL)[0] > 0:
        yield   # not the main thread, or someone else's timer (a test runner's) is running: leave it alone
        return

    def stop(signum, frame):
        raise _OutOfTime()

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _solution_cells(path: Path) -> list:
    """``(kind, grade_id, source)`` of the solution notebook's code cells, in order; kind is ``setup``, ``answer``
    or ``test`` (other code cells: ``other``, not run)."""
    from .course import INSTALL_CELL, is_test, meta, read_notebook

    out = []
    for cell in read_notebook(path).cells:
        if cell.get("cell_type") != "code":
            continue
        m = meta(cell)
        gid = m.get("grade_id")
        if is_test(cell):
            out.append(("test", gid, cell.source))
        elif m.get("solution"):
            out.append(("answer", gid, answer_code(cell.source)))
        elif m.get("locked") and gid != INSTALL_CELL:
            out.append(("setup", gid, cell.source))
        else:
            out.append(("other", gid, cell.source))
    return out


def run_answers(spec, answers: dict, *, hidden: bool, secret: Optional[bytes], budget_s: float = 0.0) -> dict:
    """Run ``spec``'s setup and test cells here, in notebook order, with the answer cells ``answers`` (grade_id ->
    code; the instructor's code only). Returns grade_id -> the message the test gives (``None``: passed), for each
    test that runs in this mode (a test with only hidden parts is left out when ``hidden`` is false).

    The messages are made as the judge makes them (:func:`course_grading.messages.exception_message`). A run that takes
    longer than ``budget_s`` (0: no limit) stops; its remaining tests are left out.
    """
    import torch

    from .course import strip_magics
    from .messages import exception_message

    tests = {t.grade_id: t for t in spec.tests}
    ns: dict = {"__name__": "__main__", "TERM_SECRET": secret if hidden else None}
    out: dict = {}
    sink = io.StringIO()
    rng, dtype = torch.get_rng_state(), torch.get_default_dtype()
    cells = _solution_cells(spec.path)
    try:
        with _time_limit(budget_s), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            for kind, gid, source in cells:
                if kind == "setup":
                    exec(compile(source, "<setup>", "exec"), ns)  # noqa: S102 - the instructor's setup cell
                elif kind == "answer":
                    try:
                        exec(compile(strip_magics(answers.get(gid, source)), f"<{gid}>", "exec"), ns)  # noqa: S102
                    except Exception:  # noqa: BLE001 - a catalogued bug whose cell raises: its tests say so
                        pass
                elif kind == "test" and gid in tests:
                    test = tests[gid]
                    if test.hidden_only and not hidden:
                        continue
                    try:
                        exec(compile(test.source, f"<test {gid}>", "exec"), ns)  # noqa: S102
                        out[gid] = None
                    except _OutOfTime:
                        raise
                    except Exception as err:  # noqa: BLE001 - a failing test is any exception
                        out[gid] = exception_message(err, hidden and _has_hidden(test.source), ())
                    sink.seek(0)
                    sink.truncate()
    except _OutOfTime:
        pass
    finally:
        torch.set_rng_state(rng)
        torch.set_default_dtype(dtype)
    return out


def _has_hidden(source: str) -> bool:
    from .course import strip_hidden

    return strip_hidden(source) != "\n".join(source.splitlines())


def solution_answers(spec) -> dict:
    """grade_id -> the solution's code of each answer cell of ``spec``'s notebook."""
    return {gid: source for kind, gid, source in _solution_cells(spec.path) if kind == "answer"}


_TABLES: dict = {}   # (notebook path, its mtime, catalogue mtime, hidden, secret) -> {variant name: {gid: message}}


class Diagnoser:
    """The catalogued bugs of one notebook of an assignment, ready to be compared with a student's failures."""

    def __init__(self, spec, *, hidden: bool, secret: Optional[bytes], budget_s: float = 30.0):
        self.spec, self.hidden, self.secret, self.budget_s = spec, hidden, secret, budget_s
        self.variants: list = []
        self.sections: dict = {}
        path = Path(spec.path).resolve() if getattr(spec, "path", None) else None
        # only a notebook of the course's solutions/ folder: its answer cells are the instructor's code
        if path is None or path.parent.parent.name != "solutions":
            return
        self.root, assignment = path.parent.parent.parent, path.parent.name
        module = load_catalogue(self.root, assignment)
        if module is None:
            return
        single = len(list(path.parent.glob("*.ipynb"))) == 1
        self.variants = [v for v in module.VARIANTS if not v.full_marks and not v.random and v.says
                         and (v.notebook == path.name or (v.notebook is None and single))]
        cat = self.root / CATALOGUE_DIR / f"{assignment}.py"
        key = (str(path), path.stat().st_mtime_ns, cat.stat().st_mtime_ns, hidden, secret)
        self.table = _TABLES.setdefault(key, {})
        self._answers = None

    def results(self, variant: Variant) -> dict:
        """grade_id -> message (``None``: passed) of every test, for ``variant`` (run once, then cached)."""
        if variant.name not in self.table:
            if self._answers is None:
                self._answers = solution_answers(self.spec)
            try:
                answers = apply_edits(self._answers, variant.edits, self.spec.name)
            except ValueError:
                answers = None   # the entry no longer applies (the grader-strength tests say so): never named
            self.table[variant.name] = {} if answers is None else run_answers(
                self.spec, answers, hidden=self.hidden, secret=self.secret, budget_s=self.budget_s)
        return self.table[variant.name]

    def touched(self, variant: Variant) -> set:
        """grade_ids of the tests whose source calls a function that ``variant``'s edits change, a function of the
        answers that such a function calls (its failures could be why the changed function fails) or one that calls
        it (directly or not)."""
        from .course import defined_names

        if self._answers is None:
            self._answers = solution_answers(self.spec)
        edited = apply_edits(self._answers, variant.edits, self.spec.name)
        where = {}   # function name -> the sources of the cells that define it (solution and bug)
        for gid in self._answers:
            for source in (self._answers[gid], edited[gid]):
                for name in defined_names(source):
                    where.setdefault(name, []).append(source)
        names = set()
        for edit in variant.edits:
            names.update(defined_names(self._answers.get(edit.cell, "")) + defined_names(edited[edit.cell]))
        def mentions(source, name):
            return re.search(rf"\b{re.escape(name)}\b", source) is not None

        grown = True
        while grown:   # the functions these call, and those that call them: all of their tests must agree
            linked = {other for n in names for source in where.get(n, []) for other in where if mentions(source, other)}
            linked |= {other for other, sources in where.items() for source in sources
                       if any(mentions(source, n) for n in names)}
            grown = not linked <= names
            names |= linked
        return {t.grade_id for t in self.spec.tests
                if any(re.search(rf"\b{re.escape(n)}\b", t.source) for n in names)}

    def diagnose(self, grade_id: str, message: str, student: dict) -> Optional[Variant]:
        """The catalogued bug that the failure ``message`` of test ``grade_id`` shows, or ``None``. ``student``:
        grade_id -> the student's message (``None``: passed) for the tests that ran (see the module)."""
        def same(mine, theirs):
            return (mine is None) == (theirs is None) and (mine is None or same_message(mine, theirs))

        candidates = []
        for variant in self.variants:
            theirs = self.results(variant)
            got = theirs.get(grade_id)
            if got is None or not same_message(got, message):
                continue
            if any(mine is None and theirs.get(gid) is not None for gid, mine in student.items()):
                continue   # the student passes a test this bug fails: not this bug
            if not all(same(student[gid], theirs[gid]) for gid in self.touched(variant)
                       if gid in student and gid in theirs):
                continue   # the tests of the function this bug changes do not all say the same of both
            candidates.append(variant)
        if len(candidates) > 1:   # several: the one whose every test result is the student's, if only one is
            candidates = [v for v in candidates if all(same(mine, self.results(v).get(gid))
                                                       for gid, mine in student.items() if gid in self.results(v))]
        return candidates[0] if len(candidates) == 1 else None

    def line(self, variant: Variant) -> str:
        if variant.section not in self.sections:
            self.sections[variant.section] = find_section(self.root, variant.section)
        return hint(variant, self.sections[variant.section])


def class_counts(results_by_student: dict) -> dict:
    """For report.html: ``{(notebook, grade_id): {mistake: students}}`` from ``{student: [NotebookResult]}``,
    counting each student once per test cell whose failure was diagnosed (``Verdict.diagnosis``)."""
    from collections import Counter

    counts: dict = {}
    for results in results_by_student.values():
        for res in results:
            for v in res.verdicts:
                if not v.passed and getattr(v, "diagnosis", ""):
                    counts.setdefault((res.name, v.grade_id), Counter())[v.diagnosis] += 1
    return counts

