"""Working environments: the formgrader serves the course from a real Jupyter server; publishing the book works.

* A real ``jupyter server`` is started on loopback in a copy of the course (its working directory, so that
  ``nbgrader_config.py`` is read), with nbgrader's server extensions enabled as installed; the test asks the
  formgrader's HTTP API for the course's assignments and checks the JupyterLab page with nbgrader's extension is
  served. No mocks. The server is stopped at the end.
* ``make publish`` (ghp-import) publishes ``_build/html`` into a local bare git repository; the published tree must
  equal the build.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def env_with_venv() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def course_copy(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in ("nbgrader_config.py", "solutions", "exercises"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            shutil.copy2(src, dest / name)
    return dest


@contextlib.contextmanager
def running_jupyter(app: str, root: Path, log_path: Path, *, token: str, timeout: float, extra: tuple = ()):
    """``jupyter <app>`` (server or lab) serving ``root`` on a free local port, up once ``/api/status`` answers;
    yields its base URL and stops it on exit. Fails the test with the end of its log if it does not start."""
    port = free_port()
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [str(BIN / "jupyter"), app, "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", *extra]
        + (["--allow-root"] if os.geteuid() == 0 else []),
        cwd=root, env=env_with_venv(), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                get(base, "/api/status", token)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"jupyter {app} did not start:\n" + log_path.read_text()[-3000:])
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture()
def jupyter_server(tmp_path):
    course = course_copy(tmp_path / "course")
    token = "course-test-token"
    with running_jupyter("server", course, tmp_path / "server.log", token=token, timeout=60,
                         extra=("--ServerApp.open_browser=False",)) as base:
        yield base, token, course


def get(base: str, path: str, token: str) -> tuple[int, str]:
    # the formgrader builds its pages from the gradebook on first request: on a loaded 2-core machine (the rest of
    # the suite running beside it) that took more than 30 s once
    request = urllib.request.Request(base + path, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status, response.read().decode()


def test_formgrader_serves_the_course_assignments(jupyter_server):
    base, token, course = jupyter_server
    status, body = get(base, "/formgrader/api/assignments", token)
    assert status == 200
    served = {a["name"] for a in json.loads(body)}
    expected = {p.name for p in (ROOT / "solutions").iterdir() if p.is_dir()}
    assert expected and expected <= served, f"formgrader lists {sorted(served)}, the course has {sorted(expected)}"
    # each assignment's notebooks come from solutions/ (the source directory of nbgrader_config.py)
    some = sorted(expected)[0]
    status, body = get(base, f"/formgrader/api/assignment/{some}", token)
    assert status == 200 and json.loads(body)["name"] == some
    # the formgrader's own page and JupyterLab (with nbgrader's lab extension) are served
    assert get(base, "/formgrader", token)[0] == 200
    status, lab = get(base, "/lab", token)
    assert status == 200
    status, extensions = get(base, "/lab/api/extensions", token)
    enabled = {e["name"] for e in json.loads(extensions) if e.get("enabled", True)}
    assert enabled & {"@jupyter/nbgrader", "jupyter-nbgrader"}, f"nbgrader's lab extension is not enabled: {enabled}"


def test_publish_to_a_local_bare_repository(tmp_path):
    html = ROOT / "_build" / "html"
    if not (html / "index.html").is_file():
        pytest.fail("no built book in _build/html: run `make book` first (`make test` does)")
    remote = tmp_path / "pages.git"
    subprocess.run(["git", "init", "--bare", "-q", str(remote)], check=True)
    # publish from a throw-away clone so the developer's repository gets no gh-pages branch
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "commit", "-q", "--allow-empty", "-m", "init"], check=True,
                   env={**env_with_venv(), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost"})
    result = subprocess.run(["make", "-s", "-C", str(ROOT), "publish", f"PUBLISH_REMOTE={remote}",
                             f"PUBLISH_REPO={work}"], capture_output=True, text=True, env=env_with_venv())
    assert result.returncode == 0, result.stdout + result.stderr
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", "-b", "gh-pages", str(remote), str(checkout)], check=True)
    published = {str(p.relative_to(checkout)) for p in checkout.rglob("*") if p.is_file() and ".git" not in p.parts}
    built = {str(p.relative_to(html)) for p in html.rglob("*") if p.is_file()}
    assert ".nojekyll" in published  # GitHub Pages must serve _static/ and _images/ as they are
    assert published - {".nojekyll"} == built
    for rel in ("index.html", "intro.html"):
        assert (checkout / rel).read_bytes() == (html / rel).read_bytes()


def test_binder_button_opens_the_chapter_as_a_notebook_with_outputs_in_jupyterlab(tmp_path):
    """What Binder does with a chapter's button, minus the image build: JupyterLab served from the published tree
    (``_build/html`` is what ``make publish`` pushes to the branch Binder builds), opened headless in Chromium at the
    button's ``urlpath``, shows a notebook panel with the chapter's cells and the build's figures, not the file as
    text. (The Binder environment on that branch is checked in tests/test_notebook_export.py.)"""
    import re
    from urllib.parse import parse_qs, urlparse

    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT / "tests"))
    from test_browser import CHROMIUM_ARGS, chromium_path

    html = Path(os.environ.get("COURSE_HTML", ROOT / "_build" / "html")).resolve()
    page_html = html / "chapters" / "03-momentum.html"
    if not page_html.is_file():
        pytest.fail(f"{html} has no built book: run `make book` first (`make test` does).")
    binder = re.findall(r'href="(https://mybinder\.org/[^"]+)"', page_html.read_text())
    assert len(binder) == 1, binder
    urlpath = parse_qs(urlparse(binder[0].replace("&amp;", "&")).query)["urlpath"][0]
    assert urlpath == "lab/tree/colab/chapters/03-momentum.ipynb", urlpath
    published = tmp_path / "published"
    shutil.copytree(html / "colab", published / "colab")  # a copy: JupyterLab may write checkpoints beside it
    token = "binder-test-token"
    with running_jupyter("lab", published, tmp_path / "lab.log", token=token, timeout=90) as base:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/{urlpath}?token={token}", wait_until="load")
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
            page.wait_for_selector(".jp-NotebookPanel .jp-OutputArea-output img", state="attached", timeout=60_000)
            cells = page.locator(".jp-NotebookPanel .jp-Cell").count()
            title = page.locator(".jp-NotebookPanel .jp-RenderedMarkdown h1").first.inner_text()
            editors = page.locator(".jp-FileEditor").count()
            browser.close()
        # JupyterLab renders the cells near the viewport only (windowing): a few of the notebook's dozens
        assert cells >= 5, f"the notebook panel shows {cells} cells"
        assert "Momentum" in title, title
        assert editors == 0, "the chapter opened as a text file"
