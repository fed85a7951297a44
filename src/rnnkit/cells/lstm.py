"""The LSTM cell, optionally with peephole connections (Gers & Schmidhuber 2000).

Gate blocks are packed in PyTorch's order i, f, g, o (the course calls them Γi/update, Γf, c̃, Γo):

    z = x<t> @ W_x + h<t-1> @ W_h + b                                 z: (B, 4H), blocks z_i, z_f, z_g, z_o
    i = σ(z_i + p_i * c<t-1>)    f = σ(z_f + p_f * c<t-1>)    g = tanh(z_g)      (p_* only with peepholes)
    c<t> = f * c<t-1> + i * g
    o = σ(z_o + p_o * c<t>)
    h<t> = o * tanh(c<t>)

Backward, with dh and dc the gradients reaching h<t> and c<t>:

    dz_o = dh * tanh(c<t>) o(1-o)
    dC   = dc + dh * o (1 - tanh(c<t>)**2) + dz_o * p_o
    dz_i = dC * g i(1-i)        dz_f = dC * c<t-1> f(1-f)        dz_g = dC * i (1-g**2)
    dc<t-1> = dC * f + dz_i * p_i + dz_f * p_f                    dh<t-1> = dz @ W_h.T
    dp_i = sum dz_i * c<t-1>    dp_f = sum dz_f * c<t-1>          dp_o = sum dz_o * c<t>

Per step, one GEMM and one compiled loop over the batch rows (numba, ``engine/kernels.py``) that does all of the
element-wise rest, b included. With NumPy that rest was about a dozen ufunc calls, plus a pass over all
steps for the backward factors, and a small LSTM step ran far slower than PyTorch's fused oneDNN kernel.
Without peepholes the kernels get zero p_*. On padded steps (``valid`` 0) every dz is zero, and the layer
carries dh and dc past them. In float32 with H a multiple of 32, the layer runs these steps in
``engine/persistent.py`` instead, which calls the same row kernels (``lstm_gates_row``, ``lstm_backward_row``).
"""

from __future__ import annotations

import numpy as np

from .base import Cell, blocks
from ..engine.kernels import lstm_backward_rows, lstm_forward_rows


class LSTMCell(Cell):
    n_gates = 4
    state_names = ("h", "c")
    gate_names = ("i", "f", "g", "o")  # what the kernel writes over x @ W_x, in this order
    adds_bias = True  # in the kernel, which saves a pass over x @ W_x of all steps

    def __init__(self, hidden_size: int, peephole: bool = False, forget_bias: float = 1.0):
        super().__init__(hidden_size)
        self.peephole = peephole
        self.forget_bias = forget_bias
        self._no_peepholes = {}  # dtype -> zeros (H,), made once

    def init_params(self, input_size, rng, dtype):
        """As ``Cell.init_params``, with the forget-gate bias set to ``forget_bias`` and zero peepholes."""
        H = self.hidden_size
        p = super().init_params(input_size, rng, dtype)
        p["b"][H : 2 * H] = self.forget_bias
        if self.peephole:
            for name in ("p_i", "p_f", "p_o"):
                p[name] = np.zeros(H, dtype)
        return p

    def new_saved(self, steps, batch, buffer):
        """tanh(c<t>) per step and a (B, 4H) scratch for h<t-1> @ W_h. No gate array: the kernel writes the
        gate outputs over x @ W_x (the layer's ``by_gate`` array), and backward writes dz over them."""
        return {"tanh_c": buffer("tanh_c", (steps, batch, self.hidden_size)),
                "hw": buffer("hw", (batch, self.n_gates * self.hidden_size))}

    def _peepholes(self, p):
        """(p_i, p_f, p_o) for the kernels: zeros without peepholes, which leaves the equations unchanged."""
        if self.peephole:
            return p["p_i"], p["p_f"], p["p_o"]
        dtype = p["W_h"].dtype
        if dtype not in self._no_peepholes:
            self._no_peepholes[dtype] = np.zeros(self.hidden_size, dtype)  # only ever read
        zeros = self._no_peepholes[dtype]
        return zeros, zeros, zeros

    def step(self, p, xw_t, prev, out, saved, t):
        h, c = prev
        h_new, c_new = out
        np.matmul(h, p["W_h"], out=saved["hw"])
        lstm_forward_rows(saved["hw"], xw_t, p["b"], c, c_new, h_new, saved["tanh_c"][t], *self._peepholes(p))

    def backward_factors(self, p, saved, states, valid, buffer):
        """What the backward kernel reads: tanh(c<t>), c<t-1> and the valid steps; and the gate outputs,
        in the layer's ``by_gate`` array, which the kernel turns into dz step by step."""
        T, B, _ = saved["tanh_c"].shape
        gates = buffer("by_gate", (T, B, self.n_gates * self.hidden_size))
        valid = np.ones((T, B), gates.dtype) if valid is None else valid.reshape(T, B)
        factors = {"tanh_c": saved["tanh_c"], "c_prev": states[1][:-1], "valid": valid,
                   "peepholes": self._peepholes(p)}
        return factors, gates

    def step_backward(self, p, d, factors, t, dz_t, out):
        dh, dc = d
        dh_prev, dc_prev = out
        lstm_backward_rows(dh, dc, dz_t, factors["tanh_c"][t], factors["c_prev"][t], factors["valid"][t],
                           dc_prev, *factors["peepholes"])  # dz_t holds the gate outputs until this call
        np.matmul(dz_t, factors["W_h_T"], out=dh_prev)

    def weight_grads(self, p, g, x, states, saved, factors, dz, buffer):
        super().weight_grads(p, g, x, states, saved, factors, dz, buffer)
        if self.peephole:
            dz_i, dz_f, _, dz_o = blocks(dz, self.hidden_size, 4)
            c = states[1]
            g["p_i"] += np.einsum("tbh,tbh->h", dz_i, c[:-1])
            g["p_f"] += np.einsum("tbh,tbh->h", dz_f, c[:-1])
            g["p_o"] += np.einsum("tbh,tbh->h", dz_o, c[1:])
