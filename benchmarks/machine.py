"""What a benchmark needs before it imports NumPy: a user's environment, and a line that says what ran.

These machines set OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which pin an old OpenBLAS kernel and slow
current NumPy; a user's machine has neither. ``user_environment()`` re-executes the script without them.

Any command can run as an AVX2 machine would, on an AVX-512 one:

    python benchmarks/machine.py avx2 python benchmarks/speed.py --only lstm

numba then compiles for Haswell with every AVX-512 feature turned off (in its own cache), OpenBLAS runs its
Haswell kernels and PyTorch's oneDNN and MKL stop at AVX2; ``user_environment()`` keeps OpenBLAS's kernel
choice and the machine line says the instruction set was emulated. Register pressure, the reason kernels are
shaped per instruction set, is the real AVX2 one; clock speeds and caches stay those of the host.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

PINNED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
EMULATED = "RNNKIT_EMULATED_ISA"  # set by ``emulate``: the instruction set this process pretends to have


def user_environment() -> None:
    """Re-run this process without the OpenBLAS pins (once; call it before importing NumPy). Under
    ``emulate`` only OPENBLAS_L2_SIZE goes: OPENBLAS_CORETYPE is then the emulated machine's kernel."""
    pinned = PINNED[1:] if os.environ.get(EMULATED) else PINNED
    if any(name in os.environ for name in pinned):
        env = {k: v for k, v in os.environ.items() if k not in pinned}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def emulated_environment(isa: str) -> dict:
    """os.environ with numba, OpenBLAS, oneDNN and MKL held to ``isa`` (only "avx2" is known)."""
    if isa != "avx2":
        raise SystemExit(f"only avx2 can be emulated, got {isa!r}")
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    off = ("avx512", "avx10", "amx", "avxvnni", "evex512")
    features = ",".join(("-" if name.startswith(off) else "+" if on else "-") + name
                        for name, on in llvm.get_host_cpu_features().items())
    return {**os.environ, EMULATED: "AVX2", "NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": features,
            "NUMBA_CACHE_DIR": os.path.join(os.environ.get("TMPDIR", "/tmp"), "rnnkit-numba-avx2"),
            "OPENBLAS_CORETYPE": "Haswell", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def heap_only_malloc() -> bool:
    """Serve every allocation from glibc's heap and never give it back (``mallopt``); True if that took effect.

    PyTorch's LSTM (oneDNN's fused RNN) allocates a ~100 MB buffer on every training call, and other buffers
    over glibc's mmap threshold; by default glibc maps each afresh and unmaps it when freed, so every call
    touches new pages, one fault per 4 KB: about 16,000 faults and 15-20% of the LSTM's training step at M.
    Whether a call pays that depends on what ran before it in the process (after the RNN's XL training case
    in ``speed.py`` the faults stopped: glibc serves a large request from free heap memory when it has
    enough), so with the defaults a case's ratio depended on the cases run before it. With this, PyTorch runs without those faults in every case, at its best, as with the
    jemalloc or TCMalloc that CPU tuning guides for PyTorch advise. rnnkit's layers keep their arrays from one
    call to the next; its LM step's temporaries fault about 1,000 times a step with the defaults, none here.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return False
    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # from glibc's malloc.h
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


def malloc_mode(default_malloc: bool) -> str:
    """``heap_only_malloc()`` unless ``default_malloc``; what the machine line says of malloc."""
    return "heap only (machine.heap_only_malloc)" if not default_malloc and heap_only_malloc() else "default"


def describe() -> dict:
    """Machine, NumPy's and PyTorch's versions, BLAS kernels and thread counts (threadpoolctl)."""
    import numpy as np
    import torch
    from threadpoolctl import threadpool_info

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                if line.startswith("model name")), platform.processor()) if os.path.exists("/proc/cpuinfo") else ""
    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, {i.get('num_threads')} threads)"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return {
        "machine": f"{platform.machine()} {cpu}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": "; ".join(blas) or "unknown",
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_blas": "MKL" if torch.backends.mkl.is_available() else "other",
        "openblas_pins_unset": not any(name in os.environ for name in PINNED),
    }


def machine_line(info: dict) -> str:
    emulated = f" ({os.environ[EMULATED]} emulated)" if os.environ.get(EMULATED) else ""
    return (f"{info['machine']}{emulated}; Python {info['python']}; NumPy {info['numpy']} [{info['numpy_blas']}]; "
            f"PyTorch {info['torch']} [{info['torch_blas']}, {info['torch_threads']} threads]"
            + (f"; malloc {info['malloc']}" if "malloc" in info else ""))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit("usage: python benchmarks/machine.py avx2 COMMAND [ARG ...]")
    os.execvpe(sys.argv[2], sys.argv[2:], emulated_environment(sys.argv[1]))
