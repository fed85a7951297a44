"""An encoder-decoder (many-to-many, Tx != Ty) with optional additive attention.

    h<j> = encoder(E_src[x<j>])                      (B, Tx, D*He)  RNN, GRU or LSTM, optionally bidirectional
    s<0> = tanh([h_fwd<Tx>, h_rev<1>] @ W_b + b_b)   (Ld, B, Hd)    the encoder's last state, projected (bridge)
    s<t> = decoder(E_tgt[y<t-1>], s<t-1>)            (B, Ty, Hd)    teacher forcing: y<0> = <EOS>
    c<t> = attention(h, s<t>)                        (B, Ty, D*He)  additive scores of size A, masked source
    logits<t> = [s<t>, c<t>] @ W + b                 (B, Ty, Vt)    p(y<t> | y<1..t-1>, x)

Attention is optional (A = ``attention_size``, 64 unless told). The bridge maps the top encoder layer's
final states (both directions) to every decoder layer's first h (an LSTM decoder's first c is zero), so a
bidirectional encoder feeds a unidirectional decoder. The attention's query is the decoder's state at the
same step, s<t> (Luong's arrangement with Bahdanau's additive score), so the decoder runs as one recurrent
layer and attention is computed for all steps at once. Decoding (greedy, sampling, beam search) goes
through ``decoder_for(source)``, which looks like a language model to ``rnnkit.generate``.
"""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..layers import CELLS, AdditiveAttention, Dense, Embedding, parameters
from ..saving import saveable


@saveable
class Seq2Seq:
    def __init__(self, source_vocab: int, target_vocab: int, cell: str = "gru", hidden_size: int = 128,
                 num_layers: int = 1, bidirectional: bool = True, embed_size: int = 32, attention: bool = True,
                 attention_size: int = 64, dtype=np.float32, seed=None):
        _checks.one_of("cell", cell, tuple(CELLS))
        for name, value in (("bidirectional", bidirectional), ("attention", attention)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {value!r}")
        H = _checks.positive_int("hidden_size", hidden_size)
        L = _checks.positive_int("num_layers", num_layers)
        E = _checks.positive_int("embed_size", embed_size)
        self.config = {"source_vocab": _checks.positive_int("source_vocab", source_vocab),
                       "target_vocab": _checks.positive_int("target_vocab", target_vocab), "cell": cell,
                       "hidden_size": H, "num_layers": L, "bidirectional": bidirectional, "embed_size": E,
                       "attention": attention}
        D = 2 if bidirectional else 1
        rng = np.random.default_rng(seed)
        layers = {"source_embedding": Embedding(source_vocab, E, dtype=dtype, seed=rng),
                  "encoder": CELLS[cell](E, H, L, bidirectional, dtype=dtype, seed=rng),
                  "bridge": Dense(D * H, L * H, dtype=dtype, seed=rng),
                  "target_embedding": Embedding(target_vocab, E, dtype=dtype, seed=rng),
                  "decoder": CELLS[cell](E, H, L, dtype=dtype, seed=rng)}
        if attention:
            layers["attention"] = AdditiveAttention(D * H, H, attention_size, dtype=dtype, seed=rng)
        layers["head"] = Dense(H + (D * H if attention else 0), target_vocab, dtype=dtype, seed=rng)
        self.layers = layers
        self.rng = rng  # no dropout draws from it; kept so that every model's checkpoint has the same keys
        self.params, self.grads = parameters(**layers)
        self._cache = None

    # ------------------------------------------------------------------------------------------ forward

    def encode(self, source, source_mask=None, training: bool = False):
        """(h (B, Tx, D*He), the source mask, the decoder's first state) of source ids (B, Tx)."""
        lay = self.layers
        h, final = lay["encoder"].forward(lay["source_embedding"].forward(source, training), None, source_mask,
                                          training)
        final_h = final[0] if isinstance(final, tuple) else final
        D, L, H = 2 if self.config["bidirectional"] else 1, self.config["num_layers"], self.config["hidden_size"]
        top = final_h[-D:].transpose(1, 0, 2).reshape(final_h.shape[1], D * H)  # (B, D*He)
        s0 = np.tanh(lay["bridge"].forward(top, training)).reshape(-1, L, H).transpose(1, 0, 2).copy()
        state0 = (s0, np.zeros_like(s0)) if self.config["cell"] == "lstm" else s0
        return h, source_mask, state0

    def decode(self, memory, target_in, state=None, target_mask=None, training: bool = False):
        """Logits (B, Ty, Vt), the decoder's last state and the attention weights (B, Ty, Tx) or None."""
        lay = self.layers
        h, source_mask, state0 = memory
        s, state = lay["decoder"].forward(lay["target_embedding"].forward(target_in, training),
                                          state0 if state is None else state, target_mask, training)
        alpha = None
        if "attention" in lay:
            c, alpha = lay["attention"].forward(h, s, source_mask, training)
            s = np.concatenate([s, c], axis=2)
        return lay["head"].forward(s, training), state, alpha

    def forward(self, source, target_in, source_mask=None, target_mask=None, training: bool = True):
        """Teacher-forced logits (B, Ty, Vt) and attention weights of sources (B, Tx) and targets in (B, Ty)."""
        memory = self.encode(source, source_mask, training)
        logits, _, alpha = self.decode(memory, target_in, None, target_mask, training)
        self._cache = (memory[0].shape, memory[2]) if training else None
        return logits, alpha

    # ----------------------------------------------------------------------------------------- backward

    def backward(self, dlogits) -> None:
        """Accumulate every parameter's gradient from d loss / d logits (B, Ty, Vt)."""
        if self._cache is None:
            raise RuntimeError("backward needs a forward(training=True) call first; the cache is empty")
        (B, Tx, DH), state0 = self._cache
        self._cache = None
        lay, H = self.layers, self.config["hidden_size"]
        do = lay["head"].backward(dlogits)
        ds, dh = do[..., :H], np.zeros((B, Tx, DH), do.dtype)
        if "attention" in lay:
            dh, ds_attention = lay["attention"].backward(do[..., H:])
            ds = ds + ds_attention
        dx, dstate0 = lay["decoder"].backward(np.ascontiguousarray(ds))
        lay["target_embedding"].backward(dx)
        s0 = state0[0] if isinstance(state0, tuple) else state0
        ds0 = dstate0[0] if isinstance(dstate0, tuple) else dstate0  # an LSTM's first c is a constant zero
        dpre = (ds0 * (1 - s0 * s0)).transpose(1, 0, 2).reshape(B, -1)
        dtop = lay["bridge"].backward(dpre)  # (B, D*He)
        D = DH // H
        dfinal = np.zeros((self.config["num_layers"] * D, B, H), do.dtype)
        dfinal[-D:] = dtop.reshape(B, D, H).transpose(1, 0, 2)
        dstate = (dfinal, np.zeros_like(dfinal)) if self.config["cell"] == "lstm" else dfinal
        dx, _ = lay["encoder"].backward(dh, dstate)
        lay["source_embedding"].backward(dx)

    def zero_grad(self) -> None:
        for layer in self.layers.values():
            layer.zero_grad()

    @property
    def num_params(self) -> int:
        return sum(v.size for v in self.params.values())

    def decoder_for(self, source, source_mask=None) -> "Decoding":
        """The decoder bound to encoded sources, as a language model: forward(ids, state) and step(ids, state)."""
        return Decoding(self, self.encode(np.asarray(source), source_mask))


class Decoding:
    """A ``Seq2Seq`` decoder over fixed encoder outputs; rows may be one per source, or any number for one."""

    def __init__(self, model: Seq2Seq, memory):
        self.model, self.memory = model, memory
        self.alphas = []  # attention weights of each call, for plotting

    def _memory(self, rows: int):
        h, mask, state0 = self.memory
        if h.shape[0] == rows:
            return self.memory
        if h.shape[0] != 1:
            raise ValueError(f"this decoder holds {h.shape[0]} sources, one per row; got {rows} rows")
        state = tuple(np.repeat(s, rows, axis=1) for s in state0) if isinstance(state0, tuple) else \
            np.repeat(state0, rows, axis=1)
        return np.repeat(h, rows, axis=0), None if mask is None else np.repeat(mask, rows, axis=0), state

    def forward(self, ids, state=None, mask=None, training: bool = False):
        logits, state, alpha = self.model.decode(self._memory(len(ids)), np.asarray(ids), state, mask, False)
        self.alphas.append(alpha)
        return logits, state

    def step(self, ids, state=None):
        logits, state = self.forward(np.asarray(ids)[:, None], state)
        return logits[:, 0], state
