"""Command line of the grading helpers.

    python -m reference_impl.grading validate NOTEBOOK [NOTEBOOK ...]   # exit 1 if any test cell fails
    python -m reference_impl.grading build [NN-slug ...] [--check]      # sources -> solutions/*.ipynb

``validate`` is what ``make check NB=...`` runs for students: unlike ``nbgrader validate`` (which exits 0 whatever
happens) it exits non-zero when a test fails, errors, or a test cell was edited.
"""

from __future__ import annotations

import argparse
import sys


def _last_error_line(raw: str) -> str:
    from nbconvert.filters import strip_ansi

    lines = [line for line in strip_ansi(raw).splitlines() if line.strip()]
    # the exception line ("AssertionError: ...") may span lines; keep from the last line that starts at column 0
    for i in range(len(lines) - 1, -1, -1):
        if not lines[i].startswith(" ") and ("Error" in lines[i] or "Exception" in lines[i]):
            return "\n".join(lines[i:])
    return lines[-1] if lines else ""


def _validate(paths: list[str], invert: bool, verbose: bool) -> int:
    from nbconvert.filters import strip_ansi

    from .pipeline import validate_notebook

    status = 0
    for path in paths:
        results = validate_notebook(path, invert=invert)
        if not results:
            print(f"{path}: every test passed." if not invert else f"{path}: every test failed, as expected.")
            continue
        status = 1
        if results.get("type_changed"):
            print(f"{path}: {len(results['type_changed'])} cell(s) changed type (code <-> markdown); "
                  "restore them from a fresh copy of the notebook.")
        if results.get("changed"):
            print(f"{path}: {len(results['changed'])} test cell(s) were edited; they are restored when graded, "
                  "so passing them now means nothing. Edited cells begin with:")
            for cell in results["changed"]:
                print("    " + (cell["source"].splitlines() or [""])[0])
        for cell in results.get("failed", []):
            first = (cell["source"].splitlines() or [""])[0]
            error = strip_ansi(cell["raw_error"]).rstrip() if verbose else _last_error_line(cell["raw_error"])
            print(f"\nFAILED: the test cell starting with {first!r}\n    {error}")
        if results.get("failed"):
            print(f"\n{path}: {len(results['failed'])} test cell(s) failed.")
        for cell in results.get("passed", []):
            print(f"{path}: unexpectedly passed: {(cell['source'].splitlines() or [''])[0]!r}")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_impl.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    val = sub.add_parser("validate", help="run a notebook's tests; exit 1 if any fails")
    val.add_argument("notebooks", nargs="+")
    val.add_argument("--invert", action="store_true", help="succeed only if every test cell fails (releases)")
    val.add_argument("-v", "--verbose", action="store_true", help="print whole tracebacks")
    build = sub.add_parser("build", help="write solutions/NN-slug/*.ipynb from scripts/exercise_sources/")
    build.add_argument("assignments", nargs="*", help="NN-slug names (default: every source)")
    build.add_argument("--check", action="store_true", help="only compare; exit 1 on any difference")
    args = parser.parse_args(argv)
    if args.command == "validate":
        return _validate(args.notebooks, args.invert, args.verbose)
    from .authoring import build_all

    report = build_all(check=args.check, only=args.assignments or None)
    for line in report:
        print(line)
    return 1 if (args.check and report) else 0


if __name__ == "__main__":
    sys.exit(main())
