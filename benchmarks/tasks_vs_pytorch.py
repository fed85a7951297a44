"""Train the same classifier, tagger or encoder-decoder in rnnkit and in PyTorch, side by side.

``--task classify``: the names-origin classifier of ``rnnkit train --task classify``; ``--task tag``: the
``spaces`` tagger of ``rnnkit train --task tag``; ``--task translate``: the ``dates`` encoder-decoder with
attention of ``rnnkit train --task translate`` (PyTorch has no additive attention module: it is written
here from the same equations, and decoded greedily like rnnkit's). Same data, vocabulary and initial weights
(PyTorch gets rnnkit's through interop, and trains only the biases rnnkit has:
``interop.pytorch.freeze_extra_biases``), the same batches in the same order, the same Adam, clipping,
cosine schedule and number of steps, dropout at the same places (each library draws its own masks). Both are scored on the
test split with their final weights. rnnkit trains through its own task code (``rnnkit.tasks``); PyTorch
reads the padded batches with ``pack_padded_sequence``. The classifier pools "last" from the final states,
which for a bidirectional layer are the forward direction's last valid step and the reverse direction's first.

    python benchmarks/tasks_vs_pytorch.py --task classify|tag|translate [--steps N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

from machine import describe, machine_line, user_environment

user_environment()

import rnnkit  # noqa: E402  (before NumPy, so that OpenBLAS spins briefly: see rnnkit/__init__.py)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from rnnkit.interop.pytorch import freeze_extra_biases, to_state_dict  # noqa: E402
from rnnkit.losses import softmax_cross_entropy  # noqa: E402
from rnnkit.metrics import exact_match_and_cer  # noqa: E402
from rnnkit.optim import Adam, clip_by_global_norm  # noqa: E402
from rnnkit.tasks import make_task  # noqa: E402
from rnnkit.tasks.classify import evaluate as evaluate_classifier  # noqa: E402
from rnnkit.tasks.tag import evaluate as evaluate_tagger  # noqa: E402
from rnnkit.config import TrainConfig  # noqa: E402
from rnnkit.train import lr_at  # noqa: E402


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


class TorchSeq2Seq(torch.nn.Module):
    """rnnkit's Seq2Seq in PyTorch: packed encoder, tanh bridge, decoder, additive attention, head."""

    def __init__(self, cell, source_vocab, target_vocab, embed, hidden, layers, bidirectional, attention, size):
        super().__init__()
        rnn, D = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell], 2 if bidirectional else 1
        self.cell, self.D, self.L, self.H = cell, D, layers, hidden
        self.source_embedding = torch.nn.Embedding(source_vocab, embed)
        self.encoder = rnn(embed, hidden, layers, batch_first=True, bidirectional=bidirectional)
        self.bridge = torch.nn.Linear(D * hidden, layers * hidden)
        self.target_embedding = torch.nn.Embedding(target_vocab, embed)
        self.decoder = rnn(embed, hidden, layers, batch_first=True)
        self.attention = torch.nn.ParameterDict({
            "W_k": torch.nn.Parameter(torch.zeros(D * hidden, size)), "W_q": torch.nn.Parameter(torch.zeros(hidden, size)),
            "b": torch.nn.Parameter(torch.zeros(size)), "v": torch.nn.Parameter(torch.zeros(size))}) if attention else None
        self.head = torch.nn.Linear(hidden + (D * hidden if attention else 0), target_vocab)

    def encode(self, source, source_mask):
        lengths = source_mask.sum(dim=1)
        packed = torch.nn.utils.rnn.pack_padded_sequence(self.source_embedding(source), lengths, batch_first=True,
                                                         enforce_sorted=False)
        out, h_n = self.encoder(packed)
        h, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=source.shape[1])
        h_n = h_n[0] if isinstance(h_n, tuple) else h_n
        top = h_n[-self.D :].transpose(0, 1).reshape(source.shape[0], -1)
        s0 = torch.tanh(self.bridge(top)).reshape(-1, self.L, self.H).transpose(0, 1).contiguous()
        return h, source_mask, (s0, torch.zeros_like(s0)) if self.cell == "lstm" else s0

    def decode(self, memory, target_in, state=None, lengths=None):
        h, source_mask, state0 = memory
        e = self.target_embedding(target_in)
        if lengths is not None:
            packed = torch.nn.utils.rnn.pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
            out, state = self.decoder(packed, state0)
            s, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=target_in.shape[1])
        else:
            s, state = self.decoder(e, state0 if state is None else state)
        if self.attention is not None:
            a = self.attention
            u = torch.tanh((s @ a["W_q"] + a["b"])[:, :, None, :] + (h @ a["W_k"])[:, None, :, :])
            alpha = torch.softmax((u @ a["v"]).masked_fill(~source_mask[:, None, :], float("-inf")), dim=2)
            s = torch.cat([s, alpha @ h], dim=2)
        return self.head(s), state

    def forward(self, source, source_mask, target_in, target_mask):
        return self.decode(self.encode(source, source_mask), target_in, lengths=target_mask.sum(dim=1))[0]

    @torch.no_grad()
    def greedy(self, source, source_mask, eos, max_len):
        """Token ids (B, steps) of greedy decoding from <EOS>, as rnnkit's sampler at temperature 0 does."""
        memory, state = self.encode(source, source_mask), None
        ids, out = torch.full((source.shape[0], 1), eos), []
        for _ in range(max_len):
            logits, state = self.decode(memory, ids, state)
            logits[:, -1, 0] = float("-inf")  # never <PAD>
            ids = logits[:, -1].argmax(dim=1, keepdim=True)
            out.append(ids)
        return torch.cat(out, dim=1).numpy()


def copy_seq2seq(ours, theirs: TorchSeq2Seq) -> None:
    lay = ours.layers
    with torch.no_grad():
        for name in ("source_embedding", "target_embedding"):
            getattr(theirs, name).weight.copy_(torch.from_numpy(lay[name].params["W"]))
        for name in ("encoder", "decoder"):
            getattr(theirs, name).load_state_dict(to_state_dict(lay[name], tensors=True))
            freeze_extra_biases(getattr(theirs, name))  # rnnkit's parameters, no more
        for name in ("bridge", "head"):
            getattr(theirs, name).weight.copy_(torch.from_numpy(lay[name].params["W"].T.copy()))
            getattr(theirs, name).bias.copy_(torch.from_numpy(lay[name].params["b"]))
        if theirs.attention is not None:
            for name, value in lay["attention"].params.items():
                theirs.attention[name].copy_(torch.from_numpy(value))


def translate_scores(model, task) -> dict:
    """Exact match and CER of greedy decoding on the test split."""
    eos, vocab, outputs = task.target_vocab.eos, task.target_vocab, []
    for source, source_mask, *_ in task.split_batches("test").in_order():
        for row in model.greedy(torch.from_numpy(source), torch.from_numpy(source_mask), eos, task.config.seq_len):
            stop = np.flatnonzero(row == eos)
            outputs.append(vocab.decode(row[: stop[0] if stop.size else len(row)]))
    return {"accuracy": exact_match_and_cer(outputs, task.parts["test"][1])["exact_match"],
            "f1": exact_match_and_cer(outputs, task.parts["test"][1])["cer"]}


def copy_weights(ours, theirs: TorchModel) -> None:
    with torch.no_grad():
        theirs.embedding.weight.copy_(torch.from_numpy(ours.embedding.params["W"]))
        theirs.rnn.load_state_dict(to_state_dict(ours.rnn, tensors=True))
        theirs.head.weight.copy_(torch.from_numpy(ours.head.params["W"].T.copy()))
        theirs.head.bias.copy_(torch.from_numpy(ours.head.params["b"]))
    freeze_extra_biases(theirs.rnn)  # rnnkit's parameters, no more


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


def torch_loss(model, task_name: str, batch):
    """The mean cross-entropy of one of the task's own batches, as rnnkit's task computes it."""
    tensors = [torch.from_numpy(a) for a in batch]
    if task_name == "translate":
        source, source_mask, target_in, target_out, target_mask = tensors
        logits = model(source, source_mask, target_in, target_mask)
        return torch.nn.functional.cross_entropy(logits[target_mask], target_out[target_mask])
    x, mask, y = tensors
    logits = model(x, mask.sum(dim=1))
    if task_name == "tag":
        return torch.nn.functional.cross_entropy(logits[mask], y[mask])
    return torch.nn.functional.cross_entropy(logits, y)


def rnnkit_loss(task, batch) -> float:
    """``torch_loss`` in rnnkit, without dropout."""
    model = task.model
    if task.config.task == "translate":
        source, source_mask, target_in, target_out, target_mask = batch
        logits, _ = model.forward(source, target_in, source_mask, target_mask, training=False)
        return softmax_cross_entropy(logits, target_out, target_mask)[0]
    x, mask, y = batch
    logits = model.forward(x, mask, training=False)
    return softmax_cross_entropy(logits, y, mask if task.config.task == "tag" else None)[0]


def train_torch(model, task, config):
    optimizer = torch.optim.Adam(model.parameters(), config.lr)
    model.train()
    start = time.perf_counter()
    for step in range(config.steps):
        epoch, index = divmod(step, task.batches.batches_per_epoch)
        loss = torch_loss(model, config.task, task.batches.batch(epoch, index))
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
    """accuracy and macro-F1 (classify), F1 (tag), or exact match and CER (translate) on the test split, with
    rnnkit's own evaluation code (keys "accuracy" and "f1")."""
    if task.config.task == "translate":
        r = task.scores("test")
        return {"accuracy": r["exact_match"], "f1": r["cer"]}
    if task.config.task == "classify":
        r = evaluate_classifier(model, task.split_batches("test"))
        return {"accuracy": r["accuracy"], "f1": r["macro_f1"]}
    r = evaluate_tagger(model, task.metadata(), *task.parts["test"])
    return {"accuracy": r["accuracy"], "f1": r["f1"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("classify", "tag", "translate"), required=True)
    parser.add_argument("--cell", choices=("gru", "lstm"))
    parser.add_argument("--steps", type=int)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    options = {} if args.dropout is None or args.task == "translate" else {"dropout": args.dropout}
    config = TrainConfig(task=args.task, cell=args.cell, hidden=args.hidden, layers=args.layers,  # else its defaults
                         steps=args.steps, options=options)

    info = describe()
    task = make_task(config)
    if args.task == "translate":
        theirs = TorchSeq2Seq(config.cell, len(task.source_vocab), len(task.target_vocab), config.embed, config.hidden,
                              config.layers, config.options.bidirectional, config.options.attention,
                              task.model.layers["attention"].params["v"].size if config.options.attention else 0)
        copy_seq2seq(task.model, theirs)
    else:
        outputs = len(task.labels if args.task == "classify" else task.tags)
        theirs = TorchModel(args.task, config.cell, len(task.vocab), config.embed, config.hidden, config.layers,
                            config.options.bidirectional, outputs, config.options.dropout)
        copy_weights(task.model, theirs)
    torch.manual_seed(config.seed)
    batch = task.batches.batch(0, 0)
    with torch.no_grad():
        print(f"before training, the two models' losses on one batch: {rnnkit_loss(task, batch):.6f} (rnnkit), "
              f"{torch_loss(theirs.eval(), args.task, batch).item():.6f} (PyTorch)")

    seconds_torch = train_torch(theirs.train(), task, config)
    seconds_ours = train_rnnkit(task, config)
    shared = {k: getattr(config, k) for k in ("task", "cell", "hidden", "layers", "embed", "steps", "batch_size")}
    result = {**info, "config": {**shared, **vars(config.options)},
              "rnnkit": {**test_scores(task.model, task), "train_seconds": seconds_ours},
              "pytorch": {**(translate_scores(theirs.eval(), task) if args.task == "translate" else
                             test_scores(Scored(theirs, task.model), task)), "train_seconds": seconds_torch}}
    result["time_ratio_rnnkit_over_pytorch"] = seconds_ours / seconds_torch
    print(machine_line(info))
    print(f"{config.steps} steps of {task.describe()}, batch {config.batch_size}")
    accuracy, f1 = {"classify": ("accuracy", "macro-F1"), "tag": ("accuracy", "span F1"),
                    "translate": ("exact match", "CER")}[args.task]
    print(f"| library | test {accuracy} | {f1} | training time (s) |\n|---|---|---|---|")
    for name in ("rnnkit", "pytorch"):
        r = result[name]
        print(f"| {name} | {r['accuracy']:.2%} | {r['f1']:.4f} | {r['train_seconds']:.1f} |")
    print(f"time ratio rnnkit/PyTorch: {result['time_ratio_rnnkit_over_pytorch']:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
