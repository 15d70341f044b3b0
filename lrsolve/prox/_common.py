"""Shared helpers of the prox family: backend/array handling and argument checks."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._backend import get_backend
from .._kernels import get_kernel
from .._validation import solve_dtype


def as_float_array(x, name, *objs):
    """Return ``(backend, array)`` with a floating dtype (float32 stays float32)."""
    bk = get_backend(x, *objs)
    if hasattr(x, "dtype"):
        dt = solve_dtype(x.dtype)
    else:
        dt = solve_dtype(np.asarray(x).dtype)
    if dt.kind == "c":
        raise TypeError(f"{name} must be real: got a complex array")
    arr = bk.asarray(x, dtype=dt)
    return bk, arr


def check_design(xp, X, y):
    """Validate a regression design: returns ``(y as 1-D float64, n, p, input dtype)``.

    ``X`` is 2-D (dense or sparse) with as many rows as ``y``; ``y`` may be a column;
    ``y`` must be finite.  The input dtype is the floating type of ``X`` (float64 for
    integer ``X``), as scikit-learn's estimators keep it.
    """
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (n_samples,), got shape {y.shape}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X has {X.shape[0]} samples (rows) but y has {y.shape[0]}; they must match"
        )
    n, p = X.shape
    if n == 0 or p == 0:
        raise ValueError(f"X must have at least one sample and one feature, got {X.shape}")
    # the coefficients follow X's floating dtype, as in scikit-learn (y is converted to it);
    # integer X: float64
    in_dtype = np.dtype(X.dtype) if np.dtype(X.dtype).kind == "f" else np.dtype(np.float64)
    y = y.astype(xp.float64)
    if not bool(xp.all(xp.isfinite(y))):
        raise ValueError("y contains NaN or Inf; remove or replace the non-finite entries")
    return y, n, p, in_dtype


def kernel(bk, name, x=None):
    """The Numba kernel for NumPy inputs on the numba engine, the reference one otherwise."""
    eng = bk.engine if bk.name == "numpy" else "numpy"
    if bk.name == "numpy" and x is not None and not isinstance(x, np.ndarray):
        eng = "numpy"
    return get_kernel(name, eng)


def check_nonneg(name, value, *, strict=False, allow_inf=False):
    """A real scalar ``>= 0`` (``> 0`` when ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if hasattr(value, "item") and getattr(value, "size", 2) == 1:
            value = value.item()
        else:
            raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (strict and value == 0):
        bound = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}; pass a non-negative {name}")
    return value


def check_tau(tau):
    """The prox step ``tau`` (>= 0)."""
    return check_nonneg("tau", tau)


def to_host_float(x):
    """A Python float from a 0-d array or scalar of any backend."""
    if hasattr(x, "item"):
        return float(x.item())
    return float(x)
