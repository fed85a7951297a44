"""The persistent LSTM loop (engine/persistent.py) against the layer's own loop, on the same float32 weights."""

import numba
import numpy as np
import pytest

import rnnkit
from rnnkit.engine import kernels, persistent
from rnnkit.diagnostics import record


@pytest.fixture
def engine(monkeypatch):
    """Count the engine's calls, so that a test can check that the path it compares did run."""
    calls = []
    for name in ("forward", "backward"):
        original = getattr(persistent.Plan, name)
        monkeypatch.setattr(persistent.Plan, name, lambda *a, _f=original, _n=name: (calls.append(_n), _f(*a))[1])
    return calls


def run(mode, monkeypatch, B, T, F, H, workers=2, layers=1, bidirectional=False, peephole=False, lengths=None,
        training=True):
    """Forward (and backward) with random weights, states and upstream gradients; every output and gradient."""
    monkeypatch.setattr(persistent, "mode", mode)
    monkeypatch.setattr(persistent, "workers", lambda: workers)
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
    "bidirectional (reversed input, a view)": dict(B=9, T=5, F=3, H=32, bidirectional=True),
    "one input feature": dict(B=8, T=5, F=1, H=32),
    "peepholes, ragged": dict(B=11, T=7, F=4, H=32, peephole=True, lengths=[7, 3, 1, 7, 5, 2, 6, 4, 7, 1, 2]),
    "inference": dict(B=12, T=6, F=5, H=64, training=False),
    "long": dict(B=32, T=40, F=16, H=128),
    "rows shared, a tail": dict(B=21, T=5, F=6, H=64, workers=2),
    "rows shared by three, peepholes, ragged": dict(B=26, T=6, F=5, H=32, workers=3, peephole=True,
                                                    lengths=[6, 1, 3, 6, 2, 5, 4, 6, 1, 2, 3, 6, 5] * 2),
    "rows shared, deep, bidirectional, inference": dict(B=16, T=5, F=4, H=32, layers=2, bidirectional=True,
                                                        training=False),
    "dx in the loop, deep, bidirectional, ragged": dict(B=19, T=6, F=64, H=32, layers=2, bidirectional=True,
                                                        lengths=[6, 1, 4, 6, 2, 5, 3, 6, 6, 1, 2, 3, 4, 5, 6, 6, 5,
                                                                 4, 3]),
    "dx in the loop, wider than 4H": dict(B=16, T=4, F=160, H=32),
}


@pytest.mark.parametrize("case", CASES)
def test_equals_the_layers_loop(case, monkeypatch, engine):
    ours = run("on", monkeypatch, **CASES[case])
    assert engine and set(engine) == ({"forward", "backward"} if CASES[case].get("training", True) else {"forward"})
    engine.clear()
    theirs = run("off", monkeypatch, **CASES[case])
    assert not engine
    for a, b in zip(ours, theirs):
        # float32 products summed in another order than OpenBLAS's: a few units in the last place
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5 * float(np.abs(b).max()))


@pytest.mark.parametrize("depth", [37, 2 * kernels.DEPTH + 5])
@pytest.mark.parametrize("rows", [kernels.ROWS, 1, 5, 13, 3 * kernels.ROWS - 1])
def test_product_starts_from_x_and_bias(rows, depth):
    """C[:, j:j+32] = X + bias + A @ P for each chunk asked, j = offset + g * width + 32 (c - lo), in place
    over X as the forward loop runs it, P the chunk's panels of WIDTH columns side by side; nothing else
    changes. Rows of A any distance apart, rows past the last full block of ROWS included, a depth past one
    slice of the panels (DEPTH) too."""
    rng = np.random.default_rng(0)
    K, G, W, S = depth, 2, kernels.WIDTH, kernels.STRIPS
    A = rng.standard_normal((rows, 2 * K), dtype=np.float32)[:, :K]  # rows 2K apart
    P = rng.standard_normal((G, 3 * S, K, W), dtype=np.float32)
    X = rng.standard_normal((rows, 200), dtype=np.float32)
    bias = rng.standard_normal(200, dtype=np.float32)
    guarded = np.vstack([X, np.full((1, 200), 7.0, np.float32)])
    C = guarded[:rows]  # a write past C's last row would land in the guard row
    zeros = np.zeros(W, np.float32)
    kernels._product(A, C, bias, P, 1, 3, C, 10, 70, zeros)  # chunks 1, 2 of blocks 0, 1: columns 10-74, 80-144
    expected = X.copy()
    for g in range(G):
        for c in (1, 2):
            j = 10 + 70 * g + 32 * (c - 1)
            chunk = np.concatenate(list(P[g, S * c : S * (c + 1)]), axis=1)  # (K, 32)
            expected[:, j : j + 32] = X[:, j : j + 32] + bias[j : j + 32] + A.astype(np.float64) @ chunk
    np.testing.assert_allclose(C, expected, rtol=1e-5, atol=1e-5 * np.sqrt(K))
    kernels._product(A, np.zeros((1, 200), np.float32), np.zeros(200, np.float32), P[:1], 0, 1, C, 0, 0, zeros)
    chunk = np.concatenate(list(P[0, :S]), axis=1)
    np.testing.assert_allclose(C[:, :32], A.astype(np.float64) @ chunk, rtol=1e-5, atol=1e-5 * np.sqrt(K))
    assert (guarded[rows] == 7).all()


R = kernels.ROWS  # the microkernel's block of rows: 8 with AVX-512, 6 with AVX2


def test_plan_shares_rows_evenly():
    assert persistent.Plan(96, 2, "rows").shares(2 * R) == [(0, R, 0, 3), (R, 2 * R, 0, 3)]
    assert persistent.Plan(64, 3, "rows").shares(4 * R + 5) == [(0, (4 * R + 5) // 3, 0, 2),
                                                                ((4 * R + 5) // 3, 2 * (4 * R + 5) // 3, 0, 2),
                                                                (2 * (4 * R + 5) // 3, 4 * R + 5, 0, 2)]
    assert persistent.Plan(64, 1, "units").shares(5) == [(0, 5, 0, 2)]  # one worker owns every row


def test_plan_shares_whole_chunks_of_units():
    assert persistent.Plan(96, 2, "units").shares(2 * R - 1) == [(0, 2 * R - 1, 0, 1), (0, 2 * R - 1, 1, 3)]
    assert persistent.Plan(256, 3, "units").shares(R) == [(0, R, 0, 2), (0, R, 2, 5), (0, R, 5, 8)]
    assert persistent.Plan(64, 3, "units").shares(64) == [(0, 64, 0, 1), (0, 64, 1, 2)]  # no more workers than chunks


@pytest.mark.parametrize("case", ["long", "rows shared, deep, bidirectional, inference",
                                  "dx in the loop, deep, bidirectional, ragged"])
def test_units_shared_on_a_batch_that_rows_could_share(case, monkeypatch, engine):
    """Auto may measure the split by units faster on any batch (``tuning``): it must compute the same."""
    theirs = run("off", monkeypatch, **CASES[case])
    monkeypatch.setattr(persistent, "plan", lambda cell, *a: persistent.Plan(cell.hidden_size, 2, "units"))
    ours = run("on", monkeypatch, **CASES[case])
    assert engine
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5 * float(np.abs(b).max()))


def test_a_recording_still_sees_every_step(monkeypatch, engine):
    monkeypatch.setattr(persistent, "mode", "on")
    lstm = rnnkit.LSTM(3, 32, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 5, 3), dtype=np.float32)
    with record(lstm) as seen:
        y, _ = lstm.forward(x)
        lstm.backward(np.ones_like(y))
    assert not engine
    assert seen.gradient_norms("l0").shape == (5,) and seen.gates["l0"]["f"].shape == (4, 5, 32)


def test_a_recording_opened_between_forward_and_backward(monkeypatch, engine):
    """The forward ran in the engine; a recorded backward goes back to the layer's loop, which asks for the
    forward to be recorded too, as it does without the engine."""
    for mode in ("off", "on"):
        monkeypatch.setattr(persistent, "mode", mode)
        lstm = rnnkit.LSTM(3, 64, seed=0)
        y, _ = lstm.forward(np.ones((4, 5, 3), np.float32))
        with pytest.raises(ValueError, match="forward recorded too"), record(lstm):
            lstm.backward(np.ones_like(y))
    assert engine == ["forward"]


def test_the_loop_hands_its_row_kernels_contiguous_rows(monkeypatch, engine):
    """Each row the workers pass to the element-wise kernels is typed contiguous ('C'): numba compiles a kernel
    for each layout it meets, and one for rows of unknown layout does not vectorise (the backward's rows took
    5 instead of 1.2 ns per unit when its gradient rows were unpacked from their array). The workers are
    compiled afresh, without numba's cache, so that the row kernels are typed for what they are handed."""
    run("on", monkeypatch, **CASES["peepholes, ragged"])
    run("on", monkeypatch, **CASES["dx in the loop, deep, bidirectional, ragged"])
    assert set(engine) == {"forward", "backward"}
    fresh = numba.njit(**kernels.WORKER_OPTIONS)  # as the workers compile, without the cache
    for worker, row_kernel in ((kernels.persistent_lstm_forward, kernels.lstm_gates_row),
                               (kernels.persistent_lstm_backward, kernels.lstm_backward_row)):
        for signature in worker.nopython_signatures:
            fresh(worker.py_func).compile(signature.args)
        signatures = row_kernel.nopython_signatures
        layouts = {getattr(arg, "layout", "C") for signature in signatures for arg in signature.args}
        assert signatures and layouts == {"C"}, signatures
