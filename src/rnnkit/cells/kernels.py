"""The compiled (numba) kernels: element-wise parts of a step that NumPy would run as many small ufunc calls.

All compiled code lives in this one file because numba's on-disk cache is invalidated by a change of the
file that holds a function, not of the functions it calls.

Scalar sigmoid and tanh, chosen by dtype when a kernel compiles:

    float64: σ(x) = 1 / (1 + exp(-x)) and tanh(x) with the C library's exp and tanh (within 1 ulp of NumPy).
    float32: tanh(x) = x P(x²) / Q(x²), Eigen's 13/6-degree rational fit on [-9, 9] (±1 beyond),
             σ(x) = (1 + tanh(x / 2)) / 2.

Why float32 does not call the C library: numba compiles ``expf`` and ``tanhf`` into one scalar call per
element (SIMD versions need Intel's SVML, which PyPI's llvmlite is built without), and a kernel so compiled
was slower than NumPy's SIMD ufuncs. The rational fit is only multiplications, additions and one division,
so the loops that use it compile to SIMD instructions. Measured against float64 over [-12, 12]
(``tests/test_kernels.py``): tanh within 6 ulp, σ within an absolute 3e-7 (so its relative error grows as
σ(x) goes to 0, where a gate contributes nothing anyway). NaN stays NaN: a diverging run is still detected.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

_f32 = np.float32
_compiled = njit(cache=True, error_model="numpy", boundscheck=False)  # numpy errors: no checks, loops vectorise


def sigmoid(x):
    """σ(x) for a kernel; called from Python it computes the float64 form."""
    return 1.0 / (1.0 + math.exp(-x))


def tanh(x):
    """tanh(x) for a kernel; called from Python it computes the float64 form."""
    return math.tanh(x)


def _tanh_float32(x):
    x = x if not x > _f32(9.0) else _f32(9.0)  # written so that NaN passes through
    x = x if not x < _f32(-9.0) else _f32(-9.0)
    x2 = x * x
    p = x2 * _f32(-2.76076847742355e-16) + _f32(2.00018790482477e-13)
    p = x2 * p + _f32(-8.60467152213735e-11)
    p = x2 * p + _f32(5.12229709037114e-08)
    p = x2 * p + _f32(1.48572235717979e-05)
    p = x2 * p + _f32(6.37261928875436e-04)
    p = x2 * p + _f32(4.89352455891786e-03)
    q = x2 * _f32(1.19825839466702e-06) + _f32(1.18534705686654e-04)
    q = x2 * q + _f32(2.26843463243900e-03)
    q = x2 * q + _f32(4.89352518554385e-03)
    return x * p / q


@overload(tanh)
def _tanh(x):
    if x == types.float32:
        return _tanh_float32
    return lambda x: math.tanh(x)


@overload(sigmoid)
def _sigmoid(x):
    if x == types.float32:
        return lambda x: _f32(0.5) + _f32(0.5) * tanh(_f32(0.5) * x)
    return lambda x: 1.0 / (1.0 + math.exp(-x))


# ------------------------------------------------------------------------------------------------- LSTM
# Arrays are (B, 4H) for hw, z, gates and dz (blocks i, f, g, o) and (B, H) for the rest; a row kernel sees one
# sequence's 1-D rows, which keeps each inner loop simple enough for the compiler to vectorise. One array
# holds x @ W_x, then the gate outputs, then dz: each kernel reads an element's blocks before it writes them.


@_compiled
def lstm_forward_rows(hw, z, bias, c, c_new, h_new, tanh_c, p_i, p_f, p_o):
    """hw is h<t-1> @ W_h; z holds x<t> @ W_x on entry and the gate outputs i, f, g, o on return."""
    for b in range(z.shape[0]):
        _lstm_forward_row(hw[b], z[b], bias, c[b], c_new[b], h_new[b], tanh_c[b], p_i, p_f, p_o)


@_compiled
def _lstm_forward_row(hw, z, bias, c, c_new, h_new, tanh_c, p_i, p_f, p_o):
    H = c.size
    for j in range(H):
        i = sigmoid(z[j] + hw[j] + bias[j] + p_i[j] * c[j])
        f = sigmoid(z[H + j] + hw[H + j] + bias[H + j] + p_f[j] * c[j])
        g = tanh(z[2 * H + j] + hw[2 * H + j] + bias[2 * H + j])
        z[j], z[H + j], z[2 * H + j] = i, f, g
        c_new[j] = f * c[j] + i * g
    for j in range(H):  # a second loop: o needs c<t> (peephole)
        o = sigmoid(z[3 * H + j] + hw[3 * H + j] + bias[3 * H + j] + p_o[j] * c_new[j])
        z[3 * H + j] = o
        tanh_c[j] = tanh(c_new[j])
        h_new[j] = o * tanh_c[j]


@_compiled
def lstm_backward_rows(dh, dc, gates, tanh_c, c_prev, valid, dc_prev, p_i, p_f, p_o):
    """gates holds i, f, g, o on entry and dz<t> on return; dc_prev gets dc<t-1>. ``valid`` (B,) is 1 on
    real steps, 0 on padded ones."""
    for b in range(dh.shape[0]):
        _lstm_backward_row(dh[b], dc[b], gates[b], tanh_c[b], c_prev[b], valid[b], dc_prev[b], p_i, p_f, p_o)


@_compiled
def _lstm_backward_row(dh, dc, gates, tanh_c, c_prev, valid, dc_prev, p_i, p_f, p_o):
    H, one = dh.size, dh.dtype.type(1)  # a bare 1 would make float32 arithmetic float64
    for j in range(H):
        i, f, g, o = gates[j], gates[H + j], gates[2 * H + j], gates[3 * H + j]
        dh_j = dh[j] * valid
        dz_o = dh_j * tanh_c[j] * o * (one - o)
        dC = dc[j] + dh_j * o * (one - tanh_c[j] * tanh_c[j]) + dz_o * p_o[j]
        dC_valid = dC * valid
        dz_i = dC_valid * g * i * (one - i)
        dz_f = dC_valid * c_prev[j] * f * (one - f)
        gates[j], gates[H + j], gates[2 * H + j], gates[3 * H + j] = dz_i, dz_f, dC_valid * i * (one - g * g), dz_o
        dc_prev[j] = dC_valid * f + dz_i * p_i[j] + dz_f * p_f[j]


# -------------------------------------------------------------------------------------------------- GRU
# As for the LSTM: (B, 3H) for hw, z, gates and dz (blocks r, z, n), (B, H) for the rest, and one array holds
# x @ W_x, then the gate outputs, then dz.


@_compiled
def gru_forward_rows(hw, z, bias, b_hn, h, a, h_new):
    """reset_after. hw is h<t-1> @ W_h; z holds x<t> @ W_x on entry and r, z, n on return;
    a gets h<t-1> @ W_hn + b_hn."""
    for b in range(z.shape[0]):
        _gru_forward_row(hw[b], z[b], bias, b_hn, h[b], a[b], h_new[b])


@_compiled
def _gru_forward_row(hw, z, bias, b_hn, h, a, h_new):
    H = h.size
    for j in range(H):
        r = sigmoid(z[j] + hw[j] + bias[j])
        u = sigmoid(z[H + j] + hw[H + j] + bias[H + j])
        a[j] = hw[2 * H + j] + b_hn[j]
        n = tanh(z[2 * H + j] + bias[2 * H + j] + r * a[j])
        z[j], z[H + j], z[2 * H + j] = r, u, n
        h_new[j] = n + u * (h[j] - n)


@_compiled
def gru_gates_rows(hw, z, bias, h, a):
    """reset_before, first half. hw[:, :2H] is h<t-1> @ W_h[:, :2H]; z gets r and z in its first two blocks;
    a gets r * h<t-1>, the input of the candidate's recurrent product."""
    for b in range(z.shape[0]):
        _gru_gates_row(hw[b], z[b], bias, h[b], a[b])


@_compiled
def _gru_gates_row(hw, z, bias, h, a):
    H = h.size
    for j in range(H):
        r = sigmoid(z[j] + hw[j] + bias[j])
        z[j], z[H + j] = r, sigmoid(z[H + j] + hw[H + j] + bias[H + j])
        a[j] = r * h[j]


@_compiled
def gru_candidate_rows(hw, z, bias, h, h_new):
    """reset_before, second half. hw[:, 2H:] is a @ W_hn; z gets n in its last block."""
    for b in range(z.shape[0]):
        _gru_candidate_row(hw[b], z[b], bias, h[b], h_new[b])


@_compiled
def _gru_candidate_row(hw, z, bias, h, h_new):
    H = h.size
    for j in range(H):
        n = tanh(z[2 * H + j] + hw[2 * H + j] + bias[2 * H + j])
        z[2 * H + j] = n
        h_new[j] = n + z[H + j] * (h[j] - n)


@_compiled
def gru_backward_rows(dh, gates, a, h_prev, valid, dhw, direct):
    """reset_after. gates: r, z, n in, dz = (dz_r, dz_z, dz_n) out; a: h<t-1> @ W_hn + b_hn in, r * dz_n out;
    dhw = (dz_r, dz_z, r * dz_n), which meets W_h; direct = dh * z."""
    for b in range(dh.shape[0]):
        _gru_backward_row(dh[b], gates[b], a[b], h_prev[b], valid[b], dhw[b], direct[b])


@_compiled
def _gru_backward_row(dh, gates, a, h_prev, valid, dhw, direct):
    H, one = dh.size, dh.dtype.type(1)  # a bare 1 would make float32 arithmetic float64
    for j in range(H):
        r, z, n = gates[j], gates[H + j], gates[2 * H + j]
        dh_j = dh[j] * valid
        dz_n = dh_j * (one - z) * (one - n * n)
        dz_z = dh_j * (h_prev[j] - n) * z * (one - z)
        dz_r = dz_n * a[j] * r * (one - r)
        gates[j], gates[H + j], gates[2 * H + j] = dz_r, dz_z, dz_n
        a[j] = r * dz_n
        dhw[j], dhw[H + j], dhw[2 * H + j] = dz_r, dz_z, a[j]
        direct[j] = dh_j * z


@_compiled
def gru_update_backward_rows(dh, gates, h_prev, valid, direct):
    """reset_before, first half: z, n in the gates' last two blocks become dz_z, dz_n; direct = dh * z
    (dz_r needs dz_n @ W_hn.T first)."""
    for b in range(dh.shape[0]):
        _gru_update_backward_row(dh[b], gates[b], h_prev[b], valid[b], direct[b])


@_compiled
def _gru_update_backward_row(dh, gates, h_prev, valid, direct):
    H, one = dh.size, dh.dtype.type(1)  # a bare 1 would make float32 arithmetic float64
    for j in range(H):
        z, n = gates[H + j], gates[2 * H + j]
        dh_j = dh[j] * valid
        gates[H + j] = dh_j * (h_prev[j] - n) * z * (one - z)
        gates[2 * H + j] = dh_j * (one - z) * (one - n * n)
        direct[j] = dh_j * z


@_compiled
def gru_reset_backward_rows(d_rh, gates, h_prev, valid, direct):
    """reset_before, second half: from d(r h<t-1>) = dz_n @ W_hn.T, r in the first block becomes dz_r, and
    direct += d(r h<t-1>) * r."""
    for b in range(d_rh.shape[0]):
        _gru_reset_backward_row(d_rh[b], gates[b], h_prev[b], valid[b], direct[b])


@_compiled
def _gru_reset_backward_row(d_rh, gates, h_prev, valid, direct):
    one = d_rh.dtype.type(1)  # a bare 1 would make float32 arithmetic float64
    for j in range(d_rh.size):
        r = gates[j]
        gates[j] = d_rh[j] * h_prev[j] * r * (one - r) * valid
        direct[j] += d_rh[j] * r
