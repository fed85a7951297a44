"""PNG plots of a run: the loss curves, a classifier's confusion matrix. Written atomically with matplotlib."""

from __future__ import annotations

import json
import pathlib

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: pathlib.Path) -> None:
    plt = _pyplot()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    tmp.replace(path)


def plot_losses(run_dir: pathlib.Path) -> None:
    """loss.png: training loss per step and validation loss, from metrics.jsonl."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    valid = [(r["step"], r["valid_loss"]) for r in records if "valid_loss" in r]
    fig, ax = _pyplot().subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), lw=0.6, alpha=0.7, label="training")
    if valid:
        ax.plot(*zip(*valid), marker="o", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per token)")
    ax.legend()
    _save(fig, run_dir / "loss.png")


def plot_confusion(path: pathlib.Path, confusion, labels: list[str], title: str) -> None:
    """A confusion matrix as a heat map of row shares (each true class sums to 1), with the counts written in."""
    counts = np.asarray(confusion)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = 3 + 0.45 * len(labels)
    fig, ax = _pyplot().subplots(figsize=(size + 1.5, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(labels) <= 30:
        for (i, j), count in np.ndenumerate(counts):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    _save(fig, path)


def plot_attention(path: pathlib.Path, sources: list[str], outputs: list[str], weights, source_vocab,
                   target_vocab) -> None:
    """One heat map per input: the attention weight of every output token (rows) on every source token."""
    fig, axes = _pyplot().subplots(1, len(sources), figsize=(4.5 * len(sources), 4), squeeze=False)
    for ax, source, output, alpha in zip(axes[0], sources, outputs, weights):
        rows = (target_vocab.split(output, target_vocab.level) + ["<EOS>"])[: alpha.shape[0]]
        ax.imshow(alpha, cmap="Greys", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(alpha.shape[1]), source_vocab.split(source, source_vocab.level), fontsize=7)
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        ax.set_title(f"{source} -> {output}", fontsize=8)
    _save(fig, path)


def plot_piano_roll(path: pathlib.Path, frames, grid: float, title: str) -> None:
    """A piano roll: time in quarter notes across, MIDI pitch up, a dark cell where a key sounds."""
    frames = np.asarray(frames, dtype=bool).reshape(-1, 88)
    if len(frames) == 0:  # a piece with no notes still gets its (empty) picture
        frames = np.zeros((1, 88), bool)
    keys = np.flatnonzero(frames.any(axis=0))
    low, high = (int(keys.min()), int(keys.max())) if keys.size else (39, 51)  # around middle C when silent
    fig, ax = _pyplot().subplots(figsize=(min(16, 3 + 0.06 * len(frames) * grid * 4), 4))
    ax.imshow(frames[:, low : high + 1].T, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
              extent=(0, len(frames) * grid, 21 + low - 0.5, 21 + high + 0.5))
    ax.set_xlabel("time (quarter notes)")
    ax.set_ylabel("MIDI pitch (60 = middle C)")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(title)
    _save(fig, path)
