"""The GRU cell in both conventions. Gate blocks are packed in PyTorch's order r, z, n.

``reset_after=True`` — PyTorch/cuDNN (Cho et al. 2014 v3), the default, weights move to and from torch:

    r = σ(x @ W_xr + h<t-1> @ W_hr + b_r)          z = σ(x @ W_xz + h<t-1> @ W_hz + b_z)
    a = h<t-1> @ W_hn + b_hn                        n = tanh(x @ W_xn + b_n + r * a)
    h<t> = (1 - z) * n + z * h<t-1>

``reset_after=False`` — the course's form (reset applied before the recurrent product), as Keras does it:

    a = r * h<t-1>                                  n = tanh(x @ W_xn + a @ W_hn + b_n),   and no b_hn.

Mapping to the course's notation (c = a = h, column vectors, W acting on [c<t-1>; x<t>]): Γr = r, c̃ = n,
and the update gate has the opposite sense, Γu = 1 - z, so W_u = -[W_hz.T, W_xz.T] and b_u = -b_z
(σ(-v) = 1 - σ(v)); W_c = [W_hn.T, W_xn.T], W_r = [W_hr.T, W_xr.T].

Backward, with dh the gradient reaching h<t>:

    dz_n = dh * (1 - z)(1 - n**2)                   dz_z = dh * (h<t-1> - n) z(1-z)
    reset_after:   dz_r = dz_n * a r(1-r)
                   dh<t-1> = dh * z + [dz_r, dz_z, r * dz_n] @ W_h.T
    reset_before:  d(rh) = dz_n @ W_hn.T;   dz_r = d(rh) * h<t-1> r(1-r)
                   dh<t-1> = dh * z + d(rh) * r + [dz_r, dz_z] @ W_h[:, :2H].T

As for the LSTM, the element-wise work of a step runs in compiled loops (``engine/kernels.py``), b included: one
kernel after the GEMM with reset_after, one on each side of the candidate's GEMM with reset_before.
"""

from __future__ import annotations

import numpy as np

from ..engine import kernels
from .base import Cell


class GRUCell(Cell):
    n_gates = 3
    state_names = ("h",)
    gate_names = ("r", "z", "n")  # what the kernels write over x @ W_x, in this order
    adds_bias = True  # in the kernels

    def __init__(self, hidden_size: int, reset_after: bool = True):
        super().__init__(hidden_size)
        self.reset_after = reset_after

    def init_params(self, input_size, rng, dtype):
        """As ``Cell.init_params``; with ``reset_after`` a zero recurrent bias ``b_hn`` of the candidate too."""
        p = super().init_params(input_size, rng, dtype)
        if self.reset_after:
            p["b_hn"] = np.zeros(self.hidden_size, dtype)
        return p

    def new_saved(self, steps, batch, buffer):
        """a per step: h @ W_hn + b_hn (reset_after) or r * h<t-1> (reset_before), and a (B, 3H) scratch for
        the recurrent products. No gate array: the kernels write r, z, n over x @ W_x (the layer's
        ``by_gate`` array), and backward writes dz over them."""
        return {"a": buffer("a", (steps, batch, self.hidden_size)),
                "hw": buffer("hw", (batch, self.n_gates * self.hidden_size))}

    def step(self, p, xw_t, prev, out, saved, t):
        (h,) = prev
        (h_new,) = out
        H = self.hidden_size
        hw, a = saved["hw"], saved["a"][t]
        if self.reset_after:
            np.matmul(h, p["W_h"], out=hw)
            kernels.gru_forward_rows(hw, xw_t, p["b"], p["b_hn"], h, a, h_new)
        else:
            np.matmul(h, p["W_h"][:, : 2 * H], out=hw[:, : 2 * H])
            kernels.gru_gates_rows(hw, xw_t, p["b"], h, a)
            np.matmul(a, p["W_h"][:, 2 * H :], out=hw[:, 2 * H :])
            kernels.gru_candidate_rows(hw, xw_t, p["b"], h, h_new)

    def backward_factors(self, p, saved, states, valid, buffer):
        """What the backward kernels read: a, h<t-1> and the valid steps, and one step's scratch; and the
        gate outputs, in the layer's ``by_gate`` array, which the kernels turn into dz step by step."""
        T, B, H = saved["a"].shape
        gates = buffer("by_gate", (T, B, self.n_gates * H))
        valid = np.ones((T, B), gates.dtype) if valid is None else valid.reshape(T, B)
        scratch = buffer("dhw", (B, 3 * H)) if self.reset_after else buffer("d_rh", (B, H))
        factors = {"a": saved["a"], "h_prev": states[0][:-1], "valid": valid,
                   "direct": buffer("direct", (B, H)), "scratch": scratch}
        return factors, gates

    def step_backward(self, p, d, factors, t, dz_t, out):
        (dh,) = d
        (dh_prev,) = out
        H = self.hidden_size
        h_prev, valid, direct, W_h_T = factors["h_prev"][t], factors["valid"][t], factors["direct"], factors["W_h_T"]
        if self.reset_after:  # a[t] becomes r * dz_n, the candidate's recurrent gradient (see weight_grads)
            dhw = factors["scratch"]
            kernels.gru_backward_rows(dh, dz_t, factors["a"][t], h_prev, valid, dhw, direct)
            np.matmul(dhw, W_h_T, out=dh_prev)
        else:
            kernels.gru_update_backward_rows(dh, dz_t, h_prev, valid, direct)
            d_rh = np.matmul(dz_t[:, 2 * H :], W_h_T[2 * H :], out=factors["scratch"])
            kernels.gru_reset_backward_rows(d_rh, dz_t, h_prev, valid, direct)
            np.matmul(dz_t[:, : 2 * H], W_h_T[: 2 * H], out=dh_prev)
        dh_prev += direct

    def weight_grads(self, p, g, x, states, saved, factors, dz, buffer):
        """dW_x = X^T dZ and db = sum dZ as for every cell; the recurrent side depends on the convention."""
        H = self.hidden_size
        T, B, _ = dz.shape
        rows = T * B
        dz2 = dz.reshape(rows, 3 * H)
        h_prev = states[0][:-1].reshape(rows, H)
        g["W_x"] += x.reshape(rows, -1).T @ dz2
        g["b"] += dz2.sum(axis=0)
        g["W_h"][:, : 2 * H] += h_prev.T @ dz2[:, : 2 * H]
        a = saved["a"].reshape(rows, H)
        if self.reset_after:  # the candidate's recurrent product sits inside r *: its gradient, r * dz_n, is in a
            g["W_h"][:, 2 * H :] += h_prev.T @ a
            g["b_hn"] += a.sum(axis=0)
        else:
            g["W_h"][:, 2 * H :] += a.T @ dz2[:, 2 * H :]
