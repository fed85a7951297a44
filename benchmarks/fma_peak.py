"""This CPU's float32 ceiling: fused multiply-adds and nothing else, on every core at once.

    python benchmarks/fma_peak.py

Each core runs independent chains of vector FMAs (16 chains of 16 lanes with AVX-512, 10 chains of 8 lanes
otherwise: enough in flight to hide the FMA's latency) that stay in registers, so no load, store or cache
miss slows them. No float32 product can run faster; ``speed.py``'s GEMM peak (a 4096^3 matmul) is what
OpenBLAS reaches of it. Prints GFLOP/s (2 per lane of each FMA) for one core and for all cores together.
"""

from __future__ import annotations

import os
import threading
import time

from machine import user_environment

user_environment()

import numpy as np  # noqa: E402
from llvmlite import ir  # noqa: E402
from numba import njit, types  # noqa: E402
from numba.core import cgutils  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

from rnnkit.engine.kernels import instruction_set  # noqa: E402  (what numba compiles for, emulated or not)

LANES, CHAINS = (16, 16) if instruction_set() == "avx512" else (8, 10)


@intrinsic
def _fma_chains(typingctx, count, a, b):
    """``count`` rounds of acc = acc * a + b on CHAINS vectors of LANES floats; returns a lane of their sum (so
    that the compiler keeps the work)."""

    def codegen(context, builder, signature, args):
        f32, i64 = ir.FloatType(), ir.IntType(64)
        vec = ir.VectorType(f32, LANES)
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3), f"llvm.fma.v{LANES}f32")
        undef, splat = ir.Constant(vec, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
        a_vec, b_vec = (builder.shuffle_vector(builder.insert_element(undef, v, ir.Constant(ir.IntType(32), 0)), undef,
                                               splat) for v in args[1:])
        entry = builder.basic_block
        loop, done = builder.append_basic_block("loop"), builder.append_basic_block("done")
        builder.branch(loop)
        builder.position_at_end(loop)
        k = builder.phi(i64)
        acc = [builder.phi(vec) for _ in range(CHAINS)]
        new = [builder.call(fma, [x, a_vec, b_vec]) for x in acc]
        k_next = builder.add(k, ir.Constant(i64, 1))
        k.add_incoming(ir.Constant(i64, 0), entry)
        k.add_incoming(k_next, builder.basic_block)
        for x, y in zip(acc, new):
            x.add_incoming(ir.Constant(vec, [ir.Constant(f32, 1.0)] * LANES), entry)
            x.add_incoming(y, builder.basic_block)
        builder.cbranch(builder.icmp_signed("<", k_next, args[0]), loop, done)
        builder.position_at_end(done)
        total = new[0]
        for y in new[1:]:
            total = builder.fadd(total, y)
        return builder.extract_element(total, ir.Constant(ir.IntType(32), 0))

    return types.float32(types.int64, types.float32, types.float32), codegen


@njit(nogil=True)
def _run(count, ab):
    return _fma_chains(count, ab[0], ab[1])  # a and b read at run time: nothing to fold at compile time


def gflops(cores: int, count: int = 20_000_000, repeats: int = 3) -> float:
    """Best GFLOP/s of ``cores`` threads each running ``count`` rounds at once."""
    ab = np.array([0.999, 0.001], np.float32)
    _run(10, ab)
    best = 0.0
    for _ in range(repeats):
        threads = [threading.Thread(target=_run, args=(count, ab)) for _ in range(cores)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        best = max(best, cores * count * CHAINS * LANES * 2 / (time.perf_counter() - start) / 1e9)
    return best


def main():
    cores = len(os.sched_getaffinity(0))
    print(f"float32 FMA peak ({CHAINS} chains of {LANES} lanes per core): one core {gflops(1):.0f} GFLOP/s, "
          f"{cores} cores {gflops(cores):.0f} GFLOP/s")


if __name__ == "__main__":
    main()
