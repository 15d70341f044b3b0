"""ScaledGD(lambda): preconditioned gradient descent for completion and matrix sensing."""

from __future__ import annotations

import time

import numpy as np

from .._backend import get_backend
from . import _common as C
from ._data import observations
from ._result import CompletionResult

__all__ = ["scaled_gd", "SensingOperator"]


class SensingOperator:
    """A linear measurement map ``A: R^{m x n} -> R^p`` and its adjoint, for matrix sensing.

    Parameters
    ----------
    forward : callable
        ``forward(X)`` returns the ``p`` measurements of an ``m x n`` matrix.
    adjoint : callable
        ``adjoint(y)`` returns the ``m x n`` matrix ``A^*(y)``.
    shape : tuple of int
        ``(m, n)``.
    n_measurements : int
        ``p``.

    Notes
    -----
    :func:`scaled_gd` minimises ``||A(L R^T) - y||^2 / 2`` with a fixed step:
    scale the operator so that ``A^* A`` is close to the identity on low-rank
    matrices (restricted isometry), as :meth:`gaussian` does.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.completion import SensingOperator
    >>> A = SensingOperator.gaussian((4, 3), 20, rng=0)
    >>> A(np.ones((4, 3))).shape, A.adjoint(np.ones(20)).shape
    ((20,), (4, 3))
    """

    def __init__(self, forward, adjoint, shape, n_measurements):
        if not callable(forward) or not callable(adjoint):
            raise TypeError("forward and adjoint must be callables")
        self.forward = forward
        self._adjoint = adjoint
        self.shape = C.check_int("shape[0]", shape[0]), C.check_int("shape[1]", shape[1])
        self.n_measurements = C.check_int("n_measurements", n_measurements)

    def __call__(self, X):
        return self.forward(X)

    def adjoint(self, y):
        """Apply the adjoint map.

        Parameters
        ----------
        y : array
            ``p`` measurements.

        Returns
        -------
        array
            The ``m x n`` matrix ``A^*(y)``.
        """
        return self._adjoint(y)

    @classmethod
    def from_matrices(cls, mats):
        """Measurements ``y_l = <A_l, X>`` given by a stack of matrices.

        Parameters
        ----------
        mats : array
            Shape ``(p, m, n)``.

        Returns
        -------
        SensingOperator

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.completion import SensingOperator
        >>> A = SensingOperator.from_matrices(np.ones((2, 3, 3)))
        >>> A(np.eye(3)).tolist()
        [3.0, 3.0]
        """
        bk = get_backend(mats)
        mats = bk.asarray(mats)
        if mats.ndim != 3:
            raise ValueError(f"mats must have shape (p, m, n), got {mats.shape}")
        p, m, n = mats.shape
        flat = mats.reshape(p, m * n)
        return cls(lambda X: flat @ X.reshape(m * n), lambda y: (flat.T @ y).reshape(m, n),
                   (m, n), p)

    @classmethod
    def gaussian(cls, shape, n_measurements, *, rng=None, dtype=np.float64):
        """Gaussian measurements with entries of variance ``1 / n_measurements``.

        Parameters
        ----------
        shape : tuple of int
            ``(m, n)``.
        n_measurements : int
            ``p``.
        rng : int or numpy.random.Generator, optional
            Seed.
        dtype : dtype
            ``float64`` or ``float32``.

        Returns
        -------
        SensingOperator

        Examples
        --------
        >>> from lrsolve.completion import SensingOperator
        >>> SensingOperator.gaussian((5, 4), 50, rng=0).n_measurements
        50
        """
        m, n = shape
        p = C.check_int("n_measurements", n_measurements)
        g = C.make_rng(rng)
        mats = (g.standard_normal((p, m, n)) / np.sqrt(p)).astype(dtype)
        return cls.from_matrices(mats)


def scaled_gd(obs, rank, *, measurements=None, shape=None, damping=None, step=0.5,
              init="incremental", init_scale=1e-3, maxiter=500, tol=1e-7, rng=None, validation=None,
              callback=None, progress=None):
    """Low-rank completion or matrix sensing by ScaledGD(lambda) (Xu, Shen, Ma, Chi et al.).

    Gradient descent on the factors of ``X ~ L R^T`` with the damped
    preconditioners of ScaledGD(lambda):

    .. math::

        L \\leftarrow L - \\eta\\, \\nabla_L f\\, (R^T R + \\lambda I)^{-1},\\qquad
        R \\leftarrow R - \\eta\\, \\nabla_R f\\, (L^T L + \\lambda I)^{-1}

    where ``f = ||P_Omega(L R^T - X)||^2 / (2 p)`` (completion, ``p`` the
    sampling rate) or ``f = ||A(L R^T) - y||^2 / 2`` (sensing).  The
    preconditioners make the convergence rate independent of the condition
    number of the target; the damping keeps them invertible when ``rank``
    overestimates the true rank (overparameterization).  A completion step
    costs ``O(|Omega| k + (m + n) k^2)``.

    Parameters
    ----------
    obs : tuple, sparse matrix, array, Observations or SensingOperator
        Observed entries (see :func:`observations`) or a measurement operator.
    rank : int
        Number of factors (may exceed the true rank).
    measurements : array, optional
        The measurements ``y`` (required with a :class:`SensingOperator`).
    shape : tuple of int, optional
        ``(m, n)`` for COO triplets.
    damping : float, optional
        ``lambda``; default ``1e-3`` times the largest singular value of the
        initial estimate (``0`` is the undamped ScaledGD).
    step : float
        Step size ``eta`` (0.5 is the paper's choice).
    init : {"incremental", "svd", "random"}
        ``"svd"``: the spectral initialisation, the top-``rank`` SVD of the
        rescaled observations ``P_Omega(X) / p`` (sensing: of ``A^*(y)``).
        ``"incremental"`` (default): the spectral initialisation in stages
        (deflation): start with the components of ``P_Omega(X) / p`` that
        stand clear of its sampling noise, run ScaledGD on them until the
        training error levels off, then add the leading components of the
        rescaled *residual* ``P_Omega(X - L R^T) / p``, and so on up to
        ``rank``.  The sampling noise of the residual scales with the residual,
        so small singular values are found once the large ones are fitted;
        with ``"svd"`` a singular value far below ``sigma_1`` (condition number
        ~100) drowns in the noise of ``P_Omega(X) / p`` and gradient descent
        can stall at a spurious point.  On well-conditioned data it adds every
        component at once and equals ``"svd"``.  ``"random"``: small random
        factors of size ``init_scale`` relative to the spectral norm (the
        overparameterized regime of ScaledGD(lambda)).
    init_scale : float
        Size of the random initialisation.
    maxiter : int
        Maximum number of iterations.
    tol : float
        Stop when the training RMSE falls below ``tol`` times the RMS of the
        data, or changes by less than ``tol`` relatively in one iteration.
    rng : int or numpy.random.Generator, optional
        Seed.
    validation : tuple or Observations, optional
        Held-out entries (completion only).
    callback : callable, optional
        ``callback(result)`` after every iteration.
    progress : bool, optional
        Show a tqdm progress bar.

    Returns
    -------
    CompletionResult
        ``U = L``, ``V = R``; ``history["train_rmse"]`` is the RMSE on the
        observed entries (or of the measurements).

    Raises
    ------
    ValueError
        Bad entries, ``rank > min(m, n)``, a sensing operator without
        ``measurements`` or with the wrong number of them.

    See Also
    --------
    altmin, softimpute

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.completion import SensingOperator, scaled_gd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((12, 2)) @ rng.standard_normal((2, 10))
    >>> A = SensingOperator.gaussian(X.shape, 200, rng=1)
    >>> res = scaled_gd(A, 2, measurements=A(X), maxiter=300, tol=1e-12)
    >>> bool(np.linalg.norm(res.to_dense() - X) < 1e-6 * np.linalg.norm(X))
    True
    """
    sensing = isinstance(obs, SensingOperator)
    if sensing:
        if measurements is None:
            raise ValueError("a SensingOperator needs measurements=y (the observed A(X))")
        op = obs
        bk = get_backend(measurements)
        xp = bk.xp
        y = bk.asarray(measurements)
        from .._validation import solve_dtype

        dt = solve_dtype(y.dtype)
        y = y.astype(dt, copy=False)
        if y.shape != (op.n_measurements,):
            raise ValueError(
                f"measurements must have shape ({op.n_measurements},), got {y.shape}")
        if not bool(xp.isfinite(y).all()):
            raise ValueError("measurements contain NaN or Inf")
        m, n = op.shape
        o = None
    else:
        if measurements is not None:
            raise ValueError("measurements= is only used with a SensingOperator")
        o = observations(obs, shape)
        bk = o.backend
        xp = bk.xp
        dt = o.dtype
        m, n = o.shape
    k = C.check_rank(rank, (m, n))
    step = C.check_nonneg("step", step)
    if step <= 0:
        raise ValueError(f"step must be > 0 (a step of 0 never moves the factors), got {step!r}")
    maxiter = C.check_int("maxiter", maxiter)
    tol = C.check_nonneg("tol", tol)
    C.check_choice("init", init, ("incremental", "svd", "random"))
    init_scale = C.check_nonneg("init_scale", init_scale)
    val = None if sensing else C.validation_set(validation, (m, n), bk, dt)
    gen = C.make_rng(rng)

    if sensing:
        scale = C.rms(xp, y)
        p = 1.0
    else:
        p = o.nnz / (m * n)
        scale = C.rms(xp, o.row_vals)
    resid = None if sensing else xp.empty(o.nnz, dtype=dt)

    def residual(L, R):
        """``(y - A(L R^T)`` or ``vals - (L R^T)_Omega``, its RMS)."""
        if sensing:
            e = y - op(L @ R.T)
            return e, C.rms(xp, e)
        C.train_residual(o, L, R, out=resid)  # vals - L R^T
        return resid, C.rms(xp, resid)

    def leading(e, count):
        """Leading singular triplets of ``A^*(e)`` or ``P_Omega(e) / p`` (and a noise level)."""
        if sensing:
            Uf, sf, Vtf = xp.linalg.svd(op.adjoint(e), full_matrices=False)
            return Uf[:, :count], sf, Vtf[:count].T
        S = o.to_sparse(e * dt.type(1.0 / p))
        ST = S.T
        ell = min(count + 8, min(m, n))
        U_, s_, V_ = C.randomized_svd(lambda X: S @ X, lambda Y: ST @ Y, (m, n), ell, xp, dt,
                                      gen, bk, n_iter=2, oversample=0)
        return U_[:, :count], s_, V_[:, :count]

    def grow(L, R, e):
        """Append the components of the rescaled residual that stand out of its noise."""
        ka = L.shape[1]
        Ue, se, Ve = leading(e, k - ka)
        sh = bk.to_host(se).astype(np.float64)
        noise = sh[k - ka] if sh.shape[0] > k - ka else 0.0
        add = max(1, int(np.sum(sh[: k - ka] > 2.0 * noise)))
        r = xp.sqrt(se[:add]).astype(dt)
        L = xp.concatenate([L, (Ue[:, :add] * r).astype(dt)], axis=1)
        R = xp.concatenate([R, (Ve[:, :add] * r).astype(dt)], axis=1)
        return L, R, float(sh[0])

    if init == "svd":
        e0 = y if sensing else o.row_vals
        Ue, se, Ve = leading(e0, k)
        r = xp.sqrt(se[:k]).astype(dt)
        L, R = (Ue * r).astype(dt), (Ve * r).astype(dt)
        sigma1 = float(se[0])
    elif init == "incremental":
        L, R, sigma1 = grow(xp.zeros((m, 0), dtype=dt), xp.zeros((n, 0), dtype=dt),
                            y if sensing else o.row_vals)
    else:
        _, se, _ = leading(y if sensing else o.row_vals, 1)
        sigma1 = float(se[0])
        a = np.sqrt(sigma1) * init_scale
        L = C.randn(bk, gen, (m, k), dt) * dt.type(a)
        R = C.randn(bk, gen, (n, k), dt) * dt.type(a)
    if not sigma1 > 0:
        raise ValueError("the observed values are all zero: the low-rank fit is the zero "
                         "matrix (nothing for scaled_gd to estimate)")
    damping = 1e-3 * sigma1 if damping is None else C.check_nonneg("damping", damping)

    hist = {"train_rmse": [], "val_rmse": [], "time": []}
    bar = C.Progress(progress, maxiter, "scaled_gd")

    def result(L, R, it, conv, msg):
        h = {key: np.asarray(v, dtype=np.float64) for key, v in hist.items()}
        if L.shape[1] < k:  # stopped before every stage was added: pad with zero factors
            L = xp.concatenate([L, xp.zeros((m, k - L.shape[1]), dtype=dt)], axis=1)
            R = xp.concatenate([R, xp.zeros((n, k - R.shape[1]), dtype=dt)], axis=1)
        return CompletionResult(U=bk.to_output(L), V=bk.to_output(R), n_iter=it, converged=conv,
                                message=msg, history=h, shape=(m, n))

    e, prev = residual(L, R)
    converged = False
    message = f"reached maxiter={maxiter} iterations"
    it = 0
    stage_it = 0
    limit = C.small_blas(bk)
    limit.__enter__()
    try:
        for it in range(1, maxiter + 1):
            t0 = time.perf_counter()
            ka = L.shape[1]
            eye = xp.eye(ka, dtype=dt)
            if sensing:
                G = op.adjoint(e)  # minus the gradient of f with respect to L R^T
                GL = G @ R
                GR = G.T @ L
            else:
                S = o.to_sparse(e * dt.type(1.0 / p))  # P_Omega(X - L R^T) / p
                GL = S @ R
                GR = S.T @ L
            PL = R.T @ R + dt.type(damping) * eye
            PR = L.T @ L + dt.type(damping) * eye
            L = L + dt.type(step) * xp.linalg.solve(PL, GL.T).T
            R = R + dt.type(step) * xp.linalg.solve(PR, GR.T).T
            e, tr = residual(L, R)
            stage_it += 1
            bk.synchronize()
            hist["time"].append(time.perf_counter() - t0)
            hist["train_rmse"].append(tr)
            vr = C.predict_rmse(xp, L, R, val) if val is not None else float("nan")
            hist["val_rmse"].append(vr)
            bar.update(train=tr)
            if callback is not None:
                callback(result(L, R, it, False, "running"))
            if not np.isfinite(tr):
                message = f"non-finite residual at iteration {it}: lower step"
                break
            if tr <= tol * scale:
                converged = True
                message = f"training RMSE converged (tol={tol:g}) after {it} iterations"
                break
            if L.shape[1] < k:
                # a stage ends when the error levels off: the fitted components have converged
                # (ScaledGD's rate does not depend on their condition number) and what remains
                # is the part of the target that the next components must explain
                if prev - tr <= 0.02 * prev or stage_it >= 200:
                    L, R, _ = grow(L, R, e)
                    e, tr = residual(L, R)
                    stage_it = 0
            elif abs(prev - tr) <= tol * prev:
                converged = True
                message = f"training RMSE converged (tol={tol:g}) after {it} iterations"
                break
            prev = tr
    finally:
        limit.__exit__(None, None, None)
        bar.close()
    return result(L, R, it, converged, message)
