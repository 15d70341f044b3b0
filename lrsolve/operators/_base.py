"""Operator protocol shared by solvers and preconditioners.

Every ``A`` a solver accepts is normalised once, before the loop, into an
:class:`Operator`: it knows its backend, shape and dtype, and offers

* ``matvec(x, out=None)``: ``A x``;
* ``matvec_dot(x, out)``: ``out = A x`` and return ``Re(x^H A x)`` -- one pass
  for the operators that have a fused kernel (CSR, stencils);
* ``residual(x, b, out)``: ``out = b - A x`` and return ``||out||^2``.

Wrappers exist for dense arrays, SciPy/cupyx sparse matrices, ``LinearOperator``
objects and plain callables; :func:`as_operator` picks one.
"""

from __future__ import annotations

import abc
import os

import numpy as np

from .._backend import Backend, array_kind, get_backend
from .._kernels import get_kernel
from .._validation import solve_dtype

__all__ = ["Operator", "as_operator", "aslinearoperator"]


def _check_vector(x, n, name, obj):
    """A clear error for a vector of the wrong shape (the kernels do not check bounds)."""
    shape = getattr(x, "shape", None)
    if shape != (n,):
        raise ValueError(
            f"{name} must be a vector of {n} entries (shape ({n},)) for this "
            f"{obj.shape[0]}x{obj.shape[1]} {type(obj).__name__}, got shape {shape}"
        )


class Operator(abc.ABC):
    """Base class of lrsolve operators (square, linear, on one backend).

    Subclasses set ``shape``, ``dtype`` and ``backend`` and implement
    :meth:`_matvec`.  They may override :meth:`matvec_dot` and :meth:`residual`
    with fused kernels and :meth:`diagonal` / :meth:`tocsr` when they can.
    """

    shape: tuple
    dtype: np.dtype
    backend: Backend

    @property
    def _lrsolve_backend(self):
        return self.backend.name

    @property
    def ndim(self):
        return 2

    @property
    def xp(self):
        return self.backend.xp

    # -- core ---------------------------------------------------------------------
    @abc.abstractmethod
    def _matvec(self, x, out):
        """Write ``A x`` into ``out`` (the one method every operator must provide)."""

    def matvec(self, x, out=None):
        """Return ``A @ x`` (written into ``out`` when given)."""
        _check_vector(x, self.shape[1], "x", self)
        if out is None:
            out = self.xp.empty(self.shape[0], dtype=np.result_type(self.dtype, x.dtype))
        self._matvec(x, out)
        return out

    def matvec_dot(self, x, out):
        """``out = A x``; return ``Re(x^H out)``."""
        self._matvec(x, out)
        return get_kernel("vdot", self._engine)(x, out).real

    def residual(self, x, b, out):
        """``out = b - A x``; return ``||out||^2``."""
        self._matvec(x, out)
        xp = self.xp
        xp.subtract(b, out, out=out)
        return get_kernel("norm2sq", self._engine)(out)

    @property
    def _engine(self):
        return self.backend.engine

    def __matmul__(self, x):
        x = self.xp.asarray(x)
        if x.ndim == 1:
            return self.matvec(x)
        if x.ndim == 2:
            return self.xp.stack([self.matvec(x[:, j]) for j in range(x.shape[1])], axis=1)
        raise ValueError(f"cannot multiply a {self.shape} operator by an array of shape {x.shape}")

    def dot(self, x):
        """Same as ``self @ x``."""
        return self @ x

    # -- optional -----------------------------------------------------------------
    def diagonal(self):
        """Return the diagonal of the operator (when it can be computed cheaply)."""
        raise TypeError(
            f"{type(self).__name__} cannot provide its diagonal; pass an explicit matrix "
            "or a preconditioner object instead of a name that needs the diagonal"
        )

    def tocsr(self):
        """Return the operator as a SciPy (or cupyx) CSR matrix."""
        raise TypeError(
            f"{type(self).__name__} has no explicit matrix; pass a sparse matrix "
            "if the preconditioner needs one"
        )

    def aslinearoperator(self):
        """Return a SciPy (or cupyx) ``LinearOperator`` applying this operator."""
        xp = self.xp
        # SciPy hands a matvec shape (n,) or (n, 1) and reshapes the result itself
        return self.backend.xsp.sparse.linalg.LinearOperator(
            self.shape, matvec=lambda v: self.matvec(xp.asarray(v).reshape(-1)),
            dtype=self.dtype
        )

    def __repr__(self):
        n, m = self.shape
        return f"<{n}x{m} {type(self).__name__} {self.dtype} on {self.backend.name}>"


# ----------------------------------------------------------------------------- wrappers
class DenseOperator(Operator):
    """A dense square matrix (BLAS ``gemv``)."""

    def __init__(self, A, backend):
        self.A = A
        self.shape = A.shape
        self.dtype = A.dtype
        self.backend = backend

    def _matvec(self, x, out):
        self.backend.xp.matmul(self.A, x, out=out)

    def diagonal(self):
        return self.A.diagonal().copy()

    def tocsr(self):
        return self.backend.xsp.sparse.csr_matrix(self.A)

    def _to_device(self, bk):
        return DenseOperator(bk.xp.asarray(self.A), bk)


class CSROperator(Operator):
    """A CSR matrix with fused product-and-dot kernels.

    On the ``numba`` engine the product runs in lrsolve's own kernels; when the
    matrix allows it losslessly, its values are stored in float32 (all of them
    exactly representable) and its column indices as int16 offsets from the
    diagonal (bandwidth below 32768), which halves the memory traffic of a
    bandwidth-bound product without changing a single bit of the result.

    On the ``cupy`` engine a banded real matrix (at most 64 diagonals, fewer
    bytes by diagonals than in CSR) is stored by diagonals, its values as
    one-byte codes into a table when at most 256 distinct values occur (the
    Laplacians of structured grids), and the product runs in lrsolve's fused
    kernels (``_kernels/_cupy_dia.py``); other matrices go through cuSPARSE.
    ``LRSOLVE_GPU_DIA=0`` in the environment turns the diagonal form off.
    """

    def __init__(self, A, backend, compress=True):
        self.backend = backend
        self.A = A
        self.shape = A.shape
        self.dtype = A.dtype
        self._packed = None
        self._cusparse = False
        self._dia = None
        if backend.engine == "numba":
            self._packed = _pack_csr(A, compress)
        elif backend.name == "cupy":
            if not A.has_canonical_format:  # cuSPARSE's SpMV wants it; never touch the caller's
                A = A.copy()
                A.sum_duplicates()
                self.A = A
            if compress and os.environ.get("LRSOLVE_GPU_DIA", "1") != "0":
                import cupy

                try:
                    self._dia = get_kernel("dia_pack", "cupy")(
                        A.data, A.indptr, A.indices, A.shape[0]
                    )
                except cupy.cuda.memory.OutOfMemoryError:  # the survey needs ~5 x nnz words
                    self._dia = None  # cuSPARSE needs no extra memory
            from cupyx import cusparse

            self._cusparse = bool(cusparse.check_availability("spmv"))

    def _to_device(self, bk):
        import cupyx.scipy.sparse as csp

        return CSROperator(csp.csr_matrix(self.A), bk)

    def _dia_ok(self, *vecs):
        return self._dia is not None and all(
            v.dtype == vecs[0].dtype and v.dtype.char in "fd" and v.flags.c_contiguous
            for v in vecs
        )

    def _matvec(self, x, out):
        if self._packed is not None:
            kind, arrs = self._packed
            get_kernel("csr_matvec" + kind, "numba")(*arrs, x, out)
        elif self._dia_ok(x, out):
            get_kernel("dia_matvec", "cupy")(self._dia, x, out)
        elif self._cusparse:
            get_kernel("spmv", "cupy")(self.A, x, out)
        else:
            out[...] = self.A @ x

    def matvec_dot(self, x, out):
        if self._packed is not None:
            kind, arrs = self._packed
            return get_kernel("csr_matvec_dot" + kind, "numba")(*arrs, x, out)
        if self._dia_ok(x, out):
            return get_kernel("dia_matvec_dot", "cupy")(self._dia, x, out)
        self._matvec(x, out)
        return self.backend.xp.vdot(x, out).real

    def residual(self, x, b, out):
        if self._packed is not None:
            kind, arrs = self._packed
            return get_kernel("csr_residual" + kind, "numba")(*arrs, x, b, out)
        if self._dia_ok(x, b, out):
            return get_kernel("dia_residual", "cupy")(self._dia, x, b, out)
        return super().residual(x, b, out)

    def diagonal(self):
        return self.A.diagonal()

    def tocsr(self):
        return self.A


def _unsigned(a):
    """Zero-copy unsigned view of a non-negative index array (no wrap-around tests in Numba)."""
    return a.view(np.dtype(f"uint{8 * a.dtype.itemsize}")) if a.dtype.kind == "i" else a


def _pack_csr(A, compress):
    """Return ``(kind, arrays)`` for the numba CSR kernels (see :class:`CSROperator`)."""
    data, indptr, indices = A.data, _unsigned(A.indptr), _unsigned(A.indices)
    if compress and data.dtype == np.float64 and A.nnz:
        d32 = np.empty(A.nnz, dtype=np.float32)
        off = np.empty(A.nnz, dtype=np.int16)
        if get_kernel("csr_pack", "numba")(data, indptr, indices, d32, off):
            return "_packed", (d32, indptr, off)
    return "", (data, indptr, indices)


class LinearOperatorWrapper(Operator):
    """A SciPy or cupyx ``LinearOperator`` (or anything with ``matvec`` and ``shape``)."""

    def __init__(self, A, backend, dtype):
        self.A = A
        self.shape = tuple(A.shape)
        self.dtype = dtype
        self.backend = backend

    def _matvec(self, x, out):
        y = self.A.matvec(x)
        out[...] = y.reshape(-1)


class CallableOperator(Operator):
    """A callable ``f(x) -> A @ x``; shape and dtype come from the right-hand side."""

    def __init__(self, f, n, backend, dtype, name="A"):
        self.f = f
        self.shape = (n, n)
        self.dtype = dtype
        self.backend = backend
        self.name = name

    def _matvec(self, x, out):
        y = self.f(x)
        if array_kind(y) not in (None, self.backend.name) or not hasattr(y, "shape"):
            raise TypeError(
                f"the callable {self.name} returned {type(y).__name__}; it must return an "
                f"array of the same kind as its input ({self.backend.name})"
            )
        if y.shape not in ((self.shape[0],), (self.shape[0], 1)):
            raise ValueError(
                f"the callable {self.name} returned shape {y.shape}; expected ({self.shape[0]},)"
            )
        out[...] = y.reshape(-1)


def _is_sparse(A):
    if array_kind(A) == "cupy":
        import cupyx.scipy.sparse as csp

        return csp.issparse(A)
    import scipy.sparse as sp

    return sp.issparse(A)


def _is_linear_operator(A):
    return (
        hasattr(A, "matvec")
        and hasattr(A, "shape")
        and not hasattr(A, "__array__")
        and not _is_sparse(A)
    )


def as_operator(A, bk: Backend | None = None, *, n=None, dtype=None, name="A", check=True):
    """Normalise ``A`` into an :class:`Operator` on backend ``bk``.

    Parameters
    ----------
    A : array, sparse matrix, LinearOperator, callable or Operator
        The matrix.
    bk : Backend, optional
        Target backend (default: chosen by ``A``'s type).
    n : int, optional
        Size, required when ``A`` is a plain callable.
    dtype : dtype, optional
        Computation dtype; ``A``'s values are cast to it when they differ.
    name : str
        Argument name used in error messages.
    check : bool
        Validate shape and finiteness of explicit matrices.

    Returns
    -------
    Operator
        A wrapper with fused ``matvec_dot`` / ``residual`` methods where the
        input allows them (CSR matrices, stencils).

    Examples
    --------
    >>> import scipy.sparse as sp, numpy as np, lrsolve
    >>> op = lrsolve.operators.as_operator(sp.eye(4, format="csr") * 2.0)
    >>> op.matvec(np.ones(4))
    array([2., 2., 2., 2.])
    """
    if bk is None:
        bk = get_backend(A)
    xp = bk.xp
    if isinstance(A, Operator):
        if A.backend.name == "numpy" and bk.name == "cupy" and bk.host_io:
            # a host operator under set_backend("cupy"): moved to the device once
            to_device = getattr(A, "_to_device", None)
            if to_device is not None:
                A = to_device(bk)
        if A.backend.name != bk.name:
            raise TypeError(
                f"{name} lives on {A.backend.name} but the other inputs on {bk.name}; "
                "build the operator on the same backend"
            )
        _check_square(A.shape, name)
        return A
    if _is_sparse(A):
        _check_square(A.shape, name)
        dt = solve_dtype(A.dtype, dtype)
        if bk.name == "cupy" and array_kind(A) == "numpy":
            if not bk.host_io:
                raise TypeError(f"{name} is a SciPy matrix but the other inputs are CuPy arrays")
            import cupyx.scipy.sparse as csp

            A = csp.csr_matrix(A.tocsr().astype(dt, copy=False))
        M = A.tocsr() if A.format != "csr" else A
        if M.dtype != dt:
            M = M.astype(dt)
        if check and M.nnz:
            if not bool(xp.isfinite(M.data).all()):
                raise ValueError(f"{name} contains NaN or Inf entries; fix or drop them")
        if bk.engine == "numba" and not M.has_sorted_indices:
            M = M.sorted_indices()
        return CSROperator(M, bk)
    if _is_linear_operator(A):
        _check_square(A.shape, name)
        if bk.name == "cupy" and array_kind(A) == "numpy":
            raise TypeError(
                f"{name} is a SciPy LinearOperator, which computes on the host; with the cupy "
                "backend pass a cupyx LinearOperator, a CuPy array or a cupyx sparse matrix"
            )
        dt = solve_dtype(getattr(A, "dtype", None), dtype)
        return LinearOperatorWrapper(A, bk, dt)
    if hasattr(A, "__array__") or hasattr(A, "__cuda_array_interface__") or isinstance(A, list):
        arr = bk.asarray(A)
        if arr.ndim != 2:
            raise ValueError(f"{name} must be 2-D (a square matrix), got shape {arr.shape}")
        _check_square(arr.shape, name)
        dt = solve_dtype(arr.dtype, dtype)
        arr = arr.astype(dt, copy=False)
        if check and not bool(xp.isfinite(arr).all()):
            raise ValueError(f"{name} contains NaN or Inf entries; fix or drop them")
        return DenseOperator(arr, bk)
    if callable(A):
        if n is None:
            raise ValueError(f"{name} is a callable: its size must come from b")
        return CallableOperator(A, int(n), bk, solve_dtype(dtype), name=name)
    raise TypeError(
        f"{name} must be an array, a sparse matrix, a LinearOperator, a callable or an "
        f"lrsolve operator, got {type(A).__name__}"
    )


def _check_square(shape, name):
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D (a square matrix), got shape {tuple(shape)}")
    if shape[0] != shape[1]:
        raise ValueError(f"{name} must be square, got shape {tuple(shape)}")


def aslinearoperator(A):
    """Return ``A`` (any input a solver accepts) as a SciPy or cupyx ``LinearOperator``.

    Parameters
    ----------
    A : array, sparse matrix, LinearOperator or lrsolve Operator
        The matrix.

    Returns
    -------
    LinearOperator

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> L = lrsolve.operators.aslinearoperator(np.eye(3))
    >>> L.matvec(np.ones(3))
    array([1., 1., 1.])
    """
    if isinstance(A, Operator):
        return A.aslinearoperator()
    return as_operator(A).aslinearoperator()
