"""Dense (time-distributed): y = x @ W + b over the last axis, for x of any leading shape (B, T, F) or (B, F)."""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..init import glorot_uniform
from ..saving import saveable
from .base import Layer, rows_times


@saveable
class Dense(Layer):
    """W (F, O) Glorot-uniform, b (O,) zero. Backward: dx = dy @ W.T, dW = x^T dy, db = sum dy."""

    def __init__(self, in_features: int, out_features: int, dtype=np.float32, seed=None):
        self.in_features = _checks.positive_int("in_features", in_features)
        self.out_features = _checks.positive_int("out_features", out_features)
        self.dtype = _checks.float_dtype("dtype", dtype)
        rng = np.random.default_rng(seed)
        self.params = {
            "W": glorot_uniform(rng, (in_features, out_features), self.dtype),
            "b": np.zeros(out_features, self.dtype),
        }
        self._init_grads()
        self._x = None

    def forward(self, x, training: bool = True) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have {self.in_features} features (last axis), got shape {x.shape}")
        self._x = x if training else None
        y = rows_times(x, self.params["W"])
        y += self.params["b"]
        return y

    def backward(self, dy) -> np.ndarray:
        if self._x is None:
            raise RuntimeError("backward needs a forward(training=True) call first; the cache is empty")
        x, self._x = self._x, None
        dy = np.asarray(dy, dtype=self.dtype)
        x2, dy2 = x.reshape(-1, self.in_features), dy.reshape(-1, self.out_features)
        self.grads["W"] += x2.T @ dy2
        self.grads["b"] += dy2.sum(axis=0)
        return rows_times(dy, self.params["W"].T)
