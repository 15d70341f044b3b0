"""Symmetric CP decomposition by the subspace power method (Kileel & Pereira, 2019/2024)."""

from __future__ import annotations

import math
import numbers
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
        rng=None):
    """Symmetric CP decomposition by the subspace power method (SPM).

    Flattens the order-``m`` symmetric tensor into an ``n^ceil(m/2) x n^floor(m/2)`` matrix,
    whose column space is spanned by ``a_r^{(x) ceil(m/2)}``; its numerical rank is the CP
    rank (so the rank need not be known).  Components are then found one at a time as the
    maximisers of ``||P (x^{(x) k})||^2`` on the unit sphere (power iterations on the
    projection ``P`` onto the current subspace, several random starts in one batch), and
    deflated with a rank-one Wedderburn update of the flattening restricted to the subspace.
    Works for even and odd orders ``m >= 3`` on NumPy and CuPy arrays.

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
        Maximum power iterations per component.
    ntries : int, optional
        Random starts run together for each component (the best is kept).
    conv_tol : float, optional
        Stop a power iteration when the iterate moves less than this (default ``1e-13``
        in float64, ``1e-6`` in float32).
    polish : bool, optional
        Re-fit the weights by linear least squares at the end.
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
    gen = make_rng(rng)
    dt = X.dtype
    if conv_tol is None:
        conv_tol = 1e-6 if dt == np.float32 else 1e-13
    n, m = X.shape[0], X.ndim
    kc = (m + 1) // 2  # column-space factors (a^{(x) kc} spans the columns)
    kr = m - kc
    M = X.reshape(n ** kc, n ** kr)
    # --- subspace and rank
    if kc == kr:
        w, U = xp.linalg.eigh(M)
        order = xp.argsort(-xp.abs(w))
        w, U = w[order], U[:, order]
        sv = host(xp, xp.abs(w))
    else:
        w2, U = xp.linalg.eigh(M @ M.T)
        order = xp.argsort(-w2)
        w2, U = w2[order], U[:, order]
        sv = np.sqrt(np.maximum(host(xp, w2), 0.0))
    if sv[0] <= 0:
        raise ValueError("X is zero; nothing to decompose")
    numrank = int((sv > tol * sv[0]).sum())
    if rank is None:
        R = numrank
    else:
        R = check_int("rank", rank)
        limit = min(M.shape)
        if R > limit:
            raise ValueError(f"rank={R} exceeds the size {limit} of the flattening; SPM recovers "
                             f"at most n^floor(m/2) = {limit} components")
    U = U[:, :R]
    if kc == kr:
        C = xp.diag(w[:R])
        Vt = U  # row-space vectors are the same
    else:
        s = xp.sqrt(xp.maximum(w2[:R], 0))
        Vt = (M.T @ U) / s  # n^kr x R, orthonormal right singular vectors
        C = xp.diag(s)
    Cd = C.astype(xp.float64)
    Ginv = xp.linalg.inv(Cd)
    Pm = xp.zeros((R, 0), dtype=dt)  # removed left directions (orthonormal)
    Qm = xp.zeros((R, 0), dtype=xp.float64)
    comps, weights, iters = [], [], []
    all_conv = True
    ftol = 1e-2 / math.sqrt(n)
    for j in range(R):
        x = xp.asarray(gen.standard_normal((n, ntries)), dtype=dt)
        x /= xp.linalg.norm(x, axis=0)
        done = False
        it = 0
        best_x, _bestF = None, -1.0
        while it < maxiter:
            it += 1
            Z = _kr_power(xp, x, kc)  # B x n^kc
            c = Z @ U  # B x R
            if Pm.shape[1]:
                c = c - (c @ Pm) @ Pm.T
            F = xp.sum(c * c, axis=1)
            Wv = c @ U.T  # B x n^kc
            if kc > 1:
                Wv = Wv.reshape(ntries, n, n ** (kc - 1))
                g = xp.einsum("bij,bj->bi", Wv, _kr_power(xp, x, kc - 1)).T
            else:
                g = Wv.T
            gn = xp.linalg.norm(g, axis=0)
            xn = g / gn
            delta = xp.linalg.norm(xn - x * xp.sign(xp.sum(xn * x, axis=0)), axis=0)
            x = xn
            Fh = host(xp, F)
            dh = host(xp, delta)
            conv = dh < conv_tol
            if conv.any():
                cand = np.flatnonzero(conv)
                b = cand[np.argmax(Fh[cand])]
                if Fh[b] >= 1 - ftol or conv.all():
                    best_x, _bestF, done = x[:, b], Fh[b], True
                    break
        if not done:
            Fh = host(xp, xp.sum((_kr_power(xp, x, kc) @ U) ** 2, axis=1))
            b = int(np.argmax(Fh))
            best_x = x[:, b]
            all_conv = False
        a = best_x / xp.linalg.norm(best_x)
        iters.append(it)
        cu = (_kr_power(xp, a[:, None], kc) @ U)[0].astype(xp.float64)
        cw = (_kr_power(xp, a[:, None], kr) @ Vt)[0].astype(xp.float64)
        yv = Ginv @ cu
        denom = float(cw @ yv)
        lam = 1.0 / denom if denom != 0 else 0.0
        comps.append(a)
        weights.append(lam)
        if j == R - 1:
            break
        # Wedderburn deflation: C <- C - lam cu cw^T; new left/right null vectors
        xl = Ginv.T @ cw
        if Pm.shape[1]:
            Pd = Pm.astype(xp.float64)
            xl = xl - Pd @ (Pd.T @ xl)
        xl = xl / xp.linalg.norm(xl)
        yr = yv
        if Qm.shape[1]:
            yr = yr - Qm @ (Qm.T @ yr)
        yr = yr / xp.linalg.norm(yr)
        Au = xp.stack([-lam * cu, xl], axis=1)
        Bv = xp.stack([cw, yr], axis=1)
        GA = Ginv @ Au
        S = xp.eye(2) + Bv.T @ GA
        Ginv = Ginv - GA @ xp.linalg.solve(S, Bv.T @ Ginv)
        Pm = xp.concatenate([Pm, xl[:, None].astype(dt)], axis=1)
        Qm = xp.concatenate([Qm, yr[:, None]], axis=1)
    A = xp.stack(comps, axis=1)
    lam = xp.asarray(weights, dtype=xp.float64)
    # least-squares weights and the exact error through the Gram matrix
    Vc = _kr_power(xp, A, kc).T.astype(xp.float64)  # n^kc x R
    Wc = _kr_power(xp, A, kr).T.astype(xp.float64)
    b = xp.sum(Vc * (M.astype(xp.float64) @ Wc), axis=0)
    H = (A.T.astype(xp.float64) @ A.astype(xp.float64)) ** m
    if polish:
        try:
            lam = xp.linalg.solve(H, b)
        except Exception:
            lam = xp.linalg.lstsq(H, b, rcond=None)[0]
    if M.size * R <= 5e8:  # direct residual (no cancellation)
        Res = M.astype(xp.float64) - (Vc * lam) @ Wc.T
        rel = math.sqrt(fnorm2(xp, Res)) / normX
    else:
        err2 = normX ** 2 - 2 * float(lam @ b) + float(lam @ (H @ lam))
        rel = math.sqrt(max(err2, 0.0)) / normX
    return SymmetricCPResult(
        weights=bk.to_output(lam.astype(dt)), factors=bk.to_output(A), rank=R, order=m,
        rel_error=rel, n_iter=np.asarray(iters), eigenvalues=sv, converged=all_conv,
        extra={"numerical_rank": numrank})
