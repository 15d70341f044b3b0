"""Plain array kernels of matrix completion: the oracle of the completion kernel tests.

Works on NumPy and CuPy alike.  The observed entries are held in a compressed
row structure ``(ptr, idx, vals)`` (CSR: the entries of row ``i`` are
``ptr[i]:ptr[i+1]``, ``idx`` their column indices); the same kernels run on the
compressed column structure (CSC) with the roles of the two factors swapped.
``ptr`` may be a contiguous slice ``ptr[r0:r1 + 1]`` of a full pointer array:
positions are absolute.

Kernels (the Numba and CuPy modules have the same signatures):

``mc_sampled_dot(ptr, idx, U, V, out)``
    ``out[e] = U[i] . V[idx[e]]`` for every stored entry ``e`` of row ``i``
    (``out`` has one slot per entry of ``ptr[0]:ptr[-1]``).
``mc_sq_residual(ptr, idx, vals, U, V, offset=0.0, row_bias=None, col_bias=None)``
    ``sum_e (vals[e] - U[i] . V[idx[e]] - row_bias[i] - col_bias[idx[e]] - offset)^2``
    over the stored entries (a float; sums in float64): the training error of a sweep
    without an ``|Omega|``-long residual vector.
``mc_normal_eq(ptr, idx, vals, F, lam, A, b)``
    ``A[i] = sum_e F[idx[e]] F[idx[e]]^T + lam[i] I`` and
    ``b[i] = sum_e vals[e] F[idx[e]]`` for each row ``i``.
``mc_als_exact(ptr, idx, vals, F, lam, out)``
    ``out[i] = A[i]^{-1} b[i]`` (rows without entries and ``lam[i] == 0``: 0; rows with
    ``0 < n_i < k`` entries and ``lam[i] == 0``, whose ``A[i]`` is singular: the
    minimum-norm solution ``pinv(G_i) y_i``).
``mc_als_cg(ptr, idx, vals, F, lam, X0, nsteps, out, exact_max=None)``
    ``nsteps`` Jacobi-preconditioned CG steps on each row's system started at
    ``X0[i]``, without forming ``A[i]`` (products with the sampled rows of
    ``F`` only: ``O(nnz k)`` per step).  Rows with ``0 < n_i < k`` and ``lam = 0``
    get the minimum-norm solution of their singular system (CG from the previous
    factor would keep, and the Jacobi steps add to, its null-space part).  Rows with
    ``0 < n_i <= exact_max`` entries and ``lam[i] > 0`` get the exact solution instead (default
    :func:`cg_exact_max`: where the exact solve costs less than the CG steps).
``mc_spmm(ptr, idx, vals, W)`` and ``mc_spmm_t(ptr, idx, vals, Y, n)``
    ``S @ W`` and ``S.T @ Y`` for the CSR matrix ``S = (vals, idx, ptr)`` with
    ``n`` columns (the products of SoftImpute's sparse-plus-low-rank matrix).
``mc_build_index(rows, cols, m, n)``
    ``(ptr_r, order_r, ptr_c, order_c)``: ``order_r`` sorts the entries by
    ``(row, col)``, ``order_c`` by ``(col, row)``; ``ptr_*`` are the
    compressed pointers.

Large problems are processed in chunks of rows whose gathered factor rows hold
at most ``CHUNK`` numbers (at least one row per chunk).
"""

from __future__ import annotations

import numpy as np

from ._reference import _xp

#: Elements of the per-chunk temporaries (gathered factor rows, outer products).
CHUNK = 1 << 22


def _sparse(xp):
    if xp.__name__ == "cupy":
        import cupyx.scipy.sparse as sps
    else:
        import scipy.sparse as sps
    return sps


def _chunks(xp, ptr, width):
    """Yield ``(r0, r1)`` row ranges with about ``CHUNK / width`` entries each."""
    ptr_h = ptr.get() if xp.__name__ == "cupy" else ptr
    nr = len(ptr_h) - 1
    budget = max(CHUNK // max(width, 1), 1)
    r0 = 0
    while r0 < nr:
        target = int(ptr_h[r0]) + budget
        # first row end beyond the budget (at least one row)
        r1 = int(_searchsorted_host(ptr_h, target, r0 + 1, nr))
        yield r0, r1
        r0 = r1


def _searchsorted_host(ptr_h, target, lo, hi):
    import numpy as np

    r = int(np.searchsorted(ptr_h[lo : hi + 1], target, side="right")) + lo - 1
    return min(max(r, lo), hi)


def expand_rows(xp, ptr):
    """Row of every entry of a compressed structure (``repeat(arange, counts)``, CuPy-safe).

    ``ptr`` is local (starts at 0); works where ``cupy.repeat`` takes no array of counts.
    """
    nnz = int(ptr[-1])
    return xp.searchsorted(ptr[1:], xp.arange(nnz, dtype=ptr.dtype), side="right")


def _segment(xp, ptr, r0, r1, dtype):
    """Row-indicator matrix of rows ``r0:r1`` (rows x entries) and the entry range."""
    sps = _sparse(xp)
    e0 = int(ptr[r0])
    e1 = int(ptr[r1])
    nnz = e1 - e0
    itype = xp.int32 if nnz < 2**31 - 1 else xp.int64  # cuSPARSE wants 32-bit indices
    local = (ptr[r0 : r1 + 1] - e0).astype(itype)
    R = sps.csr_matrix(
        (xp.ones(nnz, dtype=dtype), xp.arange(nnz, dtype=itype), local),
        shape=(r1 - r0, nnz),
    )
    counts = xp.diff(local)
    return R, e0, e1, counts


def _segsum(R, X):
    """Row sums of the entries' rows ``X`` (entries x k) for each row of ``R``."""
    out = R @ X.astype(R.dtype, copy=False)
    return xp_asarray_like(out, X.dtype)


def xp_asarray_like(out, dtype):
    if hasattr(out, "toarray"):  # a sparse result (never expected; defensive)
        out = out.toarray()
    return out.astype(dtype, copy=False)


def mc_sampled_dot(ptr, idx, U, V, out):
    xp = _xp(U)
    k = U.shape[1]
    base = int(ptr[0])
    for r0, r1 in _chunks(xp, ptr, k):
        e0 = int(ptr[r0])
        e1 = int(ptr[r1])
        rows = expand_rows(xp, ptr[r0 : r1 + 1] - ptr[r0]) + r0
        out[e0 - base : e1 - base] = xp.sum(U[rows] * V[idx[e0:e1]], axis=1)
    return out


def mc_sq_residual(ptr, idx, vals, U, V, offset=0.0, row_bias=None, col_bias=None):
    xp = _xp(U)
    k = U.shape[1]
    total = 0.0
    for r0, r1 in _chunks(xp, ptr, k):
        e0 = int(ptr[r0])
        e1 = int(ptr[r1])
        rows = expand_rows(xp, ptr[r0 : r1 + 1] - ptr[r0]) + r0
        cols = idx[e0:e1]
        p = xp.sum(U[rows] * V[cols], axis=1).astype(xp.float64)
        if row_bias is not None:
            p += row_bias[rows]
            p += col_bias[cols]
        p += offset
        d = vals[e0:e1].astype(xp.float64) - p
        total = total + xp.sum(d * d)  # a device scalar on CuPy: one transfer at the end
    return float(total)


def mc_normal_eq(ptr, idx, vals, F, lam, A, b):
    xp = _xp(F)
    k = F.shape[1]
    eye = xp.eye(k, dtype=F.dtype)
    for r0, r1 in _chunks(xp, ptr, k * k):
        R, e0, e1, _ = _segment(xp, ptr, r0, r1, F.dtype)
        G = F[idx[e0:e1]]
        outer = (G[:, :, None] * G[:, None, :]).reshape(e1 - e0, k * k)
        A[r0:r1] = _segsum(R, outer).reshape(r1 - r0, k, k) + lam[r0:r1, None, None] * eye
        b[r0:r1] = _segsum(R, vals[e0:e1, None] * G)
    return A, b


def mc_als_exact(ptr, idx, vals, F, lam, out):
    xp = _xp(F)
    k = F.shape[1]
    eye = xp.eye(k, dtype=F.dtype)
    for r0, r1 in _chunks(xp, ptr, k * k):
        nr = r1 - r0
        A = xp.empty((nr, k, k), dtype=F.dtype)
        b = xp.empty((nr, k), dtype=F.dtype)
        mc_normal_eq(ptr[r0 : r1 + 1], idx, vals, F, lam[r0:r1], A, b)
        counts = xp.diff(ptr[r0 : r1 + 1])
        empty = (counts == 0) & (lam[r0:r1] == 0)
        under = (counts > 0) & (counts < k) & (lam[r0:r1] == 0)  # singular systems
        A = xp.where((empty | under)[:, None, None], eye, A)
        out[r0:r1] = xp.linalg.solve(A, b[:, :, None])[:, :, 0]
        out[r0:r1][empty] = 0
        _min_norm_rows(xp, ptr, idx, vals, F, r0, under, out)
    return out


def min_norm_rows(xp, G, v, valid):
    """Minimum-norm solutions ``x_i = G_i^T (G_i G_i^T)^{-1} y_i`` of underdetermined rows.

    ``G`` (rows x L x k) holds each row's sampled factor rows, zero-padded past its count
    (``valid``, rows x L); ``v`` (rows x L) its values, zero-padded.  The padded part of
    each ``L x L`` dual matrix gets a unit diagonal (its unknowns are 0), the rest a
    relative jitter of ``10 L eps`` (a dependent set of rows stays solvable): one batched
    solve in float64 (these rows are few), the Numba kernels' dual rows to rounding.
    """
    L = G.shape[1]
    G64 = G.astype(xp.float64)  # few rows: the small systems in float64 whatever the data
    K = G64 @ G64.transpose(0, 2, 1)
    d = xp.arange(L)
    scale = xp.max(K[:, d, d], axis=1)
    jitter = 10 * L * float(np.finfo(np.float64).eps)
    K[:, d, d] += xp.where(valid, (jitter * scale)[:, None], 1)
    w = xp.linalg.solve(K, v.astype(xp.float64)[:, :, None])
    return (G64.transpose(0, 2, 1) @ w)[:, :, 0].astype(G.dtype)


def _min_norm_rows(xp, ptr, idx, vals, F, r0, under, out):
    """``out[r0 + i]``: the minimum-norm solution for the rows ``i`` flagged in ``under``
    (``lam = 0`` and fewer entries than k, whose ``k x k`` system is singular)."""
    sel = xp.nonzero(under)[0]
    if int(sel.shape[0]) == 0:
        return
    rows = sel + r0
    start = ptr[rows]
    cnt = ptr[rows + 1] - start
    L = int(cnt.max())
    j = xp.arange(L)
    valid = j[None, :] < cnt[:, None]
    pos = xp.where(valid, start[:, None] + j[None, :], 0)
    G = F[idx[pos]] * valid[:, :, None].astype(F.dtype)
    v = xp.where(valid, vals[pos], 0).astype(F.dtype)
    out[rows] = min_norm_rows(xp, G, v, valid)


def cg_exact_max(k, nsteps):
    """Rows with at most this many entries (and ``lam > 0``) are solved exactly by ``mc_als_cg``.

    ``min(k - 1, nsteps + 3)``.  Through its ``n_i x n_i`` dual system such a row costs
    ``n_i^2 k / 2 + n_i^3 / 6`` multiply-adds against about ``2 (nsteps + 1) n_i k`` for its
    CG steps, so the per-sweep cost stays ``O(|Omega| k nsteps)``.  The bound is where the
    two cost the same time on the CPU (k = 10, 3 steps: 6-8 entries; the factorisation's
    dependency chain, not its arithmetic, sets the dual's time).
    """
    return max(min(int(k) - 1, int(nsteps) + 3), 0)


def row_pcg(xp, matvec, b, d, x, nsteps):
    """``nsteps`` Jacobi-preconditioned CG steps on a stack of row systems at once.

    ``matvec(P)`` applies every row's matrix to the rows of ``P``; ``b`` right-hand
    sides, ``d`` the diagonals (positive), ``x`` the starts (updated in place and
    returned).  A row whose step would divide by a non-positive number stops there.
    """
    r = b - matvec(x)
    z = r / d
    p = z.copy()
    rz = xp.sum(r * z, axis=1)
    for _ in range(int(nsteps)):
        Ap = matvec(p)
        pAp = xp.sum(p * Ap, axis=1)
        ok = (pAp > 0) & (rz > 0)
        alpha = xp.where(ok, rz / xp.where(ok, pAp, 1), 0)[:, None]
        x += alpha * p
        r -= alpha * Ap
        z = r / d
        rz_new = xp.sum(r * z, axis=1)
        beta = xp.where(ok, rz_new / xp.where(ok, rz, 1), 0)[:, None]
        p = z + beta * p
        rz = xp.where(ok, rz_new, 0)
    return x


def mc_als_cg(ptr, idx, vals, F, lam, X0, nsteps, out, exact_max=None):
    xp = _xp(F)
    k = F.shape[1]
    emax = cg_exact_max(k, nsteps) if exact_max is None else max(min(int(exact_max), k - 1), 0)
    for r0, r1 in _chunks(xp, ptr, k):
        R, e0, e1, counts = _segment(xp, ptr, r0, r1, F.dtype)
        rows = expand_rows(xp, ptr[r0 : r1 + 1] - ptr[r0])
        G = F[idx[e0:e1]]
        lr = lam[r0:r1, None]
        d = _segsum(R, G * G) + lr
        d = xp.where(d > 0, d, 1)
        b = _segsum(R, vals[e0:e1, None] * G)

        def matvec(P, G=G, rows=rows, R=R, lr=lr):
            s = xp.sum(G * P[rows], axis=1)
            return _segsum(R, s[:, None] * G) + lr * P

        x = row_pcg(xp, matvec, b, d, X0[r0:r1].copy(), nsteps)
        x[(counts == 0) & (lam[r0:r1] == 0)] = 0
        short = (counts > 0) & (counts <= emax) & (lam[r0:r1] > 0)
        if emax > 0 and bool(short.any()):  # short rows: the exact solution
            ex = mc_als_exact(ptr[r0 : r1 + 1], idx, vals, F, lam[r0:r1], xp.empty_like(x))
            x = xp.where(short[:, None], ex, x)
        out[r0:r1] = x
        _min_norm_rows(xp, ptr, idx, vals, F, r0,
                       (counts > 0) & (counts < k) & (lam[r0:r1] == 0), out)
    return out


def mc_build_index(rows, cols, m, n):
    xp = _xp(rows)
    rows = rows.astype(xp.int64, copy=False)
    cols = cols.astype(xp.int64, copy=False)
    order_r = xp.argsort(rows * n + cols)
    order_c = xp.argsort(cols * m + rows)
    ptr_r = xp.zeros(m + 1, dtype=xp.int64)
    ptr_c = xp.zeros(n + 1, dtype=xp.int64)
    ptr_r[1:] = xp.cumsum(xp.bincount(rows, minlength=m))
    ptr_c[1:] = xp.cumsum(xp.bincount(cols, minlength=n))
    return ptr_r, order_r, ptr_c, order_c



def _csr(ptr, idx, vals, n):
    from .._backend import get_backend

    if get_backend(vals).name == "cupy":
        import cupyx.scipy.sparse as sps
    else:
        import scipy.sparse as sps
    return sps.csr_matrix((vals, idx, ptr), shape=(ptr.shape[0] - 1, n))


def mc_spmm(ptr, idx, vals, W):
    return _csr(ptr, idx, vals, W.shape[0]) @ W


def mc_spmm_t(ptr, idx, vals, Y, n):
    return _csr(ptr, idx, vals, n).T @ Y

KERNELS = {
    "mc_spmm": mc_spmm,
    "mc_spmm_t": mc_spmm_t,
    "mc_sampled_dot": mc_sampled_dot,
    "mc_sq_residual": mc_sq_residual,
    "mc_normal_eq": mc_normal_eq,
    "mc_als_exact": mc_als_exact,
    "mc_als_cg": mc_als_cg,
    "mc_build_index": mc_build_index,
}
