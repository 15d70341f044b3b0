"""Argument checks shared by every solver: clear errors that name the argument and the fix."""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["check_tolerances", "check_maxiter", "solve_dtype", "check_finite"]


def check_tolerances(rtol, atol, bnorm):
    """Validate ``rtol``/``atol`` and return the absolute target ``max(rtol*bnorm, atol)``."""
    for name, val in (("rtol", rtol), ("atol", atol)):
        if val is None or isinstance(val, (str, bytes)) or not isinstance(val, numbers.Real):
            raise TypeError(f"{name} must be a non-negative real number, got {val!r}")
        if not math.isfinite(val) or val < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {val!r}")
    if not math.isfinite(float(bnorm)):
        # b is finite (checked before), but the sum of its squares overflows the dtype: every
        # residual norm would too, and "converged" could not be told from "overflowed"
        raise ValueError(
            "the norm of b overflows its dtype (entries of order 1e154 or more in float64, "
            "1e19 in float32): rescale the system, e.g. solve with b / s for s = max|b| and "
            "multiply the solution by s")
    return max(float(rtol) * float(bnorm), float(atol))


def check_maxiter(maxiter, default):
    if maxiter is None:
        return int(default)
    if isinstance(maxiter, bool) or not isinstance(maxiter, numbers.Integral):
        raise TypeError(f"maxiter must be a positive integer or None, got {maxiter!r}")
    if maxiter < 1:
        raise ValueError(f"maxiter must be >= 1, got {maxiter}")
    return int(maxiter)


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


_FLOAT_KINDS = "fc"


def solve_dtype(*dtypes):
    """Return the floating/complex dtype a solve runs in.

    Integer and boolean inputs are promoted to float64 (as SciPy does); float16 to
    float32; object, string and other dtypes raise ``TypeError``.
    """
    out = []
    for dt in dtypes:
        if dt is None:
            continue
        dt = np.dtype(dt)
        if dt.kind in "biu":
            dt = np.dtype(np.float64)
        elif dt.kind not in _FLOAT_KINDS:
            raise TypeError(
                f"cannot solve with dtype {dt}: use a float32, float64, complex64 or "
                "complex128 array"
            )
        elif dt == np.float16:
            dt = np.dtype(np.float32)
        elif dt.itemsize > 16 or dt == np.longdouble:
            raise TypeError(f"dtype {dt} is not supported: use float64 or complex128")
        out.append(dt)
    if not out:
        return np.dtype(np.float64)
    return np.result_type(*out)


def check_finite(xp, arr, name):
    """Raise ``ValueError`` when ``arr`` holds NaN or Inf (one reduction; syncs once on GPU)."""
    if arr.size and not bool(xp.isfinite(arr).all()):
        raise ValueError(
            f"{name} contains NaN or Inf; remove or replace the non-finite entries before solving"
        )
