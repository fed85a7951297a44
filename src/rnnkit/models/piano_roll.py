"""A polyphonic next-frame model (Boulanger-Lewandowski et al. 2012; Chung et al. 2014): recurrent stack ->
Dropout -> Dense -> one sigmoid per key.

    x<t> = v<t-1>                      (B, T, K)   the previous frame (all zeros before the first)
    h<t> = stack(x<t>, h<t-1>)         (B, T, H)   RNN, GRU or LSTM, L layers
    z<t> = h<t> @ W + b                (B, T, K)   p(v<t>[k] = 1 | v<1..t-1>) = σ(z<t>[k])

Keys are independent given the past, so a frame's negative log-likelihood is the sum over keys of the
binary cross-entropy, -Σ_k [v_k log σ(z_k) + (1 - v_k) log(1 - σ(z_k))]; losses here are in nats per
frame, the papers' unit. K keys (88), H hidden units, L layers.
"""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..layers import CELLS, Dense, Dropout, parameters
from ..losses import sigmoid_binary_cross_entropy
from ..saving import saveable


@saveable
class PianoRollModel:
    def __init__(self, num_keys: int = 88, cell: str = "lstm", hidden_size: int = 128, num_layers: int = 1,
                 dropout: float = 0.0, dtype=np.float32, seed=None):
        _checks.one_of("cell", cell, tuple(CELLS))
        self.config = {
            "num_keys": _checks.positive_int("num_keys", num_keys), "cell": cell,
            "hidden_size": _checks.positive_int("hidden_size", hidden_size),
            "num_layers": _checks.positive_int("num_layers", num_layers),
            "dropout": _checks.probability("dropout", dropout),
        }
        rng = np.random.default_rng(seed)
        self.dtype = dtype
        self.rnn = CELLS[cell](num_keys, hidden_size, num_layers, dropout=dropout, dtype=dtype, seed=rng)
        self.dropout = Dropout(dropout, seed=rng)
        self.head = Dense(hidden_size, num_keys, dtype=dtype, seed=rng)
        self.rng = rng  # the generator dropout draws from; a checkpoint saves its state
        self.params, self.grads = parameters(rnn=self.rnn, head=self.head)

    def forward(self, frames, state=None, mask=None, training: bool = True):
        """Logits (B, T, K) for the input frames (B, T, K) (each the frame before its target), and the state."""
        h, state = self.rnn.forward(np.asarray(frames, dtype=self.dtype), state, mask, training)
        return self.head.forward(self.dropout.forward(h, training), training), state

    def backward(self, dlogits) -> None:
        """Accumulate every parameter's gradient from d loss / d logits (B, T, K)."""
        self.rnn.backward(self.dropout.backward(self.head.backward(dlogits)))

    @staticmethod
    def loss(logits, targets, mask):
        """(nats per frame, d loss / d logits): the per-key cross-entropy summed over keys, averaged over the
        valid frames of ``mask`` (B, T)."""
        K = logits.shape[-1]
        mean, grad = sigmoid_binary_cross_entropy(logits, targets, np.repeat(mask[..., None], K, axis=2))
        return mean * K, grad * K

    def step(self, frame, state=None):
        """One generation step: the previous frames (B, K) -> logits (B, K) and the next state (the lean
        path, ``Recurrent.step``)."""
        h, state = self.rnn.step(np.asarray(frame, dtype=self.dtype), state)
        return self.head.forward(h, training=False), state

    def zero_grad(self) -> None:
        for layer in (self.rnn, self.head):
            layer.zero_grad()

    @property
    def num_params(self) -> int:
        return sum(v.size for v in self.params.values())
