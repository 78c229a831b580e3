"""Notebooks opened outside the course's environment (Colab, a bare Jupyter) can run.

* Every exercise notebook (source and release) starts with the locked nbgrader cell ``install_course``, whose code
  is the book extension's :func:`install_cell_source` for the repository URL of ``_config.yml``.
* That cell does nothing where the course package is importable, and runs ``python -m pip install
  "<distribution> @ git+<repository URL>"`` where it is not (the distribution: ``[project] name`` of
  ``pyproject.toml``, which ships ``reference_impl``). Both branches run here offline: a fake ``pip``
  package placed first on ``PYTHONPATH`` records its arguments instead of installing anything.
* The chapters' own notebooks (``colab/<page>.ipynb`` of the built book) are tested in ``test_notebook_export.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_ext"))
from course_book import install_cell_source  # noqa: E402

REPO_URL = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
DISTRIBUTION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
HTML = Path(os.environ.get("COURSE_HTML", ROOT / "_build" / "html")).resolve()
NOTEBOOKS = sorted((ROOT / "solutions").glob("*/*.ipynb")) + sorted((ROOT / "exercises").glob("*/*.ipynb"))

FAKE_PIP = """import json, os, sys
with open(os.environ["FAKE_PIP_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
"""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_exercise_notebooks_start_with_the_locked_install_cell(path):
    nb = nbformat.read(path, as_version=4)
    cell = nb.cells[0]
    meta = cell.metadata.get("nbgrader", {})
    assert cell.cell_type == "code" and meta.get("grade_id") == "install_course", f"{path}: first cell"
    assert meta.get("locked") is True and meta.get("grade") is False and meta.get("solution") is False
    assert cell.source == install_cell_source(REPO_URL)
    assert REPO_URL in cell.source


def test_there_are_exercise_notebooks():
    assert len([p for p in NOTEBOOKS if p.parts[-3] == "exercises"]) >= 9


def run_cell(tmp_path: Path, *, package_present: bool) -> tuple[subprocess.CompletedProcess, list]:
    fake = tmp_path / "fake"
    (fake / "pip").mkdir(parents=True)
    (fake / "pip" / "__init__.py").write_text("")
    (fake / "pip" / "__main__.py").write_text(FAKE_PIP)
    log = tmp_path / "pip.log"
    (tmp_path / "cell.py").write_text(install_cell_source(REPO_URL))
    env = dict(os.environ, PYTHONPATH=str(fake), FAKE_PIP_LOG=str(log))
    # -S leaves out site-packages, where the course package is installed: the "missing" branch. The pip
    # subprocess starts without -S, but PYTHONPATH puts the fake pip before the real one.
    flags = [] if package_present else ["-S"]
    result = subprocess.run([sys.executable, *flags, str(tmp_path / "cell.py")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


def test_install_cell_does_nothing_when_the_package_is_present(tmp_path):
    result, calls = run_cell(tmp_path, package_present=True)
    assert result.returncode == 0, result.stderr
    assert calls == [] and result.stdout == ""


def test_install_cell_pip_installs_from_the_repository_when_missing(tmp_path):
    result, calls = run_cell(tmp_path, package_present=False)
    assert result.returncode == 0, result.stderr
    assert calls == [["install", "--quiet", f"{DISTRIBUTION} @ git+{REPO_URL}"]]
    assert "reference_impl is not installed: running pip install" in result.stdout
    assert REPO_URL in result.stdout and "Installed the course package" in result.stdout


# The chapters' notebooks (colab/<page>.ipynb, with outputs) and their Colab, Binder and download buttons are
# tested in tests/test_notebook_export.py.
