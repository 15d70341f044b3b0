"""Tucker core shapes under a size budget (the Tucker packing problem) and tolerance-driven
Tucker / TT ranks with the error budget allocated globally across modes or cuts.

Reference: M. Ghadiri, M. Fahrbach, G. Fu, V. Mirrokni, "Approximately Optimal Core Shapes for
Tensor Decompositions", ICML 2023.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._utils import (
    as_tensor,
    check_tol,
    fnorm2,
    host,
    leading_eigvecs,
    mode_dot,
    mode_gram,
    tucker_size,
)

__all__ = [
    "tucker_spectra",
    "tucker_core_shape",
    "tucker_rank_for_tol",
    "tt_spectra",
    "tt_ranks_for_tol",
    "tr_ranks_for_tol",
]

_ENUM_LIMIT = 3_000_000


# --------------------------------------------------------------------------- spectra
def tucker_spectra(X):
    """Squared higher-order singular values of every mode (from the mode Gram matrices).

    For each mode ``n`` the eigenvalues of ``X_(n) X_(n)^T`` (the squared singular values of
    the mode-``n`` unfolding) are computed with ``eigh`` of the ``I_n x I_n`` Gram matrix,
    which is much cheaper than an SVD of the unfolding and runs on the GPU for CuPy input.

    Parameters
    ----------
    X : array_like, shape (I_1, ..., I_N)
        A dense real tensor (NumPy or CuPy), ``N >= 2``.

    Returns
    -------
    list of numpy.ndarray
        ``spectra[n]`` holds the ``I_n`` squared singular values of mode ``n`` in
        decreasing order, as float64 host arrays (negative round-off clipped to 0).
        Each sums to ``||X||_F^2``.  The list also carries the eigenvectors (privately),
        so that ``tucker_core_shape(X, ..., spectra=spec, method="portfolio")`` does not
        recompute the Gram matrices of the same ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import tucker_spectra
    >>> X = np.einsum("i,j,k->ijk", [1.0, 2.0], [1.0, 0.0, 0.0], [3.0, 4.0])
    >>> [np.round(s, 6).tolist() for s in tucker_spectra(X)]
    [[125.0, 0.0], [125.0, 0.0, 0.0], [125.0, 0.0]]
    """
    bk, X = as_tensor(X)
    xp = bk.xp
    out = _Spectra()
    bases = []
    for n in range(X.ndim):
        G = mode_gram(xp, X, n)
        if G.dtype != np.float64:
            G = G.astype(np.float64)
        w, V = xp.linalg.eigh(G)
        out.append(np.maximum(host(xp, w)[::-1], 0.0).copy())
        bases.append(V[:, ::-1])
    # the eigenvectors ride along (private) so that method="portfolio" need not recompute
    # the Gram matrices; they are used only for the tensor they came from
    out._bases = bases
    out._fingerprint = _fingerprint(xp, X)
    return out


class _Spectra(list):
    """A plain list of spectra that also carries the eigenvectors (private)."""

    _bases = None
    _fingerprint = None


def _fingerprint(xp, X):
    x = X.ravel()
    step = max(1, x.size // 4096)
    return (tuple(X.shape), str(X.dtype), fnorm2(xp, X), float(xp.sum(x[::step])),
            float(xp.sum(x[step // 2::step])))


def tt_spectra(X):
    """Squared singular values of the TT unfoldings ``X_<k>`` (rows: modes 1..k).

    Parameters
    ----------
    X : array_like, shape (I_1, ..., I_d)
        A dense real tensor, ``d >= 2``.

    Returns
    -------
    list of numpy.ndarray
        ``d - 1`` arrays; entry ``k`` holds the squared singular values of the
        ``(I_1 ... I_{k+1}) x (I_{k+2} ... I_d)`` unfolding in decreasing order.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import tt_spectra
    >>> X = np.ones((2, 3, 4))
    >>> [int((s > 1e-10).sum()) for s in tt_spectra(X)]
    [1, 1]
    """
    bk, X = as_tensor(X)
    xp = bk.xp
    out = []
    shape = X.shape
    for k in range(1, X.ndim):
        m = int(np.prod(shape[:k]))
        A = X.reshape(m, -1)
        if A.dtype != np.float64:
            A = A.astype(np.float64)
        G = A @ A.T if A.shape[0] <= A.shape[1] else A.T @ A
        w = host(xp, xp.linalg.eigvalsh(G))[::-1]
        out.append(np.maximum(w, 0.0).copy())
    return out


def _check_spectra(spectra, shape):
    if len(spectra) != len(shape):
        raise ValueError(f"spectra must hold one array per mode ({len(shape)}), got {len(spectra)}")
    out = []
    for n, (s, i) in enumerate(zip(spectra, shape, strict=False)):
        s = np.asarray(s, dtype=np.float64).ravel()
        if s.size != i:
            raise ValueError(f"spectra[{n}] must have {i} entries (the size of mode {n}), "
                             f"got {s.size}; compute it with tucker_spectra(X)")
        out.append(np.maximum(np.sort(s)[::-1], 0.0))
    return out


def _prefix(spectra):
    """P[n][r] = captured energy with rank r (r = 0..I_n)."""
    return [np.concatenate(([0.0], np.cumsum(s))) for s in spectra]


def _resolve_budget(budget, shape):
    full = int(np.prod(shape, dtype=np.int64))
    if isinstance(budget, bool) or not isinstance(budget, numbers.Real):
        raise TypeError("budget must be an int (number of parameters) or a float in (0, 1) "
                        f"(fraction of the tensor size), got {budget!r}")
    if isinstance(budget, numbers.Integral):
        B = int(budget)
    else:
        b = float(budget)
        if not (0.0 < b < 1.0):
            raise ValueError("a float budget is a compression ratio and must lie in (0, 1); "
                             f"give the number of parameters as an int instead, got {budget!r}")
        B = int(math.floor(b * full))
    smallest = tucker_size(shape, (1,) * len(shape))
    if B < smallest:
        raise ValueError(f"budget={budget!r} ({B} parameters) is smaller than the smallest Tucker "
                         f"model, the core (1, ..., 1), which needs {smallest} parameters for "
                         f"shape {tuple(shape)}; increase the budget")
    return B


def _fix_validity(ranks):
    """Clip r_n <= prod_{m != n} r_m (larger ranks are redundant in a Tucker model)."""
    r = list(ranks)
    changed = True
    while changed:
        changed = False
        for n in range(len(r)):
            p = int(np.prod([r[m] for m in range(len(r)) if m != n], dtype=np.int64))
            if r[n] > p:
                r[n] = max(p, 1)
                changed = True
    return tuple(int(v) for v in r)


# --------------------------------------------------------------------------- packing
def _grid(sizes, caps):
    """All combinations of ranks 1..cap for the given modes, as an (ncomb, len) int64 array."""
    axes = [np.arange(1, c + 1, dtype=np.int64) for c in caps]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1) if axes else np.ones((1, 0), np.int64)


def _packing_enumerate(shape, P, B):
    """Exact Tucker packing: enumerate ranks of all modes but the largest, whose rank follows."""
    N = len(shape)
    L = int(np.argmax(shape))
    others = [n for n in range(N) if n != L]
    caps = [min(shape[n], B) for n in others]
    combos = _grid([shape[n] for n in others], caps)
    p = np.prod(combos, axis=1)
    s = combos @ np.array([shape[n] for n in others], dtype=np.int64)
    obj = np.zeros(len(combos))
    for j, n in enumerate(others):
        obj += P[n][combos[:, j]]
    rL = (B - s) // (p + shape[L])
    rL = np.minimum(np.minimum(rL, shape[L]), p)
    ok = rL >= 1
    # smallest rank of the largest mode with the same captured energy (no zero-energy bloat)
    PL = P[L]
    rL = np.where(ok, np.searchsorted(PL, PL[np.clip(rL, 0, shape[L])] - 1e-13 * PL[-1],
                                      side="left"), rL)
    rL = np.where(ok, np.maximum(rL, 1), rL)
    for j in range(len(others)):
        ok &= combos[:, j] * combos[:, j] <= p * np.maximum(rL, 1)
    if not ok.any():
        return None
    total = np.where(ok, obj + P[L][np.clip(rL, 0, shape[L])], -np.inf)
    best = total.max()
    cand = np.flatnonzero(total >= best - 1e-12 * max(P[L][-1], 1e-300))
    sizes = p[cand] * rL[cand] + s[cand] + shape[L] * rL[cand]
    i = cand[np.argmin(sizes)]
    r = [0] * N
    for j, n in enumerate(others):
        r[n] = int(combos[i, j])
    r[L] = int(rL[i])
    return tuple(r)


def _packing_milp(shape, P, B, eps=0.1):
    """The paper's integer program: a multiple-choice knapsack per guessed product budget."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    N = len(shape)
    caps = [min(shape[n], B) for n in range(N)]
    idx, logs, lin, gain = [], [], [], []
    for n in range(N):
        r = np.arange(1, caps[n] + 1)
        idx.append(np.full(len(r), n))
        logs.append(np.log(r))
        lin.append(shape[n] * r)
        gain.append(P[n][r])
    idx = np.concatenate(idx)
    logs = np.concatenate(logs)
    lin = np.concatenate(lin).astype(float)
    gain = np.concatenate(gain)
    nv = len(gain)
    onehot = np.zeros((N, nv))
    onehot[idx, np.arange(nv)] = 1.0
    best, best_r = -np.inf, None
    pmax = B - sum(shape)
    bprod = 1.0
    while bprod <= pmax * (1 + eps):
        bp = min(bprod, pmax)
        A = np.vstack([onehot, logs, lin])
        lo = np.concatenate([np.ones(N), [-np.inf, -np.inf]])
        hi = np.concatenate([np.ones(N), [math.log(bp) + 1e-9, B - bp]])
        res = milp(-gain, constraints=LinearConstraint(A, lo, hi), integrality=np.ones(nv),
                   bounds=Bounds(0, 1))
        if res.status == 0 and res.x is not None:
            sel = np.flatnonzero(res.x > 0.5)
            r = [1] * N
            for v in sel:
                r[idx[v]] = int(round(math.exp(logs[v])))
            r = _fix_validity(r)
            if tucker_size(shape, r) <= B:
                val = sum(P[n][r[n]] for n in range(N))
                if val > best:
                    best, best_r = val, tuple(r)
        bprod *= 1 + eps
    return best_r


def _greedy(shape, spectra, B, bang_for_buck=False):
    """Greedy rank increments scored by the next squared singular value (or per parameter)."""
    N = len(shape)
    r = [1] * N
    size = tucker_size(shape, r)
    while True:
        best, best_n = -1.0, -1
        for n in range(N):
            if r[n] >= shape[n]:
                continue
            r2 = list(r)
            r2[n] += 1
            s2 = tucker_size(shape, r2)
            if s2 > B:
                continue
            g = spectra[n][r[n]]
            if bang_for_buck:
                g = g / (s2 - size)
            if g > best:
                best, best_n = g, n
        if best_n < 0:
            break
        r[best_n] += 1
        size = tucker_size(shape, r)
    return _fix_validity(r)


def _uniform(shape, B):
    """TensorLy-style uniform scaling of every mode: the largest c with size(ceil(c*I)) <= B."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        c = 0.5 * (lo + hi)
        r = [max(1, int(round(c * i))) for i in shape]
        if tucker_size(shape, r) <= B:
            lo = c
        else:
            hi = c
    return _fix_validity([max(1, int(round(lo * i))) for i in shape])


def tucker_core_shape(X, budget, *, method="packing", spectra=None, solver="auto",
                      hooi_iter=3, max_evals=12, return_candidates=False):
    """Choose a Tucker core shape ``(r_1, ..., r_N)`` under a parameter budget.

    The Tucker model with core shape ``r`` has ``prod(r) + sum(I_n r_n)`` parameters.  The
    ``"packing"`` method solves the Tucker packing problem of Ghadiri et al. (ICML 2023)
    exactly: maximise the captured energy ``sum_n sum_{i <= r_n} sigma_{n,i}^2`` (the
    higher-order singular values, see :func:`tucker_spectra`), i.e. minimise the HOSVD error
    bound, subject to the budget.  ``"greedy"`` grows one rank at a time, always the one with
    the largest next ``sigma^2``.  ``"portfolio"`` scores the packing, greedy and
    gain-per-parameter greedy shapes and every budget-maximal shape near them by their exact
    HOSVD error, fits the best few by short warm-started HOOI and keeps the best.

    Parameters
    ----------
    X : array_like, shape (I_1, ..., I_N)
        Dense real tensor (NumPy or CuPy).
    budget : int or float
        Number of parameters (int), or a fraction of ``X.size`` in (0, 1) (float).
    method : {"packing", "greedy", "portfolio", "uniform"}, optional
        Selection rule (``"uniform"``: TensorLy's uniform scaling of every mode, for
        comparison).
    spectra : list of array_like, optional
        Precomputed output of :func:`tucker_spectra` (re-used across budgets).
    solver : {"auto", "enumerate", "milp"}, optional
        How the packing problem is solved.  ``"enumerate"`` is exact: it enumerates the ranks
        of all but the largest mode (vectorised) and sets the largest mode's rank to the
        largest that fits.  ``"milp"`` is the paper's integer program (``scipy.optimize.milp``
        on a geometric grid of core-size budgets, a ``(1 + 0.1)``-approximation).
        ``"auto"`` enumerates when at most three million combinations arise.
    hooi_iter : int, optional
        HOOI sweeps spent on each of the three finalists of ``method="portfolio"`` (the
        first of them is the sweep that ranked all candidates).
    max_evals : int, optional
        ``method="portfolio"``: number of budget-maximal shapes, taken in order of their
        exact HOSVD error, that are scored by one warm-started HOOI sweep.  The HOSVD error
        of *every* shape near the packing / greedy seeds is computed at once from one
        rotation of ``X`` into its per-mode Gram eigenbases (a cumulative sum of the squared
        rotated core); the HOOI sweeps run on that compressed core, and the three best
        candidates get ``hooi_iter`` sweeps in total.
    return_candidates : bool, optional
        With ``method="portfolio"``, also return ``{shape: hooi_relative_error}``.

    Returns
    -------
    tuple of int
        The core shape (plus the candidate dictionary with ``return_candidates=True``).

    Raises
    ------
    ValueError
        When the budget cannot hold the smallest core ``(1, ..., 1)`` or is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import tucker_core_shape
    >>> rng = np.random.default_rng(0)
    >>> core = rng.standard_normal((4, 3, 2))
    >>> U = [np.linalg.qr(rng.standard_normal((n, r)))[0] for n, r in zip((20, 15, 10), (4, 3, 2))]
    >>> X = np.einsum("abc,ia,jb,kc->ijk", core, *U)
    >>> tucker_core_shape(X, 24 + 20 * 4 + 15 * 3 + 10 * 2)
    (4, 3, 2)
    """
    if method not in ("packing", "greedy", "portfolio", "uniform"):
        raise ValueError("method must be 'packing', 'greedy', 'portfolio' or 'uniform', "
                         f"got {method!r}")
    if solver not in ("auto", "enumerate", "milp"):
        raise ValueError(f"solver must be 'auto', 'enumerate' or 'milp', got {solver!r}")
    shape = tuple(int(i) for i in X.shape) if hasattr(X, "shape") else np.shape(X)
    if len(shape) < 2:
        raise ValueError(f"X must have at least 2 dimensions, got shape {shape}")
    B = _resolve_budget(budget, shape)
    if method == "uniform":
        return _uniform(shape, B)
    if spectra is None:
        spectra = tucker_spectra(X)
    spectra_in = spectra
    spectra = _check_spectra(spectra, shape)
    P = _prefix(spectra)
    if method == "greedy":
        return _greedy(shape, spectra, B)
    packed = _solve_packing(shape, P, B, solver)
    if method == "packing":
        return packed
    bk, Xa = as_tensor(X, nonzero=True)
    return _portfolio(bk.xp, Xa, shape, spectra, P, B, packed, hooi_iter, return_candidates,
                      max_evals, spectra_in)


def _solve_packing(shape, P, B, solver):
    N = len(shape)
    L = int(np.argmax(shape))
    ncomb = int(np.prod([min(shape[n], B) for n in range(N) if n != L], dtype=np.float64))
    if solver == "enumerate" or (solver == "auto" and ncomb <= _ENUM_LIMIT):
        r = _packing_enumerate(shape, P, B)
    else:
        r = _packing_milp(shape, P, B)
        if r is not None:
            r = _fill(shape, P, B, r)
    return r if r is not None else (1,) * N


def _fill(shape, P, B, r):
    """Local improvement: single-rank increments (best gain first) while the budget allows."""
    r = list(r)
    while True:
        best, best_n = 0.0, -1
        for n in range(len(r)):
            if r[n] >= shape[n]:
                continue
            r2 = list(r)
            r2[n] += 1
            if tucker_size(shape, r2) > B:
                continue
            g = P[n][r[n] + 1] - P[n][r[n]]
            if g > best:
                best, best_n = g, n
        if best_n < 0:
            return _fix_validity(r)
        r[best_n] += 1


# --------------------------------------------------------------------------- tolerance mode
def tucker_rank_for_tol(X, tol, *, spectra=None, method="best"):
    """Smallest Tucker core (in parameters) that meets a relative-error tolerance.

    With ``method="global"`` the error budget ``tol^2 ||X||^2`` is allocated across the
    modes jointly (the dual of the Tucker packing problem): minimise
    ``prod(r) + sum(I_n r_n)`` subject to ``sum_n tail_n(r_n) <= tol^2 ||X||^2``, where
    ``tail_n(r)`` is the energy of mode ``n`` beyond rank ``r``.  The problem is solved
    exactly by enumerating all but the largest mode.  ``method="split"`` is the classical
    equal split (``tol^2 ||X||^2 / N`` per mode, as in Tensor Toolbox ``hosvd``).  Either
    way an (ST-)HOSVD with the returned ranks has relative error ``<= tol``.
    ``method="sequential"`` follows the ST-HOSVD: mode by mode it re-solves the global
    allocation for the remaining modes on the spectra of the already truncated core with the
    remaining error budget, fixes the current mode's rank and truncates; ST-HOSVD in mode
    order ``0, 1, ..., N-1`` with the returned ranks meets ``tol``.  ``method="best"`` (the
    default) takes the smallest of the ``"global"`` and ``"sequential"`` answers, of the
    ranks :func:`lrsolve.tensor.sthosvd` picks for ``tol`` (the per-mode split of Tensor
    Toolbox's ``hosvd``, unused budget carried to the next mode) and of the **exact HOSVD
    optimum** (the fewest parameters over every core shape whose exact HOSVD error is
    ``<= tol``: ``X`` is rotated once into its mode eigenbases, within rank caps that no
    smaller shape can exceed, and prefix sums of the squared rotated core give the error of
    every shape) for which ``sthosvd(X, rank=r)`` has error ``<= tol``.  Each candidate
    but the global one (whose bound holds in any mode order) is checked by computing that
    ST-HOSVD, so the answer is never larger than the split's and ``sthosvd(X, rank=r)``
    meets ``tol``; it costs the rotation and up to four ST-HOSVDs more than
    ``"global"``.

    Parameters
    ----------
    X : array_like, shape (I_1, ..., I_N)
        Dense real tensor.
    tol : float
        Target relative error in (0, 1).
    spectra : list of array_like, optional
        Precomputed output of :func:`tucker_spectra`.
    method : {"best", "global", "sequential", "split"}, optional
        Error allocation rule (default ``"best"``).

    Returns
    -------
    tuple of int
        The core shape.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import tucker_rank_for_tol
    >>> rng = np.random.default_rng(1)
    >>> core = rng.standard_normal((3, 2, 2))
    >>> U = [np.linalg.qr(rng.standard_normal((n, r)))[0] for n, r in zip((10, 8, 6), (3, 2, 2))]
    >>> X = np.einsum("abc,ia,jb,kc->ijk", core, *U)
    >>> tucker_rank_for_tol(X, 1e-6)
    (3, 2, 2)
    """
    tol = check_tol(tol)
    if method not in ("best", "global", "split", "sequential"):
        raise ValueError(
            f"method must be 'best', 'global', 'sequential' or 'split', got {method!r}")
    if method == "best":
        return _best_for_tol(X, tol, spectra)
    if method == "sequential":
        return _sequential_for_tol(X, tol)
    shape = tuple(int(i) for i in np.shape(X)) if not hasattr(X, "shape") else tuple(X.shape)
    if spectra is None:
        spectra = tucker_spectra(X)
    spectra = _check_spectra(spectra, shape)
    P = _prefix(spectra)
    N = len(shape)
    total = float(np.mean([p[-1] for p in P]))
    eps2 = tol * tol * total
    if method == "split":
        r = [int(np.searchsorted(P[n], P[n][-1] - eps2 / N - 1e-300, side="left")) for n in
             range(N)]
        return _fix_validity([max(1, min(v, shape[n])) for n, v in enumerate(r)])
    L = int(np.argmax(shape))
    others = [n for n in range(N) if n != L]
    ncomb = int(np.prod([shape[n] for n in others], dtype=np.float64))
    if ncomb <= _ENUM_LIMIT:
        combos = _grid(None, [shape[n] for n in others])
        tail = np.zeros(len(combos))
        for j, n in enumerate(others):
            tail += P[n][-1] - P[n][combos[:, j]]
        rem = eps2 - tail
        ok = rem >= 0
        # smallest rL with P_L[rL] >= total_L - rem
        need = P[L][-1] - np.where(ok, rem, 0.0)
        rL = np.searchsorted(P[L], need * (1 - 1e-13) - 1e-300, side="left")
        rL = np.clip(rL, 1, shape[L])
        p = np.prod(combos, axis=1)
        rL = np.minimum(rL, p)  # larger is redundant (the core's unfolding has rank <= p)
        size = p * rL + combos @ np.array([shape[n] for n in others]) + shape[L] * rL
        size = np.where(ok, size, np.iinfo(np.int64).max)
        i = int(np.argmin(size))
        if ok[i]:
            r = [0] * N
            for j, n in enumerate(others):
                r[n] = int(combos[i, j])
            r[L] = int(rL[i])
            return _fix_validity(r)
    # fallback: greedy rank decrements from the equal split, best size saving per error
    r = list(tucker_rank_for_tol(X, tol, spectra=spectra, method="split"))
    used = sum(P[n][-1] - P[n][r[n]] for n in range(N))
    while True:
        best, best_n = 0.0, -1
        for n in range(N):
            if r[n] <= 1:
                continue
            add = spectra[n][r[n] - 1]
            if used + add > eps2:
                continue
            r2 = list(r)
            r2[n] -= 1
            save = tucker_size(shape, r) - tucker_size(shape, r2)
            score = save / (add + 1e-300)
            if score > best:
                best, best_n = score, n
        if best_n < 0:
            break
        used += spectra[best_n][r[best_n] - 1]
        r[best_n] -= 1
    return _fix_validity(r)


def _tt_chain_dp(shape, tails, mu, caps):
    """min sum_k r_{k-1} I_k r_k + mu * sum_k tail_k(r_k) over interior ranks (Viterbi)."""
    d = len(shape)
    # cost over r_1 (first interior bond): I_0 * r_1 + mu * tail_0(r_1)
    r1 = np.arange(1, caps[0] + 1)
    cost = shape[0] * r1 + mu * tails[0][r1]
    back = []
    for k in range(1, d - 1):
        rk = np.arange(1, caps[k] + 1)
        rprev = np.arange(1, caps[k - 1] + 1)
        tot = cost[:, None] + shape[k] * np.outer(rprev, rk)
        arg = np.argmin(tot, axis=0)
        cost = tot[arg, np.arange(len(rk))] + mu * tails[k][rk]
        back.append(arg)
    rlast = np.arange(1, caps[d - 2] + 1)
    cost = cost + shape[d - 1] * rlast
    j = int(np.argmin(cost))
    ranks = [j + 1]
    for arg in reversed(back):
        j = int(arg[j])
        ranks.append(j + 1)
    return ranks[::-1]


def tt_ranks_for_tol(X, tol, *, spectra=None, method="global"):
    """TT ranks meeting a relative-error tolerance with the fewest parameters.

    The TT-SVD error obeys ``||X - TT||^2 <= sum_k tail_k(r_k)`` where ``tail_k`` is the
    energy of the ``k``-th TT unfolding beyond rank ``r_k`` (Oseledets 2011, Thm. 2.2).
    ``method="global"`` allocates ``tol^2 ||X||^2`` across the cuts jointly: it minimises
    ``sum_k r_{k-1} I_k r_k`` under that bound by a Lagrangian chain dynamic programme
    (bisection on the multiplier), followed by greedy rank decrements while the bound holds.
    ``method="split"`` gives every cut ``tol^2 ||X||^2 / (d - 1)`` (the ttpy / TT-Toolbox rule
    applied to the unfolding spectra).  TT-SVD with the returned ranks meets ``tol``.

    Parameters
    ----------
    X : array_like, shape (I_1, ..., I_d)
        Dense real tensor, ``d >= 2``.
    tol : float
        Target relative error in (0, 1).
    spectra : list of array_like, optional
        Precomputed output of :func:`tt_spectra`.
    method : {"global", "split"}, optional
        Error allocation rule.

    Returns
    -------
    tuple of int
        The ``d - 1`` interior TT ranks.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import tt_ranks_for_tol
    >>> rng = np.random.default_rng(2)
    >>> G = [rng.standard_normal(s) for s in [(1, 4, 2), (2, 5, 3), (3, 6, 1)]]
    >>> X = np.einsum("aib,bjc,ckd->ijk", *G)
    >>> tt_ranks_for_tol(X, 1e-6)
    (2, 3)
    """
    tol = check_tol(tol)
    if method not in ("global", "split"):
        raise ValueError(f"method must be 'global' or 'split', got {method!r}")
    shape = tuple(int(i) for i in (X.shape if hasattr(X, "shape") else np.shape(X)))
    d = len(shape)
    if d < 2:
        raise ValueError(f"X must have at least 2 dimensions, got shape {shape}")
    if spectra is None:
        spectra = tt_spectra(X)
    spectra = [np.maximum(np.sort(np.asarray(s, dtype=np.float64).ravel())[::-1], 0.0)
               for s in spectra]
    if len(spectra) != d - 1:
        raise ValueError(f"spectra must hold d - 1 = {d - 1} arrays, got {len(spectra)}")
    total = float(np.mean([s.sum() for s in spectra]))
    if not total > 0:
        raise ValueError("X is all zeros (its spectra are zero): every rank represents it "
                         "exactly and relative errors are undefined; there is no rank to select")
    eps2 = tol * tol * total
    caps = [len(s) for s in spectra]
    tails = [np.concatenate(([s.sum()], s.sum() - np.cumsum(s))).clip(0) for s in spectra]
    if method == "split":
        r = [int(np.argmax(t <= eps2 / (d - 1))) for t in tails]
        return tuple(max(1, v) for v in r)

    def bound(r):
        return sum(tails[k][r[k]] for k in range(d - 1))

    if d == 2:
        r = [int(np.argmax(tails[0] <= eps2))]
        return (max(1, r[0]),)
    lo, hi = 0.0, 1.0
    while bound(_tt_chain_dp(shape, tails, hi / total, caps)) > eps2 and hi < 1e30:
        hi *= 4.0
    r = _tt_chain_dp(shape, tails, hi / total, caps)
    for _ in range(60):
        mid = math.sqrt(max(lo, 1e-30) * hi) if lo > 0 else hi / 8.0
        rm = _tt_chain_dp(shape, tails, mid / total, caps)
        if bound(rm) <= eps2:
            hi, r = mid, rm
        else:
            lo = mid
        if hi / max(lo, 1e-300) < 1.0 + 1e-6:
            break

    def size(rr):
        full = [1, *rr, 1]
        return sum(full[k] * shape[k] * full[k + 1] for k in range(d))

    r = list(r)
    while True:  # greedy decrements while the bound still holds
        best, best_k = 0.0, -1
        b0, s0 = bound(r), size(r)
        for k in range(d - 1):
            if r[k] <= 1:
                continue
            r2 = list(r)
            r2[k] -= 1
            add = bound(r2) - b0
            if b0 + add > eps2:
                continue
            score = (s0 - size(r2)) / (add + 1e-300 * total)
            if score > best:
                best, best_k = score, k
        if best_k < 0:
            break
        r[best_k] -= 1
    return tuple(int(v) for v in r)


def _tr_first_split(xp, X, R):
    """TR-SVD's first step: leading ``R`` left singular vectors ``U`` of ``X_<1>`` and the
    projected remainder ``C = U^T X_<1>`` (``R x prod(I_2..I_d)``)."""
    A = X.reshape(X.shape[0], -1)
    if A.dtype != np.float64:
        A = A.astype(np.float64)
    U = leading_eigvecs(xp, A @ A.T, R)
    return U, U.T @ A


def _tr_svd(xp, X, ranks):
    """TR-SVD (Zhao et al. 2016) with bond ranks ``(r_0, ..., r_{d-1})``: the first unfolding
    truncated to ``r_0 r_1``, then TT-SVD of the remainder with ``r_0`` moved to the end.
    Returns the cores ``(r_k, I_k, r_{k+1})``."""
    r0, r1 = int(ranks[0]), int(ranks[1])
    U, C = _tr_first_split(xp, X, r0 * r1)
    G0 = xp.transpose(U.reshape(X.shape[0], r0, r1), (1, 0, 2))
    Y = xp.moveaxis(C.reshape((r0, r1) + X.shape[1:]), 0, -1)  # r1, I_2.., I_d, r0
    Y = Y.reshape((r1 * X.shape[1],) + X.shape[2:-1] + (X.shape[-1] * r0,))
    from ._utils import tt_svd

    cores = tt_svd(xp, Y, list(ranks[2:]))
    out = [G0]
    out.append(cores[0].reshape(r1, X.shape[1], -1))
    out.extend(cores[1:-1])
    last = cores[-1]
    out.append(last.reshape(last.shape[0], X.shape[-1], r0))
    return out


def tr_ranks_for_tol(X, tol, *, method="global"):
    """Tensor-ring bond ranks meeting a relative-error tolerance by TR-SVD.

    TR-SVD (Zhao et al. 2016) truncates the first unfolding ``X_<1>`` to rank
    ``R_1 = r_0 r_1`` (split into the ring bond ``r_0`` and ``r_1`` with ``r_0 <= r_1`` as
    close as possible), moves ``r_0`` to the last mode and runs a TT-SVD of the rest; its
    squared error is the first truncation's discarded energy plus the TT-SVD error of the
    remainder.  ``method="split"`` is the TR-SVD rule: ``2 tol^2 ||X||^2 / d`` for the first
    step and ``tol^2 ||X||^2 / d`` for each later cut.  ``method="global"`` takes the first
    rank from the global TT allocation of :func:`tt_ranks_for_tol` and then allocates the
    *remaining* error budget across the remainder's cuts jointly (the same chain dynamic
    programme, on the exact spectra of the remainder).  Either way TR-SVD with the returned
    ranks meets ``tol``.  These are TR-SVD ranks: the later bonds of a planted ring
    are generally recovered only up to a factor ``r_0`` (TR-SVD does not identify the ring
    index in the rotated first factor); :func:`tn_structure_search` searches the ranks of
    an ALS-fitted ring instead.

    Parameters
    ----------
    X : array_like, shape (I_1, ..., I_d)
        Dense real tensor, ``d >= 3``.
    tol : float
        Target relative error in (0, 1).
    method : {"global", "split"}, optional
        Error allocation rule.

    Returns
    -------
    tuple of int
        Bond ranks ``(r_0, r_1, ..., r_{d-1})``; ``r_0`` closes the ring (core ``k`` has
        shape ``(r_k, I_k, r_{k+1})`` with ``r_d = r_0``).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import tr_ranks_for_tol
    >>> rng = np.random.default_rng(3)
    >>> G = [rng.standard_normal(s) for s in [(1, 8, 3), (3, 6, 2), (2, 5, 2), (2, 6, 1)]]
    >>> X = np.einsum("aib,bjc,ckd,dla->ijkl", *G)
    >>> tr_ranks_for_tol(X, 1e-6)
    (1, 3, 2, 2)
    """
    tol = check_tol(tol)
    if method not in ("global", "split"):
        raise ValueError(f"method must be 'global' or 'split', got {method!r}")
    bk, X = as_tensor(X, min_ndim=3, nonzero=True)
    xp = bk.xp
    d = X.ndim
    normX2 = fnorm2(xp, X)
    eps2 = tol * tol * normX2
    spec = tt_spectra(X)
    s1 = spec[0]
    tail1 = np.concatenate(([s1.sum()], s1.sum() - np.cumsum(s1))).clip(0)
    R_split = max(1, int(np.argmax(tail1 <= 2.0 * eps2 / d)))
    if method == "split":
        return _tr_rest(xp, X, R_split, eps2, normX2, tail1, "split")
    # global: the first rank from the TT allocation, TR-SVD's, and those leaving 1/4, 1/2,
    # 3/4 of the budget to the remainder; the smallest resulting ring wins
    cands = {R_split, max(1, int(tt_ranks_for_tol(X, tol, spectra=spec, method="global")[0]))}
    for f in (0.25, 0.5, 0.75):
        cands.add(max(1, int(np.argmax(tail1 <= (1.0 - f) * eps2))))
    best = None
    for R1 in sorted(cands):
        rk = _tr_rest(xp, X, R1, eps2, normX2, tail1, "global")
        size = _tr_size(X.shape, rk)
        if best is None or size < best[0]:
            best = (size, rk)
    return best[1]


def _tr_size(shape, rk):
    d = len(shape)
    return int(sum(rk[k] * shape[k] * rk[(k + 1) % d] for k in range(d)))


def _tr_rest(xp, X, R1, eps2, normX2, tail1, method):
    """Ring ranks for a first rank ``R1``: split it, then allocate the remaining budget over
    the remainder's cuts (``method`` as in :func:`tt_ranks_for_tol`; TR-SVD's split gives
    each later cut ``eps2 / d``)."""
    d = X.ndim
    r0 = max(1, int(math.isqrt(R1)))
    while R1 % r0:  # the closest exact factorisation r0 * r1 = R1 (TR-SVD's rule)
        r0 -= 1
    r1 = R1 // r0
    _, C = _tr_first_split(xp, X, R1)
    rem = eps2 - float(tail1[min(R1, len(tail1) - 1)])
    Y = xp.moveaxis(C.reshape((r0, r1) + X.shape[1:]), 0, -1)
    Y = Y.reshape((r1 * X.shape[1],) + X.shape[2:-1] + (X.shape[-1] * r0,))
    normY2 = fnorm2(xp, Y)
    if normY2 <= 0.0:
        return (r0, r1) + (1,) * (d - 2)
    if method == "split":
        tol_y = math.sqrt(eps2 * (d - 2) / d / normY2)
    else:
        tol_y = math.sqrt(max(rem, 0.0) / normY2)
    tol_y = min(max(tol_y, 1e-15), 1.0 - 1e-12)
    if Y.ndim == 2:
        sy = tt_spectra(Y)[0]
        taily = np.concatenate(([sy.sum()], sy.sum() - np.cumsum(sy))).clip(0)
        rest = (max(1, int(np.argmax(taily <= tol_y * tol_y * normY2))),)
    else:
        rest = tt_ranks_for_tol(Y, tol_y, method=method)
    return (int(r0), int(r1)) + tuple(int(v) for v in rest)


def _top_packings(shape, P, B, k):
    """The k best packing solutions (distinct shapes) by the enumeration, best first."""
    N = len(shape)
    L = int(np.argmax(shape))
    others = [n for n in range(N) if n != L]
    ncomb = int(np.prod([min(shape[n], B) for n in others], dtype=np.float64))
    if ncomb > _ENUM_LIMIT:
        return []
    combos = _grid(None, [min(shape[n], B) for n in others])
    p = np.prod(combos, axis=1)
    s = combos @ np.array([shape[n] for n in others], dtype=np.int64)
    obj = np.zeros(len(combos))
    for j, n in enumerate(others):
        obj += P[n][combos[:, j]]
    rL = np.minimum(np.minimum((B - s) // (p + shape[L]), shape[L]), p)
    ok = rL >= 1
    for j in range(len(others)):
        ok &= combos[:, j] * combos[:, j] <= p * np.maximum(rL, 1)
    total = np.where(ok, obj + P[L][np.clip(rL, 0, shape[L])], -np.inf)
    idx = np.argsort(-total)[:k]
    out = []
    for i in idx:
        if not np.isfinite(total[i]):
            break
        r = [0] * N
        for j, n in enumerate(others):
            r[n] = int(combos[i, j])
        r[L] = int(rL[i])
        out.append(tuple(r))
    return out


def _hosvd_energy_grid(xp, X, cap, bases=None):
    """Rotate ``X`` into its per-mode Gram eigenbases (first ``cap[n]`` vectors of mode ``n``).

    Returns ``(C, S)``: the compressed HOSVD core ``C`` (``cap`` shaped, backend array) and
    the host array ``S`` with ``S[r_1 - 1, ..., r_N - 1]`` = the energy captured by the
    HOSVD with core shape ``r`` (the sum of ``C[:r_1, ..., :r_N] ** 2``), for every shape
    ``r <= cap`` at once (an N-dimensional cumulative sum).
    """
    N = X.ndim
    U = []
    for n in range(N):
        if bases is not None:
            V = bases[n][:, :cap[n]]
        else:
            G = mode_gram(xp, X, n)
            if G.dtype != np.float64:
                G = G.astype(np.float64)
            V = leading_eigvecs(xp, G, cap[n])
        U.append(xp.ascontiguousarray(V).astype(X.dtype, copy=False))
    C = X
    for n in sorted(range(N), key=lambda m: cap[m] / X.shape[m]):
        C = mode_dot(xp, C, U[n].T, n)
    E = C.astype(np.float64) ** 2
    for n in range(N):
        E = xp.cumsum(E, axis=n)
    return C, host(xp, E)


def _size_grid(shape, cap):
    """Broadcastable grids over the shapes ``r <= cap``: the ranks of every mode, their
    product and ``sum_n I_n r_n`` (a Tucker model's size is the last two added)."""
    N = len(shape)
    ax = [np.arange(1, c + 1, dtype=np.int64).reshape([-1 if m == n else 1 for m in range(N)])
          for n, c in enumerate(cap)]
    prod = np.ones([1] * N, dtype=np.int64)
    lin = np.zeros([1] * N, dtype=np.int64)
    for n in range(N):
        prod = prod * ax[n]
        lin = lin + shape[n] * ax[n]
    return ax, prod, lin


def _bases_of(spectra, xp, X):
    """The eigenvectors that ride along with ``tucker_spectra(X)``, if they are X's."""
    bases = getattr(spectra, "_bases", None)
    if bases is not None and (getattr(spectra, "_fingerprint", None) != _fingerprint(xp, X)
                              or type(bases[0]) is not type(X)):
        return None
    return bases


def _feasible_grid(shape, cap, B):
    """Mask of the shapes ``r <= cap`` (as a ``cap``-shaped grid) with size <= B, valid and
    maximal (no single rank can be raised to a valid shape within the budget)."""
    N = len(shape)
    ax, prod, lin = _size_grid(shape, cap)
    size = prod + lin
    ok = size <= B
    for n in range(N):
        ok &= ax[n] * ax[n] <= prod  # r_n <= prod of the other ranks
    # maximal: raising any single rank (where allowed) breaks the budget
    for n in range(N):
        grow = (prod // ax[n]) * (ax[n] + 1) + lin + shape[n]
        valid = (ax[n] + 1) * ax[n] <= prod  # r_n + 1 <= prod of the other ranks
        ok &= ~((ax[n] < min(shape[n], cap[n])) & (grow <= B) & valid)
    return ok


def _portfolio(xp, X, shape, spectra, P, B, packed, hooi_iter, return_candidates, max_evals,
               spectra_in=None):
    """Score every budget-maximal shape near the seeds by its exact HOSVD error (all at once,
    from one rotated core), then fit the best few by short warm-started HOOI."""
    N = len(shape)
    seeds = []
    for r in (packed, _greedy(shape, spectra, B), _greedy(shape, spectra, B, True),
              *_top_packings(shape, P, B, 6)):
        if r not in seeds:
            seeds.append(r)
    hi = [max(c[n] for c in seeds) for n in range(N)]
    cap = [min(shape[n], hi[n] + max(4, hi[n] // 2)) for n in range(N)]
    normX2 = fnorm2(xp, X)
    C, S = _hosvd_energy_grid(xp, X, cap, _bases_of(spectra_in, xp, X))
    normC2 = float(S[tuple(c - 1 for c in cap)])
    lost = max(normX2 - normC2, 0.0)
    ok = _feasible_grid(shape, cap, B)
    errs = {}
    if ok.any():
        flat = np.flatnonzero(ok.ravel())
        energy = S.ravel()[flat]
        k = min(len(flat), max(1, max_evals))
        top = flat[np.argsort(-energy, kind="stable")[:k]]
        cands = [tuple(int(v) + 1 for v in np.unravel_index(i, ok.shape)) for i in top]
    else:
        cands = list(seeds)
    for r in seeds:  # the seeds always compete (a seed may lie outside the grid's maxima)
        if r not in cands and all(r[n] <= cap[n] for n in range(N)):
            cands.append(r)
    def sweeps(r, n_sweeps, F=None):
        """HOOI sweeps on the compressed core from the HOSVD start; a factor ``None`` is the
        identity slice (first ``r_m`` eigenvectors), applied by slicing ``C``.  The factors
        live in the leading ``r_m + max(2, r_m // 2)`` eigenvectors of each mode (a box of
        ``C``): HOOI's rotations away from the HOSVD basis stay near it, and any factors give
        a valid Tucker model whose error is computed exactly."""
        box = tuple(min(cap[m], r[m] + max(2, r[m] // 2)) for m in range(N))
        Cb = C[tuple(slice(0, b) for b in box)]
        F = [None] * N if F is None else list(F)
        for _ in range(n_sweeps):
            for n in range(N):
                Y = Cb[tuple(slice(None) if (m == n or F[m] is not None) else slice(0, r[m])
                            for m in range(N))]
                for m in sorted((m for m in range(N) if m != n and F[m] is not None),
                                key=lambda m: r[m] / box[m]):
                    Y = mode_dot(xp, Y, F[m].T, m)
                F[n] = leading_eigvecs(xp, mode_gram(xp, Y, n), r[n])
        core = mode_dot(xp, Y, F[N - 1].T, N - 1)
        e2 = max(normC2 - fnorm2(xp, core), 0.0) + lost
        return math.sqrt(e2 / normX2), F

    def fit(r, n_iter, factors=None):
        return sweeps(r, n_iter, factors)

    # one warm-started HOOI sweep per candidate, then refine the best three
    first = {r: fit(r, 1) for r in cands}
    order = sorted(first, key=lambda r: (first[r][0], tucker_size(shape, r)))
    for r in order:
        errs[r] = first[r][0]
    for r in order[:3]:
        if hooi_iter > 1:
            errs[r] = min(errs[r], fit(r, hooi_iter - 1, first[r][1])[0])
    # ties (errors equal up to round-off, e.g. an exact low-rank tensor): the smaller shape
    emin = min(errs[r] for r in order[:3])
    best = min((r for r in order[:3] if errs[r] <= emin * (1 + 1e-6) + 1e-7),
               key=lambda r: (tucker_size(shape, r), errs[r]))
    return (best, errs) if return_candidates else best


def mode_gram_(xp, X, n):
    return mode_gram(xp, X, n)


def _min_size_for_tail(I, P, eps2, cfac, const):
    """min cfac*prod(r) + sum I_m r_m s.t. sum tail_m(r_m) <= eps2 (exact enumeration)."""
    N = len(I)
    if N == 1:
        r = int(np.searchsorted(P[0], P[0][-1] - eps2 - 1e-300, side="left"))
        return [max(1, min(r, I[0]))]
    L = int(np.argmax(I))
    others = [n for n in range(N) if n != L]
    if int(np.prod([I[n] for n in others], dtype=np.float64)) > _ENUM_LIMIT:
        return None
    combos = _grid(None, [I[n] for n in others])
    tail = np.zeros(len(combos))
    for j, n in enumerate(others):
        tail += P[n][-1] - P[n][combos[:, j]]
    rem = eps2 - tail
    ok = rem >= 0
    need = P[L][-1] - np.where(ok, rem, 0.0)
    rL = np.clip(np.searchsorted(P[L], need * (1 - 1e-13) - 1e-300, side="left"), 1, I[L])
    p = np.prod(combos, axis=1)
    size = cfac * p * rL + combos @ np.array([I[n] for n in others]) + I[L] * rL
    size = np.where(ok, size, np.inf)
    i = int(np.argmin(size))
    if not ok[i]:
        return None
    r = [0] * N
    for j, n in enumerate(others):
        r[n] = int(combos[i, j])
    r[L] = int(rL[i])
    return r


def _best_for_tol(X, tol, spectra):
    """The smallest verified candidate of :func:`tucker_rank_for_tol` (``method="best"``)."""
    from .._tucker import sthosvd

    shape = tuple(int(i) for i in X.shape) if hasattr(X, "shape") else np.shape(X)
    if spectra is None:
        spectra = tucker_spectra(X)
    glob = tucker_rank_for_tol(X, tol, spectra=spectra, method="global")
    cands = {glob, _sequential_for_tol(X, tol), tuple(int(r) for r in sthosvd(X, tol=tol).rank)}
    exact = _exact_hosvd_for_tol(X, tol, spectra,
                                 min(tucker_size(shape, r) for r in cands))
    if exact is not None:
        cands.add(exact)
    best = None
    for r in sorted(cands, key=lambda r: (tucker_size(shape, r), r)):
        if r == glob or float(sthosvd(X, rank=r).errors[-1]) <= tol:
            best = r  # the global answer meets tol by the HOSVD bound, in any mode order
            break
    return best


_EXACT_GRID_LIMIT = 20_000_000


def _exact_hosvd_for_tol(X, tol, spectra, size_limit):
    """Fewest parameters over every core shape whose *exact* HOSVD error is <= tol.

    Only shapes of at most ``size_limit`` parameters matter, and every mode needs at least
    the rank ``lb_n`` whose tail is within ``tol^2 ||X||^2`` (any Tucker model of that
    error does), so mode ``n`` needs at most ``size_limit / (prod_{m != n} lb_m + I_n)``.
    Within these caps ``X`` is rotated once into its Gram eigenbases, and the HOSVD error
    of every shape comes from prefix sums of the squared rotated core (the HOSVD with core
    shape ``r`` keeps exactly the block ``C[:r_1, ..., :r_N]``).  ``None`` when the grid
    would exceed ``_EXACT_GRID_LIMIT`` entries or no shape is feasible.
    """
    bk, X = as_tensor(X)
    xp = bk.xp
    shape = tuple(int(i) for i in X.shape)
    N = len(shape)
    spec = _check_spectra(spectra, shape)
    P = _prefix(spec)
    normX2 = fnorm2(xp, X)
    eps2 = tol * tol * normX2
    lb = [max(1, min(shape[n], int(np.searchsorted(P[n], P[n][-1] - eps2 * (1 + 1e-12),
                                                      side="left")))) for n in range(N)]
    cap = []
    for n in range(N):
        rest = int(np.prod([lb[m] for m in range(N) if m != n], dtype=np.float64))
        cap.append(max(lb[n], min(shape[n], int(size_limit // (rest + shape[n])))))
    if float(np.prod(cap, dtype=np.float64)) > _EXACT_GRID_LIMIT:
        return None
    _, S = _hosvd_energy_grid(xp, X, cap, _bases_of(spectra, xp, X))
    ax, prod, lin = _size_grid(shape, cap)
    size = prod + lin
    ok = S >= normX2 - eps2
    for n in range(N):
        ok &= ax[n] * ax[n] <= prod  # r_n <= prod of the other ranks
    if not ok.any():
        return None
    size = np.where(ok, size, np.iinfo(np.int64).max)
    j = np.unravel_index(int(np.argmin(size)), size.shape)
    return tuple(int(v) + 1 for v in j)


def _sequential_for_tol(X, tol):
    from ._utils import fnorm2, leading_eigvecs, mode_dot

    bk, X = as_tensor(X)
    xp = bk.xp
    shape = tuple(int(i) for i in X.shape)
    N = len(shape)
    eps2 = tol * tol * fnorm2(xp, X)
    used = 0.0
    ranks = []
    core = X.astype(np.float64) if X.dtype != np.float64 else X
    for n in range(N):
        rem_modes = list(range(n, N))
        P = []
        for m in rem_modes:
            w = host(xp, xp.linalg.eigvalsh(mode_gram(xp, core, m)))[::-1]
            P.append(np.concatenate(([0.0], np.cumsum(np.maximum(w, 0.0)))))
        cfac = float(np.prod(ranks)) if ranks else 1.0
        r = _min_size_for_tail([shape[m] for m in rem_modes], P, max(eps2 - used, 0.0), cfac, 0)
        rn = r[0] if r is not None else int(np.searchsorted(
            P[0], P[0][-1] - (eps2 - used) / (N - n) - 1e-300, side="left"))
        rn = max(1, min(rn, shape[n]))
        used += P[0][-1] - P[0][rn]
        ranks.append(rn)
        U = leading_eigvecs(xp, mode_gram(xp, core, n), rn)
        core = mode_dot(xp, core, U.T, n)
    return _fix_validity(ranks)
