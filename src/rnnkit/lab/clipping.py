"""``rnnkit lab clipping``: a basic RNN language model on ``names`` (ReLU: a tanh RNN saturates, so its loss
spikes but stays finite) under a learning rate that explodes, trained three ways: no clipping, clipping
each gradient entry to ±1 (the course's ``clip``), and rescaling the whole gradient to norm 5. A run stops
at its first NaN or Inf (the one training loop raises ``Diverged`` and keeps its last good checkpoint).
Writes ``clipping.json`` (per run: where it diverged, if it did; its last loss, best validation loss and
share of clipped steps) and ``clipping.png`` (loss and gradient norm before clipping, against the step)."""

from __future__ import annotations

import pathlib
import sys

import numpy as np
from tqdm import tqdm

from ..diagnostics import clipped_share
from ..files import read_jsonl, write_json
from ..plots import plot_clipping
from ..config import TrainConfig
from ..train import Diverged
from . import train_quietly

MODES = (("none", 5.0), ("value", 1.0), ("norm", 5.0))  # (clip mode, threshold)


def run(out, steps: int = 300, lr: float = 2.0, hidden: int = 128, seed: int = 0) -> dict:
    out = pathlib.Path(out)
    results = {"lr": lr, "steps": steps, "optimizer": "sgd", "runs": []}
    for mode, clip in tqdm(MODES, desc="lab clipping", unit="run", file=sys.stderr):
        config = TrainConfig(task="lm", data="names", cell="rnn-relu", hidden=hidden, optimizer="sgd", lr=lr,
                             schedule="constant", clip_mode=mode, clip=clip, steps=steps,
                             eval_every=max(1, steps // 5), seed=seed)
        run_dir = out / "runs" / mode
        diverged = None
        try:
            with np.errstate(invalid="ignore", over="ignore"):  # the NaN is the point: the loop stops on it
                train_quietly(config, run_dir)
        except Diverged as error:
            diverged = str(error)
        records, _ = read_jsonl(run_dir / "metrics.jsonl")
        train = [r for r in records if "loss" in r]
        valid = [r["valid_loss"] for r in records if "valid_loss" in r]
        results["runs"].append({
            "clip_mode": mode, "clip": clip, "diverged": diverged,
            "diverged_at": None if diverged is None else len(train) + 1,
            "last_loss": train[-1]["loss"] if train else None,
            "best_valid_loss": min(valid) if valid else None,
            "clipped_share": clipped_share([r["grad_norm"] for r in train], clip) if train and mode != "none" else 0.0,
            "steps": [r["step"] for r in train], "loss": [r["loss"] for r in train],
            "grad_norm": [r["grad_norm"] for r in train]})
    write_json(out / "clipping.json", results)
    plot_clipping(out / "clipping.png", results)
    return results
