"""Count-based baselines a language model must beat: an n-gram model with add-k smoothing.

    P(c | a b) = (count(a b c) + k) / (count(a b) + k V)

over sequences framed as [<EOS>] * (n - 1) + tokens + [<EOS>], so its cross-entropy counts the same
predictions (every token and the final <EOS>) as the language model's line-mode loss.
"""

from __future__ import annotations

import math
from collections import Counter


def ngram_cross_entropy(train, valid, eos: int, vocab_size: int, n: int = 3, k: float = 0.1) -> float:
    """Mean negative log-likelihood in nats per token of ``valid`` (lists of id sequences) under the model."""
    context_counts, counts = Counter(), Counter()
    for seq in train:
        framed = [eos] * (n - 1) + list(seq) + [eos]
        for i in range(n - 1, len(framed)):
            context = tuple(framed[i - n + 1 : i])
            context_counts[context] += 1
            counts[context + (framed[i],)] += 1
    total, tokens = 0.0, 0
    for seq in valid:
        framed = [eos] * (n - 1) + list(seq) + [eos]
        for i in range(n - 1, len(framed)):
            context = tuple(framed[i - n + 1 : i])
            p = (counts[context + (framed[i],)] + k) / (context_counts[context] + k * vocab_size)
            total -= math.log(p)
            tokens += 1
    return total / tokens


def best_ngram_cross_entropy(train, valid, eos, vocab_size, n=3, ks=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0)):
    """(cross-entropy, k) for the add-k smoothing that does best on ``valid``: the baseline at its best."""
    return min((ngram_cross_entropy(train, valid, eos, vocab_size, n, k), k) for k in ks)
