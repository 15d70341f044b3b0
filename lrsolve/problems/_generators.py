"""PDE problem generators: Darcy flow, heat-equation steps, Helmholtz, variable-coefficient Poisson.

Every generator discretises on the unit square ``(0, 1)^2`` with homogeneous
Dirichlet boundary conditions on a grid of ``shape = (n0, n1)`` interior nodes,
spacing ``h_d = 1 / (n_d + 1)``, node ``(i, j)`` at ``((i + 1) h_0, (j + 1) h_1)``;
axis 0 is ``x``, axis 1 is ``y`` and unknowns are numbered in C order.  The
diffusion part is the finite-volume 5-point stencil of
:func:`lrsolve.operators.poisson` (harmonic-mean face coefficients), assembled
as CSR with array code (no Python loop over cells).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._problem import Problem

__all__ = [
    "gaussian_field",
    "darcy",
    "darcy_sequence",
    "heat_sequence",
    "helmholtz",
    "helmholtz_sequence",
    "poisson_variable",
]


# ----------------------------------------------------------------------------- checks
def _rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    seedlike = isinstance(rng, (numbers.Integral, np.random.SeedSequence))
    if rng is None or (seedlike and not isinstance(rng, bool)):
        if isinstance(rng, numbers.Integral) and rng < 0:
            raise ValueError(f"rng must be a non-negative int seed, got {rng}")
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}"
    )


def _shape2(shape):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape, shape)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be an int or a pair of ints (n0, n1), got {shape!r}") from None
    if len(dims) != 2:
        raise ValueError(
            f"shape must have 2 entries (the generators are 2-D), got {len(dims)}: {dims!r}"
        )
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral):
            raise TypeError(f"shape entries must be ints, got {d!r} in {dims!r}")
        if d < 2:
            raise ValueError(f"shape entries must be >= 2 grid points, got {dims!r}")
    return tuple(int(d) for d in dims)


def _dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _positive(name, value, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and ok):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return value


def _count(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _grid(shape):
    h = tuple(1.0 / (n + 1) for n in shape)
    x = (np.arange(shape[0]) + 1.0) * h[0]
    y = (np.arange(shape[1]) + 1.0) * h[1]
    X, Y = np.meshgrid(x, y, indexing="ij")
    return h, X, Y


def _grid_array(name, value, shape, positive=False):
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.shape == (shape[0] * shape[1],):
        arr = arr.reshape(shape)
    if arr.shape != shape:
        raise ValueError(
            f"{name} must have the grid shape {shape} (or length {shape[0] * shape[1]}), "
            f"got {arr.shape}"
        )
    arr = np.array(arr, dtype=np.float64)  # a copy: the caller's array is never kept
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf; every value must be finite")
    if positive and not (arr > 0).all():
        raise ValueError(f"{name} must be > 0 everywhere; its minimum is {arr.min():g}")
    return arr


def _source(source, shape, X, Y):
    """Right-hand side values on the grid from a number, an array or a callable ``f(x, y)``."""
    if callable(source):
        vals = np.broadcast_to(np.asarray(source(X, Y), dtype=np.float64), shape)
        return _grid_array("source(x, y)", vals, shape)
    if isinstance(source, numbers.Real) and not isinstance(source, bool):
        if not math.isfinite(source):
            raise ValueError(f"source must be finite, got {source!r}")
        return np.full(shape, float(source))
    if source is None or isinstance(source, (str, bool)):
        raise TypeError(
            "source must be a number, an array of the grid shape or a callable f(x, y), "
            f"got {source!r}"
        )
    return _grid_array("source", source, shape)


def _diffusion(shape, h, k, dtype):
    from ..operators import poisson

    return poisson(shape, spacing=h, coef=k, dtype=dtype, backend="numpy").tocsr()


# ----------------------------------------------------------------------------- random fields
def _padded(n, h, length_scale):
    m = max(2 * n, n + math.ceil(8.0 * length_scale / h))
    m = min(m, max(2 * n, 8 * n))
    return m + (m % 2)


def gaussian_field(shape, *, length_scale=0.1, sigma=1.0, rng=None, n_samples=None):
    r"""Sample a stationary Gaussian random field on the unit-square grid.

    Zero mean, covariance ``sigma**2 * exp(-r**2 / (2 * length_scale**2))``
    (squared exponential) between nodes at distance ``r``.  Sampled exactly by
    circulant embedding (FFT): the covariance is wrapped on a periodic grid
    padded by ``8 * length_scale`` beyond the domain (at least doubled, at
    most 8 times the grid), its FFT gives the spectral weights, and white
    noise filtered by their square root is cut back to the domain.  Tiny
    negative weights (from the truncation) are set to zero; for
    ``length_scale`` well above 1 the padding cap makes the field slightly
    approximate.

    Parameters
    ----------
    shape : int or tuple of 2 ints
        Grid of interior nodes (spacing ``1 / (n + 1)`` per axis).
    length_scale : float, optional
        Correlation length ``l`` in units of the domain (default 0.1).
    sigma : float, optional
        Standard deviation of the field (default 1).
    rng : None, int or numpy.random.Generator, optional
        Random source (an int is a seed).
    n_samples : int, optional
        Number of independent fields; default one field of shape ``shape``,
        otherwise an array of shape ``(n_samples, *shape)``.

    Returns
    -------
    numpy.ndarray
        float64 field(s).

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> g = lrsolve.problems.gaussian_field((32, 32), length_scale=0.2, rng=0)
    >>> g.shape, bool(abs(g.mean()) < 1.5)
    ((32, 32), True)
    """
    shape = _shape2(shape)
    ell = _positive("length_scale", length_scale)
    sig = _positive("sigma", sigma, allow_zero=True)
    gen = _rng(rng)
    count = 1 if n_samples is None else _count("n_samples", n_samples)
    h = tuple(1.0 / (n + 1) for n in shape)
    m = tuple(_padded(n, hd, ell) for n, hd in zip(shape, h, strict=True))
    lags = [np.minimum(np.arange(md), md - np.arange(md)) * hd for md, hd in zip(m, h, strict=True)]
    r2 = lags[0][:, None] ** 2 + lags[1][None, :] ** 2
    cov = np.exp(-r2 / (2.0 * ell * ell))
    lam = np.fft.fft2(cov).real
    np.maximum(lam, 0.0, out=lam)
    weight = np.sqrt(lam / (m[0] * m[1]))
    out = np.empty((count, *shape))
    for s in range(0, count, 2):  # the real and imaginary parts are two independent fields
        z = gen.standard_normal(m) + 1j * gen.standard_normal(m)
        y = np.fft.fft2(weight * z)[: shape[0], : shape[1]]
        out[s] = sig * y.real
        if s + 1 < count:
            out[s + 1] = sig * y.imag
    return out[0] if n_samples is None else out


# ----------------------------------------------------------------------------- Darcy
def darcy(
    shape=(64, 64),
    *,
    rng=None,
    length_scale=0.1,
    sigma=1.0,
    field=None,
    source=1.0,
    dtype=np.float64,
):
    r"""2-D Darcy flow ``-div(k grad u) = f`` with a log-normal permeability.

    The permeability is ``k = exp(g)`` with ``g`` a Gaussian random field
    (:func:`gaussian_field`: squared-exponential covariance, correlation
    length ``length_scale``, standard deviation ``sigma``), as in the data of
    neural-operator benchmarks and of the SKR paper.  Unit square, ``u = 0`` on
    the boundary, finite-volume 5-point stencil with harmonic-mean face
    coefficients: ``A`` is symmetric positive definite.

    Parameters
    ----------
    shape : int or tuple of 2 ints, optional
        Interior grid (default ``(64, 64)``; ``n = n0 * n1`` unknowns).
    rng : None, int or numpy.random.Generator, optional
        Random source of the field (an int is a seed).
    length_scale : float, optional
        Correlation length of ``log k`` (default 0.1).
    sigma : float, optional
        Standard deviation of ``log k`` (default 1: ``k`` varies over about
        two orders of magnitude).
    field : array_like, optional
        A positive permeability of the grid shape to use instead of a random one.
    source : float, array_like or callable, optional
        ``f``: a constant (default 1), grid values, or ``f(x, y)`` evaluated at
        the nodes (``x``, ``y`` are arrays of the grid shape).
    dtype : {numpy.float64, numpy.float32}, optional
        Dtype of ``A`` and ``b``.

    Returns
    -------
    Problem
        ``A`` (CSR), ``b`` (``f`` at the nodes), ``field`` (``k``), ``shape``,
        ``params``.

    See Also
    --------
    darcy_sequence : Many independent fields.
    lrsolve.operators.poisson : The matrix-free form of the same operator.

    Examples
    --------
    >>> import numpy as np, scipy.sparse.linalg as spla, lrsolve
    >>> A, b = lrsolve.problems.darcy((16, 16), rng=1)
    >>> x = spla.spsolve(A.tocsc(), b)
    >>> bool(x.min() > 0)  # a positive source gives a positive pressure
    True
    """
    shape = _shape2(shape)
    dt = _dtype(dtype)
    h, X, Y = _grid(shape)
    if field is None:
        ell = _positive("length_scale", length_scale)
        sig = _positive("sigma", sigma, allow_zero=True)
        k = np.exp(gaussian_field(shape, length_scale=ell, sigma=sig, rng=_rng(rng)))
    else:
        k = _grid_array("field", field, shape, positive=True)
        ell = sig = None
    f = _source(source, shape, X, Y)
    A = _diffusion(shape, h, k, dt)
    k.flags.writeable = False
    params = {"kind": "darcy", "spacing": h, "length_scale": ell, "sigma": sig}
    return Problem(A, f.reshape(-1).astype(dt), k, shape, params)


def darcy_sequence(n_systems, shape=(64, 64), *, rng=None, **kwargs):
    """A list of Darcy problems with independent random permeability fields.

    As in the SKR paper's data generation: each system draws a fresh
    log-normal field; the source is the same.  The fields come from
    independent child generators of ``rng`` (``Generator.spawn``), so the
    sequence is reproducible from one seed.

    Parameters
    ----------
    n_systems : int
        Number of systems.
    shape : int or tuple of 2 ints, optional
        Interior grid (default ``(64, 64)``).
    rng : None, int or numpy.random.Generator, optional
        Random source (an int is a seed).
    **kwargs
        Passed to :func:`darcy` (``length_scale``, ``sigma``, ``source``, ``dtype``).

    Returns
    -------
    list of Problem

    Examples
    --------
    >>> import lrsolve
    >>> seq = lrsolve.problems.darcy_sequence(3, (8, 8), rng=0)
    >>> [p.A.shape for p in seq]
    [(64, 64), (64, 64), (64, 64)]
    """
    count = _count("n_systems", n_systems)
    if "field" in kwargs:
        raise TypeError("darcy_sequence draws its own fields; call darcy(field=...) per field")
    children = _rng(rng).spawn(count)
    return [darcy(shape, rng=g, **kwargs) for g in children]


# ----------------------------------------------------------------------------- heat
def heat_sequence(
    n_steps,
    shape=(64, 64),
    *,
    dt=1e-2,
    rng=None,
    length_scale=0.2,
    sigma=1.0,
    drift=0.3,
    source_amplitude=100.0,
    source_width=0.05,
    source_period=None,
    dtype=np.float64,
):
    r"""Implicit-Euler steps of the 2-D heat equation ``u_t = div(kappa grad u) + f``.

    Design: unit square, ``u = 0`` on the boundary, ``u(0) = 0``.  Step ``t``
    (``t = 1..n_steps``) solves

    .. math:: (I + \Delta t\, L(\kappa_t))\, u_t = u_{t-1} + \Delta t\, f(t \Delta t),

    with ``L(kappa)`` the finite-volume ``-div(kappa grad .)`` of :func:`darcy`,
    so every ``A_t = I + dt L(kappa_t)`` is symmetric positive definite.

    * The conductivity drifts slowly: ``kappa_t = exp(sigma (cos(theta_t) g_1
      + sin(theta_t) g_2))`` with ``g_1, g_2`` two independent unit Gaussian
      fields and ``theta_t = drift * (pi / 2) * t / n_steps``; each
      ``log kappa_t`` is again a Gaussian field of the same law, and
      neighbouring steps differ by ``O(drift / n_steps)``.  ``drift=0``
      keeps one conductivity (then only ``b`` changes).
    * The source is a Gaussian bump ``source_amplitude * exp(-|p - c(t)|^2 /
      (2 source_width^2))`` whose centre ``c(t)`` circles ``(0.5, 0.5)`` at
      radius 0.25, one turn per ``source_period`` (default the whole run).
    * ``b_t`` uses the *exact* previous state: the trajectory is computed
      once with a sparse direct solver (SuperLU, float64) and returned as
      each problem's ``solution``.  This is what a time stepper sees, and it
      makes the sequence a chain of related systems (nearby matrices, nearby
      right-hand sides).

    ``cond(A_t)`` grows like ``dt max(kappa) / h**2``: with the defaults
    (``dt = 1e-2``, 64 x 64 grid, seed 0) it is about 3,200, and unpreconditioned
    CG needs about 430 iterations for ``rtol = 1e-8`` (Jacobi-PCG about 130).

    Parameters
    ----------
    n_steps : int
        Number of time steps (systems).
    shape : int or tuple of 2 ints, optional
        Interior grid (default ``(64, 64)``).
    dt : float, optional
        Time step (default ``1e-2``).
    rng : None, int or numpy.random.Generator, optional
        Random source of the conductivity fields.
    length_scale, sigma : float, optional
        Correlation length and standard deviation of ``log kappa`` (0.2, 1).
    drift : float, optional
        How far the conductivity turns over the run, as a fraction of a
        quarter turn between ``g_1`` and ``g_2`` (default 0.3; 0: fixed).
    source_amplitude, source_width : float, optional
        Height (default 100) and width (default 0.05) of the moving source.
    source_period : float, optional
        Time of one turn of the source (default ``n_steps * dt``).
    dtype : {numpy.float64, numpy.float32}, optional
        Dtype of ``A``, ``b`` and ``solution``.

    Returns
    -------
    list of Problem
        ``field`` is ``kappa_t``; ``params`` holds ``step``, ``time``,
        ``dt``; ``solution`` is ``u_t``.

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> steps = lrsolve.problems.heat_sequence(4, (12, 12), rng=0)
    >>> p = steps[1]
    >>> bool(np.allclose(p.A @ p.solution, p.b))
    True
    >>> bool(np.allclose(p.b, steps[0].solution + p.params["dt"] * p.params["source"]))
    True
    """
    from scipy import sparse
    from scipy.sparse import linalg as spla

    count = _count("n_steps", n_steps)
    shape = _shape2(shape)
    dtp = _dtype(dtype)
    tau = _positive("dt", dt)
    ell = _positive("length_scale", length_scale)
    sig = _positive("sigma", sigma, allow_zero=True)
    drift = _positive("drift", drift, allow_zero=True)
    amp = _positive("source_amplitude", source_amplitude, allow_zero=True)
    width = _positive("source_width", source_width)
    period = count * tau if source_period is None else _positive("source_period", source_period)
    h, X, Y = _grid(shape)
    g = gaussian_field(shape, length_scale=ell, sigma=1.0, rng=_rng(rng), n_samples=2)
    n = shape[0] * shape[1]
    eye = sparse.identity(n, format="csr")
    u = np.zeros(n)
    out = []
    solve = None
    for t in range(1, count + 1):
        theta = drift * (math.pi / 2) * t / count
        kappa = np.exp(sig * (math.cos(theta) * g[0] + math.sin(theta) * g[1]))
        time = t * tau
        phase = 2 * math.pi * time / period
        cx, cy = 0.5 + 0.25 * math.cos(phase), 0.5 + 0.25 * math.sin(phase)
        f = amp * np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / (2 * width * width)).reshape(-1)
        A64 = (eye + tau * _diffusion(shape, h, kappa, np.float64)).tocsr()
        A64.sort_indices()
        b64 = u + tau * f
        if solve is None or drift > 0:
            solve = spla.factorized(A64.tocsc())
        u = solve(b64)
        kappa.flags.writeable = False
        params = {"kind": "heat", "step": t, "time": time, "dt": tau, "spacing": h,
                  "drift": drift, "source": f.astype(dtp), "source_center": (cx, cy)}
        out.append(Problem(A64.astype(dtp), b64.astype(dtp), kappa, shape, params,
                           solution=u.astype(dtp)))
    return out


# ----------------------------------------------------------------------------- Helmholtz
def _upwind(n, h, c):
    """1-D first-order upwind ``c d/dx`` with zero Dirichlet data (``n x n``)."""
    from scipy import sparse

    if c >= 0:  # backward difference: (u_i - u_{i-1}) / h
        return sparse.diags([np.full(n, c / h), np.full(n - 1, -c / h)], [0, -1], format="csr")
    return sparse.diags([np.full(n, -c / h), np.full(n - 1, c / h)], [0, 1], format="csr")


def helmholtz(
    shape=(64, 64),
    *,
    wavenumber,
    convection=None,
    rng=None,
    medium_sigma=0.0,
    length_scale=0.1,
    source=None,
    dtype=np.float64,
):
    r"""2-D Helmholtz problem ``-Lap u - k^2 u = f``, optionally convected (real, indefinite).

    Unit square, ``u = 0`` on the boundary, 5-point Laplacian.  Without
    ``convection`` the matrix ``L - diag(k^2)`` is real symmetric and, once
    ``k^2`` exceeds the smallest Laplacian eigenvalue ``2 pi^2``, indefinite
    (a problem for GMRES/MINRES, not CG).  ``convection = (c_x, c_y)`` adds
    a first-order *upwinded* convection term ``c . grad u``: the matrix is
    then real and nonsymmetric (a convected wave, in the spirit of an
    absorbing/outflow term), which keeps everything in real arithmetic.  A
    heterogeneous medium ``k(x) = wavenumber * exp(medium_sigma * g(x))``
    (``g`` a unit Gaussian field) is drawn when ``medium_sigma > 0``.

    Resolve the waves: about 10 points per wavelength, ``k h <= 0.6``.

    Parameters
    ----------
    shape : int or tuple of 2 ints, optional
        Interior grid (default ``(64, 64)``).
    wavenumber : float or array_like
        ``k`` (> 0), a number or one value per node.
    convection : tuple of 2 floats, optional
        Velocity ``(c_x, c_y)`` of the upwinded convection term.
    rng : None, int or numpy.random.Generator, optional
        Random source of the medium (used only when ``medium_sigma > 0``).
    medium_sigma : float, optional
        Log standard deviation of the random medium (default 0: homogeneous).
    length_scale : float, optional
        Correlation length of the random medium (default 0.1).
    source : float, array_like or callable, optional
        ``f``; default a narrow Gaussian pulse (width 0.05, height 1) at the
        centre.
    dtype : {numpy.float64, numpy.float32}, optional
        Dtype of ``A`` and ``b``.

    Returns
    -------
    Problem
        ``field`` is the wave number ``k`` on the grid.

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> A, b = lrsolve.problems.helmholtz((16, 16), wavenumber=10.0)
    >>> bool(abs(A - A.T).max() == 0), bool(np.linalg.eigvalsh(A.toarray()).min() < 0)
    (True, True)
    >>> A2, _ = lrsolve.problems.helmholtz((16, 16), wavenumber=10.0, convection=(5.0, 0.0))
    >>> bool(abs(A2 - A2.T).max() > 0)
    True
    """
    from scipy import sparse

    shape = _shape2(shape)
    dt = _dtype(dtype)
    h, X, Y = _grid(shape)
    if isinstance(wavenumber, numbers.Real) and not isinstance(wavenumber, bool):
        k = np.full(shape, _positive("wavenumber", wavenumber))
    else:
        k = _grid_array("wavenumber", wavenumber, shape, positive=True)
    msig = _positive("medium_sigma", medium_sigma, allow_zero=True)
    if msig > 0:
        ell = _positive("length_scale", length_scale)
        k = k * np.exp(gaussian_field(shape, length_scale=ell, sigma=msig, rng=_rng(rng)))
    if source is None:
        f = np.exp(-((X - 0.5) ** 2 + (Y - 0.5) ** 2) / (2 * 0.05**2))
    else:
        f = _source(source, shape, X, Y)
    A = _diffusion(shape, h, None, np.float64) - sparse.diags(k.reshape(-1) ** 2)
    if convection is not None:
        try:
            cx, cy = (float(c) for c in convection)
        except (TypeError, ValueError):
            raise TypeError(
                f"convection must be a pair of numbers (c_x, c_y), got {convection!r}"
            ) from None
        if not (math.isfinite(cx) and math.isfinite(cy)):
            raise ValueError(f"convection must be finite, got {convection!r}")
        A = A + sparse.kron(_upwind(shape[0], h[0], cx), sparse.identity(shape[1]))
        A = A + sparse.kron(sparse.identity(shape[0]), _upwind(shape[1], h[1], cy))
        convection = (cx, cy)
    A = sparse.csr_matrix(A, dtype=dt)
    A.sum_duplicates()
    A.sort_indices()
    k.flags.writeable = False
    params = {"kind": "helmholtz", "spacing": h, "wavenumber": float(k.mean()),
              "convection": convection, "medium_sigma": msig}
    return Problem(A, f.reshape(-1).astype(dt), k, shape, params)


def helmholtz_sequence(n, shape=(64, 64), wavenumbers=None, **kwargs):
    """Helmholtz problems over a sweep of wave numbers.

    Parameters
    ----------
    n : int
        Number of systems.
    shape : int or tuple of 2 ints, optional
        Interior grid (default ``(64, 64)``).
    wavenumbers : array_like, optional
        ``n`` wave numbers; default ``linspace(10, 20, n)`` (resolved on a
        64 x 64 grid, increasingly indefinite).
    **kwargs
        Passed to :func:`helmholtz` (``convection``, ``medium_sigma``,
        ``rng``, ``source``, ``dtype``); a random medium is drawn once and
        shared by the whole sweep.

    Returns
    -------
    list of Problem

    Examples
    --------
    >>> import lrsolve
    >>> seq = lrsolve.problems.helmholtz_sequence(3, (8, 8), wavenumbers=[1.0, 2.0, 3.0])
    >>> [p.params["wavenumber"] for p in seq]
    [1.0, 2.0, 3.0]
    """
    count = _count("n", n)
    ks = np.linspace(10.0, 20.0, count) if wavenumbers is None else np.asarray(wavenumbers, float)
    if ks.shape != (count,):
        raise ValueError(f"wavenumbers must hold n={count} values, got shape {ks.shape}")
    if "wavenumber" in kwargs:
        raise TypeError("helmholtz_sequence takes wavenumbers=, not wavenumber=")
    shape = _shape2(shape)
    msig = kwargs.pop("medium_sigma", 0.0)
    rng = kwargs.pop("rng", None)
    ell = kwargs.pop("length_scale", 0.1)
    medium = np.ones(shape)
    if _positive("medium_sigma", msig, allow_zero=True) > 0:
        medium = np.exp(gaussian_field(shape, length_scale=ell, sigma=msig, rng=_rng(rng)))
    out = []
    for kk in ks:
        p = helmholtz(shape, wavenumber=_positive("wavenumbers", kk) * medium, **kwargs)
        p.params.update(wavenumber=float(kk), medium_sigma=msig)
        out.append(p)
    return out


# ----------------------------------------------------------------------------- Poisson
_COEF_KINDS = ("inclusions", "layers", "smooth")


def poisson_variable(
    shape=(64, 64),
    *,
    rng=None,
    coef="inclusions",
    contrast=100.0,
    n_features=8,
    source=1.0,
    dtype=np.float64,
):
    """Variable-coefficient Poisson problem ``-div(k grad u) = f`` with a structured random ``k``.

    Unit square, ``u = 0`` on the boundary, the finite-volume stencil of
    :func:`darcy` (SPD).  The coefficient is drawn by kind:

    * ``"inclusions"`` (default): background ``k = 1`` with ``n_features``
      discs (radius 0.04 to 0.12, random centres) of ``k = contrast``.
    * ``"layers"``: ``n_features`` horizontal layers (random thicknesses)
      with ``k = contrast ** U(0, 1)`` each.
    * ``"smooth"``: ``k = contrast ** s`` with ``s = (1 + tanh g) / 2`` and
      ``g`` a Gaussian field of correlation length 0.15.
    * an array of the grid shape: used as it is (positive).

    Parameters
    ----------
    shape : int or tuple of 2 ints, optional
        Interior grid (default ``(64, 64)``).
    rng : None, int or numpy.random.Generator, optional
        Random source (an int is a seed).
    coef : {"inclusions", "layers", "smooth"} or array_like, optional
        Coefficient kind, or the coefficient itself.
    contrast : float, optional
        Ratio of the largest to the smallest coefficient (default 100, >= 1).
    n_features : int, optional
        Number of inclusions or layers (default 8).
    source : float, array_like or callable, optional
        ``f`` (default 1); see :func:`darcy`.
    dtype : {numpy.float64, numpy.float32}, optional
        Dtype of ``A`` and ``b``.

    Returns
    -------
    Problem
        ``field`` is the coefficient ``k``.

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> p = lrsolve.problems.poisson_variable((20, 20), rng=0, contrast=10.0)
    >>> float(p.field.min()), float(p.field.max())
    (1.0, 10.0)
    """
    shape = _shape2(shape)
    dt = _dtype(dtype)
    h, X, Y = _grid(shape)
    gen = _rng(rng)
    if isinstance(coef, str):
        if coef not in _COEF_KINDS:
            raise ValueError(f"coef must be one of {_COEF_KINDS} or an array, got {coef!r}")
        con = _positive("contrast", contrast)
        if con < 1:
            raise ValueError(f"contrast must be >= 1 (max/min coefficient), got {contrast!r}")
        nf = _count("n_features", n_features)
        if coef == "inclusions":
            k = np.ones(shape)
            centres = gen.uniform(0.0, 1.0, size=(nf, 2))
            radii = gen.uniform(0.04, 0.12, size=nf)
            dx = X[None] - centres[:, 0, None, None]
            dy = Y[None] - centres[:, 1, None, None]
            d2 = dx**2 + dy**2
            k[(d2 <= radii[:, None, None] ** 2).any(axis=0)] = con
        elif coef == "layers":
            edges = np.sort(gen.uniform(0.0, 1.0, size=nf - 1))
            values = con ** gen.uniform(0.0, 1.0, size=nf)
            k = values[np.searchsorted(edges, Y)]
        else:
            g = gaussian_field(shape, length_scale=0.15, rng=gen)
            k = con ** (0.5 * (1.0 + np.tanh(g)))
        kind = coef
    else:
        k = _grid_array("coef", coef, shape, positive=True)
        kind = "array"
        con = float(k.max() / k.min())
    f = _source(source, shape, X, Y)
    A = _diffusion(shape, h, k, dt)
    k.flags.writeable = False
    params = {"kind": "poisson_variable", "coef": kind, "contrast": con, "spacing": h}
    return Problem(A, f.reshape(-1).astype(dt), k, shape, params)
