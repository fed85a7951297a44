"""Embedding, Dense and Dropout; the recurrent layers' options, caches and argument errors."""

import numpy as np
import pytest

import rnnkit
from helpers import numeric_gradient, relative_error

rng = np.random.default_rng(2)


def test_dense_gradients():
    layer = rnnkit.Dense(4, 3, dtype=np.float64, seed=0)
    layer.params["b"][...] = rng.standard_normal(3)
    x, dy = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 3))
    layer.forward(x)
    dx = layer.backward(dy)

    def loss():
        return np.sum(layer.forward(x, training=False) * dy)

    assert relative_error(dx, numeric_gradient(loss, x)) <= 1e-8
    for name, value in layer.params.items():
        assert relative_error(layer.grads[name], numeric_gradient(loss, value)) <= 1e-8


def test_embedding_scatters_gradients_into_the_rows_used():
    layer = rnnkit.Embedding(6, 3, dtype=np.float64, seed=0)
    ids = np.array([[1, 2, 1], [5, 1, 0]])
    dy = rng.standard_normal((2, 3, 3))
    np.testing.assert_array_equal(layer.forward(ids), layer.params["W"][ids])
    layer.backward(dy)
    np.testing.assert_allclose(layer.grads["W"][1], dy[0, 0] + dy[0, 2] + dy[1, 1])
    assert not layer.grads["W"][3].any()
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 6\), got 6"):
        layer.forward(np.array([[6]]))


def test_dropout_is_seeded_scaled_and_off_at_inference():
    x = np.ones((200, 50))
    y = rnnkit.Dropout(0.25, seed=3).forward(x)
    assert set(np.unique(y)) == {0.0, 1 / 0.75}
    assert abs((y == 0).mean() - 0.25) < 0.02
    np.testing.assert_array_equal(y, rnnkit.Dropout(0.25, seed=3).forward(x))
    assert rnnkit.Dropout(0.25, seed=3).forward(x, training=False) is x


def test_stacked_dropout_is_used_in_training_only_and_backward_is_exact():
    layer = rnnkit.LSTM(3, 4, num_layers=2, dropout=0.5, dtype=np.float64, seed=0)
    x, dy = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 4))
    a, _ = layer.forward(x, training=False)
    b, _ = layer.forward(x, training=False)
    np.testing.assert_array_equal(a, b)
    y, _ = layer.forward(x)
    assert not np.allclose(y, a)

    def replayed():  # the same dropout mask on every call
        layer.dropouts[0].rng = np.random.default_rng(7)
        return layer.forward(x)[0]

    def loss():
        return np.sum(replayed() * dy)

    layer.zero_grad()
    replayed()
    dx, _ = layer.backward(dy)
    assert relative_error(dx, numeric_gradient(loss, x)) <= 1e-7
    for name, value in layer.params.items():
        assert relative_error(layer.grads[name], numeric_gradient(loss, value)) <= 1e-7, name


def test_training_false_keeps_no_cache():
    layer = rnnkit.GRU(3, 4)
    layer.forward(np.zeros((1, 2, 3)), training=False)
    with pytest.raises(RuntimeError, match="backward needs a forward"):
        layer.backward(np.zeros((1, 2, 4)))


def test_defaults_are_float32_and_initialisation_is_documented():
    layer = rnnkit.LSTM(3, 4, forget_bias=2.0, seed=0)
    assert all(v.dtype == np.float32 for v in layer.params.values())
    np.testing.assert_array_equal(layer.params["l0.b"], [0] * 4 + [2] * 4 + [0] * 8)
    W_h = layer.params["l0.W_h"].astype(np.float64)
    for k in range(4):
        block = W_h[:, 4 * k : 4 * k + 4]
        np.testing.assert_allclose(block.T @ block, np.eye(4), atol=1e-6)
    limit = np.sqrt(6 / (3 + 16))
    assert np.abs(layer.params["l0.W_x"]).max() <= limit
    y, (h, c) = layer.forward(np.zeros((2, 3, 3)))
    assert y.dtype == h.dtype == c.dtype == np.float32
    np.testing.assert_array_equal(rnnkit.LSTM(3, 4, seed=0).params["l0.W_x"], layer.params["l0.W_x"])


def test_padded_steps_output_zero_and_carry_the_state():
    layer = rnnkit.GRU(2, 3, bidirectional=True, dtype=np.float64, seed=0)
    x = rng.standard_normal((2, 4, 2))
    mask = np.array([[True, True, True, True], [True, True, False, False]])
    y, h = layer.forward(x, mask=mask)
    assert not y[1, 2:].any()
    short, h_short = layer.forward(x[1:, :2])
    np.testing.assert_allclose(y[1, :2], short[0], rtol=1e-12)
    np.testing.assert_allclose(h[:, 1], h_short[:, 0], rtol=1e-12)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: rnnkit.LSTM(3, 0), "hidden_size must be a positive int, got 0"),
        (lambda: rnnkit.RNN(0, 3), "input_size must be a positive int, got 0"),
        (lambda: rnnkit.GRU(3, 4, num_layers=1.5), "num_layers must be a positive int, got 1.5"),
        (lambda: rnnkit.RNN(3, 4, nonlinearity="sigmoid"), "nonlinearity must be one of 'tanh', 'relu', got 'sigmoid'"),
        (lambda: rnnkit.LSTM(3, 4, dropout=1.0), r"dropout must be a float in \[0, 1\), got 1.0"),
        (lambda: rnnkit.LSTM(3, 4, dtype=np.int32), "dtype must be float32 or float64"),
        (lambda: rnnkit.GRU(3, 4, reset_after="yes"), "reset_after must be a bool, got 'yes'"),
    ],
)
def test_bad_constructor_arguments_are_named(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda l: l.forward(np.zeros((2, 5))), r"x must have 3 dimensions, got shape \(2, 5\)"),
        (lambda l: l.forward(np.zeros((2, 5, 4))), r"x must have 3 features \(last axis\), got shape \(2, 5, 4\)"),
        (lambda l: l.forward(np.zeros((2, 0, 3))), "at least one sequence and one time step"),
        (lambda l: l.forward(np.array([[["a"] * 3]])), "x must be an array of real numbers"),
        (lambda l: l.forward(np.zeros((2, 5, 3)), state=np.zeros((2, 2, 4))), "state must be a pair"),
        (lambda l: l.forward(np.zeros((2, 5, 3)), state=(np.zeros((1, 2, 4)), np.zeros((2, 2, 4)))),
         r"state\[c\] must have shape \(1, 2, 4\), got \(2, 2, 4\)"),
        (lambda l: l.forward(np.zeros((2, 5, 3)), mask=np.ones((2, 5))), "mask must be a boolean array"),
        (lambda l: l.forward(np.zeros((2, 3, 3)), mask=np.array([[1, 0, 1], [1, 1, 1]], bool)),
         "mask must be right-padded"),
    ],
)
def test_bad_inputs_are_named(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(rnnkit.LSTM(3, 4))


@pytest.mark.parametrize("shape", [(1, 4, 3), (2, 1, 3)])
def test_returned_arrays_are_not_overwritten_by_the_next_call(shape):
    layer = rnnkit.LSTM(3, 4, num_layers=2, seed=0)
    x = rng.standard_normal(shape)
    y, (h, c) = layer.forward(x)
    dx, _ = layer.backward(np.ones_like(y))
    kept = [a.copy() for a in (y, h, c, dx)]
    layer.forward(x + 1.0)
    layer.backward(np.full_like(y, 2.0))
    for before, now in zip(kept, (y, h, c, dx)):
        np.testing.assert_array_equal(before, now)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("make", [
    lambda: rnnkit.LSTM(3, 32, num_layers=2, seed=0),  # float32, 32 units: the compiled loop where it is faster
    lambda: rnnkit.GRU(3, 4, dtype=np.float64, seed=0),
    lambda: rnnkit.LSTM(3, 4, bidirectional=True, seed=0),
])
def test_inference_outputs_are_the_callers(make, masked):
    """Inference returns a view of its time-major output, not a copy: the layer must not reuse that memory."""
    layer = make()
    x = rng.standard_normal((3, 9, 3))
    mask = np.arange(9) < np.array([[9], [5], [2]]) if masked else None
    y, _ = layer.forward(x, mask=mask, training=False)
    kept = y.copy()
    for _ in range(2):
        layer.forward(x + 1.0, mask=mask, training=False)
    np.testing.assert_array_equal(y, kept)


@pytest.mark.parametrize("make", [
    lambda: rnnkit.RNN(3, 5, num_layers=2, dtype=np.float64, seed=0),
    lambda: rnnkit.GRU(3, 5, num_layers=2, dtype=np.float64, seed=0),
    lambda: rnnkit.GRU(3, 5, dtype=np.float64, seed=0, reset_after=False),
    lambda: rnnkit.LSTM(3, 5, num_layers=3, dtype=np.float64, seed=0, peephole=True),
])
def test_step_is_forward_one_step_at_a_time(make):
    layer = make()
    for value in layer.params.values():  # nonzero biases and peepholes, so that each one counts
        value += 0.1 * rng.standard_normal(value.shape)
    x = rng.standard_normal((4, 6, 3))
    y, final = layer.forward(x, training=False)
    state, steps = None, []
    for t in range(x.shape[1]):
        h, state = layer.step(x[:, t], state)
        steps.append(h)
    np.testing.assert_allclose(np.stack(steps, axis=1), y, rtol=1e-13, atol=1e-15)
    for ours, theirs in zip(state if isinstance(state, tuple) else (state,), final if isinstance(final, tuple) else (final,)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-15)
    kept = steps[-1].copy()
    layer.step(x[:, 0], state)  # a returned output is the caller's: the next step leaves it alone
    np.testing.assert_array_equal(steps[-1], kept)


def test_step_refuses_a_bidirectional_layer():
    with pytest.raises(ValueError, match="step needs a unidirectional layer"):
        rnnkit.GRU(3, 4, bidirectional=True, seed=0).step(np.zeros((1, 3), np.float32))


def test_embedding_backward_adds_repeated_ids_in_order_as_add_at_does():
    layer = rnnkit.Embedding(7, 4, dtype=np.float32, seed=0)
    ids = rng.integers(0, 7, (5, 9))
    dy = rng.standard_normal((5, 9, 4)).astype(np.float32)
    layer.forward(ids)
    layer.backward(dy)
    expected = np.zeros((7, 4), np.float32)
    np.add.at(expected, ids.reshape(-1), dy.reshape(-1, 4))
    np.testing.assert_array_equal(layer.grads["W"], expected)
