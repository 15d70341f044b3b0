"""Spectral proximal operators: nuclear norm (partial SVD), PSD cone and spectral matrix cones.

The projections onto the spectral cones reduce to projecting the eigen- or singular
values onto a vector cone (Cederberg and Boyd, "Projections onto spectral matrix
cones", 2025); the vector step costs ``O(n log n)`` next to the ``O(n^3)``
decomposition.
"""

from __future__ import annotations

import math

import numpy as np

from ._common import as_float_array, check_nonneg, check_tau, to_host_float
from ._operators import Penalty, _Indicator, _xp_of

__all__ = [
    "prox_nuclear",
    "project_psd",
    "project_nuclear_epigraph",
    "project_sum_largest_epigraph",
    "project_logdet_cone",
    "NuclearNorm",
    "PSDCone",
    "NuclearNormEpigraph",
    "SumLargestEpigraph",
    "LogDetCone",
]


def _check_matrix(bk, X, name="X"):
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {X.shape}")


def _check_symmetric(xp, X, name="X"):
    if X.shape[0] != X.shape[1]:
        raise ValueError(f"{name} must be square (symmetric), got shape {X.shape}")
    scale = to_host_float(xp.abs(X).max()) if X.size else 0.0
    if to_host_float(xp.abs(X - X.T).max()) > 1e-6 * max(scale, 1e-300) + 0:
        raise ValueError(f"{name} must be symmetric; pass (X + X.T) / 2")


def _sym_eigh(xp, X):
    w, Q = xp.linalg.eigh((X + X.T) / 2)
    return w, Q


# ============================================================================= nuclear norm
def _qr(xp, A):
    """Thin QR by CholeskyQR2 (two Gram-Cholesky passes: BLAS-3 only), Householder fallback."""
    try:
        R = None
        Q = A
        for _ in range(2):
            G = Q.T @ Q
            L = xp.linalg.cholesky(G)
            Rk = L.T
            Q = Q @ xp.linalg.inv(Rk)
            R = Rk if R is None else Rk @ R
        if bool(xp.isfinite(R).all()) and bool(xp.isfinite(Q[:1]).all()):
            return Q, R
    except Exception:  # LinAlgError: rank-deficient block
        pass
    return xp.linalg.qr(A)


def _orth(xp, A):
    return _qr(xp, A)[0]


def _partial_svt(xp, X, thr, rank, rtol, maxiter, rng, V0=None):
    """Singular triplets of ``X`` above ``thr`` by block subspace iteration.

    Returns ``(U, s, V, ok)`` with ``s > thr`` only; ``ok`` is False when the
    iteration did not certify the triplets (the caller then falls back to a full SVD).
    """
    m, n = X.shape
    p = max(5, rank // 2)
    l_cols = min(rank + p, min(m, n))
    dt = X.dtype
    if V0 is not None and V0.shape[0] == n and V0.shape[1] <= min(m, n):
        V = V0
        if V.shape[1] < l_cols:
            extra = xp.asarray(rng.standard_normal((n, l_cols - V.shape[1])), dtype=dt)
            V = _orth(xp, xp.concatenate([V, extra], axis=1))
        l_cols = V.shape[1]
    else:
        V = _orth(xp, xp.asarray(rng.standard_normal((n, l_cols)), dtype=dt))
    U = s = None
    for _ in range(maxiter):
        Y = X @ V
        if s is not None:
            kept = s > thr
            nk = int(kept.sum())
            res = xp.sqrt(((Y[:, :nk] - U[:, :nk] * s[:nk]) ** 2).sum(axis=0))
            smax = to_host_float(s[0])
            converged = nk == 0 or to_host_float(res.max()) <= rtol * smax
            if converged and (nk < l_cols or l_cols == min(m, n)):
                return U[:, :nk], s[:nk], V[:, :nk], True
            if nk >= l_cols - p // 2 and l_cols < min(m, n):  # too few columns: grow
                new_l = min(2 * l_cols, min(m, n))
                extra = xp.asarray(rng.standard_normal((n, new_l - l_cols)), dtype=dt)
                V = _orth(xp, xp.concatenate([V, extra], axis=1))
                l_cols = new_l
                Y = X @ V
        Q = _orth(xp, Y)
        Z = X.T @ Q  # (n, l): Q^T X = Z^T
        Qz, Rz = _qr(xp, Z)
        Ur, s, Wt = xp.linalg.svd(Rz)  # Z = Qz Ur diag(s) Wt
        U = Q @ Wt.T
        V = Qz @ Ur
    return U, s, V, False


def prox_nuclear(X, tau, lam=1.0, *, method="auto", rank=None, rtol=None, maxiter=200,
                 rng=None, return_svd=False):
    """Proximal operator of the nuclear norm ``lam * ||X||_*`` (singular value thresholding).

    Parameters
    ----------
    X : array_like
        Matrix ``(m, n)``.
    tau : float
        Step ``>= 0``; singular values are shrunk by ``tau * lam``.
    lam : float, optional
        Weight ``>= 0``.
    method : {"auto", "partial", "full"}, optional
        ``"full"`` runs a full (thin) SVD.  ``"partial"`` finds only the singular
        triplets above the threshold by block subspace iteration with a
        Rayleigh-Ritz step: the block starts at ``rank`` (+ oversampling) columns
        and doubles until its smallest Ritz value falls below the threshold, and
        the kept triplets are accepted only when their residuals
        ``||X v_i - s_i u_i||`` are below ``rtol * s_1`` (otherwise a full SVD
        is run), so the result matches the full-SVD prox.  ``"auto"`` (default)
        uses ``"partial"`` for matrices with ``min(m, n) > 200``.
    rank : int, optional
        Guess of the rank of the result (default 10).
    rtol : float, optional
        Residual tolerance of the partial method (default ``1e-12`` in float64,
        ``1e-5`` in float32).
    maxiter : int, optional
        Maximum subspace iterations of the partial method.
    rng : int or numpy.random.Generator, optional
        Seed of the random start block.
    return_svd : bool, optional
        Also return the kept ``(U, s_shrunk, V)``.

    Returns
    -------
    ndarray or tuple
        ``U diag(max(s - tau*lam, 0)) V^T``; with ``return_svd`` the tuple
        ``(Z, (U, s, V))``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import prox_nuclear
    >>> X = np.diag([3.0, 1.0, 0.5])
    >>> np.round(prox_nuclear(X, 1.0), 12)
    array([[2., 0., 0.],
           [0., 0., 0.],
           [0., 0., 0.]])
    """
    return _prox_nuclear(X, tau, lam, method=method, rank=rank, rtol=rtol, maxiter=maxiter,
                         rng=rng, return_svd=return_svd)


def _prox_nuclear(X, tau, lam=1.0, *, method="auto", rank=None, rtol=None, maxiter=200,
                  rng=None, return_svd=False, _warm=None):
    tau = check_tau(tau)
    lam = check_nonneg("lam", lam)
    if method not in ("auto", "partial", "full"):
        raise ValueError(f"method must be 'auto', 'partial' or 'full', got {method!r}")
    bk, X = as_float_array(X, "X")
    _check_matrix(bk, X)
    xp = bk.xp
    thr = tau * lam
    m, n = X.shape
    trans = m < n
    A = X.T if trans else X
    if method == "auto":
        method = "partial" if min(m, n) > 200 else "full"
    if rtol is None:
        rtol = 1e-12 if X.dtype == np.float64 else 1e-5
    k = 10 if rank is None else int(rank)
    if k < 1:
        raise ValueError(f"rank must be a positive integer, got {rank!r}")
    ok = False
    if method == "partial" and min(m, n) > 2:
        rng = np.random.default_rng(rng)
        V0 = None
        if _warm is not None and _warm.get("shape") == (m, n):
            V0 = _warm.get("V")
            k = max(k, _warm.get("rank", k))
        U, s, V, ok = _partial_svt(xp, A, thr, min(k, min(m, n)), rtol, maxiter, rng, V0)
        if ok and _warm is not None:
            _warm.update(shape=(m, n), V=V, rank=max(int(s.shape[0]) + 5, 5))
    if not ok:
        U, s, Vt = xp.linalg.svd(A, full_matrices=False)
        keep = int((s > thr).sum())
        U, s, V = U[:, :keep], s[:keep], Vt[:keep].T
    s_new = s - thr
    Z = (U * s_new) @ V.T
    if trans:
        Z = Z.T
        U, V = V, U
    Z = Z.astype(X.dtype, copy=False)
    if return_svd:
        return bk.to_output(Z), (bk.to_output(U), bk.to_output(s_new), bk.to_output(V))
    return bk.to_output(Z)


# ===================================================================== PSD and spectral cones
def project_psd(X):
    """Projection of a symmetric matrix onto the positive semidefinite cone.

    Parameters
    ----------
    X : array_like
        Symmetric matrix ``(n, n)``.

    Returns
    -------
    ndarray
        ``Q diag(max(w, 0)) Q^T`` from the eigendecomposition ``X = Q diag(w) Q^T``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import project_psd
    >>> project_psd(np.array([[1.0, 0.0], [0.0, -2.0]]))
    array([[1., 0.],
           [0., 0.]])
    """
    bk, X = as_float_array(X, "X")
    _check_matrix(bk, X)
    xp = bk.xp
    _check_symmetric(xp, X)
    w, Q = _sym_eigh(xp, X)
    Z = (Q * xp.maximum(w, 0)) @ Q.T
    return bk.to_output(((Z + Z.T) / 2).astype(X.dtype, copy=False))


def _project_l1_epigraph_nonneg(s, t0):
    """Project ``(s, t0)`` (``s >= 0``) onto ``{(x, t): ||x||_1 <= t}``; host NumPy."""
    s = np.asarray(s, dtype=np.float64)
    if s.sum() <= t0:
        return s.copy(), float(t0)
    if s.size == 0 or s.max() <= -t0:
        return np.zeros_like(s), 0.0
    u = np.sort(s)[::-1]
    css = np.cumsum(u)
    kk = np.arange(1, u.size + 1)
    lam = (css - t0) / (kk + 1)
    nxt = np.append(u[1:], -np.inf)
    valid = (u > lam) & (nxt <= lam) & (lam >= 0)
    idx = np.nonzero(valid)[0]
    lam_star = float(lam[idx[0]]) if idx.size else float(max(lam[-1], 0.0))
    return np.maximum(s - lam_star, 0.0), float(t0 + lam_star)


def project_nuclear_epigraph(X, t):
    """Projection onto the nuclear-norm cone ``{(X, t) : ||X||_* <= t}``.

    The singular vectors are kept; ``(s, t)`` is projected onto the epigraph of the
    l1 norm (a sort of the singular values).

    Parameters
    ----------
    X : array_like
        Matrix ``(m, n)``.
    t : float
        Epigraph variable.

    Returns
    -------
    tuple
        ``(X_proj, t_proj)``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import project_nuclear_epigraph
    >>> Z, s = project_nuclear_epigraph(np.diag([3.0, 1.0]), 1.0)
    >>> np.round(Z, 12), round(s, 12)
    (array([[2., 0.],
           [0., 0.]]), 2.0)
    """
    bk, X = as_float_array(X, "X")
    _check_matrix(bk, X)
    xp = bk.xp
    t0 = to_host_float(t)
    U, s, Vt = xp.linalg.svd(X, full_matrices=False)
    s_new, t_new = _project_l1_epigraph_nonneg(bk.to_host(s), t0)
    Z = (U * xp.asarray(s_new, dtype=X.dtype)) @ Vt
    return bk.to_output(Z.astype(X.dtype, copy=False)), t_new


def _capped_simplex_shift(w, cap, total):
    """``nu`` with ``sum(clip(w - nu, 0, cap)) = total``: exact, O(n log n).

    ``S(nu)`` is piecewise linear and nonincreasing with breakpoints ``w_i`` and
    ``w_i - cap``; it is evaluated at all of them with prefix sums, and the
    crossing segment is solved linearly.
    """
    ws = np.sort(w)
    n = ws.size
    cs = np.r_[0.0, np.cumsum(ws)]

    def S(nu):
        i1 = np.searchsorted(ws, nu, side="right")
        i2 = np.searchsorted(ws, nu + cap, side="left")
        return cap * (n - i2) + (cs[i2] - cs[i1]) - nu * (i2 - i1)

    bp = np.unique(np.r_[ws, ws - cap])
    vals = S(bp)  # nonincreasing in bp
    # first breakpoint where S <= total
    j = int(np.searchsorted(-vals, -total, side="left"))
    if j == 0:
        return float(bp[0])
    if j >= bp.size:
        return float(bp[-1])
    x0, x1, s0, s1 = bp[j - 1], bp[j], vals[j - 1], vals[j]
    if s0 == s1:
        return float(x1)
    return float(x0 + (s0 - total) * (x1 - x0) / (s0 - s1))


def _sum_largest(w, k):
    return float(np.sort(w)[-k:].sum())


def _prox_sum_largest(w, lam, k):
    """prox of ``lam * (sum of k largest)``: ``w - P_{lam*C}(w)``, C the capped simplex."""
    if lam == 0:
        return w.copy()
    nu = _capped_simplex_shift(w, lam, k * lam)
    return w - np.clip(w - nu, 0.0, lam)


def _project_sum_largest_vec(w, t0, k):
    w = np.asarray(w, dtype=np.float64)
    if _sum_largest(w, k) <= t0:
        return w.copy(), float(t0)

    def h(lam):
        return _sum_largest(_prox_sum_largest(w, lam, k), k) - t0 - lam

    lo, hi = 0.0, max(1.0, abs(t0), float(np.abs(w).max()))
    while h(hi) > 0:
        hi *= 2
    for _ in range(120):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if h(mid) > 0:
            lo = mid
        else:
            hi = mid
    lam = 0.5 * (lo + hi)
    return _prox_sum_largest(w, lam, k), float(t0 + lam)


def project_sum_largest_epigraph(X, t, k):
    """Projection onto ``{(X, t) : X symmetric, sum of the k largest eigenvalues <= t}``.

    Parameters
    ----------
    X : array_like
        Symmetric matrix ``(n, n)``.
    t : float
        Epigraph variable.
    k : int
        Number of eigenvalues summed, ``1 <= k <= n``.

    Returns
    -------
    tuple
        ``(X_proj, t_proj)``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import project_sum_largest_epigraph
    >>> Z, s = project_sum_largest_epigraph(np.diag([2.0, 0.0]), 0.0, 1)
    >>> np.round(Z, 10), round(s, 10)
    (array([[1., 0.],
           [0., 0.]]), 1.0)
    """
    bk, X = as_float_array(X, "X")
    _check_matrix(bk, X)
    xp = bk.xp
    _check_symmetric(xp, X)
    n = X.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in [1, {n}], got {k!r}")
    w, Q = _sym_eigh(xp, X)
    w_new, t_new = _project_sum_largest_vec(bk.to_host(w), to_host_float(t), int(k))
    Z = (Q * xp.asarray(w_new, dtype=X.dtype)) @ Q.T
    return bk.to_output(((Z + Z.T) / 2).astype(X.dtype, copy=False)), t_new


def _project_log_cone_vec(t0, v0, x0):
    """Project ``(t0, v0, x0)`` onto ``cl{(t, v, x): v > 0, x > 0, t <= v sum log(x/v)}``."""
    from scipy.optimize import brentq

    x0 = np.asarray(x0, dtype=np.float64)
    n = x0.size
    if v0 > 0 and np.all(x0 > 0) and t0 <= v0 * np.log(x0 / v0).sum():
        return float(t0), float(v0), x0.copy()

    pos = x0 > 0

    def logxv(mu, u):
        """``log(x_i / v)`` at the KKT point for ``mu`` and ``v = exp(u)`` (no underflow)."""
        v = math.exp(u)
        root = np.sqrt(x0 * x0 + 4.0 * mu * v)
        with np.errstate(divide="ignore"):
            a = np.log(0.5 * (x0 + root)) - u
            b = math.log(2.0 * mu) - np.log(root - x0)
        return np.where(pos, a, b)

    def u_of(mu):
        def F(u):  # increasing in v = exp(u)
            return math.exp(u) - v0 - mu * (logxv(mu, u).sum() - n)

        lo, hi = -690.0, math.log(max(1.0, abs(v0)))
        while F(hi) < 0:
            hi += 1.0
        if F(lo) >= 0:
            return lo
        return brentq(F, lo, hi, xtol=1e-15, rtol=1e-15, maxiter=500)

    def G(mu):
        u = u_of(mu)
        return t0 - mu - math.exp(u) * logxv(mu, u).sum()

    def xs(mu, v):
        return v * np.exp(logxv(mu, math.log(v)))

    scale = max(1.0, abs(t0), abs(v0), float(np.abs(x0).max()))
    hi = scale
    it = 0
    mu_lo = 1e-300
    while G(hi) > 0 and it < 200:
        hi *= 2
        it += 1
    candidate_b = (min(t0, 0.0), 0.0, np.maximum(x0, 0.0))
    if it >= 200:
        return float(candidate_b[0]), 0.0, candidate_b[2]
    if G(mu_lo) <= 0:
        mu = mu_lo
    else:
        mu = brentq(G, mu_lo, hi, xtol=1e-300, rtol=1e-15, maxiter=500)
    v = math.exp(u_of(mu))
    if v <= 1e-250:
        return float(candidate_b[0]), 0.0, candidate_b[2]
    x = xs(mu, v)
    t = min(t0 - mu, v * np.log(x / v).sum())
    # the v = 0 face can be closer when the KKT point degenerates
    cand = np.array([t, v, *x])
    d1 = (t - t0) ** 2 + (v - v0) ** 2 + ((x - x0) ** 2).sum()
    d2 = (candidate_b[0] - t0) ** 2 + v0 ** 2 + ((candidate_b[2] - x0) ** 2).sum()
    if d2 < d1:
        return float(candidate_b[0]), 0.0, candidate_b[2]
    return float(cand[0]), float(cand[1]), x


def project_logdet_cone(t, v, X):
    """Projection onto the log-det cone ``cl{(t, v, X) : v > 0, X > 0, t <= v log det(X / v)}``.

    The perspective of ``log det`` (SCS's log-det cone).  The eigenvectors of ``X``
    are kept; ``(t, v, eigenvalues)`` is projected onto the vector log cone by
    solving the two KKT equations with nested safeguarded root finding.

    Parameters
    ----------
    t, v : float
        Scalar variables.
    X : array_like
        Symmetric matrix ``(n, n)``.

    Returns
    -------
    tuple
        ``(t_proj, v_proj, X_proj)``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import project_logdet_cone
    >>> t, v, Z = project_logdet_cone(-1.0, 1.0, np.eye(2))   # already inside
    >>> t, v
    (-1.0, 1.0)
    """
    bk, X = as_float_array(X, "X")
    _check_matrix(bk, X)
    xp = bk.xp
    _check_symmetric(xp, X)
    w, Q = _sym_eigh(xp, X)
    t_new, v_new, w_new = _project_log_cone_vec(to_host_float(t), to_host_float(v), bk.to_host(w))
    Z = (Q * xp.asarray(w_new, dtype=X.dtype)) @ Q.T
    return t_new, v_new, bk.to_output(((Z + Z.T) / 2).astype(X.dtype, copy=False))


# ============================================================================= objects
class NuclearNorm(Penalty):
    """``lam * ||X||_*`` with a partial-SVD prox that is warm-started across calls.

    Parameters
    ----------
    lam : float, optional
        Weight ``>= 0``.
    shape : tuple of int, optional
        When given, 1-D inputs are reshaped to this matrix shape (vector solvers).
    method : {"auto", "partial", "full"}, optional
        See :func:`prox_nuclear`.
    rank : int, optional
        Initial rank guess; later calls reuse the rank and the subspace found.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import NuclearNorm
    >>> g = NuclearNorm(1.0)
    >>> float(g(np.diag([3.0, 1.0])))
    4.0
    """

    def __init__(self, lam=1.0, *, shape=None, method="auto", rank=None):
        self.lam = check_nonneg("lam", lam)
        self.shape = shape
        self.method = method
        self.rank = rank
        self._warm: dict = {}

    def _mat(self, x):
        if self.shape is not None and x.ndim == 1:
            return x.reshape(self.shape)
        return x

    def value(self, x):
        """``lam * sum of singular values``.

        Parameters
        ----------
        x : array_like
            Matrix (or vector with ``shape``).

        Returns
        -------
        float
            The value.
        """
        xp = _xp_of(x)
        return self.lam * to_host_float(xp.linalg.svd(self._mat(x), compute_uv=False).sum())

    def prox(self, x, tau):
        """Singular value thresholding by ``tau * lam``.

        Parameters
        ----------
        x : array_like
            Matrix (or vector with ``shape``).
        tau : float
            Step.

        Returns
        -------
        ndarray
            The prox, same shape as ``x``.
        """
        out = _prox_nuclear(self._mat(x), tau, self.lam, method=self.method, rank=self.rank,
                            _warm=self._warm, rng=0)
        return out.reshape(x.shape)


class PSDCone(_Indicator):
    """Indicator of the positive semidefinite cone.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import PSDCone
    >>> PSDCone()(np.eye(2))
    0.0
    """

    def _inside(self, x):
        xp = _xp_of(x)
        w = xp.linalg.eigvalsh((x + x.T) / 2)
        return to_host_float(w.min()) >= -self.tol * max(1.0, to_host_float(xp.abs(w).max()))

    def prox(self, x, tau):
        """Project onto the PSD cone.

        Parameters
        ----------
        x : array_like
            Symmetric matrix.
        tau : float
            Step (unused).

        Returns
        -------
        ndarray
            The projection.
        """
        check_tau(tau)
        return project_psd(x)


class NuclearNormEpigraph(_Indicator):
    """Indicator of the nuclear-norm cone ``{(X, t) : ||X||_* <= t}``; points are ``(X, t)`` pairs.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import NuclearNormEpigraph
    >>> K = NuclearNormEpigraph()
    >>> K((np.eye(2), 2.0)), K((np.eye(2), 1.0))
    (0.0, inf)
    """

    def _inside(self, z):
        X, t = z
        s = to_host_float(_xp_of(X).linalg.svd(X, compute_uv=False).sum())
        return s <= to_host_float(t) + self.tol * max(1.0, s)

    def prox(self, x, tau):
        """Project the pair ``(X, t)``.

        Parameters
        ----------
        x : tuple
            ``(X, t)``.
        tau : float
            Step (unused).

        Returns
        -------
        tuple
            ``(X_proj, t_proj)``.
        """
        check_tau(tau)
        return project_nuclear_epigraph(*x)


class SumLargestEpigraph(_Indicator):
    """Indicator of ``{(X, t) : sum of the k largest eigenvalues of X <= t}``.

    Parameters
    ----------
    k : int
        Number of eigenvalues.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import SumLargestEpigraph
    >>> SumLargestEpigraph(1)((np.eye(2), 1.0))
    0.0
    """

    def __init__(self, k):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        self.k = int(k)

    def _inside(self, z):
        X, t = z
        w = np.sort(np.asarray(_xp_of(X).linalg.eigvalsh((X + X.T) / 2).tolist()))
        s = float(w[-self.k:].sum())
        return s <= to_host_float(t) + self.tol * max(1.0, abs(s))

    def prox(self, x, tau):
        """Project the pair ``(X, t)``.

        Parameters
        ----------
        x : tuple
            ``(X, t)``.
        tau : float
            Step (unused).

        Returns
        -------
        tuple
            ``(X_proj, t_proj)``.
        """
        check_tau(tau)
        return project_sum_largest_epigraph(x[0], x[1], self.k)


class LogDetCone(_Indicator):
    """Indicator of the log-det cone ``cl{(t, v, X) : v > 0, X > 0, t <= v log det(X/v)}``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import LogDetCone
    >>> LogDetCone()((0.0, 1.0, np.eye(2)))
    0.0
    """

    def _inside(self, z):
        t, v, X = z
        t, v = to_host_float(t), to_host_float(v)
        w = np.asarray(_xp_of(X).linalg.eigvalsh((X + X.T) / 2).tolist())
        if v < 0 or w.min() < -self.tol:
            return False
        if v == 0:
            return t <= self.tol
        if w.min() <= 0:
            return False
        return t <= v * float(np.log(w / v).sum()) + self.tol * max(1.0, abs(t))

    def prox(self, x, tau):
        """Project the triple ``(t, v, X)``.

        Parameters
        ----------
        x : tuple
            ``(t, v, X)``.
        tau : float
            Step (unused).

        Returns
        -------
        tuple
            ``(t_proj, v_proj, X_proj)``.
        """
        check_tau(tau)
        return project_logdet_cone(*x)

