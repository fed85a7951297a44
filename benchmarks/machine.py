"""What a benchmark needs before it imports NumPy: a user's environment, and a line that says what ran.

These machines set OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which pin an old OpenBLAS kernel and slow
current NumPy; a user's machine has neither. ``user_environment()`` re-executes the script without them.
"""

from __future__ import annotations

import os
import platform
import sys

PINNED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def user_environment() -> None:
    """Re-run this process without the OpenBLAS pins (once; call it before importing NumPy)."""
    if any(name in os.environ for name in PINNED):
        env = {k: v for k, v in os.environ.items() if k not in PINNED}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


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
            f"PyTorch {info['torch']} [{info['torch_blas']}, {info['torch_threads']} threads]")
