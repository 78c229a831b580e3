"""What `pip install` of the repository gives: one distribution, named in ``pyproject.toml``, that ships both
packages (``reference_impl`` and ``course_grading``) and the graders' command ``course-grading``.

The wheel is built here with setuptools' own build hooks (what pip calls), from a copy of the files the build reads,
so the check needs no network and leaves no ``build/`` folder in the repository. The notebooks' install cells ask pip
for ``<that name> @ git+<repository>`` (tests/test_launch.py, tests/test_notebook_export.py): pip refuses a
requirement whose name differs from the one the built metadata carries.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_wheel_ships_both_packages_and_the_console_script(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for package in ("reference_impl", "course_grading"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    build = ("import sys; from setuptools import build_meta; "
             "print(build_meta.build_wheel(sys.argv[1]))")
    done = subprocess.run([sys.executable, "-c", build, str(out)], cwd=source, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    wheel = out / done.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(f"{info}/METADATA").decode()
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(f"{info}/entry_points.txt").decode())
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"reference_impl", "course_grading"}, tops
    assert "reference_impl/optim/schedule_free_updates.py" in names and "course_grading/cli.py" in names
    assert f"Name: {PROJECT['name']}\n" in metadata
    assert PROJECT["name"] not in ("reference_impl", "reference-impl"), "the distribution is the course, not one package"
    assert entry_points["console_scripts"]["course-grading"] == "course_grading.cli:console"
