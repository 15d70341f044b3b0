"""Low-rank matrix completion: alternating minimization, SoftImpute, ScaledGD.

Observed entries come as COO triplets ``(rows, cols, values)``, a sparse
matrix, a dense array with NaN (or a mask) for the missing entries, or an
:class:`Observations` record built once by :func:`observations`.  No solver
forms the dense ``m x n`` matrix.

Examples
--------
>>> import numpy as np
>>> from lrsolve import completion
>>> rng = np.random.default_rng(1)
>>> M = rng.standard_normal((40, 3)) @ rng.standard_normal((3, 30))
>>> rows, cols = np.nonzero(rng.random(M.shape) < 0.6)
>>> res = completion.altmin((rows, cols, M[rows, cols]), 3, reg=0.0, maxiter=60, tol=1e-12)
>>> bool(abs(res.predict([0], [0])[0] - M[0, 0]) < 1e-6)
True
"""

from ._altmin import altmin
from ._data import Observations, load_movielens, observations
from ._result import CompletionResult
from ._scaledgd import SensingOperator, scaled_gd
from ._softimpute import softimpute

__all__ = [
    "altmin",
    "softimpute",
    "scaled_gd",
    "SensingOperator",
    "observations",
    "Observations",
    "CompletionResult",
    "load_movielens",
]
