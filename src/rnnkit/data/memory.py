"""Long-memory tasks, generated from a seed at any length T: what a basic RNN cannot learn and gated cells can.

adding   (Hochreiter & Schmidhuber 1997; in the form of Arjovsky et al. 2016) x<t> = (u<t>, m<t>): u<t>
         uniform in [0, 1], m<t> = 1 at two steps, one in each half of the sequence, 0 elsewhere; the target
         is the sum of the two marked u. Answering 1 whatever the input gives MSE Var(u1 + u2) = 1/6.
copy     (Arjovsky et al. 2016) ten symbols from 1..8, T - 1 blanks (0), the delimiter 9, ten blanks; the
         target is blank for T + 10 steps, then the ten symbols. A model with no memory puts blank first
         and then 1/8 on each symbol: cross-entropy 10 ln 8 / (T + 20) per step.
first    T symbols from 0..7; the label is the first one. Without memory of it: ln 8 per sequence.
"""

from __future__ import annotations

import math

import numpy as np

TASKS = ("adding", "copy", "first")
COPY_SYMBOLS, COPY_LENGTH, DELIMITER = 8, 10, 9


def memoryless_loss(task: str, T: int) -> float:
    """The loss of the best answer that remembers nothing (see the module docstring)."""
    return {"adding": 1 / 6, "copy": COPY_LENGTH * math.log(COPY_SYMBOLS) / (T + 2 * COPY_LENGTH),
            "first": math.log(COPY_SYMBOLS)}[task]


def examples(task: str, n: int, T: int, rng: np.random.Generator):
    """``n`` examples (inputs, targets) of ``task`` with T steps (copy: T + 20)."""
    if task == "adding":
        u = rng.random((n, T))
        marks = np.zeros((n, T))
        half = T // 2
        rows = np.arange(n)
        marks[rows, rng.integers(0, half, n)] = 1.0
        marks[rows, rng.integers(half, T, n)] = 1.0
        return np.stack([u, marks], axis=2).astype(np.float32), (u * marks).sum(axis=1).astype(np.float32)
    if task == "copy":
        symbols = rng.integers(1, COPY_SYMBOLS + 1, (n, COPY_LENGTH))
        x = np.zeros((n, T + 2 * COPY_LENGTH), np.int64)
        y = np.zeros_like(x)
        x[:, :COPY_LENGTH] = symbols
        x[:, COPY_LENGTH + T - 1] = DELIMITER
        y[:, -COPY_LENGTH:] = symbols
        return x, y
    if task == "first":
        x = rng.integers(0, COPY_SYMBOLS, (n, T))
        return x, x[:, 0].copy()
    raise ValueError(f"memory task must be one of {', '.join(TASKS)}, got {task!r}")


class MemoryBatches:
    """Fresh examples for every step, drawn from (seed, epoch, index) alone, so a resumed run sees the same."""

    carries_state = False
    batches_per_epoch = 1000  # an "epoch" of generated data is a bookkeeping unit only

    def __init__(self, task: str, batch_size: int, T: int, seed: int):
        self.task, self.batch_size, self.T, self.seed = task, batch_size, T, seed

    def batch(self, epoch: int, index: int):
        return examples(self.task, self.batch_size, self.T, np.random.default_rng([self.seed, epoch, index]))
