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

import importlib

from . import krylov, operators, precond
from ._backend import backend, cupy_available, get_backend, set_backend, show_config, to_numpy
from ._config import get_backend_name, get_engine
from ._results import SolveResult
from .krylov import (
    RecycleSpace,
    SequenceResult,
    bicgstab,
    cg,
    fgmres,
    gcrodr,
    gmres,
    minres,
    rcg,
    solve_sequence,
)

__all__ = [
    "__version__",
    "altmin",
    "backend",
    "bicgstab",
    "cg",
    "completion",
    "cp",
    "cupy_available",
    "dcdm",
    "deep",
    "elastic_net",
    "fgmres",
    "gcrodr",
    "get_backend",
    "get_backend_name",
    "get_engine",
    "gmres",
    "hierarchical_tucker",
    "krylov",
    "lasso",
    "lasso_path",
    "minres",
    "nmf",
    "operators",
    "parafac",
    "precond",
    "problems",
    "prox",
    "proximal_gradient",
    "rcg",
    "RecycleSpace",
    "scaled_gd",
    "relax",
    "SequenceResult",
    "set_backend",
    "show_config",
    "softimpute",
    "solve_sequence",
    "SolveResult",
    "sor",
    "spm",
    "ssor",
    "tensor",
    "tensor_ring",
    "tensor_train",
    "tn_structure_search",
    "to_numpy",
    "tucker",
    "tucker_core_shape",
]

#: The other families are imported on first use (``lrsolve.tensor``, ``lrsolve.sor``, ...),
#: so that ``import lrsolve`` stays fast.
_LAZY_MODULES = ("completion", "deep", "problems", "prox", "relax", "tensor")
_LAZY_NAMES = {
    "sor": "relax",
    "ssor": "relax",
    "proximal_gradient": "prox",
    "lasso": "prox",
    "elastic_net": "prox",
    "lasso_path": "prox",
    "nmf": "prox",
    "cp": "tensor",
    "parafac": "tensor",
    "tucker": "tensor",
    "tensor_train": "tensor",
    "tensor_ring": "tensor",
    "hierarchical_tucker": "tensor",
    "tucker_core_shape": "tensor",
    "tn_structure_search": "tensor",
    "spm": "tensor",
    "altmin": "completion",
    "softimpute": "completion",
    "scaled_gd": "completion",
    "dcdm": "deep",
}


def __getattr__(name):
    if name in _LAZY_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
    elif name in _LAZY_NAMES:
        module = getattr(importlib.import_module(f"{__name__}.{_LAZY_NAMES[name]}"), name)
    else:
        raise AttributeError(f"module 'lrsolve' has no attribute {name!r}")
    globals()[name] = module
    return module


def __dir__():
    return sorted(set(globals()) | set(__all__))
