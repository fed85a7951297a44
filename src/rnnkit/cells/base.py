"""What every recurrent cell shares: parameter layout, initialisation and the weight-gradient GEMMs.

Orientation of the fast path (row vectors, batch first within a step): for a step t,

    z<t> = x<t> @ W_x + h<t-1> @ W_h + b        x<t>: (B, F), h: (B, H), W_x: (F, G*H), W_h: (H, G*H), b: (G*H,)

where G is the number of gate blocks packed side by side along the last axis (in PyTorch's order, so that
``weight_ih = W_x.T``). The layer computes ``x @ W_x + b`` for all steps in one GEMM before the time loop
(``x @ W_x`` alone for a cell with ``adds_bias``) and calls ``step`` once per step. Backward has three parts:

1. ``backward_factors``: what the per-step backward reads, and the array for dz (T, B, G*H). The RNN forms
   its local derivative act'(z) here for all T steps at once; the GRU and LSTM hand over their saved
   gate outputs, from which their compiled kernels form the local derivatives inside each step;
2. ``step_backward``: the only sequential part, from t = T-1 to 0: dz<t> from the gradient reaching the
   step, then the gradients of the previous state, written into the layer's ``out`` arrays (dh<t-1> through
   W_h, with ``factors["W_h_T"]``, a contiguous copy of W_h.T that the layer adds);
3. ``weight_grads``: the weight gradients as one GEMM over all T*B rows.

A cell's per-step buffers live in ``saved`` (arrays with a leading T axis, or scratch for one step). Letters: B batch, T time steps,
F input features, H hidden units, G gate blocks.
"""

from __future__ import annotations

import numpy as np

from ..init import glorot_uniform, orthogonal


def blocks(array: np.ndarray, hidden_size: int, count: int) -> list[np.ndarray]:
    """The ``count`` gate blocks of width H along the last axis, as views."""
    return [array[..., k * hidden_size : (k + 1) * hidden_size] for k in range(count)]


class Cell:
    """Base of the cells. Subclasses define ``n_gates``, ``state_names`` and the per-step methods."""

    n_gates = 1
    state_names = ("h",)
    adds_bias = False  # True when ``step`` adds b itself (the layer then leaves it out of x @ W_x)

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

    def new_saved(self, steps: int, batch: int, buffer) -> dict[str, np.ndarray]:
        """Buffers that ``step`` fills for backward, beyond the states the layer keeps (none here).

        ``buffer(name, shape)`` hands out the layer's reusable arrays (see ``engine.workspace``). Gate outputs
        need no buffer of their own: a cell may write them over x<t> @ W_x, the layer's ``by_gate`` array,
        which backward then hands back as the array for dz.
        """
        return {}

    def weight_grads(self, p, g, x, states, saved, factors, dz, buffer) -> None:
        """Accumulate dW_x = X^T dZ, db = sum dZ, dW_h = H_prev^T dZ over all steps (X: (T*B, F))."""
        rows = dz.shape[0] * dz.shape[1]
        dz2 = dz.reshape(rows, -1)
        g["W_x"] += x.reshape(rows, -1).T @ dz2
        g["b"] += dz2.sum(axis=0)
        g["W_h"] += states[0][:-1].reshape(rows, -1).T @ dz2
