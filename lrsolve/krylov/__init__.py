"""Krylov solvers with SciPy's signatures, on NumPy/Numba and CuPy.

All solvers take ``(A, b, x0=None, *, rtol, atol, maxiter, M, precond,
callback)`` and return a :class:`~lrsolve.SolveResult` that unpacks as
``x, info``.  The recycling solvers :func:`gcrodr` and :func:`rcg` also return
a :class:`RecycleSpace` for the next system of a sequence, and
:func:`solve_sequence` sorts and solves a whole sequence.
"""

from ._bicgstab import bicgstab
from ._cg import cg
from ._gcrodr import gcrodr
from ._gmres import fgmres, gmres
from ._minres import minres
from ._rcg import rcg
from ._recycle import RecycleSpace, operator_fingerprint
from ._sequence import SequenceResult, solve_sequence

__all__ = ["cg", "gmres", "fgmres", "minres", "bicgstab", "gcrodr", "rcg", "RecycleSpace",
           "operator_fingerprint", "solve_sequence", "SequenceResult"]
