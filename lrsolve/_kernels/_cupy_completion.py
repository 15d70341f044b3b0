"""CuPy kernels of matrix completion (GPU engine ``cupy``).

Same signatures as :mod:`lrsolve._kernels._reference_completion`.  On the GPU
the per-row work is expressed as large batched array operations rather than
one thread per row: the sampled factor rows of a chunk of rows are gathered,
their outer products / products with the CG directions are summed per row by a
cuSPARSE product with the chunk's row-indicator matrix (a segmented sum), and
the ``k x k`` systems are solved batched by ``cupy.linalg.solve`` on
``(rows, k, k)`` stacks.  Chunks are sized from the free device memory (about
``2^27`` elements per temporary), so a sweep over ``10^8`` entries runs in a few
dozen large launches with no host round trip per row.
"""

from __future__ import annotations

import functools

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
