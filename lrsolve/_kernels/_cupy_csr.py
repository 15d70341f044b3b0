"""Packed CSR products on the GPU (engine ``cupy``).

The GPU twin of the Numba ``csr_*_packed`` kernels: when a CSR matrix allows it
without losing a bit -- every value exactly representable in float32 and every
column within 32767 of the diagonal -- its values are stored as float32 and its
column indices as int16 offsets from the row, 6 bytes per stored entry instead of
the 12 (float64 + int32) that cuSPARSE reads.  A bandwidth-bound product moves about
half the bytes.  One ``cupy.RawKernel`` sweep computes ``out = A x`` (``mode=0``),
also the per-block partial sums of ``x^T A x`` (``mode=1``), or ``out = b - A x``
and the partial sums of ``||out||^2`` (``mode=2``): the dot products of CG are fused
into the product.  One thread per row with a grid-stride loop; the arithmetic in the
vectors' precision, the reductions in float64.  Nothing here synchronises except the
one-time packing check.

CuPy is imported only when a kernel is first used.
"""

from __future__ import annotations

import functools

import numpy as np

#: Threads per block (a power of two: the block reduction halves it).
BLOCK = 256
#: Most thread blocks per launch (rows are walked with a grid-stride loop).
MAX_BLOCKS = 8192

_SOURCE = r"""
typedef {real} T;
#define MODE {mode}
#define BLOCK {block}

extern "C" __global__ void csr_packed(
    const float* __restrict__ val, const int* __restrict__ ptr,
    const short* __restrict__ off, const T* __restrict__ x, const T* __restrict__ b,
    T* __restrict__ out, double* __restrict__ partial, const long long n)
{{
#if MODE != 0
    __shared__ double red[BLOCK];
    double acc = 0.0;
#endif
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {{
        T s = 0;
        const int e1 = ptr[i + 1];
        for (int e = ptr[i]; e < e1; ++e)
            s += (T)val[e] * x[i + off[e]];
#if MODE == 2
        const T r = b[i] - s;
        out[i] = r;
        acc += (double)r * (double)r;
#else
        out[i] = s;
#if MODE == 1
        acc += (double)x[i] * (double)s;
#endif
#endif
    }}
#if MODE != 0
    red[threadIdx.x] = acc;
    __syncthreads();
    for (int t = BLOCK / 2; t > 0; t >>= 1) {{
        if (threadIdx.x < t) red[threadIdx.x] += red[threadIdx.x + t];
        __syncthreads();
    }}
    if (threadIdx.x == 0) partial[blockIdx.x] = red[0];
#endif
}}
"""

_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def kernel_source(real, mode):
    """Return the CUDA source of one kernel variant (also used by the tests)."""
    return _SOURCE.format(real=_CTYPES[np.dtype(real)], mode=int(mode), block=BLOCK)


@functools.cache
def _kernel(real, mode):
    import cupy

    return cupy.RawKernel(kernel_source(real, mode), "csr_packed")


def csr_pack_gpu(A):
    """Return ``(val32, ptr32, off16)`` of a canonical cupyx CSR matrix, or ``None`` when
    packing would change a value or a column (then cuSPARSE is used)."""
    import cupy

    n = A.shape[0]
    nnz = int(A.nnz)
    if A.dtype not in (np.float32, np.float64) or nnz == 0 or nnz >= 2**31 - 1 or n >= 2**31:
        return None
    val = A.data.astype(cupy.float32)
    if A.dtype == np.float64 and not bool((val.astype(cupy.float64) == A.data).all()):
        return None
    ptr = A.indptr.astype(cupy.int32, copy=False)
    rows = cupy.searchsorted(ptr[1:], cupy.arange(nnz, dtype=cupy.int32), side="right")
    off = A.indices.astype(cupy.int32) - rows.astype(cupy.int32)
    del rows
    if int(off.min()) < -32768 or int(off.max()) > 32767:
        return None
    return val, ptr, off.astype(cupy.int16)


def csr_packed(packed, x, b, out, mode):
    """``out = A x`` (mode 0), with ``x^T A x`` (mode 1) or ``out = b - A x`` with
    ``||out||^2`` (mode 2) as a 0-d float64 device array; ``x``, ``b``, ``out`` real
    contiguous vectors of one dtype (float32 or float64)."""
    import cupy

    val, ptr, off = packed
    n = out.shape[0]
    real = np.dtype(out.dtype)
    kern = _kernel(real, int(mode))
    grid = max(1, min(-(-n // BLOCK), MAX_BLOCKS))
    partial = cupy.empty(grid if mode else 1, dtype=cupy.float64)
    kern((grid,), (BLOCK,), (val, ptr, off, x, b if mode == 2 else x, out, partial,
                             np.int64(n)))
    if mode == 0:
        return None
    return partial.sum()


KERNELS = {"csr_pack_gpu": csr_pack_gpu, "csr_packed": csr_packed}
