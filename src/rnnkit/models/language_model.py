"""A language model: Embedding -> recurrent stack -> Dropout -> Dense -> softmax over the vocabulary.

    e<t> = E[y<t-1>]                  (B, T, E)      the previous token's embedding
    h<t> = stack(e<t>, h<t-1>)        (B, T, H)      RNN, GRU or LSTM, L layers
    logits<t> = h<t> @ W + b          (B, T, V)      p(y<t> | y<1..t-1>) = softmax(logits<t>)

V vocabulary size, E embedding size, H hidden units, L layers.
"""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..layers import GRU, LSTM, RNN, Dense, Dropout, Embedding, parameters

CELLS = {"rnn": RNN, "gru": GRU, "lstm": LSTM}


class LanguageModel:
    def __init__(self, vocab_size: int, cell: str = "lstm", hidden_size: int = 128, num_layers: int = 1,
                 embed_size: int = 32, dropout: float = 0.0, dtype=np.float32, seed=None):
        _checks.one_of("cell", cell, tuple(CELLS))
        self.config = {
            "vocab_size": _checks.positive_int("vocab_size", vocab_size), "cell": cell,
            "hidden_size": _checks.positive_int("hidden_size", hidden_size),
            "num_layers": _checks.positive_int("num_layers", num_layers),
            "embed_size": _checks.positive_int("embed_size", embed_size),
            "dropout": _checks.probability("dropout", dropout),
        }
        rng = np.random.default_rng(seed)
        self.embedding = Embedding(vocab_size, embed_size, dtype=dtype, seed=rng)
        self.rnn = CELLS[cell](embed_size, hidden_size, num_layers, dropout=dropout, dtype=dtype, seed=rng)
        self.dropout = Dropout(dropout, seed=rng)
        self.head = Dense(hidden_size, vocab_size, dtype=dtype, seed=rng)
        self.rng = rng  # the generator dropout draws from; a checkpoint saves its state
        self.params, self.grads = parameters(embedding=self.embedding, rnn=self.rnn, head=self.head)

    def forward(self, ids, state=None, mask=None, training: bool = True):
        """Logits (B, T, V) for input ids (B, T), and the recurrent state after the last valid step."""
        h, state = self.rnn.forward(self.embedding.forward(ids, training), state, mask, training)
        return self.head.forward(self.dropout.forward(h, training), training), state

    def backward(self, dlogits) -> None:
        """Accumulate every parameter's gradient from d loss / d logits (B, T, V)."""
        dh = self.dropout.backward(self.head.backward(dlogits))
        dx, _ = self.rnn.backward(dh)
        self.embedding.backward(dx)

    def zero_grad(self) -> None:
        for layer in (self.embedding, self.rnn, self.head):
            layer.zero_grad()

    def step(self, ids, state=None):
        """One generation step: ids (B,) -> logits (B, V) and the next state; no cache, no dropout."""
        logits, state = self.forward(np.asarray(ids)[:, None], state, training=False)
        return logits[:, 0], state

    @property
    def num_params(self) -> int:
        return sum(v.size for v in self.params.values())
