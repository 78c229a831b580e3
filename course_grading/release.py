"""Deliver the feedback of a graded assignment to the students: ``python -m course_grading release ASSIGNMENT``.

Reads what ``grade`` left in ``<out>/<assignment>/`` (``feedback/<student>/<notebook>.html``, ``records.jsonl``,
``class.json``) and delivers each student's pages in one of two ways.

Through nbgrader's exchange, when the course's ``nbgrader_config.py`` sets ``c.Exchange.root``. nbgrader 0.9.6's
``release_feedback`` (``ExchangeReleaseFeedback``) takes ``<feedback_directory>/<student>/<assignment>/*.html`` and
copies each page to ``<exchange root>/<course id>/feedback/<md5(secret + notebook id)>.html``, where the secret is
the ``submission_secret.txt`` that ``nbgrader submit`` wrote beside the submission (``nbgrader collect`` copies it,
with ``timestamp.txt``, into ``submitted/<student>/<assignment>/``). ``fetch_feedback``, run by the student, finds
the page by the same hash from the copy of the secret in the student's own cache. So this module lays the grader's
pages out in a scratch course folder as ``generate_feedback`` would (pages, ``timestamp.txt``,
``submission_secret.txt`` from the collected submission) and runs nbgrader's own ``ReleaseFeedback`` through
``NbGraderAPI.release_feedback``. A student without a ``submission_secret.txt`` (not submitted through the
exchange) cannot be found by ``fetch_feedback``; they are listed, with the reason, and get nothing there.

Otherwise (or with ``--bundle``): ``<out>/<assignment>/release/<student>.zip`` per student, holding exactly that
student's pages and a ``grades.txt`` (their total, status and reasons), to hand out through any channel; and, for a
class graded from Canvas's "Download Submissions" zip, ``canvas-feedback.zip`` for Canvas's "Re-Upload
Submissions" (the assignment page's bulk upload of feedback files as submission comments). Canvas's code
(``AbstractAssignment#generate_comments_from_files`` and ``#infer_comment_context_from_filename`` in
``app/models/abstract_assignment.rb``) routes each file of that zip by its base name: split at ``_``, ``LATE``
dropped, the first two all-digit pieces are the user id and an attachment id (``anon_<id>_<attachment id>`` under
anonymous grading), and the attachment must be one of that student's files in this submission; anything else is
ignored. Every routed file of a student becomes one comment ("See attached file(s)"), and Canvas names each
attached file after the submission file whose id it carried. So the bundle names each page
``<user id>_<attachment id>_<notebook>.html``, with the id of the notebook file the student submitted (read from
the same Canvas zip, ``--submissions``), or of another of the student's graded files for a notebook they did not
hand in. What this module cannot confirm without a Canvas instance is said in instructors.md.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+\-]*")   # a student id usable as a file name


@dataclass
class Released:
    """What a release did: ``delivered`` student -> files (exchange paths or the archive), ``skipped`` student ->
    why, ``bundle`` the LMS bundle (or ``None``), ``how`` "exchange" or "bundle"."""
    how: str
    delivered: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    bundle: Path | None = None
    notes: list = field(default_factory=list)


def exchange_root(root: Path) -> str | None:
    """``c.Exchange.root`` of the course's ``nbgrader_config.py``, or ``None`` when it sets none."""
    from .gradebook import course_config

    value = course_config(Path(root)).get("Exchange", {}).get("root")
    return str(value) if value else None


def _class(out_a: Path, assignment: str) -> tuple:
    """(notebook file names, layout, {student: grade-table row as its columns}) of a graded assignment."""
    from .report import read_class

    graded = read_class(out_a, assignment)
    if graded is None:
        raise ValueError(f"release: {out_a} holds no graded class (no class.json / records.jsonl); run "
                         f"`python -m course_grading grade {assignment} SUBMISSIONS` first (with the same --out)")
    info, records = graded
    return list(info.notebooks), info.layout, {r.student: r.row.cells() for r in records}


def _pages(out_a: Path, student: str, notebooks: list) -> tuple:
    """``(pages, why)``: the student's feedback pages (plain files named after the assignment's notebooks, in their
    own folder only), or ``([], reason)``."""
    if not SAFE_ID.fullmatch(student):
        return [], f"student id {student!r} cannot name a file"
    folder = out_a / "feedback" / student
    if not folder.is_dir() or folder.is_symlink():
        return [], f"no feedback pages in {folder} (graded with feedback pages off, or the grade failed)"
    wanted = {Path(n).stem + ".html" for n in notebooks}
    pages = sorted(p for p in folder.iterdir() if p.name in wanted and p.is_file() and not p.is_symlink())
    return (pages, None) if pages else ([], f"no feedback pages in {folder}")


def grades_text(assignment: str, row: dict) -> str:
    """The ``grades.txt`` of a student's archive: their row's total, status and reasons."""
    def num(v):
        try:
            return f"{float(v):g}"
        except (TypeError, ValueError):
            return str(v or "?")
    lines = [f"assignment: {assignment}", f"student: {row.get('student_id', '')}",
             f"total: {num(row.get('total'))} / {num(row.get('max_score'))}", f"status: {row.get('status', '')}"]
    if row.get("late") == "yes":
        lines.append(f"late: yes (penalty {num(row.get('late_penalty') or 0)})")
    reasons = [r for r in (row.get("reasons") or "").split(" | ") if r]
    lines.append("reasons:" if reasons else "reasons: none")
    lines += [f"  - {r}" for r in reasons]
    return "\n".join(lines) + "\n"


def _zip(path: Path, members: list) -> None:
    """Write ``path`` from ``[(name in the zip, bytes)]`` atomically."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    tmp.replace(path)


# --------------------------------------------------------------------------------------------- the exchange
def release_exchange(root: Path, assignment: str, out_a: Path, notebooks: list, rows: dict, submissions: Path,
                     exchange: str, log=print) -> Released:
    """Release every student's pages through nbgrader's exchange (see the module docstring)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import notebook_hash
    from traitlets.config import Config

    from .gradebook import course_config

    done = Released("exchange")
    base = course_config(Path(root))
    course_id = base.get("CourseDirectory", {}).get("course_id")
    if not course_id:
        raise ValueError("release: the course's nbgrader_config.py sets no c.CourseDirectory.course_id; nbgrader's "
                         "exchange files feedback under it")
    if not Path(exchange).is_dir():
        raise ValueError(f"release: the exchange root {exchange} (c.Exchange.root) does not exist")
    scratch = Path(tempfile.mkdtemp(prefix=f"release-{assignment}-"))
    try:
        staged = {}
        for student in sorted(rows):
            pages, why = _pages(out_a, student, notebooks)
            src = Path(submissions) / student / assignment
            if why is None and not (src / "submission_secret.txt").is_file():
                why = (f"no submission_secret.txt in {src}: fetch_feedback finds feedback by the secret that "
                       "`nbgrader submit` writes, so a submission that did not come through the exchange cannot "
                       "be found there (hand out the archive: release --bundle)")
            elif why is None and not (src / "timestamp.txt").is_file():
                why = f"no timestamp.txt in {src}"
            if why:
                done.skipped[student] = why
                continue
            folder = scratch / "feedback" / student / assignment
            folder.mkdir(parents=True)
            for page in pages:
                shutil.copyfile(page, folder / page.name)
            for name in ("timestamp.txt", "submission_secret.txt"):
                shutil.copyfile(src / name, folder / name)
            staged[student] = (pages, (src / "submission_secret.txt").read_text())
        if staged:
            config = Config()
            config.merge(base)
            config.CourseDirectory.root = str(scratch)
            config.CourseDirectory.feedback_directory = "feedback"
            config.CourseDirectory.db_url = "sqlite:///" + str(scratch / "unused.db")
            config.Exchange.root = str(exchange)
            config.NbGraderAPI.log_level = "ERROR"
            api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
            with warnings.catch_warnings():   # nbgrader 0.9.6 passes its authenticator as "authentictor"
                warnings.simplefilter("ignore", DeprecationWarning)
                result = api.release_feedback(assignment)
            if not result.get("success"):
                raise RuntimeError("nbgrader release_feedback failed: "
                                   + (result.get("error") or result.get("log") or "")[-2000:])
        outbound = Path(exchange) / course_id / "feedback"
        for student, (pages, secret) in staged.items():
            files = [outbound / f"{notebook_hash(secret=secret, notebook_id=p.stem)}.html" for p in pages]
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                done.skipped[student] = f"nbgrader's release_feedback did not write {', '.join(missing)}"
            else:
                done.delivered[student] = files
        return done
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --------------------------------------------------------------------------------------------- archives and LMS
def canvas_attachments(submissions: Path, assignment: str, notebooks: list) -> dict:
    """{Canvas user id: {notebook file name: attachment id}} of the graded files of a Canvas "Download
    Submissions" zip (or its unpacked folder), read by the grader's own intake."""
    from . import intake
    from .intake.layouts import canvas_readings

    scratch = Path(tempfile.mkdtemp(prefix="release-canvas-"))
    try:
        taken = intake.read_submissions(Path(submissions), assignment, notebooks, scratch=scratch, layout="canvas")
        out = {}
        for sid, sub in taken.students.items():
            for name, path in sub.notebooks.items():
                ids = {x.fid for x in canvas_readings(Path(path).name) if x.uid == sid and x.fid is not None}
                if len(ids) == 1:
                    out.setdefault(sid, {})[name] = ids.pop()
        return out
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def release_bundle(assignment: str, out_a: Path, notebooks: list, layout: str | None, rows: dict,
                   submissions: Path | None = None, log=print) -> Released:
    """``release/<student>.zip`` per student, and ``release/canvas-feedback.zip`` for a Canvas class when
    ``submissions`` (the Canvas zip the class was graded from) tells the attachment ids."""
    done = Released("bundle")
    dest = out_a / "release"
    dest.mkdir(parents=True, exist_ok=True)
    canvas = None
    if layout == "canvas":
        if submissions is None:
            done.notes.append("no Canvas bundle: pass --submissions with the Canvas \"Download Submissions\" zip the "
                              "class was graded from (its file names carry the attachment ids Canvas routes by)")
        else:
            canvas = canvas_attachments(submissions, assignment, notebooks)
    bundle = []
    for student in sorted(rows):
        pages, why = _pages(out_a, student, notebooks)
        if why:
            done.skipped[student] = why
            continue
        archive = dest / f"{student}.zip"
        _zip(archive, [(p.name, p.read_bytes()) for p in pages]
             + [("grades.txt", grades_text(assignment, rows[student]).encode("utf-8"))])
        done.delivered[student] = [archive]
        if canvas is None:
            continue
        ids = canvas.get(student, {})
        if not ids:
            done.notes.append(f"{student}: not in the Canvas bundle (no graded file of theirs in {submissions} "
                              "carries an attachment id)")
            continue
        any_id = ids[sorted(ids)[0]]
        for page in pages:
            fid = ids.get(page.stem + ".ipynb", any_id)
            bundle.append((f"{student}_{fid}_{page.name}", page.read_bytes()))
    if canvas is not None:
        done.bundle = dest / "canvas-feedback.zip"
        _zip(done.bundle, bundle)
    return done


def release(root: Path, assignment: str, *, out: Path | None = None, bundle: bool = False,
            submissions: Path | None = None, exchange: str | None = None, log=print) -> Released:
    """Deliver the feedback of ``assignment`` graded into ``out`` (default ``grades/`` in the course). Through
    nbgrader's exchange when the course sets one (``exchange`` overrides the course's ``c.Exchange.root``) and not
    ``bundle``; else per-student archives (and a Canvas bundle). ``submissions``: for the exchange, the collected
    ``submitted/`` folder (default: the course's); for Canvas, the "Download Submissions" zip."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", assignment or ""):
        raise ValueError(f"assignment: {assignment!r} is not an assignment name")
    out_a = Path(out or Path(root) / "grades") / assignment
    notebooks, layout, rows = _class(out_a, assignment)
    if submissions is not None and not Path(submissions).exists():
        raise ValueError(f"--submissions: {submissions} does not exist")
    exchange = exchange or (None if bundle else exchange_root(root))
    if exchange and not bundle:
        if submissions is None:
            from .gradebook import course_config

            sub_dir = course_config(Path(root)).get("CourseDirectory", {}).get("submitted_directory") or "submitted"
            submissions = Path(root) / sub_dir
        done = release_exchange(root, assignment, out_a, notebooks, rows, submissions, exchange, log)
        where = f"nbgrader's exchange ({exchange}); students run `nbgrader fetch_feedback {assignment}`"
    else:
        done = release_bundle(assignment, out_a, notebooks, layout, rows, submissions, log)
        where = f"{out_a / 'release'}/<student>.zip"
    for student, why in sorted(done.skipped.items()):
        log(f"not released: {student}: {why}")
    for note in done.notes:
        log(note)
    log(f"{assignment}: feedback of {len(done.delivered)} of {len(rows)} students released to {where}"
        + (f"; Canvas bundle: {done.bundle} (upload it with \"Re-Upload Submissions\" on the assignment page)"
           if done.bundle else ""))
    return done
