"""The course's own step-by-step form: column vectors, one cell call per time step. Slow and obvious on purpose.

This is the oracle the fast layers are tested against, and the version to read next to the lecture notes.
Shapes: x (n_x, m, T_x), a and c (n_a, m, T_x), y (n_y, m, T_x); one step's xt is (n_x, m), a_prev (n_a, m).
Parameters use the course's names: RNN Wax (n_a, n_x), Waa (n_a, n_a), Wya (n_y, n_a), ba (n_a, 1),
by (n_y, 1); LSTM and GRU gate matrices act on the stacked column [a<t-1>; x<t>] of height n_a + n_x:
LSTM Wf, Wi (update gate), Wc, Wo with bf, bi, bc, bo; GRU Wu, Wr, Wc with bu, br, bc; both Wy, by.

Backward functions take ``da``, the gradient of the loss with respect to every hidden state a<t> (as the
course does, the output layer's gradient is left to the caller), and return the gradients in a dict.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


# ---------------------------------------------------------------------------------------------- basic RNN

def rnn_cell_forward(xt, a_prev, parameters):
    """a<t> = tanh(Waa a<t-1> + Wax x<t> + ba);  ŷ<t> = softmax(Wya a<t> + by)."""
    Wax, Waa, Wya, ba, by = (parameters[k] for k in ("Wax", "Waa", "Wya", "ba", "by"))
    a_next = np.tanh(Waa @ a_prev + Wax @ xt + ba)
    yt_pred = softmax(Wya @ a_next + by)
    return a_next, yt_pred, (a_next, a_prev, xt, parameters)


def rnn_cell_backward(da_next, cache):
    """dtanh = (1 - a<t>²) * da;  dx = Waxᵀ dtanh;  da<t-1> = Waaᵀ dtanh;  dWax = dtanh x<t>ᵀ; ..."""
    a_next, a_prev, xt, parameters = cache
    dtanh = (1 - a_next**2) * da_next
    return {
        "dxt": parameters["Wax"].T @ dtanh,
        "da_prev": parameters["Waa"].T @ dtanh,
        "dWax": dtanh @ xt.T,
        "dWaa": dtanh @ a_prev.T,
        "dba": dtanh.sum(axis=1, keepdims=True),
    }


def rnn_forward(x, a0, parameters):
    """Run ``rnn_cell_forward`` over T_x steps. Returns a (n_a, m, T_x), y_pred (n_y, m, T_x), caches."""
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wya"].shape
    a, y_pred, caches = np.zeros((n_a, m, T_x)), np.zeros((n_y, m, T_x)), []
    a_next = a0
    for t in range(T_x):
        a_next, yt_pred, cache = rnn_cell_forward(x[:, :, t], a_next, parameters)
        a[:, :, t], y_pred[:, :, t] = a_next, yt_pred
        caches.append(cache)
    return a, y_pred, (caches, x)


def rnn_backward(da, caches):
    """BPTT: at each step, backward from t = T_x - 1 to 0, with da<t> + the gradient from step t + 1."""
    caches, x = caches
    n_x, m, T_x = x.shape
    n_a = da.shape[0]
    grads = {"dx": np.zeros((n_x, m, T_x)), "dWax": 0.0, "dWaa": 0.0, "dba": 0.0}
    da_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        step = rnn_cell_backward(da[:, :, t] + da_prevt, caches[t])
        grads["dx"][:, :, t] = step["dxt"]
        da_prevt = step["da_prev"]
        for k in ("dWax", "dWaa", "dba"):
            grads[k] = grads[k] + step[k]
    grads["da0"] = da_prevt
    return grads


# ---------------------------------------------------------------------------------------------- LSTM

def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    """Γf = σ(Wf[a<t-1>; x<t>] + bf), Γi = σ(Wi[..] + bi), c̃ = tanh(Wc[..] + bc), Γo = σ(Wo[..] + bo);
    c<t> = Γf * c<t-1> + Γi * c̃;  a<t> = Γo * tanh(c<t>);  ŷ<t> = softmax(Wy a<t> + by)."""
    concat = np.concatenate([a_prev, xt], axis=0)
    ft = sigmoid(parameters["Wf"] @ concat + parameters["bf"])
    it = sigmoid(parameters["Wi"] @ concat + parameters["bi"])
    cct = np.tanh(parameters["Wc"] @ concat + parameters["bc"])
    c_next = ft * c_prev + it * cct
    ot = sigmoid(parameters["Wo"] @ concat + parameters["bo"])
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(parameters["Wy"] @ a_next + parameters["by"])
    return a_next, c_next, yt_pred, (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)


def lstm_cell_backward(da_next, dc_next, cache):
    """dΓo = da tanh(c<t>) Γo(1-Γo);  dc = dc<t> + da Γo (1 - tanh²(c<t>));  dc̃ = dc Γi (1 - c̃²);
    dΓi = dc c̃ Γi(1-Γi);  dΓf = dc c<t-1> Γf(1-Γf);  dc<t-1> = dc Γf;  dW* = dΓ* [a<t-1>; x<t>]ᵀ."""
    a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters = cache
    n_a = a_next.shape[0]
    concat = np.concatenate([a_prev, xt], axis=0)
    dot = da_next * np.tanh(c_next) * ot * (1 - ot)
    dc = dc_next + da_next * ot * (1 - np.tanh(c_next) ** 2)
    dcct = dc * it * (1 - cct**2)
    dit = dc * cct * it * (1 - it)
    dft = dc * c_prev * ft * (1 - ft)
    dconcat = sum(parameters[W].T @ d for W, d in (("Wf", dft), ("Wi", dit), ("Wc", dcct), ("Wo", dot)))
    grads = {"da_prev": dconcat[:n_a], "dxt": dconcat[n_a:], "dc_prev": dc * ft}
    for name, d in (("f", dft), ("i", dit), ("c", dcct), ("o", dot)):
        grads[f"dW{name}"] = d @ concat.T
        grads[f"db{name}"] = d.sum(axis=1, keepdims=True)
    return grads


def lstm_forward(x, a0, parameters):
    """Run ``lstm_cell_forward`` over T_x steps from a0 and c0 = 0. Returns a, y, c (…, T_x) and caches."""
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wy"].shape
    a, c, y = np.zeros((n_a, m, T_x)), np.zeros((n_a, m, T_x)), np.zeros((n_y, m, T_x))
    a_next, c_next, caches = a0, np.zeros((n_a, m)), []
    for t in range(T_x):
        a_next, c_next, yt, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
        a[:, :, t], c[:, :, t], y[:, :, t] = a_next, c_next, yt
        caches.append(cache)
    return a, y, c, (caches, x)


def lstm_backward(da, caches):
    """BPTT for the LSTM: both da<t-1> and dc<t-1> flow back from step t to step t - 1."""
    caches, x = caches
    n_x, m, T_x = x.shape
    n_a = da.shape[0]
    keys = [f"{d}{g}" for d in ("dW", "db") for g in "fico"]
    grads = {"dx": np.zeros((n_x, m, T_x)), **{k: 0.0 for k in keys}}
    da_prevt, dc_prevt = np.zeros((n_a, m)), np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        step = lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches[t])
        grads["dx"][:, :, t] = step["dxt"]
        da_prevt, dc_prevt = step["da_prev"], step["dc_prev"]
        for k in keys:
            grads[k] = grads[k] + step[k]
    grads["da0"] = da_prevt
    return grads


# ---------------------------------------------------------------------------------------------- GRU

def gru_cell_forward(xt, c_prev, parameters):
    """Γu = σ(Wu[c<t-1>; x<t>] + bu), Γr = σ(Wr[c<t-1>; x<t>] + br), c̃ = tanh(Wc[Γr * c<t-1>; x<t>] + bc);
    c<t> = Γu * c̃ + (1 - Γu) * c<t-1>;  a<t> = c<t>;  ŷ<t> = softmax(Wy a<t> + by)."""
    concat = np.concatenate([c_prev, xt], axis=0)
    ut = sigmoid(parameters["Wu"] @ concat + parameters["bu"])
    rt = sigmoid(parameters["Wr"] @ concat + parameters["br"])
    cct = np.tanh(parameters["Wc"] @ np.concatenate([rt * c_prev, xt], axis=0) + parameters["bc"])
    c_next = ut * cct + (1 - ut) * c_prev
    yt_pred = softmax(parameters["Wy"] @ c_next + parameters["by"])
    return c_next, yt_pred, (c_next, c_prev, ut, rt, cct, xt, parameters)


def gru_cell_backward(dc_next, cache):
    """dc̃ = dc Γu (1 - c̃²);  dΓu = dc (c̃ - c<t-1>) Γu(1-Γu);  d[Γr * c<t-1>; x] = Wcᵀ dc̃;
    dΓr = d(Γr * c<t-1>) c<t-1> Γr(1-Γr);  dc<t-1> = dc (1 - Γu) + d(Γr * c<t-1>) Γr + (Wu, Wr)ᵀ (dΓu, dΓr)."""
    c_next, c_prev, ut, rt, cct, xt, parameters = cache
    n_a = c_next.shape[0]
    concat = np.concatenate([c_prev, xt], axis=0)
    concat_r = np.concatenate([rt * c_prev, xt], axis=0)
    dcct = dc_next * ut * (1 - cct**2)
    dut = dc_next * (cct - c_prev) * ut * (1 - ut)
    dconcat_r = parameters["Wc"].T @ dcct
    drt = dconcat_r[:n_a] * c_prev * rt * (1 - rt)
    dconcat = parameters["Wu"].T @ dut + parameters["Wr"].T @ drt
    return {
        "dc_prev": dc_next * (1 - ut) + dconcat_r[:n_a] * rt + dconcat[:n_a],
        "dxt": dconcat[n_a:] + dconcat_r[n_a:],
        "dWu": dut @ concat.T, "dbu": dut.sum(axis=1, keepdims=True),
        "dWr": drt @ concat.T, "dbr": drt.sum(axis=1, keepdims=True),
        "dWc": dcct @ concat_r.T, "dbc": dcct.sum(axis=1, keepdims=True),
    }


def gru_forward(x, c0, parameters):
    """Run ``gru_cell_forward`` over T_x steps. Returns c (n_a, m, T_x), y (n_y, m, T_x) and caches."""
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wy"].shape
    c, y, caches = np.zeros((n_a, m, T_x)), np.zeros((n_y, m, T_x)), []
    c_next = c0
    for t in range(T_x):
        c_next, yt, cache = gru_cell_forward(x[:, :, t], c_next, parameters)
        c[:, :, t], y[:, :, t] = c_next, yt
        caches.append(cache)
    return c, y, (caches, x)


def gru_backward(dc, caches):
    """BPTT for the GRU: the gradient reaching c<t> is dc<t> plus what step t + 1 sends back."""
    caches, x = caches
    n_x, m, T_x = x.shape
    keys = [f"{d}{g}" for d in ("dW", "db") for g in "urc"]
    grads = {"dx": np.zeros((n_x, m, T_x)), **{k: 0.0 for k in keys}}
    dc_prevt = np.zeros((dc.shape[0], m))
    for t in reversed(range(T_x)):
        step = gru_cell_backward(dc[:, :, t] + dc_prevt, caches[t])
        grads["dx"][:, :, t] = step["dxt"]
        dc_prevt = step["dc_prev"]
        for k in keys:
            grads[k] = grads[k] + step[k]
    grads["dc0"] = dc_prevt
    return grads
