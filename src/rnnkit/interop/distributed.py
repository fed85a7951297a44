"""Data-parallel training over MPI (mpi4py, on MPICH or Open MPI): ``mpiexec -n N rnnkit train ...``.

Every process (rank) holds the whole model and trains on its share of the rows of each global batch. After
its backward pass, one ``Allreduce`` sums a single flat float64 buffer:

    [w_r g_r (every gradient, flattened), w_r L_r, w_r, tokens_r, flags_r]        summed over ranks r

where L_r and g_r are rank r's mean loss and its gradient, and w_r the number of terms that mean is over
(the tokens of its rows, or its rows for a task whose loss is a mean over sequences). Every rank then
holds the gradient of the global batch's mean loss, Σ w_r g_r / Σ w_r, the same on every rank, so the
same optimizer step keeps the parameters identical. The flags are how the ranks agree to stop after a
step (a signal, or the time budget spent, on any rank). Rank 0 alone validates, prints and writes; a checkpoint
gathers the carried state of stream batches from every rank first.

Nothing here pickles: the collectives move NumPy buffers and bytes. ``world()`` is ``Local`` (one process,
every method the identity) unless the process was started by an MPI launcher with more than one rank.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

LAUNCHER_SIZE = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")  # set by Open MPI and by MPICH (Hydra) launchers


class Local:
    """One process: rank 0 of 1."""

    rank, size, is_main = 0, 1, True

    def take(self, batch):
        return batch

    def take_state(self, state):
        return state

    def combine(self, grads, loss, weight, tokens, flags):
        return loss, tokens, flags

    def gather_state(self, state):
        return state

    def share_text(self, text: str) -> str:
        return text


class MPIWorld:
    """The ranks of ``MPI.COMM_WORLD``."""

    def __init__(self, comm):
        from mpi4py import MPI

        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.is_main = self.rank == 0
        self._buffer = None

    def bounds(self, rows: int) -> tuple[int, int]:
        """This rank's rows [lo, hi) of ``rows``: contiguous shares differing by at most one row."""
        edges = np.linspace(0, rows, self.size + 1).round().astype(int)
        return int(edges[self.rank]), int(edges[self.rank + 1])

    def take(self, batch):
        """This rank's rows of a batch: a tuple of arrays with the batch on their first axis (or None)."""
        lo, hi = self.bounds(rows(batch))
        return tuple(None if a is None else a[lo:hi] for a in batch)

    def take_state(self, state):
        """This rank's rows of a carried state (arrays (L*D, B, H), batch on axis 1), or None."""
        if state is None:
            return None
        parts = state if isinstance(state, tuple) else (state,)
        lo, hi = self.bounds(parts[0].shape[1])
        taken = tuple(np.ascontiguousarray(s[:, lo:hi]) for s in parts)
        return taken if isinstance(state, tuple) else taken[0]

    def combine(self, grads: dict, loss: float, weight: float, tokens: int, flags: tuple[bool, ...]):
        """One Allreduce: every gradient becomes the global mean's, in place. Returns (global mean loss,
        tokens of all ranks, each flag: whether any rank raised it)."""
        size = sum(g.size for g in grads.values())
        extra = 3 + len(flags)
        if self._buffer is None or self._buffer.size != size + extra:
            self._buffer = np.empty(size + extra)
        buffer, at = self._buffer, 0
        for g in grads.values():
            np.multiply(g.reshape(-1), weight, out=buffer[at : at + g.size])
            at += g.size
        buffer[at:] = weight * loss, weight, tokens, *flags
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        loss_sum, total, tokens = buffer[at : at + 3]
        at = 0
        for g in grads.values():
            g.reshape(-1)[...] = buffer[at : at + g.size] / total
            at += g.size
        return float(loss_sum / total), int(tokens), tuple(bool(f) for f in buffer[at + 3 :])

    def gather_state(self, state):
        """The whole carried state on rank 0 (None on the others), from every rank's rows."""
        if state is None:
            return None
        parts = state if isinstance(state, tuple) else (state,)
        rows = self._counts(parts[0].shape[1])  # every rank's number of rows
        gathered = []
        for s in parts:
            mine = np.ascontiguousarray(s.transpose(1, 0, 2))  # (rows, L*D, H): a rank's rows are contiguous
            counts = rows * s.shape[0] * s.shape[2]
            whole, recv = None, None
            if self.is_main:
                whole = np.empty((int(rows.sum()), s.shape[0], s.shape[2]), s.dtype)
                recv = [whole, (counts, np.concatenate([[0], np.cumsum(counts)[:-1]])), self._mpi_type(s.dtype)]
            self.comm.Gatherv(mine, recv, root=0)
            gathered.append(None if whole is None else np.ascontiguousarray(whole.transpose(1, 0, 2)))
        if not self.is_main:
            return None
        return tuple(gathered) if isinstance(state, tuple) else gathered[0]

    def _counts(self, mine: int) -> np.ndarray:
        counts = np.zeros(self.size, np.int64)
        self.comm.Allgather(np.array([mine], np.int64), counts)
        return counts

    def _mpi_type(self, dtype):
        return {np.dtype(np.float32): self.MPI.FLOAT, np.dtype(np.float64): self.MPI.DOUBLE}[np.dtype(dtype)]

    def share_text(self, text: str) -> str:
        """Rank 0's ``text`` on every rank (a run directory, so that only rank 0 names and checks it)."""
        data = np.frombuffer(text.encode("utf-8"), np.uint8) if self.is_main else None
        length = np.array([0 if data is None else data.size], np.int64)
        self.comm.Bcast(length, root=0)
        data = data.copy() if data is not None else np.empty(int(length[0]), np.uint8)
        self.comm.Bcast(data, root=0)
        return data.tobytes().decode("utf-8")

    def fail(self, error: BaseException) -> None:
        """Stop every rank: one that failed alone would leave the others waiting in the next Allreduce."""
        print(f"rnnkit: error: rank {self.rank} of {self.size} failed: {error}; stopping all ranks",
              file=sys.stderr, flush=True)
        time.sleep(0.5)  # for the launcher to forward the line: an Abort at once lost it in 3 runs of 25
        self.comm.Abort(1)


def rows(batch) -> int:
    """The number of rows of a batch: a tuple of arrays with the batch on their first axis (or None)."""
    return next(a.shape[0] for a in batch if a is not None)


def launched_size() -> int:
    """The number of ranks an MPI launcher started (1 when none did)."""
    for name in LAUNCHER_SIZE:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1


def world():
    """``MPIWorld`` under ``mpiexec -n N`` with N > 1, else ``Local``."""
    size = launched_size()
    if size <= 1:
        return Local()
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError(f"started as {size} MPI processes, but mpi4py is not installed: "
                          'pip install -e ".[mpi]"') from None
    return MPIWorld(MPI.COMM_WORLD)
