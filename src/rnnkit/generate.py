"""Sampling, beam search and scoring with a ``LanguageModel``.

Every sequence begins from ``start``, the token the model saw before the first one in training (<EOS> for
line corpora, a newline for streams), then the prefix, tokenized by the model's own vocabulary. Sampling
follows the course's method: draw y<t> from softmax(logits<t> / temperature), feed it back as the next
input, stop at <EOS> or after ``max_len`` tokens. Randomness comes from an explicit ``np.random.Generator``.

    log P(y<1..n>) = sum_t log p(y<t> | y<1..t-1>)       perplexity = exp(-log P / n)
    bits per token = -log P / (n ln 2)                    (n counts <EOS> too for line corpora)
"""

from __future__ import annotations

import math

import numpy as np

from . import _checks
from .losses import log_softmax


def next_token_probabilities(logits, temperature=1.0, top_k=None, top_p=None, banned=()):
    """Rows of probabilities (float64) from logits (N, V): temperature, then top-k, then top-p (nucleus)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z[:, list(banned)] = -np.inf
    if top_k is not None and top_k < z.shape[1]:
        kth = np.partition(z, -top_k, axis=1)[:, -top_k][:, None]
        z[z < kth] = -np.inf
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-p, axis=1, kind="stable")
        sorted_p = np.take_along_axis(p, order, axis=1)
        outside = np.cumsum(sorted_p, axis=1) - sorted_p >= top_p  # the mass before it already reaches p
        np.put_along_axis(p, order, np.where(outside, 0.0, sorted_p), axis=1)
        p /= p.sum(axis=1, keepdims=True)
    return p


def _prime(model, start, prefix_ids, rows):
    """Run the model over [start] + prefix for ``rows`` copies: the last logits (rows, V) and the state."""
    x = np.tile(np.concatenate([[start], prefix_ids]).astype(np.int64), (rows, 1))
    logits, state = model.forward(x, training=False)
    return logits[:, -1], state


def sample(model, vocab, start, n=1, max_len=100, temperature=1.0, top_k=None, top_p=None,
           prefix="", rng=None, stop_at_eos=True) -> list[str]:
    """``n`` sequences at once, each ``prefix`` + up to ``max_len`` sampled tokens, as text.

    ``temperature=0`` is greedy decoding (always the most probable token). With ``stop_at_eos=False``
    (models of streams, which never saw <EOS> as a target) <EOS> is never drawn.
    """
    n = _checks.positive_int("n", n)
    max_len = _checks.positive_int("max_len", max_len)
    temperature = _checks.nonnegative_float("temperature", temperature)
    if top_k is not None:
        _checks.positive_int("top_k", top_k)
    if top_p is not None and not (0.0 < _checks.real_number("top_p", top_p) <= 1.0):
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    rng = np.random.default_rng(rng)
    logits, state = _prime(model, start, vocab.encode(prefix), n)
    tokens, done = [[] for _ in range(n)], np.zeros(n, dtype=bool)
    banned = (vocab.pad,) if stop_at_eos else (vocab.pad, vocab.eos)
    for _ in range(max_len):
        if temperature == 0:
            z = logits.astype(np.float64)
            z[:, banned] = -np.inf
            chosen = z.argmax(axis=1)
        else:
            p = next_token_probabilities(logits, temperature, top_k, top_p, banned=banned)
            u = rng.random((n, 1))
            chosen = np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), p.shape[1] - 1)
        for i, token in enumerate(chosen):
            if done[i]:
                continue
            if stop_at_eos and token == vocab.eos:
                done[i] = True
            else:
                tokens[i].append(int(token))
        if done.all():
            break
        logits, state = model.step(chosen, state)
    return [vocab.joined(prefix, vocab.decode(t)) for t in tokens]


def beam_search(model, vocab, start, width=5, max_len=50, length_penalty=1.0, prefix="", n=1):
    """The ``n`` best (text, log P) found by beam search of ``width``, ranked by log P / length**alpha.

    A hypothesis ends at <EOS> (which counts in its length and probability) or after ``max_len`` tokens.
    At each step the ``width`` best extensions of the open hypotheses by log P are kept; those ending in
    <EOS> leave the beam. With a width of at least V**max_len the search is exhaustive.
    """
    width = _checks.positive_int("width", width)
    max_len = _checks.positive_int("max_len", max_len)
    alpha = _checks.nonnegative_float("length_penalty", length_penalty)
    logits, state = _prime(model, start, vocab.encode(prefix), 1)
    beams, scores, finished = [[]], np.zeros(1), []
    for t in range(max_len):
        logp = log_softmax(logits.astype(np.float64))
        logp[:, vocab.pad] = -np.inf
        candidates = (scores[:, None] + logp).ravel()
        best = np.argsort(-candidates, kind="stable")[:width]
        best = best[np.isfinite(candidates[best])]
        keep, next_beams, next_scores, next_tokens = [], [], [], []
        for flat in best:
            b, token = divmod(int(flat), logp.shape[1])
            tokens, score = beams[b] + [token], candidates[flat]
            if token == vocab.eos or t == max_len - 1:
                finished.append((score / len(tokens) ** alpha, score, tokens))
            else:
                keep.append(b)
                next_beams.append(tokens)
                next_scores.append(score)
                next_tokens.append(token)
        if not keep:
            break
        state = tuple(s[:, keep] for s in state) if isinstance(state, tuple) else state[:, keep]
        beams, scores = next_beams, np.array(next_scores)
        logits, state = model.step(np.array(next_tokens), state)
    finished.sort(key=lambda item: -item[0])
    return [(vocab.joined(prefix, vocab.decode([t for t in tokens if t != vocab.eos])), float(score))
            for _, score, tokens in finished[:n]]


def score(model, vocab, start, text, eos_at_end=True) -> tuple[float, int]:
    """(log P(text) in nats, number of predicted tokens) under the model; <EOS> ends it when asked."""
    ids = vocab.encode(text)
    targets = np.concatenate([ids, [vocab.eos]]) if eos_at_end else ids
    if targets.size == 0:
        raise ValueError("text must hold at least one token, got an empty text")
    inputs = np.concatenate([[start], targets[:-1]]).astype(np.int64)
    logits, _ = model.forward(inputs[None], training=False)
    logp = log_softmax(logits[0].astype(np.float64))
    return float(logp[np.arange(targets.size), targets].sum()), int(targets.size)


def evaluate_stream(model, vocab, start, text, chunk=256) -> tuple[float, int]:
    """(total log P, tokens) of a whole text read as one stream, the state carried from chunk to chunk."""
    ids = vocab.encode(text)
    if ids.size == 0:
        raise ValueError("text must hold at least one token, got an empty text")
    inputs = np.concatenate([[start], ids[:-1]]).astype(np.int64)
    total, state = 0.0, None
    for begin in range(0, ids.size, chunk):
        logits, state = model.forward(inputs[None, begin : begin + chunk], state, training=False)
        logp = log_softmax(logits[0].astype(np.float64))
        total += float(logp[np.arange(logp.shape[0]), ids[begin : begin + chunk]].sum())
    return total, int(ids.size)


def summary(log_prob: float, tokens: int) -> dict:
    """Loss (nats per token), perplexity and bits per token of a total log-probability."""
    loss = -log_prob / tokens
    return {"loss": loss, "perplexity": math.exp(loss), "bits": loss / math.log(2)}
