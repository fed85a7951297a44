"""SequenceClassifier and the conditional LanguageModel: float64 central differences for every parameter,
each pooling mode with ragged masks and bidirectional stacks; pooling picks the right steps."""

import itertools
import zlib

import numpy as np
import pytest

from helpers import numeric_gradient, ragged_mask, relative_error
from rnnkit.layers.pooling import TimePooling
from rnnkit.losses import softmax_cross_entropy
from rnnkit.models import LanguageModel, SequenceClassifier

B, T, V, K = 4, 5, 7, 3


def randomize(model, rng, scale=0.5):
    for value in model.params.values():
        value[...] = rng.uniform(-scale, scale, size=value.shape)


@pytest.mark.parametrize(
    "cell,pool,bidirectional,layers",
    list(itertools.product(("rnn", "gru", "lstm"), ("last", "mean", "max"), (False, True), (1, 2))),
)
def test_classifier_gradients_match_central_differences(cell, pool, bidirectional, layers):
    rng = np.random.default_rng(zlib.crc32(repr((cell, pool, bidirectional, layers)).encode()))
    model = SequenceClassifier(K, vocab_size=V, cell=cell, hidden_size=4, num_layers=layers,
                               bidirectional=bidirectional, embed_size=3, pool=pool, dtype=np.float64, seed=0)
    randomize(model, rng)
    x = rng.integers(0, V, size=(B, T))
    mask = ragged_mask(rng, B, T)
    y = rng.integers(0, K, size=B)
    weights = rng.standard_normal((B, K))  # a random upstream gradient mixed into the loss

    def loss():
        logits = model.forward(x, mask, training=False)
        return softmax_cross_entropy(logits, y)[0] + np.sum(logits * weights)

    model.zero_grad()
    _, dlogits = softmax_cross_entropy(model.forward(x, mask), y)
    model.backward(dlogits + weights)
    for name, value in model.params.items():
        assert relative_error(model.grads[name], numeric_gradient(loss, value)) <= 1e-6, name


@pytest.mark.parametrize("pool", ["last", "mean", "max"])
def test_classifier_of_float_features_returns_their_gradient(pool):
    rng = np.random.default_rng(3)
    model = SequenceClassifier(K, input_size=2, cell="gru", hidden_size=4, bidirectional=True, pool=pool,
                               dtype=np.float64, seed=0)
    randomize(model, rng)
    x, mask = rng.standard_normal((B, T, 2)), ragged_mask(rng, B, T)
    dlogits = rng.standard_normal((B, K))
    model.zero_grad()
    model.forward(x, mask)
    dx = model.backward(dlogits)
    numeric = numeric_gradient(lambda: np.sum(model.forward(x, mask, training=False) * dlogits), x)
    assert relative_error(dx, numeric) <= 1e-6
    assert not dx[~mask].any()  # padded steps receive nothing
    for name, value in model.params.items():
        numeric = numeric_gradient(lambda: np.sum(model.forward(x, mask, training=False) * dlogits), value)
        assert relative_error(model.grads[name], numeric) <= 1e-6, name


def test_last_pooling_of_a_bidirectional_stack_is_each_directions_final_state():
    rng = np.random.default_rng(0)
    model = SequenceClassifier(K, vocab_size=V, cell="lstm", hidden_size=4, num_layers=2, bidirectional=True,
                               dtype=np.float64, seed=1)
    x, mask = rng.integers(0, V, size=(B, T)), ragged_mask(rng, B, T)
    h, (h_T, _) = model.rnn.forward(model.embedding.forward(x, False), None, mask, training=False)
    pooled = TimePooling("last", 2).forward(h, mask, training=False)
    np.testing.assert_array_equal(pooled, np.concatenate([h_T[-2], h_T[-1]], axis=1))  # last layer: fwd, reverse


@pytest.mark.parametrize("pool", ["last", "mean", "max"])
def test_padding_changes_nothing(pool):
    rng = np.random.default_rng(1)
    model = SequenceClassifier(K, vocab_size=V, hidden_size=6, bidirectional=True, pool=pool, dtype=np.float64, seed=2)
    x, mask = rng.integers(0, V, size=(B, T)), ragged_mask(rng, B, T)
    alone = np.concatenate([model.forward(x[b : b + 1, : mask[b].sum()], training=False) for b in range(B)])
    np.testing.assert_allclose(model.forward(x, mask, training=False), alone, rtol=1e-12, atol=1e-12)


def test_mean_and_max_pooling_by_hand():
    h = np.array([[[1.0, -2.0], [3.0, 5.0], [100.0, 100.0]]])  # one sequence, its third step padded
    mask = np.array([[True, True, False]])
    np.testing.assert_array_equal(TimePooling("mean").forward(h, mask, False), [[2.0, 1.5]])
    np.testing.assert_array_equal(TimePooling("max").forward(h, mask, False), [[3.0, 5.0]])
    np.testing.assert_array_equal(TimePooling("last").forward(h, mask, False), [[3.0, 5.0]])


def test_conditional_language_model_gradients_match_central_differences():
    rng = np.random.default_rng(5)
    model = LanguageModel(V, "lstm", hidden_size=4, num_layers=2, embed_size=3, dtype=np.float64, seed=0,
                          num_labels=K, label_size=2)
    randomize(model, rng)
    x, mask = rng.integers(0, V, (B, T)), ragged_mask(rng, B, T)
    labels = np.array([0, 2, 1, 2])
    dlogits = rng.standard_normal((B, T, V))  # a random upstream gradient, not a tiny mean loss

    def loss():
        return np.sum(model.forward(x, None, mask, training=False, labels=labels)[0] * dlogits)

    model.zero_grad()
    model.forward(x, None, mask, labels=labels)
    model.backward(dlogits)
    assert set(model.params) > {"label_embedding.W"}
    for name, value in model.params.items():
        assert relative_error(model.grads[name], numeric_gradient(loss, value)) <= 1e-6, name


def test_a_conditioned_view_is_the_model_with_a_fixed_label():
    rng = np.random.default_rng(6)
    model = LanguageModel(V, "gru", hidden_size=5, embed_size=3, dtype=np.float64, seed=0, num_labels=K)
    x = rng.integers(0, V, (2, T))
    full, _ = model.forward(x, training=False, labels=np.array([1, 1]))
    np.testing.assert_array_equal(model.given(1).forward(x)[0], full)
    assert not np.allclose(model.given(0).forward(x)[0], full)
    step, _ = model.given(1).step(x[:, 0])
    np.testing.assert_allclose(step, full[:, 0], rtol=1e-12)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="give exactly one of vocab_size and input_size"):
        SequenceClassifier(3, vocab_size=5, input_size=2)
    with pytest.raises(ValueError, match="num_classes must be a positive int, got 0"):
        SequenceClassifier(0, vocab_size=5)
    with pytest.raises(ValueError, match="pool must be one of"):
        SequenceClassifier(3, vocab_size=5, pool="first")
    with pytest.raises(ValueError, match="labels must be given to a conditional language model"):
        LanguageModel(5, num_labels=2).forward(np.zeros((1, 2), np.int64))
    with pytest.raises(ValueError, match="label must lie in"):
        LanguageModel(5, num_labels=2).given(2)
