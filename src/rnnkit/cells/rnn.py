"""The basic RNN cell (Elman), tanh or ReLU.

    h<t> = act(x<t> @ W_x + h<t-1> @ W_h + b)                      act = tanh or relu

Backward, with dh the gradient reaching h<t>:

    dz = dh * act'(z)      act'(z) = 1 - h<t>**2 (tanh), [h<t> > 0] (relu)   -- computed for all t at once
    dh<t-1> = dz @ W_h.T   dW_x = sum_t x<t>.T @ dz<t>, dW_h = sum_t h<t-1>.T @ dz<t>, db = sum dz
"""

from __future__ import annotations

import numpy as np

from .base import Cell


class RNNCell(Cell):
    n_gates = 1
    state_names = ("h",)
    gate_names = ()  # no gates: h<t> = act(z<t>)

    def __init__(self, hidden_size: int, nonlinearity: str = "tanh"):
        super().__init__(hidden_size)
        self.nonlinearity = nonlinearity

    def step(self, p, xw_t, prev, out, saved, t):
        (h,) = prev
        (h_new,) = out
        np.matmul(h, p["W_h"], out=h_new)
        h_new += xw_t
        if self.nonlinearity == "tanh":
            np.tanh(h_new, out=h_new)
        else:
            np.maximum(h_new, 0, out=h_new)

    def backward_factors(self, p, saved, states, valid, buffer):
        """act'(z<t>) for every step, zero on padded steps; it becomes dz in place during the loop."""
        h = states[0][1:]
        factor = buffer("by_gate", h.shape)
        if self.nonlinearity == "tanh":
            np.multiply(h, h, out=factor)
            np.subtract(1.0, factor, out=factor)
        else:
            np.greater(h, 0, out=factor, casting="unsafe")
        if valid is not None:
            factor *= valid
        return {"act": factor}, factor

    def step_backward(self, p, d, factors, t, dz_t, out):
        (dh,) = d
        dz_t *= dh
        np.matmul(dz_t, factors["W_h_T"], out=out[0])
