"""rnnkit against torch.nn on this CPU, side by side in one process, interleaved repeats, median ratios.

    python benchmarks/speed.py [--repeats 5] [--only lstm] [--skip-xl] [--json results.json]

Cases (x is (B, T, F), hidden size H): a training step (forward + backward) at S, M, L and XL; an
inference forward (training=False against torch.no_grad()) at S, M, L; streaming generation (batch 1, one
step per call, 2 layers, H = 256, 200 steps); sampling 1,000 characters one at a time from a 2 x 256
character LSTM language model; one training step of the character-level language model
(embedding + 2-layer LSTM + softmax cross-entropy + Adam + clipping); the peak memory of a training step
(each library in a fresh process with its layer and data built: the peak resident set size during two
steps, workspaces and lazy initialisation included, above the resident size before them); and, at M and
larger, both libraries' GFLOP/s in their products against this machine's float32 GEMM peak
(``fma_peak.py`` measures the CPU's own ceiling).

Times are medians over all timed calls. A ratio is the median of the rounds' ratios (a round: one block of
each library, back to back, each block's median), printed with their range: pairing the libraries round by
round cancels the machine's slower and faster spells, and on a shared machine the range is the noise a
single figure carries.

PyTorch is measured at its best: the process serves every allocation from glibc's heap and keeps it
(``machine.heap_only_malloc``, which says why). With glibc's defaults PyTorch's LSTM page-faults on a fresh
~100 MB buffer at every training call unless an earlier case left a hole in the heap large enough for it, so a
case's ratio depended on the cases run before it; ``--default-malloc`` measures that way all the same.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from machine import describe, machine_line, malloc_mode, user_environment

user_environment()

import rnnkit  # noqa: E402  (before NumPy, so that OpenBLAS spins briefly: see rnnkit/__init__.py)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from rnnkit import generate  # noqa: E402
from rnnkit.data import Vocabulary  # noqa: E402
from rnnkit.interop.pytorch import load_state_dict  # noqa: E402
from rnnkit.losses import softmax_cross_entropy  # noqa: E402
from rnnkit.models import LanguageModel  # noqa: E402
from rnnkit.optim import Adam, clip_by_global_norm  # noqa: E402

SIZES = {"S": (32, 64, 64, 128), "M": (64, 100, 256, 256), "L": (64, 100, 512, 512), "XL": (128, 50, 1024, 1024)}
CELLS = {"rnn": (rnnkit.RNN, torch.nn.RNN, 1), "gru": (rnnkit.GRU, torch.nn.GRU, 3), "lstm": (rnnkit.LSTM, torch.nn.LSTM, 4)}


def pair(cell, F, H, layers=1):
    """An rnnkit layer and a torch layer with the same float32 weights."""
    ours_cls, torch_cls, _ = CELLS[cell]
    theirs = torch_cls(F, H, layers, batch_first=True)
    ours = ours_cls(F, H, layers, seed=0)
    load_state_dict(ours, theirs.state_dict())
    return ours, theirs


def train_step_case(cell, size):
    B, T, F, H = SIZES[size] if isinstance(size, str) else size
    ours, theirs = pair(cell, F, H)
    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal((B, T, F), dtype=np.float32), rng.standard_normal((B, T, H), dtype=np.float32)
    tx, tdy = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dy)

    def run_ours():
        ours.zero_grad()
        ours.forward(x)
        ours.backward(dy)

    def run_torch():
        theirs.zero_grad()
        tx.grad = None
        y, _ = theirs(tx)
        y.backward(tdy)

    return run_ours, run_torch


def inference_case(cell, size):
    B, T, F, H = SIZES[size]
    ours, theirs = pair(cell, F, H)
    x = np.random.default_rng(0).standard_normal((B, T, F), dtype=np.float32)
    tx = torch.from_numpy(x)

    def run_torch():
        with torch.no_grad():
            theirs(tx)

    return (lambda: ours.forward(x, training=False)), run_torch


def streaming_case(cell, steps=200, H=256, layers=2):
    ours, theirs = pair(cell, H, H, layers)
    x = np.random.default_rng(0).standard_normal((1, steps, H), dtype=np.float32)
    tx = torch.from_numpy(x)

    def run_ours():
        state = None
        for t in range(steps):
            _, state = ours.step(x[:, t], state)

    def run_torch():
        state = None
        with torch.no_grad():
            for t in range(steps):
                _, state = theirs(tx[:, t : t + 1], state)

    return run_ours, run_torch


class TorchLM(torch.nn.Module):
    def __init__(self, V, E, H, L):
        super().__init__()
        self.embedding, self.rnn, self.head = torch.nn.Embedding(V, E), torch.nn.LSTM(E, H, L, batch_first=True), torch.nn.Linear(H, V)

    def forward(self, x):
        return self.head(self.rnn(self.embedding(x))[0])


def language_model_case(V=100, E=32, H=256, L=2, B=32, T=64):
    ours = LanguageModel(V, "lstm", H, L, E, seed=0)
    theirs = TorchLM(V, E, H, L)
    optimizer, torch_optimizer = Adam(ours.params), torch.optim.Adam(theirs.parameters())
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    tx, ty = torch.from_numpy(x), torch.from_numpy(y).reshape(-1)

    def run_ours():
        ours.zero_grad()
        logits, _ = ours.forward(x)
        _, dlogits = softmax_cross_entropy(logits, y)
        ours.backward(dlogits)
        clip_by_global_norm(ours.grads, 5.0)
        optimizer.step(ours.grads)

    def run_torch():
        torch_optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(theirs(tx).reshape(-1, V), ty)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), 5.0)
        torch_optimizer.step()

    return run_ours, run_torch


def sampling_case(chars=1000, V=100, E=32, H=256, L=2):
    """Sampling ``chars`` characters, one at a time, from a character LSTM language model: rnnkit's
    ``generate.sample`` against the loop a PyTorch user writes (embedding, LSTM with its state, linear,
    softmax, ``torch.multinomial``, one token per call)."""
    vocab = Vocabulary([chr(33 + i) for i in range(V - 2)], "char")  # + <PAD> and <EOS>
    ours, theirs = LanguageModel(len(vocab), "lstm", H, L, E, seed=0), TorchLM(len(vocab), E, H, L)
    generator = torch.Generator().manual_seed(0)

    def run_ours():
        generate.sample(ours, vocab, vocab.eos, n=1, max_len=chars, rng=0, stop_at_eos=False)

    def run_torch():
        token, state = torch.tensor([[vocab.eos]]), None
        with torch.no_grad():
            for _ in range(chars):
                h, state = theirs.rnn(theirs.embedding(token), state)
                token = torch.multinomial(torch.softmax(theirs.head(h[:, -1]), dim=-1), 1, generator=generator)

    return run_ours, run_torch


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(run_ours, run_torch, repeats, block=3, warmup=3, pause=0.3):
    """Median times of both in steady state, measured in alternating blocks (who goes first alternates too).

    Within a block a library runs back to back, as in a training loop. Before each block the process sleeps
    ``pause`` seconds and runs ``warmup`` untimed calls: after work, OpenBLAS and OpenMP keep their idle
    worker threads spinning for a while, and a library timed while the other's threads still spin (or just
    after its own threads went to sleep) runs up to 10x slower on its first calls.

    Also returns each round's ratio (rnnkit's block median over PyTorch's in the same round).
    """
    ours, theirs = [], []  # one list of times per round
    for r in range(repeats):
        for run, blocks in ((run_ours, ours), (run_torch, theirs))[:: 1 if r % 2 == 0 else -1]:
            time.sleep(pause)
            for _ in range(warmup):
                run()
            blocks.append([timed(run) for _ in range(block)])
    rounds = [statistics.median(a) / statistics.median(b) for a, b in zip(ours, theirs)]
    return statistics.median(sum(ours, [])), statistics.median(sum(theirs, [])), rounds


def gemm_peak(n=4096, repeats=3) -> float:
    """GFLOP/s of a large float32 NumPy matmul: the machine's practical GEMM peak."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    return 2 * n**3 / min(timed(lambda: a @ b) for _ in range(repeats)) / 1e9


def gemm_flops(cell, size, case) -> float:
    """The products' FLOPs: forward x@W_x and h@W_h, 2 B T G H (F + H) for G gates; a training step adds
    dx, dW_x, dh and dW_h, three times that in all."""
    B, T, F, H = SIZES[size]
    return (6 if case == "train" else 2) * B * T * CELLS[cell][2] * H * (F + H)


MEMORY_PROBE = """
import sys
sys.path.insert(0, {bench!r})
import speed
warm_up = speed.train_step_case({cell!r}, (2, 3, 4, 8))[{library!r} == "torch"]
warm_up()  # one-time set-up (compiling or loading JIT kernels) is not part of a step's memory
run = speed.train_step_case({cell!r}, {size!r})[{library!r} == "torch"]
def status(key):
    return int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith(key))) * 1024
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current resident size
base = status("VmRSS:")
run()
run()
print(status("VmHWM:") - base)
"""


def peak_memory(cell, size, library) -> int:
    code = MEMORY_PROBE.format(bench=sys.path[0], cell=cell, size=size, library=library)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=tuple(CELLS), action="append", help="cells to run (default: all)")
    parser.add_argument("--skip-xl", action="store_true", help="leave out the XL training step (slowest)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--default-malloc", action="store_true",
                        help="keep glibc's mmap of large buffers (PyTorch then page-faults on them on every call)")
    args = parser.parse_args()
    cells = args.only or list(CELLS)

    info = {**describe(), "malloc": malloc_mode(args.default_malloc)}
    print(machine_line(info), flush=True)
    peak = gemm_peak()
    rows = []

    def throughput(cell, size, case, ours, theirs):
        """GFLOP/s of both libraries' products at M and larger, where they are most of the time."""
        if size == "S":
            return {}
        flops = gemm_flops(cell, size, case) / 1e9
        return {"gflops": flops / ours, "pytorch_gflops": flops / theirs}

    def record(case, cell, size, ours, theirs, rounds, **extra):
        ratio = statistics.median(rounds)
        rows.append({"case": case, "cell": cell, "size": size, "rnnkit_s": ours, "pytorch_s": theirs,
                     "ratio": ratio, "round_ratios": rounds, "ratio_of_medians": ours / theirs, **extra})
        print(f"  {case:<10} {cell:<5} {size:<4} rnnkit {ours * 1e3:9.2f} ms  torch {theirs * 1e3:9.2f} ms  "
              f"ratio {ratio:5.2f} (rounds {min(rounds):.2f}-{max(rounds):.2f})", flush=True)

    for cell in cells:
        for size in [s for s in SIZES if not (args.skip_xl and s == "XL")]:
            ours, theirs, rounds = compare(*train_step_case(cell, size), args.repeats,
                                           block=3 if size != "XL" else 2, warmup=3 if size != "XL" else 2)
            record("train", cell, size, ours, theirs, rounds, **throughput(cell, size, "train", ours, theirs))
        for size in ("S", "M", "L"):
            ours, theirs, rounds = compare(*inference_case(cell, size), args.repeats)
            record("inference", cell, size, ours, theirs, rounds, **throughput(cell, size, "inference", ours, theirs))
        record("streaming", cell, "1x200", *compare(*streaming_case(cell), args.repeats))
    record("lm-step", "lstm", "2x256", *compare(*language_model_case(), args.repeats))
    record("sampling", "lstm", "2x256", *compare(*sampling_case(), args.repeats, block=1, warmup=1))

    memory = []
    for cell in cells:
        for size in ("M", "L"):
            ours, theirs = peak_memory(cell, size, "rnnkit"), peak_memory(cell, size, "torch")
            memory.append({"cell": cell, "size": size, "rnnkit_bytes": ours, "pytorch_bytes": theirs})

    ratios = [r["ratio"] for r in rows]
    geomean = float(np.exp(np.mean(np.log(ratios))))
    print("\n| case | cell | size (B, T, F, H) | rnnkit ms | PyTorch ms | ratio (rounds) | "
          "GFLOP/s rnnkit / PyTorch (share of the GEMM peak) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        size = SIZES.get(r["size"], r["size"])
        flops = (f"{r['gflops']:.0f} / {r['pytorch_gflops']:.0f} ({r['gflops'] / peak:.0%} / "
                 f"{r['pytorch_gflops'] / peak:.0%})" if "gflops" in r else "")
        print(f"| {r['case']} | {r['cell']} | {r['size']} {size if r['size'] in SIZES else ''} | "
              f"{r['rnnkit_s'] * 1e3:.2f} | {r['pytorch_s'] * 1e3:.2f} | {r['ratio']:.2f} "
              f"({min(r['round_ratios']):.2f}-{max(r['round_ratios']):.2f}) | {flops} |")
    print(f"\ngeometric mean of the ratios rnnkit/PyTorch: {geomean:.3f} over {len(rows)} cases; "
          f"worst {max(ratios):.2f}; GEMM peak {peak:.0f} GFLOP/s (float32 {4096}^3 matmul)")
    print("\n| peak memory of a training step | rnnkit MiB | PyTorch MiB | ratio |\n|---|---|---|---|")
    for m in memory:
        print(f"| {m['cell']} {m['size']} | {m['rnnkit_bytes'] / 2**20:.1f} | {m['pytorch_bytes'] / 2**20:.1f} | "
              f"{m['rnnkit_bytes'] / max(m['pytorch_bytes'], 1):.2f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({**info, "gemm_peak_gflops": peak, "cases": rows, "geomean_ratio": geomean,
                       "memory": memory}, f, indent=2)


if __name__ == "__main__":
    main()
