"""Where the time of a training step goes: the language-model step and the layer cases of speed.py, split by
what runs (the persistent LSTM loop, per-step GEMMs, element-wise kernels, per-step Python, copies, weight
gradients, the rest).

    python benchmarks/profile_step.py [--case lm|S|M|all] [--steps 30]

Method: the steps run under cProfile, and every call's own time is assigned to a part by the function and
its caller (a builtin called from ``weight_grads`` is a weight gradient). NumPy's ufuncs, matmul among them,
are not calls cProfile records: their time is their caller's own time. The per-step GEMMs of the layer's
Python loop are told apart by making the cells' ``np.matmul`` a Python function for the run, which cProfile
sees. The persistent LSTM loop is one call per layer and direction on this thread, plus the wait for its
other workers (cProfile sees only this thread). cProfile adds about a microsecond to every Python call, so
the profiled step is slower than a real one; the table also gives the unprofiled time."""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from machine import describe, machine_line, user_environment

user_environment()

import rnnkit  # noqa: E402  (before NumPy, so that OpenBLAS spins briefly: see rnnkit/__init__.py)
import numpy as np  # noqa: E402
import speed  # noqa: E402


# (file suffix, function) -> part; a builtin (matmul, copyto...) goes to the part of the function calling it
OWN_PARTS = {
    ("time_loop.py", "run_direction"): "input projection, per-step loop (Python)",
    ("time_loop.py", "forward_direction"): "per-step loop (Python)",
    ("time_loop.py", "backward_direction"): "dx GEMM, masks, per-step loop (Python)",
    ("recurrent.py", "forward"): "copies to and from time-major",
    ("recurrent.py", "backward"): "copies to and from time-major",
    ("time_loop.py", "reverse"): "copies to and from time-major",
    ("workspace.py", "get"): "per-step loop (Python)",
    ("workspace.py", "<lambda>"): "per-step loop (Python)",
    ("_ufunc_config.py", "__enter__"): "per-step loop (Python)",
    ("_ufunc_config.py", "__exit__"): "per-step loop (Python)",
    ("base.py", "weight_grads"): "weight-gradient GEMMs",
    ("gru.py", "weight_grads"): "weight-gradient GEMMs",
    ("lstm.py", "weight_grads"): "weight-gradient GEMMs",
    ("embedding.py", "forward"): "embedding",
    ("embedding.py", "backward"): "embedding",
    ("dense.py", "forward"): "head (dense)",
    ("dense.py", "backward"): "head (dense)",
    ("losses.py", "softmax_cross_entropy"): "loss",
    ("losses.py", "log_softmax"): "loss",
    ("optim.py", "_apply"): "optimizer",
    ("optim.py", "step"): "optimizer",
    ("fused.py", "adam_update"): "optimizer",
    ("fused.py", "sum_of_squares"): "clipping",
    ("optim.py", "<genexpr>"): "clipping",
    ("fused.py", "scatter_add_rows"): "embedding",
    ("optim.py", "global_norm"): "clipping",
    ("optim.py", "clip_by_global_norm"): "clipping",
}
CELL_MODULES = (rnnkit.cells.lstm, rnnkit.cells.gru, rnnkit.cells.rnn)


def per_step_gemm(*args, **kwargs):
    """np.matmul as the cells call it, as a Python function: cProfile does not see ufunc calls."""
    return np.matmul(*args, **kwargs)


class NumPyWithVisibleMatmul:
    """The numpy module as the cells see it while profiling, with ``matmul`` visible to cProfile."""

    matmul = staticmethod(per_step_gemm)

    def __getattr__(self, name):
        return getattr(np, name)


def part_of(file: str, function: str, caller: tuple | None) -> str:
    """The part a call's own time belongs to; builtins (file '~') take their caller's part."""
    if file == "~" and caller is not None:
        return part_of(caller[0], caller[2], None)
    if function == "per_step_gemm":
        return "per-step GEMMs (h @ W_h, dz @ W_h.T)"
    if file.endswith(("persistent.py", "threads.py", "threading.py", "tuning.py")) or \
            function.startswith("persistent_lstm") or \
            function == "pack_rows_transposed":  # threading: its other workers, whose time this thread waits
        return "persistent LSTM loop (its products, input projection and element-wise steps)"
    if file.endswith("kernels.py"):
        return "element-wise kernels (numba)"
    if file.endswith(("lstm.py", "gru.py", "rnn.py")) and function in ("step", "step_backward", "backward_factors"):
        return "per-step loop (Python)"
    for (suffix, name), part in OWN_PARTS.items():
        if file.endswith(suffix) and function == name:
            return part
    return "other"


def profile(run, steps: int) -> dict:
    profiler = cProfile.Profile()
    for module in CELL_MODULES:
        module.np = NumPyWithVisibleMatmul()
    profiler.enable()
    for _ in range(steps):
        run()
    profiler.disable()
    for module in CELL_MODULES:
        module.np = np
    parts: dict[str, float] = {}
    for (file, _, function), (_, _, own, _, callers) in pstats.Stats(profiler).stats.items():
        if file == "~" and callers:  # split a builtin's own time among its callers
            for caller, (_, _, caller_own, _) in callers.items():
                key = part_of(file, function, caller)
                parts[key] = parts.get(key, 0.0) + caller_own / steps
        else:
            key = part_of(file, function, None)
            parts[key] = parts.get(key, 0.0) + own / steps
    return parts


def case(name: str, cell: str):
    """(make the step, its title) of one of speed.py's cases, rnnkit's side; the layer cases in ``cell``."""
    if name == "lm":
        return (lambda: speed.language_model_case()[0],
                "language-model step: embedding 32, LSTM 2 x 256, vocabulary 100, batch 32 x 64, Adam, clipping")
    return (lambda: speed.train_step_case(cell, name)[0],
            f"{cell.upper()} layer training step, (B, T, F, H) = {speed.SIZES[name]}")


def steady_time(run, steps: int) -> float:
    for _ in range(3):
        run()
    start = time.perf_counter()
    for _ in range(steps):
        run()
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("lm", "S", "M", "all"), default="all")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--cell", choices=("lstm", "gru", "rnn"), default="lstm", help="the cell of the S and M cases")
    args = parser.parse_args()
    print(machine_line(describe()))
    cases = ("lm", "S", "M") if args.case == "all" else (args.case,)
    for name in cases:
        make, title = case(name, args.cell)
        run = make()
        plain = steady_time(run, args.steps)
        parts = profile(run, args.steps)
        total = sum(parts.values())
        print(f"\n{title}: {plain * 1e3:.2f} ms per step unprofiled, {total * 1e3:.2f} ms profiled")
        print("| part | ms per step (profiled) | share |\n|---|---|---|")
        for name, seconds in sorted(parts.items(), key=lambda kv: -kv[1]):
            print(f"| {name} | {seconds * 1e3:.2f} | {seconds / total:.0%} |")


if __name__ == "__main__":
    main()
