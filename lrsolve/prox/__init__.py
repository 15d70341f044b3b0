"""Proximal operators, proximal-gradient and block-coordinate-descent methods, Lasso, NMF."""

from ._bcd import Block, bcd, nmf
from ._lasso import elastic_net, enet_path, lasso, lasso_path
from ._operators import *  # noqa: F401,F403
from ._operators import __all__ as _ops_all
from ._pgd import LeastSquares, SmoothFunction, proximal_gradient
from ._results import OptimizeResult, PathResult
from ._spectral import *  # noqa: F401,F403
from ._spectral import __all__ as _spec_all

__all__: list = [
    *_ops_all, *_spec_all,
    "proximal_gradient", "LeastSquares", "SmoothFunction",
    "lasso", "elastic_net", "lasso_path", "enet_path",
    "OptimizeResult", "PathResult", "Block", "bcd", "nmf",
]
