"""``make grade``: grade a class's submissions of one assignment, safely (see :mod:`reference_impl.grading.secure`).

    python -m reference_impl.grading.grade ASSIGNMENT SUBMISSIONS [--out grades] [--db-url URL] [--workers 2]
        [--cell-seconds 30] [--notebook-seconds 300] [--memory-mb 4096] [--output-chars 100000] [--force]

SUBMISSIONS: a folder or a .zip -- nbgrader's ``submitted/`` tree or a learning-management-system export
(``<student>_<notebook>.ipynb``, ``<student>_attempt_<timestamp>_<notebook>.ipynb``; see ``--regex``).
Writes ``OUT/ASSIGNMENT/grades.csv`` and ``OUT/ASSIGNMENT/feedback/<student>/<notebook>.html``, records every
grade in the course gradebook (``db_url`` of ``nbgrader_config.py`` unless ``--db-url``), prints a summary.
Exit status: 0 when every student was graded (flagged or not), 1 when some could not be (0 points, with a reason).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import secure


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_impl.grading.grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", help="assignment name, e.g. 06-adam-adamw (a folder of solutions/)")
    parser.add_argument("submissions", type=Path, help="folder or .zip of submitted notebooks")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: grades/)")
    parser.add_argument("--db-url", default=None, help="gradebook URL (default: nbgrader_config.py's db_url)")
    parser.add_argument("--workers", type=int, default=2, help="students graded at once (default 2)")
    parser.add_argument("--cell-seconds", type=int, default=secure.Limits.cell_seconds)
    parser.add_argument("--notebook-seconds", type=int, default=secure.Limits.notebook_seconds)
    parser.add_argument("--memory-mb", type=int, default=secure.Limits.memory_mb)
    parser.add_argument("--output-chars", type=int, default=secure.Limits.output_chars)
    parser.add_argument("--regex", default=secure.DEFAULT_REGEX,
                        help="file-name pattern of an LMS export (named groups student_id, file_id, timestamp)")
    parser.add_argument("--force", action="store_true", help="re-grade students whose files did not change")
    parser.add_argument("--keep-scratch", action="store_true", help="keep the scratch courses (debugging)")
    args = parser.parse_args(argv)
    try:
        limits = secure.Limits(cell_seconds=args.cell_seconds, notebook_seconds=args.notebook_seconds,
                               memory_mb=args.memory_mb, output_chars=args.output_chars)
        summary = secure.grade(args.assignment, args.submissions, out=args.out, db_url=args.db_url,
                               limits=limits, workers=args.workers, force=args.force, regex=args.regex,
                               keep_scratch=args.keep_scratch)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
