"""Numba kernels of matrix completion (CPU engine ``numba``).

Same signatures as :mod:`lrsolve._kernels._reference_completion` (see there).
Rows are split between threads (``prange``); each row's entries are
``ptr[i]:ptr[i+1]`` of the compressed structure built once by
:func:`mc_build_index` (a counting sort, ``O(nnz + m + n)``).

* ``mc_als_exact`` fuses the per-row assembly of the ``k x k`` normal matrix
  (lower triangle, ``n_i k^2 / 2`` multiply-adds, two entries per pass) with its
  Cholesky solve (``k^3 / 6``): no ``(m, k, k)`` stack is ever stored.  Four rows
  are factored and solved side by side in one loop nest (four independent
  dependency chains, a quarter of the loop and branch overhead), which cuts the
  fixed per-row cost of a sweep by a third to a half (docs/benchmarks/completion.md).
  Rows with at most ``k // 2`` entries (and ``lam > 0``) are solved through their
  ``n_i x n_i`` dual system instead (``n_i^2 k / 2 + n_i^3 / 6`` multiply-adds), and so
  are rows with fewer than ``k`` entries and ``lam = 0``, whose ``k x k`` system is
  singular (the dual gives its minimum-norm solution).
* ``mc_als_cg`` runs warm-started Jacobi-preconditioned CG on each row without
  the normal matrix: one step costs ``2 n_i k`` multiply-adds (the robust
  alternating minimization of Gu, Song, Yin and Zhang: ``O(|Omega| k)`` per sweep).
  The rows of a chunk run inline in one call (no per-row call or array views).
  Rows with at most ``min(k - 1, nsteps + 3)`` entries (and ``lam > 0``) take the
  exact dual solve of ``mc_als_exact`` instead (``_dual_row``, shared by both kernels):
  cheaper than their CG steps, and exact.  So do rows with fewer than ``k`` entries and
  ``lam = 0`` (the minimum-norm solution: CG from the previous factor would keep, and its
  Jacobi steps add to, the null-space part, and the factors drift without bound).
* ``mc_sq_residual`` sums the squared training residuals in one pass (partial sums
  per task of rows, added in a fixed order): the training RMSE of a sweep without an
  ``|Omega|``-long residual vector and without a BLAS call.

The row updates and the residual pass prefetch the sampled factor rows 32 entries
ahead (``_prefetch_row``, ``llvm.prefetch``): every observed entry reads a random
factor row, and without the hint a row with a few entries waits for its cache misses
before its arithmetic can start (1.4-1.6x per sweep on the 2-core test machine).

Each kernel is compiled serial and threaded (:func:`~._numba_util.dual`); the
number of entries picks one (the first 1-D argument is ``idx`` or ``vals``).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._numba_util import PARALLEL_MIN, jit, renamed
from ._reference_completion import cg_exact_max


def _pair(fn):
    serial = jit(fn)
    par = jit(renamed(fn, "_parallel"), parallel=True)
    return serial, par


def _pick(pair, nnz):
    return pair[1] if nnz >= PARALLEL_MIN else pair[0]


def _prefetch_name():
    """The mangled name of ``llvm.prefetch`` for this LLVM: opaque pointers (``p0``) from
    LLVM 17 on, typed ``i8*`` (``p0i8``) before (numba >= 0.59 ships LLVM 14 or newer)."""
    from llvmlite import binding

    return "llvm.prefetch.p0" if binding.llvm_version_info[0] >= 17 else "llvm.prefetch.p0i8"


_PREFETCH_NAME = _prefetch_name()


@intrinsic
def _prefetch_row(typingctx, arr, i):
    """Ask the CPU to fetch row ``i`` of the 2-D C-contiguous ``arr`` into the caches.

    ``llvm.prefetch`` of the row's first and last element, i.e. of its first and last
    cache line (a factor row of k = 10 doubles spans two, sometimes three; at large k
    the lines in between are left to the hardware prefetcher): a hint, no load, no
    fault.  The row updates prefetch the sampled factor rows of the entries a few
    entries ahead, so that their misses overlap with the arithmetic of the rows in
    between; at a few entries per row each
    row otherwise waits for a round trip to memory before its factorisation can start.
    (The kernels prefetch a fixed number of *entries* ahead, whatever the row lengths.)
    """
    if not (isinstance(arr, types.Array) and arr.ndim == 2 and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        row = context.cast(builder, args[1], sig.args[1], types.intp)
        zero = context.get_constant(types.intp, 0)
        ncol = builder.extract_value(ary.shape, 1)
        last = builder.sub(ncol, context.get_constant(types.intp, 1))
        i8p = ir.PointerType(ir.IntType(8))
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH_NAME)
        with builder.if_then(builder.icmp_signed(">", ncol, zero), likely=True):
            for col in (zero, last):
                ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [row, col],
                                               wraparound=False)
                # read, high temporal locality, data cache
                builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0),
                                  ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(arr, i), codegen


#: How many entries ahead the row updates prefetch the sampled factor rows
#: (``_prefetch_row``; 0: no prefetching).  Read at each call.
_AHEAD_EXACT = 32
_AHEAD_CG = 32
_AHEAD_RESIDUAL = 32

#: Rows per parallel task of the row-update kernels (work arrays are allocated once per task;
#: a multiple of 4, the rows ``mc_als_exact`` factors together).
_ROWS = 64


# ----------------------------------------------------------------------------- sampled products
def _sampled_dot(ptr, idx, U, V, out):
    nr = ptr.shape[0] - 1
    k = U.shape[1]
    base = ptr[0]
    for iu in prange(nr):
        i = np.int64(iu)
        for e in range(ptr[i], ptr[i + 1]):
            j = idx[e]
            s = 0.0
            for a in range(k):
                s += U[i, a] * V[j, a]
            out[e - base] = s


_SAMPLED = _pair(_sampled_dot)


def mc_sampled_dot(ptr, idx, U, V, out):
    _pick(_SAMPLED, idx.shape[0])(ptr, idx, np.ascontiguousarray(U), np.ascontiguousarray(V), out)
    return out


#: Rows per parallel task of the residual reduction: one partial sum per task, added in a
#: fixed order afterwards, so the total does not depend on the number of threads.
_RES_ROWS = 1024


def _sq_residual(ptr, idx, vals, U, V, offset, rb, cb, part, ahead):
    nr = ptr.shape[0] - 1
    k = U.shape[1]
    nb = rb.shape[0]
    e_end = ptr[nr]
    for cu in prange(part.shape[0]):
        c = np.int64(cu)
        r0 = c * _RES_ROWS
        r1 = min(r0 + _RES_ROWS, nr)
        acc = 0.0
        pe = ptr[r0]  # the next entry whose factor row is prefetched
        for i in range(r0, r1):
            stop = min(ptr[i + 1] + ahead, e_end)
            while pe < stop:
                _prefetch_row(V, idx[pe])
                pe += 1
            for e in range(ptr[i], ptr[i + 1]):
                j = idx[e]
                s = 0.0
                for a in range(k):
                    s += U[i, a] * V[j, a]
                if nb > 0:
                    s += rb[i]
                    s += cb[j]
                s += offset
                d = vals[e] - s
                acc += d * d
        part[c] = acc


_SQ_RESIDUAL = _pair(_sq_residual)


def mc_sq_residual(ptr, idx, vals, U, V, offset=0.0, row_bias=None, col_bias=None):
    """Sum of squared residuals in one pass over the entries (float64 sums, no residual array).

    The training RMSE of a sweep without the ``|Omega|``-long residual vector, its second
    pass, and without a BLAS dot product: OpenBLAS's worker threads keep spinning for a
    while after a threaded call, and on a machine with as many cores as threads they took
    the cores of the next Numba row update (45 ms per sweep at 10^6 entries).
    """
    U = np.ascontiguousarray(U)
    V = np.ascontiguousarray(V)
    if row_bias is None:
        rb = cb = np.empty(0, dtype=U.dtype)
    else:
        rb = np.ascontiguousarray(row_bias)
        cb = np.ascontiguousarray(col_bias)
    nr = ptr.shape[0] - 1
    part = np.zeros(max((nr + _RES_ROWS - 1) // _RES_ROWS, 1), dtype=np.float64)
    _pick(_SQ_RESIDUAL, idx.shape[0])(ptr, idx, vals, U, V, float(offset), rb, cb, part,
                                      int(_AHEAD_RESIDUAL))
    return float(part.sum())


# ----------------------------------------------------------------------------- normal equations
def _normal_eq(ptr, idx, vals, F, lam, A, b):
    nr = ptr.shape[0] - 1
    k = F.shape[1]
    for iu in prange(nr):
        i = np.int64(iu)
        Ai = A[i]
        bi = b[i]
        Ai[:, :] = 0
        bi[:] = 0
        for e in range(ptr[i], ptr[i + 1]):
            f = F[idx[e]]
            y = vals[e]
            for a in range(k):
                fa = f[a]
                bi[a] += y * fa
                for c in range(a + 1):
                    Ai[a, c] += fa * f[c]
        for a in range(k):
            Ai[a, a] += lam[i]
            for c in range(a):
                Ai[c, a] = Ai[a, c]


_NORMAL = _pair(_normal_eq)


def mc_normal_eq(ptr, idx, vals, F, lam, A, b):
    _pick(_NORMAL, idx.shape[0])(ptr, idx, vals, np.ascontiguousarray(F), lam, A, b)
    return A, b


@jit(inline=True)
def _pivot_rel(a):
    """Pivots below this fraction of the largest diagonal entry are raised to it (a singular
    row system, e.g. ``lam = 0`` and fewer entries than k): 1e-12 in float64, 1e-5 in float32,
    where 1e-12 lies below the rounding of the factorisation and the clamp would not act."""
    return 1e-12 if a.itemsize >= 8 else 1e-5


@jit(inline=True)
def _pivot_abs(a):
    return 1e-300 if a.itemsize >= 8 else 1e-30


@jit(inline=True)
def _dual_row(G, n, vals, e0, li, K, w, x, out, i):
    """Exact solve of a short row through its ``n x n`` dual system (``li > 0``).

    ``G[:n]`` holds the row's sampled factor rows and ``vals[e0:e0 + n]`` its values:
    ``out[i] = G^T (G G^T + li I)^{-1} y``, which equals ``(G^T G + li I)^{-1} G^T y``,
    for ``n^2 k / 2 + n^3 / 6`` multiply-adds instead of the ``k x k`` system's
    ``n k^2 / 2 + k^3 / 6`` or ``2 n k`` per CG step.  ``K`` (at least ``n x n``),
    ``w`` (at least ``n``) and ``x`` (``k``) are work arrays.
    """
    k = G.shape[1]
    # K = G G^T + li I (lower triangle, one length-k dot product per pair (t, u): loops of
    # fixed length, ~10% faster than updating every pair one factor column at a time),
    # Cholesky, w = K^{-1} y, x = G^T w
    for t in range(n):
        for u in range(t + 1):
            s = 0.0
            for a in range(k):
                s += G[t, a] * G[u, a]
            K[t, u] = s
        K[t, t] += li
    tiny = 0.0
    for t in range(n):
        tiny = max(tiny, abs(K[t, t]))
    tiny = tiny * _pivot_rel(G) + _pivot_abs(G)
    for a in range(n):
        sa = K[a, a]
        for c in range(a):
            sa -= K[a, c] * K[a, c]
        da = 1.0 / np.sqrt(tiny if sa <= tiny else sa)
        K[a, a] = da
        for r in range(a + 1, n):
            tr = K[r, a]
            for c in range(a):
                tr -= K[r, c] * K[a, c]
            K[r, a] = tr * da
    for a in range(n):
        ta = vals[e0 + a]
        for c in range(a):
            ta -= K[a, c] * w[c]
        w[a] = ta * K[a, a]
    for a in range(n - 1, -1, -1):
        ta = w[a]
        for c in range(a + 1, n):
            ta -= K[c, a] * w[c]
        w[a] = ta * K[a, a]
    w0 = w[0]
    for a in range(k):
        x[a] = w0 * G[0, a]
    for t in range(1, n):
        wt = w[t]
        for a in range(k):
            x[a] += wt * G[t, a]
    for a in range(k):
        out[i, a] = x[a]


#: The same, as a called function: inlined into the CG rows' loop it slows their CG steps
#: on long rows by 5-10% (the loop's code is laid out differently).
_dual_row_call = jit(renamed(_dual_row.py_func, "_call"))


def _exact(ptr, idx, vals, F, lam, out, dual_max, ahead):
    nr = ptr.shape[0] - 1
    nchunk = (nr + _ROWS - 1) // _ROWS
    for cu in prange(nchunk):
        c0 = np.int64(cu) * _ROWS
        _exact_rows(ptr, idx, vals, F, lam, out, c0, min(c0 + _ROWS, nr), dual_max, ahead)


@jit
def _exact_rows(ptr, idx, vals, F, lam, out, c0, c1, dual_max, ahead):
    """Exact ALS rows ``c0 .. c1 - 1``: short rows by their dual system, the others four at a time.

    A row with ``0 < n_i <= dual_max`` entries (``dual_max < k``) and ``lam > 0`` is
    solved through its ``n_i x n_i`` dual system,
    ``x = G^T (G G^T + lam I)^{-1} y`` (``G``: the row's ``n_i`` sampled factor rows), which
    equals ``(G^T G + lam I)^{-1} G^T y``: ``n_i^2 k / 2 + n_i^3 / 6`` multiply-adds instead of
    ``n_i k^2 / 2 + k^3 / 6`` -- at a few entries per row the ``k x k`` factorisation is
    most of a row's cost.

    The other rows are collected four at a time: a row's ``k x k`` factorisation is a chain
    of dependent operations (each pivot waits for the previous column) in loops of 0..k-1
    iterations: done one row at a time it is bound by latency and branch overhead, not
    arithmetic.  Rows ``P[0..3]`` are assembled into ``L[0..3]`` (lower triangles; the
    first entry initialises the sums, the others are added two per pass) and then
    factored and solved in one loop nest with four independent accumulators.
    Unused slots of the last block and rows without entries and ``lam == 0`` get
    the identity and ``b = 0``, hence the solution 0.  (One call per chunk of
    rows: the serial and threaded kernels share this compiled body, and the call
    costs a few ns per row.)
    """
    k = F.shape[1]
    L = np.empty((4, k, k), dtype=F.dtype)
    X = np.empty((4, k), dtype=F.dtype)
    T = np.empty(4, dtype=F.dtype)
    K = np.empty((k, k), dtype=F.dtype)  # the dual system of a short row
    G = np.empty((k, k), dtype=F.dtype)  # its sampled factor rows
    w = np.empty(k, dtype=F.dtype)
    xr = np.empty(k, dtype=F.dtype)  # its solution
    P = np.empty(4, dtype=np.int64)
    e_end = ptr[ptr.shape[0] - 1]
    pe = ptr[c0]  # the next entry whose factor row is prefetched
    i = c0
    while True:
        # collect up to four rows for the block solve; short rows are solved on the way
        npend = 0
        while npend < 4 and i < c1:
            stop = min(ptr[i + 1] + ahead, e_end)
            while pe < stop:
                _prefetch_row(F, idx[pe])
                pe += 1
            e0 = ptr[i]
            n = ptr[i + 1] - e0
            li = lam[i]
            if n > 0 and ((n <= dual_max and li > 0) or (li == 0 and n < k)):
                # (lam = 0 and fewer entries than k: a singular system, of which the dual
                # gives the minimum-norm solution)
                for t in range(n):
                    jt = idx[e0 + t]
                    for a in range(k):
                        G[t, a] = F[jt, a]
                _dual_row(G, n, vals, e0, li, K, w, xr, out, i)
            else:
                P[npend] = i
                npend += 1
            i += 1
        if npend == 0:
            break
        # assemble the normal equations of rows P[0 .. npend - 1] (lower triangles)
        for q in range(4):
            if q >= npend or (ptr[P[q] + 1] == ptr[P[q]] and lam[P[q]] == 0):
                for a in range(k):  # identity and b = 0: the solution is 0
                    X[q, a] = 0
                    for c in range(a):
                        L[q, a, c] = 0
                    L[q, a, a] = 1
                T[q] = 0
                continue
            i1 = P[q]
            e0 = ptr[i1]
            e1 = ptr[i1 + 1]
            if e1 == e0:
                for a in range(k):
                    X[q, a] = 0
                    for c in range(a + 1):
                        L[q, a, c] = 0
            else:  # the first entry sets the sums: no zeroing pass
                j = idx[e0]
                y = vals[e0]
                for a in range(k):
                    fa = F[j, a]
                    X[q, a] = y * fa
                    for c in range(a + 1):
                        L[q, a, c] = fa * F[j, c]
            for e in range(e0 + 1, e1 - 1, 2):  # two entries per pass over the triangle
                j = idx[e]
                h = idx[e + 1]
                y = vals[e]
                z = vals[e + 1]
                for a in range(k):
                    fa = F[j, a]
                    ga = F[h, a]
                    X[q, a] += y * fa + z * ga
                    for c in range(a + 1):
                        L[q, a, c] += fa * F[j, c] + ga * F[h, c]
            if e1 - e0 >= 2 and (e1 - e0) % 2 == 0:
                j = idx[e1 - 1]
                y = vals[e1 - 1]
                for a in range(k):
                    fa = F[j, a]
                    X[q, a] += y * fa
                    for c in range(a + 1):
                        L[q, a, c] += fa * F[j, c]
            li = lam[i1]
            scale = 0.0
            for a in range(k):
                L[q, a, a] += li
                scale = max(scale, abs(L[q, a, a]))
            T[q] = scale * _pivot_rel(F) + _pivot_abs(F)
        # Cholesky of the four matrices side by side (independent chains); the
        # diagonal keeps 1 / L[a, a]
        for a in range(k):
            s0 = L[0, a, a]
            s1 = L[1, a, a]
            s2 = L[2, a, a]
            s3 = L[3, a, a]
            for c in range(a):
                u0 = L[0, a, c]
                u1 = L[1, a, c]
                u2 = L[2, a, c]
                u3 = L[3, a, c]
                s0 -= u0 * u0
                s1 -= u1 * u1
                s2 -= u2 * u2
                s3 -= u3 * u3
            d0 = 1.0 / np.sqrt(T[0] if s0 <= T[0] else s0)
            d1 = 1.0 / np.sqrt(T[1] if s1 <= T[1] else s1)
            d2 = 1.0 / np.sqrt(T[2] if s2 <= T[2] else s2)
            d3 = 1.0 / np.sqrt(T[3] if s3 <= T[3] else s3)
            L[0, a, a] = d0
            L[1, a, a] = d1
            L[2, a, a] = d2
            L[3, a, a] = d3
            for r in range(a + 1, k):
                t0 = L[0, r, a]
                t1 = L[1, r, a]
                t2 = L[2, r, a]
                t3 = L[3, r, a]
                for c in range(a):
                    t0 -= L[0, r, c] * L[0, a, c]
                    t1 -= L[1, r, c] * L[1, a, c]
                    t2 -= L[2, r, c] * L[2, a, c]
                    t3 -= L[3, r, c] * L[3, a, c]
                L[0, r, a] = t0 * d0
                L[1, r, a] = t1 * d1
                L[2, r, a] = t2 * d2
                L[3, r, a] = t3 * d3
        # forward and backward substitution, four rows side by side
        for a in range(k):
            t0 = X[0, a]
            t1 = X[1, a]
            t2 = X[2, a]
            t3 = X[3, a]
            for c in range(a):
                t0 -= L[0, a, c] * X[0, c]
                t1 -= L[1, a, c] * X[1, c]
                t2 -= L[2, a, c] * X[2, c]
                t3 -= L[3, a, c] * X[3, c]
            X[0, a] = t0 * L[0, a, a]
            X[1, a] = t1 * L[1, a, a]
            X[2, a] = t2 * L[2, a, a]
            X[3, a] = t3 * L[3, a, a]
        for a in range(k - 1, -1, -1):
            t0 = X[0, a]
            t1 = X[1, a]
            t2 = X[2, a]
            t3 = X[3, a]
            for c in range(a + 1, k):
                t0 -= L[0, c, a] * X[0, c]
                t1 -= L[1, c, a] * X[1, c]
                t2 -= L[2, c, a] * X[2, c]
                t3 -= L[3, c, a] * X[3, c]
            X[0, a] = t0 * L[0, a, a]
            X[1, a] = t1 * L[1, a, a]
            X[2, a] = t2 * L[2, a, a]
            X[3, a] = t3 * L[3, a, a]
        for q in range(npend):
            for a in range(k):
                out[P[q], a] = X[q, a]
        if i >= c1:
            break


_EXACT = _pair(_exact)


#: Rows with at most ``_DUAL_MAX[k]`` entries (and ``lam > 0``) take the dual solve of
#: ``mc_als_exact`` (``None``: ``k // 2``); see ``_exact_rows``.
_DUAL_MAX = {}


def mc_als_exact(ptr, idx, vals, F, lam, out, dual_max=None):
    F = np.ascontiguousarray(F)
    k = F.shape[1]
    if dual_max is None:
        dual_max = _DUAL_MAX.get(k, k // 2)
    dual_max = min(int(dual_max), k - 1)
    _pick(_EXACT, idx.shape[0])(ptr, idx, vals, F, lam, out, dual_max, int(_AHEAD_EXACT))
    return out


# ----------------------------------------------------------------------------- CG rows
def _cg(ptr, idx, vals, F, lam, X0, nsteps, out, cap, exact_max, ahead):
    nr = ptr.shape[0] - 1
    nchunk = (nr + _ROWS - 1) // _ROWS
    for cu in prange(nchunk):
        c0 = np.int64(cu) * _ROWS
        _cg_rows(ptr, idx, vals, F, lam, X0, nsteps, out, cap, exact_max, c0,
                 min(c0 + _ROWS, nr), ahead)


@jit
def _cg_rows(ptr, idx, vals, F, lam, X0, nsteps, out, cap, exact_max, c0, c1, ahead):
    """CG rows ``c0 .. c1 - 1`` (one call per chunk of rows, work arrays allocated once).

    A row's sampled factor rows are gathered into ``G`` once, and its CG steps run
    inline on ``G`` with plain indexing: no per-row function call, no array views (a
    view costs a reference count update; the row call cost about as much as the
    row's arithmetic at a few entries per row).  Same operations in the same order as
    :func:`_cg_row`, which still serves rows longer than ``cap``.
    """
    k = F.shape[1]
    W = np.empty((5, k), dtype=F.dtype)  # work vectors
    G = np.empty((cap, k), dtype=F.dtype)  # the row's sampled factor rows, gathered once
    x = np.empty(k, dtype=F.dtype)
    kd = max(exact_max, k - 1, 1)
    K = np.empty((kd, kd), dtype=F.dtype)  # a short row's dual system
    w = np.empty(kd, dtype=F.dtype)
    e_end = ptr[ptr.shape[0] - 1]
    pe = ptr[c0]  # the next entry whose factor row is prefetched
    for i in range(c0, c1):
        stop = min(ptr[i + 1] + ahead, e_end)
        while pe < stop:
            _prefetch_row(F, idx[pe])
            pe += 1
        e0 = ptr[i]
        e1 = ptr[i + 1]
        cnt = e1 - e0
        li = lam[i]
        if cnt > cap:
            _cg_row(F, idx[e0:e1], vals[e0:e1], li, X0[i], nsteps, out[i], W)
            continue
        if cnt == 0 and li == 0:
            for a in range(k):
                out[i, a] = 0
            continue
        for t in range(cnt):
            j = idx[e0 + t]
            for a in range(k):
                G[t, a] = F[j, a]
        if cnt > 0 and ((cnt <= exact_max and li > 0) or (li == 0 and cnt < k)):
            # short rows: the exact solution through the dual system (with lam = 0, the
            # minimum-norm one of the singular row system, which CG would not give: see
            # ``cg_exact_max``)
            _dual_row_call(G, cnt, vals, e0, li, K, w, x, out, i)
            continue
        # W rows: 0 the Jacobi diagonal d, 1 the residual r, 2 z, 3 p, 4 q
        for a in range(k):
            x[a] = X0[i, a]
            W[0, a] = li
            W[1, a] = -li * x[a]
        # r = b - A x and the Jacobi diagonal, in one pass over the row's entries
        for t in range(cnt):
            s = 0.0
            for a in range(k):
                s += G[t, a] * x[a]
            u = vals[e0 + t] - s
            for a in range(k):
                W[1, a] += u * G[t, a]
                W[0, a] += G[t, a] * G[t, a]
        rz = 0.0
        for a in range(k):
            if not W[0, a] > 0:
                W[0, a] = 1
            W[0, a] = 1 / W[0, a]  # the inverse diagonal: no division in the steps
            W[2, a] = W[1, a] * W[0, a]
            W[3, a] = W[2, a]
            rz += W[1, a] * W[2, a]
        for _ in range(nsteps):
            for a in range(k):
                W[4, a] = li * W[3, a]
            for t in range(cnt):
                s = 0.0
                for a in range(k):
                    s += G[t, a] * W[3, a]
                for a in range(k):
                    W[4, a] += s * G[t, a]
            pq = 0.0
            for a in range(k):
                pq += W[3, a] * W[4, a]
            if not (pq > 0 and rz > 0):
                break
            alpha = rz / pq
            rz_new = 0.0
            for a in range(k):
                x[a] += alpha * W[3, a]
                W[1, a] -= alpha * W[4, a]
                W[2, a] = W[1, a] * W[0, a]
                rz_new += W[1, a] * W[2, a]
            beta = rz_new / rz
            for a in range(k):
                W[3, a] = W[2, a] + beta * W[3, a]
            rz = rz_new
        for a in range(k):
            out[i, a] = x[a]


@jit
def _cg_row(F, ids, y, li, x0, nsteps, x, W):
    """Jacobi-PCG steps on ``(sum_t F[ids[t]] F[ids[t]]^T + li I) x = sum_t y[t] F[ids[t]]``."""
    k = F.shape[1]
    cnt = ids.shape[0]
    if cnt == 0 and li == 0:
        x[:] = 0
        return
    d = W[0]
    r = W[1]
    z = W[2]
    p = W[3]
    q = W[4]
    for a in range(k):
        x[a] = x0[a]
        d[a] = li
        r[a] = -li * x[a]
    # r = b - A x and the Jacobi diagonal, in one pass over the row's entries
    for t in range(cnt):
        f = F[ids[t]]
        s = 0.0
        for a in range(k):
            s += f[a] * x[a]
        u = y[t] - s
        for a in range(k):
            r[a] += u * f[a]
            d[a] += f[a] * f[a]
    rz = 0.0
    for a in range(k):
        if not d[a] > 0:
            d[a] = 1
        z[a] = r[a] / d[a]
        p[a] = z[a]
        rz += r[a] * z[a]
    for _ in range(nsteps):
        for a in range(k):
            q[a] = li * p[a]
        for t in range(cnt):
            f = F[ids[t]]
            s = 0.0
            for a in range(k):
                s += f[a] * p[a]
            for a in range(k):
                q[a] += s * f[a]
        pq = 0.0
        for a in range(k):
            pq += p[a] * q[a]
        if not (pq > 0 and rz > 0):
            break
        alpha = rz / pq
        rz_new = 0.0
        for a in range(k):
            x[a] += alpha * p[a]
            r[a] -= alpha * q[a]
            z[a] = r[a] / d[a]
            rz_new += r[a] * z[a]
        beta = rz_new / rz
        for a in range(k):
            p[a] = z[a] + beta * p[a]
        rz = rz_new


#: Longest row whose sampled factor rows are gathered into a buffer (per thread).
_GATHER_CAP = 4096


_CG = _pair(_cg)


def mc_als_cg(ptr, idx, vals, F, lam, X0, nsteps, out, exact_max=None):
    nr = ptr.shape[0] - 1
    k = F.shape[1]
    longest = int(np.max(ptr[1:] - ptr[:-1])) if nr else 0
    cap = max(min(longest, _GATHER_CAP, max(1, (1 << 21) // max(k, 1))), 1)
    emax = cg_exact_max(k, nsteps) if exact_max is None else max(min(int(exact_max), k - 1), 0)
    _pick(_CG, idx.shape[0])(
        ptr, idx, vals, np.ascontiguousarray(F), lam, np.ascontiguousarray(X0), int(nsteps), out,
        cap, min(emax, cap), int(_AHEAD_CG),
    )
    return out


# ----------------------------------------------------------------------------- index
@jit
def _counting_order(keys, nkeys, src, ptr, order):
    """Stable counting sort of the entries ``src`` by ``keys[src]`` into ``ptr``, ``order``."""
    ptr[:] = 0
    for e in range(src.shape[0]):
        ptr[keys[src[e]] + 1] += 1
    for t in range(nkeys):
        ptr[t + 1] += ptr[t]
    pos = ptr[:-1].copy()
    for e in range(src.shape[0]):
        s = src[e]
        kk = keys[s]
        order[pos[kk]] = s
        pos[kk] += 1


def mc_build_index(rows, cols, m, n):
    # LSD radix sort: by column, then (stable) by row -> (row, col) order; then by column
    # again -> (col, row) order.  The big arrays are allocated here (visible to tracemalloc).
    nnz = rows.shape[0]
    ptr_r = np.empty(m + 1, dtype=np.int64)
    ptr_c = np.empty(n + 1, dtype=np.int64)
    src = np.arange(nnz, dtype=np.int64)
    tmp = np.empty(nnz, dtype=np.int64)
    _counting_order(cols, n, src, ptr_c, tmp)
    order_r = src  # reuse the identity's buffer
    _counting_order(rows, m, tmp, ptr_r, order_r)
    order_c = tmp
    _counting_order(cols, n, order_r, ptr_c, order_c)
    return ptr_r, order_r, ptr_c, order_c



# ----------------------------------------------------------------------------- sparse x dense
def _spmm(ptr, idx, vals, W, out):
    nr = ptr.shape[0] - 1
    r = W.shape[1]
    for iu in prange(nr):
        i = np.int64(iu)
        o = out[i]
        o[:] = 0
        for e in range(ptr[i], ptr[i + 1]):
            v = vals[e]
            w = W[idx[e]]
            for j in range(r):
                o[j] += v * w[j]


def _spmm_t(ptr, idx, vals, Y, bufs):
    nchunks = bufs.shape[0]
    nr = ptr.shape[0] - 1
    r = Y.shape[1]
    step = (nr + nchunks - 1) // nchunks
    for c in prange(nchunks):
        b = bufs[c]
        b[:, :] = 0
        for i in range(c * step, min(nr, (c + 1) * step)):
            y = Y[i]
            for e in range(ptr[i], ptr[i + 1]):
                v = vals[e]
                bc = b[idx[e]]
                for j in range(r):
                    bc[j] += v * y[j]


_SPMM = _pair(_spmm)
_SPMM_T = _pair(_spmm_t)


def mc_spmm(ptr, idx, vals, W):
    """``S @ W`` for the CSR matrix ``S = (vals, idx, ptr)``; rows split between threads."""
    W = np.ascontiguousarray(W)
    out = np.empty((ptr.shape[0] - 1, W.shape[1]), dtype=np.result_type(vals, W))
    _pick(_SPMM, idx.shape[0])(ptr, idx, vals, W, out)
    return out


def mc_spmm_t(ptr, idx, vals, Y, n):
    """``S.T @ Y`` (``n`` columns of ``S``): one private accumulator per thread, then summed."""
    import numba

    Y = np.ascontiguousarray(Y)
    parallel = idx.shape[0] >= PARALLEL_MIN
    nchunks = numba.get_num_threads() if parallel else 1
    bufs = np.empty((nchunks, n, Y.shape[1]), dtype=np.result_type(vals, Y))
    (_SPMM_T[1] if parallel else _SPMM_T[0])(ptr, idx, vals, Y, bufs)
    return bufs[0] if nchunks == 1 else bufs.sum(axis=0)


KERNELS = {
    "mc_sampled_dot": mc_sampled_dot,
    "mc_sq_residual": mc_sq_residual,
    "mc_normal_eq": mc_normal_eq,
    "mc_als_exact": mc_als_exact,
    "mc_als_cg": mc_als_cg,
    "mc_build_index": mc_build_index,
    "mc_spmm": mc_spmm,
    "mc_spmm_t": mc_spmm_t,
}
