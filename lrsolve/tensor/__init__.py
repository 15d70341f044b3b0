"""Tensor decompositions: Tucker, CP, tensor train, tensor ring, and rank selection.

Everything runs on NumPy or CuPy arrays unchanged (the input's array type picks the
backend); random initialisations are drawn on the host from one ``rng`` and moved, so
CPU and GPU runs start from the same point.

Examples
--------
>>> import numpy as np
>>> from lrsolve import tensor
>>> X = np.einsum("i,j,k->ijk", np.arange(1.0, 4.0), np.ones(4), np.ones(5))
>>> tensor.sthosvd(X, tol=1e-12).rank
(1, 1, 1)
"""

from . import selection
from ._algebra import fold, khatri_rao, mode_dot, mttkrp, multi_mode_dot, unfold
from ._containers import CPTensor, TRTensor, TTTensor, TuckerTensor
from ._cp import core_consistency, cp, parafac
from ._ht import HTTensor, dimension_tree, hierarchical_tucker
from ._tt import tensor_ring, tensor_train, tt_round
from ._tucker import hosvd, sthosvd, tucker, validate_tucker_rank
from .selection import *  # noqa: F401,F403  (rank selection and structure search)

__all__: list = [
    "unfold",
    "fold",
    "mode_dot",
    "multi_mode_dot",
    "khatri_rao",
    "mttkrp",
    "CPTensor",
    "TuckerTensor",
    "TTTensor",
    "TRTensor",
    "HTTensor",
    "hosvd",
    "sthosvd",
    "tucker",
    "validate_tucker_rank",
    "cp",
    "parafac",
    "core_consistency",
    "tensor_train",
    "tt_round",
    "tensor_ring",
    "hierarchical_tucker",
    "dimension_tree",
    *selection.__all__,
]
