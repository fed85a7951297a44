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


def chrono(layer, longest: int, rng: np.random.Generator) -> None:
    """Chrono initialisation (Tallec & Ollivier 2018) of a GRU's or LSTM's gate biases, in place.

    A gated unit that keeps a fraction f of its state each step forgets on a time scale of about 1 / (1 - f)
    steps. Zero or unit biases give every unit a scale of a few steps, so a dependency ``longest`` steps
    back leaves a gradient that has to survive that many contractions before training can find it. Chrono
    spreads the scales over the range the data needs: for each unit, with τ ~ U(1, longest - 1),

        LSTM   b_f = log τ,   b_i = -log τ      (forget gate σ(log τ) = τ / (1 + τ), input gate its complement)
        GRU    b_z = log τ                      (z keeps the old state: h<t> = (1 - z) * n + z * h<t-1>)

    every layer and direction alike. Any other layer (a plain RNN has no gate to set) is left as it is.
    """
    H = layer.hidden_size
    gates = getattr(layer.cell, "gate_names", ())
    for key, value in layer.params.items():
        if not key.endswith(".b"):
            continue
        log_tau = np.log(rng.uniform(1.0, max(longest - 1.0, 2.0), H))
        if gates == ("i", "f", "g", "o"):
            value[H : 2 * H], value[:H] = log_tau, -log_tau
        elif gates == ("r", "z", "n"):
            value[H : 2 * H] = log_tau
