"""The one thing every layer has: ``params`` and ``grads``, two dicts with the same keys; and the product of
a batch of rows with a weight matrix."""

from __future__ import annotations

import numpy as np


class Layer:
    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]

    def _init_grads(self) -> None:
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}

    def zero_grad(self) -> None:
        """Set every gradient to zero (backward accumulates into ``grads``)."""
        for grad in self.grads.values():
            grad.fill(0)


def parameters(**layers: Layer) -> tuple[dict, dict]:
    """One ``(params, grads)`` pair over several layers, keys ``"{layer name}.{param name}"``.

    The dicts hold the layers' own arrays (no copies), so an optimiser or clipping applied to them acts on the
    layers: ``params, grads = parameters(lstm=lstm, head=head); Adam(params).step(grads)``.
    """
    params = {f"{prefix}.{k}": v for prefix, layer in layers.items() for k, v in layer.params.items()}
    grads = {f"{prefix}.{k}": v for prefix, layer in layers.items() for k, v in layer.grads.items()}
    return params, grads


def rows_times(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """x (..., F) @ W (F, N) -> (..., N) as one GEMM over all rows: NumPy runs a stacked (B, T, F) @ W as B
    GEMMs of T rows, markedly slower for a language model's head and the attention layer."""
    return (x.reshape(-1, x.shape[-1]) @ W).reshape(*x.shape[:-1], W.shape[1])
