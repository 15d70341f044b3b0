"""Tensor algebra on NumPy or CuPy arrays: unfoldings, mode products, Khatri-Rao, MTTKRP.

Conventions follow TensorLy: ``unfold(X, n)`` puts mode ``n`` first and flattens the
remaining modes in C order, so that for a CP tensor
``unfold(X, n) == A[n] @ khatri_rao(A, skip=n).T``.

The MTTKRP never forms the Khatri-Rao product: one matrix-matrix product (GEMM) with
the first or last mode (a free reshape in C order) followed by batched
matrix-vector contractions on the much smaller partial result.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._backend import get_backend

__all__ = ["unfold", "fold", "mode_dot", "multi_mode_dot", "khatri_rao", "mttkrp"]


def _xp(*arrays):
    return get_backend(*arrays).xp


def _check_mode(mode, ndim, name="mode"):
    if isinstance(mode, bool) or not isinstance(mode, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {mode!r}")
    if not -ndim <= mode < ndim:
        raise ValueError(f"{name}={mode} is out of range for a tensor of order {ndim}")
    return int(mode) % ndim


def unfold(X, mode):
    """Mode-``mode`` unfolding (matricisation) of a tensor, TensorLy's convention.

    Parameters
    ----------
    X : array_like
        Tensor of order >= 1 (NumPy or CuPy array).
    mode : int
        The mode that indexes the rows.

    Returns
    -------
    array
        Matrix of shape ``(X.shape[mode], X.size // X.shape[mode])``; the remaining
        modes are flattened in C order.  A view for ``mode=0``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import unfold
    >>> X = np.arange(24.0).reshape(2, 3, 4)
    >>> unfold(X, 1).shape
    (3, 8)
    >>> unfold(X, 1)[0, :4]
    array([0., 1., 2., 3.])
    """
    xp = _xp(X)
    X = xp.asarray(X)
    mode = _check_mode(mode, X.ndim)
    return xp.reshape(xp.moveaxis(X, mode, 0), (X.shape[mode], -1))


def fold(M, mode, shape):
    """Inverse of :func:`unfold`: refold a matrix into a tensor of the given shape.

    Parameters
    ----------
    M : array_like
        Matrix of shape ``(shape[mode], prod(shape) // shape[mode])``.
    mode : int
        The mode that indexes the rows of ``M``.
    shape : tuple of int
        Shape of the tensor.

    Returns
    -------
    array
        Tensor ``X`` with ``unfold(X, mode) == M``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import fold, unfold
    >>> X = np.arange(24.0).reshape(2, 3, 4)
    >>> bool(np.array_equal(fold(unfold(X, 2), 2, X.shape), X))
    True
    """
    xp = _xp(M)
    M = xp.asarray(M)
    shape = tuple(int(s) for s in shape)
    mode = _check_mode(mode, len(shape))
    full = (shape[mode],) + shape[:mode] + shape[mode + 1 :]
    if M.size != int(np.prod(shape)):
        raise ValueError(f"M has {M.size} entries but shape {shape} needs {int(np.prod(shape))}")
    return xp.moveaxis(xp.reshape(M, full), 0, mode)


def _mode_dot_matrix(xp, X, M, mode):
    """``X x_mode M`` for a matrix ``M`` of shape (J, I_mode); C-contiguous result."""
    shape = X.shape
    J = M.shape[0]
    if mode == 0:
        out = M @ xp.reshape(X, (shape[0], -1))
        return xp.reshape(out, (J,) + shape[1:])
    if mode == X.ndim - 1:
        out = xp.reshape(X, (-1, shape[-1])) @ M.T
        return xp.reshape(out, shape[:-1] + (J,))
    A = int(np.prod(shape[:mode]))
    B = int(np.prod(shape[mode + 1 :]))
    X3 = xp.reshape(X, (A, shape[mode], B))
    if B >= 32:
        out = xp.matmul(M, X3)  # A batched GEMMs, result contiguous (A, J, B)
    else:
        out = xp.ascontiguousarray(xp.moveaxis(xp.tensordot(M, X3, axes=(1, 1)), 0, 1))
    return xp.reshape(out, shape[:mode] + (J,) + shape[mode + 1 :])


def mode_dot(X, M, mode, transpose=False):
    """Mode-``mode`` product ``X x_mode M`` of a tensor with a matrix or a vector.

    Parameters
    ----------
    X : array_like
        Tensor.
    M : array_like
        Matrix of shape ``(J, X.shape[mode])`` (or ``(X.shape[mode], J)`` with
        ``transpose=True``), or a vector of length ``X.shape[mode]`` (the mode is then
        contracted away, as in TensorLy).
    mode : int
        The mode to multiply.
    transpose : bool, optional
        Multiply by ``M.T`` instead of ``M``.

    Returns
    -------
    array
        The product; mode ``mode`` has size ``J`` (or is removed for a vector).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import mode_dot, unfold
    >>> X = np.arange(24.0).reshape(2, 3, 4); M = np.ones((5, 3))
    >>> Y = mode_dot(X, M, 1)
    >>> Y.shape
    (2, 5, 4)
    >>> bool(np.allclose(unfold(Y, 1), M @ unfold(X, 1)))
    True
    """
    xp = _xp(X, M)
    X = xp.asarray(X)
    M = xp.asarray(M)
    mode = _check_mode(mode, X.ndim)
    if M.ndim == 1:
        if M.shape[0] != X.shape[mode]:
            raise ValueError(
                f"vector of length {M.shape[0]} cannot multiply mode {mode} of size {X.shape[mode]}"
            )
        return xp.tensordot(X, M, axes=(mode, 0))
    if M.ndim != 2:
        raise ValueError(f"M must be a matrix or a vector, got an array of shape {M.shape}")
    if transpose:
        M = M.T
    if M.shape[1] != X.shape[mode]:
        raise ValueError(
            f"M has shape {M.shape} ({'transposed' if transpose else 'as given'}) but mode {mode} "
            f"of X has size {X.shape[mode]}: M needs {X.shape[mode]} columns"
        )
    return _mode_dot_matrix(xp, X, M, mode)


def multi_mode_dot(X, matrices, modes=None, skip=None, transpose=False):
    """Product of a tensor with several matrices, one per mode.

    The products are applied in the order that shrinks the tensor fastest (the result
    does not depend on the order).

    Parameters
    ----------
    X : array_like
        Tensor.
    matrices : sequence of array_like
        One matrix (or vector) per mode in ``modes``.
    modes : sequence of int, optional
        Modes to multiply; default ``range(len(matrices))``.
    skip : int, optional
        Index of an entry of ``matrices`` (and ``modes``) to leave out, as in TensorLy.
    transpose : bool, optional
        Multiply by the transposes.

    Returns
    -------
    array
        The product tensor.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import multi_mode_dot
    >>> X = np.ones((4, 5, 6))
    >>> U = [np.ones((2, 4)), np.ones((3, 5)), np.ones((1, 6))]
    >>> multi_mode_dot(X, U).shape
    (2, 3, 1)
    >>> float(multi_mode_dot(X, U)[0, 0, 0])
    120.0
    """
    xp = _xp(X, *matrices)
    X = xp.asarray(X)
    if modes is None:
        modes = list(range(len(matrices)))
    modes = [_check_mode(m, X.ndim, "modes") for m in modes]
    if len(modes) != len(matrices):
        raise ValueError(f"got {len(matrices)} matrices for {len(modes)} modes")
    if skip is not None:
        if isinstance(skip, bool) or not isinstance(skip, numbers.Integral) or not (
                0 <= skip < len(matrices)):
            raise ValueError(f"skip must be an index into matrices (0..{len(matrices) - 1}), "
                             f"got {skip!r}")
    pairs = [
        (m, xp.asarray(M))
        for i, (m, M) in enumerate(zip(modes, matrices, strict=False))
        if skip is None or i != skip
    ]
    for m, M in pairs:
        if M.ndim == 1 and M.shape[0] != X.shape[m]:
            raise ValueError(f"a vector for mode {m} needs {X.shape[m]} entries, got "
                             f"{M.shape[0]}")
    vecs = [(m, M) for m, M in pairs if M.ndim == 1]
    mats = [(m, M.T if transpose else M) for m, M in pairs if M.ndim != 1]
    if len({m for m, _ in pairs}) == len(pairs):
        # shrink first: the largest reduction ratio J/I first (distinct modes commute;
        # products on a repeated mode are applied in the given order)
        mats.sort(key=lambda p: p[1].shape[0] / max(p[1].shape[1], 1))
    if vecs and len({m for m, _ in pairs}) != len(pairs):
        raise ValueError("a vector contracts its mode away: it cannot share a mode with "
                         "another entry of matrices")
    for m, M in mats:
        X = mode_dot(X, M, m)
    for m, v in sorted(vecs, key=lambda p: -p[0]):  # remove modes from the back
        X = xp.tensordot(X, v, axes=(m, 0))
    return X


def khatri_rao(matrices, weights=None, skip=None, reverse=False, *, skip_matrix=None):
    """Column-wise Kronecker (Khatri-Rao) product of matrices with the same column count.

    Parameters
    ----------
    matrices : sequence of array_like
        Matrices of shapes ``(I_k, R)``.
    weights : array_like, optional
        Length-``R`` weights multiplying the columns of the result.
    skip : int, optional
        Index of a matrix to leave out.
    reverse : bool, optional
        Multiply in reverse order.
    skip_matrix : int, optional
        TensorLy's name for ``skip``.

    Returns
    -------
    array
        Matrix of shape ``(prod I_k, R)``; the row index of the first matrix varies
        slowest (TensorLy's convention, matching :func:`unfold`).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import khatri_rao
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0]]); B = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> khatri_rao([A, B])[:, 0]
    array([1., 0., 1., 3., 0., 3.])
    """
    if skip_matrix is not None:
        if skip is not None:
            raise TypeError("give skip= or TensorLy's skip_matrix=, not both")
        skip = skip_matrix
    mats = [m for i, m in enumerate(matrices) if skip is None or i != skip]
    if not mats:
        raise ValueError("khatri_rao needs at least one matrix")
    xp = _xp(*mats)
    # 1-D inputs are single-column matrices (as in TensorLy)
    mats = [xp.asarray(m)[:, None] if xp.asarray(m).ndim == 1 else xp.asarray(m)
            for m in mats]
    if reverse:
        mats = mats[::-1]
    R = mats[0].shape[1]
    for m in mats:
        if m.ndim != 2 or m.shape[1] != R:
            raise ValueError(
                f"all matrices need {R} columns; got shapes {[tuple(x.shape) for x in mats]}"
            )
    out = mats[0]
    for m in mats[1:]:
        out = xp.reshape(out[:, None, :] * m[None, :, :], (-1, R))
    if weights is not None:
        out = out * xp.asarray(weights)[None, :]
    return out


# ----------------------------------------------------------------------------- MTTKRP engine
def contract_tail(xp, X, factors, s):
    """Contract modes ``s..N-1`` of ``X`` with ``factors`` (shared rank index).

    Returns an array of shape ``(R, I_0, ..., I_{s-1})``: one GEMM on the last mode,
    then batched matrix-vector products.
    """
    shape = X.shape
    N = X.ndim
    R = factors[-1].shape[1]
    T = factors[-1].T @ xp.reshape(X, (-1, shape[-1])).T  # (R, prod I_<N-1)
    for k in range(N - 2, s - 1, -1):
        T = xp.matmul(xp.reshape(T, (R, -1, shape[k])), factors[k].T[:, :, None])
    return xp.reshape(T, (R,) + shape[:s])


def contract_head(xp, X, factors, s):
    """Contract modes ``0..s-1`` of ``X``; returns shape ``(R, I_s, ..., I_{N-1})``."""
    shape = X.shape
    R = factors[0].shape[1]
    T = factors[0].T @ xp.reshape(X, (shape[0], -1))  # (R, prod I_>0)
    for k in range(1, s):
        T = xp.matmul(factors[k].T[:, None, :], xp.reshape(T, (R, shape[k], -1)))
    return xp.reshape(T, (R,) + shape[s:])


def contract_batched(xp, T, mats, keep):
    """Contract every mode of ``T`` (shape ``(R, J_0, ..., J_{m-1})``) but ``keep``.

    ``mats[j]`` has shape ``(J_j, R)``; returns the ``(J_keep, R)`` MTTKRP matrix.
    """
    R = T.shape[0]
    dims = T.shape[1:]
    m = len(dims)
    for k in range(m - 1, keep, -1):
        T = xp.matmul(xp.reshape(T, (R, -1, dims[k])), mats[k].T[:, :, None])
    for k in range(keep):
        T = xp.matmul(mats[k].T[:, None, :], xp.reshape(T, (R, dims[k], -1)))
    return xp.reshape(T, (R, dims[keep])).T


def mttkrp_nocheck(xp, X, factors, mode):
    N = X.ndim
    if mode == N - 1:
        T = contract_head(xp, X, factors, N - 1)
        return T.T
    T = contract_tail(xp, X, factors, mode + 1)  # (R, I_0..I_mode)
    return contract_batched(xp, T, factors[: mode + 1], mode)


def mttkrp(X, factors, mode):
    """Matricised tensor times Khatri-Rao product, without forming the Khatri-Rao matrix.

    Computes ``unfold(X, mode) @ khatri_rao(factors, skip=mode)`` by contracting ``X``
    with the factors one mode at a time: one GEMM with the first or last mode, then
    batched matrix-vector products on the (much smaller) partial result.  Extra memory
    is ``R * X.size / I_k`` for the first contraction, never ``R * X.size / I_mode``.

    Parameters
    ----------
    X : array_like
        Tensor of order ``N``.
    factors : sequence of array_like
        ``N`` matrices of shapes ``(X.shape[k], R)`` (``factors[mode]`` is not used).
    mode : int
        The mode of the result.

    Returns
    -------
    array
        Matrix of shape ``(X.shape[mode], R)``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import mttkrp, khatri_rao, unfold
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((4, 5, 6)); A = [rng.standard_normal((n, 3)) for n in X.shape]
    >>> bool(np.allclose(mttkrp(X, A, 1), unfold(X, 1) @ khatri_rao(A, skip=1)))
    True
    """
    xp = _xp(X, *factors)
    X = xp.asarray(X)
    if X.ndim < 2:
        raise ValueError(f"X must have order >= 2, got shape {X.shape}")
    mode = _check_mode(mode, X.ndim)
    if len(factors) != X.ndim:
        raise ValueError(f"need {X.ndim} factors (one per mode), got {len(factors)}")
    factors = [xp.asarray(f) for f in factors]
    R = factors[(mode + 1) % X.ndim].shape[1]
    for k, f in enumerate(factors):
        if k != mode and (f.ndim != 2 or f.shape != (X.shape[k], R)):
            raise ValueError(f"factors[{k}] has shape {tuple(f.shape)}, expected {(X.shape[k], R)}")
    dt = np.result_type(X.dtype, *[f.dtype for k, f in enumerate(factors) if k != mode])
    X = X.astype(dt, copy=False)
    factors = [f.astype(dt, copy=False) for f in factors]
    return mttkrp_nocheck(xp, X, factors, mode)
