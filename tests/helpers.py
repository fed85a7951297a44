"""Shared test helpers: layer factories over every option, random weights, central differences."""

from __future__ import annotations

import numpy as np

import rnnkit

# (name, class, options): every cell form the layers support.
CELL_FORMS = [
    ("rnn_tanh", rnnkit.RNN, {"nonlinearity": "tanh"}),
    ("rnn_relu", rnnkit.RNN, {"nonlinearity": "relu"}),
    ("gru_after", rnnkit.GRU, {"reset_after": True}),
    ("gru_before", rnnkit.GRU, {"reset_after": False}),
    ("lstm", rnnkit.LSTM, {}),
    ("lstm_peephole", rnnkit.LSTM, {"peephole": True}),
]


def randomize(layer, rng, scale=0.5):
    """Seeded random values in every parameter (never constants: they hide gate-order bugs)."""
    for value in layer.params.values():
        value[...] = rng.uniform(-scale, scale, size=value.shape)


def ragged_mask(rng, batch, steps):
    """Right-padded mask with lengths drawn in [1, steps], the first row full length."""
    lengths = rng.integers(1, steps + 1, size=batch)
    lengths[0] = steps
    return np.arange(steps)[None, :] < lengths[:, None]


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def relative_error(analytic, numeric):
    """||a - n|| / (||a|| + ||n||), the course's gradient-check measure; 0 when both are zero."""
    denominator = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return 0.0 if denominator == 0 else np.linalg.norm(analytic - numeric) / denominator


def numeric_gradient(f, array, eps=1e-6, indices=None):
    """Central differences of scalar f() with respect to ``array`` (changed in place and restored)."""
    grad = np.zeros_like(array)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size) if indices is None else indices:
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad
