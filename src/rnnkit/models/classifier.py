"""A sequence classifier (many-to-one): Embedding -> recurrent stack -> pooling -> Dropout -> Dense -> softmax.

    e<t> = E[x<t>]                  (B, T, E)      token ids; or float features x<t> (B, T, F) as they are
    h<t> = stack(e<t>, h<t-1>)      (B, T, D*H)    RNN, GRU or LSTM, L layers, D directions
    v = pool(h, mask)               (B, D*H)       last, mean or max over the valid steps (layers.pooling)
    logits = v @ W + b              (B, K)         p(class | x) = softmax(logits)

K classes (two for a binary task; one output, read as a number, makes it a regressor, as for the adding
problem's sum), E embedding size, F input features, H hidden units. Batches of
different lengths are right-padded and masked; nothing is sorted. ``dropout`` applies to the stack's input
e<t>, between its layers and to the pooled v, while training.
"""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..layers import CELLS, Dense, Dropout, Embedding, parameters
from ..layers.pooling import TimePooling
from ..losses import log_softmax
from ..saving import saveable


@saveable
class SequenceClassifier:
    """Give ``vocab_size`` for token ids (an embedding) or ``input_size`` for float features, not both."""

    def __init__(self, num_classes: int, vocab_size: int | None = None, input_size: int | None = None,
                 cell: str = "lstm", hidden_size: int = 128, num_layers: int = 1, bidirectional: bool = False,
                 embed_size: int = 32, pool: str = "last", dropout: float = 0.0, dtype=np.float32, seed=None):
        if (vocab_size is None) == (input_size is None):
            raise ValueError(f"give exactly one of vocab_size and input_size, got {vocab_size!r} and {input_size!r}")
        _checks.one_of("cell", cell, tuple(CELLS))
        if not isinstance(bidirectional, bool):
            raise TypeError(f"bidirectional must be a bool, got {bidirectional!r}")
        self.config = {
            "num_classes": _checks.positive_int("num_classes", num_classes), "cell": cell,
            "vocab_size": vocab_size if vocab_size is None else _checks.positive_int("vocab_size", vocab_size),
            "input_size": input_size if input_size is None else _checks.positive_int("input_size", input_size),
            "hidden_size": _checks.positive_int("hidden_size", hidden_size),
            "num_layers": _checks.positive_int("num_layers", num_layers), "bidirectional": bidirectional,
            "embed_size": _checks.positive_int("embed_size", embed_size), "pool": pool,
            "dropout": _checks.probability("dropout", dropout),
        }
        rng = np.random.default_rng(seed)
        layers = {}
        if vocab_size is not None:
            self.embedding = layers["embedding"] = Embedding(vocab_size, embed_size, dtype=dtype, seed=rng)
        else:
            self.embedding = None
        directions = 2 if bidirectional else 1
        self.rnn = layers["rnn"] = CELLS[cell](embed_size if input_size is None else input_size, hidden_size,
                                               num_layers, bidirectional, dropout=dropout, dtype=dtype, seed=rng)
        self.pool = TimePooling(pool, directions)
        self.input_dropout, self.dropout = Dropout(dropout, seed=rng), Dropout(dropout, seed=rng)
        self.head = layers["head"] = Dense(directions * hidden_size, num_classes, dtype=dtype, seed=rng)
        self.rng = rng  # the generator dropout draws from; a checkpoint saves its state
        self._layers = tuple(layers.values())
        self.params, self.grads = parameters(**layers)

    def forward(self, x, mask=None, training: bool = True) -> np.ndarray:
        """Logits (B, K) for ids (B, T) or features (B, T, F); ``mask`` (B, T) marks the valid steps."""
        inputs = self.embedding.forward(x, training) if self.embedding is not None else x
        h, _ = self.rnn.forward(self.input_dropout.forward(inputs, training), None, mask, training)
        v = self.pool.forward(h, mask, training)
        return self.head.forward(self.dropout.forward(v, training), training)

    def backward(self, dlogits):
        """Accumulate every parameter's gradient from d loss / d logits (B, K); returns d loss / d features
        (B, T, F) for a feature input, None for ids."""
        dh = self.pool.backward(self.dropout.backward(self.head.backward(dlogits)))
        dx = self.input_dropout.backward(self.rnn.backward(dh)[0])
        if self.embedding is None:
            return dx
        self.embedding.backward(dx)
        return None

    def probabilities(self, x, mask=None) -> np.ndarray:
        """p(class | x) for each sequence, (B, K) in float64."""
        return np.exp(log_softmax(self.forward(x, mask, training=False).astype(np.float64)))

    def zero_grad(self) -> None:
        for layer in self._layers:
            layer.zero_grad()

    @property
    def num_params(self) -> int:
        return sum(v.size for v in self.params.values())
