"""Tucker decompositions: HOSVD, sequentially truncated HOSVD and HOOI.

Spectra come from Gram matrices ``Y_(n) Y_(n)^T`` (``eigh`` of an ``I_n x I_n``
matrix) where the unfolding is wide; no SVD of a huge unfolding is ever formed.
HOOI reuses partial contractions across modes (a two-level dimension tree): each
sweep contracts the full tensor twice, whatever the order.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._algebra import mode_dot, multi_mode_dot
from ._common import as_tensor, check_int, check_tol, eps_of, host_rng
from ._containers import TuckerTensor

__all__ = ["hosvd", "sthosvd", "tucker", "validate_tucker_rank"]

_SVDS = ("auto", "gram", "svd", "randomized")


# ----------------------------------------------------------------------------- ranks
def _fraction_rank(shape, fraction):
    """TensorLy's float rank: scale every mode by c so the parameters are ``fraction`` of X's."""
    n_param = float(np.prod(shape, dtype=np.float64))
    sq = float(sum(s * s for s in shape))
    N = len(shape)

    def f(c):
        return n_param * c**N + sq * c - fraction * n_param

    lo, hi = 0.0, max(fraction, 1.0)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(mid) > 0:
            hi = mid
        else:
            lo = mid
    c = 0.5 * (lo + hi)
    return tuple(max(int(np.round(s * c)), 1) for s in shape)


def validate_tucker_rank(shape, rank):
    """Turn a Tucker ``rank`` argument into a tuple of per-mode ranks and check it.

    Parameters
    ----------
    shape : tuple of int
        Shape of the tensor.
    rank : int, sequence of int, "same" or float
        An int is used for every mode (clipped to each mode's size); a sequence gives
        one rank per mode; a float ``f`` keeps a fraction ``f`` of the parameter count by
        scaling every mode uniformly (TensorLy's meaning; ``"same"`` is ``1.0``).

    Returns
    -------
    tuple of int
        The multilinear rank.

    Raises
    ------
    ValueError
        When a rank exceeds what the data allows: ``rank[n] > shape[n]``, or
        ``rank[n] > prod(rank[k] for k != n)`` (the core could not have that rank).

    Examples
    --------
    >>> from lrsolve.tensor import validate_tucker_rank
    >>> validate_tucker_rank((10, 20, 30), 5)
    (5, 5, 5)
    >>> validate_tucker_rank((10, 20, 30), 0.5)
    (7, 14, 21)
    """
    shape = tuple(int(s) for s in shape)
    N = len(shape)
    if isinstance(rank, str):
        if rank != "same":
            raise ValueError(
                f"rank must be an int, a sequence of ints, 'same' or a float; got {rank!r}"
            )
        rank = 1.0
    if isinstance(rank, bool):
        raise TypeError(f"rank must be an int, a sequence, 'same' or a float, got {rank!r}")
    if isinstance(rank, numbers.Integral):
        r = check_int("rank", rank)
        ranks = _core_feasible(tuple(min(r, s) for s in shape))
    elif isinstance(rank, numbers.Real):
        f = float(rank)
        if not (math.isfinite(f) and f > 0):
            raise ValueError(f"a float rank is a fraction of the parameter count > 0, got {rank!r}")
        ranks = _fraction_rank(shape, f)
        ranks = _core_feasible(tuple(min(r, s) for r, s in zip(ranks, shape, strict=False)))
    else:
        try:
            ranks = tuple(rank)
        except TypeError:
            raise TypeError(
                f"rank must be an int, a sequence, 'same' or a float, got {rank!r}"
            ) from None
        if len(ranks) != N:
            raise ValueError(f"rank has {len(ranks)} entries but the tensor has {N} modes")
        ranks = tuple(check_int(f"rank[{k}]", r) for k, r in enumerate(ranks))
        for k, (r, s) in enumerate(zip(ranks, shape, strict=False)):
            if r > s:
                raise ValueError(
                    f"rank[{k}]={r} is larger than the data allows: mode {k} has size {s}; "
                    f"use rank[{k}] <= {s}"
                )
    for k, r in enumerate(ranks):
        others = int(np.prod([q for j, q in enumerate(ranks) if j != k], dtype=np.int64))
        if N > 1 and r > others:
            raise ValueError(
                f"rank[{k}]={r} is larger than the data allows: a core of shape {ranks} has "
                f"mode-{k} rank at most {others} (the product of the other ranks); "
                f"lower it to {others}"
            )
    return ranks


def _core_feasible(ranks):
    """Lower derived ranks (from an int, a fraction or 'same') until each is at most the
    product of the others, as TensorLy does: e.g. ``rank='same'`` on a 2 x 2 x 30 tensor
    gives (2, 2, 4).  Explicit tuples are checked instead (an error names the rank)."""
    ranks = list(ranks)
    if len(ranks) < 2:
        return tuple(ranks)
    changed = True
    while changed:
        changed = False
        for k, r in enumerate(ranks):
            others = int(np.prod([q for j, q in enumerate(ranks) if j != k], dtype=np.int64))
            if r > others:
                ranks[k] = others
                changed = True
    return tuple(ranks)


def _as_tucker_init(init):
    """A ``(core, factors)`` pair or an object with ``core`` and ``factors`` (TensorLy's
    ``TuckerTensor``) as lrsolve's :class:`TuckerTensor`; anything else is returned as is."""
    if hasattr(init, "core") and hasattr(init, "factors"):
        core, factors = init.core, init.factors
    elif isinstance(init, (tuple, list)) and len(init) == 2:
        core, factors = init
    else:
        return init
    return TuckerTensor(core, list(factors))


def _check_rank_tol(rank, tol, budget=None):
    given = [n for n, v in (("rank", rank), ("tol", tol), ("budget", budget)) if v is not None]
    if len(given) > 1:
        raise ValueError(
            f"{' and '.join(given)} were both given; they are alternative ways to choose the size "
            "of the decomposition: give only one"
        )


def _check_svd(svd):
    if svd not in _SVDS:
        raise ValueError(f"svd must be one of {_SVDS}, got {svd!r}")
    return svd


# ----------------------------------------------------------------------------- spectra
def _gram(xp, Y, n):
    """``unfold(Y, n) @ unfold(Y, n).T`` without forming the unfolding where possible."""
    shape = Y.shape
    if n == 0:
        Y0 = xp.reshape(Y, (shape[0], -1))
        return Y0 @ Y0.T
    if n == Y.ndim - 1:
        Yl = xp.reshape(Y, (-1, shape[-1]))
        return Yl.T @ Yl
    A = int(np.prod(shape[:n]))
    B = int(np.prod(shape[n + 1 :]))
    In = shape[n]
    Y3 = xp.reshape(Y, (A, In, B))
    if In <= B:  # batched GEMMs over chunks of the leading index: no copy of Y
        step = max(1, min(A, max(Y.size // 8, In * In) // (In * In)))  # <= Y.size/8 extra
        G = None
        for a in range(0, A, step):
            blk = Y3[a : a + step]
            part = xp.matmul(blk, xp.swapaxes(blk, 1, 2)).sum(axis=0)
            G = part if G is None else G + part
        return G
    Z = xp.reshape(xp.ascontiguousarray(xp.moveaxis(Y3, 1, 0)), (In, -1))  # one copy
    return Z @ Z.T


def _use_gram(svd, Y, n, tol, dtype):
    if svd == "gram":
        return True
    if svd == "svd":
        return False
    In = Y.shape[n]
    P = Y.size // In
    if tol is not None and tol < 100 * math.sqrt(eps_of(dtype)):
        return False  # Gram squares the spectrum: too coarse for this tolerance
    return In <= P  # wide unfolding: the Gram matrix is the small side


def _spectrum(xp, Y, n, method, dtype):
    """Left singular vectors and squared singular values (descending) of unfold(Y, n)."""
    In = Y.shape[n]
    P = Y.size // In
    if method == "gram" and In <= P:
        G = _gram(xp, Y, n)
        w, V = xp.linalg.eigh(G)
        return V[:, ::-1], xp.maximum(w[::-1], 0)
    Yn = xp.reshape(xp.moveaxis(Y, n, 0), (In, -1))
    if method == "gram":  # tall: the other Gram is smaller
        G = Yn.T @ Yn
        w, V = xp.linalg.eigh(G)
        w = xp.maximum(w[::-1], 0)
        V = V[:, ::-1]
        keep = int((w > w[0] * (P * eps_of(dtype))).sum()) if float(w[0]) > 0 else 1
        keep = max(keep, 1)
        U = Yn @ V[:, :keep] / xp.sqrt(xp.maximum(w[:keep], np.finfo(np.dtype(dtype)).tiny))
        full = min(In, P)
        if keep < full:
            # rank-deficient unfolding: complete the basis (Householder QR of [U, I] keeps
            # U's span first and adds orthonormal directions), so that a requested rank
            # up to min(I_n, P) is honoured, as with svd="svd" -- the added directions carry
            # no energy
            U = xp.concatenate([U, xp.eye(In, full, dtype=U.dtype)], axis=1)
        U, _ = xp.linalg.qr(U)
        return U[:, :full], w[:full]
    U, s, _ = xp.linalg.svd(Yn, full_matrices=False)
    return U, s * s


def _randomized(xp, Y, n, r, rng, dtype, oversample=10, n_iter=2):
    """Halko-Martinsson-Tropp range finder for unfold(Y, n); returns (U_r, s2_r)."""
    In = Y.shape[n]
    P = Y.size // In
    Yn = xp.reshape(xp.moveaxis(Y, n, 0), (In, P))
    k = min(r + oversample, In, P)
    Om = xp.asarray(rng.standard_normal((P, k)).astype(np.dtype(dtype)))
    Q, _ = xp.linalg.qr(Yn @ Om)
    for _ in range(n_iter):
        Q, _ = xp.linalg.qr(Yn.T @ Q)
        Q, _ = xp.linalg.qr(Yn @ Q)
    B = Q.T @ Yn
    Ub, s, _ = xp.linalg.svd(B, full_matrices=False)
    return (Q @ Ub)[:, :r], (s * s)[:r]


def _choose_rank(s2, allowed):
    """Smallest r with sum(s2[r:]) <= allowed (s2 descending, a host array)."""
    tails = np.concatenate([np.cumsum(s2[::-1])[::-1], [0.0]])  # tails[r] = sum s2[r:]
    ok = np.nonzero(tails <= allowed)[0]
    return max(int(ok[0]) if ok.size else len(s2), 1)


def _to_host(xp, a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _mode_factor(bk, Y, n, r, allowed, svd, tol, rng, dtype):
    """Factor of mode n of Y: fixed rank r, or the smallest rank within ``allowed``."""
    xp = bk.xp
    if svd == "randomized" and r is not None and r < min(Y.shape[n], Y.size // Y.shape[n]):
        U, s2 = _randomized(xp, Y, n, r, rng, dtype)
        return U, _to_host(xp, s2), None
    method = "gram" if _use_gram(svd, Y, n, tol, dtype) else "svd"
    U, s2 = _spectrum(xp, Y, n, method, dtype)
    s2h = _to_host(xp, s2).astype(np.float64)
    if r is None:
        r = _choose_rank(s2h, allowed)
    r = min(r, U.shape[1])
    tail = float(s2h[r:].sum())
    return U[:, :r], s2h, tail


# ----------------------------------------------------------------------------- HOSVD
def _safe_scale(xp, X):
    """``(X / s, s)`` with ``s = max|X|`` when the squares of ``X`` would overflow or
    underflow (``max|X|`` beyond 1e100 or below 1e-100; float32: 1e15 / 1e-15), else
    ``(X, 1.0)``: the Gram matrices and norms of the spectra are then formed safely, and
    the core is scaled back (the factors and relative errors do not depend on s)."""
    s = float(xp.max(xp.abs(X))) if X.size else 0.0
    hi = 1e100 if X.dtype == np.float64 else 1e15
    if s > hi or 0 < s < 1 / hi:
        return X / X.dtype.type(s), s
    return X, 1.0


def _unscale(T, s):
    if s != 1.0:
        T.core = T.core * T.core.dtype.type(s)
    return T


def _result_dtype(X):
    return X.dtype


def hosvd(X, rank=None, *, tol=None, svd="auto"):
    """Higher-order SVD (truncated): leading left singular vectors of every unfolding.

    Parameters
    ----------
    X : array_like
        Tensor of order >= 2 (NumPy or CuPy).
    rank : int, sequence of int, "same" or float, optional
        Multilinear rank (see :func:`validate_tucker_rank`).  With neither ``rank`` nor
        ``tol`` the full multilinear rank is kept (an exact decomposition).
    tol : float, optional
        Relative error guarantee: the ranks are the smallest with
        ``||X - T|| <= tol * ||X||`` by the HOSVD bound (each mode discards at most
        ``tol**2 ||X||**2 / N`` of squared singular values).
    svd : {"auto", "gram", "svd", "randomized"}, optional
        How the mode spectra are computed: ``"gram"`` = ``eigh`` of the Gram matrix of
        the unfolding (fast, resolves singular values down to ``sqrt(eps)`` of the
        largest), ``"svd"`` = thin SVD of the unfolding, ``"randomized"`` = a randomized
        range finder (fixed ranks only), ``"auto"`` = Gram unless ``tol`` is too small
        for it or the unfolding is tall.

    Returns
    -------
    TuckerTensor
        With ``errors`` (one entry: the relative error of the result) and
        ``diagnostics["mode_errors"]`` (discarded squared singular values per mode, relative
        to ``||X||**2``; with ``tol`` also ``diagnostics["error_bound"]``).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import hosvd
    >>> rng = np.random.default_rng(0)
    >>> X = np.einsum("ia,jb,kc,abc->ijk", *(rng.standard_normal((n, 2)) for n in (6, 7, 8)),
    ...               rng.standard_normal((2, 2, 2)))
    >>> T = hosvd(X, tol=1e-6)
    >>> T.rank, T.relative_error(X) < 1e-6
    ((2, 2, 2), True)
    """
    return _hosvd(X, rank, tol, svd, sequential=False, rng=None)


def sthosvd(X, rank=None, *, tol=None, svd="auto", mode_order=None, rng=None):
    """Sequentially truncated HOSVD (Vannieuwenhoven, Vandebril and Meerbergen, 2012).

    Each mode is truncated in turn and the tensor is projected before the next mode's
    spectrum is computed, so later modes work on a smaller tensor.  With ``tol`` the
    ranks are chosen from the spectra so that the discarded energy, which adds up
    exactly for ST-HOSVD, stays within ``tol**2 ||X||**2`` (unused budget of one mode
    carries over to the next), as Tensor Toolbox's ``hosvd(X, tol)``.

    Parameters
    ----------
    X : array_like
        Tensor of order >= 2.
    rank : int, sequence of int, "same" or float, optional
        Multilinear rank (see :func:`validate_tucker_rank`); default: full rank, or
        chosen by ``tol``.
    tol : float, optional
        Relative error guarantee ``||X - T|| <= tol ||X||``.
    svd : {"auto", "gram", "svd", "randomized"}, optional
        Spectrum computation (see :func:`hosvd`).
    mode_order : sequence of int, optional
        Order in which the modes are truncated; default: the modes with the largest
        size reduction first when ``rank`` is given, else ``0, 1, ..., N-1``.
    rng : int or numpy.random.Generator, optional
        Seed for ``svd="randomized"`` (draws are made on the host).

    Returns
    -------
    TuckerTensor
        Orthonormal factors and the core; ``errors`` holds the relative error of the
        result (exact for ST-HOSVD, computed from the discarded spectra) and
        ``diagnostics["mode_errors"]`` the discarded energy per mode.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import sthosvd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((10, 12, 14))
    >>> T = sthosvd(X, tol=0.5)
    >>> bool(T.relative_error(X) <= 0.5), T.rank[0] < 10
    (True, True)
    """
    return _hosvd(X, rank, tol, svd, sequential=True, rng=rng, mode_order=mode_order)


def _hosvd(X, rank, tol, svd, sequential, rng, mode_order=None):
    bk, X = as_tensor(X)
    X, s = _safe_scale(bk.xp, X)
    if s != 1.0:
        return _unscale(_hosvd(X, rank, tol, svd, sequential, rng, mode_order), s)
    xp = bk.xp
    _check_rank_tol(rank, tol)
    tol = check_tol("tol", tol, target=True)
    svd = _check_svd(svd)
    N = X.ndim
    dtype = X.dtype
    ranks = None if rank is None else validate_tucker_rank(X.shape, rank)
    if svd == "randomized" and ranks is None:
        raise ValueError("svd='randomized' needs a fixed rank; use svd='gram' or 'svd' with tol")
    rng = host_rng(rng)
    normX2 = float(xp.vdot(X.ravel(), X.ravel()))
    if mode_order is None:
        if ranks is not None:
            mode_order = sorted(range(N), key=lambda k: ranks[k] / X.shape[k])
        else:
            mode_order = list(range(N))
    else:
        mode_order = [int(m) for m in mode_order]
        if sorted(mode_order) != list(range(N)):
            raise ValueError(f"mode_order must be a permutation of 0..{N - 1}, got {mode_order}")
    budget = (tol * tol * normX2) if tol is not None else 0.0
    factors = [None] * N
    mode_err = [0.0] * N
    Y = X
    remaining = budget
    for i, n in enumerate(mode_order):
        r = None if ranks is None else ranks[n]
        if tol is None and r is None:
            r = X.shape[n]
        allowed = remaining / (N - i) if sequential else budget / N
        src = Y if sequential else X
        U, s2, tail = _mode_factor(bk, src, n, r, allowed, svd, tol, rng, dtype)
        if tail is None:  # randomized: energy from the projection below
            tail = float("nan")
        factors[n] = U
        mode_err[n] = tail
        if sequential:
            Y = mode_dot(Y, U.T, n)
            if math.isfinite(tail):
                remaining = max(remaining - tail, 0.0)
    core = Y if sequential else multi_mode_dot(X, [U.T for U in factors])
    out = TuckerTensor(core, factors)
    normG2 = float(xp.vdot(core.ravel(), core.ravel()))
    err = math.sqrt(max(normX2 - normG2, 0.0) / normX2) if normX2 > 0 else 0.0
    if 0 < err < min(1e-2, 1e4 * math.sqrt(eps_of(dtype))):
        err = float(xp.linalg.norm((X - out.to_tensor()).ravel())) / math.sqrt(normX2)
    out.errors = np.array([err])
    out.n_iter = 0
    out.converged = True
    out.diagnostics = {
        "mode_errors": np.array(mode_err) / normX2 if normX2 > 0 else np.array(mode_err),
        "norm_X": math.sqrt(normX2),
        "method": "sthosvd" if sequential else "hosvd",
    }
    if tol is not None:
        bound = (
            math.sqrt(sum(t for t in mode_err if math.isfinite(t)) / normX2) if normX2 > 0 else 0.0
        )
        out.diagnostics["error_bound"] = bound
    return _output(bk, out)


def _output(bk, T):
    if bk.host_io:
        core, factors = T
        new = TuckerTensor(bk.to_output(core), [bk.to_output(f) for f in factors])
        new.errors, new.n_iter, new.converged = T.errors, T.n_iter, T.converged
        new.diagnostics = T.diagnostics
        return new
    return T


# ----------------------------------------------------------------------------- HOOI
def _lead(bk, Y, n, r, svd, dtype):
    U, _, _ = _mode_factor(
        bk, Y, n, r, 0.0, "gram" if svd == "randomized" else svd, None, None, dtype
    )
    return U


def tucker(
    X,
    rank=None,
    *,
    tol=None,
    budget=None,
    method="hooi",
    init="sthosvd",
    svd="auto",
    maxiter=100,
    tol_iter=1e-8,
    rng=None,
    callback=None,
):
    """Tucker decomposition by HOOI, HOSVD or ST-HOSVD.

    Parameters
    ----------
    X : array_like
        Tensor of order >= 2 (NumPy or CuPy).
    rank : int, sequence of int, "same" or float, optional
        Multilinear rank (see :func:`validate_tucker_rank`; TensorLy-compatible).
    tol : float, optional
        Relative error guarantee instead of a rank: the ranks come from ST-HOSVD with
        ``||X - T|| <= tol ||X||``; HOOI then only lowers the error.
    budget : int or float, optional
        Parameter budget (an int: a number of parameters; a float in (0, 1): a fraction
        of ``X``'s size); the core shape is chosen by
        ``lrsolve.tensor.selection.tucker_core_shape(X, budget)``.
    method : {"hooi", "hosvd", "sthosvd"}, optional
        Algorithm; ``"hosvd"``/``"sthosvd"`` return the (non-iterated) initial decomposition.
    init : {"sthosvd", "hosvd", "random"} or TuckerTensor, optional
        Starting point of HOOI.
    svd : {"auto", "gram", "svd", "randomized"}, optional
        Spectrum computation (see :func:`hosvd`).
    maxiter : int, optional
        Maximum number of HOOI sweeps.
    tol_iter : float, optional
        HOOI stops when the relative error changes by less than this (at least ten
        machine epsilons of the data type) between sweeps; ``0`` runs exactly ``maxiter``
        sweeps.
    rng : int or numpy.random.Generator, optional
        Seed of the random initialisation (drawn on the host, then moved).
    callback : callable, optional
        Called as ``callback(T)`` after every sweep with the current
        :class:`TuckerTensor` (its ``errors`` hold the history); returning ``True``
        stops the iteration.

    Returns
    -------
    TuckerTensor
        Orthonormal factors and core; ``errors`` (relative error per sweep, the first
        entry for the initialisation), ``n_iter``, ``converged``.

    Raises
    ------
    ValueError
        For conflicting ``rank``/``tol``/``budget``, ranks larger than the data allow,
        non-finite entries, order-1 input.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import tucker
    >>> rng = np.random.default_rng(0)
    >>> G = rng.standard_normal((2, 3, 2))
    >>> U = [np.linalg.qr(rng.standard_normal((n, r)))[0] for n, r in zip((8, 9, 10), G.shape)]
    >>> X = np.einsum("abc,ia,jb,kc->ijk", G, *U)
    >>> T = tucker(X, rank=(2, 3, 2))
    >>> T.rank, T.relative_error(X) < 1e-12
    ((2, 3, 2), True)
    """
    bk, X = as_tensor(X)
    xp = bk.xp
    X, scale = _safe_scale(xp, X)
    if scale != 1.0:  # badly scaled data: fitted at unit scale (same factors and errors)
        return _unscale(tucker(X, rank, tol=tol, budget=budget, method=method, init=init,
                               svd=svd, maxiter=maxiter, tol_iter=tol_iter, rng=rng,
                               callback=callback), scale)
    if method not in ("hooi", "hosvd", "sthosvd"):
        raise ValueError(f"method must be 'hooi', 'hosvd' or 'sthosvd', got {method!r}")
    _check_rank_tol(rank, tol, budget)
    svd = _check_svd(svd)
    tol = check_tol("tol", tol, target=True)
    maxiter = check_int("maxiter", maxiter, minimum=0)
    tol_iter = check_tol("tol_iter", tol_iter, allow_zero=True)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}")
    if budget is not None:
        from .selection import tucker_core_shape

        rank = tuple(int(r) for r in tucker_core_shape(X, budget))
    if rank is None and tol is None:
        raise ValueError("give rank=, tol= or budget= to choose the size of the Tucker core")
    rng = host_rng(rng)
    if method in ("hosvd", "sthosvd"):
        return _hosvd(X, rank, tol, svd, sequential=(method == "sthosvd"), rng=rng)
    if isinstance(init, str) and init in ("hosvd", "sthosvd"):
        first = _hosvd(X, rank, tol, svd, sequential=(init == "sthosvd"), rng=rng)
        if bk.host_io:
            first = TuckerTensor(xp.asarray(first.core), [xp.asarray(f) for f in first.factors])
        ranks = first.rank
        factors = list(first.factors)
    else:
        if tol is not None:
            ranks = _hosvd(X, None, tol, svd, sequential=True, rng=rng).rank
        else:
            ranks = validate_tucker_rank(X.shape, rank)
        if not isinstance(init, (str, TuckerTensor)):
            init = _as_tucker_init(init)  # TensorLy's TuckerTensor or a (core, factors) pair
        if isinstance(init, TuckerTensor):
            if init.shape != tuple(X.shape) or init.rank != tuple(ranks):
                raise ValueError(
                    f"init has shape {init.shape} and rank {init.rank}; expected shape "
                    f"{tuple(X.shape)} and rank {tuple(ranks)}"
                )
            factors = [xp.linalg.qr(bk.asarray(f).astype(X.dtype))[0] for f in init.factors]
        elif isinstance(init, str) and init == "random":
            factors = [
                xp.linalg.qr(xp.asarray(rng.standard_normal((s, r)).astype(X.dtype)))[0]
                for s, r in zip(X.shape, ranks, strict=False)
            ]
        else:
            raise ValueError(
                f"init must be 'sthosvd', 'hosvd', 'random' or a TuckerTensor, got {init!r}"
            )
    return _output(bk, _hooi(bk, X, factors, ranks, svd, maxiter, tol_iter, callback))


def _hooi(bk, X, factors, ranks, svd, maxiter, tol_iter, callback):
    xp = bk.xp
    N = X.ndim
    dtype = X.dtype
    normX2 = float(xp.vdot(X.ravel(), X.ravel()))
    normX = math.sqrt(normX2) if normX2 > 0 else 1.0

    exact_threshold = min(1e-2, 1e4 * math.sqrt(eps_of(dtype)))
    stop_tol = max(tol_iter, 10 * eps_of(dtype)) if tol_iter > 0 else 0.0

    def rel_err(core, factors):
        g2 = float(xp.vdot(core.ravel(), core.ravel()))
        err = math.sqrt(max(normX2 - g2, 0.0)) / normX
        if err < exact_threshold:  # the formula has lost its digits: form the difference
            err = float(xp.linalg.norm((X - multi_mode_dot(core, factors)).ravel())) / normX
        return err

    # a mode kept at full size has an orthogonal square factor: take the identity, skip it
    fixed = [ranks[n] == X.shape[n] for n in range(N)]
    for n in range(N):
        if fixed[n]:
            factors[n] = xp.eye(X.shape[n], dtype=dtype)

    def project(T, modes):
        modes = [k for k in modes if not fixed[k]]
        if not modes:
            return T
        return multi_mode_dot(T, [factors[k].T for k in modes], modes=modes)

    core = project(X, range(N))
    errors = [rel_err(core, factors)]
    s = max(N // 2, 1)
    left, right = list(range(s)), list(range(s, N))
    converged = False
    it = 0
    for it in range(1, maxiter + 1):
        for group in (left, right):
            P = project(X, [k for k in range(N) if k not in group])
            for n in group:
                if fixed[n]:
                    continue
                Y = project(P, [k for k in group if k != n])
                factors[n] = _lead(bk, Y, n, ranks[n], svd, dtype)
        core = project(P, right)
        errors.append(rel_err(core, factors))
        stop = False
        if callback is not None:
            cur = TuckerTensor(core, list(factors))
            cur.errors = np.array(errors)
            cur.n_iter = it
            stop = bool(callback(cur))
        if abs(errors[-2] - errors[-1]) <= stop_tol:
            converged = True
            break
        if stop:
            break
    out = TuckerTensor(core, factors)
    out.errors = np.array(errors)
    out.n_iter = it
    out.converged = converged
    out.diagnostics = {"norm_X": math.sqrt(normX2), "method": "hooi"}
    return out
