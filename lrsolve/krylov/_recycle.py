"""The recycle space shared by :func:`gcrodr` and :func:`rcg`: an immutable ``(U, C = A U)``."""

from __future__ import annotations

import itertools
import types
import weakref

import numpy as np

from .._backend import array_kind

__all__ = ["RecycleSpace", "operator_fingerprint", "prepare_space", "orthonormalize_pair"]


def _readonly(a):
    """A read-only view on the host (CuPy arrays have no such flag: they are returned as is)."""
    if isinstance(a, np.ndarray):
        v = a.view()
        v.flags.writeable = False
        return v
    return a


class RecycleSpace:
    """An immutable recycle space: ``k`` directions ``U`` and their images ``C = A U``.

    Returned as ``result.recycle`` by :func:`gcrodr` and :func:`rcg` and passed
    back as ``recycle=`` to the next solve.  ``C`` has orthonormal columns
    (``C^H C = I``); for :func:`rcg`, ``U^H C = U^H A U`` is the small
    Galerkin matrix of the deflation.  The object never changes after it is
    made: its arrays are read-only views (on NumPy), and a solve that needs
    another space (a changed ``A``) makes a new object.

    Parameters
    ----------
    U, C : array of shape ``(n, k)``
        The directions and their images ``C = A U`` (orthonormal columns).
    fingerprint : tuple or None
        Identifies the operator ``A`` the space was built for (see
        :func:`lrsolve.krylov.operator_fingerprint`).
    method : str, optional
        The solver that built the space (``"gcrodr"`` or ``"rcg"``).
    S : array of shape ``(n, k)``, optional
        With a right preconditioner ``M``: the same directions in the variables
        of the preconditioned operator, ``U = M S``.
    precond_fingerprint : tuple, optional
        Identifies the preconditioner ``S`` belongs to.

    Attributes
    ----------
    U, C : array of shape ``(n, k)``
        Read-only on NumPy.  CuPy arrays cannot be flagged: do not write to them.
    n, k : int
        Problem size and number of directions.
    dtype : numpy.dtype
        The dtype of ``U`` and ``C``; a solve in another dtype rejects the space.
    S : array or None
        The directions in the preconditioned variables (``U = M S``), or None.
    fingerprint : tuple or None
        The operator identity the space belongs to.
    precond_fingerprint : tuple or None
        The preconditioner identity ``S`` belongs to.
    method : str
        ``"gcrodr"`` or ``"rcg"``.

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> A = lrsolve.operators.poisson((20, 20)).tocsr()
    >>> b = np.ones(400)
    >>> res = lrsolve.krylov.gcrodr(A, b, k=5, m=20, rtol=1e-8)
    >>> space = res.recycle
    >>> space.n, space.k, space.dtype
    (400, 5, dtype('float64'))
    >>> space.U.flags.writeable
    False
    >>> bool(np.allclose(space.C.T @ space.C, np.eye(5)))
    True
    """

    __slots__ = ("_U", "_C", "_S", "_fingerprint", "_pfingerprint", "_method")

    def __init__(self, U, C, fingerprint=None, method="gcrodr", *, S=None,
                 precond_fingerprint=None):
        if U.shape != C.shape or U.ndim != 2:
            raise ValueError(
                f"U and C must have the same shape (n, k), got {U.shape} and {C.shape}"
            )
        if U.dtype != C.dtype:
            raise ValueError(f"U and C must have the same dtype, got {U.dtype} and {C.dtype}")
        if S is not None and (S.shape != U.shape or S.dtype != U.dtype):
            raise ValueError("S must have the shape and dtype of U")
        object.__setattr__(self, "_U", _readonly(U))
        object.__setattr__(self, "_C", _readonly(C))
        object.__setattr__(self, "_S", None if S is None else _readonly(S))
        object.__setattr__(self, "_fingerprint", fingerprint)
        object.__setattr__(self, "_pfingerprint", precond_fingerprint)
        object.__setattr__(self, "_method", str(method))

    def __setattr__(self, name, value):
        raise AttributeError("RecycleSpace is immutable; a solve returns a new one")

    def __delattr__(self, name):
        raise AttributeError("RecycleSpace is immutable")

    @property
    def U(self):
        """The ``(n, k)`` directions (read-only)."""
        return self._U

    @property
    def C(self):
        """The ``(n, k)`` images ``A U``, orthonormal columns (read-only)."""
        return self._C

    @property
    def n(self):
        """Problem size."""
        return int(self._U.shape[0])

    @property
    def k(self):
        """Number of directions."""
        return int(self._U.shape[1])

    @property
    def dtype(self):
        """The dtype of ``U`` and ``C``."""
        return np.dtype(self._U.dtype)

    @property
    def S(self):
        """The directions in the preconditioned variables, ``U = M S`` (or None)."""
        return self._S

    @property
    def precond_fingerprint(self):
        """Identity of the preconditioner ``S`` belongs to (or None)."""
        return self._pfingerprint

    @property
    def fingerprint(self):
        """Identity of the operator the space was built for."""
        return self._fingerprint

    @property
    def method(self):
        """The solver that built the space."""
        return self._method

    def __repr__(self):
        kind = array_kind(self._U) or "numpy"
        return (f"RecycleSpace(n={self.n}, k={self.k}, dtype={self.dtype}, on={kind}, "
                f"method={self._method!r})")


def _hash_arrays(*arrays):
    kinds = {array_kind(a) for a in arrays}
    if "cupy" in kinds:  # a cheap device reduction instead of a copy to the host
        out = []
        for a in arrays:
            xp = __import__("cupy")
            w = xp.cos(xp.arange(a.size, dtype=xp.float64) * 0.7071)
            v = a.ravel()
            out.append(float(xp.dot(v.real.astype(xp.float64), w)))
            if v.dtype.kind == "c":
                out.append(float(xp.dot(v.imag.astype(xp.float64), w)))
        return tuple(out)
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        h.update(np.ascontiguousarray(a).view(np.uint8).ravel())
    return h.hexdigest()


def operator_fingerprint(A):
    """Return a value that identifies the operator ``A`` for the recycle protocol.

    Explicit matrices (dense arrays, SciPy/cupyx sparse matrices) are identified
    by their shape, dtype and a hash of their contents, so that an equal matrix
    built anew is recognised as the same operator and any changed entry is
    seen.  Other operators (``LinearOperator``, callables, lrsolve operators)
    are identified by the object itself; pass ``same_operator=`` to the solver
    to override the decision.

    Parameters
    ----------
    A : matrix, sparse matrix, LinearOperator, callable or Operator
        The operator.

    Returns
    -------
    tuple
        A hashable fingerprint; two fingerprints compare equal when the
        operators are considered the same.

    Examples
    --------
    >>> import scipy.sparse as sp, lrsolve
    >>> A = sp.eye(4, format="csr")
    >>> fp = lrsolve.krylov.operator_fingerprint
    >>> fp(A) == fp(A.copy()), fp(A) == fp(2 * A)
    (True, False)
    """
    kind = array_kind(A)
    shape = tuple(getattr(A, "shape", ()))
    dtype = str(getattr(A, "dtype", ""))
    try:
        if kind == "numpy":
            import scipy.sparse as sp

            if sp.issparse(A):
                M = A.tocsr()
                return ("sparse", shape, dtype, int(M.nnz),
                        _hash_arrays(M.data, M.indices, M.indptr))
            if isinstance(A, np.ndarray):
                return ("dense", shape, dtype, _hash_arrays(A))
        elif kind == "cupy":
            import cupyx.scipy.sparse as csp

            if csp.issparse(A):
                M = A.tocsr()
                return ("sparse", shape, dtype, int(M.nnz),
                        _hash_arrays(M.data, M.indices, M.indptr))
            if hasattr(A, "__cuda_array_interface__"):
                return ("dense", shape, dtype, _hash_arrays(A))
    except (TypeError, ValueError, AttributeError):  # pragma: no cover - exotic inputs
        pass
    return ("object", shape, dtype, _object_token(A))


#: id(obj) -> (weak reference to obj, token): the identity of objects that have no contents
#: to hash (LinearOperators, callables, preconditioner objects).
_OBJECT_TOKENS = {}
_TOKEN_COUNTER = itertools.count()


def _object_token(A):
    """A token that identifies the live object ``A``, never reused for another object.

    ``id(A)`` alone is not enough: CPython gives a new object the address (and so the
    id) of one just freed, and a loop that builds a new operator per system would find
    its predecessor's space "for the same operator".  The token is kept with a weak
    reference to ``A`` and dropped with it; an object without weak references gets a
    fresh token each time (its spaces are always re-projected: safe, never stale).
    """
    if isinstance(A, types.MethodType):
        # a bound method (A=obj.matvec) is a new object at every attribute access: its
        # identity is its object's and its function's
        return ("method", _object_token(A.__self__), _object_token(A.__func__))
    key = id(A)
    entry = _OBJECT_TOKENS.get(key)
    if entry is not None and entry[0]() is A:
        return entry[1]
    token = next(_TOKEN_COUNTER)

    def forget(ref, key=key):
        if _OBJECT_TOKENS.get(key, (None,))[0] is ref:
            del _OBJECT_TOKENS[key]

    try:
        ref = weakref.ref(A, forget)
    except TypeError:
        return ("unique", token)
    _OBJECT_TOKENS[key] = (ref, token)
    return token


def check_space(recycle, n, dtype, name):
    """Validate a ``recycle=`` argument against the system (size and dtype)."""
    if not isinstance(recycle, RecycleSpace):
        raise TypeError(
            f"recycle must be a RecycleSpace (the .recycle of an earlier {name} result) or "
            f"None, got {type(recycle).__name__}"
        )
    if recycle.n != n:
        raise ValueError(
            f"recycle space has n={recycle.n} rows but the system has n={n}; it comes from a "
            "problem of another size: pass recycle=None to start afresh"
        )
    if np.dtype(recycle.dtype) != np.dtype(dtype):
        raise ValueError(
            f"recycle space has dtype {recycle.dtype} but the solve runs in {np.dtype(dtype)}; "
            "solve in the space's dtype or pass recycle=None"
        )


def orthonormalize_pair(xp, Ur, Cr, Sr=None):
    """Make the rows of ``Cr`` orthonormal and transform ``Ur`` alike (``C = A U`` is kept).

    ``Ur`` and ``Cr`` hold the directions as rows, shape ``(k, n)``.  Directions whose
    image is numerically dependent are dropped.  Gram-matrix (symmetric)
    orthonormalisation, twice as in CGS2 unless the first Gram matrix is so well
    conditioned (``eps * cond <= 1e-10``: float64 with ``cond(C) <~ 670``) that one
    pass leaves ``C`` orthonormal to about ``1e-10``; ``Ur`` (and ``Sr``) take the
    product of the passes' transforms in one product.  Returns new ``(Ur, Cr)``, or
    ``(Ur, Cr, Sr)`` when ``Sr`` (rows transformed alike) is given.
    """
    import scipy.linalg as sla

    if Cr.shape[0] == 0:
        return (Ur, Cr) if Sr is None else (Ur, Cr, Sr)
    dtype = np.dtype(Cr.dtype)
    eps = float(np.finfo(dtype).eps)
    hdt = np.complex128 if dtype.kind == "c" else np.float64
    Ttot = None
    for rel in (1e3 * eps, 0.0):
        S = np.asarray(_host(xp, Cr.conj() @ Cr.T), dtype=hdt)
        S = 0.5 * (S + S.conj().T)
        w, V = sla.eigh(S)
        if not np.all(np.isfinite(w)) or w[-1] <= 0:
            return (Ur[:0], Cr[:0]) if Sr is None else (Ur[:0], Cr[:0], Sr[:0])
        keep = w > max(rel, 1e-300) * w[-1]
        X = V[:, keep] / np.sqrt(w[keep])
        Cr = xp.asarray(np.ascontiguousarray(X.T).astype(dtype, copy=False)) @ Cr
        Ttot = X.T if Ttot is None else X.T @ Ttot
        if rel and eps * w[-1] / w[keep][0] <= 1e-10:
            break
    T = xp.asarray(np.ascontiguousarray(Ttot).astype(dtype, copy=False))
    same = Sr is Ur
    Ur = T @ Ur
    if Sr is not None:
        Sr = Ur if same else T @ Sr
    return (Ur, Cr) if Sr is None else (Ur, Cr, Sr)


def _host(xp, a):
    if xp.__name__ == "cupy":
        return xp.asnumpy(a)
    return a


def precond_fingerprint(M, precond, fingerprint):
    """Identify the preconditioner of a solve (None without one).

    A named preconditioner is identified by its name and options and by the
    operator it is built from; an explicit matrix by its contents; any other
    object by its identity.
    """
    if M is None and precond is None:
        return None
    if isinstance(precond, str) or (isinstance(precond, tuple) and len(precond) == 2
                                    and isinstance(precond[0], str)):
        return ("spec", repr(precond), fingerprint)
    return ("M",) + tuple(operator_fingerprint(M if M is not None else precond))


def prepare_space(recycle, op, fingerprint, same_operator, bk, prec, pfp, tally, kmax=None,
                  same_precond=None):
    """Return ``(Ur, Cr, Sr, reprojected)`` (rows, on the backend) valid for ``op`` and ``prec``.

    When the space belongs to another operator, ``C = A U`` is recomputed (``k``
    products, counted in ``tally``) and made orthonormal again; when it belongs to
    another preconditioner, ``U = M S`` is recomputed first (``k`` applications).  A
    space without ``S`` keeps its ``U`` and gets ``S = M^{-1} U`` when the
    preconditioner has that product (``prec._unapply``: Jacobi, IC(0)); otherwise its
    ``U`` is taken as ``S``.
    ``Sr`` is ``Ur`` itself without a preconditioner.  With ``kmax``, a larger space
    is cut to its first ``kmax`` vectors first (columns of an orthonormal ``C`` stay
    orthonormal, and ``C = A U`` holds column by column).  ``same_precond`` (None:
    by fingerprint) says whether the stored ``S`` counts as valid for ``prec``.
    """
    xp = bk.xp
    cut = slice(None) if kmax is None else slice(0, kmax)

    def rows(a):
        return xp.ascontiguousarray(bk.asarray(a).T[cut])

    Ur, Cr = rows(recycle.U), rows(recycle.C)
    if not bool(xp.isfinite(Ur).all()):
        raise ValueError("recycle.U contains NaN or Inf: pass a finite space, or recycle=None "
                         "to start afresh")
    if same_operator is not None:
        same = bool(same_operator)
    else:
        same = recycle.fingerprint is not None and recycle.fingerprint == fingerprint
    if prec is None:
        Sr = Ur
    elif recycle.S is not None and (
        recycle.precond_fingerprint == pfp if same_precond is None else bool(same_precond)
    ):
        Sr = rows(recycle.S)
    elif recycle.S is None and getattr(prec, "_unapply", None) is not None:
        # a space without preconditioned directions (built without a preconditioner, or
        # by rcg): U is kept, S = M^{-1} U where the preconditioner offers that product
        Sr = xp.empty_like(Ur)
        for i in range(Ur.shape[0]):
            prec._unapply(Ur[i], Sr[i])
    else:  # the space belongs to another preconditioner: U = M S anew
        Sr = rows(recycle.S) if recycle.S is not None else Ur
        Ur = xp.empty_like(Sr)
        for i in range(Sr.shape[0]):
            prec.apply(Sr[i], Ur[i])
            tally.pc += 1
        same = False
    if same:
        return Ur, Cr, Sr, False
    k = Ur.shape[0]
    Cn = xp.empty_like(Ur)
    for i in range(k):
        op.matvec(Ur[i], out=Cn[i])
        tally.mv += 1
    if not bool(xp.isfinite(Cn).all()):
        raise ValueError("A U contains NaN or Inf: the operator produced non-finite values")
    Ur, Cn, Sr = orthonormalize_pair(xp, Ur, Cn, Sr)
    return Ur, Cn, Sr, True
