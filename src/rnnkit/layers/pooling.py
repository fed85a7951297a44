"""Pooling over time: one vector per sequence from a recurrent layer's outputs, using valid steps only.

    h: (B, T, D*H) -> v: (B, D*H)          n_b = the number of valid steps of sequence b (mask row sum)

    last:  v_b = [h_b<n_b> forward half, h_b<1> reverse half]   each direction's output after reading it all
    mean:  v_b = (1 / n_b) sum_{t <= n_b} h_b<t>
    max:   v_b = max_{t <= n_b} h_b<t>   (element-wise; the gradient goes to the step that holds the max)

The reverse direction reads a sequence from its last valid step back to its first, so its output at the
first step is the one that has seen every step; the forward direction's is at the last valid step.
"""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..saving import saveable
from .base import Layer

MODES = ("last", "mean", "max")


@saveable
class TimePooling(Layer):
    """``mode`` last, mean or max over the valid steps; ``directions`` 1 or 2 (halves of the feature axis)."""

    def __init__(self, mode: str, directions: int = 1):
        self.mode = _checks.one_of("pool", mode, MODES)
        self.directions = _checks.one_of("directions", directions, (1, 2))
        self.params, self.grads = {}, {}
        self._cache = None

    def forward(self, h, mask=None, training: bool = True) -> np.ndarray:
        B, T, DH = h.shape
        lengths = np.full(B, T) if mask is None else mask.sum(axis=1)
        valid = np.ones((B, T), bool) if mask is None else mask
        rows = np.arange(B)
        if self.mode == "last":
            v = h[rows, lengths - 1].copy()
            if self.directions == 2:
                v[:, DH // 2 :] = h[:, 0, DH // 2 :]
            where = None
        elif self.mode == "mean":
            v = np.where(valid[..., None], h, 0).sum(axis=1) / lengths[:, None].astype(h.dtype)
            where = None
        else:
            where = np.where(valid[..., None], h, -np.inf).argmax(axis=1)  # (B, D*H): the step of each max
            v = np.take_along_axis(h, where[:, None, :], axis=1)[:, 0]
        self._cache = (h.shape, h.dtype, lengths, valid, where) if training else None
        return v

    def backward(self, dv) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("backward needs a forward(training=True) call first; the cache is empty")
        (B, T, DH), dtype, lengths, valid, where = self._cache
        self._cache = None
        dh = np.zeros((B, T, DH), dtype)
        rows = np.arange(B)
        if self.mode == "last":
            half = DH // self.directions
            dh[rows, lengths - 1, :half] = dv[:, :half]
            if self.directions == 2:
                dh[:, 0, half:] += dv[:, half:]
        elif self.mode == "mean":
            dh[...] = valid[..., None] * (dv / lengths[:, None].astype(dtype))[:, None, :]
        else:
            np.put_along_axis(dh, where[:, None, :], dv[:, None, :], axis=1)
        return dh
