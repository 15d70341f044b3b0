"""Prox operators and projections: definitions (numerical minimisation), Moreau, kernels, errors."""

import numpy as np
import pytest
from scipy.optimize import minimize

import lrsolve
from lrsolve import prox
from lrsolve._kernels import get_kernel

DTYPES = [np.float32, np.float64]


def _tol(dtype):
    return 1e-5 if dtype == np.float32 else 1e-10


def _argmin(fun, x0, **kw):
    """Numerical minimiser (Powell for nonsmooth objectives, then a polish)."""
    res = minimize(fun, x0, method="Powell", options=dict(xtol=1e-12, ftol=1e-14, maxiter=200000))
    return res.x


# ----------------------------------------------------------------------------- definition checks
PENALTIES = [
    ("l1", prox.L1(0.7)),
    ("l2", prox.L2(0.9)),
    ("sql2", prox.SquaredL2(1.3)),
    ("enet", prox.ElasticNet(0.8, 0.3)),
    ("group", prox.GroupL21([0, 0, 1, 1, 1, 2], 0.6)),
    ("tv", prox.TV1D(0.4)),
]


@pytest.mark.parametrize("name,g", PENALTIES, ids=[p[0] for p in PENALTIES])
def test_prox_matches_definition(name, g, rng):
    x = rng.standard_normal(6) * 2
    tau = 0.8
    z = g.prox(x, tau)
    obj = lambda u: g.value(u) + np.sum((u - x) ** 2) / (2 * tau)  # noqa: E731
    zn = _argmin(obj, x.copy())
    assert obj(z) <= obj(zn) + 1e-9
    np.testing.assert_allclose(z, zn, atol=2e-4)


MOREAU = [PENALTIES[i] for i in (0, 1, 2, 4)]


@pytest.mark.parametrize("name,g", MOREAU, ids=[p[0] for p in MOREAU])
def test_moreau_identity(name, g, rng):
    """x = prox_{tau g}(x) + tau prox_{g*/tau}(x/tau); for a norm, g* is the dual-ball indicator."""
    x = rng.standard_normal(6) * 2
    tau = 0.7
    p = g.prox(x, tau)
    if name == "l1":
        dual = np.clip(x / tau, -g.lam, g.lam)  # projection onto the linf ball
    elif name == "l2":
        dual = prox.project_l2ball(x / tau, g.lam)
    elif name == "group":
        v = x / tau
        dual = np.concatenate([prox.project_l2ball(v[:2], g.lam),
                               prox.project_l2ball(v[2:5], g.lam),
                               prox.project_l2ball(v[5:], g.lam)])
    else:  # sql2: g* = ||y||^2 / (2 lam), prox_{g*/tau}(v) = v / (1 + 1/(tau lam))
        dual = (x / tau) / (1 + 1 / (tau * g.lam))
    np.testing.assert_allclose(p + tau * dual, x, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_projections_match_definition(dtype, rng):
    x = (rng.standard_normal(7) * 2).astype(dtype)
    # simplex: compare with SLSQP on the constrained least squares
    for fn, cons, bounds in [
        (lambda v: prox.project_simplex(v, 2.0),
         [{"type": "eq", "fun": lambda u: u.sum() - 2.0}], [(0, None)] * 7),
        (lambda v: prox.project_l1ball(v, 1.5), None, None),
        (lambda v: prox.project_box(v, -0.3, 0.4), None, [(-0.3, 0.4)] * 7),
        (lambda v: prox.project_l2ball(v, 1.0), None, None),
    ]:
        z = fn(x)
        assert z.dtype == dtype
        x64 = x.astype(np.float64)
        if cons is None and bounds is None:
            if fn(np.zeros(7)).any():  # pragma: no cover
                raise AssertionError
        obj = lambda u: 0.5 * np.sum((u - x64) ** 2)  # noqa: E731,B023
        if cons is not None or bounds is not None:
            res = minimize(obj, np.full(7, 0.1), jac=lambda u: u - x64, bounds=bounds,  # noqa: B023
                           constraints=cons or (), method="SLSQP",
                           options=dict(ftol=1e-15, maxiter=1000))
            np.testing.assert_allclose(z, res.x, atol=max(_tol(dtype), 1e-6))
    # l1 ball by variational inequality: <x - z, u - z> <= 0 for u in the ball (vertices)
    z = prox.project_l1ball(x, 1.5).astype(np.float64)
    assert abs(np.abs(z).sum() - 1.5) < 1e-5
    for j in range(7):
        for s in (-1.5, 1.5):
            u = np.zeros(7)
            u[j] = s
            assert (x - z) @ (u - z) <= 1e-5


@pytest.mark.parametrize("n", [1, 2, 5, 100, 3001])
def test_condat_simplex_kernel_vs_sort(n, rng):
    num = get_kernel("prox_project_simplex", "numba")
    ref = get_kernel("prox_project_simplex", "numpy")
    for _ in range(5):
        y = rng.standard_normal(n) * rng.uniform(0.1, 10)
        a = rng.uniform(0.1, 5)
        np.testing.assert_allclose(num(y, a), ref(y, a), atol=1e-12)
        np.testing.assert_allclose(
            get_kernel("prox_project_l1ball", "numba")(y, a),
            get_kernel("prox_project_l1ball", "numpy")(y, a), atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_soft_threshold_kernel_vs_reference(dtype, rng):
    x = rng.standard_normal(100001).astype(dtype)
    a = get_kernel("prox_soft_threshold", "numba")(x, 0.3)
    b = get_kernel("prox_soft_threshold", "numpy")(x, 0.3)
    assert a.dtype == dtype
    np.testing.assert_array_equal(a, b)


def test_engines_agree(rng, engine):
    x = rng.standard_normal(1000)
    np.testing.assert_allclose(prox.prox_l1(x, 0.5), np.sign(x) * np.maximum(np.abs(x) - 0.5, 0))
    z = prox.project_simplex(x, 3.0)
    assert abs(z.sum() - 3.0) < 1e-10 and z.min() >= 0


def _tv_dual_qp(y, lam):
    n = y.size
    D = np.diff(np.eye(n), axis=0)
    res = minimize(lambda u: 0.5 * np.sum((y - D.T @ u) ** 2), np.zeros(n - 1),
                   jac=lambda u: -D @ (y - D.T @ u), bounds=[(-lam, lam)] * (n - 1),
                   method="L-BFGS-B", options=dict(ftol=1e-16, gtol=1e-14, maxiter=50000))
    return y - D.T @ res.x


@pytest.mark.parametrize("n", [2, 3, 10, 60])
def test_tv1d_matches_dual_qp(n, rng):
    for _ in range(4):
        y = np.cumsum(rng.standard_normal(n))
        lam = rng.uniform(0.1, 3)
        np.testing.assert_allclose(prox.prox_tv1d(y, lam), _tv_dual_qp(y, lam), atol=1e-6)


def test_tv1d_properties(rng):
    y = rng.standard_normal(10000)
    z = prox.prox_tv1d(y, 1e6)  # huge weight: constant = mean
    np.testing.assert_allclose(z, np.full_like(y, y.mean()), atol=1e-9)
    np.testing.assert_array_equal(prox.prox_tv1d(y, 0.0), y)
    assert prox.prox_tv1d(np.array([3.0]), 1.0)[0] == 3.0
    z32 = prox.prox_tv1d(y.astype(np.float32), 0.5)
    assert z32.dtype == np.float32
    np.testing.assert_allclose(z32, prox.prox_tv1d(y, 0.5), atol=1e-5)


# ----------------------------------------------------------------------------- spectral
@pytest.mark.parametrize("dtype", DTYPES)
def test_nuclear_partial_matches_full(dtype, rng):
    X = (rng.standard_normal((90, 8)) @ rng.standard_normal((8, 70))
         + 0.05 * rng.standard_normal((90, 70))).astype(dtype)
    for tau in (2.0, 10.0):
        Zf = prox.prox_nuclear(X, tau, method="full")
        Zp = prox.prox_nuclear(X, tau, method="partial", rank=3, rng=0)
        assert Zp.dtype == dtype
        err = np.abs(Zp - Zf).max() / np.abs(Zf).max()
        assert err <= (1e-4 if dtype == np.float32 else 1e-8), err
    # wide matrices too
    Zf = prox.prox_nuclear(X.T, 2.0, method="full")
    Zp = prox.prox_nuclear(X.T, 2.0, method="partial", rng=1)
    assert np.abs(Zp - Zf).max() / np.abs(Zf).max() <= (1e-4 if dtype == np.float32 else 1e-8)


def test_nuclear_definition_and_object(rng):
    X = rng.standard_normal((5, 4))
    tau = 0.9
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    np.testing.assert_allclose(prox.prox_nuclear(X, tau), (U * np.maximum(s - tau, 0)) @ Vt,
                               atol=1e-12)
    g = prox.NuclearNorm(0.5, shape=(5, 4))
    z = g.prox(X.ravel(), 2.0)
    np.testing.assert_allclose(z, prox.prox_nuclear(X, 1.0).ravel(), atol=1e-12)
    assert abs(g.value(X.ravel()) - 0.5 * s.sum()) < 1e-12


def test_psd_projection(rng):
    A = rng.standard_normal((6, 6))
    X = (A + A.T) / 2
    Z = prox.project_psd(X)
    assert np.linalg.eigvalsh(Z).min() >= -1e-12
    # Moreau: X = P_K(X) - P_K(-X) for the self-dual PSD cone
    np.testing.assert_allclose(Z - prox.project_psd(-X), X, atol=1e-12)
    assert prox.PSDCone()(Z) == 0.0


def _slsqp(obj, x0, cons):
    best = None
    for s in range(2):
        r = minimize(obj, x0 + 0.1 * s, constraints=cons, method="SLSQP",
                     options=dict(ftol=1e-15, maxiter=2000))
        if r.success and (best is None or r.fun < best.fun):
            best = r
    return best


def test_nuclear_epigraph_vector_step(rng):
    for _ in range(5):
        s = np.abs(rng.standard_normal(4)) * 2
        t0 = rng.standard_normal()
        X = np.diag(s)
        Z, t = prox.project_nuclear_epigraph(X, t0)
        z0 = np.r_[s, t0]
        r = minimize(lambda u: 0.5 * np.sum((u - z0) ** 2), np.r_[s, abs(t0) + s.sum()],  # noqa: B023
                     jac=lambda u: u - z0, method="SLSQP", bounds=[(0, None)] * 4 + [(None, None)],  # noqa: B023
                     constraints=[{"type": "ineq", "fun": lambda u: u[-1] - u[:-1].sum()}],
                     options=dict(ftol=1e-15, maxiter=1000))
        np.testing.assert_allclose(np.r_[np.diag(Z), t], r.x, atol=1e-6)
        assert prox.NuclearNormEpigraph()((Z, t + 1e-12)) == 0.0


def test_sum_largest_epigraph(rng):
    """Against SLSQP on the linear reformulation: k s + sum(z) <= t, z >= w - s, z >= 0."""
    n = 4
    for k in (1, 2):
        for _ in range(2):
            w = rng.standard_normal(n) * 2
            t0 = rng.standard_normal()
            Z, t = prox.project_sum_largest_epigraph(np.diag(w), t0, k)
            z0 = np.r_[w, t0]

            def obj(u, z0=z0):
                return 0.5 * np.sum((u[: n + 1] - z0) ** 2)

            def jac(u, z0=z0):
                return np.r_[u[: n + 1] - z0, np.zeros(n + 1)]

            cons = [{"type": "ineq", "fun": lambda u, k=k: u[n] - k * u[n + 1] - u[n + 2:].sum()},
                    {"type": "ineq", "fun": lambda u: u[n + 2:] - u[:n] + u[n + 1]}]
            u0 = np.r_[w, abs(t0) + 10, w.max(), np.zeros(n)]
            r = minimize(obj, u0, jac=jac, constraints=cons, method="SLSQP",
                         bounds=[(None, None)] * (n + 2) + [(0, None)] * n,
                         options=dict(ftol=1e-15, maxiter=500))
            d_ours = 0.5 * np.sum((np.r_[np.diag(Z), t] - z0) ** 2)
            assert d_ours <= r.fun + 1e-8
            np.testing.assert_allclose(np.r_[np.diag(Z), t], r.x[: n + 1], atol=1e-5)
            assert np.sort(np.diag(Z))[-k:].sum() <= t + 1e-9


def test_logdet_cone(rng):
    rs = np.random.default_rng(7)
    for _ in range(6):
        t0, v0 = rng.standard_normal(2) * 2
        w0 = rng.standard_normal(3) * 2
        Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        X = (Q * w0) @ Q.T
        t, v, Z = prox.project_logdet_cone(t0, v0, X)
        wz = np.linalg.eigvalsh(Z)
        assert prox.LogDetCone()((t - 1e-9, v, Z)) == 0.0
        z0 = np.r_[t0, v0, w0]
        cons = [{"type": "ineq", "fun": lambda u: u[1] * np.sum(
            np.log(np.maximum(u[2:], 1e-300) / max(u[1], 1e-300))) - u[0]}]
        best = None
        for _s in range(8):
            st = np.r_[-abs(rs.standard_normal()) - 3, abs(rs.standard_normal()) + 0.5,
                       abs(rs.standard_normal(3)) + 0.5]
            r = minimize(lambda u: 0.5 * np.sum((u - z0) ** 2), st, jac=lambda u: u - z0,  # noqa: B023
                         constraints=cons, bounds=[(None, None), (0, None)] + [(1e-12, None)] * 3,
                         method="SLSQP", options=dict(ftol=1e-14, maxiter=1000))
            if r.success and (best is None or r.fun < best.fun):
                best = r
        ours = 0.5 * (np.sum((np.sort(wz) - np.sort(w0)) ** 2 * 0) + (t - t0) ** 2 + (v - v0) ** 2
                      + np.sum((Z - X) ** 2))
        assert ours <= best.fun + 1e-6


# ----------------------------------------------------------------------------- bad input
def test_bad_input_messages():
    x = np.ones(3)
    with pytest.raises(ValueError, match="tau must be >= 0"):
        prox.prox_l1(x, -1.0)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        prox.L1(-0.5)
    with pytest.raises(ValueError, match="box is empty"):
        prox.project_box(x, 1.0, 0.0)
    with pytest.raises(ValueError, match="box is empty"):
        prox.Box(2.0, 1.0)
    with pytest.raises(ValueError, match="radius must be > 0"):
        prox.project_simplex(x, -1.0)
    with pytest.raises(ValueError, match="radius must be > 0"):
        prox.Simplex(0.0)
    with pytest.raises(ValueError, match="l1_ratio must lie in"):
        prox.prox_elastic_net(x, 1.0, 1.0, 1.5)
    with pytest.raises(ValueError, match="groups must be"):
        prox.prox_group_l21(x, 1.0, [0, 1])
    with pytest.raises(ValueError, match="overlap"):
        prox.prox_group_l21(x, 1.0, [[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="1-D"):
        prox.prox_tv1d(np.ones((2, 2)), 1.0)
    with pytest.raises(ValueError, match="symmetric"):
        prox.project_psd(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="2-D"):
        prox.prox_nuclear(x, 1.0)
    with pytest.raises(ValueError, match="k must be an integer"):
        prox.project_sum_largest_epigraph(np.eye(2), 1.0, 3)
    with pytest.raises(TypeError, match="real"):
        prox.prox_l1(np.ones(2, dtype=complex), 1.0)


def test_inputs_not_modified(rng):
    x = rng.standard_normal(50)
    x0 = x.copy()
    for fn in (lambda v: prox.prox_l1(v, 0.1), lambda v: prox.project_simplex(v),
               lambda v: prox.project_l1ball(v, 0.5), lambda v: prox.prox_tv1d(v, 0.3),
               lambda v: prox.project_box(v, 0, 1)):
        fn(x)
        np.testing.assert_array_equal(x, x0)


# ----------------------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_gpu_prox_matches_cpu(rng):
    if not lrsolve.cupy_available():
        pytest.skip("needs CuPy")
    import cupy as cp

    x = rng.standard_normal(10000)
    xd = cp.asarray(x)
    for f in (lambda v: prox.prox_l1(v, 0.3), lambda v: prox.project_simplex(v, 2.0),
              lambda v: prox.project_l1ball(v, 2.0), lambda v: prox.prox_tv1d(v, 0.5),
              lambda v: prox.project_box(v, -0.1, 0.2)):
        out = f(xd)
        assert isinstance(out, cp.ndarray)
        np.testing.assert_allclose(out.get(), f(x), atol=1e-10)
    X = rng.standard_normal((300, 250))
    np.testing.assert_allclose(prox.prox_nuclear(cp.asarray(X), 20.0, method="partial").get(),
                               prox.prox_nuclear(X, 20.0, method="full"), atol=1e-8)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_soft_threshold_keeps_nan(engine):
    x = np.array([1.0, np.nan, -2.0, 0.1])
    with lrsolve.backend(engine=engine):
        y = prox.prox_l1(x, 0.5)
    assert np.isnan(y[1])
    np.testing.assert_array_equal(y[[0, 2, 3]], [0.5, -1.5, 0.0])


def test_nmf_bad_input_and_array_likes():
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    X = np.abs(rng.standard_normal((8, 6)))
    Xn = X.copy()
    Xn[0, 0] = np.nan
    for bad in (Xn, sp.csr_matrix(Xn)):
        with pytest.raises(ValueError, match="X contains NaN or Inf"):
            prox.nmf(bad, 2)
    with pytest.raises(ValueError, match="X contains NaN or Inf"):
        prox.nmf(Xn, 2, init="random")
    with pytest.raises(ValueError, match=r"init=\(W0, H0\) contains NaN"):
        prox.nmf(X, 2, init=(np.full((8, 2), np.nan), np.ones((2, 6))))
    W16, _ = prox.nmf(X.astype(np.float16), 2)
    assert W16.dtype == np.float32
    lst = prox.nmf(X.tolist(), 2)
    ref = prox.nmf(X, 2)
    np.testing.assert_allclose(lst.x @ lst.H, ref.x @ ref.H)
    full = prox.nmf(sp.csr_matrix(X), 6)  # rank = min(shape) with the nndsvd start
    assert full.x.shape == (8, 6) and full.relative_error <= 0.05
