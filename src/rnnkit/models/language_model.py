"""A language model: Embedding -> recurrent stack -> Dropout -> Dense -> softmax over the vocabulary.

    e<t> = E[y<t-1>]                  (B, T, E)      the previous token's embedding
    h<t> = stack(e<t>, h<t-1>)        (B, T, H)      RNN, GRU or LSTM, L layers
    logits<t> = h<t> @ W + b          (B, T, V)      p(y<t> | y<1..t-1>) = softmax(logits<t>)

A conditional language model (``num_labels`` given) is the one-to-many shape: one label c per sequence
(a name's origin) conditions every step, its embedding C[c] (B, C) joining each step's input,

    e<t> = [E[y<t-1>], C[c]]          (B, T, E + C)  p(y<t> | y<1..t-1>, c)

V vocabulary size, E embedding size, C label embedding size, H hidden units, L layers.
"""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..layers import CELLS, Dense, Dropout, Embedding, parameters
from ..saving import saveable


@saveable
class LanguageModel:
    def __init__(self, vocab_size: int, cell: str = "lstm", hidden_size: int = 128, num_layers: int = 1,
                 embed_size: int = 32, dropout: float = 0.0, dtype=np.float32, seed=None,
                 num_labels: int | None = None, label_size: int = 16):
        _checks.one_of("cell", cell, tuple(CELLS))
        self.config = {
            "vocab_size": _checks.positive_int("vocab_size", vocab_size), "cell": cell,
            "hidden_size": _checks.positive_int("hidden_size", hidden_size),
            "num_layers": _checks.positive_int("num_layers", num_layers),
            "embed_size": _checks.positive_int("embed_size", embed_size),
            "dropout": _checks.probability("dropout", dropout),
        }
        rng = np.random.default_rng(seed)
        layers = {"embedding": Embedding(vocab_size, embed_size, dtype=dtype, seed=rng)}
        if num_labels is not None:
            self.config.update(num_labels=_checks.positive_int("num_labels", num_labels),
                               label_size=_checks.positive_int("label_size", label_size))
            layers["label_embedding"] = Embedding(num_labels, label_size, dtype=dtype, seed=rng)
        self.embedding, self.label_embedding = layers["embedding"], layers.get("label_embedding")
        input_size = embed_size + (0 if num_labels is None else label_size)
        self.rnn = layers["rnn"] = CELLS[cell](input_size, hidden_size, num_layers, dropout=dropout, dtype=dtype,
                                               seed=rng)
        self.dropout = Dropout(dropout, seed=rng)
        self.head = layers["head"] = Dense(hidden_size, vocab_size, dtype=dtype, seed=rng)
        self.rng = rng  # the generator dropout draws from; a checkpoint saves its state
        self._layers = tuple(layers.values())
        self.params, self.grads = parameters(**layers)

    def forward(self, ids, state=None, mask=None, training: bool = True, labels=None):
        """Logits (B, T, V) for input ids (B, T), and the recurrent state after the last valid step.

        A conditional model needs ``labels`` (B,), one per sequence; an unconditional one refuses them.
        """
        x = self.embedding.forward(ids, training)
        if (labels is None) != (self.label_embedding is None):
            raise ValueError("labels must be given to a conditional language model, and only to one")
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != x.shape[:1]:
                raise ValueError(f"labels must have shape ({x.shape[0]},), one per sequence, got {labels.shape}")
            c = self.label_embedding.forward(labels, training)
            x = np.concatenate([x, np.broadcast_to(c[:, None, :], (*x.shape[:2], c.shape[1]))], axis=2)
        h, state = self.rnn.forward(x, state, mask, training)
        return self.head.forward(self.dropout.forward(h, training), training), state

    def backward(self, dlogits) -> None:
        """Accumulate every parameter's gradient from d loss / d logits (B, T, V)."""
        dh = self.dropout.backward(self.head.backward(dlogits))
        dx, _ = self.rnn.backward(dh)
        E = self.embedding.embedding_dim
        self.embedding.backward(dx[..., :E])
        if self.label_embedding is not None:
            self.label_embedding.backward(dx[..., E:].sum(axis=1))  # C[c] joined every step

    def zero_grad(self) -> None:
        for layer in self._layers:
            layer.zero_grad()

    def step(self, ids, state=None, labels=None):
        """One generation step: ids (B,) -> logits (B, V) and the next state; no cache, no dropout.

        The lean path (``Recurrent.step``): labels must be given exactly to a conditional model.
        """
        x = self.embedding.forward(ids, training=False)
        if labels is not None:
            x = np.concatenate([x, self.label_embedding.forward(labels, training=False)], axis=1)
        h, state = self.rnn.step(x, state)
        return self.head.forward(h, training=False), state

    def given(self, label: int) -> "Conditioned":
        """This conditional model with every sequence's label fixed to ``label``, for the samplers and scoring."""
        if self.label_embedding is None:
            raise ValueError("given() needs a conditional language model (num_labels), this one has no labels")
        if not 0 <= label < self.config["num_labels"]:
            raise ValueError(f"label must lie in [0, {self.config['num_labels']}), got {label!r}")
        return Conditioned(self, label)

    @property
    def num_params(self) -> int:
        return sum(v.size for v in self.params.values())


class Conditioned:
    """A conditional language model seen as an unconditional one: every row gets the same label."""

    def __init__(self, model: LanguageModel, label: int):
        self.model, self.label = model, label

    def _labels(self, ids):
        return np.full(np.shape(ids)[0], self.label, dtype=np.int64)

    def forward(self, ids, state=None, mask=None, training: bool = False):
        return self.model.forward(ids, state, mask, training, labels=self._labels(ids))

    def step(self, ids, state=None):
        return self.model.step(ids, state, labels=self._labels(ids))
