"""Private helpers shared by the rank-selection module (pure ``xp`` code, NumPy or CuPy).

These are deliberately small: a Gram-based HOSVD/ST-HOSVD, a HOOI, a TT-SVD with fixed ranks
and TT/TR contraction and ALS.  The full-featured decompositions live in :mod:`lrsolve.tensor`
(issue 5); this module only needs enough of them to score candidate ranks.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..._backend import get_backend


# --------------------------------------------------------------------------- input checks
def as_tensor(X, name="X", min_ndim=2):
    """Return ``(bk, X)``: the backend and ``X`` as a float array of that backend."""
    bk = get_backend(X)
    xp = bk.xp
    if bk.host_io:
        X = xp.asarray(np.asarray(X))
    else:
        X = xp.asarray(X)
    if X.dtype.kind in "biu":
        X = X.astype(xp.float64)
    elif X.dtype.kind == "c":
        raise TypeError(f"{name} must be a real array; complex tensors are not supported")
    elif X.dtype.kind != "f":
        raise TypeError(f"{name} must be a real float array, got dtype {X.dtype}")
    elif X.dtype == np.float16:
        X = X.astype(xp.float32)
    if X.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {X.shape}")
    if 0 in X.shape:
        raise ValueError(f"{name} must not be empty, got shape {X.shape}")
    if not bool(xp.isfinite(X).all()):
        raise ValueError(f"{name} contains NaN or Inf; replace the non-finite entries first")
    return bk, X


def check_int(name, value, lo=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    return int(value)


def check_tol(tol, name="tol"):
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        raise TypeError(f"{name} must be a real number in (0, 1), got {tol!r}")
    if not (0.0 < float(tol) < 1.0) or not math.isfinite(tol):
        raise ValueError(f"{name} must lie in the open interval (0, 1), got {tol!r}")
    return float(tol)


def make_rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def host(xp, a):
    return a.get() if hasattr(a, "get") and xp.__name__ == "cupy" else np.asarray(a)


def fnorm2(xp, X):
    """Squared Frobenius norm accumulated in float64, as a Python float."""
    x = X.ravel()
    if x.dtype != np.float64:
        x = x.astype(np.float64)
    return float(xp.vdot(x, x))


# --------------------------------------------------------------------------- Tucker algebra
def mode_gram(xp, X, n):
    """``X_(n) X_(n)^T`` without forming the unfolding explicitly."""
    others = tuple(m for m in range(X.ndim) if m != n)
    return xp.tensordot(X, X, axes=(others, others))


def mode_dot(xp, X, M, n):
    """``X x_n M`` : contract mode ``n`` of ``X`` with the columns of ``M^T`` (M is J x I_n)."""
    Y = xp.tensordot(M, X, axes=(1, n))  # J x (other modes)
    return xp.moveaxis(Y, 0, n)


def leading_eigvecs(xp, G, r):
    """The ``r`` leading eigenvectors of a symmetric PSD matrix (columns)."""
    w, V = xp.linalg.eigh(G)
    return V[:, ::-1][:, :r]


def st_hosvd(xp, X, ranks, order=None):
    """Sequentially truncated HOSVD with fixed ranks -> (core, factors)."""
    order = range(X.ndim) if order is None else order
    factors = [None] * X.ndim
    core = X
    for n in order:
        U = leading_eigvecs(xp, mode_gram(xp, core, n), ranks[n])
        factors[n] = U
        core = mode_dot(xp, core, U.T, n)
    return core, factors


def tucker_error(xp, X, core, normX2=None):
    """Relative error of an orthonormal-factor Tucker model whose core is the projection of X."""
    normX2 = fnorm2(xp, X) if normX2 is None else normX2
    return math.sqrt(max(normX2 - fnorm2(xp, core), 0.0) / normX2)


def hooi(xp, X, ranks, n_iter=10, factors=None, tol=1e-10, normX2=None):
    """Higher-order orthogonal iteration (Gram + eigh per mode); returns (rel_error, factors).

    Starts from ST-HOSVD factors unless ``factors`` is given (warm start).
    """
    N = X.ndim
    normX2 = fnorm2(xp, X) if normX2 is None else normX2
    if factors is None:
        _, factors = st_hosvd(xp, X, ranks)
    factors = list(factors)
    # contract the modes with the largest compression first
    err_old = np.inf
    err = np.inf
    for _ in range(n_iter):
        for n in range(N):
            others = sorted((m for m in range(N) if m != n), key=lambda m: ranks[m] / X.shape[m])
            Y = X
            for m in others:
                Y = mode_dot(xp, Y, factors[m].T, m)
            factors[n] = leading_eigvecs(xp, mode_gram(xp, Y, n), ranks[n])
        core = mode_dot(xp, Y, factors[n].T, n)
        err = tucker_error(xp, X, core, normX2)
        if abs(err_old - err) <= tol * max(err, 1e-300):
            break
        err_old = err
    return err, factors


def tucker_size(shape, ranks):
    core = int(np.prod(ranks, dtype=np.int64))
    return core + int(sum(i * r for i, r in zip(shape, ranks, strict=False)))


# --------------------------------------------------------------------------- TT / TR algebra
def tt_size(shape, ranks):
    """Parameters of a TT/TR with bond ranks ``ranks`` (length d+1, ranks[0] == ranks[d])."""
    return int(sum(ranks[k] * shape[k] * ranks[k + 1] for k in range(len(shape))))


def tt_svd(xp, X, ranks):
    """TT-SVD with fixed interior ranks (length d-1) -> list of cores (r_{k-1}, I_k, r_k)."""
    shape = X.shape
    d = len(shape)
    cores = []
    C = X.reshape(shape[0], -1)
    rprev = 1
    for k in range(d - 1):
        C = C.reshape(rprev * shape[k], -1)
        r = min(int(ranks[k]), C.shape[0], C.shape[1])
        if C.shape[0] <= C.shape[1]:
            U = leading_eigvecs(xp, C @ C.T, r)
        else:
            w, V = xp.linalg.eigh(C.T @ C)
            V = V[:, ::-1][:, :r]
            U = C @ V
            nrm = xp.linalg.norm(U, axis=0)
            U = U / xp.where(nrm > 0, nrm, 1)
        cores.append(U.reshape(rprev, shape[k], r))
        C = U.T @ C
        rprev = r
    cores.append(C.reshape(rprev, shape[-1], 1))
    return cores


def tn_full(xp, cores):
    """Contract TT (boundary ranks 1) or TR cores into the full tensor."""
    T = cores[0]  # r0 x I0 x r1
    r0 = T.shape[0]
    for G in cores[1:]:
        T = xp.tensordot(T, G, axes=(T.ndim - 1, 0))
    # T: r0 x I0 x ... x I_{d-1} x r0  -> trace over the ring bond
    shape = T.shape[1:-1]
    T = T.reshape(r0, -1, T.shape[-1])
    return xp.trace(T, axis1=0, axis2=2).reshape(shape)


def _subchain(xp, cores, k):
    """Contract all cores except ``k`` (in ring order k+1, ..., k-1) -> (r_{k+1}, M, r_k)."""
    d = len(cores)
    idx = [(k + j) % d for j in range(1, d)]
    S = cores[idx[0]]
    for j in idx[1:]:
        S = xp.tensordot(S, cores[j], axes=(S.ndim - 1, 0))
    return S.reshape(S.shape[0], -1, S.shape[-1])


def tr_als(xp, X, cores, n_sweeps=2, reg=1e-12):
    """Plain ALS sweeps for a TR (or TT when boundary ranks are 1); cores updated in place.

    Returns the relative error after the last update.
    """
    d = X.ndim
    normX = math.sqrt(fnorm2(xp, X))
    for _ in range(n_sweeps):
        for k in range(d):
            S = _subchain(xp, cores, k)  # r_{k+1} x M x r_k
            rk1, M, rk = S.shape
            # unfolding of X with mode k first then modes k+1..k-1 (ring order)
            perm = [k] + [(k + j) % d for j in range(1, d)]
            Xk = xp.transpose(X, perm).reshape(X.shape[k], M)
            # G_k(a, i, b): X_k[i, m] = sum_{a,b} G_k[a,i,b] S[b,m,a]
            Smat = xp.transpose(S, (2, 0, 1)).reshape(rk * rk1, M)  # (a,b) x m
            gram = Smat @ Smat.T
            gram += (reg * float(xp.trace(gram)) / gram.shape[0] + 1e-300) * xp.eye(
                gram.shape[0], dtype=gram.dtype)
            rhs = Smat @ Xk.T  # (a,b) x i
            try:
                sol = xp.linalg.solve(gram, rhs)
            except Exception:  # singular: fall back to least squares
                sol = xp.linalg.lstsq(gram, rhs, rcond=None)[0]
            cores[k] = xp.transpose(sol.reshape(rk, rk1, X.shape[k]), (0, 2, 1))
    R = X - tn_full(xp, cores)
    return math.sqrt(fnorm2(xp, R)) / normX
