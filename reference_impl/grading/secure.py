"""Grade a class's submissions of one assignment with nbgrader, safely, in one command.

``python -m reference_impl.grading.grade ASSIGNMENT SUBMISSIONS`` (``make grade``) calls :func:`grade`. For each
student, in order:

1. **Collect** (:func:`collect`): SUBMISSIONS is a folder or a ``.zip``, either nbgrader's ``submitted/`` tree
   (``<student>/<assignment>/<notebook>.ipynb``) or a learning-management-system export whose file names follow
   nbgrader's ``zip_collect`` conventions (``<student>_<notebook>.ipynb``, optionally
   ``<student>_attempt_<timestamp>_<notebook>.ipynb``; another pattern with ``--regex``). Several files for one
   student and notebook: the latest is graded and the student is told.
2. **Normalise** (:func:`normalise`): the notebook that is graded is the *release* notebook with the student's
   answer cells put in (matched by ``grade_id``); everything else of the submission (edited or deleted test
   cells, metadata, extra cells, kernel name) is ignored, with a reason. A file that is not a notebook, is empty
   or is not valid JSON gets 0 with a reason and is not run.
3. **Static policy check** (:func:`policy_problems`): an answer that imports or names ``reference_impl`` or uses
   ``torch.optim`` breaks the course's rules; one that imports anything beyond the allowed modules, opens files,
   starts processes, evaluates strings, inspects frames or replaces attributes of ``torch`` and friends is unsafe.
   Either way the notebook scores 0 and is flagged.
4. **Autograde** with nbgrader in a private scratch course (its own gradebook, built by
   ``nbgrader generate_assignment`` from ``solutions/``; no ``solutions/`` folder), inside a process session
   with resource limits (address space, file size, no core files), a per-cell and a per-notebook wall-clock limit,
   an output limit in characters, a kernel under an audit hook (:mod:`reference_impl.grading.guard`), and
   every leftover process killed afterwards.
5. **Re-check** every graded test cell outside the student's kernel (:mod:`reference_impl.grading.guard`
   ``recheck``): a fresh process per test cell runs the answers and the source notebook's tests (hidden ones
   included) and must report a per-cell secret after the test completed and the integrity checks passed.
   A test cell's final score is the smaller of its in-kernel and re-checked scores; a notebook whose in-kernel
   score exceeds its re-checked score is flagged.
6. **Limits**: a notebook that hit a limit (time, memory, output, a dead kernel) scores 0, with the reason.
7. **Record**: the final scores go into the course gradebook (nbgrader's ``Gradebook``; overrides are stored as
   nbgrader *manual* scores so the formgrader shows them) by replacing that student's submission in one
   database transaction; feedback HTML (hidden tests removed) and a grade table ``grades.csv`` are written.

Re-running is idempotent: a student whose submitted files and limits did not change is not graded again
(``--force`` re-grades), and a student is only ever replaced, never added twice.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import html
import json
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import nbformat

from .authoring import answer_source

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # reference_impl/
GRADER_VERSION = "1"

__all__ = ["Limits", "collect", "grade", "normalise", "policy_problems", "LimitedExecute"]


# ------------------------------------------------------------------------------------------------- limits
@dataclass(frozen=True)
class Limits:
    """What one student's notebook may use. Exceeding any of them scores the notebook 0, with the reason."""

    cell_seconds: int = 30          # wall clock per cell (nbgrader's Execute.timeout)
    notebook_seconds: int = 300     # wall clock per notebook (all its cells, and again for the re-check)
    memory_mb: int = 4096           # address space of every process of the student's job (RLIMIT_AS)
    output_chars: int = 100_000     # characters of output per notebook (text, data, tracebacks)
    file_mb: int = 64               # largest file any process of the job may write (RLIMIT_FSIZE)

    def __post_init__(self):
        for name in ("cell_seconds", "notebook_seconds", "memory_mb", "output_chars", "file_mb"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


# ------------------------------------------------------------------------------------ the assignment spec
@dataclass
class NotebookSpec:
    name: str                                   # file name, e.g. "momentum.ipynb"
    cells: list                                 # [{"kind", "id", "source", "points"}] in notebook order
    answers: dict                               # grade_id -> defined top-level names in the solution
    tests: dict                                 # grade_id -> points
    release: nbformat.NotebookNode = None

    @property
    def stem(self) -> str:
        return self.name[:-len(".ipynb")]

    @property
    def max_score(self) -> float:
        return float(sum(self.tests.values()))


def _strip_markers(source: str) -> str:
    keep = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
    return "\n".join(line for line in source.splitlines() if line.strip() not in keep)


def _defined_names(source: str) -> set:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def notebook_spec(source_nb: nbformat.NotebookNode, name: str) -> NotebookSpec:
    """What the grader needs from a SOURCE (solution) notebook: its cells in order, answer names, test points."""
    cells, answers, tests = [], {}, {}
    for cell in source_nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id", cell.get("id", ""))
        if meta.get("solution"):
            answers[gid] = _defined_names(answer_source(cell.source))
            cells.append({"kind": "answer", "id": gid, "source": answer_source(cell.source)})
        elif meta.get("grade"):
            tests[gid] = float(meta.get("points", 0))
            cells.append({"kind": "test", "id": gid, "source": _strip_markers(cell.source),
                          "points": float(meta.get("points", 0))})
        elif meta.get("locked"):
            cells.append({"kind": "setup", "id": gid, "source": cell.source})
    return NotebookSpec(name=name, cells=cells, answers=answers, tests=tests)


# -------------------------------------------------------------------------------------- static policy check
ALLOWED_IMPORTS = frozenset({
    "torch", "math", "numpy", "typing", "collections", "itertools", "functools", "dataclasses", "operator",
    "copy", "numbers", "abc", "enum", "fractions", "decimal", "random", "statistics", "warnings", "__future__",
    "cmath",
})
FORBIDDEN_CALLS = frozenset({
    "__import__", "exec", "eval", "compile", "open", "globals", "locals", "vars", "setattr", "delattr",
    "breakpoint", "input", "exit", "quit", "help", "memoryview", "__builtins__", "__loader__", "__spec__",
})
ALLOWED_DUNDERS = frozenset({"__init__", "__name__", "__doc__", "__call__", "__len__", "__iter__", "__next__",
                             "__repr__", "__str__", "__eq__", "__hash__", "__future__"})
FORBIDDEN_ATTRS = frozenset({"_getframe", "_exit", "_C", "f_globals", "f_locals", "f_back", "f_builtins",
                             "gi_frame", "cr_frame", "ag_frame", "tb_frame", "tb_next", "co_code", "_current_frames",
                             # reading or writing files through torch/numpy (some of them bypass the audit hook)
                             "from_file", "load", "save", "fromfile", "tofile", "loadtxt", "savetxt", "genfromtxt",
                             "memmap", "fromregex", "open_memmap", "DataSource"})
PROTECTED_BUILTINS = frozenset({
    "print", "isinstance", "issubclass", "len", "range", "abs", "float", "int", "bool", "tuple", "list", "dict",
    "type", "all", "any", "min", "max", "zip", "enumerate", "repr", "str", "round", "sum", "hasattr", "callable",
    "super", "object", "getattr", "iter", "next", "id", "hash", "format", "set", "frozenset",
})


def _is_exception_name(name: str) -> bool:
    import builtins

    value = getattr(builtins, name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


def policy_problems(source: str, module_names: frozenset = frozenset({"torch"})) -> list:
    """Return ``[(kind, reason)]`` for one answer cell; kind is ``"policy"`` or ``"unsafe"``.

    ``policy``: the course's rules (no ``reference_impl``, no ``torch.optim``). ``unsafe``: constructs an answer
    has no business using (see the module docstring). A cell that does not parse gives no problem here (its tests
    simply fail).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    problems = []
    aliases = set(module_names)

    def add(kind, reason):
        if (kind, reason) not in problems:
            problems.append((kind, reason))

    def root_name(node):
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    def dotted(node):
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            parts.append(node.id)
            return ".".join(reversed(parts))
        return "<expr>." + ".".join(reversed(parts))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and node.level:
                add("unsafe", "relative import")
            for mod in mods:
                top = mod.split(".")[0]
                if top == "reference_impl":
                    add("policy", f"imports {mod} (answers must not use the course's reference implementations)")
                elif mod.startswith("torch.optim") or (isinstance(node, ast.ImportFrom) and mod == "torch"
                                                       and any(a.name == "optim" for a in node.names)):
                    add("policy", "uses torch.optim (answers must implement the update themselves)")
                elif top not in ALLOWED_IMPORTS:
                    add("unsafe", f"imports {mod} (not an allowed module)")
            for a in node.names:
                aliases.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.Name):
            if node.id == "reference_impl":
                add("policy", "names reference_impl")
            elif node.id in FORBIDDEN_CALLS:
                add("unsafe", f"uses {node.id}")
            elif node.id.startswith("__") and node.id.endswith("__") and node.id not in ALLOWED_DUNDERS:
                add("unsafe", f"uses {node.id}")
        elif isinstance(node, ast.Attribute):
            if node.attr == "optim":
                add("policy", "uses torch.optim (answers must implement the update themselves)")
            elif node.attr.startswith("__") and node.attr.endswith("__") and node.attr not in ALLOWED_DUNDERS:
                add("unsafe", f"accesses the attribute {node.attr}")
            elif node.attr in FORBIDDEN_ATTRS:
                add("unsafe", f"accesses the attribute {node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
            name = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)
                    and not name.value.startswith("_") and name.value != "optim"):
                add("unsafe", "uses getattr with a computed or private attribute name")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "reference_impl" in node.value:
            add("policy", "mentions reference_impl in a string")
    # aliases of modules: a name bound to an expression rooted at a module (t = torch; A = torch.Tensor)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and root_name(node.value) in aliases and \
                isinstance(node.value, (ast.Name, ast.Attribute)):
            aliases.update(t.id for t in node.targets if isinstance(t, ast.Name))
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for t in targets:
            for sub in ast.walk(t):
                if isinstance(sub, ast.Attribute) and root_name(sub) in aliases:
                    add("unsafe", f"replaces {dotted(sub)} (answers may not modify torch or other modules)")
    for node in tree.body:  # top-level bindings that hide a builtin the tests rely on
        names = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [(a.asname or a.name).split(".")[0] for a in node.names]
        for name in names:
            if name in PROTECTED_BUILTINS or _is_exception_name(name):
                add("unsafe", f"redefines the builtin {name}")
    return problems


# --------------------------------------------------------------------------------------------- collecting
DEFAULT_REGEX = r"^(?P<student_id>[A-Za-z0-9][A-Za-z0-9.\-]*)_(?:attempt_(?P<timestamp>[0-9][0-9\-: ]+)_)?" \
                r"(?P<file_id>.+)$"
_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ZIP_BYTES = 500 * 1024 * 1024


@dataclass
class Candidate:
    path: Optional[Path]     # None: nothing usable
    name: str                # name as submitted (relative to the submissions root)
    timestamp: str = ""      # from the file name or timestamp.txt ("" when unknown)
    mtime: float = 0.0


@dataclass
class Collected:
    files: dict = field(default_factory=dict)      # notebook name -> Candidate (the one graded)
    notes: list = field(default_factory=list)      # reasons shown to the student / instructor
    timestamp: str = ""


def _safe_extract(zip_path: Path, dest: Path) -> list:
    """Extract a zip without following absolute paths, ``..``, links, or exceeding the size caps."""
    notes, total = [], 0
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            name = info.filename
            if info.is_dir():
                continue
            parts = Path(name).parts
            if name.startswith("/") or ".." in parts or (info.external_attr >> 16) & 0o170000 == 0o120000:
                notes.append(f"skipped unsafe archive entry {name!r}")
                continue
            if info.file_size > MAX_FILE_BYTES or total + info.file_size > MAX_ZIP_BYTES:
                notes.append(f"skipped oversized archive entry {name!r} ({info.file_size} bytes)")
                continue
            total += info.file_size
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, length=1 << 20)
    return notes


def _match_notebook(file_id: str, notebooks: list) -> Optional[str]:
    if file_id in notebooks:
        return file_id
    stem = re.sub(r"(\s*\(\d+\)|-\d+)$", "", Path(file_id).stem)  # LMS copies: name-1.ipynb, name (2).ipynb
    for nb in notebooks:
        if stem == nb[:-len(".ipynb")]:
            return nb
    return notebooks[0] if len(notebooks) == 1 else None


def collect(submissions: Path, assignment: str, notebooks: list, *, regex: str = DEFAULT_REGEX,
            scratch: Optional[Path] = None) -> tuple:
    """Find every student's files. Returns ``({student: Collected}, [run notes])``.

    Accepts nbgrader's ``submitted/`` tree (``<student>/<assignment>/...``), a folder of per-student folders
    (``<student>/<notebook>.ipynb``), or a flat LMS export (file names parsed with ``regex``, nbgrader
    ``FileNameCollector`` named groups ``student_id``, ``file_id``, optional ``timestamp``). A ``.zip`` is
    extracted (safely) into ``scratch`` first.
    """
    submissions = Path(submissions)
    run_notes = []
    if not submissions.exists():
        raise ValueError(f"submissions: {submissions} does not exist")
    if submissions.is_file():
        if not zipfile.is_zipfile(submissions):
            raise ValueError(f"submissions: {submissions} is neither a folder nor a zip archive")
        dest = Path(tempfile.mkdtemp(prefix="unzipped-", dir=scratch))
        run_notes += _safe_extract(submissions, dest)
        submissions = dest
    pattern = re.compile(regex)
    found: dict = {}

    def add(student, nb, cand):
        if not _STUDENT_ID.match(student or ""):
            run_notes.append(f"ignored {cand.name!r}: {student!r} is not a usable student id")
            return
        found.setdefault(student, {}).setdefault(nb, []).append(cand)

    tree_dirs = [p for p in submissions.glob(f"*/{assignment}") if p.is_dir()]
    if tree_dirs:  # nbgrader's submitted/ tree
        for folder in sorted(tree_dirs):
            student = folder.parent.name
            stamp_file = folder / "timestamp.txt"
            stamp = stamp_file.read_text(errors="replace").strip()[:64] if stamp_file.is_file() else ""
            files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "timestamp.txt"
                           and ".ipynb_checkpoints" not in p.parts)
            if not files:
                add(student, notebooks[0], Candidate(None, f"{student}/{assignment}/ (empty folder)"))
            for p in files:
                nb = _match_notebook(p.name, notebooks)
                rel = str(p.relative_to(submissions))
                if nb is None:
                    found.setdefault(student, {}).setdefault("__extra__", []).append(Candidate(p, rel))
                    continue
                add(student, nb, Candidate(p, rel, stamp, p.stat().st_mtime))
    else:
        for p in sorted(submissions.rglob("*")):
            if not p.is_file() or p.is_symlink() or "__MACOSX" in p.parts or ".ipynb_checkpoints" in p.parts:
                continue
            rel = p.relative_to(submissions)
            m = pattern.match(p.name)
            if m:
                student, file_id = m.group("student_id"), m.group("file_id")
                stamp = (m.groupdict().get("timestamp") or "").strip()
            elif len(rel.parts) >= 2:   # <student>/<file>
                student, file_id, stamp = rel.parts[0], p.name, ""
            else:
                run_notes.append(f"ignored {str(rel)!r}: the file name does not match the pattern")
                continue
            nb = _match_notebook(file_id, notebooks)
            if nb is None:
                if _STUDENT_ID.match(student):
                    found.setdefault(student, {}).setdefault("__extra__", []).append(Candidate(p, str(rel)))
                continue
            add(student, nb, Candidate(p, str(rel), stamp, p.stat().st_mtime))
    result = {}
    for student, per_nb in sorted(found.items()):
        col = Collected()
        for extra in per_nb.pop("__extra__", []):
            col.notes.append(f"file {extra.name!r} is not one of this assignment's notebooks and was ignored")
        for nb, cands in sorted(per_nb.items()):
            cands.sort(key=lambda c: (c.timestamp, c.mtime, c.name))
            chosen = cands[-1]
            if len(cands) > 1:
                col.notes.append(f"{len(cands)} files were submitted for {nb}; graded the latest "
                                 f"({chosen.name!r}), ignored " + ", ".join(repr(c.name) for c in cands[:-1]))
            col.files[nb] = chosen
            col.timestamp = max(col.timestamp, chosen.timestamp)
        if col.files or col.notes:
            result[student] = col
    return result, run_notes


# ------------------------------------------------------------------------------------------- normalising
@dataclass
class Normalised:
    notebook: Optional[nbformat.NotebookNode]  # None: nothing gradable
    answers: dict                              # grade_id -> student source
    notes: list                                # (kind, reason); kind: "invalid", "info", "policy", "unsafe"


def normalise(path: Optional[Path], spec: NotebookSpec) -> Normalised:
    """The notebook that is graded: the release with the student's answer cells; everything else is ignored."""
    notes = []
    if path is None:
        return Normalised(None, {}, [("invalid", f"{spec.name}: nothing was submitted")])
    size = path.stat().st_size
    if size == 0:
        return Normalised(None, {}, [("invalid", f"{spec.name}: the submitted file is empty")])
    if size > MAX_FILE_BYTES:
        return Normalised(None, {}, [("invalid", f"{spec.name}: the submitted file is larger than "
                                                 f"{MAX_FILE_BYTES // 2**20} MB")])
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        kind = "is not a notebook" if not path.name.endswith(".ipynb") else "is not valid notebook JSON"
        return Normalised(None, {}, [("invalid", f"{spec.name}: the submitted file {kind} ({str(err)[:80]})")])
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        return Normalised(None, {}, [("invalid", f"{spec.name}: the submitted file is not a notebook "
                                                 "(no list of cells)")])
    if not path.name.endswith(".ipynb"):
        notes.append(("info", f"{spec.name}: the file was submitted as {path.name!r}"))
    kernel = (raw.get("metadata") or {}).get("kernelspec") or {}
    if isinstance(kernel, dict) and kernel.get("name") not in (None, "python3"):
        notes.append(("info", f"{spec.name}: kernel {str(kernel.get('name'))[:40]!r} replaced by python3"))
    answers, seen_ids, extra, edited_tests, deleted = {}, set(), 0, [], []
    release_sources = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in spec.release.cells
                       if c.get("cell_type") == "code"}
    release_code = {c.source for c in spec.release.cells if c.get("cell_type") == "code"}
    for cell in raw["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if gid not in spec.answers and cell.get("id") in spec.answers:
            gid = cell.get("id")
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if gid in spec.answers:
            if gid in answers:
                notes.append(("info", f"{spec.name}: answer cell {gid!r} appears twice; graded the first"))
                continue
            answers[gid] = source
        elif gid in spec.tests:
            seen_ids.add(gid)
            if source != release_sources.get(gid, source):
                edited_tests.append(gid)
        elif source.strip() and source not in release_code and gid not in release_sources:
            extra += 1
    deleted = [gid for gid in spec.tests if gid not in seen_ids]
    if edited_tests:
        notes.append(("info", f"{spec.name}: edited test cell(s) {', '.join(edited_tests)} were restored"))
    if deleted:
        notes.append(("info", f"{spec.name}: deleted or unmarked test cell(s) {', '.join(deleted)} were restored"))
    if extra:
        notes.append(("info", f"{spec.name}: {extra} extra code cell(s) ignored (only answer cells are graded)"))
    for gid, names in spec.answers.items():
        if gid not in answers:
            notes.append(("info", f"{spec.name}: answer cell {gid!r} is missing (graded as unanswered)"))
            continue
        missing = sorted(n for n in names if n not in _defined_names(answers[gid]))
        if missing and not answers[gid].strip().endswith("raise NotImplementedError()"):
            notes.append(("info", f"{spec.name}: answer cell {gid!r} does not define {', '.join(missing)} "
                                  "(renamed?)"))
    modules = frozenset({"torch"})
    for gid, source in answers.items():
        for kind, reason in policy_problems(source, modules):
            notes.append((kind, f"{spec.name}, cell {gid}: {reason}"))
    nb = nbformat.from_dict(json.loads(json.dumps(spec.release)))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and gid in answers:
            cell.source = answers[gid]
    return Normalised(nb, answers, notes)


# ------------------------------------------------------------------------ nbgrader: limited execution
def _load_execute():
    from nbclient.util import run_sync
    from nbgrader.preprocessors import Execute
    from traitlets import Integer, Unicode

    class LimitedExecute(Execute):
        """nbgrader's Execute with a per-notebook deadline and an output limit in characters.

        Limits hit are written to ``events_file`` (JSON lines) by the nbgrader process (not the kernel). A
        cell not run because a limit was hit gets an error output, so nbgrader can never count it as passed.
        """

        notebook_timeout = Integer(300).tag(config=True)
        output_chars = Integer(100_000).tag(config=True)
        events_file = Unicode("").tag(config=True)

        def _event(self, **event):
            if self.events_file:
                with open(self.events_file, "a", encoding="utf-8") as f:
                    f.write(json.dumps(event) + "\n")

        def preprocess(self, nb, resources=None, km=None):
            self._deadline = time.monotonic() + self.notebook_timeout
            self._chars = 0
            self._stopped = ""
            self._cell_timeout = self.timeout
            self._nb_name = (resources or {}).get("unique_key", "")
            return super().preprocess(nb, resources, km)

        def _skip(self, cell, why):
            cell.outputs = [nbformat.v4.new_output("error", ename="GradingLimit", evalue=why,
                                                   traceback=[f"GradingLimit: {why}"])]
            return cell

        async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
            if cell.cell_type != "code":
                return cell
            if self._stopped:
                return self._skip(cell, f"not run: {self._stopped}")
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                self._stopped = "notebook time limit"
                self._event(kind="notebook-time", notebook=self._nb_name, cell=cell_index)
                return self._skip(cell, "not run: notebook time limit")
            self.timeout = int(max(1, min(self._cell_timeout, remaining)))
            try:
                result = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
            except Exception as err:  # noqa: BLE001 - a dead kernel, a timeout without interrupt, ...
                name = type(err).__name__
                kind = "time" if "Timeout" in name or "timeout" in str(err).lower() else "died"
                self._stopped = "cell time limit" if kind == "time" else "the kernel died"
                self._event(kind=kind, notebook=self._nb_name, cell=cell_index, error=f"{name}: {err}"[:300])
                return self._skip(cell, self._stopped)
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    if out.get("ename") == "CellTimeoutError":
                        self._stopped = "cell time limit"
                        self._event(kind="time", notebook=self._nb_name, cell=cell_index)
                    elif out.get("ename") == "MemoryError":
                        self._event(kind="memory", notebook=self._nb_name, cell=cell_index)
            return result

        # nbclient binds its synchronous wrapper to its own coroutine at class creation: bind ours
        execute_cell = run_sync(async_execute_cell)

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content", {})
            size = len(json.dumps(content.get("text", "")) if "text" in content else "") + \
                sum(len(str(v)) for v in (content.get("data") or {}).values()) + \
                sum(len(str(t)) for t in (content.get("traceback") or []))
            self._chars += size
            if self._chars > self.output_chars:
                if not getattr(self, "_output_reported", False):
                    self._output_reported = True
                    self._event(kind="output", notebook=self._nb_name, cell=cell_index, chars=self._chars)
                    outs.append(nbformat.v4.new_output(
                        "stream", name="stderr",
                        text=f"\n[output cut: more than {self.output_chars} characters]\n"))
                return None
            return super().output(outs, msg, display_id, cell_index)

    return LimitedExecute


def __getattr__(name):  # LimitedExecute is built lazily so that importing this module does not import nbgrader
    if name == "LimitedExecute":
        cls = _load_execute()
        globals()["LimitedExecute"] = cls
        return cls
    raise AttributeError(name)


_CONFIG_TAIL = '''
# ---- appended by reference_impl.grading.secure for this scratch course ----
c.CourseDirectory.root = _here
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_here, "gradebook.db")
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.Autograde.autograde_preprocessors = [
    "reference_impl.grading.secure.LimitedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.LimitedExecute.timeout = {cell}
c.LimitedExecute.interrupt_on_timeout = False
c.LimitedExecute.notebook_timeout = {notebook}
c.LimitedExecute.output_chars = {chars}
c.LimitedExecute.events_file = os.environ.get("GRADING_EVENTS", "")
c.LimitedExecute.startup_timeout = 120
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "nbgrader.preprocessors.ClearHiddenTests",
]
c.HTMLExporter.sanitize_html = True
'''


def _write_config(course: Path, limits: Limits, root: Path) -> None:
    base = (root / "nbgrader_config.py").read_text(encoding="utf-8")
    tail = _CONFIG_TAIL.format(cell=limits.cell_seconds, notebook=limits.notebook_seconds,
                               chars=limits.output_chars)
    (course / "nbgrader_config.py").write_text(base + tail, encoding="utf-8")


def _env(extra: dict) -> dict:
    keep = {k: os.environ[k] for k in ("LANG", "LC_ALL", "TZ") if k in os.environ}
    keep["PATH"] = str(BIN) + os.pathsep + "/usr/local/bin:/usr/bin:/bin"
    keep.update({"MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                 "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"})
    keep.update(extra)
    return keep


def _nbgrader(course: Path, *args, env=None, timeout=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env or _env({}), capture_output=True,
                          text=True, timeout=timeout)


# ------------------------------------------------------------------------------------------------ template
@dataclass
class Template:
    course: Path
    notebooks: list          # NotebookSpec, in name order
    limits: Limits

    @property
    def db(self) -> Path:
        return self.course / "gradebook.db"


def _template_key(root: Path, assignment: str, limits: Limits) -> str:
    h = hashlib.sha256(GRADER_VERSION.encode() + json.dumps(asdict(limits), sort_keys=True).encode())
    h.update((root / "nbgrader_config.py").read_bytes())
    for path in sorted((root / "solutions" / assignment).rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def build_template(root: Path, assignment: str, scratch: Path, limits: Limits) -> Template:
    """A private course with the assignment's gradebook and release, generated from ``solutions/``.

    Kept in ``scratch/template-<assignment>-<fingerprint>`` and reused while ``solutions/<assignment>``, the
    course's nbgrader configuration and the limits do not change (re-runs for late submissions start faster).
    """
    src = root / "solutions" / assignment
    names = sorted(p.name for p in src.glob("*.ipynb"))
    if not names:
        raise ValueError(f"assignment: no notebooks in {src}")
    course = scratch / f"template-{assignment}-{_template_key(root, assignment, limits)}"
    if not (course / ".complete").is_file():
        if course.exists():
            shutil.rmtree(course)
        course.mkdir(parents=True)
        _write_config(course, limits, root)
        shutil.copytree(src, course / "solutions" / assignment)
        proc = _nbgrader(course, "generate_assignment", assignment, "--force", timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{proc.stdout}\n{proc.stderr}")
        (course / ".complete").write_text("")
    specs = []
    for name in names:
        spec = notebook_spec(nbformat.read(src / name, as_version=4), name)
        spec.release = nbformat.read(course / "exercises" / assignment / name, as_version=4)
        specs.append(spec)
    return Template(course, specs, limits)


# ------------------------------------------------------------------------------------ processes and limits
def _limit_resources(limits: Limits):
    mem = limits.memory_mb * 2**20
    fsize = limits.file_mb * 2**20

    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        try:
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
        except (ValueError, OSError):
            pass
    return apply


def _descendants(pid: int) -> list:
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("utf-8", "replace")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _marked(token: str) -> list:
    needle = f"GRADING_JOB={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def kill_job(pgid: Optional[int], token: str) -> int:
    """Kill a job's process group, its descendants and every process carrying its marker; return how many."""
    killed = 0
    for _ in range(5):
        pids = set(_marked(token))
        if pgid:
            pids.update(_descendants(pgid))
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        pids.discard(os.getpid())
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)
    return killed


def _become_subreaper() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphaned descendants are re-parented to us
    except (OSError, AttributeError):
        pass


def _reap_all() -> None:
    """Kill and reap every descendant of this process (used by the worker, which is a subreaper)."""
    for _ in range(20):
        pids = _descendants(os.getpid())
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break


# ----------------------------------------------------------------------------------------- the worker
def _guard_config(job: dict, write_roots: list, extra_allow: list) -> dict:
    return {
        "write_roots": write_roots,
        "deny_read_roots": job["deny_read_roots"],
        "allow_read_roots": [sys.prefix, sys.base_prefix, str(PACKAGE_DIR), *extra_allow],
        "preload": job["preload"],
    }


def _run_nbgrader_app(app_class, argv: list) -> int:
    """Run an nbgrader application in this process (saves starting Python and importing nbgrader again)."""
    app = app_class()
    try:
        app.initialize(argv)
        app.start()
    except SystemExit as err:
        return int(err.code or 0) if isinstance(err.code, int) else 1
    return 0


def _run_worker(jobfile: Path) -> None:
    """One student's job, run in its own session with resource limits (see :func:`_start_job`).

    In order: the independent re-check (forked children, before any thread exists), nbgrader autograde with the
    guarded kernel (in this process), killing whatever the kernel left, the decisions, the final scores into the
    scratch gradebook, nbgrader generate_feedback. Writes ``result.json``.
    """
    from . import guard

    _become_subreaper()
    job = json.loads(jobfile.read_text())
    work = Path(job["work"])
    course = work / "course"
    student, assignment = job["student"], job["assignment"]
    result = {"kernel_events": [], "recheck": {}, "autograde_rc": None}
    t0 = time.perf_counter()
    for nb in job["notebooks"]:
        rdir = work / "recheck" / nb["stem"]
        rdir.mkdir(parents=True, exist_ok=True)
        payload = {
            "cells": nb["cells"], "tests": nb["tests"], "preload": job["preload"], "cwd": str(rdir),
            "watched_modules": ["torch", "numpy", "math", "builtins", "reference_impl"],
            "frozen_modules": ["builtins", "math", "reference_impl"], "warmup": nb["warmup"],
            "write_roots": [str(rdir)], "deny_read_roots": job["deny_read_roots"],
            "allow_read_roots": [sys.prefix, sys.base_prefix, str(PACKAGE_DIR)],
            "cell_timeout": job["cell_seconds"], "notebook_timeout": job["notebook_seconds"],
        }
        try:
            result["recheck"][nb["name"]] = guard.run_recheck(payload)
        except Exception as err:  # noqa: BLE001 - reported as "re-check did not complete"
            result["recheck"][nb["name"]] = None
            result["recheck_error"] = f"{type(err).__name__}: {err}"[:500]
        nb.pop("warmup", None)
    _reap_all()
    result["recheck_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    home = work / "home"
    for sub in ("tmp", "ipython", "mpl", "jupyter_data", "jupyter_config", "runtime"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    kernels = work / "kernels" / "kernels" / "python3"
    kernels.mkdir(parents=True, exist_ok=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "reference_impl.grading.guard", "kernel", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))
    autograded = course / "autograded" / student / assignment
    guard_cfg = work / "guard.json"
    cfg = _guard_config(job, [str(autograded), str(home)], [str(home)])
    cfg["hidden"] = [str(autograded / nb["name"]) for nb in job["notebooks"]]
    guard_cfg.write_text(json.dumps(cfg))
    events = work / "events.jsonl"
    os.environ.update({"HOME": str(home), "TMPDIR": str(home / "tmp"), "IPYTHONDIR": str(home / "ipython"),
                       "MPLCONFIGDIR": str(home / "mpl"), "JUPYTER_PATH": str(work / "kernels"),
                       "JUPYTER_DATA_DIR": str(home / "jupyter_data"),
                       "JUPYTER_CONFIG_DIR": str(home / "jupyter_config"),
                       "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "GRADING_GUARD_CONFIG": str(guard_cfg),
                       "GRADING_EVENTS": str(events)})
    os.chdir(course)
    from nbgrader.apps.autogradeapp import AutogradeApp
    from nbgrader.apps.generatefeedbackapp import GenerateFeedbackApp

    if job["notebooks"]:
        result["autograde_rc"] = _run_nbgrader_app(AutogradeApp, [assignment, "--student", student, "--force",
                                                                  "--log-level=ERROR"])
        _reap_all()
        if events.exists():
            for line in events.read_text(errors="replace").splitlines()[:100]:
                try:
                    result["kernel_events"].append(json.loads(line))
                except ValueError:
                    pass
    result["autograde_seconds"] = time.perf_counter() - t0
    kernel = _kernel_scores(course, assignment, student) if job["notebooks"] else {}
    results = []
    for spec in job["specs"]:
        results.append(decide(spec["name"], spec["tests"], spec["notes"], spec["valid"],
                              kernel.get(spec["name"][:-len(".ipynb")], {}),
                              result["recheck"].get(spec["name"]), result["kernel_events"]))
    result["results"] = [asdict(r) for r in results]
    result["feedback"] = {}
    if job["notebooks"]:
        from nbgrader.api import Gradebook

        with Gradebook("sqlite:///" + str(course / "gradebook.db")) as gb:
            replace_submission(gb, assignment, student, results)
        rc = _run_nbgrader_app(GenerateFeedbackApp, [assignment, "--student", student, "--force",
                                                     "--log-level=ERROR"])
        folder = course / "feedback" / student / assignment
        for res in results:
            page = folder / (res.name[:-len(".ipynb")] + ".html")
            if rc == 0 and page.is_file() and page.stat().st_size < 50 * 2**20:
                result["feedback"][res.name] = str(page)
    (work / "result.json").write_text(json.dumps(result))


def _start_job(job: dict, limits: Limits) -> dict:
    """Run one student's job in a new session with the limits; kill everything it left; return its result."""
    work = Path(job["work"])
    jobfile = work / "job.json"
    jobfile.write_text(json.dumps(job))
    n_nb = max(1, len(job["notebooks"]))
    budget = 2 * (limits.notebook_seconds * n_nb + 120) + 60
    env = _env({"GRADING_JOB": job["token"]})
    proc = subprocess.Popen([sys.executable, "-m", "reference_impl.grading.secure", str(jobfile)], cwd=work,
                            env=env, start_new_session=True, preexec_fn=_limit_resources(limits),
                            stdout=subprocess.DEVNULL, stderr=open(work / "worker.log", "wb"))
    timed_out = False
    try:
        proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        timed_out = True
    kill_job(proc.pid, job["token"])
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    out = work / "result.json"
    if timed_out or not out.exists():
        return {"worker_failed": "grading time limit" if timed_out else f"grader exited with {proc.returncode}"}
    try:
        return json.loads(out.read_text())
    except ValueError:
        return {"worker_failed": "unreadable grader result"}


# --------------------------------------------------------------------------------------------- decisions
@dataclass
class NotebookResult:
    name: str
    max_score: float
    kernel_score: Optional[float] = None         # nbgrader, in the student's kernel
    independent_score: Optional[float] = None    # the re-check
    final: float = 0.0
    cells: dict = field(default_factory=dict)    # grade_id -> {"kernel", "independent", "final", "max", "error"}
    reasons: list = field(default_factory=list)
    flagged: bool = False
    failed: bool = False


def _kernel_scores(course: Path, assignment: str, student: str) -> dict:
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook("sqlite:///" + str(course / "gradebook.db")) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return scores
        for nb in sub.notebooks:
            scores[nb.name] = {g.name: (None if g.auto_score is None else float(g.auto_score)) for g in nb.grades}
    return scores


def decide(name: str, tests: dict, notes: list, valid: bool, kernel: dict, recheck, events: list,
           worker_failed: str = "") -> NotebookResult:
    """Combine the in-kernel scores, the re-check, the limits and the policy notes into a notebook's score.

    ``tests``: grade_id -> points (from the source notebook); ``notes``: ``[(kind, reason)]`` from
    :func:`normalise`; ``valid``: whether a notebook could be built from the submission at all.
    """
    stem = name[:-len(".ipynb")]
    res = NotebookResult(name, float(sum(tests.values())))
    res.reasons = [reason for _, reason in notes]
    kinds = {kind for kind, _ in notes}
    if not valid:
        res.failed = True
        res.cells = {gid: {"kernel": None, "independent": None, "final": 0.0, "max": pts, "error": ""}
                     for gid, pts in tests.items()}
        return res
    rc = {r["id"]: r for r in (recheck or []) if isinstance(r, dict)}
    total_k = total_i = 0.0
    for gid, pts in tests.items():
        k = kernel.get(gid)
        r = rc.get(gid, {})
        ind = pts if r.get("passed") else 0.0
        k_val = 0.0 if k is None else min(float(k), pts)
        res.cells[gid] = {"kernel": k, "independent": ind, "final": min(k_val, ind), "max": pts,
                          "error": r.get("error", "")}
        total_k += k_val
        total_i += ind
        for t in r.get("tampered", []) or []:
            reason = f"{name}: tampering detected in the re-check ({t})"
            if reason not in res.reasons:
                res.reasons.append(reason)
            res.flagged = True
    res.kernel_score = total_k if kernel else None
    res.independent_score = total_i if recheck is not None else None
    zero = False
    if worker_failed:
        res.reasons.append(f"{name}: {worker_failed}")
        res.failed = zero = True
    nb_events = [e for e in events if stem in str(e.get("notebook", "")) or not e.get("notebook")]
    for kind, text in (("time", "a cell ran past the time limit"), ("notebook-time", "the notebook ran past "
                       "its time limit"), ("died", "the kernel died"), ("memory", "a cell ran out of memory "
                       "(memory limit)"), ("output", "the output exceeded the limit in characters")):
        if any(e.get("kind") == kind for e in nb_events):
            res.reasons.append(f"{name}: {text}; the notebook scores 0")
            res.failed = zero = True
    limits_hit = {r.get("limit") for r in rc.values() if r.get("limit")}
    if limits_hit & {"time", "notebook-time", "died", "memory"} and not zero:
        what = ", ".join(sorted(limits_hit))
        res.reasons.append(f"{name}: the independent re-check hit a limit ({what}); the notebook scores 0")
        res.failed = zero = True
    if recheck is None and not zero:
        res.reasons.append(f"{name}: the independent re-check did not complete; the notebook scores 0")
        res.failed = zero = True
    if not kernel and not zero:
        res.reasons.append(f"{name}: nbgrader recorded no grades (the kernel failed); the notebook scores 0")
        res.failed = zero = True
    if kinds & {"policy", "unsafe"}:
        res.flagged = zero = True
        res.reasons.append(f"{name}: breaks the answer rules; the notebook scores 0")
    if res.kernel_score is not None and res.independent_score is not None and \
            res.kernel_score > res.independent_score + 1e-9:
        res.flagged = True
        res.reasons.append(f"{name}: the in-kernel score {res.kernel_score:g} exceeds the independent "
                           f"score {res.independent_score:g}; graded with the smaller score per test")
    if zero:
        for cell in res.cells.values():
            cell["final"] = 0.0
    res.final = sum(c["final"] for c in res.cells.values())
    return res


# ------------------------------------------------------------------------------------------- the gradebook
def _master_url(root: Path) -> str:
    from traitlets.config.loader import PyFileConfigLoader

    try:
        cfg = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
        url = cfg.CourseDirectory.db_url
        if isinstance(url, str) and url:
            return url
    except Exception:  # noqa: BLE001 - fall back to nbgrader's default location
        pass
    return "sqlite:///" + str(root / "gradebook.db")


def sync_assignment(gb, template_db: Path, assignment: str) -> None:
    """Make the master gradebook's assignment (notebooks, cells) match the template's, as generate_assignment."""
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(template_db)) as tgb:
        ta = tgb.find_assignment(assignment)
        gb.update_or_create_assignment(assignment, duedate=ta.duedate)
        for nb in ta.notebooks:
            gb.update_or_create_notebook(nb.name, assignment)
            for cell in nb.grade_cells:
                gb.update_or_create_grade_cell(cell.name, nb.name, assignment, max_score=cell.max_score,
                                               cell_type=cell.cell_type)
            for cell in nb.solution_cells:
                gb.update_or_create_solution_cell(cell.name, nb.name, assignment)
            for cell in nb.task_cells:
                gb.update_or_create_task_cell(cell.name, nb.name, assignment, max_score=cell.max_score,
                                              cell_type=cell.cell_type)
            for cell in nb.source_cells:
                gb.update_or_create_source_cell(cell.name, nb.name, assignment, source=cell.source,
                                                checksum=cell.checksum, locked=cell.locked,
                                                cell_type=cell.cell_type)


def replace_submission(gb, assignment: str, student: str, results: list, timestamp: str = "") -> None:
    """Replace ``student``'s submission of ``assignment`` by ``results`` in ONE transaction.

    Grades keep nbgrader's meaning: ``auto_score`` is the in-kernel score; a ``manual_score`` is written where
    the grader overrode it (re-check, limits, rules), with the reasons as a comment on the first answer cell.
    """
    from nbgrader import utils
    from nbgrader.api import (Comment, Grade, MissingEntry, SubmittedAssignment, SubmittedNotebook)

    gb.update_or_create_student(student)
    session = gb.db
    session.autoflush = False  # build the new rows completely before SQLAlchemy writes any of them
    try:
        try:
            old = gb.find_submission(assignment, student)
        except MissingEntry:
            old = None
        if old is not None:
            for nb in list(old.notebooks):
                for grade in list(nb.grades):
                    session.delete(grade)
                for comment in list(nb.comments):
                    session.delete(comment)
                session.delete(nb)
            session.delete(old)
            session.flush()
        kwargs = {}
        if timestamp:
            try:
                kwargs["timestamp"] = utils.parse_utc(timestamp)
            except Exception:  # noqa: BLE001 - an unparsable LMS time stamp is simply not recorded
                pass
        sub = SubmittedAssignment(assignment=gb.find_assignment(assignment), student=gb.find_student(student),
                                  **kwargs)
        by_name = {r.name[:-len(".ipynb")]: r for r in results}
        for notebook in sub.assignment.notebooks:
            snb = SubmittedNotebook(notebook=notebook, assignment=sub)
            res = by_name.get(notebook.name)
            for cell in notebook.grade_cells:
                info = (res.cells.get(cell.name) if res else None) or {}
                auto = info.get("kernel")
                final = info.get("final", 0.0)
                grade = Grade(cell_id=cell.id, notebook=snb, needs_manual_grade=False)
                grade.auto_score = float(auto) if auto is not None else 0.0
                if res is None or auto is None or abs(float(final) - float(auto)) > 1e-9:
                    grade.manual_score = float(final)
            first = True
            for cell in notebook.solution_cells:
                comment = Comment(cell_id=cell.id, notebook=snb)
                if first and res is not None and res.reasons:
                    comment.manual_comment = "Grader: " + " | ".join(res.reasons)
                first = False
        session.add(sub)
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.autoflush = True


# ------------------------------------------------------------------------------------------------- feedback
def _write_feedback(path: Path, student: str, res: NotebookResult, html_body: Optional[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    banner = ""
    if res.reasons:
        items = "".join(f"<li>{html.escape(r)}</li>" for r in res.reasons)
        banner = (f'<div style="border:2px solid #c60;padding:0.5em;margin:0.5em;font-family:sans-serif">'
                  f"<b>Grading notes for {html.escape(student)}</b> (score {res.final:g} / {res.max_score:g})"
                  f"<ul>{items}</ul></div>")
    if html_body is None:
        html_body = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(res.name)}</title>"
                     f"</head><body><h1>{html.escape(res.name)}</h1><p>Score: {res.final:g} / "
                     f"{res.max_score:g}</p></body></html>")
    if banner:
        html_body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + banner, html_body, count=1)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(html_body, encoding="utf-8")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------- the run
@dataclass
class StudentRecord:
    student: str
    digest: str
    notebooks: list            # asdict(NotebookResult)
    reasons: list
    total: float
    max_score: float
    flagged: bool
    failed: bool
    seconds: float


def _digest(col: Collected, limits: Limits) -> str:
    h = hashlib.sha256(GRADER_VERSION.encode() + json.dumps(asdict(limits), sort_keys=True).encode())
    for nb, cand in sorted(col.files.items()):
        h.update(nb.encode())
        if cand.path is not None:
            h.update(hashlib.sha256(cand.path.read_bytes()).digest())
        h.update(cand.timestamp.encode())
    return h.hexdigest()


def _atomic_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def grade_student(template: Template, assignment: str, student: str, col: Collected, scratch: Path,
                  deny_read_roots: list, preload: list) -> tuple:
    """Grade one student in a fresh scratch course; return ``(results, reasons_extra)`` (nothing is merged)."""
    limits = template.limits
    work = scratch / "students" / student
    if work.exists():
        shutil.rmtree(work)
    course = work / "course"
    course.mkdir(parents=True)
    shutil.copy2(template.course / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copy2(template.db, course / "gradebook.db")
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    norms, nb_jobs = {}, []
    for spec in template.notebooks:
        norm = normalise(col.files[spec.name].path if spec.name in col.files else None, spec)
        norms[spec.name] = norm
        if norm.notebook is None:
            continue
        nbformat.write(norm.notebook, folder / spec.name)
        cells = []
        for cell in spec.cells:
            if cell["kind"] == "answer":
                cells.append({"kind": "answer", "id": cell["id"], "source": norm.answers.get(cell["id"], "")})
            else:
                cells.append(dict(cell))
        tests = []
        for i, cell in enumerate(cells):
            if cell["kind"] == "test":
                run = _cells_needed(spec.cells, i)
                tests.append({"id": cell["id"], "run": run, "cells_before": len(run) + 1})
        warmup = [c["source"] for c in spec.cells]  # setup, solution answers, tests: trusted code
        nb_jobs.append({"name": spec.name, "stem": spec.stem, "cells": cells, "tests": tests, "warmup": warmup})
    token = secrets.token_hex(12)
    specs = [{"name": spec.name, "tests": spec.tests, "notes": norms[spec.name].notes,
              "valid": norms[spec.name].notebook is not None} for spec in template.notebooks]
    job = {"work": str(work), "student": student, "assignment": assignment, "notebooks": nb_jobs,
           "specs": specs, "token": token, "deny_read_roots": [*deny_read_roots, str(work / "course")],
           "preload": preload, "cell_seconds": limits.cell_seconds, "notebook_seconds": limits.notebook_seconds}
    out = _start_job(job, limits) if nb_jobs else {}
    if out.get("results"):
        results = [NotebookResult(**r) for r in out["results"]]
    else:
        failed = out.get("worker_failed", "") if nb_jobs else ""
        results = [decide(s["name"], s["tests"], s["notes"], s["valid"], {}, None, [], failed) for s in specs]
    feedback = {}
    for name, page in (out.get("feedback") or {}).items():
        try:
            feedback[name] = Path(page).read_text(encoding="utf-8", errors="replace")
        except OSError:
            pass
    return results, feedback, work


def _names(source: str) -> tuple:
    """(names the code binds at top level or anywhere, names it loads) -- for test-cell dependencies."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set()
    bound, loaded = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return bound, loaded


def _cells_needed(cells: list, index: int) -> list:
    """Indices of the cells to run before test cell ``index`` in the re-check: every setup and answer cell
    before it, and the earlier test cells that define a name it (or another needed test cell) uses."""
    run = [j for j in range(index) if cells[j]["kind"] in ("setup", "answer")]
    provided = set()
    for j in run:
        provided |= _names(cells[j]["source"])[0]
    todo = [index]
    tests = set()
    while todo:
        k = todo.pop()
        bound_k, loaded = _names(cells[k]["source"])
        wanted = loaded - bound_k - provided
        for j in range(k - 1, -1, -1):
            if not wanted:
                break
            if cells[j]["kind"] == "test" and j not in tests:
                bound_j = _names(cells[j]["source"])[0]
                if bound_j & wanted:
                    tests.add(j)
                    todo.append(j)
                    wanted -= bound_j
    return sorted(set(run) | tests)


def _preload_modules(template: Template) -> list:
    mods = {"torch"}
    for spec in template.notebooks:
        for cell in spec.cells:
            if cell["kind"] in ("test", "setup"):
                try:
                    tree = ast.parse(cell["source"])
                except SyntaxError:
                    continue
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        mods.update(a.name for a in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                        mods.add(node.module)
    return sorted(mods)


def read_table(db_url: str, assignment: str, records_dir: Path, notebooks: list) -> list:
    """One row per student with a submission of ``assignment`` in the gradebook (scores as the gradebook has them)."""
    from nbgrader.api import Gradebook, MissingEntry

    rows = []
    with Gradebook(db_url) as gb:
        try:
            subs = gb.assignment_submissions(assignment)
        except MissingEntry:
            subs = []
        for sub in sorted(subs, key=lambda s: s.student_id):
            row = {"student_id": sub.student_id}
            for nb in sub.notebooks:
                row[nb.name + ".ipynb"] = float(nb.score)
            row["total"] = float(sub.score)
            row["max_score"] = float(sub.max_score)
            rec_path = records_dir / f"{sub.student_id}.json"
            rec = json.loads(rec_path.read_text()) if rec_path.is_file() else {}
            row["status"] = ("failed" if rec.get("failed") else "flagged" if rec.get("flagged")
                             else "graded" if rec else "graded elsewhere")
            row["reasons"] = " | ".join(rec.get("reasons", []))
            rows.append(row)
    return rows


def write_csv(rows: list, path: Path, notebooks: list) -> None:
    fields = ["student_id", *notebooks, "total", "max_score", "status", "reasons"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:g}" if isinstance(v, float) else v) for k, v in row.items()})
    os.replace(tmp, path)


def grade(assignment: str, submissions: Path, *, root: Path = ROOT, out: Optional[Path] = None,
          db_url: Optional[str] = None, limits: Limits = Limits(), workers: int = 2, force: bool = False,
          regex: str = DEFAULT_REGEX, scratch: Optional[Path] = None, keep_scratch: bool = False,
          log=print) -> dict:
    """Grade every student of ``submissions``; return a summary dict (see the module docstring)."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", assignment or ""):
        raise ValueError(f"assignment: {assignment!r} is not an assignment name")
    if not (root / "solutions" / assignment).is_dir():
        raise ValueError(f"assignment: no folder solutions/{assignment} in {root}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    os.environ["PATH"] = str(BIN) + os.pathsep + os.environ.get("PATH", "")
    out = Path(out) if out else root / "grades"
    out_a = out / assignment
    db_url = db_url or _master_url(root)
    scratch_base = Path(scratch) if scratch else root / ".grading"
    scratch_base.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{assignment}-", dir=scratch_base))
    start = time.perf_counter()
    try:
        template = build_template(root, assignment, scratch_base, limits)
        names = [s.name for s in template.notebooks]
        students, run_notes = collect(Path(submissions), assignment, names, regex=regex, scratch=run_dir)
        for note in run_notes:
            log(f"note: {note}")
        records_dir = out_a / "records"
        from nbgrader.api import Gradebook

        with Gradebook(db_url) as gb:
            sync_assignment(gb, template.db, assignment)
        if db_url.startswith("sqlite:///"):
            db_file = Path(db_url[len("sqlite:///"):])
            if db_file.is_file():
                shutil.copy2(db_file, db_file.with_name(db_file.name + ".bak"))
        todo, skipped = [], []
        with Gradebook(db_url) as gb:
            have = {s.student_id for s in gb.assignment_submissions(assignment)}
        for student, col in students.items():
            digest = _digest(col, limits)
            rec_path = records_dir / f"{student}.json"
            if not force and student in have and rec_path.is_file():
                try:
                    if json.loads(rec_path.read_text()).get("digest") == digest:
                        skipped.append(student)
                        continue
                except ValueError:
                    pass
            todo.append((student, col, digest))
        deny = [str(root), str(scratch_base.resolve()), str(Path(submissions).resolve()), str(out.resolve())]
        if db_url.startswith("sqlite:///"):
            deny.append(str(Path(db_url[len("sqlite:///"):]).resolve()))
        preload = _preload_modules(template)
        graded_now, per_nb_seconds = [], []

        def one(item):
            student, col, digest = item
            t0 = time.perf_counter()
            try:
                results, feedback, work = grade_student(template, assignment, student, col, run_dir, deny,
                                                        preload)
            except Exception as err:  # noqa: BLE001 - one student's grader failure must not stop the class
                results = [decide(s.name, s.tests, [], True, {}, None, [], f"grader error ({type(err).__name__}: "
                                  f"{str(err)[:200]})") for s in template.notebooks]
                feedback, work = {}, run_dir / "students" / student
            return student, col, digest, results, feedback, work, time.perf_counter() - t0

        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(one, item) for item in todo]
            for fut in as_completed(futures):
                student, col, digest, results, feedback, work, seconds = fut.result()
                with Gradebook(db_url) as gb:
                    replace_submission(gb, assignment, student, results, col.timestamp)
                reasons = list(col.notes) + [r for res in results for r in res.reasons]
                for res in results:
                    res.reasons = list(col.notes) + res.reasons if col.notes else res.reasons
                    # a flagged or failed notebook gets the summary page only: its outputs are not shown
                    page = feedback.get(res.name) if not (res.flagged or res.failed) else None
                    _write_feedback(out_a / "feedback" / student / (res.name[:-len(".ipynb")] + ".html"),
                                    student, res, page)
                rec = StudentRecord(student, digest, [asdict(r) for r in results], reasons,
                                    sum(r.final for r in results), sum(r.max_score for r in results),
                                    any(r.flagged for r in results), any(r.failed for r in results), seconds)
                _atomic_json(records_dir / f"{student}.json", asdict(rec))
                graded_now.append(rec)
                per_nb_seconds.append(seconds / max(1, len(results)))
                status = "FAILED" if rec.failed else "FLAGGED" if rec.flagged else "ok"
                log(f"{student}: {rec.total:g}/{rec.max_score:g} {status} ({seconds:.1f} s)"
                    + (f" -- {'; '.join(reasons)}" if reasons and status != "ok" else ""))
                if not keep_scratch:
                    shutil.rmtree(work, ignore_errors=True)
        rows = read_table(db_url, assignment, records_dir, names)
        write_csv(rows, out_a / "grades.csv", names)
        elapsed = time.perf_counter() - start
        totals = [r["total"] for r in rows]
        summary = {
            "assignment": assignment, "students": len(rows), "graded_now": len(graded_now),
            "skipped_unchanged": len(skipped),
            "mean": (sum(totals) / len(totals)) if totals else 0.0,
            "max_score": sum(s.max_score for s in template.notebooks),
            "flagged": sum(1 for r in rows if r["status"] == "flagged"),
            "failed": sum(1 for r in rows if r["status"] == "failed"),
            "seconds": elapsed, "csv": str(out_a / "grades.csv"), "feedback": str(out_a / "feedback"),
            "db_url": db_url, "notes": run_notes,
            "seconds_per_notebook": (elapsed / max(1, len(graded_now) * len(names))) if graded_now else 0.0,
        }
        log(f"\n{assignment}: {summary['students']} students in the gradebook ({summary['graded_now']} graded "
            f"now, {summary['skipped_unchanged']} unchanged), mean {summary['mean']:.2f}/{summary['max_score']:g}, "
            f"{summary['flagged']} flagged, {summary['failed']} failed; {elapsed:.1f} s.")
        log(f"grade table: {summary['csv']}\nfeedback:    {summary['feedback']}/<student>/")
        return summary
    finally:
        if not keep_scratch:
            shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":  # the per-student worker: python -m reference_impl.grading.secure JOBFILE
    _run_worker(Path(sys.argv[1]))
