"""Optimisers equal torch.optim step for step in float64; clipping equals the course's clip and torch's norm."""

import numpy as np
import pytest
import torch

from rnnkit.optim import SGD, Adagrad, Adam, RMSProp, clip_by_global_norm, clip_by_value, global_norm

CASES = [
    (SGD, {"lr": 0.1}, torch.optim.SGD, {"lr": 0.1}),
    (SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}, torch.optim.SGD,
     {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}, torch.optim.SGD,
     {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    (Adagrad, {"lr": 0.1}, torch.optim.Adagrad, {"lr": 0.1}),
    (RMSProp, {"lr": 0.01, "rho": 0.9}, torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.9}),
    (Adam, {"lr": 0.01}, torch.optim.Adam, {"lr": 0.01}),
    (Adam, {"lr": 0.01, "weight_decay": 0.1}, torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.1}),
]


@pytest.mark.parametrize("ours_cls,ours_opts,torch_cls,torch_opts", CASES)
def test_optimizer_matches_torch(ours_cls, ours_opts, torch_cls, torch_opts):
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    tparams = [torch.tensor(params[k], requires_grad=True) for k in ("w", "b")]
    ours, theirs = ours_cls(params, **ours_opts), torch_cls(tparams, **torch_opts)
    for _ in range(5):
        grads = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
        ours.step(grads)
        for t, k in zip(tparams, ("w", "b")):
            t.grad = torch.from_numpy(grads[k].copy())
        theirs.step()
    for t, k in zip(tparams, ("w", "b")):
        np.testing.assert_allclose(params[k], t.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_clip_by_value_is_the_course_clip():
    grads = {"dWax": np.array([[10.0, -10.0], [0.5, -0.5]])}
    clip_by_value(grads, 5)
    np.testing.assert_array_equal(grads["dWax"], [[5.0, -5.0], [0.5, -0.5]])


def test_clip_by_global_norm_matches_torch_and_returns_the_norm_before():
    rng = np.random.default_rng(1)
    grads = {"a": rng.standard_normal((4, 5)) * 10, "b": rng.standard_normal(3) * 10}
    tensors = [torch.zeros(shape, dtype=torch.float64, requires_grad=True) for shape in ((4, 5), (3,))]
    for t, k in zip(tensors, "ab"):
        t.grad = torch.from_numpy(grads[k].copy())
    expected_norm = torch.nn.utils.clip_grad_norm_(tensors, 1.0).item()
    norm = clip_by_global_norm(grads, 1.0)
    assert norm == pytest.approx(expected_norm, rel=1e-12)
    for t, k in zip(tensors, "ab"):
        np.testing.assert_allclose(grads[k], t.grad.numpy(), rtol=1e-12)


def test_small_gradients_are_left_alone_and_nan_is_reported():
    grads = {"a": np.array([0.3, 0.4])}
    assert clip_by_global_norm(grads, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(grads["a"], [0.3, 0.4])
    assert np.isnan(clip_by_global_norm({"a": np.array([np.nan, 1.0])}, 1.0))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="lr must be a positive finite number, got nan"):
        Adam({"w": np.zeros(2)}, lr=float("nan"))
    with pytest.raises(ValueError, match="grads must have the keys of params"):
        SGD({"w": np.zeros(2)}).step({"v": np.zeros(2)})


def test_adam_is_the_numpy_update_bit_for_bit_in_float64():
    rng = np.random.default_rng(3)
    theta = rng.standard_normal((5, 7))
    expected, m, v = theta.copy(), np.zeros_like(theta), np.zeros_like(theta)
    adam = Adam({"w": theta}, lr=0.01, weight_decay=0.1)
    for k in range(1, 4):
        g = rng.standard_normal(theta.shape)
        adam.step({"w": g})
        g = g + 0.1 * expected
        m *= 0.9
        m += (1 - 0.9) * g
        v *= 0.999
        v += (1 - 0.999) * g * g
        expected -= 0.01 * (m / (1 - 0.9**k)) / (np.sqrt(v / (1 - 0.999**k)) + 1e-8)
        np.testing.assert_array_equal(theta, expected)


def test_adam_refuses_a_parameter_it_cannot_update_in_place():
    with pytest.raises(ValueError, match="params must be contiguous arrays.*'w'"):
        Adam({"w": np.zeros((4, 4))[:, ::2]})


def test_global_norm_of_float32_gradients_is_accumulated_in_float64():
    rng = np.random.default_rng(4)
    grads = {"a": rng.standard_normal((300, 70)).astype(np.float32), "b": rng.standard_normal(9).astype(np.float32)}
    exact = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads.values()))
    assert global_norm(grads) == pytest.approx(exact, rel=1e-14)
