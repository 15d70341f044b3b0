"""Observed entries of a partially known matrix: input normalisation and the index structure."""

from __future__ import annotations

import itertools
import numbers

import numpy as np

from .._backend import array_kind, get_backend
from .._kernels import get_kernel
from .._validation import solve_dtype

__all__ = ["Observations", "observations", "load_movielens"]

_DUPLICATES = ("error", "sum", "mean")


class Observations:
    """The observed entries of an ``m x n`` matrix, indexed by rows and by columns.

    Built once by :func:`observations` (every solver of :mod:`lrsolve.completion`
    also accepts the raw inputs and calls it): the entries are stored twice,
    sorted by ``(row, col)`` (compressed rows, CSR) and by ``(col, row)``
    (compressed columns, CSC), which is all an alternating sweep needs.  The
    dense ``m x n`` matrix is never formed.

    Attributes
    ----------
    shape : tuple of int
        ``(m, n)``.
    nnz : int
        Number of observed entries.
    dtype : numpy.dtype
        ``float32`` or ``float64``.
    row_ptr, row_idx, row_vals : array
        CSR structure: the entries of row ``i`` are ``row_ptr[i]:row_ptr[i+1]``,
        with column indices ``row_idx`` and values ``row_vals``.
    col_ptr, col_idx, col_vals : array
        CSC structure (row indices ``col_idx``).
    backend : lrsolve.Backend
        Where the arrays live.
    """

    def __init__(self, shape, row_ptr, row_idx, row_vals, col_ptr, col_idx, col_vals, backend):
        self.shape = (int(shape[0]), int(shape[1]))
        self.row_ptr, self.row_idx, self.row_vals = row_ptr, row_idx, row_vals
        self.col_ptr, self.col_idx, self.col_vals = col_ptr, col_idx, col_vals
        self.backend = backend
        self.nnz = int(row_vals.shape[0])
        self.dtype = np.dtype(row_vals.dtype)

    @property
    def row_counts(self):
        """Number of observed entries in each row.

        Returns
        -------
        array
            Shape ``(m,)``.
        """
        return self.backend.xp.diff(self.row_ptr)

    @property
    def col_counts(self):
        """Number of observed entries in each column.

        Returns
        -------
        array
            Shape ``(n,)``.
        """
        return self.backend.xp.diff(self.col_ptr)

    def rows(self):
        """Row index of every entry, in CSR order.

        Returns
        -------
        array
            Shape ``(nnz,)``, int64.
        """
        xp = self.backend.xp
        from .._kernels._reference_completion import expand_rows

        return expand_rows(xp, self.row_ptr).astype(xp.int64, copy=False)

    def to_sparse(self, values=None):
        """Return the entries as a SciPy (or cupyx) CSR matrix.

        Parameters
        ----------
        values : array, optional
            Values in CSR order to store instead of the observed ones.

        Returns
        -------
        scipy.sparse.csr_matrix or cupyx.scipy.sparse.csr_matrix
        """
        sps = _sparse_module(self.backend)
        vals = self.row_vals if values is None else values
        return sps.csr_matrix((vals, self.row_idx, self.row_ptr), shape=self.shape)

    def __repr__(self):
        m, n = self.shape
        return (
            f"Observations(shape=({m}, {n}), nnz={self.nnz}, dtype={self.dtype}, "
            f"backend={self.backend.name!r})"
        )


def _sparse_module(bk):
    if bk.name == "cupy":
        import cupyx.scipy.sparse as sps
    else:
        import scipy.sparse as sps
    return sps


def _is_sparse(obj):
    if type(obj).__module__.startswith("cupyx.scipy.sparse"):
        return True
    mod = type(obj).__module__
    if mod.startswith("scipy.sparse"):
        import scipy.sparse as sps

        return sps.issparse(obj)
    return False


def _check_shape(shape):
    if shape is None:
        return None
    try:
        m, n = shape
    except (TypeError, ValueError):
        raise ValueError(
            f"shape must be a pair (m, n) of positive integers, got {shape!r}"
        ) from None
    for v in (m, n):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"shape must be a pair (m, n) of positive integers, got {shape!r}")
    return int(m), int(n)


def _as_index(bk, a, name):
    xp = bk.xp
    a = bk.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of indices, got shape {a.shape}")
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "f" and a.size and bool(xp.all(a == xp.round(a))):
            a = a.astype(xp.int64)
        elif a.size == 0:
            a = a.astype(xp.int64)
        else:
            raise TypeError(f"{name} must hold integer indices, got dtype {a.dtype}")
    if a.dtype == xp.uint64 and a.size and int(a.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name} has indices of 2**63 or more (largest {int(a.max())}); "
                         "they cannot be positions in a matrix")
    return a.astype(xp.int64, copy=False)


def observations(obs, shape=None, *, duplicates="error"):
    """Normalise observed entries of a matrix into an :class:`Observations` record.

    Parameters
    ----------
    obs : tuple, sparse matrix, array or Observations
        One of

        * ``(rows, cols, values)``: COO triplets (0-based indices); a list of three
          1-D arrays is read the same way (nested lists of numbers are a dense matrix);
        * a SciPy or cupyx sparse matrix/array: its stored entries are the
          observations (explicit zeros included);
        * a dense 2-D array in which NaN marks a missing entry, or a pair
          ``(X, mask)`` with a boolean ``mask`` of ``X``'s shape
          (``True`` = observed), or a :class:`numpy.ma.MaskedArray` (masked =
          missing);
        * an :class:`Observations` record (returned as it is).

        Only dense inputs are ever held as an ``m x n`` array.
    shape : tuple of int, optional
        ``(m, n)`` for COO triplets; inferred as the largest indices + 1 when
        omitted.  Must match the input for the other forms.
    duplicates : {"error", "sum", "mean"}
        What to do with an entry given more than once in COO form: raise
        ``ValueError`` (default), add the values, or average them.

    Returns
    -------
    Observations

    Raises
    ------
    ValueError
        Indices out of range or negative, non-finite values, duplicate entries
        (with ``duplicates="error"``), mismatched lengths or shapes.
    TypeError
        Complex or non-numeric values, non-integer indices.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.completion import observations
    >>> obs = observations(([0, 1, 1], [2, 0, 1], [1.0, 2.0, 3.0]))
    >>> obs.shape, obs.nnz
    ((2, 3), 3)
    >>> observations(np.array([[1.0, np.nan], [np.nan, 4.0]])).nnz
    2
    """
    if isinstance(obs, Observations):
        if shape is not None and _check_shape(shape) != obs.shape:
            raise ValueError(f"shape={shape!r} does not match the observations' shape {obs.shape}")
        return obs
    if duplicates not in _DUPLICATES:
        raise ValueError(f"duplicates must be one of {_DUPLICATES}, got {duplicates!r}")
    shape = _check_shape(shape)
    if _is_sparse(obs):
        bk = get_backend(obs)
        coo = obs.tocoo()
        if shape is not None and tuple(shape) != tuple(obs.shape):
            raise ValueError(
                f"shape={shape!r} does not match the sparse matrix's shape {obs.shape}"
            )
        return _from_coo(bk, coo.row, coo.col, coo.data, tuple(obs.shape), duplicates)
    if isinstance(obs, np.ma.MaskedArray):
        return _from_dense(get_backend(np.asarray(obs.data)), obs.data,
                           ~np.ma.getmaskarray(obs), shape)
    if isinstance(obs, list) and len(obs) == 3 and all(
            hasattr(a, "ndim") and a.ndim == 1 for a in obs):
        # a list of three 1-D arrays is COO triplets (a dense matrix would be one array)
        obs = tuple(obs)
    if isinstance(obs, tuple) and len(obs) == 3:
        rows, cols, vals = obs
        bk = get_backend(rows, cols, vals)
        return _from_coo(bk, rows, cols, vals, shape, duplicates)
    if isinstance(obs, tuple) and len(obs) == 2:
        X, mask = obs
        bk = get_backend(X, mask)
        return _from_dense(bk, X, mask, shape)
    if isinstance(obs, (tuple, list)) and not hasattr(obs, "shape"):
        if isinstance(obs, tuple):
            raise ValueError(
                "obs as a tuple must be (rows, cols, values) or (X, mask), "
                f"got a tuple of length {len(obs)}"
            )
    if array_kind(obs) is not None:
        bk = get_backend(obs)
        return _from_dense(bk, obs, None, shape)
    raise TypeError(
        "obs must be (rows, cols, values), a sparse matrix, a dense array with NaN for the "
        f"missing entries, (X, mask) or an Observations record; got {type(obs).__name__}"
    )


def _values(bk, vals, name="values"):
    xp = bk.xp
    vals = bk.asarray(vals)
    if vals.dtype.kind == "c":
        raise TypeError(f"{name} must be real; complex matrix completion is not supported")
    dtype = solve_dtype(vals.dtype)
    vals = vals.astype(dtype, copy=False)
    if vals.size and not bool(xp.isfinite(vals).all()):
        raise ValueError(
            f"{name} contains NaN or Inf; drop those entries (they are not observations) "
            "or replace them"
        )
    return vals


def _from_dense(bk, X, mask, shape):
    xp = bk.xp
    X = bk.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"a dense obs must be a 2-D array, got shape {X.shape}")
    if X.dtype.kind == "c":
        raise TypeError("values must be real; complex matrix completion is not supported")
    if shape is not None and tuple(shape) != tuple(X.shape):
        raise ValueError(f"shape={shape!r} does not match the dense array's shape {X.shape}")
    if mask is None:
        X = X.astype(solve_dtype(X.dtype), copy=False)
        mask = ~xp.isnan(X)
        if bool(xp.isinf(X[mask]).any()):
            raise ValueError("obs contains Inf; replace it or mark it missing with NaN")
    else:
        mask = bk.asarray(mask)
        if mask.shape != X.shape:
            raise ValueError(f"mask must have the shape of X {X.shape}, got {mask.shape}")
        if mask.dtype != bool:
            raise TypeError(f"mask must be a boolean array (True = observed), got {mask.dtype}")
    rows, cols = xp.nonzero(mask)
    return _from_coo(bk, rows, cols, X[rows, cols], tuple(X.shape), "error", checked=True)


def _from_coo(bk, rows, cols, vals, shape, duplicates, checked=False):
    xp = bk.xp
    rows = _as_index(bk, rows, "rows")
    cols = _as_index(bk, cols, "cols")
    vals = _values(bk, vals)
    if vals.ndim != 1:
        raise ValueError(f"values must be a 1-D array, got shape {vals.shape}")
    if not (rows.shape[0] == cols.shape[0] == vals.shape[0]):
        raise ValueError(
            "rows, cols and values must have the same length, got "
            f"{rows.shape[0]}, {cols.shape[0]} and {vals.shape[0]}"
        )
    if rows.shape[0] == 0:
        raise ValueError("no observed entries: give at least one (row, col, value)")
    if not checked:
        for name, a in (("rows", rows), ("cols", cols)):
            if bool((a < 0).any()):
                raise ValueError(f"{name} contains negative indices; indices are 0-based")
        if shape is None:
            shape = (int(rows.max()) + 1, int(cols.max()) + 1)
            for name, dim in zip(("rows", "cols"), shape, strict=True):
                if dim > 64 * rows.shape[0] + 2**24:  # an index per row or column is stored
                    raise ValueError(
                        f"the largest index in {name} is {dim - 1}, far beyond the "
                        f"{rows.shape[0]} observations: the inferred shape {shape} would need "
                        f"an index of that many {name}; pass shape= or renumber the ids to "
                        "0..count-1 (e.g. numpy.unique(ids, return_inverse=True))")
        else:
            for name, a, lim, ax in (("rows", rows, shape[0], "m"), ("cols", cols, shape[1], "n")):
                top = int(a.max())
                if top >= lim:
                    raise ValueError(
                        f"{name} index {top} is out of range for shape {tuple(shape)} "
                        f"({ax} = {lim}); indices are 0-based: pass a larger shape"
                    )
    m, n = shape
    engine = bk.engine
    ptr_r, order_r, ptr_c, order_c = get_kernel("mc_build_index", engine)(rows, cols, m, n)
    idx_dtype = xp.int32 if max(m, n) < 2**31 - 1 else xp.int64
    col_of = cols[order_r]
    if not checked:
        row_of = rows[order_r]
        dup = (col_of[1:] == col_of[:-1]) & (row_of[1:] == row_of[:-1])
        del row_of
        if bool(dup.any()):
            if duplicates == "error":
                e = int(xp.nonzero(dup)[0][0])
                i = int(rows[order_r[e]])
                j = int(col_of[e])
                raise ValueError(
                    f"entry ({i}, {j}) is given more than once ({int(dup.sum())} duplicates); "
                    "remove the duplicates or pass duplicates='sum' or 'mean'"
                )
            return _dedup(bk, rows, cols, vals, order_r, dup, shape, duplicates)
        del dup
    row_idx = col_of.astype(idx_dtype)
    del col_of
    row_vals = vals[order_r]
    del order_r
    col_idx = rows[order_c].astype(idx_dtype)
    col_vals = vals[order_c]
    return Observations(shape, ptr_r, row_idx, row_vals, ptr_c, col_idx, col_vals, bk)


def _dedup(bk, rows, cols, vals, order_r, dup, shape, how):
    xp = bk.xp
    first = xp.concatenate([xp.ones(1, dtype=bool), ~dup])
    starts = xp.nonzero(first)[0]
    sorted_vals = vals[order_r]
    sums = xp.add.reduceat(sorted_vals, starts) if xp.__name__ == "numpy" else _segsum(
        xp, sorted_vals, first)
    if how == "mean":
        counts = xp.diff(xp.concatenate([starts, xp.asarray([vals.shape[0]])]))
        sums = sums / counts
    keep = order_r[starts]
    return _from_coo(bk, rows[keep], cols[keep], sums.astype(vals.dtype), shape, "error")


def _segsum(xp, v, first):
    seg = xp.cumsum(first) - 1
    out = xp.zeros(int(seg[-1]) + 1, dtype=v.dtype)
    import cupyx

    cupyx.scatter_add(out, seg, v)
    return out


def _parses(token, kind):
    try:
        np.array(token, dtype=kind)
    except (ValueError, OverflowError):
        return False
    return True


def load_movielens(path, *, sep="\t", timestamps=False, dtype=np.float64):
    """Read ratings in the MovieLens ``u.data`` format (user, item, rating, timestamp).

    The MovieLens data sets may not be redistributed: download them from
    GroupLens and pass the path of ``u.data``, ``u1.base``, ``u1.test``, ...
    (ML-100K, tab-separated) or ``ratings.dat`` (ML-1M/10M, ``sep="::"``).

    Parameters
    ----------
    path : str or path-like
        The ratings file: one ``user item rating timestamp`` line per rating,
        1-based ids.
    sep : str
        Field separator (``"\\t"`` for ML-100K, ``"::"`` for ML-1M/10M).
    timestamps : bool
        Also return the timestamps.
    dtype : dtype
        Dtype of the ratings (``float64`` or ``float32``).

    Returns
    -------
    rows, cols : numpy.ndarray
        0-based user and item indices (int64).
    values : numpy.ndarray
        The ratings.
    shape : tuple of int
        ``(largest user id, largest item id)``.
    times : numpy.ndarray
        The timestamps (int64), only when ``timestamps=True``.

    Raises
    ------
    ValueError
        A line without four fields (the message names the line), ids that are not
        integers or are below 1, ratings that are not finite numbers.

    Examples
    --------
    >>> import os, tempfile
    >>> from lrsolve.completion import load_movielens
    >>> path = os.path.join(tempfile.mkdtemp(), "u.data")
    >>> with open(path, "w") as f:
    ...     _ = f.write("1\\t2\\t5\\t881250949\\n3\\t1\\t3\\t891717742\\n")
    >>> rows, cols, values, shape = load_movielens(path)
    >>> rows.tolist(), cols.tolist(), values.tolist(), shape
    ([0, 2], [1, 0], [5.0, 3.0], (3, 2))
    """
    with open(path, encoding="latin-1") as f:
        text = f.read()
    if sep != " " and sep != "\t":
        text = text.replace(sep, "\t")
    # one field count per line (a C-level count of the separator), so that a line with a
    # missing field is reported even where another line has one too many
    lines = text.split("\n")
    sepc = " " if sep == " " else "\t"
    counts = np.fromiter(map(str.count, lines, itertools.repeat(sepc)), dtype=np.int64,
                         count=len(lines))
    for i in np.flatnonzero(counts != 3).tolist():
        parts = lines[i].split()
        if parts and len(parts) != 4:
            raise ValueError(
                f"{path}, line {i + 1}: expected 4 fields per line (user, item, rating, "
                f"timestamp) separated by {sep!r}, got {len(parts)}: {lines[i].strip()[:60]!r}; "
                "pass sep= for another separator")
    line_no = np.flatnonzero(counts == 3) + 1  # the others were checked to be blank
    del lines
    tokens = text.split()
    if len(tokens) % 4:
        raise ValueError(f"{path}: expected 4 fields per line (user, item, rating, "
                         f"timestamp) separated by {sep!r}; pass sep= for another separator")
    if not tokens:
        raise ValueError(f"{path} holds no ratings")

    def column(i, kind, what, tokens=tokens):
        col = tokens[i::4]
        try:
            return np.array(col, dtype=kind)
        except (ValueError, OverflowError, TypeError):
            number, tok = next(((q, t) for q, t in enumerate(col) if not _parses(t, kind)),
                               (0, ""))
            raise ValueError(
                f"{path}, line {int(line_no[number])}: {what} {tok!r} is not "
                + ("an integer" if kind is np.int64 else "a number")
                + f"; check sep={sep!r}"
            ) from None

    users = column(0, np.int64, "user id")
    items = column(1, np.int64, "item id")
    ratings = column(2, np.float64, "rating")
    times = column(3, np.int64, "timestamp") if timestamps else None
    del tokens
    if not np.isfinite(ratings).all():
        bad = int(np.flatnonzero(~np.isfinite(ratings))[0])
        raise ValueError(f"{path}, line {int(line_no[bad])}: the rating is not finite "
                         f"({ratings[bad]})")
    if users.min() < 1 or items.min() < 1:
        raise ValueError(f"{path}: user and item ids must be 1-based (>= 1)")
    rows = users - 1
    cols = items - 1
    values = ratings.astype(dtype)
    shape = (int(users.max()), int(items.max()))
    if timestamps:
        return rows, cols, values, shape, times
    return rows, cols, values, shape
