"""What a benchmark needs before it imports NumPy: a user's environment, and a line that says what ran.

These machines set OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which pin an old OpenBLAS kernel and slow
current NumPy; a user's machine has neither. ``user_environment()`` re-executes the script without them.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

PINNED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def user_environment() -> None:
    """Re-run this process without the OpenBLAS pins (once; call it before importing NumPy)."""
    if any(name in os.environ for name in PINNED):
        env = {k: v for k, v in os.environ.items() if k not in PINNED}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


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
    return (f"{info['machine']}; Python {info['python']}; NumPy {info['numpy']} [{info['numpy_blas']}]; "
            f"PyTorch {info['torch']} [{info['torch_blas']}, {info['torch_threads']} threads]"
            + (f"; malloc {info['malloc']}" if "malloc" in info else ""))
