"""The LSTM cell, optionally with peephole connections (Gers & Schmidhuber 2000).

Gate blocks are packed in PyTorch's order i, f, g, o (the course calls them Γi/update, Γf, c̃, Γo):

    z = x<t> @ W_x + h<t-1> @ W_h + b                                 z: (B, 4H), blocks z_i, z_f, z_g, z_o
    i = σ(z_i + p_i * c<t-1>)    f = σ(z_f + p_f * c<t-1>)    g = tanh(z_g)      (p_* only with peepholes)
    c<t> = f * c<t-1> + i * g
    o = σ(z_o + p_o * c<t>)
    h<t> = o * tanh(c<t>)

Backward, with dh and dc the gradients reaching h<t> and c<t>:

    dz_o = dh * tanh(c<t>) * o(1-o)
    dC   = dc + dh * o * (1 - tanh(c<t>)**2) + dz_o * p_o
    dz_i = dC * g * i(1-i)      dz_f = dC * c<t-1> * f(1-f)      dz_g = dC * i * (1-g**2)
    dc<t-1> = dC * f + dz_i * p_i + dz_f * p_f                    dh<t-1> = dz @ W_h.T
    dp_i = sum dz_i * c<t-1>    dp_f = sum dz_f * c<t-1>          dp_o = sum dz_o * c<t>
"""

from __future__ import annotations

import numpy as np

from .base import Cell, sigmoid_


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

    def new_saved(self, steps, batch, dtype):
        H = self.hidden_size
        return {"gates": np.empty((steps, batch, 4 * H), dtype), "tanh_c": np.empty((steps, batch, H), dtype)}

    def step(self, p, xw_t, state, saved, t):
        h, c = state
        H = self.hidden_size
        z = saved["gates"][t]
        np.matmul(h, p["W_h"], out=z)
        z += xw_t
        i_f, g, o = z[:, : 2 * H], z[:, 2 * H : 3 * H], z[:, 3 * H :]
        if self.peephole:
            i_f += np.concatenate([p["p_i"], p["p_f"]]) * np.concatenate([c, c], axis=1)
        sigmoid_(i_f)
        np.tanh(g, out=g)
        c_new = z[:, H : 2 * H] * c
        c_new += z[:, :H] * g
        if self.peephole:
            o += p["p_o"] * c_new
        sigmoid_(o)
        tanh_c = saved["tanh_c"][t]
        np.tanh(c_new, out=tanh_c)
        return o * tanh_c, c_new

    def step_backward(self, p, dstate, state_prev, state_new, saved, t, dz_t):
        dh, dc = dstate
        c_prev = state_prev[1]
        H = self.hidden_size
        z = saved["gates"][t]
        i, f, g, o = z[:, :H], z[:, H : 2 * H], z[:, 2 * H : 3 * H], z[:, 3 * H :]
        tanh_c = saved["tanh_c"][t]
        dz_i, dz_f, dz_g, dz_o = dz_t[:, :H], dz_t[:, H : 2 * H], dz_t[:, 2 * H : 3 * H], dz_t[:, 3 * H :]

        np.multiply(dh, tanh_c, out=dz_o)
        dz_o *= o * (1.0 - o)
        dC = dh * o * (1.0 - tanh_c * tanh_c)
        dC += dc
        if self.peephole:
            dC += dz_o * p["p_o"]
        np.multiply(dC, g * i * (1.0 - i), out=dz_i)
        np.multiply(dC, c_prev * f * (1.0 - f), out=dz_f)
        np.multiply(dC, i * (1.0 - g * g), out=dz_g)
        dc_prev = dC * f
        if self.peephole:
            dc_prev += dz_i * p["p_i"]
            dc_prev += dz_f * p["p_f"]
        return dz_t @ p["W_h"].T, dc_prev

    def weight_grads(self, p, g, x, states, saved, dz):
        super().weight_grads(p, g, x, states, saved, dz)
        if self.peephole:
            H = self.hidden_size
            c = states[1]
            g["p_i"] += np.einsum("tbh,tbh->h", dz[..., :H], c[:-1])
            g["p_f"] += np.einsum("tbh,tbh->h", dz[..., H : 2 * H], c[:-1])
            g["p_o"] += np.einsum("tbh,tbh->h", dz[..., 3 * H :], c[1:])
