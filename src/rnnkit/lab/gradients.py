"""``rnnkit lab gradients``: how much of the loss gradient reaches each step of one long sequence,
||dL/da<t>|| against t, for rnn, gru and lstm at one parameter budget, freshly initialised and after
training on the adding problem (whose loss sits at the last step only), with the Jacobian norms
||∂a<T>/∂a<T-k>||₂ of the same layers. Writes ``gradients.json`` and ``gradients.png``."""

from __future__ import annotations

import pathlib
import sys

import numpy as np
from tqdm import tqdm

from ..checkpoint import load_best
from ..data.memory import examples
from ..diagnostics import jacobian_norms, record
from ..files import write_json
from ..plots import plot_gradient_norms
from ..tasks import make_task
from . import CELL_NAMES, hidden_for_budget, train_quietly
from .memory import DEFAULT_BUDGET_HIDDEN, count_params, memory_config

PROBE_SIZE = 16  # sequences in the probe batch the norms are measured on


def state_gradient_norms(task, x, y) -> dict:
    """||dL/dh<t>|| (and ||dL/dc<t>|| for the LSTM) for every t, over the probe batch."""
    task.model.zero_grad()
    with record(task.model.rnn) as seen:
        loss, grad = task.loss(x, y)
        task.model.backward(grad)
    return {name: seen.gradient_norms("l0", name).tolist() for name in seen.state_grads["l0"]}


def run(out, length: int = 200, steps: int = 1000, cells=CELL_NAMES, seed: int = 0, lr: float = 3e-3) -> dict:
    out = pathlib.Path(out)
    count = count_params("adding", length)
    budget = count("lstm", DEFAULT_BUDGET_HIDDEN)
    x, y = examples("adding", PROBE_SIZE, length, np.random.default_rng([seed, 7]))
    results = {"T": length, "steps": steps, "budget": budget, "cells": {}}
    for cell in tqdm(cells, desc="lab gradients", unit="cell", file=sys.stderr):
        config = memory_config("adding", cell, hidden_for_budget(cell, budget, count), length, steps, seed, lr,
                               init="standard")  # the gradients of the textbook initialisation
        fresh = make_task(config)
        entry = {"hidden": config.hidden, "initial": state_gradient_norms(fresh, x, y),
                 "initial_jacobian": jacobian_norms(fresh.model.rnn, x[0]).tolist()}
        trainer = train_quietly(config, out / "runs" / cell)
        load_best(trainer.model, trainer.out)
        entry.update(trained=state_gradient_norms(trainer.task, x, y),
                     trained_jacobian=jacobian_norms(trainer.model.rnn, x[0]).tolist(),
                     test_loss=trainer.task.test_loss())
        results["cells"][cell] = entry
    write_json(out / "gradients.json", results)
    plot_gradient_norms(out / "gradients.png", results)
    return results
