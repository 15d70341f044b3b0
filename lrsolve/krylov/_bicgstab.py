"""BiCGSTAB for general (nonsymmetric) systems."""

from __future__ import annotations

import math

import numpy as np

from .._kernels import get_kernel
from .._validation import check_maxiter, check_tolerances
from ._system import Tally, check_loop_options, make_system, stagnation_message

__all__ = ["bicgstab"]

#: Restarts from the true residual when the recursive residual met the tolerance
#: but the true residual did not.
_MAX_REPLACEMENTS = 5
#: Restarts with a new shadow residual after breakdowns (then info=-3).
_MAX_BREAKDOWN_RESTARTS = 10


def bicgstab(
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
):
    """Solve ``A x = b`` by BiCGSTAB, for general (nonsymmetric) square ``A``.

    Van der Vorst's stabilised bi-conjugate gradient method [1]_ with right
    preconditioning, as :func:`scipy.sparse.linalg.bicgstab`, with CuPy
    support, named preconditioners, breakdown reports and a residual history.

    Parameters
    ----------
    A : {ndarray, sparse matrix or array, LinearOperator, callable, lrsolve operator}
        Square matrix of shape ``(n, n)``, real or complex, need not be symmetric.
    b : ndarray
        Right-hand side of shape ``(n,)`` or ``(n, 1)``.
    x0 : ndarray or 'Mb', optional
        Starting guess (default zeros), or ``'Mb'`` (SciPy's: the preconditioned
        right-hand side).  It is not modified.
    rtol, atol : float, optional
        The solver stops when the *true* residual satisfies
        ``norm(b - A @ x) <= max(rtol * norm(b), atol)``.  Defaults ``1e-5`` and ``0``.
    maxiter : int, optional
        Maximum number of iterations (default ``10 * n``).  One iteration makes
        *two* products with ``A`` (and two preconditioner applications).
    M : {ndarray, sparse matrix, LinearOperator, callable}, optional
        Preconditioner given as an approximation of ``A^{-1}``, applied on the
        right: the method runs on ``A M y = b``, ``x = M y``, so the residual it
        monitors is the true ``b - A x``.
    precond : str, tuple or Preconditioner, optional
        A preconditioner by name (e.g. ``"jacobi"``; see
        :func:`lrsolve.precond.available`), a ``(name, options)`` pair or an
        object from :mod:`lrsolve.precond`.  Give either ``M`` or ``precond``.
    callback : callable, optional
        Called as ``callback(xk)`` exactly once per iteration with the current iterate.
    check_every : int, optional
        Test convergence every ``check_every`` iterations: 1 on the CPU, 10 on
        the GPU (where each test synchronises the device).

    Returns
    -------
    SolveResult
        Unpacks as ``x, info``.  ``info`` is 0 on convergence, the number of
        iterations when ``maxiter`` was reached and ``-3`` on breakdown,
        stagnation or non-finite values (``message`` says which).
        ``niter`` counts iterations, ``n_matvec`` products with ``A`` (about
        ``2 * niter`` plus the true-residual checks); ``residual_norms`` starts
        with ``||r0||`` and has one entry per iteration.

    See Also
    --------
    scipy.sparse.linalg.bicgstab : SciPy's version (returns only ``(x, info)``).
    lrsolve.krylov.minres : for symmetric indefinite systems.

    Notes
    -----
    Each iteration is ``p = r + beta (p - omega v)``, ``v = A M p``,
    ``alpha = rho / (r0_hat^H v)``, ``s = r - alpha v``, ``t = A M s``,
    ``omega = t^H s / t^H t``, ``x += alpha M p + omega M s``,
    ``r = s - omega t``.  When ``||s||`` already meets the tolerance the
    iteration ends after its first half (one product).

    Breakdowns -- ``rho = r0_hat^H r``, ``r0_hat^H v`` or ``t^H s`` (hence
    ``omega``) zero to working precision, i.e. below ``eps`` times the norms of
    the two vectors -- are never looped on and never produce NaN: the method
    restarts from the current ``x`` with the true residual as the new shadow
    residual ``r0_hat``; a breakdown in the first iteration after such a restart
    (or an 11th breakdown) ends the solve with ``info=-3``.  Convergence is
    claimed only after the true residual is computed; if the recursive residual
    drifted, the method restarts from the true residual (at most 5 times, then
    ``info=-3``).

    References
    ----------
    .. [1] H. A. van der Vorst, "Bi-CGSTAB: a fast and smoothly converging
       variant of Bi-CG for the solution of nonsymmetric linear systems",
       SIAM J. Sci. Stat. Comput. 13 (1992).
    .. [2] Y. Saad, "Iterative Methods for Sparse Linear Systems", 2nd ed.,
       SIAM (2003), section 7.4.2.

    Examples
    --------
    A 1-D convection-diffusion matrix (nonsymmetric):

    >>> import numpy as np, scipy.sparse as sp, lrsolve
    >>> n = 100
    >>> A = sp.diags([-1.3, 2.0, -0.7], [-1, 0, 1], shape=(n, n), format="csr")
    >>> b = np.ones(n)
    >>> res = lrsolve.krylov.bicgstab(A, b, rtol=1e-10)
    >>> res.info, res.converged
    (0, True)
    >>> bool(np.linalg.norm(b - A @ res.x) <= 1e-10 * np.linalg.norm(b))
    True
    >>> res.n_matvec >= 2 * res.niter - 1
    True
    """
    sys = make_system(A, b, x0, M=M, precond=precond, name="bicgstab")
    bk, op, prec, xp = sys.bk, sys.op, sys.prec, sys.xp
    n = sys.n
    maxiter = check_maxiter(maxiter, 10 * n)
    check_every = check_loop_options(bk, check_every, callback)

    eng = bk.engine
    gpu = bk.is_gpu
    norm2sq = get_kernel("norm2sq", eng)
    vdot = get_kernel("vdot", eng)
    is_complex = sys.dtype.kind == "c"
    numba_axpy = get_kernel("axpy", eng) if eng == "numba" else None

    def axpy(y, a, xv):
        """``y += a * xv`` for real or complex scalars ``a`` (host or device)."""
        if numba_axpy is not None:
            numba_axpy(y, a, xv)
        else:
            y += a * xv

    def dot(u, w):
        d = vdot(u, w)
        if gpu:
            return d if is_complex else d.real
        return complex(d) if is_complex else float(d.real)

    b_vec, x = sys.b, sys.x
    bnorm = math.sqrt(float(norm2sq(b_vec)))
    tol = check_tolerances(rtol, atol, bnorm)
    eps = float(np.finfo(sys.dtype).eps)
    small = eps  # |cosine| below eps: numerically zero
    tally = Tally(sys, tol)

    def residual(out):
        rr = op.residual(x, b_vec, out)
        tally.mv += 1
        return math.sqrt(float(rr))

    finish = tally.result

    if bnorm == 0.0:
        x[...] = 0
        return finish(0, True, 0, np.zeros(1), "b is zero: the solution is x = 0", 0.0)

    r = xp.empty_like(b_vec)
    if sys.x0_is_zero:
        r[...] = b_vec
        r0 = bnorm
    else:
        r0 = residual(r)
    if r0 <= tol:
        return finish(0, True, 0, [r0], "x0 already satisfies the tolerance", r0)

    hist = [r0]
    if gpu:
        hist_dev = xp.zeros(maxiter + 1, dtype=xp.float64)
        hist_dev[0] = r0

    def record(k, value):
        if gpu:
            hist_dev[k] = value
        elif k < len(hist):
            hist[k] = value
        else:
            hist.append(value)

    rhat = xp.empty_like(b_vec)
    p = xp.empty_like(b_vec)
    v = xp.empty_like(b_vec)
    t = xp.empty_like(b_vec)
    if prec is not None:
        phat = xp.empty_like(b_vec)
        shat = xp.empty_like(b_vec)
    else:
        phat, shat = p, r  # r holds s in the second half-step
    tmp = xp.empty_like(b_vec)

    def apply_prec(src, out):
        if prec is not None:
            prec.apply(src, out)
            tally.pc += 1

    k = 0
    called = 0
    info, converged, true_res = maxiter, False, float("nan")
    message = f"maxiter={maxiter} iterations reached without meeting the tolerance"
    replacements = 0
    breakdown_restarts = 0
    rnorm = r0
    done = False
    breakdown = None
    while not done:
        # ---- (re)start: the shadow residual is the current (true) residual r
        rhat[...] = r
        rhat_norm = rnorm
        rho_old = alpha = omega = 1.0
        restarted = breakdown is not None  # this start follows a breakdown
        if gpu:
            bad = xp.zeros((), dtype=bool)  # a breakdown happened since the last check
            bad_first = bad
            broke_first = False
        j = 0
        breakdown = None
        while k < maxiter:
            k += 1
            j += 1
            rho = dot(rhat, r)
            if gpu:
                bad = bad | (abs(rho) <= small * rhat_norm * xp.sqrt(norm2sq(r)))
            elif abs(rho) <= small * rhat_norm * rnorm:
                breakdown = f"rho = r0_hat^H r = {abs(rho):.3g} ~ 0"
            if breakdown is None:
                if j == 1:
                    p[...] = r
                else:
                    if gpu:
                        beta = (rho / xp.where(rho_old == 0, 1, rho_old)) * (
                            alpha / xp.where(omega == 0, 1, omega)
                        )
                    else:
                        beta = (rho / rho_old) * (alpha / omega)
                    axpy(p, -omega, v)  # p = r + beta (p - omega v)
                    p *= beta
                    p += r
                apply_prec(p, phat)
                op.matvec(phat, v)
                tally.mv += 1
                rv = dot(rhat, v)
                if gpu:
                    nv = xp.sqrt(norm2sq(v))
                    bad = bad | (abs(rv) <= small * rhat_norm * nv)
                    alpha = xp.where(bad, 0, rho / xp.where(rv == 0, 1, rv))
                else:
                    nv = math.sqrt(float(norm2sq(v)))
                    if not abs(rv) > small * rhat_norm * nv:
                        breakdown = f"r0_hat^H v = {abs(rv):.3g} ~ 0"
                    else:
                        alpha = rho / rv
            if breakdown is None:
                axpy(r, -alpha, v)  # r now holds s
                snorm = xp.sqrt(norm2sq(r)) if gpu else math.sqrt(float(norm2sq(r)))
                half = not gpu and snorm <= tol
                if half:  # converged after the first half-step: x += alpha M p
                    axpy(x, alpha, phat)
                    rnorm = snorm
                else:
                    apply_prec(r, shat)
                    op.matvec(shat, t)
                    tally.mv += 1
                    tt = norm2sq(t)
                    ts = dot(t, r)
                    if gpu:
                        ok = (tt > 0) & (abs(ts) > small * xp.sqrt(tt) * snorm)
                        bad = bad | ~ok
                        omega = xp.where(bad, 0, ts / xp.where(tt == 0, 1, tt))
                        axpy(x, alpha, phat)
                        axpy(x, omega, shat)
                        axpy(r, -omega, t)
                        rnorm = xp.sqrt(norm2sq(r))
                    else:
                        tt = float(tt)
                        if not (tt > 0 and abs(ts) > small * math.sqrt(tt) * snorm):
                            # omega = 0: keep the half-step, restart from there
                            axpy(x, alpha, phat)
                            rnorm = snorm
                            breakdown = f"omega = t^H s / t^H t = {abs(ts):.3g} / {tt:.3g} ~ 0"
                        else:
                            omega = ts / tt
                            axpy(x, alpha, phat)
                            axpy(x, omega, shat)
                            axpy(r, -omega, t)
                            rnorm = math.sqrt(float(norm2sq(r)))
                rho_old = rho
            if breakdown is not None and not breakdown.startswith("omega"):
                # nothing of this iteration was applied
                k -= 1
                break
            record(k, rnorm)
            if gpu and j == 1:
                bad_first = bad  # a breakdown already in the first step of this start
            if callback is not None:
                callback(x)
                called = k
            if breakdown is not None:
                break
            if k % check_every == 0 or k == maxiter:
                if gpu:
                    rn, bd, bd1 = (float(u) for u in bk.to_host(
                        xp.stack([xp.asarray(rnorm, dtype=xp.float64),
                                  bad.astype(xp.float64), bad_first.astype(xp.float64)])))
                    rnorm = rn
                    if bd:
                        broke_first = bool(bd1)
                        breakdown = "a breakdown (rho, r0_hat^H v or omega ~ 0)"
                        break
                else:
                    rn = rnorm
                if not math.isfinite(rn):
                    info, message, done = -3, f"non-finite values at iteration {k}", True
                    break
                if rn <= tol:
                    tr = residual(tmp)
                    true_res = tr
                    record(k, tr)
                    if tr <= tol:
                        info, converged, done = 0, True, True
                        message = f"converged in {k} iterations"
                        break
                    replacements += 1
                    if replacements > _MAX_REPLACEMENTS:
                        info, done = -3, True
                        message = stagnation_message(
                            tr, tol, sys.dtype,
                            f" after {_MAX_REPLACEMENTS} restarts from the true residual")
                        break
                    r[...] = tmp
                    rnorm = tr
                    break  # restart from the true residual
        else:
            done = True
        if breakdown is not None and not done:
            breakdown_restarts += 1
            if ((broke_first if gpu else j == 1) and restarted) or (
                breakdown_restarts > _MAX_BREAKDOWN_RESTARTS
            ):
                info, done = -3, True
                message = (
                    f"breakdown at iteration {k + 1}: {breakdown}, again after a restart "
                    "with a new shadow residual"
                )
            else:
                rnorm = residual(r)  # restart from the true residual as new shadow
                true_res = rnorm

    niter = k
    if callback is not None and niter > called:
        callback(x)
    hist_out = bk.to_host(hist_dev[: niter + 1]).astype(float) if gpu else hist[: niter + 1]
    return tally.conclude(
        info, converged, niter, hist_out, message, true_res, lambda: residual(tmp)
    )
