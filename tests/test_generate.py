"""Sampling, beam search (against exhaustive search), scoring and evaluation on small seeded models."""

import itertools
import math

import numpy as np
import pytest

from rnnkit import generate
from rnnkit.data import Vocabulary
from rnnkit.models import LanguageModel


def tiny(seed=0, scale=2.0):
    vocab = Vocabulary(["a", "b"], "char")
    model = LanguageModel(len(vocab), "gru", hidden_size=5, embed_size=3, dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed)
    for value in model.params.values():
        value[...] = rng.uniform(-scale, scale, value.shape)
    return model, vocab


def exhaustive(model, vocab, max_len, alpha):
    """Every sequence the beam may produce: ended by <EOS> within max_len, or cut at max_len."""
    found = []
    for length in range(1, max_len + 1):
        for body in itertools.product("ab", repeat=length - 1):
            text = "".join(body)
            found.append((text, generate.score(model, vocab, vocab.eos, text)[0], length))
    for body in itertools.product("ab", repeat=max_len):
        text = "".join(body)
        found.append((text, generate.score(model, vocab, vocab.eos, text, eos_at_end=False)[0], max_len))
    found.sort(key=lambda item: -item[1] / item[2] ** alpha)
    return [(text, logp) for text, logp, _ in found]


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_full_width_beam_search_equals_exhaustive_search(alpha):
    model, vocab = tiny()
    best = generate.beam_search(model, vocab, vocab.eos, width=3**4, max_len=4, length_penalty=alpha, n=5)
    expected = exhaustive(model, vocab, 4, alpha)[:5]
    assert [t for t, _ in best] == [t for t, _ in expected]
    np.testing.assert_allclose([s for _, s in best], [s for _, s in expected], rtol=1e-12)


def test_width_one_beam_is_greedy_decoding():
    model, vocab = tiny(seed=4)
    greedy = generate.sample(model, vocab, vocab.eos, n=1, max_len=8, temperature=0)[0]
    assert generate.beam_search(model, vocab, vocab.eos, width=1, max_len=8)[0][0] == greedy


def test_sampling_is_reproducible_by_seed_and_follows_the_prefix():
    model, vocab = tiny(seed=1, scale=0.5)
    a = generate.sample(model, vocab, vocab.eos, n=20, max_len=10, prefix="ab", rng=np.random.default_rng(3))
    b = generate.sample(model, vocab, vocab.eos, n=20, max_len=10, prefix="ab", rng=np.random.default_rng(3))
    assert a == b and all(s.startswith("ab") and len(s) <= 12 for s in a)
    assert len(set(a)) > 1


def test_sampled_frequencies_follow_the_model():
    model, vocab = tiny(seed=2, scale=0.5)
    samples = generate.sample(model, vocab, vocab.eos, n=4000, max_len=1, rng=np.random.default_rng(0),
                              stop_at_eos=False)
    logits, _ = model.step(np.array([vocab.eos]))
    p = generate.next_token_probabilities(logits, banned=(vocab.pad, vocab.eos))[0]  # a stream: no <EOS>
    for token in ("a", "b"):
        share = sum(s == token for s in samples) / len(samples)
        assert abs(share - p[vocab.stoi[token]]) < 0.03


def test_top_k_and_top_p_keep_the_right_tokens():
    logits = np.log(np.array([[0.1, 0.4, 0.3, 0.2]]))
    np.testing.assert_allclose(generate.next_token_probabilities(logits, top_k=2), [[0, 4 / 7, 3 / 7, 0]])
    np.testing.assert_allclose(generate.next_token_probabilities(logits, top_p=0.6), [[0, 4 / 7, 3 / 7, 0]])
    np.testing.assert_allclose(generate.next_token_probabilities(logits, top_p=0.4), [[0, 1, 0, 0]])
    hot = generate.next_token_probabilities(logits, temperature=0.5)
    np.testing.assert_allclose(hot, [[0.01, 0.16, 0.09, 0.04]] / np.float64(0.30))


def test_score_and_stream_evaluation_agree():
    model, vocab = tiny(seed=5, scale=0.7)
    text = "abbabaab" * 40
    log_prob, n = generate.score(model, vocab, vocab.eos, text, eos_at_end=False)
    chunked, m = generate.evaluate_stream(model, vocab, vocab.eos, text, chunk=7)
    assert n == m == len(text) and chunked == pytest.approx(log_prob, rel=1e-12)
    s = generate.summary(log_prob, n)
    assert s["perplexity"] == pytest.approx(math.exp(-log_prob / n)) and s["bits"] == pytest.approx(
        -log_prob / n / math.log(2))


@pytest.mark.parametrize(
    "options,message",
    [({"temperature": -1.0}, "temperature must be a non-negative"), ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
     ({"top_k": 0}, "top_k must be a positive int"), ({"n": 0}, "n must be a positive int")],
)
def test_bad_sampling_options_are_named(options, message):
    model, vocab = tiny()
    with pytest.raises(ValueError, match=message):
        generate.sample(model, vocab, vocab.eos, **options)


def test_streams_never_draw_eos():
    model, vocab = tiny(seed=3)
    model.params["head.b"][vocab.eos] = 50.0  # <EOS> would win every draw if it were allowed
    samples = generate.sample(model, vocab, vocab.eos, n=5, max_len=6, stop_at_eos=False,
                              rng=np.random.default_rng(0))
    assert all(len(s) == 6 and "<EOS>" not in s for s in samples)
    assert generate.sample(model, vocab, vocab.eos, n=1, max_len=6, temperature=0, stop_at_eos=False)[0] != ""


@pytest.mark.parametrize("cell,labels", [("lstm", None), ("gru", None), ("rnn", np.array([2, 0, 1]))])
def test_a_model_step_is_its_forward_one_token_at_a_time(cell, labels):
    model = LanguageModel(6, cell, hidden_size=5, num_layers=2, embed_size=3, dtype=np.float64, seed=1,
                          num_labels=None if labels is None else 3)
    ids = np.random.default_rng(0).integers(0, 6, (3, 4))
    logits, _ = model.forward(ids, training=False, labels=labels)
    state = None
    for t in range(ids.shape[1]):
        step, state = model.step(ids[:, t], state, labels=labels)
        np.testing.assert_allclose(step, logits[:, t], rtol=1e-12, atol=1e-14)
