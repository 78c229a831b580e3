"""What grading produces, as types: a student's status, the notes on a notebook, the grade-table row and the record.

:class:`Status` is the ``status`` column of grades.csv; :class:`Note` is one note on a judged notebook (a policy
violation, a stopped worker...), whose :class:`NoteKind` the grader reads instead of the words. A :class:`Row` is one
line of grades.csv and a :class:`StudentRecord` one line of records.jsonl (the row and every test cell's
:class:`CellVerdict`); :class:`Scores` is what nbgrader's gradebook holds for a student after autograde. The JSON
forms (:meth:`StudentRecord.to_json`, :meth:`StudentRecord.from_json`) are the files' formats, unchanged: a
records.jsonl written before these types reads back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import Enum, StrEnum


class Status(StrEnum):
    """A student's status in grades.csv (the value is the column's text)."""

    GRADED = "graded"
    PENDING = "pending manual grading"      # a written answer waits for the instructor
    NEEDS_REVIEW = "needs review"           # the submission changed after the instructor's formgrader work
    FLAGGED = "flagged"                     # the course's rule found a use of reference_impl or torch.optim
    UNREADABLE = "unreadable"               # a notebook that is not a readable notebook
    FAILED = "failed"                       # the grader itself failed on this student (no grade)

    @property
    def final(self) -> bool:
        """Whether the grade may go to Canvas as it is (see ``report.write_canvas_csv``)."""
        return self not in (Status.PENDING, Status.NEEDS_REVIEW, Status.FAILED)


class NoteKind(Enum):
    POLICY_VIOLATION = "policy violation"   # from course_grading.rules: the notebook scores 0 and is flagged
    NO_NOTEBOOK = "no notebook"             # nothing was submitted under this name
    UNREADABLE = "unreadable"               # the file is not a readable notebook
    STOPPED = "stopped"                     # the worker was stopped (a limit, a crash)
    CELL_ERROR = "cell error"               # one of the student's cells raised
    RESTORED = "restored"                   # a graded cell the student deleted was put back from the release
    GRADEBOOK = "gradebook"                 # what nbgrader's record says (the instructor's work kept...)


@dataclass(frozen=True)
class Note:
    """One note on a judged notebook: its kind, and the words the instructor and the student read."""

    kind: NoteKind
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass
class Scores:
    """A student's submission as the gradebook has it after autograde (``gradebook.Record.scores``)."""

    score: float                 # after the late penalty
    raw_score: float
    max_score: float
    needs_manual_grade: bool
    pending: list                # "<notebook>.ipynb: <grade id> (N points)" for each grade still without a score
    seconds_late: float
    penalty: float
    extension_hours: float
    notebooks: dict              # notebook file name -> score
    notes: list = field(default_factory=list)    # the instructor's formgrader work, kept (text)
    changed_after_instructor: bool = False


@dataclass
class CellVerdict:
    """One test cell's verdict as records.jsonl keeps it."""

    notebook: str
    grade_id: str
    points: float
    passed: bool
    message: str = ""            # what the student was told (empty when it passed)
    diagnosis: str = ""          # the catalogued mistake the failure matched, or ""

    @classmethod
    def of(cls, notebook: str, verdict) -> "CellVerdict":
        """From the judge's ``Verdict`` of a cell of ``notebook``."""
        return cls(notebook, verdict.grade_id, verdict.points, verdict.passed,
                   "" if verdict.passed else verdict.message,
                   "" if verdict.passed else getattr(verdict, "diagnosis", ""))


REASONS = " | "   # how the reasons are joined in the grade table


@dataclass
class Row:
    """One line of grades.csv. A value the grader does not know (a student it failed on has no late penalty) is
    ``""``, an empty cell."""

    student_id: str
    scores: dict = field(default_factory=dict)   # notebook file name -> score
    total: float | str = ""
    max_score: float | str = ""
    late: str = ""                # "yes" or ""
    submitted_at: str = ""
    seconds_late: float | str = ""
    late_penalty: float | str = ""
    sandbox: str = ""             # "bwrap" or "unsandboxed"
    hidden_inputs: str = ""
    graded_in: str = ""           # "this run", "earlier run (unchanged since)", ...
    status: Status = Status.GRADED
    reasons: list = field(default_factory=list)
    name: str = ""                # for Canvas's Student column, when known
    section: str = ""

    COLUMNS = ("total", "max_score", "late", "submitted_at", "seconds_late", "late_penalty", "sandbox",
               "hidden_inputs", "graded_in", "status", "reasons")   # after the notebooks' scores

    def __post_init__(self):
        self.status = Status(self.status)   # also from its text: Row(status="graded")

    def cells(self) -> dict:
        """The row as grades.csv's columns (``student_id``, each notebook's score, :attr:`COLUMNS`)."""
        out = {"student_id": self.student_id, **self.scores}
        out.update({name: getattr(self, name) for name in self.COLUMNS})
        out["status"] = str(self.status)
        out["reasons"] = REASONS.join(self.reasons)
        return out

    def to_json(self) -> dict:
        out = self.cells()
        out.update({k: getattr(self, k) for k in ("name", "section") if getattr(self, k)})
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Row":
        known = {f.name for f in fields(cls)} - {"scores", "reasons", "status"}
        row = cls(**{k: v for k, v in data.items() if k in known})
        row.scores = {k: v for k, v in data.items() if k.endswith(".ipynb")}
        row.reasons = [r for r in (data.get("reasons") or "").split(REASONS) if r]
        row.status = Status(data.get("status") or Status.GRADED)
        return row

    def but(self, **changes) -> "Row":
        """A copy with ``changes``."""
        return replace(self, **changes)


@dataclass
class StudentRecord:
    """One line of records.jsonl: the student's row and every test cell's verdict."""

    student: str
    row: Row
    verdicts: list = field(default_factory=list)   # CellVerdict, in notebook order
    feedback_work: str = ""      # digest of the instructor's scores and comments the feedback page shows ("" none)

    def to_json(self) -> dict:
        data = {"student": self.student, "row": self.row.to_json(),
                "verdicts": [v.__dict__.copy() for v in self.verdicts]}
        if self.feedback_work:
            data["feedback_work"] = self.feedback_work
        return data

    @classmethod
    def from_json(cls, data: dict) -> "StudentRecord":
        return cls(data["student"], Row.from_json(data["row"]),
                   [CellVerdict(**v) for v in data.get("verdicts", [])], data.get("feedback_work", ""))

    @classmethod
    def of(cls, row: Row, results: list) -> "StudentRecord":
        """The record of ``row`` and the judge's ``results`` (NotebookResult, one per notebook)."""
        return cls(row.student_id, row, [CellVerdict.of(r.name, v) for r in results for v in r.verdicts])


@dataclass
class ClassInfo:
    """What class.json says of a graded assignment's outputs (``remove`` and ``release`` read it)."""

    assignment: str
    layout: str
    max_score: float              # the grade table's maximum, written answers included
    notebooks: list               # the assignment's notebook file names, in order

    def to_json(self) -> dict:
        return {"assignment": self.assignment, "layout": self.layout, "max_score": self.max_score,
                "notebooks": list(self.notebooks)}

    @classmethod
    def from_json(cls, data: dict, assignment: str) -> "ClassInfo":
        return cls(data.get("assignment", assignment), data.get("layout"), data["max_score"], list(data["notebooks"]))
