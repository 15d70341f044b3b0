"""Solve a sequence of related systems: sort them by similarity, recycle, warm start."""

from __future__ import annotations

import importlib.util
import numbers
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._backend import array_kind
from .._results import solve_cost

__all__ = ["solve_sequence", "SequenceResult"]

_METHODS = ("auto", "gcrodr", "rcg", "gmres", "cg", "ssor-cg")
# feature vectors longer than this are subsampled (fixed random coordinates) before sorting
_MAX_FEATURES = 4096


@dataclass(frozen=True, repr=False, eq=False)
class SequenceResult:
    """Result of :func:`solve_sequence`, in the caller's order of the systems.

    Unpacks as ``xs, infos = solve_sequence(...)`` (the list of solutions and
    the array of SciPy-style ``info`` codes), and carries the rest as
    attributes.

    Attributes
    ----------
    results : tuple of SolveResult
        One result per system, in the order the systems were given.
    order : numpy.ndarray
        The order in which the systems were solved (indices into the input).
    method : str
        The solver used (``"auto"`` resolved).
    sort_time : float
        Seconds spent computing features and sorting.
    total_time : float
        Seconds for the whole call (sorting included).
    times : numpy.ndarray
        Seconds per solve, in the caller's order.
    omegas : numpy.ndarray or None
        The relaxation parameter used for each system (``method="ssor-cg"``).
    recycled : numpy.ndarray or None
        For ``"gcrodr"`` / ``"rcg"``: whether each solve started from the
        previous system's recycle space (caller's order; the first system in
        the solve order never does).
    full_setup : numpy.ndarray or None
        With ``reuse_setup=True``: whether each system's AMG hierarchy was
        built afresh (the others re-used an earlier set-up).

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> L = lrsolve.operators.poisson((10, 10)).tocsr()
    >>> systems = [(L * (1 + 0.1 * i), np.ones(100)) for i in range(3)]
    >>> res = lrsolve.krylov.solve_sequence(systems, method="cg", rtol=1e-8)
    >>> xs, infos = res
    >>> len(xs), infos.tolist()
    (3, [0, 0, 0])
    """

    results: tuple
    order: np.ndarray
    method: str
    sort_time: float
    total_time: float
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    omegas: Any = None
    recycled: Any = None
    full_setup: Any = None

    @property
    def xs(self):
        """The solutions, in the caller's order."""
        return [r.x for r in self.results]

    @property
    def infos(self):
        """The ``info`` codes, in the caller's order (array of int)."""
        return np.array([r.info for r in self.results], dtype=int)

    @property
    def niter(self):
        """Iterations per system, in the caller's order (array of int)."""
        return np.array([r.niter for r in self.results], dtype=int)

    @property
    def n_matvec(self):
        """Products with ``A`` per system, in the caller's order (array of int)."""
        return np.array([r.n_matvec for r in self.results], dtype=int)

    @property
    def converged(self):
        """True when every system converged."""
        return all(r.converged for r in self.results)

    def __iter__(self):
        return iter((self.xs, self.infos))

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (self.xs, self.infos)[i]

    def __repr__(self):
        return (
            f"SequenceResult(n_systems={len(self.results)}, method={self.method!r}, "
            f"converged={self.converged}, total_niter={int(self.niter.sum())}, "
            f"total_matvec={int(self.n_matvec.sum())}, total_time={self.total_time:.3g} s, "
            f"sort_time={self.sort_time:.3g} s)"
        )


# ----------------------------------------------------------------------------- inputs
def _unpack(i, item):
    if hasattr(item, "A") and hasattr(item, "b"):
        return item.A, item.b, getattr(item, "field", None)
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1], None
    raise TypeError(
        f"systems[{i}] must be an (A, b) pair or an object with .A and .b (such as an "
        f"lrsolve.problems.Problem), got {type(item).__name__}"
    )


def _is_sparse(A):
    kind = array_kind(A)
    if kind == "numpy":
        import scipy.sparse as sp

        return sp.issparse(A)
    if kind == "cupy":
        import cupyx.scipy.sparse as csp

        return csp.issparse(A)
    return False


def _xp_of(a):
    if array_kind(a) == "cupy":
        import cupy

        return cupy
    return np


def _check_system(i, A, b, n0):
    shape = tuple(getattr(A, "shape", ()))
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"systems[{i}]: A must be a square matrix, got shape {shape}")
    n = shape[0]
    if n0 is not None and n != n0:
        raise ValueError(
            f"systems[{i}]: A has shape {shape} but systems[0] has size {n0}; all systems of a "
            "sequence must have the same size"
        )
    if b is None or not hasattr(b, "shape"):
        b = np.asarray(b) if b is not None else None
    if b is None or b.shape not in ((n,), (n, 1)):
        raise ValueError(
            f"systems[{i}]: b must have shape ({n},) to match A {shape}, got "
            f"{None if b is None else b.shape}"
        )
    xp = _xp_of(b)
    if b.dtype.kind in "fc" and not bool(xp.isfinite(b).all()):
        raise ValueError(f"systems[{i}]: b contains NaN or Inf")
    if _is_sparse(A):
        data = A.tocsr().data if A.format not in ("csr", "csc", "coo") else A.data
        if data.dtype.kind in "fc" and not bool(_xp_of(data).isfinite(data).all()):
            raise ValueError(f"systems[{i}]: A contains NaN or Inf entries")
    elif hasattr(A, "__array__") or hasattr(A, "__cuda_array_interface__"):
        arr = A if array_kind(A) else np.asarray(A)
        if arr.dtype.kind in "fc" and not bool(_xp_of(arr).isfinite(arr).all()):
            raise ValueError(f"systems[{i}]: A contains NaN or Inf entries")
    return n


def _to_host(a):
    if array_kind(a) == "cupy":
        return a.get()
    return np.asarray(a)


def _matvec(A, v):
    if hasattr(A, "matvec") and not hasattr(A, "__array__") and not _is_sparse(A):
        return A.matvec(v)
    if callable(A) and not hasattr(A, "shape"):
        return A(v)
    return A @ v


# ----------------------------------------------------------------------------- features
def _matrix_features(mats, n):
    """Cheap features of the matrices: the CSR values when all patterns match, else a sketch.

    With a common pattern the distance is exactly ``||A_i - A_j||_F``; otherwise
    each matrix is described by its diagonal and by ``A g`` for one fixed random
    vector ``g`` (one product each).
    """
    first = mats[0]
    if all(_is_sparse(A) and A.format == "csr" for A in mats):
        same = all(
            A.nnz == first.nnz and A.indptr.shape == first.indptr.shape
            and bool((A.indptr == first.indptr).all()) and bool((A.indices == first.indices).all())
            for A in mats[1:]
        )
        if same:
            return [_to_host(A.data) for A in mats]
    g = np.random.default_rng(20240607).standard_normal(n)
    feats = []
    for A in mats:
        xp = _xp_of(A.data) if _is_sparse(A) else _xp_of(A)
        gv = g if xp is np else xp.asarray(g)
        parts = [_to_host(_matvec(A, gv.astype(getattr(A, "dtype", np.float64), copy=False)))]
        if _is_sparse(A) or hasattr(A, "diagonal"):
            try:
                parts.append(_to_host(A.diagonal()))
            except (TypeError, AttributeError, ValueError):
                pass
        feats.append(np.concatenate([np.ravel(p) for p in parts]))
    return feats


def _feature_matrix(features, N):
    try:
        F = [np.ravel(np.asarray(_to_host(f), dtype=float)) for f in features]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"features must be numeric arrays, one per system: {exc}") from None
    if len(F) != N:
        raise ValueError(f"features has {len(F)} entries but there are {N} systems")
    d = F[0].size
    for i, f in enumerate(F):
        if f.size != d:
            raise ValueError(f"features[{i}] has {f.size} values but features[0] has {d}")
        if not np.isfinite(f).all():
            raise ValueError(f"features[{i}] contains NaN or Inf")
    F = np.stack(F) if N else np.zeros((0, d))
    if d > _MAX_FEATURES:  # fixed random coordinates keep the sorting cost small
        cols = np.sort(np.random.default_rng(7).choice(d, _MAX_FEATURES, replace=False))
        F = F[:, cols]
    return F


def greedy_order(F, start=0):
    """Greedy nearest-neighbour tour over the rows of ``F`` (SKR's Algorithm 1)."""
    N = F.shape[0]
    if N == 0:
        return np.zeros(0, dtype=int)
    sq = np.einsum("ij,ij->i", F, F)
    visited = np.zeros(N, dtype=bool)
    order = np.empty(N, dtype=int)
    cur = int(start)
    for t in range(N):
        order[t] = cur
        visited[cur] = True
        if t == N - 1:
            break
        d = sq - 2.0 * (F @ F[cur])
        d[visited] = np.inf
        cur = int(np.argmin(d))
    return order


def _check_order(order, N):
    if isinstance(order, str):
        if order not in ("similarity", "given"):
            raise ValueError(
                f"order must be 'similarity', 'given' or a permutation of range({N}), "
                f"got {order!r}"
            )
        return order
    perm = np.asarray(order)
    if perm.shape != (N,) or perm.dtype.kind not in "iu" or not np.array_equal(
        np.sort(perm), np.arange(N)
    ):
        raise ValueError(f"order must be 'similarity', 'given' or a permutation of range({N})")
    return perm.astype(int)


# ----------------------------------------------------------------------------- method
def _looks_spd(A, n, rng):
    """Cheap test: two random probes for symmetry and positive curvature, diagonal > 0."""
    kind = array_kind(A)
    xp = _xp_of(A.data) if _is_sparse(A) else (_xp_of(A) if kind else np)
    dtype = np.dtype(getattr(A, "dtype", np.float64))
    if dtype.kind == "c":
        return False  # Hermitian systems: choose method="rcg" explicitly
    v = rng.standard_normal(n)
    w = rng.standard_normal(n)
    if xp is not np:
        v, w = xp.asarray(v), xp.asarray(w)
    try:
        Av = _to_host(_matvec(A, v)).ravel()
        Aw = _to_host(_matvec(A, w)).ravel()
    except Exception:  # noqa: BLE001 - an operator that cannot be probed: not SPD for us
        return False
    vh, wh = _to_host(v), _to_host(w)
    if not (np.isfinite(Av).all() and np.isfinite(Aw).all()):
        return False
    scale = np.linalg.norm(vh) * np.linalg.norm(Aw) + np.linalg.norm(wh) * np.linalg.norm(Av)
    tol = 1e3 * float(np.finfo(np.float32 if dtype == np.float32 else np.float64).eps)
    if abs(wh @ Av - vh @ Aw) > tol * scale:
        return False
    if not (vh @ Av > 0 and wh @ Aw > 0):
        return False
    if hasattr(A, "diagonal"):
        try:
            dg = _to_host(A.diagonal())
            if not np.all(dg > 0):
                return False
        except (TypeError, AttributeError, ValueError):
            pass
    return True


def _bandit(omega, contextual_ok):
    if isinstance(omega, str):
        if omega != "bandit":
            raise ValueError(f"omega must be a float, 'bandit' or a bandit object, got {omega!r}")
        if importlib.util.find_spec("lrsolve.relax") is None:  # pragma: no cover
            raise ImportError("omega='bandit' needs lrsolve.relax")
        from .. import relax

        if not hasattr(relax, "TsallisINF"):
            raise ImportError(
                "omega='bandit' needs lrsolve.relax.TsallisINF, which this installation lacks"
            )
        if contextual_ok and hasattr(relax, "ContextualTsallisINF"):
            return relax.ContextualTsallisINF(), True
        return relax.TsallisINF(), False
    if hasattr(omega, "choose") and hasattr(omega, "update") and hasattr(omega, "omegas"):
        return omega, type(omega).__name__.startswith("Contextual")
    raise TypeError(
        f"omega must be None, a float in (0, 2), 'bandit' or an object with choose(), update() "
        f"and omegas (such as lrsolve.relax.TsallisINF), got {type(omega).__name__}"
    )


# ----------------------------------------------------------------------------- driver
class _RecycleChoice:
    """Whether the next solve starts from the carried recycle space.

    ``True`` / ``False``: always / never.  ``"auto"``: the first
    ``2 * _PROBES`` solves that could use a space alternate between using it
    and starting afresh; from then on the option with the smaller mean number
    of products with ``A`` is taken, and the other one is tried again every
    ``_REPROBE`` solves (the means are exponential moving averages, so a
    sequence whose systems drift closer or further apart is followed).
    """

    _PROBES = 2
    _REPROBE = 8
    _DECAY = 0.7  # weight of the previous mean in the moving average

    def __init__(self, mode):
        self.mode = mode
        self.t = 0
        self.mean = {True: None, False: None}

    def carry(self):
        if self.mode != "auto":
            return bool(self.mode)
        if self.t < 2 * self._PROBES:
            return self.t % 2 == 0
        best = self.mean[True] <= self.mean[False]
        if (self.t - 2 * self._PROBES) % self._REPROBE == self._REPROBE - 1:
            return not best
        return best

    def update(self, carried, cost):
        self.t += 1
        old = self.mean[carried]
        self.mean[carried] = float(cost) if old is None else (
            self._DECAY * old + (1.0 - self._DECAY) * float(cost))


def _is_amg(precond):
    """Whether ``precond`` names or is an AMG preconditioner."""
    spec = precond[0] if isinstance(precond, tuple) and len(precond) == 2 else precond
    if isinstance(spec, str):
        return spec.lower() == "amg"
    from ..precond import AMG

    return isinstance(spec, AMG)


def _default_k_m(k, m, precond, method):
    """``k`` and ``m`` with the defaults of :func:`solve_sequence` filled in."""
    if k is not None and m is not None:
        return k, m
    small = _is_amg(precond)
    # GCRO-DR: k = 10 rather than gcrodr's own 20 -- on Darcy sequences (independent or
    # slowly varying fields, Jacobi) it is 1.5-1.7x faster per system, since every
    # iteration orthogonalises against the k carried vectors and every cycle updates them
    dk, dm = (3, 12) if small else ((10, 40) if method == "gcrodr" else (20, 40))
    if method == "gmres":
        dm = 40
    for name, v in (("k", k), ("m", m)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral)):
            raise TypeError(f"{name} must be an integer, got {v!r}")
    if k is None and m is None:
        return dk, dm
    if k is None:
        return min(dk, max(1, int(m) // 2)), m
    return k, max(dm, 2 * int(k))


def solve_sequence(
    systems,
    *,
    method="auto",
    order="similarity",
    precond=None,
    warm_start=True,
    features=None,
    rtol=1e-5,
    atol=0.0,
    maxiter=None,
    k=None,
    m=None,
    recycle=True,
    reuse_setup=False,
    omega=None,
    progress=None,
    callback=None,
):
    """Solve a sequence of related systems ``A_i x_i = b_i``, reusing work between them.

    The systems are put in an order where neighbours are similar (greedy
    nearest neighbour, as in SKR), then solved one after the other by a Krylov
    method that carries a recycle space from each system to the next
    (:func:`gcrodr` for general, :func:`rcg` for symmetric positive definite
    matrices), each solve starting from the previous solution.  Results come
    back in the caller's order.

    Parameters
    ----------
    systems : iterable
        ``(A, b)`` pairs, or objects with ``.A``, ``.b`` and optionally
        ``.field`` (such as :class:`lrsolve.problems.Problem`); a generator
        is consumed once.  All systems must have the same size.
    method : {"auto", "gcrodr", "rcg", "gmres", "cg", "ssor-cg"}, optional
        ``"auto"`` (default) chooses ``"rcg"`` when every ``A`` looks
        symmetric positive definite (two random probes for symmetry and
        positive curvature, and a positive diagonal) and ``"gcrodr"``
        otherwise.  ``"gmres"`` (GMRES(m)) and ``"cg"`` solve each system
        independently (the baselines); ``"ssor-cg"`` is CG preconditioned by
        SSOR with the relaxation parameter ``omega``.
    order : {"similarity", "given"} or array of int, optional
        ``"similarity"`` (default): a greedy nearest-neighbour tour starting
        at system 0 on ``features``; ``"given"``: the input order; or an
        explicit permutation.
    precond : str, tuple or Preconditioner, optional
        Preconditioner of every solve: a name or ``(name, options)`` pair is
        built anew for each system (see :func:`lrsolve.precond.available`);
        an object is shared by all systems.  Ignored by ``"ssor-cg"``.
    warm_start : bool, optional
        Start each solve from the solution of the previous system in the
        solve order (default True).
    features : sequence of arrays, optional
        One feature vector per system for the sorting (e.g. the PDE parameter
        field).  Default: the systems' ``.field`` when all have one, else
        the matrices themselves -- their CSR values when all share one
        sparsity pattern (the distance is then ``||A_i - A_j||_F``), otherwise
        their diagonal and their product with one random vector.  Long
        vectors are subsampled to 4096 fixed random coordinates.
    rtol, atol : float, optional
        Tolerances of every solve (as in :func:`lrsolve.cg`).
    maxiter : int, optional
        Iteration limit of every solve.
    k, m : int, optional
        Recycle space size and cycle length of :func:`gcrodr` / :func:`rcg`;
        ``m`` is also the restart of ``"gmres"``.  Defaults: ``k=10, m=40``
        for ``"gcrodr"`` and ``k=20, m=40`` for ``"rcg"`` (preconditioners
        that leave tens to hundreds of iterations per system), but ``k=3,
        m=12`` with ``precond="amg"`` (an AMG name, pair or object): with
        about ten iterations per system a small space pays better -- a
        carried space costs ``k`` products per system to re-project, and
        every iteration orthogonalises against it.  (On Darcy sequences with
        Jacobi, GCRO-DR with ``k=10`` is 1.5-1.7x faster than with
        :func:`gcrodr`'s own ``k=20``; ``k=20`` saves about 10 % of the
        products when neighbouring systems are very close.)
        ``"gmres"`` restarts after 40 by default.  Give one and the other
        follows it (``m >= 2 k``, ``k <= m / 2``).
    recycle : {True, False, "auto"}, optional
        Whether ``"gcrodr"`` / ``"rcg"`` start each solve from the previous
        system's recycle space (default True).  ``False`` solves every system
        afresh (each solve still recycles within its own restarts);
        ``"auto"`` decides per system from the products with ``A`` that
        solves with and without the carried space needed so far: it
        alternates between the two for the first four solves, then takes
        the cheaper one and re-tries the other every eighth solve.  Use it
        when neighbouring systems may not share their slow modes (for
        instance independent random coefficient fields): a space from an
        unrelated operator can cost more products than it saves.
    reuse_setup : bool, optional
        With ``precond="amg"`` (or ``("amg", options)``): build the AMG
        hierarchy only for the first system solved and derive the next
        systems' preconditioners from it with :meth:`lrsolve.precond.AMG.with_matrix`
        (new Galerkin products on the same aggregates and prolongations, a
        fraction of a full set-up); a full set-up is made again when a solve
        needs more than ``1.5 x + 2`` the iterations ``x`` of the solve after
        the last full set-up.  Default False (a full set-up per system).
    omega : float, "bandit" or bandit object, optional
        SSOR relaxation parameter for ``"ssor-cg"``: a fixed value (default
        1.0), ``"bandit"`` for a :class:`lrsolve.relax.TsallisINF` learner
        over its default grid (the contextual variant when ``features`` holds
        one number per system), or a learner object with ``omegas``,
        ``choose(context)`` and ``update(arm, cost, context)``; the cost is
        the iteration count.
    progress : bool, optional
        Show a tqdm progress bar.  Default: when there are more than 20
        systems and tqdm is installed.
    callback : callable, optional
        Called as ``callback(i, result)`` after each solve, with ``i`` the
        index of the system in the caller's order.

    Returns
    -------
    SequenceResult
        Unpacks as ``xs, infos``; ``.results`` (one :class:`~lrsolve.SolveResult`
        per system, caller's order), ``.niter`` and ``.n_matvec`` (arrays),
        ``.order``, ``.sort_time``, ``.total_time``, ``.times``, ``.omegas``,
        ``.recycled``, ``.full_setup``.

    Raises
    ------
    ValueError
        A system of another size, a ``b`` that does not match its ``A``, NaN or
        Inf in a system (the message names ``systems[i]``), a bad ``order``,
        ``method`` or ``features``.

    See Also
    --------
    gcrodr, rcg : the recycling solvers.

    Notes
    -----
    The sorting (Wang et al. 2024, Algorithm 1) costs ``O(N^2 d)`` for ``N``
    systems with ``d`` features: milliseconds for hundreds of systems, a
    small fraction of the solves.  Recycling does most of the work: the
    recycled space removes the slowly converging components that neighbouring
    systems share.

    Examples
    --------
    Ten Poisson-like systems with a varying coefficient, given in a shuffled
    order:

    >>> import numpy as np, lrsolve
    >>> L = lrsolve.operators.poisson((30, 30)).tocsr()
    >>> scales = [1.0 + 0.05 * i for i in (3, 7, 0, 9, 1, 5, 2, 8, 4, 6)]
    >>> systems = [(L * s, np.ones(900)) for s in scales]
    >>> res = lrsolve.krylov.solve_sequence(systems, rtol=1e-8, k=10, m=30)
    >>> res.method, res.converged
    ('rcg', True)
    >>> [scales[i] for i in res.order[:4]]
    [1.15, 1.2, 1.25, 1.3]
    >>> xs, infos = res
    >>> bool(np.linalg.norm(systems[3][0] @ xs[3] - 1) <= 1e-8 * 30)
    True

    Let the sequence decide, from the products counted so far, whether
    carrying the space pays (``res.recycled`` in the solve order):

    >>> res = lrsolve.krylov.solve_sequence(systems, rtol=1e-8, k=10, m=30, recycle="auto")
    >>> res.converged, res.recycled[res.order].tolist()[:5]
    (True, [False, True, False, True, False])
    """
    t_start = time.perf_counter()
    if method not in _METHODS:
        raise ValueError(f"method must be one of {list(_METHODS)}, got {method!r}")
    if isinstance(systems, (str, bytes)) or not hasattr(systems, "__iter__"):
        raise TypeError(
            f"systems must be an iterable of (A, b) pairs, got {type(systems).__name__}"
        )
    items = [_unpack(i, s) for i, s in enumerate(systems)]
    N = len(items)
    if N == 0:
        raise ValueError("systems is empty: give at least one (A, b) pair")
    if not isinstance(warm_start, (bool, np.bool_)):
        raise TypeError(f"warm_start must be True or False, got {warm_start!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    n0 = None
    for i, (A, b, _) in enumerate(items):
        n0 = _check_system(i, A, b, n0)
    order = _check_order(order, N)
    k_in, m_in = k, m
    k, m = _default_k_m(k, m, precond, method)
    if method in ("gcrodr", "rcg", "auto"):
        from ._gcrodr import check_k_m

        check_k_m(k, m)
    if not (isinstance(recycle, (bool, np.bool_)) or (isinstance(recycle, str)
                                                     and recycle == "auto")):
        raise ValueError(f"recycle must be True, False or 'auto', got {recycle!r}")
    amg_options = None
    if not isinstance(reuse_setup, (bool, np.bool_)):
        raise TypeError(f"reuse_setup must be True or False, got {reuse_setup!r}")
    if reuse_setup:
        spec, opts = (precond if isinstance(precond, tuple) and len(precond) == 2
                      else (precond, {}))
        if not (isinstance(spec, str) and spec.lower() == "amg" and isinstance(opts, dict)):
            raise ValueError(
                "reuse_setup=True re-uses an AMG hierarchy: give precond='amg' (or ('amg', "
                f"options)), got precond={precond!r}"
            )
        if method == "ssor-cg":
            raise ValueError("reuse_setup=True needs a method that uses precond, not 'ssor-cg'")
        amg_options = dict(opts)

    # ---- sorting
    t0 = time.perf_counter()
    ctx = None
    if features is not None:
        F = _feature_matrix(features, N)
        if F.shape[1] == 1:
            ctx = F[:, 0].copy()
    elif isinstance(order, str) and order == "similarity":
        fields = [f for _, _, f in items]
        if all(f is not None for f in fields):
            F = _feature_matrix(fields, N)
        else:
            F = _feature_matrix(_matrix_features([A for A, _, _ in items], n0), N)
    if isinstance(order, str):
        perm = greedy_order(F) if order == "similarity" else np.arange(N)
    else:
        perm = order
    sort_time = time.perf_counter() - t0

    # ---- method
    if method == "auto":
        rng = np.random.default_rng(0)
        method = "rcg" if all(_looks_spd(A, n0, rng) for A, _, _ in items) else "gcrodr"
        k, m = _default_k_m(k_in, m_in, precond, method)

    from ._cg import cg
    from ._gcrodr import gcrodr
    from ._gmres import gmres
    from ._rcg import rcg

    bandit = None
    contextual = False
    omegas = None
    if method == "ssor-cg":
        if omega is None:
            omega = 1.0
        if isinstance(omega, numbers.Real) and not isinstance(omega, bool):
            if not 0.0 < float(omega) < 2.0:
                raise ValueError(f"omega must lie in (0, 2), got {omega}")
        else:
            bandit, contextual = _bandit(omega, ctx is not None)
            if contextual and ctx is None:
                raise ValueError(
                    "a contextual bandit needs features with one number per system "
                    "(features=[f_0, f_1, ...])"
                )
        omegas = np.zeros(N)
    elif omega is not None:
        raise ValueError(f"omega is only used by method='ssor-cg', not {method!r}")

    if progress is None:
        progress = N > 20 and importlib.util.find_spec("tqdm") is not None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=N, desc=f"solve_sequence ({method})", unit="system")

    results = [None] * N
    times = np.zeros(N)
    x_prev = None
    space = None
    choice = _RecycleChoice(recycle)
    recycled = np.zeros(N, dtype=bool) if method in ("gcrodr", "rcg") else None
    full_setup = np.zeros(N, dtype=bool) if amg_options is not None else None
    base = None  # the last full AMG set-up, and the iterations of its solve
    base_iters = None
    try:
        for i in perm:
            i = int(i)
            A, b, _ = items[i]
            x0 = x_prev if warm_start else None
            if x0 is not None and array_kind(x0) != array_kind(b):
                x0 = None
            common = dict(rtol=rtol, atol=atol, maxiter=maxiter)
            carried = space is not None and method in ("gcrodr", "rcg") and choice.carry()
            ts = time.perf_counter()
            pc = precond
            try:
                if amg_options is not None:
                    from ..precond import amg

                    if base is None:
                        base, base_iters = amg(A, **amg_options), None
                        pc = base
                        full_setup[i] = True
                    else:
                        pc = base.with_matrix(A)
                if method == "gcrodr":
                    # a re-used AMG set-up changes little between systems: the carried
                    # S stays (no k V-cycles to make U = M S anew)
                    res = gcrodr(A, b, x0, precond=pc, recycle=space if carried else None,
                                 k=k, m=m, same_precond=True if reuse_setup else None,
                                 **common)
                elif method == "rcg":
                    res = rcg(A, b, x0, precond=pc, recycle=space if carried else None,
                              k=k, m=m, **common)
                elif method == "gmres":
                    res = gmres(A, b, x0, precond=pc, restart=m, **common)
                elif method == "cg":
                    res = cg(A, b, x0, precond=pc, **common)
                else:
                    arm = None
                    if bandit is not None:
                        c = float(ctx[i]) if contextual else None
                        arm = int(bandit.choose(context=c))
                        w = float(bandit.omegas[arm])
                    else:
                        w = float(omega)
                    omegas[i] = w
                    res = cg(A, b, x0, precond=("ssor", {"omega": w}), **common)
                    if bandit is not None:  # a failed solve costs the iteration limit
                        bandit.update(arm, solve_cost(res, maxiter, len(b)), context=c)
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"systems[{i}]: {exc}") from exc
            times[i] = time.perf_counter() - ts
            results[i] = res
            if recycled is not None and space is not None:
                recycled[i] = carried
                choice.update(carried, res.n_matvec)
            if amg_options is not None:
                if full_setup[i]:
                    base_iters = res.niter
                elif res.niter > 1.5 * base_iters + 2:
                    base = None  # the re-used hierarchy has drifted: a full set-up next time
            if res.recycle is not None:
                space = res.recycle
            if res.info >= 0 and np.isfinite(res.true_residual_norm):
                x_prev = res.x
            if callback is not None:
                callback(i, res)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    total = time.perf_counter() - t_start
    return SequenceResult(
        results=tuple(results),
        order=np.asarray(perm, dtype=int),
        method=method,
        sort_time=sort_time,
        total_time=total,
        times=times,
        omegas=omegas,
        recycled=recycled,
        full_setup=full_setup,
    )
