"""Seeing vanishing and exploding gradients: what a recurrent layer computes anyway, recorded on request.

    with record(layer) as seen:          # nothing is recorded, and nothing slows, outside the block
        y, _ = layer.forward(x)          # seen.states["l0"]["h"], seen.gates["l0"]["f"]: (B, T, H)
        layer.backward(dy)               # seen.state_grads["l0"]["h"]: dL/da<t> (B, T, H); "c": dL/dc<t>
    seen.gradient_norms("l0")            # ||dL/da<t>|| for every t, (T,)

Keys name a layer and direction as the parameters do: ``l0``, ``l0_reverse``, ``l1``, ... ``state_grads``
holds the whole gradient reaching each state, through the output at t and through every later step (for
the LSTM, ``c`` is the whole dL/dc<t>, its path through h<t> included); ``gates`` the GRU's r, z, n and the
LSTM's i, f, g, o (the RNN has none).
A reverse direction's arrays are in the sequence's own time order.

``jacobian_norms(layer, x)`` is ||∂a<T>/∂a<T-k>||₂ (the largest singular value) for k = 0..T-1: the factor
by which the state k steps back influences the last one, the quantity that vanishes or explodes as k grows.
``clipped_share(grad_norms, clip)`` is the share of training steps whose gradient norm, before clipping,
exceeded the threshold (the trainer logs that norm as ``grad_norm`` at every step).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np


class Recording:
    """States, gates and state gradients of the calls made while the recording was open (the last call wins)."""

    def __init__(self):
        self.states, self.gates, self.state_grads = {}, {}, {}

    def forward_hook(self, layer, index: int, direction: int, lengths):
        key = layer._prefix(index, direction)

        def record(states, gates):
            cell, H = layer.cell, layer.hidden_size
            self.states[key] = {name: _batch_first(s[1:], direction, lengths)
                                for name, s in zip(cell.state_names, states)}
            self.gates[key] = {name: _batch_first(gates[:, :, k * H : (k + 1) * H], direction, lengths)
                               for k, name in enumerate(cell.gate_names)}

        return record

    def backward_hook(self, layer, index: int, direction: int, lengths):
        key = layer._prefix(index, direction)
        T = None
        grads = {}

        def record(t, d):
            nonlocal T
            if T is None:  # the first call is the last step
                T = t + 1
                grads.update({name: np.empty((T,) + g.shape, g.dtype) for name, g in zip(layer.cell.state_names, d)})
            for name, g in zip(layer.cell.state_names, d):
                grads[name][t] = g
            if t == 0:
                self.state_grads[key] = {name: _batch_first(g, direction, lengths) for name, g in grads.items()}
                if "c" in grads:
                    self._add_output_path(layer, key)

        return record

    def _add_output_path(self, layer, key: str) -> None:
        """The LSTM's loop hands each step the gradient of c<t> from later steps only; c<t> also reaches the
        loss through h<t> = o<t> tanh(c<t>) (and o<t> itself with peepholes), which this adds to make dL/dc<t>."""
        if key not in self.states:
            raise ValueError("an LSTM's dL/dc<t> needs the forward recorded too: call forward inside the recording")
        grads, c, o = self.state_grads[key], self.states[key]["c"], self.gates[key]["o"]
        tanh_c = np.tanh(c)
        path = o * (1.0 - tanh_c * tanh_c)
        if f"{key}.p_o" in layer.params:
            path = path + tanh_c * o * (1.0 - o) * layer.params[f"{key}.p_o"]
        grads["c"] = grads["c"] + grads["h"] * path

    def gradient_norms(self, key: str = "l0", state: str = "h") -> np.ndarray:
        """||dL/da<t>|| (or dL/dc<t> with ``state="c"``) for every t, over the batch and the units: (T,)."""
        if key not in self.state_grads:
            raise ValueError(f"no state gradients recorded for {key!r}; run backward inside the recording "
                             f"(recorded: {', '.join(self.state_grads) or 'none'})")
        g = self.state_grads[key][state].astype(np.float64)
        return np.sqrt((g * g).sum(axis=(0, 2)))


def _batch_first(time_major, direction: int, lengths) -> np.ndarray:
    """A copy of (T, B, H) as (B, T, H), a reverse direction's put back in the sequence's time order."""
    from .layers.time_loop import reverse

    array = reverse(time_major, lengths) if direction else time_major
    return np.ascontiguousarray(array.transpose(1, 0, 2))


@contextmanager
def record(layer):
    """Record what ``layer`` (an RNN, GRU or LSTM) computes while the block runs; yields the ``Recording``."""
    if not hasattr(layer, "recorder"):
        raise TypeError(f"record needs a recurrent layer (RNN, GRU or LSTM), got {type(layer).__name__}")
    seen = Recording()
    layer.recorder = seen
    try:
        yield seen
    finally:
        layer.recorder = None


def jacobian_norms(layer, x) -> np.ndarray:
    """||∂h<T>/∂h<T-k>||₂ for k = 0..T-1 along one sequence x (T, F), for a one-layer, one-direction layer.

    Computed by backpropagation: H copies of the sequence, copy i sending back the unit vector e_i from
    h<T>; the gradient reaching h<T-k> in copy i is row i of the Jacobian. For the LSTM it is the partial
    derivative through h<T-k> with c<T-k> held (the cell path is ``state="c"`` of the same recording).
    """
    if layer.num_layers != 1 or layer.num_directions != 1:
        raise ValueError("jacobian_norms needs a layer of one layer and one direction, got "
                         f"{layer.num_layers} layer(s) and {layer.num_directions} direction(s)")
    x = np.asarray(x, dtype=layer.dtype)
    if x.ndim != 2:
        raise ValueError(f"x must be one sequence (T, F), got shape {x.shape}")
    H, T = layer.hidden_size, x.shape[0]
    copies = np.repeat(x[None], H, axis=0)
    eye = np.eye(H, dtype=layer.dtype)[None]  # (1, H, H): row i of copy i is e_i
    dstate = eye if len(layer.cell.state_names) == 1 else (eye, np.zeros_like(eye))
    saved = {k: v.copy() for k, v in layer.grads.items()}  # the probe must not touch training gradients
    with record(layer) as seen:
        layer.forward(copies)
        layer.backward(np.zeros((H, T, H), layer.dtype), dstate)
    for k, v in saved.items():
        layer.grads[k][...] = v
    rows = seen.state_grads["l0"]["h"].astype(np.float64)  # (copy i, t, unit j) = ∂h<T>_i / ∂h<t>_j
    return np.array([np.linalg.norm(rows[:, T - 1 - k, :], 2) for k in range(T)])


def clipped_share(grad_norms, clip: float) -> float:
    """The share of steps whose gradient norm before clipping exceeded ``clip`` (NaN counts as clipped)."""
    norms = np.asarray(grad_norms, dtype=np.float64)
    if norms.size == 0:
        raise ValueError("clipped_share needs at least one gradient norm, got none")
    return float(np.mean(~(norms <= clip)))
