"""Train the same names-origin classifier in rnnkit and in PyTorch, side by side.

Same data (the names-origin training split), vocabulary and initial weights (PyTorch gets rnnkit's through
interop), the same batches in the same order, the same Adam, clipping, cosine schedule and number of steps,
dropout at the same places (each library draws its own masks). Both are scored on the test split with
their final weights. rnnkit trains through its own task code (``rnnkit.tasks.classify``); PyTorch reads
the padded batches with ``pack_padded_sequence`` and pools "last" from the final states, which for a
bidirectional layer are the forward direction's last valid step and the reverse direction's first.

    python benchmarks/classify_vs_pytorch.py [--steps 4000] [--cell gru] [--json out.json]
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
from rnnkit.metrics import classification_report  # noqa: E402
from rnnkit.optim import Adam, clip_by_global_norm  # noqa: E402
from rnnkit.tasks.classify import Task, evaluate  # noqa: E402
from rnnkit.train import TASK_DEFAULTS, TrainConfig, lr_at  # noqa: E402


class TorchClassifier(torch.nn.Module):
    def __init__(self, cell, vocab_size, embed, hidden, layers, bidirectional, classes, dropout):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, embed)
        self.rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
            embed, hidden, layers, batch_first=True, bidirectional=bidirectional, dropout=dropout if layers > 1 else 0.0)
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(hidden * (2 if bidirectional else 1), classes)

    def forward(self, x, lengths):
        packed = torch.nn.utils.rnn.pack_padded_sequence(self.dropout(self.embedding(x)), lengths, batch_first=True,
                                                         enforce_sorted=False)
        _, h_n = self.rnn(packed)
        h_n = h_n[0] if isinstance(h_n, tuple) else h_n  # an LSTM's (h, c)
        last = torch.cat([h_n[-2], h_n[-1]], dim=1) if self.rnn.bidirectional else h_n[-1]
        return self.head(self.dropout(last))


def copy_weights(ours, theirs: TorchClassifier) -> None:
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
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(config, step, config.steps)
        optimizer.step()
    return time.perf_counter() - start


def torch_scores(model, task) -> dict:
    model.eval()
    predictions = []
    with torch.no_grad():
        for x, mask, _ in task.split_batches("test").in_order():
            predictions.append(model(torch.from_numpy(x), torch.from_numpy(mask.sum(axis=1))).argmax(dim=1).numpy())
    return classification_report(task.y["test"], np.concatenate(predictions), len(task.labels))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = TASK_DEFAULTS["classify"]  # the model `rnnkit train --task classify` trains
    parser.add_argument("--cell", choices=("gru", "lstm"), default=defaults["cell"])
    parser.add_argument("--steps", type=int, default=defaults["steps"])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--embed", type=int, default=defaults["embed"])
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=defaults["dropout"])
    parser.add_argument("--no-bidirectional", dest="bidirectional", action="store_false")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    info = describe()
    config = TrainConfig(task="classify", cell=args.cell, hidden=args.hidden, embed=args.embed, layers=args.layers,
                         dropout=args.dropout, bidirectional=args.bidirectional, batch_size=args.batch_size,
                         steps=args.steps, lr=args.lr, pool="last")
    task = Task(config)
    theirs = TorchClassifier(args.cell, len(task.vocab), args.embed, args.hidden, args.layers, args.bidirectional,
                             len(task.labels), args.dropout)
    copy_weights(task.model, theirs)
    torch.manual_seed(config.seed)
    x, mask, _ = next(task.split_batches("test").in_order())
    with torch.no_grad():
        theirs.eval()
        same = np.abs(theirs(torch.from_numpy(x), torch.from_numpy(mask.sum(axis=1))).numpy()
                      - task.model.forward(x, mask, training=False)).max()
    print(f"before training, the two models' logits differ by at most {same:.1e}")

    seconds_torch = train_torch(theirs, task, config)
    seconds_ours = train_rnnkit(task, config)
    ours = evaluate(task.model, task.split_batches("test"))
    result = {**info, "config": vars(args), "initial_logit_max_diff": float(same), "labels": len(task.labels), "train_texts": len(task.ids["train"]),
              "rnnkit": {"accuracy": ours["accuracy"], "macro_f1": ours["macro_f1"], "train_seconds": seconds_ours}}
    r = torch_scores(theirs, task)
    result["pytorch"] = {"accuracy": r["accuracy"], "macro_f1": r["macro_f1"], "train_seconds": seconds_torch}
    result["time_ratio_rnnkit_over_pytorch"] = seconds_ours / seconds_torch
    print(machine_line(info))
    print(f"{args.steps} steps of a {'bidirectional ' if args.bidirectional else ''}{args.layers}-layer {args.cell} "
          f"classifier ({args.hidden} hidden, embedding {args.embed}, dropout {args.dropout}), batch "
          f"{args.batch_size}, {len(task.labels)} labels, test split of {len(task.ids['test'])} names")
    print("| library | test accuracy | macro-F1 | training time (s) |\n|---|---|---|---|")
    for name in ("rnnkit", "pytorch"):
        r = result[name]
        print(f"| {name} | {r['accuracy']:.1%} | {r['macro_f1']:.3f} | {r['train_seconds']:.1f} |")
    print(f"time ratio rnnkit/PyTorch: {result['time_ratio_rnnkit_over_pytorch']:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
