"""The :class:`Problem` record returned by every generator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Problem"]


@dataclass(frozen=True, repr=False, eq=False)
class Problem:
    """One linear system ``A x = b`` from a discretised PDE, with its parameter field.

    Unpacks as ``A, b = problem``; the rest is carried as attributes.

    Attributes
    ----------
    A : scipy.sparse.csr_matrix
        The system matrix, ``n x n`` with ``n = prod(shape)``, canonical CSR
        (sorted indices, no duplicates), of dtype ``dtype``.
    b : numpy.ndarray
        Right-hand side of length ``n`` (same dtype as ``A``).
    field : numpy.ndarray
        The parameter field that defines ``A`` on the grid (shape ``shape``,
        float64): the permeability of :func:`darcy`, the conductivity of a
        :func:`heat_sequence` step, the wave number of :func:`helmholtz`, the
        coefficient of :func:`poisson_variable`.
    shape : tuple of int
        Grid shape; unknowns are numbered in C order, ``x.reshape(shape)`` is
        the solution on the grid.
    params : dict
        The generator's settings (kind, spacing, length scale, time, ...).
    solution : numpy.ndarray or None
        A reference solution of length ``n`` when the generator knows one
        (the direct-solve trajectory of :func:`heat_sequence`), else ``None``.

    Examples
    --------
    >>> import lrsolve
    >>> A, b = lrsolve.problems.darcy((8, 8), rng=0)
    >>> A.shape, b.shape
    ((64, 64), (64,))
    """

    A: Any
    b: Any
    field: Any
    shape: tuple
    params: dict = field(default_factory=dict)
    solution: Any = None

    def __iter__(self):
        return iter((self.A, self.b))

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (self.A, self.b)[i]

    @property
    def n(self):
        """Number of unknowns, ``prod(shape)``."""
        return self.A.shape[0]

    @property
    def dtype(self):
        """Dtype of ``A`` and ``b``."""
        return self.A.dtype

    def __repr__(self):
        kind = self.params.get("kind", "problem")
        return (
            f"Problem(kind={kind!r}, shape={self.shape}, n={self.A.shape[0]}, "
            f"nnz={self.A.nnz}, dtype={self.A.dtype})"
        )
