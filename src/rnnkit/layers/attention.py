"""Additive (Bahdanau) attention of every query step over a masked sequence of encoder outputs.

    k<j> = h<j> @ W_k                                  (B, Tx, A)   the keys, once per source
    q<t> = s<t> @ W_q + b                              (B, Ty, A)   one query per decoder step
    e<t,j> = v . tanh(q<t> + k<j>)                     (B, Ty, Tx)  the score, -inf at padded j
    alpha<t,j> = softmax over j of e<t,j>              (B, Ty, Tx)  the attention weights
    c<t> = sum_j alpha<t,j> h<j>                       (B, Ty, He)  the context

h the encoder's outputs (He features), s the decoder's states (Hd features), A the attention size.
Backward, with u = tanh(q<t> + k<j>) and dc the gradient of the context:

    dalpha<t,j> = dc<t> . h<j>          de = alpha * (dalpha - sum_j alpha dalpha)      (softmax)
    dv = sum de u     dpre = de v (1 - u^2)     dq<t> = sum_j dpre     dk<j> = sum_t dpre
    dh<j> = sum_t alpha<t,j> dc<t> + dk<j> @ W_k.T       ds<t> = dq<t> @ W_q.T
"""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..init import glorot_uniform
from ..saving import saveable
from .base import Layer, rows_times


@saveable
class AdditiveAttention(Layer):
    """Parameters W_k (He, A), W_q (Hd, A) Glorot-uniform, b (A,) zero, v (A,) uniform in ±1/sqrt(A)."""

    def __init__(self, key_size: int, query_size: int, attention_size: int, dtype=np.float32, seed=None):
        self.key_size = _checks.positive_int("key_size", key_size)
        self.query_size = _checks.positive_int("query_size", query_size)
        size = _checks.positive_int("attention_size", attention_size)
        self.dtype = _checks.float_dtype("dtype", dtype)
        rng = np.random.default_rng(seed)
        limit = 1.0 / np.sqrt(size)
        self.params = {
            "W_k": glorot_uniform(rng, (key_size, size), self.dtype),
            "W_q": glorot_uniform(rng, (query_size, size), self.dtype),
            "b": np.zeros(size, self.dtype),
            "v": rng.uniform(-limit, limit, size).astype(self.dtype),
        }
        self._init_grads()
        self._cache = None

    def forward(self, h, s, mask=None, training: bool = True):
        """Contexts (B, Ty, He) and weights alpha (B, Ty, Tx) of queries s (B, Ty, Hd) over h (B, Tx, He).

        ``mask`` (B, Tx) marks each source's valid steps (at least one per row); padded steps get weight 0.
        """
        h = _checks.real_array("h", h, self.dtype, 3)
        s = _checks.real_array("s", s, self.dtype, 3)
        if h.shape[2] != self.key_size or s.shape[2] != self.query_size or h.shape[0] != s.shape[0]:
            raise ValueError(f"h must be (B, Tx, {self.key_size}) and s (B, Ty, {self.query_size}), got "
                             f"{h.shape} and {s.shape}")
        p = self.params
        q, k = rows_times(s, p["W_q"]) + p["b"], rows_times(h, p["W_k"])
        u = q[:, :, None, :] + k[:, None, :, :]  # (B, Ty, Tx, A)
        np.tanh(u, out=u)
        e = u @ p["v"]
        if mask is not None:
            e = np.where(np.asarray(mask)[:, None, :], e, -np.inf)
        alpha = np.exp(e - e.max(axis=2, keepdims=True))
        alpha /= alpha.sum(axis=2, keepdims=True)
        self._cache = (h, s, u, alpha) if training else None
        return alpha @ h, alpha

    def backward(self, dc):
        """Accumulate the parameters' gradients from dc (B, Ty, He); returns (dh (B, Tx, He), ds (B, Ty, Hd))."""
        if self._cache is None:
            raise RuntimeError("backward needs a forward(training=True) call first; the cache is empty")
        h, s, u, alpha = self._cache
        self._cache = None
        p, g = self.params, self.grads
        dalpha = dc @ h.transpose(0, 2, 1)
        de = alpha * (dalpha - np.sum(alpha * dalpha, axis=2, keepdims=True))
        A = u.shape[3]
        g["v"] += de.reshape(-1) @ u.reshape(-1, A)
        dpre = np.multiply(u, u, out=u)  # u is not needed after this: its memory becomes dpre
        np.subtract(1, dpre, out=dpre)
        dpre *= p["v"]
        dpre *= de[..., None]
        dq, dk = dpre.sum(axis=2), dpre.sum(axis=1)
        g["W_q"] += s.reshape(-1, s.shape[2]).T @ dq.reshape(-1, dq.shape[2])
        g["b"] += dq.sum(axis=(0, 1))
        g["W_k"] += h.reshape(-1, h.shape[2]).T @ dk.reshape(-1, dk.shape[2])
        dh = alpha.transpose(0, 2, 1) @ dc + rows_times(dk, p["W_k"].T)
        return dh, rows_times(dq, p["W_q"].T)
