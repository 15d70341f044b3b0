"""Jacobi (diagonal) preconditioner."""

from __future__ import annotations

from .._kernels import get_kernel
from ..operators._base import as_operator
from ._base import Preconditioner, register

__all__ = ["jacobi", "Jacobi"]


class Jacobi(Preconditioner):
    """``M = diag(A)^{-1}``; see :func:`jacobi`."""

    name = "jacobi"

    def __init__(self, op):
        d = op.diagonal()
        xp = op.backend.xp
        if d.size and not bool((xp.isfinite(d) & (d != 0)).all()):
            bad = int(xp.argmin(xp.where(xp.isfinite(d), abs(d), -1.0)))
            raise ValueError(
                "the Jacobi preconditioner needs a finite, nonzero diagonal; "
                f"A[{bad}, {bad}] = {complex(d[bad])}. Reorder or scale the system, or use "
                "another preconditioner"
            )
        self.dinv = (1.0 / d).astype(op.dtype)
        self.shape = op.shape
        self.dtype = op.dtype
        self.backend = op.backend

    def _apply(self, r, out):
        self.backend.xp.multiply(self.dinv, r, out=out)

    def _unapply(self, u, out):
        """``out = diag(A) u`` (``M^{-1} u``)."""
        self.backend.xp.divide(u, self.dinv, out=out)

    def apply_dot(self, r, out):
        return get_kernel("scale_dot", self.backend.engine)(self.dinv, r, out)


@register("jacobi")
def jacobi(A):
    """Build a Jacobi (diagonal scaling) preconditioner.

    Parameters
    ----------
    A : array, sparse matrix or lrsolve operator
        The matrix; its diagonal must be finite and nonzero.  For
        :func:`~lrsolve.cg` and :func:`~lrsolve.minres` it must also be positive
        (a negative entry is reported as a preconditioner that is not positive
        definite, ``info=-2``); the nonsymmetric solvers accept any sign.

    Returns
    -------
    Jacobi
        An object whose ``apply(r)`` returns ``r / diag(A)``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, lrsolve
    >>> A = sp.diags([1.0, 100.0, 1e4]) + sp.eye(3) * 0.0
    >>> M = lrsolve.precond.jacobi(A)
    >>> res = lrsolve.cg(A, np.ones(3), precond=M)
    >>> res.niter
    1
    """
    return Jacobi(as_operator(A))
