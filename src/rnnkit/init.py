"""Weight initialisers. Each takes an explicit ``np.random.Generator``; none touches the global state."""

from __future__ import annotations

import numpy as np


def glorot_uniform(rng: np.random.Generator, shape: tuple[int, int], dtype) -> np.ndarray:
    """U(-l, l) with l = sqrt(6 / (fan_in + fan_out)), for a matrix used as ``x @ W`` (shape (fan_in, fan_out))."""
    limit = np.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def orthogonal(rng: np.random.Generator, size: int, dtype) -> np.ndarray:
    """A random (size, size) orthogonal matrix: Q of the QR of a Gaussian matrix, signs fixed by diag(R)."""
    q, r = np.linalg.qr(rng.standard_normal((size, size)))
    return (q * np.sign(np.diag(r))).astype(dtype)
