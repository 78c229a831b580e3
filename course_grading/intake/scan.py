"""Intake's first pass: every file of a submissions folder or zip, with the reason when no layout may read it.

A zip is extracted into the scratch folder with limits on its members (:data:`MAX_MEMBERS`, one member's and all
members' bytes), and links, devices and paths that leave the folder are never followed or written.
"""

from __future__ import annotations

import os
import re
import stat
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

MAX_MEMBER_BYTES = 50 * 1024 * 1024     # one archive member
MAX_ARCHIVE_BYTES = 2 * 1024 ** 3       # all members together (uncompressed)
MAX_MEMBERS = 50_000                    # entries in one archive


@dataclass
class _File:
    rel: tuple[str, ...]            # path parts relative to the submissions root
    path: Path | None               # the file on disk; None when it was not extracted
    junk: str | None = None         # reason when every reading ignores it
    mtime: float = 0.0


def _shown(parts) -> str:
    """A printable relative path (names that are not valid UTF-8 are shown with escapes)."""
    return "/".join(parts).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _junk_reason(parts) -> str | None:
    if "__MACOSX" in parts:
        return "macOS archive metadata (__MACOSX)"
    if ".ipynb_checkpoints" in parts:
        return "a Jupyter checkpoint (.ipynb_checkpoints), not the submission"
    if any(p.startswith(".") for p in parts):
        return "a hidden file or folder"
    if parts[-1] in ("Thumbs.db", "desktop.ini") or parts[-1].startswith("~$"):
        return "operating-system or editor metadata"
    return None


def _scan_folder(root: Path):
    files, dirs = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        base = here.relative_to(root).parts
        for d in sorted(dirnames):
            rel = base + (d,)
            if (here / d).is_symlink():
                files.append(_File(rel, None, "a symbolic link (not followed)"))
            elif _junk_reason(rel) is None:
                dirs.add(rel)
        dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink())
        for name in sorted(filenames):
            rel, full = base + (name,), here / name
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                files.append(_File(rel, None, "a symbolic link (not followed)"))
            elif not stat.S_ISREG(st.st_mode):
                files.append(_File(rel, None, "not a regular file"))
            else:
                files.append(_File(rel, full, _junk_reason(rel), st.st_mtime))
    return files, dirs


def _member_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:
        # Without the UTF-8 flag the zip format says cp437 (zipfile decoded it so); many tools write UTF-8 anyway.
        raw = name.encode("cp437")
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return name.replace("\\", "/")


def _scan_zip(archive: Path, dest: Path):
    """Extract ``archive`` under ``dest`` safely; every file entry becomes a _File (unsafe ones with a reason)."""
    files, dirs, taken, total = [], set(), set(), 0
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ValueError(f"submissions: {archive} holds {len(infos)} entries, more than the cap of {MAX_MEMBERS}")
        for info in infos:
            name = _member_name(info)
            parts = tuple(p for p in name.split("/") if p not in ("", "."))
            if not parts:
                continue
            kind = (info.external_attr >> 16) & 0o170000
            if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
                files.append(_File(parts, None, "unsafe archive entry (absolute path), not extracted"))
                continue
            if ".." in parts:
                files.append(_File(parts, None, "unsafe archive entry (a '..' component), not extracted"))
                continue
            if info.is_dir():
                dirs.update(parts[:i] for i in range(1, len(parts) + 1))
                continue
            dirs.update(parts[:i] for i in range(1, len(parts)))
            if kind == stat.S_IFLNK:
                files.append(_File(parts, None, "a symbolic link in the archive, not extracted"))
                continue
            if kind not in (0, stat.S_IFREG):
                files.append(_File(parts, None, "not a regular file in the archive, not extracted"))
                continue
            junk = _junk_reason(parts)
            if junk:
                files.append(_File(parts, None, junk))
                continue
            if info.flag_bits & 0x1:
                files.append(_File(parts, None, "an encrypted archive entry, not extracted"))
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                files.append(_File(parts, None, f"larger than {MAX_MEMBER_BYTES // 2**20} MB "
                                                f"({info.file_size} bytes), not extracted"))
                continue
            if total + info.file_size > MAX_ARCHIVE_BYTES:
                files.append(_File(parts, None, f"the archive's size cap ({MAX_ARCHIVE_BYTES // 2**20} MB) "
                                                "was reached, not extracted"))
                continue
            if parts in taken:
                files.append(_File(parts, None, "a second archive entry with the same path, not extracted"))
                continue
            target, opened = dest.joinpath(*parts), False
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                with zf.open(info) as src, open(target, "xb") as out:
                    opened = True
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > info.file_size:   # zipfile stops at the declared size; belt and braces
                            raise ValueError("more data than declared")
                        out.write(chunk)
            except (OSError, ValueError, RuntimeError, zipfile.BadZipFile, NotImplementedError) as err:
                if opened:
                    target.unlink(missing_ok=True)
                files.append(_File(parts, None, f"could not be extracted ({type(err).__name__}: {str(err)[:80]})"))
                continue
            total += info.file_size
            taken.add(parts)
            try:
                mtime = time.mktime(info.date_time + (0, 0, -1))
                os.utime(target, (mtime, mtime))
            except (OverflowError, ValueError, OSError):
                mtime = target.stat().st_mtime
            files.append(_File(parts, target, None, mtime))
    return files, {d for d in dirs if _junk_reason(d) is None}
