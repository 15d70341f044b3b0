"""GCRO-DR: GMRES with deflated restarting and a recycle space carried between solves."""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from .._validation import check_maxiter, check_tolerances
from ._gmres import _Hessenberg
from ._recycle import (
    RecycleSpace,
    check_space,
    operator_fingerprint,
    orthonormalize_pair,
    precond_fingerprint,
    prepare_space,
)
from ._system import (
    Tally,
    check_loop_options,
    cycle_stall_message,
    make_system,
    singular_message,
)

__all__ = ["gcrodr"]

_STALL_FRACTION = 1e-7


def check_k_m(k, m):
    """Validate the recycle size ``k`` and the cycle length ``m`` (``1 <= k < m``)."""
    for name, v in (("k", k), ("m", m)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {v!r}")
    if k < 1:
        raise ValueError(f"k (the number of recycled vectors) must be >= 1, got k={k}")
    if k >= m:
        raise ValueError(
            f"k must be smaller than m (the cycle length): got k={k}, m={m}; each cycle adds "
            f"m - k new Krylov vectors, e.g. k=20, m=40"
        )
    return int(k), int(m)


def _hdot(xp, rows, v, is_complex):
    """``rows^H v`` for a block stored as rows."""
    return rows.conj() @ v if is_complex else rows @ v


def _harmonic_coefficients(G, T, kk, real):
    """Coefficients ``P`` of the ``kk`` harmonic Ritz vectors of smallest magnitude.

    Solves ``G^H G z = theta G^H T z``; for real problems the complex pairs are
    replaced by a real basis of the same span (leading singular vectors).
    """
    import scipy.linalg as sla

    GH = G.conj().T
    try:
        theta, Z = sla.eig(GH @ G, GH @ T, check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        return None
    ok = np.isfinite(theta)
    if not ok.any():
        return None
    idx = np.flatnonzero(ok)[np.argsort(np.abs(theta[ok]))]
    Z = Z[:, idx[: min(kk, idx.size)]]
    if real:
        Z = np.hstack([Z.real, Z.imag])
    nrm = np.linalg.norm(Z, axis=0)
    Z = Z[:, nrm > 0] / nrm[nrm > 0]
    if Z.shape[1] == 0:
        return None
    Us, s, _ = np.linalg.svd(Z, full_matrices=False)
    r = int(np.sum(s > 1e-10 * s[0]))
    return Us[:, : min(kk, r)]


def gcrodr(
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
    same_precond=None,
    check_every=None,
):
    """Solve ``A x = b`` by GCRO-DR(m, k), recycling a subspace between solves.

    GCRO-DR (GCRO with deflated restarting, Parks et al. 2006) is restarted
    GMRES that keeps ``k`` harmonic Ritz vectors from one cycle to the next
    instead of discarding the whole basis, and -- its point -- carries them to
    the next system of a sequence: the result's ``recycle`` attribute is an
    immutable :class:`RecycleSpace` ``(U, C = A U)`` to pass as ``recycle=``
    to the next call.  Each solve first removes the part of the residual in
    ``range(C)`` (``x += U C^H r``), then runs cycles of ``m - k`` Arnoldi
    steps with ``(I - C C^H) A M``.

    Parameters
    ----------
    A : {ndarray, sparse matrix or array, LinearOperator, callable, lrsolve operator}
        Square matrix of shape ``(n, n)`` (non-symmetric and complex included).
    b : ndarray
        Right-hand side of shape ``(n,)`` or ``(n, 1)``.
    x0 : ndarray or 'Mb', optional
        Starting guess (default zeros), or ``'Mb'`` (SciPy's: the preconditioned
        right-hand side).  It is not modified.
    rtol, atol : float, optional
        The solver stops when the *true* residual satisfies
        ``norm(b - A @ x) <= max(rtol * norm(b), atol)``.  Defaults ``1e-5`` and ``0``.
    maxiter : int, optional
        Maximum number of Arnoldi iterations (products with ``A`` inside the
        cycles; default ``10 * n``).  Restarts do not reset the count.
    M : {ndarray, sparse matrix, LinearOperator, callable}, optional
        Preconditioner, an approximation of ``A^{-1}``, applied on the right as
        in :func:`lrsolve.gmres`: the residual minimised and reported is the
        true ``b - A x``.  The preconditioned directions are stored, so ``M``
        may change between calls (and even within one, as in FGMRES).
    precond : str, tuple or Preconditioner, optional
        A preconditioner by name (see :func:`lrsolve.precond.available`), a
        ``(name, options)`` pair or an object from :mod:`lrsolve.precond`.
        Give either ``M`` or ``precond``.
    callback : callable, optional
        Called as ``callback(xk)`` exactly once per Arnoldi iteration with the
        current iterate (which costs a small solve and a product with the basis).
    recycle : RecycleSpace, optional
        The ``recycle`` attribute of an earlier :func:`gcrodr` (or
        :func:`rcg`) result for a system of the same size and dtype.  It is
        never modified.  When it was built for another operator, ``C = A U``
        is recomputed (``k`` products) and re-orthonormalised.  A space with
        more than ``k`` vectors is cut to its first ``k``.  With a
        preconditioner, the space's preconditioned directions ``S`` are used
        and ``U = M S`` is formed anew when they belong to another
        preconditioner (``k`` applications of ``M``).  A space without ``S``
        (built without a preconditioner, or by :func:`rcg`) keeps its ``U``
        and gets ``S = M^{-1} U`` from preconditioners that have that product
        (``"jacobi"``, ``"ic0"``); with the others its ``U`` is taken as ``S``.
    k : int, optional
        Number of recycled vectors (default 20), ``1 <= k < m``.
    m : int, optional
        Cycle length: the recycled vectors plus the new Krylov vectors (default
        40, capped at ``n``).  Memory is about ``(2 m + 2 k) n`` entries with a
        preconditioner, ``(m + 2 k) n`` without.
    same_operator : bool, optional
        Whether ``A`` is the operator the ``recycle`` space was built for.  By
        default this is decided by :func:`operator_fingerprint` (a hash of
        the entries of explicit matrices, the object identity otherwise).
        ``True`` skips the re-projection (only correct when ``C = A U``
        still holds); ``False`` forces it.
    same_precond : bool, optional
        Whether the preconditioner is (close enough to) the one the
        ``recycle`` space's preconditioned directions ``S`` were built for.
        By default this is decided by fingerprints; when it differs, ``U = M S``
        is recomputed first (``k`` applications of ``M``).  ``True`` keeps
        ``U`` and ``S`` as they are (``C = A U`` stays exact; ``S`` only guides
        the choice of the harmonic Ritz vectors of the first cycle) -- cheaper
        for a sequence whose preconditioners barely change, such as AMG
        hierarchies re-used with :meth:`lrsolve.precond.AMG.with_matrix`.
        ``False`` forces the recomputation.
    check_every : int, optional
        Test the residual estimate every ``check_every`` iterations (default 1
        on the CPU, 10 on the GPU).  A callback forces 1.

    Returns
    -------
    SolveResult
        Unpacks as ``x, info`` (``info`` as in :func:`lrsolve.gmres`).
        ``result.recycle`` is the :class:`RecycleSpace` for the next solve
        (``None`` only after a breakdown before the first cycle ended);
        ``n_matvec`` counts every product with ``A``, including the
        re-projection of a space and the true residuals; ``extra`` holds
        ``cycles`` and ``reprojected``.

    Raises
    ------
    ValueError
        ``k >= m``, ``k < 1``, a recycle space of another size or dtype, and the
        input errors of :func:`lrsolve.gmres`.

    See Also
    --------
    rcg : the recycling conjugate gradient method for SPD sequences.
    solve_sequence : sorts a sequence of systems and solves it with recycling.
    scipy.sparse.linalg.gcrotmk : SciPy's GCROT(m, k), which mutates its ``CU`` argument.

    Notes
    -----
    The space is kept in the unpreconditioned variables, ``U`` (directions for
    ``x``) and ``C = A U`` with orthonormal columns, so it stays valid when
    the preconditioner changes.  At the end of every cycle the ``k`` harmonic
    Ritz vectors of smallest magnitude of the projected problem
    ``G^H G z = theta G^H V^H W z`` replace ``U`` (Parks et al., Alg. 2.1); with
    a preconditioner, ``V^H W`` is replaced by the identity as in flexible
    GCRO-DR (Carvalho et al. 2011), which targets the small eigenvalues of
    ``A M``.

    References
    ----------
    .. [1] M. L. Parks, E. de Sturler, G. Mackey, D. D. Johnson and S. Maiti,
       "Recycling Krylov subspaces for sequences of linear systems", SIAM J.
       Sci. Comput. 28 (2006).
    .. [2] L. M. Carvalho, S. Gratton, R. Lago and X. Vasseur, "A flexible
       generalized conjugate residual method with inner orthogonalization and
       deflated restarting", SIAM J. Matrix Anal. Appl. 32 (2011).
    .. [3] H. Wang et al., "Accelerating data generation for neural operators
       via Krylov subspace recycling", ICLR 2024.

    Examples
    --------
    A convection-diffusion system, then a slightly perturbed one solved with
    the recycled space:

    >>> import numpy as np, scipy.sparse as sp, lrsolve
    >>> n = 30
    >>> L = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    >>> D = sp.diags([-1.0, 1.0], [-1, 1], shape=(n, n))
    >>> I = sp.eye(n)
    >>> A = (sp.kron(L, I) + sp.kron(I, L) + 0.5 * sp.kron(D, I)).tocsr()
    >>> b = np.ones(n * n)
    >>> first = lrsolve.krylov.gcrodr(A, b, rtol=1e-8, k=10, m=30)
    >>> first.converged
    True
    >>> A2 = (A + 0.01 * sp.eye(n * n)).tocsr()
    >>> second = lrsolve.krylov.gcrodr(A2, b, rtol=1e-8, k=10, m=30,
    ...                                recycle=first.recycle)
    >>> second.converged, second.n_matvec < first.n_matvec
    (True, True)
    >>> bool(np.linalg.norm(b - A2 @ second.x) <= 1e-8 * np.linalg.norm(b))
    True
    """
    sys = make_system(A, b, x0, M=M, precond=precond, name="gcrodr")
    bk, op, prec, xp = sys.bk, sys.op, sys.prec, sys.xp
    n, dtype = sys.n, sys.dtype
    k, m = check_k_m(k, m)
    if recycle is not None:
        check_space(recycle, n, dtype, "gcrodr")
    if same_operator is not None and not isinstance(same_operator, (bool, np.bool_)):
        raise TypeError(f"same_operator must be True, False or None, got {same_operator!r}")
    if same_precond is not None and not isinstance(same_precond, (bool, np.bool_)):
        raise TypeError(f"same_precond must be True, False or None, got {same_precond!r}")
    m = min(m, n)
    k = min(k, max(m - 1, 1))
    maxiter = check_maxiter(maxiter, 10 * n)
    check_every = check_loop_options(bk, check_every, callback)
    if callback is not None:
        check_every = 1
    fingerprint = operator_fingerprint(A)
    pfp = precond_fingerprint(M, precond, fingerprint)

    b_vec, x = sys.b, sys.x
    bnorm = float(xp.linalg.norm(b_vec))
    tol = check_tolerances(rtol, atol, bnorm)
    is_complex = np.dtype(dtype).kind == "c"
    hdt = np.complex128 if is_complex else np.float64
    eps = float(np.finfo(dtype).eps)
    tally = Tally(sys, tol)

    def finish(info, converged, niter, hist, message, true_res, space, **extra):
        res = tally.result(info, converged, niter, hist, message, true_res)
        return dataclasses.replace(res, recycle=space, extra=extra)

    # ---- the recycle space, valid for this operator
    Ur = Cr = Sr = None
    reprojected = False
    space_in = recycle
    if recycle is not None:
        Ur, Cr, Sr, reprojected = prepare_space(recycle, op, fingerprint, same_operator, bk,
                                                prec, pfp, tally, kmax=k,
                                                same_precond=same_precond)
        if reprojected or Ur.shape[0] < recycle.k:
            space_in = (_make_space(bk, Ur, Cr, Sr, fingerprint, pfp, prec is not None)
                        if Ur.shape[0] else None)
        if Ur.shape[0] == 0:
            Ur = Cr = Sr = None

    if bnorm == 0.0:
        x[...] = 0
        return finish(0, True, 0, [0.0], "b is zero: the solution is x = 0", 0.0, space_in,
                      cycles=0, reprojected=reprojected)

    r = xp.empty_like(b_vec)
    if sys.x0_is_zero:
        r[...] = b_vec
    else:
        op.residual(x, b_vec, r)
        tally.mv += 1
    r0norm = float(xp.linalg.norm(r))
    if not math.isfinite(r0norm):
        return finish(-3, False, 0, [r0norm], "non-finite initial residual", r0norm, space_in,
                      cycles=0, reprojected=reprojected)
    hist = [r0norm]
    if Ur is not None and r0norm > tol:
        # x += U C^H r, r -= C C^H r: the part of the residual in range(C) is removed
        cr = _hdot(xp, Cr, r, is_complex)
        x += cr @ Ur
        r -= cr @ Cr
    beta = float(xp.linalg.norm(r))
    if beta <= tol:
        hist[-1] = beta
        msg = ("x0 already satisfies the tolerance" if Ur is None else
               "converged by the projection onto the recycle space (0 iterations)")
        # the projected residual is a recurrence: confirm with the true one
        tr = math.sqrt(float(op.residual(x, b_vec, r))) if Ur is not None else beta
        tally.mv += Ur is not None
        if tr <= tol:
            return finish(0, True, 0, [tr], msg, tr, space_in, cycles=0,
                          reprojected=reprojected)
        beta = tr

    # Q = [C; V]: the recycled C and the cycle's Arnoldi basis in one block, so that each
    # Gram-Schmidt pass against both is one product (and C^H r, the new C one product each)
    Q = xp.empty((m + 1, n), dtype=dtype)
    Z = xp.empty((m, n), dtype=dtype) if prec is not None else None
    Hdev = xp.zeros((m + 2, m), dtype=dtype)  # row m + 1: ||A z_j||
    Bdev = xp.zeros((k, m), dtype=dtype)
    xk = xp.empty_like(b_vec) if callback is not None else None

    niter = 0
    info = 0
    converged = False
    message = ""
    true_res = beta
    cycles = 0
    space_out = space_in
    while True:
        kc = 0 if Ur is None else Ur.shape[0]
        steps = m if kc == 0 else m - kc
        if kc:
            Q[:kc] = Cr
        V = Q[kc:]
        cvec = (bk.to_host(_hdot(xp, Cr, r, is_complex)).astype(hdt) if kc
                else np.zeros(0, dtype=hdt))
        xp.multiply(r, 1.0 / beta, out=V[0])
        hs = _Hessenberg(steps, beta, is_complex)
        Hh = np.zeros((steps + 1, steps), dtype=hdt)
        Bh = np.zeros((kc, steps), dtype=hdt)
        est = beta
        jc = 0
        lucky = singular = False
        stop = False
        for j in range(steps):
            if niter >= maxiter:
                break
            if prec is not None:
                zj = Z[j]
                prec.apply(V[j], zj)
                tally.pc += 1
            else:
                zj = V[j]
            w = V[j + 1]
            op.matvec(zj, out=w)
            tally.mv += 1
            niter += 1
            Hdev[m + 1, j] = xp.linalg.norm(w)
            # classical Gram-Schmidt twice against [C; V_j] (C and V_j are orthonormal and
            # mutually orthogonal): two gemv's per pass
            Qj = Q[: kc + j + 1]
            h = _hdot(xp, Qj, w, is_complex)
            w -= h @ Qj
            h2 = _hdot(xp, Qj, w, is_complex)
            w -= h2 @ Qj
            h += h2
            hn = xp.linalg.norm(w)
            if kc:
                Bdev[:kc, j] = h[:kc]
            Hdev[: j + 1, j] = h[kc:]
            Hdev[j + 1, j] = hn
            w *= 1.0 / xp.where(hn == 0, 1.0, hn)
            if not (niter % check_every == 0 or j == steps - 1 or niter == maxiter):
                continue
            cols = bk.to_host(Hdev[:, hs.k : j + 1])
            if kc:
                Bh[:, hs.k : j + 1] = bk.to_host(Bdev[:kc, hs.k : j + 1])
            for c in range(cols.shape[1]):
                jj = hs.k
                hcol = cols[: jj + 2, c]
                azn = float(abs(cols[m + 1, c]))
                if not np.isfinite(hcol).all():
                    info = -3
                    message = f"non-finite values in the Arnoldi process at iteration {niter}"
                    break
                Hh[: jj + 2, jj] = hcol
                est, diag = hs.add(hcol)
                hist.append(est)
                jc = jj + 1
                if abs(diag) <= eps * azn or azn == 0.0:
                    # the new column is dependent on the earlier ones (A M looks singular):
                    # it is left out of the least-squares problem, whose triangle it would
                    # make singular
                    jc = jj
                    singular = stop = True
                    if len(hist) > 1:
                        hist[-1] = hist[-2]
                    est = hist[-1]  # the rejected column's estimate is not a residual
                    break
                if abs(hcol[jj + 1]) <= eps * azn:
                    lucky = stop = True
                    break
                if est <= tol:
                    stop = True
            if info < 0:
                break
            while len(hist) < niter + 1:
                hist.append(est)
            if callback is not None:
                y2 = hs.solve(jc)
                _correction(xp, dtype, x, Ur, cvec, Bh, y2, jc, V, Z, xk)
                callback(xk)
            if stop:
                break
        if info < 0:
            break
        cycles += 1
        # ---- end of cycle: update x, verify with the true residual, update the space
        if jc > 0:
            y2 = hs.solve(jc)
            if callback is not None:
                x[...] = xk
            else:
                _correction(xp, dtype, x, Ur, cvec, Bh, y2, jc, V, Z, x)
        prev_res = true_res
        rr = float(op.residual(x, b_vec, r))
        tally.mv += 1
        true_res = math.sqrt(rr) if rr >= 0 else float("nan")
        hist[-1] = true_res
        if not math.isfinite(true_res):
            info, message = -3, f"non-finite true residual after {niter} iterations"
            break
        if jc > 0:
            new = _new_space(xp, bk, dtype, Ur, Sr, Bh[:, :jc], Hh[: jc + 1, :jc], jc, Q, kc,
                             Z, k, is_complex=is_complex)
            if new is not None:
                Ur, Cr, Sr = new
                space_out = None  # made below, once
        if true_res <= tol:
            converged, info = True, 0
            message = f"converged in {niter} iterations"
            break
        if niter >= maxiter:
            info = niter
            message = f"maxiter={maxiter} iterations reached without meeting the tolerance"
            break
        if singular:
            info = -3
            message = singular_message(niter, true_res, tol)
            break
        if lucky and jc > 0 and true_res > prev_res * (1.0 - max(_STALL_FRACTION, 100 * eps)):
            info = -3
            message = (
                f"breakdown at iteration {niter}: the Krylov space became invariant (or A "
                f"looks singular) but the true residual {true_res:.3g} stays above the "
                f"tolerance {tol:.3g}"
            )
            break
        if jc == steps and true_res > prev_res * (1.0 - max(_STALL_FRACTION, 100 * eps)):
            info = -3
            message = cycle_stall_message(true_res, tol, dtype, "", "m")
            break
        if jc == 0:
            info = -3
            message = f"breakdown at iteration {niter}: no Krylov vector could be added"
            break
        beta = true_res

    if space_out is None and Ur is not None:
        Ur, Cr, Sr = orthonormalize_pair(xp, Ur, Cr, Sr)
        space_out = (_make_space(bk, Ur, Cr, Sr, fingerprint, pfp, prec is not None)
                     if Ur.shape[0] else space_in)
    del hist[niter + 1 :]
    while len(hist) < niter + 1:
        hist.append(true_res)
    return finish(info, converged, niter, hist, message, true_res, space_out, cycles=cycles,
                  reprojected=reprojected)


def _correction(xp, dtype, x, Ur, cvec, Bh, y2, jc, V, Z, out):
    """``out = x + U (C^H r - B y2) + Z y2`` (``Z = V`` without a preconditioner)."""
    yd = xp.asarray(y2.astype(dtype, copy=False))
    basis = Z[:jc] if Z is not None else V[:jc]
    upd = yd @ basis
    if Ur is not None and Ur.shape[0]:
        y1 = cvec - Bh[:, :jc] @ y2
        upd += xp.asarray(y1.astype(dtype, copy=False)) @ Ur
    if out is x:
        x += upd
    else:
        xp.add(x, upd, out=out)
    return out


def _new_space(xp, bk, dtype, Ur, Sr, Bh, Hh, jc, Q, kc, Z, k, is_complex):
    """The ``k`` harmonic Ritz vectors of the cycle as a new ``(U, C, S)`` (rows).

    In the variables of the preconditioned operator ``A M`` the search space is
    ``W = [S D, V_j]`` with ``A M W = [C, V_{j+1}] G``; the harmonic Ritz problem
    ``G^H G z = theta G^H [C, V]^H W z`` is exact (Parks et al.).  ``U = M S`` and
    ``Z = M V`` carry the same coefficients in the variables of ``x``.  ``Q`` holds
    ``[C; V]`` as rows (``C`` the first ``kc``).
    """
    hdt = Hh.dtype
    nc = kc + jc
    CV = Q[: nc + 1]  # [C; V_{j+1}]
    V = Q[kc:]
    G = np.zeros((nc + 1, nc), dtype=hdt)
    T = np.zeros((nc + 1, nc), dtype=hdt)
    T[kc : kc + jc, kc:] = np.eye(jc)
    if kc:
        snorm = bk.to_host(xp.sqrt(xp.sum(xp.abs(Sr) ** 2, axis=1))).astype(float)
        if not np.all(snorm > 0) or not np.all(np.isfinite(snorm)):
            return None
        d = 1.0 / snorm
        G[:kc, :kc] = np.diag(d)
        G[:kc, kc:] = Bh
        T[:, :kc] = bk.to_host(_hdot(xp, CV, Sr.T, is_complex)).astype(hdt) * d
    G[kc:, kc:] = Hh
    if not (np.isfinite(G).all() and np.isfinite(T).all()):
        return None
    P = _harmonic_coefficients(G, T, min(k, nc), real=not is_complex)
    if P is None:
        return None
    GP = G @ P
    Xs, s, Yh = np.linalg.svd(GP, full_matrices=False)
    if s.size == 0 or not s[0] > 0:
        return None
    keep = s > 1e3 * float(np.finfo(dtype).eps) * s[0]
    Xs, s, Yh = Xs[:, keep], s[keep], Yh[keep]
    Wc = P @ (Yh.conj().T / s)  # coefficients of the new directions in [S D, V] / [U D, Z]

    def cast(a):
        return xp.asarray(np.ascontiguousarray(a.T).astype(dtype, copy=False))

    Sn = cast(Wc[kc:]) @ V[:jc]
    Un = cast(Wc[kc:]) @ Z[:jc] if Z is not None else Sn
    Cn = cast(Xs) @ CV
    if kc:
        Wd = cast(Wc[:kc] * d[:, None])
        Sn += Wd @ Sr
        if Z is not None:
            Un += Wd @ Ur
    return Un, Cn, Sn


def _make_space(bk, Ur, Cr, Sr, fingerprint, pfp, with_s, method="gcrodr"):
    U = bk.to_output(Ur.T.copy())
    C = bk.to_output(Cr.T.copy())
    S = bk.to_output(Sr.T.copy()) if (with_s and Sr is not None) else None
    return RecycleSpace(U, C, fingerprint, method, S=S,
                        precond_fingerprint=pfp if S is not None else None)
