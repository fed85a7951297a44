"""Train the same character-level LSTM language model in rnnkit and in PyTorch, side by side.

Same text (a slice of the python-source corpus, read as a stream), same vocabulary, same initial weights
(PyTorch gets rnnkit's through interop), same batches in the same order, same Adam, clipping and
learning-rate schedule, same number of steps. Reports validation bits per character and training time.

Same parameters too: rnnkit's LSTM has one bias b per gate, PyTorch's two, b = bias_ih + bias_hh. Trained
both, under Adam each takes a step of about lr, so their sum moves twice as fast as rnnkit's b: a different
optimisation, worth 0.02 bits/char after 1,000 steps in PyTorch's favour (``--two-biases``). So PyTorch's
bias_hh stays at zero (``interop.pytorch.freeze_extra_biases``), which leaves it rnnkit's model (a 1 x 256
run: 1.8222 against 1.8229 bits/char; with both biases trained, 1.8003).

PyTorch trains at its best, without the page faults of glibc's default malloc (``machine.heap_only_malloc``;
``--default-malloc`` keeps the defaults).

    python benchmarks/lm_vs_pytorch.py [--steps 1000] [--hidden 256] [--two-biases] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import time

from machine import describe, machine_line, malloc_mode, user_environment

user_environment()

import rnnkit  # noqa: E402  (before NumPy, so that OpenBLAS spins briefly: see rnnkit/__init__.py)
import torch  # noqa: E402

from rnnkit.data import StreamBatches, Vocabulary, load_corpus  # noqa: E402
from rnnkit.interop.pytorch import freeze_extra_biases, to_state_dict  # noqa: E402
from rnnkit.losses import softmax_cross_entropy  # noqa: E402
from rnnkit.models import LanguageModel  # noqa: E402
from rnnkit.optim import Adam, clip_by_global_norm  # noqa: E402


class TorchLM(torch.nn.Module):
    def __init__(self, vocab_size, embed, hidden, layers):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, embed)
        self.rnn = torch.nn.LSTM(embed, hidden, layers, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        h, state = self.rnn(self.embedding(x), state)
        return self.head(h), state


def copy_weights(ours: LanguageModel, theirs: TorchLM, two_biases: bool) -> None:
    """rnnkit's weights into the PyTorch model (its bias_hh zero), which trains bias_hh only if ``two_biases``."""
    with torch.no_grad():
        theirs.embedding.weight.copy_(torch.from_numpy(ours.embedding.params["W"]))
        theirs.rnn.load_state_dict(to_state_dict(ours.rnn, tensors=True))
        theirs.head.weight.copy_(torch.from_numpy(ours.head.params["W"].T.copy()))
        theirs.head.bias.copy_(torch.from_numpy(ours.head.params["b"]))
    if not two_biases:
        freeze_extra_biases(theirs.rnn)


def lr_at(lr, step, total):
    return lr * (0.1 + 0.45 * (1 + math.cos(math.pi * step / total)))


def train_rnnkit(model, batches, args):
    optimizer, state = Adam(model.params, args.lr), None
    start = time.perf_counter()
    for step in range(args.steps):
        x, y, _ = batches.batch(0, step % batches.batches_per_epoch)
        model.zero_grad()
        logits, state = model.forward(x, state)
        _, dlogits = softmax_cross_entropy(logits, y)
        model.backward(dlogits)
        clip_by_global_norm(model.grads, args.clip)
        optimizer.lr = lr_at(args.lr, step, args.steps)
        optimizer.step(model.grads)
    return time.perf_counter() - start


def train_torch(model, batches, args):
    optimizer, state = torch.optim.Adam(model.parameters(), args.lr), None
    start = time.perf_counter()
    for step in range(args.steps):
        x, y, _ = batches.batch(0, step % batches.batches_per_epoch)
        logits, state = model(torch.from_numpy(x), state)
        state = tuple(s.detach() for s in state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.from_numpy(y).reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(args.lr, step, args.steps)
        optimizer.step()
    return time.perf_counter() - start


def bits_per_char(logits_of, valid: StreamBatches) -> float:
    total, count, state = 0.0, 0, None
    for x, y, _ in valid.in_order():
        logits, state = logits_of(x, state)
        loss, _ = softmax_cross_entropy(logits, y)
        total, count = total + loss * y.size, count + y.size
    return total / count / math.log(2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=1_000_000, help="characters of python-source to use")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--embed", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--clip", type=float, default=5.0)
    parser.add_argument("--two-biases", action="store_true",
                        help="train PyTorch's bias_hh as well (its default; see the module's docstring)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--default-malloc", action="store_true",
                        help="keep glibc's mmap of large buffers (PyTorch then page-faults on them at every step)")
    args = parser.parse_args()

    info = {**describe(), "malloc": malloc_mode(args.default_malloc)}
    text = load_corpus("python-source").text[: args.chars]
    cut = int(len(text) * 0.9)
    vocab = Vocabulary.build([text], "char")
    batches = StreamBatches(vocab.encode(text[:cut]), args.batch_size, args.seq_len)
    valid = StreamBatches(vocab.encode(text[cut:]), args.batch_size, args.seq_len)

    ours = LanguageModel(len(vocab), "lstm", args.hidden, args.layers, args.embed, seed=0)
    theirs = TorchLM(len(vocab), args.embed, args.hidden, args.layers)
    copy_weights(ours, theirs, args.two_biases)

    seconds_torch = train_torch(theirs, batches, args)
    seconds_ours = train_rnnkit(ours, batches, args)

    def torch_logits(x, state):
        with torch.no_grad():
            logits, state = theirs(torch.from_numpy(x), state)
        return logits.numpy(), state

    result = {
        **info, "config": vars(args), "vocab_size": len(vocab), "train_chars": cut,
        "rnnkit": {"valid_bits_per_char": bits_per_char(lambda x, s: ours.forward(x, s, training=False), valid),
                   "train_seconds": seconds_ours},
        "pytorch": {"valid_bits_per_char": bits_per_char(torch_logits, valid), "train_seconds": seconds_torch},
    }
    result["time_ratio_rnnkit_over_pytorch"] = seconds_ours / seconds_torch
    print(machine_line(info))
    print(f"{args.steps} steps of a {args.layers}-layer LSTM ({args.hidden} hidden, embedding {args.embed}), "
          f"batch {args.batch_size} x {args.seq_len} characters, vocabulary {len(vocab)}; PyTorch trains "
          f"{'both biases' if args.two_biases else 'one bias per gate, as rnnkit'}")
    print("| library | validation bits/char | training time (s) |\n|---|---|---|")
    for name in ("rnnkit", "pytorch"):
        r = result[name]
        print(f"| {name} | {r['valid_bits_per_char']:.4f} | {r['train_seconds']:.1f} |")
    print(f"time ratio rnnkit/PyTorch: {result['time_ratio_rnnkit_over_pytorch']:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
