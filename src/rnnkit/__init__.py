"""rnnkit: recurrent sequence models from their equations in NumPy, with exact backpropagation through time."""

import os
import sys

# OpenBLAS's idle threads spin for 2^28 cycles (about 0.1 s) after each call, and beside the LSTM's own
# workers (cells/persistent.py) that halves their speed. Imported before NumPy, rnnkit shortens the spin to
# 2^20 cycles (under a millisecond), which OpenBLAS reads once, when NumPy loads it. A value of your own wins.
_SHORT_SPIN = 22
if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")
    _spin = os.environ["OPENBLAS_THREAD_TIMEOUT"]
    _short_spin = _spin.isdigit() and int(_spin) <= _SHORT_SPIN
else:
    _short_spin = False  # OpenBLAS has read its environment already

from .cells import persistent  # noqa: E402
from .layers import GRU, LSTM, RNN, Dense, Dropout, Embedding, parameters  # noqa: E402

persistent.short_blas_spin = _short_spin

__version__ = "0.1.0"

__all__ = ["RNN", "GRU", "LSTM", "Dense", "Dropout", "Embedding", "parameters", "__version__"]
