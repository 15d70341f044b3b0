"""Diagonal (DIA) storage of banded CSR matrices, built and applied in plain array code.

Matrices from finite differences and finite elements on structured grids have a
few diagonals (7 for the 3-D Laplacian) and often few distinct values.  Stored
by diagonals, a product needs no column indices and reads the values with unit
stride; stored as one-byte codes into a table of the distinct values (when there
are at most 256 of them), the matrix costs one byte per stored entry instead of
the twelve of CSR (eight-byte value, four-byte index).  Both forms are lossless:
the codes and the table give back every value bit for bit.

:func:`dia_pack` builds the form on NumPy or CuPy (the CuPy kernels in
``_cupy_dia`` apply it on the GPU); :func:`dia_matvec` here is the oracle of the
kernel tests.  Row ``i`` of diagonal ``d`` holds ``A[i, i + offsets[d]]``;
positions outside the matrix and structural zeros hold 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._reference import _xp, norm2sq

#: Most diagonals the GPU kernel keeps in shared memory.
MAX_DIAGONALS = 64
#: Most distinct values stored as one-byte codes.
MAX_TABLE = 256


@dataclass(frozen=True)
class DiaPack:
    """A square matrix by diagonals.

    ``offsets`` (int64, ascending, on the host as a tuple and on the arrays'
    device as ``offsets_dev``); ``values`` of shape ``(ndiag, n)``: the entries
    themselves, or ``uint8`` codes into ``table`` when ``table`` is not None.
    """

    n: int
    offsets: tuple
    offsets_dev: object
    values: object
    table: object
    dtype: np.dtype

    @property
    def nbytes(self):
        t = 0 if self.table is None else self.table.nbytes
        return int(self.values.nbytes + self.offsets_dev.nbytes + t)


def dia_pack(data, indptr, indices, n, *, max_diagonals=MAX_DIAGONALS, max_fill=None):
    """Return a :class:`DiaPack` of the CSR matrix, or None when DIA does not pay.

    ``data``, ``indptr``, ``indices``: canonical CSR arrays (sorted, no
    duplicates) of a real ``n x n`` matrix.  DIA is chosen only when it has at
    most ``max_diagonals`` diagonals and moves fewer bytes per product than CSR
    (``max_fill``, if given, also bounds ``ndiag * n / nnz``).  Values are
    stored as one-byte codes when at most 256 distinct values occur, else in
    float32 when every value is exactly a float32, else in their own dtype.
    """
    xp = _xp(data)
    dtype = np.dtype(data.dtype)
    nnz = int(data.shape[0])
    if dtype.kind != "f" or nnz == 0 or n == 0:
        return None
    # row of every entry (empty rows repeat a pointer: the last one with ptr <= k wins)
    rows = xp.searchsorted(indptr, xp.arange(nnz, dtype=indptr.dtype), side="right") - 1
    rows = rows.astype(xp.int64)
    off = indices.astype(xp.int64) - rows
    uoff = xp.unique(off)
    ndiag = int(uoff.shape[0])
    if ndiag > max_diagonals:
        return None
    if max_fill is not None and ndiag * n > max_fill * nnz:
        return None
    didx = xp.searchsorted(uoff, off)
    # the distinct values (zero included: it fills the padding and the structural zeros)
    table = xp.unique(xp.concatenate([data, xp.zeros(1, dtype=dtype)]))
    if int(table.shape[0]) <= MAX_TABLE:
        zero_code = int(xp.searchsorted(table, xp.zeros(1, dtype=dtype))[0])
        vals = xp.full((ndiag, n), zero_code, dtype=xp.uint8)
        vals[didx, rows] = xp.searchsorted(table, data).astype(xp.uint8)
        table = table.astype(xp.float64)  # exact; the GPU kernel reads float64
        itemsize = 1
    else:
        table = None
        vdt = dtype
        if dtype == np.float64 and bool(xp.all(data.astype(xp.float32) == data)):
            vdt = np.dtype(np.float32)
        vals = xp.zeros((ndiag, n), dtype=vdt)
        vals[didx, rows] = data.astype(vdt)
        itemsize = vdt.itemsize
    csr_bytes = nnz * (dtype.itemsize + indices.dtype.itemsize) + (n + 1) * indptr.dtype.itemsize
    if ndiag * n * itemsize >= csr_bytes:
        return None
    host_off = tuple(int(o) for o in (uoff.get() if hasattr(uoff, "get") else uoff))
    return DiaPack(n, host_off, uoff, vals, table, dtype)


def _values(pack):
    if pack.table is None:
        return pack.values
    return pack.table.astype(pack.dtype)[pack.values]


def dia_matvec(pack, x, out):
    """``out = A x`` for a :class:`DiaPack` (diagonals added in ascending order)."""
    xp = _xp(x)
    n = pack.n
    vals = _values(pack)
    acc = xp.zeros(n, dtype=out.dtype)
    for d, o in enumerate(pack.offsets):
        if o >= 0:
            if o < n:
                acc[: n - o] += vals[d, : n - o] * x[o:]
        elif -o < n:
            acc[-o:] += vals[d, -o:] * x[: n + o]
    out[...] = acc


def dia_matvec_dot(pack, x, out):
    """``out = A x``; return ``x^H out`` (real part)."""
    dia_matvec(pack, x, out)
    return _xp(x).vdot(x, out).real


def dia_residual(pack, x, b, out):
    """``out = b - A x``; return ``||out||^2``."""
    dia_matvec(pack, x, out)
    _xp(out).subtract(b, out, out=out)
    return norm2sq(out)


KERNELS = {
    "dia_pack": dia_pack,
    "dia_matvec": dia_matvec,
    "dia_matvec_dot": dia_matvec_dot,
    "dia_residual": dia_residual,
}
