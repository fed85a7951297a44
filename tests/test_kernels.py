"""The compiled kernels' sigmoid and tanh: the exact functions in float64, a SIMD-friendly fit in float32.

A float32 layer is then checked against the same layer in float64, forward and backward, for every cell
form: this covers the compiled float32 kernels, which the float64 exactness tests do not run.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

from helpers import CELL_FORMS, ragged_mask, randomize
from rnnkit.engine.kernels import sigmoid, tanh


@njit
def _apply(x, out_sigmoid, out_tanh):
    for k in range(x.size):
        out_sigmoid[k] = sigmoid(x[k])
        out_tanh[k] = tanh(x[k])


def evaluate(x):
    s, t = np.empty_like(x), np.empty_like(x)
    _apply(x, s, t)
    return s, t


def test_float64_is_the_exact_function():
    x = np.linspace(-40.0, 40.0, 100_001)
    s, t = evaluate(x)
    np.testing.assert_allclose(t, np.tanh(x), rtol=5e-16, atol=0)  # libm and NumPy: 1 ulp apart at most
    np.testing.assert_allclose(s, 1.0 / (1.0 + np.exp(-x)), rtol=5e-16, atol=0)


def test_float32_fit_is_within_a_few_ulp_of_float64():
    x = np.linspace(-12.0, 12.0, 2_000_001, dtype=np.float32)
    s, t = evaluate(x)
    exact_t = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(exact_t).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(t - exact_t) / ulp) <= 6.0
    exact_s = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    assert np.max(np.abs(s - exact_s)) <= 3e-7


def test_float32_limits_and_nan():
    x = np.array([np.inf, -np.inf, np.nan, 0.0, 100.0, -100.0], dtype=np.float32)
    s, t = evaluate(x)
    assert t[0] == 1.0 and t[1] == -1.0 and t[3] == 0.0 and abs(t[4] - 1) < 1e-7 and abs(t[5] + 1) < 1e-7
    assert s[0] == 1.0 and 0.0 <= s[1] < 3e-8 and s[3] == 0.5
    assert np.isnan(s[2]) and np.isnan(t[2])  # a diverging run must stay detectable


@pytest.mark.parametrize("name,cls,options", CELL_FORMS, ids=[c[0] for c in CELL_FORMS])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_float32_layer_matches_float64(name, cls, options, bidirectional):
    rng = np.random.default_rng(11)
    B, T, F, H = 5, 7, 6, 16
    wide, narrow = (cls(F, H, 2, bidirectional, dtype=dt, seed=0, **options) for dt in (np.float64, np.float32))
    randomize(wide, rng, scale=0.4)
    for key, value in wide.params.items():
        narrow.params[key][...] = value
    x, mask = rng.standard_normal((B, T, F)), ragged_mask(rng, B, T)
    y64, _ = wide.forward(x, mask=mask)
    y32, _ = narrow.forward(x.astype(np.float32), mask=mask)
    dy = rng.standard_normal(y64.shape)
    dx64, _ = wide.backward(dy)
    dx32, _ = narrow.backward(dy.astype(np.float32))
    np.testing.assert_allclose(y32, y64, rtol=0, atol=2e-6)
    np.testing.assert_allclose(dx32, dx64, rtol=0, atol=2e-5 * np.abs(dx64).max())
    for key, g in wide.grads.items():
        np.testing.assert_allclose(narrow.grads[key], g, rtol=0, atol=2e-5 * np.abs(g).max() + 1e-7, err_msg=key)


SAME_RUN_TWICE = """
import hashlib
import rnnkit
import numpy as np

digest = hashlib.sha256()
rng = np.random.default_rng(0)
for layer, T in ((rnnkit.LSTM(8, 32, seed=0), 12), (rnnkit.LSTM(8, 32, seed=0), 4), (rnnkit.GRU(8, 16, seed=0), 6)):
    x = rng.standard_normal((16, T, 8), dtype=np.float32)  # LSTMs: the persistent loop (forced); GRU: the layer's
    y, _ = layer.forward(x)
    dx, _ = layer.backward(np.ones_like(y))
    for array in (y, dx, *layer.grads.values()):
        digest.update(np.ascontiguousarray(array).tobytes())
print(digest.hexdigest())
"""


def test_a_fresh_compile_and_the_cache_compute_the_same_bits(tmp_path):
    """The first run compiles the kernels, the next loads them from numba's cache: a seeded float32 run must
    not depend on which. (With fast-math contraction of a * b + c, it did: LLVM fused different products.)"""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "RNNKIT_PERSISTENT": "on"}
    fresh, cached = (subprocess.run([sys.executable, "-c", SAME_RUN_TWICE], env=env, capture_output=True, text=True,
                                    check=True).stdout for _ in range(2))
    assert any(tmp_path.rglob("*.nbi")), "the first run left no cache for the second to load"
    assert fresh == cached
