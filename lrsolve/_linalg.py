"""Small dense linear-algebra helpers shared by the families (private)."""

from __future__ import annotations


def flip_signs(xp, U, *others):
    """Fix the signs of singular/eigen vectors: the largest ``|entry|`` of each column of
    ``U`` becomes positive, and the same column signs are applied to ``others``.

    LAPACK and cuSOLVER may return a vector or its negative; with this convention (as
    scikit-learn's ``svd_flip``) CPU and GPU runs give the same factors.  Returns
    ``(U, *others)`` (new arrays).
    """
    if not U.shape[1]:
        return (U, *others)
    piv = U[xp.argmax(xp.abs(U), axis=0), xp.arange(U.shape[1])]
    sign = xp.where(piv < 0, -1.0, 1.0).astype(U.dtype)
    return (U * sign, *(A * sign.astype(A.dtype) for A in others))
