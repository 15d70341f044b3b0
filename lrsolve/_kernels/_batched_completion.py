"""Row-batched ALS solves of matrix completion as padded batched matrix products.

The GPU form of :func:`lrsolve._kernels._reference_completion.mc_als_exact` and
``mc_als_cg`` (same signatures and results).  Rows are sorted by their number of
observed entries and cut into chunks of similar counts; the sampled factor rows of a
chunk are gathered into a zero-padded ``(rows, L, k)`` stack ``G`` (``L``: the largest
count of the chunk), so that

* the exact update forms every row's ``k x k`` Gram matrix ``G_i^T G_i`` by one batched
  GEMM (no per-entry ``k x k`` outer products in memory), then solves the stack of
  systems batched;
* the CG update applies ``G_i^T (G_i p_i)`` as two batched matrix-vector products.

Written on the array module ``xp`` of the inputs, so the NumPy run is checked against
the reference kernels on the CPU; the CuPy engine uses it on the GPU.
"""

from __future__ import annotations

import numpy as np

from ._reference_completion import cg_exact_max, min_norm_rows, row_pcg

#: Elements of the padded gathered stack ``G`` per chunk.
CHUNK = 1 << 27


def _xp(a):
    return np if type(a).__module__ == "numpy" else __import__("cupy")


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _buckets(xp, ptr, width, chunk):
    """Yield ``(rows, lo, L)``: device index arrays of rows with similar counts, ``lo`` and
    ``L`` the smallest and largest count among them, with ``len(rows) * L * width <= chunk``
    (at least one row)."""
    counts = xp.diff(ptr)
    order = xp.argsort(counts, kind="stable")
    cs = _host(counts[order]).astype(np.int64)
    n = len(cs)
    budget = max(chunk // max(width, 1), 1)
    a = 0
    while a < n:
        # (b - a) * cs[b - 1] grows with b: the largest b within the budget
        span = (np.arange(1, n - a + 1, dtype=np.int64)) * np.maximum(cs[a:], 1)
        b = a + max(int(np.searchsorted(span, budget, side="right")), 1)
        yield order[a:b], int(cs[a]), int(cs[b - 1])
        a = b


def _gather(xp, ptr, idx, vals, F, rows, L):
    """Padded ``G`` (rows x L x k), observed values ``v`` (rows x L), counts."""
    start = ptr[:-1][rows]
    cnt = ptr[1:][rows] - start
    j = xp.arange(L, dtype=start.dtype)
    valid = j[None, :] < cnt[:, None]
    pos = xp.where(valid, start[:, None] + j[None, :], 0)
    G = F[idx[pos]]
    G *= valid[:, :, None].astype(F.dtype)
    v = xp.where(valid, vals[pos], 0).astype(F.dtype, copy=False)
    return G, v, cnt


def mc_als_exact(ptr, idx, vals, F, lam, out):
    xp = _xp(F)
    k = F.shape[1]
    eye = xp.eye(k, dtype=F.dtype)
    for rows, lo, L in _buckets(xp, ptr, k, CHUNK):
        lr = lam[rows]
        if L == 0:
            out[rows] = 0
            continue
        G, v, cnt = _gather(xp, ptr, idx, vals, F, rows, L)
        Gt = G.transpose(0, 2, 1)
        A = Gt @ G
        A += lr[:, None, None] * eye
        b = Gt @ v[:, :, None]
        empty = (cnt == 0) & (lr == 0)
        under = (cnt > 0) & (cnt < k) & (lr == 0)  # singular: the minimum-norm solution
        A = xp.where((empty | under)[:, None, None], eye, A)
        x = xp.linalg.solve(A, b)[:, :, 0]
        x[empty] = 0
        if lo < k and bool(under.any()):  # (the test syncs the device: short buckets only)
            sel = xp.nonzero(under)[0]
            valid = xp.arange(L)[None, :] < cnt[sel][:, None]
            x[sel] = min_norm_rows(xp, G[sel], v[sel], valid)
        out[rows] = x
    return out


def mc_als_cg(ptr, idx, vals, F, lam, X0, nsteps, out, exact_max=None):
    xp = _xp(F)
    k = F.shape[1]
    emax = cg_exact_max(k, nsteps) if exact_max is None else max(min(int(exact_max), k - 1), 0)
    eye = xp.eye(k, dtype=F.dtype)
    for rows, lo, L in _buckets(xp, ptr, k, CHUNK):
        lr = lam[rows][:, None]
        if L == 0:
            out[rows] = 0
            continue
        G, v, cnt = _gather(xp, ptr, idx, vals, F, rows, L)
        Gt = G.transpose(0, 2, 1)
        d = xp.sum(G * G, axis=1) + lr
        d = xp.where(d > 0, d, 1)
        b = (Gt @ v[:, :, None])[:, :, 0]

        def matvec(P, G=G, Gt=Gt, lr=lr):
            return (Gt @ (G @ P[:, :, None]))[:, :, 0] + lr * P

        short = None
        if lo <= emax:  # rows with 0 < count <= emax and lam > 0: the exact solution
            short = (cnt > 0) & (cnt <= emax) & (lr[:, 0] > 0)
            A = Gt @ G
            A += lr[:, :, None] * eye
            A = xp.where(short[:, None, None], A, eye)  # the others: any regular matrix
            ex = xp.linalg.solve(A, b[:, :, None])[:, :, 0]
            if L <= emax and bool(short.all()):
                out[rows] = ex
                continue
        x = row_pcg(xp, matvec, b, d, X0[rows].copy(), nsteps)
        x[(cnt == 0) & (lam[rows] == 0)] = 0
        if short is not None:
            x = xp.where(short[:, None], ex, x)
        if lo < k:  # lam = 0 and fewer entries than k: the minimum-norm solution
            under = (cnt > 0) & (cnt < k) & (lr[:, 0] == 0)
            if bool(under.any()):
                sel = xp.nonzero(under)[0]
                valid = xp.arange(L)[None, :] < cnt[sel][:, None]
                x[sel] = min_norm_rows(xp, G[sel], v[sel], valid)
        out[rows] = x
    return out


KERNELS = {"mc_als_exact": mc_als_exact, "mc_als_cg": mc_als_cg}
