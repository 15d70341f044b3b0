"""Shared argument checks and small helpers of :mod:`lrsolve.tensor` (not public)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._backend import get_backend
from .._validation import check_finite


def as_tensor(X, name="X", *, allow_nonfinite=False, min_order=2):
    """Return ``(bk, X)``: the backend and ``X`` as a float32/float64 array of it.

    Integer and boolean data are promoted to float64, float16 to float32; complex,
    object and string data raise ``TypeError``.  ``X`` itself is never modified.
    """
    bk = get_backend(X)
    xp = bk.xp
    X = bk.asarray(X)
    dt = np.dtype(X.dtype)
    if dt.kind in "biu":
        X = X.astype(xp.float64)
    elif dt == np.float16:
        X = X.astype(xp.float32)
    elif dt.kind != "f" or dt.itemsize > 8:
        raise TypeError(
            f"{name} has dtype {dt}; lrsolve.tensor decomposes real float32 or float64 "
            f"tensors: convert it with {name}.astype(numpy.float64)"
        )
    if X.ndim < min_order:
        raise ValueError(
            f"{name} must be a tensor of order >= {min_order}, got an array of shape {X.shape}; "
            "an order-1 array has no multilinear structure (reshape it into a tensor first)"
        )
    if any(s == 0 for s in X.shape):
        raise ValueError(
            f"{name} has an empty dimension (shape {X.shape}); every mode needs size >= 1"
        )
    if not allow_nonfinite:
        check_finite(xp, X, name)
    return bk, X


def check_mask(bk, mask, shape):
    """Validate a boolean observation mask (True = observed) and return it on the backend."""
    if mask is None:
        return None
    mask = bk.asarray(mask)
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(
            f"mask has shape {tuple(mask.shape)} but X has shape {tuple(shape)}; give a boolean "
            "array of X's shape with True where the entry is observed"
        )
    if mask.dtype != bool:
        if np.dtype(mask.dtype).kind not in "biuf":
            raise TypeError(
                f"mask must be a boolean array (True = observed), got dtype {mask.dtype}"
            )
        mask = mask != 0
    if not bool(mask.any()):
        raise ValueError("mask has no True entry: at least one entry of X must be observed")
    return mask


def check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_tol(name, tol, *, allow_zero=False, target=False):
    """Validate a tolerance; ``target=True``: a relative-error target, in (0, 1)."""
    if tol is None:
        return None
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {tol!r}")
    tol = float(tol)
    if not math.isfinite(tol) or tol < 0 or (tol == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number > 0, got {tol!r}")
    if target and tol >= 1:
        raise ValueError(f"{name} is a relative-error target and must be < 1 (the zero tensor "
                         f"already has relative error 1), got {tol!r}")
    return tol


def host_rng(rng):
    """One host ``numpy.random.Generator`` (draws happen on the host, then move to xp)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.RandomState):
        return np.random.default_rng(rng.randint(0, 2**31 - 1))
    return np.random.default_rng(rng)


def draw(bk, rng, shape, dtype):
    """Standard normal draws on the host, moved to the backend in ``dtype``."""
    return bk.xp.asarray(rng.standard_normal(shape).astype(np.dtype(dtype)))


def eps_of(dtype):
    return float(np.finfo(np.dtype(dtype)).eps)


def to_float(x):
    """A Python float from a 0-d NumPy/CuPy array (one device sync)."""
    return float(x)


def other_prod(shape, n):
    return int(np.prod([s for k, s in enumerate(shape) if k != n], dtype=np.int64))
