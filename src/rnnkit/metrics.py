"""Metrics: classification from integer labels (accuracy, per-class precision/recall/F1, macro-F1, confusion),
spans of B/I tags, edit distance, and for generated sequences their novelty and distributions.

    precision_k = TP_k / (TP_k + FP_k)     recall_k = TP_k / (TP_k + FN_k)     F1_k = 2 P R / (P + R)
    macro-F1 = mean of F1_k over the classes present in the targets or the predictions (0 where undefined)
    total variation distance between distributions p and q = ½ Σ_x |p(x) - q(x)|   (0: equal, 1: disjoint)
"""

from __future__ import annotations

from collections import Counter

import numpy as np


def confusion_matrix(targets, predictions, num_classes: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(targets), np.asarray(predictions)), 1)
    return matrix


def classification_report(targets, predictions, num_classes: int) -> dict:
    """accuracy, macro_f1, n, and per class (lists by class id) precision, recall, f1 and support."""
    matrix = confusion_matrix(targets, predictions, num_classes)
    tp = np.diag(matrix).astype(np.float64)
    predicted, support = matrix.sum(axis=0), matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = (support > 0) | (predicted > 0)
    n = int(matrix.sum())
    return {"accuracy": float(tp.sum() / n), "macro_f1": float(f1[present].mean()), "n": n,
            "precision": precision.tolist(), "recall": recall.tolist(), "f1": f1.tolist(),
            "support": support.tolist(), "confusion": matrix.tolist()}


def spans(tags: list[str]) -> set[tuple[int, int, str]]:
    """The spans (start, end exclusive, type) of one sequence's B/I tags: ``B``/``B-X`` opens a span,
    ``I``/``I-X`` of the same type continues it (or opens one if none is open), anything else (``O``) closes it."""
    found, start, kind = set(), None, None
    for t, tag in enumerate(list(tags) + ["O"]):
        prefix, _, name = tag.partition("-")
        continues = prefix == "I" and start is not None and name == kind
        if start is not None and not continues:
            found.add((start, t, kind))
            start = None
        if prefix == "B" or (prefix == "I" and not continues):
            start, kind = t, name
    return found


def span_scores(true_tags: list[list[str]], predicted_tags: list[list[str]]) -> dict:
    """Exact-span precision, recall and F1 over sequences of B/I(/O) tags."""
    tp = n_true = n_pred = 0
    for truth, guess in zip(true_tags, predicted_tags):
        a, b = spans(truth), spans(guess)
        tp, n_true, n_pred = tp + len(a & b), n_true + len(a), n_pred + len(b)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"span_precision": precision, "span_recall": recall, "f1": f1}


def edit_distance(a, b) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions that turn a into b."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        diagonal, row[0] = row[0], i
        for j, y in enumerate(b, start=1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    return row[-1]


def exact_match_and_cer(predictions: list[str], targets: list[str]) -> dict:
    """exact_match: share of predictions equal to their target; cer: edits / target characters, summed."""
    edits = sum(edit_distance(p, t) for p, t in zip(predictions, targets))
    return {"exact_match": float(np.mean([p == t for p, t in zip(predictions, targets)])),
            "cer": edits / max(1, sum(map(len, targets))), "n": len(targets)}


def longest_shared_runs(samples, training) -> list[int]:
    """For each sample (a sequence of hashable tokens), the length of the longest run of consecutive tokens
    that also occurs somewhere in a training sequence."""
    grams: dict[int, set] = {}

    def in_training(k: int) -> set:
        if k not in grams:
            grams[k] = {tuple(seq[i : i + k]) for seq in training for i in range(len(seq) - k + 1)}
        return grams[k]

    def shares(sample, k: int) -> bool:
        seen = in_training(k)
        return any(tuple(sample[i : i + k]) in seen for i in range(len(sample) - k + 1))

    runs = []
    for sample in samples:
        low, high = 0, len(sample)  # the run is at least low, at most high
        while low < high:
            k = (low + high + 1) // 2
            low, high = (k, high) if shares(sample, k) else (low, k - 1)
        runs.append(low)
    return runs


def total_variation(a: Counter, b: Counter) -> float:
    """½ Σ |p(x) - q(x)| between the distributions that the counts ``a`` and ``b`` describe."""
    n_a, n_b = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a[x] / n_a - b[x] / n_b) for x in set(a) | set(b))
