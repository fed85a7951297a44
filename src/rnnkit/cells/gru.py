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

As for the LSTM, the element-wise work of a step runs in compiled loops (``kernels.py``), b included: one
kernel after the GEMM with reset_after, one on each side of the candidate's GEMM with reset_before.
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .base import Cell


class GRUCell(Cell):
    n_gates = 3
    state_names = ("h",)
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
        """Gate outputs r, z, n; and a: h @ W_hn + b_hn (reset_after) or r * h<t-1> (reset_before)."""
        saved = super().new_saved(steps, batch, buffer)
        saved["a"] = buffer("a", (steps, batch, self.hidden_size))
        return saved

    def step(self, p, xw_t, prev, out, saved, t):
        (h,) = prev
        (h_new,) = out
        H = self.hidden_size
        gates, a = saved["gates"][t], saved["a"][t]
        if self.reset_after:
            np.matmul(h, p["W_h"], out=gates)
            kernels.gru_forward_rows(gates, xw_t, p["b"], p["b_hn"], h, a, h_new)
        else:
            np.matmul(h, p["W_h"][:, : 2 * H], out=gates[:, : 2 * H])
            kernels.gru_gates_rows(gates, xw_t, p["b"], h, a)
            np.matmul(a, p["W_h"][:, 2 * H :], out=gates[:, 2 * H :])
            kernels.gru_candidate_rows(gates, xw_t, p["b"], h, h_new)

    def backward_factors(self, p, saved, states, valid, buffer):
        """What the backward kernels read: gate outputs, a, h<t-1> and the valid steps; ``dz`` is fresh."""
        T, B, _ = saved["gates"].shape
        valid = np.ones((T, B), saved["gates"].dtype) if valid is None else valid.reshape(T, B)
        factors = {"gates": saved["gates"], "r": saved["gates"][..., : self.hidden_size], "a": saved["a"],
                   "h_prev": states[0][:-1], "valid": valid}
        return factors, buffer("by_gate", saved["gates"].shape)

    def step_backward(self, p, d, factors, t, dz_t):
        (dh,) = d
        H = self.hidden_size
        gates, h_prev, valid = factors["gates"][t], factors["h_prev"][t], factors["valid"][t]
        direct = np.empty_like(dh)
        if self.reset_after:
            dhw = np.empty_like(dz_t)
            kernels.gru_backward_rows(dh, gates, factors["a"][t], h_prev, valid, dz_t, dhw, direct)
            dh_prev = dhw @ factors["W_h_T"]
        else:
            kernels.gru_update_backward_rows(dh, gates, h_prev, valid, dz_t, direct)
            d_rh = dz_t[:, 2 * H :] @ factors["W_h_T"][2 * H :]
            kernels.gru_reset_backward_rows(d_rh, gates, h_prev, valid, dz_t, direct)
            dh_prev = dz_t[:, : 2 * H] @ factors["W_h_T"][: 2 * H]
        dh_prev += direct
        return (dh_prev,)

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
        if self.reset_after:  # the candidate's recurrent product sits inside r *: its gradient is r * dz_n
            r_dz_n = np.multiply(factors["r"], dz[..., 2 * H :], out=buffer("r_dz_n", (T, B, H))).reshape(rows, H)
            g["W_h"][:, 2 * H :] += h_prev.T @ r_dz_n
            g["b_hn"] += r_dz_n.sum(axis=0)
        else:
            g["W_h"][:, 2 * H :] += saved["a"].reshape(rows, H).T @ dz2[:, 2 * H :]
