"""Arrays kept from one call to the next, so that repeated calls of one shape allocate nothing.

Fresh large arrays cost page faults on every call (the allocator hands big blocks back to the system), a
large share of a small LSTM's training step. A layer keeps one workspace for training calls and one for
inference, so that a sampling call between forward and backward leaves the training cache alone. Nothing a
layer returns to its caller lives in a workspace: an array it returns a view of is handed over
(``hand_over``) and leaves the workspace.

Arrays start on a 64-byte cache line (NumPy's start 16 bytes into one): where two cores write the two halves
of each row, as the persistent loop's workers may, a row straddling a line made them fight over it.
"""

from __future__ import annotations

import math

import numpy as np


class Workspace:
    def __init__(self, dtype):
        self.dtype = dtype
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, key: str, shape: tuple) -> np.ndarray:
        """The array kept under ``key`` in this shape (any shape of the same size shares the memory), or a
        new one when the size changed; its contents are undefined."""
        array = self._arrays.get(key)
        if array is None or array.size != math.prod(shape):
            array = self._arrays[key] = aligned_empty(shape, self.dtype)
        return array.reshape(shape)

    def hand_over(self, view: np.ndarray) -> None:
        """Let go of the kept array that ``view`` looks into, if any, for the caller to keep: the next call of
        its shape gets a new one. (Returning a view this way spares copying the array out.)"""
        for key, array in list(self._arrays.items()):
            if np.may_share_memory(array, view):  # kept arrays are separate blocks: bounds that overlap are one
                del self._arrays[key]

    def scope(self, prefix: str):
        """``buffer(name, shape)`` for one part of a layer (its keys prefixed with ``prefix``)."""
        return lambda name, shape: self.get(f"{prefix}.{name}", shape)


def aligned_empty(shape, dtype) -> np.ndarray:
    """``np.empty(shape, dtype)`` starting on a 64-byte cache line."""
    size = math.prod(shape) * np.dtype(dtype).itemsize
    raw = np.empty(size + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start : start + size].view(dtype).reshape(shape)
