"""Intake: find every student's notebooks in a class's submissions, without guessing.

A submissions folder (or a ``.zip`` of one) is read in each of four layouts:

``folders``
    ``ROOT/<student>/<notebook>.ipynb``, or one folder deeper (``ROOT/<student>/<any>/<notebook>.ipynb``).
``nbgrader``
    ``ROOT/<student>/<assignment>/<notebook>.ipynb`` (with nbgrader's ``timestamp.txt``), as ``nbgrader collect``
    leaves it; ``ROOT/submitted/...`` is read the same way (see "wrappers" below).
``canvas``
    Canvas's "Download Submissions" zip: flat files ``<prefix>_<file id>_<original name>`` (a text entry or a link
    is ``<prefix>_text.html`` / ``<prefix>_link.html``). Canvas builds the prefix in its submissions zipper
    (``ContentZipper#get_filename`` and ``#sanitize_user_name`` in Canvas LMS's ``lib/content_zipper.rb``): it
    takes the student's sortable name, turns each ``_<digits>_`` in it into ``<digits>``, lower-cases it, joins
    name, ``LATE`` (a late submission) and the Canvas user id with ``_``, and then removes every character that is
    not a word character (letter, mark, digit, connector punctuation). So the prefix is
    ``<name>[_LATE]_<user id>``, where ``<name>`` is lower case (never the ``LATE`` tag) but may hold ``_`` and
    digits anywhere, ``_<digits>_`` included (the collapse runs before other characters are removed: ``a_1-_b``
    becomes ``a_1_b``), and may be empty (then the file name starts with ``_``). Under anonymous grading there is
    no name part: ``[LATE_]anon_<id>`` (five base58 characters, ``lib/anonymity.rb``). The file id is the
    attachment id; in the original name each run of ``/\\:*?"<>|`` and NUL is replaced by one ``_``; a name
    already in the zip gets ``-N`` before its extension (``Attachment.make_unique_filename``), as does a repeated
    upload of one name. The student id is the Canvas user id: the column Canvas's gradebook import keys on.

    Names are read from the left, where Canvas writes them: the student chose only the original name at the
    end (and, where the school lets them edit it, the name), never the ids. Because a name may itself hold
    ``_<digits>``, a file name can have several readings (``smith_2_1001_5001_nb.ipynb``: user 1001's ``nb.ipynb``
    or user 2's ``5001_nb.ipynb``). A reading is ruled out only by Canvas's rules: the name's characters, and
    one prefix per student (all of a student's files come from one submission, so they share
    ``<name>[_LATE]_<user id>``; a file read one way only tells its student's prefix, and a reading that gives
    that student another prefix is impossible). A file left with several readings is never guessed: it is
    ignored with a reason that names every reading; to grade it, rename it and every other file with the same
    prefix (a renamed prefix that differs from the student's other files would mislead the rule above).
``moodle``
    Moodle's "Download all submissions" (the assignment module's ``download_submissions``): the prefix is the
    full name with ``_`` replaced by spaces (``Participant`` under blind marking), ``_``, the participant id; then
    either a folder ``<prefix>_assignsubmission_file_/`` holding the student's files (the default since Moodle 3.1)
    or flat files ``<prefix>_assignsubmission_file_<original name>``. The student id is the participant id (the
    ``Participant <id>`` identifier of Moodle's grading worksheet; Moodle allocates it per assignment).

Every reading lists, for each file, the student and release notebook it is a candidate for, or why it is ignored.
A reading *fits* when it finds at least one candidate. When several readings fit, one is taken only if it reads
every candidate file of the others the same way (same student, same notebook) — then nobody can be lost or merged
by taking it; among readings that read the files identically the most specific layout wins
(nbgrader, moodle, canvas, folders). Otherwise :class:`AmbiguousLayout` names the readings and the flag that picks
one. The rules keep the layouts apart: a folder student id cannot contain a space and a folder named like Moodle's
``..._assignsubmission_<plugin>_`` is never a student's own folder; Canvas and Moodle files are flat (or in Moodle's
folders) and are recognised by their full prefix and the original name being a release notebook, never by
splitting a name at its first ``_``.

Wrappers: when the root holds a single folder (a class zipped as ``submissions/...``) that does not itself hold a
release notebook, or a ``submitted/`` folder, the layouts are also read inside it; the rule above chooses. A
student's folder whose notebooks sit in several of its subfolders is not read as one student (it is a folder of
students); its files are listed with that reason. A class of one student inside a wrapper (``subs/alice/nb``) is
genuinely ambiguous (student ``subs`` or student ``alice``) and stops.

Only ``.ipynb`` files named like a release notebook (exactly, or with a copy suffix ``-N`` / `` (N)``) are graded.
Several candidates for one notebook of one student: one is graded by a rule that never reads modification times
(a zip does not keep them reliably, and a copy made later looks newer): Canvas -- the highest attachment id, which
Canvas numbers in upload order; the other layouts -- the file with the exact release name, else the highest copy
number (a browser names a second download ``name (1).ipynb``, a third ``name (2).ipynb``). The others are listed as
superseded, and the choice is one of the student's ``notes``.
Invariant, checked on every call: ``files_found == graded files + len(ignored)``.
"""
from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .layouts import _read, _Reading, _release_match, rel_tie
from .scan import _scan_folder, _scan_zip, _shown

LAYOUTS = ("folders", "nbgrader", "canvas", "moodle")
_PRECEDENCE = ("nbgrader", "moodle", "canvas", "folders")  # among readings that read every file the same way



@dataclass
class Submission:
    student: str
    notebooks: dict[str, Path]      # release notebook file name -> the file to grade
    submitted_at: str | None = None  # ISO time if the layout tells it
    late: bool = False              # the LMS marked it late (e.g. Canvas _LATE_)
    notes: list[str] = field(default_factory=list)  # intake's choices about this student's files, for the reasons
    timestamp_problem: str | None = None            # why the layout's submission time could not be used


@dataclass
class Ignored:
    path: str                       # relative to the submissions root
    reason: str
    student: str | None = None      # whose file it is, where the layout says (for per-student reports)


@dataclass
class Intake:
    layout: str                     # "folders" | "nbgrader" | "canvas" | "moodle"
    students: dict[str, Submission]
    ignored: list[Ignored]
    files_found: int


class AmbiguousLayout(ValueError):
    """The submissions can be read in several layouts that disagree about who submitted what."""

    def __init__(self, message: str, readings: list[str]):
        super().__init__(message)
        self.readings = readings


def _wrappers(files, dirs, notebooks):
    """Folders to read inside too: the root's only folder (unless it holds a notebook itself), and submitted/."""
    tops = {f.rel[0] for f in files if f.junk is None} | {d[0] for d in dirs}
    out = []
    if len(tops) == 1 and (next(iter(tops)),) in dirs and not any(
            len(f.rel) == 2 and f.junk is None and _release_match(f.rel[1], notebooks) for f in files):
        out.append((next(iter(tops)),))
    if ("submitted",) in dirs and ("submitted",) not in out:
        out.append(("submitted",))
    return out


def _dominates(a: dict, b: dict) -> bool:
    return all(a.get(k) == v for k, v in b.items())


def _summary(r: _Reading) -> str:
    studs = sorted({s for s, _, _ in r.cands.values()})
    shown = ", ".join(studs[:5]) + (", ..." if len(studs) > 5 else "")
    return f"{r.name}: {len(studs)} student(s) ({shown}), {len(r.cands)} notebook file(s)"


def _choose(readings: list[_Reading]) -> _Reading:
    fitting = [r for r in readings if r.cands]
    maps = {id(r): r.cmap() for r in fitting}
    top = [r for r in fitting
           if not any(_dominates(maps[id(o)], maps[id(r)]) and maps[id(o)] != maps[id(r)] for o in fitting)]
    groups: list[list[_Reading]] = []
    for r in top:
        for g in groups:
            if maps[id(g[0])] == maps[id(r)]:
                g.append(r)
                break
        else:
            groups.append([r])
    if len(groups) == 1:
        return min(groups[0], key=lambda r: (_PRECEDENCE.index(r.layout), len(r.base)))
    picks = [min(g, key=lambda r: (_PRECEDENCE.index(r.layout), len(r.base))) for g in groups]
    layouts = sorted({r.layout for r in picks})
    lines = "\n".join("  - " + _summary(r) for r in picks)
    hint = " or ".join(f"--layout {x}" for x in layouts)
    advice = f"Pick one with {hint}" if len(layouts) == len(picks) else (
        f"Pick one with {hint}, or point the command at the folder inside the archive or folder")
    raise AmbiguousLayout(
        "The submissions can be read in more than one way, and the readings disagree about who submitted what:\n"
        f"{lines}\n{advice}.", [r.name for r in picks])


# --------------------------------------------------------------------------------------------- entry point
def read_submissions(source: Path, assignment: str, notebooks: list[str], *, scratch: Path,
                     layout: str | None = None) -> Intake:
    """Every student's notebooks in ``source`` (a folder or a ``.zip``), and every other file with the reason.

    ``notebooks`` are the release notebooks' file names. A zip is extracted under ``scratch`` (nothing is written
    anywhere else). ``layout`` picks a reading; without it the layout is recognised, and :class:`AmbiguousLayout`
    is raised when the tree can be read in ways that disagree. :class:`ValueError` when no layout finds a notebook.
    """
    source = Path(source)
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"layout: {layout!r} is not one of {', '.join(LAYOUTS)}")
    if not assignment or "/" in assignment or assignment in (".", ".."):
        raise ValueError(f"assignment: {assignment!r} is not an assignment name")
    notebooks = list(notebooks)
    if not notebooks or any(not n.endswith(".ipynb") or "/" in n for n in notebooks):
        raise ValueError(f"notebooks: expected release notebook file names (*.ipynb), got {notebooks!r}")
    if not source.exists():
        raise ValueError(f"submissions: {source} does not exist")
    if source.is_dir():
        files, dirs = _scan_folder(source)
    elif zipfile.is_zipfile(source):
        Path(scratch).mkdir(parents=True, exist_ok=True)
        files, dirs = _scan_zip(source, Path(tempfile.mkdtemp(prefix="intake-", dir=scratch)))
    else:
        raise ValueError(f"submissions: {source} is neither a folder nor a zip archive")

    ctx = {"assignment": assignment, "notebooks": notebooks}
    bases = [()] + _wrappers(files, dirs, notebooks)
    readings = [_read(lay, b, files, dirs, ctx) for b in bases for lay in ([layout] if layout else LAYOUTS)]
    if not any(r.cands for r in readings):
        if layout is not None:
            return _finish(readings[0], files)
        raise ValueError(
            f"submissions: no layout ({', '.join(LAYOUTS)}) finds a notebook named "
            f"{' or '.join(notebooks)} in {source} ({len(files)} file(s) found). Layouts: <student>/<notebook>; "
            f"<student>/{assignment}/<notebook>; a Canvas or Moodle 'download all submissions' export")
    return _finish(_choose(readings), files)


def _finish(r: _Reading, files) -> Intake:
    ignored, graded = [], {}
    for f in files:
        if f.junk is not None:
            ignored.append(Ignored(_shown(f.rel), f.junk))
        elif f.rel in r.skips:
            ignored.append(Ignored(_shown(f.rel), r.skips[f.rel], r.owner.get(f.rel)))
    by_slot = {}
    for rel, (sid, nb, key) in r.cands.items():
        by_slot.setdefault((sid, nb), []).append((key, rel))
    notes: dict[str, list[str]] = {}

    def label(rel) -> str:
        if rel in r.labels:
            return r.labels[rel]
        copy = r.cands[rel][2][1] if isinstance(r.cands[rel][2], tuple) and len(r.cands[rel][2]) == 3 else 0
        return "the exact release name" if copy == 0 else f"copy {copy}"

    for (sid, nb), found in sorted(by_slot.items()):
        found.sort()
        latest = found[-1][1]
        ties = [rel for key, rel in found if key[:-1] == found[-1][0][:-1]] if rel_tie(found) else []
        if len(ties) > 1:   # no rule tells these apart: the last by path is graded, and the note says so
            notes.setdefault(sid, []).append(
                f"{len(ties)} files are equally {label(latest)} for {nb} ({', '.join(_shown(t) for t in ties)}): "
                f"graded the last by path, {_shown(latest)}; check that it is the one meant")
        graded.setdefault(sid, {})[nb] = latest
        for _, rel in found[:-1]:
            ignored.append(Ignored(_shown(rel), f"superseded by {_shown(latest)} ({label(latest)}), another {nb} "
                                                f"of {sid} (this one: {label(rel)})", sid))
        if len(found) > 1:
            notes.setdefault(sid, []).append(
                f"graded {_shown(latest)} ({label(latest)}); "
                + "; ".join(f"superseded {_shown(rel)} ({label(rel)})" for _, rel in reversed(found[:-1])))
    by_rel = {f.rel: f for f in files}
    everyone = r.students | set(graded) | {s for s in r.owner.values()}
    students = {}
    for sid in sorted(everyone):
        nbs = {nb: by_rel[rel].path for nb, rel in sorted(graded.get(sid, {}).items())}
        students[sid] = Submission(sid, nbs, r.submitted_at.get(sid), sid in r.late, notes.get(sid, []),
                                   r.timestamp_problems.get(sid))
    ignored.sort(key=lambda i: i.path)
    n_graded = sum(len(s.notebooks) for s in students.values())
    if len(files) != n_graded + len(ignored):   # every file is graded or ignored with its reason, once
        raise RuntimeError(f"intake lost track of files: {len(files)} found, {n_graded} graded, "
                           f"{len(ignored)} ignored")
    return Intake(r.layout, students, ignored, len(files))
