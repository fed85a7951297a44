"""State-dict mapping to and from ``torch.nn.RNN``, ``torch.nn.GRU`` and ``torch.nn.LSTM``.

PyTorch stores, for layer k and direction suffix s ("" or "_reverse"), ``weight_ih_l{k}{s}`` (G*H, F),
``weight_hh_l{k}{s}`` (G*H, H), ``bias_ih_l{k}{s}`` and ``bias_hh_l{k}{s}`` (G*H,), gates in the same order as
rnnkit (LSTM i, f, g, o; GRU r, z, n). rnnkit multiplies row vectors from the left, so

    W_x = weight_ih.T        W_h = weight_hh.T        b = bias_ih + bias_hh

except for the GRU candidate, whose recurrent bias sits inside the reset product: there b_n = bias_in and
b_hn = bias_hn. Exporting puts the summed biases in ``bias_ih`` and zeros in ``bias_hh`` (GRU: b_hn in its
candidate block), which computes the same function. A GRU with ``reset_after=False`` or a peephole LSTM
has no PyTorch twin. torch is imported only when tensors are asked for; tensors given are read without it.
"""

from __future__ import annotations

import numpy as np

from ..layers.recurrent import GRU, LSTM, RNN, Recurrent


def _torch_keys(layer: Recurrent):
    """(rnnkit prefix, torch suffix) for each layer and direction."""
    for k in range(layer.num_layers):
        for direction in range(layer.num_directions):
            yield f"{layer._prefix(k, direction)}.", f"_l{k}" + ("_reverse" if direction else "")


def _check_twin(layer) -> None:
    if not isinstance(layer, (RNN, GRU, LSTM)):
        raise TypeError(f"layer must be an rnnkit RNN, GRU or LSTM, got {type(layer).__name__}")
    if isinstance(layer, GRU) and not layer.cell.reset_after:
        raise ValueError("a GRU with reset_after=False has no PyTorch twin (torch.nn.GRU applies reset after)")
    if isinstance(layer, LSTM) and layer.cell.peephole:
        raise ValueError("an LSTM with peephole=True has no PyTorch twin (torch.nn.LSTM has no peepholes)")


def _as_numpy(name: str, value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array


def load_state_dict(layer: Recurrent, state_dict) -> None:
    """Copy a torch.nn.RNN/GRU/LSTM state dict (tensors or NumPy arrays) into ``layer``'s parameters.

    Keys must match the layer exactly (biases may be absent altogether, as with ``bias=False``); a missing,
    unexpected or wrongly shaped entry is a ValueError naming it.
    """
    _check_twin(layer)
    H = layer.hidden_size
    expected = set()
    for _, suffix in _torch_keys(layer):
        expected |= {f"weight_ih{suffix}", f"weight_hh{suffix}", f"bias_ih{suffix}", f"bias_hh{suffix}"}
    given = set(state_dict)
    has_bias = any(key.startswith("bias_") for key in given)
    if not has_bias:
        expected = {key for key in expected if not key.startswith("bias_")}
    if given != expected:
        missing, unexpected = sorted(expected - given), sorted(given - expected)
        raise ValueError(f"state_dict does not match the layer: missing {missing}, unexpected {unexpected}")

    for prefix, suffix in _torch_keys(layer):
        p = {name[len(prefix) :]: value for name, value in layer.params.items() if name.startswith(prefix)}

        def read(key, shape):
            array = _as_numpy(key + suffix, state_dict[key + suffix]) if has_bias or "weight" in key else None
            if array is None:
                return np.zeros(shape)
            if array.shape != shape:
                raise ValueError(f"{key}{suffix} must have shape {shape}, got {array.shape}")
            return array

        p["W_x"][...] = read("weight_ih", p["W_x"].T.shape).T
        p["W_h"][...] = read("weight_hh", p["W_h"].T.shape).T
        bias_ih, bias_hh = read("bias_ih", p["b"].shape), read("bias_hh", p["b"].shape)
        if isinstance(layer, GRU):
            p["b"][: 2 * H] = bias_ih[: 2 * H] + bias_hh[: 2 * H]
            p["b"][2 * H :] = bias_ih[2 * H :]
            p["b_hn"][...] = bias_hh[2 * H :]
        else:
            p["b"][...] = bias_ih + bias_hh


def to_state_dict(layer: Recurrent, grads: bool = False, tensors: bool = False) -> dict:
    """The layer's parameters (or, with ``grads=True``, their gradients) under PyTorch's names and layouts.

    The gradient of ``bias_hh`` equals that of the summed bias (GRU candidate block: that of b_hn), which is
    what PyTorch's autograd reports for the same weights. ``tensors=True`` returns torch tensors.
    """
    _check_twin(layer)
    H = layer.hidden_size
    store = layer.grads if grads else layer.params
    out = {}
    for prefix, suffix in _torch_keys(layer):
        p = {name[len(prefix) :]: value for name, value in store.items() if name.startswith(prefix)}
        bias_hh = p["b"].copy() if grads else np.zeros_like(p["b"])
        if isinstance(layer, GRU):
            bias_hh[2 * H :] = p["b_hn"]
        out[f"weight_ih{suffix}"] = np.ascontiguousarray(p["W_x"].T)
        out[f"weight_hh{suffix}"] = np.ascontiguousarray(p["W_h"].T)
        out[f"bias_ih{suffix}"] = p["b"].copy()
        out[f"bias_hh{suffix}"] = bias_hh
    if tensors:
        import torch

        out = {key: torch.from_numpy(value) for key, value in out.items()}
    return out


def freeze_extra_biases(module) -> None:
    """Make a ``torch.nn.RNN``, ``GRU`` or ``LSTM`` train the parameters of its rnnkit twin, and no more.

    PyTorch's module has two biases where rnnkit has one, b = bias_ih + bias_hh (the GRU's candidate block
    aside, whose bias_hh is rnnkit's b_hn). Trained both, the sum gets the same gradient twice: under Adam,
    whose step is about lr whatever the gradient's size, it moves twice as fast as rnnkit's b, and the two
    libraries train different models from the same weights. This zeroes the gradient of those extra entries
    of every bias_hh (a hook), so they stay as they are; load rnnkit's weights first (``to_state_dict`` puts
    zeros there). Gradients computed are unchanged otherwise.
    """
    H = module.hidden_size
    for name, value in module.named_parameters():
        if name.startswith("bias_hh"):
            kept = value.detach().new_zeros(value.shape)
            if module.mode == "GRU":
                kept[2 * H :] = 1  # b_hn: a parameter of rnnkit's GRU too
            value.register_hook(lambda grad, kept=kept: grad * kept)
