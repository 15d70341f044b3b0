"""Numba kernels of the stationary relaxation solvers (CPU engine ``numba``).

Kernels
-------
``sor_sweep(data, indptr, indices, dpos, dinv, omega, b, x, backward)``
    One SOR sweep over the rows of a CSR matrix, in place on ``x``: for each
    row ``i`` (ascending, or descending when ``backward``)
    ``x_i <- (1 - omega) x_i + omega (b_i - sum_{j != i} a_ij x_j) / a_ii``,
    using the entries of ``x`` already updated in this sweep.  ``dpos`` is
    the position of each row's diagonal entry, ``dinv`` is ``1 / diag(A)``.
    Gauss-Seidel order is sequential, so the loop is serial.
``tsallis_probs(est, inv_p, base, scale, eta, probs, cdf)``
    The Tsallis-INF distribution for the losses ``L = (est - base * inv_p) / scale``:
    ``probs_i = 4 / (eta (L_i - x))^2`` with ``x`` found by Newton's method so that
    the probabilities sum to one; ``cdf`` receives their cumulative sums.  (A few
    microseconds: the bandit's decision must cost far less than a solve.)
"""

from __future__ import annotations

import numpy as np

from ._numba_util import jit


@jit
def sor_sweep(data, indptr, indices, dpos, dinv, omega, b, x, backward):
    n = x.shape[0]
    for step in range(n):
        i = n - 1 - step if backward else step
        acc = b[i]
        for k in range(indptr[i], indptr[i + 1]):
            if k != dpos[i]:
                acc -= data[k] * x[indices[k]]
        x[i] += omega * (acc * dinv[i] - x[i])


@jit
def tsallis_probs(est, inv_p, base, scale, eta, probs, cdf):
    k = est.shape[0]
    lmin = np.inf
    for i in range(k):
        probs[i] = (est[i] - base * inv_p[i]) / scale
        lmin = min(lmin, probs[i])
    c = 4.0 / (eta * eta)
    # d_i = L_i - x, starting at x = min L - 2 / eta (the best arm alone has weight 1)
    for i in range(k):
        probs[i] = probs[i] - lmin + 2.0 / eta
    for _ in range(100):
        s = 0.0
        g = 0.0
        for i in range(k):
            w = c / (probs[i] * probs[i])
            s += w
            g += w / probs[i]
        if s - 1.0 <= 1e-13:
            break
        step = (s - 1.0) / (2.0 * g)
        for i in range(k):
            probs[i] += step
    s = 0.0
    for i in range(k):
        probs[i] = c / (probs[i] * probs[i])
        s += probs[i]
    acc = 0.0
    for i in range(k):
        probs[i] /= s
        acc += probs[i]
        cdf[i] = acc


KERNELS = {"sor_sweep": sor_sweep, "tsallis_probs": tsallis_probs}
