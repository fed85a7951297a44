"""Embedding: y[b, t] = W[ids[b, t]], a table lookup; its gradient scatters dy back into the rows used."""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..engine.fused import scatter_add_rows
from ..saving import saveable
from .base import Layer


@saveable
class Embedding(Layer):
    """Maps integer ids (any shape, values in [0, V)) to vectors: W is (V, E), initialised N(0, 1)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, dtype=np.float32, seed=None):
        self.num_embeddings = _checks.positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = _checks.positive_int("embedding_dim", embedding_dim)
        self.dtype = _checks.float_dtype("dtype", dtype)
        rng = np.random.default_rng(seed)
        self.params = {"W": rng.standard_normal((num_embeddings, embedding_dim)).astype(self.dtype)}
        self._init_grads()
        self._ids = None

    def forward(self, ids, training: bool = True) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"ids must be an integer array, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            bad = ids[(ids < 0) | (ids >= self.num_embeddings)][0]
            raise ValueError(f"ids must lie in [0, {self.num_embeddings}), got {bad}")
        self._ids = ids if training else None
        return self.params["W"][ids]

    def backward(self, dy: np.ndarray) -> None:
        """Accumulate dW[v] += sum of dy where ids == v. Ids have no gradient, so nothing is returned."""
        if self._ids is None:
            raise RuntimeError("backward needs a forward(training=True) call first; the cache is empty")
        ids, self._ids = self._ids, None
        values = np.ascontiguousarray(dy, dtype=self.dtype).reshape(-1, self.embedding_dim)
        scatter_add_rows(self.grads["W"], ids.reshape(-1), values)  # np.add.at, without its per-element cost
