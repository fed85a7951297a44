"""Single compiled passes (numba) over whole parameter arrays, for the parts of a training step around the
model: the Adam update, the sum of squares behind the global norm, and the embedding's scatter-add.

NumPy runs each of these as several full passes with temporaries (Adam: about a dozen per parameter);
here each element is read and written once. Adam and the scatter-add do NumPy's arithmetic in NumPy's
order, so their float64 results are bit for bit those of the NumPy expressions in the docstrings
(``tests/test_optim.py``); the sum of squares adds in SIMD lanes, in another order than NumPy's pairwise sum.
Each is several times faster than its NumPy expressions (benchmarks/README.md).
Compiled code that the cells use lives in ``kernels.py``; nothing here calls it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_compiled = njit(cache=True, error_model="numpy", boundscheck=False)


@_compiled
def adam_update(theta, g, m, v, lr, beta1, beta2, eps, weight_decay, bias1, bias2):
    """In place, over flat arrays of one dtype, with bias1 = 1 - β1^k and bias2 = 1 - β2^k at step k:

        g <- g + λ θ (when λ > 0);  m <- β1 m + (1-β1) g;  v <- β2 v + (1-β2) g g;
        θ <- θ - lr (m / bias1) / (sqrt(v / bias2) + ε)
    """
    dtype = theta.dtype.type
    b1, b2, c1, c2 = dtype(beta1), dtype(beta2), dtype(1 - beta1), dtype(1 - beta2)
    lr_, eps_, wd, d1, d2 = dtype(lr), dtype(eps), dtype(weight_decay), dtype(bias1), dtype(bias2)
    for j in range(theta.size):
        gj = g[j] + wd * theta[j] if weight_decay > 0 else g[j]
        m[j] = m[j] * b1 + c1 * gj
        v[j] = v[j] * b2 + c2 * gj * gj
        theta[j] -= lr_ * (m[j] / d1) / (math.sqrt(v[j] / d2) + eps_)


@njit(cache=True, error_model="numpy", boundscheck=False, fastmath={"reassoc"})
def sum_of_squares(g):
    """sum of g**2 over a flat array, accumulated in float64; in SIMD lanes (the one reordered sum here)."""
    total = 0.0
    for j in range(g.size):
        x = np.float64(g[j])  # not float(): in numba that keeps float32
        total += x * x
    return total


@_compiled
def scatter_add_rows(table, rows, values):
    """table[rows[i]] += values[i] for each i in order: ``np.add.at(table, rows, values)`` for 2-D tables whose
    rows are as long as values'. Element by element: a row's ``+=`` compiled NumPy's broadcasting with its
    error message, and numba's string formatting with that, about 1.5 s of a new install's first run."""
    for i in range(rows.size):
        row, value = table[rows[i]], values[i]
        for j in range(row.size):
            row[j] += value[j]
