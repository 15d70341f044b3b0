"""lrsolve: SciPy-style iterative solvers and low-rank algorithms on NumPy/Numba and CuPy.

The inputs' array type picks the backend (NumPy+SciPy or CuPy+cupyx);
:func:`set_backend` and :func:`backend` choose where host inputs are computed
and which CPU engine (``numba`` or ``numpy``) runs.

Examples
--------
>>> import numpy as np, lrsolve
>>> A = lrsolve.operators.poisson((32, 32))
>>> b = np.ones(A.shape[0])
>>> res = lrsolve.cg(A, b, rtol=1e-8, precond="ic0")
>>> res.converged
True
"""

__version__ = "0.1.0"

from . import completion, deep, krylov, operators, precond, problems, prox, relax, tensor
from ._backend import backend, cupy_available, get_backend, set_backend, show_config, to_numpy
from ._config import get_backend_name, get_engine
from ._results import SolveResult
from .krylov import bicgstab, cg, fgmres, gmres, minres

__all__ = [
    "__version__",
    "backend",
    "bicgstab",
    "cg",
    "cupy_available",
    "fgmres",
    "gmres",
    "get_backend",
    "get_backend_name",
    "get_engine",
    "completion",
    "deep",
    "krylov",
    "minres",
    "operators",
    "precond",
    "problems",
    "prox",
    "relax",
    "set_backend",
    "show_config",
    "SolveResult",
    "tensor",
    "to_numpy",
]
