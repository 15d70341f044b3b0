"""CuPy kernels of matrix completion (GPU engine ``cupy``).

Same signatures as :mod:`lrsolve._kernels._reference_completion`.  On the GPU
the per-row work is expressed as large batched array operations rather than
one thread per row.  The ALS row solves (``mc_als_exact``, ``mc_als_cg``) come
from :mod:`._batched_completion`: rows sorted by count, their sampled factor rows
gathered into zero-padded ``(rows, L, k)`` stacks, Gram matrices and CG products
by batched GEMM, the ``k x k`` systems solved batched by ``cupy.linalg.solve``.
The other kernels sum per-entry products per row by a cuSPARSE product with the
chunk's row-indicator matrix (a segmented sum).  Chunks hold about ``2^27``
elements per temporary, so a sweep over ``10^8`` entries runs in a few dozen
large launches with no host round trip per row.
"""

from __future__ import annotations

import functools

from . import _batched_completion as _batched
from . import _reference_completion as _ref

#: Elements per chunk temporary on the device (bigger than the host oracle's).
CHUNK_GPU = 1 << 27


def _with_gpu_chunk(fn):
    @functools.wraps(fn)
    def call(*args):
        old = _ref.CHUNK
        _ref.CHUNK = CHUNK_GPU
        try:
            return fn(*args)
        finally:
            _ref.CHUNK = old

    return call


KERNELS = {name: _with_gpu_chunk(fn) for name, fn in _ref.KERNELS.items()}
# the ALS row solves as padded batched GEMMs over rows of similar counts (the segmented
# sums above would write a k x k outer product per observed entry)
KERNELS.update(_batched.KERNELS)
