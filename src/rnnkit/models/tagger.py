"""A sequence tagger (many-to-many, Tx = Ty): Embedding -> recurrent stack -> Dropout -> Dense at every step.

    e<t> = E[x<t>]                  (B, T, E)
    h<t> = stack(e<t>)              (B, T, D*H)    bidirectional by default: h<t> has read x<1..T>
    logits<t> = h<t> @ W + b        (B, T, K)      p(tag<t> | x) = softmax(logits<t>)

K tags. The forward direction's h<t> has seen x<1..t>; the reverse direction's has seen x<t..T>, which is
what a tag that depends on the right context needs (a word boundary after "the" in "theresa" vs "there").
Ragged batches are masked; padded steps get no loss and no gradient.
"""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..layers import CELLS, Dense, Dropout, Embedding, parameters
from ..losses import log_softmax
from ..saving import saveable


@saveable
class SequenceTagger:
    def __init__(self, vocab_size: int, num_tags: int, cell: str = "lstm", hidden_size: int = 128,
                 num_layers: int = 1, bidirectional: bool = True, embed_size: int = 32, dropout: float = 0.0,
                 dtype=np.float32, seed=None):
        _checks.one_of("cell", cell, tuple(CELLS))
        if not isinstance(bidirectional, bool):
            raise TypeError(f"bidirectional must be a bool, got {bidirectional!r}")
        self.config = {
            "vocab_size": _checks.positive_int("vocab_size", vocab_size),
            "num_tags": _checks.positive_int("num_tags", num_tags), "cell": cell,
            "hidden_size": _checks.positive_int("hidden_size", hidden_size),
            "num_layers": _checks.positive_int("num_layers", num_layers), "bidirectional": bidirectional,
            "embed_size": _checks.positive_int("embed_size", embed_size),
            "dropout": _checks.probability("dropout", dropout),
        }
        rng = np.random.default_rng(seed)
        self.embedding = Embedding(vocab_size, embed_size, dtype=dtype, seed=rng)
        self.rnn = CELLS[cell](embed_size, hidden_size, num_layers, bidirectional, dropout=dropout, dtype=dtype,
                               seed=rng)
        self.dropout = Dropout(dropout, seed=rng)
        self.head = Dense((2 if bidirectional else 1) * hidden_size, num_tags, dtype=dtype, seed=rng)
        self.rng = rng  # the generator dropout draws from; a checkpoint saves its state
        self.params, self.grads = parameters(embedding=self.embedding, rnn=self.rnn, head=self.head)

    def forward(self, ids, mask=None, training: bool = True) -> np.ndarray:
        """Logits (B, T, K) for token ids (B, T); ``mask`` (B, T) marks the valid steps."""
        h, _ = self.rnn.forward(self.embedding.forward(ids, training), None, mask, training)
        return self.head.forward(self.dropout.forward(h, training), training)

    def backward(self, dlogits) -> None:
        """Accumulate every parameter's gradient from d loss / d logits (B, T, K)."""
        dx, _ = self.rnn.backward(self.dropout.backward(self.head.backward(dlogits)))
        self.embedding.backward(dx)

    def probabilities(self, ids, mask=None) -> np.ndarray:
        """p(tag | x) at every step, (B, T, K) in float64."""
        return np.exp(log_softmax(self.forward(ids, mask, training=False).astype(np.float64)))

    def zero_grad(self) -> None:
        for layer in (self.embedding, self.rnn, self.head):
            layer.zero_grad()

    @property
    def num_params(self) -> int:
        return sum(v.size for v in self.params.values())
