"""Train the same classifier or tagger in rnnkit and in PyTorch, side by side.

``--task classify``: the names-origin classifier of ``rnnkit train --task classify``; ``--task tag``: the
``spaces`` tagger of ``rnnkit train --task tag``. Same data, vocabulary and initial weights (PyTorch gets
rnnkit's through interop), the same batches in the same order, the same Adam, clipping, cosine schedule and
number of steps, dropout at the same places (each library draws its own masks). Both are scored on the
test split with their final weights. rnnkit trains through its own task code (``rnnkit.tasks``); PyTorch
reads the padded batches with ``pack_padded_sequence``. The classifier pools "last" from the final states,
which for a bidirectional layer are the forward direction's last valid step and the reverse direction's first.

    python benchmarks/tasks_vs_pytorch.py --task classify|tag [--steps N] [--cell gru] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

from machine import describe, machine_line, user_environment

user_environment()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from rnnkit.interop.pytorch import to_state_dict  # noqa: E402
from rnnkit.optim import Adam, clip_by_global_norm  # noqa: E402
from rnnkit.tasks import make_task  # noqa: E402
from rnnkit.tasks.classify import evaluate as evaluate_classifier  # noqa: E402
from rnnkit.tasks.tag import evaluate as evaluate_tagger  # noqa: E402
from rnnkit.train import TrainConfig, lr_at  # noqa: E402


class TorchModel(torch.nn.Module):
    """Embedding -> packed recurrent stack -> (last states | every step) -> Dropout -> Linear."""

    def __init__(self, task, cell, vocab_size, embed, hidden, layers, bidirectional, outputs, dropout):
        super().__init__()
        self.task = task
        self.embedding = torch.nn.Embedding(vocab_size, embed)
        self.rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
            embed, hidden, layers, batch_first=True, bidirectional=bidirectional, dropout=dropout if layers > 1 else 0.0)
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(hidden * (2 if bidirectional else 1), outputs)

    def forward(self, x, lengths):
        e = self.embedding(x)
        if self.task == "classify":
            e = self.dropout(e)  # rnnkit's classifier drops out its inputs too
        packed = torch.nn.utils.rnn.pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
        out, h_n = self.rnn(packed)
        if self.task == "tag":
            h, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            return self.head(self.dropout(h))
        h_n = h_n[0] if isinstance(h_n, tuple) else h_n  # an LSTM's (h, c)
        last = torch.cat([h_n[-2], h_n[-1]], dim=1) if self.rnn.bidirectional else h_n[-1]
        return self.head(self.dropout(last))


def copy_weights(ours, theirs: TorchModel) -> None:
    with torch.no_grad():
        theirs.embedding.weight.copy_(torch.from_numpy(ours.embedding.params["W"]))
        theirs.rnn.load_state_dict(to_state_dict(ours.rnn, tensors=True))
        theirs.head.weight.copy_(torch.from_numpy(ours.head.params["W"].T.copy()))
        theirs.head.bias.copy_(torch.from_numpy(ours.head.params["b"]))


def train_rnnkit(task, config):
    model, optimizer = task.model, Adam(task.model.params, config.lr)
    start = time.perf_counter()
    for step in range(config.steps):
        epoch, index = divmod(step, task.batches.batches_per_epoch)
        model.zero_grad()
        task.train_step(task.batches.batch(epoch, index), None)
        clip_by_global_norm(model.grads, config.clip)
        optimizer.lr = lr_at(config, step, config.steps)
        optimizer.step(model.grads)
    return time.perf_counter() - start


def train_torch(model, task, config):
    optimizer = torch.optim.Adam(model.parameters(), config.lr)
    model.train()
    start = time.perf_counter()
    for step in range(config.steps):
        epoch, index = divmod(step, task.batches.batches_per_epoch)
        x, mask, y = task.batches.batch(epoch, index)
        logits = model(torch.from_numpy(x), torch.from_numpy(mask.sum(axis=1)))
        if config.task == "tag":
            valid = torch.from_numpy(mask)
            loss = torch.nn.functional.cross_entropy(logits[valid], torch.from_numpy(y)[valid])
        else:
            loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(config, step, config.steps)
        optimizer.step()
    return time.perf_counter() - start


class Scored:
    """rnnkit's interface (forward(x, mask, training) -> logits) around the PyTorch model, for rnnkit's metrics."""

    def __init__(self, model, like):
        self.model, self.config = model.eval(), like.config

    def forward(self, x, mask, training=False):
        with torch.no_grad():
            return self.model(torch.from_numpy(x), torch.from_numpy(mask.sum(axis=1))).numpy()


def test_scores(model, task) -> dict:
    """accuracy and macro-F1 (classify) or F1 (tag) on the test split, with rnnkit's own evaluation code."""
    if task.config.task == "classify":
        r = evaluate_classifier(model, task.split_batches("test"))
        return {"accuracy": r["accuracy"], "f1": r["macro_f1"]}
    r = evaluate_tagger(model, task.metadata(), *task.parts["test"])
    return {"accuracy": r["accuracy"], "f1": r["f1"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("classify", "tag"), required=True)
    parser.add_argument("--cell", choices=("gru", "lstm"))
    parser.add_argument("--steps", type=int)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    config = TrainConfig(task=args.task, cell=args.cell, hidden=args.hidden, layers=args.layers,  # else its defaults
                         dropout=args.dropout, steps=args.steps)

    info = describe()
    task = make_task(config)
    outputs = len(task.labels if args.task == "classify" else task.tags)
    theirs = TorchModel(args.task, config.cell, len(task.vocab), config.embed, config.hidden, config.layers,
                        config.bidirectional, outputs, config.dropout)
    copy_weights(task.model, theirs)
    torch.manual_seed(config.seed)
    x, mask, _ = task.batches.batch(0, 0)
    same = np.abs(Scored(theirs, task.model).forward(x, mask) - task.model.forward(x, mask, training=False)).max()
    print(f"before training, the two models' outputs differ by at most {same:.1e}")

    seconds_torch = train_torch(theirs.train(), task, config)
    seconds_ours = train_rnnkit(task, config)
    result = {**info, "config": {k: getattr(config, k) for k in ("task", "cell", "hidden", "layers", "embed",
                                                                  "dropout", "bidirectional", "steps", "batch_size")},
              "rnnkit": {**test_scores(task.model, task), "train_seconds": seconds_ours},
              "pytorch": {**test_scores(Scored(theirs, task.model), task), "train_seconds": seconds_torch}}
    result["time_ratio_rnnkit_over_pytorch"] = seconds_ours / seconds_torch
    print(machine_line(info))
    print(f"{config.steps} steps of {task.describe()}, batch {config.batch_size}")
    f1 = "macro-F1" if args.task == "classify" else "span F1"
    print(f"| library | test accuracy | {f1} | training time (s) |\n|---|---|---|---|")
    for name in ("rnnkit", "pytorch"):
        r = result[name]
        print(f"| {name} | {r['accuracy']:.2%} | {r['f1']:.4f} | {r['train_seconds']:.1f} |")
    print(f"time ratio rnnkit/PyTorch: {result['time_ratio_rnnkit_over_pytorch']:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
