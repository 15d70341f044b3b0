"""CuPy kernels for the Krylov solvers (engine ``cupy``).

Reductions return 0-d device arrays: nothing here synchronises with the host.
The element-wise kernels are created on first use, so importing this module
does not need a GPU.
"""

from __future__ import annotations

import functools

import cupy
import numpy

from ._cuda import BLOCK_SUM


@functools.cache
def _elementwise(name):
    if name == "cg_update":
        return cupy.ElementwiseKernel(
            "T p, T q, S alpha",
            "T x, T r",
            "x = x + (T)(alpha) * p; r = r - (T)(alpha) * q;",
            "lrsolve_cg_update",
        )
    if name == "xpby":
        return cupy.ElementwiseKernel(
            "T z, S beta", "T p", "p = z + (T)(beta) * p;", "lrsolve_xpby"
        )
    if name == "r_update":
        return cupy.ElementwiseKernel(
            "T q, S alpha", "T r", "r = r - (T)(alpha) * q;", "lrsolve_r_update"
        )
    if name == "xp_update":
        return cupy.ElementwiseKernel(
            "T z, S alpha, S beta",
            "T x, T p",
            "T pi = p; x = x + (T)(alpha) * pi; p = z + (T)(beta) * pi;",
            "lrsolve_xp_update",
        )
    if name == "cg_alpha":
        return cupy.ElementwiseKernel(
            "R rr_, P pq_, Z rz_, float64 tol2",
            "float64 pq_min, float64 alpha",
            """
            const double rr = rr_, pq = pq_, rz = rz_;
            const bool live = rr > tol2;
            if (live) { if (isnan(pq)) pq_min = pq; else if (pq < pq_min) pq_min = pq; }
            alpha = live ? rz / (pq == 0.0 ? 1.0 : pq) : 0.0;
            """,
            "lrsolve_cg_alpha",
        )
    if name == "cg_beta":
        return cupy.ElementwiseKernel(
            "N rz_new, Z rz_", "float64 beta",
            "const double rz = rz_; beta = (double)rz_new / (rz == 0.0 ? 1.0 : rz);",
            "lrsolve_cg_beta",
        )
    if name == "pcg_beta":
        return cupy.ElementwiseKernel(
            "N rz_new_, Z rz_, R rr_, float64 tol2",
            "float64 rz_min, float64 beta",
            """
            const double rz_new = rz_new_, rz = rz_, rr = rr_;
            if (rr > tol2) {
                if (isnan(rz_new)) rz_min = rz_new; else if (rz_new < rz_min) rz_min = rz_new;
            }
            beta = rz_new / (rz == 0.0 ? 1.0 : rz);
            """,
            "lrsolve_pcg_beta",
        )
    if name == "axpy":
        return cupy.ElementwiseKernel(
            "T p, S alpha", "T x", "x = x + (T)(alpha) * p;", "lrsolve_axpy"
        )
    raise KeyError(name)


_R_UPDATE_SOURCE = r"""
typedef {real} T;
#define BLOCK {block}
{block_sum}
extern "C" __global__ void r_update_norm(T* __restrict__ r, const T* __restrict__ q,
                                         const double* __restrict__ alpha,
                                         double* __restrict__ partial, const long long n)
{{
    const T a = (T)(*alpha);
    double acc = 0.0;
    const long long stride = (long long)gridDim.x * BLOCK;
    for (long long i = (long long)blockIdx.x * BLOCK + threadIdx.x; i < n; i += stride) {{
        const T v = r[i] - a * q[i];
        r[i] = v;
        acc += (double)v * (double)v;
    }}
    block_sum(acc, partial);
}}
"""
_BLOCK = 256
_MAX_BLOCKS = 8192


@functools.cache
def _r_update_kernel(real):
    src = _R_UPDATE_SOURCE.format(real={"f": "float", "d": "double"}[real], block=_BLOCK,
                                  block_sum=BLOCK_SUM)
    return cupy.RawKernel(src, "r_update_norm")


def _dev(v):
    """A host scalar as a 0-d device array (type placeholders need arrays; first iteration only)."""
    return v if v is None or isinstance(v, cupy.ndarray) else cupy.asarray(v, dtype=cupy.float64)


def cg_alpha(rr, pq, rz, tol2, pq_min):
    """Step length of a CG iteration in one launch (no host sync).

    ``alpha = rz / pq`` while the step is live (``rr > tol2``), 0 for a step
    taken after convergence (frozen); ``pq_min`` (0-d, in place) keeps the
    smallest live ``pq`` (NaN sticks) for the indefiniteness test.
    """
    alpha = cupy.empty((), dtype=cupy.float64)
    rr, pq, rz = _dev(rr), _dev(pq), _dev(rz)
    _elementwise("cg_alpha")(rr, pq, rz, tol2, pq_min, alpha)
    return alpha


def cg_beta(rz_new, rz, rr=None, tol2=None, rz_min=None):
    """``beta = rz_new / rz`` (0-d); with ``rz_min``, also its live minimum (in place)."""
    beta = cupy.empty((), dtype=cupy.float64)
    rz_new, rz, rr = _dev(rz_new), _dev(rz), _dev(rr)
    if rz_min is None:
        _elementwise("cg_beta")(rz_new, rz, beta)
    else:
        _elementwise("pcg_beta")(rz_new, rz, rr, tol2, rz_min, beta)
    return beta


def vdot(x, y):
    return cupy.vdot(x, y)


def norm2sq(x):
    return cupy.vdot(x, x).real


def cg_update(x, r, p, q, alpha):
    alpha = cupy.asarray(alpha, dtype=cupy.float64)
    _elementwise("cg_update")(p, q, alpha, x, r)
    return norm2sq(r)


def xpby(z, beta, p):
    beta = cupy.asarray(beta, dtype=cupy.float64)
    _elementwise("xpby")(z, beta, p)


def r_update(r, q, alpha):
    alpha = cupy.asarray(alpha, dtype=cupy.float64)
    ch = r.dtype.char
    if ch in "fd" and q.dtype == r.dtype and r.flags.c_contiguous and q.flags.c_contiguous:
        # one pass: update and the partial sums of ||r||^2 (no second read of r)
        n = r.size
        nblocks = max(1, min(-(-n // _BLOCK), _MAX_BLOCKS))
        partial = cupy.empty(nblocks, dtype=cupy.float64)
        _r_update_kernel(ch)((nblocks,), (_BLOCK,), (r, q, alpha, partial, numpy.int64(n)))
        return partial.sum()
    _elementwise("r_update")(q, alpha, r)
    return norm2sq(r)


def xp_update(x, p, z, alpha, beta):
    f64 = cupy.float64
    a, b = cupy.asarray(alpha, dtype=f64), cupy.asarray(beta, dtype=f64)
    _elementwise("xp_update")(z, a, b, x, p)


def axpy(x, alpha, p):
    _elementwise("axpy")(p, cupy.asarray(alpha, dtype=cupy.float64), x)


def scale_dot(d, r, z):
    cupy.multiply(d, r, out=z)
    return cupy.vdot(r, z).real


def spmv(A, x, out):
    """``out = A @ x`` through cuSPARSE, written into ``out`` (A: canonical cupyx CSR)."""
    from cupyx import cusparse

    cusparse.spmv(A, x, y=out)


KERNELS = {
    "vdot": vdot,
    "norm2sq": norm2sq,
    "cg_update": cg_update,
    "xpby": xpby,
    "r_update": r_update,
    "xp_update": xp_update,
    "axpy": axpy,
    "scale_dot": scale_dot,
    "spmv": spmv,
    "cg_alpha": cg_alpha,
    "cg_beta": cg_beta,
}
