"""CP rank diagnostics: error curve, core consistency (CORCONDIA) and replicability."""

from __future__ import annotations

import math
import numbers
import string
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._utils import as_tensor, check_int, fnorm2, host, make_rng, mode_dot

__all__ = ["cp_rank", "CPRankResult", "factor_match_score"]


def _mttkrp(xp, X, factors, n):
    N = X.ndim
    letters = string.ascii_lowercase[:N]
    subs = [letters] + [letters[m] + "z" for m in range(N) if m != n]
    expr = ",".join(subs) + "->" + letters[n] + "z"
    kw = {"optimize": True} if xp is np else {}
    return xp.einsum(expr, X, *[factors[m] for m in range(N) if m != n], **kw)


def _cp_als(xp, X, R, rng, n_iter=200, tol=1e-9, normX2=None):
    """Plain CP-ALS from a random start; returns (rel_error, factors, iterations)."""
    N = X.ndim
    normX2 = fnorm2(xp, X) if normX2 is None else normX2
    factors = [xp.asarray(rng.standard_normal((i, R)), dtype=X.dtype) for i in X.shape]
    grams = [F.T @ F for F in factors]
    err_old = np.inf
    err = np.inf
    it = 0
    for _ in range(n_iter):
        it += 1
        for n in range(N):
            V = xp.ones((R, R), dtype=X.dtype)
            for m in range(N):
                if m != n:
                    V = V * grams[m]
            Mn = _mttkrp(xp, X, factors, n)
            V = V + (1e-12 * float(xp.trace(V)) / R + 1e-300) * xp.eye(R, dtype=X.dtype)
            factors[n] = xp.linalg.solve(V, Mn.T).T
            grams[n] = factors[n].T @ factors[n]
        inner = float(xp.sum(Mn * factors[N - 1]))
        H = xp.ones((R, R), dtype=X.dtype)
        for G in grams:
            H = H * G
        err = math.sqrt(max(normX2 - 2 * inner + float(xp.sum(H)), 0.0) / normX2)
        if abs(err_old - err) < tol * max(err_old, 1e-12):
            break
        err_old = err
    return err, factors, it


def _core_consistency(X, factors):
    """Core consistency (CORCONDIA, Bro & Kiers 2003) in percent: 100 (1 - ||G - T||^2 / R)."""
    bk, X = as_tensor(X)
    xp = bk.xp
    factors = [xp.asarray(F) for F in factors]
    if len(factors) != X.ndim:
        raise ValueError(f"factors must hold one matrix per mode ({X.ndim}), got {len(factors)}")
    R = int(factors[0].shape[1])
    G = X
    for n, F in enumerate(factors):
        if F.shape != (X.shape[n], R):
            raise ValueError(f"factors[{n}] must have shape {(X.shape[n], R)}, got {F.shape}")
        G = mode_dot(xp, G, xp.linalg.pinv(F), n)
    T = xp.zeros_like(G)
    idx = xp.arange(R)
    T[(idx,) * X.ndim] = 1
    return float(100.0 * (1.0 - fnorm2(xp, G - T) / R))


def factor_match_score(factors_a, factors_b):
    """Factor match score of two CP models with the same rank (1 = identical up to scaling).

    Columns are normalised, matched by the Hungarian algorithm on the product over modes of
    the absolute cosines, and the matched products are averaged.

    Parameters
    ----------
    factors_a, factors_b : sequence of array_like
        Factor matrices ``(I_n, R)`` of the two models.

    Returns
    -------
    float
        The score in ``[0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import factor_match_score
    >>> A = [np.eye(3)[:, :2], np.ones((4, 2)) * [1.0, -1.0]]
    >>> factor_match_score(A, [F[:, ::-1] * 2 for F in A])
    1.0
    """
    from scipy.optimize import linear_sum_assignment

    fa = [np.asarray(host(np, F) if not hasattr(F, "get") else F.get(), float) for F in factors_a]
    fb = [np.asarray(host(np, F) if not hasattr(F, "get") else F.get(), float) for F in factors_b]
    R = fa[0].shape[1]
    S = np.ones((R, fb[0].shape[1]))
    for A, B in zip(fa, fb, strict=False):
        An = A / np.maximum(np.linalg.norm(A, axis=0), 1e-300)
        Bn = B / np.maximum(np.linalg.norm(B, axis=0), 1e-300)
        S = S * np.abs(An.T @ Bn)
    r, c = linear_sum_assignment(-S)
    return float(np.clip(S[r, c].mean(), 0.0, 1.0))


@dataclass(frozen=True, repr=False, eq=False)
class CPRankResult:
    """Result of :func:`cp_rank`; unpacks as ``(rank, table)``.

    Attributes
    ----------
    rank : int
        The estimated CP rank.
    table : dict of numpy.ndarray
        Columns ``"rank"``, ``"rel_error"`` (best over restarts), ``"rel_error_std"``,
        ``"core_consistency"`` (of the best fit), ``"replicability"`` (mean factor match
        score of the restarts against the best fit) and ``"n_iter"``.
    factors : list
        Factor matrices of the best fit at the estimated rank.
    message : str
        Why this rank was chosen.
    """

    rank: int
    table: dict
    factors: Any
    message: str
    extra: dict = field(default_factory=dict)

    def __iter__(self):
        return iter((self.rank, self.table))

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (self.rank, self.table)[i]

    def __repr__(self):
        return f"CPRankResult(rank={self.rank}, message={self.message!r})"

    def format_table(self):
        """Return the diagnostics table as text, one line per candidate rank.

        Returns
        -------
        str
            Rank, error, core consistency and replicability in columns.

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import cp_rank
        >>> X = np.einsum("i,j,k->ijk", np.arange(1.0, 4), np.ones(4), np.ones(5))
        >>> print(cp_rank(X, ranks=[1], n_restarts=1, rng=0).format_table().splitlines()[0])
        rank   rel_error  core_cons  replicab
        """
        t = self.table
        lines = [f"{'rank':>4} {'rel_error':>11} {'core_cons':>10} {'replicab':>9}"]
        for i in range(len(t["rank"])):
            lines.append(f"{int(t['rank'][i]):4d} {t['rel_error'][i]:11.4e} "
                         f"{t['core_consistency'][i]:10.2f} {t['replicability'][i]:9.3f}")
        return "\n".join(lines)


def cp_rank(X, ranks=range(1, 6), *, n_restarts=5, n_iter=200, tol=1e-9, cc_threshold=80.0,
            replicability_threshold=0.9, rng=None):
    """Estimate the CP rank from the error curve, core consistency and replicability.

    For every candidate rank, ``n_restarts`` CP-ALS fits from random starts are run.  The
    estimate is the largest rank whose best fit has core consistency
    ``>= cc_threshold`` and whose restarts agree (mean factor match score against the best
    fit ``>= replicability_threshold``) -- the usual rule of thumb of Bro & Kiers and of
    replicability analysis -- among the ranks up to the first one whose error stops
    improving (relative gain below 1%) once the fit is already near-exact.

    Parameters
    ----------
    X : array_like, shape (I_1, ..., I_N)
        Dense real tensor.
    ranks : iterable of int or int, optional
        Candidate ranks, increasing (an int ``R``: ``1, ..., R``).
    n_restarts : int, optional
        Random starts per rank.
    n_iter : int, optional
        Maximum ALS sweeps per fit.
    tol : float, optional
        Stop a fit when the relative error changes by less than this (relatively).
    cc_threshold : float, optional
        Minimum core consistency (percent).
    replicability_threshold : float, optional
        Minimum mean factor match score across restarts.
    rng : int or numpy.random.Generator, optional
        Seed for the random starts.

    Returns
    -------
    CPRankResult
        ``rank, table = cp_rank(X)``; also the best factors at that rank and a message.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import cp_rank
    >>> rng = np.random.default_rng(0)
    >>> A = [rng.standard_normal((n, 3)) for n in (8, 9, 10)]
    >>> X = np.einsum("ir,jr,kr->ijk", *A)
    >>> cp_rank(X, ranks=range(1, 6), rng=0).rank
    3
    """
    bk, X = as_tensor(X, min_ndim=3, nonzero=True)
    xp = bk.xp
    if isinstance(ranks, numbers.Integral) and not isinstance(ranks, bool):
        ranks = range(1, int(ranks) + 1)  # an int: every rank up to it
    try:
        ranks = list(ranks)
    except TypeError:
        raise TypeError(f"ranks must be an int or a sequence of positive ints, got "
                        f"{ranks!r}") from None
    if any(isinstance(r, bool) or not isinstance(r, numbers.Integral) for r in ranks):
        raise ValueError(f"ranks must hold positive integers, got {ranks!r}")
    ranks = [check_int("ranks entries", int(r)) for r in ranks]
    if not (isinstance(tol, numbers.Real) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    if not (isinstance(cc_threshold, numbers.Real) and math.isfinite(cc_threshold)):
        raise ValueError(f"cc_threshold must be a finite number (a core consistency in "
                         f"percent), got {cc_threshold!r}")
    if not ranks or sorted(ranks) != ranks or len(set(ranks)) != len(ranks):
        raise ValueError(f"ranks must be a non-empty increasing sequence of positive ints, "
                         f"got {ranks!r}")
    n_restarts = check_int("n_restarts", n_restarts)
    n_iter = check_int("n_iter", n_iter)
    gen = make_rng(rng)
    normX2 = fnorm2(xp, X)
    cols = {k: [] for k in ("rank", "rel_error", "rel_error_std", "core_consistency",
                            "replicability", "n_iter")}
    best_factors = {}
    for R in ranks:
        fits = [_cp_als(xp, X, R, gen, n_iter, tol, normX2) for _ in range(n_restarts)]
        errs = np.array([f[0] for f in fits])
        b = int(np.argmin(errs))
        near = [i for i in range(n_restarts) if i != b and errs[i] <= errs[b] * 1.01 + 1e-12]
        others = near if near else [i for i in range(n_restarts) if i != b]
        fms = [factor_match_score(fits[b][1], fits[i][1]) for i in others]
        cols["rank"].append(R)
        cols["rel_error"].append(errs[b])
        cols["rel_error_std"].append(errs.std())
        cols["core_consistency"].append(_core_consistency(X, fits[b][1]))
        cols["replicability"].append(float(np.mean(fms)) if fms else 1.0)
        cols["n_iter"].append(fits[b][2])
        best_factors[R] = [bk.to_output(F) for F in fits[b][1]]
    table = {k: np.asarray(v) for k, v in cols.items()}
    ok = (table["core_consistency"] >= cc_threshold) & (
        table["replicability"] >= replicability_threshold)
    # stop at the first rank after which the error is already near-exact
    err = table["rel_error"]
    last = len(ranks) - 1
    for i in range(len(ranks)):
        if err[i] < 1e-6:
            last = i
            break
    valid = np.flatnonzero(ok[: last + 1])
    if len(valid):
        i = int(valid[-1])
        msg = (f"largest rank with core consistency >= {cc_threshold:g} and replicability >= "
               f"{replicability_threshold:g}")
    else:
        i = int(np.argmax(table["core_consistency"]))
        msg = "no rank met both thresholds; returned the one with the best core consistency"
    return CPRankResult(rank=int(ranks[i]), table=table, factors=best_factors[ranks[i]],
                        message=msg)
