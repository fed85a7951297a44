"""A measured design for the LSTM's recurrence, not yet in rnnkit: weights packed once per call, an sgemm
microkernel written in LLVM IR, and the cores each owning a slice of the hidden units ("Persistent RNNs",
Diamos et al. 2016), against rnnkit's path (one OpenBLAS call and one numba kernel per step).

    python benchmarks/persistent_lstm.py

The microkernel computes an 8 x 32 block of h<t-1> @ W_h, 8 rows of h against a packed 32-column panel of W_h,
in 16 AVX-512 accumulators (LLVM's fma on <16 x float>); llvmlite compiles it for this CPU. Each worker (the
main thread and one more, both in numba nogil code) owns H / 2 hidden units: its columns of every gate,
packed once per call, so that its panels of W_h stay in its core's cache. A step is the worker's GEMM, its
units' element-wise step, then one barrier (an atomic counter, also in LLVM IR) before the next step
reads the whole h<t>. Both paths compute the same float32 numbers (checked below). OpenBLAS is held to
one thread while the workers run: its idle threads spinning beside them cost twice the time.
"""

from __future__ import annotations

import ctypes
import threading
import time

from machine import describe, machine_line, user_environment

user_environment()

import llvmlite.binding as llvm  # noqa: E402
import numpy as np  # noqa: E402
from numba import njit  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from rnnkit.cells.kernels import lstm_forward_rows, sigmoid, tanh  # noqa: E402

ROWS, VECTORS = 8, 2  # the block: 8 rows x 2 vectors of 16 floats


def microkernel_ir() -> str:
    """C[8 x 32] (row stride ldc) = A[8 x K] (row stride lda) @ Wp[K x 32] (a packed panel); and the barrier's
    atomics."""
    lines = ["declare <16 x float> @llvm.fma.v16f32(<16 x float>, <16 x float>, <16 x float>)",
             "define void @block(ptr %A, i64 %lda, ptr %W, ptr %C, i64 %ldc, i64 %K) {",
             "entry:", "  br label %loop", "loop:", "  %k = phi i64 [0, %entry], [%k1, %loop]"]
    cells = [(r, v) for r in range(ROWS) for v in range(VECTORS)]
    lines += [f"  %acc{r}_{v} = phi <16 x float> [zeroinitializer, %entry], [%new{r}_{v}, %loop]" for r, v in cells]
    lines.append("  %wk = mul i64 %k, 32")
    for v in range(VECTORS):
        lines += [f"  %wi{v} = add i64 %wk, {16 * v}", f"  %wp{v} = getelementptr float, ptr %W, i64 %wi{v}",
                  f"  %w{v} = load <16 x float>, ptr %wp{v}, align 4"]
    for r in range(ROWS):
        lines += [f"  %ar{r} = mul i64 %lda, {r}", f"  %ai{r} = add i64 %ar{r}, %k",
                  f"  %ap{r} = getelementptr float, ptr %A, i64 %ai{r}", f"  %a{r} = load float, ptr %ap{r}, align 4",
                  f"  %s{r} = insertelement <16 x float> poison, float %a{r}, i32 0",
                  f"  %b{r} = shufflevector <16 x float> %s{r}, <16 x float> poison, <16 x i32> zeroinitializer"]
        lines += [f"  %new{r}_{v} = call <16 x float> @llvm.fma.v16f32(<16 x float> %b{r}, <16 x float> %w{v}, "
                  f"<16 x float> %acc{r}_{v})" for v in range(VECTORS)]
    lines += ["  %k1 = add i64 %k, 1", "  %done = icmp eq i64 %k1, %K", "  br i1 %done, label %exit, label %loop", "exit:"]
    for r, v in cells:
        lines += [f"  %cr{r}_{v} = mul i64 %ldc, {r}", f"  %ci{r}_{v} = add i64 %cr{r}_{v}, {16 * v}",
                  f"  %cp{r}_{v} = getelementptr float, ptr %C, i64 %ci{r}_{v}",
                  f"  store <16 x float> %new{r}_{v}, ptr %cp{r}_{v}, align 4"]
    lines += ["  ret void", "}",
              "define i64 @arrive(ptr %p) {", "  %old = atomicrmw add ptr %p, i64 1 seq_cst", "  ret i64 %old", "}",
              "define i64 @arrived(ptr %p) {", "  %n = load atomic i64, ptr %p acquire, align 8", "  ret i64 %n", "}"]
    return "\n".join(lines)


llvm.initialize_native_target()
llvm.initialize_native_asmprinter()
_machine = llvm.Target.from_default_triple().create_target_machine(
    cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3)
_module = llvm.parse_assembly(microkernel_ir())
_engine = llvm.create_mcjit_compiler(_module, _machine)
_engine.finalize_object()
_p, _i = ctypes.c_void_p, ctypes.c_int64
block = ctypes.CFUNCTYPE(None, _p, _i, _p, _p, _i, _i)(_engine.get_function_address("block"))
arrive = ctypes.CFUNCTYPE(_i, _p)(_engine.get_function_address("arrive"))
arrived = ctypes.CFUNCTYPE(_i, _p)(_engine.get_function_address("arrived"))


@njit(nogil=True, error_model="numpy", boundscheck=False)
def _gates(hi, hf, hg, ho, zi, zf, zg, zo, bi, bf, bg, bo, c, c_new, h_new, tanh_c):
    """rnnkit's LSTM step (cells/lstm.py) for one row's slice of units, each gate block its own view."""
    for j in range(c.size):
        i = sigmoid(zi[j] + hi[j] + bi[j])
        f = sigmoid(zf[j] + hf[j] + bf[j])
        g = tanh(zg[j] + hg[j] + bg[j])
        zi[j], zf[j], zg[j] = i, f, g
        c_new[j] = f * c[j] + i * g
    for j in range(c.size):
        o = sigmoid(zo[j] + ho[j] + bo[j])
        zo[j] = o
        tanh_c[j] = tanh(c_new[j])
        h_new[j] = o * tanh_c[j]


@njit(nogil=True, error_model="numpy", boundscheck=False)
def worker(w, workers, panels, xw, bias, hs, cs, tanh_c, hw, counter):
    """Worker w's units of every step: hw = h<t-1> @ its packed columns, its element-wise step, the barrier."""
    T, B, _ = xw.shape
    H = hs.shape[2]
    S = H // workers
    a, e = w * S, (w + 1) * S
    for t in range(T):
        for r0 in range(0, B, ROWS):
            for p in range(panels.shape[0]):
                block(hs[t, r0:].ctypes.data, H, panels[p].ctypes.data, hw[r0:, 32 * p :].ctypes.data, 4 * S, H)
        for b in range(B):
            z, h = xw[t, b], hw[b]
            _gates(h[:S], h[S : 2 * S], h[2 * S : 3 * S], h[3 * S :], z[a:e], z[H + a : H + e], z[2 * H + a : 2 * H + e],
                   z[3 * H + a : 3 * H + e], bias[a:e], bias[H + a : H + e], bias[2 * H + a : 2 * H + e],
                   bias[3 * H + a : 3 * H + e], cs[t, b, a:e], cs[t + 1, b, a:e], hs[t + 1, b, a:e], tanh_c[t, b, a:e])
        arrive(counter.ctypes.data)
        while arrived(counter.ctypes.data) < workers * (t + 1):
            pass


def pack(W_h: np.ndarray, workers: int) -> np.ndarray:
    """(workers, 4S / 32, H, 32): each worker's columns of every gate, as contiguous 32-column panels."""
    H = W_h.shape[0]
    S = H // workers
    mine = [np.concatenate([W_h[:, g * H + w * S : g * H + (w + 1) * S] for g in range(4)], axis=1)
            for w in range(workers)]
    return np.ascontiguousarray(np.stack([m.reshape(H, 4 * S // 32, 32).transpose(1, 0, 2) for m in mine]))


def persistent(xw, W_h, bias, hs, cs, tanh_c, workers=2):
    panels = pack(W_h, workers)
    B, H = hs.shape[1:]
    scratch = np.empty((workers, B, 4 * H // workers), np.float32)
    counter = np.zeros(1, np.int64)
    others = [threading.Thread(target=worker, args=(w, workers, panels[w], xw, bias, hs, cs, tanh_c, scratch[w], counter))
              for w in range(1, workers)]
    for thread in others:
        thread.start()
    worker(0, workers, panels[0], xw, bias, hs, cs, tanh_c, scratch[0], counter)
    for thread in others:
        thread.join()


def per_step_openblas(xw, W_h, bias, hs, cs, tanh_c):
    """rnnkit's path: one OpenBLAS GEMM and one numba kernel call per step (no peepholes)."""
    hw, zeros = np.empty((hs.shape[1], W_h.shape[1]), np.float32), np.zeros(hs.shape[2], np.float32)
    for t in range(xw.shape[0]):
        np.matmul(hs[t], W_h, out=hw)
        lstm_forward_rows(hw, xw[t], bias, cs[t], cs[t + 1], hs[t + 1], tanh_c[t], zeros, zeros, zeros)


def best_ms(fn, repeats=7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def main():
    print(machine_line(describe()))
    print("| (B, T, H) | per-step OpenBLAS, 2 threads, ms | persistent, 2 workers, ms | ratio | max difference |")
    print("|---|---|---|---|---|")
    for B, T, H in [(32, 64, 128), (32, 64, 256), (64, 100, 256), (64, 100, 512)]:
        rng = np.random.default_rng(0)
        W_h = (rng.standard_normal((H, 4 * H)) * 0.05).astype(np.float32)
        bias = (rng.standard_normal(4 * H) * 0.1).astype(np.float32)
        xw0 = rng.standard_normal((T, B, 4 * H), dtype=np.float32)
        arrays = [np.zeros((T + 1, B, H), np.float32), np.zeros((T + 1, B, H), np.float32),
                  np.empty((T, B, H), np.float32)]
        theirs = [a.copy() for a in arrays]
        per_step_openblas(xw0.copy(), W_h, bias, *theirs)
        with threadpool_limits(1):
            persistent(xw0.copy(), W_h, bias, *arrays)
            time.sleep(0.3)
            ours = best_ms(lambda: persistent(xw0.copy(), W_h, bias, *arrays))
        difference = max(float(np.abs(a - b).max()) for a, b in zip(arrays, theirs))
        time.sleep(0.3)
        baseline = best_ms(lambda: per_step_openblas(xw0.copy(), W_h, bias, *theirs))
        print(f"| {(B, T, H)} | {baseline:.2f} | {ours:.2f} | {ours / baseline:.2f} | {difference:.1e} |", flush=True)


if __name__ == "__main__":
    main()
