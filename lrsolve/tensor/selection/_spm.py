"""Symmetric CP decomposition by the subspace power method (Kileel & Pereira, 2019/2024)."""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._utils import as_tensor, check_int, fnorm2, host, make_rng

__all__ = ["spm", "SymmetricCPResult"]


@dataclass(frozen=True, repr=False, eq=False)
class SymmetricCPResult:
    """Result of :func:`spm`, the symmetric CP model ``sum_r weights[r] a_r^{(x) m}``.

    Unpacks like TensorLy's ``(weights, factors)`` pair.

    Attributes
    ----------
    weights : array, shape (R,)
        Weights ``lambda_r`` (of the input's array type).
    factors : array, shape (n, R)
        Unit-norm components ``a_r`` as columns.
    rank : int
        Number of components ``R``.
    order : int
        Tensor order ``m``.
    rel_error : float
        ``||X - sum_r lambda_r a_r^{(x) m}||_F / ||X||_F``.
    n_iter : numpy.ndarray
        Power iterations used for each component.
    eigenvalues : numpy.ndarray
        Singular values of the flattening (the rank estimate's evidence), decreasing.
    converged : bool
        True when every component met the convergence test.
    extra : dict
        Diagnostics: ``numerical_rank``, ``power_steps`` (batched steps), ``point_steps``
        (starting-point iterations) and the seconds spent in the subspace, the search and
        the deflations.
    """

    weights: Any
    factors: Any
    rank: int
    order: int
    rel_error: float
    n_iter: np.ndarray
    eigenvalues: np.ndarray
    converged: bool
    extra: dict = field(default_factory=dict)

    def __iter__(self):
        return iter((self.weights, self.factors))

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (self.weights, self.factors)[i]

    def to_tensor(self):
        """Return the dense symmetric tensor ``sum_r weights[r] a_r^{(x) m}``.

        Returns
        -------
        array, shape (n,) * order
            The reconstruction (of the factors' array type).

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import spm
        >>> a = np.array([0.6, 0.8])
        >>> res = spm(np.einsum("i,j,k->ijk", a, a, a))
        >>> bool(np.allclose(res.to_tensor(), np.einsum("i,j,k->ijk", a, a, a)))
        True
        """
        A = self.factors
        xp = _xp_of(A)
        out = xp.zeros((A.shape[0],) * self.order, dtype=A.dtype)
        for r in range(A.shape[1]):
            t = A[:, r] * self.weights[r]
            for _ in range(self.order - 1):
                t = t[..., None] * A[:, r]
            out += t
        return out

    def __repr__(self):
        return (f"SymmetricCPResult(rank={self.rank}, order={self.order}, "
                f"rel_error={self.rel_error:.3e}, converged={self.converged})")


def _xp_of(a):
    if type(a).__module__.partition(".")[0] == "cupy":
        import cupy

        return cupy
    return np


def _kr_power(xp, x, k):
    """Rows: vec(x_b^{(x) k}) for each column x_b of x (n x B) -> (B, n^k)."""
    B = x.shape[1]
    out = xp.ones((B, 1), dtype=x.dtype)
    for _ in range(k):
        out = (out[:, :, None] * x.T[:, None, :]).reshape(B, -1)
    return out


class _Embed:
    """Coordinates of ``vec(x^{(x) k})``: in the orthonormal basis of the symmetric subspace
    ``Sym^2`` (``e_i e_i`` and ``(e_i e_j + e_j e_i) / sqrt 2``, dimension ``n(n+1)/2``) for
    ``k = 2`` -- half the work of the plain Kronecker coordinates -- and plain otherwise."""

    def __init__(self, xp, n, k, dtype):
        self.n, self.k = n, k
        if k == 2:
            i, j = np.triu_indices(n)
            self.i, self.j = xp.asarray(i), xp.asarray(j)
            self.w = xp.asarray(np.where(i == j, 1.0, math.sqrt(2.0)), dtype=dtype)
            self.rows = xp.asarray(i * n + j)
            self.d = int(i.size)
        else:
            self.rows, self.d = None, n ** k

    def __call__(self, xp, x):
        """(n, B) -> (B, d): the coordinates of each column's k-th tensor power."""
        if self.k == 2:
            xt = x.T
            return xt[:, self.i] * xt[:, self.j] * self.w
        return _kr_power(xp, x, self.k)

    def restrict(self, M, axis):
        """Rows (axis 0) or columns (axis 1) of a flattening in these coordinates."""
        if self.rows is None:
            return M
        if axis == 0:
            return M[self.rows] * self.w[:, None]
        return M[:, self.rows] * self.w

    def contract(self, xp, Wv, x):
        """Column b: the tensor with coordinates ``Wv[b]`` contracted with ``x_b^{k-1}``."""
        B, n = Wv.shape[0], self.n
        if self.k == 1:
            return Wv.T
        if self.k == 2:
            v = Wv / self.w
            Wf = xp.zeros((B, n, n), dtype=Wv.dtype)
            Wf[:, self.i, self.j] = v
            Wf[:, self.j, self.i] = v
            return xp.matmul(Wf, x.T[:, :, None])[:, :, 0].T
        Wv = Wv.reshape(B, n, n ** (self.k - 1))
        return xp.matmul(Wv, _kr_power(xp, x, self.k - 1)[:, :, None])[:, :, 0].T


def _drop_directions(xp, P, *mats):
    """``M Qc`` for each ``M``, where ``Qc`` is an orthonormal basis of the complement of the
    orthonormal columns of ``P`` (``p x k``): the Householder QR of ``P`` (on the host, it is
    small) in compact WY form, ``H = I - V T V^T``, whose last ``p - k`` columns are ``Qc``;
    ``M Qc = M[:, k:] - ((M V) T) V[k:]^T`` costs ``2 p k`` per row instead of ``p^2``."""
    Ph = host(xp, P)
    p, k = Ph.shape
    h, tau = np.linalg.qr(Ph, mode="raw")
    V = np.tril(h.T, -1)[:, :k]
    V[np.arange(k), np.arange(k)] = 1.0
    T = np.zeros((k, k))
    for i in range(k):
        T[i, i] = tau[i]
        if i:
            T[:i, i] = -tau[i] * (T[:i, :i] @ (V[:, :i].T @ V[:, i]))
    out = []
    for M in mats:
        Vd = xp.asarray(V, dtype=M.dtype)
        Td = xp.asarray(T, dtype=M.dtype)
        out.append(M[:, k:] - ((M @ Vd) @ Td) @ Vd[k:].T)
    return out


def _check_symmetric(xp, X, name="X"):
    n = X.shape[0]
    if any(s != n for s in X.shape):
        raise ValueError(f"{name} must be a symmetric tensor with equal dimensions, got shape "
                         f"{X.shape}; spm needs a symmetric tensor")
    m = X.ndim
    normX = math.sqrt(fnorm2(xp, X))
    tol = (1e-4 if X.dtype == np.float32 else 1e-8) * max(normX, 1e-300)
    perms = [(1, 0, *range(2, m)), (*range(1, m), 0)]
    for p in perms:
        d = math.sqrt(fnorm2(xp, X - xp.transpose(X, p)))
        if d > tol:
            raise ValueError(f"{name} is not symmetric (||X - X^T_perm|| / ||X|| = "
                             f"{d / max(normX, 1e-300):.2e} for axes {p}); spm needs a symmetric "
                             "tensor -- symmetrise it by averaging over all axis permutations")
    return normX


def spm(X, rank=None, *, tol=1e-4, maxiter=5000, ntries=3, conv_tol=None, polish=True,
        batch=64, extrapolate=True, rng=None):
    """Symmetric CP decomposition by the subspace power method (SPM).

    Flattens the order-``m`` symmetric tensor into an ``n^ceil(m/2) x n^floor(m/2)`` matrix,
    whose column space is spanned by ``a_r^{(x) ceil(m/2)}``; its numerical rank is the CP
    rank (so the rank need not be known).  Components are the maximisers of
    ``||P (x^{(x) k})||^2`` on the unit sphere, found by power iterations on the projection
    ``P`` onto the current subspace, and removed with the Wedderburn rank-one deflation of
    the flattening restricted to the subspace (as in Kileel & Pereira).  Many starting
    points are iterated together (``batch`` of them: each power step is two matrix-matrix
    products), every converged one is accepted and deflated, and the subspace basis shrinks
    as components are removed.  For orders 3 and 4 the flattening is taken in the
    ``n(n+1)/2`` coordinates of the symmetric matrices, which halves the work.  Works for
    even and odd orders ``m >= 3`` on NumPy and CuPy arrays.

    Parameters
    ----------
    X : array_like, shape (n, n, ..., n)
        Real symmetric tensor of order ``m >= 3``.
    rank : int, optional
        Number of components.  Default: the number of singular values of the flattening
        above ``tol`` times the largest one.
    tol : float, optional
        Relative singular-value threshold of the rank estimate.
    maxiter : int, optional
        Maximum power iterations for one starting point.
    ntries : int, optional
        Minimum number of starting points iterated together, and the number of starts that
        must converge to non-components (``||P x^{(x) k}||^2 < 1 - 0.01 / sqrt(n)``, e.g. on
        noisy data) before the best of them is accepted anyway.
    conv_tol : float, optional
        A starting point has converged when the iterate moves less than this (default
        ``1e-13`` in float64, ``1e-6`` in float32).
    polish : bool, optional
        Re-fit the weights by linear least squares at the end.
    batch : int, optional
        Largest number of starting points iterated together.
    extrapolate : bool, optional
        Aitken extrapolation of the (linearly converging) power iterations once their
        convergence ratio is steady; about halves the iterations.
    rng : int or numpy.random.Generator, optional
        Seed of the random starts.

    Returns
    -------
    SymmetricCPResult
        ``weights, factors = spm(X)``; also ``rank``, ``rel_error``, ``n_iter``,
        ``eigenvalues`` and ``converged``.

    Raises
    ------
    ValueError
        If ``X`` is not symmetric, is of order < 3, or ``rank`` exceeds the flattening's rank.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import spm
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((6, 3)); A /= np.linalg.norm(A, axis=0)
    >>> X = np.einsum("r,ir,jr,kr,lr->ijkl", [3.0, 2.0, 1.0], A, A, A, A)
    >>> res = spm(X, rng=0)
    >>> res.rank, bool(res.rel_error < 1e-10)
    (3, True)
    >>> np.round(np.sort(res.weights), 8).tolist()
    [1.0, 2.0, 3.0]
    """
    bk, X = as_tensor(X, min_ndim=3)
    xp = bk.xp
    normX = _check_symmetric(xp, X)
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not (0 < tol < 1):
        raise ValueError(f"tol must be a relative threshold in (0, 1), got {tol!r}")
    maxiter = check_int("maxiter", maxiter)
    ntries = check_int("ntries", ntries)
    batch = check_int("batch", batch)
    if not isinstance(extrapolate, (bool, np.bool_)):
        raise TypeError(f"extrapolate must be True or False, got {extrapolate!r}")
    gen = make_rng(rng)
    dt = X.dtype
    f64 = xp.float64
    if conv_tol is None:
        conv_tol = 1e-6 if dt == np.float32 else 1e-13
    dup_cos = 1 - (1e-3 if dt == np.float32 else 1e-6)
    n, m = X.shape[0], X.ndim
    kc = (m + 1) // 2  # column-space factors (a^{(x) kc} spans the columns)
    kr = m - kc
    ec = _Embed(xp, n, kc, dt)
    er = ec if kr == kc else _Embed(xp, n, kr, dt)
    t0 = time.perf_counter()
    Me = er.restrict(ec.restrict(X.reshape(n ** kc, n ** kr), 0), 1)
    # --- subspace and rank
    if kc == kr:
        w, U = xp.linalg.eigh(Me)
        order = xp.argsort(-xp.abs(w))
        w, U = w[order], U[:, order]
        sv = host(xp, xp.abs(w))
    else:
        U, w, Vh = xp.linalg.svd(Me, full_matrices=False)
        sv = host(xp, w)
    if sv[0] <= 0:
        raise ValueError("X is zero; nothing to decompose")
    numrank = int((sv > tol * sv[0]).sum())
    # SPM needs the components' column space to be a proper subspace of the embedded
    # Sym^kc: R < the row dimension of the flattening (square for even order; for odd
    # order the flattening is tall and R <= its column count is fine)
    limit = int(Me.shape[0])
    if rank is None:
        R = numrank
        if R >= limit > 1:  # (dimension 1: the one component is the tensor itself)
            raise ValueError(
                f"the flattening of X has full numerical rank {limit} at tol={tol:g} (X is not "
                f"low-rank to that tolerance: noise?), and SPM cannot separate components of "
                f"a full-rank flattening; pass rank= (the singular values fall from "
                f"{sv[0]:.3g} to {sv[limit - 1]:.3g}"
                + (f", the largest relative gap lies after "
                   f"{1 + int(np.argmax(sv[:limit - 1] / np.maximum(sv[1:limit], 1e-300)))}"
                   if limit > 1 else "")
                + ") or a larger tol")
    else:
        R = check_int("rank", rank)
        if R >= limit > 1:
            raise ValueError(f"rank={R} exceeds what SPM can separate: it must be smaller than "
                             f"the size {limit} of the "
                             f"flattening: at {limit} its column space is everything and SPM "
                             f"cannot tell components apart (order {m}, dimension {n}); pass a "
                             "smaller rank")
    floor = 100 * float(np.finfo(dt).eps) * float(sv[0])  # rounding level
    if float(sv[R - 1]) <= floor:
        raise ValueError(f"rank={R} exceeds the rank {int((sv > floor).sum())} of the "
                         "flattening; pass a smaller rank or leave it out")
    t_sub = time.perf_counter() - t0
    U = U[:, :R]
    Vt = U if kc == kr else Vh[:R].T  # row-space vectors
    # inverse of the (deflated, regularised) coefficient matrix: G0 - L K^T, the low-rank
    # Wedderburn updates folded into G0 every ``flush`` components (one BLAS-3 product)
    G0 = xp.diag(1.0 / w[:R].astype(f64))
    flush = 32
    L = xp.zeros((R, 2 * flush), dtype=f64)
    K = xp.zeros((R, 2 * flush), dtype=f64)
    nl = 0

    def gmul(v):  # Ginv @ v
        return G0 @ v - L[:, :nl] @ (K[:, :nl].T @ v) if nl else G0 @ v

    def gtmul(v):  # Ginv^T @ v
        return G0.T @ v - K[:, :nl] @ (L[:, :nl].T @ v) if nl else G0.T @ v

    # power-iteration basis: Uc = U Q spans the deflated subspace, minus the Pp directions
    Uc = U.copy()
    Q = xp.eye(R, dtype=f64)
    Pp = xp.zeros((R, 0), dtype=f64)
    Ppd = Pp.astype(dt)
    sym = kc == kr
    # right null directions of the deflated flattening (odd orders; rows)
    QmT = None if sym else xp.zeros((R, R), dtype=f64)
    Afound = xp.zeros((n, R), dtype=dt)
    weights, iters = [], []
    all_conv = True
    ftol = 1e-2 / math.sqrt(n)

    def starts(k):
        x0 = xp.asarray(gen.standard_normal((n, k)), dtype=dt)
        return x0 / xp.linalg.norm(x0, axis=0)

    def nslots(found):
        return min(batch, max(ntries, R - found))

    x = starts(nslots(0))
    its = np.zeros(x.shape[1], dtype=np.int64)
    dprev = np.full(x.shape[1], np.inf)  # last move, last ratio, last extrapolation
    rprev = np.zeros(x.shape[1])
    last = np.zeros(x.shape[1], dtype=np.int64)
    found, nbad, ndup, best_bad, last_dup = 0, 0, 0, None, None
    n_steps, n_points, t_defl = 0, 0, 0.0
    t1 = time.perf_counter()
    while found < R:
        its += 1
        n_steps += 1
        n_points += x.shape[1]
        Z = ec(xp, x)  # B x d
        c = Z @ Uc  # B x R'
        if Pp.shape[1]:
            c = c - (c @ Ppd) @ Ppd.T
        F = xp.sum(c * c, axis=1)
        g = ec.contract(xp, c @ Uc.T, x)
        xn = g / xp.linalg.norm(g, axis=0)
        dx = xn - x * xp.sign(xp.sum(xn * x, axis=0))
        delta = xp.linalg.norm(dx, axis=0)
        Fh, dh = host(xp, F), host(xp, delta)
        conv = dh < conv_tol
        if extrapolate:
            # the iterates converge linearly with a steady ratio r: Aitken's step
            # x + r / (1 - r) dx removes the slowest error component
            r = dh / dprev
            ok = ((dh < 0.05) & (np.abs(r - rprev) < 0.2) & (r < 0.95) & (its - last >= 2)
                  & ~conv)
            dprev, rprev = dh, r
            if ok.any():
                fac = np.where(ok, r / (1 - np.where(ok, r, 0.0)), 0.0)
                xn = xn + dx * xp.asarray(fac, dtype=dt)
                xn = xn / xp.linalg.norm(xn, axis=0)
                last[ok] = its[ok]
        x = xn
        fin = conv | (its >= maxiter)
        if not fin.any():
            continue
        good = fin & (Fh >= 1 - ftol)
        accepted = []
        for b in sorted(np.flatnonzero(good), key=lambda b: -Fh[b]):
            a = x[:, b]
            if found + len(accepted) >= R:
                break
            if (found and float(xp.abs(a @ Afound[:, :found]).max()) > dup_cos) or any(
                    abs(float(a @ x[:, bb])) > dup_cos for bb in accepted):
                ndup += 1
                last_dup = (a.copy(), False, int(its[b]))
                continue
            accepted.append(b)
        bad = np.flatnonzero(fin & ~good)
        if bad.size:
            nbad += bad.size
            b = bad[np.argmax(Fh[bad])]
            if best_bad is None or Fh[b] > best_bad[1]:
                best_bad = (x[:, b].copy(), Fh[b], bool(conv[b]), int(its[b]))
        chosen = [(x[:, b], bool(conv[b]), int(its[b])) for b in accepted]
        if not chosen and nbad >= max(ntries, x.shape[1]):
            chosen = [(best_bad[0], best_bad[2], best_bad[3])]
        if not chosen and ndup >= 20 * max(ntries, x.shape[1]):
            # safeguard (degenerate input): the deflation keeps returning known components
            chosen = [(best_bad[0], False, best_bad[3]) if best_bad is not None else last_dup]
        td = time.perf_counter()
        for a, ok, itb in chosen:
            a = a / xp.linalg.norm(a)
            all_conv &= ok
            iters.append(itb)
            cu = (ec(xp, a[:, None]) @ U)[0].astype(f64)
            cw = cu if sym else (er(xp, a[:, None]) @ Vt)[0].astype(f64)
            yv = gmul(cu)
            denom = float(cw @ yv)
            Afound[:, found] = a
            weights.append(1.0 / denom if denom != 0 else 0.0)
            found += 1
            if found == R:
                break
            # Wedderburn deflation C <- C - lam cu cw^T, kept invertible by adding xl yr^T
            # (xl, yr: the new left/right null vectors); Ginv tracks the inverse.  For even
            # orders everything stays symmetric: cw = cu, yr = xl, Ginv = Ginv^T.
            gw = yv if sym else gtmul(cw)
            q = Q.T @ gw
            if Pp.shape[1]:
                q = q - Pp @ (Pp.T @ q)
            q = q / xp.linalg.norm(q)
            xl = Q @ q
            if sym:
                yr = xl
            else:
                nq = found - 1
                yr = yv - (QmT[:nq].T @ (QmT[:nq] @ yv)) if nq else yv
                yr = yr / xp.linalg.norm(yr)
                QmT[nq] = yr
            # Woodbury: Ginv <- Ginv - (Ginv Au) S^{-1} (Bv^T Ginv), Au = [-lam cu, xl],
            # Bv = [cw, yr], S = I + Bv^T Ginv Au
            gx = gmul(xl)
            GA = xp.stack([-weights[-1] * yv, gx], axis=1)
            GtB = xp.stack([gw, gx if sym else gtmul(yr)], axis=1)
            Bv = xp.stack([cw, yr], axis=1)
            S = xp.eye(2) + Bv.T @ GA
            if nl == L.shape[1]:
                G0 = G0 - L @ K.T
                nl = 0
            L[:, nl:nl + 2] = GA
            K[:, nl:nl + 2] = xp.linalg.solve(S, GtB.T).T
            nl += 2
            Pp = xp.concatenate([Pp, q[:, None]], axis=1)
            if Pp.shape[1] >= max(16, Pp.shape[0] // 8):  # shrink the basis
                Q, Uc = _drop_directions(xp, Pp, Q, Uc)
                Pp = xp.zeros((Q.shape[1], 0), dtype=f64)
            Ppd = Pp.astype(dt)
        t_defl += time.perf_counter() - td
        if chosen:
            nbad, ndup, best_bad = 0, 0, None
        # replace the finished starting points; keep the running ones
        keep = np.flatnonzero(~fin)
        k_new = max(0, nslots(found) - keep.size) if found < R else 0
        xk = x[:, xp.asarray(keep)]
        x = xp.concatenate([xk, starts(k_new)], axis=1) if k_new else xk
        its = np.concatenate([its[keep], np.zeros(k_new, dtype=np.int64)])
        dprev = np.concatenate([dprev[keep], np.full(k_new, np.inf)])
        rprev = np.concatenate([rprev[keep], np.zeros(k_new)])
        last = np.concatenate([last[keep], np.zeros(k_new, dtype=np.int64)])
    t_loop = time.perf_counter() - t1
    A = Afound
    lam = xp.asarray(weights, dtype=f64)
    # least-squares weights and the exact error through the Gram matrix
    Vc = ec(xp, A).T.astype(f64)  # d_c x R
    Wc = er(xp, A).T.astype(f64)
    Me64 = Me.astype(f64)
    b = xp.sum(Vc * (Me64 @ Wc), axis=0)
    A64 = A.astype(f64)
    H = (A64.T @ A64) ** m
    if polish:
        try:
            lam = xp.linalg.solve(H, b)
        except Exception:
            lam = xp.linalg.lstsq(H, b, rcond=None)[0]
    if Me.size * R <= 1e10:  # direct residual (no cancellation)
        Res = Me64 - (Vc * lam) @ Wc.T
        rel = math.sqrt(fnorm2(xp, Res)) / normX
    else:
        err2 = normX ** 2 - 2 * float(lam @ b) + float(lam @ (H @ lam))
        rel = math.sqrt(max(err2, 0.0)) / normX
    return SymmetricCPResult(
        weights=bk.to_output(lam.astype(dt)), factors=bk.to_output(A), rank=R, order=m,
        rel_error=rel, n_iter=np.asarray(iters), eigenvalues=sv, converged=all_conv,
        extra={"numerical_rank": numrank, "power_steps": n_steps, "point_steps": n_points,
               "seconds_subspace": t_sub, "seconds_search": t_loop - t_defl,
               "seconds_deflation": t_defl})
