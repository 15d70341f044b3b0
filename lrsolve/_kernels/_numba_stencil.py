"""Numba kernels of the matrix-free finite-difference Laplacian (CPU engine ``numba``).

One kernel per dimension and coefficient kind computes, in a single sweep over
the grid, ``out = A x`` (``mode=0``), ``out = A x`` and ``Re(x^H A x)``
(``mode=1``) or ``out = b - A x`` and ``||out||^2`` (``mode=2``).

Layout: ``x``, ``b`` and ``out`` are C-ordered grid arrays (the solver's flat
vectors reshaped, no copy).  The outermost axis is split between threads
(``prange``); the innermost axis is the contiguous, branch-free inner loop
(LLVM vectorises it) and its two end points are done apart.  A neighbour that
does not exist (homogeneous Dirichlet or Neumann boundary) is replaced by the
node itself multiplied by zero, so no row needs a branch; rows whose outer
neighbours all exist (nearly all of them) take a loop with fewer operations
(with equal spacings, ``w (6 u - sum of the 6 neighbours)`` in 3-D).  The
reductions (``mode`` 1, 2) run over each row right after it is computed, while
it is in L1, in float64 with four partial sums.  The kernels are
compiled for real arrays only: a complex vector is processed as its real and
imaginary parts (strided views, two sweeps), which the real operator maps
separately -- ``Re(x^H A x)`` and ``||b - A x||^2`` are the sums of the two
parts' values.

Boundary codes per axis: ``0`` Dirichlet (ghost value 0), ``1`` Neumann (zero
flux through the boundary face), ``2`` periodic.  Constant-coefficient kernels
take one weight ``1/h**2`` per axis; variable-coefficient kernels take one
face array per axis, of shape ``grid_shape`` with ``n_d + 1`` entries along
axis ``d`` (face ``m`` lies between nodes ``m - 1`` and ``m``), already scaled
by ``1/h_d**2`` and with the boundary faces set for the boundary condition.

Each kernel exists serial and threaded
(:func:`~lrsolve._kernels._numba_util.tiered`); :func:`poisson_stencil` picks
the threaded one from ``PARALLEL_MIN`` unknowns on.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._numba_util import jit, tiered


# ----------------------------------------------------------------------------- helpers
@jit
def _lo(i, n, bc):
    """Index of the lower neighbour of ``i`` (``i`` itself when there is none)."""
    if i > 0:
        return i - 1
    return n - 1 if bc == 2 else i


@jit
def _hi(i, n, bc):
    """Index of the upper neighbour of ``i`` (``i`` itself when there is none)."""
    if i < n - 1:
        return i + 1
    return 0 if bc == 2 else i


@jit
def _c_lo(i, bc):
    """1.0 when the lower neighbour's value enters the row, else 0.0 (ghost value 0)."""
    return 1.0 if (i > 0 or bc == 2) else 0.0


@jit
def _c_hi(i, n, bc):
    """1.0 when the upper neighbour's value enters the row, else 0.0."""
    return 1.0 if (i < n - 1 or bc == 2) else 0.0


@jit
def _t(i, n, bc):
    """Weight of the node itself in the constant-coefficient term of one axis.

    2 inside, and at Dirichlet and periodic ends; the number of existing
    neighbours (0 or 1 for a short axis) at a Neumann end.
    """
    if bc != 1:
        return 2.0
    return (1.0 if i > 0 else 0.0) + (1.0 if i < n - 1 else 0.0)


@jit
def _full(i, n, bc):
    """True when both neighbours of ``i`` enter its row as at an interior node."""
    return bc == 2 or (i > 0 and i < n - 1)


@jit
def _ends(k, n, bc, w):
    """``(lo, hi, w * c_lo, w * c_hi, w * t)`` for the end point ``k`` of the innermost axis.

    Called outside ``prange`` loops only (it returns a tuple).
    """
    return _lo(k, n, bc), _hi(k, n, bc), w * _c_lo(k, bc), w * _c_hi(k, n, bc), w * _t(k, n, bc)


@jit
def _end_const(xr, k, n, bc, w):
    """Constant-coefficient term of the innermost axis at an end point ``k`` of a row."""
    lo = _lo(k, n, bc)
    hi = _hi(k, n, bc)
    return w * (_t(k, n, bc) * xr[k] - (_c_lo(k, bc) * xr[lo] + _c_hi(k, n, bc) * xr[hi]))


@jit
def _end_var(xr, g, k, n, bc):
    """Variable-coefficient term of the innermost axis at an end point ``k`` (faces ``g``)."""
    c = xr[k]
    lo = _lo(k, n, bc)
    hi = _hi(k, n, bc)
    return g[k] * (c - _c_lo(k, bc) * xr[lo]) + g[k + 1] * (c - _c_hi(k, n, bc) * xr[hi])


#: Rows per parallel task of the 2-D kernels.
_ROWS = 8


@jit
def _row_dot(xr, o):
    """Return ``sum(x * o)`` over one grid row (float64).

    Four independent partial sums hide the latency of the additions; the
    element index is ``4 q + t`` with ``q, t >= 0`` so that LLVM can prove it
    non-negative and drops Numba's negative-index wrap-around code.
    """
    n = o.shape[0]
    nq = n // 4
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for q in range(nq):
        k = 4 * q
        s0 += xr[k] * o[k]
        s1 += xr[k + 1] * o[k + 1]
        s2 += xr[k + 2] * o[k + 2]
        s3 += xr[k + 3] * o[k + 3]
    for k in range(4 * nq, n):
        s0 += xr[k] * o[k]
    return (s0 + s1) + (s2 + s3)


@jit
def _row_res(o, br):
    """Turn the row ``o = A x`` into ``b - A x``; return its squared norm (float64)."""
    n = o.shape[0]
    for k in range(n):
        o[k] = br[k] - o[k]
    return _row_dot(o, o)


# ----------------------------------------------------------------------------- constant coefficient
def _const1(x, b, out, mode, w0, bc0):
    n = x.shape[0]
    blk = 4096
    nblk = (n + blk - 1) // blk
    acc = 0.0
    for iu in prange(nblk):
        ib = np.int64(iu)  # the parfor index is unsigned: keep arithmetic signed
        start = ib * blk
        stop = min(start + blk, n)
        lo = max(start, 1)
        hi = min(stop, n - 1)
        for k in range(lo, hi):
            out[k] = w0 * (2.0 * x[k] - (x[k - 1] + x[k + 1]))
        for k in (start, stop - 1):
            if k == 0 or k == n - 1:
                out[k] = _end_const(x, k, n, bc0, w0)
        if mode == 1:
            acc += _row_dot(x[start:stop], out[start:stop])
        elif mode == 2:
            acc += _row_res(out[start:stop], b[start:stop])
    return acc


def _const2(x, b, out, mode, w0, w1, bc0, bc1):
    n0, n1 = x.shape
    iso = w0 == w1
    e = n1 - 1
    l_0, h_0, cl_0, ch_0, d_0 = _ends(0, n1, bc1, w1)
    l_e, h_e, cl_e, ch_e, d_e = _ends(e, n1, bc1, w1)
    nchunk = (n0 + _ROWS - 1) // _ROWS
    acc = 0.0
    for iu in prange(nchunk):
        first = np.int64(iu) * _ROWS  # the parfor index is unsigned: keep arithmetic signed
        part = 0.0
        for i in range(first, min(first + _ROWS, n0)):
            im = _lo(i, n0, bc0)
            ip = _hi(i, n0, bc0)
            c0m = _c_lo(i, bc0)
            c0p = _c_hi(i, n0, bc0)
            t0 = _t(i, n0, bc0)
            xc = x[i]
            xa = x[im]
            xb = x[ip]
            o = out[i]
            if _full(i, n0, bc0):  # fewer flops: the loop is close to compute-bound
                if iso:
                    for k in range(1, n1 - 1):
                        o[k] = w1 * (4.0 * xc[k] - ((xa[k] + xb[k]) + (xc[k - 1] + xc[k + 1])))
                else:
                    for k in range(1, n1 - 1):
                        c2 = 2.0 * xc[k]
                        o[k] = w0 * (c2 - (xa[k] + xb[k])) + w1 * (c2 - (xc[k - 1] + xc[k + 1]))
            else:
                for k in range(1, n1 - 1):
                    c = xc[k]
                    o[k] = w0 * (t0 * c - (c0m * xa[k] + c0p * xb[k])) + w1 * (
                        2.0 * c - (xc[k - 1] + xc[k + 1])
                    )
            c = xc[0]
            o[0] = w0 * (t0 * c - (c0m * xa[0] + c0p * xb[0])) + (
                d_0 * c - (cl_0 * xc[l_0] + ch_0 * xc[h_0])
            )
            c = xc[e]
            o[e] = w0 * (t0 * c - (c0m * xa[e] + c0p * xb[e])) + (
                d_e * c - (cl_e * xc[l_e] + ch_e * xc[h_e])
            )
            if mode == 1:  # dispatch here: a helper branching on mode is 3x slower
                part += _row_dot(xc, o)
            elif mode == 2:
                part += _row_res(o, b[i])
        acc += part
    return acc


def _const3(x, b, out, mode, w0, w1, w2, bc0, bc1, bc2):
    n0, n1, n2 = x.shape
    iso = w0 == w1 and w1 == w2
    # innermost-axis terms at the two ends of every row (the same for all rows)
    e = n2 - 1
    l_0, h_0, cl_0, ch_0, d_0 = _ends(0, n2, bc2, w2)
    l_e, h_e, cl_e, ch_e, d_e = _ends(e, n2, bc2, w2)
    acc = 0.0
    for iu in prange(n0):
        i = np.int64(iu)  # the parfor index is unsigned: keep index arithmetic signed
        im = _lo(i, n0, bc0)
        ip = _hi(i, n0, bc0)
        c0m = _c_lo(i, bc0)
        c0p = _c_hi(i, n0, bc0)
        t0 = _t(i, n0, bc0)
        full0 = _full(i, n0, bc0)
        part = 0.0
        for j in range(n1):
            jm = _lo(j, n1, bc1)
            jp = _hi(j, n1, bc1)
            c1m = _c_lo(j, bc1)
            c1p = _c_hi(j, n1, bc1)
            t1 = _t(j, n1, bc1)
            xc = x[i, j]
            xa = x[im, j]
            xb = x[ip, j]
            xl = x[i, jm]
            xr = x[i, jp]
            o = out[i, j]
            if full0 and _full(j, n1, bc1):  # fewer flops: the loop is close to compute-bound
                if iso:
                    for k in range(1, n2 - 1):
                        o[k] = w2 * (
                            6.0 * xc[k]
                            - (((xa[k] + xb[k]) + (xl[k] + xr[k])) + (xc[k - 1] + xc[k + 1]))
                        )
                else:
                    for k in range(1, n2 - 1):
                        c2 = 2.0 * xc[k]
                        o[k] = (w0 * (c2 - (xa[k] + xb[k])) + w1 * (c2 - (xl[k] + xr[k]))) + w2 * (
                            c2 - (xc[k - 1] + xc[k + 1])
                        )
            else:
                for k in range(1, n2 - 1):
                    c = xc[k]
                    o[k] = (
                        w0 * (t0 * c - (c0m * xa[k] + c0p * xb[k]))
                        + w1 * (t1 * c - (c1m * xl[k] + c1p * xr[k]))
                    ) + w2 * (2.0 * c - (xc[k - 1] + xc[k + 1]))
            # the two ends of the row (e0 == e1 == 0 when n2 == 1: computed twice, same value)
            c = xc[0]
            o[0] = (
                w0 * (t0 * c - (c0m * xa[0] + c0p * xb[0]))
                + w1 * (t1 * c - (c1m * xl[0] + c1p * xr[0]))
            ) + (d_0 * c - (cl_0 * xc[l_0] + ch_0 * xc[h_0]))
            c = xc[e]
            o[e] = (
                w0 * (t0 * c - (c0m * xa[e] + c0p * xb[e]))
                + w1 * (t1 * c - (c1m * xl[e] + c1p * xr[e]))
            ) + (d_e * c - (cl_e * xc[l_e] + ch_e * xc[h_e]))
            if mode == 1:  # dispatch here: a helper branching on mode is 3x slower
                part += _row_dot(xc, o)
            elif mode == 2:
                part += _row_res(o, b[i, j])
        acc += part
    return acc


# ----------------------------------------------------------------------------- variable coefficient
def _var1(x, b, out, mode, f0, bc0):
    n = x.shape[0]
    blk = 4096
    nblk = (n + blk - 1) // blk
    acc = 0.0
    for iu in prange(nblk):
        ib = np.int64(iu)  # the parfor index is unsigned: keep arithmetic signed
        start = ib * blk
        stop = min(start + blk, n)
        lo = max(start, 1)
        hi = min(stop, n - 1)
        for k in range(lo, hi):
            c = x[k]
            out[k] = f0[k] * (c - x[k - 1]) + f0[k + 1] * (c - x[k + 1])
        for k in (start, stop - 1):
            if k == 0 or k == n - 1:
                out[k] = _end_var(x, f0, k, n, bc0)
        if mode == 1:
            acc += _row_dot(x[start:stop], out[start:stop])
        elif mode == 2:
            acc += _row_res(out[start:stop], b[start:stop])
    return acc


def _var2(x, b, out, mode, f0, f1, bc0, bc1):
    n0, n1 = x.shape
    e = n1 - 1
    l_0, h_0, cl_0, ch_0, _ = _ends(0, n1, bc1, 1.0)
    l_e, h_e, cl_e, ch_e, _ = _ends(e, n1, bc1, 1.0)
    nchunk = (n0 + _ROWS - 1) // _ROWS
    acc = 0.0
    for iu in prange(nchunk):
        first = np.int64(iu) * _ROWS  # the parfor index is unsigned: keep arithmetic signed
        part = 0.0
        for i in range(first, min(first + _ROWS, n0)):
            im = _lo(i, n0, bc0)
            ip = _hi(i, n0, bc0)
            c0m = _c_lo(i, bc0)
            c0p = _c_hi(i, n0, bc0)
            xc = x[i]
            xa = x[im]
            xb = x[ip]
            fa = f0[i]
            fb = f0[i + 1]
            g = f1[i]
            o = out[i]
            if _full(i, n0, bc0):
                for k in range(1, n1 - 1):
                    c = xc[k]
                    o[k] = (fa[k] * (c - xa[k]) + fb[k] * (c - xb[k])) + (
                        g[k] * (c - xc[k - 1]) + g[k + 1] * (c - xc[k + 1])
                    )
            else:
                for k in range(1, n1 - 1):
                    c = xc[k]
                    o[k] = (fa[k] * (c - c0m * xa[k]) + fb[k] * (c - c0p * xb[k])) + (
                        g[k] * (c - xc[k - 1]) + g[k + 1] * (c - xc[k + 1])
                    )
            c = xc[0]
            o[0] = (fa[0] * (c - c0m * xa[0]) + fb[0] * (c - c0p * xb[0])) + (
                g[0] * (c - cl_0 * xc[l_0]) + g[1] * (c - ch_0 * xc[h_0])
            )
            c = xc[e]
            o[e] = (fa[e] * (c - c0m * xa[e]) + fb[e] * (c - c0p * xb[e])) + (
                g[e] * (c - cl_e * xc[l_e]) + g[e + 1] * (c - ch_e * xc[h_e])
            )
            if mode == 1:  # dispatch here: a helper branching on mode is 3x slower
                part += _row_dot(xc, o)
            elif mode == 2:
                part += _row_res(o, b[i])
        acc += part
    return acc


def _var3(x, b, out, mode, f0, f1, f2, bc0, bc1, bc2):
    n0, n1, n2 = x.shape
    e = n2 - 1
    l_0, h_0, cl_0, ch_0, _ = _ends(0, n2, bc2, 1.0)
    l_e, h_e, cl_e, ch_e, _ = _ends(e, n2, bc2, 1.0)
    acc = 0.0
    for iu in prange(n0):
        i = np.int64(iu)  # the parfor index is unsigned: keep index arithmetic signed
        im = _lo(i, n0, bc0)
        ip = _hi(i, n0, bc0)
        c0m = _c_lo(i, bc0)
        c0p = _c_hi(i, n0, bc0)
        full0 = _full(i, n0, bc0)
        part = 0.0
        for j in range(n1):
            jm = _lo(j, n1, bc1)
            jp = _hi(j, n1, bc1)
            c1m = _c_lo(j, bc1)
            c1p = _c_hi(j, n1, bc1)
            xc = x[i, j]
            xa = x[im, j]
            xb = x[ip, j]
            xl = x[i, jm]
            xr = x[i, jp]
            fa = f0[i, j]
            fb = f0[i + 1, j]
            fl = f1[i, j]
            fr = f1[i, j + 1]
            g = f2[i, j]
            o = out[i, j]
            if full0 and _full(j, n1, bc1):
                for k in range(1, n2 - 1):
                    c = xc[k]
                    o[k] = (
                        (fa[k] * (c - xa[k]) + fb[k] * (c - xb[k]))
                        + (fl[k] * (c - xl[k]) + fr[k] * (c - xr[k]))
                    ) + (g[k] * (c - xc[k - 1]) + g[k + 1] * (c - xc[k + 1]))
            else:
                for k in range(1, n2 - 1):
                    c = xc[k]
                    o[k] = (
                        (fa[k] * (c - c0m * xa[k]) + fb[k] * (c - c0p * xb[k]))
                        + (fl[k] * (c - c1m * xl[k]) + fr[k] * (c - c1p * xr[k]))
                    ) + (g[k] * (c - xc[k - 1]) + g[k + 1] * (c - xc[k + 1]))
            c = xc[0]
            o[0] = (
                (fa[0] * (c - c0m * xa[0]) + fb[0] * (c - c0p * xb[0]))
                + (fl[0] * (c - c1m * xl[0]) + fr[0] * (c - c1p * xr[0]))
            ) + (g[0] * (c - cl_0 * xc[l_0]) + g[1] * (c - ch_0 * xc[h_0]))
            c = xc[e]
            o[e] = (
                (fa[e] * (c - c0m * xa[e]) + fb[e] * (c - c0p * xb[e]))
                + (fl[e] * (c - c1m * xl[e]) + fr[e] * (c - c1p * xr[e]))
            ) + (g[e] * (c - cl_e * xc[l_e]) + g[e + 1] * (c - ch_e * xc[h_e]))
            if mode == 1:  # dispatch here: a helper branching on mode is 3x slower
                part += _row_dot(xc, o)
            elif mode == 2:
                part += _row_res(o, b[i, j])
        acc += part
    return acc


# serial + threaded pairs (tiered compilation, see lrsolve._kernels._numba_util.Tiered)
const1 = tiered(_const1)
const2 = tiered(_const2)
const3 = tiered(_const3)
var1 = tiered(_var1)
var2 = tiered(_var2)
var3 = tiered(_var3)
_CONST = (None, const1, const2, const3)
_VAR = (None, var1, var2, var3)


def poisson_stencil(x, b, out, mode, weights, bcs, faces, parallel=None):
    """Apply the stencil to the grid array ``x`` (see the module docstring).

    Parameters
    ----------
    x, out : ndarray
        Grid arrays (1, 2 or 3 dimensions) of one real or complex dtype,
        C-contiguous for speed; ``out`` is overwritten.
    b : ndarray or None
        Right-hand side grid array, used when ``mode == 2``.
    mode : {0, 1, 2}
        ``out = A x``; the same and return ``Re(x^H A x)``; ``out = b - A x``
        and return ``||out||^2``.
    weights : tuple of float
        ``1/h_d**2`` per axis (constant coefficient; ignored when ``faces`` is given).
    bcs : tuple of int
        Boundary code per axis (0 Dirichlet, 1 Neumann, 2 periodic).
    faces : tuple of ndarray or None
        Per-axis face coefficients (variable coefficient).
    parallel : bool, optional
        Force the serial or the threaded variant (default: threaded from
        ``PARALLEL_MIN`` unknowns on, with tiered compilation).

    Returns
    -------
    float or None
        The reduction of ``mode`` 1 and 2.
    """
    if x.dtype.kind == "c":
        br = bi = None
        if b is not None:
            br, bi = b.real, b.imag
        s_re = _real(x.real, br, out.real, mode, weights, bcs, faces, parallel)
        s_im = _real(x.imag, bi, out.imag, mode, weights, bcs, faces, parallel)
        return s_re + s_im if mode else None
    s = _real(x, b, out, mode, weights, bcs, faces, parallel)
    return s if mode else None


def _real(x, b, out, mode, weights, bcs, faces, parallel):
    if b is None:
        b = x  # never read; passing x avoids compiling a variant for None
    nd = x.ndim
    if faces is None:
        pair, args = _CONST[nd], (x, b, out, mode, *weights, *bcs)
    else:
        pair, args = _VAR[nd], (x, b, out, mode, *faces, *bcs)
    if parallel is None:
        return pair.run(x.size, *args)
    return (pair.parallel if parallel else pair.serial)(*args)


KERNELS = {"poisson_stencil": poisson_stencil}
