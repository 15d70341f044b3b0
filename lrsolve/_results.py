"""Result objects.  Each family returns one type that unpacks like SciPy's tuple."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SolveResult"]


@dataclass(frozen=True, repr=False, eq=False)
class SolveResult:
    """Result of an iterative linear solve.

    Unpacks like SciPy's return value, ``x, info = lrsolve.cg(A, b)``, and
    carries the rest as attributes, as :mod:`scipy.stats` result objects do.

    Attributes
    ----------
    x : array
        The approximate solution, of the caller's array type.
    info : int
        ``0``: converged; ``> 0``: iterations used without reaching the tolerance
        (SciPy's convention); ``< 0``: breakdown (``-1``: ``A`` is not positive
        definite, ``-2``: the preconditioner is not positive definite, ``-3``: the
        iteration stagnated or produced non-finite values).
    converged : bool
        True when the true residual ``||b - A x||`` met the tolerance.
    niter : int
        Iterations performed.
    residual_norms : numpy.ndarray
        Residual norms ``||r_k||``, starting with ``||r_0||`` (length ``niter + 1``).
    n_matvec : int
        Products with ``A``, including true-residual refreshes.
    message : str
        What happened, in words.
    true_residual_norm : float
        ``||b - A x||`` of the returned ``x``, computed explicitly.
    tolerance : float
        The absolute residual target ``max(rtol * ||b||, atol)``.
    n_precond : int
        Applications of the preconditioner.
    recycle : RecycleSpace or None
        The recycle space of the recycling solvers (:func:`lrsolve.krylov.gcrodr`,
        :func:`lrsolve.krylov.rcg`), to pass as ``recycle=`` to the next solve;
        ``None`` for the other solvers.
    """

    x: Any
    info: int
    converged: bool
    niter: int
    residual_norms: np.ndarray
    n_matvec: int
    message: str
    true_residual_norm: float = float("nan")
    tolerance: float = float("nan")
    n_precond: int = 0
    extra: dict = field(default_factory=dict)
    recycle: Any = None

    def __iter__(self):
        return iter((self.x, self.info))

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (self.x, self.info)[i]

    def __repr__(self):
        return (
            f"SolveResult(converged={self.converged}, info={self.info}, niter={self.niter}, "
            f"n_matvec={self.n_matvec}, true_residual_norm={self.true_residual_norm:.3e}, "
            f"message={self.message!r})"
        )


def solve_cost(res, maxiter, n):
    """Iterations a solve is charged by the omega learners: a failed one (diverged, stalled or
    out of iterations) costs the iteration limit (the solvers' default ``10 n`` when
    ``maxiter`` is None), so that a setting that fails early never looks cheap."""
    if res.converged:
        return int(res.niter)
    return max(int(res.niter), int(maxiter) if maxiter is not None else 10 * int(n))
