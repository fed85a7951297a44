"""The GRU cell in both conventions. Gate blocks are packed in PyTorch's order r, z, n.

``reset_after=True`` — PyTorch/cuDNN (Cho et al. 2014 v3), the default, weights move to and from torch:

    r = σ(x @ W_xr + h<t-1> @ W_hr + b_r)          z = σ(x @ W_xz + h<t-1> @ W_hz + b_z)
    a = h<t-1> @ W_hn + b_hn                        n = tanh(x @ W_xn + b_n + r * a)
    h<t> = (1 - z) * n + z * h<t-1>

``reset_after=False`` — the course's form (reset applied before the recurrent product), as Keras does it:

    n = tanh(x @ W_xn + (r * h<t-1>) @ W_hn + b_n),   r, z and h<t> as above, and no b_hn.

Mapping to the course's notation (c = a = h, column vectors, W acting on [c<t-1>; x<t>]): Γr = r, c̃ = n,
and the update gate has the opposite sense, Γu = 1 - z, so W_u = -[W_hz.T, W_xz.T] and b_u = -b_z
(σ(-v) = 1 - σ(v)); W_c = [W_hn.T, W_xn.T], W_r = [W_hr.T, W_xr.T].

Backward, with dh the gradient reaching h<t>:

    dz_n = dh * (1 - z) * (1 - n**2)                dz_z = dh * (h<t-1> - n) * z(1-z)
    reset_after:   dz_r = dz_n * a * r(1-r);        dh<t-1> = dh * z + [dz_r, dz_z, r * dz_n] @ W_h.T
    reset_before:  d(rh) = dz_n @ W_hn.T;  dz_r = d(rh) * h<t-1> * r(1-r)
                   dh<t-1> = dh * z + d(rh) * r + [dz_r, dz_z] @ W_h[:, :2H].T
"""

from __future__ import annotations

import numpy as np

from .base import Cell, sigmoid_


class GRUCell(Cell):
    n_gates = 3
    state_names = ("h",)

    def __init__(self, hidden_size: int, reset_after: bool = True):
        super().__init__(hidden_size)
        self.reset_after = reset_after

    def init_params(self, input_size, rng, dtype):
        """As ``Cell.init_params``; with ``reset_after`` a zero recurrent bias ``b_hn`` of the candidate too."""
        p = super().init_params(input_size, rng, dtype)
        if self.reset_after:
            p["b_hn"] = np.zeros(self.hidden_size, dtype)
        return p

    def new_saved(self, steps, batch, dtype):
        """Gate outputs r, z, n; and a = h @ W_hn + b_hn (reset_after) or r * h<t-1> (reset_before)."""
        H = self.hidden_size
        return {"gates": np.empty((steps, batch, 3 * H), dtype), "a": np.empty((steps, batch, H), dtype)}

    def step(self, p, xw_t, state, saved, t):
        (h,) = state
        H = self.hidden_size
        gates, a = saved["gates"][t], saved["a"][t]
        rz, n = gates[:, : 2 * H], gates[:, 2 * H :]
        if self.reset_after:
            hw = h @ p["W_h"]
            np.add(xw_t[:, : 2 * H], hw[:, : 2 * H], out=rz)
            sigmoid_(rz)
            np.add(hw[:, 2 * H :], p["b_hn"], out=a)
            np.multiply(rz[:, :H], a, out=n)
        else:
            np.matmul(h, p["W_h"][:, : 2 * H], out=rz)
            rz += xw_t[:, : 2 * H]
            sigmoid_(rz)
            np.multiply(rz[:, :H], h, out=a)
            np.matmul(a, p["W_h"][:, 2 * H :], out=n)
        n += xw_t[:, 2 * H :]
        np.tanh(n, out=n)
        h_new = h - n
        h_new *= rz[:, H:]
        h_new += n
        return (h_new,)

    def step_backward(self, p, dstate, state_prev, state_new, saved, t, dz_t):
        (dh,) = dstate
        (h,) = state_prev
        H = self.hidden_size
        gates, a = saved["gates"][t], saved["a"][t]
        r, z, n = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H :]
        dz_r, dz_z, dz_n = dz_t[:, :H], dz_t[:, H : 2 * H], dz_t[:, 2 * H :]

        np.multiply(dh, (1.0 - z) * (1.0 - n * n), out=dz_n)
        np.multiply(dh, (h - n) * z * (1.0 - z), out=dz_z)
        dh_prev = dh * z
        if self.reset_after:
            np.multiply(dz_n, a * r * (1.0 - r), out=dz_r)
            dhw = dz_t.copy()
            dhw[:, 2 * H :] *= r
            dh_prev += dhw @ p["W_h"].T
        else:
            d_rh = dz_n @ p["W_h"][:, 2 * H :].T
            np.multiply(d_rh, h * r * (1.0 - r), out=dz_r)
            dh_prev += d_rh * r
            dh_prev += dz_t[:, : 2 * H] @ p["W_h"][:, : 2 * H].T
        return (dh_prev,)

    def weight_grads(self, p, g, x, states, saved, dz):
        """dW_x = X^T dZ and db = sum dZ as for every cell; the recurrent side depends on the convention."""
        H = self.hidden_size
        rows = dz.shape[0] * dz.shape[1]
        dz2 = dz.reshape(rows, 3 * H)
        h_prev = states[0][:-1].reshape(rows, H)
        g["W_x"] += x.reshape(rows, -1).T @ dz2
        g["b"] += dz2.sum(axis=0)
        if self.reset_after:
            dhw = dz2.copy()
            dhw[:, 2 * H :] *= saved["gates"][..., :H].reshape(rows, H)
            g["W_h"] += h_prev.T @ dhw
            g["b_hn"] += dhw[:, 2 * H :].sum(axis=0)
        else:
            g["W_h"][:, : 2 * H] += h_prev.T @ dz2[:, : 2 * H]
            g["W_h"][:, 2 * H :] += saved["a"].reshape(rows, H).T @ dz2[:, 2 * H :]
