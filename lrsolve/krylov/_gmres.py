"""Restarted GMRES(m) and flexible GMRES, right preconditioned."""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_maxiter, check_tolerances
from ._system import (
    Tally,
    check_loop_options,
    cycle_stall_message,
    make_system,
    singular_message,
    stagnation_message,
)

__all__ = ["gmres", "fgmres"]

# a cycle that lowers the true residual by less than this fraction made no progress
_STALL_FRACTION = 1e-7
# cycles whose residual estimate claimed convergence that the true residual denied
_MAX_LIES = 3


def _givens(a, b):
    """Rotation ``(c, s, r)`` with ``[c, s; -conj(s), c] @ [a, b] = [r, 0]``, ``c`` real."""
    aa = abs(a)
    if b == 0:
        return 1.0, 0.0, a
    if aa == 0:
        return 0.0, 1.0, b  # b is real >= 0 (a norm), so s = conj(b)/|b| = 1
    t = math.hypot(aa, abs(b))
    phase = a / aa
    return aa / t, phase * np.conj(b) / t, phase * t


class _Hessenberg:
    """The small least-squares problem ``min ||beta e1 - H y||``, on the host.

    Columns of ``H`` arrive (possibly several at once on the GPU) and are reduced
    to upper triangular form by Givens rotations; ``abs(g[k])`` is then the norm
    of the GMRES residual after ``k`` steps, without forming ``x``.
    """

    def __init__(self, m, beta, complex_):
        dt = np.complex128 if complex_ else np.float64
        self.R = np.zeros((m + 1, m), dtype=dt)
        self.g = np.zeros(m + 1, dtype=dt)
        self.g[0] = beta
        self.c = np.zeros(m)
        self.s = np.zeros(m, dtype=dt)
        self.k = 0  # columns reduced so far

    def add(self, h):
        """Reduce column ``h`` (length ``k + 2``); return the new residual estimate."""
        k = self.k
        col = np.asarray(h, dtype=self.R.dtype).copy()
        for i in range(k):
            c, s = self.c[i], self.s[i]
            col[i], col[i + 1] = c * col[i] + s * col[i + 1], -np.conj(s) * col[i] + c * col[i + 1]
        c, s, r = _givens(col[k], col[k + 1])
        self.c[k], self.s[k] = c, s
        col[k], col[k + 1] = r, 0.0
        self.R[: k + 2, k] = col
        gk = self.g[k]
        self.g[k], self.g[k + 1] = c * gk, -np.conj(s) * gk
        self.k = k + 1
        return abs(self.g[k + 1]), r

    def solve(self, k):
        """Coefficients ``y`` of the first ``k`` basis vectors."""
        from scipy.linalg import solve_triangular

        if k == 0:
            return self.g[:0]
        return solve_triangular(self.R[:k, :k], self.g[:k], lower=False, check_finite=False)


def _solve(name, A, b, x0, rtol, atol, restart, maxiter, M, precond, callback, check_every,
           flexible, callback_type=None):
    sys = make_system(A, b, x0, M=M, precond=precond, name=name)
    bk, op, prec, xp = sys.bk, sys.op, sys.prec, sys.xp
    n, dtype = sys.n, sys.dtype
    if isinstance(restart, bool) or not isinstance(restart, (int, np.integer)) or restart < 1:
        raise ValueError(f"restart must be a positive integer (the cycle length), got {restart!r}")
    m = min(int(restart), n)
    maxiter = check_maxiter(maxiter, 10 * n)
    check_every = check_loop_options(bk, check_every, callback)
    if callback_type not in (None, "x", "pr_norm", "legacy"):
        raise ValueError(f"callback_type must be None, 'x', 'pr_norm' or 'legacy', got "
                         f"{callback_type!r}")
    norm_cb = None
    if callback is not None and callback_type in ("pr_norm", "legacy"):
        # SciPy's residual-norm callback: the relative residual, no iterate formed
        norm_cb, callback = callback, None
        check_every = 1
    if callback is not None:
        check_every = 1  # the callback needs x_k, hence the small problem, every step

    b_vec, x = sys.b, sys.x
    bnorm = float(xp.linalg.norm(b_vec))
    tol = check_tolerances(rtol, atol, bnorm)
    is_complex = np.dtype(dtype).kind == "c"
    eps = float(np.finfo(dtype).eps)

    tally = Tally(sys, tol)
    finish = tally.result

    if bnorm == 0.0:
        x[...] = 0
        return finish(0, True, 0, [0.0], "b is zero: the solution is x = 0", 0.0)

    r = xp.empty_like(b_vec)
    if sys.x0_is_zero:
        r[...] = b_vec
        beta = bnorm
    else:
        beta = math.sqrt(float(op.residual(x, b_vec, r)))
        tally.mv += 1
    if beta <= tol:
        return finish(0, True, 0, [beta], "x0 already satisfies the tolerance", beta)
    if not math.isfinite(beta):
        return finish(-3, False, 0, [beta], "non-finite initial residual", beta)

    # Krylov basis as rows: V[:j] is a contiguous block, so each Gram-Schmidt pass is a gemv.
    V = xp.empty((m + 1, n), dtype=dtype)
    Z = xp.empty((m, n), dtype=dtype) if (flexible and prec is not None) else None
    ztmp = xp.empty_like(b_vec) if prec is not None else None
    # column j of the Hessenberg matrix is built on the device; row m + 1 holds ||A z_j||
    Hdev = xp.zeros((m + 2, m), dtype=dtype)
    xk = xp.empty_like(b_vec) if callback is not None else None

    def correction(hs, k, out):
        """``out = Z_k y`` for the current cycle (``Z = M V`` unless flexible)."""
        y = xp.asarray(hs.solve(k).astype(dtype, copy=False))
        if Z is not None:
            xp.matmul(y, Z[:k], out=out)
        elif prec is not None:
            xp.matmul(y, V[:k], out=ztmp)
            prec.apply(ztmp, out)
            tally.pc += 1
        else:
            xp.matmul(y, V[:k], out=out)
        return out

    hist = [beta]
    niter = 0
    info = 0
    converged = False
    message = ""
    true_res = beta
    best_res = beta
    lies = 0
    upd = xp.empty_like(b_vec)
    while True:
        # ---- one cycle: Arnoldi from r = b - A x with ||r|| = beta
        xp.multiply(r, 1.0 / beta, out=V[0])
        hs = _Hessenberg(m, beta, is_complex)
        est = beta
        k = 0  # basis vectors in use
        lucky = singular = False
        for j in range(m):
            if niter >= maxiter:
                break
            if prec is not None:
                zj = Z[j] if Z is not None else ztmp
                prec.apply(V[j], zj)
                tally.pc += 1
            else:
                zj = V[j]
            w = V[j + 1]
            op.matvec(zj, out=w)
            tally.mv += 1
            niter += 1
            Hdev[m + 1, j] = xp.linalg.norm(w)
            # classical Gram-Schmidt twice (CGS2): two gemv's per pass, as stable as MGS+reorth
            Vj = V[: j + 1]
            h = (Vj @ w.conj()).conj() if is_complex else Vj @ w
            w -= h @ Vj
            h2 = (Vj @ w.conj()).conj() if is_complex else Vj @ w
            w -= h2 @ Vj
            h += h2
            hn = xp.linalg.norm(w)
            Hdev[: j + 1, j] = h
            Hdev[j + 1, j] = hn
            w *= 1.0 / xp.where(hn == 0, 1.0, hn)  # no sync: a zero norm is seen on the host
            if not (niter % check_every == 0 or j == m - 1 or niter == maxiter):
                continue
            # ---- check point: bring the new columns to the host and reduce them
            cols = bk.to_host(Hdev[:, hs.k : j + 1])
            stop = False
            for c in range(cols.shape[1]):
                jj = hs.k
                hcol = cols[: jj + 2, c]
                azn = float(abs(cols[m + 1, c]))
                est, diag = hs.add(hcol)
                hist.append(est)
                if not math.isfinite(est) or not np.isfinite(hcol).all():
                    k = jj
                    info, message = -3, f"non-finite values in the Arnoldi process at iteration " \
                        f"{niter - cols.shape[1] + c + 1}"
                    stop = True
                    break
                k = jj + 1
                if abs(diag) <= eps * azn or azn == 0.0:
                    # A z_j lies (numerically) in span(V_j): the new column is dependent
                    singular, k, stop = True, jj, True
                    hist[-1] = hist[-2]
                    est = hist[-1]
                    break
                if abs(hcol[jj + 1]) <= eps * azn:
                    lucky, stop = True, True  # invariant subspace: the exact solution is in it
                    break
                if est <= tol:
                    stop = True  # later columns (GPU batch) only lower the residual further
            if info < 0:
                break
            # the columns reduced after a stop are products already made: keep the history
            # one entry per iteration
            while len(hist) < niter + 1:
                hist.append(est)
            if callback is not None:
                correction(hs, k, xk)
                xk += x
                callback(xk)
            elif norm_cb is not None:
                norm_cb(est / bnorm if bnorm > 0 else est)
            if stop:
                break
        if info < 0:
            break
        # ---- end of cycle: update x, then verify with the true residual
        if callback is not None and k > 0:
            x[...] = xk
        elif k > 0:
            x += correction(hs, k, upd)
        prev_res = true_res
        rr = float(op.residual(x, b_vec, r))
        tally.mv += 1
        true_res = math.sqrt(rr) if rr >= 0 else float("nan")
        hist[-1] = true_res
        if not math.isfinite(true_res):
            info, message = -3, f"non-finite true residual after {niter} iterations"
            break
        if true_res <= tol:
            converged, info = True, 0
            message = f"converged in {niter} iterations"
            if lucky:
                message += " (lucky breakdown: the Krylov space became invariant)"
            break
        if singular:
            info = -3
            message = singular_message(niter, true_res, tol)
            break
        if lucky:
            info = -3
            message = (
                f"the Krylov space became invariant at iteration {niter} but the true residual "
                f"{true_res:.3g} is above the tolerance {tol:.3g}: b may not be in the range of A"
            )
            break
        if niter >= maxiter:
            info = niter
            message = f"maxiter={maxiter} iterations reached without meeting the tolerance"
            break
        if est <= tol:  # the estimate said converged, the true residual did not
            lies = lies + 1 if true_res > 0.5 * best_res else 0
            if lies >= _MAX_LIES:
                info = -3
                message = stagnation_message(true_res, tol, dtype,
                                             " while the estimate says converged")
                break
        elif k == m and true_res > prev_res * (1.0 - max(_STALL_FRACTION, 100 * eps)):
            info = -3
            message = cycle_stall_message(true_res, tol, dtype, f" of {m} iterations",
                                          "restart")
            break
        best_res = min(best_res, true_res)
        beta = true_res

    if info < 0 and message.startswith("non-finite"):
        rr = float(op.residual(x, b_vec, r))
        tally.mv += 1
        true_res = math.sqrt(rr) if rr >= 0 else float("nan")
    del hist[niter + 1 :]
    while len(hist) < niter + 1:
        hist.append(true_res)
    return finish(info, converged, niter, hist, message, true_res)


_PARAMS_DOC = """
    Parameters
    ----------
    A : {ndarray, sparse matrix or array, LinearOperator, callable, lrsolve operator}
        Square matrix of shape ``(n, n)`` (any, non-symmetric and complex
        included): a dense NumPy or CuPy array, a SciPy or cupyx sparse matrix,
        a ``LinearOperator``, a callable ``f(x) -> A @ x`` or an operator from
        :mod:`lrsolve.operators`.
    b : ndarray
        Right-hand side of shape ``(n,)`` or ``(n, 1)``.
    x0 : ndarray or 'Mb', optional
        Starting guess (default zeros), or ``'Mb'`` (SciPy's: the preconditioned
        right-hand side).  It is not modified.
    rtol, atol : float, optional
        The solver stops when the *true* residual satisfies
        ``norm(b - A @ x) <= max(rtol * norm(b), atol)``.  Defaults ``1e-5`` and ``0``.
    restart : int, optional
        Cycle length ``m``: the Krylov basis holds at most ``m`` vectors before
        the method restarts from the current iterate (default 20, capped at ``n``).
        Memory is ``(m + 1) * n`` entries@ZMEM@.
    maxiter : int, optional
        Maximum number of *inner* iterations, i.e. of products with ``A``
        (default ``10 * n``).  Unlike :func:`scipy.sparse.linalg.gmres`, where
        ``maxiter`` counts restart cycles, restarts do not reset this count.
    M : {ndarray, sparse matrix, LinearOperator, callable}, optional
        Preconditioner given as an approximation of ``A^{-1}``, applied on the
        right: the method solves ``A M u = b`` with ``x = M u``, so the residual it
        minimises and reports is the true one, ``b - A x``.
    precond : str, tuple or Preconditioner, optional
        A preconditioner by name (see :func:`lrsolve.precond.available`), a
        ``(name, options)`` pair, or an object from :mod:`lrsolve.precond`.
        Give either ``M`` or ``precond``.
    callback : callable, optional
        Called as ``callback(xk)`` exactly once per inner iteration with the
        current iterate.  GMRES does not form its iterate until the end of a
        cycle, so a callback costs one small triangular solve and one product
        with the basis per iteration@CBCOST@.
    check_every : int, optional
        Bring the new Hessenberg columns to the host and test the residual
        estimate every ``check_every`` iterations (and at the end of each
        cycle).  On the CPU the default is 1; on the GPU it is 10, so the device
        is synchronised only every 10 iterations (at most 9 extra iterations
        are made).  A callback forces 1.
    callback_type : {None, 'x', 'pr_norm', 'legacy'}, optional
        SciPy's argument: ``'x'`` (and None) calls ``callback(xk)`` as described
        above (every inner iteration, where SciPy calls it once per cycle);
        ``'pr_norm'`` and ``'legacy'`` call ``callback(rk)`` every inner iteration
        with the relative residual norm ``||b - A x_k|| / ||b||`` (the residual is
        the true one: the preconditioning is on the right), without forming ``x_k``.

    Returns
    -------
    SolveResult
        Unpacks as ``x, info``.  ``info`` is 0 on convergence, the number of
        iterations when ``maxiter`` was reached, and ``-3`` on breakdown or
        stagnation (a cycle without progress, an estimate that keeps claiming a
        convergence the true residual denies, a singular ``A``, non-finite
        numbers), with the reason in ``message``.  ``residual_norms`` holds one
        entry per inner iteration, starting with ``||r0||``: the least-squares
        estimate, replaced by the true residual at the end of each cycle.
"""


def gmres(
    A,
    b,
    x0=None,
    *,
    rtol=1e-5,
    atol=0.0,
    restart=20,
    maxiter=None,
    M=None,
    precond=None,
    callback=None,
    check_every=None,
    callback_type=None,
):
    """Solve ``A x = b`` by restarted GMRES(m) with right preconditioning.

    Each inner iteration makes one product with ``A`` (and one application of
    the preconditioner), extends an orthonormal Krylov basis and minimises the
    true residual norm over ``x0 + M K_j``.
    """
    return _solve("gmres", A, b, x0, rtol, atol, restart, maxiter, M, precond, callback,
                  check_every, flexible=False, callback_type=callback_type)


def fgmres(
    A,
    b,
    x0=None,
    *,
    rtol=1e-5,
    atol=0.0,
    restart=20,
    maxiter=None,
    M=None,
    precond=None,
    callback=None,
    check_every=None,
    callback_type=None,
):
    """Solve ``A x = b`` by flexible GMRES: the preconditioner may change every step.

    Like :func:`gmres`, but the preconditioned vectors ``z_j = M_j v_j`` are
    stored, so ``M`` may be a different operator at every iteration -- a
    nonlinear one such as a few steps of an inner iterative solver.
    """
    return _solve("fgmres", A, b, x0, rtol, atol, restart, maxiter, M, precond, callback,
                  check_every, flexible=True, callback_type=callback_type)


_NOTES_GMRES = """
    See Also
    --------
    fgmres : Flexible variant for preconditioners that change between steps.
    scipy.sparse.linalg.gmres : SciPy's version (``maxiter`` counts cycles there).
    lrsolve.cg : For Hermitian positive definite ``A``.

    Notes
    -----
    Arnoldi uses classical Gram-Schmidt applied twice (CGS2): each pass is two
    matrix-vector products with the basis block ``V[:j]``, which is as
    orthogonal as modified Gram-Schmidt with re-orthogonalisation and much
    faster on a GPU.  The Hessenberg column is built on the device; the small
    ``(m + 1) x m`` least-squares problem is solved on the host with Givens
    rotations, so the residual estimate is known after every step (one small
    transfer per check point) and the method may stop in the middle of a
    cycle.  At the end of a cycle ``x`` is updated and the true residual
    ``b - A x`` is computed: convergence is claimed only when it meets the
    tolerance; otherwise a new cycle starts from it.  A lucky breakdown
    (``h[j+1, j] = 0``) ends the cycle with the exact solution in the subspace.
    Restarted GMRES may stagnate: a cycle that does not lower the residual
    ends the solve with ``info = -3`` instead of spinning until ``maxiter``.
    The preconditioner is applied once per iteration plus once per cycle to
    form the update (a callback adds one per iteration); it must be the same
    linear operator at every step -- use :func:`fgmres` otherwise.

    References
    ----------
    .. [1] Y. Saad and M. H. Schultz, "GMRES: A generalized minimal residual
       algorithm for solving nonsymmetric linear systems", SIAM J. Sci. Stat.
       Comput. 7 (1986), pp. 856-869.
    .. [2] L. Giraud, J. Langou and M. Rozloznik, "The loss of orthogonality in
       the Gram-Schmidt orthogonalization process", Comput. Math. Appl. 50
       (2005), pp. 1069-1075.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, lrsolve
    >>> n = 200
    >>> A = sp.diags([-1.3, 2.0, -0.7], [-1, 0, 1], shape=(n, n), format="csr")
    >>> b = np.ones(n)
    >>> res = lrsolve.krylov.gmres(A, b, rtol=1e-10, restart=30)
    >>> res.converged, res.info
    (True, 0)
    >>> bool(np.linalg.norm(b - A @ res.x) <= 1e-10 * np.linalg.norm(b))
    True
    >>> len(res.residual_norms) == res.niter + 1
    True
    >>> x, info = lrsolve.krylov.gmres(A, b, precond="jacobi", maxiter=5)
    >>> info  # maxiter counts products with A, not cycles
    5
"""

_NOTES_FGMRES = """
    See Also
    --------
    gmres : When the preconditioner is a fixed linear operator (half the memory).

    Notes
    -----
    Flexible GMRES stores ``Z_j = [M_1 v_1, ..., M_j v_j]`` next to the
    Arnoldi basis and updates ``x`` with ``Z_j y`` instead of ``M V_j y``, so
    the residual it minimises stays the true one even when ``M`` changes from
    step to step [1]_.  Everything else -- CGS2 Arnoldi, Givens rotations on
    the host, true-residual verification at the end of each cycle, breakdown
    and stagnation reports -- is as in :func:`gmres`.  Without a
    preconditioner it is exactly :func:`gmres`.

    References
    ----------
    .. [1] Y. Saad, "A flexible inner-outer preconditioned GMRES algorithm",
       SIAM J. Sci. Comput. 14 (1993), pp. 461-469.

    Examples
    --------
    A preconditioner that is itself a few conjugate gradient steps (so it
    differs from one application to the next):

    >>> import numpy as np, scipy.sparse as sp, lrsolve
    >>> n = 30
    >>> L = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    >>> I = sp.eye(n)
    >>> lap = (sp.kron(L, I) + sp.kron(I, L)).tocsr()
    >>> A = (lap + 0.3 * sp.kron(sp.diags([-1.0, 1.0], [-1, 1], shape=(n, n)), I)).tocsr()
    >>> b = np.ones(n * n)
    >>> inner = lambda r: lrsolve.cg(lap, r, rtol=1e-2, maxiter=5).x
    >>> res = lrsolve.krylov.fgmres(A, b, M=inner, rtol=1e-8)
    >>> res.converged
    True
    >>> bool(np.linalg.norm(b - A @ res.x) <= 1e-8 * np.linalg.norm(b))
    True
"""

gmres.__doc__ += (
    _PARAMS_DOC.replace("@ZMEM@", "")
    .replace("@CBCOST@", " (and one application of the preconditioner)")
    + _NOTES_GMRES
)
fgmres.__doc__ += (
    _PARAMS_DOC.replace(
        "@ZMEM@", ", plus ``m * n`` for the preconditioned vectors when a preconditioner is given"
    ).replace("@CBCOST@", "")
    + _NOTES_FGMRES
)
