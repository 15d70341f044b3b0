"""CUDA kernels of the diagonal (DIA) matrix form (engine ``cupy``).

One ``cupy.RawKernel`` sweep computes ``out = A x`` (``mode=0``), also the
per-block partial sums of ``x^T A x`` (``mode=1``), or ``out = b - A x`` and the
partial sums of ``||out||^2`` (``mode=2``); ``cupy.sum`` adds the partial sums
(one per thread block) into a 0-d float64 device array.  Nothing synchronises.

A thread computes one row with a grid-stride loop.  For each diagonal the
threads of a warp read consecutive values and consecutive entries of ``x``
(coalesced); the offsets, and the value table of the one-byte form, sit in
shared memory.  The number of diagonals is a compile-time constant (one kernel
per count, so the loop over diagonals is unrolled).  The arithmetic runs in the
vectors' precision and the reductions in float64, as in the other kernels.
See :mod:`lrsolve._kernels._reference_dia` for the format and the oracle.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from ._cuda import BLOCK_SUM
from ._reference_dia import DiaPack

# Launch shape tuned on an H100 at 3-D 256^3 (``asv_bench/probe_gpu_cg.py --tune``): the
# interior rows skip the bounds tests; two rows per thread and a grid of at most 2048
# blocks gave 0.18-0.20 ms per product with the dot (from 0.45 ms for one row per
# thread with bounds tests everywhere); 4 or 8 rows per thread and 128/512 threads
# per block were no better.
#: Threads per block (a power of two: the block reduction halves it).
BLOCK = int(os.environ.get("LRSOLVE_DIA_BLOCK", "256"))
#: Rows per thread in one tile (``BLOCK * RPT`` rows, row ``t + r * BLOCK`` for thread ``t``).
RPT = int(os.environ.get("LRSOLVE_DIA_RPT", "2"))
#: Thread blocks per launch at most (the grid-stride loop covers the rest).
MAX_BLOCKS = int(os.environ.get("LRSOLVE_DIA_BLOCKS", "2048"))

_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double",
           np.dtype(np.uint8): "unsigned char"}

_SOURCE = r"""
typedef {real} T;
typedef {stored} V;
#define ND {nd}
#define TAB {tab}
#define MODE {mode}
#define BLOCK {block}
#define RPT {rpt}
{block_sum}
#if TAB
#define VAL(d, i) s_tab[vals[(long long)(d) * n + (i)]]
#else
#define VAL(d, i) ((T)vals[(long long)(d) * n + (i)])
#endif

extern "C" __global__ void dia_product(
    const T* __restrict__ x, const T* __restrict__ b, T* __restrict__ out,
    double* __restrict__ partial, const V* __restrict__ vals,
    const double* __restrict__ table, const long long* __restrict__ offsets,
    const long long n, const int ntab)
{{
    __shared__ long long s_off[ND];
#if TAB
    __shared__ T s_tab[256];
    for (int t = threadIdx.x; t < ntab; t += BLOCK) s_tab[t] = (T)table[t];
#endif
    for (int t = threadIdx.x; t < ND; t += BLOCK) s_off[t] = offsets[t];
    __syncthreads();
    /* rows whose every neighbour lies inside the matrix (offsets ascend) */
    const long long lo = -s_off[0] > 0 ? -s_off[0] : 0;
    const long long hi = n - (s_off[ND - 1] > 0 ? s_off[ND - 1] : 0);
    const long long tile = (long long)BLOCK * RPT;
    double acc = 0.0;
    for (long long base = (long long)blockIdx.x * tile; base < n;
         base += (long long)gridDim.x * tile) {{
        const long long i0 = base + threadIdx.x;
        T v[RPT];
#pragma unroll
        for (int r = 0; r < RPT; ++r) v[r] = 0;
        if (base >= lo && base + tile <= hi) {{
#pragma unroll
            for (int d = 0; d < ND; ++d) {{
                const long long o = s_off[d];
#pragma unroll
                for (int r = 0; r < RPT; ++r) {{
                    const long long i = i0 + r * BLOCK;
                    v[r] += VAL(d, i) * x[i + o];
                }}
            }}
        }} else {{
#pragma unroll
            for (int d = 0; d < ND; ++d) {{
                const long long o = s_off[d];
#pragma unroll
                for (int r = 0; r < RPT; ++r) {{
                    const long long i = i0 + r * BLOCK, j = i + o;
                    if (i < n && j >= 0 && j < n) v[r] += VAL(d, i) * x[j];
                }}
            }}
        }}
#pragma unroll
        for (int r = 0; r < RPT; ++r) {{
            const long long i = i0 + r * BLOCK;
            if (i < n) {{
                T w = v[r];
#if MODE == 2
                w = b[i] - w;
                acc += (double)w * (double)w;
#elif MODE == 1
                acc += (double)x[i] * (double)w;
#endif
                out[i] = w;
            }}
        }}
    }}
#if MODE
    block_sum(acc, partial);
#endif
}}
"""


def kernel_source(real, stored, nd, tab, mode, block=None, rpt=None):
    """Return the CUDA source of one kernel variant (also used by the tests)."""
    return _SOURCE.format(real=_CTYPES[np.dtype(real)], stored=_CTYPES[np.dtype(stored)],
                          nd=int(nd), tab=int(bool(tab)), mode=int(mode),
                          block=int(block or BLOCK), rpt=int(rpt or RPT), block_sum=BLOCK_SUM)


@functools.cache
def _kernel(real, stored, nd, tab, mode, block, rpt):
    import cupy

    return cupy.RawKernel(kernel_source(real, stored, nd, tab, mode, block, rpt), "dia_product")


def _run(pack: DiaPack, x, b, out, mode):
    import cupy

    # x, b and out: contiguous, one real dtype (CSROperator._dia_ok checks it; no copies here)
    n = pack.n
    real = np.dtype(out.dtype)
    block, rpt = BLOCK, RPT
    nblocks = max(1, min(-(-n // (block * rpt)), MAX_BLOCKS))
    partial = cupy.empty(nblocks if mode else 1, dtype=cupy.float64)
    tab = pack.table is not None
    table = pack.table if tab else partial
    kern = _kernel(real, pack.values.dtype, len(pack.offsets), tab, int(mode), block, rpt)
    kern((nblocks,), (block,),
         (x, b if b is not None else x, out, partial, pack.values, table, pack.offsets_dev,
          np.int64(n), np.int32(table.shape[0] if tab else 0)))
    return None if mode == 0 else partial.sum()


def dia_matvec(pack, x, out):
    """``out = A x`` on the GPU (``out``: contiguous, real, the solve dtype)."""
    _run(pack, x, None, out, 0)


def dia_matvec_dot(pack, x, out):
    """``out = A x``; return ``x^T out`` as a 0-d float64 device array."""
    return _run(pack, x, None, out, 1)


def dia_residual(pack, x, b, out):
    """``out = b - A x``; return ``||out||^2`` as a 0-d float64 device array."""
    return _run(pack, x, b, out, 2)


KERNELS = {
    "dia_matvec": dia_matvec,
    "dia_matvec_dot": dia_matvec_dot,
    "dia_residual": dia_residual,
}
