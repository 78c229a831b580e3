"""nbgrader stays the record: the judge's verdicts become test-cell outputs that nbgrader itself scores.

:class:`Verdicts` replaces nbgrader's ``Execute`` preprocessor in ``nbgrader autograde``: no kernel starts, and each
autograded test cell gets an ``error`` output holding the judge's message when it failed, nothing when it passed.
nbgrader's own ``SaveAutoGrades`` then writes the scores per grade cell into the gradebook (so the formgrader, manual
grading, late penalties and ``nbgrader export`` work as usual), and ``generate_feedback`` (with
``ClearHiddenTests``) renders the feedback. Everything runs in this process, through nbgrader's Python API, in a
scratch course folder whose ``source/`` is a copy of ``solutions/<assignment>`` and whose gradebook is the course's.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

# (student, notebook id) -> {"tests": {grade_id: message or None}, "cells": {grade_id: reason}}; filled by the judge
VERDICTS: dict = {}


class Verdicts(NbGraderPreprocessor):
    """Writes the judge's verdicts as the outputs of the test cells (stands where ``Execute`` stood)."""

    def preprocess(self, nb, resources):
        info = resources.get("nbgrader", {})
        verdict = VERDICTS.get((info.get("student"), info.get("notebook")), {})
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


class Record:
    """A scratch nbgrader course for one assignment, recording into the course's gradebook."""

    def __init__(self, root: Path, assignment: str, scratch: Path, db_url: str | None = None):
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config import Config

        bin_dir = str(Path(sys.executable).parent)   # nbgrader runs `alembic` when it creates a gradebook
        if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
        self.assignment = assignment
        self.scratch = Path(scratch)
        base = course_config(root)
        config = Config()
        config.merge(base)
        self.db_url = db_url or base.CourseDirectory.get("db_url") or "sqlite:///" + str(Path(root) / "gradebook.db")
        config.CourseDirectory.root = str(self.scratch)
        config.CourseDirectory.source_directory = "source"
        config.CourseDirectory.release_directory = "release"
        config.CourseDirectory.db_url = self.db_url
        config.Autograde.autograde_preprocessors = [
            Verdicts,
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
        config.NbGraderAPI.log_level = "ERROR"
        config.Exchange.root = str(self.scratch / "exchange")   # not used; keeps nbgrader from probing a system path
        shutil.copytree(Path(root) / "solutions" / assignment, self.scratch / "source" / assignment,
                        dirs_exist_ok=True)
        coursedir = CourseDirectory(config=config)
        self.api = NbGraderAPI(coursedir=coursedir, config=config)
        result = self.api.generate_assignment(assignment, force=True, create=True)
        if not result.get("success"):
            raise RuntimeError("nbgrader generate_assignment failed:\n" + result.get("error", result.get("log", "")))

    def record(self, student: str, notebooks: dict, results: list, submitted_at: str | None = None) -> dict:
        """Autograde ``student`` from the judge's ``results`` (NotebookResult); ``notebooks``: name -> nb or None.

        Returns ``{"score", "max_score", "notebooks": {name: score}}`` as the gradebook has it afterwards.
        """
        folder = self.scratch / "submitted" / student / self.assignment
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for res in results:
            nb = notebooks.get(res.name)
            if nb is not None:
                nbformat.write(nb, folder / res.name)
            VERDICTS[(student, res.name[:-len(".ipynb")])] = {
                "tests": {v.grade_id: (None if v.passed else v.message) for v in res.verdicts},
                "cells": dict(res.cell_errors)}
        if submitted_at:
            (folder / "timestamp.txt").write_text(submitted_at)
        result = self.api.autograde(self.assignment, student, force=True, create=True)
        if not result.get("success"):
            raise RuntimeError("nbgrader autograde failed: " + (result.get("error") or result.get("log", ""))[-2000:])
        return self.scores(student)

    def scores(self, student: str) -> dict:
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url) as gb:
            sub = gb.find_submission(self.assignment, student)
            return {"score": float(sub.score), "max_score": float(sub.max_score),
                    "needs_manual_grade": bool(sub.needs_manual_grade),
                    "notebooks": {nb.name + ".ipynb": float(nb.score) for nb in sub.notebooks}}

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
