"""The prerequisite check (scripts/check_prereqs.py) that the Makefile runs before any long work.

It runs here against a PATH copied from this one with programs taken away or replaced, so it is the real script
looking at real programs: with everything present it says nothing; with a piece missing or broken it stops within
seconds, with one message that names the piece and how to install it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check_prereqs.py"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def path_without(tmp: Path, drop=(), fakes: dict[str, str] | None = None) -> str:
    """A one-folder PATH holding links to every program of the current PATH except ``drop``, plus ``fakes``
    (name -> shell script body)."""
    folder = tmp / "bin"
    folder.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            target = os.path.join(directory, name)
            if name in drop or (folder / name).exists() or not os.access(target, os.X_OK):
                continue
            (folder / name).symlink_to(target)
    for name, body in (fakes or {}).items():
        (folder / name).unlink(missing_ok=True)
        (folder / name).write_text("#!/bin/sh\n" + body + "\n")
        (folder / name).chmod(0o755)
    return str(folder)


def check(path: str, *targets: str, chromium: str | None = None) -> tuple[int, str, float]:
    env = {k: v for k, v in os.environ.items() if k != "CHROMIUM"}
    env["PATH"] = path
    if chromium is not None:
        env["CHROMIUM"] = chromium
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(SCRIPT), *targets], env=env, capture_output=True, text=True,
                          timeout=120)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start


def test_everything_present_says_nothing():
    status, out, _ = check(os.environ["PATH"], "setup", "book", "test", "grade")
    assert (status, out) == (0, ""), out


def test_missing_chromium_stops_with_one_message(tmp_path):
    status, out, seconds = check(path_without(tmp_path, drop=BROWSERS), "test")
    assert status == 1
    assert seconds < 15, f"the check took {seconds:.1f} s"
    assert out.count("Missing for `make test`") == 1, out
    assert "Chromium" in out and "sudo apt-get install chromium" in out and "macOS:" in out, out
    # nothing else is reported missing: only the browser was taken away
    assert "bubblewrap" not in out and "Node.js" not in out, out


def test_several_missing_pieces_are_listed_together(tmp_path):
    status, out, _ = check(path_without(tmp_path, drop=BROWSERS + ("bwrap", "npm")), "test")
    assert status == 1
    assert "sudo apt-get install npm chromium bubblewrap" in out, out
    assert "no `bwrap` on PATH" in out and "no `npm` on PATH" in out, out


def test_grade_needs_bubblewrap_but_not_a_browser(tmp_path):
    path = path_without(tmp_path, drop=BROWSERS)
    assert check(path, "grade")[0] == 0
    status, out, _ = check(path, "test")
    assert status == 1 and "Chromium" in out


def test_bwrap_that_cannot_create_namespaces(tmp_path):
    fake = "echo 'bwrap: No permissions to creating new namespace' >&2; exit 1"
    status, out, _ = check(path_without(tmp_path, fakes={"bwrap": fake}), "grade")
    assert status == 1
    assert "No permissions to creating new namespace" in out and "user namespaces" in out, out
    assert "apt-get install" not in out, "reinstalling bubblewrap does not help; the message must not suggest it"


def test_chromium_that_does_not_run(tmp_path):
    """Ubuntu's apt `chromium-browser` is a shim that only asks for the snap: found on PATH, but no browser."""
    shim = "echo \"Command '/usr/bin/chromium-browser' requires the chromium snap to be installed.\"; exit 1"
    path = path_without(tmp_path, drop=BROWSERS, fakes={"chromium-browser": shim})
    status, out, _ = check(path, "test")
    assert status == 1 and "requires the chromium snap" in out, out


def test_chromium_variable_overrides_the_search(tmp_path):
    path = path_without(tmp_path, drop=BROWSERS)
    status, out, _ = check(path, "test", chromium="/nonexistent/chrome")
    assert status == 1 and "/nonexistent/chrome" in out, out


def test_unknown_target_is_an_error():
    status, out, _ = check(os.environ["PATH"], "tset")
    assert status == 2 and "tset" in out


@pytest.mark.parametrize("text, version", [("v20.20.2", (20, 20, 2)), ("11.19.1\n", (11, 19, 1)),
                                           ("3.11", (3, 11)), ("9.1-rc", (9, 1)), ("none", ())])
def test_version_parsing(text, version):
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_prereqs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module._version(text) == version
