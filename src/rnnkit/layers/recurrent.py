"""Recurrent layers: RNN, GRU and LSTM, deep and bidirectional, over the one time loop (``time_loop.py``).

Shapes (batch-first in the public API, time-major inside):

    x: (B, T, F)   y: (B, T, D*H)   state: (L*D, B, H), an (h, c) pair of them for the LSTM   mask: (B, T)

B batch, T time steps, F input features, H hidden units, L layers, D directions (2 if bidirectional).
State rows are ordered as in PyTorch: layer 0 forward, layer 0 reverse, layer 1 forward, ...

Each layer and direction runs the one time loop (``time_loop.py``) over the sequences.

Masks mark right-padded sequences of different lengths: at a padded step the state is carried unchanged,
the output is zero and nothing there receives gradient. The reverse direction reads each sequence from its
own last valid step back to its first (as ``pack_padded_sequence`` does in PyTorch, without sorting).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .. import _checks
from ..cells import GRUCell, LSTMCell, RNNCell
from ..engine.workspace import Workspace
from ..saving import saveable
from .base import Layer
from .dropout import Dropout
from .time_loop import backward_direction, forward_direction, reverse


class Recurrent(Layer):
    """The layer behind ``RNN``, ``GRU`` and ``LSTM``; subclasses only choose the cell."""

    def __init__(self, cell, input_size, hidden_size, num_layers, bidirectional, dropout, dtype, seed):
        self.input_size = _checks.positive_int("input_size", input_size)
        self.hidden_size = _checks.positive_int("hidden_size", hidden_size)
        self.num_layers = _checks.positive_int("num_layers", num_layers)
        if not isinstance(bidirectional, bool):
            raise TypeError(f"bidirectional must be a bool, got {bidirectional!r}")
        self.num_directions = 2 if bidirectional else 1
        self.dtype = _checks.float_dtype("dtype", dtype)
        self.dropout = _checks.probability("dropout", dropout)
        self.cell = cell
        self.rng = np.random.default_rng(seed)
        self.params = {}
        self._keys = {}  # (layer, direction) -> [(short name, key in params)]
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else self.num_directions * self.hidden_size
            for direction in range(self.num_directions):
                keys = self._keys[layer, direction] = []
                for name, value in cell.init_params(in_size, self.rng, self.dtype).items():
                    keys.append((name, f"{self._prefix(layer, direction)}.{name}"))
                    self.params[keys[-1][1]] = value
        self._init_grads()
        self.dropouts = [Dropout(self.dropout, self.rng) for _ in range(self.num_layers - 1)]
        self._cache = None
        self._workspaces = {True: Workspace(self.dtype), False: Workspace(self.dtype)}  # by `training`
        self.recorder = None  # a ``diagnostics.Recording`` while one is open: states, gates, state gradients

    @staticmethod
    def _prefix(layer: int, direction: int) -> str:
        return f"l{layer}" + ("_reverse" if direction else "")

    def _group(self, store: dict, layer: int, direction: int) -> dict:
        """The arrays of one layer and direction, keyed by their short names (W_x, W_h, b, ...)."""
        return {name: store[key] for name, key in self._keys[layer, direction]}

    # ----------------------------------------------------------------------------------------- forward

    def forward(self, x, state=None, mask=None, training: bool = True):
        """Run the stack over ``x`` (B, T, F). Returns ``(y, state_T)``; ``y`` is (B, T, D*H), with
        ``training=False`` a view of a time-major array (as PyTorch's ``batch_first`` output is), else contiguous.

        ``state`` is the initial state (zeros when None), ``mask`` a (B, T) boolean array of right-padded
        valid steps. ``state_T`` holds each sequence's state after its own last valid step. With
        ``training=False`` no cache is kept and dropout is off.
        """
        x = _checks.real_array("x", x, self.dtype, 3)
        B, T, F = x.shape
        if F != self.input_size:
            raise ValueError(f"x must have {self.input_size} features (last axis), got shape {x.shape}")
        if T == 0 or B == 0:
            raise ValueError(f"x must have at least one sequence and one time step, got shape {x.shape}")
        states0 = self._check_state(state, B)
        mask_tm, lengths = self._check_mask(mask, B, T)

        workspace = self._workspaces[bool(training)]
        seq = x.transpose(1, 0, 2)  # time-major (T, B, F)
        if training:  # the cache keeps the input: a copy of its own
            copy = workspace.get("x", seq.shape)
            copy[...] = seq
            seq = copy
        finals = [np.empty_like(s) for s in states0]
        caches = []
        for layer in range(self.num_layers):
            outputs, layer_cache = [], []
            for direction in range(self.num_directions):
                row = layer * self.num_directions + direction
                inp = reverse(seq, lengths) if direction else seq
                record = None if self.recorder is None else self.recorder.forward_hook(self, layer, direction, lengths)
                y, final, cache = forward_direction(
                    self.cell, self._group(self.params, layer, direction), inp,
                    tuple(s[row] for s in states0), mask_tm, training, workspace.scope(f"{layer}.{direction}"), record,
                )
                outputs.append(reverse(y, lengths) if direction else y)
                layer_cache.append(cache)
                for dst, src in zip(finals, final):
                    dst[row] = src
            seq = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=2)
            if layer < self.num_layers - 1:
                seq = self.dropouts[layer].forward(seq, training)
            caches.append(layer_cache)
        self._cache = (caches, lengths, B, T) if training else None
        y = seq.transpose(1, 0, 2)  # batch-first: a view of the time-major output, as PyTorch's batch_first gives
        if training:
            y = y.copy()  # seq is in the cache, which backward reads: the caller gets arrays of its own
        else:
            workspace.hand_over(seq)  # the workspace lets go of seq's memory (spares a copy)
        return y, self._public_state(finals)

    def step(self, x, state=None):
        """One time step of a unidirectional stack, for generation: x (B, F) -> (h (B, H), state).

        The lean path of sampling, beam search and streaming: ``forward(x[:, None], state, training=False)``
        computes the same, but checks its arguments and copies to and from time-major. Here the state must be
        None or what ``forward`` or ``step`` returned.
        """
        if self.num_directions != 1:
            raise ValueError("step needs a unidirectional layer: a reverse direction reads the future")
        x = np.asarray(x, self.dtype)
        B = x.shape[0]
        states0 = self._check_state(None, B) if state is None else (state if isinstance(state, tuple) else (state,))
        finals = tuple(np.empty_like(s) for s in states0)
        buffer = self._workspaces[False].scope("step")
        xw, saved = buffer("xw", (B, self.cell.n_gates * self.hidden_size)), self.cell.new_saved(1, B, buffer)
        inp = x
        for layer in range(self.num_layers):
            p = self._group(self.params, layer, 0)
            np.matmul(inp, p["W_x"], out=xw)
            if not self.cell.adds_bias:
                xw += p["b"]
            with np.errstate(over="ignore"):
                self.cell.step(p, xw, [s[layer] for s in states0], [s[layer] for s in finals], saved, 0)
            inp = finals[0][layer]
        return inp.copy(), self._public_state(finals)

    # ---------------------------------------------------------------------------------------- backward

    def backward(self, dy, dstate=None):
        """Backpropagate through time. ``dy`` is the gradient of y (B, T, D*H), ``dstate`` that of state_T.

        Accumulates parameter gradients into ``grads`` and returns ``(dx, dstate0)``: the gradients of the
        input and of the initial state, shaped like them. Needs the cache of a ``forward(training=True)``.
        """
        if self._cache is None:
            raise RuntimeError("backward needs a forward(training=True) call first; the cache is empty")
        caches, lengths, B, T = self._cache
        dy = _checks.real_array("dy", dy, self.dtype, 3)
        _checks.shape("dy", dy, (B, T, self.num_directions * self.hidden_size))
        dstates = self._check_state(dstate, B, name="dstate")
        self._cache = None

        H = self.hidden_size
        workspace = self._workspaces[True]
        dseq = workspace.get("dy", dy.shape[1::-1] + dy.shape[2:])
        dseq[...] = dy.transpose(1, 0, 2)  # time-major (T, B, D*H)
        dstates0 = [np.empty_like(s) for s in dstates]
        for layer in reversed(range(self.num_layers)):
            if layer < self.num_layers - 1:
                dseq = self.dropouts[layer].backward(dseq)
            dinput = None
            for direction in range(self.num_directions):
                row = layer * self.num_directions + direction
                dy_dir = dseq[:, :, direction * H : (direction + 1) * H]
                record = None if self.recorder is None else self.recorder.backward_hook(self, layer, direction, lengths)
                dx, d0 = backward_direction(
                    self.cell, self._group(self.params, layer, direction),
                    self._group(self.grads, layer, direction), caches[layer][direction],
                    reverse(dy_dir, lengths) if direction else dy_dir, tuple(s[row] for s in dstates),
                    workspace.scope(f"{layer}.{direction}"), record,
                )
                dx = reverse(dx, lengths) if direction else dx
                dinput = dx if dinput is None else dinput + dx
                for dst, src in zip(dstates0, d0):
                    dst[row] = src
            dseq = dinput
        return dseq.transpose(1, 0, 2).copy(), self._public_state(dstates0)

    # ------------------------------------------------------------------------------------------ checks

    def _public_state(self, states):
        return tuple(states) if len(self.cell.state_names) > 1 else states[0]

    def _check_state(self, state, batch, name="state"):
        """The state as a tuple of (L*D, B, H) arrays, zeros when None."""
        expected = (self.num_layers * self.num_directions, batch, self.hidden_size)
        n = len(self.cell.state_names)
        if state is None:
            return tuple(np.zeros(expected, self.dtype) for _ in range(n))
        if n > 1:
            if not isinstance(state, (tuple, list)) or len(state) != n:
                raise TypeError(f"{name} must be a pair (h, c) of arrays for an LSTM, got {type(state).__name__}")
            parts = state
        else:
            parts = (state,)
        checked = []
        for label, part in zip(self.cell.state_names, parts):
            full = f"{name}[{label}]" if n > 1 else name
            array = _checks.real_array(full, part, self.dtype, 3)
            _checks.shape(full, array, expected)
            checked.append(array)
        return tuple(checked)

    @staticmethod
    def _check_mask(mask, batch, steps):
        """(mask as (T, B, 1) booleans, lengths (B,)), or (None, None) when no mask is given."""
        if mask is None:
            return None, None
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"mask must be a boolean array, got dtype {mask.dtype}")
        _checks.shape("mask", mask, (batch, steps))
        if np.any(mask[:, 1:] & ~mask[:, :-1]):
            raise ValueError("mask must be right-padded: each row True for its first steps, then False")
        return np.ascontiguousarray(mask.T)[:, :, None], mask.sum(axis=1)


@saveable
class RNN(Recurrent):
    """Elman RNN: h<t> = act(x<t> @ W_x + h<t-1> @ W_h + b), act = tanh or relu (see ``rnnkit.cells.rnn``).

    Parameters per layer and direction (prefix ``l{k}.`` or ``l{k}_reverse.``): W_x (F, H), W_h (H, H), b (H,).
    Initialisation: Glorot-uniform W_x, orthogonal W_h, zero b.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, dropout=0.0,
                 dtype=np.float32, seed=None, nonlinearity="tanh"):
        _checks.one_of("nonlinearity", nonlinearity, ("tanh", "relu"))
        cell = RNNCell(_checks.positive_int("hidden_size", hidden_size), nonlinearity)
        super().__init__(cell, input_size, hidden_size, num_layers, bidirectional, dropout, dtype, seed)


@saveable
class GRU(Recurrent):
    """GRU, gates packed r, z, n (see ``rnnkit.cells.gru`` for both conventions and the course mapping).

    ``reset_after=True`` is PyTorch's form (parameters W_x (F, 3H), W_h (H, 3H), b (3H,), b_hn (H,));
    ``reset_after=False`` the course's (no b_hn). Initialisation: Glorot-uniform W_x, an orthogonal block
    per gate in W_h, zero biases.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, dropout=0.0,
                 dtype=np.float32, seed=None, reset_after=True):
        if not isinstance(reset_after, bool):
            raise TypeError(f"reset_after must be a bool, got {reset_after!r}")
        cell = GRUCell(_checks.positive_int("hidden_size", hidden_size), reset_after)
        super().__init__(cell, input_size, hidden_size, num_layers, bidirectional, dropout, dtype, seed)


@saveable
class LSTM(Recurrent):
    """LSTM, gates packed i, f, g, o (see ``rnnkit.cells.lstm``); state is an (h, c) pair.

    Parameters: W_x (F, 4H), W_h (H, 4H), b (4H,), and with ``peephole=True`` diagonal p_i, p_f, p_o (H,).
    Initialisation: Glorot-uniform W_x, an orthogonal block per gate in W_h, zero biases but the forget
    gate's, which is ``forget_bias``; zero peepholes.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, dropout=0.0,
                 dtype=np.float32, seed=None, peephole=False, forget_bias=1.0):
        if not isinstance(peephole, bool):
            raise TypeError(f"peephole must be a bool, got {peephole!r}")
        forget_bias = _checks.real_number("forget_bias", forget_bias)
        cell = LSTMCell(_checks.positive_int("hidden_size", hidden_size), peephole, forget_bias)
        super().__init__(cell, input_size, hidden_size, num_layers, bidirectional, dropout, dtype, seed)


CELLS = {"rnn": RNN, "rnn-relu": partial(RNN, nonlinearity="relu"), "gru": GRU, "lstm": LSTM}  # by --cell name
