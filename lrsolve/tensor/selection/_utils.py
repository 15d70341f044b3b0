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
from ..._linalg import flip_signs


# --------------------------------------------------------------------------- input checks
def as_tensor(X, name="X", min_ndim=2, nonzero=False):
    """Return ``(bk, X)``: the backend and ``X`` as a float array of that backend.

    ``nonzero=True``: an all-zero ``X`` raises (rank selection has nothing to select).
    """
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
    if nonzero:
        check_nonzero(xp, X, name)
    return bk, X


def check_nonzero(xp, X, name="X"):
    """Raise ``ValueError`` for an all-zero tensor (every rank fits it exactly)."""
    if not bool(xp.any(X != 0)):
        raise ValueError(f"{name} is all zeros: every rank (even 1) represents it exactly, and "
                         "relative errors are undefined; there is no rank to select")


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
    # the same vectors from LAPACK and cuSOLVER (TR splits reshape them: signs matter)
    return flip_signs(xp, V[:, ::-1][:, :r])[0]


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


def _transfer(xp, G):
    """Transfer matrix ``T[(x, x'), (y, y')] = sum_i G[x, i, y] G[x', i, y']`` of a core."""
    a, _, b = G.shape
    return xp.einsum("xiy,uiv->xuyv", G, G).reshape(a * a, b * b)


def _subchain_gram(xp, T, k, ra, rb):
    """Gram matrix of the (a, b)-rows of the subchain unfolding, from transfer matrices.

    ``T`` holds the transfer matrices of all cores; the product runs over the ring order
    ``k+1, ..., k-1`` (``r_{k+1}^2 x r_k^2``) and is rearranged to ``(r_k r_{k+1})^2``.
    """
    d = len(T)
    E = T[(k + 1) % d]
    for j in range(2, d):
        E = E @ T[(k + j) % d]
    E = E.reshape(rb, rb, ra, ra)
    return xp.transpose(E, (2, 0, 3, 1)).reshape(ra * rb, ra * rb)


def _inner_error(xp, last, normX2):
    """Relative error from the last update's normal equations, or None where the formula
    ``||X||^2 - 2 <X, TN> + ||TN||^2`` cannot resolve it (small errors; the threshold is
    larger in single precision)."""
    gram0, rhs, sol = (a.astype(np.float64) if a.dtype != np.float64 else a for a in last)
    r2 = normX2 - 2.0 * float(xp.sum(rhs * sol)) + float(xp.sum(sol * (gram0 @ sol)))
    thr = 1e-6 if last[0].dtype == np.float64 else 1e-3
    return math.sqrt(r2 / normX2) if r2 > thr * normX2 else None


def _tr_als_env(xp, X, cores, n_sweeps, reg, normX2, rtol):
    """TR-ALS with left/right environments (``d >= 3``).

    Core ``k`` is fitted against ``L_k`` (cores ``0..k-1`` contracted, ``r_0 x P x r_k``) and
    ``R_k`` (cores ``k+1..d-1``, ``r_{k+1} x Q x r_0``): the right-hand side contracts ``X``
    with the larger environment first (``r^2 |X|`` flops) and then with the smaller one, the
    Gram matrix is a product of ``r^2 x r^2`` transfer matrices, and ``L`` grows by one core
    per update; the ``R_k`` are rebuilt once per sweep.  No ``r^3 |X|`` subchain is formed.
    """
    d = X.ndim
    shape = X.shape
    T = [_transfer(xp, G) for G in cores]
    last = None
    err_old = math.inf
    for _ in range(n_sweeps):
        Rs = [None] * d
        Rs[d - 2] = cores[d - 1]
        for k in range(d - 3, -1, -1):
            G = cores[k + 1]
            Rn = Rs[k + 1]
            Rs[k] = (G.reshape(-1, G.shape[2]) @ Rn.reshape(Rn.shape[0], -1)).reshape(
                G.shape[0], -1, Rn.shape[2])
        # transfer-matrix products: TRs[k] = T_{k+1} ... T_{d-1}, TL = T_0 ... T_{k-1}
        TRs = [None] * d
        TRs[d - 2] = T[d - 1]
        for k in range(d - 3, -1, -1):
            TRs[k] = T[k + 1] @ TRs[k + 1]
        TL = None
        L = None
        for k in range(d):
            rk, I, rk1 = cores[k].shape
            P = int(np.prod(shape[:k], dtype=np.int64))
            Q = int(np.prod(shape[k + 1:], dtype=np.int64))
            # the large environments enter batched products as they are (no copies)
            if k == 0:
                # rhs[a, i, b] = sum_q X[i, q] R[b, q, a]; R = R_0 is (r1, Q, r0)
                Z = xp.matmul(X.reshape(I, Q)[None], Rs[0])  # (b, i, a)
                rhs = xp.transpose(Z, (2, 0, 1)).reshape(rk * rk1, I)
            elif k == d - 1:
                # rhs[a, i, b] = sum_l L[b, l, a] X[l, i]; L is (r0, P, r_{d-1})
                Z = xp.matmul(xp.transpose(L, (0, 2, 1)), X.reshape(P, I))  # (b, a, i)
                rhs = xp.transpose(Z, (1, 0, 2)).reshape(rk * rk1, I)
            else:
                R = Rs[k]
                r0 = L.shape[0]
                if Q <= P:  # X with L first (r^2 |X|), then R (r^3 I Q, small)
                    W = xp.matmul(xp.transpose(L, (0, 2, 1)), X.reshape(P, I * Q))  # c,a,(i,q)
                    W = xp.transpose(W.reshape(r0, rk, I, Q), (1, 2, 0, 3)).reshape(
                        rk * I, r0 * Q)
                    Rmat = xp.transpose(R, (2, 1, 0)).reshape(r0 * Q, rk1)
                    rhs = (W @ Rmat).reshape(rk, I, rk1)
                else:  # X with R first (r^2 |X|), then L (r^3 P I, small)
                    V = xp.matmul(X.reshape(P * I, Q)[None], R)  # (b, (l, i), c)
                    V = xp.transpose(V.reshape(rk1, P, I, r0), (3, 1, 2, 0)).reshape(
                        r0 * P, I * rk1)
                    Lmat = xp.transpose(L, (2, 0, 1)).reshape(rk, r0 * P)
                    rhs = (Lmat @ V).reshape(rk, I, rk1)
                rhs = xp.transpose(rhs, (0, 2, 1)).reshape(rk * rk1, I)
            E = TL if TRs[k] is None else (TRs[k] if TL is None else TRs[k] @ TL)
            gram0 = xp.transpose(E.reshape(rk1, rk1, rk, rk), (2, 0, 3, 1)).reshape(
                rk * rk1, rk * rk1)
            gram = gram0 + (reg * float(xp.trace(gram0)) / gram0.shape[0] + 1e-300) * xp.eye(
                gram0.shape[0], dtype=gram0.dtype)
            try:
                sol = xp.linalg.solve(gram, rhs)
            except Exception:  # singular: fall back to least squares
                sol = xp.linalg.lstsq(gram, rhs, rcond=None)[0]
            G = xp.transpose(sol.reshape(rk, rk1, I), (0, 2, 1))
            cores[k] = G
            T[k] = _transfer(xp, G)
            TL = T[k] if TL is None else TL @ T[k]
            last = (gram0, rhs, sol)
            if k < d - 1:
                if L is None:
                    L = G
                else:
                    L = (L.reshape(-1, rk) @ G.reshape(rk, -1)).reshape(L.shape[0], -1, rk1)
        if rtol > 0:
            err = _inner_error(xp, last, normX2)
            if err is not None and err_old - err < rtol * err:
                break
            err_old = err if err is not None else math.inf
    return last


def tr_als(xp, X, cores, n_sweeps=2, reg=1e-12, normX2=None, rtol=0.0):
    """Plain ALS sweeps for a TR (or TT when boundary ranks are 1); cores updated in place.

    The normal equations' Gram matrix of each core update is the product of the other
    cores' transfer matrices (``r^2 x r^2``) when that is cheaper than the Gram of the
    subchain unfolding, and the relative error after the last update is computed from
    inner products (``||X||^2 - 2 <X, TN> + ||TN||^2``), without contracting the network,
    unless it is too small for that formula to resolve (then the residual is formed).
    With ``rtol > 0`` the sweeps stop once a sweep lowers that error by less than
    ``rtol`` times itself.
    """
    d = X.ndim
    normX2 = fnorm2(xp, X) if normX2 is None else normX2
    last = None
    T = None
    err_old = math.inf
    if d >= 3 and n_sweeps > 0:
        X = xp.ascontiguousarray(X)
        last = _tr_als_env(xp, X, cores, n_sweeps, reg, normX2, rtol)
        n_sweeps = 0
    for _ in range(n_sweeps):
        for k in range(d):
            S = _subchain(xp, cores, k)  # r_{k+1} x M x r_k
            rk1, M, rk = S.shape
            # unfolding of X with mode k first then modes k+1..k-1 (ring order)
            perm = [k] + [(k + j) % d for j in range(1, d)]
            Xk = xp.transpose(X, perm).reshape(X.shape[k], M)
            # G_k(a, i, b): X_k[i, m] = sum_{a,b} G_k[a,i,b] S[b,m,a]
            if d > 2 and M >= 4 * rk * rk1:
                if T is None:
                    T = [_transfer(xp, G) for G in cores]
                gram0 = _subchain_gram(xp, T, k, rk, rk1)
                # rhs[(a, b), i] = sum_m S[b, m, a] X_k[i, m]: a batched product over b
                # (no transposed copy of the subchain)
                rhs = xp.transpose(xp.matmul(Xk[None], S), (2, 0, 1)).reshape(rk * rk1, -1)
            else:
                Smat = xp.transpose(S, (2, 0, 1)).reshape(rk * rk1, M)  # (a,b) x m
                gram0 = Smat @ Smat.T
                rhs = Smat @ Xk.T  # (a,b) x i
            gram = gram0 + (reg * float(xp.trace(gram0)) / gram0.shape[0] + 1e-300) * xp.eye(
                gram0.shape[0], dtype=gram0.dtype)
            try:
                sol = xp.linalg.solve(gram, rhs)
            except Exception:  # singular: fall back to least squares
                sol = xp.linalg.lstsq(gram, rhs, rcond=None)[0]
            cores[k] = xp.transpose(sol.reshape(rk, rk1, X.shape[k]), (0, 2, 1))
            if T is not None:
                T[k] = _transfer(xp, cores[k])
            last = (gram0, rhs, sol)
        if rtol > 0:
            err = _inner_error(xp, last, normX2)
            if err is not None and err_old - err < rtol * err:
                break
            err_old = err if err is not None else math.inf
    if last is not None:
        err = _inner_error(xp, last, normX2)
        if err is not None:
            return err
    R = X - tn_full(xp, cores)
    return math.sqrt(fnorm2(xp, R) / normX2)
