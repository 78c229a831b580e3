"""Grading helpers shared by the exercise notebooks, the tests and the instructors' commands.

* :mod:`reference_impl.grading.testing` -- what the notebooks' test cells call: run a student's update function
  and the reference side by side and fail with a readable message ("expected ..., got ... at step k with
  lr=..."). Imports only torch.
* :mod:`reference_impl.grading.authoring` -- builds the nbgrader source notebooks ``solutions/NN-slug/*.ipynb``
  from their readable sources ``scripts/exercise_sources/NN-slug.py``.
* :mod:`reference_impl.grading.pipeline` -- drives nbgrader in a throw-away copy of the course: generate the
  release, submit notebooks as students, autograde them in one run, read the scores from the gradebook.
* :mod:`reference_impl.grading.secure`, :mod:`reference_impl.grading.guard`, :mod:`reference_impl.grading.grade`
  -- the instructors' grading command (``make grade``): per-student scratch courses under limits, the kernel's
  audit hook, the independent re-check of every test cell outside the student's kernel, the gradebook merge, the
  grade table and feedback.

Only ``pipeline`` and the grading-command modules import nbgrader; ``testing`` imports only torch.

Command line (``python -m reference_impl.grading --help``)::

    python -m reference_impl.grading validate exercises/02-gradient-descent/gradient_descent.ipynb
    python -m reference_impl.grading build [NN-slug ...] [--check]
"""
