"""Normalise the inputs of a Krylov solver once, before its loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import Backend, array_kind, get_backend
from .._results import SolveResult
from .._validation import check_finite, check_positive_int, solve_dtype
from ..operators._base import Operator, as_operator
from ..precond._base import Preconditioner, make_preconditioner

__all__ = ["System", "make_system", "check_loop_options", "Tally"]


@dataclass
class System:
    """What a solver loop needs: backend, operator, vectors and preconditioner."""

    bk: Backend
    op: Operator
    b: Any
    x: Any  # a fresh copy: the solver may update it in place
    x0_is_zero: bool
    prec: Preconditioner | None
    n: int
    dtype: np.dtype

    @property
    def xp(self):
        return self.bk.xp


def _vector(bk, v, n, name, dtype):
    if array_kind(v) is None and not hasattr(v, "__array__") and not isinstance(v, list):
        raise TypeError(f"{name} must be an array of length {n}, got {type(v).__name__}")
    arr = bk.asarray(v)
    if arr.dtype.kind not in "biufc":
        raise TypeError(
            f"{name} has dtype {arr.dtype}, which cannot be solved; use a float or complex array"
        )
    if arr.shape not in ((n,), (n, 1)):
        raise ValueError(f"{name} must have shape ({n},) or ({n}, 1) to match A, got {arr.shape}")
    return arr.reshape(n)


def make_system(A, b, x0=None, *, M=None, precond=None, name="solver") -> System:
    """Validate and normalise ``A``, ``b``, ``x0``, ``M`` and ``precond``.

    Nothing the caller passed is modified: ``x`` is always a new array.
    """
    x0_mb = isinstance(x0, str)
    if x0_mb:
        if x0 != "Mb":
            raise ValueError(f"x0 must be an array, None or 'Mb' (SciPy's preconditioned "
                             f"right-hand side), got {x0!r}")
        x0 = None
    bk = get_backend(A, b, x0, M, precond)
    if b is None:
        raise TypeError(f"{name}() needs a right-hand side b")
    barr = bk.asarray(b) if (array_kind(b) is not None or hasattr(b, "__array__")) else None
    if barr is None:
        raise TypeError(f"b must be an array, got {type(b).__name__}")
    if barr.ndim == 0 or barr.ndim > 2 or (barr.ndim == 2 and barr.shape[1] != 1):
        raise ValueError(f"b must be a vector of shape (n,) or (n, 1), got shape {barr.shape}")
    n = barr.shape[0]
    if barr.dtype.kind not in "biufc":
        raise TypeError(f"b has dtype {barr.dtype}, which cannot be solved; use a float array")
    op = as_operator(A, bk, n=n, dtype=solve_dtype(barr.dtype), name="A")
    if op.shape[1] != n:
        raise ValueError(f"A has shape {op.shape} but b has length {n}; they must match")
    dtype = solve_dtype(op.dtype, barr.dtype)
    bvec = _vector(bk, barr, n, "b", dtype)
    # always copy: the solver must never alias the caller's b
    bvec = bvec.astype(dtype, copy=True)
    check_finite(bk.xp, bvec, "b")
    if x0 is None:
        x = bk.xp.zeros(n, dtype=dtype)
        x0_is_zero = True
    else:
        x0v = _vector(bk, x0, n, "x0", dtype)
        x = x0v.astype(dtype, copy=True)
        check_finite(bk.xp, x, "x0")
        x0_is_zero = False
    if op.dtype != dtype:
        op = as_operator(A, bk, n=n, dtype=dtype, name="A", check=False)
    prec = make_preconditioner(M, precond, op, bk, n, dtype)
    if x0_mb:  # SciPy's x0='Mb': start from the preconditioned right-hand side
        x = prec.apply(bvec) if prec is not None else bvec.copy()
        x0_is_zero = False
    return System(bk, op, bvec, x, x0_is_zero, prec, n, dtype)


def stagnation_message(true_res, tol, dtype, detail="", suffix=""):
    """The message of a solve whose true residual stays above the tolerance."""
    return (
        f"stagnated: the true residual {true_res:.3g} stays above the tolerance {tol:.3g}"
        f"{detail}; the precision of {np.dtype(dtype).name} and the conditioning of A may "
        f"not allow it{suffix}"
    )


def singular_message(niter, true_res, tol):
    """The message of a restarted Krylov method whose Arnoldi column was dependent."""
    return (
        f"breakdown at iteration {niter}: A (times the preconditioner) maps a Krylov "
        f"vector into the earlier ones, so A looks singular; the true residual "
        f"{true_res:.3g} stays above the tolerance {tol:.3g}"
    )


def cycle_stall_message(true_res, tol, dtype, cycle, knob):
    """The message of a restarted method whose whole cycle did not reduce the residual."""
    return (
        f"stagnated: a whole cycle{cycle} did not reduce the residual ({true_res:.3g}, "
        f"tolerance {tol:.3g}); try a larger {knob} or a preconditioner, unless the precision "
        f"of {np.dtype(dtype).name} and the conditioning of A allow no smaller residual"
    )


def check_loop_options(bk: Backend, check_every, callback) -> int:
    """Validate ``callback`` and return ``check_every`` (default 1 on the CPU, 10 on the GPU)."""
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    if check_every is None:
        check_every = 10 if bk.is_gpu else 1
    return check_positive_int("check_every", check_every)


class Tally:
    """Counts products and preconditioner applications; builds the :class:`SolveResult`."""

    def __init__(self, sys: System, tol: float):
        self.sys = sys
        self.tol = tol
        self.mv = 0
        self.pc = 0

    def conclude(self, info, converged, niter, hist, message, true_res, true_residual):
        """The result after the loop: unless converged, measure ``||b - A x||`` once more.

        ``true_residual()`` returns that norm on the host (and counts its product).  A
        run that stopped at ``maxiter`` between two convergence checks may have met the
        tolerance: it is then reported as converged; otherwise ``info`` is the count of
        iterations, as in SciPy.
        """
        if not converged:
            true_res = true_residual()
            if info > 0 and true_res <= self.tol:
                info, converged, message = 0, True, f"converged in {niter} iterations"
            elif info > 0:
                info = niter
        return self.result(info, converged, niter, hist, message, true_res)

    def result(self, info, converged, niter, hist, message, true_res):
        """The :class:`SolveResult` of ``sys.x`` (converted to the caller's array type)."""
        return SolveResult(
            x=self.sys.bk.to_output(self.sys.x),
            info=int(info),
            converged=bool(converged),
            niter=int(niter),
            residual_norms=np.asarray(hist, dtype=float),
            n_matvec=self.mv,
            message=message,
            true_residual_norm=float(true_res),
            tolerance=self.tol,
            n_precond=self.pc,
        )
