"""Plain array (NumPy / CuPy) relaxation sweeps: the oracle of the kernel tests and the GPU path.

A forward SOR sweep is one sparse triangular solve,

    (D / omega + L) x_new = b - (U + (1 - 1 / omega) D) x_old,

and a backward sweep the same with ``L`` and ``U`` swapped (``A = L + D + U``:
strictly lower, diagonal, strictly upper parts).  :class:`TriangularSweeps`
builds the four matrices once; :func:`sor_sweep` is the kernel-table form with
the signature of the Numba kernel (it rebuilds them on each call).
"""

from __future__ import annotations

from ._reference import _xp

__all__ = ["TriangularSweeps", "sor_sweep", "tsallis_probs"]


def _sparse_modules(xp):
    if xp.__name__ == "cupy":
        import cupyx.scipy.sparse as sparse
        import cupyx.scipy.sparse.linalg as splinalg
    else:
        import scipy.sparse as sparse
        import scipy.sparse.linalg as splinalg
    return sparse, splinalg


class TriangularSweeps:
    """SOR sweeps of a CSR matrix as triangular solves (``spsolve_triangular`` on xp)."""

    def __init__(self, A, omega):
        xp = _xp(A.data)
        sparse, self._linalg = _sparse_modules(xp)
        self.xp = xp
        d = A.diagonal()
        self.dtype = A.dtype
        self.omega = float(omega)
        n = A.shape[0]
        idx = xp.arange(n + 1, dtype=A.indptr.dtype)
        D = sparse.csr_matrix((d, idx[:-1], idx), shape=A.shape)
        self._strict_lower = sparse.tril(A, k=-1, format="csr")
        self._strict_upper = sparse.triu(A, k=1, format="csr")
        self._lower = (self._strict_lower + D * (1.0 / omega)).tocsr()
        self._upper = (self._strict_upper + D * (1.0 / omega)).tocsr()
        self._shift = (1.0 - 1.0 / omega) * d
        for m in (self._lower, self._upper):
            m.sort_indices()

    def sweep(self, b, x, backward=False):
        """One sweep, in place on ``x``."""
        other = self._strict_lower if backward else self._strict_upper
        rhs = b - other @ x - self._shift * x
        tri = self._upper if backward else self._lower
        y = self._linalg.spsolve_triangular(tri, rhs, lower=not backward)
        x[...] = y.astype(x.dtype, copy=False)


def sor_sweep(data, indptr, indices, dpos, dinv, omega, b, x, backward):
    """One SOR sweep in place on ``x`` (Numba kernel's signature; ``dpos``, ``dinv`` unused)."""
    sparse, _ = _sparse_modules(_xp(data))
    n = x.shape[0]
    A = sparse.csr_matrix((data, indices, indptr), shape=(n, n))
    TriangularSweeps(A, omega).sweep(b, x, backward=bool(backward))


def tsallis_probs(est, inv_p, base, scale, eta, probs, cdf):
    """Tsallis-INF distribution of ``L = (est - base * inv_p) / scale`` into ``probs``, ``cdf``."""
    import numpy as np

    loss = (est - base * inv_p) / scale
    c = 4.0 / (eta * eta)
    d = loss - (loss.min() - 2.0 / eta)  # L_i - x: here the best arm alone has weight 1
    for _ in range(100):
        w = c / (d * d)
        s = w.sum()
        if s - 1.0 <= 1e-13:
            break
        # d/dx sum_i c / (L_i - x)^2 = 2 sum_i w_i / d_i
        d += (s - 1.0) / (2.0 * (w / d).sum())
    w = c / (d * d)
    probs[...] = w / w.sum()
    cdf[...] = np.cumsum(probs)


KERNELS = {"sor_sweep": sor_sweep, "tsallis_probs": tsallis_probs}
