"""nbgrader stays the record: the judge's verdicts become test-cell outputs that nbgrader itself scores.

:class:`Verdicts` replaces nbgrader's ``Execute`` preprocessor in ``nbgrader autograde``: no kernel starts, and each
autograded test cell gets an ``error`` output holding the judge's message when it failed, nothing when it passed.
The verdicts reach it as nbgrader's configuration (``c.Verdicts.verdicts``, set by :meth:`Record.record` before each
autograde), the way every other preprocessor of nbgrader is given its settings.
nbgrader's own ``SaveAutoGrades`` then writes the scores per grade cell into the gradebook (so the formgrader, manual
grading, late penalties and ``nbgrader export`` work as usual), and ``generate_feedback`` (with
``ClearHiddenTests``) renders the feedback. What is stored and rendered from a submission is sanitised
(``feedback.SanitizeNotebook``, ``feedback.configure_exporter``): no student markup or script runs in the formgrader
or a feedback page. Everything runs in this process, through nbgrader's Python API, in a
scratch course folder whose ``source/`` is a copy of ``solutions/<assignment>`` and whose gradebook is the course's.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Dict

from .feedback import SanitizeNotebook, configure_exporter
from .results import Note, NoteKind, Scores


class Verdicts(NbGraderPreprocessor):
    """Writes the judge's verdicts as the outputs of the test cells (stands where ``Execute`` stood)."""

    verdicts = Dict(help="The judge's verdicts: student -> notebook id -> {'tests': {grade_id: message, or None "
                         "when it passed}, 'cells': {grade_id: why the student's cell raised}}. A test cell with no "
                         "verdict fails as 'not graded'.").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources.get("nbgrader", {})
        verdict = self.verdicts.get(info.get("student"), {}).get(info.get("notebook"), {})
        tests, cells = verdict.get("tests", {}), verdict.get("cells", {})
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cell.outputs, cell.execution_count = [], None
            meta = cell.metadata.get("nbgrader", {})
            gid = meta.get("grade_id")
            if meta.get("grade") and not meta.get("solution"):
                message = tests.get(gid, "not graded")
                if message is not None:
                    ename, _, evalue = message.partition(": ") if ": " in message[:60] else ("Failed", "", message)
                    cell.outputs = [nbformat.v4.new_output("error", ename=ename, evalue=evalue or message,
                                                           traceback=[message])]
            elif gid in cells:
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{cells[gid]}\n")]
        return nb, resources


def course_config(root: Path):
    """The course's ``nbgrader_config.py`` as a traitlets Config."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


def stamp_new_gradebook(db_url: str) -> None:
    """Give a gradebook that does not exist yet its alembic revision, in this process.

    nbgrader stamps a new gradebook by running the ``alembic`` program found on ``PATH`` (``alembic heads``), which
    fails where the environment's ``bin`` is not on ``PATH`` (a cron job, an IDE). The revision is read here from
    nbgrader's own migration scripts instead; nbgrader then finds a database that exists and creates its tables
    without running anything. Nothing is done to a database that has tables.
    """
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(db_url)
    try:
        if inspect(engine).get_table_names():
            return
        head = ScriptDirectory(ALEMBIC_DIR).get_current_head()
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": head})
    finally:
        engine.dispose()


class Record:
    """A scratch nbgrader course for one assignment, recording into the course's gradebook."""

    def __init__(self, root: Path, assignment: str, scratch: Path, db_url: str | None = None):
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config import Config

        self.assignment = assignment
        self.scratch = Path(scratch)
        base = course_config(root)
        config = Config()
        config.merge(base)
        self.db_url = db_url or base.CourseDirectory.get("db_url") or "sqlite:///" + str(Path(root) / "gradebook.db")
        config.CourseDirectory.root = str(self.scratch)
        config.CourseDirectory.source_directory = "source"
        config.CourseDirectory.release_directory = "release"
        config.CourseDirectory.autograded_directory = "autograded"
        config.CourseDirectory.db_url = self.db_url
        stamp_new_gradebook(self.db_url)
        config.Autograde.autograde_preprocessors = [
            Verdicts,
            SanitizeNotebook,        # the stored copy (the formgrader reads it) carries no active output
            "nbgrader.preprocessors.IgnorePattern",
            "nbconvert.preprocessors.ClearMetadataPreprocessor",
            "nbgrader.preprocessors.LimitOutput",
            "nbgrader.preprocessors.SaveAutoGrades",
            "nbgrader.preprocessors.AssignLatePenalties",
            "nbgrader.preprocessors.CheckCellMetadata",
        ]
        config.GenerateFeedback.preprocessors = [
            "nbgrader.preprocessors.GetGrades",
            "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
            "nbgrader.preprocessors.ClearHiddenTests",
        ]
        configure_exporter(config)   # feedback pages: the student's notebook sanitised (see feedback.py)
        config.NbGraderAPI.log_level = "ERROR"
        config.Exchange.root = str(self.scratch / "exchange")   # not used; keeps nbgrader from probing a system path
        shutil.copytree(Path(root) / "solutions" / assignment, self.scratch / "source" / assignment,
                        dirs_exist_ok=True)
        coursedir = CourseDirectory(config=config)
        self.api = NbGraderAPI(coursedir=coursedir, config=config)
        result = self.api.generate_assignment(assignment, force=True, create=True)
        if not result.get("success"):
            raise RuntimeError("nbgrader generate_assignment failed:\n" + result.get("error", result.get("log", "")))

    def set_due(self, due: str | None = None, extensions: dict | None = None) -> None:
        """Write the assignment's due date (ISO text; ``None`` keeps the gradebook's) and per-student extensions
        (student -> hours) into the gradebook, where nbgrader's ``AssignLatePenalties`` reads them."""
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url) as gb:
            if due:
                from nbgrader.utils import parse_utc

                gb.update_or_create_assignment(self.assignment, duedate=parse_utc(due))
            for student, hours in (extensions or {}).items():
                gb.update_or_create_student(student)
                gb.update_or_create_submission(self.assignment, student)
                gb.grant_extension(self.assignment, student, hours=hours)

    def students(self) -> list[str]:
        """The students with a submission of this assignment in the gradebook."""
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(self.db_url) as gb:
            try:
                return sorted(sub.student_id for sub in gb.find_assignment(self.assignment).submissions)
            except MissingEntry:
                return []

    def due_date(self):
        """The assignment's due date in the gradebook (naive UTC, as nbgrader stores it), or ``None``."""
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(self.db_url) as gb:
            try:
                return gb.find_assignment(self.assignment).duedate
            except MissingEntry:
                return None

    def remove(self, students: list) -> list[str]:
        """Remove these students' submissions of this assignment from the gradebook (their manual grades and
        comments go with them); returns the ids removed. Only ``python -m course_grading remove`` calls this: a
        grading run never removes anyone."""
        from nbgrader.api import Gradebook

        present = set(self.students())
        removed = []
        for student in students:
            if student in present:
                with Gradebook(self.db_url) as gb:
                    gb.remove_submission(self.assignment, student)
                    _store_fingerprints(gb, self.assignment, student, {})
                removed.append(student)
        return removed

    def unchanged(self, student: str, files: dict, run_key: str) -> bool:
        """Whether ``student`` was graded from exactly these files (name -> digest of the file) with the same tests
        and secret (``run_key``), and is still in the gradebook."""
        from nbgrader.api import Gradebook

        if student not in self.students():
            return False
        with Gradebook(self.db_url) as gb:
            stored = _fingerprints(gb, self.assignment, student)
        wanted = {f"file:{name}": digest for name, digest in files.items()}
        wanted["run:"] = run_key
        return all(stored.get(k) == v for k, v in wanted.items()) and \
            {k for k in stored if k.startswith("file:")} == {k for k in wanted if k.startswith("file:")}

    def remember(self, student: str, files: dict, run_key: str) -> None:
        """Store what ``student`` was graded from (see :meth:`unchanged`), next to the cells' digests."""
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url) as gb:
            stored = {k: v for k, v in _fingerprints(gb, self.assignment, student).items()
                      if not k.startswith(("file:", "run:"))}
            stored.update({f"file:{name}": digest for name, digest in files.items()})
            stored["run:"] = run_key
            _store_fingerprints(gb, self.assignment, student, stored)

    def instructor_work(self, student: str) -> list:
        """The grades and comments an instructor set for ``student`` in the formgrader (names)."""
        return self._prior(student)[1]

    def work_digest(self, student: str) -> str:
        """A digest of the scores and comments an instructor set for ``student`` ("" when none): a feedback page
        rendered under another digest is out of date."""
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(self.db_url) as gb:
            try:
                sub = gb.find_submission(self.assignment, student)
            except MissingEntry:
                return ""
            work = sorted([(nb.name, g.name, "score", repr(float(g.manual_score))) for nb in sub.notebooks
                           for g in nb.grades if g.manual_score is not None]
                          + [(nb.name, c.name, "comment", c.manual_comment) for nb in sub.notebooks
                             for c in nb.comments if c.manual_comment])
        return hashlib.sha256(json.dumps(work).encode()).hexdigest() if work else ""

    def feedback_again(self, student: str, autograded: Path, dest: Path) -> list:
        """Render ``student``'s feedback pages into ``dest`` again, from the autograded notebooks kept in
        ``autograded/<student>/<assignment>/`` (see :meth:`keep_autograded`) and the gradebook as it is now (an
        instructor's scores and comments given since the student was graded); returns the files written."""
        src = Path(autograded) / student / self.assignment
        if not src.is_dir():
            raise FileNotFoundError(f"no autograded notebooks of {student} in {src.parent}")
        target = self.scratch / "autograded" / student / self.assignment
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(src, target)
        return self.feedback(student, dest)

    def _prior(self, student: str) -> tuple:
        """(fingerprints of the last graded submission, grade/comment names an instructor set) before this run."""
        from nbgrader.api import Gradebook, MissingEntry

        touched = []
        with Gradebook(self.db_url) as gb:
            try:
                sub = gb.find_submission(self.assignment, student)
            except MissingEntry:
                return {}, []
            for nb in sub.notebooks:
                touched += [f"{nb.name}: {g.name}" for g in nb.grades if g.manual_score is not None]
                touched += [f"{nb.name}: comment on {c.name}" for c in nb.comments if c.manual_comment]
            prints = {k: v for k, v in _fingerprints(gb, self.assignment, student).items()
                      if not k.startswith(("file:", "run:"))}
            return prints, touched

    def record(self, student: str, notebooks: dict, results: list, submitted_at: str | None = None) -> Scores:
        """Autograde ``student`` from the judge's ``results`` (NotebookResult); ``notebooks``: name -> nb or None.

        nbgrader's autograde keeps what an instructor did in the formgrader (``Grade.manual_score``,
        ``Comment.manual_comment``); when the submission changed since it was last graded and such work exists,
        the returned ``notes`` say so (the work is kept, for the instructor to review).

        Returns the :class:`~course_grading.results.Scores` the gradebook has afterwards.
        """
        before, touched = self._prior(student)
        now = {name: _digest(nb) for name, nb in notebooks.items()}
        folder = self.scratch / "submitted" / student / self.assignment
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        verdicts = {}
        for res in results:
            nb = notebooks.get(res.name)
            release = nbformat.read(self.scratch / "release" / self.assignment / res.name, as_version=4)
            if nb is None:   # missing or unreadable: nbgrader records the blank release, so the student has a row
                nb = release
            else:
                nb, restored = restore_cells(nb, release)
                res.notes.extend(Note(NoteKind.RESTORED, text) for text in restored)
            nbformat.write(nb, folder / res.name)
            verdicts[res.name[:-len(".ipynb")]] = {
                "tests": {v.grade_id: (None if v.passed else v.message) for v in res.verdicts},
                "cells": dict(res.cell_errors)}
        if submitted_at:
            (folder / "timestamp.txt").write_text(submitted_at)
        self.api.config.Verdicts.verdicts = {student: verdicts}   # the Autograde app made next reads it
        result = self.api.autograde(self.assignment, student, force=True, create=True)
        if not result.get("success"):
            raise RuntimeError("nbgrader autograde failed: " + (result.get("error") or result.get("log", ""))[-2000:])
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url) as gb:
            kept = {k: v for k, v in _fingerprints(gb, self.assignment, student).items()
                    if k.startswith(("file:", "run:"))}
            _store_fingerprints(gb, self.assignment, student, {**now, **kept})
        out = self.scores(student)
        changed = sorted(name for name in now if before and before.get(name) != now[name])
        if touched:
            work = "; ".join(touched)
            out.notes.append(f"kept the instructor's formgrader work ({work})" + (
                f"; the submission changed after it ({', '.join(changed)}): review it" if changed else ""))
            out.changed_after_instructor = bool(changed)
        return out

    def keep_autograded(self, student: str, dest: Path) -> Path:
        """Copy ``student``'s autograded notebooks to ``dest/<student>/<assignment>/``, where the formgrader reads
        them (the course's ``c.CourseDirectory.autograded_directory``): written answers show there, with the
        student's text, as "needs manual grade"."""
        src = self.scratch / "autograded" / student / self.assignment
        target = Path(dest) / student / self.assignment
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(src, target)
        return target

    def scores(self, student: str) -> Scores:
        """``student``'s submission as the gradebook has it now."""
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url) as gb:
            sub = gb.find_submission(self.assignment, student)
            pending = [(nb.name, g.name, float(g.max_score)) for nb in sub.notebooks for g in nb.grades
                       if g.manual_score is None and g.auto_score is None]
            return Scores(score=float(sub.score) - float(sub.late_submission_penalty),
                          raw_score=float(sub.score), max_score=float(sub.max_score),
                          needs_manual_grade=bool(sub.needs_manual_grade),
                          pending=[f"{nb}.ipynb: {gid} ({pts:g} point{'s' if pts != 1 else ''})"
                                   for nb, gid, pts in pending],
                          seconds_late=float(sub.total_seconds_late),
                          penalty=float(sub.late_submission_penalty),
                          extension_hours=(sub.extension.total_seconds() / 3600 if sub.extension else 0.0),
                          notebooks={nb.name + ".ipynb": float(nb.score) for nb in sub.notebooks})

    def feedback(self, student: str, dest: Path) -> list:
        """Render ``student``'s feedback pages into ``dest``; returns the files written."""
        result = self.api.generate_feedback(self.assignment, student, force=True)
        if not result.get("success"):
            raise RuntimeError("nbgrader generate_feedback failed: " + (result.get("error") or "")[-2000:])
        src = self.scratch / "feedback" / student / self.assignment
        dest.mkdir(parents=True, exist_ok=True)
        written = []
        for page in sorted(src.glob("*.html")):
            shutil.copyfile(page, dest / page.name)
            written.append(dest / page.name)
        return written


def restore_cells(nb, release) -> tuple:
    """``nb`` with every graded or locked cell of ``release`` that the student deleted put back (after the cell it
    follows in the release), as nbgrader's checksums would have it; returns ``(notebook, notes)``. Test cells the
    student edited are replaced by nbgrader itself from the gradebook."""
    import copy

    present = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.cells}
    present.discard(None)
    nb = copy.deepcopy(nb)
    notes = []
    previous = None
    for cell in release.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid and gid not in present and (meta.get("grade") or meta.get("locked")):
            at = next((i + 1 for i, c in enumerate(nb.cells)
                       if previous and c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == previous),
                      len(nb.cells))
            nb.cells.insert(at, copy.deepcopy(cell))
            present.add(gid)
            notes.append(f"restored the deleted cell {gid} from the release")
        if gid:
            previous = gid
    return nb, notes


# What was graded, per notebook, kept next to nbgrader's tables in the same gradebook: a re-grade compares it to
# tell an instructor that a submission changed after their formgrader work (which nbgrader keeps either way).
_TABLE = "course_grading_graded"


def _digest(nb) -> str:
    """A digest of what the student wrote: every cell's type and source (outputs and metadata left out)."""
    import hashlib

    if nb is None:
        return "missing"
    h = hashlib.sha256()
    for cell in nb.cells:
        source = cell.get("source", "")
        h.update(f"{cell.get('cell_type')}\0{''.join(source) if isinstance(source, list) else source}\0".encode())
    return h.hexdigest()


def _ensure_table(gb) -> None:
    from sqlalchemy import text

    gb.db.execute(text(f"CREATE TABLE IF NOT EXISTS {_TABLE} (assignment VARCHAR(128) NOT NULL, "
                       "student VARCHAR(128) NOT NULL, notebook VARCHAR(128) NOT NULL, digest VARCHAR(64) NOT NULL, "
                       "PRIMARY KEY (assignment, student, notebook))"))


def _fingerprints(gb, assignment: str, student: str) -> dict:
    from sqlalchemy import text

    _ensure_table(gb)
    rows = gb.db.execute(text(f"SELECT notebook, digest FROM {_TABLE} WHERE assignment = :a AND student = :s"),
                         {"a": assignment, "s": student})
    return {notebook: digest for notebook, digest in rows}


def _store_fingerprints(gb, assignment: str, student: str, digests: dict) -> None:
    from sqlalchemy import text

    _ensure_table(gb)
    gb.db.execute(text(f"DELETE FROM {_TABLE} WHERE assignment = :a AND student = :s"),
                  {"a": assignment, "s": student})
    for notebook, digest in digests.items():
        gb.db.execute(text(f"INSERT INTO {_TABLE} (assignment, student, notebook, digest) VALUES (:a, :s, :n, :d)"),
                      {"a": assignment, "s": student, "n": notebook, "d": digest})
    gb.db.commit()
