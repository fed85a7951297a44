"""Count-based baselines the models must beat: an n-gram language model and a naive Bayes classifier.

n-gram model with add-k smoothing, over sequences framed as [<EOS>] * (n - 1) + tokens + [<EOS>], so that
its cross-entropy counts the same predictions (every token and the final <EOS>) as a line-mode loss:

    P(c | a b) = (count(a b c) + k) / (count(a b) + k V)

Multinomial naive Bayes over n-grams (characters: n = 1..3 of " " + text + " "; words: n = 1..2 of the words),
add-alpha smoothing:

    log P(label | text) = log P(label) + sum over n-grams g of text: log P(g | label) + const
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np

from .data.vocab import Vocabulary


class NGram:
    """An add-k n-gram model of id sequences; ``vocab_size`` counts every token it may predict."""

    def __init__(self, train, eos: int, vocab_size: int, n: int = 3, k: float = 0.1):
        self.eos, self.vocab_size, self.n, self.k = eos, vocab_size, n, k
        self.context_counts, self.counts = Counter(), Counter()
        self.followers = defaultdict(Counter)
        for seq in train:
            for context, token in self._events(seq):
                self.context_counts[context] += 1
                self.counts[context + (token,)] += 1
                self.followers[context][token] += 1

    def _events(self, seq):
        framed = [self.eos] * (self.n - 1) + list(seq) + [self.eos]
        for i in range(self.n - 1, len(framed)):
            yield tuple(framed[i - self.n + 1 : i]), framed[i]

    def log_prob(self, seq) -> tuple[float, int]:
        """(log P of seq and its final <EOS> in nats, the number of predicted tokens)."""
        total, tokens = 0.0, 0
        for context, token in self._events(seq):
            p = (self.counts[context + (token,)] + self.k) / (self.context_counts[context] + self.k * self.vocab_size)
            total += math.log(p)
            tokens += 1
        return total, tokens

    def cross_entropy(self, sequences) -> float:
        """Mean negative log-likelihood in nats per predicted token of ``sequences`` (lists of ids)."""
        totals = [self.log_prob(seq) for seq in sequences]
        return -sum(t[0] for t in totals) / sum(t[1] for t in totals)

    def sample(self, rng: np.random.Generator, max_len: int = 50) -> list[int]:
        """One sequence drawn token by token from the smoothed model (any id below vocab_size but <PAD> 0)."""
        context, out = (self.eos,) * (self.n - 1), []
        ids = np.arange(1, self.vocab_size + 1)  # the ids the model predicts: every one but <PAD>
        for _ in range(max_len):
            seen = self.followers[context]
            p = np.array([seen.get(int(i), 0) + self.k for i in ids], dtype=np.float64)
            token = int(rng.choice(ids, p=p / p.sum()))
            if token == self.eos:
                break
            out.append(token)
            context = context[1:] + (token,)
        return out


ADD_K = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # the smoothings tried on validation


def best_ngram(train, valid, eos: int, vocab_size: int, ns=(3,), ks=ADD_K) -> tuple[NGram, float]:
    """The n-gram (n in ``ns``, add-k in ``ks``) that does best on ``valid``, and its cross-entropy there: the
    baseline at its best. Counts are fitted once per n; k only changes how they are read."""
    best = None
    for n in ns:
        model = NGram(train, eos, vocab_size, n)
        for k in ks:
            model.k = k
            loss = model.cross_entropy(valid)
            if best is None or loss < best[1]:
                best = (model, loss, k)
    model, loss, model.k = best
    return model, loss


def best_ngram_cross_entropy(train, valid, eos, vocab_size, n=3, ks=ADD_K):
    """(cross-entropy, k) of the best add-k n-gram on ``valid``."""
    model, loss = best_ngram(train, valid, eos, vocab_size, (n,), ks)
    return loss, model.k


class NaiveBayes:
    """Multinomial naive Bayes over character 1- to 3-grams or word 1- to 2-grams; labels are ints in [0, K)."""

    def __init__(self, texts, labels, num_labels: int, level: str = "char", alpha: float = 0.1):
        self.level, self.alpha = level, alpha
        counts = [Counter() for _ in range(num_labels)]
        for text, label in zip(texts, labels):
            counts[label].update(self.grams(text))
        self.vocabulary = sorted(set().union(*counts))
        self.index = {g: i for i, g in enumerate(self.vocabulary)}
        table = np.full((num_labels, len(self.vocabulary)), alpha)
        for label, c in enumerate(counts):
            for gram, count in c.items():
                table[label, self.index[gram]] += count
        self.log_p_gram = np.log(table) - np.log(table.sum(axis=1, keepdims=True))  # (K, G)
        prior = np.bincount(np.asarray(labels), minlength=num_labels) + 1.0
        self.log_prior = np.log(prior / prior.sum())

    def grams(self, text: str) -> list:
        if self.level == "char":
            units, n = f" {text} ", 3
        else:
            units, n = [w for w in Vocabulary.split(text, "word") if not w.isspace()], 2
        return [tuple(units[i : i + k]) for k in range(1, n + 1) for i in range(len(units) - k + 1)]

    def log_posterior(self, texts) -> np.ndarray:
        """log P(label | text), (N, K); n-grams never seen in training are skipped."""
        scores = np.tile(self.log_prior, (len(texts), 1))
        for row, text in enumerate(texts):
            seen = [self.index[g] for g in self.grams(text) if g in self.index]
            scores[row] += self.log_p_gram[:, seen].sum(axis=1)
        return scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)

    def predict(self, texts) -> np.ndarray:
        return self.log_posterior(texts).argmax(axis=1)


def best_naive_bayes(train_texts, train_labels, valid_texts, valid_labels, num_labels, level="char",
                     alphas=(0.01, 0.03, 0.1, 0.3, 1.0)) -> NaiveBayes:
    """The naive Bayes whose smoothing does best on the validation split (accuracy): the baseline at its best."""
    models = [NaiveBayes(train_texts, train_labels, num_labels, level, alpha=a) for a in alphas]
    return max(models, key=lambda m: float(np.mean(m.predict(valid_texts) == np.asarray(valid_labels))))


class MostFrequentTag:
    """The tag seen most often in training for (previous token, token), else for the token, else overall.

    For words this is the usual "most frequent tag per word" baseline; the previous token makes it the
    equivalent for characters, whose tags depend on their neighbours (a word boundary after "e" in "th|e").
    """

    def __init__(self, token_seqs, tag_seqs):
        by_pair, by_token, overall = defaultdict(Counter), defaultdict(Counter), Counter()
        for tokens, tags in zip(token_seqs, tag_seqs):
            for previous, token, tag in zip([None, *tokens], tokens, tags):
                by_pair[previous, token][tag] += 1
                by_token[token][tag] += 1
                overall[tag] += 1
        self.by_pair = {k: c.most_common(1)[0][0] for k, c in by_pair.items()}
        self.by_token = {k: c.most_common(1)[0][0] for k, c in by_token.items()}
        self.default = overall.most_common(1)[0][0]

    def predict(self, tokens) -> list[str]:
        return [self.by_pair.get((previous, token), self.by_token.get(token, self.default))
                for previous, token in zip([None, *tokens], tokens)]


class DictionarySegmenter:
    """Word segmentation by a unigram model of the training split's words, the most probable split found by
    dynamic programming (as wordninja and Norvig's ``segment`` do); words never seen cost 10 / (N 10^len):

        best[i] = max over j < i of best[j] + log P(chars[j:i])       P(w) = count(w) / N
    """

    def __init__(self, token_seqs, tag_seqs, max_word: int = 30):
        self.counts = Counter()
        for tokens, tags in zip(token_seqs, tag_seqs):
            word = ""
            for token, tag in zip(tokens, tags):
                if tag == "B" and word:
                    self.counts[word] += 1
                    word = ""
                word += token
            self.counts[word] += 1
        self.total, self.max_word = sum(self.counts.values()), max_word

    def log_p(self, word: str) -> float:
        count = self.counts.get(word)
        return math.log(count / self.total) if count else math.log(10.0 / self.total) - len(word) * math.log(10.0)

    def predict(self, tokens) -> list[str]:
        text = "".join(tokens)
        best, start = [0.0] + [-math.inf] * len(text), [0] * (len(text) + 1)
        for i in range(1, len(text) + 1):
            for j in range(max(0, i - self.max_word), i):
                score = best[j] + self.log_p(text[j:i])
                if score > best[i]:
                    best[i], start[i] = score, j
        tags, i = ["I"] * len(text), len(text)
        while i > 0:
            tags[start[i]] = "B"
            i = start[i]
        return tags
