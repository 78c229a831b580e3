"""``python -m course_grading``: see :mod:`course_grading.cli`."""

import sys

from .cli import main

sys.exit(main())
