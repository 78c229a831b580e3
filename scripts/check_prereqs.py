"""Check the system programs a make target needs, in seconds, before any long work starts.

    python3 scripts/check_prereqs.py test          # what `make test` needs (also: setup, book, grade, check)
    python3 scripts/check_prereqs.py --install test grade   # install what is missing with apt-get (root or sudo)

Prints nothing and exits 0 when everything is there. Otherwise prints ONE message listing every missing or broken
piece, the command that installs them on Debian/Ubuntu and where to look on macOS, and exits 1. The Makefile runs
it first (`make setup-system` runs it with --install). Standard library only, and no syntax newer than Python 3.6,
so that it can also say that a too-old Python is too old.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIN_PYTHON = (3, 11)
MIN_NODE = 16  # npm reads package-lock.json version 3 from npm 7 on (Node 16 ships npm 8)
MIN_NPM = 7
# where the browser tests look for Chromium; CHROMIUM=/path/to/chrome overrides them
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# what each make target needs; a target also needs what its make prerequisites need
NEEDS = {
    "setup": ["python", "make", "node", "npm"],
    "book": ["python", "make", "node", "npm"],
    "pdf": ["python", "make", "node", "npm", "chromium", "pdftotext"],
    "check": ["python", "make"],
    "grade": ["python", "make", "bwrap"],
    "test": ["python", "make", "node", "npm", "git", "chromium", "bwrap", "pdftotext"],
}
# Debian/Ubuntu packages that provide each piece (NodeSource's `nodejs` carries npm and conflicts with Debian's
# `npm`: npm is only installed when it is missing)
APT = {
    "python": ["python3", "python3-venv"],
    "make": ["make"],
    "node": ["nodejs"],
    "npm": ["npm"],
    "git": ["git"],
    "chromium": ["chromium"],
    "bwrap": ["bubblewrap"],
    "pdftotext": ["poppler-utils"],
}
MACOS = {
    "python": "Python 3.11+ from python.org or `brew install python@3.11`",
    "make": "`xcode-select --install` (Command Line Tools)",
    "node": "`brew install node` (or the installer from nodejs.org)",
    "npm": "comes with Node.js: `brew install node`",
    "git": "`xcode-select --install` (Command Line Tools)",
    "chromium": "`brew install --cask chromium` or Google Chrome, then "
                "`export CHROMIUM=\"/Applications/Google Chrome.app/Contents/MacOS/Google Chrome\"` (or Chromium's)",
    "bwrap": "bubblewrap exists only on Linux (it uses Linux namespaces): run the tests and the grading in a "
             "Linux virtual machine or container",
    "pdftotext": "`brew install poppler`",
}
WHAT = {
    "python": "Python >= %d.%d (with its venv module)" % MIN_PYTHON,
    "make": "make",
    "node": "Node.js >= %d (the book's math is typeset with MathJax in Node when the book is built)" % MIN_NODE,
    "npm": "npm >= %d (reads package-lock.json version 3)" % MIN_NPM,
    "git": "git (the tests copy the tracked files)",
    "chromium": "Chromium or Chrome (the browser tests open the built book in it)",
    "bwrap": "bubblewrap, `bwrap` (student code runs in its sandbox), able to create namespaces",
    "pdftotext": "pdftotext and pdfunite (poppler; the tests read back PDFs, `make pdf` joins the book's pages)",
}


def _run(cmd, timeout=30):
    """(exit status, combined output) of cmd; status None when it cannot start or times out."""
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                              universal_newlines=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, str(exc)
    return proc.returncode, proc.stdout.strip()


def _version(text):
    """The leading numbers of a version string: 'v20.1.0' -> (20, 1, 0)."""
    numbers = []
    for part in text.strip().lstrip("v").split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        numbers.append(int(digits))
    return tuple(numbers)


def check_python():
    problems = []
    if sys.version_info[:2] < MIN_PYTHON:
        problems.append("%s is Python %d.%d" % (sys.executable, sys.version_info[0], sys.version_info[1]))
    elif _run([sys.executable, "-c", "import ensurepip, venv"])[0] != 0:
        problems.append("%s has no working venv module (Debian/Ubuntu: package python3-venv)" % sys.executable)
    venv_python = os.path.join(ROOT, ".venv", "bin", "python")
    if os.path.exists(venv_python):
        status, out = _run([venv_python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        if status != 0:
            problems.append(".venv/bin/python does not run (%s): remove .venv and run make again" % out[-200:])
        elif _version(out) < MIN_PYTHON:
            problems.append(".venv was made with Python %s: remove .venv and run make again with a newer python3"
                            % out)
    return problems


def check_make():
    return [] if shutil.which("make") else ["no `make` on PATH"]


def check_git():
    return [] if shutil.which("git") else ["no `git` on PATH"]


def check_pdftotext():
    return ["no `%s` on PATH" % name for name in ("pdftotext", "pdfunite") if not shutil.which(name)]


def _check_version(name, minimum):
    if not shutil.which(name):
        return ["no `%s` on PATH" % name]
    status, out = _run([name, "--version"])
    if status != 0:
        return ["`%s --version` fails: %s" % (name, out[-200:])]
    if _version(out)[:1] < (minimum,):
        return ["%s %s is older than %d" % (name, out, minimum)]
    return []


def check_node():
    return _check_version("node", MIN_NODE)


def check_npm():
    return _check_version("npm", MIN_NPM)


def find_chromium():
    """(path, problem): the Chromium the browser tests use, or why there is none that runs."""
    override = os.environ.get("CHROMIUM")
    if override:
        candidates = [override]
    else:
        candidates = [found for found in (shutil.which(name) for name in CHROMIUM_CANDIDATES) if found]
        if not candidates:
            return None, "none of %s is on PATH (and CHROMIUM is not set)" % ", ".join(CHROMIUM_CANDIDATES)
    for path in candidates:
        status, out = _run([path, "--version"])
        # Ubuntu's apt `chromium-browser` is a shim that only says it needs the snap: require a real version line
        if status == 0 and ("chromium" in out.lower() or "chrome" in out.lower()):
            return path, None
    return None, "%s does not run: %s" % (candidates[0], (out or "no output")[-300:])


def check_chromium():
    path, problem = find_chromium()
    return [problem] if problem else []


def check_bwrap():
    if not shutil.which("bwrap"):
        return ["no `bwrap` on PATH"]
    status, out = _run(["bwrap", "--ro-bind", "/", "/", "--unshare-all", "true"])
    if status == 0:
        return []
    NOT_FIXED_BY_APT.add("bwrap")
    return ["`bwrap --ro-bind / / --unshare-all true` fails: %s -- the kernel refuses user namespaces here. "
            "Allow them (Debian: `sudo sysctl -w kernel.unprivileged_userns_clone=1`; Ubuntu 24.04: "
            "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`), or in a container start it with "
            "user namespaces allowed" % (out[-300:] or "status %s" % status)]


# pieces that are installed but do not work: installing the package again would not help
NOT_FIXED_BY_APT = set()


CHECKS = {"python": check_python, "make": check_make, "node": check_node, "npm": check_npm, "git": check_git,
          "chromium": check_chromium, "bwrap": check_bwrap, "pdftotext": check_pdftotext}


def needs_of(targets):
    pieces = []
    for target in targets:
        for piece in NEEDS[target]:
            if piece not in pieces:
                pieces.append(piece)
    return pieces


def missing(targets):
    """{piece: [problems]} for every piece the targets need that is missing or broken."""
    found = {}
    NOT_FIXED_BY_APT.clear()
    for piece in needs_of(targets):
        problems = CHECKS[piece]()
        if problems:
            found[piece] = problems
    return found


def apt_packages(problems):
    return [p for piece in problems if piece not in NOT_FIXED_BY_APT for p in APT[piece]]


def report(targets, problems, seconds=None):
    names = " and ".join("`make %s`" % t for t in targets)
    when = "" if seconds is None else " (checked in %.1f s; nothing was started)" % seconds
    lines = ["", "Missing for %s%s:" % (names, when)]
    for piece, details in problems.items():
        lines.append("  - %s:" % WHAT[piece])
        lines += ["      %s" % d for d in details]
    packages = apt_packages(problems)
    if packages:
        lines += ["Debian/Ubuntu (or `sudo make setup-system`, which installs what is missing):",
                  "    sudo apt-get install %s" % " ".join(packages)]
    if "chromium" in problems:
        lines.append("    (Ubuntu has no plain `chromium` package; its `chromium-browser` only installs the snap: "
                     "`sudo snap install chromium`, or Google Chrome; set CHROMIUM=/path/to/it if not on PATH)")
    lines.append("macOS:")
    lines += ["    %s: %s" % (piece, MACOS[piece]) for piece in problems]
    return "\n".join(lines) + "\n"


def install(problems):
    """apt-get install the packages of the missing pieces (as root, or through sudo). Returns the exit status."""
    packages = apt_packages(problems)
    if not packages:
        return 1
    if not shutil.which("apt-get"):
        sys.stderr.write("setup-system: no apt-get here; install by hand: %s\n" % " ".join(packages))
        return 1
    prefix = []
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            sys.stderr.write("setup-system: not root and no sudo; as root run: apt-get install %s\n"
                             % " ".join(packages))
            return 1
        prefix = ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("setup-system: apt-get install %s" % " ".join(packages))
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq"] + packages):
        status = subprocess.call(prefix + (["env", "DEBIAN_FRONTEND=noninteractive"] if prefix else []) + cmd,
                                 env=env)
        if status != 0:
            sys.stderr.write("setup-system: `%s` failed (status %d)\n" % (" ".join(cmd), status))
            return status
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", metavar="TARGET",
                        help="make targets to check for: %s (default: setup)" % ", ".join(sorted(NEEDS)))
    parser.add_argument("--install", action="store_true",
                        help="apt-get install what is missing (root or sudo), then check again")
    args = parser.parse_args(argv)
    targets = args.targets or ["setup"]
    unknown = [t for t in targets if t not in NEEDS]
    if unknown:
        parser.error("unknown target(s) %s; choose from %s" % (", ".join(unknown), ", ".join(sorted(NEEDS))))
    start = time.monotonic()
    problems = missing(targets)
    if problems and args.install:
        if install(problems) != 0:
            sys.stderr.write(report(targets, problems, time.monotonic() - start))
            return 1
        start = time.monotonic()
        problems = missing(targets)
    if problems:
        sys.stderr.write(report(targets, problems, time.monotonic() - start))
        return 1
    if args.install:
        print("setup-system: everything %s needs is installed" % " and ".join("`make %s`" % t for t in targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
