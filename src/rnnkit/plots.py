"""PNG plots: a run's loss curves, a confusion matrix, attention, piano rolls, and the lab's figures. Written
atomically with matplotlib."""

from __future__ import annotations

import pathlib

import numpy as np

from .files import read_jsonl, replacing


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: pathlib.Path) -> None:
    plt = _pyplot()
    fig.tight_layout()
    try:
        with replacing(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)


def plot_losses(run_dir: pathlib.Path) -> None:
    """loss.png: training loss per step and validation loss, from metrics.jsonl."""
    records, _ = read_jsonl(run_dir / "metrics.jsonl")
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


CELL_COLOURS = {"rnn": "tab:red", "gru": "tab:blue", "lstm": "tab:green"}


def plot_memory(path: pathlib.Path, results: dict) -> None:
    """Test loss against the sequence length T for each cell, with the loss of remembering nothing."""
    fig, ax = _pyplot().subplots(figsize=(6, 4))
    for cell in CELL_COLOURS:
        runs = sorted((r["T"], r["test_loss"]) for r in results["runs"] if r["cell"] == cell)
        if runs:
            ax.plot(*zip(*runs), marker="o", color=CELL_COLOURS[cell], label=cell)
    base = sorted({(r["T"], r["baseline"]) for r in results["runs"]})
    ax.plot(*zip(*base), ls="--", color="grey", label="remembering nothing")
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("test MSE" if results["task"] == "adding" else "test cross-entropy")
    ax.set_title(f"{results['task']} problem, {results['budget']:,} parameters each, {results['steps']} steps")
    ax.legend()
    _save(fig, path)


def plot_gradient_norms(path: pathlib.Path, results: dict) -> None:
    """||dL/da<t>|| against t (log scale) at initialisation and after training, and the Jacobian norms."""
    fig, axes = _pyplot().subplots(1, 3, figsize=(15, 4))
    for cell, entry in results["cells"].items():
        colour = CELL_COLOURS.get(cell)
        for ax, key in zip(axes[:2], ("initial", "trained")):
            ax.plot(np.arange(1, results["T"] + 1), entry[key]["h"], color=colour, label=cell)
        axes[2].plot(entry["initial_jacobian"], color=colour, ls=":", label=f"{cell}, initial")
        axes[2].plot(entry["trained_jacobian"], color=colour, label=f"{cell}, trained")
    for ax, title in zip(axes[:2], ("at initialisation", f"after {results['steps']} steps on the adding problem")):
        ax.set_yscale("log")
        ax.set_xlabel("step t (the loss is at the last step)")
        ax.set_ylabel("||dL/da<t>||")
        ax.set_title(title)
        ax.legend()
    axes[2].set_yscale("log")
    axes[2].set_xlabel("k")
    axes[2].set_ylabel("||∂a<T>/∂a<T-k>||₂")
    axes[2].set_title("how far back a state still matters")
    axes[2].legend(fontsize=7)
    _save(fig, path)


def plot_clipping(path: pathlib.Path, results: dict) -> None:
    """Training loss and gradient norm before clipping against the step, one line per clipping mode."""
    fig, (top, bottom) = _pyplot().subplots(2, 1, figsize=(8, 6), sharex=True)
    for run, colour in zip(results["runs"], ("tab:red", "tab:orange", "tab:blue")):
        label = "no clipping" if run["clip_mode"] == "none" else f"clipped by {run['clip_mode']} at {run['clip']:g}"
        if run["diverged_at"] is not None:
            label += f" (diverged at step {run['diverged_at']})"
            for ax in (top, bottom):
                ax.axvline(run["diverged_at"], color=colour, ls=":")
        top.plot(run["steps"], run["loss"], color=colour, lw=0.8, label=label)
        bottom.plot(run["steps"], run["grad_norm"], color=colour, lw=0.8)
    top.set_yscale("log")
    top.set_ylabel("training loss (nats/char)")
    top.set_title(f"a ReLU RNN on names, SGD at lr {results['lr']:g}")
    top.legend(fontsize=8)
    bottom.set_yscale("log")
    bottom.set_ylabel("gradient norm before clipping")
    bottom.set_xlabel("step")
    _save(fig, path)


def plot_gates(path: pathlib.Path, results: dict) -> None:
    """One heat map per gate: units down, the characters read across, activation as colour."""
    names = list(results["gates"])
    fig, axes = _pyplot().subplots(len(names), 1, figsize=(max(6, 0.5 * len(results["tokens"]) + 2), 2.2 * len(names)))
    for ax, name in zip(np.atleast_1d(axes), names):
        values = np.asarray(results["gates"][name])
        low = -1.0 if name == "c" else 0.0
        image = ax.imshow(values, aspect="auto", cmap="coolwarm" if name == "c" else "viridis", vmin=low, vmax=1.0)
        ax.set_yticks([])
        ax.set_ylabel({"c": "tanh(c)"}.get(name, f"Γ{name}"))
        ax.set_xticks(range(len(results["tokens"])), results["tokens"])
        fig.colorbar(image, ax=ax, fraction=0.02)
    np.atleast_1d(axes)[0].set_title(f"{results['cell']} gates over {results['text']!r} "
                                     f"({len(results['units'])} most active units)")
    _save(fig, path)
