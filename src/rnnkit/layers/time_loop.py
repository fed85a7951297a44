"""The one time loop of a recurrent layer, for one layer and direction, forward and backward.

Forward (1) projects the inputs of all steps at once, ``x @ W_x + b``, in one GEMM (the LSTM adds b in its
step), then (2) runs the cell step by step, saving what backward needs. Backward (3) runs the steps in reverse
and hands the per-step gate gradients to the cell, which forms the weight gradients in one GEMM.

For a float32 LSTM whose hidden size is a multiple of 32, on 8 steps or more, steps (1) to (3) run as one
compiled call forward and one backward, the cores sharing the work (``engine/persistent.py``: the same
equations, the same results up to float32 rounding), where that was measured faster; float64, the other
cells, short sequences and a recording keep the loop here.
"""

from __future__ import annotations

import time

import numpy as np

from ..engine import persistent
from ..engine.workspace import Workspace
from .base import rows_times


def reverse(seq: np.ndarray, lengths) -> np.ndarray:
    """Each sequence of (T, B, ...) reversed within its own length; padded steps stay where they are."""
    if lengths is None:
        return seq[::-1]
    T, B = seq.shape[:2]
    t = np.arange(T)[:, None]
    index = np.where(t < lengths, lengths - 1 - t, t)  # (T, B); an involution, so it undoes itself
    return seq[index, np.arange(B)]


def forward_direction(cell, p, x, state0, mask, keep, buffer, record=None):
    """One direction over time-major x (T, B, F). Returns (y (T, B, H), final state, cache or None).

    ``y`` and the cache live in the workspace behind ``buffer``; the final state is a fresh array.
    ``record(states, gates)``, when given, sees every step's states and the gate outputs (time-major).
    The loop runs here or as one compiled call, the cores sharing the work (``persistent.plan``).
    """
    engine = persistent.plan(cell, p, record, x.shape, keep, trial_of(cell, p, x, state0, mask, keep))
    return run_direction(cell, p, x, state0, mask, keep, buffer, record, engine)


def trial_of(cell, p, x, state0, mask, keep):
    """``trial(engine)`` for ``persistent.plan`` to choose by: the seconds this call takes with ``engine`` (a
    Plan, or None for the layer's loop), forward and, when training, backward, on the call's own inputs and
    weights, in a workspace of its own per way, kept from one trial to the next (as a layer keeps its own)."""
    spaces, scratch = {}, {}

    def trial(engine):
        if engine not in spaces:  # plans are made once per (H, workers, split): one per way
            spaces[engine] = Workspace(x.dtype)
        buffer = spaces[engine].scope("trial")
        if keep and not scratch:
            scratch["g"] = {name: np.zeros_like(value) for name, value in p.items()}
            scratch["dy"] = np.ones((*x.shape[:2], cell.hidden_size), x.dtype)
            scratch["dstate"] = tuple(np.zeros_like(s) for s in state0)
        start = time.perf_counter()
        y, _, cache = run_direction(cell, p, x, state0, mask, keep, buffer, None, engine)
        if keep:
            backward_direction(cell, p, scratch["g"], cache, scratch["dy"], scratch["dstate"], buffer)
        return time.perf_counter() - start

    return trial


def run_direction(cell, p, x, state0, mask, keep, buffer, record, engine):
    """``_forward_direction``'s loop, in ``engine`` (a ``persistent.Plan``) or, when it is None, here."""
    T, B, F = x.shape
    H = cell.hidden_size
    states = tuple(buffer(f"state_{name}", (T + 1, B, H)) for name in cell.state_names)  # [t + 1]: after step t
    for s, s0 in zip(states, state0):
        s[0] = s0
    saved = cell.new_saved(T if keep else 1, B, buffer)
    if not x.flags.c_contiguous and (engine is None or x.strides[2] != x.itemsize):
        copy = buffer("x", x.shape)  # (the engine reads rows of x in place, wherever they are)
        copy[...] = x
        x = copy
    if engine is not None:  # it projects the inputs itself, step by step, and keeps the gates only to train
        gates = buffer("by_gate", (T if keep else 1, B, cell.n_gates * H))
        engine.forward(cell, p, x, gates, states, saved, mask, keep, buffer)
        saved["engine"] = engine
        return forward_outputs(x, mask, states, saved, keep, buffer)
    xw = buffer("by_gate", (T, B, cell.n_gates * H))  # the GRU and LSTM write their gates over it; then dz
    np.matmul(x.reshape(T * B, F), p["W_x"], out=xw.reshape(T * B, -1))
    if not cell.adds_bias:
        xw += p["b"]
    padded = None if mask is None else ~mask
    with np.errstate(over="ignore"):
        for t in range(T):
            prev, new = [s[t] for s in states], [s[t + 1] for s in states]
            cell.step(p, xw[t], prev, new, saved, t if keep else 0)
            if padded is not None:  # padded steps carry the state unchanged
                for n, old in zip(new, prev):
                    np.copyto(n, old, where=padded[t])
    if record is not None:
        record(states, xw)
    return forward_outputs(x, mask, states, saved, keep, buffer)


def forward_outputs(x, mask, states, saved, keep, buffer):
    """(y, final state, cache) of ``_forward_direction`` once its loop has run."""
    T = x.shape[0]
    y = states[0][1:]
    if mask is not None:
        y = np.multiply(y, mask, out=buffer("y", y.shape))
    cache = (x, mask, states, saved) if keep else None
    return y, tuple(s[T].copy() for s in states), cache


def backward_direction(cell, p, g, cache, dy, dstate, buffer, record=None):
    """Backward of ``_forward_direction``: returns (dx (T, B, F), gradient of the initial state).
    ``record(t, d)``, when given, sees the whole gradient reaching each step's state, dL/dh<t> (and dL/dc<t>)."""
    x, mask, states, saved = cache
    valid = None if mask is None else mask.astype(x.dtype)
    factors, dz = cell.backward_factors(p, saved, states, valid, buffer)  # dz: written over factors or gates
    if mask is not None:
        dy = np.multiply(dy, valid, out=buffer("dy", dy.shape))  # padded outputs are constants: no gradient
    engine, dx = saved.get("engine"), None
    if engine is None or record is not None:  # a recording needs every step's gradients: the layer's loop
        d = backward_loop(cell, p, factors, dz, dy, dstate, valid, buffer, record)
    else:
        d, dx = engine.backward(cell, p, factors, dz, dy, dstate, buffer)
    cell.weight_grads(p, g, x, states, saved, factors, dz, buffer)
    if dx is None:
        dx = rows_times(dz, p["W_x"].T)
    return dx, tuple(d)  # dx and d may live in the workspace: the caller copies them


def backward_loop(cell, p, factors, dz, dy, dstate, valid, buffer, record):
    """The steps of ``_backward_direction`` from T-1 down to 0; returns the gradient of the initial state."""
    T, B = dy.shape[:2]
    factors["W_h_T"] = buffer("W_h_T", p["W_h"].shape[::-1])
    factors["W_h_T"][...] = p["W_h"].T  # contiguous: the per-step dz @ W_h.T runs faster than on a view
    carried = None if valid is None else 1.0 - valid
    # gradients reaching the states: two sets of buffers in turn, the one read and the one written
    turns = [[buffer(f"d{k}.{name}", (B, cell.hidden_size)) for name in cell.state_names] for k in (0, 1)]
    d = turns[1]
    for dst, src in zip(d, dstate):
        dst[...] = src
    carry = buffer("carry", (B, cell.hidden_size))
    for t in reversed(range(T)):
        d[0] += dy[t]
        if record is not None:
            record(t, d)
        d_prev = turns[(T - 1 - t) % 2]
        cell.step_backward(p, d, factors, t, dz[t], d_prev)
        if carried is not None:  # a padded step passed its state through unchanged, and so its gradient
            for dp, v in zip(d_prev, d):
                dp += np.multiply(v, carried[t], out=carry)
        d = d_prev
    return d
