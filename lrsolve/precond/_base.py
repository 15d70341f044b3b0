"""Preconditioner protocol and the name registry.

A preconditioner approximates ``A^{-1}``: the expensive part (a factorisation,
an AMG hierarchy, spectrum bounds) is done once when the object is built; its
:meth:`~Preconditioner.apply` is cheap and is called once per iteration.
"""

from __future__ import annotations

import abc
import time

import numpy as np

from .._backend import array_kind, get_backend
from .._kernels import get_kernel
from ..operators._base import Operator, _check_vector, as_operator

__all__ = ["Preconditioner", "register", "available", "make_preconditioner"]


class Preconditioner(abc.ABC):
    """Base class: ``z = M r`` with ``M ~ A^{-1}`` (symmetric positive definite for CG).

    Subclasses set ``shape``, ``dtype``, ``backend`` and implement :meth:`_apply`.

    Attributes
    ----------
    setup_time : float
        Seconds spent building the preconditioner.
    """

    shape: tuple
    dtype: np.dtype
    backend = None
    setup_time: float = 0.0
    name = "preconditioner"

    @property
    def _lrsolve_backend(self):
        return self.backend.name

    #: ``_unapply(u, out)`` writes ``M^{-1} u`` into ``out`` where that is a cheap
    #: product (the matrix the preconditioner inverts: ``diag(A)`` for Jacobi,
    #: ``L L^H`` for IC(0)); ``None`` where it is not available (AMG, Chebyshev).
    #: Recycling solvers use it to carry a space across preconditioners.
    _unapply = None

    @abc.abstractmethod
    def _apply(self, r, out):
        """Write ``M r`` into ``out`` (the one method every preconditioner must provide)."""

    def apply(self, r, out=None):
        """Return ``M r`` (written into ``out`` when given)."""
        _check_vector(r, self.shape[0], "r", self)
        if out is None:
            out = self.backend.xp.empty_like(r)
        self._apply(r, out)
        return out

    def apply_dot(self, r, out):
        """``out = M r``; return ``Re(r^H out)``."""
        self._apply(r, out)
        return get_kernel("vdot", self.backend.engine)(r, out).real

    def __matmul__(self, r):
        return self.apply(self.backend.xp.asarray(r))

    def __call__(self, r):
        return self.apply(r)

    def aslinearoperator(self):
        """Return a SciPy (or cupyx) ``LinearOperator`` that applies the preconditioner.

        Lets the object be used as ``M=`` in SciPy's solvers.
        """
        xp = self.backend.xp
        # SciPy hands a matvec shape (n,) or (n, 1) and reshapes the result itself
        return self.backend.xsp.sparse.linalg.LinearOperator(
            self.shape, matvec=lambda v: self.apply(xp.asarray(v).reshape(-1)), dtype=self.dtype
        )

    def __repr__(self):
        return (
            f"<{type(self).__name__} {self.shape[0]}x{self.shape[1]} {np.dtype(self.dtype)} "
            f"on {self.backend.name}, setup {self.setup_time:.3g} s>"
        )


class OperatorPreconditioner(Preconditioner):
    """A user-supplied ``M`` (matrix, ``LinearOperator`` or callable) applied as ``z = M r``."""

    name = "user"

    def __init__(self, M, bk, n, dtype):
        self.op = as_operator(M, bk, n=n, dtype=dtype, name="M")
        if self.op.shape != (n, n):
            raise ValueError(f"M must have shape ({n}, {n}) like A, got {self.op.shape}")
        self.shape = (n, n)
        self.dtype = self.op.dtype
        self.backend = bk

    def _apply(self, r, out):
        self.op._matvec(r, out)


_REGISTRY: dict = {}


def register(name):
    """Class decorator: make a preconditioner available as ``precond=name``."""

    def wrap(factory):
        _REGISTRY[name] = factory
        return factory

    return wrap


def available():
    """Return the preconditioner names accepted by ``precond=``.

    Returns
    -------
    list of str
        Sorted names, e.g. ``["amg", "chebyshev", "ic0", "jacobi", "ssor"]``.

    Examples
    --------
    >>> import lrsolve
    >>> "ic0" in lrsolve.precond.available()
    True
    """
    from . import _load_all  # noqa: F401  (populates the registry)

    return sorted(_REGISTRY)


def _timed(factory, A, options):
    t0 = time.perf_counter()
    P = factory(A, **options)
    if not P.setup_time:
        P.setup_time = time.perf_counter() - t0
    return P


def make_preconditioner(M, precond, op: Operator, bk, n, dtype):
    """Turn the ``M=`` / ``precond=`` arguments of a solver into a Preconditioner or None."""
    if M is not None and precond is not None:
        raise ValueError("give either M (an approximate inverse) or precond, not both")
    if M is not None:
        if isinstance(M, Preconditioner):
            precond = M
        else:
            if array_kind(M) not in (None, bk.name) and not (
                bk.host_io and array_kind(M) == "numpy"
            ):
                get_backend(M, op)  # raises the mixing TypeError
            return OperatorPreconditioner(M, bk, n, dtype)
    if precond is None:
        return None
    if isinstance(precond, Preconditioner):
        if precond.backend.name != bk.name:
            raise TypeError(
                f"the preconditioner was built on {precond.backend.name} but the system is on "
                f"{bk.name}; build it from the same kind of matrix"
            )
        if tuple(precond.shape) != (n, n):
            raise ValueError(f"precond has shape {precond.shape}, A has ({n}, {n})")
        return precond
    options = {}
    if isinstance(precond, tuple) and len(precond) == 2 and isinstance(precond[0], str):
        precond, options = precond
        options = dict(options)
    if isinstance(precond, str):
        names = available()
        key = precond.lower()
        if key not in _REGISTRY:
            raise ValueError(
                f"unknown preconditioner precond={precond!r}; choose one of {names}, or pass "
                "a preconditioner object, a matrix, a LinearOperator or a callable"
            )
        return _timed(_REGISTRY[key], op, options)
    if callable(precond) or hasattr(precond, "matvec") or hasattr(precond, "shape"):
        return OperatorPreconditioner(precond, bk, n, dtype)
    raise TypeError(
        f"precond must be a name, a (name, options) tuple, a Preconditioner, a matrix, a "
        f"LinearOperator or a callable; got {type(precond).__name__}"
    )
