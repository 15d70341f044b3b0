"""lrsolve.krylov.minres: symmetric indefinite, SPD, shifted, preconditioned and Hermitian cases."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

import lrsolve
from lrsolve.krylov._minres import minres

from cases import diffusion2d, hermitian, lap1d, poisson


def _rel(A, x, b, shift=0.0):
    dt = np.complex128 if np.iscomplexobj(A) or np.iscomplexobj(b) else np.float64
    A64 = sp.csr_matrix(A).astype(dt)
    x64, b64 = x.astype(dt), b.astype(dt)
    return np.linalg.norm(b64 - A64 @ x64 + shift * x64) / np.linalg.norm(b64)


def _indef_diag(n=200):
    d = np.linspace(-3.0, 5.0, n)
    d[np.abs(d) < 0.05] = 0.3
    return sp.diags(d, format="csr")


CASES = {
    "poisson2d-shifted": lambda: poisson((16, 16)) - 1.3 * sp.identity(256, format="csr"),
    "lap1d-shifted": lambda: lap1d(80) - 0.9 * sp.identity(80, format="csr"),
    "diag-indefinite": _indef_diag,
    "poisson2d": lambda: poisson((16, 16)),
    "diffusion2d": lambda: diffusion2d(16),
}


def _b(n, dt, seed=7):
    rng = np.random.default_rng(seed)
    b = rng.normal(size=n)
    if np.dtype(dt).kind == "c":
        b = b + 1j * rng.normal(size=n)
    return b.astype(dt)


@pytest.mark.parametrize("dt", [np.float64, np.float32], ids=["d", "f"])
@pytest.mark.parametrize("name", list(CASES))
def test_catalogue(name, dt):
    A = CASES[name]().astype(dt)
    b = _b(A.shape[0], dt)
    A0, b0 = A.copy(), b.copy()
    rtol = 1e-8 if dt == np.float64 else 1e-4
    calls = []
    res = minres(A, b, rtol=rtol, callback=lambda xk: calls.append(1))
    assert res.info == 0 and res.converged, res
    assert res.x.dtype == dt
    assert _rel(A, res.x, b) <= rtol * (1.0 if dt == np.float64 else 1.5)
    assert len(calls) == res.niter
    assert len(res.residual_norms) == res.niter + 1
    assert res.residual_norms[0] == pytest.approx(np.linalg.norm(b.astype(float)), rel=1e-5)
    assert res.true_residual_norm <= res.tolerance
    assert (A != A0).nnz == 0
    np.testing.assert_array_equal(b, b0)
    # same solution as SciPy (run to a tighter tolerance; SciPy's test is relative to ||A|| ||x||)
    xs, info = sla.minres(A.astype(np.float64), b.astype(np.float64), rtol=1e-12)
    err = np.linalg.norm(res.x - xs) / np.linalg.norm(xs)
    cond = np.linalg.cond(A.toarray().astype(np.float64))
    assert err <= 10 * cond * rtol


@pytest.mark.parametrize("shape", [(200,), (20, 20)])
def test_iterations_close_to_scipy(shape):
    A = poisson(shape) - 0.7 * sp.identity(int(np.prod(shape)))
    b = _b(A.shape[0], np.float64)
    res = minres(A, b, rtol=1e-8)
    count = [0]
    x, info = sla.minres(A, b, rtol=1e-8, callback=lambda xk: count.__setitem__(0, count[0] + 1))
    assert res.converged
    # SciPy stops on ||r|| <= rtol (||A|| ||x|| + ||b||), a looser test: it may stop earlier
    assert count[0] * 0.8 <= res.niter <= count[0] * 1.4 + 2, (res.niter, count[0])


@pytest.mark.parametrize("dt", [np.float64, np.float32], ids=["d", "f"])
def test_spd_agrees_with_cg(dt):
    A = diffusion2d(14).astype(dt)
    b = _b(A.shape[0], dt)
    rtol = 1e-8 if dt == np.float64 else 1e-4
    r1 = minres(A, b, rtol=rtol)
    r2 = lrsolve.cg(A, b, rtol=rtol)
    assert r1.converged and r2.converged
    exact = np.linalg.solve(A.toarray().astype(float), b.astype(float))
    cond = np.linalg.cond(A.toarray().astype(float))
    for r in (r1, r2):
        assert np.linalg.norm(r.x - exact) <= 2 * cond * rtol * np.linalg.norm(exact)
    # on SPD systems MINRES needs about as many iterations as CG
    assert abs(r1.niter - r2.niter) <= 0.2 * r2.niter + 3


@pytest.mark.parametrize("dt", [np.float64, np.float32], ids=["d", "f"])
def test_shift_equals_explicit(dt):
    A = poisson((14, 14)).astype(dt)
    n = A.shape[0]
    b = _b(n, dt)
    rtol = 1e-8 if dt == np.float64 else 1e-4
    for shift in (1.7, -0.5):
        B = (A - shift * sp.identity(n, format="csr")).astype(dt)
        r1 = minres(A, b, shift=shift, rtol=rtol)
        r2 = minres(B, b, rtol=rtol)
        assert r1.converged and r2.converged
        assert _rel(A, r1.x, b, shift) <= 1.5 * rtol
        assert abs(r1.niter - r2.niter) <= 2
        cond = np.linalg.cond(B.toarray().astype(float))
        assert np.linalg.norm(r1.x - r2.x) <= 4 * cond * rtol * np.linalg.norm(r2.x)


@pytest.mark.parametrize("dt", [np.float64, np.float32], ids=["d", "f"])
def test_jacobi_preconditioned(dt):
    A = diffusion2d(20).astype(dt)
    b = _b(A.shape[0], dt)
    rtol = 1e-8 if dt == np.float64 else 1e-4
    plain = minres(A, b, rtol=rtol)
    calls = []
    res = minres(A, b, rtol=rtol, precond="jacobi", callback=lambda xk: calls.append(xk.copy()))
    assert res.converged and res.n_precond >= res.niter
    assert _rel(A, res.x, b) <= 1.5 * rtol
    assert res.niter < plain.niter
    # the 2-norm residual recurrence follows the true residual
    true = [np.linalg.norm((b - A @ xk).astype(float)) for xk in calls]
    tol_rel = 1e-2 if dt == np.float32 else 1e-5
    np.testing.assert_allclose(res.residual_norms[1:-1], true[:-1], rtol=tol_rel,
                               atol=10 * rtol * np.linalg.norm(b))
    # an explicit M gives the same iterates
    Mj = sp.diags(1.0 / A.diagonal()).astype(dt)
    res2 = minres(A, b, rtol=rtol, M=Mj)
    assert abs(res2.niter - res.niter) <= 1


def test_preconditioner_not_spd():
    A = poisson((8, 8))
    b = _b(64, np.float64)
    res = minres(A, b, M=-sp.identity(64))
    assert res.info == -2 and not res.converged
    assert "positive definite" in res.message
    res = minres(A, b, M=sp.diags(np.r_[np.ones(32), -np.ones(32)]))
    assert res.info in (-2, 0)
    assert res.converged == (res.info == 0)
    assert np.all(np.isfinite(res.x))


@pytest.mark.parametrize("dt", [np.complex128, np.complex64], ids=["z", "c"])
def test_complex_hermitian(dt):
    H = hermitian(60)
    # make it indefinite: shift into the spectrum
    lam = np.linalg.eigvalsh(H.toarray())
    sigma = float(0.5 * (lam[20] + lam[21]))
    A = H.astype(dt)
    b = _b(60, dt)
    rtol = 1e-8 if dt == np.complex128 else 1e-4
    res = minres(A, b, shift=sigma, rtol=rtol)
    assert res.converged and res.x.dtype == dt
    assert _rel(A, res.x, b, sigma) <= 1.5 * rtol
    # (SciPy's minres mishandles complex Hermitian input, so compare with a dense solve)
    xs = np.linalg.solve(H.toarray() - sigma * np.eye(60), b.astype(np.complex128))
    cond = np.linalg.cond(H.toarray() - sigma * np.eye(60))
    assert np.linalg.norm(res.x - xs) <= 4 * cond * rtol * np.linalg.norm(xs)


# --------------------------------------------------------------------------- properties
@pytest.fixture(params=[np.float64, np.float32], ids=["d", "f"])
def problem(request):
    dt = request.param
    A = (poisson((12, 12)) - 1.1 * sp.identity(144)).tocsr().astype(dt)
    return A, _b(144, dt)


def test_maxiter(problem):
    A, b = problem
    calls = []
    res = minres(A, b, rtol=1e-12, maxiter=1, callback=lambda xk: calls.append(1))
    assert len(calls) == 1 and res.niter == 1 and res.info == 1 and not res.converged
    res = minres(A, b, rtol=1e-12, maxiter=7)
    assert res.niter == 7 and res.info == 7 and "maxiter" in res.message
    assert len(res.residual_norms) == 8
    # the residual estimate is the true residual of the returned x
    assert res.residual_norms[-1] == pytest.approx(res.true_residual_norm, rel=1e-3)


def test_zero_rhs(problem):
    A, b = problem
    res = minres(A, np.zeros_like(b), x0=np.ones_like(b))
    assert res.info == 0 and res.niter == 0
    np.testing.assert_array_equal(res.x, 0)


def test_x0(problem):
    A, b = problem
    exact = np.linalg.solve(A.toarray().astype(float), b.astype(float))
    x0 = exact.astype(b.dtype)
    before = x0.copy()
    res = minres(A, b, x0=x0, rtol=1e-3)
    assert res.niter == 0 and res.converged and res.x is not x0
    np.testing.assert_array_equal(x0, before)
    cold = minres(A, b, rtol=1e-4)
    warm = minres(A, b, x0=(exact + 1e-3).astype(b.dtype), rtol=1e-4)
    assert warm.converged and warm.niter < cold.niter
    assert _rel(A, warm.x, b) <= 1.5e-4


def test_atol_rtol(problem):
    A, b = problem
    bn = np.linalg.norm(b.astype(float))
    res = minres(A, b, rtol=0.0, atol=1e-2 * bn)
    assert res.converged and res.tolerance == pytest.approx(1e-2 * bn)
    assert np.linalg.norm((b - A @ res.x).astype(float)) <= 1e-2 * bn * 1.001
    res2 = minres(A, b, rtol=1e-1, atol=1e-3 * bn)
    assert res2.tolerance == pytest.approx(1e-1 * bn) and res2.niter <= res.niter


def test_singular_consistent():
    # the 1-D Neumann Laplacian is singular; b orthogonal to its null space is consistent
    n = 50
    A = lap1d(n).tolil()
    A[0, 0] = A[-1, -1] = 1.0
    A = A.tocsr()
    b = _b(n, np.float64)
    b -= b.mean()
    res = minres(A, b, rtol=1e-8)
    assert res.converged and _rel(A, res.x, b) <= 1e-8


def test_inconsistent_reports_failure():
    A = sp.diags([1.0, 2.0, 0.0, -1.0], format="csr")
    b = np.ones(4)
    res = minres(A, b, rtol=1e-8, maxiter=50)
    assert not res.converged and res.info != 0
    assert np.all(np.isfinite(res.x))


def test_nonsymmetric_not_claimed():
    A = sp.diags([-1.5, 2.0, -0.2], [-1, 0, 1], shape=(60, 60), format="csr")
    b = _b(60, np.float64)
    res = minres(A, b, rtol=1e-10, maxiter=300)
    assert res.converged == (_rel(A, res.x, b) <= 1e-10)


def test_bad_inputs(problem):
    A, b = problem
    with pytest.raises(TypeError, match="shift"):
        minres(A, b, shift=1j)
    with pytest.raises(TypeError, match="shift"):
        minres(A, b, shift="1")
    with pytest.raises(ValueError, match="rtol"):
        minres(A, b, rtol=-1)
    with pytest.raises(ValueError, match="maxiter"):
        minres(A, b, maxiter=0)
    with pytest.raises(TypeError, match="callback"):
        minres(A, b, callback=3)
    with pytest.raises(ValueError, match="shape"):
        minres(A, b[:-1])
    with pytest.raises(ValueError, match="check_every"):
        minres(A, b, check_every=0)


@pytest.mark.parametrize("engine_name", ["numba", "numpy"])
def test_engines_agree(engine_name):
    A = poisson((10, 10)) - 0.8 * sp.identity(100)
    b = _b(100, np.float64)
    with lrsolve.backend(engine=engine_name):
        res = minres(A, b, rtol=1e-8, check_every=3)
    assert res.converged and _rel(A, res.x, b) <= 1e-8


@pytest.mark.gpu
def test_gpu_matches_cpu():
    import cupy as cp
    import cupyx.scipy.sparse as csp

    A = (poisson((16, 16)) - 1.3 * sp.identity(256)).tocsr()
    b = _b(256, np.float64)
    res = minres(csp.csr_matrix(A), cp.asarray(b), rtol=1e-8)
    assert res.converged and isinstance(res.x, cp.ndarray)
    assert _rel(A, cp.asnumpy(res.x), b) <= 1e-8
    cpu = minres(A, b, rtol=1e-8)
    assert abs(res.niter - cpu.niter) <= 10
    res = minres(csp.csr_matrix(poisson((16, 16))), cp.asarray(b), rtol=1e-8, precond="jacobi")
    assert res.converged


def test_show_prints_a_summary(capsys):
    A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(50, 50), format="csr")
    res = lrsolve.minres(A, np.ones(50), show=True)
    out = capsys.readouterr().out
    assert out.startswith("minres: converged") and f"info {res.info}" in out
    lrsolve.minres(A, np.ones(50))
    assert capsys.readouterr().out == ""
