"""The compiled (numba) kernels: element-wise parts of a step that NumPy would run as many small ufunc calls.

The end of the file holds the compiled part of the persistent LSTM loop (``persistent.py``).
All compiled code lives in this one file because numba's on-disk cache is invalidated by a change of the
file that holds a function, not of the functions it calls.

Scalar sigmoid and tanh, chosen by dtype when a kernel compiles:

    float64: σ(x) = 1 / (1 + exp(-x)) and tanh(x) with the C library's exp and tanh (within 1 ulp of NumPy).
    float32: tanh(x) = x P(x²) / Q(x²), Eigen's 13/6-degree rational fit on [-9, 9] (±1 beyond),
             σ(x) = (1 + tanh(x / 2)) / 2.

Why float32 does not call the C library: numba compiles ``expf`` and ``tanhf`` into one scalar call per
element (SIMD versions need Intel's SVML, which PyPI's llvmlite is built without), and a kernel so compiled
was slower than NumPy's SIMD ufuncs. The rational fit is only multiplications, additions and one division,
so the loops that use it compile to SIMD instructions. Its Horner steps are fused multiply-adds (``_fma``,
rounded once), measurably faster than a multiply and an add (benchmarks/README.md). Written out, not left to the compiler: with numba's ``fastmath={"contract"}`` LLVM chose which
products to fuse differently when it compiled a kernel afresh and when it had compiled the copy in numba's
cache, so a seeded run's first float32 results differed from its later ones (``tests/test_kernels.py``).
Measured against float64 over [-12, 12] (``tests/test_kernels.py``): tanh within 6 ulp, σ within an absolute
3e-7 (so its relative error grows as σ(x) goes to 0, where a gate contributes nothing anyway). NaN stays NaN:
a diverging run is still detected.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

_f32 = np.float32
_compiled = njit(cache=True, error_model="numpy", boundscheck=False)  # numpy errors: no checks, loops vectorise


def sigmoid(x):
    """σ(x) for a kernel; called from Python it computes the float64 form."""
    return 1.0 / (1.0 + math.exp(-x))


def tanh(x):
    """tanh(x) for a kernel; called from Python it computes the float64 form."""
    return math.tanh(x)


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's ``llvm.fma``, one instruction on CPUs with FMA)."""

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, b, c), codegen


def _tanh_float32(x):
    x = x if not x > _f32(9.0) else _f32(9.0)  # written so that NaN passes through
    x = x if not x < _f32(-9.0) else _f32(-9.0)
    x2 = x * x
    p = _fma(x2, _f32(-2.76076847742355e-16), _f32(2.00018790482477e-13))
    p = _fma(x2, p, _f32(-8.60467152213735e-11))
    p = _fma(x2, p, _f32(5.12229709037114e-08))
    p = _fma(x2, p, _f32(1.48572235717979e-05))
    p = _fma(x2, p, _f32(6.37261928875436e-04))
    p = _fma(x2, p, _f32(4.89352455891786e-03))
    q = _fma(x2, _f32(1.19825839466702e-06), _f32(1.18534705686654e-04))
    q = _fma(x2, q, _f32(2.26843463243900e-03))
    q = _fma(x2, q, _f32(4.89352518554385e-03))
    return x * p / q


@overload(tanh)
def _tanh(x):
    if x == types.float32:
        return _tanh_float32
    return lambda x: math.tanh(x)


@overload(sigmoid)
def _sigmoid(x):
    if x == types.float32:
        return lambda x: _f32(0.5) + _f32(0.5) * tanh(_f32(0.5) * x)
    return lambda x: 1.0 / (1.0 + math.exp(-x))


# ------------------------------------------------------------------------------------------------- LSTM
# Arrays are (B, 4H) for hw, z, gates and dz (blocks i, f, g, o) and (B, H) for the rest; a row kernel sees one
# sequence's 1-D rows, which keeps each inner loop simple enough for the compiler to vectorise. One array
# holds x @ W_x, then the gate outputs, then dz: each kernel reads an element's blocks before it writes them.


@_compiled
def lstm_forward_rows(hw, z, bias, c, c_new, h_new, tanh_c, p_i, p_f, p_o):
    """hw is h<t-1> @ W_h; z holds x<t> @ W_x on entry and the gate outputs i, f, g, o on return."""
    for b in range(z.shape[0]):
        zb, hb = z[b], hw[b]
        for j in range(zb.size):
            zb[j] = zb[j] + hb[j] + bias[j]
        lstm_gates_row(zb, c.shape[1], c[b], c_new[b], h_new[b], tanh_c[b], p_i, p_f, p_o)


@_compiled
def lstm_gates_row(z, gap, c, c_new, h_new, tanh_c, p_i, p_f, p_o):
    """One row of c.size units: z holds their z_i, z_f, z_g, z_o (blocks ``gap`` apart: z_f[j] is z[gap + j])
    on entry and i, f, g, o on return."""
    n = c.size
    # one view per gate block: indexing one array at j and gap + j, the compiler could not vectorise the loop
    z_i, z_f, z_g, z_o = z[:n], z[gap : gap + n], z[2 * gap : 2 * gap + n], z[3 * gap : 3 * gap + n]
    for j in range(n):
        i = sigmoid(z_i[j] + p_i[j] * c[j])
        f = sigmoid(z_f[j] + p_f[j] * c[j])
        g = tanh(z_g[j])
        z_i[j], z_f[j], z_g[j] = i, f, g
        c_new[j] = f * c[j] + i * g
    for j in range(n):  # a second loop: o needs c<t> (peephole)
        o = sigmoid(z_o[j] + p_o[j] * c_new[j])
        z_o[j] = o
        tanh_c[j] = tanh(c_new[j])
        h_new[j] = o * tanh_c[j]


@_compiled
def lstm_backward_rows(dh, dc, gates, tanh_c, c_prev, valid, dc_prev, p_i, p_f, p_o):
    """gates holds i, f, g, o on entry and dz<t> on return; dc_prev gets dc<t-1>. ``valid`` (B,) is 1 on
    real steps, 0 on padded ones."""
    for b in range(dh.shape[0]):
        lstm_backward_row(dh[b], dc[b], gates[b], dh.shape[1], tanh_c[b], c_prev[b], valid[b], dc_prev[b], p_i, p_f,
                          p_o)


@_compiled
def lstm_backward_row(dh, dc, gates, gap, tanh_c, c_prev, valid, dc_prev, p_i, p_f, p_o):
    """One row of dh.size units: gates holds their i, f, g, o (blocks ``gap`` apart) on entry and dz_i, dz_f,
    dz_g, dz_o on return."""
    n, one = dh.size, dh.dtype.type(1)  # a bare 1 would make float32 arithmetic float64
    # one view per gate block: indexing one array at j and gap + j, the compiler could not vectorise the loop
    i_, f_, g_, o_ = gates[:n], gates[gap : gap + n], gates[2 * gap : 2 * gap + n], gates[3 * gap : 3 * gap + n]
    for j in range(n):
        i, f, g, o = i_[j], f_[j], g_[j], o_[j]
        dh_j = dh[j] * valid
        dz_o = dh_j * tanh_c[j] * o * (one - o)
        dC = dc[j] + dh_j * o * (one - tanh_c[j] * tanh_c[j]) + dz_o * p_o[j]
        dC_valid = dC * valid
        dz_i = dC_valid * g * i * (one - i)
        dz_f = dC_valid * c_prev[j] * f * (one - f)
        i_[j], f_[j], g_[j], o_[j] = dz_i, dz_f, dC_valid * i * (one - g * g), dz_o
        dc_prev[j] = dC_valid * f + dz_i * p_i[j] + dz_f * p_f[j]


# -------------------------------------------------------------------------------------------------- GRU
# As for the LSTM: (B, 3H) for hw, z, gates and dz (blocks r, z, n), (B, H) for the rest, and one array holds
# x @ W_x, then the gate outputs, then dz.


@_compiled
def gru_forward_rows(hw, z, bias, b_hn, h, a, h_new):
    """reset_after. hw is h<t-1> @ W_h; z holds x<t> @ W_x on entry and r, z, n on return;
    a gets h<t-1> @ W_hn + b_hn."""
    for b in range(z.shape[0]):
        _gru_forward_row(hw[b], z[b], bias, b_hn, h[b], a[b], h_new[b])


@_compiled
def _gru_forward_row(hw, z, bias, b_hn, h, a, h_new):
    H = h.size
    for j in range(H):
        r = sigmoid(z[j] + hw[j] + bias[j])
        u = sigmoid(z[H + j] + hw[H + j] + bias[H + j])
        a[j] = hw[2 * H + j] + b_hn[j]
        n = tanh(z[2 * H + j] + bias[2 * H + j] + r * a[j])
        z[j], z[H + j], z[2 * H + j] = r, u, n
        h_new[j] = n + u * (h[j] - n)


@_compiled
def gru_gates_rows(hw, z, bias, h, a):
    """reset_before, first half. hw[:, :2H] is h<t-1> @ W_h[:, :2H]; z gets r and z in its first two blocks;
    a gets r * h<t-1>, the input of the candidate's recurrent product."""
    for b in range(z.shape[0]):
        _gru_gates_row(hw[b], z[b], bias, h[b], a[b])


@_compiled
def _gru_gates_row(hw, z, bias, h, a):
    H = h.size
    for j in range(H):
        r = sigmoid(z[j] + hw[j] + bias[j])
        z[j], z[H + j] = r, sigmoid(z[H + j] + hw[H + j] + bias[H + j])
        a[j] = r * h[j]


@_compiled
def gru_candidate_rows(hw, z, bias, h, h_new):
    """reset_before, second half. hw[:, 2H:] is a @ W_hn; z gets n in its last block."""
    for b in range(z.shape[0]):
        _gru_candidate_row(hw[b], z[b], bias, h[b], h_new[b])


@_compiled
def _gru_candidate_row(hw, z, bias, h, h_new):
    H = h.size
    for j in range(H):
        n = tanh(z[2 * H + j] + hw[2 * H + j] + bias[2 * H + j])
        z[2 * H + j] = n
        h_new[j] = n + z[H + j] * (h[j] - n)


@_compiled
def gru_backward_rows(dh, gates, a, h_prev, valid, dhw, direct):
    """reset_after. gates: r, z, n in, dz = (dz_r, dz_z, dz_n) out; a: h<t-1> @ W_hn + b_hn in, r * dz_n out;
    dhw = (dz_r, dz_z, r * dz_n), which meets W_h; direct = dh * z."""
    for b in range(dh.shape[0]):
        _gru_backward_row(dh[b], gates[b], a[b], h_prev[b], valid[b], dhw[b], direct[b])


@_compiled
def _gru_backward_row(dh, gates, a, h_prev, valid, dhw, direct):
    H, one = dh.size, dh.dtype.type(1)  # a bare 1 would make float32 arithmetic float64
    for j in range(H):
        r, z, n = gates[j], gates[H + j], gates[2 * H + j]
        dh_j = dh[j] * valid
        dz_n = dh_j * (one - z) * (one - n * n)
        dz_z = dh_j * (h_prev[j] - n) * z * (one - z)
        dz_r = dz_n * a[j] * r * (one - r)
        gates[j], gates[H + j], gates[2 * H + j] = dz_r, dz_z, dz_n
        a[j] = r * dz_n
        dhw[j], dhw[H + j], dhw[2 * H + j] = dz_r, dz_z, a[j]
        direct[j] = dh_j * z


@_compiled
def gru_update_backward_rows(dh, gates, h_prev, valid, direct):
    """reset_before, first half: z, n in the gates' last two blocks become dz_z, dz_n; direct = dh * z
    (dz_r needs dz_n @ W_hn.T first)."""
    for b in range(dh.shape[0]):
        _gru_update_backward_row(dh[b], gates[b], h_prev[b], valid[b], direct[b])


@_compiled
def _gru_update_backward_row(dh, gates, h_prev, valid, direct):
    H, one = dh.size, dh.dtype.type(1)  # a bare 1 would make float32 arithmetic float64
    for j in range(H):
        z, n = gates[H + j], gates[2 * H + j]
        dh_j = dh[j] * valid
        gates[H + j] = dh_j * (h_prev[j] - n) * z * (one - z)
        gates[2 * H + j] = dh_j * (one - z) * (one - n * n)
        direct[j] = dh_j * z


@_compiled
def gru_reset_backward_rows(d_rh, gates, h_prev, valid, direct):
    """reset_before, second half: from d(r h<t-1>) = dz_n @ W_hn.T, r in the first block becomes dz_r, and
    direct += d(r h<t-1>) * r."""
    for b in range(d_rh.shape[0]):
        _gru_reset_backward_row(d_rh[b], gates[b], h_prev[b], valid[b], direct[b])


@_compiled
def _gru_reset_backward_row(d_rh, gates, h_prev, valid, direct):
    one = d_rh.dtype.type(1)  # a bare 1 would make float32 arithmetic float64
    for j in range(d_rh.size):
        r = gates[j]
        gates[j] = d_rh[j] * h_prev[j] * r * (one - r) * valid
        direct[j] += d_rh[j] * r


# ------------------------------------------------------------------------------- the persistent LSTM loop
# ``persistent.py`` explains the design and calls these; they live here, with the row kernels they call, so
# that numba's on-disk cache holds them too. ``_block`` and the barrier's atomics are LLVM IR that numba
# inlines; addresses are plain integers (``array.ctypes.data``).

def instruction_set() -> str | None:
    """The vector instructions numba compiles these kernels with: "avx512", "avx2" (AVX2 with FMA) or None.
    Read as numba reads them: ``NUMBA_CPU_FEATURES`` when set, else this CPU's (``NUMBA_CPU_NAME`` alone does
    not change them)."""
    import llvmlite.binding as llvm
    from numba.core import config

    features = config.CPU_FEATURES if config.CPU_FEATURES is not None else llvm.get_host_cpu_features().flatten()
    features = set(features.split(","))
    if "+avx512f" in features:
        return "avx512"
    return "avx2" if {"+avx2", "+fma"} <= features else None


# The microkernel's block of C: ROWS x WIDTH floats in 2 ROWS vector accumulators of LANES floats, as many as
# fit in the vector registers beside the two vectors of a panel row and one broadcast element of A.
# AVX-512 has 32 registers of 16 floats: 8 x 32, 16 accumulators. AVX2 has 16 of 8: 6 x 16, 12 accumulators
# (the shape of BLIS's Haswell sgemm kernel). 8 x 32 compiled for AVX2 needs 32 registers and spilled on every
# k, slower than the layer's loop (benchmarks/README.md). Elsewhere (no tuned shape)
# the engine runs only when forced, with the AVX2 shape.
ISA = instruction_set()
ROWS, LANES = (8, 16) if ISA == "avx512" else (6, 8)
WIDTH = 2 * LANES  # columns of a block, and of a packed panel
COLUMNS = 32  # units go to the workers in chunks of 32: WIDTH divides it
STRIPS = COLUMNS // WIDTH  # panels per chunk
UNROLL = 4  # steps of k per pass of the block's loop: its rows' addresses are computed once a pass (_emit_block)
AHEAD = 32  # rows of a panel ahead that the first block of a slice asks for (_block's ``fetch``)
DEPTH = 256  # rows of a panel a product reads at a time (16 KB with AVX2, 32 with AVX-512): kept in L1 (_product)


def _emit_block(builder, rows, fetching, a_int, lda, p_int, x_int, ldx, bias_int, c_int, ldc, k_end):
    """The LLVM IR of C[rows x WIDTH] = X + bias + A[rows x K] @ P[K x WIDTH] (see ``_block``), from the
    builder's current block; it leaves the builder at the end of the product. The loop takes UNROLL steps of k
    a pass: taking one, LLVM computed the ROWS addresses in A anew at every step, integer work that on Intel
    cores shares the ports of the FMAs. ``fetching`` (a Python bool): also ask for the panel's rows AHEAD rows
    on."""
    f32, i32, i64 = ir.FloatType(), ir.IntType(32), ir.IntType(64)
    vec = ir.VectorType(f32, LANES)
    A, P, X, bias, C = (builder.inttoptr(v, f32.as_pointer()) for v in (a_int, p_int, x_int, bias_int, c_int))
    fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3), f"llvm.fma.v{LANES}f32")
    undef, splat = ir.Constant(vec, ir.Undefined), ir.Constant(ir.VectorType(i32, LANES), [0] * LANES)

    def vector_at(base, stride, r, v):  # the LANES floats at base + r * stride + LANES v
        at = builder.gep(base, [builder.add(builder.mul(stride, ir.Constant(i64, r)), ir.Constant(i64, LANES * v))])
        return builder.bitcast(at, vec.as_pointer())

    byte_pointer = ir.IntType(8).as_pointer()
    prefetch = ir.FunctionType(ir.VoidType(), [byte_pointer] + [i32] * 3)
    prefetch = cgutils.get_or_insert_function(builder.module, prefetch, "llvm.prefetch.p0")
    for r in range(rows):  # X is read after the products: ask for its cache lines now
        for v in range(0, 2, 64 // (4 * LANES)):  # one per 64-byte line
            line = builder.bitcast(vector_at(X, ldx, r, v), byte_pointer)
            builder.call(prefetch, [line, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
    rows_of_a = [builder.gep(A, [builder.mul(lda, ir.Constant(i64, r))]) for r in range(rows)]

    def step(k, acc):  # acc + A[:, k] P[k, :]
        panel = [builder.load(vector_at(P, builder.mul(k, ir.Constant(i64, WIDTH)), 1, v), align=4) for v in range(2)]
        if fetching:
            row = builder.mul(builder.add(k, ir.Constant(i64, AHEAD)), ir.Constant(i64, WIDTH))
            for v in range(0, 2, 64 // (4 * LANES)):
                ahead = builder.bitcast(vector_at(P, row, 1, v), byte_pointer)
                builder.call(prefetch, [ahead] + [ir.Constant(i32, n) for n in (0, 3, 1)])
        new = []
        for r in range(rows):
            a = builder.load(builder.gep(rows_of_a[r], [k]))
            a = builder.shuffle_vector(builder.insert_element(undef, a, ir.Constant(i32, 0)), undef, splat)
            new.append([builder.call(fma, [a, panel[v], acc[r][v]]) for v in range(2)])
        return new

    def loop(name, k_start, acc_start, stride, k_stop):  # (k, acc) after the steps from k_start while k < k_stop
        before = builder.basic_block
        body, after = builder.append_basic_block(f"{name}.body"), builder.append_basic_block(f"{name}.after")
        builder.cbranch(builder.icmp_signed("<", k_start, k_stop), body, after)
        builder.position_at_end(body)
        k = builder.phi(i64)
        acc = [[builder.phi(vec) for _ in range(2)] for _ in range(rows)]
        new = acc
        for u in range(stride):
            new = step(builder.add(k, ir.Constant(i64, u)), new)
        k_next = builder.add(k, ir.Constant(i64, stride))
        builder.cbranch(builder.icmp_signed("<", k_next, k_stop), body, after)
        end = builder.basic_block
        builder.position_at_end(after)
        k_out = builder.phi(i64)
        for phi in (k, k_out):
            phi.add_incoming(k_start, before)
            phi.add_incoming(k_next, end)
        out = [[builder.phi(vec) for _ in range(2)] for _ in range(rows)]
        for r in range(rows):
            for v in range(2):
                for phi in (acc[r][v], out[r][v]):
                    phi.add_incoming(acc_start[r][v], before)
                    phi.add_incoming(new[r][v], end)
        return k_out, out

    zero = ir.Constant(vec, [ir.Constant(f32, 0.0)] * LANES)
    whole = builder.sub(k_end, builder.srem(k_end, ir.Constant(i64, UNROLL)))  # steps in whole passes of UNROLL
    k, acc = loop("unrolled", ir.Constant(i64, 0), [[zero, zero] for _ in range(rows)], UNROLL, whole)
    _, new = loop("rest", k, acc, 1, k_end)
    b = [builder.load(vector_at(bias, ir.Constant(i64, 0), 0, v), align=4) for v in range(2)]
    for r in range(rows):
        for v in range(2):
            start = builder.fadd(builder.load(vector_at(X, ldx, r, v), align=4), b[v])
            builder.store(builder.fadd(start, new[r][v]), vector_at(C, ldc, r, v), align=4)


def _emit_switch(builder, value, cases, emit):
    """The IR that runs ``emit(case)`` for the one of ``cases`` (ints known when compiling) that ``value`` (an
    int64 known when running) holds, and nothing for any other value; the builder goes on after it."""
    after = builder.append_basic_block("switch.done")
    switch = builder.switch(value, after)
    for case in cases:
        block = builder.append_basic_block(f"case.{case}")
        switch.add_case(ir.Constant(ir.IntType(64), case), block)
        builder.position_at_end(block)
        emit(case)
        builder.branch(after)
    builder.position_at_end(after)


@intrinsic
def _block(typingctx, a_addr, lda, p_addr, x_addr, ldx, bias_addr, c_addr, ldc, depth, fetch):
    """C[ROWS x WIDTH] = X[ROWS x WIDTH] + bias[WIDTH] + A[ROWS x K] @ P[K x WIDTH]: float32 at these addresses,
    rows ldc, ldx and lda apart (ldx 0 repeats one row of X), P a packed panel (rows WIDTH apart), K = depth >= 1.
    2 ROWS accumulators of LANES floats sum the products in the order k = 0, 1, ..., K-1 (fma); then
    C = (X + bias) + sum. X's cache lines are fetched as the block starts (it streams from memory; loaded
    before the loop it stalled every block). With ``fetch`` 1 (the first block to read a slice of a panel,
    which the next blocks then find in L1), the loop also asks for the panel's rows AHEAD rows on: a W_h
    larger than L2 (4 MB at H 512) came from memory later than the FMAs needed it."""

    def codegen(context, builder, signature, args):
        *operands, fetch = args
        _emit_switch(builder, fetch, (0, 1), lambda fetching: _emit_block(builder, ROWS, fetching, *operands))
        return context.get_dummy_value()

    return types.void(*[types.intp] * 10), codegen


@intrinsic
def _block_rows(typingctx, a_addr, lda, p_addr, x_addr, ldx, bias_addr, c_addr, ldc, depth, rows):
    """``_block`` for 1 <= rows < ROWS rows, the rows past a share's last full block: one product compiled for
    each count, so that no row is computed in vain and none is copied to a padded block."""

    def codegen(context, builder, signature, args):
        *operands, count = args
        _emit_switch(builder, count, range(1, ROWS), lambda rows: _emit_block(builder, rows, False, *operands))
        return context.get_dummy_value()

    return types.void(*[types.intp] * 10), codegen


@intrinsic
def _arrive(typingctx, addr):
    """Atomically add 1 to the int64 at ``addr``."""

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        builder.atomic_rmw("add", builder.inttoptr(args[0], i64.as_pointer()), ir.Constant(i64, 1), "seq_cst")
        return context.get_dummy_value()

    return types.void(types.intp), codegen


@intrinsic
def _arrived(typingctx, addr):
    """The int64 at ``addr``, read atomically."""

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        return builder.load_atomic(builder.inttoptr(args[0], i64.as_pointer()), "acquire", 8)

    return types.int64(types.intp), codegen


@intrinsic
def _yield_core(typingctx):
    """sched_yield(): let another thread that is ready run on this core."""

    def codegen(context, builder, signature, args):
        function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        builder.call(function, [])
        return context.get_dummy_value()

    return types.void(), codegen


# No reference counting (``_nrt=False``): the workers slice rows of the same arrays, and counting each view
# in and out is an atomic add on the parent's count, a cache line both cores wrote in turn: two workers were
# slower than one until the counts went (benchmarks/README.md). Nothing here allocates, so nothing needs them.
WORKER_OPTIONS = dict(nogil=True, error_model="numpy", boundscheck=False, _nrt=False)
_worker = njit(cache=True, **WORKER_OPTIONS)


@_worker
def _wait(counter, target):
    """The barrier: count this worker in, then wait until ``target`` arrivals (spin, then yield the core)."""
    _arrive(counter.ctypes.data)
    spins = 0
    while _arrived(counter.ctypes.data) < target:
        spins += 1
        if spins > 2000:
            _yield_core()


@_worker
def pack_rows_transposed(W, panels):
    """panels[s, q, j] = W[WIDTH s + j, q]: the panels of W.T that give strip s of dz @ W.T."""
    for s in range(panels.shape[0]):
        for j in range(WIDTH):
            row = W[WIDTH * s + j]
            for q in range(panels.shape[1]):
                panels[s, q, j] = row[q]


@_worker
def _product(A, X, bias, panels, lo, hi, C, offset, width, zeros):
    """C[:, j : j+32] = X[:, j : j+32] + bias[j : j+32] + A @ P for every block g and chunk lo <= c < hi, where
    j = offset + g * width + 32 (c - lo) and P is panels[g, STRIPS c : STRIPS (c + 1)] side by side; a one-row
    X stands for every row (X may be C); ``zeros`` is at least WIDTH zeros. Rows of A may be any distance apart
    (the layer's batch-first input, read in place), their elements next to each other. Rows past the last full
    block of ROWS go through ``_block_rows``. The depth K goes in slices of DEPTH, each slice's panel read by
    every block of rows while it is in L1; the first slice starts from X + bias, the next from C."""
    B, K = A.shape
    lda, ldc, ldx = A.strides[0] // A.itemsize, C.shape[1], X.shape[1] if X.shape[0] > 1 else 0
    full = B - B % ROWS
    for g in range(panels.shape[0]):
        for s in range(STRIPS * lo, STRIPS * hi):
            j, P = offset + g * width + WIDTH * (s - STRIPS * lo), panels[g, s].ctypes.data
            for k0 in range(0, K, DEPTH):
                depth, p = min(DEPTH, K - k0), P + 4 * WIDTH * k0
                for r0 in range(0, B, ROWS):
                    if k0 == 0:
                        start, ld, b = X[r0 if ldx else 0 :, j:].ctypes.data, ldx, bias[j:].ctypes.data
                    else:
                        start, ld, b = C[r0:, j:].ctypes.data, ldc, zeros.ctypes.data
                    a, c = A[r0:, k0:].ctypes.data, C[r0:, j:].ctypes.data
                    if r0 < full:
                        _block(a, lda, p, start, ld, b, c, ldc, depth, r0 == 0)
                    else:
                        _block_rows(a, lda, p, start, ld, b, c, ldc, depth, B - full)


@_worker
def persistent_lstm_forward(r0, r1, lo, hi, sharing, panels_x, panels_h, x, gates, bias, zero_row, zero_bias, hs, cs,
                            tanh_c, keep, valid, p_i, p_f, p_o, counter):
    """One worker's share of every step of ``layers.time_loop.forward_direction``'s loop: rows [r0, r1) of
    the batch and units [a, e) = [32 lo, 32 hi). Its columns of z<t> = b + x<t> @ W_x + h<t-1> @ W_h (a to e
    of each gate block), then ``lstm_gates_row`` on them, as the loop runs it on a whole row. gates[t]
    (gates[0] unless ``keep``) gets z<t>, then the gate outputs. b + x<t+1> @ W_x, which needs no h, is done
    before the barrier of step t, where the ``sharing`` workers that share each row's units meet."""
    a, e = COLUMNS * lo, COLUMNS * hi
    H = hs.shape[2]
    p_i, p_f, p_o = p_i[a:e], p_f[a:e], p_o[a:e]
    _product(x[0, r0:r1], zero_row, bias, panels_x, lo, hi, gates[0, r0:r1], a, H, zero_bias)
    for t in range(x.shape[0]):
        z = gates[t if keep else 0, r0:r1]
        _product(hs[t, r0:r1], z, zero_bias, panels_h, lo, hi, z, a, H, zero_bias)
        for b in range(r0, r1):
            lstm_gates_row(z[b - r0, a:], H, cs[t, b, a:e], cs[t + 1, b, a:e], hs[t + 1, b, a:e],
                           tanh_c[t if keep else 0, b, a:e], p_i, p_f, p_o)
            if valid[t, b] == 0:  # a padded step carries the state unchanged
                for j in range(a, e):
                    hs[t + 1, b, j], cs[t + 1, b, j] = hs[t, b, j], cs[t, b, j]
        if t + 1 < x.shape[0]:  # only this worker reads its part of z: no need to wait for the others
            _product(x[t + 1, r0:r1], zero_row, bias, panels_x, lo, hi, gates[t + 1 if keep else 0, r0:r1], a, H,
                     zero_bias)
        if sharing > 1:
            _wait(counter, sharing * (t + 1))


@_worker
def persistent_lstm_backward(r0, r1, lo, hi, sharing, panels, dz, dy, tanh_c, c_prev, valid, p_i, p_f, p_o, d,
                             zero_row, zero_bias, panels_x, dx, counter):
    """One worker's share (rows [r0, r1), units [32 lo, 32 hi)) of every step of
    ``layers.time_loop.backward_direction``'s loop, from T-1 down to 0. ``d`` (2, 2, B, H) holds (dh, dc)
    twice, the gradients read and those written in turn; d[1] holds the gradient of the final state on entry,
    and d[(T-1) % 2] that of the initial state on return. ``zero_row`` and ``zero_bias``, zeros at least H
    wide (and F), start dz<t> @ W_h.T (and dz<t> @ W_x.T) from nothing. Workers that share units meet before
    the product, which reads dz<t> of every unit. Unless it is empty, dx[t] (B, F) gets dz<t> @ W_x.T for the
    worker's rows (``panels_x`` as ``panels`` for W_x; only where workers share rows, not units)."""
    a, e = COLUMNS * lo, COLUMNS * hi
    H = dy.shape[2]
    p_i, p_f, p_o = p_i[a:e], p_f[a:e], p_o[a:e]
    T = dy.shape[0]
    zero = np.intp(0)  # typed int64: a literal 0 as an argument makes numba compile _product again for it
    for t in range(T - 1, -1, -1):
        # indexed, not unpacked: unpacking gives views of unknown layout, which kept the element-wise loop
        # from vectorising
        dh, dc = d[(T - t) % 2, 0], d[(T - t) % 2, 1]
        dh_prev, dc_prev = d[(T - 1 - t) % 2, 0], d[(T - 1 - t) % 2, 1]
        for b in range(r0, r1):
            for j in range(a, e):  # a loop, not a slice's +=, which would copy dy's row first
                dh[b, j] += dy[t, b, j]
            lstm_backward_row(dh[b, a:e], dc[b, a:e], dz[t, b, a:], H, tanh_c[t, b, a:e], c_prev[t, b, a:e],
                              valid[t, b], dc_prev[b, a:e], p_i, p_f, p_o)
        if sharing > 1:
            _wait(counter, sharing * (T - t))  # dz<t> of every unit is written
        _product(dz[t, r0:r1], zero_row, zero_bias, panels, lo, hi, dh_prev[r0:r1], a, zero, zero_bias)
        if dx.shape[0]:
            _product(dz[t, r0:r1], zero_row, zero_bias, panels_x, zero, panels_x.shape[1] // STRIPS, dx[t, r0:r1],
                     zero, zero, zero_bias)
        for b in range(r0, r1):
            if valid[t, b] == 0:  # a padded step passed its state through unchanged, and so its gradient
                for j in range(a, e):
                    dh_prev[b, j] += dh[b, j]
                    dc_prev[b, j] += dc[b, j]
