# Two commands matter: `make book` and `make test` (see README.md). Everything else is a convenience.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
# nbgrader calls `alembic` as a subprocess, and notebooks run on the `python3` kernel: the venv must come first.
export PATH := $(BIN):$(PATH)

.PHONY: prereqs setup-system setup lint book pdf test clean lab publish check grade bench-grading bench bakeoff

# The system programs the goals need (Python 3.11+, make, Node/npm, and for the tests Chromium and bubblewrap),
# checked in seconds before any long work: one message lists what is missing and how to install it. Checked once
# per make run, for all the goals given on the command line.
PREREQ_GOALS := $(or $(filter setup book pdf test grade,$(MAKECMDGOALS)),setup)
prereqs:
	@$(PYTHON) scripts/check_prereqs.py $(PREREQ_GOALS)

# Install those system programs with apt-get (as root, or through sudo); .ci/run calls it on a fresh machine.
setup-system:
	$(PYTHON) scripts/check_prereqs.py --install setup book pdf test grade

# Create .venv, install the exact versions of requirements-lock.txt and the course (editable: reference_impl and
# course_grading, distribution optimizers-course).
$(STAMP): pyproject.toml requirements-lock.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-lock.txt
	@# the course's distribution was called reference_impl until December 2026: an old editable install goes first
	@$(BIN)/python -m pip uninstall --quiet --yes reference_impl 2>/dev/null || true
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

# MathJax for offline math: an npm package, installed from package-lock.json into node_modules/.
MATHJAX := node_modules/mathjax/es5/tex-mml-chtml.js
$(MATHJAX): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: prereqs $(STAMP) $(MATHJAX)

# Build the HTML book into _build/html; chapters are executed (cached in _build/.jupyter_cache).
# BOOK_ARGS=--all re-reads every page (fresh Sphinx environment; executed chapters still come from the cache).
book: prereqs setup
	$(BIN)/jupyter-book build . -W -n --keep-going $(BOOK_ARGS)
	@echo ""
	@echo "The book is in $(CURDIR)/_build/html -- open file://$(CURDIR)/_build/html/index.html"

# Static checks (ruff; rules and exceptions in pyproject.toml), seconds: run first by `make test`, so that an unused
# import or a closure over a loop variable fails before the long suite starts.
lint: $(STAMP)
	$(BIN)/ruff check .

# The whole book as one PDF, _build/html/book.pdf (published with the book by `make publish`; the intro links to
# it): every page of the toc printed from the built HTML by headless Chromium, joined with pdfunite (poppler).
pdf: prereqs book
	$(BIN)/python scripts/book_pdf.py

# The whole test suite. The book is built first, with -W: the tests read _build/html and do not build it again.
# `--all` re-reads every page (cached execution) so that a warning on a page left unchanged since an earlier,
# failed build still fails (an incremental Sphinx build repeats no warning of an unchanged page).
# Both cores (pytest-xdist); tests that share a course run in one worker (xdist groups, tests/conftest.py);
# the slowest 25 tests are listed at the end.
TEST_WORKERS ?= auto
TEST_ARGS ?= -n $(TEST_WORKERS) --dist loadgroup --durations=25
test: BOOK_ARGS = --all
test: prereqs lint book
	$(BIN)/python -m pytest $(TEST_ARGS)

# Step time and state memory of every optimizer against its oracle (~10M parameters, CPU); BENCH_ARGS=--quick.
bench: setup
	$(BIN)/python benchmarks/bench_optim.py $(BENCH_ARGS)

# Students: run one exercise notebook's released tests exactly as the grader runs them (same rule, same sandboxed
# worker, same judge, same messages); exits non-zero if any fails.
#   make check NB=exercises/02-gradient-descent/gradient_descent.ipynb
check: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make check NB=exercises/NN-slug/notebook.ipynb"; exit 2; }
	$(BIN)/python -m course_grading check "$(NB)"

# Instructors: grade a class's submissions of one assignment. Student code runs under bubblewrap (stops at once if
# it is missing); the tests run in a separate judge; nbgrader's gradebook is the record; writes
# grades/ASSIGNMENT/grades.csv and feedback. SUBMISSIONS: a folder or .zip (LMS export or nbgrader's submitted/).
#   make grade ASSIGNMENT=06-adam-adamw SUBMISSIONS=path/to/export.zip [GRADE_ARGS='--out grades --no-sandbox']
grade: prereqs $(STAMP)
	@test -n "$(ASSIGNMENT)" -a -n "$(SUBMISSIONS)" || { echo "usage: make grade ASSIGNMENT=NN-slug SUBMISSIONS=folder-or-zip"; exit 2; }
	$(BIN)/python -m course_grading grade "$(ASSIGNMENT)" "$(SUBMISSIONS)" $(GRADE_ARGS)

# Seconds per notebook of the grading command for N = 10 and 50 synthetic students (a benchmark, not a test).
bench-grading: $(STAMP)
	$(BIN)/python benchmarks/bench_grading.py $(BENCH_ARGS)

# JupyterLab on the course's own environment, opened at the exercises. nbgrader's extensions (Validate button,
# formgrader for instructors) read nbgrader_config.py from this folder, so the server starts here.
LAB_PORT ?= 8888
lab: setup
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --ServerApp.port=$(LAB_PORT) \
		--LabApp.default_url=/lab/tree/exercises $(if $(filter 0,$(shell id -u)),--allow-root)

# Publish the built book to the gh-pages branch of PUBLISH_REMOTE (default: origin), the usual Jupyter Book way.
PUBLISH_REMOTE ?= origin
PUBLISH_REPO ?= $(CURDIR)
publish:
	@test -f _build/html/index.html || { echo "No built book: run 'make book' first."; exit 1; }
	cd "$(PUBLISH_REPO)" && $(BIN)/ghp-import --no-jekyll --force --push --remote "$(PUBLISH_REMOTE)" \
		--branch gh-pages --message "Publish the course book" "$(CURDIR)/_build/html"

# Rerun the optimizer bake-off of chapter 12 (about an hour on 2 busy cores), its separate timing benchmark and the
# DDP scaling check; they rewrite results/bakeoff.json and results/ddp_scaling.json (committed; the book reads them).
bakeoff: $(STAMP)
	nice -n 10 $(BIN)/python scripts/bakeoff.py --fresh --no-extend
	$(BIN)/python scripts/bakeoff.py --benchmark
	nice -n 10 $(BIN)/python scripts/ddp_scaling.py

clean:
	rm -rf _build submitted autograded feedback gradebook.db grades .grading
