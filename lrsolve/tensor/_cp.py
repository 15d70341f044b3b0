"""CP (CANDECOMP/PARAFAC) decomposition by alternating least squares.

* MTTKRP without a Khatri-Rao product: for order 3, each pass over the tensor (one GEMM)
  serves two factor updates (1.5 passes per sweep); otherwise a two-level dimension tree
  contracts the tensor twice per sweep, whatever the order.
* Normal equations solved by Cholesky of the Hadamard product of the factor Grams, with
  an eigenvalue-regularised fallback: no ``Singular matrix`` exception, ever.
* The relative error of the current iterate comes for free from the first MTTKRP of the
  next sweep; near an exact fit (where that formula loses digits) it is formed explicitly.
* Bro's extrapolation line search, accepted only if the error decreases.
* ``nonneg=True``: HALS updates; ``mask``: EM imputation of the missing entries.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._algebra import contract_batched, contract_head, contract_tail, khatri_rao, multi_mode_dot
from ._common import as_tensor, check_int, check_mask, check_tol, eps_of, host_rng
from ._containers import CPTensor
from ._tt import _spd_solve
from ._tucker import _gram

__all__ = ["cp", "parafac", "core_consistency"]


def _check_cp_rank(rank, shape):
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral):
        raise TypeError(f"rank must be a positive integer (the number of components), got {rank!r}")
    if rank < 1:
        raise ValueError(f"rank must be >= 1, got {rank}")
    bound = min(
        int(np.prod([s for j, s in enumerate(shape) if j != k], dtype=np.int64))
        for k in range(len(shape))
    )
    if rank > bound:
        raise ValueError(
            f"rank={rank} is larger than the data allows: a tensor of shape {tuple(shape)} has CP "
            f"rank at most {bound} (the smallest product of all dimensions but one); "
            f"use rank <= {bound}"
        )
    return int(rank)


def _split(shape):
    """Dimension-tree split s: modes 0..s-1 from one partial, s..N-1 from the other."""
    N = len(shape)
    best, bs = None, 1
    for s in range(1, N):
        cost = int(np.prod(shape[:s])) + int(np.prod(shape[s:]))
        if best is None or cost < best:
            best, bs = cost, s
    return bs


def _svd_init(bk, X, rank, rng, dtype):
    """Leading left singular vectors of each unfolding (Gram + eigh; random columns pad)."""
    xp = bk.xp
    factors = []
    for n in range(X.ndim):
        In = X.shape[n]
        P = X.size // In
        k = min(rank, In, P)
        if In <= P and In <= max(64, 4 * k):
            w, V = xp.linalg.eigh(_gram(xp, X, n))
            U = V[:, ::-1][:, :k]
        elif In <= P:  # large mode, few components: subspace iteration on the Gram matrix
            G = _gram(xp, X, n)
            Q = xp.asarray(rng.standard_normal((In, min(k + 5, In))).astype(dtype))
            for _ in range(4):
                Q, _ = xp.linalg.qr(G @ Q)
            w, V = xp.linalg.eigh(Q.T @ G @ Q)
            U = Q @ V[:, ::-1][:, :k]
        else:  # tall unfolding: randomized range finder (no dense SVD of a huge matrix)
            Xn = xp.reshape(xp.moveaxis(X, n, 0), (In, P))
            Om = xp.asarray(rng.standard_normal((P, min(k + 10, P))).astype(dtype))
            Q, _ = xp.linalg.qr(Xn @ Om)
            Q, _ = xp.linalg.qr(Xn @ (Xn.T @ Q))
            Ub, _, _ = xp.linalg.svd(Q.T @ Xn, full_matrices=False)
            U = (Q @ Ub)[:, :k]
        if k < rank:
            pad = xp.asarray(rng.standard_normal((In, rank - k)).astype(dtype))
            U = xp.concatenate([U, pad / math.sqrt(In)], axis=1)
        factors.append(U.astype(dtype))
    return factors


def _hadamard_except(xp, grams, n, R, dtype):
    V = xp.ones((R, R), dtype=dtype)
    for k, G in enumerate(grams):
        if k != n:
            V = V * G
    return V


def _hals_update(xp, A, M, V, floor):
    A = A.copy()
    for r in range(A.shape[1]):
        d = V[r, r]
        upd = A[:, r] + (M[:, r] - A @ V[:, r]) / xp.where(d > 0, d, 1)
        A[:, r] = xp.maximum(upd, floor)
    return A


def _rebalance(xp, factors, return_scales=False):
    """Equalise the column norms across modes (the represented tensor is unchanged)."""
    N = len(factors)
    norms = [xp.linalg.norm(f, axis=0) for f in factors]
    prod = norms[0]
    for nm in norms[1:]:
        prod = prod * nm
    target = prod ** (1.0 / N)
    out, scales = [], []
    for f, nm in zip(factors, norms, strict=False):
        scale = xp.where(nm > 0, target / xp.where(nm > 0, nm, 1), 1)
        out.append(f * scale[None, :])
        scales.append(scale)
    return (out, scales) if return_scales else out


def core_consistency(X, cp_tensor):
    """Core consistency diagnostic (CORCONDIA, Bro and Kiers, 2003) of a CP model of ``X``.

    The Tucker core that best fits ``X`` with the CP factors held fixed is compared with
    the superdiagonal core of the CP model: ``100 (1 - ||G - T||^2 / R)``.  Values near
    100 support the model; low or negative values suggest too many components.

    Parameters
    ----------
    X : array_like
        The data tensor.
    cp_tensor : CPTensor or tuple
        ``(weights, factors)`` of a CP model of ``X``.

    Returns
    -------
    float
        The core consistency in percent (at most 100).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import CPTensor, core_consistency
    >>> rng = np.random.default_rng(0)
    >>> model = CPTensor(None, [rng.standard_normal((n, 2)) for n in (5, 6, 7)])
    >>> round(core_consistency(model.to_tensor(), model), 6)
    100.0
    """
    weights, factors = cp_tensor
    bk, X = as_tensor(X, allow_nonfinite=False)
    xp = bk.xp
    factors = [bk.asarray(f).astype(X.dtype) for f in factors]
    if weights is None:  # as CPTensor: no weights means unit weights
        weights = xp.ones(factors[0].shape[1], dtype=X.dtype)
    w = bk.asarray(weights).astype(X.dtype)
    if len(factors) != X.ndim:
        raise ValueError(f"cp_tensor has {len(factors)} factors but X has order {X.ndim}")
    R = factors[0].shape[1]
    f0 = factors[0] * w[None, :]
    pinvs = [xp.linalg.pinv(f) for f in [f0, *factors[1:]]]
    G = multi_mode_dot(X, pinvs)
    T = xp.zeros((R,) * X.ndim, dtype=X.dtype)
    idx = xp.arange(R)
    T[(idx,) * X.ndim] = 1
    return float(100.0 * (1.0 - float(xp.sum((G - T) ** 2)) / R))


def _diagnostics(bk, X, out, corcondia):
    xp = bk.xp
    weights, factors = out
    diag = {"component_norms": bk.to_host(weights)}
    conds = []
    for f in factors:
        s = bk.to_host(xp.linalg.svd(f, compute_uv=False)).astype(np.float64)
        conds.append(float((s[0] / s[-1]) ** 2) if s[-1] > 0 else float("inf"))
    diag["gram_condition"] = np.array(conds)
    R = out.rank
    if R > 1:
        C = xp.ones((R, R), dtype=X.dtype)
        for f in factors:
            C = C * (f.T @ f)  # factors have unit columns: cosines
        Ch = bk.to_host(C)
        np.fill_diagonal(Ch, np.inf)
        diag["min_congruence"] = float(Ch.min())
    else:
        diag["min_congruence"] = float("nan")
    if corcondia:
        diag["core_consistency"] = core_consistency(X, out)
    return diag


def cp(
    X,
    rank,
    *,
    method="als",
    init="svd",
    line_search=True,
    nonneg=False,
    mask=None,
    tol=1e-8,
    maxiter=500,
    rng=None,
    callback=None,
    l2_reg=0.0,
    diagnostics=True,
):
    """CP (CANDECOMP/PARAFAC) decomposition by alternating least squares.

    Parameters
    ----------
    X : array_like
        Tensor of order >= 2 (NumPy or CuPy).
    rank : int or "auto"
        Number of rank-one components (at most the smallest product of all dimensions
        but one).  ``"auto"`` estimates it first with
        :func:`lrsolve.tensor.cp_rank` (error curve, core consistency and
        replicability over ranks 1 to 5, random restarts drawn from ``rng``); its
        result is kept in ``diagnostics["rank_selection"]``.  Not with ``mask``.
    method : {"als"}, optional
        Alternating least squares (the only method; HALS is selected by ``nonneg``).
    init : {"svd", "random"} or CPTensor, optional
        ``"svd"``: leading singular vectors of the unfoldings (Gram + ``eigh``, random
        columns when ``rank`` exceeds a dimension); ``"random"``: Gaussian factors drawn
        on the host from ``rng``; or a starting CP tensor.
    line_search : bool, optional
        Bro's extrapolation every other sweep (from sweep 4), accepted only if the
        error decreases.  Not used with ``mask``.
    nonneg : bool, optional
        Nonnegative factors by hierarchical ALS (HALS) updates.
    mask : array_like of bool, optional
        ``True`` where ``X`` is observed; the missing entries are imputed from the model
        at every sweep (EM) and may hold NaN.  The error is measured on the observed
        entries.
    tol : float, optional
        Stop when the relative error changes by less than ``tol`` (at least ten machine
        epsilons of the data type) between sweeps; ``0`` runs ``maxiter`` sweeps.
    maxiter : int, optional
        Maximum number of sweeps.
    rng : int or numpy.random.Generator, optional
        Seed for random initialisations (drawn on the host, so CPU and GPU agree).
    callback : callable, optional
        ``callback(cp_tensor)`` after every sweep with the current :class:`CPTensor`
        (its ``errors`` hold the history); returning ``True`` stops.
    l2_reg : float, optional
        Tikhonov regularisation added to the normal equations.
    diagnostics : bool, optional
        Compute the degeneracy diagnostics, including the core consistency (one more
        contraction of ``X``).

    Returns
    -------
    CPTensor
        Unit-norm factor columns, the scales in ``weights`` (sorted decreasing); it
        unpacks as ``weights, factors``.  Attributes ``errors`` (relative error of each
        iterate, the first for the initialisation), ``n_iter``, ``converged`` and
        ``diagnostics``: ``component_norms``, ``gram_condition`` (condition number of
        each factor's Gram matrix), ``min_congruence`` (smallest product of column
        cosines over component pairs; near -1 signals diverging, cancelling components),
        ``core_consistency`` (CORCONDIA, percent), ``line_search_accepted``.

    Raises
    ------
    ValueError
        Bad rank, non-finite entries without a mask, a mask of the wrong shape,
        order-1 input.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import cp, CPTensor
    >>> rng = np.random.default_rng(0)
    >>> true = CPTensor(None, [rng.standard_normal((n, 3)) for n in (10, 11, 12)])
    >>> X = true.to_tensor()
    >>> model = cp(X, 3, tol=1e-14, rng=0)
    >>> weights, factors = model
    >>> model.relative_error(X) < 1e-8, model.converged
    (True, True)
    """
    bk, X = as_tensor(X, allow_nonfinite=mask is not None)
    xp = bk.xp
    if method != "als":
        raise ValueError(f"method must be 'als' (use nonneg=True for HALS), got {method!r}")
    selection = None
    if isinstance(rank, str) and rank == "auto":
        if mask is not None:
            raise ValueError("rank='auto' does not support mask; give an integer rank")
        from .selection import cp_rank

        rng = host_rng(rng)
        selection = cp_rank(X, rng=rng)
        rank = selection.rank
    R = _check_cp_rank(rank, X.shape)
    tol = check_tol("tol", tol, allow_zero=True)
    maxiter = check_int("maxiter", maxiter, minimum=0)
    if not isinstance(l2_reg, numbers.Real) or not math.isfinite(l2_reg) or l2_reg < 0:
        raise ValueError(f"l2_reg must be a finite number >= 0, got {l2_reg!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}")
    mask = check_mask(bk, mask, X.shape)
    dtype = X.dtype
    rng = host_rng(rng)
    if mask is not None:
        if not bool(xp.isfinite(X[mask]).all()):
            raise ValueError(
                "X has NaN or Inf at observed entries (mask True); mark them missing in mask"
            )
        X = xp.where(mask, X, 0).astype(dtype)
        Xobs = X
        nobs = int(mask.sum())
        fill = float(Xobs.sum()) / nobs
        X = xp.where(mask, Xobs, fill).astype(dtype)  # starting imputation: the observed mean
    # ------------------------------------------------------------------ initialisation
    if (isinstance(init, CPTensor) or (isinstance(init, tuple) and len(init) == 2)
            or (hasattr(init, "weights") and hasattr(init, "factors"))):
        # lrsolve's or TensorLy's CPTensor, or a (weights, factors) pair
        w0, f0 = (init.weights, init.factors) if hasattr(init, "factors") else init
        f0 = [bk.asarray(f).astype(dtype) for f in f0]
        if tuple(f.shape[0] for f in f0) != tuple(X.shape) or any(f.shape[1] != R for f in f0):
            raise ValueError(
                f"init has factor shapes {[tuple(f.shape) for f in f0]}; expected (I_k, {R}) for "
                f"shape {tuple(X.shape)}"
            )
        factors = list(f0)
        if w0 is not None:
            factors[0] = factors[0] * bk.asarray(w0).astype(dtype)[None, :]
    elif init == "svd":
        factors = _svd_init(bk, X, R, rng, dtype)
    elif init == "random":
        factors = [xp.asarray(rng.standard_normal((s, R)).astype(dtype)) for s in X.shape]
    else:
        raise ValueError(f"init must be 'svd', 'random' or a CPTensor, got {init!r}")
    if nonneg:
        factors = [xp.abs(f) for f in factors]
    factors = _rebalance(xp, factors)
    N = X.ndim
    # order 3: every pass over X serves two factor updates (passes contracting modes 2, 1 and
    # 0 in turn), i.e. 1.5 passes per sweep; otherwise a two-level dimension tree, 2 passes
    pair_mode = N == 3 and mask is None
    s = 2 if pair_mode else _split(X.shape)
    left, right = list(range(s)), list(range(s, N))
    eps = eps_of(dtype)
    floor = eps
    stop_tol = max(tol, 10 * eps) if tol > 0 else 0.0
    exact_threshold = min(1e-2, 1e4 * math.sqrt(eps))
    normX2 = (
        float(xp.vdot(X.ravel(), X.ravel()))
        if mask is None
        else float(xp.vdot(Xobs.ravel(), Xobs.ravel()))
    )
    normX = math.sqrt(normX2) if normX2 > 0 else 1.0
    use_ls = bool(line_search) and mask is None
    acc_pow, acc_fail, n_accept = 2.0, 0, 0

    def solve(n, M, grams):
        V = _hadamard_except(xp, grams, n, R, dtype)
        if nonneg:
            return _hals_update(xp, factors[n], M, V, floor)
        if l2_reg:
            V = V + l2_reg * xp.eye(R, dtype=dtype)
        return _spd_solve(xp, V, M)

    def explicit_error(facs):
        recon = xp.reshape(facs[0] @ khatri_rao(facs[1:]).T, X.shape)
        if mask is None:
            return float(xp.linalg.norm((X - recon).ravel())) / normX, recon
        return float(xp.linalg.norm(xp.where(mask, Xobs - recon, 0).ravel())) / normX, recon

    def start(facs, refresh=True, T1=None):
        """Partial T_L, the first MTTKRP and the error of ``facs`` (EM: refresh X first).

        With ``T1`` (order 3: ``X`` contracted with the current ``facs[1]``, layout
        ``(R, I_0, I_2)``) the first MTTKRP comes from it without a pass over ``X``.
        """
        nonlocal X
        if mask is not None:
            err, recon = explicit_error(facs)
            if refresh:
                X = xp.where(mask, Xobs, recon)
        if T1 is not None:
            TL = T1
            M0 = contract_batched(xp, T1, [facs[0], facs[2]], 0)
        else:
            TL = contract_tail(xp, X, facs, s)
            M0 = contract_batched(xp, TL, facs[:s], 0)
        if mask is None:
            grams = [f.T @ f for f in facs]
            V = _hadamard_except(xp, grams, -1, R, dtype)
            inner = float(xp.sum(M0 * facs[0], dtype=xp.float64))
            e2 = normX2 - 2.0 * inner + float(xp.sum(V, dtype=xp.float64))
            err = math.sqrt(max(e2, 0.0)) / normX
            if err < exact_threshold:
                err, _ = explicit_error(facs)
        return TL, M0, err

    errors = []
    pending = None  # (extrapolated?, fallback factors)
    converged = False
    it = 0
    pending_T1 = None
    TL, M0, err = start(factors, refresh=False)
    while True:
        if pending is not None:
            fallback, err_old = pending
            pending = None
            if err < err_old:
                n_accept += 1
                acc_fail = 0
            else:
                acc_fail += 1
                if acc_fail >= 4:
                    acc_pow, acc_fail = acc_pow + 1.0, 0
                factors = fallback
                TL, M0, err = start(factors)
        errors.append(err)
        stop = False
        if callback is not None:
            cur = CPTensor(None, list(factors))
            cur.errors, cur.n_iter = np.array(errors), it
            stop = bool(callback(cur))
        if len(errors) > 1 and abs(errors[-2] - errors[-1]) <= stop_tol:
            converged = True
            break
        if err == 0.0:
            converged = True
            break
        if stop or it >= maxiter:
            break
        it += 1
        old = [f.copy() for f in factors] if use_ls else None
        grams = [f.T @ f for f in factors]
        new = list(factors)
        next_T1 = None

        def update(n, M, new=new, grams=grams):
            new[n] = solve(n, M, grams)
            grams[n] = new[n].T @ new[n]

        if pair_mode and pending_T1 is None:  # modes 0, 1 from X x_2 A_2; mode 2 from X x_1 A_1
            update(0, M0)
            update(1, contract_batched(xp, TL, new[:2], 1))
            T1 = xp.ascontiguousarray(xp.transpose(xp.matmul(new[1].T[None], X), (1, 0, 2)))
            update(2, contract_batched(xp, T1, [new[0], new[2]], 1))
            next_T1 = T1
        elif pair_mode:  # mode 0 from X x_1 A_1 (last sweep's pass); modes 1, 2 from X x_0 A_0
            update(0, M0)
            TR = contract_head(xp, X, new, 1)
            update(1, contract_batched(xp, TR, new[1:], 0))
            update(2, contract_batched(xp, TR, new[1:], 1))
        else:
            for n in left:
                update(n, M0 if n == 0 else contract_batched(xp, TL, new[:s], n))
            TR = contract_head(xp, X, new, s)
            for n in right:
                update(n, contract_batched(xp, TR, new[s:], n - s))
        factors, scales = _rebalance(xp, new, return_scales=True)
        if next_T1 is not None:
            next_T1 = next_T1 * scales[1][:, None, None]  # X x_1 A_1 follows A_1's rescaling
        pending_T1 = next_T1
        if use_ls and it >= 4 and it % 2 == 0:
            jump = it ** (1.0 / acc_pow)
            cand = [o + jump * (f - o) for o, f in zip(old, factors, strict=False)]
            if nonneg:
                cand = [xp.maximum(c, 0) for c in cand]
            pending = (factors, errors[-1])
            factors = cand
            pending_T1 = None  # the partial belongs to the fallback, not to the candidate
        TL, M0, err = start(factors, T1=pending_T1)
    # ------------------------------------------------------------------ result
    out = CPTensor(None, factors).normalize()
    w, f = out
    order = xp.argsort(-w)
    out = CPTensor(w[order], [fk[:, order] for fk in f])
    out.errors = np.array(errors)
    out.n_iter = it
    out.converged = converged
    if diagnostics:
        out.diagnostics = _diagnostics(bk, X, out, corcondia=True)
    out.diagnostics["line_search_accepted"] = n_accept
    if selection is not None:
        out.diagnostics["rank_selection"] = selection
    if bk.host_io:
        res = CPTensor(bk.to_output(out.weights), [bk.to_output(g) for g in out.factors])
        res.errors, res.n_iter, res.converged, res.diagnostics = (
            out.errors,
            out.n_iter,
            out.converged,
            out.diagnostics,
        )
        return res
    return out


def parafac(X, rank, **kwargs):
    """Alias of :func:`cp` (TensorLy's name).

    Parameters
    ----------
    X : array_like
        Tensor of order >= 2.
    rank : int
        Number of components.
    **kwargs
        Keyword arguments of :func:`cp`; TensorLy's ``n_iter_max`` and ``random_state``
        are accepted for ``maxiter`` and ``rng``.

    Returns
    -------
    CPTensor
        As :func:`cp`.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import parafac
    >>> X = np.einsum("i,j,k->ijk", np.arange(1.0, 4.0), np.ones(4), np.arange(1.0, 6.0))
    >>> round(parafac(X, 1).relative_error(X), 12)
    0.0
    """
    for tl_name, name in (("n_iter_max", "maxiter"), ("random_state", "rng")):
        if tl_name in kwargs:  # TensorLy's names for the same arguments
            if name in kwargs:
                raise TypeError(f"give {name}= or TensorLy's {tl_name}=, not both")
            kwargs[name] = kwargs.pop(tl_name)
    return cp(X, rank, **kwargs)
