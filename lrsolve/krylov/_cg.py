"""Preconditioned conjugate gradients."""

from __future__ import annotations

import math

from .._kernels import get_kernel
from .._validation import check_maxiter, check_positive_int, check_tolerances
from ._system import Tally, check_loop_options, make_system, stagnation_message

__all__ = ["cg"]

_MAX_STALLS = 5


def cg(
    A,
    b,
    x0=None,
    *,
    rtol=1e-5,
    atol=0.0,
    maxiter=None,
    M=None,
    precond=None,
    callback=None,
    check_every=None,
    refresh_every=50,
):
    """Solve ``A x = b`` by the (preconditioned) conjugate gradient method.

    A drop-in for :func:`scipy.sparse.linalg.cg` that also accepts CuPy inputs,
    runs fused Numba kernels on the CPU, offers named preconditioners and
    returns the iteration count and residual history.

    Parameters
    ----------
    A : {ndarray, sparse matrix or array, LinearOperator, callable, lrsolve operator}
        Hermitian positive definite matrix of shape ``(n, n)``: a dense NumPy or
        CuPy array, a SciPy or cupyx sparse matrix, a ``LinearOperator``, a
        callable ``f(x) -> A @ x`` or an operator from :mod:`lrsolve.operators`.
    b : ndarray
        Right-hand side of shape ``(n,)`` or ``(n, 1)``.
    x0 : ndarray or 'Mb', optional
        Starting guess (default zeros), or ``'Mb'`` (SciPy's: the preconditioned
        right-hand side).  It is not modified.
    rtol, atol : float, optional
        The solver stops when the *true* residual satisfies
        ``norm(b - A @ x) <= max(rtol * norm(b), atol)``.  Defaults ``1e-5`` and ``0``.
    maxiter : int, optional
        Maximum number of iterations (default ``10 * n``).
    M : {ndarray, sparse matrix, LinearOperator, callable}, optional
        Preconditioner given as an approximation of ``A^{-1}`` (applied, not
        solved), exactly as in SciPy.
    precond : str, tuple or Preconditioner, optional
        A preconditioner by name -- ``"jacobi"``, ``"ssor"``, ``"ic0"``,
        ``"chebyshev"``, ``"amg"`` (see :func:`lrsolve.precond.available`) --,
        a ``(name, options)`` pair such as ``("ssor", {"omega": 1.5})``, or an
        object from :mod:`lrsolve.precond`.  Give either ``M`` or ``precond``.
    callback : callable, optional
        Called as ``callback(xk)`` exactly once per iteration with the current
        iterate.
    check_every : int, optional
        Test convergence every ``check_every`` iterations.  On the CPU the
        default is 1; on the GPU it is 10, so the device is synchronised only
        every 10 iterations (at most 9 extra iterations are made).
    refresh_every : int, optional
        Replace the recursive residual by the true residual ``b - A x`` every
        ``refresh_every`` iterations (one extra product each time; default 50).
        The true residual is also computed before convergence is claimed.

    Returns
    -------
    SolveResult
        Unpacks as ``x, info``.  ``info`` is 0 on convergence, the number of
        iterations when ``maxiter`` was reached, and negative on breakdown:
        ``-1`` when ``A`` is not positive definite, ``-2`` when the
        preconditioner is not, ``-3`` when the iteration stagnated or produced
        non-finite numbers.  The object also carries ``niter``,
        ``residual_norms`` (starting with ``||r0||``), ``converged``,
        ``n_matvec``, ``true_residual_norm`` and ``message``.

    See Also
    --------
    scipy.sparse.linalg.cg : SciPy's version (returns only ``(x, info)``).
    lrsolve.precond.available : the preconditioner names.

    Notes
    -----
    The CPU engine ``numba`` fuses the matrix-vector product with the
    ``p^H A p`` reduction, the update of ``r`` with ``||r||^2``, and the update
    of ``x`` with that of ``p`` (the ``x`` update is deferred to the pass that
    updates ``p``), so each iteration makes three passes over memory instead of
    about eight.
    Breakdown is reported, never looped on: a non-positive curvature
    ``p^H A p <= 0`` means ``A`` is not positive definite; ``r^H M r <= 0``
    means the preconditioner is not.

    References
    ----------
    .. [1] M. R. Hestenes and E. Stiefel, "Methods of conjugate gradients for
       solving linear systems", J. Res. Nat. Bur. Standards 49 (1952).
    .. [2] H. A. van der Vorst and Q. Ye, "Residual replacement strategies for
       Krylov subspace iterative methods", SIAM J. Sci. Comput. 22 (2000).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, lrsolve
    >>> n = 100
    >>> A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n), format="csr")
    >>> b = np.ones(n)
    >>> x, info = lrsolve.cg(A, b, rtol=1e-10)
    >>> info
    0
    >>> res = lrsolve.cg(A, b, rtol=1e-10, precond="ic0")
    >>> res.converged, res.niter
    (True, 1)
    >>> bool(np.linalg.norm(A @ res.x - b) <= 1e-10 * np.linalg.norm(b))
    True
    """
    sys = make_system(A, b, x0, M=M, precond=precond, name="cg")
    bk, op, prec, xp = sys.bk, sys.op, sys.prec, sys.xp
    n = sys.n
    maxiter = check_maxiter(maxiter, 10 * n)
    refresh_every = check_positive_int("refresh_every", refresh_every)
    check_every = check_loop_options(bk, check_every, callback)
    if bk.is_gpu:  # refresh only where the host looks anyway
        refresh_every = -(-refresh_every // check_every) * check_every

    eng = bk.engine
    norm2sq = get_kernel("norm2sq", eng)
    r_update = get_kernel("r_update", eng)
    xp_update = get_kernel("xp_update", eng)
    axpy = get_kernel("axpy", eng)
    xpby = get_kernel("xpby", eng)

    b_vec, x = sys.b, sys.x
    bnorm = math.sqrt(float(norm2sq(b_vec)))
    tol = check_tolerances(rtol, atol, bnorm)
    tol2 = tol * tol

    tally = Tally(sys, tol)
    finish = tally.result

    import numpy as np

    if bnorm == 0.0:
        x[...] = 0
        return finish(0, True, 0, np.zeros(1), "b is zero: the solution is x = 0", 0.0)

    r = xp.empty_like(b_vec)
    if sys.x0_is_zero:
        r[...] = b_vec
        rr = bnorm * bnorm
    else:
        rr = float(op.residual(x, b_vec, r))
        tally.mv += 1
    r0 = math.sqrt(rr)
    if r0 <= tol:
        return finish(0, True, 0, np.array([r0]), "x0 already satisfies the tolerance", r0)

    gpu = bk.is_gpu
    hist_list = [r0]
    if gpu:
        cg_alpha, cg_beta = get_kernel("cg_alpha", eng), get_kernel("cg_beta", eng)
        hist_dev = xp.zeros(maxiter + 1, dtype=xp.float64)
        hist_dev[0] = r0
        pq_min = xp.full((), xp.inf, dtype=xp.float64)
        rz_min = xp.full((), xp.inf, dtype=xp.float64)

    q = xp.empty_like(b_vec)
    tmp = None
    if prec is not None:
        z = xp.empty_like(b_vec)
        rz = prec.apply_dot(r, z)
        tally.pc += 1
        if not gpu and not rz > 0:
            return finish(
                -2, False, 0, np.array(hist_list),
                f"the preconditioner is not positive definite: r^H M r = {float(rz):.3g} <= 0",
                r0,
            )
    else:
        z = r
        rz = rr
    p = z.copy()

    info = maxiter
    converged = False
    message = f"maxiter={maxiter} iterations reached without meeting the tolerance"
    niter = 0
    true_res = float("nan")
    best_true = math.inf
    stalls = 0
    k = 0
    x_pending = False  # x += alpha p is fused into the next update of p
    alpha = 0.0
    rr_recursive = None
    called = 0  # last iteration the callback saw
    restart = False
    anorm = 0.0
    eps = float(np.finfo(sys.dtype).eps)
    while k < maxiter:
        k += 1
        pq = op.matvec_dot(p, q)
        tally.mv += 1
        if gpu:
            # Steps taken after the residual met the tolerance (between two host checks)
            # are frozen: their p^H A p may be zero or rounding noise, which must neither
            # move x nor be reported as indefiniteness.
            alpha = cg_alpha(rr, pq, rz, tol2, pq_min)  # one launch; updates pq_min
        else:
            pq = float(pq)
            if not pq > 0:
                niter = k - 1
                if math.isnan(pq):
                    info, message = -3, f"non-finite value p^H A p at iteration {k}"
                else:
                    info = -1
                    message = (
                        f"A is not positive definite: p^H A p = {pq:.3g} <= 0 at iteration {k}"
                    )
                break
            alpha = rz / pq
        # r -= alpha q; x += alpha p is deferred to the pass that updates p (one pass less)
        rr = r_update(r, q, alpha)
        x_pending = True
        refreshed = k % refresh_every == 0
        if refreshed:
            axpy(x, alpha, p)
            x_pending = False
            rr_recursive = rr
            rr = op.residual(x, b_vec, r)
            tally.mv += 1
        niter = k
        if gpu:
            xp.sqrt(rr, out=hist_dev[k])
        else:
            rr = float(rr)
            hist_list.append(math.sqrt(rr))
        if k % check_every == 0 or k == maxiter:
            if gpu:
                rr_h, pqm, rzm, rrr, pq_h = (
                    float(v)
                    for v in bk.to_host(
                        xp.stack([rr, pq_min, rz_min, rr_recursive if refreshed else rr, pq])
                    )
                )
                if not pqm > 0 or not rzm > 0 or not math.isfinite(rr_h):
                    if not math.isfinite(rr_h) or math.isnan(pqm):
                        info, message = -3, "non-finite values appeared in the iteration"
                    elif not pqm > 0:
                        info, message = -1, "A is not positive definite: p^H A p <= 0"
                    else:
                        info, message = -2, "the preconditioner is not positive definite"
                    break
            else:
                rr_h, pq_h = rr, pq
                rrr = float(rr_recursive) if refreshed else rr
                if not math.isfinite(rr_h):
                    info, message = -3, f"non-finite residual at iteration {k}"
                    break
            if refreshed:
                # Attainable accuracy reached?  Either the recursive residual ran far below
                # the true one, or the true residual has not improved for many refreshes.
                tr = math.sqrt(rr_h)
                # the recursive residual drifted from the true one: restart the directions
                restart = rr_h > 4.0 * rrr
                if rrr < 0.01 * rr_h:
                    stalls = stalls + 2 if tr > 0.5 * best_true else 0
                else:
                    # near the rounding floor eps * (||A|| ||x|| + ||b||) and not improving
                    pp = float(norm2sq(p))
                    if pp > 0:
                        anorm = max(anorm, pq_h / pp)
                    floor = 100 * eps * (anorm * math.sqrt(float(norm2sq(x))) + bnorm)
                    stalls = stalls + 1 if (tr <= floor and tr > 0.9 * best_true) else 0
                best_true = min(best_true, tr)
                if stalls >= 2 * _MAX_STALLS:
                    info, true_res = -3, tr
                    message = stagnation_message(tr, tol, sys.dtype)
                    break
            if math.sqrt(rr_h) <= tol:
                if x_pending:
                    axpy(x, alpha, p)
                    x_pending = False
                if tmp is None:
                    tmp = xp.empty_like(b_vec)
                tr = math.sqrt(float(op.residual(x, b_vec, tmp)))
                tally.mv += 1
                true_res = tr
                if tr <= tol:
                    info, converged = 0, True
                    message = f"converged in {k} iterations"
                    break
                # residual replacement: continue from the true residual, restarting the
                # search directions (keeping p with the new r lets beta blow up in float32)
                r[...] = tmp
                rr = tr * tr
                restart = True
                if not gpu:
                    hist_list[-1] = tr
                else:
                    hist_dev[k] = tr
                stalls = stalls + 2 if tr > 0.5 * best_true else 0
                best_true = min(best_true, tr)
                if stalls >= 2 * _MAX_STALLS:
                    info = -3
                    message = stagnation_message(tr, tol, sys.dtype)
                    break
        if prec is not None:
            rz_new = prec.apply_dot(r, z)
            tally.pc += 1
            if gpu:
                beta = cg_beta(rz_new, rz, rr, tol2, rz_min)  # updates rz_min
            else:
                rz_new = float(rz_new)
                if not rz_new > 0:
                    if rr == 0.0:
                        info, converged, message = 0, True, f"exact solution at iteration {k}"
                        true_res = 0.0
                        break
                    info = -2
                    message = (
                        f"the preconditioner is not positive definite: r^H M r = {rz_new:.3g} "
                        f"<= 0 at iteration {k}"
                    )
                    break
                beta = rz_new / rz
        else:
            rz_new = rr
            if gpu:
                beta = cg_beta(rz_new, rz)
            else:
                beta = rz_new / rz if rz else 0.0
        rz = rz_new
        if restart:
            restart = False
            beta = 0.0
        if x_pending:
            xp_update(x, p, z, alpha, beta)
            x_pending = False
        else:
            xpby(z, beta, p)
        if callback is not None:
            callback(x)
        called = k

    if x_pending:  # the loop stopped between the update of r and that of x
        axpy(x, alpha, p)
    if callback is not None and niter > called:
        callback(x)

    if gpu:
        hist = bk.to_host(hist_dev[: niter + 1]).astype(float)
    else:
        hist = np.asarray(hist_list[: niter + 1], dtype=float)
    def true_residual():
        out = tmp if tmp is not None else xp.empty_like(b_vec)
        tally.mv += 1
        return math.sqrt(float(op.residual(x, b_vec, out)))

    return tally.conclude(info, converged, niter, hist, message, true_res, true_residual)
