"""nbgrader configuration of the course (read when nbgrader runs from this folder)."""

import os
import warnings

from sqlalchemy.exc import SAWarning

warnings.filterwarnings("ignore", category=SAWarning)

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

_here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = _here
c.CourseDirectory.course_id = "optimizers-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_here, "gradebook.db")

# `python -m course_grading grade` leaves the autograded notebooks here (under its default --out), so that the
# formgrader shows written answers, with the students' text, for manual grading.
c.CourseDirectory.autograded_directory = "grades/autograded"

# Each cell of a student notebook gets at most this many seconds when autograded.
c.Execute.timeout = 60
# The feedback students receive must never reveal the hidden tests.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "nbgrader.preprocessors.ClearHiddenTests",
]
# Pages built from students' notebooks (the formgrader's submission page, feedback) run nothing a student wrote:
# their outputs of active types, raw cells and widget state are dropped, and markdown is rendered, then cleaned by
# bleach (course_grading/feedback.py says what is kept). nbgrader's templates skip nbconvert's own cleaning of
# markdown cells, hence the filter. Named by import path: if the course package cannot be imported, rendering
# fails instead of showing a page unsanitised.
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.exclude_raw = True
c.HTMLExporter.preprocessors = ["course_grading.feedback.SanitizeNotebook"]
c.HTMLExporter.filters = {"markdown2html": "course_grading.feedback.markdown2html"}
# Release notebooks keep no outputs and no hidden tests.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
