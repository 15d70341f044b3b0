"""Stationary relaxation solvers: SOR and SSOR."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._kernels import get_kernel
from .._validation import check_maxiter, check_tolerances
from ..krylov._system import Tally, check_loop_options, make_system

__all__ = ["sor", "ssor"]

#: The iteration is called divergent when the residual grows past this factor of ``||r_0||``.
_DIVERGENCE_FACTOR = 1e8


def check_omega(omega, who="sor"):
    """Validate the relaxation parameter: a real number with ``0 < omega < 2``."""
    if isinstance(omega, bool) or not isinstance(omega, numbers.Real):
        raise TypeError(f"omega must be a real number with 0 < omega < 2, got {omega!r}")
    omega = float(omega)
    if not (math.isfinite(omega) and 0.0 < omega < 2.0):
        raise ValueError(
            f"omega must satisfy 0 < omega < 2, got omega={omega!r}: {who} diverges for every "
            "matrix outside that interval (Kahan's theorem); omega=1 is Gauss-Seidel"
        )
    return omega


def _explicit(op, who):
    try:
        A = op.tocsr()
    except TypeError as exc:
        raise TypeError(
            f"{who}() reads the entries of A, but A is a {type(op).__name__} without an "
            "explicit matrix; pass a SciPy/cupyx sparse matrix or a dense array"
        ) from exc
    if A.dtype != op.dtype:
        A = A.astype(op.dtype)
    if not A.has_canonical_format:  # fix a copy, never the caller's matrix
        A = A.copy()
        A.sum_duplicates()
    return A


class _Sweeper:
    """One SOR sweep (forward or backward) with the backend's engine."""

    def __init__(self, A, omega, bk, dtype, who):
        xp = bk.xp
        d = A.diagonal()
        if d.size and not bool((d != 0).all()):
            dh = np.asarray(d.get() if bk.is_gpu else d)
            bad = int(np.argmin(dh != 0))
            raise ValueError(
                f"{who}() needs a nonzero diagonal, but A[{bad}, {bad}] = 0; reorder the "
                "unknowns or use a Krylov solver such as lrsolve.gmres"
            )
        self.omega = omega
        if bk.engine == "numba":
            self._kernel = get_kernel("sor_sweep", "numba")
            dpos = get_kernel("csr_diag_pos", "numba")(A.indptr, A.indices)
            self._args = (A.data, A.indptr, A.indices, dpos, (1.0 / d).astype(dtype), omega)
        else:  # numpy engine and GPU: sparse triangular solves on xp
            from .._kernels._reference_relax import TriangularSweeps

            self._tri = TriangularSweeps(A, omega)
            self._kernel = None
        self.xp = xp

    def __call__(self, b, x, backward=False):
        if self._kernel is not None:
            self._kernel(*self._args, b, x, backward)
        else:
            self._tri.sweep(b, x, backward=backward)


def _relax(A, b, x0, omega, rtol, atol, maxiter, callback, check_every, symmetric, who):
    sys = make_system(A, b, x0, name=who)
    omega = check_omega(omega, who)
    bk, op, xp = sys.bk, sys.op, sys.xp
    n = sys.n
    maxiter = check_maxiter(maxiter, 10 * n)
    check_every = check_loop_options(bk, check_every, callback)
    sweep = _Sweeper(_explicit(op, who), omega, bk, sys.dtype, who)

    b_vec, x = sys.b, sys.x
    norm2sq = get_kernel("norm2sq", bk.engine)
    bnorm = math.sqrt(float(norm2sq(b_vec)))
    tol = check_tolerances(rtol, atol, bnorm)
    tally = Tally(sys, tol)
    finish = tally.result
    def early(*args):  # the documented extras on every return
        res = finish(*args)
        res.extra.update(omega=omega, sweeps=0)
        return res

    if bnorm == 0.0:
        x[...] = 0
        return early(0, True, 0, np.zeros(1), "b is zero: the solution is x = 0", 0.0)
    r = xp.empty_like(b_vec)
    r0 = math.sqrt(float(op.residual(x, b_vec, r)))
    tally.mv += 1
    if r0 <= tol:
        return early(0, True, 0, np.array([r0]), "x0 already satisfies the tolerance", r0)

    hist = [r0]
    info = maxiter
    converged = False
    message = f"maxiter={maxiter} iterations reached without meeting the tolerance"
    rn = r0
    it = 0
    for it in range(1, maxiter + 1):
        sweep(b_vec, x)
        if symmetric:
            sweep(b_vec, x, backward=True)
        if callback is not None:
            callback(bk.to_output(x))
        if it % check_every and it != maxiter:
            continue
        rn = math.sqrt(float(op.residual(x, b_vec, r)))
        tally.mv += 1
        hist.append(rn)
        if rn <= tol:
            info, converged = 0, True
            message = f"converged in {it} iterations"
            break
        if not math.isfinite(rn) or rn > _DIVERGENCE_FACTOR * r0:
            info = -3
            message = (
                f"diverged: the residual grew from {r0:.3g} to {rn:.3g}; {who} converges for "
                "symmetric positive definite (or diagonally dominant) A and 0 < omega < 2"
            )
            break
    res = finish(info, converged, it, hist, message, rn)
    res.extra.update(omega=omega, sweeps=it * (2 if symmetric else 1))
    return res


_PARAMS = """
    Parameters
    ----------
    A : {ndarray, sparse matrix or array}
        Square matrix with a nonzero diagonal (dense NumPy/CuPy or SciPy/cupyx
        sparse; its entries are read, so matrix-free operators are rejected).
        Convergence is guaranteed for symmetric positive definite ``A`` and
        ``0 < omega < 2``, and for strictly diagonally dominant ``A`` with
        ``0 < omega <= 1``.
    b : ndarray
        Right-hand side of shape ``(n,)`` or ``(n, 1)``.
    x0 : ndarray, optional
        Starting guess (default zeros).  It is not modified.
    omega : float, optional
        Relaxation parameter, ``0 < omega < 2`` (default 1).  Outside that
        interval the iteration diverges for every matrix, so it is rejected.
    rtol, atol : float, optional
        Stop when ``norm(b - A @ x) <= max(rtol * norm(b), atol)`` (the true
        residual).  Defaults ``1e-5`` and ``0``.
    maxiter : int, optional
        Maximum number of iterations (default ``10 * n``).
    callback : callable, optional
        Called as ``callback(xk)`` once per iteration.
    check_every : int, optional
        Compute the residual (one product with ``A``) every ``check_every``
        iterations: 1 on the CPU, 10 on the GPU by default.

    Returns
    -------
    SolveResult
        Unpacks as ``x, info``: ``info`` is 0 on convergence, the iteration
        count when ``maxiter`` was reached and ``-3`` when the residual grew
        by a factor ``1e8`` or became non-finite (divergence).
        ``residual_norms`` holds the residuals at the checks, ``n_matvec``
        the products spent on them, ``extra["omega"]`` the parameter and
        ``extra["sweeps"]`` the number of sweeps.
"""


def sor(A, b, x0=None, *, omega=1.0, rtol=1e-5, atol=0.0, maxiter=None, callback=None,
        check_every=None):
    r"""Solve ``A x = b`` by successive over-relaxation (SOR).

    With ``A = L + D + U`` (strictly lower, diagonal, strictly upper parts) one
    iteration is one forward Gauss-Seidel sweep with relaxation:

    .. math:: (D + \omega L)\, x_{k+1} = \omega b - (\omega U + (\omega - 1) D)\, x_k .

    ``omega = 1`` is Gauss-Seidel; for SPD ``A`` the best ``omega`` lies in
    ``[1, 2)`` and depends on the spectrum -- :class:`TsallisINF` learns it
    over a sequence of systems.
    {params}
    See Also
    --------
    ssor : The symmetric variant (a forward and a backward sweep).
    lrsolve.cg : With ``precond=("ssor", {"omega": w})``, usually far faster.

    Notes
    -----
    On the CPU (``numba`` engine) a sweep is a serial loop over the CSR rows;
    with the ``numpy`` engine and on the GPU it is one sparse triangular solve
    (``spsolve_triangular``).  Each convergence check costs one product with
    ``A``.

    References
    ----------
    .. [1] Y. Saad, *Iterative Methods for Sparse Linear Systems*, 2nd ed.,
       SIAM (2003), section 4.1.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, lrsolve
    >>> A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(20, 20), format="csr")
    >>> b = np.ones(20)
    >>> gs = lrsolve.relax.sor(A, b, omega=1.0, rtol=1e-8, maxiter=2000)
    >>> fast = lrsolve.relax.sor(A, b, omega=1.74, rtol=1e-8, maxiter=2000)
    >>> gs.converged, fast.converged, fast.niter < gs.niter / 4
    (True, True, True)
    """
    return _relax(A, b, x0, omega, rtol, atol, maxiter, callback, check_every, False, "sor")


def ssor(A, b, x0=None, *, omega=1.0, rtol=1e-5, atol=0.0, maxiter=None, callback=None,
         check_every=None):
    r"""Solve ``A x = b`` by symmetric successive over-relaxation (SSOR).

    One iteration is a forward SOR sweep followed by a backward one (rows in
    reverse order).  For symmetric ``A`` the iteration matrix is then
    similar to a symmetric one, which is why SSOR (rather than SOR) serves as
    a preconditioner for CG: ``lrsolve.cg(A, b, precond=("ssor", {"omega": w}))``.
    {params}
    See Also
    --------
    sor : One forward sweep per iteration.
    lrsolve.precond.ssor : The SSOR preconditioner for CG.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, lrsolve
    >>> A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(20, 20), format="csr")
    >>> x, info = lrsolve.relax.ssor(A, np.ones(20), omega=1.6, rtol=1e-8)
    >>> info, bool(np.linalg.norm(A @ x - 1.0) <= 1e-8 * np.sqrt(20))
    (0, True)
    """
    return _relax(A, b, x0, omega, rtol, atol, maxiter, callback, check_every, True, "ssor")


sor.__doc__ = sor.__doc__.replace("{params}", _PARAMS)
ssor.__doc__ = ssor.__doc__.replace("{params}", _PARAMS)
