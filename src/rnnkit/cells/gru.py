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

Backward, with dh the gradient reaching h<t>; bracketed factors are computed for all steps before the loop:

    dz_n = dh * [(1 - z)(1 - n**2)]                 dz_z = dh * [(h<t-1> - n) z(1-z)]
    reset_after:   dz_r = dh * [(1 - z)(1 - n**2) a r(1-r)]
                   dh<t-1> = dh * [z] + [dz_r, dz_z, r * dz_n] @ W_h.T
    reset_before:  d(rh) = dz_n @ W_hn.T;   dz_r = d(rh) * [h<t-1> r(1-r)]
                   dh<t-1> = dh * [z] + d(rh) * r + [dz_r, dz_z] @ W_h[:, :2H].T
"""

from __future__ import annotations

import numpy as np

from .base import Cell, blocks, sigmoid_


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
        np.subtract(h, n, out=h_new)
        h_new *= rz[:, H:]
        h_new += n

    def backward_factors(self, p, saved, states, valid, buffer):
        """The bracketed local derivatives of every step (zero on padded steps); ``dz`` reuses their array."""
        H = self.hidden_size
        r, z, n = blocks(saved["gates"], H, 3)
        h_prev = states[0][:-1]
        T, B, _ = saved["gates"].shape
        by_gate = buffer("by_gate", (T, B, 3, H))  # gate blocks on their own axis: dz[t][:, 1:] is a view
        factor = by_gate.reshape(T, B, 3 * H)
        f_r, f_z, f_n = blocks(factor, H, 3)
        scratch = buffer("scratch", (T, B, H))
        np.multiply(n, n, out=f_n)
        np.subtract(1.0, f_n, out=f_n)
        f_n *= np.subtract(1.0, z, out=scratch)  # (1-z)(1-n²)
        np.subtract(1.0, z, out=f_z)
        f_z *= z
        f_z *= np.subtract(h_prev, n, out=scratch)  # (h<t-1> - n) z(1-z)
        np.subtract(1.0, r, out=f_r)
        f_r *= r
        if self.reset_after:
            f_r *= np.multiply(f_n, saved["a"], out=scratch)  # (1-z)(1-n²) a r(1-r)
        else:
            f_r *= h_prev  # h<t-1> r(1-r)
        direct = z
        if valid is not None:
            factor *= valid
            direct = np.multiply(z, valid, out=buffer("direct", (T, B, H)))
        return {"direct": direct, "r": r, "by_gate": by_gate}, factor

    def step_backward(self, p, d, factors, t, dz_t):
        (dh,) = d
        H = self.hidden_size
        r = factors["r"][t]
        if self.reset_after:
            factors["by_gate"][t] *= dh[:, None, :]  # dz_r, dz_z, dz_n in one call
            dhw = dz_t.copy()
            dhw[:, 2 * H :] *= r
            dh_prev = dhw @ factors["W_h_T"]
        else:
            factors["by_gate"][t][:, 1:] *= dh[:, None, :]  # dz_z, dz_n
            d_rh = dz_t[:, 2 * H :] @ factors["W_h_T"][2 * H :]
            dz_t[:, :H] *= d_rh
            dh_prev = dz_t[:, : 2 * H] @ factors["W_h_T"][: 2 * H]
            dh_prev += d_rh * r
        dh_prev += dh * factors["direct"][t]
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
