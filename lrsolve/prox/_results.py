"""Result objects of the prox family (unpack like SciPy tuples, carry the rest as attributes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["OptimizeResult", "PathResult"]


@dataclass(frozen=True, repr=False, eq=False)
class OptimizeResult:
    """Result of the solvers of :mod:`lrsolve.prox` (proximal gradient, BCD, Lasso, NMF).

    Unpacks as ``x, info = result`` (like :class:`lrsolve.SolveResult`).

    Attributes
    ----------
    x : array or list of arrays
        The solution (a list of blocks for :func:`bcd`; ``W`` for :func:`nmf`).
    info : int
        ``0`` converged; ``> 0``: iterations made without reaching the tolerance.
    converged : bool
        Whether the stopping test was met.
    niter : int
        Iterations (epochs for coordinate descent).
    objective : numpy.ndarray
        Objective value after each iteration (starting with the initial point).
    n_grad : int
        Gradient evaluations of the smooth part.
    certificate : float
        The quantity the stopping test used: the gradient-mapping norm
        (proximal gradient), the duality gap (Lasso), the relative change (BCD, NMF).
    duality_gap : float
        Duality gap of the returned point where the problem has a known dual, else NaN.
    message : str
        What happened.
    history : dict
        Per-iteration histories (gradient-mapping norms, gaps, steps...).
    extra : dict
        Anything else (e.g. ``intercept``, ``H`` for NMF, restarts).
    """

    x: Any
    info: int
    converged: bool
    niter: int
    objective: np.ndarray
    n_grad: int = 0
    certificate: float = float("nan")
    duality_gap: float = float("nan")
    message: str = ""
    history: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def __iter__(self):
        return iter((self.x, self.info))

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (self.x, self.info)[i]

    def __getattr__(self, name):
        extra = object.__getattribute__(self, "extra")
        if name in extra:
            return extra[name]
        raise AttributeError(name)

    def __repr__(self):
        obj = self.objective[-1] if len(self.objective) else float("nan")
        return (
            f"OptimizeResult(converged={self.converged}, info={self.info}, niter={self.niter}, "
            f"objective={obj:.6g}, certificate={self.certificate:.3e}, message={self.message!r})"
        )


@dataclass(frozen=True, repr=False, eq=False)
class PathResult:
    """Result of :func:`lasso_path` and :func:`enet_path`; unpacks as ``alphas, coefs, gaps``.

    Attributes
    ----------
    alphas : numpy.ndarray
        The regularization values, decreasing.
    coefs : array
        Coefficients, shape ``(n_features, n_alphas)`` (scikit-learn's layout).
    dual_gaps : numpy.ndarray
        Duality gap at each alpha in scikit-learn's scaling (``1/(2n)`` data term).
    n_iters : numpy.ndarray
        CD epochs at each alpha.
    converged : numpy.ndarray
        Whether each alpha met the tolerance.
    intercepts : numpy.ndarray
        Intercepts (zeros without ``fit_intercept``).
    """

    alphas: np.ndarray
    coefs: Any
    dual_gaps: np.ndarray
    n_iters: np.ndarray
    converged: np.ndarray
    intercepts: np.ndarray

    def __iter__(self):
        return iter((self.alphas, self.coefs, self.dual_gaps))

    def __len__(self):
        return 3

    def __getitem__(self, i):
        return (self.alphas, self.coefs, self.dual_gaps)[i]

    def __repr__(self):
        return (
            f"PathResult(n_alphas={len(self.alphas)}, "
            f"all_converged={bool(np.all(self.converged))}, "
            f"max_gap={float(np.max(self.dual_gaps)) if len(self.dual_gaps) else float('nan'):.3e})"
        )
