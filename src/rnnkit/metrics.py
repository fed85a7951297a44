"""Classification metrics from integer labels: accuracy, per-class precision/recall/F1, macro-F1, confusion.

    precision_k = TP_k / (TP_k + FP_k)     recall_k = TP_k / (TP_k + FN_k)     F1_k = 2 P R / (P + R)
    macro-F1 = mean of F1_k over the classes present in the targets or the predictions (0 where undefined)
"""

from __future__ import annotations

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
