"""Experiments that show the theory, each writing its numbers as JSON and its plots as PNG into a folder.

    gradients   ||dL/da<t>|| against t for rnn, gru and lstm on one long sequence, at initialisation and
                after training on the adding problem (gradients.py)
    memory      rnn vs gru vs lstm at one parameter budget: test loss against T beside the memoryless
                baseline (memory.py)
    clipping    a basic RNN under a learning rate that explodes: no clipping, clipping by value, by norm
                (clipping.py)
    gates       the gate activations of a trained LSTM over a real input, as heat maps (gates.py)

Every run goes through the one training loop (``rnnkit.train``) with its own run directory under the
output folder, so each is reproducible from its seed and inspectable with ``rnnkit info``.
"""

from __future__ import annotations

import pathlib

CELL_NAMES = ("rnn", "gru", "lstm")  # compared by the lab (rnn-relu is for the clipping experiment)


def hidden_for_budget(cell: str, budget: int, count) -> int:
    """The hidden size whose model, as ``count(cell, hidden)`` counts it, comes closest to ``budget``.

    A recurrent model's parameter count is a quadratic in the hidden size H (W_h is G H², the input and output
    weights and biases grow with H), so three small models fix it and no large one is built.
    """
    c1, c2, c3 = (count(cell, h) for h in (1, 2, 3))
    a = (c3 - 2 * c2 + c1) / 2
    b = c2 - c1 - 3 * a

    def size(h: int) -> float:
        return a * h * h + b * h + (c1 - a - b)

    return min(range(1, 4097), key=lambda h: (abs(size(h) - budget), h))


def train_quietly(config, out: pathlib.Path):
    """Train ``config`` into ``out`` through the one loop; returns the trainer (its task and model)."""
    from ..train import Trainer

    trainer = Trainer(config, out)
    trainer.log = lambda text: None
    trainer.run()
    return trainer
