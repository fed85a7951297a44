"""Central-difference gradient checks (float64) of every recurrent layer form, every parameter, input and state."""

import itertools
import zlib

import numpy as np
import pytest

from helpers import CELL_FORMS, as_tuple, numeric_gradient, ragged_mask, randomize, relative_error

B, F, H = 3, 3, 4


@pytest.mark.parametrize(
    "form,num_layers,bidirectional,masked,steps",
    list(itertools.product(CELL_FORMS, (1, 2, 3), (False, True), (False, True), (1, 6))),
    ids=lambda v: v[0] if isinstance(v, tuple) else str(v),
)
def test_gradients_match_central_differences(form, num_layers, bidirectional, masked, steps):
    _, cls, options = form
    rng = np.random.default_rng(zlib.crc32(repr((form[0], num_layers, bidirectional, masked, steps)).encode()))
    layer = cls(F, H, num_layers, bidirectional, dtype=np.float64, seed=0, **options)
    randomize(layer, rng)
    rows = num_layers * (2 if bidirectional else 1)
    n_states = 2 if cls.__name__ == "LSTM" else 1
    x = rng.standard_normal((B, steps, F))
    states = tuple(rng.standard_normal((rows, B, H)) * 0.5 for _ in range(n_states))
    mask = ragged_mask(rng, B, steps) if masked else None
    dy = rng.standard_normal((B, steps, (2 if bidirectional else 1) * H))
    dstates = tuple(rng.standard_normal((rows, B, H)) for _ in range(n_states))

    def public(s):
        return s if n_states == 2 else s[0]

    def loss():
        y, s_T = layer.forward(x, public(states), mask, training=False)
        return np.sum(y * dy) + sum(np.sum(a * g) for a, g in zip(as_tuple(s_T), dstates))

    layer.zero_grad()
    layer.forward(x, public(states), mask)
    dx, dstate0 = layer.backward(dy, public(dstates))

    assert relative_error(dx, numeric_gradient(loss, x)) <= 1e-6
    for analytic, s in zip(as_tuple(dstate0), states):
        assert relative_error(analytic, numeric_gradient(loss, s)) <= 1e-6
    for name, value in layer.params.items():
        assert relative_error(layer.grads[name], numeric_gradient(loss, value)) <= 1e-6, name
