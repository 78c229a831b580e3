import os
import sys

# the test helpers (_nets, optim_cases) are imported as top-level modules
sys.path.insert(0, os.path.dirname(__file__))
# nbgrader calls `alembic` and notebooks run on the environment's `python3` kernel: whether pytest was started by
# `make test` or as `.venv/bin/python -m pytest`, this environment's bin folder comes first on PATH.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
# tests never draw on screen
os.environ.setdefault("MPLBACKEND", "Agg")
# The test tensors are tiny: one thread is fastest. With the default (one per core), OpenMP threads spin against
# each other on a loaded 2-core machine: 100 SOAP steps (eigh, QR) took 20 s instead of 0.5 s (measured).
os.environ.setdefault("OMP_NUM_THREADS", "1")  # also for subprocesses (notebook kernels)
import torch  # noqa: E402

torch.set_num_threads(1)
