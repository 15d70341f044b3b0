"""Reference (plain array) kernels of the prox family: run on NumPy and CuPy alike.

They are the oracles of the Numba kernels in the tests.  Projections use a sort
(``O(n log n)``) where the Numba engine uses Condat's linear-time algorithm.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KERNELS"]


def _xp(x):
    return np if isinstance(x, np.ndarray) else __import__(type(x).__module__.partition(".")[0])


def soft_threshold(x, t):
    xp = _xp(x)
    return xp.sign(x) * xp.maximum(xp.abs(x) - t, 0)


def clip(x, lo, hi):
    xp = _xp(x)
    return xp.clip(x, lo, hi)


def simplex_threshold(y, a):
    """Threshold by sorting (Held-Wolfe-Crowder / Duchi et al.)."""
    xp = _xp(y)
    u = xp.sort(y.reshape(-1))[::-1]
    css = xp.cumsum(u) - a
    ind = xp.arange(1, u.shape[0] + 1, dtype=u.dtype)
    cond = u - css / ind > 0
    rho = int(xp.nonzero(cond)[0][-1])
    return float(css[rho] / (rho + 1))


def project_simplex(x, a):
    xp = _xp(x)
    tau = simplex_threshold(x.reshape(-1), a)
    return xp.maximum(x - tau, 0)


def project_l1ball(x, r):
    xp = _xp(x)
    if float(xp.abs(x).sum()) <= r:
        return x.copy()
    tau = max(simplex_threshold(xp.abs(x).reshape(-1), r), 0.0)
    return soft_threshold(x, tau)


def _tv1d_loop(y, lam, out):
    # the same algorithm as the Numba kernel, interpreted (used by the numpy engine)
    from ._numba_prox import _tv1d

    return _tv1d(y, lam, out)


def tv1d(y, lam):
    """Condat's direct algorithm, interpreted; CuPy inputs are solved on the host."""
    xp = _xp(y)
    host = np.ascontiguousarray(y.get() if xp is not np else y, dtype=np.float64)
    out = np.empty_like(host)
    _tv1d_loop(host, float(lam), out)
    return out if xp is np else xp.asarray(out)


def hals_sweep(W, XHt, HHt, prox_weight):
    """One HALS sweep over the columns of ``W`` (in place; NumPy or CuPy).

    Returns ``(W, delta)`` with ``delta`` the squared norm of the change.
    """
    xp = _xp(W)
    delta = 0.0
    for k in range(W.shape[1]):
        hkk = HHt[k, k]
        den = hkk + prox_weight
        old = W[:, k].copy()
        if den <= 0:
            W[:, k] = 0
        else:
            num = XHt[:, k] - W @ HHt[:, k] + hkk * W[:, k] + prox_weight * W[:, k]
            W[:, k] = xp.maximum(num / den, 0)
        d = W[:, k] - old
        delta = delta + (d @ d)
    return W, float(delta)


KERNELS = {
    "prox_soft_threshold": soft_threshold,
    "prox_clip": clip,
    "prox_project_simplex": project_simplex,
    "prox_project_l1ball": project_l1ball,
    "prox_simplex_threshold": simplex_threshold,
    "prox_tv1d": tv1d,
    "prox_hals_sweep": hals_sweep,
}
