"""Proximal gradient, BCD-PR, Lasso/elastic net and NMF (vs scikit-learn), examples."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import lrsolve
from lrsolve import prox

ROOT = pathlib.Path(__file__).resolve().parents[1]
DTYPES = [np.float32, np.float64]


def _enet_obj(X, y, w, b, alpha, l1_ratio):
    n = X.shape[0]
    r = y - X @ w - b
    return (0.5 / n * float(r @ r) + alpha * l1_ratio * float(np.abs(w).sum())
            + 0.5 * alpha * (1 - l1_ratio) * float(w @ w))


@pytest.fixture
def regression(rng):
    n, p = 80, 120
    X = rng.standard_normal((n, p))
    X[:, 1:] += 0.5 * X[:, :-1]
    w = np.zeros(p)
    w[:6] = rng.standard_normal(6) * 2
    y = X @ w + 0.1 * rng.standard_normal(n) + 1.5
    return X, y


# ----------------------------------------------------------------------------- proximal gradient
def test_pgd_closed_form_soft_threshold():
    """f = 1/2||x - a||^2, g = lam ||x||_1: the minimiser is soft(a, lam)."""
    a = np.array([3.0, -0.2, 0.5, -4.0])
    f = prox.LeastSquares(np.eye(4), a)
    res = prox.proximal_gradient(f, prox.L1(1.0), np.zeros(4), tol=1e-12)
    np.testing.assert_allclose(res.x, [2.0, 0.0, 0.0, -3.0], atol=1e-12)
    assert res.converged and res.info == 0
    x, info = res
    assert info == 0 and x is res.x


@pytest.mark.parametrize("dtype", DTYPES)
def test_pgd_lasso_vs_sklearn_and_gap(dtype, regression):
    from sklearn.linear_model import Lasso

    X, y = regression
    X = X.astype(dtype)
    y = (y - y.mean()).astype(dtype)
    n = X.shape[0]
    alpha = 0.05
    f = prox.LeastSquares(X, y, scale=1.0 / n)
    res = prox.proximal_gradient(f, prox.L1(alpha), np.zeros(X.shape[1], dtype=dtype),
                                 tol=1e-10 if dtype == np.float64 else 1e-5, maxiter=20000)
    sk = Lasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=100000).fit(
        X.astype(np.float64), y.astype(np.float64))
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    ours = _enet_obj(X64, y64, res.x.astype(np.float64), 0.0, alpha, 1.0)
    ref = _enet_obj(X64, y64, sk.coef_, 0.0, alpha, 1.0)
    rel = 1e-8 if dtype == np.float64 else 1e-5
    assert ours <= ref * (1 + rel)
    # the duality gap bounds the suboptimality
    assert ours - ref <= res.duality_gap + 1e-12
    assert res.x.dtype == dtype
    assert res.objective[0] >= res.objective[-1]
    assert res.certificate <= (1e-6 if dtype == np.float64 else 1e-3)


def test_restart_needs_fewer_gradients(rng):
    m, n = 60, 30
    U, _ = np.linalg.qr(rng.standard_normal((m, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (U * np.logspace(0, -2, n)) @ V.T
    b = A @ (rng.standard_normal(n) * (rng.random(n) < 0.3))
    f, g = prox.LeastSquares(A, b), prox.L1(1e-4)
    ref = prox.proximal_gradient(f, g, np.zeros(n), tol=0, atol=1e-13, maxiter=20000)
    fstar = min(ref.objective.min(), ref.objective[-1])

    def evals(**kw):
        res = prox.proximal_gradient(f, g, np.zeros(n), tol=0, maxiter=4000, **kw)
        hit = np.nonzero(res.objective - fstar <= 1e-6 * abs(fstar))[0]
        return hit[0] if hit.size else np.inf

    with_restart, plain = evals(restart="adaptive"), evals(restart=None)
    assert with_restart < plain, (with_restart, plain)
    assert evals(restart="function") < plain


def test_pgd_fixed_step_ista_and_callables(rng):
    A = rng.standard_normal((30, 10))
    b = rng.standard_normal(30)
    xs = np.linalg.lstsq(A, b, rcond=None)[0]
    L = np.linalg.norm(A, 2) ** 2
    fvg = lambda x: (0.5 * float((A @ x - b) @ (A @ x - b)), A.T @ (A @ x - b))  # noqa: E731
    res = prox.proximal_gradient(fvg, None, np.zeros(10), accel=False, step=1.0 / L,
                                 tol=1e-12, maxiter=100000)
    np.testing.assert_allclose(res.x, xs, atol=1e-8)
    pair = (lambda x: fvg(x)[0], lambda x: fvg(x)[1])
    res2 = prox.proximal_gradient(pair, prox.NonNeg(), np.zeros(10), tol=1e-12, maxiter=20000)
    from scipy.optimize import nnls

    np.testing.assert_allclose(res2.x, nnls(A, b)[0], atol=1e-7)
    calls = []
    prox.proximal_gradient(pair, None, np.zeros(10), maxiter=5, callback=lambda x: calls.append(1))
    assert len(calls) == 5


def test_pgd_bad_input(rng):
    f = prox.LeastSquares(np.eye(3), np.ones(3))
    with pytest.raises(ValueError, match="step must be > 0"):
        prox.proximal_gradient(f, None, np.zeros(3), step=-1.0)
    with pytest.raises(ValueError, match="nonconvex"):
        prox.proximal_gradient(f, prox.L0(1.0), np.zeros(3))
    with pytest.raises(ValueError, match="restart must be"):
        prox.proximal_gradient(f, None, np.zeros(3), restart="sometimes")
    with pytest.raises(ValueError, match="rows"):
        prox.LeastSquares(np.eye(3), np.ones(4))
    with pytest.raises(TypeError, match="f must be"):
        prox.proximal_gradient(3, None, np.zeros(3))


def test_pgd_nuclear_norm_completion(rng):
    """Matrix denoising min 1/2||X - M||^2 + lam ||X||_*: one prox is exact."""
    M = rng.standard_normal((40, 3)) @ rng.standard_normal((3, 30))
    f = prox.LeastSquares(sp.eye(1200, format="csr"), M.ravel())
    g = prox.NuclearNorm(2.0, shape=(40, 30))
    res = prox.proximal_gradient(f, g, np.zeros(1200), tol=1e-12, maxiter=500)
    np.testing.assert_allclose(res.x.reshape(40, 30), prox.prox_nuclear(M, 2.0), atol=1e-9)


# ----------------------------------------------------------------------------- BCD
def test_bcd_quadratic_exact_and_gradient_blocks(rng):
    """min 1/2 x^T Q x - c^T x with two blocks: exact solves vs the linear solve."""
    n = 8
    B = rng.standard_normal((n, n))
    Q = B @ B.T + n * np.eye(n)
    c = rng.standard_normal(n)
    xs = np.linalg.solve(Q, c)
    i1, i2 = slice(0, 4), slice(4, 8)

    def exact(i, j):
        def solve(blocks, k, lam):
            other = blocks[1 - k]
            rhs = c[i] - Q[i, j] @ other + lam * blocks[k]
            return np.linalg.solve(Q[i, i] + lam * np.eye(4), rhs)
        return solve

    blocks = [prox.Block(exact(i1, i2)), prox.Block(exact(i2, i1))]
    for order in ("cyclic", "random"):
        res = prox.bcd(blocks, [np.zeros(4), np.zeros(4)], order=order, prox_weight=0.5,
                       tol=1e-13, maxiter=5000, rng=0,
                       objective=lambda b: 0.5 * np.r_[b[0], b[1]] @ Q @ np.r_[b[0], b[1]]
                       - c @ np.r_[b[0], b[1]])
        np.testing.assert_allclose(np.r_[res.x[0], res.x[1]], xs, atol=1e-10)
        assert res.converged
        assert np.all(np.diff(res.objective) <= 1e-12)  # monotone descent
    # linearised (inexact) blocks with a nonnegativity constraint
    L1, L2 = np.linalg.eigvalsh(Q[i1, i1]).max(), np.linalg.eigvalsh(Q[i2, i2]).max()
    gblocks = [
        prox.Block(grad=lambda b: Q[i1, i1] @ b[0] + Q[i1, i2] @ b[1] - c[i1], lipschitz=L1,
                   penalty=prox.NonNeg(), inner=3),
        prox.Block(grad=lambda b: Q[i2, i1] @ b[0] + Q[i2, i2] @ b[1] - c[i2], lipschitz=L2,
                   penalty=prox.NonNeg(), inner=3),
    ]
    res = prox.bcd(gblocks, [np.zeros(4), np.zeros(4)], tol=1e-11, maxiter=5000)
    ref = prox.proximal_gradient(
        (lambda x: 0.5 * x @ Q @ x - c @ x, lambda x: Q @ x - c), prox.NonNeg(), np.zeros(n),
        tol=1e-12, maxiter=5000)
    assert res.converged and ref.converged
    np.testing.assert_allclose(np.r_[res.x[0], res.x[1]], ref.x, atol=1e-7)


def test_bcd_bad_input():
    with pytest.raises(ValueError, match="needs minimize"):
        prox.Block()
    with pytest.raises(ValueError, match="lipschitz"):
        prox.Block(grad=lambda b: b[0])
    with pytest.raises(ValueError, match="nonconvex"):
        prox.Block(grad=lambda b: b[0], lipschitz=1.0, penalty=prox.L0())
    blk = prox.Block(lambda b, i, lam: b[i])
    with pytest.raises(ValueError, match="2 blocks"):
        prox.bcd([blk], [np.zeros(1), np.zeros(1)])
    with pytest.raises(ValueError, match="prox_weight must be >= 0"):
        prox.bcd([blk], [np.zeros(1)], prox_weight=-1.0)
    with pytest.raises(ValueError, match="order must be"):
        prox.bcd([blk], [np.zeros(1)], order="zigzag")


# ----------------------------------------------------------------------------- Lasso / ENet
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("l1_ratio", [1.0, 0.6])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_enet_vs_sklearn_dense(dtype, l1_ratio, fit_intercept, regression):
    from sklearn.linear_model import ElasticNet

    X, y = regression
    X, y = X.astype(dtype), y.astype(dtype)
    alpha = 0.05
    res = prox.elastic_net(X, y, alpha, l1_ratio, fit_intercept=fit_intercept, tol=1e-14)
    sk = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, fit_intercept=fit_intercept, tol=1e-14,
                    max_iter=100000).fit(X.astype(np.float64), y.astype(np.float64))
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    ours = _enet_obj(X64, y64, res.x.astype(np.float64), res.intercept, alpha, l1_ratio)
    ref = _enet_obj(X64, y64, sk.coef_, sk.intercept_, alpha, l1_ratio)
    rel = 1e-8 if dtype == np.float64 else 1e-6
    assert abs(ours - ref) <= rel * ref
    assert res.converged and res.x.dtype == dtype
    # the certificate bounds the suboptimality (scikit-learn's solution is nearly optimal)
    assert ours - ref <= res.duality_gap + 1e-14


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_enet_vs_sklearn_sparse(fit_intercept, rng):
    from sklearn.linear_model import ElasticNet, Lasso

    X = sp.random(100, 300, density=0.05, random_state=3, format="csc")
    w = np.zeros(300)
    w[:5] = 3.0
    y = X @ w + 0.05 * rng.standard_normal(100) + 2.0
    for l1_ratio, est in [(1.0, Lasso(alpha=0.005)), (0.5, ElasticNet(alpha=0.005, l1_ratio=0.5))]:
        est.set_params(fit_intercept=fit_intercept, tol=1e-14, max_iter=100000).fit(X, y)
        res = prox.elastic_net(X, y, 0.005, l1_ratio, fit_intercept=fit_intercept, tol=1e-14)
        ours = _enet_obj(X, y, res.x, res.intercept, 0.005, l1_ratio)
        ref = _enet_obj(X, y, est.coef_, est.intercept_, 0.005, l1_ratio)
        assert abs(ours - ref) <= 1e-8 * ref
        np.testing.assert_allclose(res.intercept, est.intercept_, atol=1e-6)
    # sparse and dense give the same answer
    res_d = prox.lasso(X.toarray(), y, 0.005, fit_intercept=fit_intercept, tol=1e-14)
    res_s = prox.lasso(X, y, 0.005, fit_intercept=fit_intercept, tol=1e-14)
    np.testing.assert_allclose(res_d.x, res_s.x, atol=1e-8)


def test_screening_and_working_sets_do_not_change_the_answer(regression, engine):
    X, y = regression
    a = prox.lasso(X, y, 0.02, tol=1e-12)
    b = prox.lasso(X, y, 0.02, tol=1e-12, screening=False, working_set=False)
    np.testing.assert_allclose(a.x, b.x, atol=1e-7)


def test_lasso_path_vs_sklearn(regression):
    from sklearn.linear_model import enet_path as sk_enet
    from sklearn.linear_model import lasso_path as sk_lasso

    X, y = regression
    y = y - y.mean()
    n = X.shape[0]
    P = prox.lasso_path(X, y, eps=1e-2, n_alphas=20, tol=1e-10)
    alphas, coefs, _ = sk_lasso(X, y, eps=1e-2, n_alphas=20, tol=1e-10, max_iter=100000)
    np.testing.assert_allclose(P.alphas, alphas, rtol=1e-12)
    for i, a in enumerate(alphas):
        ours = _enet_obj(X, y, P.coefs[:, i], 0.0, a, 1.0)
        ref = _enet_obj(X, y, coefs[:, i], 0.0, a, 1.0)
        assert ours <= ref * (1 + 1e-8)
    assert P.converged.all()
    assert np.all(P.dual_gaps <= 1e-10 * float(y @ y) / n * (1 + 1e-9))
    E = prox.enet_path(X, y, l1_ratio=0.5, eps=1e-2, n_alphas=5, tol=1e-10)
    a2, c2, _ = sk_enet(X, y, l1_ratio=0.5, eps=1e-2, n_alphas=5, tol=1e-10, max_iter=100000)
    np.testing.assert_allclose(E.alphas, a2)
    for i, a in enumerate(a2):
        ref = _enet_obj(X, y, c2[:, i], 0, a, 0.5)
        assert abs(_enet_obj(X, y, E.coefs[:, i], 0, a, 0.5) - ref) <= 1e-8 * ref
    assert np.all(P.coefs[:, 0] == 0)  # alpha_max gives the zero solution


def test_lasso_bad_input(regression):
    X, y = regression
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        prox.lasso(X, y, -1.0)
    with pytest.raises(ValueError, match="samples"):
        prox.lasso(X, y[:-1], 0.1)
    with pytest.raises(ValueError, match="l1_ratio must lie"):
        prox.elastic_net(X, y, 0.1, 2.0)
    with pytest.raises(ValueError, match="NaN"):
        Xn = X.copy()
        Xn[0, 0] = np.nan
        prox.lasso(Xn, y, 0.1)
    with pytest.raises(ValueError, match="coef_init"):
        prox.lasso(X, y, 0.1, coef_init=np.zeros(3))


def test_lasso_does_not_modify_inputs(regression):
    X, y = regression
    X0, y0 = X.copy(), y.copy()
    prox.lasso(X, y, 0.05)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


# ----------------------------------------------------------------------------- NMF
@pytest.mark.parametrize("dtype", DTYPES)
def test_nmf_vs_sklearn(dtype, rng):
    from sklearn.decomposition import NMF

    X = (rng.random((40, 5)) @ rng.random((5, 30)) + 0.05 * rng.random((40, 30))).astype(dtype)
    res = prox.nmf(X, 4, tol=1e-10, maxiter=3000)
    sk = NMF(4, init="nndsvd", solver="cd", tol=1e-10, max_iter=3000)
    W = sk.fit_transform(X.astype(np.float64))
    ref = 0.5 * np.sum((X - W @ sk.components_) ** 2)
    ours = 0.5 * np.sum((X.astype(np.float64) - res.x @ res.H) ** 2)
    rel = 1e-6 if dtype == np.float64 else 1e-3
    assert ours <= ref * (1 + rel), (ours, ref)
    assert np.all(res.x >= 0) and np.all(res.H >= 0)
    slack = 1e-9 if dtype == np.float64 else 1e-4  # float32 rounding of the objective
    assert np.all(np.diff(res.objective) <= slack * res.objective[0])
    np.testing.assert_allclose(res.objective[-1], ours, rtol=1e-3 if dtype == np.float32 else 1e-8)


def test_nmf_exact_factorization_sparse_and_prox(rng):
    W0, H0 = rng.random((30, 3)), rng.random((3, 25))
    X = W0 @ H0
    for Xin in (X, sp.csr_matrix(X)):
        res = prox.nmf(Xin, 3, tol=1e-14, maxiter=5000, prox_weight=1e-3)
        assert res.relative_error < 1e-3
    res = prox.nmf(X, 3, init="random", rng=0, tol=1e-12, maxiter=5000)
    assert res.relative_error < 1e-3


def test_nmf_bad_input(rng):
    with pytest.raises(ValueError, match="nonnegative"):
        prox.nmf(-np.ones((3, 3)), 2)
    with pytest.raises(ValueError, match="rank must be"):
        prox.nmf(np.ones((3, 3)), 0)
    with pytest.raises(ValueError, match="init"):
        prox.nmf(np.ones((3, 3)), 2, init="magic")


# ----------------------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_gpu_lasso_and_pgd(regression):
    if not lrsolve.cupy_available():
        pytest.skip("needs CuPy")
    import cupy as cp

    X, y = regression
    cpu = prox.lasso(X, y, 0.05, tol=1e-10)
    gpu = prox.lasso(cp.asarray(X), cp.asarray(y), 0.05, tol=1e-10, maxiter=20000)
    assert isinstance(gpu.x, cp.ndarray)
    ours = _enet_obj(X, y, gpu.x.get(), gpu.intercept, 0.05, 1.0)
    ref = _enet_obj(X, y, cpu.x, cpu.intercept, 0.05, 1.0)
    assert abs(ours - ref) <= 1e-7 * ref
    res = prox.nmf(cp.asarray(np.abs(X)), 3, maxiter=50)
    assert isinstance(res.x, cp.ndarray)


# ----------------------------------------------------------------------------- examples
def _run_example(name, *args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, str(ROOT / "examples" / name), *args],
                          capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def _has_mpl():
    return importlib.util.find_spec("matplotlib") is not None


@pytest.mark.slow
def test_example_lasso_path(tmp_path):
    proc = _run_example("plot_lasso_path.py", "--n", "60", "--p", "150", "--n-alphas", "20",
                        "--out", str(tmp_path / "p.png"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("path")]
    assert rows, proc.stdout
    assert float(rows[0][-1]) <= 1e-8  # max relative objective difference vs scikit-learn
    if _has_mpl():
        assert (tmp_path / "p.png").stat().st_size > 1000


def test_example_tv_denoising(tmp_path):
    proc = _run_example("plot_tv_denoising.py", "--n", "500", "--out", str(tmp_path / "t.png"),
                        cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    vals = dict(line.split(":", 1) for line in proc.stdout.splitlines() if ":" in line)
    assert float(vals["rmse denoised"]) < float(vals["rmse noisy"]) / 2, proc.stdout
    if _has_mpl():
        assert (tmp_path / "t.png").stat().st_size > 1000


@pytest.mark.slow
def test_example_nmf(tmp_path):
    proc = _run_example("plot_nmf.py", "--rank", "4", "--maxiter", "100",
                        "--out", str(tmp_path / "n.png"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]]
            for line in proc.stdout.splitlines() if line.startswith(("lrsolve", "sklearn"))}
    assert "lrsolve" in rows and "sklearn" in rows, proc.stdout
    assert rows["lrsolve"][0] <= rows["sklearn"][0] * (1 + 1e-3)
    if _has_mpl():
        assert (tmp_path / "n.png").stat().st_size > 1000


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("working_set", [True, False])
def test_elastic_net_l1_ratio_zero_is_ridge(dtype, working_set):
    """l1_ratio=0 is ridge regression (scikit-learn's convention): the closed form, and a
    duality gap that certifies it (it used to stay at the primal value)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 30))
    y = rng.standard_normal(50)
    res = prox.elastic_net(X.astype(dtype), y.astype(dtype), 0.1, 0.0, fit_intercept=False,
                           tol=1e-12, working_set=working_set)
    w = np.linalg.solve(X.T @ X + 50 * 0.1 * np.eye(30), X.T @ y)
    assert res.converged
    assert res.x.dtype == dtype
    tol = 1e-3 if dtype == np.float32 else 1e-5
    np.testing.assert_allclose(res.x, w, atol=tol)
    from sklearn.linear_model import ElasticNet

    sk = ElasticNet(alpha=0.1, l1_ratio=0.0, fit_intercept=False, tol=1e-12,
                    max_iter=100000).fit(X, y)
    np.testing.assert_allclose(res.x, sk.coef_, atol=tol)


def test_lasso_argument_checks():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((20, 8))
    y = rng.standard_normal(20)
    with pytest.raises(ValueError, match="p0"):
        prox.lasso(X, y, 0.1, p0=0)
    with pytest.raises(ValueError, match="coef_init contains NaN"):
        prox.lasso(X, y, 0.1, coef_init=np.full(8, np.nan))
    res = prox.lasso(X, y, 0.0, fit_intercept=False, maxiter=50)
    assert not res.converged and "lstsq" in res.message
    np.testing.assert_allclose(res.x, np.linalg.lstsq(X, y, rcond=None)[0], atol=1e-6)


def test_proximal_gradient_rejects_nan_and_stops_when_no_step_decreases():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((10, 5))
    b = np.ones(10)
    b[0] = np.nan
    with pytest.raises(ValueError, match="b contains NaN"):
        prox.LeastSquares(A, b)
    f = prox.LeastSquares(A, np.ones(10))
    with pytest.raises(ValueError, match="x0 contains NaN"):
        prox.proximal_gradient(f, prox.L1(0.1), np.full(5, np.nan))

    class NaNAway:  # finite only at 0: no step can decrease it
        def value(self, x):
            return 0.0 if np.all(x == 0) else np.nan

        def grad(self, x):
            return -np.ones_like(x)

        def value_and_grad(self, x):
            return self.value(x), self.grad(x)

    res = prox.proximal_gradient(NaNAway(), None, np.zeros(5), maxiter=20)
    assert res.info == -3 and not res.converged and "line search failed" in res.message


def test_lasso_leaves_a_non_canonical_sparse_input_alone():
    """A CSC matrix with unsorted and duplicate row indices is canonicalised on a copy."""
    rng = np.random.default_rng(3)
    n, p = 30, 6
    indptr, indices = [0], []
    for _ in range(p):
        col = list(rng.choice(n, 6, replace=False))
        indices += col[::-1] + [col[0]]  # unsorted, and one row index twice
        indptr.append(len(indices))
    indices = np.array(indices, dtype=np.int32)
    data = rng.standard_normal(len(indices))
    X = sp.csc_matrix((data, indices, np.array(indptr, dtype=np.int32)), shape=(n, p))
    before = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    Xd = X.toarray()  # duplicates summed
    y = rng.standard_normal(n)
    res = prox.lasso(X, y, 0.01, fit_intercept=False, tol=1e-10)
    np.testing.assert_array_equal(X.data, before[0])
    np.testing.assert_array_equal(X.indices, before[1])
    np.testing.assert_array_equal(X.indptr, before[2])
    ref = prox.lasso(Xd, y, 0.01, fit_intercept=False, tol=1e-10)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_array_likes_and_path_arguments(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 5)).astype(dtype)
    y = rng.standard_normal(20).astype(dtype)
    ref = prox.lasso(X, y, 0.1, tol=1e-10)
    np.testing.assert_allclose(prox.lasso(X.tolist(), y.tolist(), 0.1, tol=1e-10).x, ref.x,
                               rtol=1e-5, atol=1e-6)
    f = prox.LeastSquares(X.tolist(), y.tolist())
    assert f.value(np.zeros(5)) == pytest.approx(0.5 * float(y.astype(np.float64) @ y))
    for kw, msg in (({"alphas": [0.1, np.nan]}, "finite numbers"),
                    ({"alphas": []}, "non-empty"),
                    ({"n_alphas": -1}, "n_alphas must be a positive integer"),
                    ({"eps": 2.0}, r"eps must be in \(0, 1\)")):
        with pytest.raises(ValueError, match=msg):
            prox.lasso_path(X, y, **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fista_ridge_gap_certifies_convergence(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 30))
    y = rng.standard_normal(50)
    res = prox.elastic_net(X.astype(dtype), y.astype(dtype), 0.5, 0.0, fit_intercept=False,
                           tol=1e-10, solver="fista")
    w = np.linalg.solve(X.T @ X + 50 * 0.5 * np.eye(30), X.T @ y)
    assert res.converged and res.niter < 1000
    np.testing.assert_allclose(res.x, w, atol=1e-3 if dtype == np.float32 else 1e-5)


def test_least_squares_takes_a_linear_operator():
    import scipy.sparse.linalg as sla

    A = np.random.default_rng(0).standard_normal((6, 4))
    f = prox.LeastSquares(sla.aslinearoperator(A), np.ones(6))
    assert f.value(np.zeros(4)) == pytest.approx(3.0)
    B = sp.csr_matrix(A)
    B.data[0] = np.nan
    with pytest.raises(ValueError, match="A contains NaN"):
        prox.LeastSquares(B, np.ones(6))


def test_coefficient_dtype_follows_x_as_in_scikit_learn():
    from sklearn.linear_model import Lasso

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 5))
    y = rng.standard_normal(20)
    for xd, yd in ((np.float32, np.float64), (np.float64, np.float32)):
        ours = prox.lasso(X.astype(xd), y.astype(yd), 0.1).x
        theirs = Lasso(alpha=0.1).fit(X.astype(xd), y.astype(yd)).coef_
        assert ours.dtype == theirs.dtype == xd
        np.testing.assert_allclose(ours, theirs, atol=1e-4)
