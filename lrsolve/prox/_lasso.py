"""Lasso and elastic net by coordinate descent with gap-safe screening and working sets."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._backend import get_backend
from .._kernels import get_kernel
from .._validation import check_maxiter
from ._common import check_design, check_nonneg
from ._results import OptimizeResult, PathResult

__all__ = ["lasso", "elastic_net", "lasso_path", "enet_path"]


# ============================================================================= problem set-up
class _Design:
    """The centred design in the layout the CD kernels want (float64)."""

    def __init__(self, X, y, fit_intercept):
        import scipy.sparse as sp

        self.sparse = sp.issparse(X)
        y, self.n, self.p, self.in_dtype = check_design(np, X, np.asarray(y))
        self.fit_intercept = bool(fit_intercept)
        self.y_mean = float(y.mean()) if fit_intercept else 0.0
        self.y = y - self.y_mean
        if self.sparse:
            Xc = sp.csc_matrix(X, dtype=np.float64)
            if any(isinstance(getattr(X, a, None), np.ndarray)
                   and np.shares_memory(getattr(Xc, a), getattr(X, a))
                   for a in ("data", "indices", "indptr")):
                Xc = Xc.copy()  # shares the caller's arrays: canonicalise a copy, not them
            Xc.sum_duplicates()
            Xc.sort_indices()
            if not np.all(np.isfinite(Xc.data)):
                raise ValueError("X contains NaN or Inf; remove or replace the non-finite entries")
            # unsigned row indices: Numba skips the negative-index wrap-around test
            idx_t = np.uint32 if self.n < 2**32 else np.uint64
            self.data, self.indices, self.indptr = Xc.data, Xc.indices.astype(idx_t), \
                Xc.indptr.astype(np.int64)
            self.X = Xc
            colsum = np.asarray(Xc.sum(axis=0)).ravel()
            sq = np.asarray(Xc.multiply(Xc).sum(axis=0)).ravel()
            if fit_intercept:
                self.offsets = colsum / self.n
                self.norms2 = np.maximum(sq - self.n * self.offsets**2, 0.0)
            else:
                self.offsets = np.zeros(self.p)
                self.norms2 = sq
            self.colsum = colsum
            self.X_mean = self.offsets
        else:
            Xd = np.asarray(X)
            if not np.all(np.isfinite(Xd)):
                raise ValueError("X contains NaN or Inf; remove or replace the non-finite entries")
            if fit_intercept:
                self.X_mean = Xd.mean(axis=0, dtype=np.float64)
                self.X = np.asfortranarray(Xd - self.X_mean, dtype=np.float64)
            else:
                self.X_mean = np.zeros(self.p)
                self.X = np.asfortranarray(Xd, dtype=np.float64)
            self.norms2 = np.einsum("ij,ij->j", self.X, self.X)
        self.yy = float(self.y @ self.y)
        self.numba = get_backend(np.zeros(1)).engine == "numba"

    # full X^T r_true (r_true = r + c)
    def xtr(self, r, c):
        if self.sparse:
            return self.X.T @ r + c * self.colsum - (
                self.offsets * float((r + c).sum()) if self.fit_intercept else 0.0)
        return self.X.T @ r

    def xtr_cols(self, r, c, cols):
        if self.sparse:
            if self.numba:
                out = get_kernel("prox_xtr_sparse", "numba")(
                    self.data, self.indices, self.indptr, r, c, cols)
            else:
                out = self.X[:, cols].T @ r + c * self.colsum[cols]
            return out
        if self.numba:
            return get_kernel("prox_xtr_dense", "numba")(self.X, r, cols)
        return self.X[:, cols].T @ r

    def sweep(self, w, r, c, ws, lam, mu, nrep=1):
        if self.numba:
            if self.sparse:
                return get_kernel("prox_cd_sparse", "numba")(
                    self.data, self.indices, self.indptr, self.offsets, c, w, r, ws,
                    self.norms2, lam, mu, nrep)
            return get_kernel("prox_cd_dense", "numba")(self.X, w, r, ws, self.norms2, lam, mu,
                                                        nrep)
        return _sweep_python(self, w, r, c, ws, lam, mu, nrep)

    def add_column(self, r, c, j, delta):
        """``r_true -= delta * xc_j``."""
        if self.sparse:
            a, b = self.indptr[j], self.indptr[j + 1]
            r[self.indices[a:b]] -= delta * self.data[a:b]
            c[0] += delta * self.offsets[j]
        else:
            r -= delta * self.X[:, j]

    def residual(self, w):
        """``(r, c)`` with ``r + c = y_c - X_c w``."""
        c = np.zeros(1)
        if self.sparse:
            r = self.y - self.X @ w
            c[0] = float(self.offsets @ w)
        else:
            r = self.y - self.X @ w
        return r, c


def _sweep_python(D, w, r, c, ws, lam, mu, nrep):
    """The ``numpy`` engine: the same sweep with per-column NumPy operations (slow)."""
    dmax = 0.0
    for _ in range(nrep):
        dmax = 0.0
        for j in ws:
            nj = D.norms2[j]
            if nj == 0:
                continue
            old = w[j]
            if D.sparse:
                a, b = D.indptr[j], D.indptr[j + 1]
                col = D.data[a:b]
                s = float(col @ r[D.indices[a:b]]) + c[0] * D.colsum[j]
            else:
                s = float(D.X[:, j] @ r)
            tmp = s + old * nj
            new = math.copysign(max(abs(tmp) - lam, 0.0), tmp) / (nj + mu)
            d = new - old
            if d != 0:
                D.add_column(r, c, j, d)
                w[j] = new
                dmax = max(dmax, abs(d))
    return dmax


def _gap(D, w, r_true, xtr, lam, mu, cands=()):
    """Duality gap of ``1/2||y - Xw||^2 + mu/2||w||^2 + lam||w||_1`` (unnormalised).

    The dual point is a multiple of the residual (scikit-learn's choice) or, for the
    Lasso (``mu = 0``), of one of the extra residual-like vectors ``cands`` (pairs
    ``(r, X^T r)``, e.g. Anderson-extrapolated residuals as in celer), whichever gives
    the largest dual objective; for the Lasso the multiple itself is the best one in the
    dual feasible set.  Returns ``(gap, primal, ts, xtr_d)``: the dual point is
    ``theta = ts * r_d`` with ``X^T theta = ts * xtr_d`` (scaled so that dual
    feasibility reads ``|X^T theta| <= 1``).
    """
    rr = float(r_true @ r_true)
    l1 = float(np.abs(w).sum())
    ww = float(w @ w) if mu else 0.0
    primal = 0.5 * rr + lam * l1 + 0.5 * mu * ww
    dn = float(np.abs(xtr).max()) if xtr.size else 0.0
    if lam <= 0 and mu > 0:
        # ridge: the residual is the dual point of
        # D(theta) = theta^T y - ||theta||^2 / 2 - ||X^T theta||^2 / (2 mu)
        # (``xtr`` is X^T r - mu w here, and every coefficient is in the working set)
        xr = xtr + mu * w
        xx = float(xr @ xr)
        gap = rr - float(r_true @ D.y) + 0.5 * mu * ww + 0.5 * xx / mu
        return max(gap, 0.0), primal, (1.0 / dn if dn > 0 else 0.0), xtr
    if mu or lam <= 0:
        # (plain least squares, lam = mu = 0, has no bounded dual point of this form: the
        # gap stays the primal value, as in scikit-learn, which warns that alpha=0 does
        # not converge)
        const = lam / dn if dn > lam else 1.0
        gap = (0.5 * rr * (1 + const * const) + lam * l1
               - const * float(r_true @ D.y) + 0.5 * mu * (1 + const * const) * ww)
        ts = const / lam if lam > 0 else (1.0 / dn if dn > 0 else 0.0)
        return max(gap, 0.0), primal, ts, xtr
    best = (-math.inf, 0.0, xtr)
    for r_d, xtr_d, rr_d in ((r_true, xtr, rr), *cands):
        dn_d = float(np.abs(xtr_d).max()) if xtr_d.size else 0.0
        if rr_d is None:
            rr_d = float(r_d @ r_d)
        if rr_d <= 0:
            continue
        ry = float(r_d @ D.y)
        # dual objective s <r, y> - s^2 ||r||^2 / 2, best s in [0, lam / dn]
        s = max(ry / rr_d, 0.0)
        if dn_d > 0:
            s = min(s, lam / dn_d)
        dual = s * ry - 0.5 * s * s * rr_d
        if dual > best[0]:
            best = (dual, s / lam, xtr_d)
    if best[0] == -math.inf:  # r = 0: w fits y exactly, the dual point 0 is optimal
        return max(primal - 0.0, 0.0), primal, 0.0, xtr
    return max(primal - best[0], 0.0), primal, best[1], best[2]


class _LazyXtr:
    """``X^T v`` for a dense design, reading only the columns that can matter.

    Keeps per-column bounds ``b_j >= |x_j^T r_ref|`` (exact where last computed) for a
    reference vector ``r_ref``; by Cauchy-Schwarz ``|x_j^T v| <= b_j + ||x_j|| ||v -
    r_ref||``.  Columns whose bound stays below ``thr`` are not read (along a path most
    of them, for a step or two): their entry is the bound, an upper bound of the absolute
    value, which is all that the duality gap (through ``max_j |x_j^T v|``), the screening
    test and the working-set score need of a column with ``w_j = 0``.  On a large dense
    design the full product is a pass over the whole matrix, memory bound, and it was
    most of the time of a path.
    """

    THR = 0.8  # read the columns whose bound reaches THR * lam

    def __init__(self, D):
        self.D = D
        self.nrm = np.sqrt(D.norms2)
        self.b = None
        self.ref = None

    def _full(self, v, update):
        out = self.D.X.T @ v
        if update:
            self.b, self.ref = np.abs(out), v.copy()
        return out

    def __call__(self, v, lam, force, update=True):
        D = self.D
        if self.b is None or lam <= 0:
            return self._full(v, update)
        dist = float(np.linalg.norm(v - self.ref))
        # the margin covers the rounding of the products (relative 1e-12 of |x_j| |v|)
        bound = self.b + self.nrm * (dist + 1e-12 * float(np.linalg.norm(v)))
        read = (bound >= self.THR * lam) | force
        cols = np.nonzero(read)[0].astype(np.int64)
        if cols.size > 0.5 * D.p:
            return self._full(v, update)
        exact = D.xtr_cols(v, 0.0, cols)
        out = bound.copy()
        out[cols] = exact
        if update:
            bound[cols] = np.abs(exact)
            self.b, self.ref = bound, v.copy()
        return out


def _solve(D, w, lam, mu, tol_abs, max_epochs, *, p0=10, screening=True, working_set=True,
           check_every=10, max_outer=50, state=None, anderson=True):
    """Celer-style working-set CD on the full problem; returns (gap, primal, epochs, converged).

    ``state`` (a dict) carries the residual and ``X^T r`` from one alpha of a path to the
    next (``w`` is warm-started in place), so that neither is recomputed.
    """
    p = D.p
    if state is not None and "r" in state:
        r, c, xtr_raw = state["r"], state["c"], state["xtr"]
    else:
        r, c = D.residual(w)
        xtr_raw = None
    lazy = None
    if not D.sparse and lam > 0:
        lazy = state.setdefault("lazy", None) if state is not None else None
        if lazy is None:
            lazy = _LazyXtr(D)
            if state is not None:
                state["lazy"] = lazy

    def xtr_of(v, update=True):
        if lazy is None:
            return D.xtr(v, 0.0)
        return lazy(v, lam, w != 0, update)

    screened = np.zeros(p, dtype=bool)
    scale_norm = np.sqrt(D.norms2 + mu)
    epochs = 0
    prev_ws = 0
    gap = primal = math.inf
    converged = False
    history = []
    r_dual = None  # best extrapolated residual of the last inner solve (Lasso only)
    for _ in range(max_outer):
        r_true = r + c[0] if D.sparse else r
        if xtr_raw is None:
            xtr_raw = xtr_of(r_true) if lazy is not None else D.xtr(r, c[0])
        xtr = xtr_raw
        if mu:
            xtr = xtr - mu * w
        gap, primal, ts, xtr_d = _gap(D, w, r_true, xtr, lam, mu)
        if gap > tol_abs and r_dual is not None:  # try the extrapolated dual point
            gap, primal, ts, xtr_d = _gap(D, w, r_true, xtr, lam, mu,
                                          ((r_dual, xtr_of(r_dual, False), None),))
        history.append(gap)
        if gap <= tol_abs:
            converged = True
            break
        xtr_raw = None  # w and r change below
        if epochs >= max_epochs:
            break
        corr = np.abs(xtr_d) * ts  # |x_j^T theta| of the dual point
        if screening and lam > 0:
            radius = math.sqrt(2.0 * gap) / lam
            with np.errstate(invalid="ignore"):
                new = (corr + radius * scale_norm < 1.0) & ~screened
            for j in np.nonzero(new & (w != 0))[0]:
                D.add_column(r, c, j, -w[j])
                w[j] = 0.0
            screened |= new
        if working_set:
            score = (1.0 - corr) / np.where(scale_norm > 0, scale_norm, 1.0)
            score[w != 0] = -1.0
            score[screened] = np.inf
            n_free = p - int(screened.sum())
            size = max(p0, 2 * int(np.count_nonzero(w)), prev_ws)
            if size <= prev_ws and len(history) > 1 and gap > 0.5 * history[-2]:
                size = 2 * prev_ws  # no progress with this working set: grow it
            size = min(size, n_free)
            prev_ws = size
            if size <= 0:
                continue
            if size < p:
                ws = np.argpartition(score, size - 1)[:size]
            else:
                ws = np.arange(p)
            ws = np.sort(ws[np.isfinite(score[ws])]).astype(np.int64)
        else:
            ws = np.nonzero(~screened)[0].astype(np.int64)
        inner_tol = max(0.3 * gap, 0.5 * tol_abs)
        nrep = 2  # check the subproblem gap after 2, 4, 8, then every check_every epochs
        acc = _Anderson(D, ws, lam, mu) if anderson else None
        r_dual = None
        best_dual_gap = math.inf
        while epochs < max_epochs:
            for _ in range(nrep):
                D.sweep(w, r, c, ws, lam, mu, 1)
                epochs += 1
                if acc is not None:
                    acc.push(w, r, c)
            nrep = min(2 * nrep, check_every)
            # gap of the subproblem restricted to ws
            r_true = r + c[0] if D.sparse else r
            xtr_ws = D.xtr_cols(r, c[0], ws)
            if mu:
                xtr_ws = xtr_ws - mu * w[ws]
            g_ws, _, _, _ = _gap(D, w, r_true, xtr_ws, lam, mu)
            if g_ws > inner_tol and acc is not None and acc.r_dual is not None and not mu:
                # celer's dual extrapolation: the extrapolated residual as the dual point
                rd = acc.r_dual
                acc.r_dual = None
                cand = (rd, D.xtr_cols(rd, 0.0, ws), None)
                g_ws, _, _, xd = _gap(D, w, r_true, xtr_ws, lam, mu, (cand,))
                if xd is cand[1] and g_ws < best_dual_gap:
                    r_dual, best_dual_gap = rd, g_ws
            if g_ws <= inner_tol:
                break
    if state is not None:
        if xtr_raw is None:
            xtr_raw = xtr_of(r) if lazy is not None else D.xtr(r, c[0])
        state.update(r=r, c=c, xtr=xtr_raw)
    return gap, primal, epochs, converged, history


class _Anderson:
    """Anderson extrapolation of the CD iterates on a working set (as in celer/skglm).

    Every ``K + 1`` epochs the last iterates are combined with the weights that
    minimise the norm of the combined differences; the extrapolated point is
    kept only when it lowers the primal objective.  Its residual is kept as a
    candidate dual point in any case (``r_dual``, celer's dual extrapolation).
    """

    K = 5
    REG = 1e-10

    def __init__(self, D, ws, lam, mu):
        self.D, self.ws, self.lam, self.mu = D, ws, lam, mu
        self.snaps: list = []
        self.Xws = None
        self.r_dual = None

    def _primal(self, w_ws, r_true):
        rr = float(r_true @ r_true)
        return (0.5 * rr + self.lam * float(np.abs(w_ws).sum())
                + 0.5 * self.mu * float(w_ws @ w_ws))

    def push(self, w, r, c):
        self.snaps.append(w[self.ws])
        if len(self.snaps) < self.K + 1:
            return
        W = np.array(self.snaps)
        self.snaps = []
        U = np.diff(W, axis=0)
        M = U @ U.T
        nrm = float(np.trace(M))
        if nrm == 0:
            return
        try:
            z = np.linalg.solve(M / nrm + self.REG * np.eye(self.K), np.ones(self.K))
        except np.linalg.LinAlgError:
            return
        if not np.all(np.isfinite(z)) or z.sum() == 0:
            return
        cw = z / z.sum()
        w_acc = cw @ W[1:]
        cur = W[-1]
        # keep the signs of the last iterate (coordinates that would cross zero stay at 0):
        # near-collinear differences give large weights, and unprojected extrapolations
        # across the kinks of |w| are rejected nearly always on ill-conditioned designs
        w_acc[np.sign(w_acc) != np.sign(cur)] = 0.0
        D = self.D
        if self.Xws is None:
            self.Xws = D.X[:, self.ws]
        r_acc = D.y - self.Xws @ w_acc
        c_acc = float(D.offsets[self.ws] @ w_acc) if D.sparse else 0.0
        r_cur = r + c[0] if D.sparse else r
        r_acc_true = r_acc + c_acc if D.sparse else r_acc
        if self._primal(w_acc, r_acc_true) < self._primal(cur, r_cur):
            w[self.ws] = w_acc
            r[:] = r_acc
            c[0] = c_acc
        else:
            self.r_dual = r_acc_true


def _check_alpha(alpha, name="alpha"):
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"{name} must be a real number >= 0, got {alpha!r}")
    return check_nonneg(name, alpha)


def _check_l1(l1_ratio):
    l1_ratio = check_nonneg("l1_ratio", l1_ratio)
    if l1_ratio > 1:
        raise ValueError(f"l1_ratio must lie in [0, 1], got {l1_ratio!r}")
    return l1_ratio


def _is_gpu(X, y):
    return get_backend(X, y).name == "cupy"


def _array_like(a):
    """Lists and other array-likes as NumPy arrays (as scikit-learn accepts them); arrays of
    any module and sparse matrices pass through."""
    if hasattr(a, "ndim") or hasattr(a, "tocsr"):
        return a
    return np.asarray(a)


def _check_solver(solver, X, y):
    """``"cd"`` (NumPy/SciPy, Numba) or ``"fista"`` (any array module); None picks."""
    gpu = _is_gpu(X, y)
    if solver is None:
        return "fista" if gpu else "cd"
    if solver not in ("cd", "fista"):
        raise ValueError(f"solver must be 'cd', 'fista' or None, got {solver!r}")
    if solver == "cd" and gpu:
        raise ValueError("solver='cd' runs on the CPU only; use solver='fista' (or None) "
                         "for CuPy inputs")
    return solver


def _fista_enet(X, y, alpha, l1_ratio, fit_intercept, tol, maxiter, coef_init):
    """One fit by FISTA with restart on any array module, stopped on the duality gap."""
    from ._lasso_fista import fista_fit

    P, _, coefs, gaps, iters, conv, inter, objs, hist = fista_fit(
        X, y, [alpha], l1_ratio, fit_intercept, tol, maxiter, coef_init)
    ok = bool(conv[0])
    return OptimizeResult(
        x=P.bk.to_output(coefs[:, 0]), info=0 if ok else int(iters[0]), converged=ok,
        niter=int(iters[0]), objective=objs[:1], n_grad=int(iters[0]),
        certificate=float(gaps[0]), duality_gap=float(gaps[0]),
        message=("converged: duality gap <= tol * ||y||^2 / n" if ok else
                 f"maximum number of iterations ({maxiter}) reached with gap {gaps[0]:.3g}"),
        history={"gaps": hist[0]},
        extra={"intercept": float(inter[0]), "solver": "fista"},
    )


def elastic_net(X, y, alpha=1.0, l1_ratio=0.5, *, fit_intercept=True, tol=1e-4, maxiter=1000,
                coef_init=None, screening=True, working_set=True, p0=10, solver=None):
    """Elastic net by coordinate descent (scikit-learn's objective and duality-gap test).

    Minimises ``1/(2 n) ||y - X w - b||^2 + alpha*l1_ratio*||w||_1
    + alpha*(1 - l1_ratio)/2 * ||w||^2``.

    Parameters
    ----------
    X : ndarray or sparse matrix
        Design ``(n_samples, n_features)``: dense (copied to a Fortran-ordered
        float64 array when needed) or sparse (CSC; centring stays implicit).
        CuPy arrays run accelerated proximal gradient on the GPU.
    y : ndarray
        Target ``(n_samples,)``.
    alpha : float, optional
        Regularization ``>= 0``.
    l1_ratio : float, optional
        Mixing in ``[0, 1]``.
    fit_intercept : bool, optional
        Fit an unpenalised intercept (centre ``X`` and ``y``), as scikit-learn.
    tol : float, optional
        Stop when the duality gap is at most ``tol * ||y - mean(y)||^2 / n``
        (scikit-learn's rule).
    maxiter : int, optional
        Maximum coordinate-descent epochs.
    coef_init : ndarray, optional
        Warm start.
    screening : bool, optional
        Gap-safe screening (default on).
    working_set : bool, optional
        Solve on a growing working set, checking the gap on the full problem.
    p0 : int, optional
        First working-set size.
    solver : {None, "cd", "fista"}, optional
        Coordinate descent (Numba, CPU) or FISTA with adaptive restart on any array
        module (``maxiter`` then counts gradient steps); None: "cd" for NumPy/SciPy
        inputs, "fista" for CuPy.

    Returns
    -------
    OptimizeResult
        Unpacks as ``coef, info``; ``intercept``, ``duality_gap`` (scikit-learn's
        scaling), ``objective`` (value after each outer iteration), ``niter``
        (epochs) and ``history["gaps"]``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import elastic_net
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 30)); y = X[:, 0] - 2 * X[:, 1]
    >>> res = elastic_net(X, y, alpha=0.1, l1_ratio=0.7, tol=1e-10)
    >>> res.converged, int(np.count_nonzero(res.x))
    (True, 2)
    """
    X, y = _array_like(X), _array_like(y)
    alpha = _check_alpha(alpha)
    l1_ratio = _check_l1(l1_ratio)
    tol = check_nonneg("tol", tol)
    maxiter = check_maxiter(maxiter, 1000)
    if _check_solver(solver, X, y) == "fista":
        return _fista_enet(X, y, alpha, l1_ratio, fit_intercept, tol, maxiter, coef_init)
    D = _Design(X, y, fit_intercept)
    return _fit_one(D, alpha, l1_ratio, tol, maxiter, coef_init, screening, working_set, p0)


def _fit_one(D, alpha, l1_ratio, tol, maxiter, coef_init, screening, working_set, p0,
             state=None):
    n = D.n
    lam, mu = n * alpha * l1_ratio, n * alpha * (1 - l1_ratio)
    if isinstance(p0, bool) or not isinstance(p0, (int, np.integer)) or p0 < 1:
        raise ValueError(f"p0 (the first working-set size) must be a positive integer, got {p0!r}")
    if lam <= 0:
        working_set = False  # no l1 term: every coefficient is active
    if coef_init is None:
        w = np.zeros(D.p)
    else:
        w = np.array(coef_init, dtype=np.float64).reshape(-1)
        if w.shape != (D.p,):
            raise ValueError(f"coef_init must have shape ({D.p},), got {np.shape(coef_init)}")
        if not np.isfinite(w).all():
            raise ValueError("coef_init contains NaN or Inf; pass finite starting coefficients "
                             "or None")
    if state is not None:
        if "w" in state:
            w = state["w"]  # the path's running coefficients (r and X^T r match them)
        state["w"] = w
    tol_abs = tol * D.yy
    gap, primal, epochs, conv, hist = _solve(D, w, lam, mu, tol_abs, maxiter, p0=p0,
                                             screening=screening, working_set=working_set,
                                             state=state)
    coef = w.astype(D.in_dtype, copy=True)
    intercept = D.y_mean - float(D.X_mean @ w) if D.fit_intercept else 0.0
    return OptimizeResult(
        x=coef, info=0 if conv else epochs, converged=conv, niter=epochs,
        objective=np.asarray([primal / n]), n_grad=0, certificate=gap / n, duality_gap=gap / n,
        message=("converged: duality gap <= tol * ||y||^2 / n" if conv else
                 f"maximum number of epochs ({maxiter}) reached with gap {gap / n:.3g}"
                 + ("; with alpha=0 (plain least squares) the duality gap cannot certify "
                    "convergence: use numpy.linalg.lstsq" if lam <= 0 and mu <= 0 else "")),
        history={"gaps": np.asarray(hist) / n},
        extra={"intercept": intercept},
    )


def lasso(X, y, alpha=1.0, *, fit_intercept=True, tol=1e-4, maxiter=1000, coef_init=None,
          screening=True, working_set=True, p0=10, solver=None):
    """Lasso by coordinate descent: ``1/(2 n)||y - Xw - b||^2 + alpha ||w||_1``.

    The same objective, intercept handling and duality-gap stopping rule as
    :class:`sklearn.linear_model.Lasso`; Numba coordinate descent with gap-safe
    screening and working sets (as in celer/skglm).  CuPy inputs run accelerated
    proximal gradient (FISTA with restart) stopped on the same gap.

    Parameters
    ----------
    X : ndarray or sparse matrix
        Design ``(n_samples, n_features)``.
    y : ndarray
        Target.
    alpha : float, optional
        Regularization ``>= 0``.
    fit_intercept : bool, optional
        Fit an unpenalised intercept.
    tol : float, optional
        Gap tolerance relative to ``||y - mean(y)||^2 / n``.
    maxiter : int, optional
        Maximum epochs.
    coef_init : ndarray, optional
        Warm start.
    screening, working_set : bool, optional
        Gap-safe screening and working sets (default on).
    p0 : int, optional
        First working-set size.
    solver : {None, "cd", "fista"}, optional
        See :func:`elastic_net`.

    Returns
    -------
    OptimizeResult
        Unpacks as ``coef, info``; see :func:`elastic_net`.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import lasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 30)); y = 3 * X[:, 0] + 0.01 * rng.standard_normal(100)
    >>> coef, info = lasso(X, y, alpha=0.1)
    >>> info, int(np.count_nonzero(coef))
    (0, 1)
    """
    return elastic_net(X, y, alpha, 1.0, fit_intercept=fit_intercept, tol=tol, maxiter=maxiter,
                       coef_init=coef_init, screening=screening, working_set=working_set, p0=p0,
                       solver=solver)


def enet_path(X, y, *, l1_ratio=0.5, eps=1e-3, n_alphas=100, alphas=None, fit_intercept=False,
              tol=1e-4, maxiter=1000, screening=True, working_set=True, p0=10, progress=False,
              solver=None):
    """Elastic-net regularization path with warm starts (scikit-learn's ``enet_path`` layout).

    Parameters
    ----------
    X : ndarray or sparse matrix
        Design ``(n_samples, n_features)``.
    y : ndarray
        Target.
    l1_ratio : float, optional
        Mixing in ``(0, 1]``.
    eps : float, optional
        ``alpha_min / alpha_max`` of the default grid.
    n_alphas : int, optional
        Grid size (log-spaced from ``alpha_max``, where the solution becomes 0).
    alphas : array_like, optional
        Explicit grid (sorted decreasing).
    fit_intercept : bool, optional
        Centre the data (scikit-learn's ``lasso_path`` does not: default False).
    tol : float, optional
        Gap tolerance relative to ``||y||^2 / n`` at every alpha.
    maxiter : int, optional
        Maximum epochs per alpha.
    screening, working_set : bool, optional
        Gap-safe screening and working sets.
    p0 : int, optional
        First working-set size.
    progress : bool, optional
        Show a tqdm progress bar (if tqdm is installed).
    solver : {None, "cd", "fista"}, optional
        Coordinate descent with screening and working sets (Numba, CPU) or
        warm-started FISTA with adaptive restart on any array module (CuPy included;
        ``maxiter`` then counts gradient steps per alpha, and ``coefs`` lives on the
        inputs' device).  None: "cd" for NumPy/SciPy inputs, "fista" for CuPy.

    Returns
    -------
    PathResult
        Unpacks as ``alphas, coefs, dual_gaps`` (``coefs`` is ``(n_features,
        n_alphas)``); also ``n_iters``, ``converged``, ``intercepts``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import enet_path
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 20)); y = X[:, :3].sum(axis=1)
    >>> alphas, coefs, gaps = enet_path(X, y, l1_ratio=0.5, n_alphas=10)
    >>> coefs.shape, bool(np.all(coefs[:, 0] == 0))
    ((20, 10), True)
    """
    X, y = _array_like(X), _array_like(y)
    l1_ratio = _check_l1(l1_ratio)
    if l1_ratio == 0:
        raise ValueError("l1_ratio must be > 0 for a path (alpha_max is infinite for ridge)")
    tol = check_nonneg("tol", tol)
    maxiter = check_maxiter(maxiter, 1000)
    solver = _check_solver(solver, X, y)
    if alphas is not None:
        alphas = np.sort(np.asarray(alphas, dtype=np.float64).ravel())[::-1]
        if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas < 0):
            raise ValueError("alphas must be a non-empty sequence of finite numbers >= 0")
    else:
        eps = check_nonneg("eps", eps, strict=True)
        if eps >= 1:
            raise ValueError(f"eps must be in (0, 1): the smallest alpha is eps * alpha_max, "
                             f"got {eps!r}")
        if (isinstance(n_alphas, bool) or not isinstance(n_alphas, (int, np.integer))
                or n_alphas < 1):
            raise ValueError(f"n_alphas must be a positive integer, got {n_alphas!r}")
    if solver == "fista":
        from ._lasso_fista import fista_fit

        P, alphas, coefs, gaps, iters, conv, inter, _, _ = fista_fit(
            X, y, alphas, l1_ratio, fit_intercept, tol, maxiter,
            alpha_grid=None if alphas is not None else (eps, n_alphas))
        return PathResult(alphas=alphas, coefs=P.bk.to_output(coefs), dual_gaps=gaps,
                          n_iters=iters, converged=conv, intercepts=inter)
    D = _Design(X, y, fit_intercept)
    if alphas is None:
        alpha_max = float(np.abs(D.xtr(D.y, 0.0)).max()) / (D.n * l1_ratio)
        if alpha_max == 0:
            alpha_max = np.finfo(float).resolution
        alphas = alpha_max * np.logspace(0, np.log10(eps), int(n_alphas))
    k = len(alphas)
    coefs = np.zeros((D.p, k), dtype=D.in_dtype)
    gaps = np.zeros(k)
    iters = np.zeros(k, dtype=np.int64)
    conv = np.zeros(k, dtype=bool)
    inter = np.zeros(k)
    w = np.zeros(D.p)
    state: dict = {}
    it = range(k)
    if progress:
        try:
            from tqdm.auto import tqdm

            it = tqdm(it, desc="path")
        except ImportError:  # pragma: no cover
            pass
    for i in it:
        res = _fit_one(D, float(alphas[i]), l1_ratio, tol, maxiter, w, screening, working_set, p0,
                       state)
        w = state["w"]
        coefs[:, i] = res.x
        gaps[i] = res.duality_gap
        iters[i] = res.niter
        conv[i] = res.converged
        inter[i] = res.intercept
    return PathResult(alphas=alphas, coefs=coefs, dual_gaps=gaps, n_iters=iters,
                      converged=conv, intercepts=inter)


def lasso_path(X, y, *, eps=1e-3, n_alphas=100, alphas=None, fit_intercept=False, tol=1e-4,
               maxiter=1000, screening=True, working_set=True, p0=10, progress=False,
               solver=None):
    """Lasso regularization path (scikit-learn's ``lasso_path`` objective, layout and tolerance).

    Parameters
    ----------
    X : ndarray or sparse matrix
        Design ``(n_samples, n_features)``.
    y : ndarray
        Target.
    eps : float, optional
        ``alpha_min / alpha_max``.
    n_alphas : int, optional
        Grid size.
    alphas : array_like, optional
        Explicit grid.
    fit_intercept : bool, optional
        Centre the data (default False, as scikit-learn's ``lasso_path``).
    tol : float, optional
        Gap tolerance relative to ``||y||^2 / n``.
    maxiter : int, optional
        Maximum epochs per alpha.
    screening, working_set : bool, optional
        Gap-safe screening and working sets.
    p0 : int, optional
        First working-set size.
    progress : bool, optional
        tqdm progress bar.
    solver : {None, "cd", "fista"}, optional
        See :func:`enet_path` (None: "cd" on NumPy/SciPy, "fista" on CuPy).

    Returns
    -------
    PathResult
        Unpacks as ``alphas, coefs, dual_gaps``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import lasso_path
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 20)); y = X[:, :3].sum(axis=1)
    >>> path = lasso_path(X, y, n_alphas=20, eps=1e-2, tol=1e-8)
    >>> bool(path.converged.all()), path.coefs.shape
    (True, (20, 20))
    """
    return enet_path(X, y, l1_ratio=1.0, eps=eps, n_alphas=n_alphas, alphas=alphas,
                     fit_intercept=fit_intercept, tol=tol, maxiter=maxiter, screening=screening,
                     working_set=working_set, p0=p0, progress=progress, solver=solver)
