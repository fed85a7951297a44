"""Losses: values against torch.nn.functional, gradients against central differences, masks drop padding."""

import numpy as np
import pytest
import torch
import torch.nn.functional as tf

from helpers import numeric_gradient, ragged_mask, relative_error
from rnnkit.losses import log_softmax, mse, sigmoid_binary_cross_entropy, softmax_cross_entropy

rng = np.random.default_rng(5)
B, T, V = 3, 5, 7


def test_softmax_cross_entropy_matches_torch_and_finite_differences():
    logits, targets = rng.standard_normal((B, T, V)) * 3, rng.integers(0, V, (B, T))
    mask = ragged_mask(rng, B, T)
    loss, grad = softmax_cross_entropy(logits, targets, mask)
    expected = tf.cross_entropy(torch.from_numpy(logits[mask]), torch.from_numpy(targets[mask]))
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    numeric = numeric_gradient(lambda: softmax_cross_entropy(logits, targets, mask)[0], logits)
    assert relative_error(grad, numeric) <= 1e-7
    assert not grad[~mask].any()


def test_log_softmax_is_stable_for_huge_logits():
    out = log_softmax(np.array([[1000.0, 0.0, -1000.0]]))
    np.testing.assert_allclose(out, [[0.0, -1000.0, -2000.0]])


def test_sigmoid_bce_matches_torch_and_finite_differences():
    z, y = rng.standard_normal((B, T)) * 4, rng.integers(0, 2, (B, T)).astype(float)
    z[0, 0] = 800.0  # no overflow
    loss, grad = sigmoid_binary_cross_entropy(z, y)
    expected = tf.binary_cross_entropy_with_logits(torch.from_numpy(z), torch.from_numpy(y))
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    numeric = numeric_gradient(lambda: sigmoid_binary_cross_entropy(z, y)[0], z)
    assert relative_error(grad, numeric) <= 1e-7


def test_mse_with_mask():
    p, y = rng.standard_normal((B, T)), rng.standard_normal((B, T))
    mask = ragged_mask(rng, B, T)
    loss, grad = mse(p, y, mask)
    assert loss == pytest.approx(np.mean((p[mask] - y[mask]) ** 2), rel=1e-12)
    assert relative_error(grad, numeric_gradient(lambda: mse(p, y, mask)[0], p)) <= 1e-7


def test_bad_targets_and_masks_are_named():
    logits = np.zeros((B, T, V))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 7\)"):
        softmax_cross_entropy(logits, np.full((B, T), 7))
    with pytest.raises(ValueError, match="targets must be integers of shape"):
        softmax_cross_entropy(logits, np.zeros((B, T)))
    with pytest.raises(ValueError, match="all-False mask"):
        softmax_cross_entropy(logits, np.zeros((B, T), int), np.zeros((B, T), bool))
