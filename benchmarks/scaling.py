"""Data-parallel scaling of ``rnnkit train`` on MPI: tokens per second on 1 and 2 ranks (one BLAS thread each),
beside one process with every core's BLAS threads (what a user runs without MPI), the time of one Allreduce
of the model's gradients, and the speed-up those predict on N machines.

    pip install -e ".[mpi]" && python benchmarks/scaling.py [--steps 300] [--json scaling.json]

The run is the main job (``rnnkit train``: a 256-unit LSTM on names, global batch 64). Tokens per second are
the median of the steps after the first 20 in each run's metrics.jsonl. The projection is a model, not a
measurement: a step on N ranks takes

    t(N) = t_compute / N + t_allreduce(N),    t_allreduce(N) = 2 (N - 1) (α + S / (N β))   (a ring Allreduce)

for S bytes of gradients, α the latency and β the bandwidth of one link. It assumes the work of a step
divides evenly (each rank's share of the batch is still big enough to keep a core busy) and one rank per
machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile

from machine import PINNED

from rnnkit.checkpoint import load_checkpoint

ALLREDUCE = """
import time, sys
import numpy as np
from mpi4py import MPI
comm = MPI.COMM_WORLD
buffer = np.ones(int(sys.argv[1]))
times = []
for _ in range(300):
    comm.Barrier()
    start = time.perf_counter()
    comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
    times.append(time.perf_counter() - start)
if comm.Get_rank() == 0:
    print(sorted(times[50:])[125])  # the median of the last 250
"""
LINKS = {"10 Gb/s Ethernet": (25e-6, 1.25e9), "100 Gb/s InfiniBand": (2e-6, 12.5e9)}  # (α seconds, β bytes/s)


MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])


def env(threads: int = 1):
    """A user's environment (no OpenBLAS pins) with ``threads`` BLAS threads per process."""
    return {**{k: v for k, v in os.environ.items() if k not in PINNED}, "OPENBLAS_NUM_THREADS": str(threads)}


def train(ranks: int, steps: int, out: pathlib.Path, threads: int = 1) -> tuple[float, float, int]:
    """(median tokens per second, median seconds per step, parameters) of the main job on ``ranks`` ranks."""
    command = [sys.executable, "-m", "rnnkit", "train", "--steps", str(steps), "--eval-every", str(steps),
               "--out", str(out)]
    if ranks > 1:
        command = [MPIEXEC, "-n", str(ranks), *command]
    subprocess.run(command, check=True, env=env(threads), capture_output=True)
    records = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
               if "tokens_per_s" in r and r["step"] > 20]
    meta = load_checkpoint(out / "last.safetensors")[1]
    return (statistics.median(r["tokens_per_s"] for r in records), statistics.median(r["seconds"] for r in records),
            meta["num_params"])


def allreduce_seconds(values: int) -> float:
    done = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", ALLREDUCE, str(values)], check=True,
                          env=env(), capture_output=True, text=True)
    return float(done.stdout.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    with tempfile.TemporaryDirectory() as tmp:
        one, compute, params = train(1, args.steps, pathlib.Path(tmp) / "one")
        two, _, _ = train(2, args.steps, pathlib.Path(tmp) / "two")
        threaded, _, _ = train(1, args.steps, pathlib.Path(tmp) / "threaded", threads=os.cpu_count())
    values = params + 5  # the flat float64 buffer: every gradient, then the loss, weight, tokens and two flags
    local = allreduce_seconds(values)
    print(f"{cpu}, {os.cpu_count()} cores; the main job, {params:,} parameters, global batch 64, "
          f"{args.steps} steps")
    print(f"1 rank: {one:,.0f} tokens/s, {compute * 1e3:.1f} ms per step; 2 ranks: {two:,.0f} tokens/s (speed-up {two / one:.2f})")
    print(f"baseline, 1 process with {os.cpu_count()} BLAS threads (no MPI): {threaded:,.0f} tokens/s; "
          f"2 ranks / it: {two / threaded:.2f}")
    print(f"one Allreduce of {values:,} float64 values ({8 * values / 1e6:.2f} MB) between 2 ranks on this "
          f"machine: {local * 1e3:.3f} ms")
    rows = []
    print("\n| machines N | " + " | ".join(f"speed-up, {name}" for name in LINKS) + " |\n|---|---|---|")
    for n in (1, 2, 4, 8, 16, 32):
        speedups = []
        for alpha, beta in LINKS.values():
            allreduce = 0.0 if n == 1 else 2 * (n - 1) * (alpha + 8 * values / (n * beta))
            speedups.append(compute / (compute / n + allreduce))
        rows.append({"machines": n, "speedups": speedups})
        print(f"| {n} | " + " | ".join(f"{s:.1f}" for s in speedups) + " |")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({
            "cpu": cpu, "params": params, "tokens_per_s": {"1": one, "2": two, "1 with all cores' BLAS threads": threaded}, "allreduce_s": local,
            "compute_s_per_step": compute, "links": LINKS, "projection": rows}, indent=2))


if __name__ == "__main__":
    main()
