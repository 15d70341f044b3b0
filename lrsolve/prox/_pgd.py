"""Proximal gradient (ISTA/FISTA) with backtracking and adaptive restart."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._backend import get_backend
from .._validation import check_finite, check_maxiter
from ._common import check_nonneg, to_host_float
from ._operators import Zero
from ._results import OptimizeResult

__all__ = ["proximal_gradient", "LeastSquares", "SmoothFunction"]


class SmoothFunction:
    """A smooth function given by callables: the protocol :func:`proximal_gradient` uses.

    Any object with ``value(x)`` and ``grad(x)`` methods (optionally
    ``value_and_grad(x)`` and a ``lipschitz`` attribute) works as ``f``; this
    class wraps plain callables into one.

    Parameters
    ----------
    value : callable
        ``value(x) -> float``; or, when ``grad`` is None, ``value(x) -> (float, gradient)``.
    grad : callable, optional
        ``grad(x) -> array``.
    lipschitz : float, optional
        A Lipschitz constant of the gradient, if known.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import SmoothFunction
    >>> f = SmoothFunction(lambda x: 0.5 * float(x @ x), lambda x: x)
    >>> f.value_and_grad(np.array([1.0, 2.0]))
    (2.5, array([1., 2.]))
    """

    def __init__(self, value, grad=None, lipschitz=None):
        if not callable(value) or (grad is not None and not callable(grad)):
            raise TypeError("value and grad must be callables")
        self._value = value
        self._grad = grad
        self.lipschitz = lipschitz

    def value(self, x):
        """The value ``f(x)``.

        Parameters
        ----------
        x : array
            Point.

        Returns
        -------
        float
            ``f(x)``.
        """
        if self._grad is None:
            return float(self._value(x)[0])
        return float(self._value(x))

    def grad(self, x):
        """The gradient at ``x``.

        Parameters
        ----------
        x : array
            Point.

        Returns
        -------
        array
            ``grad f(x)``.
        """
        if self._grad is None:
            return self._value(x)[1]
        return self._grad(x)

    def value_and_grad(self, x):
        """Both at once.

        Parameters
        ----------
        x : array
            Point.

        Returns
        -------
        tuple
            ``(f(x), grad f(x))``.
        """
        if self._grad is None:
            v, g = self._value(x)
            return float(v), g
        return float(self._value(x)), self._grad(x)


def _as_smooth(f):
    if isinstance(f, tuple) and len(f) == 2:
        return SmoothFunction(*f)
    if hasattr(f, "value") and hasattr(f, "grad"):
        if not hasattr(f, "value_and_grad"):
            return SmoothFunction(f.value, f.grad, getattr(f, "lipschitz", None))
        return f
    if callable(f):
        return SmoothFunction(f)
    raise TypeError(
        "f must be an object with value(x) and grad(x), a (value, grad) pair of callables, "
        f"or a callable returning (value, grad); got {type(f).__name__}"
    )


class LeastSquares:
    """``f(x) = scale/2 * ||A x - b||^2``: the smooth part of Lasso-type problems.

    Parameters
    ----------
    A : ndarray, sparse matrix or LinearOperator
        ``(m, n)`` design (NumPy/SciPy or CuPy/cupyx).
    b : ndarray
        ``(m,)`` target.
    scale : float, optional
        Factor of the data term (``1/m`` gives scikit-learn's ``1/(2n)`` scaling).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import LeastSquares
    >>> f = LeastSquares(np.eye(2), np.array([1.0, 0.0]))
    >>> f.value(np.zeros(2)), f.grad(np.zeros(2))
    (0.5, array([-1.,  0.]))
    """

    def __init__(self, A, b, scale=1.0):
        if not (hasattr(A, "ndim") or hasattr(A, "tocsr")):
            A = np.asarray(A)  # array-likes (lists)
        if not hasattr(b, "ndim"):
            b = np.asarray(b)
        self.bk = get_backend(A, b)
        self.A = A
        self.b = self.bk.asarray(b)
        if self.b.ndim != 1:
            raise ValueError(f"b must be 1-D, got shape {self.b.shape}")
        if A.shape[0] != self.b.shape[0]:
            raise ValueError(
                f"A has {A.shape[0]} rows but b has {self.b.shape[0]} entries; they must match"
            )
        self.scale = check_nonneg("scale", scale, strict=True)
        xp = self.bk.xp
        check_finite(xp, self.b, "b")
        data = getattr(A, "data", None) if hasattr(A, "tocsr") else A
        if isinstance(data, np.ndarray) or hasattr(data, "__cuda_array_interface__"):
            # arrays and sparse data; operators are not read
            check_finite(xp, data, "A")
        self._lip = None
        self.shape = A.shape

    @property
    def lipschitz(self):
        """``scale * ||A||_2^2`` (power iteration, computed once)."""
        if self._lip is None:
            xp = self.bk.xp
            rng = np.random.default_rng(0)
            v = xp.asarray(rng.standard_normal(self.A.shape[1]))
            v /= xp.linalg.norm(v)
            s = 0.0
            for _ in range(50):
                w = self.A.T @ (self.A @ v)
                s_new = to_host_float(xp.linalg.norm(w))
                if s_new == 0:
                    break
                v = w / s_new
                if abs(s_new - s) <= 1e-4 * s_new:
                    s = s_new
                    break
                s = s_new
            self._lip = self.scale * s * 1.01
        return self._lip

    def value(self, x):
        """``scale/2 ||Ax - b||^2``.

        Parameters
        ----------
        x : array
            Point.

        Returns
        -------
        float
            The value.
        """
        r = self.A @ x - self.b
        return 0.5 * self.scale * to_host_float(r @ r)

    def grad(self, x):
        """``scale * A^T (Ax - b)``.

        Parameters
        ----------
        x : array
            Point.

        Returns
        -------
        array
            The gradient.
        """
        return self.value_and_grad(x)[1]

    def value_and_grad(self, x):
        """Value and gradient with one product by ``A`` and one by ``A^T``.

        Parameters
        ----------
        x : array
            Point.

        Returns
        -------
        tuple
            ``(value, gradient)``.
        """
        r = self.A @ x - self.b
        return 0.5 * self.scale * to_host_float(r @ r), self.scale * (self.A.T @ r)

    def duality_gap(self, x, g):
        """Duality gap of ``f + g`` at ``x`` for ``g`` an :class:`L1` or :class:`ElasticNet`.

        Parameters
        ----------
        x : array
            Primal point.
        g : Penalty
            The penalty.

        Returns
        -------
        float
            ``P(x) - D(theta)`` for the rescaled residual ``theta`` (NaN for other ``g``).
        """
        from ._operators import L1, ElasticNet

        xp = self.bk.xp
        if isinstance(g, L1):
            lam1, mu = g.lam, 0.0
        elif isinstance(g, ElasticNet):
            lam1, mu = g.lam * g.l1_ratio, g.lam * (1 - g.l1_ratio)
        else:
            return float("nan")
        # work with the unscaled problem 1/2||b - Ax||^2 + (lam1 ||x||_1 + mu/2 ||x||^2)/scale
        lam1, mu = lam1 / self.scale, mu / self.scale
        r = self.b - self.A @ x
        xtr = self.A.T @ r - mu * x
        dn = to_host_float(xp.abs(xtr).max()) if xtr.size else 0.0
        rr = to_host_float(r @ r)
        ww = to_host_float(x @ x)
        l1 = to_host_float(xp.abs(x).sum())
        const = lam1 / dn if dn > lam1 else 1.0
        if lam1 == 0:
            const = 1.0
        gap = 0.5 * rr * (1 + const**2) + lam1 * l1 - const * to_host_float(r @ self.b)
        gap += 0.5 * mu * (1 + const**2) * ww
        return max(gap, 0.0) * self.scale


def _norm(xp, v):
    return to_host_float(xp.sqrt((v * v).sum()))


def proximal_gradient(
    f,
    g=None,
    x0=None,
    *,
    accel=True,
    step="backtracking",
    restart="adaptive",
    tol=1e-6,
    atol=0.0,
    maxiter=1000,
    callback=None,
    backtrack_factor=2.0,
):
    """Minimise ``f(x) + g(x)`` by proximal gradient (ISTA) or FISTA.

    ``f`` is smooth and convex, ``g`` convex with a cheap prox.  FISTA steps use
    Beck-Teboulle backtracking on the Lipschitz estimate (which may also
    decrease between iterations) and O'Donoghue-Candes adaptive restart.

    Parameters
    ----------
    f : object, tuple or callable
        The smooth part: an object with ``value(x)`` and ``grad(x)`` (e.g.
        :class:`LeastSquares`, :class:`SmoothFunction`), a ``(value, grad)``
        pair of callables, or a callable returning ``(value, grad)``.
    g : Penalty, optional
        The nonsmooth part (an object with ``value(x)`` and ``prox(x, tau)``,
        e.g. :class:`L1`); default zero.  Must be convex (``g.convex``).
    x0 : array_like
        Starting point (NumPy or CuPy; not modified).
    accel : bool, optional
        FISTA momentum (default) or plain ISTA.
    step : "backtracking" or float, optional
        Backtracking line search (default) or a fixed step ``0 < step <= 1/L``.
    restart : {"adaptive", "gradient", "function", None}, optional
        Momentum restart: ``"adaptive"``/``"gradient"`` restarts when
        ``<y_k - x_{k+1}, x_{k+1} - x_k> > 0``; ``"function"`` when the objective
        increases; None never.
    tol, atol : float, optional
        Stop when the gradient-mapping norm ``||G(y_k)|| = L ||y_k - x_{k+1}||``
        is at most ``max(tol * ||G(x_0)||, atol)``.
    maxiter : int, optional
        Maximum iterations.
    callback : callable, optional
        ``callback(xk)`` after every iteration; return True to stop.
    backtrack_factor : float, optional
        Factor (> 1) by which the Lipschitz estimate grows on a failed step.

    Returns
    -------
    OptimizeResult
        Unpacks as ``x, info``; carries ``objective`` (history, starting with
        ``F(x0)``), ``niter``, ``n_grad``, ``converged``, ``certificate`` (the
        gradient-mapping norm at the returned point), ``duality_gap`` (when
        ``f`` provides ``duality_gap(x, g)``), ``history["grad_mapping"]``,
        ``extra["restarts"]`` and ``extra["lipschitz"]``.

    Raises
    ------
    ValueError
        Nonconvex ``g``, a negative or zero step, bad ``restart``.

    References
    ----------
    .. [1] A. Beck and M. Teboulle, "A fast iterative shrinkage-thresholding
       algorithm for linear inverse problems", SIAM J. Imaging Sci. 2 (2009).
    .. [2] B. O'Donoghue and E. Candes, "Adaptive restart for accelerated gradient
       schemes", Found. Comput. Math. 15 (2015).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import proximal_gradient, LeastSquares, L1
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((50, 20)); b = A @ np.r_[np.ones(3), np.zeros(17)]
    >>> res = proximal_gradient(LeastSquares(A, b), L1(0.1), np.zeros(20), tol=1e-10)
    >>> x, info = res
    >>> info, res.converged, bool(res.duality_gap < 1e-8)
    (0, True, True)
    """
    f = _as_smooth(f)
    g = Zero() if g is None else g
    if not (hasattr(g, "prox") and hasattr(g, "value")):
        raise TypeError("g must have value(x) and prox(x, tau) methods (see lrsolve.prox.Penalty)")
    if not getattr(g, "convex", True):
        raise ValueError(
            f"proximal_gradient assumes a convex g, but {type(g).__name__} is nonconvex; "
            "use a convex penalty (e.g. L1 instead of L0)"
        )
    if x0 is None:
        raise ValueError("x0 is required: pass a starting point of the right shape")
    if restart not in ("adaptive", "gradient", "function", None):
        raise ValueError(
            f"restart must be 'adaptive', 'gradient', 'function' or None, got {restart!r}")
    if isinstance(step, str):
        if step != "backtracking":
            raise ValueError(f"step must be 'backtracking' or a positive float, got {step!r}")
        fixed = False
    elif isinstance(step, numbers.Real) and not isinstance(step, bool):
        check_nonneg("step", step, strict=True)
        fixed = True
    else:
        raise TypeError(f"step must be 'backtracking' or a positive float, got {step!r}")
    if not backtrack_factor > 1:
        raise ValueError(f"backtrack_factor must be > 1, got {backtrack_factor!r}")
    tol = check_nonneg("tol", tol)
    atol = check_nonneg("atol", atol)
    maxiter = check_maxiter(maxiter, 1000)

    bk = get_backend(x0)
    xp = bk.xp
    x = bk.asarray(x0)
    if x.dtype.kind not in "fc":
        x = x.astype(np.float64)
    x = x.copy()
    check_finite(xp, x, "x0")
    dt_eps = float(np.finfo(x.dtype).eps)

    fx, gx = f.value_and_grad(x)
    n_grad, n_fun = 1, 0
    if not math.isfinite(float(fx)):
        raise ValueError(f"f(x0) = {float(fx)} is not finite: start from a point where the "
                         "smooth part is defined (and check f's data for NaN/Inf)")
    if fixed:
        L = 1.0 / float(step)
    else:
        L = getattr(f, "lipschitz", None)
        if L is None or not math.isfinite(L) or L <= 0:
            # secant estimate from a small probe step
            d = -gx
            dn = _norm(xp, d)
            if dn == 0:
                L = 1.0
            else:
                h = 1e-3 * max(1.0, _norm(xp, x)) / dn
                gz = f.grad(x + h * d)
                n_grad += 1
                L = max(_norm(xp, gz - gx) / (h * dn), 1e-12)
        L = float(L)
    Fx = fx + float(g.value(x))
    objective = [Fx]
    gms = []
    y, fy, gy = x, fx, gx
    t = 1.0
    restarts = 0
    converged = False
    gm0 = None
    failed = False
    k = 0
    for k in range(1, maxiter + 1):  # noqa: B007
        while True:
            z = g.prox(y - gy * (1.0 / L), 1.0 / L)
            d = z - y
            dd = to_host_float((d * d).sum())
            if fixed:
                fz = f.value(z)
                n_fun += 1
                break
            fz = f.value(z)
            n_fun += 1
            q = fy + to_host_float((gy * d).sum()) + 0.5 * L * dd
            if fz <= q + 10 * dt_eps * max(abs(fy), 1.0):
                break
            L *= backtrack_factor
            if not L < 1e300:  # no step is short enough: f is NaN or not smooth near y
                failed = True
                break
        if failed:
            break
        gm = L * math.sqrt(dd)
        gms.append(gm)
        if gm0 is None:
            gm0 = max(gm, 1e-300)
        Fz = fz + float(g.value(z))
        do_restart = False
        if accel and restart is not None:
            if restart in ("adaptive", "gradient"):
                do_restart = to_host_float(((y - z) * (z - x)).sum()) > 0
            else:
                do_restart = Fz > objective[-1]
        if accel and not do_restart:
            t_new = 0.5 * (1 + math.sqrt(1 + 4 * t * t))
            y = z + ((t - 1) / t_new) * (z - x)
            t = t_new
        else:
            if do_restart:
                restarts += 1
            t = 1.0
            y = z
        x = z
        objective.append(Fz)
        stop = gm <= max(tol * gm0, atol)
        if callback is not None and callback(x):
            stop = True
        if stop:
            converged = gm <= max(tol * gm0, atol)
            break
        fy, gy = f.value_and_grad(y)
        n_grad += 1
        if not fixed:
            L /= 1.1  # let the estimate decrease again (adaptive step)
    if failed:
        return OptimizeResult(
            x=bk.to_output(x), info=-3, converged=False, niter=k,
            objective=np.asarray(objective), n_grad=n_grad, certificate=float("nan"),
            duality_gap=float("nan"),
            message=(f"line search failed at iteration {k}: no step of length >= 1e-300 "
                     "decreases f (f or its gradient is NaN or Inf near the iterate)"),
            history={"grad_mapping": np.asarray(gms)},
            extra={"restarts": restarts, "lipschitz": L, "n_fun": n_fun},
        )
    # certificate at the returned point
    fx, gx = f.value_and_grad(x)
    n_grad += 1
    zc = g.prox(x - gx * (1.0 / L), 1.0 / L)
    cert = L * _norm(xp, zc - x)
    gap = float("nan")
    if hasattr(f, "duality_gap"):
        try:
            gap = float(f.duality_gap(x, g))
        except Exception:  # pragma: no cover - user-defined duality_gap
            gap = float("nan")
    info = 0 if converged else k
    msg = (f"converged: gradient-mapping norm {gms[-1]:.3g} <= tolerance" if converged
           else f"maximum number of iterations ({maxiter}) reached" if k >= maxiter
           else "stopped by the callback")
    return OptimizeResult(
        x=bk.to_output(x), info=info, converged=converged, niter=k,
        objective=np.asarray(objective), n_grad=n_grad, certificate=cert, duality_gap=gap,
        message=msg, history={"grad_mapping": np.asarray(gms)},
        extra={"restarts": restarts, "lipschitz": L, "n_fun": n_fun},
    )

