"""Numba kernels of the prox family: fused shrinkage, Condat's projections, 1D TV, Lasso CD sweeps.

Every kernel does one sweep over its input; the Python drivers in :mod:`lrsolve.prox`
own the loops and the stopping tests.  Compilation is lazy (first call).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import prange

from ._numba_util import dual, jit

__all__ = ["KERNELS"]


# ----------------------------------------------------------------------------- elementwise
def _soft_threshold(x, t, out):
    n = x.shape[0]
    for i in prange(n):
        v = x[i]
        if v > t:
            out[i] = v - t
        elif v < -t:
            out[i] = v + t
        elif v != v:
            out[i] = v  # NaN stays NaN (as the NumPy reference and pyproximal): not hidden
        else:
            out[i] = 0.0
    return out


def _clip(x, lo, hi, out):
    n = x.shape[0]
    for i in prange(n):
        v = x[i]
        if v < lo:
            v = lo
        if v > hi:
            v = hi
        out[i] = v
    return out


def _abs_sum(x):
    s = 0.0
    for i in prange(x.shape[0]):
        s += abs(x[i])
    return s


@functools.cache
def _k_soft():
    return dual(_soft_threshold)


@functools.cache
def _k_clip():
    return dual(_clip)


@functools.cache
def _k_abssum():
    return dual(_abs_sum)


def soft_threshold(x, t):
    """``sign(x) * max(|x| - t, 0)`` for a scalar threshold ``t >= 0`` (one fused pass)."""
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)
    _k_soft()(flat, flat.dtype.type(t), out)
    return out.reshape(np.shape(x))


def clip(x, lo, hi):
    """Elementwise clip to ``[lo, hi]`` (scalar bounds)."""
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)
    _k_clip()(flat, flat.dtype.type(lo), flat.dtype.type(hi), out)
    return out.reshape(np.shape(x))


# ----------------------------------------------------------------------------- Condat simplex
def _simplex_tau(y, a):
    """Condat's (2016) algorithm: the threshold ``tau`` with ``sum(max(y - tau, 0)) = a``.

    Linear expected time, no sort.  ``y`` is 1-D, ``a > 0``.
    """
    n = y.shape[0]
    v = np.empty(n, dtype=np.float64)
    vt = np.empty(n, dtype=np.float64)
    nv = 0
    nvt = 0
    v[0] = y[0]
    nv = 1
    rho = y[0] - a
    for i in range(1, n):
        yi = y[i]
        if yi > rho:
            rho = rho + (yi - rho) / (nv + 1)
            if rho > yi - a:
                v[nv] = yi
                nv += 1
            else:
                for k in range(nv):
                    vt[nvt] = v[k]
                    nvt += 1
                v[0] = yi
                nv = 1
                rho = yi - a
    for k in range(nvt):
        yk = vt[k]
        if yk > rho:
            v[nv] = yk
            nv += 1
            rho = rho + (yk - rho) / nv
    changed = True
    while changed:
        changed = False
        k = 0
        while k < nv:
            yk = v[k]
            if yk <= rho:
                nv -= 1
                v[k] = v[nv]
                if nv > 0:
                    rho = rho + (rho - yk) / nv
                changed = True
            else:
                k += 1
    return rho


def _shift_pos(y, tau, out):
    for i in prange(y.shape[0]):
        d = y[i] - tau
        out[i] = d if d > 0.0 else 0.0
    return out


def _abs_shift_sign(y, tau, out):
    for i in prange(y.shape[0]):
        v = y[i]
        d = abs(v) - tau
        if d <= 0.0:
            out[i] = 0.0
        elif v > 0:
            out[i] = d
        else:
            out[i] = -d
    return out


@functools.cache
def _k_tau():
    return jit(_simplex_tau)


@functools.cache
def _k_shift():
    return dual(_shift_pos)


@functools.cache
def _k_abs_shift():
    return dual(_abs_shift_sign)


def simplex_threshold(y, a):
    """Threshold ``tau`` of the projection of the 1-D ``y`` onto ``{x >= 0, sum x = a}``."""
    return float(_k_tau()(np.ascontiguousarray(y), float(a)))


def project_simplex(x, a):
    """Euclidean projection of the flattened ``x`` onto ``{z >= 0, sum z = a}``."""
    flat = np.ascontiguousarray(x).reshape(-1)
    tau = _k_tau()(flat, float(a))
    out = np.empty_like(flat)
    _k_shift()(flat, flat.dtype.type(tau), out)
    return out.reshape(np.shape(x))


def project_l1ball(x, r):
    """Euclidean projection onto ``{z : ||z||_1 <= r}``."""
    flat = np.ascontiguousarray(x).reshape(-1)
    if float(_k_abssum()(flat)) <= r:
        return np.array(x, copy=True)
    ab = np.abs(flat)
    tau = _k_tau()(ab, float(r))
    out = np.empty_like(flat)
    _k_abs_shift()(flat, flat.dtype.type(max(tau, 0.0)), out)
    return out.reshape(np.shape(x))


# ----------------------------------------------------------------------------- 1D TV (Condat 2013)
def _tv1d(y, lam, out):
    """Exact prox of ``lam * sum |x[k+1] - x[k]|`` (Condat's direct algorithm, linear time)."""
    n = y.shape[0]
    if n == 0:
        return out
    if lam <= 0.0:
        for i in range(n):
            out[i] = y[i]
        return out
    k = 0
    k0 = 0
    umin = lam
    umax = -lam
    vmin = y[0] - lam
    vmax = y[0] + lam
    kplus = 0
    kminus = 0
    twolam = 2.0 * lam
    minlam = -lam
    while True:
        while k == n - 1:
            if umin < 0.0:
                while True:
                    out[k0] = vmin
                    k0 += 1
                    if k0 > kminus:
                        break
                k = k0
                kminus = k0
                vmin = y[k0]
                umin = lam
                umax = vmin + umin - vmax
            elif umax > 0.0:
                while True:
                    out[k0] = vmax
                    k0 += 1
                    if k0 > kplus:
                        break
                k = k0
                kplus = k0
                vmax = y[k0]
                umax = minlam
                umin = vmax + umax - vmin
            else:
                vmin += umin / (k - k0 + 1)
                while True:
                    out[k0] = vmin
                    k0 += 1
                    if k0 > k:
                        break
                return out
        umin += y[k + 1] - vmin
        if umin < minlam:
            while True:
                out[k0] = vmin
                k0 += 1
                if k0 > kminus:
                    break
            k = k0
            kplus = k0
            kminus = k0
            vmin = y[k0]
            vmax = vmin + twolam
            umin = lam
            umax = minlam
        else:
            umax += y[k + 1] - vmax
            if umax > lam:
                while True:
                    out[k0] = vmax
                    k0 += 1
                    if k0 > kplus:
                        break
                k = k0
                kplus = k0
                kminus = k0
                vmax = y[k0]
                vmin = vmax - twolam
                umin = lam
                umax = minlam
            else:
                k += 1
                if umin >= lam:
                    kminus = k
                    vmin += (umin - lam) / (kminus - k0 + 1)
                    umin = lam
                if umax <= minlam:
                    kplus = k
                    vmax += (umax + lam) / (kplus - k0 + 1)
                    umax = minlam


@functools.cache
def _k_tv1d():
    return jit(_tv1d)


def tv1d(y, lam):
    """Prox of the 1D total variation ``lam * sum |x[k+1]-x[k]|`` of a 1-D array (exact)."""
    y = np.ascontiguousarray(y, dtype=np.float64)
    out = np.empty_like(y)
    _k_tv1d()(y, float(lam), out)
    return out


# ----------------------------------------------------------------------------- Lasso CD sweeps
def _cd_dense(X, w, r, ws, norms2, lam, mu, nrep):
    """``nrep`` Gauss-Seidel sweeps of CD over the columns ``ws`` of a Fortran-ordered ``X``.

    Minimises ``1/2||y - Xw||^2 + mu/2 ||w||^2 + lam ||w||_1`` keeping ``r = y - Xw``.
    Returns the largest absolute coefficient change of the last sweep.
    """
    n = X.shape[0]
    dmax = 0.0
    for _ in range(nrep):
        dmax = 0.0
        for jj in range(ws.shape[0]):
            j = ws[jj]
            nj = norms2[j]
            if nj == 0.0:
                continue
            old = w[j]
            # four partial sums: the strict left-to-right sum (no fastmath) is bound by
            # the latency of one addition per entry and does not vectorise
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            s3 = 0.0
            n4 = n - n % 4
            for i in range(0, n4, 4):
                s0 += X[i, j] * r[i]
                s1 += X[i + 1, j] * r[i + 1]
                s2 += X[i + 2, j] * r[i + 2]
                s3 += X[i + 3, j] * r[i + 3]
            for i in range(n4, n):
                s0 += X[i, j] * r[i]
            s = (s0 + s1) + (s2 + s3)
            tmp = s + old * nj
            if tmp > lam:
                new = (tmp - lam) / (nj + mu)
            elif tmp < -lam:
                new = (tmp + lam) / (nj + mu)
            else:
                new = 0.0
            d = new - old
            if d != 0.0:
                for i in range(n):
                    r[i] -= d * X[i, j]
                w[j] = new
                if abs(d) > dmax:
                    dmax = abs(d)
    return dmax


def _cd_sparse(data, indices, indptr, offsets, c, w, r, ws, norms2, lam, mu, nrep):
    """CD sweeps for a CSC ``X`` with implicit column centring.

    The true residual is ``r + c[0]`` (a scalar shift for the centring); ``offsets[j]`` is
    the mean subtracted from column ``j`` (0 without intercept).  ``norms2`` are the norms
    of the centred columns.
    """
    dmax = 0.0
    for _ in range(nrep):
        dmax = 0.0
        for jj in range(ws.shape[0]):
            j = ws[jj]
            nj = norms2[j]
            if nj == 0.0:
                continue
            old = w[j]
            s = 0.0
            colsum = 0.0
            for p in range(indptr[j], indptr[j + 1]):
                s += data[p] * r[indices[p]]
                colsum += data[p]
            # x_j^T (r + c) - m_j * sum(r + c); the centred residual sums to zero
            s += c[0] * colsum
            tmp = s + old * nj
            if tmp > lam:
                new = (tmp - lam) / (nj + mu)
            elif tmp < -lam:
                new = (tmp + lam) / (nj + mu)
            else:
                new = 0.0
            d = new - old
            if d != 0.0:
                for p in range(indptr[j], indptr[j + 1]):
                    r[indices[p]] -= d * data[p]
                c[0] += d * offsets[j]
                w[j] = new
                if abs(d) > dmax:
                    dmax = abs(d)
    return dmax


def _xtr_dense(X, r, cols, out):
    n = X.shape[0]
    for jj in range(cols.shape[0]):
        j = cols[jj]
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        n4 = n - n % 4
        for i in range(0, n4, 4):
            s0 += X[i, j] * r[i]
            s1 += X[i + 1, j] * r[i + 1]
            s2 += X[i + 2, j] * r[i + 2]
            s3 += X[i + 3, j] * r[i + 3]
        for i in range(n4, n):
            s0 += X[i, j] * r[i]
        out[jj] = (s0 + s1) + (s2 + s3)
    return out


def _xtr_sparse(data, indices, indptr, r, c, cols, out):
    for jj in range(cols.shape[0]):
        j = cols[jj]
        s = 0.0
        cs = 0.0
        for p in range(indptr[j], indptr[j + 1]):
            s += data[p] * r[indices[p]]
            cs += data[p]
        out[jj] = s + c * cs
    return out


@functools.cache
def _k_cd_dense():
    return jit(_cd_dense)


@functools.cache
def _k_cd_sparse():
    return jit(_cd_sparse)


@functools.cache
def _k_xtr_dense():
    return jit(_xtr_dense)


@functools.cache
def _k_xtr_sparse():
    return jit(_xtr_sparse)


def cd_dense(X, w, r, ws, norms2, lam, mu, nrep=1):
    return float(_k_cd_dense()(X, w, r, ws, norms2, float(lam), float(mu), int(nrep)))


def cd_sparse(data, indices, indptr, offsets, c, w, r, ws, norms2, lam, mu, nrep=1):
    return float(
        _k_cd_sparse()(data, indices, indptr, offsets, c, w, r, ws, norms2, float(lam),
                       float(mu), int(nrep))
    )


def xtr_dense(X, r, cols):
    out = np.empty(cols.shape[0], dtype=np.float64)
    return _k_xtr_dense()(X, r, cols, out)


def xtr_sparse(data, indices, indptr, r, c, cols):
    out = np.empty(cols.shape[0], dtype=np.float64)
    return _k_xtr_sparse()(data, indices, indptr, r, float(c), cols, out)


# ----------------------------------------------------------------------------- NMF (HALS)
def _hals_sweep(W, XHt, HHt, prox_weight):
    """One HALS sweep over the columns of ``W`` (in place), row by row.

    The rows of ``W`` are independent given ``HHt``, so updating row ``i`` over all
    columns in turn gives exactly the column-by-column HALS sweep (the loop order of
    scikit-learn's coordinate descent).  Returns the sum of squared changes.
    """
    m, r = W.shape
    delta = 0.0
    for i in range(m):
        for k in range(r):
            hkk = HHt[k, k]
            den = hkk + prox_weight
            old = W[i, k]
            if den <= 0.0:
                new = 0.0
            else:
                s = XHt[i, k]
                for q in range(r):
                    s -= HHt[k, q] * W[i, q]
                num = s + hkk * old + prox_weight * old
                new = num / den
                if new < 0.0:
                    new = 0.0
            W[i, k] = new
            delta += (new - old) * (new - old)
    return delta


@functools.cache
def _k_hals():
    return jit(_hals_sweep)


def hals_sweep(W, XHt, HHt, prox_weight):
    """One HALS sweep of ``W`` (C-ordered, float32/64) in place.

    Returns ``(W, delta)`` with ``delta`` the squared norm of the change.
    """
    delta = _k_hals()(W, np.ascontiguousarray(XHt, dtype=W.dtype),
                      np.ascontiguousarray(HHt, dtype=W.dtype), W.dtype.type(prox_weight))
    return W, float(delta)


KERNELS = {
    "prox_soft_threshold": soft_threshold,
    "prox_clip": clip,
    "prox_project_simplex": project_simplex,
    "prox_project_l1ball": project_l1ball,
    "prox_simplex_threshold": simplex_threshold,
    "prox_tv1d": tv1d,
    "prox_cd_dense": cd_dense,
    "prox_cd_sparse": cd_sparse,
    "prox_xtr_dense": xtr_dense,
    "prox_xtr_sparse": xtr_sparse,
    "prox_hals_sweep": hals_sweep,
}
