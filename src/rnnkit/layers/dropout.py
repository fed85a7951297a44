"""Inverted dropout: y = x * m / (1 - p) with m ~ Bernoulli(1 - p), only while training."""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..saving import saveable
from .base import Layer


@saveable
class Dropout(Layer):
    """Zero each element with probability ``p`` while training and scale the rest by 1 / (1 - p).

    ``seed`` is an int, None, or an ``np.random.Generator`` that is used as given (so layers can share one).
    """

    def __init__(self, p: float, seed=None):
        self.p = _checks.probability("dropout", p)
        self.rng = np.random.default_rng(seed)
        self.params, self.grads = {}, {}
        self._scale = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        if not training or self.p == 0.0:
            self._scale = None
            return x
        keep = self.rng.random(x.shape) >= self.p
        self._scale = keep.astype(x.dtype) / x.dtype.type(1.0 - self.p)
        return x * self._scale

    def backward(self, dy: np.ndarray) -> np.ndarray:
        scale, self._scale = self._scale, None
        return dy if scale is None else dy * scale
