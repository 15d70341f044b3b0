"""Matrix-free finite-difference Laplacian ``-div(k grad u)`` on 1-D, 2-D and 3-D grids."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _config
from .._backend import Backend, _make_backend, array_kind, get_backend
from .._kernels import get_kernel
from ._base import CSROperator, Operator

__all__ = ["PoissonOperator", "poisson"]

_BC_NAMES = ("dirichlet", "neumann", "periodic")
_BC_CODES = {name: code for code, name in enumerate(_BC_NAMES)}
_DIRICHLET, _NEUMANN, _PERIODIC = 0, 1, 2


# ----------------------------------------------------------------------------- validation
def _check_shape(shape):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(
            f"shape must be an int or a tuple of 1 to 3 ints (grid points per axis), got {shape!r}"
        ) from None
    if not 1 <= len(dims) <= 3:
        raise ValueError(
            f"shape must have 1, 2 or 3 entries (1-D, 2-D or 3-D grids), got {len(dims)}: "
            f"{dims!r}; flatten extra axes or use a sparse matrix for higher dimensions"
        )
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral):
            raise TypeError(f"shape entries must be ints, got {d!r} in {dims!r}")
        if d < 1:
            raise ValueError(f"shape entries must be >= 1 grid point, got {dims!r}")
        out.append(int(d))
    return tuple(out)


def _check_spacing(spacing, ndim):
    if isinstance(spacing, numbers.Real) and not isinstance(spacing, bool):
        hs = (spacing,) * ndim
    elif isinstance(spacing, (str, bytes)):
        raise TypeError(f"spacing must be a positive number or a tuple of them, got {spacing!r}")
    else:
        try:
            hs = tuple(spacing)
        except TypeError:
            raise TypeError(
                f"spacing must be a positive number or a tuple of {ndim} positive numbers, "
                f"got {spacing!r}"
            ) from None
        if len(hs) != ndim:
            raise ValueError(
                f"spacing must have one entry per axis ({ndim}), got {len(hs)}: {spacing!r}"
            )
    out = []
    for h in hs:
        if isinstance(h, bool) or not isinstance(h, numbers.Real):
            raise TypeError(f"spacing entries must be real numbers, got {h!r}")
        h = float(h)
        if not (math.isfinite(h) and h > 0):
            raise ValueError(f"spacing must be finite and > 0 on every axis, got {spacing!r}")
        out.append(h)
    return tuple(out)


def _check_bc(bc, ndim):
    names = (bc,) * ndim if isinstance(bc, str) else bc
    try:
        names = tuple(names)
    except TypeError:
        names = None
    if names is None or len(names) != ndim or not all(isinstance(b, str) for b in names):
        raise ValueError(
            f"bc must be one of {_BC_NAMES} or a tuple of {ndim} of them (one per axis), got {bc!r}"
        )
    names = tuple(b.lower() for b in names)
    for b in names:
        if b not in _BC_CODES:
            raise ValueError(f"bc must be one of {_BC_NAMES} (per axis), got {bc!r}")
    return names


def _check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(
            f"dtype must be float32 or float64, got {dt}: the operator is real and applies "
            "to complex vectors as it is"
        )
    return dt


def _resolve_backend(backend, coef):
    if backend is None:
        return get_backend(coef)
    if isinstance(backend, Backend):
        return backend
    if backend == "numpy":
        return _make_backend("numpy", _config.get_engine(), False)
    if backend == "cupy":
        return _make_backend("cupy", "cupy", False)
    raise ValueError(f"backend must be None, 'numpy' or 'cupy', got {backend!r}")


def _check_coef(coef, shape, bk):
    xp = bk.xp
    kind = array_kind(coef)
    if kind is None and not hasattr(coef, "__array__"):
        raise TypeError(
            f"coef must be an array of shape {shape} (one positive value per grid point), "
            f"got {type(coef).__name__}"
        )
    if kind == "cupy" and bk.name == "numpy":
        coef = coef.get()  # an explicit backend="numpy" was asked for
    k = xp.asarray(coef)
    if tuple(k.shape) != shape:
        raise ValueError(
            f"coef must have the grid shape {shape} (one value per grid point), got {k.shape}"
        )
    if k.dtype.kind not in "biuf":
        raise TypeError(
            f"coef must hold real numbers (dtype {k.dtype} given); pass positive real diffusion "
            "coefficients"
        )
    k = k.astype(np.float64, copy=True)  # never keep (or modify) the caller's array
    if not bool(xp.isfinite(k).all()):
        raise ValueError("coef contains NaN or Inf; every diffusion coefficient must be finite")
    if not bool((k > 0).all()):
        raise ValueError(
            "coef must be > 0 everywhere (the operator is positive definite only for "
            f"positive coefficients); its minimum is {float(k.min()):g}"
        )
    return k


# ----------------------------------------------------------------------------- faces
def _take(a, start, stop, axis):
    idx = [slice(None)] * a.ndim
    idx[axis] = slice(start, stop)
    return a[tuple(idx)]


def _harmonic(xp, a, b):
    """``2 a b / (a + b)`` without overflow for positive ``a`` and ``b``."""
    lo = xp.minimum(a, b)
    hi = xp.maximum(a, b)
    return lo * (2.0 / (1.0 + lo / hi))


def _faces(xp, k, weights, codes, dtype):
    """Per-axis face coefficients (``n_d + 1`` along axis ``d``), scaled by ``1/h_d**2``.

    Face ``m`` lies between node ``m - 1`` and node ``m``; faces ``0`` and ``n_d``
    are the boundary faces.
    """
    faces = []
    for d, (w, code) in enumerate(zip(weights, codes, strict=True)):
        n = k.shape[d]
        first = _take(k, 0, 1, d)
        last = _take(k, n - 1, n, d)
        inner = _harmonic(xp, _take(k, 0, n - 1, d), _take(k, 1, n, d))
        if code == _DIRICHLET:  # the coefficient is continued up to the boundary
            lo, hi = first, last
        elif code == _NEUMANN:  # no flux through the boundary
            lo = hi = xp.zeros_like(first)
        else:  # the face between node n-1 and node 0
            lo = hi = _harmonic(xp, last, first)
        f = xp.concatenate([lo, inner, hi], axis=d) * w
        faces.append(xp.ascontiguousarray(f.astype(dtype)))
    return tuple(faces)


# ----------------------------------------------------------------------------- operator
class PoissonOperator(Operator):
    """Matrix-free ``-div(k grad u)`` on a regular 1-D, 2-D or 3-D grid.

    Usually built with :func:`poisson`, which documents the discretisation.

    Parameters
    ----------
    shape : int or tuple of int
        Grid points per axis (1 to 3 axes).
    spacing : float or tuple of float, optional
        Grid spacing, for all axes or per axis.
    bc : {"dirichlet", "neumann", "periodic"} or tuple of them, optional
        Boundary condition, for all axes or per axis.
    coef : array_like, optional
        Positive diffusion coefficient per grid point.
    dtype : {numpy.float64, numpy.float32}, optional
        Precision of the matrix values.
    backend : {None, "numpy", "cupy"} or Backend, optional
        Where the operator lives (default: chosen like every lrsolve call).

    Attributes
    ----------
    shape : tuple of int
        ``(n, n)`` with ``n = prod(grid_shape)``.
    dtype : numpy.dtype
        ``float32`` or ``float64`` (the values of the matrix).
    backend : Backend
        Where the operator lives and which kernels apply it (the CPU engine is
        fixed when the operator is built).
    grid_shape : tuple of int
        Grid points per axis.
    spacing : tuple of float
        Grid spacing per axis.
    bc : str or tuple of str
        Boundary condition (a tuple when the axes differ).
    coef : ndarray or None
        Read-only float64 copy of the coefficients, on the operator's backend.
    positive_definite : bool
        True when some axis has a Dirichlet boundary: then ``A`` is symmetric
        positive definite; otherwise it is positive semidefinite with the
        constant vectors as null space.

    See Also
    --------
    poisson : The constructor, with the discretisation in detail.

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> A = lrsolve.operators.PoissonOperator((3, 3), bc="periodic")
    >>> A.positive_definite, A.grid_shape
    (False, (3, 3))
    >>> bool(np.all(A @ np.ones(9) == 0))
    True
    """

    def __init__(
        self, shape, spacing=1.0, bc="dirichlet", coef=None, dtype=np.float64, backend=None
    ):
        grid = _check_shape(shape)
        nd = len(grid)
        self.grid_shape = grid
        self.spacing = _check_spacing(spacing, nd)
        names = _check_bc(bc, nd)
        self._bc_names = names
        self._codes = tuple(_BC_CODES[b] for b in names)
        self.dtype = _check_dtype(dtype)
        self.backend = bk = _resolve_backend(backend, coef)
        n = math.prod(grid)
        self.shape = (n, n)
        xp = bk.xp
        # 1/h^2, rounded to the matrix dtype once so kernels and tocsr() agree
        with np.errstate(over="ignore", under="ignore"):
            self._weights = tuple(float(self.dtype.type(1.0 / (h * h))) for h in self.spacing)
        if not all(math.isfinite(w) and w > 0 for w in self._weights):
            raise ValueError(
                f"1/spacing**2 under- or overflows in {self.dtype} for spacing={self.spacing}; "
                "rescale the problem or use dtype=float64"
            )
        if coef is None:
            self._coef = None
            self._face_arrays = None
        else:
            k = _check_coef(coef, grid, bk)
            w64 = tuple(1.0 / (h * h) for h in self.spacing)
            faces = _faces(xp, k, w64, self._codes, self.dtype)
            for d, f in enumerate(faces):
                # every face that enters the operator (Neumann boundary faces are 0)
                lo = 1 if self._codes[d] == _NEUMANN else 0
                used = _take(f, lo, grid[d] + 1 - lo, d)
                if used.size and not bool(((used > 0) & xp.isfinite(used)).all()):
                    raise ValueError(
                        f"coef / spacing**2 gives face coefficients that under- or overflow in "
                        f"{self.dtype} on axis {d}; rescale coef or use dtype=float64"
                    )
            if bk.name == "numpy":
                k.flags.writeable = False
            self._coef = k
            self._face_arrays = faces
        self._kernel = get_kernel("poisson_stencil", bk.engine)

    def _to_device(self, bk):
        coef = None if self._coef is None else bk.xp.asarray(self._coef)
        return PoissonOperator(self.grid_shape, self.spacing, self._bc_names, coef=coef,
                               dtype=self.dtype, backend=bk)

    # -- properties ---------------------------------------------------------------
    @property
    def _lrsolve_backend(self):
        # built from host data under set_backend("cupy"): host vectors are fine
        return None if self.backend.host_io else self.backend.name

    @property
    def bc(self):
        """Boundary condition: one name, or a tuple of names when the axes differ."""
        names = self._bc_names
        return names[0] if len(set(names)) == 1 else names

    @property
    def coef(self):
        """Read-only float64 copy of the coefficients (``None`` for ``k = 1``)."""
        return self._coef

    @property
    def positive_definite(self):
        """True when some axis is Dirichlet (otherwise the constants are a null space)."""
        return _DIRICHLET in self._codes

    # -- kernels ------------------------------------------------------------------
    def _grid(self, v, name, dtype):
        if v.size != self.shape[0]:
            raise ValueError(
                f"{name} has {v.size} entries but the operator acts on {self.shape[0]} "
                f"(grid {self.grid_shape})"
            )
        if v.dtype != dtype or not v.flags.c_contiguous:
            # one compute dtype per call keeps the number of compiled kernel variants small
            v = self.xp.ascontiguousarray(v, dtype=dtype)
        return v.reshape(self.grid_shape)

    def _run(self, x, b, out, mode):
        if out.size != self.shape[0]:
            raise ValueError(f"out has {out.size} entries, expected {self.shape[0]}")
        dt = out.dtype
        if dt.kind not in "fc" or (dt.kind == "f" and x.dtype.kind == "c"):
            raise TypeError(
                f"out has dtype {dt}, which cannot hold A @ x for x of dtype {x.dtype}; "
                f"use {np.result_type(self.dtype, x.dtype)}"
            )
        xg = self._grid(x, "x", dt)
        bg = None if b is None else self._grid(b, "b", dt)
        args = (mode, self._weights, self._codes, self._face_arrays)
        if out.flags.c_contiguous and out.dtype == dt:
            return self._kernel(xg, bg, out.reshape(self.grid_shape), *args)
        tmp = self.xp.empty(self.grid_shape, dtype=dt)
        s = self._kernel(xg, bg, tmp, *args)
        out[...] = tmp.reshape(out.shape)
        return s

    def _matvec(self, x, out):
        self._run(x, None, out, 0)

    def matvec(self, x, out=None):
        """Return ``A @ x`` (written into ``out`` when given).

        Parameters
        ----------
        x : ndarray
            Vector of length ``n`` (real or complex) on the operator's backend.
        out : ndarray, optional
            Output vector of length ``n``.

        Returns
        -------
        ndarray
            ``A @ x``, of dtype ``result_type(A.dtype, x.dtype)``.

        Examples
        --------
        >>> import numpy as np, lrsolve
        >>> A = lrsolve.operators.poisson(4)
        >>> A.matvec(np.ones(4))
        array([1., 0., 0., 1.])
        """
        host = self.backend.host_io and array_kind(x) == "numpy"
        if host:
            x = self.backend.asarray(x)
            out = None if out is None else self.backend.asarray(out)
        y = super().matvec(x, out)
        return self.backend.to_output(y) if host else y

    def matvec_dot(self, x, out):
        """``out = A x``; return ``Re(x^H A x)`` (one sweep).

        Parameters
        ----------
        x, out : ndarray
            Vectors of length ``n``; ``out`` is overwritten.

        Returns
        -------
        float or 0-d array
            A float from the ``numba`` engine; a 0-d array otherwise (on the
            device for CuPy: no synchronisation).

        Examples
        --------
        >>> import numpy as np, lrsolve
        >>> A = lrsolve.operators.poisson(4)
        >>> out = np.empty(4)
        >>> float(A.matvec_dot(np.ones(4), out)), out
        (2.0, array([1., 0., 0., 1.]))
        """
        return self._run(x, None, out, 1)

    def residual(self, x, b, out):
        """``out = b - A x``; return ``||out||^2`` (one sweep).

        Parameters
        ----------
        x, b, out : ndarray
            Vectors of length ``n``; ``out`` is overwritten.

        Returns
        -------
        float or 0-d array
            ``||b - A x||^2`` (see :meth:`matvec_dot` for the type).

        Examples
        --------
        >>> import numpy as np, lrsolve
        >>> A = lrsolve.operators.poisson(4)
        >>> out = np.empty(4)
        >>> float(A.residual(np.ones(4), np.ones(4), out)), out
        (2.0, array([0., 1., 1., 0.]))
        """
        return self._run(x, b, out, 2)

    # -- explicit forms ------------------------------------------------------------
    def _full_faces(self):
        """Face arrays for every axis (built from the weights when the coefficient is constant)."""
        if self._face_arrays is not None:
            return self._face_arrays
        xp = self.xp
        faces = []
        for d, (n, w, code) in enumerate(
            zip(self.grid_shape, self._weights, self._codes, strict=True)
        ):
            f = xp.full(n + 1, w, dtype=self.dtype)
            if code == _NEUMANN:
                f[0] = 0
                f[n] = 0
            shape = list(self.grid_shape)
            shape[d] = n + 1
            view = [1] * len(shape)
            view[d] = n + 1
            faces.append(xp.broadcast_to(f.reshape(view), tuple(shape)))
        return tuple(faces)

    def diagonal(self):
        """Return the diagonal of ``A``.

        Returns
        -------
        ndarray
            Length ``n``, dtype :attr:`dtype`, on the operator's backend.

        Examples
        --------
        >>> import lrsolve
        >>> lrsolve.operators.poisson((2, 3), bc="neumann").diagonal()
        array([2., 3., 2., 2., 3., 2.])
        """
        xp = self.xp
        diag = xp.zeros(self.grid_shape, dtype=self.dtype)
        for d, (f, code) in enumerate(zip(self._full_faces(), self._codes, strict=True)):
            n = self.grid_shape[d]
            if code == _PERIODIC and n == 1:
                continue  # the node is its own neighbour: that axis contributes nothing
            diag += _take(f, 0, n, d)
            diag += _take(f, 1, n + 1, d)
        return diag.reshape(-1)

    def tocsr(self):
        """Return ``A`` as a SciPy (or cupyx) CSR matrix: the same matrix the kernels apply.

        Assembled without Python loops over rows, from the same face
        coefficients that the kernels use.

        Returns
        -------
        scipy.sparse.csr_matrix or cupyx.scipy.sparse.csr_matrix
            Canonical format (sorted indices, no duplicates), dtype :attr:`dtype`.

        Examples
        --------
        >>> import lrsolve
        >>> lrsolve.operators.poisson(3, spacing=0.5).tocsr().toarray()
        array([[ 8., -4.,  0.],
               [-4.,  8., -4.],
               [ 0., -4.,  8.]])
        """
        xp = self.xp
        grid = self.grid_shape
        n = self.shape[0]
        itype = xp.int32 if (self.backend.name == "cupy" or n < 2**31 - 1) else xp.int64
        idx = xp.arange(n, dtype=itype).reshape(grid)
        rows = [idx.reshape(-1)]
        cols = [idx.reshape(-1)]
        vals = [self.diagonal()]
        for d, (f, code) in enumerate(zip(self._full_faces(), self._codes, strict=True)):
            m = grid[d]
            # interior faces 1..m-1 join node j-1 (p) and node j (q) along axis d
            p = _take(idx, 0, m - 1, d).reshape(-1)
            q = _take(idx, 1, m, d).reshape(-1)
            v = -_take(f, 1, m, d).reshape(-1)
            if code == _PERIODIC and m > 1:  # face 0 (== face m) joins node m-1 and node 0
                p = xp.concatenate([p, _take(idx, m - 1, m, d).reshape(-1)])
                q = xp.concatenate([q, _take(idx, 0, 1, d).reshape(-1)])
                v = xp.concatenate([v, -_take(f, 0, 1, d).reshape(-1)])
            rows += [p, q]
            cols += [q, p]
            vals += [v, v]
        sparse = self.backend.xsp.sparse
        coo = sparse.coo_matrix(
            (xp.concatenate(vals).astype(self.dtype), (xp.concatenate(rows), xp.concatenate(cols))),
            shape=self.shape,
        )
        A = coo.tocsr()
        A.sum_duplicates()
        A.sort_indices()
        return A

    def __repr__(self):
        kind = "constant" if self._coef is None else "variable"
        return (
            f"<PoissonOperator grid={self.grid_shape} bc={self.bc!r} spacing={self.spacing} "
            f"{kind} coefficient, {self.dtype} on {self.backend.name}/{self.backend.engine}>"
        )


def poisson(
    shape, spacing=1.0, bc="dirichlet", coef=None, dtype=np.float64, backend=None, mask=None
):
    r"""Matrix-free finite-difference operator of ``-div(k grad u)`` (the negative Laplacian).

    The standard 3-point (1-D), 5-point (2-D) and 7-point (3-D) stencil on a
    regular grid of ``shape`` points, applied without storing a matrix.  The
    ``n = prod(shape)`` unknowns are numbered in C order (last axis fastest),
    like ``u.reshape(-1)`` of a grid array ``u``.

    Parameters
    ----------
    shape : int or tuple of int
        Grid points (unknowns) per axis; 1 to 3 axes, each >= 1.
    spacing : float or tuple of float, optional
        Grid spacing ``h`` (one value, or one per axis), > 0.  Default 1.
    bc : {"dirichlet", "neumann", "periodic"} or tuple of them, optional
        Boundary condition, for all axes or one per axis:

        * ``"dirichlet"`` (default): homogeneous, ``u = 0`` one spacing
          beyond the first and last unknowns (the unknowns are the interior
          nodes of a grid with ``n_d + 2`` nodes).  Symmetric positive definite.
        * ``"neumann"``: zero flux, cell-centred (finite-volume) form: the
          boundary face of the first and last cell carries no flux, so the
          1-D matrix is ``tridiag(-1, 2, -1) / h**2`` with corner entries
          ``1 / h**2``.  Singular, positive semidefinite.
        * ``"periodic"``: the last unknown neighbours the first.  Singular,
          positive semidefinite.

        When no axis is Dirichlet the null space is the constant vectors:
        CG then needs a compatible right-hand side (``sum(b) == 0``) and
        returns one of the solutions.
    coef : array_like, optional
        Positive, finite diffusion coefficients ``k``, one per unknown
        (shape ``shape``), giving ``-div(k grad u)``.  The coefficient of the
        face between two neighbours is the harmonic mean
        ``2 k_a k_b / (k_a + k_b)`` (exact for a layered medium); at a
        Dirichlet boundary face it is the value of the adjacent unknown;
        across the periodic seam the harmonic mean of the two ends.  The face
        coefficients are computed once, here.  ``coef`` is copied, never
        modified.  Default: ``k = 1``.
    dtype : {numpy.float64, numpy.float32}, optional
        Precision of the matrix values.  The operator applies to real and
        complex vectors of either precision.
    backend : {None, "numpy", "cupy"}, optional
        Where the operator lives.  ``None`` chooses like every lrsolve
        function: from ``coef``'s array type, else from
        :func:`lrsolve.set_backend`.  An explicit choice copies ``coef`` there.
    mask : array_like of bool, optional
        Fluid/solid cell mask of the grid's shape (``True`` = fluid), for the
        pressure-projection systems of fluid simulation.  The solid cells are
        removed from the system: the unknowns are the fluid cells only, in C
        order (``u[mask]`` of a grid array ``u``), so ``n = mask.sum()``.
        Faces between a fluid and a solid cell carry no flux (homogeneous
        Neumann condition at solid walls); the faces of the domain boundary
        keep ``bc``.  The masked operator is assembled once as a CSR matrix
        (see Returns).  A fluid region that touches no Dirichlet face (e.g.
        ``bc="neumann"``, or a pocket enclosed by solid cells) makes the
        matrix singular with the constants of that region as null space:
        the right-hand side must then sum to zero over the region (CG and
        :func:`lrsolve.deep.dcdm` return one of the solutions);
        ``positive_definite`` tells.  Default: no mask.

    Returns
    -------
    PoissonOperator or MaskedPoissonOperator
        An :class:`lrsolve.operators.Operator` usable as ``A`` in every solver,
        with fused ``matvec_dot`` / ``residual`` kernels, ``diagonal()`` and
        ``tocsr()`` (the identical matrix, for preconditioners such as
        ``"ic0"`` or ``"amg"`` that need one).  With ``mask`` it is a
        CSR-backed operator with the attributes ``grid_shape``, ``mask`` (a
        read-only host copy), ``spacing``, ``bc``, ``positive_definite`` and
        the methods ``scatter(v)`` (fluid vector to grid, zeros in solid cells)
        and ``gather(u)`` (grid to fluid vector).

    See Also
    --------
    PoissonOperator : The operator class (attributes and methods).
    lrsolve.cg : Conjugate gradients, which uses the fused kernels.

    Notes
    -----
    Row ``i`` of the operator is, in flux form, summed over the axes ``d``,

    .. math::

        (A u)_i = \sum_d \frac{1}{h_d^2}\left[k_{i-\frac12}(u_i - u_{i-1})
                  + k_{i+\frac12}(u_i - u_{i+1})\right],

    with ``k = 1`` for the constant-coefficient operator.  With Dirichlet
    conditions the eigenvalues of the constant-coefficient operator are
    ``sum_d (4 / h_d**2) sin(pi j_d / (2 (n_d + 1)))**2``, ``j_d = 1..n_d``
    (Neumann: ``sin(pi j_d / (2 n_d))**2``, ``j_d = 0..n_d-1``; periodic:
    ``sin(pi j_d / n_d)**2``).

    On the CPU the ``numba`` engine runs one fused, multi-threaded sweep per
    product (``out = A x`` with ``x^H A x`` or with ``||b - A x||^2``); the
    ``numpy`` engine runs plain array code; on the GPU a CUDA kernel does the
    product and the reduction in one pass.

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> A = lrsolve.operators.poisson((4, 5), spacing=0.5)
    >>> A.shape
    (20, 20)
    >>> x = np.random.default_rng(0).standard_normal(20)
    >>> bool(np.allclose(A @ x, A.tocsr() @ x))
    True
    >>> k = np.linspace(1.0, 2.0, 20).reshape(4, 5)
    >>> res = lrsolve.cg(lrsolve.operators.poisson((4, 5), coef=k), np.ones(20), rtol=1e-10)
    >>> res.converged
    True

    A square obstacle in a 2-D box; the unknowns are the fluid cells:

    >>> mask = np.ones((6, 6), dtype=bool)
    >>> mask[2:4, 2:4] = False
    >>> Am = lrsolve.operators.poisson((6, 6), mask=mask)
    >>> Am.shape, Am.positive_definite
    ((32, 32), True)
    >>> bool(lrsolve.cg(Am, np.ones(32), rtol=1e-10).converged)
    True
    """
    if mask is not None:
        return MaskedPoissonOperator(
            shape, spacing=spacing, bc=bc, coef=coef, dtype=dtype, backend=backend, mask=mask
        )
    return PoissonOperator(shape, spacing=spacing, bc=bc, coef=coef, dtype=dtype, backend=backend)


# ----------------------------------------------------------------------------- masked grids
def _check_mask(mask, grid):
    kind = array_kind(mask)
    if kind == "cupy":
        mask = mask.get()
    elif kind is None and not hasattr(mask, "__array__") and not isinstance(mask, (list, tuple)):
        raise TypeError(
            f"mask must be a boolean array of the grid shape {grid} (True = fluid), "
            f"got {type(mask).__name__}"
        )
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(
            f"mask must be a boolean array (True = fluid cell, False = solid), got dtype "
            f"{m.dtype}; pass mask.astype(bool) if it holds 0/1"
        )
    if m.shape != grid:
        raise ValueError(f"mask must have the grid shape {grid}, got {m.shape}")
    if not m.any():
        raise ValueError("mask has no fluid cell (no True entry): the system would be empty")
    m = m.copy()
    m.flags.writeable = False
    return m


def _masked_csr(grid, mask, faces, codes, dtype):
    """SciPy CSR of the masked operator on the host: faces touching a solid cell are removed."""
    import scipy.sparse as sp

    n_full = math.prod(grid)
    idx = np.arange(n_full, dtype=np.int64).reshape(grid)
    diag = np.zeros(grid, dtype=np.float64)
    rows, cols, vals = [], [], []
    for d, (f, code) in enumerate(zip(faces, codes, strict=True)):
        m = grid[d]
        f = np.array(np.broadcast_to(f, f.shape), dtype=np.float64)  # writable copy
        # faces 1..m-1 between node j-1 and node j: only fluid-fluid faces carry flux
        both = _take(mask, 0, m - 1, d) & _take(mask, 1, m, d)
        inner = _take(f, 1, m, d) * both
        # boundary faces (index 0 and m) touch one cell: keep them only at fluid cells
        lo = _take(f, 0, 1, d) * _take(mask, 0, 1, d)
        hi = _take(f, m, m + 1, d) * _take(mask, m - 1, m, d)
        if code == _PERIODIC:
            if m == 1:
                lo = hi = np.zeros_like(lo)
            else:  # the seam joins node m-1 and node 0
                seam = lo * _take(mask, m - 1, m, d)
                lo = hi = seam
                p = _take(idx, m - 1, m, d).reshape(-1)
                q = _take(idx, 0, 1, d).reshape(-1)
                v = -seam.reshape(-1)
                rows += [p, q]
                cols += [q, p]
                vals += [v, v]
        full = np.concatenate([lo, inner, hi], axis=d)
        diag += _take(full, 0, m, d) + _take(full, 1, m + 1, d)
        p = _take(idx, 0, m - 1, d).reshape(-1)
        q = _take(idx, 1, m, d).reshape(-1)
        v = -inner.reshape(-1)
        rows += [p, q]
        cols += [q, p]
        vals += [v, v]
    rows.append(idx.reshape(-1))
    cols.append(idx.reshape(-1))
    vals.append(diag.reshape(-1))
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    v = np.concatenate(vals)
    keep = v != 0
    A = sp.coo_matrix((v[keep], (r[keep], c[keep])), shape=(n_full, n_full)).tocsr()
    fluid = np.flatnonzero(mask.reshape(-1))
    A = A[fluid][:, fluid].tocsr()
    A.sum_duplicates()
    A.sort_indices()
    itype = np.int32 if A.nnz < 2**31 - 1 else np.int64
    A.indices = A.indices.astype(itype)
    A.indptr = A.indptr.astype(itype)
    return A.astype(dtype)


def _is_definite(A):
    """True when every connected block of the (host) matrix has a positive row sum."""
    from scipy.sparse.csgraph import connected_components

    ncomp, labels = connected_components(A, directed=False)
    rowsum = np.asarray(A.sum(axis=1)).ravel()
    scale = float(abs(A.diagonal()).max()) or 1.0
    anchored = np.zeros(ncomp, dtype=bool)
    anchored[labels[rowsum > 1e-6 * scale]] = True
    return bool(anchored.all())


class MaskedPoissonOperator(CSROperator):
    """``-div(k grad u)`` on the fluid cells of a masked grid, as a CSR-backed operator.

    Built by :func:`poisson` with ``mask=``; see there for the discretisation.

    Parameters
    ----------
    shape : int or tuple of int
        Grid points per axis (1 to 3 axes).
    spacing, bc, coef, dtype, backend
        As in :func:`poisson`.
    mask : array_like of bool
        ``True`` at fluid cells, of the grid's shape.

    Attributes
    ----------
    grid_shape : tuple of int
        Grid points per axis (fluid and solid).
    mask : numpy.ndarray
        Read-only boolean host copy of the mask.
    positive_definite : bool
        True when every connected fluid region touches a Dirichlet face.

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> mask = np.array([[True, True, False]])
    >>> A = lrsolve.operators.poisson((1, 3), mask=mask)
    >>> A.tocsr().toarray()
    array([[ 4., -1.],
           [-1.,  3.]])
    """

    def __init__(
        self, shape, spacing=1.0, bc="dirichlet", coef=None, dtype=np.float64, backend=None,
        mask=None,
    ):
        grid = _check_shape(shape)
        nd = len(grid)
        self.grid_shape = grid
        self.spacing = _check_spacing(spacing, nd)
        names = _check_bc(bc, nd)
        self._bc_names = names
        codes = tuple(_BC_CODES[b] for b in names)
        dt = _check_dtype(dtype)
        bk = _resolve_backend(backend, coef)
        self.mask = _check_mask(mask, grid)
        w = tuple(1.0 / (h * h) for h in self.spacing)
        host = _make_backend("numpy", "numpy", False)
        if coef is None:
            faces = []
            for d, (n, wd, code) in enumerate(zip(grid, w, codes, strict=True)):
                f = np.full(n + 1, wd)
                if code == _NEUMANN:
                    f[0] = f[n] = 0
                view = [1] * nd
                view[d] = n + 1
                shp = list(grid)
                shp[d] = n + 1
                faces.append(np.broadcast_to(f.reshape(view), tuple(shp)))
        else:
            k = _check_coef(coef if array_kind(coef) != "cupy" else coef.get(), grid, host)
            faces = _faces(np, k, w, codes, np.float64)
        A = _masked_csr(grid, self.mask, faces, codes, dt)
        self.positive_definite = _is_definite(A)
        self._fluid = np.flatnonzero(self.mask.reshape(-1))
        if bk.name == "cupy":
            import cupyx.scipy.sparse as csp

            A = csp.csr_matrix(A)
        super().__init__(A, bk)

    @property
    def _lrsolve_backend(self):
        return None if self.backend.host_io else self.backend.name

    @property
    def bc(self):
        """Boundary condition of the domain walls (one name, or a tuple per axis)."""
        names = self._bc_names
        return names[0] if len(set(names)) == 1 else names

    def scatter(self, v):
        """Return the grid array of a fluid vector (zeros in the solid cells).

        Parameters
        ----------
        v : ndarray
            Vector of length ``n`` (one value per fluid cell).

        Returns
        -------
        ndarray
            Array of shape ``grid_shape`` on ``v``'s backend.

        Examples
        --------
        >>> import numpy as np, lrsolve
        >>> A = lrsolve.operators.poisson((1, 3), mask=np.array([[True, False, True]]))
        >>> A.scatter(np.array([1.0, 2.0]))
        array([[1., 0., 2.]])
        """
        from .._backend import get_backend as _gb

        xp = _gb(v).xp
        u = xp.zeros(self.grid_shape, dtype=v.dtype)
        u[xp.asarray(self.mask)] = v
        return u

    def gather(self, u):
        """Return the fluid vector of a grid array (the values at the fluid cells).

        Parameters
        ----------
        u : ndarray
            Array of shape ``grid_shape``.

        Returns
        -------
        ndarray
            Vector of length ``n``.

        Examples
        --------
        >>> import numpy as np, lrsolve
        >>> A = lrsolve.operators.poisson((1, 3), mask=np.array([[True, False, True]]))
        >>> A.gather(np.array([[1.0, 5.0, 2.0]]))
        array([1., 2.])
        """
        from .._backend import get_backend as _gb

        xp = _gb(u).xp
        return u[xp.asarray(self.mask)]

    def __repr__(self):
        return (
            f"<MaskedPoissonOperator grid={self.grid_shape} fluid cells={self.shape[0]} "
            f"bc={self.bc!r} {self.dtype} on {self.backend.name}>"
        )
