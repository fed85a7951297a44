"""Optimisers and gradient clipping, over the ``params``/``grads`` dicts every layer has.

An optimiser is built once over a dict of parameters (names -> arrays, updated in place) and its
``step(grads)`` applies one update; ``state`` holds its per-parameter arrays under ``"{slot}.{name}"`` plus
the step count, so a checkpoint can save and restore it. Weight decay is L2 added to the gradient,
g <- g + λ θ, as in ``torch.optim``. Each update matches its ``torch.optim`` namesake.
"""

from __future__ import annotations

import math

import numpy as np

from . import _checks
from .engine.fused import adam_update, sum_of_squares


class Optimizer:
    slots: tuple[str, ...] = ()

    def __init__(self, params: dict, lr: float, weight_decay: float = 0.0):
        if not isinstance(params, dict) or not params:
            raise ValueError("params must be a non-empty dict of arrays (for example layer.params)")
        self.params = params
        self.lr = _checks.positive_float("lr", lr)
        self.weight_decay = _checks.nonnegative_float("weight_decay", weight_decay)
        self.state = {f"{slot}.{name}": np.zeros_like(value) for slot in self.slots for name, value in params.items()}
        self.steps = 0

    def step(self, grads: dict) -> None:
        """Apply one update to every parameter from ``grads`` (same keys as ``params``)."""
        if grads.keys() != self.params.keys():
            raise ValueError(f"grads must have the keys of params; differing: {sorted(grads.keys() ^ self.params.keys())}")
        self.steps += 1
        self._apply(grads)

    def _apply(self, grads: dict) -> None:
        for name, theta in self.params.items():
            g = grads[name]
            if self.weight_decay:
                g = g + self.weight_decay * theta
            self._update(name, theta, g)

    def _update(self, name: str, theta: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """v <- μ v + g;  θ <- θ - lr v  (Nesterov: θ <- θ - lr (g + μ v)).  Plain SGD when μ = 0."""

    slots = ("velocity",)

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum = _checks.probability("momentum", momentum)
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs a momentum in (0, 1), got momentum=0")
        self.nesterov = bool(nesterov)

    def _update(self, name, theta, g):
        if self.momentum == 0:
            theta -= self.lr * g
            return
        v = self.state[f"velocity.{name}"]
        if self.steps == 1:
            v[...] = g
        else:
            v *= self.momentum
            v += g
        theta -= self.lr * (g + self.momentum * v if self.nesterov else v)


class Adagrad(Optimizer):
    """s <- s + g²;  θ <- θ - lr g / (sqrt(s) + ε)."""

    slots = ("sum_squares",)

    def __init__(self, params, lr=0.01, eps=1e-10, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.eps = _checks.positive_float("eps", eps)

    def _update(self, name, theta, g):
        s = self.state[f"sum_squares.{name}"]
        s += g * g
        theta -= self.lr * g / (np.sqrt(s) + self.eps)


class RMSProp(Optimizer):
    """s <- ρ s + (1 - ρ) g²;  θ <- θ - lr g / (sqrt(s) + ε)."""

    slots = ("mean_square",)

    def __init__(self, params, lr=0.001, rho=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.rho = _checks.probability("rho", rho)
        self.eps = _checks.positive_float("eps", eps)

    def _update(self, name, theta, g):
        s = self.state[f"mean_square.{name}"]
        s *= self.rho
        s += (1 - self.rho) * g * g
        theta -= self.lr * g / (np.sqrt(s) + self.eps)


class Adam(Optimizer):
    """m <- β1 m + (1-β1) g;  v <- β2 v + (1-β2) g²;  θ <- θ - lr m̂ / (sqrt(v̂) + ε),
    with m̂ = m / (1 - β1^k), v̂ = v / (1 - β2^k) at step k."""

    slots = ("m", "v")

    def __init__(self, params, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.beta1 = _checks.probability("beta1", beta1)
        self.beta2 = _checks.probability("beta2", beta2)
        self.eps = _checks.positive_float("eps", eps)
        for name, theta in params.items():
            if not theta.flags.c_contiguous:
                raise ValueError(f"params must be contiguous arrays (Adam updates them in place), got a view for {name!r}")

    def _apply(self, grads):
        """One compiled pass per parameter (``fused.adam_update``), weight decay included."""
        bias1, bias2 = 1 - self.beta1**self.steps, 1 - self.beta2**self.steps
        for name, theta in self.params.items():
            g = np.ascontiguousarray(grads[name], dtype=theta.dtype)
            adam_update(theta.reshape(-1), g.reshape(-1), self.state[f"m.{name}"].reshape(-1),
                        self.state[f"v.{name}"].reshape(-1), self.lr, self.beta1, self.beta2, self.eps,
                        self.weight_decay, bias1, bias2)


# the optimisers ``rnnkit train --optimizer`` names: name -> (params, lr) -> Optimizer
OPTIMIZERS = {"adam": Adam, "sgd": lambda params, lr: SGD(params, lr, momentum=0.9), "rmsprop": RMSProp,
              "adagrad": Adagrad}


def clip_by_value(grads: dict, max_value: float) -> dict:
    """The course's ``clip``: every gradient entry clipped to [-max_value, max_value], in place."""
    max_value = _checks.positive_float("max_value", max_value)
    for g in grads.values():
        np.clip(g, -max_value, max_value, out=g)
    return grads


def global_norm(grads: dict) -> float:
    """‖g‖ over every gradient entry, in float64."""
    return math.sqrt(sum(sum_of_squares(np.ascontiguousarray(g).reshape(-1)) for g in grads.values()))


def clip_by_global_norm(grads: dict, max_norm: float) -> float:
    """Scale all gradients by max_norm / (‖g‖ + 1e-6) when the global norm ‖g‖ exceeds max_norm, in place.

    Returns the norm before clipping (as ``torch.nn.utils.clip_grad_norm_`` does); a NaN or Inf norm is
    returned as is and the gradients are left untouched, for the caller to stop on.
    """
    max_norm = _checks.positive_float("max_norm", max_norm)
    norm = global_norm(grads)
    if np.isfinite(norm) and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads.values():
            g *= g.dtype.type(scale)
    return norm
