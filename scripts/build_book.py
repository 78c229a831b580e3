"""Build the book (or part of it) in a temporary copy of the repository, with warnings as errors.

    python scripts/build_book.py                       # whole book, copy in a temp folder
    python scripts/build_book.py --only chapters/03-momentum chapters/04-weight-decay
    python scripts/build_book.py --out /tmp/mybook     # keep the copy (HTML in /tmp/mybook/_build/html)

The copy holds the files git tracks plus untracked, non-ignored files (what a clean clone would have after your
commit). The execution cache of ``_build/.jupyter_cache`` is copied along when present, so unchanged chapters are
not executed again. ``--only`` writes a reduced ``_toc.yml`` holding the landing page, the given files and the
bibliography: cross-references to chapters left out then fail, so build the whole book before committing.
Exit status: jupyter-book's (non-zero on any warning).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tracked_files(root: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=root,
                         check=True, capture_output=True, text=True).stdout
    return [f for f in out.split("\0") if f and (root / f).is_file()]


def make_copy(dest: Path, only: list[str] | None) -> None:
    for rel in tracked_files(ROOT):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    if (ROOT / "node_modules").is_dir():  # installed front-end files (MathJax): ignored by git, linked here
        (dest / "node_modules").symlink_to(ROOT / "node_modules")
    cache = ROOT / "_build" / ".jupyter_cache"
    if cache.is_dir():
        shutil.copytree(cache, dest / "_build" / ".jupyter_cache")
    if only is not None:
        entries = "\n".join(f"      - file: {Path(f).with_suffix('').as_posix()}" for f in only)
        (dest / "_toc.yml").write_text(
            f"format: jb-book\nroot: intro\nparts:\n  - caption: Selected\n    chapters:\n{entries}\n"
            "      - file: bibliography\n")


def build(dest: Path) -> int:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    # chapters draw with the notebook's inline backend; a backend forced from outside (Agg) would drop figures
    env.pop("MPLBACKEND", None)
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(dest), "-W", "-n", "--keep-going"]
    return subprocess.run(cmd, env=env).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="toc files to keep (paths without or with suffix)")
    parser.add_argument("--out", type=Path, help="folder for the copy (default: a temporary folder, removed)")
    args = parser.parse_args()
    if args.out:
        if args.out.exists():
            shutil.rmtree(args.out)
        args.out.mkdir(parents=True)
        make_copy(args.out, args.only)
        return build(args.out)
    with tempfile.TemporaryDirectory(prefix="book-") as tmp:
        make_copy(Path(tmp), args.only)
        return build(Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
