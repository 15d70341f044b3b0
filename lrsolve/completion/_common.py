"""Helpers shared by the completion solvers: argument checks, randomized SVD, progress, RMSE."""

from __future__ import annotations

import contextlib
import functools
import math
import numbers

import numpy as np

from .._kernels import get_kernel
from .._linalg import flip_signs
from ._data import Observations, observations


@functools.cache
def _blas_controller():
    try:
        import threadpoolctl
    except ImportError:  # optional: without it BLAS keeps its threads
        return None
    return threadpoolctl.ThreadpoolController()


def small_blas(bk):
    """Run LAPACK on small/thin matrices single-threaded (CPU backend).

    Thin QR/SVD/eigh of ``n x (k + p)`` blocks are dominated by thread
    synchronisation in threaded OpenBLAS (50-100x slower on a loaded 2-core
    machine); their cost is negligible next to the sparse products.  Uses
    threadpoolctl when installed, else does nothing.
    """
    ctl = _blas_controller() if bk.name == "numpy" else None
    if ctl is None:
        return contextlib.nullcontext()
    return ctl.limit(limits=1, user_api="blas")


def check_rank(rank, shape, name="rank"):
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or rank < 1:
        raise ValueError(f"{name} must be a positive integer, got {rank!r}")
    if rank > min(shape):
        raise ValueError(
            f"{name}={rank} is larger than min(m, n) = {min(shape)} for shape {shape}; "
            "choose a rank <= min(m, n)"
        )
    return int(rank)


def check_nonneg(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def make_rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def randn(bk, rng, shape, dtype):
    """Gaussian numbers drawn on the host (reproducible on both backends) and moved once."""
    a = rng.standard_normal(shape).astype(dtype)
    return bk.xp.asarray(a) if bk.name == "cupy" else a


def validation_set(validation, shape, bk, dtype):
    """Return ``(rows, cols, values)`` arrays of the validation entries, or None."""
    if validation is None:
        return None
    if isinstance(validation, Observations):
        v = validation
    else:
        v = observations(validation, shape=shape)
    if v.shape != tuple(shape):
        raise ValueError(f"validation has shape {v.shape}, the training data {tuple(shape)}")
    if v.backend.name != bk.name:
        raise TypeError("validation and obs must live on the same backend (NumPy or CuPy)")
    return v.rows(), v.row_idx.astype(bk.xp.int64), v.row_vals.astype(dtype)


def randomized_svd(matmat, rmatmat, shape, k, xp, dtype, rng, bk, n_iter=2, start=None,
                   oversample=8):
    """Top-``k`` SVD of an implicit matrix by a randomized range finder with power iterations.

    ``matmat(X)`` returns ``M @ X`` (``X``: n x l), ``rmatmat(Y)`` returns
    ``M.T @ Y``.  ``start`` (n x r) seeds the subspace (warm start).
    """
    m, n = shape
    ell = min(k + oversample, min(m, n))
    G = randn(bk, rng, (n, ell), dtype)
    if start is not None and start.shape[1]:
        r = min(start.shape[1], ell)
        G[:, :r] = start[:, :r]
    with small_blas(bk):
        Q, _ = xp.linalg.qr(matmat(G))
        for _ in range(n_iter):
            W, _ = xp.linalg.qr(rmatmat(Q))
            Q, _ = xp.linalg.qr(matmat(W))
        B = rmatmat(Q).T  # ell x n = Q^T M
        Ub, s, Vt = xp.linalg.svd(B, full_matrices=False)
        U = Q @ Ub[:, :k]
    U, V = flip_signs(xp, U, Vt[:k].T)  # the same factors from LAPACK and cuSOLVER
    return U, s[:k], V


def spectral_init(obs, k, rng, offset=0.0, n_iter=2):
    """Top-``k`` factors of ``P_Omega(X - offset) / p`` (Jain-Netrapalli-Sanghavi)."""
    bk = obs.backend
    xp = bk.xp
    m, n = obs.shape
    p = obs.nnz / (m * n)
    vals = obs.row_vals - obs.dtype.type(offset) if offset else obs.row_vals
    S = obs.to_sparse(vals * obs.dtype.type(1.0 / p))
    ST = S.T  # CSC view: no copy
    U, s, V = randomized_svd(lambda X: S @ X, lambda Y: ST @ Y, (m, n), k, xp, obs.dtype, rng, bk,
                             n_iter=n_iter)
    r = xp.sqrt(s).astype(obs.dtype)
    return (U * r).astype(obs.dtype), (V * r).astype(obs.dtype), s


def train_residual(obs, U, V, offset=0.0, row_bias=None, col_bias=None, out=None):
    """``vals - prediction`` on the observed entries, CSR order."""
    xp = obs.backend.xp
    if row_bias is not None:
        m, n = obs.shape
        one_m = xp.ones((m, 1), dtype=U.dtype)
        one_n = xp.ones((n, 1), dtype=U.dtype)
        U = xp.concatenate([U, row_bias[:, None], one_m], axis=1)
        V = xp.concatenate([V, one_n, col_bias[:, None]], axis=1)
    if out is None:
        out = xp.empty(obs.nnz, dtype=obs.dtype)
    get_kernel("mc_sampled_dot", obs.backend.engine)(obs.row_ptr, obs.row_idx, U, V, out)
    if offset:
        out += obs.dtype.type(offset)
    xp.subtract(obs.row_vals, out, out=out)
    return out


def train_rmse(obs, U, V, offset=0.0, row_bias=None, col_bias=None):
    """RMS of ``vals - prediction`` on the observed entries: one fused pass, no residual array."""
    if obs.nnz == 0:
        return float("nan")
    ss = get_kernel("mc_sq_residual", obs.backend.engine)(
        obs.row_ptr, obs.row_idx, obs.row_vals, U, V, float(offset), row_bias, col_bias)
    return math.sqrt(ss / obs.nnz)


def rms(xp, r):
    if r.shape[0] == 0:
        return float("nan")
    if r.dtype == np.float64:
        if xp is np:
            # no temporary, and no BLAS: OpenBLAS's threads spin for a while after a threaded
            # dot product and slow down the Numba kernel that follows (2 cores, 2 threads)
            return math.sqrt(float(np.einsum("i,i->", r, r)) / r.shape[0])
        return float(np.sqrt(float(r @ r) / r.shape[0]))
    return float(xp.sqrt(xp.mean(xp.square(r.astype(np.float64)))))


def predict_rmse(xp, U, V, val, offset=0.0, row_bias=None, col_bias=None):
    rows, cols, vals = val
    out = xp.empty(rows.shape[0], dtype=np.float64)
    step = max(1, (1 << 22) // max(U.shape[1], 1))
    for s in range(0, rows.shape[0], step):
        r = rows[s : s + step]
        c = cols[s : s + step]
        out[s : s + step] = xp.sum(U[r] * V[c], axis=1)
    if row_bias is not None:
        out += row_bias[rows]
        out += col_bias[cols]
    out += offset
    return rms(xp, vals - out)


class Progress:
    """A tqdm bar when asked for (``progress=True``) and tqdm is installed; else nothing."""

    def __init__(self, progress, total, desc):
        self.bar = None
        if progress:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, desc=desc, leave=False)

    def update(self, **info):
        if self.bar is not None:
            self.bar.set_postfix(**{k: f"{v:.4g}" for k, v in info.items()})
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()
