"""What every recurrent cell shares: parameter layout, initialisation and the weight-gradient GEMMs.

Orientation of the fast path (row vectors, batch first within a step): for a step t,

    z<t> = x<t> @ W_x + h<t-1> @ W_h + b        x<t>: (B, F), h: (B, H), W_x: (F, G*H), W_h: (H, G*H), b: (G*H,)

where G is the number of gate blocks packed side by side along the last axis (in PyTorch's order, so that
``weight_ih = W_x.T``). The layer computes ``x @ W_x + b`` for all steps in one GEMM before the time loop and
calls the cell once per step; after the backward loop the cell turns the per-step gradients of ``z`` into
weight gradients with one GEMM over all T*B rows.

Letters: B batch, T time steps, F input features, H hidden units, G gate blocks.
"""

from __future__ import annotations

import numpy as np

from ..init import glorot_uniform, orthogonal


def sigmoid_(a: np.ndarray) -> np.ndarray:
    """In place: a <- 1 / (1 + exp(-a)). Overflow of exp for very negative a gives the exact limit 0."""
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1.0
    np.reciprocal(a, out=a)
    return a


class Cell:
    """Base of the cells. Subclasses define ``n_gates``, ``state_names``, ``step`` and ``step_backward``."""

    n_gates = 1
    state_names = ("h",)

    def __init__(self, hidden_size: int):
        self.hidden_size = hidden_size

    def init_params(self, input_size: int, rng: np.random.Generator, dtype) -> dict[str, np.ndarray]:
        """Glorot-uniform W_x, an orthogonal (H, H) block per gate in W_h, zero b."""
        H, G = self.hidden_size, self.n_gates
        return {
            "W_x": glorot_uniform(rng, (input_size, G * H), dtype),
            "W_h": np.concatenate([orthogonal(rng, H, dtype) for _ in range(G)], axis=1),
            "b": np.zeros(G * H, dtype),
        }

    def new_saved(self, steps: int, batch: int, dtype) -> dict[str, np.ndarray]:
        """Per-step buffers that ``step`` fills and ``step_backward`` reads (gate outputs and the like)."""
        return {}

    def weight_grads(self, p, g, x, states, saved, dz) -> None:
        """Accumulate dW_x = X^T dZ, db = sum dZ, dW_h = H_prev^T dZ over all steps (X: (T*B, F))."""
        rows = dz.shape[0] * dz.shape[1]
        dz2 = dz.reshape(rows, -1)
        g["W_x"] += x.reshape(rows, -1).T @ dz2
        g["b"] += dz2.sum(axis=0)
        g["W_h"] += states[0][:-1].reshape(rows, -1).T @ dz2
