"""The LSTM's time loop as one compiled call per layer and direction ("Persistent RNNs", Diamos et al. 2016).

The layer's Python loop (``layers/recurrent.py``) calls OpenBLAS for h<t-1> @ W_h at every step, and OpenBLAS
packs W_h again on every call and runs these small products at 60-75% of its peak. Here W_x and W_h are packed
once per call into 32-column panels, and each worker runs every step of its share of the work with no Python
in between: its part of z<t> = x<t> @ W_x + b + h<t-1> @ W_h, then the element-wise step of its units
(``kernels.lstm_gates_row``, the same equations as the loop's). The input projection is in the loop too:
b + x<t+1> @ W_x needs no h, so a worker does it before it moves on, and no (T, B, 4H) array of projections
goes through memory (inference 8% faster at S and M than with OpenBLAS's projection of all steps first,
training 0.5-1%: interleaved A/B in one process, 200 pairs of calls). Backward is the same with dz<t> @ W_h.T;
where the workers share rows, dx<t> = dz<t> @ W_x.T is done in the loop as well, while dz<t> is in cache (A/B
against one GEMM after the loop: training 0.99 at S, 0.96 at M, LM step 0.98).

How the workers share the work (``Plan.shares``):
- **by rows of the batch**, when each worker can have a block of 8 rows or more: a sequence's steps need
  nothing of another sequence, so the workers never wait for each other, and each reads and writes whole
  rows. Against the split by units below: inference 0.86 at S (B 32, H 128), 0.95 at M (B 64, H 256);
  training 0.91-0.92 at S, 0.94-0.96 at M; LM step 0.95-0.96 (interleaved A/B in one process, median pair
  ratios). The weights no longer stay in one core's cache (each core reads all of them every step), but at
  these batches the products are bound by arithmetic, not by reading W from L2 or L3;
- **by units** otherwise, as in "Persistent RNNs": each worker owns a range of units (32 at a time), its
  columns of every gate, and the workers meet at one barrier per step before anyone reads h<t>. With 8
  sequences the split by rows (one worker) took 1.3-1.7x as long as this one.
Two workers writing the two halves of each row, on separate cache lines, ran the forward's element-wise part
at 4.3-5.2 ns per unit against 2.5-3.5 with arrays of their own (H 128 and 256, best of 30; likely the
hardware prefetchers pulling in the other core's lines next to a core's own, not proven); that, and a
barrier per step, is what the split by rows takes away.

The products use a small sgemm microkernel written in LLVM IR (``kernels._block``: a block of C = A @ P from a
few rows of A and a packed panel P of columns, in vector accumulators that fill the CPU's vector registers:
8 x 32 in 16 registers of 16 floats with AVX-512, 6 x 16 in 12 registers of 8 floats with AVX2; numba inlines it
and compiles it for the CPU at hand). It sums each product in the order k = 0, 1, ..., so results differ from
OpenBLAS's in the last float32 bits; float64 keeps the layer's loop, the exact reference.

What it took to make two workers faster than one sharing units (each measured on the AMD EPYC of the README):
- the row kernels take a worker's units in place, its four gate blocks H apart in the layer's own column
  order, through one view per block (gathering them into a private row cost as much as the kernel; indexing
  one row at j and H + j kept the compiler from vectorising, 9x slower; an earlier column order that put a
  worker's blocks side by side cost 1-3% more, in permuting W_x, b and the weight gradients);
- arrays on 64-byte cache lines (``workspace.py``): rows whose halves two workers write shared a line;
- no reference counting in the workers (``kernels._worker``): counting row views of shared arrays in and
  out is an atomic add that both cores fought over;
- loops, not slice assignments, which numba may compile as a copy into a fresh array;
- rows of a known contiguous layout for the row kernels: the backward's gradient rows, unpacked from their array
  (``dh, dc = d[k]``), were typed as views of any layout, and the backward's element-wise part did not
  vectorise (5 against 1.2-1.7 ns per unit; training 0.95 at S, 0.98 at M against it).

Workers are as many as NumPy's BLAS has threads (``OPENBLAS_NUM_THREADS=1`` gives one): the calling thread and
threads kept for the others, each pinned to a CPU of its own for the call (``threads.py``). Spinning threads
beside the workers would halve their speed: OpenBLAS's idle threads spin for about 0.1 s after each call, so
``engine/__init__.py`` shortens that to 2^20 cycles when rnnkit is imported before NumPy.

Whether the engine or the layer's loop runs a shape is measured on the machine, the first time it meets the
shape, and kept (``tuning.py``); ``mode = "on"`` or ``RNNKIT_PERSISTENT=on`` forces the engine, ``"off"`` the
loop. Where numba compiles for an instruction set without a tuned block shape (``kernels.ISA`` None: ARM64,
x86 without AVX2 and FMA), auto keeps the layer's loop. Sequences shorter than ``MIN_STEPS`` keep the layer's
loop unmeasured: a training step of a 32 -> 256 LSTM on 64 sequences took 0.90x the loop's time at 8 steps,
0.96x at 4 and 1.04x at 2; inference 0.89x at 8, 1.01x at 4, 1.30x at 2 (AVX-512; interleaved in one process,
200 pairs of calls, median pair ratios).
"""

from __future__ import annotations

import functools
import os

import numpy as np
from threadpoolctl import ThreadpoolController

from . import threads, tuning
from .kernels import COLUMNS, ISA, ROWS, WIDTH, pack_rows_transposed, persistent_lstm_backward, persistent_lstm_forward

from . import short_blas_spin  # whether OpenBLAS's idle threads spin briefly (see engine/__init__.py)

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
    the shape (at B 64, T 100: rows by 4% at H 256 with AVX-512, units by 6% at H 512 with AVX-512 and AVX2,
    in one process, best of 7 calls), so ``plan`` measures both."""

    def __init__(self, hidden_size: int, count: int, split: str):
        self.hidden_size, self.count, self.split = hidden_size, count, split

    def by_rows(self, batch: int) -> bool:
        """Whether the workers share this batch by rows."""
        return self.split == "rows" or self.count == 1

    def shares(self, batch: int) -> list[tuple[int, int, int, int]]:
        """(r0, r1, lo, hi) per worker: rows [r0, r1) and chunks [lo, hi) of units."""
        chunks = self.hidden_size // COLUMNS
        if self.by_rows(batch):  # evenly: rows past a worker's last full block get a product of their own
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
        if self.by_rows(B) and F % COLUMNS == 0:  # dx<t> too, in the loop, while dz<t> is in cache
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
        sharing = 1 if self.by_rows(B) else len(shares)  # the workers on the same rows
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
