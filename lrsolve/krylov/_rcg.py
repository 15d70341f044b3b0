"""Recycled (deflated) conjugate gradients for sequences of SPD systems."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .._kernels import get_kernel
from .._validation import check_maxiter, check_tolerances
from ._gcrodr import _hdot, check_k_m
from ._recycle import (
    RecycleSpace,
    check_space,
    operator_fingerprint,
    orthonormalize_pair,
    prepare_space,
)
from ._system import Tally, check_loop_options, make_system, stagnation_message

__all__ = ["rcg"]


def _harmonic_update(xp, bk, dtype, Ya, AYa, Pw, Qw, k, is_complex):
    """Harmonic Ritz vectors of ``A`` in ``span([Ya; Pw])``: the new ``(U, A U)`` rows.

    Solves ``(AY)^H (AY) z = theta (Y^H A Y) z`` (both Hermitian, the right one
    positive definite for SPD ``A``) and keeps the ``k`` smallest ``theta``.
    """
    import scipy.linalg as sla

    Y = Pw if Ya is None else xp.concatenate([Ya, Pw])
    AY = Qw if AYa is None else xp.concatenate([AYa, Qw])
    hdt = np.complex128 if is_complex else np.float64
    F = bk.to_host(_hdot(xp, AY, AY.T, is_complex)).astype(hdt)
    Gm = bk.to_host(_hdot(xp, Y, AY.T, is_complex)).astype(hdt)
    F = 0.5 * (F + F.conj().T)
    Gm = 0.5 * (Gm + Gm.conj().T)
    if not (np.isfinite(F).all() and np.isfinite(Gm).all()):
        return Ya, AYa
    # the directions are A-orthogonal: scale to unit A-norm, drop the dependent ones
    dg = np.real(np.diag(Gm))
    if not np.all(dg > 0):
        return Ya, AYa
    s = 1.0 / np.sqrt(dg)
    F, Gm = F * np.outer(s, s), Gm * np.outer(s, s)
    wg, Vg = sla.eigh(Gm)
    keep = wg > 1e3 * float(np.finfo(dtype).eps) * wg[-1]
    Xg = Vg[:, keep] / np.sqrt(wg[keep])  # Gm-orthonormal basis of the kept span
    theta, Zr = sla.eigh(Xg.conj().T @ F @ Xg)
    Zc = (Xg @ Zr[:, : min(k, Zr.shape[1])]) * s[:, None]
    T = xp.asarray(np.ascontiguousarray(Zc.T).astype(dtype, copy=False))
    return T @ Y, T @ AY


def rcg(
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
    recycle=None,
    k=20,
    m=40,
    same_operator=None,
    check_every=None,
):
    """Solve an SPD system by recycled (deflated) conjugate gradients.

    The Krylov recycling method for sequences of Hermitian positive definite
    systems: deflated CG (def-CG, Saad et al. 2000) with the recycle space
    ``U`` of an earlier solve, which is updated on the way, as in RCG (Parks et
    al. 2006; Wang, de Sturler and Paulino 2007), with harmonic Ritz vectors of
    ``A`` for its smallest eigenvalues.  The protocol is that of
    :func:`gcrodr`: the result's ``recycle`` attribute is an immutable
    :class:`RecycleSpace` to pass as ``recycle=`` to the next call.

    Parameters
    ----------
    A : {ndarray, sparse matrix or array, LinearOperator, callable, lrsolve operator}
        Hermitian positive definite matrix of shape ``(n, n)``.
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
        SPD preconditioner given as an approximation of ``A^{-1}``, as in
        :func:`lrsolve.cg`.
    precond : str, tuple or Preconditioner, optional
        A preconditioner by name (``"jacobi"``, ``"ic0"``, ``"amg"``, ...; see
        :func:`lrsolve.precond.available`), a ``(name, options)`` pair or an
        object from :mod:`lrsolve.precond`.  Give either ``M`` or ``precond``.
    callback : callable, optional
        Called as ``callback(xk)`` exactly once per iteration.
    recycle : RecycleSpace, optional
        The ``recycle`` of an earlier :func:`rcg` or :func:`gcrodr` result for
        a system of the same size and dtype; never modified.  When it belongs
        to another operator, ``C = A U`` is recomputed (``k`` products).
    k : int, optional
        Number of recycled vectors (default 20), ``1 <= k < m``.
    m : int, optional
        The space is updated every ``m - k`` iterations from itself and the
        last ``m - k`` search directions (default 40).  Memory is about
        ``(2 m + 2 k) n`` entries.
    same_operator : bool, optional
        Whether ``A`` is the operator the space was built for (default:
        decided by :func:`operator_fingerprint`).
    check_every : int, optional
        Test convergence every ``check_every`` iterations (default 1 on the
        CPU, 10 on the GPU).

    Returns
    -------
    SolveResult
        Unpacks as ``x, info`` (``info`` as in :func:`lrsolve.cg`: ``-1``
        when ``A`` is not positive definite, ``-2`` when the preconditioner is
        not, ``-3`` on stagnation or non-finite values).  ``result.recycle``
        is the :class:`RecycleSpace` for the next solve; ``extra`` holds
        ``updates`` (space updates made) and ``reprojected``.

    Raises
    ------
    ValueError
        ``k >= m``, ``k < 1``, a recycle space of another size or dtype, and the
        input errors of :func:`lrsolve.cg`.

    See Also
    --------
    gcrodr : the non-symmetric counterpart.
    solve_sequence : sorts a sequence of systems and solves it with recycling.

    Notes
    -----
    With ``W = U`` and ``E = W^H A W``, def-CG starts from
    ``x0 + W E^{-1} W^H r0`` and keeps every search direction A-orthogonal to
    ``W``: ``p = z + beta p - W E^{-1} (A W)^H z``; one product with ``A`` and
    one application of ``M`` per iteration as in PCG, plus ``2 k`` vector
    operations.  The effective condition number is that of ``A`` with the
    eigenvalues of the deflated directions removed.  Every ``m - k``
    iterations the ``k`` harmonic Ritz vectors of smallest value in the span
    of the current space and the last ``m - k`` directions (whose images
    ``A p`` the iteration has already computed) become the new space, for the
    next system; the current solve keeps its ``W``.

    References
    ----------
    .. [1] Y. Saad, M. Yeung, J. Erhel and F. Guyomarc'h, "A deflated version of
       the conjugate gradient algorithm", SIAM J. Sci. Comput. 21 (2000).
    .. [2] S. Wang, E. de Sturler and G. H. Paulino, "Large-scale topology
       optimization using preconditioned Krylov subspace methods with
       recycling", Int. J. Numer. Meth. Engng. 69 (2007).
    .. [3] M. L. Parks, E. de Sturler, G. Mackey, D. D. Johnson and S. Maiti,
       "Recycling Krylov subspaces for sequences of linear systems", SIAM J.
       Sci. Comput. 28 (2006).

    Examples
    --------
    Two heat-equation time steps ``(I + dt L) x = b`` with a changing step:

    >>> import numpy as np, lrsolve
    >>> L = lrsolve.operators.poisson((40, 40)).tocsr()
    >>> import scipy.sparse as sp
    >>> A1 = (sp.eye(1600) + 50.0 * L).tocsr()
    >>> b = np.ones(1600)
    >>> first = lrsolve.krylov.rcg(A1, b, rtol=1e-8, k=10, m=30)
    >>> A2 = (sp.eye(1600) + 55.0 * L).tocsr()
    >>> second = lrsolve.krylov.rcg(A2, b, rtol=1e-8, k=10, m=30,
    ...                             recycle=first.recycle)
    >>> second.converged, second.niter < first.niter
    (True, True)
    >>> bool(np.linalg.norm(b - A2 @ second.x) <= 1e-8 * np.linalg.norm(b))
    True
    """
    import scipy.linalg as sla

    sys = make_system(A, b, x0, M=M, precond=precond, name="rcg")
    bk, op, prec, xp = sys.bk, sys.op, sys.prec, sys.xp
    n, dtype = sys.n, sys.dtype
    k, m = check_k_m(k, m)
    if recycle is not None:
        check_space(recycle, n, dtype, "rcg")
    if same_operator is not None and not isinstance(same_operator, (bool, np.bool_)):
        raise TypeError(f"same_operator must be True, False or None, got {same_operator!r}")
    s_win = max(1, min(m - k, n))
    maxiter = check_maxiter(maxiter, 10 * n)
    check_every = check_loop_options(bk, check_every, callback)
    fingerprint = operator_fingerprint(A)
    is_complex = np.dtype(dtype).kind == "c"
    hdt = np.complex128 if is_complex else np.float64

    b_vec, x = sys.b, sys.x
    bnorm = float(xp.linalg.norm(b_vec))
    tol = check_tolerances(rtol, atol, bnorm)
    tally = Tally(sys, tol)
    gpu = bk.is_gpu

    def finish(info, converged, niter, hist, message, true_res, space, **extra):
        res = tally.result(info, converged, niter, hist, message, true_res)
        return dataclasses.replace(res, recycle=space, extra=extra)

    Ur = Cr = None
    reprojected = False
    space_in = recycle
    if recycle is not None:
        Ur, Cr, _, reprojected = prepare_space(recycle, op, fingerprint, same_operator, bk,
                                               None, None, tally)
        if Ur.shape[0] == 0:
            Ur = Cr = None
        elif reprojected:
            space_in = _space(bk, Ur, Cr, fingerprint)
    if bnorm == 0.0:
        x[...] = 0
        return finish(0, True, 0, [0.0], "b is zero: the solution is x = 0", 0.0, space_in,
                      updates=0, reprojected=reprojected)

    # ---- the deflation: E = U^H A U = U^H C, factorised on the host
    Einv = None
    if Ur is not None:
        E = bk.to_host(_hdot(xp, Ur, Cr.T, is_complex)).astype(hdt)
        E = 0.5 * (E + E.conj().T)
        w = np.linalg.eigvalsh(E)
        if not np.all(np.isfinite(w)):
            raise ValueError("the recycle space gives non-finite U^H A U")
        if w[0] <= 1e-12 * abs(w[-1]):
            return finish(-1, False, 0, [float("nan")],
                          "A is not positive definite on the recycle space: U^H A U has an "
                          f"eigenvalue {w[0]:.3g} <= 0", float("nan"), space_in, updates=0,
                          reprojected=reprojected)
        Einv = xp.asarray(sla.inv(E).astype(dtype, copy=False))

    def deflate_coef(v, rows):
        """``E^{-1} rows^H v`` (on the device)."""
        return Einv @ _hdot(xp, rows, v, is_complex)

    r = xp.empty_like(b_vec)
    if sys.x0_is_zero:
        r[...] = b_vec
    else:
        op.residual(x, b_vec, r)
        tally.mv += 1
    if Ur is not None:  # Galerkin start: x += U E^{-1} U^H r, r -= C E^{-1} U^H r
        mu = deflate_coef(r, Ur)
        x += mu @ Ur
        r -= mu @ Cr
    rr = float(xp.vdot(r, r).real)
    r0 = math.sqrt(rr)
    hist = [rr]
    if not math.isfinite(r0):
        return finish(-3, False, 0, [r0], "non-finite initial residual", r0, space_in,
                      updates=0, reprojected=reprojected)
    if r0 <= tol:
        tr = r0
        if Ur is not None:
            tr = math.sqrt(float(op.residual(x, b_vec, r)))
            tally.mv += 1
        if tr <= tol:
            msg = ("x0 already satisfies the tolerance" if Ur is None else
                   "converged by the projection onto the recycle space (0 iterations)")
            return finish(0, True, 0, [tr], msg, tr, space_in, updates=0,
                          reprojected=reprojected)
        rr = tr * tr

    z = xp.empty_like(b_vec)
    q = xp.empty_like(b_vec)
    axpy = get_kernel("axpy", bk.engine)
    r_update = get_kernel("r_update", bk.engine)

    def precondition():
        if prec is not None:
            prec.apply(r, z)
            tally.pc += 1
            return xp.vdot(r, z).real
        z[...] = r
        return rr

    rz = precondition()
    p = z.copy()
    if Ur is not None:
        p -= deflate_coef(z, Cr) @ Ur
    # window of directions p_j / sqrt(p^H A p) and their images, for the space update
    Pw = xp.empty((s_win, n), dtype=dtype)
    Qw = xp.empty((s_win, n), dtype=dtype)
    nw = 0
    Ya, AYa = Ur, Cr  # the space being built for the next solve
    updates = 0

    info = maxiter
    converged = False
    message = f"maxiter={maxiter} iterations reached without meeting the tolerance"
    limit = maxiter
    if prec is not None and not gpu and not float(rz) > 0:
        info, limit = -2, 0  # as cg: M is not positive definite, A is not to blame
        message = f"the preconditioner is not positive definite: r^H M r = {float(rz):.3g} <= 0"
    niter = 0
    true_res = float("nan")
    best_true = math.inf
    stalls = 0
    it = 0
    while it < limit:
        it += 1
        pq = op.matvec_dot(p, q)  # q = A p and Re(p^H q) in one pass where fused
        tally.mv += 1
        pq_h = float(pq) if (not gpu or it % check_every == 0) else None
        if pq_h is not None and not pq_h > 0:
            niter = it - 1
            if math.isnan(pq_h):
                info, message = -3, f"non-finite value p^H A p at iteration {it}"
            else:
                info, message = -1, f"A is not positive definite: p^H A p = {pq_h:.3g} <= 0 " \
                    f"at iteration {it}"
            break
        alpha = rz / pq
        axpy(x, alpha, p)
        rr = r_update(r, q, alpha)  # r -= alpha q and ||r||^2 in one pass
        # keep the direction for the space update (unit A-norm)
        sc = 1.0 / xp.sqrt(xp.abs(pq))
        xp.multiply(p, sc, out=Pw[nw])
        xp.multiply(q, sc, out=Qw[nw])
        nw += 1
        if nw == s_win:
            Ya, AYa = _harmonic_update(xp, bk, dtype, Ya, AYa, Pw[:nw], Qw[:nw], k, is_complex)
            updates += 1
            nw = 0
        niter = it
        if not gpu:
            rr = float(rr)
        hist.append(rr)  # squared norms; device scalars on the GPU
        if it % check_every == 0 or it == maxiter:
            rr_h = float(rr)
            if not math.isfinite(rr_h):
                info, message = -3, f"non-finite residual at iteration {it}"
                break
            if math.sqrt(rr_h) <= tol:
                tmp = q  # q is free until the next product
                tr = math.sqrt(float(op.residual(x, b_vec, tmp)))
                tally.mv += 1
                true_res = tr
                if tr <= tol:
                    info, converged = 0, True
                    message = f"converged in {it} iterations"
                    hist[-1] = tr * tr
                    if callback is not None:
                        callback(x)
                    break
                # residual replacement, restart the directions
                r[...] = tmp
                rr = tr * tr
                hist[-1] = rr
                stalls = stalls + 1 if tr > 0.5 * best_true else 0
                best_true = min(best_true, tr)
                if stalls >= 5:
                    info = -3
                    message = stagnation_message(tr, tol, dtype)
                    if callback is not None:
                        callback(x)
                    break
                rz = precondition()
                p[...] = z
                if Ur is not None:
                    p -= deflate_coef(z, Cr) @ Ur
                if callback is not None:
                    callback(x)
                continue
        rz_new = precondition()
        if not gpu:
            rz_new = float(rz_new)
            if not rz_new > 0:
                if rr == 0.0:
                    info, converged, message = 0, True, f"exact solution at iteration {it}"
                    true_res = 0.0
                    if callback is not None:
                        callback(x)
                    break
                info = -2
                message = (f"the preconditioner is not positive definite: r^H M r = "
                           f"{rz_new:.3g} <= 0 at iteration {it}")
                if callback is not None:
                    callback(x)
                break
        beta = rz_new / rz
        rz = rz_new
        p *= beta
        p += z
        if Ur is not None:
            p -= deflate_coef(z, Cr) @ Ur
        if callback is not None:
            callback(x)

    hist = [math.sqrt(max(float(h), 0.0)) for h in hist]
    if not converged:
        tmp = xp.empty_like(b_vec)
        true_res = math.sqrt(float(op.residual(x, b_vec, tmp)))
        tally.mv += 1
        if info > 0 and true_res <= tol:
            info, converged, message = 0, True, f"converged in {niter} iterations"
        elif info > 0:
            info = niter
    if info >= 0 and nw > 0:
        Ya, AYa = _harmonic_update(xp, bk, dtype, Ya, AYa, Pw[:nw], Qw[:nw], k, is_complex)
        updates += 1
    space_out = space_in
    if updates and Ya is not None and Ya.shape[0]:
        Un, Cn = orthonormalize_pair(xp, Ya, AYa)
        if Un.shape[0]:
            space_out = _space(bk, Un, Cn, fingerprint)
    del hist[niter + 1 :]
    return finish(info, converged, niter, hist, message, true_res, space_out, updates=updates,
                  reprojected=reprojected)


def _space(bk, Ur, Cr, fingerprint):
    return RecycleSpace(bk.to_output(Ur.T.copy()), bk.to_output(Cr.T.copy()), fingerprint,
                        "rcg")
