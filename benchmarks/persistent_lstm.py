"""The persistent LSTM loop (rnnkit/cells/persistent.py) against the layer's Python loop, in one process.

    python benchmarks/persistent_lstm.py [--repeats 7]

Same layer, same data; only ``persistent.mode`` changes between the two: three interleaved rounds, each the
median of ``--repeats`` calls, and the best round of each. The Python loop calls OpenBLAS for h<t-1> @ W_h
and one numba kernel at every step; the persistent loop runs all steps of a layer and direction in one
compiled call, the cores sharing the units.
Cases are speed.py's LSTM training steps and inference forwards at S, M and L, and its language-model
training step (embedding, 2 x 256 LSTM, softmax cross-entropy, clipping, Adam). Outputs are checked to
agree to float32 rounding before anything is timed.
"""

from __future__ import annotations

import argparse
import statistics

from machine import describe, machine_line, user_environment

user_environment()

import rnnkit  # noqa: E402  (before NumPy, so that OpenBLAS spins briefly: see rnnkit/__init__.py)
import numpy as np  # noqa: E402
import speed  # noqa: E402

from rnnkit.cells import kernels, persistent  # noqa: E402


def layer_cases():
    for size in ("S", "M", "L"):
        B, T, F, H = speed.SIZES[size]
        layer = rnnkit.LSTM(F, H, seed=0)
        rng = np.random.default_rng(0)
        x, dy = rng.standard_normal((B, T, F), dtype=np.float32), rng.standard_normal((B, T, H), dtype=np.float32)

        def train(layer=layer, x=x, dy=dy):
            layer.zero_grad()
            layer.forward(x)
            layer.backward(dy)
            return layer.grads["l0.W_h"].copy()

        yield f"train {size}", train
        yield f"inference {size}", lambda layer=layer, x=x: layer.forward(x, training=False)[0]


def median_ms(fn, repeats) -> float:
    return statistics.median(speed.timed(fn) for _ in range(repeats)) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(machine_line(describe()))
    print(f"workers: {persistent.workers()}; OpenBLAS spin shortened: {persistent.short_blas_spin}; "
          f"numba compiles for {kernels.ISA}: blocks of {kernels.ROWS} x {kernels.WIDTH}")
    print("| case | Python loop, ms | persistent loop, ms | ratio |\n|---|---|---|---|")
    cases = list(layer_cases())
    lm_step, _ = speed.language_model_case()
    cases.append(("LM step 2 x 256", lm_step))
    for name, fn in cases:
        results = {}
        for mode in ("off", "on"):
            persistent.mode = mode
            results[mode] = fn()  # warm-up, and compiles
        if results["on"] is not None:
            scale = float(np.abs(results["off"]).max())
            np.testing.assert_allclose(results["on"], results["off"], rtol=1e-4, atol=1e-4 * scale)
        times = {"off": [], "on": []}
        for _ in range(3):
            for mode in ("off", "on"):
                persistent.mode = mode
                times[mode].append(median_ms(fn, args.repeats))
        off, on = min(times["off"]), min(times["on"])
        print(f"| {name} | {off:.2f} | {on:.2f} | {on / off:.2f} |", flush=True)
    persistent.mode = "auto"


if __name__ == "__main__":
    main()
