"""The basic RNN cell (Elman), tanh or ReLU.

    h<t> = act(x<t> @ W_x + h<t-1> @ W_h + b)                      act = tanh or relu

Backward, with dh the gradient reaching h<t>:

    dz = dh * (1 - h<t>**2)      (tanh)        dz = dh * [h<t> > 0]      (relu)
    dh<t-1> = dz @ W_h.T         dW_x = sum_t x<t>.T @ dz<t>, dW_h = sum_t h<t-1>.T @ dz<t>, db = sum dz
"""

from __future__ import annotations

import numpy as np

from .base import Cell


class RNNCell(Cell):
    n_gates = 1
    state_names = ("h",)

    def __init__(self, hidden_size: int, nonlinearity: str = "tanh"):
        super().__init__(hidden_size)
        self.nonlinearity = nonlinearity

    def step(self, p, xw_t, state, saved, t):
        (h,) = state
        z = h @ p["W_h"]
        z += xw_t
        if self.nonlinearity == "tanh":
            np.tanh(z, out=z)
        else:
            np.maximum(z, 0, out=z)
        return (z,)

    def step_backward(self, p, dstate, state_prev, state_new, saved, t, dz_t):
        (dh,) = dstate
        (h,) = state_new
        if self.nonlinearity == "tanh":
            np.multiply(h, h, out=dz_t)
            np.subtract(1.0, dz_t, out=dz_t)
            dz_t *= dh
        else:
            np.multiply(dh, h > 0, out=dz_t)
        return (dz_t @ p["W_h"].T,)
