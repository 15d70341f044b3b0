"""Result of a matrix-completion solver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CompletionResult"]


@dataclass(frozen=True, repr=False, eq=False)
class CompletionResult:
    """Result of a completion solver: low-rank factors, biases and history.

    The model is ``X[i, j] ~ mean + row_bias[i] + col_bias[j] + U[i] @ V[j]``.
    Unpacks as ``U, V = result`` and carries the rest as attributes, like
    :class:`lrsolve.SolveResult`.  The completed matrix is never formed unless
    :meth:`to_dense` is called.

    Attributes
    ----------
    U : array
        Row factors, shape ``(m, k)``, of the caller's array type.
    V : array
        Column factors, shape ``(n, k)``.
    row_bias, col_bias : array or None
        Per-row and per-column offsets (``biases=True`` in :func:`altmin`).
    mean : float
        Global offset (the mean rating when biases are fitted, else 0).
    n_iter : int
        Sweeps (iterations) performed.
    converged : bool
        True when the stopping test was met (``tol``) or early stopping chose
        the iterate.
    message : str
        What happened, in words.
    history : dict of numpy.ndarray
        ``"train_rmse"`` (RMSE on the observed entries after each sweep),
        ``"val_rmse"`` (on the validation entries, NaN when none were given)
        and ``"time"`` (seconds of each sweep).
    singular_values : numpy.ndarray or None
        The singular values of the estimate (:func:`softimpute` only; then
        ``U`` and ``V`` carry their square roots).
    shape : tuple of int
        ``(m, n)``.
    """

    U: Any
    V: Any
    row_bias: Any = None
    col_bias: Any = None
    mean: float = 0.0
    n_iter: int = 0
    converged: bool = False
    message: str = ""
    history: dict = field(default_factory=dict)
    singular_values: Any = None
    shape: tuple = (0, 0)

    def __iter__(self):
        return iter((self.U, self.V))

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (self.U, self.V)[i]

    @property
    def rank(self):
        """Number of columns of the factors.

        Returns
        -------
        int
        """
        return int(self.U.shape[1])

    def _xp(self):
        if type(self.U).__module__.partition(".")[0] == "cupy":
            import cupy

            return cupy
        return np

    def predict(self, rows, cols):
        """Predicted entries at the given positions (no dense matrix is formed).

        Parameters
        ----------
        rows, cols : array_like of int
            0-based positions, of equal length.

        Returns
        -------
        array
            ``mean + row_bias[rows] + col_bias[cols] + sum(U[rows] * V[cols], axis=1)``.

        Raises
        ------
        ValueError
            Indices out of range or of different lengths.

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.completion import CompletionResult
        >>> res = CompletionResult(U=np.array([[1.0], [2.0]]), V=np.array([[3.0], [4.0]]),
        ...                        shape=(2, 2))
        >>> res.predict([0, 1], [1, 0]).tolist()
        [4.0, 6.0]
        """
        xp = self._xp()
        rows = xp.asarray(rows)
        cols = xp.asarray(cols)
        if rows.shape != cols.shape or rows.ndim != 1:
            raise ValueError(
                f"rows and cols must be 1-D arrays of equal length, got shapes {rows.shape} "
                f"and {cols.shape}"
            )
        if rows.dtype.kind not in "iu" or cols.dtype.kind not in "iu":
            if rows.size:
                raise TypeError("rows and cols must hold integer indices")
            rows = rows.astype(np.int64)
            cols = cols.astype(np.int64)
        m, n = self.U.shape[0], self.V.shape[0]
        if rows.size:
            for name, a, lim in (("rows", rows, m), ("cols", cols, n)):
                lo, hi = int(a.min()), int(a.max())
                if lo < 0 or hi >= lim:
                    raise ValueError(f"{name} must lie in [0, {lim}), got values in [{lo}, {hi}]")
        out = xp.empty(rows.shape[0], dtype=self.U.dtype)
        step = max(1, (1 << 22) // max(self.rank, 1))
        for s in range(0, rows.shape[0], step):
            r = rows[s : s + step]
            c = cols[s : s + step]
            out[s : s + step] = xp.sum(self.U[r] * self.V[c], axis=1)
        if self.row_bias is not None:
            out += self.row_bias[rows]
        if self.col_bias is not None:
            out += self.col_bias[cols]
        if self.mean:
            out += self.U.dtype.type(self.mean)
        return out

    def to_dense(self):
        """Form the completed ``m x n`` matrix (memory ``m n``: small problems only).

        Returns
        -------
        array
            Shape ``(m, n)``.

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.completion import CompletionResult
        >>> res = CompletionResult(U=np.ones((2, 1)), V=np.ones((3, 1)), mean=1.0, shape=(2, 3))
        >>> res.to_dense()
        array([[2., 2., 2.],
               [2., 2., 2.]])
        """
        X = self.U @ self.V.T
        if self.row_bias is not None:
            X += self.row_bias[:, None]
        if self.col_bias is not None:
            X += self.col_bias[None, :]
        if self.mean:
            X += self.U.dtype.type(self.mean)
        return X

    def rmse(self, rows, cols, values):
        """Root-mean-square error of the predictions at given entries.

        Parameters
        ----------
        rows, cols : array_like of int
            0-based positions.
        values : array_like
            The true values there.

        Returns
        -------
        float

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.completion import CompletionResult
        >>> res = CompletionResult(U=np.ones((2, 1)), V=np.ones((2, 1)), shape=(2, 2))
        >>> res.rmse([0, 1], [0, 1], [1.0, 3.0])
        1.4142135623730951
        """
        xp = self._xp()
        p = self.predict(rows, cols)
        v = xp.asarray(values, dtype=np.float64).reshape(-1)
        if v.shape != p.reshape(-1).shape:
            raise ValueError(f"values has {v.shape[0]} entries but rows/cols name "
                             f"{p.reshape(-1).shape[0]} positions; pass one value per position")
        d = p.reshape(-1).astype(np.float64) - v
        return float(xp.sqrt(xp.mean(d * d)))

    def __repr__(self):
        m, n = self.shape
        tr = self.history.get("train_rmse")
        last = f"{tr[-1]:.4g}" if tr is not None and len(tr) else "nan"
        return (
            f"CompletionResult(shape=({m}, {n}), rank={self.rank}, n_iter={self.n_iter}, "
            f"converged={self.converged}, train_rmse={last}, message={self.message!r})"
        )
