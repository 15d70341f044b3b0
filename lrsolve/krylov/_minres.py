"""MINRES for symmetric / Hermitian, possibly indefinite systems."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._kernels import get_kernel
from .._validation import check_maxiter, check_tolerances
from ._system import Tally, check_loop_options, make_system, stagnation_message

__all__ = ["minres"]

#: Restarts from the true residual when the recurrence's estimate met the tolerance
#: but the true residual did not; then the solver reports stagnation (info=-3).
_MAX_RESTARTS = 5


def minres(
    A,
    b,
    x0=None,
    *,
    rtol=1e-5,
    atol=0.0,
    shift=0.0,
    maxiter=None,
    M=None,
    precond=None,
    callback=None,
    check_every=None,
    show=False,
):
    """Solve ``(A - shift I) x = b`` by MINRES, for Hermitian, possibly indefinite ``A``.

    The minimum residual method of Paige and Saunders [1]_: like
    :func:`scipy.sparse.linalg.minres`, but with an absolute tolerance
    ``atol``, CuPy support, named preconditioners and a residual history.

    Parameters
    ----------
    A : {ndarray, sparse matrix or array, LinearOperator, callable, lrsolve operator}
        Real symmetric or complex Hermitian matrix of shape ``(n, n)``; it may be
        indefinite (and even singular when ``b`` is in its range).  Symmetry is
        *not* checked (that would cost extra products): with a nonsymmetric ``A``
        the recurrence loses its meaning, its residual estimate no longer matches
        the true residual and the solver ends with ``info=-3`` (stagnation) or
        ``info=maxiter`` -- never with a false claim of convergence, as the true
        residual is always verified.
    b : ndarray
        Right-hand side of shape ``(n,)`` or ``(n, 1)``.
    x0 : ndarray or 'Mb', optional
        Starting guess (default zeros), or ``'Mb'`` (SciPy's: the preconditioned
        right-hand side).  It is not modified.
    rtol, atol : float, optional
        The solver stops when the *true* residual satisfies
        ``norm(b - (A - shift I) @ x) <= max(rtol * norm(b), atol)``.
        Defaults ``1e-5`` and ``0``.
    shift : float, optional
        Solve with ``A - shift * I`` instead of ``A`` (default 0), without forming it.
    maxiter : int, optional
        Maximum number of iterations (default ``5 * n``, as SciPy).  One
        iteration is one product with ``A``.
    M : {ndarray, sparse matrix, LinearOperator, callable}, optional
        Preconditioner given as an approximation of ``(A - shift I)^{-1}``; it
        must be Hermitian *positive definite* even when ``A`` is indefinite.
    precond : str, tuple or Preconditioner, optional
        A preconditioner by name (e.g. ``"jacobi"``; see
        :func:`lrsolve.precond.available`), a ``(name, options)`` pair or an
        object from :mod:`lrsolve.precond`.  Give either ``M`` or ``precond``.
        Named preconditioners are built from ``A``, not ``A - shift I``.
    callback : callable, optional
        Called as ``callback(xk)`` exactly once per iteration with the current iterate.
    check_every : int, optional
        Test the residual estimate every ``check_every`` iterations: 1 on the CPU,
        10 on the GPU (where each test synchronises the device).
    show : bool, optional
        Print a one-line summary at the end (SciPy's argument; SciPy prints more).

    Returns
    -------
    SolveResult
        Unpacks as ``x, info``.  ``info`` is 0 on convergence, the number of
        iterations when ``maxiter`` was reached, ``-2`` when the preconditioner
        is not positive definite (``r^H M r <= 0`` was met) and ``-3`` when the
        iteration stagnated or produced non-finite values.  ``residual_norms``
        starts with ``||r0||`` and holds one (estimated) 2-norm per iteration.

    See Also
    --------
    scipy.sparse.linalg.minres : SciPy's version (no ``atol``).
    lrsolve.cg : faster for Hermitian positive definite systems.

    Notes
    -----
    The residual norm used for stopping comes from the recurrence: ``phibar``
    without a preconditioner (exact in exact arithmetic); with a preconditioner
    the 2-norm residual vector is updated as ``r_k = s_k^2 r_{k-1} - c_k
    phibar_k q_{k+1}`` (one extra vector), since ``phibar`` is then a norm in
    ``M``.  When the estimate meets the tolerance the true residual
    ``b - (A - shift I) x`` is computed; if it does not meet it, the recurrence
    restarts from the current ``x`` with the true residual, at most 5 times,
    after which ``info=-3`` is reported.

    References
    ----------
    .. [1] C. C. Paige and M. A. Saunders, "Solution of sparse indefinite
       systems of linear equations", SIAM J. Numer. Anal. 12 (1975).
    .. [2] S.-C. Choi, "Iterative methods for singular linear equations and
       least-squares problems", PhD thesis, Stanford University (2006).

    Examples
    --------
    An indefinite system: the 1-D Laplacian shifted inside its spectrum.

    >>> import numpy as np, scipy.sparse as sp, lrsolve
    >>> n = 100
    >>> A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n), format="csr")
    >>> b = np.ones(n)
    >>> res = lrsolve.krylov.minres(A, b, shift=1.0, rtol=1e-10)
    >>> res.info, res.converged
    (0, True)
    >>> B = A - sp.identity(n)
    >>> bool(np.linalg.norm(b - B @ res.x) <= 1e-10 * np.linalg.norm(b))
    True
    """
    res = _minres(A, b, x0, rtol, atol, shift, maxiter, M, precond, callback, check_every)
    if show:  # SciPy's show=True: a summary of the run
        print(f"minres: {res.message} (info {res.info}, residual norm "
              f"{res.residual_norms[-1]:.3e})")
    return res


def _minres(A, b, x0, rtol, atol, shift, maxiter, M, precond, callback, check_every):
    sys = make_system(A, b, x0, M=M, precond=precond, name="minres")
    bk, op, prec, xp = sys.bk, sys.op, sys.prec, sys.xp
    n = sys.n
    if (
        isinstance(shift, (bool, str, bytes))
        or not isinstance(shift, numbers.Real)
        or not math.isfinite(shift)
    ):
        raise TypeError(
            f"shift must be a finite real number (A - shift I must stay Hermitian), got {shift!r}"
        )
    shift = float(shift)
    maxiter = check_maxiter(maxiter, 5 * n)
    check_every = check_loop_options(bk, check_every, callback)

    eng = bk.engine
    gpu = bk.is_gpu
    norm2sq = get_kernel("norm2sq", eng)
    vdot = get_kernel("vdot", eng)
    axpy = get_kernel("axpy", eng)

    b_vec, x = sys.b, sys.x
    bnorm = math.sqrt(float(norm2sq(b_vec)))
    tol = check_tolerances(rtol, atol, bnorm)
    eps = float(np.finfo(sys.dtype).eps)
    tally = Tally(sys, tol)

    def residual(out):
        """``out = b - (A - shift I) x``; return ``||out||`` on the host."""
        rr = op.residual(x, b_vec, out)
        tally.mv += 1
        if shift:
            axpy(out, shift, x)
            rr = norm2sq(out)
        return math.sqrt(float(rr))

    finish = tally.result

    if bnorm == 0.0:
        x[...] = 0
        return finish(0, True, 0, np.zeros(1), "b is zero: the solution is x = 0", 0.0)

    r0vec = xp.empty_like(b_vec)  # the true residual at the start of each recurrence
    if sys.x0_is_zero:
        r0vec[...] = b_vec
        r0 = bnorm
    else:
        r0 = residual(r0vec)
    if r0 <= tol:
        return finish(0, True, 0, [r0], "x0 already satisfies the tolerance", r0)

    if gpu:
        sqrt, hypot, maximum = xp.sqrt, xp.hypot, xp.maximum

        def safe(d):
            return xp.where(d == 0, 1.0, d)

        hist_dev = xp.zeros(maxiter + 1, dtype=xp.float64)
        hist_dev[0] = r0
    else:
        sqrt, hypot, maximum = math.sqrt, math.hypot, max

        def safe(d):
            return d

    hist = [r0]

    def record(k, value):
        if gpu:
            hist_dev[k] = value
        elif k < len(hist):
            hist[k] = value
        else:
            hist.append(value)

    # work vectors
    v = xp.empty_like(b_vec)
    y = xp.empty_like(b_vec)
    r1 = xp.empty_like(b_vec)
    r2 = xp.empty_like(b_vec)
    w = xp.empty_like(b_vec)
    w1 = xp.empty_like(b_vec)
    w2 = xp.empty_like(b_vec)
    z = xp.empty_like(b_vec) if prec is not None else None
    rvec = xp.empty_like(b_vec) if prec is not None else None  # 2-norm residual (recurrence)
    tmp = xp.empty_like(b_vec)

    k = 0
    called = 0
    info, converged, true_res = maxiter, False, float("nan")
    message = f"maxiter={maxiter} iterations reached without meeting the tolerance"
    restarts = 0
    rnorm_true = r0  # true residual at the start of the current recurrence
    done = False
    while not done:
        # ---- start a Lanczos recurrence from the true residual r0vec
        r1[...] = r0vec
        r2[...] = r0vec
        if prec is not None:
            beta1 = float(prec.apply_dot(r2, z))
            tally.pc += 1
            if not beta1 > 0:
                info = -3 if math.isnan(beta1) else -2
                message = (
                    "the preconditioner is not positive definite: "
                    f"r^H M r = {beta1:.3g} <= 0 at iteration {k}"
                )
                true_res = rnorm_true
                break
            rvec[...] = r0vec
        else:
            beta1 = rnorm_true * rnorm_true
        beta1 = math.sqrt(beta1)
        if gpu:
            beta1 = xp.asarray(beta1, dtype=xp.float64)
            bad_m = xp.zeros((), dtype=bool)
        oldb = 0.0
        beta = beta1
        dbar = 0.0
        epsln = 0.0
        phibar = beta1
        cs, sn = -1.0, 0.0
        w[...] = 0
        w2[...] = 0
        j = 0  # iteration within this recurrence
        zsrc = z if prec is not None else r2
        while k < maxiter:
            k += 1
            j += 1
            # Lanczos step: v = M r2 / beta; y = (A - shift I) v - ...
            xp.multiply(zsrc, 1.0 / safe(beta), out=v)
            op.matvec(v, y)
            tally.mv += 1
            if shift:
                axpy(y, -shift, v)
            if j >= 2:
                axpy(y, -(beta / safe(oldb)), r1)
            alfa = vdot(v, y).real
            if not gpu:
                alfa = float(alfa)
            axpy(y, -(alfa / safe(beta)), r2)
            r1, r2, y = r2, y, r1
            if prec is not None:
                beta2 = prec.apply_dot(r2, z)
                tally.pc += 1
                zsrc = z
            else:
                beta2 = norm2sq(r2)
                zsrc = r2
            oldb = beta
            if gpu:
                bad_m = bad_m | (beta2 < 0)
                beta = sqrt(maximum(beta2, 0.0))
            else:
                beta2 = float(beta2)
                if not beta2 >= 0 or (beta2 == 0 and prec is not None and norm2sq(r2) > 0):
                    if math.isnan(beta2):
                        info, message = -3, f"non-finite values at iteration {k}"
                    else:
                        info = -2
                        message = (
                            "the preconditioner is not positive definite: "
                            f"r^H M r = {beta2:.3g} <= 0 at iteration {k}"
                        )
                    k -= 1  # this iteration did not update x
                    done = True
                    break
                beta = math.sqrt(beta2)
            # apply the previous rotation, then the new one
            oldeps = epsln
            delta = cs * dbar + sn * alfa
            gbar = sn * dbar - cs * alfa
            epsln = sn * beta
            dbar = -cs * beta
            gamma = maximum(hypot(gbar, beta), eps)
            cs = gbar / gamma
            sn = beta / gamma
            phi = cs * phibar
            phibar = sn * phibar
            # w = (v - oldeps w1 - delta w2) / gamma ; x += phi w
            w1, w2, w = w2, w, w1
            xp.multiply(w1, -oldeps, out=w)
            axpy(w, -delta, w2)
            w += v
            w *= 1.0 / gamma
            axpy(x, phi, w)
            if prec is not None:
                # r_k = sn^2 r_{k-1} - cs phibar q_{k+1}, q_{k+1} = r2 / beta
                rvec *= sn * sn
                axpy(rvec, -(cs * phibar) / safe(beta), r2)
                rnorm = sqrt(norm2sq(rvec))
            else:
                rnorm = abs(phibar)
            if not gpu:
                rnorm = float(rnorm)
            record(k, rnorm)
            if callback is not None:
                callback(x)
                called = k
            if k % check_every == 0 or k == maxiter:
                if gpu:
                    rn, bm = bk.to_host(xp.stack([xp.asarray(rnorm, dtype=xp.float64),
                                                  bad_m.astype(xp.float64)]))
                    rn = float(rn)
                    if bm:
                        info = -2
                        message = "the preconditioner is not positive definite: r^H M r < 0"
                        done = True
                        break
                else:
                    rn = rnorm
                if not math.isfinite(rn):
                    info, message = -3, f"non-finite values at iteration {k}"
                    done = True
                    break
                if rn <= tol:
                    tr = residual(r0vec)
                    true_res = tr
                    record(k, tr)
                    if tr <= tol:
                        info, converged, done = 0, True, True
                        message = f"converged in {k} iterations"
                        break
                    restarts += 1
                    if restarts > _MAX_RESTARTS:
                        info, done = -3, True
                        message = stagnation_message(
                            tr, tol, sys.dtype,
                            f" after {_MAX_RESTARTS} restarts from the true residual",
                            " (or A is not symmetric/Hermitian)")
                        break
                    rnorm_true = tr
                    break  # restart the recurrence from the true residual
        else:
            done = True

    niter = k
    if callback is not None and niter > called:
        callback(x)
    hist_out = bk.to_host(hist_dev[: niter + 1]).astype(float) if gpu else hist[: niter + 1]
    return tally.conclude(
        info, converged, niter, hist_out, message, true_res, lambda: residual(tmp)
    )
