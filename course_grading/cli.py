"""Command line of the course's grading.

    python -m course_grading build [NN-slug ...] [--check]             # sources -> solutions/*.ipynb
    python -m course_grading check NOTEBOOK [NOTEBOOK ...]            # students: the visible tests, as graded
    python -m course_grading grade ASSIGNMENT SUBMISSIONS [--out DIR] # instructors: grade a class
    python -m course_grading grade ASSIGNMENT SUBMISSIONS --shard i/N --out DIR_i   # one slice of a class
    python -m course_grading merge ASSIGNMENT DIR_0 ... DIR_N-1 --out DIR        # the shards as one class
    python -m course_grading remove ASSIGNMENT STUDENT [STUDENT ...] [--yes]     # the only way a student leaves
    python -m course_grading gradescope ASSIGNMENT --out DIR [--secret FILE]  # DIR/autograder.zip for Gradescope
    python -m course_grading similarity ASSIGNMENT SUBMISSIONS [--out DIR]    # answers alike (copies) -> report
    python -m course_grading written ASSIGNMENT SUBMISSIONS --out DIR         # written answers as PDFs

Every command takes ``--course DIR`` (the folder with ``nbgrader_config.py``; default: the current folder or the
nearest one above it). ``check`` and ``grade`` run the same rule, worker and judge; ``check`` runs the released
tests only. Exit status: ``check`` 1 when a test fails; ``grade`` 1 when a student could not be graded, 2 on a usage
error or when the sandbox is unavailable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import course


def _limits_args(parser):
    from .judge import Limits

    parser.add_argument("--no-sandbox", action="store_true",
                        help="run student code without bubblewrap (only inside a container of your own)")
    parser.add_argument("--notebook-seconds", type=float, default=Limits.notebook_seconds,
                        help="wall-clock seconds for one notebook: its cells and all its tests' calls")
    parser.add_argument("--cpu-seconds", type=int, default=Limits.cpu_seconds, help="CPU seconds of one worker")
    parser.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help="address space of one worker")


def _limits(args):
    from .judge import Limits

    return Limits(memory_mb=args.memory_mb, cpu_seconds=args.cpu_seconds, notebook_seconds=args.notebook_seconds)


DUE_EXAMPLE = "2026-11-10T17:00+01:00 (or 2026-11-10 17:00 with --timezone Europe/Paris)"


def parse_due(text: str, zone: str | None = None) -> str:
    """``--due`` as an ISO 8601 date and time with an offset (``Z`` or ``+01:00``), or without one when ``zone``
    (an IANA name, ``--timezone``) says where it is; returned in UTC (ISO). Anything else is refused with an
    example: a date is never guessed (``10/11/2026`` is the 10th of November to some, the 11th of October to
    others)."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        when = datetime.fromisoformat(text.strip().replace(" UTC", "+00:00").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--due: {text!r} is not an ISO 8601 date and time; write e.g. {DUE_EXAMPLE}") from None
    if when.tzinfo is None:
        if not zone:
            raise ValueError(f"--due: {text!r} has no time zone; add the offset or --timezone, e.g. {DUE_EXAMPLE}")
        try:
            when = when.replace(tzinfo=ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"--timezone: {zone!r} is not a time zone name (e.g. Europe/Paris, UTC)") from None
    return when.astimezone(timezone.utc).isoformat()


def _deadlines(args) -> tuple:
    """``--due`` checked (see :func:`parse_due`) and ``--extension`` as {student: hours}."""
    due = parse_due(args.due, args.timezone) if args.due else None
    extensions = {}
    for item in args.extension:
        student, sep, hours = item.rpartition("=")
        try:
            value = float(hours)
        except ValueError:
            value = -1.0
        if not sep or not student or not value >= 0:
            raise ValueError(f"--extension: expected STUDENT=HOURS with HOURS >= 0, got {item!r}")
        extensions[student] = value
    return due, extensions


SECRET_ENV = "COURSE_GRADING_SECRET_FILE"


def read_secret(path: Path | None) -> bytes | None:
    """The term's secret: the bytes of ``path`` (``--secret``), else of the file ``$COURSE_GRADING_SECRET_FILE``
    names, else ``None`` (hidden tests then use the repository's default inputs)."""
    import os

    source = "--secret"
    if path is None and os.environ.get(SECRET_ENV):
        path, source = Path(os.environ[SECRET_ENV]), f"${SECRET_ENV}"
    if path is None:
        return None
    try:
        data = Path(path).read_bytes().strip()
    except OSError as err:
        raise ValueError(f"{source}: cannot read {path} ({err.strerror or err})") from None
    if len(data) < 16:
        raise ValueError(f"{source}: {path} holds {len(data)} bytes; a term secret needs at least 16 "
                         "(make one with: python -c \"import secrets; print(secrets.token_hex(32))\" > FILE)")
    return data


def _remove(root: Path, args) -> int:
    """``remove``: list the students that would go; with ``--yes`` remove them from the gradebook and the outputs."""
    import shutil
    import tempfile

    from . import gradebook, report

    scratch = Path(tempfile.mkdtemp(prefix="grading-remove-"))
    try:
        record = gradebook.Record(root, args.assignment, scratch / "course", args.db_url)
        present = set(record.students())
        unknown = [s for s in args.students if s not in present]
        going = [s for s in args.students if s in present]
        for s in unknown:
            print(f"not in the gradebook for {args.assignment}: {s}")
        if not going:
            return 1 if unknown else 0
        print(f"{'removing' if args.yes else 'would remove'} {len(going)} of {len(present)} students of "
              f"{args.assignment} (their grades, manual grades and comments): {', '.join(going)}")
        if not args.yes:
            print("nothing removed: add --yes to remove them")
            return 1
        record.remove(going)
        out_a = Path(args.out or Path(root) / "grades") / args.assignment
        graded = report.read_class(out_a, args.assignment)
        if graded:
            info, records = graded
            report.write_class(out_a, info, [r for r in records if r.student not in going])
        for s in going:
            shutil.rmtree(out_a / "feedback" / s, ignore_errors=True)
        print(f"removed; {len(present) - len(going)} students remain")
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        root = course.find_root(args.course)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "build":
        from .authoring import build_all

        report = build_all(root, check=args.check, only=args.assignments or None)
        for line in report:
            print(line)
        return 1 if (args.check and report) else 0
    if args.command == "check":
        from .check import check_notebooks

        return check_notebooks(root, args.notebooks, _limits(args), use_sandbox=not args.no_sandbox)
    if args.command == "remove":
        return _remove(root, args)
    if args.command in INTEGRITY_COMMANDS:
        return _integrity_command(root, args)
    if args.command == "merge":
        from .shards import merge as run_merge

        try:
            run_merge(root, args.assignment, args.outputs, args.out, db_url=args.db_url)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    return _grade_command(root, args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", default=None, help="course folder (with nbgrader_config.py)")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="write solutions/NN-slug/*.ipynb from scripts/exercise_sources/")
    build.add_argument("assignments", nargs="*", help="NN-slug names (default: every source)")
    build.add_argument("--check", action="store_true", help="only compare; exit 1 on any difference")
    check = sub.add_parser("check", help="run a notebook's released tests the way the grader runs them")
    check.add_argument("notebooks", nargs="+", type=Path)
    _limits_args(check)
    _grade_parser(sub)
    remove = sub.add_parser("remove", help="remove students' submissions of an assignment from the gradebook")
    remove.add_argument("assignment")
    remove.add_argument("students", nargs="+", help="student ids, as in grades.csv")
    remove.add_argument("--db-url", default=None, help="gradebook URL (default: the course's nbgrader_config.py)")
    remove.add_argument("--out", type=Path, default=None, help="the grading output folder to update (default: "
                                                                "grades/ in the course)")
    remove.add_argument("--yes", action="store_true", help="really remove them (without it: only list them)")
    merge = sub.add_parser("merge", help="combine the --out folders of `grade --shard` runs into one class")
    merge.add_argument("assignment")
    merge.add_argument("outputs", nargs="+", type=Path, help="the shards' --out folders")
    merge.add_argument("--out", type=Path, required=True, help="folder for the class's CSVs, report and feedback")
    merge.add_argument("--db-url", default=None, help="gradebook URL (default: the course's nbgrader_config.py)")
    _integrity_parsers(sub)
    return parser


def _grade_parser(sub) -> None:
    grade = sub.add_parser("grade", help="grade a class's submissions of one assignment")
    grade.add_argument("assignment", help="assignment name, e.g. 06-adam-adamw (a folder of solutions/)")
    grade.add_argument("submissions", type=Path, help="folder or .zip of submitted notebooks")
    grade.add_argument("--out", type=Path, default=None, help="output folder (default: grades/ in the course)")
    grade.add_argument("--db-url", default=None, help="gradebook URL (default: the course's nbgrader_config.py)")
    grade.add_argument("--layout", default=None, choices=["folders", "nbgrader", "canvas", "moodle"],
                       help="how the submissions are laid out (default: recognised)")
    grade.add_argument("--shard", default=None, metavar="i/N",
                       help="grade only slice i (from 0) of N: the sorted student ids at positions i, i+N, ...")
    grade.add_argument("--due", default=None,
                       help=f"due date, ISO 8601 with an offset, e.g. {DUE_EXAMPLE} (stored in the gradebook; "
                            "default: the gradebook's, set by the formgrader or `nbgrader db assignment add "
                            "--duedate`)")
    grade.add_argument("--timezone", default=None, help="time zone of a --due written without an offset (an IANA "
                                                         "name such as Europe/Paris)")
    grade.add_argument("--force", action="store_true",
                       help="grade every student again, also those whose submission and tests are unchanged since "
                            "their grade")
    grade.add_argument("--export-pending", action="store_true",
                       help="canvas.csv: export the scores of students still pending manual grading or to review "
                            "(default: left empty, so Canvas keeps what it has)")
    grade.add_argument("--extension", action="append", default=[], metavar="STUDENT=HOURS",
                       help="a student's extension of the due date, in hours (repeatable; stored in the gradebook)")
    grade.add_argument("--secret", type=Path, default=None, metavar="FILE",
                       help="the term's secret (a file kept outside the repository; see instructors.md), from which "
                            "hidden tests draw their inputs; default: $COURSE_GRADING_SECRET_FILE, else the "
                            "repository's default inputs (the grade table says so)")
    _limits_args(grade)


def _grade_command(root: Path, args) -> int:
    from .grade import grade as run_grade
    from .judge import HOW_TO, probe
    from .shards import parse as parse_shard

    try:
        shard = parse_shard(args.shard) if args.shard is not None else None
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.no_sandbox:
        problem = probe()
        if problem:
            print(f"error: {problem}.\n{HOW_TO}", file=sys.stderr)
            return 2
    else:
        print("warning: --no-sandbox: student code runs without bubblewrap, with only resource limits; the grade "
              "table marks every grade 'unsandboxed'.", file=sys.stderr)
    try:
        secret = read_secret(args.secret)
        due, extensions = _deadlines(args)
        summary = run_grade(root, args.assignment, args.submissions, out=args.out, db_url=args.db_url,
                            layout=args.layout, limits=_limits(args), use_sandbox=not args.no_sandbox, shard=shard,
                            due=due, extensions=extensions, secret=secret, force=args.force,
                            export_pending=args.export_pending)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped (Ctrl-C).", file=sys.stderr)   # grade() said how far it got
        return 130
    return 1 if summary["failed"] else 0


# --------------------------------------------------------------------------------------------- where instructors work
# (issue 27) Gradescope, similarity, written answers as PDFs: one block of subcommands.

INTEGRITY_COMMANDS = ("gradescope", "similarity", "written", "release")


def _integrity_parsers(sub) -> None:
    gs = sub.add_parser("gradescope", help="write a Gradescope autograder (autograder.zip) for one assignment")
    gs.add_argument("assignment")
    gs.add_argument("--out", type=Path, required=True, help="folder for autograder.zip (outside the repository when "
                                                            "it holds the term's secret)")
    gs.add_argument("--secret", type=Path, default=None, metavar="FILE",
                    help="the term's secret, baked into the zip (as `grade` takes it; default: "
                         "$COURSE_GRADING_SECRET_FILE, else none: hidden tests use the default inputs)")
    sim = sub.add_parser("similarity", help="list students whose answer code is alike, and answers that match the "
                                            "published solution up to renaming")
    sim.add_argument("assignment")
    sim.add_argument("submissions", type=Path, help="folder or .zip of submitted notebooks (as for `grade`)")
    sim.add_argument("--out", type=Path, default=None, help="output folder (default: grades/ in the course); "
                                                             "writes ASSIGNMENT/similarity.json and report.html")
    sim.add_argument("--layout", default=None, choices=["folders", "nbgrader", "canvas", "moodle"])
    sim.add_argument("--threshold", type=float, default=None,
                     help="share of an answer's fingerprinted code found in the other (default 0.6)")
    wr = sub.add_parser("written", help="the written answers (graded by hand) as PDFs: one per student, one for "
                                        "the class")
    wr.add_argument("assignment")
    wr.add_argument("submissions", type=Path, help="folder or .zip of submitted notebooks (as for `grade`)")
    wr.add_argument("--out", type=Path, required=True, help="folder for <student>.pdf and class.pdf")
    wr.add_argument("--layout", default=None, choices=["folders", "nbgrader", "canvas", "moodle"])
    rel = sub.add_parser("release", help="deliver the feedback pages of a graded assignment: through nbgrader's "
                                         "exchange when nbgrader_config.py sets c.Exchange.root, else one zip per "
                                         "student (and Canvas's Re-Upload Submissions zip)")
    rel.add_argument("assignment")
    rel.add_argument("--out", type=Path, default=None, help="the grading output folder (as for `grade`; default: "
                                                             "grades/ in the course); archives go to "
                                                             "ASSIGNMENT/release/ in it")
    rel.add_argument("--bundle", action="store_true", help="make the archives even when the course has an exchange")
    rel.add_argument("--submissions", type=Path, default=None,
                     help="exchange: the collected submissions (default: the course's submitted/), whose "
                          "submission_secret.txt nbgrader's fetch_feedback needs; Canvas: the Download Submissions "
                          "zip the class was graded from (its names carry the attachment ids Canvas routes by)")


def _integrity_command(root: Path, args) -> int:
    try:
        if args.command == "gradescope":
            from .gradescope import build

            secret = read_secret(args.secret)
            path = build(root, args.assignment, args.out, secret)
            print(f"{path}: upload it as the autograder of a Gradescope programming assignment (base image: Ubuntu "
                  f"24.04); {'the term secret is inside: keep the zip private' if secret else 'no term secret: hidden tests use the default inputs'}")
            return 0
        if args.command == "written":
            from .written import run as run_written

            run_written(root, args.assignment, args.submissions, args.out, layout=args.layout)
            return 0
        if args.command == "release":
            from .release import release

            done = release(root, args.assignment, out=args.out, bundle=args.bundle, submissions=args.submissions)
            return 1 if done.skipped else 0
        if args.command == "similarity":
            from .similarity import THRESHOLD, run

            run(root, args.assignment, args.submissions, args.out, layout=args.layout,
                threshold=THRESHOLD if args.threshold is None else args.threshold)
            return 0
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    raise AssertionError(args.command)


def console() -> None:
    """The ``course-grading`` console script (pyproject.toml): :func:`main` with its exit status."""
    sys.exit(main())
