"""Smoothed-aggregation algebraic multigrid (AMG) preconditioner built with PyAMG."""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np

from .._backend import backend
from ..operators._base import as_operator
from ._base import Preconditioner, register
from ._chebyshev import LMAX_SAFETY, LMIN_RATIO, chebyshev_coefficients, lanczos_extremes
from ._ssor import _as_op, _explicit_csr, _sync_time

__all__ = ["amg", "AMG"]

_SMOOTHERS = ("chebyshev", "jacobi")
#: Seed of NumPy's global generator while PyAMG builds a hierarchy (restored afterwards).
AMG_SEED = 0


def _import_pyamg():
    try:
        import pyamg
    except ImportError as exc:
        raise ImportError("precond='amg' needs PyAMG: pip install lrsolve[amg]") from exc
    return pyamg


def _is_multilevel(obj):
    return hasattr(obj, "levels") and hasattr(obj, "aspreconditioner")


def _deterministic(build, *args, **kwargs):
    """Run ``build`` with NumPy's global generator seeded, then restore the caller's state.

    PyAMG's setup draws random vectors (spectral radius estimates) from the global
    generator; seeding makes the hierarchy, and so iteration counts, reproducible.
    """
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(AMG_SEED)  # noqa: NPY002
    try:
        return build(*args, **kwargs)
    finally:
        np.random.set_state(state)  # noqa: NPY002


# PyAMG's smoothed-aggregation defaults, used to set up the smoothers of a re-used hierarchy
_SA_SMOOTHER = ("block_gauss_seidel", {"sweep": "symmetric"})


def _pointwise_csr(T, cache=None):
    """``T`` in CSR if it is a BSR matrix with 1 x 1 blocks (the same matrix), else ``T``.

    ``cache`` (a dict) keeps the conversions of matrices shared between
    hierarchies (the prolongations and restrictions of a re-used set-up).
    """
    import scipy.sparse as sp

    if not (sp.issparse(T) and T.format == "bsr" and T.blocksize == (1, 1)):
        return T
    if cache is None:
        return T.tocsr()
    hit = cache.get(id(T))
    if hit is None or hit[0] is not T:
        hit = cache[id(T)] = (T, T.tocsr())  # the original is kept: its id stays unique
    return hit[1]


def _galerkin_copy(ml, A, presmoother, postsmoother, cache=None):
    """A copy of the PyAMG hierarchy ``ml`` for the matrix ``A`` of the same shape.

    Every level keeps its ``P`` and ``R``; its matrix is the Galerkin product
    ``R A_l P`` of the new finer matrix (in the format the level had, except
    that BSR with 1 x 1 blocks becomes the same matrix in CSR, where sparse
    products are several times faster); the smoothers and the coarse solver are
    set up again on the new matrices.  ``ml`` itself is not modified.
    """
    import copy

    import scipy.sparse as sp
    from pyamg.relaxation.smoothing import change_smoothers

    new = copy.copy(ml)
    new.levels = []
    Al = A
    for i, lvl in enumerate(ml.levels):
        nl = copy.copy(lvl)
        for attr in ("presmoother", "postsmoother"):
            nl.__dict__.pop(attr, None)
        fmt = lvl.A.format if sp.issparse(lvl.A) else "csr"
        if fmt == "bsr" and lvl.A.blocksize != (1, 1):
            if Al.format != "bsr" or Al.blocksize != lvl.A.blocksize:
                Al = Al.tobsr(blocksize=lvl.A.blocksize)
        elif fmt == "bsr":
            Al = Al.tocsr()
        else:
            Al = Al.asformat(fmt)
        nl.A = Al
        new.levels.append(nl)
        if i + 1 < len(ml.levels):
            Al = _pointwise_csr(lvl.R, cache) @ (Al @ _pointwise_csr(lvl.P, cache))
            if sp.issparse(Al):
                Al.sort_indices()
    change_smoothers(new, presmoother, postsmoother)
    new.coarse_solver = type(ml.coarse_solver)()  # a fresh one: the old caches its factor
    return new


def _gs_sweeps(A, smoother, hdtype):
    """The kernel calls of one PyAMG Gauss-Seidel smoother, or None if ``smoother`` is another.

    PyAMG's default smoothed-aggregation smoother (``block_gauss_seidel`` with
    blocksize 1, which PyAMG itself turns into ``gauss_seidel``) is a
    ``functools.partial`` of :func:`pyamg.relaxation.relaxation.gauss_seidel`.
    Its sweeps are returned as ``(kernel, arrays, trailing arguments)`` for
    :mod:`pyamg.amg_core`, the exact calls ``gauss_seidel`` makes (the caller
    passes BSR levels with 1 x 1 blocks in CSR: the same arithmetic, about four
    times faster than PyAMG's block kernel).
    """
    import functools

    import scipy.sparse as sp
    from pyamg import amg_core
    from pyamg.relaxation import relaxation

    if not (isinstance(smoother, functools.partial) and smoother.func is relaxation.gauss_seidel
            and not smoother.args
            and set(smoother.keywords) <= {"iterations", "sweep", "omega"}):
        return None
    kw = smoother.keywords
    iterations, sweep = kw.get("iterations", 1), kw.get("sweep", "forward")
    omega = kw.get("omega", 1.0)
    if not (sp.issparse(A) and A.format in ("csr", "bsr") and A.dtype == hdtype
            and A.indptr.dtype == np.intc and A.indices.dtype == np.intc):
        return None
    R = A.blocksize[0] if A.format == "bsr" else 1
    if A.format == "bsr" and A.blocksize[1] != R:
        return None
    csr = A if A.format == "csr" else None  # 1 x 1 BSR levels arrive as CSR (_pointwise_csr)
    nb = A.shape[0] // R
    dirs = {"forward": [(0, nb, 1)], "backward": [(nb - 1, -1, -1)],
            "symmetric": [(0, nb, 1), (nb - 1, -1, -1)]}.get(sweep)
    if dirs is None or isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral):
        return None
    if csr is not None:
        if csr.indptr.dtype != np.intc or csr.indices.dtype != np.intc:
            return None
        arrays = (csr.indptr, csr.indices, csr.data)
        if omega != 1.0:
            calls = [(amg_core.sor_gauss_seidel, arrays, d + (omega,)) for d in dirs]
        else:
            calls = [(amg_core.gauss_seidel, arrays, d) for d in dirs]
    else:  # PyAMG ignores omega on BSR levels
        arrays = (A.indptr, A.indices, np.ravel(A.data))
        calls = [(amg_core.bsr_gauss_seidel, arrays, d + (R,)) for d in dirs]
    return calls * int(iterations)


class _GSCycle:
    """PyAMG's V-cycle for hierarchies smoothed by Gauss-Seidel, without its per-call checks.

    The same operations in the same order as ``MultilevelSolver``'s V-cycle with
    its Gauss-Seidel smoothers (pre-smoothing, residual, restriction, the coarse
    solve or the next level, prolongation, post-smoothing), calling
    :mod:`pyamg.amg_core` directly: PyAMG's per-call argument checks and its
    1 x 1 block kernel cost about half of a V-cycle on a 10^4-unknown problem.
    """

    def __init__(self, levels, coarse_A, coarse_solver):
        self.levels = levels
        self.coarse_A = coarse_A
        self.coarse_solver = coarse_solver

    @classmethod
    def build(cls, ml, hdtype, cache=None):
        """The cycle of ``ml``, or None where a level has another smoother or format."""
        import scipy.sparse as sp

        if len(ml.levels) < 2:
            return None
        levels = []
        for lvl in ml.levels[:-1]:
            A = lvl.A
            if not all(sp.issparse(T) for T in (A, lvl.R, lvl.P)):
                return None
            A = _pointwise_csr(A)
            pre = _gs_sweeps(A, getattr(lvl, "presmoother", None), hdtype)
            post = _gs_sweeps(A, getattr(lvl, "postsmoother", None), hdtype)
            if pre is None or post is None:
                return None
            levels.append((A, pre, post, _pointwise_csr(lvl.R, cache),
                           _pointwise_csr(lvl.P, cache)))
        return cls(levels, ml.levels[-1].A, ml.coarse_solver)

    def __call__(self, b):
        x = np.zeros_like(b)
        self._solve(0, x, b)
        return x

    def _solve(self, i, x, b):
        A, pre, post, R, P = self.levels[i]
        for kernel, arrays, args in pre:
            kernel(*arrays, x, b, *args)
        coarse_b = R @ (b - A @ x)
        if i == len(self.levels) - 1:
            coarse_x = np.zeros_like(coarse_b)
            coarse_x[:] = self.coarse_solver(self.coarse_A, coarse_b)
        else:
            coarse_x = np.zeros_like(coarse_b)
            self._solve(i + 1, coarse_x, coarse_b)
        x += P @ coarse_x
        for kernel, arrays, args in post:
            kernel(*arrays, x, b, *args)


class _Level:
    """One level of the array-API ("xp") V-cycle: operators, smoother and work vectors."""

    def __init__(self, A_host, P_host, R_host, bk, dtype, smoother, degree):
        import scipy.sparse as sp

        A_host = A_host.tocsr().astype(dtype)
        d = A_host.diagonal()
        if d.size and not bool((d.real > 0).all()):
            raise ValueError(
                "the AMG hierarchy has a level whose diagonal is not positive; A must be "
                "positive definite"
            )
        # spectral radius of D^{-1} A from the symmetric D^{-1/2} A D^{-1/2} (host, cheap)
        s = 1.0 / np.sqrt(d.real)
        S = sp.diags(s) @ A_host @ sp.diags(s)
        with backend("numpy"):  # a host estimate, whatever the global backend
            _, rho = lanczos_extremes(as_operator(S.tocsr()), 10)
        lmax = LMAX_SAFETY * rho
        if bk.name == "cupy":
            import cupyx.scipy.sparse as csp

            A_dev = csp.csr_matrix(A_host)
            self.P = csp.csr_matrix(P_host.tocsr().astype(dtype))
            self.R = csp.csr_matrix(R_host.tocsr().astype(dtype))
        else:
            A_dev = A_host
            self.P = P_host.tocsr().astype(dtype)
            self.R = R_host.tocsr().astype(dtype)
        self.A = as_operator(A_dev, bk)
        xp = bk.xp
        self.dinv = xp.asarray((1.0 / d).astype(dtype))
        self.smoother = smoother
        if smoother == "chebyshev":
            self.c0, self.coef = chebyshev_coefficients(degree, lmax / LMIN_RATIO, lmax)
        else:  # damped Jacobi, omega = 4 / (3 rho)
            self.omega = 4.0 / (3.0 * rho)
            self.sweeps = degree
        n = A_host.shape[0]
        self.x = xp.empty(n, dtype=dtype)  # this level's solution (coarse levels)
        self.r = xp.empty(n, dtype=dtype)
        self.d = xp.empty(n, dtype=dtype)
        self.w = xp.empty(n, dtype=dtype)

    def smooth(self, xp, b, x, zero):
        """Improve ``x`` for ``A x = b`` in place (``zero``: ``x`` is zero on entry)."""
        r, d, w = self.r, self.d, self.w
        if zero:
            r[...] = b
        else:
            self.A.residual(x, b, r)
        if self.smoother == "jacobi":
            for k in range(self.sweeps):
                if k:
                    self.A.residual(x, b, r)
                xp.multiply(self.dinv, r, out=w)
                w *= self.omega
                if zero and k == 0:
                    x[...] = w
                else:
                    x += w
            return
        # preconditioned Chebyshev iteration with D^{-1}
        xp.multiply(self.dinv, r, out=d)
        d *= self.c0
        if zero:
            x[...] = d
        else:
            x += d
        for a, c in self.coef:
            self.A._matvec(d, w)
            r -= w
            d *= a
            xp.multiply(self.dinv, r, out=w)
            w *= c
            d += w
            x += d


class _XPCycle:
    """A symmetric V-cycle written with the array module ``xp`` (NumPy or CuPy)."""

    def __init__(self, ml, bk, dtype, smoother, degree):
        levels = ml.levels
        self.levels = [
            _Level(lv.A, lv.P, lv.R, bk, dtype, smoother, degree) for lv in levels[:-1]
        ]
        Ac = levels[-1].A.toarray().astype(np.complex128 if np.dtype(dtype).kind == "c" else float)
        try:
            C = np.linalg.inv(Ac)
        except np.linalg.LinAlgError:
            C = np.linalg.pinv(Ac)
        C = 0.5 * (C + C.conj().T)  # exactly Hermitian: keeps the cycle symmetric
        self.coarse = bk.xp.asarray(C.astype(dtype))
        self.xp = bk.xp

    def __call__(self, b, out):
        self._vcycle(0, b, out)

    def _vcycle(self, lvl, b, x):
        xp = self.xp
        if lvl == len(self.levels):
            xp.matmul(self.coarse, b, out=x)
            return
        L = self.levels[lvl]
        L.smooth(xp, b, x, zero=True)
        L.A.residual(x, b, L.r)
        bc = L.R @ L.r
        xc = self.levels[lvl + 1].x if lvl + 1 < len(self.levels) else xp.empty_like(bc)
        self._vcycle(lvl + 1, bc, xc)
        x += L.P @ xc
        L.smooth(xp, b, x, zero=False)


class AMG(Preconditioner):
    """One smoothed-aggregation AMG V-cycle as preconditioner; see :func:`amg`.

    Attributes
    ----------
    ml : pyamg.multilevel.MultilevelSolver
        The hierarchy (built on the host by PyAMG).
    cycle_backend : {"pyamg", "xp"}
        Which V-cycle runs: PyAMG's own (CPU) or lrsolve's array-API cycle.
    setup_time : float
        Seconds spent building the object (hierarchy and device copies).
    """

    name = "amg"

    def __init__(
        self, op, ml=None, cycle_backend=None, xp_smoother="chebyshev", xp_degree=3,
        _transfer_cache=None, **pyamg_options,
    ):
        t0 = time.perf_counter()
        bk = op.backend
        if cycle_backend is None:
            cycle_backend = "xp" if bk.name == "cupy" else "pyamg"
        if cycle_backend not in ("pyamg", "xp"):
            raise ValueError(f"cycle_backend must be 'pyamg' or 'xp', got {cycle_backend!r}")
        if cycle_backend == "pyamg" and bk.name == "cupy":
            raise ValueError(
                "cycle_backend='pyamg' runs on the CPU; with CuPy inputs use cycle_backend='xp' "
                "(the default there)"
            )
        if xp_smoother not in _SMOOTHERS:
            raise ValueError(f"xp_smoother must be one of {_SMOOTHERS}, got {xp_smoother!r}")
        if (
            isinstance(xp_degree, bool)
            or not isinstance(xp_degree, numbers.Integral)
            or xp_degree < 1
        ):
            raise ValueError(f"xp_degree must be an integer >= 1, got {xp_degree!r}")
        self.shape = op.shape
        self.dtype = op.dtype
        self.backend = bk
        self.cycle_backend = cycle_backend
        real = np.dtype(op.dtype).kind != "c"
        self._hdtype = np.dtype(np.float64 if real else np.complex128)
        if ml is None:
            pyamg = _import_pyamg()
            A = _explicit_csr(op, "amg")
            Ah = A.get() if bk.name == "cupy" else A
            Ah = Ah.astype(self._hdtype)  # PyAMG works in double precision
            ml = _deterministic(pyamg.smoothed_aggregation_solver, Ah, **pyamg_options)
        else:
            if pyamg_options:
                raise TypeError(
                    "options for PyAMG cannot be combined with ml= (the hierarchy exists "
                    f"already): drop {sorted(pyamg_options)}"
                )
            if not _is_multilevel(ml):
                raise TypeError(
                    f"ml must be a pyamg MultilevelSolver, got {type(ml).__name__}"
                )
            if tuple(ml.levels[0].A.shape) != tuple(op.shape):
                raise ValueError(
                    f"ml was built for a matrix of shape {ml.levels[0].A.shape}, A has shape "
                    f"{op.shape}"
                )
        self.ml = ml
        self._options = dict(xp_smoother=xp_smoother, xp_degree=int(xp_degree))
        self._smoothers = (pyamg_options.get("presmoother", _SA_SMOOTHER),
                           pyamg_options.get("postsmoother", _SA_SMOOTHER))
        if not getattr(ml, "symmetric_smoothing", True):
            warnings.warn(
                "the PyAMG hierarchy smooths non-symmetrically (pre- and postsmoother differ): "
                "its V-cycle is not a symmetric preconditioner, which CG needs",
                RuntimeWarning,
                stacklevel=3,
            )
        self._xp_cycle = None
        if cycle_backend == "xp":  # with one level the dense coarse solve is the whole cycle
            self._xp_cycle = _XPCycle(ml, bk, op.dtype, xp_smoother, int(xp_degree))
        self._cycle = getattr(ml, "_MultilevelSolver__solve", None)
        # CSR copies of 1 x 1 BSR transfer operators, shared with the with_matrix copies
        self._transfer_cache = {} if _transfer_cache is None else _transfer_cache
        self._gs_cycle = (_GSCycle.build(ml, self._hdtype, self._transfer_cache)
                          if cycle_backend == "pyamg" else None)
        self.setup_time = _sync_time(bk, t0)

    def with_matrix(self, A):
        """An AMG preconditioner for another matrix of the same shape, re-using this set-up.

        The aggregates, prolongations ``P_l`` and restrictions ``R_l`` of this
        hierarchy are kept; only the level matrices (the Galerkin products
        ``R_l A_l P_l``), the smoothers (with the ``presmoother`` /
        ``postsmoother`` options this object was built with; PyAMG's defaults
        for a hierarchy passed as ``ml=``) and the coarse solve are set up
        again -- a small part of a full set-up, whose cost is the aggregation
        and the smoothing of ``P``.  Useful for a sequence of related matrices (time
        steps, parameter sweeps, random coefficient fields on one grid): the
        Galerkin coarse operators keep the V-cycle convergent for any SPD
        ``A``, and the iteration count stays close to a fresh set-up's as
        long as ``A``'s strong connections resemble the original's.  This
        object is not modified.

        Parameters
        ----------
        A : sparse matrix, dense array or lrsolve operator
            Hermitian positive definite matrix of this preconditioner's shape,
            on the same backend.

        Returns
        -------
        AMG

        Examples
        --------
        >>> import numpy as np, lrsolve
        >>> p0, p1 = lrsolve.problems.darcy_sequence(2, (40, 40), rng=0)
        >>> M0 = lrsolve.precond.amg(p0.A)
        >>> M1 = M0.with_matrix(p1.A)
        >>> res = lrsolve.cg(p1.A, p1.b, rtol=1e-8, precond=M1)
        >>> res.converged, res.niter <= 2 * lrsolve.cg(p1.A, p1.b, rtol=1e-8, precond="amg").niter
        (True, True)
        """
        t0 = time.perf_counter()
        op = as_operator(A)
        if tuple(op.shape) != tuple(self.shape):
            raise ValueError(
                f"A has shape {op.shape}, this AMG preconditioner was built for {self.shape}: "
                "with_matrix needs a matrix of the same shape (build a new one with amg(A))"
            )
        if op.backend.name != self.backend.name:
            raise TypeError(
                f"A is on {op.backend.name} but this preconditioner on {self.backend.name}; "
                "give A on the same backend"
            )
        Ah = _explicit_csr(op, "amg")
        Ah = Ah.get() if self.backend.name == "cupy" else Ah
        Ah = Ah.astype(self._hdtype)
        if Ah.shape[0] and not bool((Ah.diagonal().real > 0).all()):
            raise ValueError("A has a diagonal entry <= 0: it is not positive definite")
        ml = _galerkin_copy(self.ml, Ah, *self._smoothers, cache=self._transfer_cache)
        new = AMG(op, ml=ml, cycle_backend=self.cycle_backend,
                  _transfer_cache=self._transfer_cache,
                  **self._options)
        new._smoothers = self._smoothers
        new.setup_time = _sync_time(self.backend, t0)
        return new

    @property
    def operator_complexity(self):
        """Total nonzeros of all level matrices divided by those of ``A``."""
        return float(self.ml.operator_complexity())

    @property
    def grid_complexity(self):
        """Total unknowns of all levels divided by those of ``A``."""
        return float(self.ml.grid_complexity())

    @property
    def n_levels(self):
        """Number of levels of the hierarchy."""
        return len(self.ml.levels)

    def _apply(self, r, out):
        if np.dtype(r.dtype).kind == "c" and np.dtype(self._hdtype).kind != "c":
            # a real hierarchy applied to a complex vector (a reused AMG object on a complex
            # system with a real matrix): the cycle is linear and real, so it acts on the
            # real and imaginary parts apart
            xp = self.backend.xp
            part = xp.empty(r.shape, dtype=np.dtype(r.real.dtype))
            self._apply(xp.ascontiguousarray(r.real), part)
            out.real[...] = part
            self._apply(xp.ascontiguousarray(r.imag), part)
            out.imag[...] = part
            return
        if self._xp_cycle is not None:
            self._xp_cycle(r, out)
            return
        ml = self.ml
        b = np.asarray(r, dtype=np.result_type(r.dtype, self._hdtype))
        if self._gs_cycle is not None and b.dtype == self._hdtype:
            out[...] = self._gs_cycle(np.ascontiguousarray(b))
            return
        if self._cycle is not None and len(ml.levels) > 1:
            # one V-cycle from x = 0, without ml.solve's two residual norms
            x = np.zeros_like(b)
            self._cycle(0, x, b, "V", 1)
        else:
            x = ml.solve(b, x0=np.zeros_like(b), maxiter=1, cycle="V", tol=1e-300)
        out[...] = x

    def __repr__(self):
        return (
            f"<AMG {self.shape[0]}x{self.shape[1]} {np.dtype(self.dtype)} on {self.backend.name}, "
            f"{self.n_levels} levels, operator complexity {self.operator_complexity:.3g}, "
            f"{self.cycle_backend} V-cycle, setup {self.setup_time:.3g} s>"
        )


@register("amg")
def amg(A, *, ml=None, cycle_backend=None, xp_smoother="chebyshev", xp_degree=3, **pyamg_options):
    """Build a smoothed-aggregation AMG preconditioner (one V-cycle per application).

    The hierarchy is built on the host by :func:`pyamg.smoothed_aggregation_solver`.
    On the CPU each application runs PyAMG's own V-cycle; on the GPU the level
    matrices ``A_l``, prolongations ``P_l`` and restrictions ``R_l`` are copied
    to the device once and an lrsolve V-cycle written with the array module
    runs there (Chebyshev or Jacobi smoothing, a dense inverse on the coarsest
    level).

    Parameters
    ----------
    A : sparse matrix, dense array, lrsolve operator or pyamg MultilevelSolver
        Hermitian positive definite matrix (SciPy or cupyx sparse, NumPy or
        CuPy dense).  A PyAMG hierarchy may be passed instead, as ``A`` or as
        ``ml=``; then its finest matrix is ``A``.
    ml : pyamg.multilevel.MultilevelSolver, optional
        An existing hierarchy to use as it is (e.g. the same one PyAMG's own
        solve uses, for a fair comparison).  Cannot be combined with PyAMG
        options.
    cycle_backend : {"pyamg", "xp"}, optional
        ``"pyamg"`` (default on the CPU): PyAMG's V-cycle with its smoothers
        (default symmetric block Gauss-Seidel).  When every level is smoothed
        by PyAMG's Gauss-Seidel (its default), lrsolve runs the same cycle
        itself, calling :mod:`pyamg.amg_core` without PyAMG's per-call checks
        and sweeping 1 x 1 BSR levels in CSR: the same result (to rounding),
        about 2x faster.  ``"xp"`` (the only choice on
        the GPU, also available on the CPU): lrsolve's V-cycle on the
        hierarchy's ``A_l``, ``P_l``, ``R_l``.
    xp_smoother : {"chebyshev", "jacobi"}, optional
        Smoother of the ``"xp"`` cycle (default ``"chebyshev"``: a Chebyshev
        polynomial in ``D^{-1} A`` on ``[lmax/30, lmax]``, lmax from 10 Lanczos
        steps times 1.1; ``"jacobi"``: damped Jacobi with weight
        ``4 / (3 lmax)``).  Pre- and post-smoother are the same, so the cycle is
        symmetric.
    xp_degree : int, optional
        Chebyshev degree or number of Jacobi sweeps of the ``"xp"`` cycle
        (default 3).
    **pyamg_options
        Passed to :func:`pyamg.smoothed_aggregation_solver` (e.g.
        ``max_coarse=``, ``strength=``, ``presmoother=``).

    Returns
    -------
    AMG
        The preconditioner, with ``.ml`` (the hierarchy),
        ``.operator_complexity``, ``.grid_complexity`` and ``.n_levels``.

    Raises
    ------
    ImportError
        If PyAMG is not installed.
    TypeError
        If ``A`` has no explicit matrix (and no ``ml`` is given).
    ValueError
        For a bad ``cycle_backend``, ``xp_smoother`` or ``xp_degree``, or an
        ``ml`` of another size than ``A``.

    Notes
    -----
    PyAMG's setup draws random vectors from NumPy's global generator; lrsolve
    seeds it while the hierarchy is built and restores the caller's state
    afterwards, so the hierarchy (and iteration counts) are reproducible.
    On the CPU one application calls PyAMG's internal cycle directly (saving
    the two residual norms ``ml.solve`` adds) when that method exists, and
    ``ml.solve(b, maxiter=1)`` otherwise.  PyAMG works in double precision:
    float32 inputs are cast for the cycle and the result cast back.

    References
    ----------
    .. [1] P. Vanek, J. Mandel and M. Brezina, "Algebraic multigrid by smoothed
       aggregation for second and fourth order elliptic problems", Computing 56
       (1996).
    .. [2] N. Bell, L. Olson and J. Schroder, "PyAMG: algebraic multigrid solvers
       in Python", J. Open Source Softw. 7 (2022).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, lrsolve
    >>> T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(64, 64))
    >>> A = (sp.kron(T, sp.eye(64)) + sp.kron(sp.eye(64), T)).tocsr()
    >>> b = np.ones(A.shape[0])
    >>> M = lrsolve.precond.amg(A)
    >>> res = lrsolve.cg(A, b, rtol=1e-8, precond=M)
    >>> res.converged, res.niter <= 15
    (True, True)
    >>> M.operator_complexity < 2
    True
    """
    if _is_multilevel(A):
        if ml is not None and ml is not A:
            raise TypeError("give the PyAMG hierarchy either as A or as ml=, not both")
        ml, A = A, A.levels[0].A
    return AMG(
        _as_op(A), ml=ml, cycle_backend=cycle_backend, xp_smoother=xp_smoother,
        xp_degree=xp_degree, **pyamg_options,
    )

