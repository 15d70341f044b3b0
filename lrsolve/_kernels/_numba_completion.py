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
* ``mc_als_cg`` runs warm-started Jacobi-preconditioned CG on each row without
  the normal matrix: one step costs ``2 n_i k`` multiply-adds (the robust
  alternating minimization of Gu, Song, Yin and Zhang: ``O(|Omega| k)`` per sweep).

Each kernel is compiled serial and threaded (:func:`~._numba_util.dual`); the
number of entries picks one (the first 1-D argument is ``idx`` or ``vals``).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._numba_util import PARALLEL_MIN, jit, renamed


def _pair(fn):
    serial = jit(fn)
    par = jit(renamed(fn, "_parallel"), parallel=True)
    return serial, par


def _pick(pair, nnz):
    return pair[1] if nnz >= PARALLEL_MIN else pair[0]


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


def _exact(ptr, idx, vals, F, lam, out):
    nr = ptr.shape[0] - 1
    nchunk = (nr + _ROWS - 1) // _ROWS
    for cu in prange(nchunk):
        c0 = np.int64(cu) * _ROWS
        _exact_rows(ptr, idx, vals, F, lam, out, c0, min(c0 + _ROWS, nr))


@jit
def _exact_rows(ptr, idx, vals, F, lam, out, c0, c1):
    """Exact ALS rows ``c0 .. c1 - 1``, four at a time.

    A row's ``k x k`` factorisation is a chain of dependent operations (each
    pivot waits for the previous column) in loops of 0..k-1 iterations: done one
    row at a time it is bound by latency and branch overhead, not arithmetic.
    Rows ``i0 .. i0 + 3`` are assembled into ``L[0..3]`` (lower triangles; the
    first entry initialises the sums, the others are added two per pass) and then
    factored and solved in one loop nest with four independent accumulators.
    Missing rows of the last block and rows without entries and ``lam == 0`` get
    the identity and ``b = 0``, hence the solution 0.  (One call per chunk of
    rows: the serial and threaded kernels share this compiled body, and the call
    costs a few ns per row.)
    """
    k = F.shape[1]
    L = np.empty((4, k, k), dtype=F.dtype)
    X = np.empty((4, k), dtype=F.dtype)
    T = np.empty(4, dtype=F.dtype)
    for i0 in range(c0, c1, 4):
        # assemble the normal equations of rows i0 .. i0 + 3 (lower triangles)
        for q in range(4):
            i = i0 + q
            if i >= c1 or (ptr[i + 1] == ptr[i] and lam[i] == 0):
                for a in range(k):  # identity and b = 0: the solution is 0
                    X[q, a] = 0
                    for c in range(a):
                        L[q, a, c] = 0
                    L[q, a, a] = 1
                T[q] = 0
                continue
            e0 = ptr[i]
            e1 = ptr[i + 1]
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
            li = lam[i]
            scale = 0.0
            for a in range(k):
                L[q, a, a] += li
                scale = max(scale, abs(L[q, a, a]))
            T[q] = scale * 1e-12 + 1e-300
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
        for q in range(min(4, c1 - i0)):
            for a in range(k):
                out[i0 + q, a] = X[q, a]


_EXACT = _pair(_exact)


def mc_als_exact(ptr, idx, vals, F, lam, out):
    _pick(_EXACT, idx.shape[0])(ptr, idx, vals, np.ascontiguousarray(F), lam, out)
    return out


# ----------------------------------------------------------------------------- CG rows
def _cg(ptr, idx, vals, F, lam, X0, nsteps, out, cap):
    nr = ptr.shape[0] - 1
    k = F.shape[1]
    nchunk = (nr + _ROWS - 1) // _ROWS
    for cu in prange(nchunk):
        c0 = np.int64(cu) * _ROWS
        W = np.empty((5, k), dtype=F.dtype)  # work vectors, one set per chunk of rows
        G = np.empty((cap, k), dtype=F.dtype)  # the row's sampled factor rows, gathered once
        ident = np.arange(cap)
        for i in range(c0, min(c0 + _ROWS, nr)):
            e0 = ptr[i]
            e1 = ptr[i + 1]
            cnt = e1 - e0
            if cnt <= cap:
                # gather once: the CG steps then re-read contiguous, cache-resident rows
                for t in range(cnt):
                    src = F[idx[e0 + t]]
                    for a in range(k):
                        G[t, a] = src[a]
                _cg_row(G, ident[:cnt], vals[e0:e1], lam[i], X0[i], nsteps, out[i], W)
            else:
                _cg_row(F, idx[e0:e1], vals[e0:e1], lam[i], X0[i], nsteps, out[i], W)


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


def mc_als_cg(ptr, idx, vals, F, lam, X0, nsteps, out):
    nr = ptr.shape[0] - 1
    longest = int(np.max(ptr[1:] - ptr[:-1])) if nr else 0
    cap = max(min(longest, _GATHER_CAP, max(1, (1 << 21) // max(F.shape[1], 1))), 1)
    _pick(_CG, idx.shape[0])(
        ptr, idx, vals, np.ascontiguousarray(F), lam, np.ascontiguousarray(X0), int(nsteps), out,
        cap,
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
    "mc_normal_eq": mc_normal_eq,
    "mc_als_exact": mc_als_exact,
    "mc_als_cg": mc_als_cg,
    "mc_build_index": mc_build_index,
    "mc_spmm": mc_spmm,
    "mc_spmm_t": mc_spmm_t,
}
