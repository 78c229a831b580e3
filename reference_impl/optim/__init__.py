"""Optimizers of the course: one file per family, each a pure update function plus a thin Optimizer shell.

The public classes (a contract: the book, the autograders and the tests use these names) keep the keywords and
defaults of the oracle they are tested against; see ``DESIGN.md``.
"""

from .sgd import SGD, sgd_update

__all__ = ["SGD", "sgd_update"]
