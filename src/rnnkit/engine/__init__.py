"""What makes rnnkit fast, apart from the equations the cells state: compiled kernels (``kernels.py``: the
element-wise steps and the persistent loop's microkernel, shaped per instruction set), the persistent LSTM
loop (``persistent.py``) and its worker threads (``threads.py``), the choice between that loop and the
layer's, measured per machine (``tuning.py``), arrays kept between calls (``workspace.py``) and single
compiled passes of the optimizer (``fused.py``).

OpenBLAS's idle threads spin for 2^28 cycles (about 0.1 s) after each call, and beside the persistent loop's
workers that halves their speed. Imported before NumPy, this package shortens the spin to 2^20 cycles (under
a millisecond) through ``OPENBLAS_THREAD_TIMEOUT``, which OpenBLAS reads once, when NumPy loads it; a value
of your own wins. ``rnnkit/__init__.py`` imports this package first for that reason.
"""

import os
import sys

SHORT_SPIN = 22  # OPENBLAS_THREAD_TIMEOUT values up to this count as a short spin

if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")
    _spin = os.environ["OPENBLAS_THREAD_TIMEOUT"]
    short_blas_spin = _spin.isdigit() and int(_spin) <= SHORT_SPIN
else:
    short_blas_spin = False  # OpenBLAS has read its environment already
