"""The persistent LSTM loop (rnnkit/engine/persistent.py) against the layer's Python loop, in one process.

    python benchmarks/persistent_lstm.py [--repeats 7]

Same layer, same data, three ways: the layer's loop, and the persistent loop with its workers sharing the
batch's rows or the hidden units (the ways ``rnnkit/engine/tuning.py`` measures to choose from). Three
interleaved rounds, each the median of ``--repeats`` calls, and the best round of each way. The Python loop
calls OpenBLAS for h<t-1> @ W_h and one numba kernel at every step; the persistent loop runs all steps of a
layer and direction in one compiled call.
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

from rnnkit.engine import kernels, persistent  # noqa: E402


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


WAYS = ("loop", "rows", "units")  # the layer's loop; the engine, its workers sharing the rows or the units


def use(way):
    """Run every layer ``way`` from now on (as ``tuning`` would have chosen it)."""
    persistent.mode = "off" if way == "loop" else "on"
    persistent._plan = lambda H, count, split: persistent.Plan(H, count, way)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(machine_line(describe()))
    print(f"workers: {persistent.workers()}; OpenBLAS spin shortened: {persistent.short_blas_spin}; "
          f"numba compiles for {kernels.ISA}: blocks of {kernels.ROWS} x {kernels.WIDTH}")
    print("| case | layer's loop, ms | rows shared, ms | units shared, ms | best engine / loop |\n|---|---|---|---|---|")
    cases = list(layer_cases())
    lm_step, _ = speed.language_model_case()
    cases.append(("LM step 2 x 256", lm_step))
    for name, fn in cases:
        results = {}
        for way in WAYS:
            use(way)
            results[way] = fn()  # warm-up, and compiles
        if results["loop"] is not None:
            scale = float(np.abs(results["loop"]).max())
            for way in WAYS[1:]:
                np.testing.assert_allclose(results[way], results["loop"], rtol=1e-4, atol=1e-4 * scale)
        times = {way: [] for way in WAYS}
        for _ in range(3):
            for way in WAYS:
                use(way)
                times[way].append(median_ms(fn, args.repeats))
        best = {way: min(t) for way, t in times.items()}
        print(f"| {name} | {best['loop']:.2f} | {best['rows']:.2f} | {best['units']:.2f} | "
              f"{min(best['rows'], best['units']) / best['loop']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
