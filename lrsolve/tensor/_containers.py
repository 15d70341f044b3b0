"""Factorised tensors: CP, Tucker, tensor-train and tensor-ring containers.

They unpack like TensorLy's (``weights, factors = cp``; ``core, factors = tucker``; a
TT or TR tensor unpacks to its list of cores), compute their norm from the factors
without forming the full tensor, and convert to and from TensorLy objects when
TensorLy is installed.  The decomposition functions return them with extra
attributes (``errors``, ``n_iter``, ``converged``, ``diagnostics``) that the plain
containers carry as ``None``.
"""

from __future__ import annotations

import math

import numpy as np

from .._backend import get_backend
from ._algebra import khatri_rao, multi_mode_dot

__all__ = ["CPTensor", "TuckerTensor", "TTTensor", "TRTensor"]


class _Factorised:
    """Shared behaviour: result attributes, relative error, repr."""

    _kind = "factorised"

    def _init_result(self):
        self.errors = None
        self.n_iter = None
        self.converged = None
        self.diagnostics = {}

    @property
    def xp(self):
        """The array module (``numpy`` or ``cupy``) of the stored arrays."""
        return get_backend(*self._arrays(), native=True).xp

    @property
    def ndim(self):
        """Order of the represented tensor."""
        return len(self.shape)

    @property
    def dtype(self):
        """Data type of the stored arrays."""
        return self._arrays()[0].dtype

    def relative_error(self, X):
        """Relative Frobenius error ``||X - T|| / ||X||`` of this approximation ``T``.

        Parameters
        ----------
        X : array_like
            The tensor that was approximated (same shape).

        Returns
        -------
        float
            The relative error, computed from the explicitly formed difference (accurate
            to rounding, also for exact decompositions).

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import CPTensor
        >>> cp = CPTensor(np.ones(1), [np.ones((2, 1)), np.ones((3, 1))])
        >>> cp.relative_error(np.ones((2, 3)))
        0.0
        """
        xp = get_backend(X, *self._arrays(), native=True).xp
        X = xp.asarray(X)
        if tuple(X.shape) != tuple(self.shape):
            raise ValueError(f"X has shape {tuple(X.shape)} but this tensor has shape {self.shape}")
        D = (X - self.to_tensor()).ravel()
        # both norms scaled by max|X|: no overflow or underflow of the squares
        s = float(xp.max(xp.abs(X))) if X.size else 0.0
        if s > 0 and math.isfinite(s):
            X, D = X / s, D / s
        nx = float(xp.linalg.norm(X.ravel()))
        diff = float(xp.linalg.norm(D))
        return diff / nx if nx > 0 else diff

    def __repr__(self):
        extra = ""
        if self.n_iter is not None:
            extra = f", n_iter={self.n_iter}, converged={self.converged}"
        if self.errors is not None and len(self.errors):
            extra += f", error={float(self.errors[-1]):.3e}"
        return f"{type(self).__name__}(shape={self.shape}, rank={self.rank}{extra})"


def _tensorly():
    try:
        import tensorly
    except ImportError as exc:  # pragma: no cover - tensorly is installed in the dev environment
        raise ImportError("to_tensorly/from_tensorly need TensorLy: pip install tensorly") from exc
    return tensorly


class CPTensor(_Factorised):
    """A CP (CANDECOMP/PARAFAC) tensor: a weighted sum of rank-one tensors.

    It represents ``sum_r w_r a_r^(0) o ... o a_r^(N-1)`` (``o``: outer product).

    Parameters
    ----------
    weights : array_like or None
        Length-``R`` component weights (``None``: all ones).
    factors : sequence of array_like
        ``N`` factor matrices of shapes ``(I_k, R)``.

    Attributes
    ----------
    weights, factors : array, list of array
        The stored parts; ``weights, factors = cp`` unpacks them.
    errors : numpy.ndarray or None
        Relative-error history of the fit that produced it (``None`` otherwise).
    n_iter : int or None
        Sweeps performed.
    converged : bool or None
        Whether the stopping test was met.
    diagnostics : dict
        Degeneracy diagnostics of a fit (see :func:`cp`).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import CPTensor
    >>> cp = CPTensor(None, [np.ones((2, 1)), np.ones((3, 1)), np.ones((4, 1))])
    >>> weights, factors = cp
    >>> cp.shape, cp.rank, round(cp.norm() ** 2)
    ((2, 3, 4), 1, 24)
    """

    _kind = "cp"

    def __init__(self, weights, factors):
        factors = list(factors)
        if not factors:
            raise ValueError("a CPTensor needs at least one factor matrix")
        bk = get_backend(weights, *factors, native=True)
        xp = bk.xp
        factors = [xp.asarray(f) for f in factors]
        R = factors[0].shape[1] if factors[0].ndim == 2 else None
        for k, f in enumerate(factors):
            if f.ndim != 2 or f.shape[1] != R:
                raise ValueError(
                    f"factors[{k}] has shape {tuple(f.shape)}; every factor must be a matrix with "
                    f"{R} columns (one per component)"
                )
        if weights is None:
            weights = xp.ones(R, dtype=factors[0].dtype)
        weights = xp.asarray(weights)
        if weights.shape != (R,):
            raise ValueError(f"weights has shape {tuple(weights.shape)}, expected ({R},)")
        self.weights = weights
        self.factors = factors
        self._init_result()

    def _arrays(self):
        return [self.weights, *self.factors]

    def __iter__(self):
        return iter((self.weights, self.factors))

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (self.weights, self.factors)[i]

    @property
    def shape(self):
        """Shape of the represented tensor."""
        return tuple(int(f.shape[0]) for f in self.factors)

    @property
    def rank(self):
        """Number of rank-one components ``R``."""
        return int(self.factors[0].shape[1])

    def to_tensor(self):
        """Form the full tensor.

        Returns
        -------
        array
            Dense tensor of shape :attr:`shape`.

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import CPTensor
        >>> CPTensor([2.0], [np.ones((2, 1)), np.ones((2, 1))]).to_tensor()
        array([[2., 2.],
               [2., 2.]])
        """
        xp = self.xp
        A0 = self.factors[0] * self.weights[None, :]
        if len(self.factors) == 1:
            return A0.sum(axis=1)
        full = A0 @ khatri_rao(self.factors[1:]).T
        return xp.reshape(full, self.shape)

    def norm(self):
        """Frobenius norm from the factor Gram matrices (the tensor is not formed).

        Returns
        -------
        float
            ``sqrt(w^T (G_0 * ... * G_{N-1}) w)`` with ``G_k = A_k^T A_k``.

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import CPTensor
        >>> CPTensor([3.0], [np.ones((2, 1)), np.ones((2, 1))]).norm()
        6.0
        """
        xp = self.xp
        V = xp.ones((self.rank, self.rank), dtype=self.factors[0].dtype)
        for f in self.factors:
            V = V * (f.T @ f)
        w = self.weights
        return float(np.sqrt(max(float(w @ V @ w), 0.0)))

    def normalize(self):
        """Return a copy with unit-norm factor columns, the norms absorbed into the weights.

        Returns
        -------
        CPTensor
            The same tensor with normalised factors.

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import CPTensor
        >>> cp = CPTensor(None, [np.full((4, 1), 2.0), np.ones((1, 1))]).normalize()
        >>> float(cp.weights[0]), float(cp.factors[0][0, 0])
        (4.0, 0.5)
        """
        xp = self.xp
        w = self.weights.copy()
        out = []
        for f in self.factors:
            n = xp.linalg.norm(f, axis=0)
            safe = xp.where(n > 0, n, 1)
            out.append(f / safe[None, :])
            w = w * n
        return CPTensor(w, out)

    def to_tensorly(self):
        """Convert to ``tensorly.cp_tensor.CPTensor`` (needs TensorLy).

        Returns
        -------
        tensorly.cp_tensor.CPTensor

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import CPTensor
        >>> tl_cp = CPTensor(None, [np.ones((2, 1)), np.ones((3, 1))]).to_tensorly()
        >>> tl_cp.shape
        (2, 3)
        """
        _tensorly()
        from tensorly.cp_tensor import CPTensor as TLCP

        return TLCP((self.weights, list(self.factors)))

    @classmethod
    def from_tensorly(cls, cp_tensor):
        """Build from a TensorLy CP tensor or a ``(weights, factors)`` pair.

        Parameters
        ----------
        cp_tensor : tensorly.cp_tensor.CPTensor or tuple
            The TensorLy object.

        Returns
        -------
        CPTensor

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import CPTensor
        >>> CPTensor.from_tensorly((np.ones(1), [np.ones((2, 1)), np.ones((3, 1))])).shape
        (2, 3)
        """
        weights, factors = cp_tensor
        return cls(weights, factors)


class TuckerTensor(_Factorised):
    """A Tucker tensor: a core multiplied by a factor matrix along every mode.

    It represents ``G x_0 U_0 x_1 ... x_{N-1} U_{N-1}``.

    Parameters
    ----------
    core : array_like
        Core tensor of shape ``(r_0, ..., r_{N-1})``.
    factors : sequence of array_like
        Factor matrices of shapes ``(I_k, r_k)``.

    Attributes
    ----------
    core, factors : array, list of array
        ``core, factors = tucker`` unpacks them.
    errors, n_iter, converged, diagnostics
        Fit information (``None``/empty for a plain container); see :func:`tucker`.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import TuckerTensor
    >>> tt = TuckerTensor(np.ones((1, 1)), [np.ones((3, 1)), np.ones((2, 1))])
    >>> core, factors = tt
    >>> tt.shape, tt.rank
    ((3, 2), (1, 1))
    """

    _kind = "tucker"

    def __init__(self, core, factors):
        factors = list(factors)
        bk = get_backend(core, *factors, native=True)
        xp = bk.xp
        core = xp.asarray(core)
        factors = [xp.asarray(f) for f in factors]
        if core.ndim != len(factors):
            raise ValueError(f"core has order {core.ndim} but {len(factors)} factors were given")
        for k, f in enumerate(factors):
            if f.ndim != 2 or f.shape[1] != core.shape[k]:
                raise ValueError(
                    f"factors[{k}] has shape {tuple(f.shape)}; it needs {core.shape[k]} columns "
                    f"(core.shape[{k}])"
                )
        self.core = core
        self.factors = factors
        self._init_result()

    def _arrays(self):
        return [self.core, *self.factors]

    def __iter__(self):
        return iter((self.core, self.factors))

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (self.core, self.factors)[i]

    @property
    def shape(self):
        """Shape of the represented tensor."""
        return tuple(int(f.shape[0]) for f in self.factors)

    @property
    def rank(self):
        """Multilinear rank (the core shape)."""
        return tuple(int(s) for s in self.core.shape)

    def to_tensor(self):
        """Form the full tensor.

        Returns
        -------
        array
            Dense tensor of shape :attr:`shape`.

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import TuckerTensor
        >>> TuckerTensor(np.full((1, 1), 2.0), [np.ones((2, 1)), np.ones((1, 1))]).to_tensor()
        array([[2.],
               [2.]])
        """
        return multi_mode_dot(self.core, self.factors)

    def norm(self):
        """Frobenius norm from the core and the factor Grams (the tensor is not formed).

        Returns
        -------
        float
            ``sqrt(<G, G x_k U_k^T U_k>)``.

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import TuckerTensor
        >>> TuckerTensor(np.full((1, 1), 2.0), [np.ones((4, 1)), np.ones((1, 1))]).norm()
        4.0
        """
        xp = self.xp
        grams = [f.T @ f for f in self.factors]
        GG = multi_mode_dot(self.core, grams)
        return float(np.sqrt(max(float(xp.sum(self.core * GG)), 0.0)))

    def to_tensorly(self):
        """Convert to ``tensorly.tucker_tensor.TuckerTensor`` (needs TensorLy).

        Returns
        -------
        tensorly.tucker_tensor.TuckerTensor

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import TuckerTensor
        >>> TuckerTensor(np.ones((1, 1)), [np.ones((3, 1)), np.ones((2, 1))]).to_tensorly().shape
        (3, 2)
        """
        _tensorly()
        from tensorly.tucker_tensor import TuckerTensor as TLTucker

        return TLTucker((self.core, list(self.factors)))

    @classmethod
    def from_tensorly(cls, tucker_tensor):
        """Build from a TensorLy Tucker tensor or a ``(core, factors)`` pair.

        Parameters
        ----------
        tucker_tensor : tensorly.tucker_tensor.TuckerTensor or tuple
            The TensorLy object.

        Returns
        -------
        TuckerTensor

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import TuckerTensor
        >>> TuckerTensor.from_tensorly((np.ones((1, 1)), [np.ones((3, 1)), np.ones((2, 1))])).rank
        (1, 1)
        """
        core, factors = tucker_tensor
        return cls(core, factors)


def _check_cores(cores, ring):
    cores = list(cores)
    if not cores:
        raise ValueError("need at least one core")
    xp = get_backend(*cores, native=True).xp
    cores = [xp.asarray(c) for c in cores]
    for k, c in enumerate(cores):
        if c.ndim != 3:
            raise ValueError(
                f"cores[{k}] has shape {tuple(c.shape)}; every core must have shape "
                "(r_k, I_k, r_k+1)"
            )
        nxt = cores[(k + 1) % len(cores)]
        if k + 1 < len(cores) and c.shape[2] != nxt.shape[0]:
            raise ValueError(
                f"cores[{k}] ends with rank {c.shape[2]} but cores[{k + 1}] starts with "
                f"{nxt.shape[0]}"
            )
    if ring:
        if cores[-1].shape[2] != cores[0].shape[0]:
            raise ValueError(
                f"a tensor ring closes: cores[-1].shape[2] ({cores[-1].shape[2]}) must equal "
                f"cores[0].shape[0] ({cores[0].shape[0]})"
            )
    elif cores[0].shape[0] != 1 or cores[-1].shape[2] != 1:
        raise ValueError(
            "a tensor train has boundary ranks 1: cores[0].shape[0] and cores[-1].shape[2] "
            "must be 1"
        )
    return cores


class _CoreChain(_Factorised):
    def __init__(self, cores):
        self.cores = _check_cores(cores, self._ring)
        self._init_result()

    def _arrays(self):
        return list(self.cores)

    def __iter__(self):
        return iter(self.cores)

    def __len__(self):
        return len(self.cores)

    def __getitem__(self, i):
        return self.cores[i]

    @property
    def shape(self):
        """Shape of the represented tensor."""
        return tuple(int(c.shape[1]) for c in self.cores)

    @property
    def rank(self):
        """Bond ranks ``(r_0, ..., r_N)`` (``r_0 = r_N``)."""
        return tuple(int(c.shape[0]) for c in self.cores) + (int(self.cores[-1].shape[2]),)

    def _chain(self):
        xp = self.xp
        out = self.cores[0]  # (r0, I0, r1)
        r0 = out.shape[0]
        out = xp.reshape(out, (r0 * out.shape[1], out.shape[2]))
        n = self.cores[0].shape[1]
        for c in self.cores[1:]:
            out = out @ xp.reshape(c, (c.shape[0], -1))  # (r0*n, I*r)
            n *= c.shape[1]
            out = xp.reshape(out, (r0 * n, c.shape[2]))
        return xp.reshape(out, (r0, n, self.cores[-1].shape[2]))

    def to_tensor(self):
        """Form the full tensor.

        Returns
        -------
        array
            Dense tensor of shape :attr:`shape`.

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import TTTensor
        >>> TTTensor([np.ones((1, 2, 1)), np.full((1, 3, 1), 2.0)]).to_tensor().shape
        (2, 3)
        """
        xp = self.xp
        full = self._chain()
        full = xp.einsum("aia->i", full) if self._ring else full[0, :, 0]
        return xp.reshape(full, self.shape)

    def norm(self):
        """Frobenius norm by transfer matrices (the tensor is not formed).

        Returns
        -------
        float
            The norm of the represented tensor.

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import TTTensor
        >>> TTTensor([np.ones((1, 2, 1)), np.full((1, 2, 1), 2.0)]).norm()
        4.0
        """
        xp = self.xp
        r0 = self.cores[0].shape[0]
        # E[(a,b),(c,d)] products; M has shape (r0, r0, r_k, r_k)
        M = xp.einsum("ac,bd->abcd", xp.eye(r0, dtype=self.dtype), xp.eye(r0, dtype=self.dtype))
        for c in self.cores:
            M = xp.einsum("abcd,cie->abeid", M, c)
            M = xp.einsum("abeid,dif->abef", M, c)
        val = xp.einsum("abab->", M) if self._ring else M[0, 0, 0, 0]
        return float(np.sqrt(max(float(val), 0.0)))


class TTTensor(_CoreChain):
    """A tensor train (matrix product state) with cores ``G_k`` of shapes ``(r_k, I_k, r_k+1)``.

    Parameters
    ----------
    cores : sequence of array_like
        The cores; ``r_0 = r_N = 1``.

    Attributes
    ----------
    cores : list of array
        A TT tensor unpacks to (and indexes as) its list of cores, as in TensorLy.
    errors, n_iter, converged, diagnostics
        Fit information (``None``/empty for a plain container).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import TTTensor
    >>> tt = TTTensor([np.ones((1, 3, 2)), np.ones((2, 4, 1))])
    >>> tt.shape, tt.rank
    ((3, 4), (1, 2, 1))
    >>> G0, G1 = tt
    """

    _kind = "tt"
    _ring = False

    def to_tensorly(self):
        """Convert to ``tensorly.tt_tensor.TTTensor`` (needs TensorLy).

        Returns
        -------
        tensorly.tt_tensor.TTTensor

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import TTTensor
        >>> TTTensor([np.ones((1, 3, 2)), np.ones((2, 4, 1))]).to_tensorly().rank
        (1, 2, 1)
        """
        _tensorly()
        from tensorly.tt_tensor import TTTensor as TLTT

        return TLTT(list(self.cores))

    @classmethod
    def from_tensorly(cls, tt_tensor):
        """Build from a TensorLy TT tensor or a list of cores.

        Parameters
        ----------
        tt_tensor : tensorly.tt_tensor.TTTensor or list of array
            The TensorLy object.

        Returns
        -------
        TTTensor

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import TTTensor
        >>> TTTensor.from_tensorly([np.ones((1, 3, 1))]).shape
        (3,)
        """
        return cls(list(tt_tensor))


class TRTensor(_CoreChain):
    """A tensor ring with cores ``G_k`` of shapes ``(r_k, I_k, r_k+1)`` and ``r_N = r_0``.

    Entry ``X[i_0, ..., i_{N-1}] = trace(G_0[:, i_0, :] @ ... @ G_{N-1}[:, i_{N-1}, :])``.

    Parameters
    ----------
    cores : sequence of array_like
        The cores.

    Attributes
    ----------
    cores : list of array
        A TR tensor unpacks to its list of cores, as in TensorLy.
    errors, n_iter, converged, diagnostics
        Fit information (``None``/empty for a plain container).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import TRTensor
    >>> tr = TRTensor([np.ones((2, 3, 2)), np.ones((2, 4, 2))])
    >>> tr.rank, float(tr.to_tensor()[0, 0])
    ((2, 2, 2), 4.0)
    """

    _kind = "tr"
    _ring = True

    def to_tensorly(self):
        """Convert to ``tensorly.tr_tensor.TRTensor`` (needs TensorLy).

        Returns
        -------
        tensorly.tr_tensor.TRTensor

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import TRTensor
        >>> TRTensor([np.ones((2, 3, 2)), np.ones((2, 4, 2))]).to_tensorly().rank
        (2, 2, 2)
        """
        _tensorly()
        from tensorly.tr_tensor import TRTensor as TLTR

        return TLTR(list(self.cores))

    @classmethod
    def from_tensorly(cls, tr_tensor):
        """Build from a TensorLy TR tensor or a list of cores.

        Parameters
        ----------
        tr_tensor : tensorly.tr_tensor.TRTensor or list of array
            The TensorLy object.

        Returns
        -------
        TRTensor

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import TRTensor
        >>> TRTensor.from_tensorly([np.ones((2, 3, 2)), np.ones((2, 4, 2))]).shape
        (3, 4)
        """
        return cls(list(tr_tensor))
