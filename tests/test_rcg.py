"""Recycled (deflated) CG: correctness, the recycle protocol, immutability, bad input."""

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import lrsolve
from lrsolve.krylov import gcrodr, rcg

from conftest import data_path


def heat(n, dt, dtype=np.float64):
    L = lrsolve.operators.poisson((n, n)).tocsr()
    return (sp.eye(n * n) + dt * L).tocsr().astype(dtype)


def relres(A, x, b):
    return np.linalg.norm(b - A @ x) / np.linalg.norm(b)


@pytest.mark.parametrize("name", ["bcsstk03", "nos4", "gr_30_30", "1138_bus"])
def test_real_spd_matrices(name):
    A = scipy.io.mmread(data_path("matrices", "spd", f"{name}.mtx")).tocsr()
    n = A.shape[0]
    b = A @ np.random.default_rng(2).standard_normal(n)
    res = rcg(A, b, rtol=1e-10, precond="jacobi", k=10, m=30, maxiter=20 * n)
    assert res.converged, res
    assert relres(A, res.x, b) <= 1e-10
    x_ref = spla.spsolve(A.tocsc(), b)
    c = lrsolve.cg(A, b, rtol=1e-10, precond="jacobi", maxiter=20 * n)
    # without a recycle space, rcg is PCG: the same iterations up to rounding
    assert abs(res.niter - c.niter) <= max(3, 0.1 * c.niter)
    assert np.linalg.norm(res.x - x_ref) <= 1e-4 * np.linalg.norm(x_ref)
    again = rcg(A, b, rtol=1e-10, precond="jacobi", k=10, m=30, recycle=res.recycle,
                maxiter=20 * n)
    assert again.converged and again.niter < res.niter


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-4), (np.float64, 1e-9)])
@pytest.mark.parametrize("precond", [None, "jacobi", "ic0"])
def test_dtypes_and_precond(dtype, rtol, precond):
    A = heat(24, 20.0, dtype)
    b = np.random.default_rng(0).standard_normal(A.shape[0]).astype(dtype)
    res = rcg(A, b, rtol=rtol, precond=precond, k=8, m=24)
    assert res.converged, res
    assert res.x.dtype == dtype and res.recycle.dtype == dtype
    A64, b64 = A.astype(np.float64), b.astype(np.float64)
    assert relres(A64, res.x.astype(np.float64), b64) <= rtol
    U, C = res.recycle.U, res.recycle.C
    tol = 1e-3 if dtype == np.float32 else 1e-9
    assert np.linalg.norm(A @ U - C) <= tol * np.linalg.norm(C)
    assert np.allclose(C.T @ C, np.eye(C.shape[1]), atol=tol)


def test_recycling_same_system_halves_products():
    A = heat(40, 100.0)
    b = np.random.default_rng(1).standard_normal(1600)
    first = rcg(A, b, rtol=1e-8, k=20, m=40)
    again = rcg(A, b, rtol=1e-8, k=20, m=40, recycle=first.recycle)
    assert again.extra["reprojected"] is False
    assert again.n_matvec <= 0.5 * first.n_matvec, (first.n_matvec, again.n_matvec)
    assert relres(A, again.x, b) <= 1e-8


def test_recycling_perturbed_system():
    A = heat(40, 100.0)
    rng = np.random.default_rng(1)
    b = rng.standard_normal(1600)
    first = rcg(A, b, rtol=1e-8, k=20, m=40)
    # a perturbed operator: C = A2 U is recomputed (k = 20 products), then the deflated
    # iteration needs at most half the iterations of the first solve
    A2 = heat(40, 101.0)
    second = rcg(A2, b, rtol=1e-8, k=20, m=40, recycle=first.recycle)
    assert second.extra["reprojected"] is True
    assert second.n_matvec == second.niter + 20 + 1  # k products for C, one true residual
    assert second.niter <= 0.5 * first.niter, (first.niter, second.niter)
    assert second.n_matvec <= 0.7 * first.n_matvec
    assert relres(A2, second.x, b) <= 1e-8
    # the same operator, a randomly perturbed right-hand side: deflation alone
    b2 = b + 0.01 * rng.standard_normal(1600)
    third = rcg(A, b2, rtol=1e-8, k=20, m=40, recycle=first.recycle)
    assert third.extra["reprojected"] is False
    assert third.n_matvec <= 0.75 * first.n_matvec, (first.n_matvec, third.n_matvec)
    assert relres(A, third.x, b2) <= 1e-8


def test_heat_sequence_fewer_iterations_than_pcg():
    A = heat(32, 50.0)
    rng = np.random.default_rng(4)
    x = np.zeros(1024)
    f = rng.standard_normal(1024)
    space = None
    it_rcg = it_cg = 0
    for _step in range(8):
        b = x + f
        r = rcg(A, b, x, rtol=1e-8, k=16, m=36, precond="jacobi", recycle=space)
        c = lrsolve.cg(A, b, x, rtol=1e-8, precond="jacobi")
        assert r.converged and relres(A, r.x, b) <= 1e-8
        space, x = r.recycle, r.x
        it_rcg += r.niter
        it_cg += c.niter
    assert it_rcg * 1.5 <= it_cg, (it_rcg, it_cg)


def test_space_from_gcrodr_is_accepted():
    A = heat(20, 10.0)
    b = np.ones(400)
    g = gcrodr(A, b, rtol=1e-8, k=10, m=30)
    r = rcg(A, b, rtol=1e-8, k=10, m=30, recycle=g.recycle)
    assert r.converged and relres(A, r.x, b) <= 1e-8
    assert r.recycle.method == "rcg"


def test_nothing_is_mutated_and_space_is_immutable():
    A = heat(20, 10.0)
    b = np.ones(400)
    x0 = np.full(400, 0.1)
    first = rcg(A, b, x0, rtol=1e-8, k=10, m=30)
    assert np.array_equal(x0, np.full(400, 0.1))
    space = first.recycle
    U0 = space.U.copy()
    rcg(heat(20, 11.0), b, rtol=1e-8, k=10, m=30, recycle=space)
    assert np.array_equal(space.U, U0)
    assert not space.U.flags.writeable
    with pytest.raises(AttributeError):
        space.fingerprint = None


def test_callback_once_per_iteration():
    A = heat(20, 10.0)
    b = np.ones(400)
    seen = []
    res = rcg(A, b, rtol=1e-8, k=8, m=24, callback=lambda xk: seen.append(relres(A, xk, b)))
    assert len(seen) == res.niter
    seen.clear()
    res2 = rcg(A, b, rtol=1e-8, k=8, m=24, recycle=res.recycle, precond="jacobi",
               callback=lambda xk: seen.append(relres(A, xk, b)))
    assert len(seen) == res2.niter and seen[-1] <= 1e-8


def test_not_positive_definite_is_reported():
    A = heat(10, 1.0) - 3.0 * sp.eye(100)
    res = rcg(A.tocsr(), np.ones(100), k=4, m=12)
    assert res.info == -1 and "not positive definite" in res.message


def test_maxiter():
    A = heat(30, 100.0)
    res = rcg(A, np.ones(900), rtol=1e-12, k=5, m=15, maxiter=13)
    assert res.niter == 13 and res.info == 13 and not res.converged
    assert len(res.residual_norms) == 14


@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(k=10, m=10), ValueError, "k must be smaller than m"),
    (dict(k=0), ValueError, "must be >= 1"),
    (dict(recycle=3), TypeError, "recycle must be a RecycleSpace"),
])
def test_bad_input(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        rcg(heat(8, 1.0), np.ones(64), **kwargs)


def test_space_of_wrong_size():
    space = rcg(heat(10, 1.0), np.ones(100), k=4, m=12).recycle
    with pytest.raises(ValueError, match="another size"):
        rcg(heat(8, 1.0), np.ones(64), recycle=space, k=4, m=12)


@pytest.mark.gpu
def test_gpu_matches_cpu():
    if not lrsolve.cupy_available():
        pytest.skip("needs CuPy and a CUDA device")
    import cupy as cp
    import cupyx.scipy.sparse as csp

    A = heat(30, 50.0)
    b = np.ones(900)
    cpu = rcg(A, b, rtol=1e-8, k=10, m=30)
    Ad, bd = csp.csr_matrix(A), cp.asarray(b)
    gpu = rcg(Ad, bd, rtol=1e-8, k=10, m=30, check_every=1)
    assert gpu.converged and abs(gpu.niter - cpu.niter) <= 2
    again = rcg(Ad, bd, rtol=1e-8, k=10, m=30, recycle=gpu.recycle)
    assert again.converged and again.niter < gpu.niter


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_indefinite_preconditioner_is_reported_as_such(dtype):
    A = lrsolve.operators.poisson((8, 8)).tocsr().astype(dtype)
    n = A.shape[0]
    b = np.ones(n, dtype=dtype)
    for M in (np.zeros((n, n), dtype=dtype), -np.eye(n, dtype=dtype)):
        res = rcg(A, b, M=M)
        assert res.info == -2 and not res.converged
        assert "preconditioner is not positive definite" in res.message
        assert lrsolve.cg(A, b, M=M).info == -2  # the same verdict as cg


def test_overflowing_norm_of_b_is_an_error_not_convergence():
    A = lrsolve.operators.poisson((8, 8)).tocsr()
    b = 1e160 * np.ones(64)
    for solver in (lrsolve.cg, lrsolve.gmres, lrsolve.minres, lrsolve.bicgstab, gcrodr, rcg):
        with pytest.raises(ValueError, match="norm of b overflows"):
            solver(A, b)
    # the rescaled system solves
    res = lrsolve.cg(A, b / 1e160)
    assert res.info == 0


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_real_amg_object_applies_to_complex_systems(dtype):
    L = lrsolve.operators.poisson((16, 16)).tocsr()
    M = lrsolve.precond.amg(L)
    b = (np.random.default_rng(0).standard_normal(L.shape[0]) * (1 + 0.5j)).astype(dtype)
    z = M @ b
    np.testing.assert_allclose(z, (M @ b.real) + 1j * (M @ b.imag), rtol=1e-5, atol=1e-6)
    res = lrsolve.cg(L.astype(dtype), b, precond=M, rtol=1e-5)
    assert res.info == 0 and res.x.dtype == dtype
    assert np.linalg.norm(L @ res.x - b) <= 1e-5 * np.linalg.norm(b) * 1.01


def test_callable_preconditioner_errors_name_m():
    A = lrsolve.operators.poisson((4, 4)).tocsr()
    with pytest.raises(TypeError, match="the callable M returned NoneType"):
        lrsolve.cg(A, np.ones(16), M=lambda r: None)
    with pytest.raises(TypeError, match="the callable A returned NoneType"):
        lrsolve.cg(lambda x: None, np.ones(16))
