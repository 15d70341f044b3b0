"""Tensor train (TT-SVD, rounding) and tensor ring (TR-SVD, TR-ALS) decompositions."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._linalg import flip_signs
from ._common import as_tensor, check_int, check_tol, eps_of, host_rng
from ._containers import TRTensor, TTTensor
from ._tucker import _check_rank_tol, _choose_rank, _to_host

__all__ = ["tensor_train", "tt_round", "tensor_ring"]


def _left_factor(xp, C, r, allowed, use_gram, dtype):
    """Truncated left factor of the matrix C: returns (U_r, U_r^T C, tail energy)."""
    m, n = C.shape
    if use_gram and m <= n:
        w, V = xp.linalg.eigh(C @ C.T)
        s2 = _to_host(xp, xp.maximum(w[::-1], 0)).astype(np.float64)
        U = V[:, ::-1]
    else:
        U, s, _ = xp.linalg.svd(C, full_matrices=False)
        s2 = _to_host(xp, s * s).astype(np.float64)
    if r is None:
        r = _choose_rank(s2, allowed)
    r = max(min(r, U.shape[1]), 1)
    # fixed signs: TR-SVD splits the first factor's columns into r0 x r1, and that split (so
    # the error of the ring) depends on them; the same signs as the rank selection's TR-SVD
    # (``tr_ranks_for_tol``) and on CPU and GPU
    Ur = flip_signs(xp, U[:, :r])[0]
    return Ur, Ur.T @ C, float(s2[r:].sum())


def _use_gram(svd, tol, dtype):
    if svd == "gram":
        return True
    if svd == "svd":
        return False
    return tol is None or tol >= 100 * math.sqrt(eps_of(dtype))


def _bond_limits(shape):
    """Largest possible TT bond ranks: min(prod I_{<=k}, prod I_{>k})."""
    out = []
    for k in range(1, len(shape)):
        out.append(
            min(int(np.prod(shape[:k], dtype=np.int64)), int(np.prod(shape[k:], dtype=np.int64)))
        )
    return out


def _fraction(rank):
    """``rank`` as a fraction of the tensor's size (``'same'`` is 1.0), or None."""
    if isinstance(rank, str):
        if rank != "same":
            raise ValueError(f"rank must be an int, a sequence of ints, 'same' or a float, "
                             f"got {rank!r}")
        return 1.0
    if isinstance(rank, numbers.Real) and not isinstance(rank, numbers.Integral):
        f = float(rank)
        if not (math.isfinite(f) and f > 0):
            raise ValueError(f"a float rank is a fraction of the tensor's size, > 0; got "
                             f"{rank!r}")
        return f
    return None


def _tt_ranks(shape, rank):
    """Internal TT ranks (length N-1) from an int or a sequence (length N-1 or N+1)."""
    N = len(shape)
    limits = _bond_limits(shape)
    if rank is None:
        return list(limits)
    if isinstance(rank, bool):
        raise TypeError(f"rank must be an int or a sequence of ints, got {rank!r}")
    if isinstance(rank, numbers.Integral):
        r = check_int("rank", rank)
        return [min(r, lim) for lim in limits]
    fraction = _fraction(rank)
    if fraction is not None:  # TensorLy's float / 'same' rank: a fraction of X's size
        a = float(sum(shape[1:-1]))
        b = float(shape[0] + shape[-1])
        c = fraction * float(np.prod(shape, dtype=np.float64))
        r = c / b if a == 0 else (-b + math.sqrt(b * b + 4 * a * c)) / (2 * a)
        return [max(1, min(int(math.floor(r)), lim)) for lim in limits]
    ranks = [check_int("rank[k]", r) for r in rank]
    if len(ranks) == N + 1:
        if ranks[0] != 1 or ranks[-1] != 1:
            raise ValueError(f"a TT rank of length N+1 starts and ends with 1, got {tuple(ranks)}")
        ranks = ranks[1:-1]
    if len(ranks) != N - 1:
        raise ValueError(
            f"rank has {len(ranks)} entries; a TT of order {N} needs {N - 1} internal ranks "
            f"(or {N + 1} with the boundary ones)"
        )
    for k, (r, lim) in enumerate(zip(ranks, limits, strict=False)):
        if r > lim:
            raise ValueError(
                f"TT rank {r} at bond {k + 1} is larger than the data allows (at most {lim} = "
                f"min of the products of the mode sizes on either side); lower it to {lim}"
            )
    return ranks


def _output(bk, cls, cores, info):
    out = cls([bk.to_output(c) for c in cores])
    out.errors, out.n_iter, out.converged, out.diagnostics = info
    return out


def tensor_train(X, rank=None, *, tol=None, svd="auto"):
    """Tensor-train decomposition by TT-SVD (Oseledets, 2011).

    Parameters
    ----------
    X : array_like
        Tensor of order >= 2 (NumPy or CuPy).
    rank : int, sequence of int, float or "same", optional
        Maximum bond rank (an int, clipped to what each bond allows) or the bond ranks
        (``N - 1`` internal ones, or ``N + 1`` with the boundary ranks ``1`` as in
        TensorLy).  A float (TensorLy's convention; ``"same"`` is 1.0) asks for a
        uniform rank with at most that fraction of ``X``'s size in parameters
        (TensorLy spreads the ranks in proportion to the modes instead, so the two
        may differ).
        Default with ``tol=None``: exact (full) ranks.
    tol : float, optional
        Relative error guarantee ``||X - T|| <= tol ||X||``: every truncation discards at
        most ``delta = tol / sqrt(N - 1) * ||X||`` (Oseledets' rule).
    svd : {"auto", "gram", "svd"}, optional
        ``"gram"``: ``eigh`` of the small Gram matrix of each wide unfolding (fast);
        ``"svd"``: thin SVD; ``"auto"``: Gram unless ``tol`` is below what the Gram
        spectrum resolves.

    Returns
    -------
    TTTensor
        Left-orthonormal cores; ``errors`` holds the relative error (from the discarded
        singular values, exact for TT-SVD).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import tensor_train
    >>> x = np.linspace(0, 1, 8)
    >>> X = np.sin(x[:, None, None] + x[None, :, None] + x[None, None, :])
    >>> tt = tensor_train(X, tol=1e-10)
    >>> tt.rank, tt.relative_error(X) < 1e-10
    ((1, 2, 2, 1), True)
    """
    bk, X = as_tensor(X)
    xp = bk.xp
    _check_rank_tol(rank, tol)
    tol = check_tol("tol", tol, target=True)
    if svd not in ("auto", "gram", "svd"):
        raise ValueError(f"svd must be 'auto', 'gram' or 'svd', got {svd!r}")
    shape = X.shape
    N = X.ndim
    ranks = None if tol is not None else _tt_ranks(shape, rank)
    normX2 = float(xp.vdot(X.ravel(), X.ravel()))
    allowed = (tol * tol * normX2 / (N - 1)) if tol is not None else 0.0
    use_gram = _use_gram(svd, tol, X.dtype)
    cores = []
    C = X
    r_prev = 1
    tails = []
    for k in range(N - 1):
        C = xp.reshape(C, (r_prev * shape[k], -1))
        U, C, tail = _left_factor(
            xp, C, None if ranks is None else ranks[k], allowed, use_gram, X.dtype
        )
        r = U.shape[1]
        cores.append(xp.reshape(U, (r_prev, shape[k], r)))
        tails.append(tail)
        r_prev = r
    cores.append(xp.reshape(C, (r_prev, shape[-1], 1)))
    err = math.sqrt(max(sum(tails), 0.0) / normX2) if normX2 > 0 else 0.0
    return _output(bk, TTTensor, cores, (np.array([err]), 0, True, {"discarded": np.array(tails)}))


def tt_round(tt, rank=None, tol=None):
    """Recompress a tensor train (TT rounding: orthogonalise, then truncate by SVDs).

    Parameters
    ----------
    tt : TTTensor or sequence of array_like
        The tensor train to recompress.
    rank : int or sequence of int, optional
        Maximum bond rank or the bond ranks (as in :func:`tensor_train`).
    tol : float, optional
        Relative accuracy: ``||tt - out|| <= tol ||tt||``.

    Returns
    -------
    TTTensor
        The recompressed tensor train.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import TTTensor, tt_round
    >>> rng = np.random.default_rng(0)
    >>> G = [rng.standard_normal(s) for s in [(1, 4, 2), (2, 5, 2), (2, 6, 1)]]
    >>> mid = np.zeros((4, 5, 4)); mid[:2, :, :2] = G[1]; mid[2:, :, 2:] = G[1]
    >>> doubled = TTTensor([np.concatenate([G[0], G[0]], axis=2), mid,
    ...                     np.concatenate([G[2], G[2]], axis=0)])
    >>> doubled.rank, tt_round(doubled, tol=1e-12).rank
    ((1, 4, 4, 1), (1, 2, 2, 1))
    """
    _check_rank_tol(rank, tol)
    tol = check_tol("tol", tol, target=True)
    if not isinstance(tt, TTTensor):
        tt = TTTensor(list(tt))
    from .._backend import get_backend

    bk = get_backend(*tt.cores)
    xp = bk.xp
    cores = [xp.asarray(c) for c in tt.cores]
    N = len(cores)
    shape = tuple(c.shape[1] for c in cores)
    if N == 1:
        return _output(bk, TTTensor, cores, (np.array([0.0]), 0, True, {}))
    ranks = None if tol is not None else _tt_ranks(shape, rank)
    # right-to-left orthogonalisation
    for k in range(N - 1, 0, -1):
        rk, Ik, rk1 = cores[k].shape
        Q, R = xp.linalg.qr(xp.reshape(cores[k], (rk, Ik * rk1)).T)
        cores[k] = xp.reshape(Q.T, (Q.shape[1], Ik, rk1))
        prev = cores[k - 1]
        cores[k - 1] = xp.reshape(xp.reshape(prev, (-1, rk)) @ R.T, prev.shape[:2] + (Q.shape[1],))
    norm2 = float(xp.vdot(cores[0].ravel(), cores[0].ravel()))
    allowed = (tol * tol * norm2 / (N - 1)) if tol is not None else 0.0
    tails = []
    for k in range(N - 1):
        rk, Ik, rk1 = cores[k].shape
        M = xp.reshape(cores[k], (rk * Ik, rk1))
        U, s, Vt = xp.linalg.svd(M, full_matrices=False)
        s2 = _to_host(xp, s * s).astype(np.float64)
        r = _choose_rank(s2, allowed) if ranks is None else min(ranks[k], s.shape[0])
        tails.append(float(s2[r:].sum()))
        cores[k] = xp.reshape(U[:, :r], (rk, Ik, r))
        SV = s[:r, None] * Vt[:r]
        nxt = cores[k + 1]
        cores[k + 1] = xp.reshape(SV @ xp.reshape(nxt, (nxt.shape[0], -1)), (r,) + nxt.shape[1:])
    err = math.sqrt(sum(tails) / norm2) if norm2 > 0 else 0.0
    return _output(bk, TTTensor, cores, (np.array([err]), 0, True, {"discarded": np.array(tails)}))


# ----------------------------------------------------------------------------- tensor ring
def _tr_ranks(shape, rank):
    """Bond ranks (r_0, ..., r_{N-1}) of a tensor ring from an int or a sequence."""
    N = len(shape)
    if isinstance(rank, bool):
        raise TypeError(f"rank must be an int or a sequence of ints, got {rank!r}")
    if isinstance(rank, numbers.Integral):
        return [check_int("rank", rank)] * N
    fraction = _fraction(rank)
    if fraction is not None:  # TensorLy's float / 'same' rank: sum_k r^2 I_k = fraction |X|
        r = math.sqrt(fraction * float(np.prod(shape, dtype=np.float64)) / float(sum(shape)))
        return [max(1, int(math.floor(r)))] * N
    ranks = [check_int("rank[k]", r) for r in rank]
    if len(ranks) == N + 1:
        if ranks[0] != ranks[-1]:
            raise ValueError(f"a TR rank of length N+1 has rank[0] == rank[-1], got {tuple(ranks)}")
        ranks = ranks[:-1]
    if len(ranks) != N:
        raise ValueError(
            f"rank has {len(ranks)} entries; a tensor ring of order {N} needs {N} (or {N + 1})"
        )
    return ranks


def _split_rank(R):
    """Factor R = r0 * r1 with r0 <= r1 as close as possible."""
    r0 = int(math.isqrt(R))
    while R % r0:
        r0 -= 1
    return r0, R // r0


def _tr_svd(bk, X, ranks, tol, use_gram):
    xp = bk.xp
    shape = X.shape
    N = X.ndim
    normX2 = float(xp.vdot(X.ravel(), X.ravel()))
    allowed = (tol * tol * normX2 / N) if tol is not None else 0.0
    C = xp.reshape(X, (shape[0], -1))
    if ranks is not None:
        r0, r1 = ranks[0], ranks[1 % N]
        if r0 * r1 > min(C.shape):
            raise ValueError(
                f"TR-SVD needs rank[0] * rank[1] = {r0 * r1} <= {min(C.shape)} (the rank of the "
                "first unfolding); lower the ranks or use method='als'"
            )
        U, C, tail = _left_factor(xp, C, r0 * r1, 0.0, use_gram, X.dtype)
    else:
        U, C, tail = _left_factor(xp, C, None, 2.0 * allowed, use_gram, X.dtype)
        r0, r1 = _split_rank(U.shape[1])
    tails = [tail]
    cores = [xp.transpose(xp.reshape(U, (shape[0], r0, r1)), (1, 0, 2))]
    # C: (r0*r1, rest) -> (r1, rest, r0)
    C = xp.moveaxis(xp.reshape(C, (r0, r1, -1)), 0, 2)
    r_prev = r1
    for k in range(1, N - 1):
        C = xp.reshape(xp.ascontiguousarray(C), (r_prev * shape[k], -1))
        U, C, tail = _left_factor(
            xp, C, None if ranks is None else ranks[k + 1], allowed, use_gram, X.dtype
        )
        r = U.shape[1]
        cores.append(xp.reshape(U, (r_prev, shape[k], r)))
        tails.append(tail)
        r_prev = r
    cores.append(xp.reshape(C, (r_prev, shape[-1], r0)))
    err = math.sqrt(max(sum(tails), 0.0) / normX2) if normX2 > 0 else 0.0
    return cores, err, tails


def _spd_solve(xp, V, B):
    """Solve ``Z V = B`` for Z with V symmetric PSD: Cholesky, eigen-regularised fallback."""
    try:
        L = xp.linalg.cholesky(V)
        if bool(xp.isfinite(L).all()):
            Z = xp.linalg.solve(L.T, xp.linalg.solve(L, B.T)).T
            if bool(xp.isfinite(Z).all()):
                return Z
    except Exception:  # numpy.linalg.LinAlgError: not positive definite
        pass
    w, Q = xp.linalg.eigh(V)
    wmax = float(w.max()) if w.size else 0.0
    cut = max(wmax, 1e-300) * V.shape[0] * eps_of(V.dtype)
    winv = xp.where(w > cut, 1.0 / xp.where(w > cut, w, 1.0), 0.0).astype(V.dtype)
    return ((B @ Q) * winv[None, :]) @ Q.T


def _tr_als(bk, X, cores, maxiter, tol_iter, callback):
    xp = bk.xp
    shape = X.shape
    N = X.ndim
    normX = float(xp.linalg.norm(X.ravel())) or 1.0
    errors = []
    converged = False
    it = 0
    for it in range(1, maxiter + 1):
        for k in range(N):
            order = [(k + j) % N for j in range(1, N)]
            Z = cores[order[0]]
            for j in order[1:]:
                c = cores[j]
                Z = xp.reshape(
                    xp.reshape(Z, (-1, Z.shape[-1])) @ xp.reshape(c, (c.shape[0], -1)),
                    (Z.shape[0], -1, c.shape[2]),
                )
            rk1, P, rk = Z.shape
            Zm = xp.reshape(xp.transpose(Z, (2, 0, 1)), (rk * rk1, P))
            Xk = xp.reshape(xp.transpose(X, [k] + order), (shape[k], P))
            Gm = _spd_solve(xp, Zm @ Zm.T, Xk @ Zm.T)
            cores[k] = xp.transpose(xp.reshape(Gm, (shape[k], rk, rk1)), (1, 0, 2))
        res = Xk - Gm @ Zm
        errors.append(float(xp.linalg.norm(res.ravel())) / normX)
        stop = False
        if callback is not None:
            cur = TRTensor(list(cores))
            cur.errors, cur.n_iter = np.array(errors), it
            stop = bool(callback(cur))
        if len(errors) > 1 and abs(errors[-2] - errors[-1]) <= tol_iter:
            converged = True
            break
        if stop:
            break
    return cores, errors, it, converged


def tensor_ring(
    X,
    rank=None,
    *,
    tol=None,
    method="svd",
    init="svd",
    maxiter=100,
    tol_iter=1e-10,
    rng=None,
    callback=None,
    svd="auto",
):
    """Tensor-ring decomposition by TR-SVD or alternating least squares (Zhao et al., 2016).

    Parameters
    ----------
    X : array_like
        Tensor of order >= 2 (NumPy or CuPy).
    rank : int, sequence of int, float or "same", optional
        Bond ranks ``(r_0, ..., r_{N-1})`` (or ``N + 1`` entries with ``r_N = r_0``, as in
        TensorLy); an int is used for every bond; a float (``"same"``: 1.0) gives the
        uniform rank whose ring has at most that fraction of ``X``'s size in parameters.
    tol : float, optional
        Relative error target of TR-SVD (``method="svd"``): the first split may discard
        ``2 tol^2 ||X||^2 / N``, the ``N - 2`` others ``tol^2 ||X||^2 / N`` each, so that
        ``||X - T|| <= tol ||X||``; the achieved error is reported in ``errors``.
    method : {"svd", "als"}, optional
        ``"svd"``: one pass of sequential SVDs; ``"als"``: alternating least squares
        on each core (needs ``rank``), started from ``init``.  ALS forms the product of
        the other cores, ``r_k r_{k+1} X.size / I_k`` entries, for each core update.
    init : {"svd", "random"} or TRTensor, optional
        Starting cores of ALS.
    maxiter : int, optional
        ALS sweeps.
    tol_iter : float, optional
        ALS stops when the relative error changes by less than this.
    rng : int or numpy.random.Generator, optional
        Seed of the random initialisation (drawn on the host).
    callback : callable, optional
        ``callback(T)`` after every ALS sweep; returning ``True`` stops.
    svd : {"auto", "gram", "svd"}, optional
        Spectrum computation of TR-SVD (see :func:`tensor_train`).

    Returns
    -------
    TRTensor
        The cores; ``errors`` holds the relative error history.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import TRTensor, tensor_ring
    >>> rng = np.random.default_rng(0)
    >>> ring = TRTensor([rng.standard_normal(s) for s in [(2, 8, 3), (3, 9, 2), (2, 10, 2)]])
    >>> X = ring.to_tensor()
    >>> tr = tensor_ring(X, rank=(2, 3, 2), method="als", init="random", rng=0, maxiter=500)
    >>> tr.rank, tr.relative_error(X) < 1e-8
    ((2, 3, 2, 2), True)
    >>> tensor_ring(X, tol=1e-8).relative_error(X) < 1e-8
    True
    """
    bk, X = as_tensor(X)
    xp = bk.xp
    _check_rank_tol(rank, tol)
    tol = check_tol("tol", tol, target=True)
    if method not in ("svd", "als"):
        raise ValueError(f"method must be 'svd' or 'als', got {method!r}")
    if svd not in ("auto", "gram", "svd"):
        raise ValueError(f"svd must be 'auto', 'gram' or 'svd', got {svd!r}")
    maxiter = check_int("maxiter", maxiter, minimum=1)
    tol_iter = check_tol("tol_iter", tol_iter, allow_zero=True)
    N = X.ndim
    if rank is None and tol is None:
        raise ValueError("give rank= or tol= to choose the tensor-ring ranks")
    ranks = None if rank is None else _tr_ranks(X.shape, rank)
    if ranks is not None and _fraction(rank) is not None:
        # a derived (float / 'same') rank is lowered to what the method can fit: TR-SVD
        # splits r_0 r_1 <= min(I_0, |X| / I_0); ALS needs r_k r_{k+1} <= |X| / I_k
        r = ranks[0]
        cap = (min(X.shape[0], X.size // X.shape[0]) if method == "svd"
               else min(X.size // s for s in X.shape))
        while r > 1 and r * r > cap:
            r -= 1
        ranks = [r] * N
    use_gram = _use_gram(svd, tol, X.dtype)
    if method == "svd":
        cores, err, tails = _tr_svd(bk, X, ranks, tol, use_gram)
        return _output(
            bk, TRTensor, cores, (np.array([err]), 0, True, {"discarded": np.array(tails)})
        )
    if ranks is None:
        raise ValueError("method='als' needs rank= (use method='svd' with tol=)")
    for k in range(N):
        rows = X.size // X.shape[k]
        if ranks[k] * ranks[(k + 1) % N] > rows:
            raise ValueError(
                f"rank[{k}] * rank[{(k + 1) % N}] = {ranks[k] * ranks[(k + 1) % N]} exceeds the "
                f"{rows} entries of X per index of mode {k}: core {k}'s least-squares problem "
                "would be underdetermined (the data do not allow these ranks); lower them")
    rng = host_rng(rng)
    if isinstance(init, TRTensor):
        cores = [bk.asarray(c).astype(X.dtype) for c in init.cores]
        if init.shape != tuple(X.shape):
            raise ValueError(f"init has shape {init.shape}, X has {tuple(X.shape)}")
        got = tuple(int(c.shape[0]) for c in cores)
        if got != tuple(ranks):
            raise ValueError(f"init has ranks {got} but rank= asks for {tuple(ranks)}; pass "
                             "matching ranks (or init='svd'/'random')")
    elif init == "svd" and ranks[0] * ranks[1 % N] <= min(X.shape[0], X.size // X.shape[0]):
        cores, _, _ = _tr_svd(bk, X, ranks, None, use_gram)
    elif init in ("svd", "random"):
        cores = [
            xp.asarray(
                rng.standard_normal((ranks[k], X.shape[k], ranks[(k + 1) % N])).astype(X.dtype)
            )
            for k in range(N)
        ]
    else:
        raise ValueError(f"init must be 'svd', 'random' or a TRTensor, got {init!r}")
    cores, errors, it, converged = _tr_als(bk, X, cores, maxiter, tol_iter, callback)
    return _output(bk, TRTensor, cores, (np.array(errors), it, converged, {}))
