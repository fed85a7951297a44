"""Parity with torch.nn.RNN/GRU/LSTM on identical float64 weights: outputs, final states and every gradient."""

import itertools

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit
from helpers import ragged_mask, randomize
from rnnkit.interop.pytorch import freeze_extra_biases, load_state_dict, to_state_dict
from rnnkit.optim import Adam

B, T, F, H = 4, 7, 5, 6
TWINS = [
    ("rnn_tanh", rnnkit.RNN, {"nonlinearity": "tanh"}, torch.nn.RNN, {"nonlinearity": "tanh"}),
    ("rnn_relu", rnnkit.RNN, {"nonlinearity": "relu"}, torch.nn.RNN, {"nonlinearity": "relu"}),
    ("gru", rnnkit.GRU, {}, torch.nn.GRU, {}),
    ("lstm", rnnkit.LSTM, {}, torch.nn.LSTM, {}),
]


def close(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-9, atol=1e-12, err_msg=what)


@pytest.mark.parametrize(
    "twin,num_layers,bidirectional,masked",
    list(itertools.product(TWINS, (1, 2), (False, True), (False, True))),
    ids=lambda v: v[0] if isinstance(v, tuple) else str(v),
)
def test_matches_pytorch_forward_and_gradients(twin, num_layers, bidirectional, masked):
    _, ours_cls, ours_opts, torch_cls, torch_opts = twin
    rng = np.random.default_rng(7)
    ours = ours_cls(F, H, num_layers, bidirectional, dtype=np.float64, seed=1, **ours_opts)
    theirs = torch_cls(F, H, num_layers, bidirectional=bidirectional, batch_first=True, **torch_opts).double()
    with torch.no_grad():  # seeded random weights, bias_ih and bias_hh drawn apart so both mappings matter
        for value in theirs.parameters():
            value.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, tuple(value.shape))))
    load_state_dict(ours, theirs.state_dict())

    rows = num_layers * (2 if bidirectional else 1)
    lstm = ours_cls is rnnkit.LSTM
    x = rng.standard_normal((B, T, F))
    h0 = rng.standard_normal((rows, B, H))
    c0 = rng.standard_normal((rows, B, H))
    mask = ragged_mask(rng, B, T) if masked else np.ones((B, T), bool)
    dy = rng.standard_normal((B, T, rows // num_layers * H)) * mask[:, :, None]
    dh = rng.standard_normal((rows, B, H))
    dc = rng.standard_normal((rows, B, H))

    y, state = ours.forward(x, (h0, c0) if lstm else h0, mask if masked else None)
    dx, dstate0 = ours.backward(dy, (dh, dc) if lstm else dh)

    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    lengths = torch.from_numpy(mask.sum(axis=1))
    inp = pack_padded_sequence(tx, lengths, batch_first=True, enforce_sorted=False) if masked else tx
    out, tstate = theirs(inp, (th0, tc0) if lstm else th0)
    if masked:
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    tstates = tstate if lstm else (tstate,)
    loss = (out * torch.from_numpy(dy)).sum() + (tstates[0] * torch.from_numpy(dh)).sum()
    if lstm:
        loss = loss + (tstates[1] * torch.from_numpy(dc)).sum()
    loss.backward()

    close(y, out, "output")
    for mine, its, name in zip(state if lstm else (state,), tstates, ("h_n", "c_n")):
        close(mine, its, name)
    close(dx, tx.grad, "dx")
    close(dstate0[0] if lstm else dstate0, th0.grad, "dh0")
    if lstm:
        close(dstate0[1], tc0.grad, "dc0")
    for key, grad in to_state_dict(ours, grads=True).items():
        close(grad, dict(theirs.named_parameters())[key].grad, key)


def test_round_trip_keeps_the_function():
    layer = rnnkit.GRU(3, 4, 2, True, dtype=np.float64, seed=0)
    randomize(layer, np.random.default_rng(0))
    twin = rnnkit.GRU(3, 4, 2, True, dtype=np.float64, seed=5)
    load_state_dict(twin, to_state_dict(layer))
    for key, value in layer.params.items():
        np.testing.assert_array_equal(twin.params[key], value)


def test_layers_without_a_twin_are_refused():
    with pytest.raises(ValueError, match="reset_after=False has no PyTorch twin"):
        to_state_dict(rnnkit.GRU(3, 4, reset_after=False))
    with pytest.raises(ValueError, match="peephole=True has no PyTorch twin"):
        load_state_dict(rnnkit.LSTM(3, 4, peephole=True), torch.nn.LSTM(3, 4).state_dict())


def test_mismatched_state_dicts_name_the_problem():
    layer = rnnkit.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"missing \[\], unexpected \['weight_ih_l0_reverse'\]"):
        load_state_dict(layer, torch.nn.LSTM(3, 4).state_dict() | {"weight_ih_l0_reverse": 0})
    with pytest.raises(ValueError, match=r"weight_hh_l0 must have shape \(16, 4\), got \(16, 5\)"):
        load_state_dict(layer, torch.nn.LSTM(3, 4).state_dict() | {"weight_hh_l0": np.zeros((16, 5))})


def test_bias_free_modules_load_with_zero_bias():
    theirs = torch.nn.RNN(3, 4, bias=False).double()
    ours = rnnkit.RNN(3, 4, dtype=np.float64, seed=0)
    load_state_dict(ours, theirs.state_dict())
    assert not ours.params["l0.b"].any()
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    close(ours.forward(x)[0], theirs(torch.from_numpy(x).transpose(0, 1))[0].transpose(0, 1), "output")


@pytest.mark.parametrize("twin", TWINS, ids=lambda v: v[0])
def test_adam_trains_the_same_weights_once_extra_biases_are_frozen(twin):
    """Three Adam steps from the same weights in both libraries end at the same weights; with PyTorch's
    second bias trained as well, they do not (its sum with bias_ih moves twice as fast)."""
    _, ours_cls, ours_opts, torch_cls, torch_opts = twin
    rng = np.random.default_rng(3)
    x, dy = rng.standard_normal((B, T, F)), rng.standard_normal((B, T, H))
    ends = {}
    for frozen in (True, False):
        ours = ours_cls(F, H, 2, dtype=np.float64, seed=1, **ours_opts)
        randomize(ours, np.random.default_rng(0))
        theirs = torch_cls(F, H, 2, batch_first=True, **torch_opts).double()
        theirs.load_state_dict(to_state_dict(ours, tensors=True))
        if frozen:
            freeze_extra_biases(theirs)
        optimizer, torch_optimizer = Adam(ours.params, 0.05), torch.optim.Adam(theirs.parameters(), 0.05)
        for _ in range(3):
            ours.zero_grad()
            y, _ = ours.forward(x)
            ours.backward(dy)
            optimizer.step(ours.grads)
            torch_optimizer.zero_grad()
            (theirs(torch.from_numpy(x))[0] * torch.from_numpy(dy)).sum().backward()
            torch_optimizer.step()
        trained = ours_cls(F, H, 2, dtype=np.float64, **ours_opts)
        load_state_dict(trained, theirs.state_dict())
        ends[frozen] = max(float(np.abs(trained.params[k] - ours.params[k]).max()) for k in ours.params)
    assert ends[True] < 1e-9
    assert ends[False] > 1e-3
