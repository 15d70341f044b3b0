"""Solve a sequence of systems while a bandit learns the relaxation parameter."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._results import solve_cost
from ._bandit import ContextualTsallisINF, TsallisINF, _check_omegas, _rng
from ._stationary import sor, ssor

__all__ = ["tune_omega", "TuneResult", "solve_with_omega"]

_METHODS = ("ssor-cg", "sor", "ssor")


@dataclass(frozen=True, repr=False, eq=False)
class TuneResult:
    """Result of :func:`tune_omega`; unpacks as ``omegas, iterations``.

    Attributes
    ----------
    omegas : numpy.ndarray
        The ``omega`` used for each system, in the given order.
    iterations : numpy.ndarray
        Iterations each solve took (``maxiter`` when it did not converge).
    arms : numpy.ndarray
        The arm index chosen for each system.
    converged : numpy.ndarray
        Whether each solve converged.
    total_iterations : int
        Sum of ``iterations``.
    grid : numpy.ndarray
        The omega grid the bandit chose from.
    bandit : TsallisINF or ContextualTsallisINF
        The learner after the run (its ``probabilities`` and ``counts``).
    fixed_iterations : numpy.ndarray or None
        With ``hindsight=True``: ``(n_systems, n_omegas)`` iterations of every
        grid ``omega`` on every system.
    best_fixed_omega : float or None
        The grid ``omega`` with the fewest total iterations in hindsight.
    best_fixed_iterations : int or None
        Its total iterations.
    decision_time : float
        Seconds spent in ``choose`` and ``update`` (the bandit's overhead).
    solve_time : float
        Seconds spent in the solves (excluding the hindsight solves).
    solutions : list or None
        The solutions, when ``keep_solutions=True``.
    extra : dict
        ``method``, ``rtol``, ``warm_start`` and the per-system
        ``decision_times`` and ``solve_times`` (seconds).
    """

    omegas: np.ndarray
    iterations: np.ndarray
    arms: np.ndarray
    converged: np.ndarray
    total_iterations: int
    grid: np.ndarray
    bandit: Any
    fixed_iterations: Any = None
    best_fixed_omega: Any = None
    best_fixed_iterations: Any = None
    decision_time: float = 0.0
    solve_time: float = 0.0
    solutions: Any = None
    extra: dict = field(default_factory=dict)

    def __iter__(self):
        return iter((self.omegas, self.iterations))

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (self.omegas, self.iterations)[i]

    @property
    def regret(self):
        """``total_iterations - best_fixed_iterations`` (``None`` without hindsight)."""
        if self.best_fixed_iterations is None:
            return None
        return int(self.total_iterations - self.best_fixed_iterations)

    def __repr__(self):
        s = (
            f"TuneResult(n_systems={self.omegas.size}, total_iterations={self.total_iterations}"
        )
        if self.best_fixed_omega is not None:
            s += (
                f", best_fixed_omega={self.best_fixed_omega:.4g} "
                f"({self.best_fixed_iterations} iterations)"
            )
        return s + ")"


def solve_with_omega(A, b, omega, *, method="ssor-cg", rtol=1e-8, maxiter=None, x0=None):
    """Solve one system with relaxation parameter ``omega`` by the named method.

    Parameters
    ----------
    A : sparse matrix or array
        The matrix (SPD for ``"ssor-cg"``).
    b : ndarray
        Right-hand side.
    omega : float
        Relaxation parameter in ``(0, 2)``.
    method : {"ssor-cg", "sor", "ssor"}, optional
        ``"ssor-cg"``: :func:`lrsolve.cg` with ``precond=("ssor", {"omega": omega})``;
        ``"sor"`` / ``"ssor"``: the stationary solvers :func:`sor` / :func:`ssor`.
    rtol : float, optional
        Relative tolerance (default ``1e-8``).
    maxiter : int, optional
        Iteration limit.
    x0 : ndarray, optional
        Starting guess.

    Returns
    -------
    SolveResult

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> A, b = lrsolve.problems.darcy((16, 16), rng=0)
    >>> res = lrsolve.relax.solve_with_omega(A, b, 1.5)
    >>> res.converged
    True
    """
    if method == "ssor-cg":
        from ..krylov import cg

        return cg(A, b, x0, rtol=rtol, maxiter=maxiter, precond=("ssor", {"omega": omega}))
    if method == "sor":
        return sor(A, b, x0, omega=omega, rtol=rtol, maxiter=maxiter)
    if method == "ssor":
        return ssor(A, b, x0, omega=omega, rtol=rtol, maxiter=maxiter)
    raise ValueError(f"method must be one of {_METHODS}, got {method!r}")


def _pair(item, i):
    try:
        A, b = item
    except (TypeError, ValueError):
        raise TypeError(
            f"systems[{i}] must be an (A, b) pair or a lrsolve.problems.Problem, "
            f"got {type(item).__name__}"
        ) from None
    return A, b


def tune_omega(
    systems,
    *,
    omegas=None,
    method="ssor-cg",
    rtol=1e-8,
    maxiter=None,
    contexts=None,
    n_bins=5,
    rng=None,
    progress=None,
    bandit=None,
    hindsight=False,
    warm_start=False,
    keep_solutions=False,
):
    """Solve a sequence of systems, choosing each ``omega`` with a Tsallis-INF bandit.

    The online setting of "Learning to Relax": before each solve the bandit
    samples ``omega`` from the grid; after it, it observes only the
    iteration count.  With ``contexts`` (one scalar feature per system) the
    contextual learner :class:`ContextualTsallisINF` is used.  A solve that
    does not converge costs ``maxiter`` iterations.

    Parameters
    ----------
    systems : iterable
        ``(A, b)`` pairs or :class:`lrsolve.problems.Problem` objects (a list or a
        generator: the systems are solved in the given order, one at a time).
    omegas : array_like, optional
        The grid (default :func:`default_omegas`; ignored when ``bandit`` is given).
    method : {"ssor-cg", "sor", "ssor"}, optional
        The solver (see :func:`solve_with_omega`); default SSOR-preconditioned CG.
    rtol : float, optional
        Relative tolerance of every solve (default ``1e-8``).
    maxiter : int, optional
        Iteration limit of every solve (default the solver's).
    contexts : array_like, optional
        One scalar per system: switches to the contextual bandit (bins span
        the contexts' range when the sequence is a list).
    n_bins : int, optional
        Context bins of the contextual bandit (default 5).
    rng : None, int or numpy.random.Generator, optional
        Random source of the bandit.
    progress : bool, optional
        Show a tqdm progress bar (when tqdm is installed).
    bandit : TsallisINF or ContextualTsallisINF, optional
        A learner to continue (it is updated in place); default a fresh one.
    hindsight : bool, optional
        Also solve every system with every grid ``omega`` and report the best
        fixed ``omega`` in hindsight (``len(grid)`` times the work).
    warm_start : bool, optional
        Start each solve from the previous solution (same size required).
    keep_solutions : bool, optional
        Return the solutions in ``solutions``.

    Returns
    -------
    TuneResult
        Per-system ``omegas`` and ``iterations`` (it unpacks as these two), the
        learner, the timings and, with ``hindsight``, the best fixed ``omega``.

    See Also
    --------
    TsallisINF, ContextualTsallisINF

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> seq = lrsolve.problems.darcy_sequence(30, (12, 12), rng=0)
    >>> res = lrsolve.relax.tune_omega(seq, omegas=[1.0, 1.4, 1.8], rng=0, hindsight=True)
    >>> res.iterations.shape, res.best_fixed_omega in (1.0, 1.4, 1.8)
    ((30,), True)
    >>> bool(res.total_iterations >= res.best_fixed_iterations)
    True
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if isinstance(systems, (str, bytes)) or not hasattr(systems, "__iter__"):
        raise TypeError(
            f"systems must be an iterable of (A, b) pairs, got {type(systems).__name__}"
        )
    ctx = None
    if contexts is not None:
        ctx = np.asarray(contexts, dtype=np.float64).reshape(-1)
        if not np.isfinite(ctx).all():
            raise ValueError("contexts must be finite numbers, one per system")
        if hasattr(systems, "__len__") and len(systems) != ctx.size:
            raise ValueError(
                f"contexts must hold one value per system: {ctx.size} given for "
                f"{len(systems)} systems"
            )
    if bandit is None:
        grid = _check_omegas(omegas)
        if ctx is None:
            bandit = TsallisINF(grid, rng=_rng(rng))
        else:
            rng_ = (float(ctx.min()), float(ctx.max())) if ctx.size else None
            bandit = ContextualTsallisINF(grid, n_bins=n_bins, context_range=rng_, rng=_rng(rng))
    elif not isinstance(bandit, (TsallisINF, ContextualTsallisINF)):
        raise TypeError(
            f"bandit must be a TsallisINF or ContextualTsallisINF, got {type(bandit).__name__}"
        )
    grid = bandit.omegas
    contextual = isinstance(bandit, ContextualTsallisINF)
    if contextual and ctx is None:
        raise ValueError("a ContextualTsallisINF needs contexts=, one scalar per system")

    it_list, arm_list, conv_list, sols, fixed = [], [], [], [], []
    t_dec_list, t_sol_list = [], []
    t_decide = t_solve = 0.0
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(systems) if hasattr(systems, "__len__") else None,
                       desc=f"tune_omega ({method})")
        except ImportError:
            bar = None
    x_prev = None
    try:
        for i, item in enumerate(systems):
            A, b = _pair(item, i)
            c = None
            if ctx is not None:
                if i >= ctx.size:
                    raise ValueError(f"contexts has {ctx.size} values but systems[{i}] exists")
                c = float(ctx[i])
            t0 = time.perf_counter()
            arm = bandit.choose(c)
            t_dec = time.perf_counter() - t0
            t0 = time.perf_counter()
            x0 = x_prev if warm_start else None
            try:
                res = solve_with_omega(A, b, float(grid[arm]), method=method, rtol=rtol,
                                       maxiter=maxiter, x0=x0)
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"systems[{i}]: {exc}") from exc
            t_sol = time.perf_counter() - t0
            cost = solve_cost(res, maxiter, np.shape(b)[0])
            t0 = time.perf_counter()
            bandit.update(arm, cost, c)
            t_dec += time.perf_counter() - t0
            t_decide += t_dec
            t_solve += t_sol
            t_dec_list.append(t_dec)
            t_sol_list.append(t_sol)
            it_list.append(int(cost))
            arm_list.append(arm)
            conv_list.append(bool(res.converged))
            if keep_solutions:
                sols.append(res.x)
            x_prev = res.x
            if hindsight:
                row = []
                for w in grid:
                    r = solve_with_omega(A, b, float(w), method=method, rtol=rtol,
                                         maxiter=maxiter, x0=x0)
                    row.append(solve_cost(r, maxiter, np.shape(b)[0]))
                fixed.append(row)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if ctx is not None and len(it_list) != ctx.size:
        raise ValueError(f"contexts holds {ctx.size} values for {len(it_list)} systems")
    arms = np.asarray(arm_list, dtype=np.int64)
    iters = np.asarray(it_list, dtype=np.int64)
    best_w = best_it = fixed_arr = None
    if hindsight and fixed:
        fixed_arr = np.asarray(fixed, dtype=np.int64)
        totals = fixed_arr.sum(axis=0)
        j = int(np.argmin(totals))
        best_w, best_it = float(grid[j]), int(totals[j])
    return TuneResult(
        omegas=np.asarray(grid)[arms] if arms.size else np.zeros(0),
        iterations=iters,
        arms=arms,
        converged=np.asarray(conv_list, dtype=bool),
        total_iterations=int(iters.sum()),
        grid=np.asarray(grid),
        bandit=bandit,
        fixed_iterations=fixed_arr,
        best_fixed_omega=best_w,
        best_fixed_iterations=best_it,
        decision_time=t_decide,
        solve_time=t_solve,
        solutions=sols if keep_solutions else None,
        extra={"method": method, "rtol": rtol, "warm_start": warm_start,
               "decision_times": np.asarray(t_dec_list), "solve_times": np.asarray(t_sol_list)},
    )
