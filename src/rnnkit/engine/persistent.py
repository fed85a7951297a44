"""The LSTM's time loop as one compiled call per layer and direction ("Persistent RNNs", Diamos et al. 2016).

The layer's Python loop (``layers/recurrent.py``) calls OpenBLAS for h<t-1> @ W_h at every step, and OpenBLAS
packs W_h again on every call and runs these small products below its peak. Here W_x and W_h are packed once
per call into panels, and each worker runs every step of its share with no Python in between: its part of
z<t> = x<t> @ W_x + b + h<t-1> @ W_h, then the element-wise step of its units (``kernels.lstm_gates_row``, the
same equations as the loop's). b + x<t+1> @ W_x needs no h, so a worker computes it before moving on, and no
(T, B, 4H) array of projections goes through memory. Backward is the same with dz<t> @ W_h.T; where the
workers share rows, dx<t> = dz<t> @ W_x.T is computed in the loop too, while dz<t> is in cache.

How the workers share a call (``Plan``), chosen per shape by measuring (``tuning.py``):
- **by rows of the batch**: a sequence's steps need nothing of another sequence, so the workers never wait for
  each other and each writes whole rows (two cores writing halves of one row slowed both);
- **by units**, as in "Persistent RNNs": each worker owns chunks of 32 units, its columns of every gate, reads
  only its share of the weights, and the workers meet at one barrier per step before anyone reads h<t>.

The products use an sgemm microkernel written in LLVM IR (``kernels._block``), shaped for the vector registers
numba compiles for. It sums each product in the order k = 0, 1, ..., so results differ from OpenBLAS's in the
last float32 bits; float64 keeps the layer's loop, the exact reference.

Why the workers are written as they are (one line each; the measurements are in ``benchmarks/README.md``):
- the row kernels take a worker's units in place, its four gate blocks H apart, one view per block: gathering
  them into a private row cost as much as the arithmetic, and indexing j and H + j of one row did not vectorise;
- arrays start on 64-byte cache lines (``workspace.py``), so no two workers write one line;
- no reference counting in the workers (``kernels._worker``): counting views of shared arrays is an atomic add
  both cores fight over;
- loops, not slice assignments, which numba may compile as a copy into a fresh array;
- rows of a known contiguous layout go to the row kernels: rows typed "any layout" did not vectorise.

Workers are as many as NumPy's BLAS has threads (``OPENBLAS_NUM_THREADS=1`` gives one): the calling thread and
threads kept for the others, each pinned to a CPU of its own for the call (``threads.py``). OpenBLAS's idle
threads spinning beside them would halve their speed; ``engine/__init__.py`` shortens that spin.
``mode = "on"`` (``RNNKIT_PERSISTENT=on``) forces the engine, ``"off"`` the layer's loop; ``"auto"`` measures.
Where numba compiles for an instruction set without a tuned block shape (``kernels.ISA`` None: ARM64, x86
without AVX2 and FMA), auto keeps the layer's loop. Sequences shorter than ``MIN_STEPS`` keep it unmeasured:
below 8 steps, starting the workers and packing W_h did not repay.
"""

from __future__ import annotations

import functools
import os

import numpy as np
from threadpoolctl import ThreadpoolController

from . import short_blas_spin, threads, tuning  # short_blas_spin: see engine/__init__.py
from .kernels import COLUMNS, ISA, ROWS, WIDTH, pack_rows_transposed, persistent_lstm_backward, persistent_lstm_forward

mode = os.environ.get("RNNKIT_PERSISTENT", "auto")  # "auto", "on" or "off"
LSTM_GATES = ("i", "f", "g", "o")  # the gates the workers compute, in this order: a cell with these is an LSTM
_blas = ThreadpoolController().select(user_api="blas").lib_controllers


def workers() -> int:
    """As many workers as NumPy's BLAS has threads."""
    threads = _blas[0].get_num_threads() if _blas else 1
    return max(1, threads or 1)


MIN_STEPS = 8  # shorter sequences do not repay starting the workers and packing W_h (measured above)


def plan(cell, p, record, shape, training: bool, trial) -> Plan | None:
    """How this engine runs a layer's loop over x of ``shape`` (T, B, F), or None where the layer runs it.
    The engine can take a float32 LSTM with whole chunks of 32 units, at least ``MIN_STEPS`` steps and no
    recording. ``mode = "on"`` takes it wherever it can run, ``"off"`` nowhere; ``"auto"`` takes it where its
    microkernel has a shape for the instruction set numba compiles for (``kernels.ISA``) and where it was
    measured faster than the layer's loop for this shape on this machine (``tuning``: ``trial(engine)`` times
    one call either way)."""
    if mode == "off" or cell.gate_names != LSTM_GATES or record is not None:
        return None
    T, B, F = shape
    if p["W_h"].dtype != np.float32 or cell.hidden_size % COLUMNS or (T < MIN_STEPS and mode != "on"):
        return None
    H, count = cell.hidden_size, workers()
    if mode == "on":
        return _plan(H, count, "rows" if count == 1 or B >= ROWS * count else "units")
    if ISA is None:  # no block shape tuned for this instruction set: never slower than the layer's loop
        return None
    # one worker owns every row and unit; several share the rows only when each gets a block of them
    ways = ["loop", "rows"] if count == 1 else ["loop", "units"] + (["rows"] if B >= ROWS * count else [])
    key = tuning.key(ISA, count, short_blas_spin, cell.peephole, T, B, F, H, training)
    way = tuning.choice(key, ways, lambda way: trial(None if way == "loop" else _plan(H, count, way)))
    return None if way == "loop" else _plan(H, count, way)


class Plan:
    """How ``count`` workers share a call (``shares``): by rows of the batch (``split`` "rows") or by units
    ("units"). A worker that owns whole rows owns all their units and needs no other; one that owns units
    [32 lo, 32 hi) of every row meets the others once per step. Units go in whole chunks of 32, which start on
    128-byte boundaries, so no two workers write one cache line. Which is faster depends on the machine and
    the shape (benchmarks/README.md), so ``plan`` measures both."""

    def __init__(self, hidden_size: int, count: int, split: str):
        self.hidden_size, self.count, self.split = hidden_size, count, split
        self.by_rows = split == "rows" or count == 1  # one worker owns every row

    def shares(self, batch: int) -> list[tuple[int, int, int, int]]:
        """(r0, r1, lo, hi) per worker: rows [r0, r1) and chunks [lo, hi) of units."""
        chunks = self.hidden_size // COLUMNS
        if self.by_rows:  # evenly: rows past a worker's last full block get a product of their own
            rows = [w * batch // self.count for w in range(self.count + 1)]
            return [(rows[w], rows[w + 1], 0, chunks) for w in range(self.count)]
        count = min(self.count, chunks)
        units = [w * chunks // count for w in range(count + 1)]
        return [(0, batch, units[w], units[w + 1]) for w in range(count)]

    def forward(self, cell, p, x, gates, states, saved, valid, keep, buffer):
        """The layer's forward loop, its input projection included: x (T, B, F) time-major (its rows may be any
        distance apart: inference reads the batch-first input in place); gates (T, B, 4H), or (1, B, 4H) unless
        ``keep``, gets the gate outputs; ``states`` (h, c), each (T+1, B, H), hold the initial state in [0];
        ``valid`` is None or (T, B, 1); ``buffer`` hands out the layer's arrays."""
        H = self.hidden_size
        T, B, F = x.shape
        panels_x, panels_h = _column_panels(p["W_x"], H, buffer, "W_x"), _column_panels(p["W_h"], H, buffer, "W_h")
        self._run(persistent_lstm_forward, B,
                  (panels_x, panels_h, x, gates, p["b"], *_zeros(4 * H, buffer), *states, saved["tanh_c"], keep,
                   _valid(valid, T, B, buffer), *cell._peepholes(p)))

    def backward(self, cell, p, factors, dz, dy, dstate, buffer):
        """The layer's backward loop; ``dz`` holds the gate outputs on entry and dz on return. Returns the
        gradients (dh, dc) of the initial state, and dx (T, B, F) = dz @ W_x.T, or None where the workers do
        not compute it (units shared, or F not whole chunks of 32); both in the workspace."""
        H, F = self.hidden_size, len(p["W_x"])
        T, B = dy.shape[:2]
        # panels[s] = W_h[WIDTH s : WIDTH (s + 1), :].T, (4H, WIDTH): the columns of W_h.T that give strip s of dh<t-1>
        panels = buffer("panels.T", (H // WIDTH, 4 * H, WIDTH))
        pack_rows_transposed(p["W_h"], panels)
        panels_x, dx = _NO_PANELS, _NOWHERE
        if self.by_rows and F % COLUMNS == 0:  # dx<t> too, in the loop, while dz<t> is in cache
            panels_x, dx = buffer("panels_x.T", (F // WIDTH, 4 * H, WIDTH)), buffer("dx", (T, B, F))
            pack_rows_transposed(p["W_x"], panels_x)
        d = buffer("d", (2, 2, B, H))
        d[1, 0], d[1, 1] = dstate
        self._run(persistent_lstm_backward, B,
                  (panels[None], dz, dy, factors["tanh_c"], factors["c_prev"], factors["valid"], *factors["peepholes"],
                   d, *_zeros(max(4 * H, F), buffer), panels_x[None], dx))
        return (d[(T - 1) % 2, 0], d[(T - 1) % 2, 1]), (dx if dx.size else None)

    def _run(self, target, B, args):
        """target(r0, r1, lo, hi, sharing, *args, counter) for each worker's share, at once (``threads.run``);
        ``sharing`` is how many meet at each step (1: none)."""
        shares = self.shares(B)
        sharing = 1 if self.by_rows else len(shares)  # the workers on the same rows
        counter = np.zeros(1, np.int64)
        threads.run(target, [(*share, sharing, *args, counter) for share in shares])


_NOWHERE, _NO_PANELS = np.empty((0, 0, 0), np.float32), np.empty((0, 0, WIDTH), np.float32)  # no dx to compute
_plan = functools.lru_cache(Plan)  # a plan holds nothing of a call: one per (H, workers, split) serves them all


def _column_panels(W, H, buffer, name):
    """panels[g, s] = W[:, g H + WIDTH s : g H + WIDTH (s + 1)], (rows, WIDTH): gate g's columns of strip s."""
    panels = buffer(f"panels {name}", (4, H // WIDTH, len(W), WIDTH))
    np.copyto(panels, W.reshape(len(W), 4, H // WIDTH, WIDTH).transpose(1, 2, 0, 3))
    return panels


def _zeros(width, buffer):
    """A zero row (1, width) and a zero bias (width,): the X and bias of a product that starts from nothing."""
    row, bias = buffer(f"zero row {width}", (1, width)), buffer(f"zero bias {width}", (width,))
    row[...], bias[...] = 0, 0
    return row, bias


def _valid(valid, T, B, buffer):
    """``valid`` (T, B) as float32: 1 on real steps, 0 on padded ones; ones when there is no mask."""
    out = buffer("valid", (T, B))
    out[...] = 1 if valid is None else valid.reshape(T, B)
    return out
