"""Losses. Each returns ``(loss, gradient)``: the mean over the valid elements and d loss / d input.

Shapes: logits (B, T, V) and integer targets (B, T) for the softmax cross-entropy; predictions and targets
of any equal shape for the others. ``mask`` (same leading shape as targets, boolean) drops padded elements
from both the mean and the gradient. The mean is over valid elements (tokens), never over padding.
"""

from __future__ import annotations

import numpy as np


def _weights(mask, shape, dtype):
    """Per-element weights 1/N on valid elements (N = their count), 0 on padding."""
    if mask is None:
        return np.full(shape, 1.0 / int(np.prod(shape)), dtype)
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.shape != tuple(shape):
        raise ValueError(f"mask must be a boolean array of shape {tuple(shape)}, got {mask.dtype} {mask.shape}")
    count = int(mask.sum())
    if count == 0:
        raise ValueError("mask must keep at least one element, got an all-False mask")
    return mask.astype(dtype) / count


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, computed stably as z - max - log(sum(exp(z - max)))."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(logits, targets, mask=None):
    """L = -mean over valid (b, t) of log softmax(logits[b, t])[targets[b, t]];  dL/dlogits = (p - onehot) w."""
    logits = np.asarray(logits)
    targets = np.asarray(targets)
    if targets.dtype.kind not in "iu" or targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets must be integers of shape {logits.shape[:-1]}, got {targets.dtype} {targets.shape}")
    V = logits.shape[-1]
    if targets.size and (targets.min() < 0 or targets.max() >= V):
        raise ValueError(f"targets must lie in [0, {V}), got values from {targets.min()} to {targets.max()}")
    w = _weights(mask, targets.shape, logits.dtype)
    logp = log_softmax(logits)
    picked = np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    loss = -np.sum(picked * w)
    grad = np.exp(logp)
    np.put_along_axis(grad, targets[..., None], np.take_along_axis(grad, targets[..., None], -1) - 1, axis=-1)
    grad *= w[..., None]
    return float(loss), grad


def _elementwise(predictions, targets, mask):
    """Predictions and targets as arrays of one shape and dtype, and the per-element weights."""
    p = np.asarray(predictions)
    y = np.asarray(targets, dtype=p.dtype)
    if y.shape != p.shape:
        raise ValueError(f"targets must have shape {p.shape}, got {y.shape}")
    return p, y, _weights(mask, p.shape, p.dtype)


def sigmoid_binary_cross_entropy(logits, targets, mask=None):
    """L = mean of max(z, 0) - z y + log(1 + exp(-|z|)) (stable for any z);  dL/dz = (σ(z) - y) w."""
    z, y, w = _elementwise(logits, targets, mask)
    loss = np.sum((np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))) * w)
    e = np.exp(-np.abs(z))  # σ(z) without overflow: 1/(1+e) for z >= 0, e/(1+e) for z < 0
    sigma = np.where(z >= 0, 1.0, e) / (1.0 + e)
    return float(loss), (sigma - y) * w


def mse(predictions, targets, mask=None):
    """L = mean of (p - y)²;  dL/dp = 2 (p - y) w."""
    p, y, w = _elementwise(predictions, targets, mask)
    diff = p - y
    return float(np.sum(diff * diff * w)), 2.0 * diff * w
