"""Block coordinate descent with proximal regularization (BCD-PR) and NMF by HALS."""

from __future__ import annotations

import math

import numpy as np

from .._backend import get_backend
from .._kernels import get_kernel
from .._validation import check_maxiter
from ._common import check_nonneg, to_host_float
from ._results import OptimizeResult

__all__ = ["Block", "bcd", "nmf"]


class Block:
    """One block of a :func:`bcd` problem.

    Give either an (exact or inexact) block minimiser, or a partial gradient
    with a Lipschitz constant and a prox (a linearised proximal step).

    Parameters
    ----------
    minimize : callable, optional
        ``minimize(xs, i, prox_weight) -> new x_i``: a (possibly inexact) minimiser
        of ``F(x_1, .., z, .., x_m) + prox_weight/2 ||z - x_i||^2`` over ``z``
        with the other blocks fixed (``xs`` is the list of current blocks).
    grad : callable, optional
        ``grad(xs) -> partial gradient`` of the smooth part with respect to this block.
    lipschitz : float or callable, optional
        Lipschitz constant of ``grad`` in this block (``callable(xs)`` when it
        depends on the other blocks).
    penalty : Penalty, optional
        Nonsmooth part of this block (an object with ``prox(x, tau)``).
    inner : int, optional
        Proximal-gradient steps per visit (inexact block solve; default 1).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import Block, NonNeg
    >>> blk = Block(grad=lambda xs: xs[0] - 1.0, lipschitz=1.0, penalty=NonNeg())
    >>> blk.step([np.array([5.0])], 0, 0.0)
    array([1.])
    """

    def __init__(self, minimize=None, *, grad=None, lipschitz=None, penalty=None, inner=1):
        if minimize is None and grad is None:
            raise ValueError("a Block needs minimize=... or grad=... (with lipschitz=...)")
        if minimize is not None and not callable(minimize):
            raise TypeError("minimize must be a callable (xs, i, prox_weight) -> new block")
        if grad is not None and lipschitz is None and minimize is None:
            raise ValueError("a gradient block needs lipschitz= (a float or a callable of xs)")
        if penalty is not None and not getattr(penalty, "convex", True):
            raise ValueError(
                f"the penalty {type(penalty).__name__} is nonconvex; BCD-PR assumes "
                "block-wise convex penalties")
        if isinstance(lipschitz, (int, float)):
            check_nonneg("lipschitz", lipschitz)
        self.minimize = minimize
        self.grad = grad
        self.lipschitz = lipschitz
        self.penalty = penalty
        self.inner = int(inner)
        if self.inner < 1:
            raise ValueError(f"inner must be a positive integer, got {inner!r}")

    def step(self, xs, i, prox_weight):
        """New value of block ``i``.

        Parameters
        ----------
        xs : list of arrays
            Current blocks (block ``i`` is replaced in place in the list by the caller).
        i : int
            Index of this block.
        prox_weight : float
            Proximal regularization ``lambda >= 0``.

        Returns
        -------
        array
            The updated block.
        """
        if self.minimize is not None:
            return self.minimize(xs, i, prox_weight)
        anchor = xs[i]
        cur = list(xs)
        z = anchor
        for _ in range(self.inner):
            L = self.lipschitz(cur) if callable(self.lipschitz) else self.lipschitz
            c = float(L) + prox_weight
            if c <= 0:
                raise ValueError("lipschitz + prox_weight must be > 0 for a gradient block")
            gz = self.grad(cur)
            # minimise <g, u - z> + L/2 ||u - z||^2 + lam/2 ||u - anchor||^2 + h(u)
            v = (float(L) * z + prox_weight * anchor - gz) / c
            z = v if self.penalty is None else self.penalty.prox(v, 1.0 / c)
            cur[i] = z
        return z


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def bcd(blocks, x0, *, objective=None, order="cyclic", prox_weight=0.0, tol=1e-6, maxiter=500,
        rng=None, callback=None):
    """Gauss-Seidel block coordinate descent with proximal regularization (BCD-PR).

    Each visit of block ``i`` replaces ``x_i`` by a (possibly inexact) minimiser
    of ``F + prox_weight/2 ||z - x_i||^2`` with the other blocks fixed, in cyclic
    or random order.  For smooth nonconvex ``F`` with block-wise convex
    constraints BCD-PR reaches an ``eps``-stationary point in ``O(1/eps)``
    iterations, also with inexact block solves (Kwon and Lyu, 2023).

    Parameters
    ----------
    blocks : sequence of Block
        One :class:`Block` per variable block.
    x0 : sequence of array_like
        Starting blocks (copied).
    objective : callable, optional
        ``objective(xs) -> float``; recorded after each sweep.
    order : {"cyclic", "random"}, optional
        Block order of each sweep (``"random"``: a fresh permutation per sweep).
    prox_weight : float, optional
        Proximal regularization ``lambda >= 0``.
    tol : float, optional
        Stop when ``max_i ||x_i^{new} - x_i|| / max(1, ||x_i||) <= tol``.
    maxiter : int, optional
        Maximum sweeps.
    rng : int or numpy.random.Generator, optional
        Seed of the random order.
    callback : callable, optional
        ``callback(xs)`` after each sweep; return True to stop.

    Returns
    -------
    OptimizeResult
        Unpacks as ``xs, info`` (``xs`` a list of blocks); ``objective``
        (history, when given), ``history["step"]`` (relative changes),
        ``certificate`` (last relative change).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import Block, bcd
    >>> # minimise x^2/2 + y^2/2 + x*y/2 - x - y, one exact block solve at a time
    >>> bx = Block(lambda xs, i, lam: (1 - 0.5 * xs[1] + lam * xs[0]) / (1 + lam))
    >>> by = Block(lambda xs, i, lam: (1 - 0.5 * xs[0] + lam * xs[1]) / (1 + lam))
    >>> res = bcd([bx, by], [np.array(0.0), np.array(0.0)], prox_weight=0.1, tol=1e-12)
    >>> [round(float(v), 8) for v in res.x]
    [0.66666667, 0.66666667]
    """
    blocks = list(blocks)
    if not blocks or not all(isinstance(b, Block) for b in blocks):
        raise TypeError("blocks must be a non-empty sequence of lrsolve.prox.Block")
    xs = list(x0)
    if len(xs) != len(blocks):
        raise ValueError(f"x0 has {len(xs)} blocks but {len(blocks)} Block objects were given")
    bk = get_backend(*xs)
    xs = [bk.asarray(x).copy() if hasattr(bk.asarray(x), "copy") else bk.asarray(x) for x in xs]
    xs = [x.astype(np.float64) if x.dtype.kind not in "fc" else x for x in xs]
    if order not in ("cyclic", "random"):
        raise ValueError(f"order must be 'cyclic' or 'random', got {order!r}")
    prox_weight = check_nonneg("prox_weight", prox_weight)
    tol = check_nonneg("tol", tol)
    maxiter = check_maxiter(maxiter, 500)
    gen = _rng(rng)
    xp = bk.xp
    hist_obj = [float(objective(xs))] if objective is not None else []
    steps = []
    converged = False
    k = 0
    m = len(blocks)
    for k in range(1, maxiter + 1):  # noqa: B007
        idx = range(m) if order == "cyclic" else gen.permutation(m)
        change = 0.0
        for i in idx:
            new = bk.asarray(blocks[i].step(xs, i, prox_weight))
            if new.shape != xs[i].shape:
                raise ValueError(f"block {i} changed shape from {xs[i].shape} to {new.shape}")
            d = to_host_float(xp.sqrt(((new - xs[i]) ** 2).sum()))
            nrm = to_host_float(xp.sqrt((xs[i] ** 2).sum()))
            change = max(change, d / max(1.0, nrm))
            xs[i] = new
        steps.append(change)
        if objective is not None:
            hist_obj.append(float(objective(xs)))
        stop = change <= tol
        if callback is not None and callback(xs):
            stop = True
        if stop:
            converged = change <= tol
            break
    return OptimizeResult(
        x=[bk.to_output(x) for x in xs], info=0 if converged else k, converged=converged,
        niter=k, objective=np.asarray(hist_obj), certificate=steps[-1] if steps else math.nan,
        message=("converged: relative block change <= tol" if converged
                 else "maximum number of sweeps reached" if k >= maxiter
                 else "stopped by the callback"),
        history={"step": np.asarray(steps)}, extra={"order": order},
    )


# ============================================================================= NMF
def _nndsvd(xp, X, rank, eps=1e-6):
    """NNDSVD initialisation (Boutsidis and Gallopoulos), zeros filled with eps."""
    import scipy.sparse as sp

    if sp.issparse(X) and rank >= min(X.shape):  # svds needs k < min(shape): a dense SVD
        U, S, Vt = np.linalg.svd(X.toarray(), full_matrices=False)
        U, S, Vt = U[:, :rank], S[:rank], Vt[:rank]
    elif sp.issparse(X):
        from scipy.sparse.linalg import svds

        U, S, Vt = svds(X, k=rank, random_state=0)
        order = np.argsort(S)[::-1]
        U, S, Vt = U[:, order], S[order], Vt[order]
    elif rank + 10 < min(X.shape) // 2:
        # randomized range finder (Halko et al.) with 7 power iterations, as scikit-learn's
        # NMF init: the leading triplets to ~1e-10 for a clear gap, far cheaper than a
        # full SVD (which also runs slowly with several BLAS threads on a busy machine)
        G = xp.asarray(np.random.default_rng(0).standard_normal((X.shape[1], rank + 10)),
                       dtype=X.dtype)
        Q, _ = xp.linalg.qr(X @ G)
        for _ in range(7):
            Q, _ = xp.linalg.qr(X.T @ Q)
            Q, _ = xp.linalg.qr(X @ Q)
        Ub, S, Vt = xp.linalg.svd(Q.T @ X, full_matrices=False)
        U, S, Vt = (Q @ Ub)[:, :rank], S[:rank], Vt[:rank]
    else:
        U, S, Vt = xp.linalg.svd(X, full_matrices=False)
        U, S, Vt = U[:, :rank], S[:rank], Vt[:rank]
    if not sp.issparse(X):
        U, S, Vt = np.asarray(U.get() if hasattr(U, "get") else U), \
            np.asarray(S.get() if hasattr(S, "get") else S), \
            np.asarray(Vt.get() if hasattr(Vt, "get") else Vt)
    m, n = X.shape
    W = np.zeros((m, rank))
    H = np.zeros((rank, n))
    W[:, 0] = np.sqrt(S[0]) * np.abs(U[:, 0])
    H[0] = np.sqrt(S[0]) * np.abs(Vt[0])
    for j in range(1, rank):
        x, y = U[:, j], Vt[j]
        xp_, yp = np.maximum(x, 0), np.maximum(y, 0)
        xn, yn = np.maximum(-x, 0), np.maximum(-y, 0)
        xpn, ypn = np.linalg.norm(xp_), np.linalg.norm(yp)
        xnn, ynn = np.linalg.norm(xn), np.linalg.norm(yn)
        mp, mn = xpn * ypn, xnn * ynn
        if mp > mn:
            u, v, s = xp_ / xpn, yp / ypn, mp
        else:
            u, v, s = xn / xnn, yn / ynn, mn
        lbd = np.sqrt(S[j] * s)
        W[:, j] = lbd * u
        H[j] = lbd * v
    W[W < eps] = 0
    H[H < eps] = 0
    return W, H


def _block(sweep, W, XHt, HHt, prox_weight, reps, eps=0.1):
    """Up to ``reps`` HALS sweeps of one factor with fixed products; stop when a sweep
    changes the factor by less than ``eps`` times the first one (Gillis and Glineur)."""
    W, d0 = sweep(W, XHt, HHt, prox_weight)
    for _ in range(reps - 1):
        W, d = sweep(W, XHt, HHt, prox_weight)
        if d <= eps * eps * d0:
            break
    return W


def nmf(X, rank, *, init="nndsvd", prox_weight=0.0, tol=1e-6, maxiter=500, rng=None,
        callback=None, inner_sweeps=None):
    """Nonnegative matrix factorization ``X ~ W H`` by HALS (block coordinate descent).

    Minimises ``1/2 ||X - W H||_F^2`` over ``W >= 0``, ``H >= 0`` (scikit-learn's
    ``NMF`` Frobenius objective without regularization), updating the columns of
    ``W`` and the rows of ``H`` exactly in turn; ``prox_weight > 0`` adds the
    proximal term of BCD-PR to every column update.

    Parameters
    ----------
    X : ndarray or sparse matrix
        Nonnegative data ``(m, n)`` (NumPy, SciPy sparse or CuPy).
    rank : int
        Number of components.
    init : {"nndsvd", "random"} or tuple, optional
        NNDSVD, scaled random, or an explicit ``(W0, H0)``.
    prox_weight : float, optional
        Proximal regularization ``>= 0`` (BCD-PR).
    tol : float, optional
        Stop when the relative decrease of the objective over one sweep is below ``tol``.
    maxiter : int, optional
        Maximum sweeps.
    rng : int or numpy.random.Generator, optional
        Seed of the random init.
    callback : callable, optional
        ``callback(W, H)`` after each sweep; return True to stop.
    inner_sweeps : int, optional
        HALS sweeps of a factor per product ``X H^T`` / ``X^T W`` (the costly part).
        None (default): accelerated HALS of Gillis and Glineur, up to ``1 + rho/2``
        sweeps (``rho`` the cost of the products over that of a sweep), stopped when a
        sweep changes the factor by less than 0.1 times the first one; 1: plain HALS
        (scikit-learn's coordinate descent, sweep for sweep).

    Returns
    -------
    OptimizeResult
        Unpacks as ``W, info``; ``H`` (attribute), ``objective`` history
        (``1/2 ||X - WH||_F^2``), ``niter``, ``relative_error`` (attribute).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import nmf
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((30, 4)) @ rng.random((4, 20))
    >>> res = nmf(X, 4, tol=1e-10, maxiter=2000)
    >>> bool(res.relative_error < 1e-3)
    True
    """
    import scipy.sparse as sp

    is_sparse = sp.issparse(X)
    if not is_sparse and not hasattr(X, "ndim"):
        X = np.asarray(X)  # array-likes (lists), as scikit-learn accepts
    bk = get_backend(X)
    xp = bk.xp
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
        raise ValueError(f"rank must be a positive integer, got {rank!r}")
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D matrix, got shape {X.shape}")
    m, n = X.shape
    if rank > min(m, n) and init == "nndsvd":
        raise ValueError(f"rank={rank} exceeds min(X.shape)={min(m, n)}; use init='random'")
    if not is_sparse:
        X = bk.asarray(X)
        if X.dtype == np.float16:
            X = X.astype(np.float32)
        elif X.dtype.kind not in "f":
            X = X.astype(np.float64)
        if not bool(xp.isfinite(X).all()):
            raise ValueError("X contains NaN or Inf; nmf needs finite nonnegative data "
                             "(impute or drop the non-finite entries first)")
        xmin = to_host_float(X.min())
    else:
        if X.dtype == np.float16:
            X = X.tocsr().astype(np.float32)
        else:
            X = X.tocsr().astype(np.float64) if X.dtype.kind not in "f" else X.tocsr()
        if X.nnz and not bool(xp.isfinite(X.data).all()):
            raise ValueError("X contains NaN or Inf; nmf needs finite nonnegative data "
                             "(impute or drop the non-finite entries first)")
        xmin = float(X.data.min()) if X.nnz else 0.0
    if xmin < 0:
        raise ValueError("X must be nonnegative for nmf (it has negative entries)")
    prox_weight = check_nonneg("prox_weight", prox_weight)
    tol = check_nonneg("tol", tol)
    maxiter = check_maxiter(maxiter, 500)
    dt = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    if isinstance(init, tuple):
        W, H = (bk.asarray(a, dtype=dt).copy() for a in init)
        if W.shape != (m, rank) or H.shape != (rank, n):
            raise ValueError(f"init=(W0, H0) must have shapes ({m}, {rank}) and ({rank}, {n})")
        if not (bool(xp.isfinite(W).all()) and bool(xp.isfinite(H).all())):
            raise ValueError("init=(W0, H0) contains NaN or Inf; pass finite nonnegative "
                             "factors")
    elif init == "nndsvd":
        W, H = _nndsvd(xp, X, rank)  # built on the host: one explicit upload of the start
        W, H = xp.asarray(W, dtype=dt), xp.asarray(H, dtype=dt)
    elif init == "random":
        gen = _rng(rng)
        mean = (float(X.sum()) / (m * n)) if is_sparse else to_host_float(X.mean())
        avg = math.sqrt(max(mean, 0.0) / rank)
        # drawn on the host with one generator, so that CPU and GPU runs agree
        W = xp.asarray(avg * np.abs(gen.standard_normal((m, rank))), dtype=dt)
        H = xp.asarray(avg * np.abs(gen.standard_normal((rank, n))), dtype=dt)
    else:
        raise ValueError(f"init must be 'nndsvd', 'random' or a (W0, H0) tuple, got {init!r}")
    if is_sparse:
        xnorm2 = float(X.multiply(X).sum())
    else:
        xnorm2 = to_host_float((X * X).sum())

    def objective(W, H, XHt=None):
        # 1/2 (||X||^2 - 2 <X, WH> + ||WH||^2) without forming WH
        WtW = W.T @ W
        HHt = H @ H.T
        cross = to_host_float((W * (X @ H.T)).sum()) if XHt is None else \
            to_host_float((W * XHt).sum())
        return max(0.5 * (xnorm2 - 2 * cross + to_host_float((WtW * HHt).sum())), 0.0)

    hist = [objective(W, H)]
    converged = False
    sweep = get_kernel("prox_hals_sweep", bk.engine)
    f64 = np.float64
    W = xp.ascontiguousarray(W)
    Ht = xp.ascontiguousarray(H.T)
    if inner_sweeps is None:
        # accelerated HALS (Gillis and Glineur, 2012): the products X H^T and X^T W cost
        # rho times a sweep; repeat the cheap sweeps up to 1 + rho/2 times per product
        prod = (X.nnz if is_sparse else m * n) * rank
        reps_w = int(min(1 + 0.5 * (1 + (prod + n * rank * rank) / (m * rank * rank + m)), 50))
        reps_h = int(min(1 + 0.5 * (1 + (prod + m * rank * rank) / (n * rank * rank + n)), 50))
    else:
        if isinstance(inner_sweeps, bool) or not isinstance(inner_sweeps, (int, np.integer)) \
                or inner_sweeps < 1:
            raise ValueError(f"inner_sweeps must be a positive integer or None, "
                             f"got {inner_sweeps!r}")
        reps_w = reps_h = int(inner_sweeps)  # (n, rank): both factors are updated row-wise
    k = 0
    HHt = Ht.T @ Ht
    for k in range(1, maxiter + 1):  # noqa: B007
        XHt = X @ Ht
        XHt = bk.asarray(XHt) if not is_sparse else np.asarray(XHt)
        W = _block(sweep, W, XHt, HHt, prox_weight, reps_w)
        WtW = W.T @ W
        XtW = X.T @ W
        XtW = bk.asarray(XtW) if not is_sparse else np.asarray(XtW)
        Ht = _block(sweep, Ht, XtW, WtW, prox_weight, reps_h)
        # objective from the last products: ||X||^2 - 2<X^T W, H^T> + <W^T W, H H^T>
        # (in float64: the expansion cancels, float32 sums would stall the stopping test)
        HHt = Ht.T @ Ht  # also the next sweep's
        if dt == f64:
            cross = to_host_float((XtW * Ht).sum())
            quad = to_host_float((WtW * HHt).sum())
        else:
            H64 = Ht.astype(f64)
            cross = to_host_float((XtW.astype(f64) * H64).sum())
            quad = to_host_float((WtW.astype(f64) * (H64.T @ H64)).sum())
        val = max(0.5 * (xnorm2 - 2 * cross + quad), 0.0)
        hist.append(val)
        stop = abs(hist[-2] - val) <= tol * max(hist[0], 1e-300)
        H = Ht.T
        if callback is not None and callback(W, H):
            stop = True
        if stop:
            converged = abs(hist[-2] - val) <= tol * max(hist[0], 1e-300)
            break
    H = xp.ascontiguousarray(Ht.T)
    rel = math.sqrt(2 * hist[-1] / xnorm2) if xnorm2 > 0 else 0.0
    return OptimizeResult(
        x=bk.to_output(W), info=0 if converged else k, converged=converged, niter=k,
        objective=np.asarray(hist), certificate=abs(hist[-2] - hist[-1]) / max(hist[0], 1e-300)
        if len(hist) > 1 else math.nan,
        message="converged: relative objective decrease <= tol" if converged
        else "maximum number of sweeps reached" if k >= maxiter else "stopped by the callback",
        extra={"H": bk.to_output(H), "relative_error": rel, "W": bk.to_output(W)},
    )
