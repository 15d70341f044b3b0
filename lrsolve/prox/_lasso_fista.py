"""Lasso / elastic net (single fits and paths) by FISTA with restart, on any array module.

The GPU counterpart of the coordinate-descent solver of :mod:`._lasso`: plain array
code (NumPy, SciPy sparse, CuPy, cupyx sparse), the same objective, intercept handling
and duality-gap stopping rule, warm-started along the path.  Selected with
``solver="fista"`` (the default for CuPy inputs).
"""

from __future__ import annotations

import math

import numpy as np

from .._backend import get_backend
from ._common import check_design

__all__: list = []


def _is_sparse(X):
    if hasattr(X, "tocsr") and hasattr(X, "nnz"):
        return True
    return False


def _host(v):
    """A 0-d device/host value as a Python float."""
    return float(v.item()) if hasattr(v, "item") else float(v)


class _Problem:
    """The centred design as two products (``A w`` and ``A^T r``), in float64 on ``xp``."""

    def __init__(self, X, y, fit_intercept):
        bk = get_backend(X, y)
        self.bk = bk
        xp = self.xp = bk.xp
        self.sparse = _is_sparse(X)
        y, self.n, self.p, self.in_dtype = check_design(xp, X, bk.asarray(y))
        self.fit_intercept = bool(fit_intercept)
        if self.sparse:
            A = X.tocsr().astype(np.float64)
            if not bool(xp.all(xp.isfinite(A.data))):
                raise ValueError("X contains NaN or Inf; remove or replace the non-finite entries")
            self.A = A
            self.At = A.T.tocsr()
            if fit_intercept:
                self.x_mean = xp.asarray(A.mean(axis=0)).ravel()
            else:
                self.x_mean = xp.zeros(self.p)
        else:
            A = bk.asarray(X).astype(xp.float64)
            if not bool(xp.all(xp.isfinite(A))):
                raise ValueError("X contains NaN or Inf; remove or replace the non-finite entries")
            if fit_intercept:
                self.x_mean = A.mean(axis=0)
                A = A - self.x_mean
            else:
                self.x_mean = xp.zeros(self.p)
            self.A = A
            self.At = A.T
        self.y_mean = _host(y.mean()) if fit_intercept else 0.0
        self.y = y - self.y_mean
        self.yy = _host(self.y @ self.y)
        self._lip = None

    def matvec(self, w):
        out = self.A @ w
        if self.sparse and self.fit_intercept:
            out = out - self.x_mean @ w
        return out

    def rmatvec(self, r):
        out = self.At @ r
        if self.sparse and self.fit_intercept:
            out = out - self.x_mean * r.sum()
        return out

    @property
    def lipschitz(self):
        """An upper estimate of ``||A||_2^2`` (power iteration, computed once)."""
        if self._lip is None:
            xp = self.xp
            v = xp.asarray(np.random.default_rng(0).standard_normal(self.p))
            v = v / xp.linalg.norm(v)
            s = 0.0
            for _ in range(200):
                u = self.rmatvec(self.matvec(v))
                s_new = _host(xp.linalg.norm(u))
                if s_new == 0:
                    break
                v = u / s_new
                if abs(s_new - s) <= 1e-6 * s_new:
                    s = s_new
                    break
                s = s_new
            # the Rayleigh quotient approaches ||A||^2 from below: keep a margin
            self._lip = max(s, 1e-300) * 1.02
        return self._lip


def _gap(P, w, r, xtr, lam, mu):
    """Duality gap of ``1/2||y - Aw||^2 + lam||w||_1 + mu/2||w||^2`` (unnormalised).

    The same dual points as the coordinate-descent solver: the residual scaled to the
    best dual-feasible multiple (Lasso) or scikit-learn's scaling (elastic net).
    """
    xp = P.xp
    rr = _host(r @ r)
    l1 = _host(xp.abs(w).sum())
    ww = _host(w @ w) if mu else 0.0
    ry = _host(r @ P.y)
    dn = _host(xp.abs(xtr).max())
    primal = 0.5 * rr + lam * l1 + 0.5 * mu * ww
    if lam <= 0 and mu > 0:
        # ridge: the residual is the dual point (as in the coordinate-descent solver);
        # ``xtr`` is A^T r - mu w here
        xr = xtr + mu * w
        gap = rr - ry + 0.5 * mu * ww + 0.5 * _host(xr @ xr) / mu
        return max(gap, 0.0), primal
    if mu or lam <= 0:
        const = lam / dn if dn > lam else 1.0
        gap = (0.5 * rr * (1 + const * const) + lam * l1 - const * ry
               + 0.5 * mu * (1 + const * const) * ww)
        return max(gap, 0.0), primal
    if rr <= 0:
        return max(primal, 0.0), primal
    s = max(ry / rr, 0.0)
    if dn > 0:
        s = min(s, lam / dn)
    return max(primal - (s * ry - 0.5 * s * s * rr), 0.0), primal


def _fista_one(P, w, lam, mu, tol_abs, maxiter, check_every=10):
    """FISTA with gradient restart from ``w`` until the gap is ``<= tol_abs``.

    Returns ``(w, gap, primal, iterations, converged, gaps)``.
    """
    xp = P.xp
    L = P.lipschitz  # the ridge part mu/2 ||w||^2 goes into the prox
    thr = lam / L
    shrink = 1.0 / (1.0 + mu / L)
    Ax = P.matvec(w)
    r = P.y - Ax
    gap, primal = _gap(P, w, r, P.rmatvec(r) - (mu * w if mu else 0.0), lam, mu)
    gaps = [gap]
    if gap <= tol_abs:
        return w, gap, primal, 0, True, gaps
    x = w
    z, Az, t = x, Ax, 1.0
    it = 0
    while it < maxiter:
        it += 1
        v = z + P.rmatvec(P.y - Az) / L
        x_new = xp.sign(v) * xp.maximum(xp.abs(v) - thr, 0.0) * shrink
        Ax_new = P.matvec(x_new)
        step = x_new - x
        # adaptive (gradient) restart of O'Donoghue and Candes
        if _host((z - x_new) @ step) > 0:
            t = 1.0
            z, Az = x_new, Ax_new
        else:
            t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / t_new
            z = x_new + beta * step
            Az = Ax_new + beta * (Ax_new - Ax)
            t = t_new
        x, Ax = x_new, Ax_new
        if it % check_every == 0 or it == maxiter:
            r = P.y - Ax
            xtr = P.rmatvec(r)
            if mu:
                xtr = xtr - mu * x
            gap, primal = _gap(P, x, r, xtr, lam, mu)
            gaps.append(gap)
            if gap <= tol_abs:
                return x, gap, primal, it, True, gaps
    return x, gap, primal, it, False, gaps


def fista_fit(X, y, alphas, l1_ratio, fit_intercept, tol, maxiter, coef_init=None,
              problem=None, alpha_grid=None):
    """Warm-started FISTA over ``alphas`` (decreasing); NumPy or CuPy arrays out.

    ``alpha_grid=(eps, n_alphas)`` builds scikit-learn's grid from ``alpha_max``.
    Returns ``(problem, alphas, coefs (p, k) on xp, gaps, iters, converged, intercepts,
    objectives)`` with gaps and objectives in scikit-learn's ``1/n`` scaling.
    """
    P = problem if problem is not None else _Problem(X, y, fit_intercept)
    xp, n = P.xp, P.n
    if alpha_grid is not None:
        eps, n_alphas = alpha_grid
        alpha_max = _host(xp.abs(P.rmatvec(P.y)).max()) / (n * l1_ratio)
        if alpha_max == 0:
            alpha_max = np.finfo(float).resolution
        alphas = alpha_max * np.logspace(0, np.log10(eps), int(n_alphas))
    alphas = np.asarray(alphas, dtype=np.float64)
    k = alphas.size
    if coef_init is None:
        w = xp.zeros(P.p)
    else:
        w = P.bk.asarray(coef_init).astype(xp.float64).reshape(-1)
        if w.shape != (P.p,):
            raise ValueError(f"coef_init must have shape ({P.p},), got {tuple(w.shape)}")
    coefs = xp.zeros((P.p, k), dtype=P.in_dtype)
    gaps = np.zeros(k)
    iters = np.zeros(k, dtype=np.int64)
    conv = np.zeros(k, dtype=bool)
    inter = np.zeros(k)
    objs = np.zeros(k)
    hist = []
    tol_abs = tol * P.yy
    for i in range(k):
        lam, mu = n * alphas[i] * l1_ratio, n * alphas[i] * (1 - l1_ratio)
        w, gap, primal, it, ok, gh = _fista_one(P, w, lam, mu, tol_abs, maxiter)
        coefs[:, i] = w.astype(P.in_dtype)
        gaps[i], iters[i], conv[i], objs[i] = gap / n, it, ok, primal / n
        hist.append(np.asarray(gh) / n)
        if P.fit_intercept:
            inter[i] = P.y_mean - _host(P.x_mean @ w)
    return P, alphas, coefs, gaps, iters, conv, inter, objs, hist
