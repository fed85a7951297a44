"""The engine's AVX2 code path, tested on a machine with AVX-512 as an AVX2 machine would run it.

numba compiles for Haswell with every AVX-512 feature turned off (``benchmarks/machine.py avx2``), so the
microkernel gets AVX2's block shape and its 16 vector registers: the tests of the engine, its kernels, its
choices, the layers, PyTorch parity and the gradient checks run again in that process. On a machine without AVX-512 the suite itself ran the AVX2 path.
"""

import os
import pathlib
import subprocess
import sys

import pytest

from rnnkit.engine import kernels

ROOT = pathlib.Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(kernels.ISA != "avx512", reason=f"this machine compiles for {kernels.ISA}: "
                                "AVX2 can be emulated only where AVX-512 runs natively")


def as_avx2(tmp_path, *command):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "RNNKIT_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "machine.py"), "avx2", *command], env=env,
                          cwd=ROOT, capture_output=True, text=True)


def test_the_avx2_path_passes_the_engines_tests(tmp_path):
    shape = as_avx2(tmp_path, sys.executable, "-c",
                    "from rnnkit.engine import kernels; print(kernels.ISA, kernels.ROWS, kernels.WIDTH)")
    assert shape.stdout.split() == ["avx2", "6", "16"], shape.stderr
    tests = as_avx2(tmp_path, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/test_persistent.py",
                    "tests/test_kernels.py", "tests/test_tuning.py", "tests/test_layers.py",
                    "tests/test_interop_pytorch.py", "tests/test_recurrent_gradcheck.py")
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and " skipped" not in tests.stdout
