"""The persistent LSTM loop (cells/persistent.py) against the layer's own loop, on the same float32 weights."""

import numpy as np
import pytest

import rnnkit
from rnnkit.cells import kernels, persistent
from rnnkit.diagnostics import record


@pytest.fixture
def engine(monkeypatch):
    """Count the engine's calls, so that a test can check that the path it compares did run."""
    calls = []
    for name in ("lstm_forward", "lstm_backward"):
        original = getattr(persistent, name)
        monkeypatch.setattr(persistent, name, lambda *a, _f=original, _n=name: (calls.append(_n), _f(*a))[1])
    return calls


def run(mode, monkeypatch, B, T, F, H, workers=2, layers=1, bidirectional=False, peephole=False, lengths=None,
        training=True):
    """Forward (and backward) with random weights, states and upstream gradients; every output and gradient."""
    monkeypatch.setattr(persistent, "mode", mode)
    monkeypatch.setattr(persistent, "workers", lambda hidden_size: workers)
    layer = rnnkit.LSTM(F, H, layers, bidirectional=bidirectional, peephole=peephole, seed=0)
    rng = np.random.default_rng(1)
    for value in layer.params.values():
        value += rng.standard_normal(value.shape).astype(np.float32) * 0.2
    x = rng.standard_normal((B, T, F), dtype=np.float32)
    rows = layers * (2 if bidirectional else 1)
    state = tuple(rng.standard_normal((rows, B, H), dtype=np.float32) for _ in range(2))
    mask = None if lengths is None else np.arange(T)[None, :] < np.asarray(lengths)[:, None]
    y, (h, c) = layer.forward(x, state, mask=mask, training=training)
    if not training:
        return [y, h, c]
    dstate = tuple(rng.standard_normal((rows, B, H), dtype=np.float32) for _ in range(2))
    dx, (dh0, dc0) = layer.backward(rng.standard_normal(y.shape, dtype=np.float32), dstate)
    return [y, h, c, dx, dh0, dc0] + [layer.grads[k] for k in sorted(layer.grads)]


CASES = {
    "one block of rows": dict(B=8, T=5, F=7, H=64),
    "rows past the last block": dict(B=13, T=4, F=5, H=64),
    "fewer rows than a block": dict(B=3, T=6, F=4, H=32),
    "one step": dict(B=9, T=1, F=3, H=32),
    "chunks shared unevenly": dict(B=10, T=5, F=6, H=96, workers=2),
    "three workers": dict(B=16, T=5, F=6, H=96, workers=3),
    "one worker": dict(B=16, T=5, F=6, H=64, workers=1),
    "deep, bidirectional, ragged": dict(B=5, T=6, F=8, H=64, layers=2, bidirectional=True, lengths=[6, 2, 4, 1, 5]),
    "peepholes, ragged": dict(B=11, T=7, F=4, H=32, peephole=True, lengths=[7, 3, 1, 7, 5, 2, 6, 4, 7, 1, 2]),
    "inference": dict(B=12, T=6, F=5, H=64, training=False),
    "long": dict(B=32, T=40, F=16, H=128),
}


@pytest.mark.parametrize("case", CASES)
def test_equals_the_layers_loop(case, monkeypatch, engine):
    ours = run("on", monkeypatch, **CASES[case])
    assert engine and set(engine) == ({"lstm_forward", "lstm_backward"} if CASES[case].get("training", True)
                                      else {"lstm_forward"})
    engine.clear()
    theirs = run("off", monkeypatch, **CASES[case])
    assert not engine
    for a, b in zip(ours, theirs):
        # float32 products summed in another order than OpenBLAS's: a few units in the last place
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5 * float(np.abs(b).max()))


def test_microkernel_is_an_8_by_32_product():
    rng = np.random.default_rng(0)
    K, lda, ldc = 37, 41, 45
    A = rng.standard_normal((8, lda), dtype=np.float32)
    P = rng.standard_normal((K, 32), dtype=np.float32)
    C = np.full((8, ldc), 7.0, np.float32)
    kernels._product(A[:, :K].copy(), P.reshape(1, 1, K, 32), 0, 1, C, np.zeros((8, K), np.float32),
                     np.empty((8, 32), np.float32))
    np.testing.assert_allclose(C[:, :32], A[:, :K].astype(np.float64) @ P, rtol=1e-5, atol=1e-5)
    assert np.all(C[:, 32:] == 7.0)  # nothing written past the block


def test_serves_only_what_it_computes(monkeypatch):
    monkeypatch.setattr(persistent, "mode", "on")
    lstm, cell = rnnkit.LSTM(4, 64), rnnkit.LSTM(4, 64).cell
    p32 = lstm._group(lstm.params, 0, 0)
    assert persistent.serves(cell, p32, None)
    p64 = rnnkit.LSTM(4, 64, dtype=np.float64)._group(rnnkit.LSTM(4, 64, dtype=np.float64).params, 0, 0)
    assert not persistent.serves(cell, p64, None)  # float64 keeps the layer's loop: the exact reference
    odd = rnnkit.LSTM(4, 48)
    assert not persistent.serves(odd.cell, odd._group(odd.params, 0, 0), None)  # not whole chunks of 32
    gru = rnnkit.GRU(4, 64)
    assert not persistent.serves(gru.cell, gru._group(gru.params, 0, 0), None)
    assert not persistent.serves(cell, p32, record=lambda *a: None)  # a recording sees every step in Python
    monkeypatch.setattr(persistent, "mode", "off")
    assert not persistent.serves(cell, p32, None)


def test_auto_waits_for_a_short_blas_spin_or_one_thread(monkeypatch):
    monkeypatch.setattr(persistent, "mode", "auto")
    lstm = rnnkit.LSTM(4, 64)
    p = lstm._group(lstm.params, 0, 0)
    monkeypatch.setattr(persistent, "workers", lambda hidden_size: 2)
    monkeypatch.setattr(persistent, "short_blas_spin", False)
    assert not persistent.serves(lstm.cell, p, None)
    monkeypatch.setattr(persistent, "short_blas_spin", True)
    assert persistent.serves(lstm.cell, p, None)
    monkeypatch.setattr(persistent, "short_blas_spin", False)
    monkeypatch.setattr(persistent, "workers", lambda hidden_size: 1)
    assert persistent.serves(lstm.cell, p, None)


def test_a_recording_still_sees_every_step(monkeypatch, engine):
    monkeypatch.setattr(persistent, "mode", "on")
    lstm = rnnkit.LSTM(3, 32, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 5, 3), dtype=np.float32)
    with record(lstm) as seen:
        y, _ = lstm.forward(x)
        lstm.backward(np.ones_like(y))
    assert not engine
    assert seen.gradient_norms("l0").shape == (5,) and seen.gates["l0"]["f"].shape == (4, 5, 32)
