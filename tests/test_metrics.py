"""Classification metrics against counts done by hand; the baselines on data they must get right."""

import numpy as np
import pytest

from rnnkit.baselines import NGram, NaiveBayes, best_naive_bayes
from rnnkit.metrics import classification_report, confusion_matrix


def test_report_by_hand():
    targets = [0, 0, 0, 1, 1, 2]
    predictions = [0, 0, 1, 1, 2, 2]
    np.testing.assert_array_equal(confusion_matrix(targets, predictions, 4), [[2, 1, 0, 0], [0, 1, 1, 0],
                                                                              [0, 0, 1, 0], [0, 0, 0, 0]])
    r = classification_report(targets, predictions, 4)
    assert r["accuracy"] == pytest.approx(4 / 6) and r["n"] == 6
    assert r["precision"][:3] == pytest.approx([1.0, 0.5, 0.5]) and r["recall"][:3] == pytest.approx([2 / 3, 0.5, 1.0])
    f1 = [0.8, 0.5, 2 / 3]  # class 3 is in neither targets nor predictions: not averaged
    assert r["macro_f1"] == pytest.approx(np.mean(f1)) and r["support"] == [3, 2, 1, 0]


def test_naive_bayes_learns_spelling_and_words():
    texts = ["aaab", "aaba", "abaa", "bbba", "bbab", "babb"]
    labels = [0, 0, 0, 1, 1, 1]
    model = NaiveBayes(texts, labels, 2)
    assert list(model.predict(["aaaa", "bbbb", "aab"])) == [0, 1, 0]
    posterior = np.exp(model.log_posterior(["ab"]))
    assert posterior.sum() == pytest.approx(1.0)
    words = NaiveBayes(["good film", "great film", "bad film", "awful plot"], [1, 1, 0, 0], 2, level="word")
    assert list(words.predict(["a good film", "bad"])) == [1, 0]
    best = best_naive_bayes(texts, labels, ["aaa", "bbb"], [0, 1], 2)
    assert best.alpha in (0.01, 0.03, 0.1, 0.3, 1.0)


def test_ngram_probabilities_sum_to_one_and_samples_follow_the_counts():
    model = NGram([[2, 3], [2, 3], [3]], eos=1, vocab_size=3, n=2, k=0.1)
    total = sum(np.exp(model.log_prob(seq)[0]) for seq in ([], [2], [3], [2, 2], [2, 3], [3, 3], [3, 2]))
    assert 0.9 < total < 1.0  # the mass of all sequences up to length 2
    rng = np.random.default_rng(0)
    samples = [tuple(model.sample(rng, max_len=5)) for _ in range(300)]
    assert samples.count((2, 3)) > samples.count((3,)) > samples.count((3, 2))
