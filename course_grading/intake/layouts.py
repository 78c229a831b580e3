"""Intake's readings: each layout's reading of the scanned files (see the package docstring for the layouts' rules).

A :class:`_Reading` lists, for each file, the student and release notebook it is a candidate for, or why that
layout ignores it; :func:`_read` makes one reading of one layout below one base folder.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .scan import _File, _shown

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


def canvas_readings(filename: str) -> list[_CanvasReading]:
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
    for raw in by_id.values():
        if len(raw) > 1:
            for n in raw:
                table[n] = None
    return table, {n for raw in by_id.values() if len(raw) > 1 for n in raw}


def _folder_reason(name: str, clashes) -> str:
    if name in clashes:
        return f"the folder {name!r} and another folder name the same student (they differ only in Unicode form)"
    return f"the folder name {name!r} is not a usable student id (letters, digits, _ . - @ + only)"


def _student(r: _Reading, f, folder: str, ids: dict, clashes) -> str | None:
    """The student id that ``folder`` names, or ``None`` when it names none (``f`` is then skipped with why)."""
    sid = ids.get(folder)
    if sid is None:
        r.skip(f, _folder_reason(folder, clashes))
    return sid


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
        sid = _student(r, f, p[0], ids, clashes)
        if sid is None:
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
            for rel, (s, _nb, _) in list(r.cands.items()):
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
        sid = _student(r, f, p[0], ids, clashes)
        if sid is None:
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
    live = _canvas_settle({f.rel: canvas_readings(p[0]) for p, f in flat})
    for _p, f in flat:
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
