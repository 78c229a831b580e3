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

import os
import re
import stat
import tempfile
import time
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

LAYOUTS = ("folders", "nbgrader", "canvas", "moodle")
_PRECEDENCE = ("nbgrader", "moodle", "canvas", "folders")  # among readings that read every file the same way

MAX_MEMBER_BYTES = 50 * 1024 * 1024     # one archive member
MAX_ARCHIVE_BYTES = 2 * 1024 ** 3       # all members together (uncompressed)
MAX_MEMBERS = 50_000                    # entries in one archive


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


# --------------------------------------------------------------------------------------------- scanning
@dataclass
class _File:
    rel: tuple[str, ...]            # path parts relative to the submissions root
    path: Path | None               # the file on disk; None when it was not extracted
    junk: str | None = None         # reason when every reading ignores it
    mtime: float = 0.0


def _shown(parts) -> str:
    """A printable relative path (names that are not valid UTF-8 are shown with escapes)."""
    return "/".join(parts).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _junk_reason(parts) -> str | None:
    if "__MACOSX" in parts:
        return "macOS archive metadata (__MACOSX)"
    if ".ipynb_checkpoints" in parts:
        return "a Jupyter checkpoint (.ipynb_checkpoints), not the submission"
    if any(p.startswith(".") for p in parts):
        return "a hidden file or folder"
    if parts[-1] in ("Thumbs.db", "desktop.ini") or parts[-1].startswith("~$"):
        return "operating-system or editor metadata"
    return None


def _scan_folder(root: Path):
    files, dirs = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        base = here.relative_to(root).parts
        for d in sorted(dirnames):
            rel = base + (d,)
            if (here / d).is_symlink():
                files.append(_File(rel, None, "a symbolic link (not followed)"))
            elif _junk_reason(rel) is None:
                dirs.add(rel)
        dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink())
        for name in sorted(filenames):
            rel, full = base + (name,), here / name
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                files.append(_File(rel, None, "a symbolic link (not followed)"))
            elif not stat.S_ISREG(st.st_mode):
                files.append(_File(rel, None, "not a regular file"))
            else:
                files.append(_File(rel, full, _junk_reason(rel), st.st_mtime))
    return files, dirs


def _member_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:
        # Without the UTF-8 flag the zip format says cp437 (zipfile decoded it so); many tools write UTF-8 anyway.
        raw = name.encode("cp437")
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return name.replace("\\", "/")


def _scan_zip(archive: Path, dest: Path):
    """Extract ``archive`` under ``dest`` safely; every file entry becomes a _File (unsafe ones with a reason)."""
    files, dirs, taken, total = [], set(), set(), 0
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ValueError(f"submissions: {archive} holds {len(infos)} entries, more than the cap of {MAX_MEMBERS}")
        for info in infos:
            name = _member_name(info)
            parts = tuple(p for p in name.split("/") if p not in ("", "."))
            if not parts:
                continue
            kind = (info.external_attr >> 16) & 0o170000
            if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
                files.append(_File(parts, None, "unsafe archive entry (absolute path), not extracted"))
                continue
            if ".." in parts:
                files.append(_File(parts, None, "unsafe archive entry (a '..' component), not extracted"))
                continue
            if info.is_dir():
                dirs.update(parts[:i] for i in range(1, len(parts) + 1))
                continue
            dirs.update(parts[:i] for i in range(1, len(parts)))
            if kind == stat.S_IFLNK:
                files.append(_File(parts, None, "a symbolic link in the archive, not extracted"))
                continue
            if kind not in (0, stat.S_IFREG):
                files.append(_File(parts, None, "not a regular file in the archive, not extracted"))
                continue
            junk = _junk_reason(parts)
            if junk:
                files.append(_File(parts, None, junk))
                continue
            if info.flag_bits & 0x1:
                files.append(_File(parts, None, "an encrypted archive entry, not extracted"))
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                files.append(_File(parts, None, f"larger than {MAX_MEMBER_BYTES // 2**20} MB "
                                                f"({info.file_size} bytes), not extracted"))
                continue
            if total + info.file_size > MAX_ARCHIVE_BYTES:
                files.append(_File(parts, None, f"the archive's size cap ({MAX_ARCHIVE_BYTES // 2**20} MB) "
                                                "was reached, not extracted"))
                continue
            if parts in taken:
                files.append(_File(parts, None, "a second archive entry with the same path, not extracted"))
                continue
            target, opened = dest.joinpath(*parts), False
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                with zf.open(info) as src, open(target, "xb") as out:
                    opened = True
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > info.file_size:   # zipfile stops at the declared size; belt and braces
                            raise ValueError("more data than declared")
                        out.write(chunk)
            except (OSError, ValueError, RuntimeError, zipfile.BadZipFile, NotImplementedError) as err:
                if opened:
                    target.unlink(missing_ok=True)
                files.append(_File(parts, None, f"could not be extracted ({type(err).__name__}: {str(err)[:80]})"))
                continue
            total += info.file_size
            taken.add(parts)
            try:
                mtime = time.mktime(info.date_time + (0, 0, -1))
                os.utime(target, (mtime, mtime))
            except (OverflowError, ValueError, OSError):
                mtime = target.stat().st_mtime
            files.append(_File(parts, target, None, mtime))
    return files, {d for d in dirs if _junk_reason(d) is None}


# --------------------------------------------------------------------------------------------- names
_MOODLE = re.compile(r"^(?P<name>[^_]*)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<rest>.*)$", re.S)
_COPY = re.compile(r"^(?P<stem>.+?)(?:-(?P<dash>\d+)| \((?P<paren>\d+)\))\.ipynb$", re.S)
_NBGRADER_FILES = {"timestamp.txt", "submission_secret.txt"}


def _wordish(c: str) -> bool:
    """A letter or digit of any script, a combining mark (Devanagari vowel signs, accents) or ``_``."""
    return c.isalnum() or c == "_" or unicodedata.category(c).startswith("M")


def _student_id(name: str) -> str | None:
    """The student id a folder name stands for (NFC), or None: word characters and ``. - @ +``, at most 100."""
    sid = unicodedata.normalize("NFC", name)
    ok = 0 < len(sid) <= 100 and sid[0] not in ".-+@" and all(_wordish(c) or c in ".-@+" for c in sid)
    return sid if ok else None


def rel_tie(found: list) -> bool:
    """Whether the two highest candidates differ only by their path (no rule of the layout orders them)."""
    return len(found) > 1 and isinstance(found[-1][0], tuple) and found[-1][0][:-1] == found[-2][0][:-1]


def _copy_key(copy: int, rel) -> tuple:
    """Sort key of a student's candidates for one notebook outside Canvas (the last one is graded): the exact release
    name first, then the highest copy number."""
    return (copy == 0, copy, rel)


def _release_match(name: str, notebooks) -> tuple[str, int] | None:
    """(release notebook, copy number) when ``name`` is a release notebook's name or a copy of it."""
    if name in notebooks:
        return name, 0
    m = _COPY.match(name)
    if m and m["stem"] + ".ipynb" in notebooks:
        return m["stem"] + ".ipynb", int(m["dash"] or m["paren"])
    return None


def _not_notebook(name: str, notebooks) -> str:
    if name.endswith(".ipynb"):
        return f"a notebook, but not one of this assignment's ({', '.join(notebooks)})"
    return f"not a notebook of this assignment ({', '.join(notebooks)} expected)"


@dataclass(frozen=True)
class _CanvasReading:
    """One way to read a Canvas file name (see the module docstring)."""
    name: str | None                # the name part; None under anonymous grading
    late: bool
    uid: str                        # the Canvas user id, or anon_<id>
    fid: int | None                 # the attachment id; None for a text entry or a link
    orig: str | None                # the uploaded file's name; None for a text entry or a link
    kind: str = "file"              # "file", "text" (text entry) or "link"

    @property
    def prefix(self) -> str:
        """``<name>[_LATE]_<user id>`` as Canvas wrote it: one per student in an export."""
        return "_".join(x for x in (self.name, "LATE" if self.late else None, self.uid) if x is not None)

    def describe(self) -> str:
        if self.kind != "file":
            return f"user {self.uid}'s {'text entry' if self.kind == 'text' else 'link'}"
        return f"user {self.uid}'s {self.orig!r} (file id {self.fid})"


def _ascii_digits(token: str) -> bool:
    return token.isascii() and token.isdigit()


def _canvas_name_token(token: str) -> bool:
    """A piece of a Canvas name: word characters only (Ruby's [[:word:]]: letters, marks, numbers, connector
    punctuation), lower-cased (Canvas lower-cases the name, so it never holds A-Z, and never the LATE tag)."""
    return all(unicodedata.category(c)[0] in "LMN" or unicodedata.category(c) == "Pc" for c in token) and \
        not any("A" <= c <= "Z" for c in token)


def _canvas_tail(name, late, uid, rest: list[str]) -> list[_CanvasReading]:
    if rest in (["text.html"], ["link.html"]):
        return [_CanvasReading(name, late, uid, None, None, rest[0][:4])]
    if len(rest) >= 2 and _ascii_digits(rest[0]):
        return [_CanvasReading(name, late, uid, int(rest[0]), "_".join(rest[1:]))]
    return []


def _canvas_readings(filename: str) -> list[_CanvasReading]:
    """Every reading of a Canvas file name that Canvas's rules allow, from the left: the prefix first (the name
    part, which may itself hold ``_`` and digits, then ``LATE``, then the user id), then the file id; the rest is
    the original name."""
    tokens, out = filename.split("_"), []
    j = 1 if tokens[0] == "LATE" else 0
    if j + 1 < len(tokens) and tokens[j] == "anon" and re.fullmatch(r"[A-Za-z0-9]+", tokens[j + 1]):
        out += _canvas_tail(None, j == 1, f"anon_{tokens[j + 1]}", tokens[j + 2:])
    for i in range(1, len(tokens)):             # the name is tokens[:i] (a named prefix always has its "_")
        if not _canvas_name_token(tokens[i - 1]):
            break                               # every longer name holds this token too
        j = i + 1 if tokens[i] == "LATE" else i
        if j < len(tokens) and _ascii_digits(tokens[j]):
            out += _canvas_tail("_".join(tokens[:i]), j > i, tokens[j], tokens[j + 1:])
    return out


def _canvas_settle(readings: dict) -> dict:
    """Rule out readings by Canvas's one-prefix-per-student rule, using only files that have one reading left.

    ``readings``: file -> its readings. A file read one way only is that student's (its reading is the true
    one), so it tells the student's prefix; any reading of another file that gives that student a different
    prefix is impossible. Repeated until nothing changes. Where files read one way disagree about a student's
    prefix (not one Canvas export), they tell nothing about that student; a file is never left with no reading.
    """
    live = {rel: list(rs) for rel, rs in readings.items()}
    while True:
        told: dict[str, set] = {}
        for rs in live.values():
            if len(rs) == 1:
                told.setdefault(rs[0].uid, set()).add(rs[0].prefix)
        changed = False
        for rel, rs in live.items():
            if len(rs) < 2:
                continue
            keep = [x for x in rs if len(told.get(x.uid, ())) != 1 or x.prefix in told[x.uid]]
            if keep and len(keep) < len(rs):
                live[rel], changed = keep, True
        if not changed:
            return live


def _nbgrader_time(text: str) -> str | None:
    text = text.strip()
    parts = text.split(" ")
    if len(parts) == 3 and parts[2] in ("UTC", "GMT", "Z"):
        text = f"{parts[0]} {parts[1]}+00:00"
    elif len(parts) == 3:
        text = f"{parts[0]} {parts[1]}{parts[2]}"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.astimezone(timezone.utc).isoformat() if when.tzinfo else None   # no zone: never guessed


# --------------------------------------------------------------------------------------------- readings
@dataclass
class _Reading:
    layout: str
    base: tuple[str, ...]
    cands: dict = field(default_factory=dict)       # rel -> (student, notebook, order key)
    skips: dict = field(default_factory=dict)       # rel -> reason
    owner: dict = field(default_factory=dict)       # rel -> student, for ignored files that are a student's
    students: set = field(default_factory=set)
    submitted_at: dict = field(default_factory=dict)
    timestamp_problems: dict = field(default_factory=dict)   # student -> why their timestamp was not used
    late: set = field(default_factory=set)
    labels: dict = field(default_factory=dict)      # rel -> what orders it among copies ("file id 5001")

    @property
    def name(self) -> str:
        return self.layout if not self.base else f"{self.layout} inside {_shown(self.base)}/"

    def cmap(self) -> dict:
        return {rel: (s, nb) for rel, (s, nb, _) in self.cands.items()}

    def skip(self, f: _File, reason: str, student: str | None = None):
        self.skips[f.rel] = reason
        if student is not None:
            self.owner[f.rel] = student


def _id_table(names):
    """Folder name -> student id; names that collide after Unicode normalisation map to None."""
    by_id = {}
    for n in names:
        sid = _student_id(n)
        if sid is not None:
            by_id.setdefault(sid, []).append(n)
    table = {n: _student_id(n) for n in names}
    for sid, raw in by_id.items():
        if len(raw) > 1:
            for n in raw:
                table[n] = None
    return table, {n for raw in by_id.values() if len(raw) > 1 for n in raw}


def _folder_reason(name: str, clashes) -> str:
    if name in clashes:
        return f"the folder {name!r} and another folder name the same student (they differ only in Unicode form)"
    return f"the folder name {name!r} is not a usable student id (letters, digits, _ . - @ + only)"


def _read_folders(r: _Reading, entries, dirs, ctx):
    top = {p[0] for p, _ in entries if len(p) > 1} | {d[0] for d in dirs}
    ids, clashes = _id_table(top)
    for d in dirs:
        if len(d) == 1 and ids.get(d[0]) and not _MOODLE.match(d[0]):
            r.students.add(ids[d[0]])
    places = {}
    for p, f in entries:
        if len(p) == 1:
            r.skip(f, "at the top level, not inside a student's folder")
            continue
        if _MOODLE.match(p[0]) or (len(p) > 2 and _MOODLE.match(p[1])):
            r.skip(f, "inside a Moodle submission folder (the moodle layout reads it)")
            continue
        sid = ids.get(p[0])
        if sid is None:
            r.skip(f, _folder_reason(p[0], clashes))
            continue
        if len(p) > 3:
            r.skip(f, "more than one folder deep inside the student's folder", sid)
            continue
        hit = _release_match(p[-1], ctx["notebooks"])
        if hit is None:
            r.skip(f, _not_notebook(p[-1], ctx["notebooks"]), sid)
            continue
        r.cands[f.rel] = (sid, hit[0], _copy_key(hit[1], f.rel))
        places.setdefault(sid, set()).add(p[1] if len(p) == 3 else None)
    for sid, where in places.items():
        sub = sorted(w for w in where if w is not None)
        if len(sub) > 1:   # a folder of students' folders, not one student's folder
            for rel, (s, nb, _) in list(r.cands.items()):
                if s == sid:
                    del r.cands[rel]
                    r.skips[rel] = (f"the notebooks of {rel[len(r.base)]}/ sit in several of its subfolders "
                                    f"({', '.join(x + '/' for x in sub)}): not read as one student's folder")
                    r.owner[rel] = sid


def _read_nbgrader(r: _Reading, entries, dirs, ctx):
    assignment = ctx["assignment"]
    top = {p[0] for p, _ in entries if len(p) > 1} | {d[0] for d in dirs}
    ids, clashes = _id_table(top)
    for d in dirs:
        if len(d) == 2 and d[1] == assignment and ids.get(d[0]):
            r.students.add(ids[d[0]])
    for p, f in entries:
        if len(p) < 3 or p[1] != assignment:
            where = "at the top level" if len(p) == 1 else (
                f"outside the folder {p[0]}/{assignment}/" if len(p) == 2 else f"in another assignment's folder "
                                                                                 f"({p[1]}/)")
            r.skip(f, f"{where} (nbgrader layout: <student>/{assignment}/<notebook>)")
            continue
        sid = ids.get(p[0])
        if sid is None:
            r.skip(f, _folder_reason(p[0], clashes))
            continue
        if len(p) > 3:
            r.skip(f, f"in a subfolder of {p[0]}/{assignment}/", sid)
            continue
        if p[2] in _NBGRADER_FILES:
            if p[2] == "timestamp.txt":
                try:
                    when = _nbgrader_time(f.path.read_text(errors="replace")[:100]) if f.path else None
                except OSError:
                    when = None
                if when:
                    r.submitted_at[sid] = when
                else:
                    try:
                        shown = repr(f.path.read_text(errors="replace")[:40].strip()) if f.path else "?"
                    except OSError:
                        shown = "?"
                    r.timestamp_problems[sid] = (
                        f"{_shown(f.rel)} is not a date and time with a time zone ({shown}): the submission time "
                        "is unknown and the submission counts as on time -- check it")
                r.skip(f, "nbgrader's submission time" + (f" (read: {when})" if when else " (unreadable)"), sid)
            else:
                r.skip(f, "nbgrader's bookkeeping file", sid)
            continue
        hit = _release_match(p[2], ctx["notebooks"])
        if hit is None:
            r.skip(f, _not_notebook(p[2], ctx["notebooks"]), sid)
            continue
        r.cands[f.rel] = (sid, hit[0], _copy_key(hit[1], f.rel))


def _read_canvas(r: _Reading, entries, dirs, ctx):
    flat = []
    for p, f in entries:
        if len(p) > 1:
            r.skip(f, "inside a folder (a Canvas export is flat)")
        else:
            flat.append((p, f))
    live = _canvas_settle({f.rel: _canvas_readings(p[0]) for p, f in flat})
    for p, f in flat:
        readings = live[f.rel]
        if not readings:
            r.skip(f, "not named as a Canvas submission file (<name>[_LATE]_<user id>_<file id>_<file name>)")
            continue
        if len(readings) > 1:   # never guessed: the reason names every reading
            uids = {x.uid for x in readings}
            graded = any(x.orig and _release_match(x.orig, ctx["notebooks"]) for x in readings)
            r.skip(f, f"its Canvas name can be read in {len(readings)} ways (a Canvas name may hold _ and digits): "
                      + " or ".join(x.describe() for x in readings) + "; nothing tells which, so it is not "
                      + ("graded (rename it, and every file that starts the same way, so that one reading is left)"
                         if graded else "counted"),
                   uids.pop() if len(uids) == 1 else None)
            continue
        (x,) = readings
        if x.late:
            r.late.add(x.uid)
        if x.kind != "file":
            r.skip(f, f"a Canvas {'text entry' if x.kind == 'text' else 'link'}, not a notebook", x.uid)
            continue
        hit = _release_match(x.orig, ctx["notebooks"])
        if hit is None:
            r.skip(f, _not_notebook(x.orig, ctx["notebooks"]), x.uid)
            continue
        r.cands[f.rel] = (x.uid, hit[0], (x.fid, hit[1], f.rel))
        r.labels[f.rel] = f"file id {x.fid}"


def _read_moodle(r: _Reading, entries, dirs, ctx):
    for d in dirs:
        m = _MOODLE.match(d[0]) if len(d) == 1 else None
        if m and m["rest"] == "":
            r.students.add(m["pid"])
    for p, f in entries:
        m = _MOODLE.match(p[0])
        if m is None or (len(p) == 1) != (m["rest"] != ""):
            r.skip(f, "not named as a Moodle submission (<full name>_<id>_assignsubmission_file_...)")
            continue
        pid, name = m["pid"], (p[-1] if len(p) > 1 else m["rest"])
        if m["plugin"] != "file":
            r.skip(f, f"a Moodle '{m['plugin']}' submission, not a notebook", pid)
            continue
        hit = _release_match(name, ctx["notebooks"])
        if hit is None:
            r.skip(f, _not_notebook(name, ctx["notebooks"]), pid)
            continue
        r.cands[f.rel] = (pid, hit[0], _copy_key(hit[1], f.rel))


_READERS = {"folders": _read_folders, "nbgrader": _read_nbgrader, "canvas": _read_canvas, "moodle": _read_moodle}


def _read(layout, base, files, dirs, ctx) -> _Reading:
    r = _Reading(layout, base)
    n = len(base)
    entries = [(f.rel[n:], f) for f in files if f.junk is None and f.rel[:n] == base and len(f.rel) > n]
    for f in files:
        if f.junk is None and not (f.rel[:n] == base and len(f.rel) > n):
            r.skip(f, f"outside {_shown(base)}/")
    local_dirs = {d[n:] for d in dirs if d[:n] == base and len(d) > n}
    _READERS[layout](r, entries, local_dirs, ctx)
    return r


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
