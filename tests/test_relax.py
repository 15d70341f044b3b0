"""Tests of lrsolve.relax: SOR/SSOR solvers, their kernels, the Tsallis-INF bandits, tune_omega."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import lrsolve
from lrsolve import relax
from lrsolve._kernels import get_kernel
from lrsolve.relax._bandit import tsallis_weights

DTYPES = [np.float32, np.float64]
ROOT = pathlib.Path(__file__).resolve().parents[1]


def _laplacian(n):
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    return (sp.kron(T, sp.eye(n)) + sp.kron(sp.eye(n), T)).tocsr()


def _hand_sor(A, b, x, omega, sweeps, symmetric=False):
    """Textbook SOR on a dense matrix, one row at a time (no SciPy)."""
    A = np.asarray(A, dtype=np.float64)
    x = np.array(x, dtype=np.float64)
    n = len(b)
    for _ in range(sweeps):
        orders = [range(n), range(n - 1, -1, -1)] if symmetric else [range(n)]
        for order in orders:
            for i in order:
                sigma = A[i] @ x - A[i, i] * x[i]
                x[i] = (1 - omega) * x[i] + omega * (b[i] - sigma) / A[i, i]
    return x


def _spd(n, seed):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    return M @ M.T + n * np.eye(n)


# ----------------------------------------------------------------------------- solvers
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", [relax.sor, relax.ssor])
def test_solution_matches_direct_solve(engine, dtype, solver):
    A = _laplacian(8).astype(dtype)
    b = np.random.default_rng(0).standard_normal(64).astype(dtype)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    res = solver(A, b, omega=1.5, rtol=rtol, maxiter=5000)
    assert res.converged and res.info == 0
    assert res.x.dtype == dtype
    x_ref = spla.spsolve(A.astype(np.float64).tocsc(), b.astype(np.float64))
    err = np.linalg.norm(res.x - x_ref) / np.linalg.norm(x_ref)
    assert err < (2e-3 if dtype == np.float32 else 1e-8)
    assert res.true_residual_norm <= rtol * np.linalg.norm(b) * (1 + 1e-6)
    assert res.residual_norms.size == res.niter + 1 and res.extra["omega"] == 1.5


@pytest.mark.parametrize("omega", [0.7, 1.0, 1.3, 1.9])
@pytest.mark.parametrize("symmetric", [False, True])
def test_iterates_equal_hand_written_sor(engine, omega, symmetric):
    A = _spd(12, 1)
    b = np.arange(12.0)
    x0 = np.ones(12)
    solver = relax.ssor if symmetric else relax.sor
    res = solver(sp.csr_matrix(A), b, x0, omega=omega, rtol=0.0, maxiter=4)
    assert res.niter == 4 and res.info == 4 and not res.converged
    np.testing.assert_allclose(res.x, _hand_sor(A, b, x0, omega, 4, symmetric), rtol=1e-12)
    np.testing.assert_array_equal(x0, 1.0)  # not modified


@pytest.mark.parametrize("dtype", DTYPES)
def test_omega_one_is_gauss_seidel(engine, dtype):
    A = _laplacian(5).astype(dtype)
    b = np.ones(25, dtype=dtype)
    res = relax.sor(A, b, omega=1.0, rtol=0.0, maxiter=3)
    # Gauss-Seidel: x_{k+1} = (D + L)^{-1} (b - U x_k)
    DL = sp.tril(A.astype(np.float64), format="csr")
    U = sp.triu(A.astype(np.float64), k=1, format="csr")
    x = np.zeros(25)
    for _ in range(3):
        x = spla.spsolve_triangular(DL, b - U @ x, lower=True)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(res.x, x, rtol=tol, atol=tol)


def test_dense_input_and_callback():
    A = _spd(10, 2)
    b = np.ones(10)
    seen = []
    res = relax.ssor(A, b, omega=1.2, rtol=1e-10, callback=lambda xk: seen.append(xk.copy()))
    assert res.converged and len(seen) == res.niter
    np.testing.assert_allclose(seen[-1], res.x)
    np.testing.assert_allclose(A @ res.x, b, atol=1e-8)


def test_over_relaxation_speeds_up_poisson():
    A = _laplacian(16)
    b = np.ones(256)
    gs = relax.sor(A, b, omega=1.0, rtol=1e-6, maxiter=5000).niter
    # optimal omega for the model problem: 2 / (1 + sin(pi h))
    w = 2 / (1 + np.sin(np.pi / 17))
    opt = relax.sor(A, b, omega=w, rtol=1e-6, maxiter=5000).niter
    assert opt < gs / 5


def test_check_every_and_zero_rhs():
    A = _laplacian(4)
    res = relax.sor(A, np.ones(16), omega=1.2, rtol=1e-8, check_every=5)
    assert res.converged and res.niter % 5 == 0
    assert res.residual_norms.size == res.niter // 5 + 1
    zero = relax.sor(A, np.zeros(16))
    assert zero.converged and zero.niter == 0 and not zero.x.any()


def test_divergence_is_reported():
    A = sp.csr_matrix(np.array([[1.0, 3.0], [3.0, 1.0]]))  # indefinite: Gauss-Seidel diverges
    res = relax.sor(A, np.ones(2), omega=1.0, maxiter=1000)
    assert res.info == -3 and not res.converged
    assert "diverged" in res.message


@pytest.mark.parametrize("omega", [0.0, 2.0, -0.5, 2.5, float("nan")])
def test_omega_outside_interval_is_rejected(omega):
    with pytest.raises(ValueError, match=r"omega must satisfy 0 < omega < 2"):
        relax.sor(_laplacian(3), np.ones(9), omega=omega)
    with pytest.raises(ValueError, match="ssor diverges"):
        relax.ssor(_laplacian(3), np.ones(9), omega=omega)


def test_bad_input_messages():
    A = _laplacian(3)
    with pytest.raises(TypeError, match="omega must be a real number"):
        relax.sor(A, np.ones(9), omega="1.5")
    Z = A.tolil()
    Z[4, 4] = 0
    with pytest.raises(ValueError, match=r"nonzero diagonal, but A\[4, 4\] = 0"):
        relax.sor(Z.tocsr(), np.ones(9))
    with pytest.raises(ValueError, match="but b has length 8"):
        relax.sor(A, np.ones(8))
    with pytest.raises(ValueError, match="b contains NaN"):
        relax.ssor(A, np.full(9, np.nan))
    with pytest.raises(TypeError, match="reads the entries of A"):
        relax.sor(spla.aslinearoperator(A), np.ones(9))
    with pytest.raises(ValueError, match="maxiter must be >= 1"):
        relax.sor(A, np.ones(9), maxiter=0)


def test_unsorted_duplicate_csr_not_modified():
    # tridiag(-1, 2, -1) with unsorted columns and the first diagonal entry split in two
    data = np.array([-1.0, 1.0, 1.0, -1.0, 2.0, -1.0, 2.0, -1.0])
    indices = np.array([1, 0, 0, 2, 1, 0, 2, 1])
    indptr = np.array([0, 3, 6, 8])
    M = sp.csr_matrix((data, indices, indptr), shape=(3, 3))
    assert not M.has_canonical_format
    res = relax.ssor(M, np.ones(3), omega=1.1, rtol=1e-10)
    np.testing.assert_array_equal(M.data, data)
    np.testing.assert_array_equal(M.indices, indices)
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(3, 3))
    np.testing.assert_allclose(T @ res.x, 1.0, atol=1e-8)


# ----------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backward", [False, True])
def test_numba_kernel_matches_reference(dtype, backward):
    A = (sp.random(60, 60, density=0.1, random_state=3) + 6 * sp.eye(60)).tocsr().astype(dtype)
    A.sort_indices()
    rng = np.random.default_rng(4)
    b = rng.standard_normal(60).astype(dtype)
    x0 = rng.standard_normal(60).astype(dtype)
    dpos = get_kernel("csr_diag_pos", "numba")(A.indptr, A.indices)
    dinv = (1 / A.diagonal()).astype(dtype)
    out = {}
    for eng in ("numba", "numpy"):
        x = x0.copy()
        get_kernel("sor_sweep", eng)(A.data, A.indptr, A.indices, dpos, dinv, 1.4, b, x, backward)
        out[eng] = x
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out["numba"], out["numpy"], rtol=tol, atol=tol)
    ref = _hand_sor(A.toarray(), b.astype(np.float64), x0, 1.4, 1) if not backward else None
    if ref is not None:
        np.testing.assert_allclose(out["numpy"], ref, rtol=10 * tol, atol=10 * tol)


def test_tsallis_kernel_matches_reference():
    rng = np.random.default_rng(5)
    est = rng.uniform(0, 300, 20)
    inv_p = rng.uniform(1, 30, 20)
    out = {}
    for eng in ("numba", "numpy"):
        probs, cdf = np.empty(20), np.empty(20)
        get_kernel("tsallis_probs", eng)(est, inv_p, 3.0, 7.0, 0.3, probs, cdf)
        out[eng] = probs
        np.testing.assert_allclose(cdf, np.cumsum(probs), rtol=1e-12)
        assert abs(probs.sum() - 1) < 1e-12
    np.testing.assert_allclose(out["numba"], out["numpy"], rtol=1e-10)


# ----------------------------------------------------------------------------- bandit
def test_tsallis_weights_solve_the_normalisation():
    L = np.array([0.0, 1.0, 3.0, 10.0])
    for eta in (0.1, 1.0, 5.0):
        w = tsallis_weights(L, eta)
        assert abs(w.sum() - 1) < 1e-12 and (np.diff(w) < 0).all()
        x = L - 2 / (eta * np.sqrt(w))  # w_i = 4 / (eta (L_i - x))^2 with one x for all arms
        np.testing.assert_allclose(x, x[0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(tsallis_weights(np.full(5, 7.0), 1.0), 0.2)


@pytest.mark.parametrize("normalize", ["centered", "mean", 100.0])
def test_bandit_concentrates_on_best_arm(normalize):
    omegas = np.linspace(1.0, 1.9, 10)
    b = relax.TsallisINF(omegas, rng=0, normalize=normalize)
    cost = 40 + 60 * np.abs(omegas - 1.6)
    for _ in range(1500):
        a = b.choose()
        b.update(a, cost[a])
        assert abs(b.probabilities.sum() - 1) < 1e-12 and (b.probabilities >= 0).all()
    assert int(np.argmax(b.probabilities)) == 6
    assert b.counts.sum() == 1500 and b.counts[6] == b.counts.max()


def test_bandit_regret_within_bound_stochastic():
    """Expected regret against the best arm stays within the Tsallis-INF bound on noisy costs."""
    K, T = 8, 2000
    means = 30 + 10 * np.abs(np.arange(K) - 5) / K  # best arm 5
    regrets, bounds = [], []
    for seed in range(4):
        noise = np.random.default_rng(100 + seed)
        b = relax.TsallisINF(np.linspace(1.0, 1.9, K), rng=seed)
        reg = 0.0
        lo, hi = np.inf, -np.inf
        for _ in range(T):
            a = b.choose()
            c = max(means[a] + 3 * noise.standard_normal(), 0.0)
            lo, hi = min(lo, c), max(hi, c)
            b.update(a, c)
            reg += means[a] - means.min()
        regrets.append(reg)
        # Zimmert & Seldin: regret <= 4 sqrt(K T) + 1 for losses in [0, 1]; costs span [lo, hi]
        bounds.append((4 * np.sqrt(K * T) + 1) * (hi - lo))
    assert np.mean(regrets) <= np.mean(bounds) / 4
    # and far below uniform play
    assert np.mean(regrets) < 0.5 * T * (means.mean() - means.min())


def test_bandit_validation():
    with pytest.raises(ValueError, match=r"omegas must lie in the open interval \(0, 2\)"):
        relax.TsallisINF([1.0, 2.0])
    with pytest.raises(ValueError, match="normalize must be"):
        relax.TsallisINF(normalize="median")
    b = relax.TsallisINF([1.0, 1.5], rng=0)
    with pytest.raises(ValueError, match=r"arm must be in \[0, 2\)"):
        b.update(2, 1.0)
    with pytest.raises(ValueError, match="cost must be finite and >= 0"):
        b.update(0, -1.0)
    with pytest.raises(TypeError, match="rng must be None"):
        relax.TsallisINF(rng="x")
    np.testing.assert_array_equal(relax.TsallisINF().omegas, np.linspace(1.0, 1.95, 20))
    with pytest.raises(ValueError):
        relax.TsallisINF().omegas[0] = 1.5  # read-only grid


def test_bandit_reproducible():
    picks = []
    for _ in range(2):
        b = relax.TsallisINF(rng=7)
        seq = []
        for _t in range(50):
            a = b.choose()
            b.update(a, 10 + a)
            seq.append(a)
        picks.append(seq)
    assert picks[0] == picks[1]


def test_contextual_bandit_learns_policy():
    cb = relax.ContextualTsallisINF([1.0, 1.5, 1.9], n_bins=3, context_range=(0, 3), rng=1)
    rng = np.random.default_rng(2)
    for _ in range(1500):
        c = rng.uniform(0, 3)
        a = cb.choose(c)
        best = int(c)  # bin 0 -> arm 0, bin 1 -> arm 1, bin 2 -> arm 2
        cb.update(a, 20 + 15 * abs(a - best), c)
    assert cb.probabilities.argmax(axis=1).tolist() == [0, 1, 2]
    assert cb.counts.shape == (3, 3) and cb.counts.sum() == 1500
    np.testing.assert_allclose(cb.probabilities.sum(axis=1), 1.0)
    with pytest.raises(TypeError, match="needs a context"):
        cb.choose()
    with pytest.raises(TypeError, match="single real number"):
        cb.choose([1.0, 2.0])


def test_contextual_bins_without_range():
    cb = relax.ContextualTsallisINF([1.0, 1.5], n_bins=2, rng=0)
    assert cb.bin_of(5.0) == 0
    cb.update(0, 1.0, 0.0)
    cb.update(0, 1.0, 10.0)
    assert cb.bin_of(1.0) == 0 and cb.bin_of(9.0) == 1


# ----------------------------------------------------------------------------- tune_omega
def test_tune_omega_hindsight_and_reuse_of_ssor_pcg():
    seq = lrsolve.problems.darcy_sequence(40, (10, 10), rng=3)
    grid = [1.0, 1.3, 1.6, 1.9]
    res = relax.tune_omega(seq, omegas=grid, rtol=1e-8, rng=0, hindsight=True)
    omegas, iters = res
    assert omegas.shape == iters.shape == (40,) and res.converged.all()
    assert set(omegas) <= set(grid)
    F = res.fixed_iterations
    assert F.shape == (40, 4)
    # the online iterations are the hindsight iterations of the chosen arms
    np.testing.assert_array_equal(iters, F[np.arange(40), res.arms])
    assert res.best_fixed_iterations == F.sum(axis=0).min()
    assert res.regret == res.total_iterations - res.best_fixed_iterations >= 0
    # SSOR-CG is lrsolve.cg with the SSOR preconditioner
    A, b = seq[0]
    ref = lrsolve.cg(A, b, rtol=1e-8, precond=("ssor", {"omega": 1.6}))
    assert F[0, 2] == ref.niter
    assert res.decision_time < res.solve_time


@pytest.mark.parametrize("method", ["sor", "ssor"])
def test_tune_omega_stationary_with_contexts(method):
    seq = [lrsolve.problems.poisson_variable((6, 6), rng=i, contrast=5.0) for i in range(12)]
    ctx = np.linspace(0, 1, 12)
    res = relax.tune_omega(seq, omegas=[1.2, 1.5], method=method, rtol=1e-6, maxiter=3000,
                           contexts=ctx, n_bins=2, rng=0, warm_start=True, keep_solutions=True)
    assert isinstance(res.bandit, relax.ContextualTsallisINF)
    assert res.converged.all() and len(res.solutions) == 12
    p = seq[5]
    np.testing.assert_allclose(p.A @ res.solutions[5], p.b, atol=1e-5 * np.linalg.norm(p.b))


def test_tune_omega_bad_input():
    seq = lrsolve.problems.darcy_sequence(2, (4, 4), rng=0)
    with pytest.raises(ValueError, match="method must be one of"):
        relax.tune_omega(seq, method="jacobi")
    with pytest.raises(ValueError, match="one value per system: 3 given for 2"):
        relax.tune_omega(seq, contexts=[0, 1, 2])
    with pytest.raises(TypeError, match=r"systems\[1\] must be an \(A, b\) pair"):
        relax.tune_omega([seq[0], 5])
    with pytest.raises(ValueError, match=r"systems\[1\]: A has shape \(16, 16\) but b has len"):
        relax.tune_omega([seq[0], (seq[0].A, np.ones(3))])
    with pytest.raises(TypeError, match="systems must be an iterable"):
        relax.tune_omega(3)


def test_example_plot_bandit_omega(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "bandit.png"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "plot_bandit_omega.py"), "--n-systems", "20",
         "--grid", "5", "--shape", "12", "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.exists() and out.stat().st_size > 1000
    assert "best fixed omega" in proc.stdout


# ----------------------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.parametrize("solver", [relax.sor, relax.ssor])
def test_gpu_matches_cpu(solver):
    import cupy
    import cupyx.scipy.sparse as csp

    A = _laplacian(8)
    b = np.random.default_rng(0).standard_normal(64)
    cpu = solver(A, b, omega=1.4, rtol=1e-10, maxiter=3000)
    gpu = solver(csp.csr_matrix(A), cupy.asarray(b), omega=1.4, rtol=1e-10, maxiter=3000)
    assert gpu.converged and isinstance(gpu.x, cupy.ndarray)
    # the same sweeps (see the reference-sweep test below); the GPU looks at the residual
    # only every check_every sweeps, so it may stop a few sweeps later: both solutions
    # agree with the direct one to cond(A) * rtol
    assert cpu.niter <= gpu.niter <= cpu.niter + 10
    xs = spla.spsolve(A.tocsc(), b)
    for x in (gpu.x.get(), cpu.x):
        assert np.linalg.norm(x - xs) <= 50 * 1e-10 * np.linalg.norm(xs)


@pytest.mark.gpu
def test_gpu_reference_sweep_matches_numba():
    import cupy

    A = (sp.random(50, 50, density=0.1, random_state=1) + 5 * sp.eye(50)).tocsr()
    A.sort_indices()
    b = np.random.default_rng(0).standard_normal(50)
    dpos = get_kernel("csr_diag_pos", "numba")(A.indptr, A.indices)
    x = np.zeros(50)
    get_kernel("sor_sweep", "numba")(A.data, A.indptr, A.indices, dpos, 1 / A.diagonal(), 1.3,
                                     b, x, False)
    xg = cupy.zeros(50)
    get_kernel("sor_sweep", "cupy")(cupy.asarray(A.data), cupy.asarray(A.indptr),
                                    cupy.asarray(A.indices), None, None, 1.3, cupy.asarray(b),
                                    xg, False)
    np.testing.assert_allclose(xg.get(), x, rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_diverging_omega_costs_the_iteration_limit(dtype):
    """SOR with omega=1.9 diverges early on this nonsymmetric matrix: its few iterations
    must not look cheap to the bandit (a failed solve costs the limit, 10 n by default)."""
    A = sp.diags([0.5, 1.0, -0.45], [-1, 0, 1], shape=(30, 30), format="csr").astype(dtype)
    b = np.ones(30, dtype=dtype)
    diverge = relax.sor(A, b, omega=1.9)
    assert not diverge.converged and diverge.niter < 30
    res = relax.tune_omega([(A, b)] * 40, omegas=[1.0, 1.9], method="sor", rng=0,
                           hindsight=True, rtol=1e-5)
    assert res.best_fixed_omega == 1.0
    assert res.converged.sum() >= 30
    assert res.fixed_iterations[0, 1] == 300  # the failed omega: 10 n


def test_early_returns_carry_omega_and_sweeps():
    A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(10, 10), format="csr")
    for res in (relax.sor(A, np.zeros(10), omega=1.3),
                relax.ssor(A, A @ np.ones(10), x0=np.ones(10), omega=1.2)):
        assert res.converged and res.niter == 0
        assert res.extra["sweeps"] == 0 and res.extra["omega"] in (1.3, 1.2)
