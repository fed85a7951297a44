"""The course's column form: its own gradients are exact, and the fast layers agree with it to 1e-10."""

import numpy as np
import pytest

import rnnkit
from helpers import numeric_gradient, relative_error
from rnnkit import reference as ref

n_x, n_a, n_y, m, T_x = 3, 5, 2, 4, 6


def course_parameters(kind, rng):
    names = {"rnn": ("Wax", "Waa", "Wya", "ba", "by"), "lstm": "fico", "gru": "urc"}[kind]
    shapes = {"Wax": (n_a, n_x), "Waa": (n_a, n_a), "Wya": (n_y, n_a), "ba": (n_a, 1), "by": (n_y, 1)}
    if kind != "rnn":
        shapes = {"Wy": (n_y, n_a), "by": (n_y, 1)}
        for g in names:
            shapes[f"W{g}"], shapes[f"b{g}"] = (n_a, n_a + n_x), (n_a, 1)
    return {k: rng.uniform(-0.8, 0.8, s) for k, s in shapes.items()}


def run(kind, x, a0, parameters):
    """Hidden states of the whole sequence, shape (n_a, m, T_x), and the caches."""
    if kind == "rnn":
        a, _, caches = ref.rnn_forward(x, a0, parameters)
    elif kind == "lstm":
        a, _, _, caches = ref.lstm_forward(x, a0, parameters)
    else:
        a, _, caches = ref.gru_forward(x, a0, parameters)
    return a, caches


def backward(kind, da, caches):
    return {"rnn": ref.rnn_backward, "lstm": ref.lstm_backward, "gru": ref.gru_backward}[kind](da, caches)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_reference_gradients_match_central_differences(kind):
    rng = np.random.default_rng(3)
    parameters = course_parameters(kind, rng)
    x, a0 = rng.standard_normal((n_x, m, T_x)), rng.standard_normal((n_a, m))
    da = rng.standard_normal((n_a, m, T_x))
    grads = backward(kind, da, run(kind, x, a0, parameters)[1])

    def loss():
        return np.sum(run(kind, x, a0, parameters)[0] * da)

    assert relative_error(grads["dx"], numeric_gradient(loss, x)) <= 1e-7
    assert relative_error(grads["dc0" if kind == "gru" else "da0"], numeric_gradient(loss, a0)) <= 1e-7
    for name, value in parameters.items():
        if "y" not in name:  # the output layer is outside the course's backward functions
            assert relative_error(grads["d" + name], numeric_gradient(loss, value)) <= 1e-7, name


def to_fast(kind, parameters):
    """The course's parameters in the fast layer's packed form (and their signs, for the GRU's update gate)."""
    if kind == "rnn":
        return {"W_x": parameters["Wax"].T, "W_h": parameters["Waa"].T, "b": parameters["ba"][:, 0]}, None
    order, signs = ("ifco", (1, 1, 1, 1)) if kind == "lstm" else ("ruc", (1, -1, 1))
    W = np.concatenate([s * parameters[f"W{g}"] for g, s in zip(order, signs)])
    b = np.concatenate([s * parameters[f"b{g}"][:, 0] for g, s in zip(order, signs)])
    return {"W_x": W[:, n_a:].T, "W_h": W[:, :n_a].T, "b": b}, (order, signs)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_fast_layer_equals_reference(kind):
    rng = np.random.default_rng(11)
    parameters = course_parameters(kind, rng)
    x, a0 = rng.standard_normal((n_x, m, T_x)), rng.standard_normal((n_a, m))
    da = rng.standard_normal((n_a, m, T_x))
    a, caches = run(kind, x, a0, parameters)
    grads = backward(kind, da, caches)

    layer = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": lambda *a, **k: rnnkit.GRU(*a, **k, reset_after=False)}[
        kind](n_x, n_a, dtype=np.float64)
    packed, layout = to_fast(kind, parameters)
    for name, value in packed.items():
        layer.params[f"l0.{name}"][...] = value
    h0 = a0.T[None]
    y, _ = layer.forward(x.transpose(1, 2, 0), (h0, np.zeros_like(h0)) if kind == "lstm" else h0)
    dx, dstate0 = layer.backward(da.transpose(1, 2, 0))

    np.testing.assert_allclose(y, a.transpose(1, 2, 0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, grads["dx"].transpose(1, 2, 0), rtol=1e-10, atol=1e-12)
    dh0 = dstate0[0] if kind == "lstm" else dstate0
    np.testing.assert_allclose(dh0[0], grads["dc0" if kind == "gru" else "da0"].T, rtol=1e-10, atol=1e-12)
    if layout is None:
        expected = {"W_x": grads["dWax"].T, "W_h": grads["dWaa"].T, "b": grads["dba"][:, 0]}
    else:
        order, signs = layout
        dW = np.concatenate([s * grads[f"dW{g}"] for g, s in zip(order, signs)])
        db = np.concatenate([s * grads[f"db{g}"][:, 0] for g, s in zip(order, signs)])
        expected = {"W_x": dW[:, n_a:].T, "W_h": dW[:, :n_a].T, "b": db}
    for name, value in expected.items():
        np.testing.assert_allclose(layer.grads[f"l0.{name}"], value, rtol=1e-10, atol=1e-12, err_msg=name)
