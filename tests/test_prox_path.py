"""FISTA Lasso/elastic-net paths on any array module, the extrapolated CD path, HALS kernel."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import lrsolve
from lrsolve import prox
from lrsolve._kernels import get_kernel

DTYPES = [np.float32, np.float64]
ROOT = pathlib.Path(__file__).resolve().parents[1]


def _obj(X, y, w, b, alpha, l1_ratio):
    n = X.shape[0]
    r = y - X @ w - b
    return (0.5 / n * float(r @ r) + alpha * l1_ratio * float(np.abs(w).sum())
            + 0.5 * alpha * (1 - l1_ratio) * float(w @ w))


@pytest.fixture
def data(rng):
    n, p = 60, 90
    X = rng.standard_normal((n, p))
    X[:, 1:] += 0.5 * X[:, :-1]
    w = np.zeros(p)
    w[:5] = rng.standard_normal(5) * 2
    y = X @ w + 0.1 * rng.standard_normal(n) + 1.0
    return X, y


# ----------------------------------------------------------------------------- FISTA path
@pytest.mark.parametrize("dtype", DTYPES)
def test_fista_lasso_path_vs_cd_and_sklearn(dtype, data):
    from sklearn.linear_model import lasso_path as sk_path

    X, y = (a.astype(dtype) for a in data)
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    F = prox.lasso_path(X, y, eps=1e-2, n_alphas=12, tol=1e-11, solver="fista",
                        maxiter=50000)
    C = prox.lasso_path(X, y, eps=1e-2, n_alphas=12, tol=1e-11)
    alphas, coefs, _ = sk_path(X64, y64, eps=1e-2, alphas=12, tol=1e-11, max_iter=100000)
    np.testing.assert_allclose(F.alphas, alphas, rtol=1e-6)
    assert F.converged.all() and F.coefs.dtype == dtype
    assert np.all(F.dual_gaps <= 1e-11 * float(y64 @ y64) / X.shape[0] * (1 + 1e-6))
    for i, a in enumerate(F.alphas):
        ref = _obj(X64, y64, coefs[:, i], 0.0, a, 1.0)
        for P in (F, C):
            ours = _obj(X64, y64, P.coefs[:, i].astype(np.float64), 0.0, a, 1.0)
            assert abs(ours - ref) <= (1e-8 if dtype == np.float64 else 1e-6) * ref
    assert np.all(F.coefs[:, 0] == 0)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_fista_enet_path_sparse_vs_cd(fit_intercept, rng):
    X = sp.random(80, 150, density=0.1, random_state=4, format="csr")
    w = np.zeros(150)
    w[:4] = 2.0
    y = X @ w + 0.05 * rng.standard_normal(80) + 1.5
    kw = dict(l1_ratio=0.7, eps=1e-2, n_alphas=8, tol=1e-11, fit_intercept=fit_intercept)
    F = prox.enet_path(X, y, solver="fista", maxiter=50000, **kw)
    C = prox.enet_path(X, y, **kw)
    assert F.converged.all()
    np.testing.assert_allclose(F.alphas, C.alphas, rtol=1e-12)
    np.testing.assert_allclose(F.intercepts, C.intercepts, atol=1e-6)
    for i, a in enumerate(C.alphas):
        ref = _obj(X, y, C.coefs[:, i], C.intercepts[i], a, 0.7)
        ours = _obj(X, y, F.coefs[:, i], F.intercepts[i], a, 0.7)
        assert abs(ours - ref) <= 1e-8 * ref
        # both certificates bound the distance to the optimum
        assert ours - ref <= C.dual_gaps[i] + 1e-12 and ref - ours <= F.dual_gaps[i] + 1e-12


def test_fista_single_fit_matches_cd(data):
    X, y = data
    a = prox.elastic_net(X, y, 0.05, 0.8, tol=1e-12, solver="fista", maxiter=50000)
    b = prox.elastic_net(X, y, 0.05, 0.8, tol=1e-12)
    assert a.converged and a.solver == "fista"
    ref = _obj(X, y, b.x, b.intercept, 0.05, 0.8)
    assert abs(_obj(X, y, a.x, a.intercept, 0.05, 0.8) - ref) <= 1e-9 * ref
    # warm start at the answer: converged before the first step
    c = prox.lasso(X, y, 0.05, tol=1e-8, solver="fista", coef_init=prox.lasso(X, y, 0.05,
                                                                               tol=1e-14).x)
    assert c.converged and c.niter == 0


def test_fista_does_not_modify_inputs_and_reports_maxiter(data):
    X, y = data
    X0, y0 = X.copy(), y.copy()
    res = prox.lasso(X, y, 1e-3, tol=1e-16, solver="fista", maxiter=5)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert not res.converged and res.info == 5 and "maximum number" in res.message


def test_solver_bad_input(data):
    X, y = data
    with pytest.raises(ValueError, match="solver must be 'cd', 'fista' or None"):
        prox.lasso_path(X, y, solver="lars")
    with pytest.raises(ValueError, match="solver must be"):
        prox.lasso(X, y, 0.1, solver="newton")
    with pytest.raises(ValueError, match="samples"):
        prox.lasso_path(X, y[:-1], solver="fista")
    with pytest.raises(ValueError, match="eps"):
        prox.lasso_path(X, y, eps=0.0, solver="fista")
    with pytest.raises(ValueError, match="coef_init"):
        prox.lasso(X, y, 0.1, solver="fista", coef_init=np.zeros(3))


# ----------------------------------------------------------------------------- CD path
def test_cd_path_ill_conditioned_p_gt_n(rng):
    """Correlated p > n design (supports near n): the extrapolated CD still meets the gap."""
    from sklearn.linear_model import lasso_path as sk_path

    n, p = 60, 200
    Z = rng.standard_normal((n, p))
    X = np.empty((n, p))
    X[:, 0] = Z[:, 0]
    for j in range(1, p):
        X[:, j] = 0.9 * X[:, j - 1] + np.sqrt(1 - 0.81) * Z[:, j]
    y = X[:, ::20] @ rng.standard_normal(10) + 0.3 * rng.standard_normal(n)
    P = prox.lasso_path(X, y, eps=1e-3, n_alphas=30, tol=1e-9, maxiter=5000)
    alphas, coefs, _ = sk_path(X, y, eps=1e-3, alphas=30, tol=1e-12, max_iter=200000)
    assert P.converged.all()
    for i, a in enumerate(alphas):
        ref = _obj(X, y, coefs[:, i], 0.0, a, 1.0)
        assert _obj(X, y, P.coefs[:, i], 0.0, a, 1.0) <= ref * (1 + 1e-8)


# ----------------------------------------------------------------------------- HALS kernel
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("prox_weight", [0.0, 0.3])
def test_hals_kernel_matches_reference(dtype, prox_weight, rng):
    W = np.abs(rng.standard_normal((40, 5))).astype(dtype)
    H = np.abs(rng.standard_normal((5, 30))).astype(dtype)
    X = np.abs(rng.standard_normal((40, 30))).astype(dtype)
    XHt, HHt = X @ H.T, H @ H.T
    HHt[2, 2] = 0.0 if prox_weight == 0 else HHt[2, 2]  # a dead component -> zero column
    W1, W2 = W.copy(), W.copy()
    a, da = get_kernel("prox_hals_sweep", "numba")(W1, XHt, HHt, prox_weight)
    b, db = get_kernel("prox_hals_sweep", "numpy")(W2, XHt, HHt, prox_weight)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    assert a is W1 and a.dtype == dtype and np.all(a >= 0)
    np.testing.assert_allclose(da, float(np.sum((b.astype(float) - W.astype(float)) ** 2)),
                               rtol=1e-4 if dtype == np.float32 else 1e-10)


def test_nmf_plain_hals_matches_sklearn_sweep_for_sweep(rng):
    from sklearn.decomposition import NMF

    X = rng.random((50, 6)) @ rng.random((6, 40)) + 0.01 * rng.random((50, 40))
    res = prox.nmf(X, 4, tol=0, maxiter=40, inner_sweeps=1)
    sk = NMF(4, init="nndsvd", solver="cd", tol=0, max_iter=40)
    W = sk.fit_transform(X)
    ref = 0.5 * float(np.sum((X - W @ sk.components_) ** 2))
    assert abs(res.objective[-1] - ref) <= 1e-8 * ref  # the 1e-8 (measured 1e-13)
    # accelerated HALS (the default): lower objective for the same number of products
    acc = prox.nmf(X, 4, tol=0, maxiter=40)
    assert acc.objective[-1] <= res.objective[-1] * (1 + 1e-12)
    assert np.all(np.diff(acc.objective) <= 1e-9 * acc.objective[0])
    with pytest.raises(ValueError, match="inner_sweeps must be a positive integer"):
        prox.nmf(X, 2, inner_sweeps=0)


# ----------------------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_gpu_fista_path_and_nmf(data):
    if not lrsolve.cupy_available():
        pytest.skip("needs CuPy and a CUDA device")
    import cupy as cp
    import cupyx.scipy.sparse as csp

    X, y = data
    C = prox.lasso_path(X, y, eps=1e-2, n_alphas=8, tol=1e-10)
    G = prox.lasso_path(cp.asarray(X), cp.asarray(y), eps=1e-2, n_alphas=8, tol=1e-10,
                        maxiter=50000)
    assert isinstance(G.coefs, cp.ndarray) and G.converged.all()
    for i, a in enumerate(C.alphas):
        ref = _obj(X, y, C.coefs[:, i], 0.0, a, 1.0)
        assert abs(_obj(X, y, G.coefs[:, i].get(), 0.0, a, 1.0) - ref) <= 1e-8 * ref
    Xs = sp.csr_matrix(np.where(np.abs(X) > 1, X, 0.0))
    Gs = prox.enet_path(csp.csr_matrix(Xs), cp.asarray(y), l1_ratio=0.5, n_alphas=5,
                        eps=1e-2, tol=1e-10, fit_intercept=True, maxiter=50000)
    Cs = prox.enet_path(Xs, y, l1_ratio=0.5, n_alphas=5, eps=1e-2, tol=1e-10,
                        fit_intercept=True)
    np.testing.assert_allclose(Gs.intercepts, Cs.intercepts, atol=1e-6)
    with pytest.raises(ValueError, match="solver='cd' runs on the CPU"):
        prox.lasso_path(cp.asarray(X), cp.asarray(y), solver="cd")
    res = prox.nmf(cp.asarray(np.abs(X)), 3, maxiter=30)
    ref = prox.nmf(np.abs(X), 3, maxiter=30)
    assert isinstance(res.x, cp.ndarray)
    assert abs(res.objective[-1] - ref.objective[-1]) <= 1e-6 * ref.objective[-1]


# ----------------------------------------------------------------------------- example
@pytest.mark.slow
def test_example_lasso_path_with_fista(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "plot_lasso_path.py"), "--n", "50", "--p",
         "120", "--n-alphas", "10", "--fista", "--out", str(tmp_path / "p.png")],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()
            if line.startswith(("path", "fista"))}
    assert float(rows["path"][-1]) <= 1e-8, proc.stdout
    assert float(rows["fista"][3]) <= 1e-8, proc.stdout  # FISTA vs CD objectives


def test_lazy_xtr_bounds_and_exact_columns(rng):
    """The dense path's X^T r reads only the columns whose Cauchy-Schwarz bound can matter."""
    from lrsolve.prox._lasso import _Design, _LazyXtr

    X = rng.standard_normal((40, 300))
    y = rng.standard_normal(40)
    D = _Design(X, y, False)
    lazy = _LazyXtr(D)
    v0 = rng.standard_normal(40)
    np.testing.assert_allclose(lazy(v0, 5.0, np.zeros(300, bool)), X.T @ v0, rtol=1e-12)
    v1 = v0 + 0.01 * rng.standard_normal(40)
    force = np.zeros(300, bool)
    force[7] = True
    lam = 0.5 * float(np.abs(X.T @ v0).max())
    out = lazy(v1, lam, force)
    exact = X.T @ v1
    read = np.isclose(out, exact, rtol=1e-12, atol=0)
    assert read[7] and 0 < read.sum() < 300  # some columns skipped, forced one read
    assert np.all(np.abs(exact) <= np.abs(out) * (1 + 1e-12))  # the rest: upper bounds
    assert np.all(np.abs(out[~read]) < _LazyXtr.THR * lam * (1 + 1e-12))
