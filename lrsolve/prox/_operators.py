"""Vector proximal operators and projections, as functions and as penalty objects."""

from __future__ import annotations

import abc
import math

import numpy as np

from ._common import as_float_array, check_nonneg, check_tau, kernel, to_host_float

__all__ = [
    "prox_l1",
    "prox_l2",
    "prox_squared_l2",
    "prox_elastic_net",
    "prox_group_l21",
    "prox_tv1d",
    "project_box",
    "project_nonneg",
    "project_simplex",
    "project_l1ball",
    "project_l2ball",
    "Penalty",
    "Zero",
    "L1",
    "L2",
    "SquaredL2",
    "ElasticNet",
    "GroupL21",
    "TV1D",
    "L0",
    "Box",
    "NonNeg",
    "Simplex",
    "L1Ball",
    "L2Ball",
]


# ============================================================================= functions
def prox_l1(x, tau, lam=1.0):
    """Proximal operator of ``lam * ||x||_1`` (soft thresholding).

    Parameters
    ----------
    x : array_like
        Point (any shape; NumPy or CuPy).
    tau : float
        Step ``>= 0``: returns ``argmin_z lam*||z||_1 + ||z - x||^2 / (2 tau)``.
    lam : float, optional
        Penalty weight ``>= 0`` (default 1).

    Returns
    -------
    ndarray
        ``sign(x) * max(|x| - tau*lam, 0)`` (one fused pass with the Numba engine).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import prox_l1
    >>> prox_l1(np.array([-2.0, 0.5, 3.0]), 1.0)
    array([-1.,  0.,  2.])
    """
    tau = check_tau(tau)
    lam = check_nonneg("lam", lam)
    bk, x = as_float_array(x, "x")
    out = kernel(bk, "prox_soft_threshold", x)(x, tau * lam)
    return bk.to_output(out)


def prox_l2(x, tau, lam=1.0):
    """Proximal operator of the Euclidean norm ``lam * ||x||_2`` (block soft thresholding).

    Parameters
    ----------
    x : array_like
        Point.
    tau : float
        Step ``>= 0``.
    lam : float, optional
        Weight ``>= 0``.

    Returns
    -------
    ndarray
        ``max(1 - tau*lam/||x||, 0) * x``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import prox_l2
    >>> prox_l2(np.array([3.0, 4.0]), 1.0)
    array([2.4, 3.2])
    """
    tau = check_tau(tau)
    lam = check_nonneg("lam", lam)
    bk, x = as_float_array(x, "x")
    nrm = to_host_float(bk.xp.linalg.norm(x.reshape(-1)))
    scale = max(1.0 - tau * lam / nrm, 0.0) if nrm > 0 else 0.0
    return bk.to_output(x * x.dtype.type(scale))


def prox_squared_l2(x, tau, lam=1.0):
    """Proximal operator of ``lam/2 * ||x||_2^2``.

    Parameters
    ----------
    x : array_like
        Point.
    tau : float
        Step ``>= 0``.
    lam : float, optional
        Weight ``>= 0``.

    Returns
    -------
    ndarray
        ``x / (1 + tau*lam)``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import prox_squared_l2
    >>> prox_squared_l2(np.array([2.0, 4.0]), 1.0)
    array([1., 2.])
    """
    tau = check_tau(tau)
    lam = check_nonneg("lam", lam)
    bk, x = as_float_array(x, "x")
    return bk.to_output(x * x.dtype.type(1.0 / (1.0 + tau * lam)))


def _check_l1_ratio(l1_ratio):
    l1_ratio = check_nonneg("l1_ratio", l1_ratio)
    if l1_ratio > 1:
        raise ValueError(f"l1_ratio must lie in [0, 1], got {l1_ratio!r}")
    return l1_ratio


def prox_elastic_net(x, tau, lam=1.0, l1_ratio=0.5):
    """Proximal operator of ``lam * (l1_ratio*||x||_1 + (1 - l1_ratio)/2 * ||x||_2^2)``.

    This is scikit-learn's elastic-net penalty with ``alpha = lam``.

    Parameters
    ----------
    x : array_like
        Point.
    tau : float
        Step ``>= 0``.
    lam : float, optional
        Weight ``>= 0``.
    l1_ratio : float, optional
        Mixing in ``[0, 1]`` (1: Lasso, 0: ridge).

    Returns
    -------
    ndarray
        ``soft(x, tau*lam*l1_ratio) / (1 + tau*lam*(1 - l1_ratio))``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import prox_elastic_net
    >>> prox_elastic_net(np.array([3.0, -0.5]), 1.0, lam=2.0, l1_ratio=0.5)
    array([1., 0.])
    """
    tau = check_tau(tau)
    lam = check_nonneg("lam", lam)
    l1_ratio = _check_l1_ratio(l1_ratio)
    bk, x = as_float_array(x, "x")
    out = kernel(bk, "prox_soft_threshold", x)(x, tau * lam * l1_ratio)
    out *= out.dtype.type(1.0 / (1.0 + tau * lam * (1.0 - l1_ratio)))
    return bk.to_output(out)


def _group_labels(xp, groups, n):
    """Turn ``groups`` (labels of length n, or a list of index arrays) into int labels."""
    if isinstance(groups, (list, tuple)) and groups and not np.isscalar(groups[0]):
        labels = np.full(n, -1, dtype=np.int64)
        for g, idx in enumerate(groups):
            idx = np.asarray(idx if not hasattr(idx, "get") else idx.get(), dtype=np.int64)
            if idx.size and (idx.min() < -n or idx.max() >= n):
                raise ValueError(f"groups[{g}] has an index outside [0, {n})")
            if np.any(labels[idx] >= 0):
                raise ValueError("groups overlap; give disjoint index sets (or labels)")
            labels[idx] = g
        if np.any(labels < 0):  # ungrouped entries form singleton groups
            miss = np.nonzero(labels < 0)[0]
            labels[miss] = len(groups) + np.arange(miss.size)
    else:
        labels = np.asarray(groups.get() if hasattr(groups, "get") else groups)
        if labels.shape != (n,):
            raise ValueError(
                f"groups must be a list of index arrays or a label array of shape ({n},), "
                f"got shape {labels.shape}"
            )
        _, labels = np.unique(labels, return_inverse=True)
    return xp.asarray(labels.astype(np.int64))


def _group_norms(xp, x, labels):
    ng = int(labels.max()) + 1 if labels.size else 0
    sq = xp.zeros(ng, dtype=x.dtype)
    if xp is np:
        sq = np.bincount(labels, weights=x * x, minlength=ng).astype(x.dtype)
    else:
        xp.add.at(sq, labels, x * x)
    return xp.sqrt(sq)


def prox_group_l21(x, tau, groups, lam=1.0):
    """Proximal operator of the group norm ``lam * sum_g ||x_g||_2`` (disjoint groups).

    Parameters
    ----------
    x : array_like
        1-D point.
    tau : float
        Step ``>= 0``.
    groups : array_like or list of array_like
        Group label of each entry (length ``x.size``) or a list of disjoint index
        arrays (entries not listed form singleton groups).
    lam : float, optional
        Weight ``>= 0``.

    Returns
    -------
    ndarray
        Each group scaled by ``max(1 - tau*lam/||x_g||, 0)``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import prox_group_l21
    >>> prox_group_l21(np.array([3.0, 4.0, 0.1]), 1.0, [0, 0, 1])
    array([2.4, 3.2, 0. ])
    """
    tau = check_tau(tau)
    lam = check_nonneg("lam", lam)
    bk, x = as_float_array(x, "x")
    xp = bk.xp
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D for prox_group_l21, got shape {x.shape}")
    labels = _group_labels(xp, groups, x.shape[0])
    norms = _group_norms(xp, x, labels)
    safe = xp.where(norms > 0, norms, 1)
    scale = xp.maximum(1 - (tau * lam) / safe, 0).astype(x.dtype)
    return bk.to_output(x * scale[labels])


def prox_tv1d(x, tau, lam=1.0):
    """Exact proximal operator of the 1D total variation ``lam * sum_k |x[k+1] - x[k]|``.

    Condat's direct algorithm: linear time in practice, no iteration, exact up to
    rounding.  The kernel runs in Numba (CuPy inputs are solved on the host).

    Parameters
    ----------
    x : array_like
        1-D signal.
    tau : float
        Step ``>= 0``.
    lam : float, optional
        Weight ``>= 0``.

    Returns
    -------
    ndarray
        ``argmin_z lam*TV(z) + ||z - x||^2 / (2 tau)``, same dtype as ``x``.

    References
    ----------
    .. [1] L. Condat, "A direct algorithm for 1D total variation denoising", IEEE
       Signal Process. Lett. 20 (2013).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import prox_tv1d
    >>> prox_tv1d(np.array([0.0, 0.0, 3.0, 3.0]), 0.5)
    array([0.25, 0.25, 2.75, 2.75])
    """
    tau = check_tau(tau)
    lam = check_nonneg("lam", lam)
    bk, x = as_float_array(x, "x")
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D for prox_tv1d, got shape {x.shape}")
    out = kernel(bk, "prox_tv1d", x)(x, tau * lam)
    return bk.to_output(out.astype(x.dtype, copy=False))


# ----------------------------------------------------------------------------- projections
def project_box(x, lower=-np.inf, upper=np.inf):
    """Euclidean projection onto the box ``{lower <= z <= upper}``.

    Parameters
    ----------
    x : array_like
        Point.
    lower, upper : float or array_like
        Bounds (broadcast against ``x``); ``lower <= upper`` everywhere.

    Returns
    -------
    ndarray
        ``clip(x, lower, upper)``.

    Raises
    ------
    ValueError
        When the box is empty (``lower > upper`` somewhere).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import project_box
    >>> project_box(np.array([-2.0, 0.5, 3.0]), 0.0, 1.0)
    array([0. , 0.5, 1. ])
    """
    bk, x = as_float_array(x, "x")
    xp = bk.xp
    scalar = np.isscalar(lower) and np.isscalar(upper)
    if scalar:
        if math.isnan(lower) or math.isnan(upper) or lower > upper:
            raise ValueError(
                f"the box is empty: lower={lower!r} > upper={upper!r}; pass lower <= upper"
            )
        out = kernel(bk, "prox_clip", x)(x, lower, upper)
        return bk.to_output(out)
    lo = xp.asarray(lower, dtype=x.dtype)
    hi = xp.asarray(upper, dtype=x.dtype)
    if bool(xp.any(lo > hi)):
        raise ValueError("the box is empty: lower > upper at some entries; pass lower <= upper")
    return bk.to_output(xp.minimum(xp.maximum(x, lo), hi))


def project_nonneg(x):
    """Euclidean projection onto the nonnegative orthant.

    Parameters
    ----------
    x : array_like
        Point.

    Returns
    -------
    ndarray
        ``max(x, 0)``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import project_nonneg
    >>> project_nonneg(np.array([-1.0, 2.0]))
    array([0., 2.])
    """
    return project_box(x, 0.0, np.inf)


def project_simplex(x, radius=1.0):
    """Euclidean projection onto the simplex ``{z >= 0, sum(z) = radius}``.

    Condat's linear-time algorithm with the Numba engine (no full sort); a sort
    on the GPU.

    Parameters
    ----------
    x : array_like
        Point (flattened for the sum).
    radius : float, optional
        Sum of the entries, ``> 0`` (the simplex is empty for a negative radius).

    Returns
    -------
    ndarray
        The projection, shape of ``x``.

    References
    ----------
    .. [1] L. Condat, "Fast projection onto the simplex and the l1 ball",
       Math. Program. 158 (2016).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import project_simplex
    >>> project_simplex(np.array([0.5, 1.5, -1.0]))
    array([0., 1., 0.])
    """
    radius = check_nonneg("radius", radius, strict=True)
    bk, x = as_float_array(x, "x")
    if x.size == 0:
        raise ValueError("the simplex in dimension 0 is empty; x must have at least one entry")
    return bk.to_output(kernel(bk, "prox_project_simplex", x)(x, radius))


def project_l1ball(x, radius=1.0):
    """Euclidean projection onto the l1 ball ``{z : ||z||_1 <= radius}``.

    Parameters
    ----------
    x : array_like
        Point.
    radius : float, optional
        Radius ``>= 0``.

    Returns
    -------
    ndarray
        The projection (``x`` itself when inside).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import project_l1ball
    >>> project_l1ball(np.array([2.0, -1.0]), 1.0)
    array([1., 0.])
    """
    radius = check_nonneg("radius", radius)
    bk, x = as_float_array(x, "x")
    if radius == 0:
        return bk.to_output(bk.xp.zeros_like(x))
    return bk.to_output(kernel(bk, "prox_project_l1ball", x)(x, radius))


def project_l2ball(x, radius=1.0, center=None):
    """Euclidean projection onto the ball ``{z : ||z - center||_2 <= radius}``.

    Parameters
    ----------
    x : array_like
        Point.
    radius : float, optional
        Radius ``>= 0``.
    center : array_like, optional
        Centre (default the origin).

    Returns
    -------
    ndarray
        The projection.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import project_l2ball
    >>> project_l2ball(np.array([3.0, 4.0]), 1.0)
    array([0.6, 0.8])
    """
    radius = check_nonneg("radius", radius)
    bk, x = as_float_array(x, "x", center)
    d = x if center is None else x - bk.asarray(center, dtype=x.dtype)
    flat = d.reshape(-1)
    nrm = math.sqrt(max(to_host_float(flat @ flat), 0.0))  # BLAS dot: faster than nrm2
    if nrm <= radius:
        return bk.to_output(x.copy())
    out = d * d.dtype.type(radius / nrm)
    if center is not None:
        out = out + bk.asarray(center, dtype=x.dtype)
    return bk.to_output(out)


# ============================================================================= objects
class Penalty(abc.ABC):
    """Base class of the penalty objects: a convex function with a cheap prox.

    Subclasses define :meth:`value` and :meth:`prox`; ``convex`` says whether the
    solvers that assume convexity may use it.  Calling the object returns its value.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import L1
    >>> g = L1(0.5)
    >>> g(np.array([1.0, -2.0])), g.prox(np.array([1.0, -2.0]), 1.0)
    (1.5, array([ 0.5, -1.5]))
    """

    convex = True
    #: True for indicator functions of sets (value 0 inside, inf outside)
    is_indicator = False

    @abc.abstractmethod
    def value(self, x):
        """The penalty value at ``x``.

        Parameters
        ----------
        x : array_like
            Point.

        Returns
        -------
        float
            ``g(x)`` (``inf`` outside a constraint set).
        """

    @abc.abstractmethod
    def prox(self, x, tau):
        """The proximal operator ``argmin_z g(z) + ||z - x||^2 / (2 tau)``.

        Parameters
        ----------
        x : array_like
            Point.
        tau : float
            Step ``>= 0``.

        Returns
        -------
        ndarray
            The prox.
        """

    def __call__(self, x):
        return self.value(x)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _xp_of(x):
    from .._backend import get_backend

    return get_backend(x).xp


class Zero(Penalty):
    """The zero function (its prox is the identity): plain gradient descent.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import Zero
    >>> Zero().prox(np.array([1.0]), 3.0)
    array([1.])
    """

    def value(self, x):
        """Return 0.

        Parameters
        ----------
        x : array_like
            Point.

        Returns
        -------
        float
            ``0.0``.
        """
        return 0.0

    def prox(self, x, tau):
        """Return ``x``.

        Parameters
        ----------
        x : array_like
            Point.
        tau : float
            Step (unused).

        Returns
        -------
        ndarray
            ``x``.
        """
        check_tau(tau)
        return x


class L1(Penalty):
    """``lam * ||x||_1``.

    Parameters
    ----------
    lam : float, optional
        Weight ``>= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import L1
    >>> L1(2.0).prox(np.array([3.0, -1.0]), 0.5)
    array([2., 0.])
    """

    def __init__(self, lam=1.0):
        self.lam = check_nonneg("lam", lam)

    def value(self, x):
        """``lam * sum |x|``.

        Parameters
        ----------
        x : array_like
            Point.

        Returns
        -------
        float
            The value.
        """
        return self.lam * to_host_float(_xp_of(x).abs(x).sum())

    def prox(self, x, tau):
        """Soft thresholding by ``tau * lam``.

        Parameters
        ----------
        x : array_like
            Point.
        tau : float
            Step.

        Returns
        -------
        ndarray
            The prox.
        """
        return prox_l1(x, tau, self.lam)


class L2(Penalty):
    """``lam * ||x||_2`` (not squared).

    Parameters
    ----------
    lam : float, optional
        Weight ``>= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import L2
    >>> float(L2(1.0)(np.array([3.0, 4.0])))
    5.0
    """

    def __init__(self, lam=1.0):
        self.lam = check_nonneg("lam", lam)

    def value(self, x):
        """``lam * ||x||_2``.

        Parameters
        ----------
        x : array_like
            Point.

        Returns
        -------
        float
            The value.
        """
        return self.lam * to_host_float(_xp_of(x).linalg.norm(x.reshape(-1)))

    def prox(self, x, tau):
        """Block soft thresholding.

        Parameters
        ----------
        x : array_like
            Point.
        tau : float
            Step.

        Returns
        -------
        ndarray
            The prox.
        """
        return prox_l2(x, tau, self.lam)


class SquaredL2(Penalty):
    """``lam/2 * ||x||_2^2``.

    Parameters
    ----------
    lam : float, optional
        Weight ``>= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import SquaredL2
    >>> SquaredL2(1.0).prox(np.array([2.0]), 1.0)
    array([1.])
    """

    def __init__(self, lam=1.0):
        self.lam = check_nonneg("lam", lam)

    def value(self, x):
        """``lam/2 * ||x||^2``.

        Parameters
        ----------
        x : array_like
            Point.

        Returns
        -------
        float
            The value.
        """
        return 0.5 * self.lam * to_host_float((x * x).sum())

    def prox(self, x, tau):
        """``x / (1 + tau*lam)``.

        Parameters
        ----------
        x : array_like
            Point.
        tau : float
            Step.

        Returns
        -------
        ndarray
            The prox.
        """
        return prox_squared_l2(x, tau, self.lam)


class ElasticNet(Penalty):
    """``lam * (l1_ratio*||x||_1 + (1 - l1_ratio)/2 * ||x||_2^2)`` (scikit-learn's scaling).

    Parameters
    ----------
    lam : float, optional
        Weight ``>= 0``.
    l1_ratio : float, optional
        Mixing in ``[0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import ElasticNet
    >>> float(ElasticNet(1.0, 0.5)(np.array([2.0])))
    2.0
    """

    def __init__(self, lam=1.0, l1_ratio=0.5):
        self.lam = check_nonneg("lam", lam)
        self.l1_ratio = _check_l1_ratio(l1_ratio)

    def value(self, x):
        """The elastic-net value.

        Parameters
        ----------
        x : array_like
            Point.

        Returns
        -------
        float
            The value.
        """
        xp = _xp_of(x)
        l1 = to_host_float(xp.abs(x).sum())
        l2 = to_host_float((x * x).sum())
        return self.lam * (self.l1_ratio * l1 + 0.5 * (1 - self.l1_ratio) * l2)

    def prox(self, x, tau):
        """Soft thresholding then shrinkage.

        Parameters
        ----------
        x : array_like
            Point.
        tau : float
            Step.

        Returns
        -------
        ndarray
            The prox.
        """
        return prox_elastic_net(x, tau, self.lam, self.l1_ratio)


class GroupL21(Penalty):
    """``lam * sum_g ||x_g||_2`` over disjoint groups.

    Parameters
    ----------
    groups : array_like or list of array_like
        Labels (one per entry) or a list of disjoint index arrays.
    lam : float, optional
        Weight ``>= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import GroupL21
    >>> g = GroupL21([0, 0, 1])
    >>> float(g(np.array([3.0, 4.0, -1.0])))
    6.0
    """

    def __init__(self, groups, lam=1.0):
        self.groups = groups
        self.lam = check_nonneg("lam", lam)

    def value(self, x):
        """``lam * sum_g ||x_g||``.

        Parameters
        ----------
        x : array_like
            Point (1-D).

        Returns
        -------
        float
            The value.
        """
        xp = _xp_of(x)
        labels = _group_labels(xp, self.groups, x.shape[0])
        return self.lam * to_host_float(_group_norms(xp, x, labels).sum())

    def prox(self, x, tau):
        """Group soft thresholding.

        Parameters
        ----------
        x : array_like
            Point.
        tau : float
            Step.

        Returns
        -------
        ndarray
            The prox.
        """
        return prox_group_l21(x, tau, self.groups, self.lam)


class TV1D(Penalty):
    """1D total variation ``lam * sum_k |x[k+1] - x[k]|`` with its exact prox.

    Parameters
    ----------
    lam : float, optional
        Weight ``>= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import TV1D
    >>> float(TV1D(1.0)(np.array([0.0, 2.0, 1.0])))
    3.0
    """

    def __init__(self, lam=1.0):
        self.lam = check_nonneg("lam", lam)

    def value(self, x):
        """``lam * sum |diff(x)|``.

        Parameters
        ----------
        x : array_like
            1-D signal.

        Returns
        -------
        float
            The value.
        """
        xp = _xp_of(x)
        return self.lam * to_host_float(xp.abs(xp.diff(x)).sum())

    def prox(self, x, tau):
        """Condat's direct algorithm.

        Parameters
        ----------
        x : array_like
            1-D signal.
        tau : float
            Step.

        Returns
        -------
        ndarray
            The prox.
        """
        return prox_tv1d(x, tau, self.lam)


class L0(Penalty):
    """``lam * count_nonzero(x)``: a *nonconvex* penalty (hard thresholding).

    Solvers that assume convexity (:func:`proximal_gradient` with acceleration,
    the certificates) refuse it unless told otherwise.

    Parameters
    ----------
    lam : float, optional
        Weight ``>= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import L0
    >>> L0(0.5).prox(np.array([0.5, 2.0]), 1.0)
    array([0., 2.])
    """

    convex = False

    def __init__(self, lam=1.0):
        self.lam = check_nonneg("lam", lam)

    def value(self, x):
        """``lam * nnz(x)``.

        Parameters
        ----------
        x : array_like
            Point.

        Returns
        -------
        float
            The value.
        """
        return self.lam * to_host_float((x != 0).sum())

    def prox(self, x, tau):
        """Hard thresholding at ``sqrt(2 tau lam)``.

        Parameters
        ----------
        x : array_like
            Point.
        tau : float
            Step.

        Returns
        -------
        ndarray
            A prox (the prox set is not a singleton at the threshold).
        """
        tau = check_tau(tau)
        bk, x = as_float_array(x, "x")
        thr = math.sqrt(2.0 * tau * self.lam)
        return bk.to_output(bk.xp.where(bk.xp.abs(x) > thr, x, 0))


class _Indicator(Penalty):
    is_indicator = True
    #: feasibility tolerance of ``value``
    tol = 1e-9

    @abc.abstractmethod
    def _inside(self, x):
        """True when ``x`` lies in the set (up to :attr:`tol`)."""

    def value(self, x):
        """0 inside the set, ``inf`` outside (up to ``1e-9`` relative).

        Parameters
        ----------
        x : array_like
            Point.

        Returns
        -------
        float
            ``0.0`` or ``inf``.
        """
        return 0.0 if self._inside(x) else math.inf


class Box(_Indicator):
    """Indicator of the box ``{lower <= x <= upper}``.

    Parameters
    ----------
    lower, upper : float or array_like
        Bounds with ``lower <= upper``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import Box
    >>> Box(0.0, 1.0).prox(np.array([2.0, -1.0]), 1.0)
    array([1., 0.])
    """

    def __init__(self, lower=-np.inf, upper=np.inf):
        if np.isscalar(lower) and np.isscalar(upper) and not lower <= upper:
            raise ValueError(
                f"the box is empty: lower={lower!r} > upper={upper!r}; pass lower <= upper"
            )
        if not (np.isscalar(lower) and np.isscalar(upper)):
            lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
            if np.any(lo > hi):
                raise ValueError("the box is empty: lower > upper at some entries")
        self.lower, self.upper = lower, upper

    def _inside(self, x):
        xp = _xp_of(x)
        t = self.tol * (1 + to_host_float(xp.abs(x).max()) if x.size else 1)
        return bool(xp.all(x >= xp.asarray(self.lower) - t)) and bool(
            xp.all(x <= xp.asarray(self.upper) + t))

    def prox(self, x, tau):
        """Clip to the box.

        Parameters
        ----------
        x : array_like
            Point.
        tau : float
            Step (unused).

        Returns
        -------
        ndarray
            The projection.
        """
        check_tau(tau)
        return project_box(x, self.lower, self.upper)


class NonNeg(Box):
    """Indicator of the nonnegative orthant.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import NonNeg
    >>> NonNeg().prox(np.array([-1.0, 1.0]), 1.0)
    array([0., 1.])
    """

    def __init__(self):
        super().__init__(0.0, np.inf)

    def __repr__(self):
        return "NonNeg()"


class Simplex(_Indicator):
    """Indicator of the simplex ``{x >= 0, sum(x) = radius}``.

    Parameters
    ----------
    radius : float, optional
        ``> 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import Simplex
    >>> Simplex().prox(np.array([1.0, 1.0]), 1.0)
    array([0.5, 0.5])
    """

    def __init__(self, radius=1.0):
        self.radius = check_nonneg("radius", radius, strict=True)

    def _inside(self, x):
        xp = _xp_of(x)
        t = self.tol * max(1.0, self.radius)
        return bool(xp.all(x >= -t)) and abs(to_host_float(x.sum()) - self.radius) <= t * x.size

    def prox(self, x, tau):
        """Project onto the simplex (Condat's algorithm).

        Parameters
        ----------
        x : array_like
            Point.
        tau : float
            Step (unused).

        Returns
        -------
        ndarray
            The projection.
        """
        check_tau(tau)
        return project_simplex(x, self.radius)


class L1Ball(_Indicator):
    """Indicator of ``{||x||_1 <= radius}``.

    Parameters
    ----------
    radius : float, optional
        ``>= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import L1Ball
    >>> L1Ball(1.0).prox(np.array([0.2, 0.3]), 1.0)
    array([0.2, 0.3])
    """

    def __init__(self, radius=1.0):
        self.radius = check_nonneg("radius", radius)

    def _inside(self, x):
        l1 = to_host_float(_xp_of(x).abs(x).sum())
        return l1 <= self.radius * (1 + self.tol) + self.tol

    def prox(self, x, tau):
        """Project onto the l1 ball.

        Parameters
        ----------
        x : array_like
            Point.
        tau : float
            Step (unused).

        Returns
        -------
        ndarray
            The projection.
        """
        check_tau(tau)
        return project_l1ball(x, self.radius)


class L2Ball(_Indicator):
    """Indicator of ``{||x - center||_2 <= radius}``.

    Parameters
    ----------
    radius : float, optional
        ``>= 0``.
    center : array_like, optional
        Centre (default the origin).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.prox import L2Ball
    >>> L2Ball(5.0).prox(np.array([6.0, 8.0]), 1.0)
    array([3., 4.])
    """

    def __init__(self, radius=1.0, center=None):
        self.radius = check_nonneg("radius", radius)
        self.center = center

    def _inside(self, x):
        xp = _xp_of(x)
        d = x if self.center is None else x - xp.asarray(self.center)
        nrm = to_host_float(xp.linalg.norm(d.reshape(-1)))
        return nrm <= self.radius * (1 + self.tol) + self.tol

    def prox(self, x, tau):
        """Project onto the ball.

        Parameters
        ----------
        x : array_like
            Point.
        tau : float
            Step (unused).

        Returns
        -------
        ndarray
            The projection.
        """
        check_tau(tau)
        return project_l2ball(x, self.radius, self.center)
