"""Tensor-network structure search for TT / TR: greedy rank increments (Hashemizadeh et al.)
and TnALE alternating local enumeration (Li et al., ICML 2023), with warm-started ALS fits."""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._utils import as_tensor, check_int, check_tol, fnorm2, make_rng, tr_als, tt_size, tt_svd

__all__ = ["tn_structure_search", "StructureSearchResult"]


@dataclass(frozen=True, repr=False, eq=False)
class StructureSearchResult:
    """Result of :func:`tn_structure_search`; unpacks as ``(cores, ranks)``.

    Attributes
    ----------
    cores : list of array
        Cores ``G_k`` of shape ``(r_k, I_{perm[k]}, r_{k+1})`` (``r_d = r_0``; ``r_0 = 1``
        for a TT), of the input's array type.
    ranks : tuple of int
        Bond ranks ``(r_0, r_1, ..., r_{d-1})`` (``r_0`` is the ring bond, 1 for a TT).
    perm : tuple of int
        Mode of ``X`` placed at each vertex: the network represents
        ``X.transpose(perm)``; see :meth:`to_tensor`.
    topology : str
        ``"tt"`` or ``"tr"``.
    size : int
        Number of parameters.
    rel_error : float
        ``||X - TN||_F / ||X||_F``.
    objective : float
        ``log(size / X.size) + lam * rel_error``.
    n_evals : int
        Structures fitted (cached repeats not counted).
    log : list of dict
        One entry per evaluation: ``ranks``, ``perm``, ``size``, ``rel_error``,
        ``objective``, ``seconds``.
    """

    cores: Any
    ranks: tuple
    perm: tuple
    topology: str
    size: int
    rel_error: float
    objective: float
    n_evals: int
    log: list
    extra: dict = field(default_factory=dict)

    def __iter__(self):
        return iter((self.cores, self.ranks))

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (self.cores, self.ranks)[i]

    @property
    def network(self):
        """The cores as a :class:`~lrsolve.tensor.TTTensor` or :class:`~lrsolve.tensor.TRTensor`.

        The container represents ``X.transpose(perm)`` (the searched mode order).

        Returns
        -------
        TTTensor or TRTensor
            The fitted network.

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import tn_structure_search
        >>> X = np.einsum("i,j,k->ijk", np.arange(1.0, 4), np.ones(3), np.ones(2))
        >>> type(tn_structure_search(X, topology="tt", maxiter=2).network).__name__
        'TTTensor'
        """
        from .. import _containers

        cls = _containers.TTTensor if self.topology == "tt" else _containers.TRTensor
        return cls(list(self.cores))

    def to_tensor(self):
        """Contract the network back into a dense tensor with the original mode order.

        Returns
        -------
        array
            Dense tensor of the shape of the searched ``X``.

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import tn_structure_search
        >>> X = np.einsum("i,j,k->ijk", np.arange(1.0, 4), np.ones(3), np.ones(2))
        >>> res = tn_structure_search(X, topology="tt", maxiter=3)
        >>> bool(np.allclose(res.to_tensor(), X))
        True
        """
        from ._utils import tn_full

        xp = _xp_of(self.cores[0])
        T = tn_full(xp, list(self.cores))
        return xp.transpose(T, tuple(np.argsort(self.perm)))

    def __repr__(self):
        return (f"StructureSearchResult(topology={self.topology!r}, ranks={self.ranks}, "
                f"perm={self.perm}, size={self.size}, rel_error={self.rel_error:.3e}, "
                f"objective={self.objective:.4f}, n_evals={self.n_evals})")


def _xp_of(a):
    if type(a).__module__.partition(".")[0] == "cupy":
        import cupy

        return cupy
    return np


def _adapt(xp, cores, ranks, shape, gen, dtype):
    """Pad (small random entries) or truncate warm-start cores to new bond ranks."""
    d = len(shape)
    out = []
    for k in range(d):
        a, b = ranks[k], ranks[(k + 1) % d]
        G = cores[k]
        scale = 0.1 * float(xp.sqrt(xp.mean(G * G))) if G.size else 0.1
        H = xp.asarray(scale * gen.standard_normal((a, shape[k], b)), dtype=dtype)
        ca, cb = min(a, G.shape[0]), min(b, G.shape[2])
        H[:ca, :, :cb] = G[:ca, :, :cb]
        out.append(H)
    return out


def _tt_init(xp, Xp, ranks, gen):
    """TT-SVD with the interior ranks, embedded in a ring of bond ranks[0]."""
    d = Xp.ndim
    cores = tt_svd(xp, Xp, ranks[1:])
    if ranks[0] == 1 and all(c.shape[2] == (ranks[(k + 1) % d]) for k, c in enumerate(cores)):
        return cores
    return _adapt(xp, cores, ranks, Xp.shape, gen, Xp.dtype)


class _Evaluator:
    def __init__(self, xp, X, topology, lam, sweeps, gen, max_params):
        self.xp, self.X, self.topology, self.lam = xp, X, topology, lam
        self.sweeps, self.gen = sweeps, gen
        self.cache = {}
        self.warm = {}
        self.log = []
        self.full = int(np.prod(X.shape))
        self.max_params = max_params

    def __call__(self, ranks, perm, warm_key=None):
        key = (tuple(ranks), tuple(perm))
        if key in self.cache:
            return self.cache[key]
        xp = self.xp
        shape = tuple(self.X.shape[p] for p in perm)
        size = tt_size(shape, list(ranks) + [ranks[0]])
        if self.max_params is not None and size > self.max_params:
            res = (np.inf, np.inf, size)
            self.cache[key] = res
            return res
        t0 = time.perf_counter()
        Xp = xp.transpose(self.X, perm) if tuple(perm) != tuple(range(self.X.ndim)) else self.X
        Xp = xp.ascontiguousarray(Xp)
        if (self.topology == "tr" and warm_key is not None and warm_key in self.warm
                and warm_key[1] == key[1]):
            cores = _adapt(xp, self.warm[warm_key], ranks, shape, self.gen, Xp.dtype)
        else:
            cores = _tt_init(xp, Xp, ranks, self.gen)
        if self.topology == "tt":
            from ._utils import tn_full

            R = Xp - tn_full(xp, cores)
            err = math.sqrt(fnorm2(xp, R) / fnorm2(xp, Xp))
            if self.sweeps:
                err = min(err, tr_als(xp, Xp, cores, n_sweeps=self.sweeps))
        else:
            err = tr_als(xp, Xp, cores, n_sweeps=max(self.sweeps, 1))
        obj = math.log(size / self.full) + self.lam * err
        self.warm[key] = cores
        res = (obj, err, size)
        self.cache[key] = res
        self.log.append({"ranks": tuple(int(r) for r in ranks), "perm": tuple(perm),
                         "size": int(size), "rel_error": float(err), "objective": float(obj),
                         "seconds": time.perf_counter() - t0})
        return res


def tn_structure_search(X, *, method="tnale", topology="tr", budget=None, tol=None, lam=200.0,
                        maxiter=10, max_rank=None, radius=1, search_perm=None, als_sweeps=10,
                        max_evals=None, init_ranks=None, polish_sweeps=30, patience=3, rng=None):
    """Search the bond ranks (and, for TnALE on rings, the mode order) of a TT or TR network.

    Every candidate structure is fitted to ``X`` (TT-SVD initialisation or warm start from a
    neighbour, then a few ALS sweeps) and scored by the TnALE objective
    ``log(size / X.size) + lam * RSE`` where ``RSE = ||X - TN|| / ||X||``.

    * ``method="greedy"`` (Hashemizadeh et al., "Adaptive learning of tensor network
      structures"): start from all ranks one; in each round try ``+1`` on every bond
      (warm-started from the current cores) and keep the best candidate; stop when no
      candidate improved the objective for ``patience`` rounds (or, with ``tol``, as soon as
      ``RSE <= tol``).
    * ``method="tnale"`` (Li et al., ICML 2023): alternate over the bonds; for each, enumerate
      the ranks within ``radius`` with the others fixed and move to the best; for
      ``topology="tr"`` and ``search_perm=True`` also enumerate the swaps of two modes.
      Stops after ``maxiter`` rounds or when a round changes nothing.

    Parameters
    ----------
    X : array_like, shape (I_1, ..., I_d)
        Dense real tensor, ``d >= 3``.
    method : {"tnale", "greedy"}, optional
        Search strategy.
    topology : {"tr", "tt"}, optional
        Tensor ring (cyclic, bond ``r_0`` closes the ring) or tensor train (``r_0 = 1``).
    budget : int, optional
        Maximum number of parameters; larger structures are not evaluated.
    tol : float, optional
        Target RSE in (0, 1).  The objective becomes ``log(size / X.size)`` plus
        ``lam * max(RSE - tol, 0) * 1e3`` (so the search minimises size subject to the
        tolerance); the greedy stops at the first structure meeting it.
    lam : float, optional
        Weight of the RSE in the objective (TnALE's 200).
    maxiter : int, optional
        Rounds of the search.
    max_rank : int, optional
        Upper bound on every bond rank (default: the rank of the corresponding unfolding,
        capped at 32).
    radius : int, optional
        TnALE neighbourhood radius for the ranks.
    search_perm : bool, optional
        Search mode permutations (default True for ``topology="tr"`` with TnALE).
    als_sweeps : int, optional
        ALS sweeps per evaluation.
    max_evals : int, optional
        Stop after this many evaluations.
    init_ranks : sequence of int, or a list of them, optional
        TnALE starting ranks ``(r_0, ..., r_{d-1})``, or several starts, each searched in
        turn (sharing the evaluations) and the best result kept.  Default: two starts,
        all ranks one and all ranks two (``r_0 = 1`` for TT), as in the TnALE code's
        example run; the all-ones start finds the planted structure of small rings more
        often (11 of 12 random order-6 rings with both, against 4 of 12 from all twos).
    patience : int, optional
        Greedy only: rounds without improvement of the objective before stopping (the best
        structure seen is returned).
    polish_sweeps : int, optional
        ALS sweeps spent on the chosen structure at the end (not counted as evaluations).
    rng : int or numpy.random.Generator, optional
        Seed of the random padding entries.

    Returns
    -------
    StructureSearchResult
        ``cores, ranks = tn_structure_search(X)``; also ``perm``, ``size``, ``rel_error``,
        ``objective``, ``n_evals`` and the evaluation ``log``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import tn_structure_search
    >>> rng = np.random.default_rng(0)
    >>> G = [rng.standard_normal(s) for s in [(1, 3, 2), (2, 4, 2), (2, 3, 1)]]
    >>> X = np.einsum("aib,bjc,ckd->ijk", *G)
    >>> res = tn_structure_search(X, method="greedy", topology="tt", rng=0)
    >>> res.ranks, bool(res.rel_error < 1e-8)
    ((1, 2, 2), True)
    """
    bk, X = as_tensor(X, min_ndim=3, nonzero=True)
    xp = bk.xp
    if method not in ("tnale", "greedy"):
        raise ValueError(f"method must be 'tnale' or 'greedy', got {method!r}")
    if topology not in ("tr", "tt"):
        raise ValueError(f"topology must be 'tr' or 'tt', got {topology!r}")
    if tol is not None:
        tol = check_tol(tol)
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, numbers.Integral) or budget < 1:
            raise ValueError(f"budget must be a positive int (number of parameters), got "
                             f"{budget!r}")
        smallest = tt_size(X.shape, [1] * (X.ndim + 1))
        if budget < smallest:
            raise ValueError(f"budget={budget} is smaller than the all-ranks-one network, which "
                             f"needs {smallest} parameters")
    maxiter = check_int("maxiter", maxiter)
    radius = check_int("radius", radius)
    als_sweeps = check_int("als_sweeps", als_sweeps, lo=0)
    if not (isinstance(lam, numbers.Real) and lam >= 0):
        raise ValueError(f"lam must be a non-negative number, got {lam!r}")
    gen = make_rng(rng)
    d = X.ndim
    if max_rank is None:
        max_rank = 32
    max_rank = check_int("max_rank", max_rank)
    if search_perm is None:
        search_perm = topology == "tr" and method == "tnale"
    ev = _Evaluator(xp, X, topology, float(lam), als_sweeps, gen, budget)

    def score(res):
        obj, err, size = res
        if tol is not None and np.isfinite(obj):
            return math.log(size / ev.full) + float(lam) * max(err - tol, 0.0) * 1e3
        return obj

    def cap(k, perm):
        # bond k sits between vertices k-1 and k: the unfolding rank bounds it
        shape = [X.shape[p] for p in perm]
        if topology == "tt":
            left = int(np.prod(shape[:k]))
            right = int(np.prod(shape[k:]))
            return min(max_rank, left, right)
        return min(max_rank, int(np.prod(shape)) // max(shape))

    bonds = list(range(1, d)) if topology == "tt" else list(range(d))
    perm = tuple(range(d))
    done_evals = lambda: max_evals is not None and len(ev.log) >= max_evals  # noqa: E731

    if method == "greedy":
        ranks = [1] * d
        cur = ev(ranks, perm)
        best_seen = (score(cur), list(ranks))
        stall = 0
        for _ in range(maxiter * d * max_rank):
            if (tol is not None and cur[1] <= tol) or done_evals():
                break
            best, best_r = None, None
            for k in bonds:
                if ranks[k] >= cap(k, perm):
                    continue
                r2 = list(ranks)
                r2[k] += 1
                res = ev(r2, perm, warm_key=(tuple(ranks), perm))
                if best is None or score(res) < score(best):
                    best, best_r = res, r2
            if best is None:
                break
            ranks, cur = best_r, best
            if score(cur) < best_seen[0] - 1e-12:
                best_seen, stall = (score(cur), list(ranks)), 0
            else:
                stall += 1
                if tol is None and stall >= patience:
                    break
        if tol is None or cur[1] > tol:
            ranks = best_seen[1]
    else:
        if init_ranks is None:
            # two initialisations, as in the TnALE code's example run: all ranks one (finds
            # the planted structures of small rings more often) and all ranks two
            starts = [[1] * d, [2] * d]
        elif (len(init_ranks) > 0 and all(isinstance(r, (list, tuple, np.ndarray))
                                          for r in init_ranks)):
            starts = [list(r) for r in init_ranks]
        else:
            starts = [init_ranks]
        checked = []
        for st in starts:
            if init_ranks is None:
                ranks = [min(r, cap(k, perm)) if (topology == "tr" or k > 0) else 1
                         for k, r in enumerate(st)]
            else:
                ranks = _check_init_ranks(st, d, topology, bonds, lambda k: cap(k, perm))
            if budget is not None:
                # a start over the budget is never fitted: lower its largest bonds until it
                # fits (the all-ones network fits: checked above)
                while tt_size([X.shape[p] for p in perm], list(ranks) + [ranks[0]]) > budget:
                    k = max(bonds, key=lambda b, rk=ranks: rk[b])
                    ranks[k] -= 1
            if ranks not in checked:
                checked.append(ranks)
        best_run = None
        for ranks in checked:
            if best_run is not None and done_evals():
                break
            run = _tnale(ev, score, ranks, tuple(range(d)), bonds, cap, radius, maxiter,
                         search_perm, done_evals)
            if best_run is None or score(run[2]) < score(best_run[2]) - 1e-12:
                best_run = run
        ranks, perm, cur = best_run
    key = (tuple(ranks), tuple(perm))
    cores = ev.warm[key]
    obj, err, size = ev.cache[key]
    if polish_sweeps and err > 0:  # final polish of the chosen structure (not an evaluation)
        Xp = xp.ascontiguousarray(xp.transpose(X, perm))
        c2 = [c.copy() for c in cores]
        e2 = tr_als(xp, Xp, c2, n_sweeps=polish_sweeps)
        if e2 < err:
            cores, err = c2, e2
            obj = math.log(size / ev.full) + float(lam) * err
    return StructureSearchResult(
        cores=[bk.to_output(c) for c in cores], ranks=tuple(int(r) for r in ranks),
        perm=tuple(int(p) for p in perm), topology=topology, size=int(size), rel_error=float(err),
        objective=float(obj), n_evals=len(ev.log), log=ev.log)


def _check_init_ranks(init_ranks, d, topology, bonds, cap):
    if any(isinstance(r, bool) or not isinstance(r, numbers.Integral) for r in init_ranks):
        raise ValueError(f"init_ranks must hold integers, got {init_ranks!r}")
    ranks = [int(r) for r in init_ranks]
    if len(ranks) != d:
        raise ValueError(f"init_ranks must hold {d} bond ranks, got {len(ranks)}")
    if topology == "tt" and ranks[0] != 1:
        raise ValueError(f"init_ranks[0] must be 1 for topology='tt' (a tensor train "
                         f"has boundary rank 1), got {ranks[0]}")
    for k in bonds:
        if not 1 <= ranks[k] <= cap(k):
            raise ValueError(f"init_ranks[{k}]={ranks[k]} must lie in 1..{cap(k)} "
                             "(the rank of the unfolding at that bond, max_rank)")
    return ranks


def _tnale(ev, score, ranks, perm, bonds, cap, radius, maxiter, search_perm, done_evals):
    """TnALE from one start: alternate over the swaps of two modes and the bonds, each
    enumerated within its neighbourhood with the rest fixed.  Returns (ranks, perm, res)."""
    d = len(ranks)
    cur = ev(ranks, perm)
    for _ in range(maxiter):
        changed = False
        if search_perm:
            for i in range(d):
                for j in range(i + 1, d):
                    p2 = list(perm)
                    p2[i], p2[j] = p2[j], p2[i]
                    res = ev(ranks, tuple(p2))
                    if score(res) < score(cur) - 1e-12:
                        cur, perm, changed = res, tuple(p2), True
                    if done_evals():
                        break
        for k in bonds:
            if done_evals():
                break
            best, best_r = cur, ranks
            for delta in range(-radius, radius + 1):
                if delta == 0:
                    continue
                rk = ranks[k] + delta
                if rk < 1 or rk > cap(k, perm):
                    continue
                r2 = list(ranks)
                r2[k] = rk
                res = ev(r2, perm, warm_key=(tuple(ranks), perm))
                if score(res) < score(best) - 1e-12:
                    best, best_r = res, r2
            if best_r is not ranks:
                ranks, cur, changed = best_r, best, True
        if not changed or done_evals():
            break
    return ranks, perm, cur
