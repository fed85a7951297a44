"""AdditiveAttention: float64 central differences for every parameter, the keys and the queries with
ragged source masks; parity with the same equations in PyTorch autograd; padded steps get no weight."""

import numpy as np
import pytest
import torch

from helpers import numeric_gradient, ragged_mask, relative_error
from rnnkit.layers.attention import AdditiveAttention

B, TX, TY, HE, HD, A = 3, 5, 4, 6, 4, 3


def setup(seed):
    rng = np.random.default_rng(seed)
    layer = AdditiveAttention(HE, HD, A, dtype=np.float64, seed=seed)
    for value in layer.params.values():
        value[...] = rng.uniform(-1, 1, size=value.shape)
    h, s = rng.standard_normal((B, TX, HE)), rng.standard_normal((B, TY, HD))
    return layer, h, s, ragged_mask(rng, B, TX), rng.standard_normal((B, TY, HE))


@pytest.mark.parametrize("masked", [False, True])
def test_gradients_match_central_differences(masked):
    layer, h, s, mask, dc = setup(1)
    mask = mask if masked else None

    def loss():
        return np.sum(layer.forward(h, s, mask, training=False)[0] * dc)

    layer.zero_grad()
    layer.forward(h, s, mask)
    dh, ds = layer.backward(dc)
    assert relative_error(dh, numeric_gradient(loss, h)) <= 1e-7
    assert relative_error(ds, numeric_gradient(loss, s)) <= 1e-7
    for name, value in layer.params.items():
        assert relative_error(layer.grads[name], numeric_gradient(loss, value)) <= 1e-7, name
    if masked:
        assert not dh[~mask].any()


def test_parity_with_pytorch_autograd():
    layer, h, s, mask, dc = setup(2)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    th, ts = torch.tensor(h, requires_grad=True), torch.tensor(s, requires_grad=True)
    u = torch.tanh((ts @ t["W_q"] + t["b"])[:, :, None, :] + (th @ t["W_k"])[:, None, :, :])
    e = (u @ t["v"]).masked_fill(~torch.tensor(mask)[:, None, :], float("-inf"))
    alpha = torch.softmax(e, dim=2)
    (torch.sum((alpha @ th) * torch.tensor(dc))).backward()

    layer.zero_grad()
    c, ours = layer.forward(h, s, mask)
    dh, ds = layer.backward(dc)
    np.testing.assert_allclose(ours, alpha.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(c, (alpha @ th).detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dh, th.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(ds, ts.grad.numpy(), rtol=1e-10, atol=1e-13)
    for name in layer.params:
        np.testing.assert_allclose(layer.grads[name], t[name].grad.numpy(), rtol=1e-10, atol=1e-13, err_msg=name)


def test_weights_sum_to_one_over_valid_steps_only():
    layer, h, s, mask, _ = setup(3)
    _, alpha = layer.forward(h, s, mask, training=False)
    np.testing.assert_allclose(alpha.sum(axis=2), 1.0, rtol=1e-12)
    assert not alpha[np.broadcast_to(~mask[:, None, :], alpha.shape)].any()


def test_shapes_are_checked():
    layer = AdditiveAttention(HE, HD, A)
    with pytest.raises(ValueError, match=r"h must be \(B, Tx, 6\) and s \(B, Ty, 4\)"):
        layer.forward(np.zeros((2, 3, HE)), np.zeros((2, 3, HE)))
