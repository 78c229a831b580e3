import os
import sys

# the test helpers (_nets, optim_cases) are imported as top-level modules
sys.path.insert(0, os.path.dirname(__file__))
# tests never draw on screen
os.environ.setdefault("MPLBACKEND", "Agg")
