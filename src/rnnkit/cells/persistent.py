"""The LSTM's time loop as one compiled call per layer and direction ("Persistent RNNs", Diamos et al. 2016).

The layer's Python loop (``layers/recurrent.py``) calls OpenBLAS for h<t-1> @ W_h at every step, and OpenBLAS
packs W_h again on every call and runs these small products at 60-75% of its peak. Here the cores share the
hidden units instead: each worker owns a range of units (32 at a time), packs its columns of every gate of
W_h once per call, and then, step after step, computes its columns of h<t-1> @ W_h, the element-wise step of
its units (``kernels.lstm_gates_row``, the same equations), and meets the other workers at one barrier
before anyone reads h<t>. Backward is the same with dz<t> @ W_h.T: a worker's units of dh<t-1> need its rows
of W_h, packed once. No Python runs per step, and each worker's panels of W_h stay in its core's cache.

The products use a small sgemm microkernel written in LLVM IR (``kernels._block``: an 8 x 32 block of
C = A @ P from 8 rows of A and a packed 32-column panel P, in 16 vector accumulators of 16 floats, which
numba inlines and compiles for the CPU at hand). It sums each product in the order k = 0, 1, ..., so results
may differ from OpenBLAS's in the last float32 bits; float64 keeps the layer's loop, the exact reference.

Workers are as many as NumPy's BLAS has threads (``OPENBLAS_NUM_THREADS=1`` gives one). Spinning threads
beside the workers would halve their speed: OpenBLAS's idle threads spin for about 0.1 s after each call, so
``rnnkit/__init__.py`` shortens that to 2^20 cycles when it is imported before NumPy, and the engine runs only
when that took effect or BLAS has one thread (``mode = "on"`` forces it, ``"off"`` turns it off).
"""

from __future__ import annotations

import math
import os
import threading

import numpy as np
from threadpoolctl import ThreadpoolController

from .kernels import COLUMNS, ROWS, pack_rows_transposed, persistent_lstm_backward, persistent_lstm_forward

mode = os.environ.get("RNNKIT_PERSISTENT", "auto")  # "auto", "on" or "off"
short_blas_spin = False  # set by rnnkit/__init__.py when it shortened OpenBLAS's spinning
_blas = ThreadpoolController().select(user_api="blas").lib_controllers


def workers(hidden_size: int) -> int:
    """As many workers as NumPy's BLAS has threads, and no more than chunks of 32 units."""
    threads = _blas[0].get_num_threads() if _blas else 1
    return max(1, min(threads or 1, hidden_size // COLUMNS))


def plan(cell, p, record) -> Plan | None:
    """How this engine runs a layer's loop, or None where the layer runs it: the engine takes a float32 LSTM
    with whole chunks of 32 units, no recording, and no OpenBLAS threads left spinning beside its workers
    (see the module's docstring)."""
    from .lstm import LSTMCell

    if mode == "off" or not isinstance(cell, LSTMCell) or record is not None:
        return None
    if p["W_h"].dtype != np.float32 or cell.hidden_size % COLUMNS:
        return None
    count = workers(cell.hidden_size)
    if mode == "on" or short_blas_spin or count == 1:
        return Plan(cell.hidden_size, count)
    return None


class Plan:
    """The workers' share of the units, and the column order of the gate arrays that goes with it.

    Worker w owns units [a_w, e_w) (whole chunks of 32). In ``order``, the columns of W_x, b, x @ W_x, the
    gates and dz are each worker's z_i, z_f, z_g, z_o side by side: original column g*H + a_w + j sits at
    4 a_w + g (e_w - a_w) + j. So a worker's part of a row is one contiguous slice, which the element-wise
    kernels read as they read a whole row in the layer's loop.
    """

    def __init__(self, hidden_size: int, count: int):
        H, chunks = hidden_size, hidden_size // COLUMNS
        self.hidden_size, self.count = H, count
        self.bounds = [w * chunks // count for w in range(count + 1)]
        units = [(COLUMNS * self.bounds[w], COLUMNS * self.bounds[w + 1]) for w in range(count)]
        self.order = np.concatenate([np.arange(g * H + a, g * H + e) for a, e in units for g in range(4)])
        self.positions = np.argsort(self.order)  # where each original column sits

    def columns(self, array: np.ndarray) -> np.ndarray:
        """``array``'s last axis (4H gate columns) in ``order``: a copy."""
        return np.take(array, self.order, axis=-1)

    def forward(self, cell, p, xw, states, saved, valid, keep):
        """The layer's forward loop: xw (T, B, 4H) holds x @ W_x in ``order`` and gets the gate outputs;
        ``states`` (h, c), each (T+1, B, H), hold the initial state in [0]; ``valid`` is None or (T, B, 1)."""
        H = self.hidden_size
        T, B = xw.shape[:2]
        # panels[g, c] = W_h[:, g*H + 32c : g*H + 32c + 32], (H, 32): gate g's columns of chunk c
        panels = np.ascontiguousarray(p["W_h"].reshape(H, 4, H // COLUMNS, COLUMNS).transpose(1, 2, 0, 3))
        self._run(persistent_lstm_forward, H, (panels, xw, self.columns(p["b"]), *states, saved["tanh_c"], keep,
                                               _valid(valid, T, B), *cell._peepholes(p)))

    def backward(self, cell, p, factors, dz, dy, dstate):
        """The layer's backward loop; ``dz`` (in ``order``) holds the gate outputs on entry and dz on return.
        Returns the gradients (dh, dc) of the initial state."""
        H = self.hidden_size
        T, B = dy.shape[:2]
        # panels[c] = W_h[32c : 32c + 32, order].T, (4H, 32): the columns of W_h.T that give chunk c of dh<t-1>
        panels = np.empty((H // COLUMNS, 4 * H, COLUMNS), np.float32)
        pack_rows_transposed(p["W_h"], self.order, panels)
        d = aligned_empty((2, 2, B, H), np.float32)  # the workers write each row's halves: no shared cache line
        d[1, 0], d[1, 1] = dstate
        self._run(persistent_lstm_backward, 4 * H, (panels[None], dz, dy, factors["tanh_c"], factors["c_prev"],
                                                    factors["valid"], *factors["peepholes"], d,
                                                    np.zeros((1, H), np.float32), np.zeros(H, np.float32)))
        return d[(T - 1) % 2, 0], d[(T - 1) % 2, 1]

    def _run(self, target, K, args):
        """target(lo, hi, count, *args, tail, tail_x, tail_c, counter) on the workers, this thread the first;
        each has its own zero-padded tail rows of A (K wide), X and C (32 wide)."""
        bounds, count = self.bounds, self.count
        scratch = [(np.zeros((ROWS, K), np.float32), np.zeros((ROWS, COLUMNS), np.float32),
                    np.empty((ROWS, COLUMNS), np.float32)) for _ in range(count)]
        counter = np.zeros(1, np.int64)
        threads = [threading.Thread(target=target, args=(bounds[w], bounds[w + 1], count, *args, *scratch[w], counter))
                   for w in range(1, count)]
        for thread in threads:
            thread.start()
        target(bounds[0], bounds[1], count, *args, *scratch[0], counter)
        for thread in threads:
            thread.join()


def _valid(valid, T, B):
    """``valid`` (T, B) as float32: 1 on real steps, 0 on padded ones; ones when there is no mask."""
    return np.ones((T, B), np.float32) if valid is None else np.ascontiguousarray(valid.reshape(T, B), np.float32)


def aligned_empty(shape, dtype) -> np.ndarray:
    """``np.empty(shape, dtype)`` starting on a 64-byte cache line (see ``layers/workspace.py``)."""
    size = math.prod(shape) * np.dtype(dtype).itemsize
    raw = np.empty(size + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start : start + size].view(dtype).reshape(shape)
