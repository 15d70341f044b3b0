"""SoftImpute (Mazumder, Hastie and Tibshirani) with the sparse-plus-low-rank trick."""

from __future__ import annotations

import time

import numpy as np

from .._kernels import get_kernel
from . import _common as C
from ._data import observations
from ._result import CompletionResult

__all__ = ["softimpute"]


def _frob2(xp, U, s, V):
    """``||U diag(s) V^T||_F^2`` from the factors."""
    return _inner(xp, U, s, V, U, s, V)


def _inner(xp, U1, s1, V1, U2, s2, V2):
    """``<U1 diag(s1) V1^T, U2 diag(s2) V2^T>_F`` from the factors."""
    if s1.shape[0] == 0 or s2.shape[0] == 0:
        return 0.0
    # in float64: the relative change is a difference of such terms (cancellation)
    f = np.float64
    G = (U1.astype(f).T @ U2.astype(f)) * (V1.astype(f).T @ V2.astype(f))
    return float(s1.astype(f) @ G @ s2.astype(f))


def softimpute(obs, *, lam=None, rank_max=None, shape=None, maxiter=100, tol=1e-4, n_power=0,
               accelerate=True, rng=None, validation=None, early_stop=None, callback=None,
               progress=None):
    """Nuclear-norm regularized completion by SoftImpute (Mazumder, Hastie, Tibshirani 2010).

    Iterates ``Z <- SVT_lam(P_Omega(X) + P_Omega^perp(Z))`` (singular value
    soft-thresholding of the filled-in matrix), keeping at most ``rank_max``
    singular values.  The filled-in matrix is held as the sparse residual on
    ``Omega`` plus the current low-rank estimate, ``P_Omega(X - Z) + Z``, and is
    never formed: its leading singular triplets are computed by a randomized
    range finder warm-started with the previous right singular vectors, so an
    iteration costs ``O(|Omega| r + (m + n) r^2)`` instead of the dense
    ``O(m n r)`` (or a full SVD).

    Parameters
    ----------
    obs : tuple, sparse matrix, array or Observations
        The observed entries (see :func:`observations`).
    lam : float, optional
        Threshold of the singular values.  Default: the largest singular
        value of the zero-filled data divided by 50 (fancyimpute's default).
    rank_max : int, optional
        Largest rank kept (default ``min(m, n, 100)``).
    shape : tuple of int, optional
        ``(m, n)`` for COO triplets.
    maxiter : int
        Maximum number of iterations.
    tol : float
        Stop when ``||Z_new - Z_old||_F / ||Z_old||_F < tol``.
    n_power : int
        Power iterations of the range finder per iteration.  The range finder
        is warm-started with the previous right singular vectors, so the
        default 0 (one product with the filled matrix and one with its
        transpose per iteration) is enough; the first iteration, without a
        warm start, uses at least 2.
    accelerate : bool
        Nesterov momentum with adaptive restart (the accelerated proximal
        gradient method of Beck-Teboulle / O'Donoghue-Candes; "AIS-Impute" of
        Yao and Kwok): threshold ``P_Omega(X - Y) + Y`` at the extrapolated
        point ``Y = Z_k + theta_k (Z_k - Z_{k-1})`` instead of at ``Z_k``, and
        restart the momentum whenever the objective
        ``||P_Omega(X - Z)||^2 / 2 + lam ||Z||_*`` increases.  Same fixed
        point, far fewer iterations at low sampling rates (plain SoftImpute
        contracts the error on the missing entries only by about ``1 - p``
        per iteration).  ``Y`` stays sparse-plus-low-rank (rank at most
        ``2 rank_max``), so an iteration costs the same.  ``False`` gives
        the textbook iteration.
    rng : int or numpy.random.Generator, optional
        Seed of the range finder.
    validation : tuple or Observations, optional
        Held-out entries whose RMSE is recorded after each iteration.
    early_stop : int, optional
        With ``validation``: stop once the validation RMSE has not improved
        for this many iterations and return the best iterate (as
        :func:`altmin` does).  Default ``None``: run to the solution of the
        nuclear-norm problem (which, for a small ``lam``, can fit the noise).
    callback : callable, optional
        ``callback(result)`` after every iteration.
    progress : bool, optional
        Show a tqdm progress bar.

    Returns
    -------
    CompletionResult
        ``U = U_svd sqrt(s)``, ``V = V_svd sqrt(s)`` (so that ``U V^T`` is the
        estimate) and ``singular_values = s``.

    Raises
    ------
    ValueError
        Bad entries, ``rank_max > min(m, n)`` or a negative ``lam``.

    See Also
    --------
    altmin, scaled_gd

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.completion import softimpute
    >>> rng = np.random.default_rng(0)
    >>> M = rng.standard_normal((80, 3)) @ rng.standard_normal((3, 60))
    >>> rows, cols = np.nonzero(rng.random(M.shape) < 0.5)
    >>> res = softimpute((rows, cols, M[rows, cols]), lam=2.0, rank_max=10, tol=1e-6, rng=0)
    >>> res.rank
    3
    >>> bool(np.linalg.norm(res.to_dense() - M) < 0.1 * np.linalg.norm(M))
    True
    """
    o = observations(obs, shape)
    bk = o.backend
    xp = bk.xp
    dt = o.dtype
    m, n = o.shape
    rank_max = min(m, n, 100) if rank_max is None else C.check_rank(rank_max, o.shape, "rank_max")
    maxiter = C.check_int("maxiter", maxiter)
    tol = C.check_nonneg("tol", tol)
    n_power = C.check_int("n_power", n_power, 0)
    if not isinstance(accelerate, (bool, np.bool_)):
        raise TypeError(f"accelerate must be True or False, got {accelerate!r}")
    accelerate = bool(accelerate)
    if early_stop is not None:
        early_stop = C.check_int("early_stop", early_stop)
    val = C.validation_set(validation, o.shape, bk, dt)
    gen = C.make_rng(rng)
    if lam is None:
        _, s0, _ = C.randomized_svd(
            lambda X: o.to_sparse() @ X, lambda Y: o.to_sparse().T @ Y, o.shape, 1, xp, dt, gen,
            bk, n_iter=4)
        lam = float(s0[0]) / 50
    lam = C.check_nonneg("lam", lam)

    U = xp.zeros((m, 0), dtype=dt)
    V = xp.zeros((n, 0), dtype=dt)
    s = xp.zeros(0, dtype=dt)
    resid = o.row_vals.copy()  # P_Omega(X - Z) with Z = 0
    hist = {"train_rmse": [], "val_rmse": [], "time": []}
    bar = C.Progress(progress, maxiter, "softimpute")

    def result(U, s, V, it, conv, msg):
        r = xp.sqrt(s)
        h = {key: np.asarray(v, dtype=np.float64) for key, v in hist.items()}
        return CompletionResult(
            U=bk.to_output(U * r), V=bk.to_output(V * r), n_iter=it, converged=conv,
            message=msg, history=h, singular_values=bk.to_host(s).astype(np.float64),
            shape=(m, n),
        )

    spmm = get_kernel("mc_spmm", bk.engine)
    spmm_t = get_kernel("mc_spmm_t", bk.engine)
    converged = False
    message = f"reached maxiter={maxiter} iterations"
    it = 0
    # momentum state: the previous iterate (factors, residual) and the FISTA sequence t_k
    t_k = 1.0
    Up, sp, Vp, resid_p = U, s, V, resid
    obj_prev = np.inf
    best, best_val, since_best = None, np.inf, 0
    limit = C.small_blas(bk)
    limit.__enter__()
    try:
        for it in range(1, maxiter + 1):
            t0 = time.perf_counter()
            theta = 0.0
            if accelerate and it > 1:
                t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t_k * t_k))
                theta = (t_k - 1.0) / t_next
                t_k = t_next
            if theta > 0.0:
                # Y = (1 + theta) Z_k - theta Z_{k-1}: residual and factors are linear in Z
                th = dt.type(theta)
                ry = resid * (1 + th)
                ry -= th * resid_p
                Uy = xp.concatenate([U * (s * (1 + th)), Up * (sp * -th)], axis=1)
                Vy = xp.concatenate([V, Vp], axis=1)
            else:
                ry, Uy, Vy = resid, U * s, V

            # the filled-in matrix P_Omega(X - Y) + Y, never formed (threaded Numba products)
            def matmat(W, ry=ry, Uy=Uy, Vy=Vy):
                return spmm(o.row_ptr, o.row_idx, ry, W) + Uy @ (Vy.T @ W)

            def rmatmat(Y, ry=ry, Uy=Uy, Vy=Vy):
                return spmm_t(o.row_ptr, o.row_idx, ry, Y, n) + Vy @ (Uy.T @ Y)

            Un, sn, Vn = C.randomized_svd(matmat, rmatmat, o.shape, rank_max, xp, dt, gen, bk,
                                          n_iter=n_power if it > 1 else max(n_power, 2),
                                          start=V)
            sn = sn - dt.type(lam)
            keep = int((sn > 0).sum())
            Un = xp.ascontiguousarray(Un[:, :keep])
            Vn = xp.ascontiguousarray(Vn[:, :keep])
            sn = sn[:keep]
            old2 = _frob2(xp, U, s, V)
            new2 = _frob2(xp, Un, sn, Vn)
            diff2 = max(old2 + new2 - 2 * _inner(xp, U, s, V, Un, sn, Vn), 0.0)
            Up, sp, Vp, resid_p = U, s, V, resid
            U, s, V = Un, sn, Vn
            resid = C.train_residual(o, U * s, V, out=xp.empty_like(resid_p) if accelerate
                                     else resid)
            tr = C.rms(xp, resid)
            if accelerate:
                obj = 0.5 * tr * tr * o.nnz + lam * float(s.sum())
                if obj > obj_prev:  # adaptive restart: drop the momentum
                    t_k = 1.0
                obj_prev = obj
            bk.synchronize()
            hist["time"].append(time.perf_counter() - t0)
            hist["train_rmse"].append(tr)
            vr = C.predict_rmse(xp, U * s, V, val) if val is not None else float("nan")
            hist["val_rmse"].append(vr)
            bar.update(train=tr, rank=keep)
            if callback is not None:
                callback(result(U, s, V, it, False, "running"))
            if val is not None and early_stop is not None:
                if vr < best_val:
                    best, best_val, since_best = (U, s, V, it), vr, 0
                else:
                    since_best += 1
                    if since_best >= early_stop:
                        U, s, V, b_it = best
                        converged = True
                        message = (f"validation RMSE stopped improving: best {best_val:.6g} at "
                                   f"iteration {b_it}, stopped after iteration {it}")
                        break
            if old2 > 0 and np.sqrt(diff2 / old2) < tol:
                converged = True
                message = f"relative change below tol={tol:g} after {it} iterations (rank {keep})"
                break
            if keep == 0:
                converged = True
                message = f"lam={lam:g} thresholds every singular value: the estimate is 0"
                break
    finally:
        limit.__exit__(None, None, None)
        bar.close()
    return result(U, s, V, it, converged, message)
