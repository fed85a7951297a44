"""The LSTM cell, optionally with peephole connections (Gers & Schmidhuber 2000).

Gate blocks are packed in PyTorch's order i, f, g, o (the course calls them Γi/update, Γf, c̃, Γo):

    z = x<t> @ W_x + h<t-1> @ W_h + b                                 z: (B, 4H), blocks z_i, z_f, z_g, z_o
    i = σ(z_i + p_i * c<t-1>)    f = σ(z_f + p_f * c<t-1>)    g = tanh(z_g)      (p_* only with peepholes)
    c<t> = f * c<t-1> + i * g
    o = σ(z_o + p_o * c<t>)
    h<t> = o * tanh(c<t>)

Backward, with dh and dc the gradients reaching h<t> and c<t>; the factors in brackets are local
derivatives, computed for all steps at once before the loop:

    dz_o = dh * [tanh(c<t>) o(1-o)]
    dC   = dc + dh * [o (1 - tanh(c<t>)**2)] + dz_o * p_o
    dz_i = dC * [g i(1-i)]      dz_f = dC * [c<t-1> f(1-f)]      dz_g = dC * [i (1-g**2)]
    dc<t-1> = dC * [f] + dz_i * p_i + dz_f * p_f                  dh<t-1> = dz @ W_h.T
    dp_i = sum dz_i * c<t-1>    dp_f = sum dz_f * c<t-1>          dp_o = sum dz_o * c<t>
"""

from __future__ import annotations

import numpy as np

from .base import Cell, blocks, sigmoid_


class LSTMCell(Cell):
    n_gates = 4
    state_names = ("h", "c")

    def __init__(self, hidden_size: int, peephole: bool = False, forget_bias: float = 1.0):
        super().__init__(hidden_size)
        self.peephole = peephole
        self.forget_bias = forget_bias

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
        saved = super().new_saved(steps, batch, buffer)
        saved["tanh_c"] = buffer("tanh_c", (steps, batch, self.hidden_size))
        return saved

    def step(self, p, xw_t, prev, out, saved, t):
        h, c = prev
        h_new, c_new = out
        z = saved["gates"][t]
        i, f, g, o = blocks(z, self.hidden_size, 4)
        np.matmul(h, p["W_h"], out=z)
        z += xw_t
        if self.peephole:
            i += p["p_i"] * c
            f += p["p_f"] * c
            sigmoid_(z[:, : 2 * self.hidden_size])
            np.tanh(g, out=g)
        else:  # one sigmoid over all four blocks, then the candidate's tanh put back: fewer calls per step
            tanh_g = np.tanh(g)
            sigmoid_(z)
            g[...] = tanh_g
        np.multiply(f, c, out=c_new)
        c_new += i * g
        if self.peephole:
            o += p["p_o"] * c_new
            sigmoid_(o)
        tanh_c = saved["tanh_c"][t]
        np.tanh(c_new, out=tanh_c)
        np.multiply(o, tanh_c, out=h_new)

    def backward_factors(self, p, saved, states, valid, buffer):
        """The bracketed local derivatives of every step (zero on padded steps); ``dz`` reuses their array."""
        H = self.hidden_size
        i, f, g, o = blocks(saved["gates"], H, 4)
        tanh_c, c_prev = saved["tanh_c"], states[1][:-1]
        T, B, _ = saved["gates"].shape
        by_gate = buffer("by_gate", (T, B, 4, H))  # gate blocks on their own axis: dz[t][:, :3] is a view
        factor = by_gate.reshape(T, B, 4 * H)
        f_i, f_f, f_g, f_o = blocks(factor, H, 4)
        np.subtract(1.0, i, out=f_i)
        f_i *= i
        f_i *= g  # g i(1-i)
        np.subtract(1.0, f, out=f_f)
        f_f *= f
        f_f *= c_prev  # c<t-1> f(1-f)
        np.multiply(g, g, out=f_g)
        np.subtract(1.0, f_g, out=f_g)
        f_g *= i  # i (1-g²)
        np.subtract(1.0, o, out=f_o)
        f_o *= o
        f_o *= tanh_c  # tanh(c<t>) o(1-o)
        dc_dh = buffer("dc_dh", (T, B, H))
        np.multiply(tanh_c, tanh_c, out=dc_dh)
        np.subtract(1.0, dc_dh, out=dc_dh)
        dc_dh *= o  # o (1 - tanh(c<t>)²)
        forget = f
        if valid is not None:
            factor *= valid
            dc_dh *= valid
            forget = np.multiply(f, valid, out=buffer("forget", (T, B, H)))
        return {"dc_dh": dc_dh, "forget": forget, "by_gate": by_gate}, factor

    def step_backward(self, p, d, factors, t, dz_t):
        dh, dc = d
        H = self.hidden_size
        dz_i, dz_f, _, dz_o = blocks(dz_t, H, 4)
        dz_o *= dh
        dC = dh * factors["dc_dh"][t]
        dC += dc
        if self.peephole:
            dC += dz_o * p["p_o"]
        factors["by_gate"][t][:, :3] *= dC[:, None, :]  # dz_i, dz_f, dz_g in one call
        dc_prev = dC * factors["forget"][t]
        if self.peephole:
            dc_prev += dz_i * p["p_i"]
            dc_prev += dz_f * p["p_f"]
        return dz_t @ factors["W_h_T"], dc_prev

    def weight_grads(self, p, g, x, states, saved, factors, dz, buffer):
        super().weight_grads(p, g, x, states, saved, factors, dz, buffer)
        if self.peephole:
            dz_i, dz_f, _, dz_o = blocks(dz, self.hidden_size, 4)
            c = states[1]
            g["p_i"] += np.einsum("tbh,tbh->h", dz_i, c[:-1])
            g["p_f"] += np.einsum("tbh,tbh->h", dz_f, c[:-1])
            g["p_o"] += np.einsum("tbh,tbh->h", dz_o, c[1:])
