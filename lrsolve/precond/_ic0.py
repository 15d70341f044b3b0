"""Incomplete Cholesky factorisation with zero fill-in, IC(0)."""

from __future__ import annotations

import math
import numbers
import time

import numpy as np

from .._kernels import get_kernel
from ._base import Preconditioner, register
from ._ssor import _as_op, _check_positive_diagonal, _explicit_csr, _sync_time

__all__ = ["ic0", "IC0"]

#: First relative diagonal shift tried by ``shift="auto"``; it doubles after each breakdown.
AUTO_SHIFT_START = 1e-3
#: ``shift="auto"`` gives up above this shift.
AUTO_SHIFT_MAX = 1e3


def _factor(C, shift, relax, host_engine):
    """IC(0) of the lower triangle ``C`` stored as CSC (float64/complex128, diagonal first).

    Returns ``(vals, failed_column, pivot)``; ``failed_column`` is -1 on success.
    """
    vals = C.data.copy()
    diag_pos = C.indptr[:-1]
    if shift:
        vals[diag_pos] *= 1.0 + shift
    if host_engine == "numba":
        k = int(get_kernel("ic0_factor", "numba")(C.indptr, C.indices, vals, float(relax)))
    else:
        k = _factor_python(C.indptr, C.indices, vals, float(relax))
    pivot = float(vals[diag_pos[k]].real) if k >= 0 else 0.0
    return vals, k, pivot


def _factor_python(colptr, rowidx, vals, relax):
    """Pure-Python IC(0), the ``numpy`` engine's fallback (slow; same arithmetic as the kernel)."""
    n = len(colptr) - 1
    for k in range(n):
        p0, pe = colptr[k], colptr[k + 1]
        if p0 >= pe or rowidx[p0] != k or not vals[p0].real > 0:
            return k
        lkk = math.sqrt(vals[p0].real)
        vals[p0] = lkk
        vals[p0 + 1 : pe] /= lkk
        for p in range(p0 + 1, pe):
            j = rowidx[p]
            qs, qe = colptr[j], colptr[j + 1]
            col_j = rowidx[qs:qe]
            for q in range(p, pe):
                i = rowidx[q]
                upd = vals[q] * np.conj(vals[p])
                pos = qs + int(np.searchsorted(col_j, i))
                if pos < qe and rowidx[pos] == i:
                    vals[pos] -= upd
                elif relax:
                    vals[colptr[i]] -= relax * upd.real
                    vals[colptr[j]] -= relax * upd.real
    return -1


class IC0(Preconditioner):
    """IC(0) preconditioner ``M^{-1} = (L L^H)^{-1}``; see :func:`ic0`.

    Attributes
    ----------
    L : scipy.sparse.csr_matrix
        The incomplete Cholesky factor (lower triangular, on the host, in
        float64 or complex128), with ``L L^H ~ A + shift * diag(A)``.
    shift : float
        The relative diagonal shift that was used (0 unless asked for, or found by
        ``shift="auto"``).
    relax : float
        The fraction of dropped fill-in moved to the diagonal (0: plain IC(0)).
    setup_time : float
        Seconds spent building the object.
    """

    name = "ic0"

    def __init__(self, op, shift=0.0, relax=0.0):
        t0 = time.perf_counter()
        if (
            isinstance(relax, bool)
            or not isinstance(relax, numbers.Real)
            or not (0.0 <= relax <= 1.0)
        ):
            raise ValueError(f"relax must be a number with 0 <= relax <= 1, got {relax!r}")
        auto = isinstance(shift, str) and shift == "auto"
        if not auto:
            if isinstance(shift, bool) or not isinstance(shift, numbers.Real):
                raise TypeError(f"shift must be a number >= 0 or 'auto', got {shift!r}")
            if not (math.isfinite(shift) and shift >= 0):
                raise ValueError(f"shift must be a finite number >= 0 or 'auto', got {shift!r}")
        import scipy.sparse as sp

        A = _explicit_csr(op, "ic0")
        bk = op.backend
        self.shape = op.shape
        self.dtype = op.dtype
        self.backend = bk
        Ah = A.get() if bk.name == "cupy" else A  # the factorisation runs on the host
        _check_positive_diagonal(Ah.diagonal(), "ic0")
        _check_hermitian(Ah)
        C = _lower_by_columns(Ah)  # a new array set: A is untouched
        host_engine = "numba" if bk.engine != "numpy" and _numba_ok() else "numpy"

        s = 0.0 if auto else float(shift)
        while True:
            vals, row, pivot = _factor(C, s, float(relax), host_engine)
            if row < 0:
                break
            if not auto:
                raise ValueError(
                    f"IC(0) broke down at row {row}: pivot {pivot:.3g} <= 0 (A is not positive "
                    "definite, or its IC(0) factor does not exist). Pass shift='auto' to retry "
                    "with a growing diagonal shift, or a shift such as shift=1e-2 (factors "
                    "A + shift*diag(A)); or use precond='jacobi' / 'ssor'"
                )
            s = AUTO_SHIFT_START if s == 0.0 else 2.0 * s
            if s > AUTO_SHIFT_MAX:
                raise ValueError(
                    f"IC(0) broke down at row {row} even with the diagonal shift "
                    f"{s / 2:.3g}*diag(A); A is probably not positive definite"
                )
        self.shift = s
        self.relax = float(relax)
        n = C.shape[0]
        L = sp.csc_matrix((vals, C.indices, C.indptr), shape=(n, n)).tocsr()
        L.sort_indices()  # by rows: the diagonal is the last entry of each row
        self._L = L
        diag_pos = L.indptr[1:] - 1
        dinv = 1.0 / L.data[diag_pos].real
        if bk.name == "numpy" and bk.engine == "numba":
            # strictly lower part in the computation dtype with 32-bit indices (less
            # memory traffic per sweep): a row-oriented forward sweep and a
            # column-oriented backward sweep over the same arrays
            keep = np.ones(L.nnz, dtype=bool)
            keep[diag_pos] = False
            # unsigned indices: Numba then skips its negative-index wrap-around tests
            idx_t = np.uint32 if L.nnz < 2**31 else np.uint64
            self._arrays = (
                L.data[keep].astype(op.dtype),
                (L.indptr - np.arange(n + 1)).astype(idx_t),
                L.indices[keep].astype(idx_t),
                dinv.astype(np.finfo(op.dtype).dtype),
            )
            self._kernel = get_kernel("ic0_apply_dot", "numba")
        else:
            # NumPy engine or GPU: L and L^H as CSR, two triangular solves per application.
            # On the GPU this is the one host->device transfer of the setup; cupyx's
            # spsolve_triangular repeats cuSPARSE's analysis on every call (slow): prefer
            # precond="chebyshev" or "amg" there.  L^H by rows = conj(L by columns).
            Uc = sp.csr_matrix((vals.conj().astype(op.dtype), C.indices, C.indptr), shape=(n, n))
            Lc = L.astype(op.dtype)
            if bk.name == "cupy":
                import cupyx.scipy.sparse as csp

                Lc, Uc = csp.csr_matrix(Lc), csp.csr_matrix(Uc)
            self._lower, self._upper = Lc, Uc
            self._kernel = None
        self.setup_time = _sync_time(bk, t0)

    @property
    def L(self):
        """The incomplete Cholesky factor as a SciPy CSR matrix (host, float64/complex128)."""
        return self._L

    def _apply(self, r, out):
        if self._kernel is not None:
            self._kernel(*self._arrays, r, out)
            return
        solve = self.backend.xsp.sparse.linalg.spsolve_triangular
        y = solve(self._lower, r, lower=True).astype(self.dtype, copy=False)
        out[...] = solve(self._upper, y, lower=False)

    def apply_dot(self, r, out):
        if self._kernel is not None:
            return self._kernel(*self._arrays, r, out)
        return super().apply_dot(r, out)

    def _unapply(self, u, out):
        """``out = L (L^H u)`` (``M^{-1} u``, two sparse products)."""
        if self._kernel is None:  # L and L^H as CSR on the backend, in the solve dtype
            out[...] = self._lower @ (self._upper @ u)
            return
        if getattr(self, "_LH", None) is None:
            self._LH = self._L.conj().T.tocsr()
        out[...] = self._L @ (self._LH @ u)


def _lower_by_columns(A):
    """``tril(A)`` of the Hermitian canonical CSR ``A``, stored by columns, in double precision.

    Column ``j`` of ``tril(A)`` is the conjugate of row ``j`` of ``triu(A)``, so the CSC
    arrays are the upper part of each CSR row (diagonal first), conjugated: no transpose.
    """
    import scipy.sparse as sp

    n = A.shape[0]
    work = np.complex128 if A.dtype.kind == "c" else np.float64
    lengths = np.diff(A.indptr)
    rows = np.repeat(np.arange(n, dtype=A.indices.dtype), lengths)
    keep = A.indices >= rows
    colptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=n), out=colptr[1:])
    vals = A.data[keep].astype(work)
    if vals.dtype.kind == "c":
        np.conjugate(vals, out=vals)
    C = sp.csc_matrix((vals, A.indices[keep].astype(np.int64), colptr), shape=(n, n))
    C.has_sorted_indices = True  # the rows of a canonical CSR are sorted
    return C


def _numba_ok():
    from .._backend import numba_available

    return numba_available()


def _check_hermitian(A):
    """Raise ``ValueError`` when the host CSR matrix ``A`` is not Hermitian (to rounding)."""
    if A.nnz == 0:
        return
    D = A - A.conj().T
    if D.nnz == 0:
        return
    err = float(abs(D.data).max())
    tol = 100 * np.finfo(A.dtype).eps * float(abs(A.data).max())
    if err > tol:
        raise ValueError(
            "precond='ic0' needs a Hermitian (symmetric) matrix, but max|A - A^H| = "
            f"{err:.3g}; for a non-symmetric A use another preconditioner"
        )


@register("ic0")
def ic0(A, shift=0.0, relax=0.0):
    """Build an incomplete Cholesky preconditioner with zero fill-in, IC(0).

    Computes a lower-triangular ``L`` with the sparsity pattern of the lower
    triangle of ``A`` such that ``(L L^H)_{ij} = A_{ij}`` on that pattern, and
    applies ``M^{-1} r = L^{-H} L^{-1} r``.

    Parameters
    ----------
    A : sparse matrix, dense array or lrsolve operator
        Hermitian positive definite matrix, real or complex (SciPy or cupyx
        sparse, NumPy or CuPy dense).  Its entries are read, so matrix-free
        operators are rejected with ``TypeError``.
    shift : float or "auto", optional
        Factor ``A + shift * diag(A)`` instead of ``A`` (Manteuffel's diagonal
        shift; default 0: plain IC(0)).  IC(0) of a positive definite matrix
        can break down (a pivot ``<= 0``; e.g. on bcsstk03): with a number, a
        breakdown raises ``ValueError`` naming the row.  With ``"auto"``, ``A``
        itself is factored first and, only on breakdown, the factorisation is
        retried with shifts ``1e-3, 2e-3, 4e-3, ...`` up to ``1e3`` until it
        succeeds; the shift used is stored as ``.shift`` (0 when none was
        needed).
    relax : float, optional
        Relaxed incomplete Cholesky: this fraction (``0 <= relax <= 1``) of
        every fill-in entry that IC(0) drops is added to the diagonal entries
        of the two rows it couples.  ``0`` (default) is plain IC(0);
        ``1`` is modified IC(0) (MIC, Gustafsson), whose ``L L^H`` keeps the
        row sums of ``A``: on Poisson-like M-matrices it needs far fewer
        iterations (on 2D Poisson ``512^2`` about 8x fewer than plain CG,
        against about 3x for IC(0)), but it is more prone to breakdown on
        other matrices.  With ``relax > 0`` the identity
        ``(L L^H)_{ij} = A_{ij}`` holds off the diagonal only.

    Returns
    -------
    IC0
        The preconditioner; its factor is ``.L`` (SciPy CSR, float64 or
        complex128).

    Raises
    ------
    ValueError
        If ``A`` is not Hermitian or has a non-positive diagonal entry; with a
        numeric ``shift``, if the factorisation meets a pivot ``<= 0`` (the
        message names the row and suggests ``shift='auto'``); with
        ``shift="auto"``, if even the largest shift fails.  An indefinite ``A``
        may still factor with a large automatic shift: CG then reports ``A`` as
        not positive definite (``info=-1``).
    TypeError
        If ``A`` has no explicit matrix.

    Notes
    -----
    The factorisation runs on the host in float64 (complex128) as a
    right-looking Numba loop over the columns of ``tril(A)`` in CSC form; the
    factor is then stored in the computation dtype.  On the CPU each
    application is a forward sweep over the rows of ``L`` and a
    column-oriented backward sweep over the same arrays, fused with the
    ``r^H z`` product of PCG.  On the GPU the factor is copied to the device
    once and applied with cupyx's ``spsolve_triangular``, which repeats
    cuSPARSE's analysis on every call: there ``precond="chebyshev"`` or
    ``"amg"`` are usually faster.

    References
    ----------
    .. [1] J. A. Meijerink and H. A. van der Vorst, "An iterative solution method
       for linear systems of which the coefficient matrix is a symmetric
       M-matrix", Math. Comp. 31 (1977).
    .. [2] T. A. Manteuffel, "An incomplete factorization technique for positive
       definite linear systems", Math. Comp. 34 (1980).
    .. [3] I. Gustafsson, "A class of first order factorization methods", BIT 18
       (1978).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, lrsolve
    >>> T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(30, 30))
    >>> A = (sp.kron(T, sp.eye(30)) + sp.kron(sp.eye(30), T)).tocsr()
    >>> M = lrsolve.precond.ic0(A)
    >>> LLt = M.L @ M.L.T
    >>> bool(abs(LLt - A).multiply(A != 0).max() < 1e-12)
    True
    >>> b = np.ones(A.shape[0])
    >>> res = lrsolve.cg(A, b, rtol=1e-8, precond=M)
    >>> res.converged, res.niter < lrsolve.cg(A, b, rtol=1e-8).niter
    (True, True)
    """
    return IC0(_as_op(A), shift=shift, relax=relax)
