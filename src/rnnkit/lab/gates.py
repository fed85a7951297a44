"""``rnnkit lab gates``: the memory cell at work. The gate activations (LSTM: i, f, o and the cell c; GRU:
r, z) of a trained language model over one input, as heat maps of units against the characters read.
Trains a character LSTM on ``names`` unless given a run (``--run``: a language model with an LSTM or GRU).
Writes ``gates.json`` and ``gates.png``."""

from __future__ import annotations

import pathlib

import numpy as np

from ..data import Vocabulary
from ..diagnostics import record
from ..files import write_json
from ..plots import plot_gates
from ..config import TrainConfig
from ..runs import load_run
from . import train_quietly

SHOWN = {"lstm": ("i", "f", "o"), "gru": ("r", "z")}


def run(out, text: str = "Maximilian", run_dir=None, steps: int = 1000, units: int = 16, seed: int = 0) -> dict:
    out = pathlib.Path(out)
    if run_dir is None:
        run_dir = out / "runs" / "names-lstm"
        train_quietly(TrainConfig(task="lm", data="names", cell="lstm", hidden=64, steps=steps, seed=seed), run_dir)
    trained = load_run(run_dir)
    if trained.task != "lm" or trained.config.cell not in SHOWN:
        raise ValueError(f"lab gates needs a language model with an LSTM or GRU; {run_dir} is a "
                         f"{trained.config.cell} for --task {trained.task}")
    vocab = Vocabulary.from_json(trained.meta["vocab"])
    ids = np.concatenate([[trained.meta["start"]], vocab.encode(text)])[None]
    rnn = trained.model.rnn
    with record(rnn) as seen:
        trained.model.forward(ids, training=False)
    values = {name: seen.gates["l0"][name][0] for name in SHOWN[trained.config.cell]}  # (T, H) each
    if trained.config.cell == "lstm":
        values["c"] = np.tanh(seen.states["l0"]["c"][0])
    chosen = np.argsort(-np.ptp(values[SHOWN[trained.config.cell][0]], axis=0), kind="stable")[:units]
    tokens = ["<EOS>"] + list(text)
    results = {"text": text, "run": str(run_dir), "cell": trained.config.cell, "tokens": tokens,
               "units": chosen.tolist(),
               "gates": {name: v[:, chosen].T.round(6).tolist() for name, v in values.items()}}
    write_json(out / "gates.json", results)
    plot_gates(out / "gates.png", results)
    return results
