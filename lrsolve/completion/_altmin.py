"""Alternating least squares (ALS-WR) with exact or CG row updates."""

from __future__ import annotations

import time

import numpy as np

from .._kernels import get_kernel
from . import _common as C
from ._data import observations
from ._result import CompletionResult

__all__ = ["altmin"]


def _augment(xp, F, col):
    """``[F, col]`` as a contiguous array (``col`` a vector or a scalar)."""
    out = xp.empty((F.shape[0], F.shape[1] + 1), dtype=F.dtype)
    out[:, :-1] = F
    out[:, -1] = col
    return out


def altmin(obs, rank, *, shape=None, reg=0.1, init="svd", solver="exact", cg_steps=3,
           maxiter=20, tol=1e-4, rng=None, biases=False, validation=None, early_stop=2,
           callback=None, progress=None):
    """Low-rank matrix completion by alternating least squares (ALS-WR).

    Minimises, over ``U`` (m x k) and ``V`` (n x k) (and, with ``biases=True``,
    row and column offsets ``b``, ``c`` around the mean ``mu``),

    .. math::

        \\sum_{(i,j)\\in\\Omega} (X_{ij} - \\mu - b_i - c_j - U_i \\cdot V_j)^2
        + \\lambda \\Big(\\sum_i n_i (\\|U_i\\|^2 + b_i^2) + \\sum_j n_j (\\|V_j\\|^2 + c_j^2)\\Big)

    where ``n_i``, ``n_j`` count the observations of row ``i`` and column ``j``
    (the weighted regularization of Zhou et al., as Spark ALS scales it).  Each
    sweep solves for all rows of ``U`` with ``V`` fixed, then for all rows of
    ``V``.  ``solver="exact"`` forms and Cholesky-solves each row's ``k x k``
    normal matrix (``O(|Omega| k^2 + (m + n) k^3)`` per sweep);
    ``solver="cg"`` takes ``cg_steps`` warm-started Jacobi-preconditioned CG
    steps per row using only products with the sampled factor rows
    (``O(|Omega| k)`` per sweep: the robust alternating minimization of Gu,
    Song, Yin and Zhang).  Rows with at most ``min(k - 1, cg_steps + 3)``
    observations are solved exactly instead, through their ``n_i x n_i`` dual
    system ``x = G^T (G G^T + lambda n_i I)^{-1} y``: cheaper than the CG steps at
    that length, so the sweep stays ``O(|Omega| k cg_steps)``.

    Parameters
    ----------
    obs : tuple, sparse matrix, array or Observations
        The observed entries, in any form :func:`observations` accepts.
    rank : int
        Number of factors ``k`` (at most ``min(m, n)``).
    shape : tuple of int, optional
        ``(m, n)`` when ``obs`` are COO triplets (inferred when omitted).
    reg : float
        Regularization weight ``lambda`` (multiplied by each row's count).
    init : {"svd", "random"}
        Start from the top-``k`` SVD of the rescaled zero-filled data (a
        randomized range finder on the sparse matrix) or from Gaussian factors.
    solver : {"exact", "cg"}
        Row update, see above.
    cg_steps : int
        CG steps per row and half-sweep (``solver="cg"``).
    maxiter : int
        Maximum number of sweeps.
    tol : float
        Stop when the training RMSE changes by less than ``tol`` relatively in
        one sweep, or falls below ``tol`` times the RMS of the data.
    rng : int or numpy.random.Generator, optional
        Seed of the random initialisation and of the range finder.
    biases : bool
        Fit a global mean and row/column offsets as well.
    validation : tuple or Observations, optional
        Held-out entries ``(rows, cols, values)``: their RMSE is recorded after
        each sweep (``history["val_rmse"]``).
    early_stop : int or None
        With ``validation``: stop when the validation RMSE has not improved for
        this many sweeps and return the best iterate.  ``None`` disables it.
    callback : callable, optional
        Called as ``callback(result)`` after every sweep with the current
        :class:`CompletionResult`.
    progress : bool, optional
        Show a tqdm progress bar (when tqdm is installed).

    Returns
    -------
    CompletionResult
        Factors, biases, history (train/validation RMSE and time of each
        sweep), ``n_iter``, ``converged`` and ``message``.

    Raises
    ------
    ValueError
        Bad entries (see :func:`observations`), ``rank > min(m, n)``, bad options.

    See Also
    --------
    softimpute, scaled_gd

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.completion import altmin
    >>> rng = np.random.default_rng(0)
    >>> M = rng.standard_normal((60, 2)) @ rng.standard_normal((2, 50))
    >>> mask = rng.random(M.shape) < 0.5
    >>> res = altmin((M, mask), 2, reg=0.0, maxiter=50, tol=1e-12, rng=0)
    >>> bool(np.linalg.norm(res.to_dense() - M) < 1e-6 * np.linalg.norm(M))
    True
    """
    o = observations(obs, shape)
    bk = o.backend
    xp = bk.xp
    dt = o.dtype
    m, n = o.shape
    k = C.check_rank(rank, o.shape)
    reg = C.check_nonneg("reg", reg)
    tol = C.check_nonneg("tol", tol)
    maxiter = C.check_int("maxiter", maxiter)
    cg_steps = C.check_int("cg_steps", cg_steps)
    C.check_choice("init", init, ("svd", "random"))
    C.check_choice("solver", solver, ("exact", "cg"))
    if early_stop is not None:
        early_stop = C.check_int("early_stop", early_stop)
    val = C.validation_set(validation, o.shape, bk, dt)
    gen = C.make_rng(rng)

    eng = bk.engine
    k_exact = get_kernel("mc_als_exact", eng)
    k_cg = get_kernel("mc_als_cg", eng)

    mu = float(xp.mean(o.row_vals.astype(np.float64))) if biases else 0.0
    scale = C.rms(xp, o.row_vals - dt.type(mu))
    if init == "svd":
        U, V, _ = C.spectral_init(o, k, gen, offset=mu)
    else:
        s = np.sqrt(max(scale, 1e-30) / np.sqrt(k))
        U = C.randn(bk, gen, (m, k), dt) * dt.type(s)
        V = C.randn(bk, gen, (n, k), dt) * dt.type(s)
    bu = xp.zeros(m, dtype=dt) if biases else None
    bc = xp.zeros(n, dtype=dt) if biases else None
    lam_r = (reg * o.row_counts).astype(dt)
    lam_c = (reg * o.col_counts).astype(dt)

    # with biases, the fixed factor enters as [F, 1]: one buffer per side for the whole call
    # (the column of ones written once), refilled in place each half-sweep
    aug = {m: _augment(xp, xp.zeros((m, k), dtype=dt), 1),
           n: _augment(xp, xp.zeros((n, k), dtype=dt), 1)} if biases else None

    def update(ptr, idx, vals, F, lam, X0, other_bias, own_bias):
        rows = ptr.shape[0] - 1
        if biases:
            Fa = aug[F.shape[0]]  # (one shared buffer when m == n: the halves take turns)
            Fa[:, :k] = F
            F = Fa
            if solver == "cg":  # the exact update does not read the start
                X0 = _augment(xp, X0, own_bias)
            vals = vals - dt.type(mu) - other_bias[idx]
        out = xp.empty((rows, k + 1 if biases else k), dtype=dt)
        if solver == "exact":
            k_exact(ptr, idx, vals, F, lam, out)
        else:
            k_cg(ptr, idx, vals, F, lam, X0, cg_steps, out)
        if biases:
            return xp.ascontiguousarray(out[:, :k]), xp.ascontiguousarray(out[:, k])
        return out, None

    hist = {"train_rmse": [], "val_rmse": [], "time": []}

    def result(U, V, bu, bc, it, conv, msg):
        h = {key: np.asarray(v, dtype=np.float64) for key, v in hist.items()}
        out = bk.to_output
        return CompletionResult(
            U=out(U), V=out(V), row_bias=out(bu), col_bias=out(bc), mean=mu, n_iter=it,
            converged=conv, message=msg, history=h, shape=(m, n),
        )

    bar = C.Progress(progress, maxiter, f"altmin[{solver}]")
    best = None
    best_val = np.inf
    since_best = 0
    converged = False
    message = f"reached maxiter={maxiter} sweeps"
    it = 0
    prev = np.inf
    try:
        for it in range(1, maxiter + 1):
            t0 = time.perf_counter()
            U, bu = update(o.row_ptr, o.row_idx, o.row_vals, V, lam_r, U, bc, bu)
            V, bc = update(o.col_ptr, o.col_idx, o.col_vals, U, lam_c, V, bu, bc)
            tr = C.train_rmse(o, U, V, mu, bu, bc)  # one pass over the entries, no BLAS
            bk.synchronize()
            hist["time"].append(time.perf_counter() - t0)
            hist["train_rmse"].append(tr)
            vr = C.predict_rmse(xp, U, V, val, mu, bu, bc) if val is not None else float("nan")
            hist["val_rmse"].append(vr)
            bar.update(train=tr, val=vr)
            if callback is not None:
                callback(result(U, V, bu, bc, it, False, "running"))
            if not np.isfinite(tr):
                message = f"non-finite training RMSE at sweep {it}"
                break
            if val is not None and early_stop is not None:
                if vr < best_val:
                    best_val, since_best = vr, 0
                    best = (U.copy(), V.copy(), None if bu is None else bu.copy(),
                            None if bc is None else bc.copy(), it)
                else:
                    since_best += 1
                    if since_best >= early_stop:
                        U, V, bu, bc, b_it = best
                        converged = True
                        message = (f"validation RMSE stopped improving: best {best_val:.6g} at "
                                   f"sweep {b_it}, stopped after sweep {it}")
                        break
            if tr <= tol * scale or (np.isfinite(prev) and abs(prev - tr) <= tol * prev):
                converged = True
                message = f"training RMSE converged (tol={tol:g}) after {it} sweeps"
                break
            prev = tr
    finally:
        bar.close()
    return result(U, V, bu, bc, it, converged, message)
