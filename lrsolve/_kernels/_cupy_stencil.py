"""CUDA kernels of the finite-difference Laplacian (engine ``cupy``).

One ``cupy.RawKernel`` sweep computes ``out = A x`` (``mode=0``), also the
per-block partial sums of ``Re(x^H A x)`` (``mode=1``), or ``out = b - A x``
and the partial sums of ``||out||^2`` (``mode=2``); the partial sums (one per
thread block, a few hundred kilobytes at most) are added by ``cupy.sum``.
Results stay on the device as 0-d float64 arrays: nothing here synchronises.

Layout
------
Every grid is seen as 3-D, ``(n0, n1, n2)``, with leading axes of length 1 for
1-D and 2-D grids (``NDIM`` removes their terms at compile time).  One thread
computes one real number of ``out``: complex vectors are viewed as real arrays
with two interleaved components (the operator is real, so it acts on the real
and imaginary parts alike), ``NC = 2``.  ``threadIdx.x`` runs along the
contiguous axis (coalesced loads and stores), ``threadIdx.y`` along ``n1`` so
that a block reuses its rows' neighbours from L1; ``blockIdx.z`` walks the
outer axis with a grid-stride loop.  Boundaries are handled in the kernel:
a missing neighbour reads as 0 (Dirichlet; Neumann also drops the node's own
term, or has a zero face), a periodic one by index wrap-around.

Face coefficients (variable coefficient) may be stored in another precision
than the vectors (type ``F``); the arithmetic runs in the vectors' precision
``T`` and the reductions in float64.

CuPy is imported only when a kernel is first used.
"""

from __future__ import annotations

import functools
import os

import numpy as np

#: Threads per block (a power of two: the block reduction halves it).
BLOCK = 256
#: z-marching (each thread walks a chunk of planes with x of three planes in registers);
#: ``LRSOLVE_STENCIL_ZMARCH=0`` selects the one-plane-per-block kernel instead.
Z_MARCH = os.environ.get("LRSOLVE_STENCIL_ZMARCH", "1") != "0"
#: Thread blocks aimed at per launch when z-marching (a few waves on a large GPU).
TARGET_BLOCKS = int(os.environ.get("LRSOLVE_STENCIL_BLOCKS", "8192"))
#: Threads of a block along the contiguous axis for 2-D/3-D grids with long lines.
BLOCK_X = int(os.environ.get("LRSOLVE_STENCIL_BX", "256"))

_SOURCE = r"""
typedef {real} T;
typedef {face} F;
#define NC {nc}
#define NDIM {ndim}
#define VAR {var}
#define MODE {mode}
#define BLOCK {block}
#define ZM {zm}

/* Add the term of one axis to v.  d: index along the axis, n: its length,
   s: stride in reals, bc: boundary code, fl/fh: lower/upper face (VAR) or w (constant). */
#if VAR
#define AXIS(d, n, s, bc, fl, fh)                                               \
    {{                                                                          \
        T lo = 0, hi = 0;                                                       \
        if ((d) > 0) lo = x[p - (s)];                                           \
        else if ((bc) == 2) lo = x[p + (long long)((n) - 1) * (s)];             \
        if ((d) < (n) - 1) hi = x[p + (s)];                                     \
        else if ((bc) == 2) hi = x[p - (long long)((n) - 1) * (s)];             \
        v += (T)(fl) * (c - lo) + (T)(fh) * (c - hi);                           \
    }}
#else
#define AXIS(d, n, s, bc, w, unused)                                            \
    {{                                                                          \
        T lo = 0, hi = 0, t = 2;                                                \
        if ((d) > 0) lo = x[p - (s)];                                           \
        else if ((bc) == 2) lo = x[p + (long long)((n) - 1) * (s)];             \
        else if ((bc) == 1) t -= 1;                                             \
        if ((d) < (n) - 1) hi = x[p + (s)];                                     \
        else if ((bc) == 2) hi = x[p - (long long)((n) - 1) * (s)];             \
        else if ((bc) == 1) t -= 1;                                             \
        v += (w) * (t * c - (lo + hi));                                         \
    }}
#endif

extern "C" __global__ void poisson_stencil(
    const T* __restrict__ x, const T* __restrict__ b, T* __restrict__ out,
    double* __restrict__ partial,
    const F* __restrict__ f0, const F* __restrict__ f1, const F* __restrict__ f2,
    const int n0, const int n1, const int n2,
    const T w0, const T w1, const T w2,
    const int bc0, const int bc1, const int bc2, const int cz)
{{
#if MODE != 0
    __shared__ double red[BLOCK];
    double acc = 0.0;
#endif
    const long long row = (long long)NC * n2;       /* reals per grid line */
    const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e < row) {{
        const int k = (int)(e / NC);
#if ZM
        /* z-marching: a thread walks cz consecutive planes of its (j, e) column and keeps
           x of the planes below, at and above in registers, so each x is read from
           memory once (plus one plane per chunk) instead of three times */
        const long long plane = row * n1;
        const int i0 = blockIdx.z * cz;
        const int i1 = min(i0 + cz, n0);
        for (int j = blockIdx.y * blockDim.y + threadIdx.y; j < n1 && i0 < n0;
             j += gridDim.y * blockDim.y) {{
            long long p = ((long long)i0 * n1 + j) * row + e;
            T xc = x[p];
#if NDIM >= 3
            T xm = 0;
            if (i0 > 0) xm = x[p - plane];
            else if (bc0 == 2) xm = x[p + (long long)(n0 - 1) * plane];
#endif
            for (int i = i0; i < i1; ++i, p += plane) {{
                const long long line = (long long)i * n1 + j;
                const T c = xc;
                T v = 0;
#if VAR
                AXIS(k, n2, NC, bc2, f2[line * (n2 + 1) + k], f2[line * (n2 + 1) + k + 1])
#else
                AXIS(k, n2, NC, bc2, w2, 0)
#endif
#if NDIM >= 2
#if VAR
                {{
                    const long long fi = ((long long)i * (n1 + 1) + j) * n2 + k;
                    AXIS(j, n1, row, bc1, f1[fi], f1[fi + n2])
                }}
#else
                AXIS(j, n1, row, bc1, w1, 0)
#endif
#endif
#if NDIM >= 3
                {{
                    T xn = 0;
                    if (i < n0 - 1) xn = x[p + plane];
                    else if (bc0 == 2) xn = x[p - (long long)(n0 - 1) * plane];
#if VAR
                    v += (T)(f0[line * n2 + k]) * (c - xm)
                         + (T)(f0[(line + n1) * n2 + k]) * (c - xn);
#else
                    T t = 2;
                    if (bc0 == 1) {{
                        if (i == 0) t -= 1;
                        if (i == n0 - 1) t -= 1;
                    }}
                    v += w0 * (t * c - (xm + xn));
#endif
                    xm = c;
                    xc = xn;
                }}
#endif
#if MODE == 2
                const T r = b[p] - v;
                out[p] = r;
                acc += (double)r * (double)r;
#else
                out[p] = v;
#if MODE == 1
                acc += (double)c * (double)v;
#endif
#endif
            }}
        }}
#else
        for (int i = blockIdx.z; i < n0; i += gridDim.z) {{
            for (int j = blockIdx.y * blockDim.y + threadIdx.y; j < n1;
                 j += gridDim.y * blockDim.y) {{
                const long long line = (long long)i * n1 + j;
                const long long p = line * row + e;
                const T c = x[p];
                T v = 0;
#if VAR
                AXIS(k, n2, NC, bc2, f2[line * (n2 + 1) + k], f2[line * (n2 + 1) + k + 1])
#else
                AXIS(k, n2, NC, bc2, w2, 0)
#endif
#if NDIM >= 2
#if VAR
                {{
                    const long long fi = ((long long)i * (n1 + 1) + j) * n2 + k;
                    AXIS(j, n1, row, bc1, f1[fi], f1[fi + n2])
                }}
#else
                AXIS(j, n1, row, bc1, w1, 0)
#endif
#endif
#if NDIM >= 3
#if VAR
                AXIS(i, n0, row * n1, bc0, f0[line * n2 + k], f0[(line + n1) * n2 + k])
#else
                AXIS(i, n0, row * n1, bc0, w0, 0)
#endif
#endif
#if MODE == 2
                const T r = b[p] - v;
                out[p] = r;
                acc += (double)r * (double)r;
#else
                out[p] = v;
#if MODE == 1
                acc += (double)c * (double)v;
#endif
#endif
            }}
        }}
#endif
    }}
#if MODE != 0
    {{
        const int t = threadIdx.y * blockDim.x + threadIdx.x;
        red[t] = acc;
        __syncthreads();
        for (int s = BLOCK / 2; s > 0; s >>= 1) {{
            if (t < s) red[t] += red[t + s];
            __syncthreads();
        }}
        if (t == 0)
            partial[((long long)blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x]
                = red[0];
    }}
#endif
}}
"""

_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def kernel_source(real, face, nc, ndim, var, mode):
    """Return the CUDA source of one kernel variant (also used by the tests)."""
    return _SOURCE.format(
        real=_CTYPES[np.dtype(real)],
        face=_CTYPES[np.dtype(face)],
        nc=int(nc),
        ndim=int(ndim),
        var=int(bool(var)),
        mode=int(mode),
        block=BLOCK,
        zm=int(bool(Z_MARCH)),
    )


@functools.cache
def _kernel(real, face, nc, ndim, var, mode):
    import cupy

    return cupy.RawKernel(kernel_source(real, face, nc, ndim, var, mode), "poisson_stencil")


def launch_config(shape3, nc):
    """Return ``(grid, block, cz)`` for a grid padded to 3-D, ``shape3 = (n0, n1, n2)``;
    ``cz``: planes per thread (z-marching)."""
    n0, n1, n2 = shape3
    row = nc * n2
    if n0 == 1 and n1 == 1:
        bx = BLOCK
    elif row <= 32:
        bx = 32
    else:
        bx = BLOCK_X
    by = BLOCK // bx
    gx = (row + bx - 1) // bx
    gy = min((n1 + by - 1) // by, 65535)
    if Z_MARCH:
        gz = min(n0, max(1, -(-TARGET_BLOCKS // (gx * gy))), 65535)
        cz = -(-n0 // gz)
        gz = -(-n0 // cz)
    else:
        gz, cz = min(n0, 65535), 1
    return (gx, gy, gz), (bx, by, 1), cz


def kernel_args(x, b, out, partial, weights, bcs, faces, real, shape3):
    """Arguments of the kernel for the grid padded to 3-D ``shape3``.

    ``x``, ``b`` and ``out`` are the real views of the vectors.
    """
    nd = len(bcs)
    pad = 3 - nd
    rt = np.dtype(real).type
    w = (0.0,) * pad + tuple(weights)
    bc = (1,) * pad + tuple(bcs)
    f = (None,) * pad + (tuple(faces) if faces is not None else (None,) * nd)
    f = tuple(x if a is None else a for a in f)
    return (
        x,
        b,
        out,
        partial,
        f[0],
        f[1],
        f[2],
        np.int32(shape3[0]),
        np.int32(shape3[1]),
        np.int32(shape3[2]),
        rt(w[0]),
        rt(w[1]),
        rt(w[2]),
        np.int32(bc[0]),
        np.int32(bc[1]),
        np.int32(bc[2]),
    )


def poisson_stencil(x, b, out, mode, weights, bcs, faces):
    """``out = A x`` on the GPU; ``mode`` 1 and 2 also return a 0-d float64 device array.

    Same arguments as :func:`lrsolve._kernels._numba_stencil.poisson_stencil`
    (grid-shaped C-contiguous CuPy arrays).
    """
    import cupy

    nd = x.ndim
    dt = np.result_type(x.dtype, out.dtype)
    if mode == 2:
        dt = np.result_type(dt, b.dtype)
    if dt.kind not in "fc":
        dt = np.dtype(np.float64)
    real = np.dtype(dt.char.lower()) if dt.kind == "c" else dt
    nc = 2 if dt.kind == "c" else 1
    xw = cupy.ascontiguousarray(x, dtype=dt)
    ow = out if (out.dtype == dt and out.flags.c_contiguous) else cupy.empty(x.shape, dtype=dt)
    bw = cupy.ascontiguousarray(b, dtype=dt) if mode == 2 else xw
    # real views: (..., NC) with the components innermost
    xr = xw.view(real).reshape(x.shape + (nc,))
    orr = ow.view(real).reshape(x.shape + (nc,))
    br = bw.view(real).reshape(x.shape + (nc,))
    face_dt = faces[0].dtype if faces is not None else real
    kern = _kernel(real, np.dtype(face_dt), nc, nd, faces is not None, int(mode))
    shape3 = (1,) * (3 - nd) + tuple(int(s) for s in x.shape)
    grid, block, cz = launch_config(shape3, nc)
    nblocks = grid[0] * grid[1] * grid[2]
    partial = cupy.empty(nblocks if mode else 1, dtype=cupy.float64)
    args = kernel_args(xr, br, orr, partial, weights, bcs, faces, real, shape3)
    args = args + (np.int32(cz),)
    kern(grid, block, args)
    if ow is not out:
        out[...] = ow
    if mode == 0:
        return None
    return partial.sum()


KERNELS = {"poisson_stencil": poisson_stencil}
