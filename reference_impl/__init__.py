"""reference_impl: the tested optimizers and learning-rate schedules of the course.

Every algorithm taught in the book lives here exactly once. Chapters show this code with
``literalinclude``; the nbgrader autograders compare students' implementations with it.

Subpackages and modules:

* :mod:`reference_impl.optim` -- optimizers (pure update functions + thin ``torch.optim.Optimizer`` shells);
* :mod:`reference_impl.schedules` -- learning-rate schedules as plain ``step -> lr`` callables;
* :mod:`reference_impl.problems` -- the test problems and data sets the book reuses.
"""

__version__ = "0.1.0"
