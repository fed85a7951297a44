"""Diagnostics against PyTorch autograd on identical weights: the gradient reaching every step's state
(retain_grad on each step of a torch cell loop), the gate activations, the Jacobian norms, the norm before
clipping; recording changes no result and stays off outside its block."""

import numpy as np
import pytest

import rnnkit
from rnnkit.diagnostics import clipped_share, jacobian_norms, record
from rnnkit.interop.pytorch import to_state_dict
from rnnkit.optim import clip_by_global_norm

torch = pytest.importorskip("torch")
B, T, F, H = 3, 6, 4, 5
LAYERS = {"rnn": (rnnkit.RNN, torch.nn.RNNCell), "gru": (rnnkit.GRU, torch.nn.GRUCell),
          "lstm": (rnnkit.LSTM, torch.nn.LSTMCell)}


def torch_cells(layer, kind, num_layers=1, suffix=""):
    """One torch cell per layer of ``layer`` (direction ``suffix``), holding its weights."""
    state = to_state_dict(layer, tensors=True)
    cells = []
    for k in range(num_layers):
        size = F if k == 0 else H
        cell = LAYERS[kind][1](size, H, dtype=torch.float64)
        cell.load_state_dict({name: state[f"{name}_l{k}{suffix}"] for name in ("weight_ih", "weight_hh", "bias_ih",
                                                                             "bias_hh")})
        cells.append(cell)
    return cells


def run_torch(cells, kind, x, dy_by_layer_top):
    """Step the cells through x (B, T, F); loss = sum(top h<t> * dy<t>). Returns per layer the lists of h<t>
    and c<t> tensors with their .grad filled."""
    inputs = [torch.tensor(x[:, t]) for t in range(x.shape[1])]
    hs, cs = [], []
    for cell in cells:
        h = torch.zeros(x.shape[0], H, dtype=torch.float64)
        c = torch.zeros_like(h)
        layer_h, layer_c = [], []
        for x_t in inputs:
            if kind == "lstm":
                h, c = cell(x_t, (h, c))
                c.retain_grad()
                layer_c.append(c)
            else:
                h = cell(x_t, h)
            h.retain_grad()
            layer_h.append(h)
        hs.append(layer_h)
        cs.append(layer_c)
        inputs = layer_h
    loss = sum((h * torch.tensor(dy_by_layer_top[:, t])).sum() for t, h in enumerate(hs[-1]))
    loss.backward()
    return hs, cs


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_state_gradients_match_retain_grad_on_every_step(kind, num_layers):
    rng = np.random.default_rng(num_layers)
    layer = LAYERS[kind][0](F, H, num_layers, dtype=np.float64, seed=1)
    for value in layer.params.values():
        value[...] = rng.uniform(-0.6, 0.6, size=value.shape)
    x, dy = rng.standard_normal((B, T, F)), rng.standard_normal((B, T, H))
    with record(layer) as seen:
        layer.forward(x)
        layer.backward(dy)
    hs, cs = run_torch(torch_cells(layer, kind, num_layers), kind, x, dy)
    for k in range(num_layers):
        ours = seen.state_grads[f"l{k}"]
        np.testing.assert_allclose(ours["h"], np.stack([h.grad.numpy() for h in hs[k]], axis=1), rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(seen.states[f"l{k}"]["h"], np.stack([h.detach().numpy() for h in hs[k]], 1),
                                   rtol=1e-12, atol=1e-12)
        if kind == "lstm":
            np.testing.assert_allclose(ours["c"], np.stack([c.grad.numpy() for c in cs[k]], axis=1), rtol=1e-10,
                                       atol=1e-12)
        expected = np.sqrt(np.array([(h.grad.numpy() ** 2).sum() for h in hs[k]]))
        np.testing.assert_allclose(seen.gradient_norms(f"l{k}"), expected, rtol=1e-10)


def test_a_reverse_direction_is_recorded_in_the_sequences_own_time_order():
    rng = np.random.default_rng(5)
    layer = rnnkit.GRU(F, H, bidirectional=True, dtype=np.float64, seed=2)
    x, dy = rng.standard_normal((B, T, F)), rng.standard_normal((B, T, 2 * H))
    mask = np.arange(T)[None] < np.array([[T], [4], [2]])
    with record(layer) as seen:
        layer.forward(x, mask=mask)
        layer.backward(dy)
    (cell,) = torch_cells(layer, "gru", suffix="_reverse")
    for b in range(B):
        n = int(mask[b].sum())
        h, states = torch.zeros(1, H, dtype=torch.float64), {}
        for t in reversed(range(n)):  # the reverse direction reads the sequence from its last valid step
            h = cell(torch.tensor(x[b : b + 1, t]), h)
            h.retain_grad()
            states[t] = h
        sum((states[t] * torch.tensor(dy[b : b + 1, t, H:])).sum() for t in range(n)).backward()
        for t in range(n):
            np.testing.assert_allclose(seen.state_grads["l0_reverse"]["h"][b, t], states[t].grad.numpy()[0],
                                       rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(seen.states["l0_reverse"]["h"][b, t], states[t].detach().numpy()[0],
                                       rtol=1e-12)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_gate_activations_match_the_equations_in_torch(kind):
    rng = np.random.default_rng(7)
    layer = LAYERS[kind][0](F, H, dtype=np.float64, seed=3)
    for value in layer.params.values():
        value[...] = rng.uniform(-0.6, 0.6, size=value.shape)
    x = rng.standard_normal((B, T, F))
    with record(layer) as seen:
        layer.forward(x, training=False)
    (cell,) = torch_cells(layer, kind)
    w_ih, w_hh, b_ih, b_hh = cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh
    h = c = torch.zeros(B, H, dtype=torch.float64)
    for t in range(T):
        x_t = torch.tensor(x[:, t])
        gi, gh = x_t @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        if kind == "lstm":
            i, f, g, o = (gi + gh).chunk(4, dim=1)
            expected = {"i": i.sigmoid(), "f": f.sigmoid(), "g": g.tanh(), "o": o.sigmoid()}
            h, c = cell(x_t, (h, c))
        else:
            (ir, iz, in_), (hr, hz, hn) = gi.chunk(3, dim=1), gh.chunk(3, dim=1)
            r, z = (ir + hr).sigmoid(), (iz + hz).sigmoid()
            expected = {"r": r, "z": z, "n": (in_ + r * hn).tanh()}
            h = cell(x_t, h)
        for name, value in expected.items():
            np.testing.assert_allclose(seen.gates["l0"][name][:, t], value.detach().numpy(), rtol=1e-10,
                                       atol=1e-12, err_msg=name)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_jacobian_norms_match_autograd(kind):
    rng = np.random.default_rng(11)
    layer = LAYERS[kind][0](F, H, dtype=np.float64, seed=4)
    for value in layer.params.values():
        value[...] = rng.uniform(-0.8, 0.8, size=value.shape)
    before = {k: v.copy() for k, v in layer.grads.items()}
    x = rng.standard_normal((T, F))
    norms = jacobian_norms(layer, x)
    assert all(np.array_equal(layer.grads[k], v) for k, v in before.items())  # the probe leaves gradients alone
    (cell,) = torch_cells(layer, kind)
    h = c = torch.zeros(1, H, dtype=torch.float64)
    outputs = []
    for t in range(T):
        if kind == "lstm":
            h, c = cell(torch.tensor(x[None, t]), (h, c))
        else:
            h = cell(torch.tensor(x[None, t]), h)
        h.retain_grad()
        outputs.append(h)
    for k in range(T):
        rows = [torch.autograd.grad(outputs[-1][0, i], outputs[T - 1 - k], retain_graph=True)[0][0].numpy()
                for i in range(H)]
        assert norms[k] == pytest.approx(np.linalg.norm(np.array(rows), 2), rel=1e-10)
    assert norms[0] == pytest.approx(1.0)


def test_recording_changes_nothing_and_stops_with_its_block():
    rng = np.random.default_rng(0)
    layer = rnnkit.LSTM(F, H, 2, bidirectional=True, dtype=np.float64, seed=0)
    x, dy = rng.standard_normal((B, T, F)), rng.standard_normal((B, T, 2 * H))
    y0, _ = layer.forward(x)
    dx0, _ = layer.backward(dy)
    with record(layer) as seen:
        y1, _ = layer.forward(x)
        dx1, _ = layer.backward(dy)
    np.testing.assert_array_equal(y0, y1)
    np.testing.assert_array_equal(dx0, dx1)
    assert set(seen.state_grads) == {"l0", "l0_reverse", "l1", "l1_reverse"} and layer.recorder is None
    with pytest.raises(ValueError, match="no state gradients recorded for 'l7'"):
        seen.gradient_norms("l7")
    with pytest.raises(TypeError, match="record needs a recurrent layer"):
        with record(rnnkit.Dense(2, 2)):
            pass


def test_norm_before_clipping_matches_torch_and_the_clipped_share_counts_it():
    rng = np.random.default_rng(3)
    grads = {"a": rng.standard_normal((4, 3)) * 3, "b": rng.standard_normal(5) * 3}
    tensors = [torch.tensor(g, requires_grad=True) for g in grads.values()]
    for t, g in zip(tensors, grads.values()):
        t.grad = torch.tensor(g.copy())
    expected = float(torch.nn.utils.clip_grad_norm_(tensors, 1.0))
    assert clip_by_global_norm(grads, 1.0) == pytest.approx(expected, rel=1e-12)
    for t, g in zip(tensors, grads.values()):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12)
    assert clipped_share([0.5, 2.0, float("nan"), 1.0], 1.0) == 0.5
