"""Seq2Seq: float64 central differences for every parameter, with and without attention, ragged sources and
targets, every cell, uni/bidirectional encoders; decoding through the generic samplers equals forward."""

import itertools
import zlib

import numpy as np
import pytest

from helpers import numeric_gradient, ragged_mask, relative_error
from rnnkit import generate
from rnnkit.data import Vocabulary
from rnnkit.models.seq2seq import Seq2Seq

B, TX, TY, VS, VT = 3, 5, 4, 7, 6


@pytest.mark.parametrize("cell,bidirectional,attention,layers",
                         list(itertools.product(("rnn", "gru", "lstm"), (False, True), (False, True), (1, 2))))
def test_gradients_match_central_differences(cell, bidirectional, attention, layers):
    rng = np.random.default_rng(zlib.crc32(repr((cell, bidirectional, attention, layers)).encode()))
    model = Seq2Seq(VS, VT, cell, hidden_size=3, num_layers=layers, bidirectional=bidirectional, embed_size=2,
                    attention=attention, attention_size=2, dtype=np.float64, seed=0)
    for name, value in model.params.items():  # sharper attention scores, so that their gradients are not tiny
        scale = 2.0 if name.startswith("attention.") else 0.7
        value[...] = rng.uniform(-scale, scale, size=value.shape)
    source, target = rng.integers(0, VS, (B, TX)), rng.integers(0, VT, (B, TY))
    source_mask, target_mask = ragged_mask(rng, B, TX), ragged_mask(rng, B, TY)
    dlogits = rng.standard_normal((B, TY, VT)) * target_mask[..., None]

    def loss():
        return np.sum(model.forward(source, target, source_mask, target_mask, training=False)[0] * dlogits)

    model.zero_grad()
    model.forward(source, target, source_mask, target_mask)
    model.backward(dlogits)
    for name, value in model.params.items():  # eps 1e-5: some attention gradients are ~1e-4, near eps=1e-6's noise
        assert relative_error(model.grads[name], numeric_gradient(loss, value, eps=1e-5)) <= 1e-6, name


def test_padding_of_a_source_changes_nothing():
    rng = np.random.default_rng(3)
    model = Seq2Seq(VS, VT, "lstm", hidden_size=4, dtype=np.float64, seed=1)
    source, target = rng.integers(1, VS, (2, TX)), rng.integers(1, VT, (2, TY))
    mask = np.array([[True] * TX, [True, True, False, False, False]])
    logits, alpha = model.forward(source, target, mask, training=False)
    alone, _ = model.forward(source[1:, :2], target[1:], training=False)
    np.testing.assert_allclose(logits[1], alone[0], rtol=1e-12, atol=1e-12)
    assert not alpha[1, :, 2:].any()


def test_decoding_through_the_samplers_equals_teacher_forcing():
    rng = np.random.default_rng(4)
    model = Seq2Seq(VS, VT, "gru", hidden_size=5, dtype=np.float64, seed=2)
    vocab = Vocabulary(list("abcd"), "char")  # 6 ids: <PAD>, <EOS>, a..d
    source = rng.integers(2, VS, (1, TX))
    (text, log_prob), = generate.beam_search(model.decoder_for(source), vocab, vocab.eos, width=2, max_len=6)
    target = vocab.encode(text)
    steps = target if len(target) == 6 else np.concatenate([target, [vocab.eos]])  # cut at max_len: no <EOS>
    logits, _ = model.forward(source, np.concatenate([[vocab.eos], steps[:-1]])[None], training=False)
    logp = logits[0] - np.log(np.exp(logits[0]).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(log_prob, logp[np.arange(len(steps)), steps].sum(), rtol=1e-10)
    greedy = generate.sample(model.decoder_for(np.repeat(source, 3, axis=0)), vocab, vocab.eos, n=3, max_len=6,
                             temperature=0)
    assert len(set(greedy)) == 1
