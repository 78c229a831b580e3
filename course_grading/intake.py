"""Reading a class's submissions: which file of which student is graded, and what was left out and why.

The existing rules, in the shape the grader uses: nbgrader's ``submitted/`` tree (``<student>/<assignment>/...``,
``timestamp.txt``), a folder per student (``<student>/<notebook>.ipynb``), or a flat export of a learning-management
system (``<student>_[LATE_]...<notebook>.ipynb``; Canvas marks late files ``_LATE_``). A ``.zip`` is extracted
safely into ``scratch`` first. When several files map to one notebook, the latest is graded and the others are
listed as ignored.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ZIP_BYTES = 500 * 1024 * 1024
_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
_FLAT = re.compile(r"^(?P<student>[A-Za-z0-9][A-Za-z0-9.\-]*)_(?P<late>LATE_)?"
                   r"(?:attempt_(?P<timestamp>[0-9][0-9\-: ]+)_)?(?P<file>.+)$")


@dataclass
class Submission:
    student: str
    notebooks: dict = field(default_factory=dict)   # release notebook file name -> the file to grade
    submitted_at: str | None = None                  # ISO time if the layout tells it
    late: bool = False                               # the LMS marked it late (e.g. Canvas _LATE_)


@dataclass
class Ignored:
    path: str      # relative to the submissions root
    reason: str


@dataclass
class Intake:
    layout: str    # "folders" | "nbgrader" | "canvas" | "moodle"
    students: dict
    ignored: list
    files_found: int


class AmbiguousLayout(ValueError):
    def __init__(self, message: str, readings: list | None = None):
        super().__init__(message)
        self.readings = readings or []


def _safe_extract(zip_path: Path, dest: Path, ignored: list) -> None:
    total = 0
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            name = info.filename
            if info.is_dir():
                continue
            parts = Path(name).parts
            if name.startswith("/") or ".." in parts or (info.external_attr >> 16) & 0o170000 == 0o120000:
                ignored.append(Ignored(name, "unsafe archive entry"))
                continue
            if info.file_size > MAX_FILE_BYTES or total + info.file_size > MAX_ZIP_BYTES:
                ignored.append(Ignored(name, f"oversized archive entry ({info.file_size} bytes)"))
                continue
            total += info.file_size
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, length=1 << 20)


def _match(file_name: str, notebooks: list) -> str | None:
    if file_name in notebooks:
        return file_name
    stem = re.sub(r"(\s*\(\d+\)|-\d+)$", "", Path(file_name).stem)   # LMS copies: name-1.ipynb, name (2).ipynb
    for nb in notebooks:
        if stem == nb[:-len(".ipynb")] or stem.endswith("_" + nb[:-len(".ipynb")]):
            return nb
    return None


def read_submissions(source: Path, assignment: str, notebooks: list, *, scratch: Path,
                     layout: str | None = None) -> Intake:
    source = Path(source)
    ignored: list = []
    if not source.exists():
        raise ValueError(f"submissions: {source} does not exist")
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise ValueError(f"submissions: {source} is neither a folder nor a zip archive")
        dest = Path(tempfile.mkdtemp(prefix="unzipped-", dir=scratch))
        _safe_extract(source, dest, ignored)
        source = dest
    files = sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink()
                   and "__MACOSX" not in p.parts and ".ipynb_checkpoints" not in p.parts)
    tree = [p for p in source.glob(f"*/{assignment}") if p.is_dir()]
    if layout is None:
        layout = "nbgrader" if tree else ("folders" if any(len(p.relative_to(source).parts) == 2 for p in files)
                                          and not any(len(p.relative_to(source).parts) == 1 for p in files)
                                          else "canvas")
    found: dict = {}   # student -> notebook -> [(path, stamp, late)]
    for p in files:
        rel = p.relative_to(source)
        stamp, late = None, False
        if layout == "nbgrader":
            if len(rel.parts) < 3 or rel.parts[1] != assignment:
                ignored.append(Ignored(str(rel), "not in <student>/<assignment>/"))
                continue
            if p.name == "timestamp.txt":
                continue
            student = rel.parts[0]
            ts = source / student / assignment / "timestamp.txt"
            stamp = ts.read_text(errors="replace").strip()[:64] if ts.is_file() else None
            file_name = p.name
        elif layout in ("folders", "moodle"):
            if len(rel.parts) != 2:
                ignored.append(Ignored(str(rel), "not in a student's folder"))
                continue
            student = rel.parts[0].split("_")[0] if layout == "moodle" else rel.parts[0]
            file_name = p.name
        else:
            m = _FLAT.match(p.name)
            if not m or len(rel.parts) != 1:
                ignored.append(Ignored(str(rel), "the file name does not name a student"))
                continue
            student, file_name = m.group("student"), m.group("file")
            stamp, late = (m.group("timestamp") or None), bool(m.group("late"))
        if not _STUDENT_ID.match(student):
            ignored.append(Ignored(str(rel), f"{student!r} is not a usable student id"))
            continue
        nb = _match(file_name, notebooks) if file_name.endswith(".ipynb") else None
        if nb is None:
            ignored.append(Ignored(str(rel), "not one of this assignment's notebooks"))
            continue
        found.setdefault(student, {}).setdefault(nb, []).append((p, stamp, late, str(rel)))
    students = {}
    for student, per_nb in sorted(found.items()):
        sub = Submission(student)
        for nb, cands in sorted(per_nb.items()):
            cands.sort(key=lambda c: (c[1] or "", c[0].stat().st_mtime, c[3]))
            path, stamp, late, _ = cands[-1]
            for other in cands[:-1]:
                ignored.append(Ignored(other[3], f"an older file for {nb} of {student}"))
            sub.notebooks[nb] = path
            sub.late = sub.late or late
            if stamp and (sub.submitted_at is None or stamp > sub.submitted_at):
                sub.submitted_at = stamp
        students[student] = sub
    return Intake(layout, students, ignored, len(files))
