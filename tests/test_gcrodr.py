"""GCRO-DR: correctness, the recycle protocol (counted in products), immutability, bad input."""

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import lrsolve
from lrsolve.krylov import RecycleSpace, gcrodr, operator_fingerprint

from conftest import data_path


def nonsym(name):
    path = data_path("matrices", "nonsym", f"{name}.mtx")
    return scipy.io.mmread(path).tocsr().astype(np.float64)


def convdiff(n, c=0.5, dtype=np.float64):
    L = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    D = sp.diags([-1.0, 1.0], [-1, 1], shape=(n, n))
    eye = sp.eye(n)
    return (sp.kron(L, eye) + sp.kron(eye, L) + c * sp.kron(D, eye)).tocsr().astype(dtype)


def jacobi(A):
    return sp.diags(1.0 / A.diagonal()).tocsr()


def relres(A, x, b):
    return np.linalg.norm(b - A @ x) / np.linalg.norm(b)


# ----------------------------------------------------------------------------- correctness
@pytest.mark.parametrize("name", ["orsirr_1", "sherman5", "hor_131"])
def test_real_nonsymmetric_matrices(name):
    A = nonsym(name)
    xs = np.random.default_rng(1).standard_normal(A.shape[0])
    b = A @ xs
    res = gcrodr(A, b, rtol=1e-10, M=jacobi(A), k=20, m=40, maxiter=5000)
    assert res.converged, res
    assert relres(A, res.x, b) <= 1e-10
    x_ref = spla.spsolve(A.tocsc(), b)
    assert np.linalg.norm(res.x - x_ref) <= 1e-6 * np.linalg.norm(x_ref)
    # as good as GMRES with the same cycle length, in products
    g = lrsolve.gmres(A, b, rtol=1e-10, M=jacobi(A), restart=40, maxiter=5000)
    assert res.n_matvec <= 1.2 * g.n_matvec


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-4), (np.float64, 1e-9)])
@pytest.mark.parametrize("precond", [None, "jacobi"])
def test_dtypes_and_precond(dtype, rtol, precond):
    A = convdiff(24, dtype=dtype)
    b = np.ones(A.shape[0], dtype=dtype)
    res = gcrodr(A, b, rtol=rtol, precond=precond, k=8, m=24)
    assert res.converged, res
    assert res.x.dtype == dtype
    assert res.recycle.dtype == dtype
    x_ref = spla.spsolve(A.astype(np.float64).tocsc(), b.astype(np.float64))
    assert relres(A.astype(np.float64), res.x.astype(np.float64), b.astype(np.float64)) <= rtol
    assert np.linalg.norm(res.x - x_ref) <= 1e3 * rtol * np.linalg.norm(x_ref)
    # the space satisfies its contract: C = A U, C^H C = I
    U, C = res.recycle.U, res.recycle.C
    tol = 1e-3 if dtype == np.float32 else 1e-9
    assert np.linalg.norm(A @ U - C) <= tol * np.linalg.norm(C)
    assert np.allclose(C.T @ C, np.eye(C.shape[1]), atol=tol)


def test_complex_system():
    rng = np.random.default_rng(3)
    A = (convdiff(16) + 0.3j * sp.eye(256)).tocsr()
    b = rng.standard_normal(256) + 1j * rng.standard_normal(256)
    res = gcrodr(A, b, rtol=1e-10, k=6, m=20)
    assert res.converged
    assert relres(A, res.x, b) <= 1e-10
    res2 = gcrodr(A, b, rtol=1e-10, k=6, m=20, recycle=res.recycle)
    assert relres(A, res2.x, b) <= 1e-10


def test_x0_and_zero_rhs():
    A = convdiff(16)
    b = np.ones(256)
    x0 = np.full(256, 0.5)
    x0c = x0.copy()
    res = gcrodr(A, b, x0, rtol=1e-9, k=5, m=20)
    assert np.array_equal(x0, x0c)
    assert relres(A, res.x, b) <= 1e-9
    z = gcrodr(A, np.zeros(256), k=5, m=20)
    assert z.converged and not z.x.any()


# ----------------------------------------------------------------------------- recycling
@pytest.mark.parametrize("name", ["sherman5", "orsirr_1"])
def test_recycling_same_system_halves_products(name):
    A = nonsym(name)
    b = A @ np.ones(A.shape[0])
    M = jacobi(A)
    first = gcrodr(A, b, rtol=1e-8, M=M, k=30, m=60, maxiter=5000)
    again = gcrodr(A, b, rtol=1e-8, M=M, k=30, m=60, recycle=first.recycle, maxiter=5000)
    assert first.converged and again.converged
    assert again.extra["reprojected"] is False
    assert again.n_matvec <= 0.5 * first.n_matvec, (first.n_matvec, again.n_matvec)
    assert relres(A, again.x, b) <= 1e-8


def test_recycling_perturbed_system_halves_products():
    A = nonsym("sherman5")
    n = A.shape[0]
    b = A @ np.ones(n)
    M = jacobi(A)
    first = gcrodr(A, b, rtol=1e-8, M=M, k=30, m=60, maxiter=5000)
    rng = np.random.default_rng(0)
    A2 = (A + sp.diags(1e-3 * rng.random(n) * A.diagonal())).tocsr()
    second = gcrodr(A2, b, rtol=1e-8, M=M, k=30, m=60, recycle=first.recycle, maxiter=5000)
    assert second.converged
    assert second.extra["reprojected"] is True
    assert second.n_matvec <= 0.5 * first.n_matvec, (first.n_matvec, second.n_matvec)
    assert relres(A2, second.x, b) <= 1e-8
    # the re-projected space belongs to A2
    U, C = second.recycle.U, second.recycle.C
    assert np.linalg.norm(A2 @ U - C) <= 1e-8 * np.linalg.norm(C)


def test_recycle_without_preconditioner_and_changed_preconditioner():
    A = convdiff(30, c=1.0)
    b = np.ones(900)
    first = gcrodr(A, b, rtol=1e-8, k=20, m=40)
    assert first.recycle.S is None
    fresh = gcrodr(A, b, rtol=1e-8, k=20, m=40, precond="jacobi")
    # a space made without a preconditioner, used with Jacobi: U is kept and S = D U
    # (no application of M to prepare it), and it still pays on the same system
    res = gcrodr(A, b, rtol=1e-8, k=20, m=40, precond="jacobi", recycle=first.recycle)
    assert res.converged and relres(A, res.x, b) <= 1e-8
    assert res.n_precond == res.niter
    assert res.n_matvec <= 0.6 * fresh.n_matvec, (res.n_matvec, fresh.n_matvec)
    # a preconditioner without M^{-1} products (SSOR): U = M S with S = U (k applications)
    res = gcrodr(A, b, rtol=1e-8, k=20, m=40, precond="ssor", recycle=first.recycle)
    assert res.converged and relres(A, res.x, b) <= 1e-8
    assert res.n_precond == res.niter + 20


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-4), (np.float64, 1e-8)])
@pytest.mark.parametrize("precond", ["jacobi", "ic0"])
def test_rcg_space_carries_over_to_gcrodr(dtype, rtol, precond):
    # rcg's space (no S) handed to gcrodr with the same preconditioner: U is kept and
    # S = M^{-1} U, so it deflates the same directions; the caller's space is untouched
    p = lrsolve.problems.darcy((24, 24), rng=3, dtype=dtype)
    A, b = p.A, p.b
    first = lrsolve.krylov.rcg(A, b, rtol=rtol, precond=precond, k=10, m=20)
    assert first.converged and first.recycle.S is None
    U0 = first.recycle.U.copy()
    fresh = gcrodr(A, b, rtol=rtol, precond=precond, k=10, m=30)
    res = gcrodr(A, b, rtol=rtol, precond=precond, k=10, m=30, recycle=first.recycle)
    assert res.converged and relres(A, res.x, b) <= 2 * rtol
    assert res.n_matvec <= 0.6 * fresh.n_matvec, (res.n_matvec, fresh.n_matvec)
    assert np.array_equal(first.recycle.U, U0)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-4), (np.float64, 1e-8)])
@pytest.mark.parametrize("m", [10, 30])
def test_larger_space_is_cut_to_k(dtype, rtol, m):
    # a 15-vector space given to a solver with k = 5: its first 5 vectors are used
    A = convdiff(20, dtype=dtype)
    b = np.ones(400, dtype=dtype)
    big = gcrodr(A, b, rtol=rtol, k=15, m=30).recycle
    assert big.k == 15
    for A2, reproj in ((A, False), ((A * 1.1).astype(dtype), True)):
        res = gcrodr(A2, b, rtol=rtol, k=5, m=m, recycle=big)
        assert res.converged and res.extra["reprojected"] is reproj
        assert relres(A2.astype(np.float64), res.x.astype(np.float64), b) <= rtol
        assert res.recycle.k == 5
        assert big.k == 15  # the caller's space is untouched
    # the cut space is the first 5 columns: the same solve as with a 5-vector space
    same = RecycleSpace(big.U[:, :5], big.C[:, :5], big.fingerprint)
    a = gcrodr(A, b, rtol=rtol, k=5, m=m, recycle=big)
    c = gcrodr(A, b, rtol=rtol, k=5, m=m, recycle=same)
    assert a.n_matvec == c.n_matvec
    np.testing.assert_array_equal(a.x, c.x)


def test_same_operator_hint():
    A = convdiff(20)
    b = np.ones(400)
    first = gcrodr(A, b, rtol=1e-8, k=10, m=30)
    op = sp.linalg.aslinearoperator(A)  # an object: identified by identity
    forced = gcrodr(op, b, rtol=1e-8, k=10, m=30, recycle=first.recycle)
    assert forced.extra["reprojected"] is True
    trusted = gcrodr(op, b, rtol=1e-8, k=10, m=30, recycle=first.recycle, same_operator=True)
    assert trusted.extra["reprojected"] is False
    assert trusted.n_matvec < forced.n_matvec
    assert relres(A, trusted.x, b) <= 1e-8
    assert operator_fingerprint(A) == operator_fingerprint(A.copy())
    assert operator_fingerprint(A) != operator_fingerprint(A * 1.0001)


def test_nothing_is_mutated_and_space_is_immutable():
    A = convdiff(20)
    b = np.ones(400)
    A_data = A.data.copy()
    first = gcrodr(A, b, rtol=1e-8, k=10, m=30)
    space = first.recycle
    U0, C0 = space.U.copy(), space.C.copy()
    A2 = (A + 0.01 * sp.eye(400)).tocsr()
    gcrodr(A2, b, rtol=1e-8, k=10, m=30, recycle=space)
    gcrodr(A, b, rtol=1e-8, k=10, m=30, recycle=space)
    assert np.array_equal(space.U, U0) and np.array_equal(space.C, C0)
    assert np.array_equal(A.data, A_data) and np.array_equal(b, np.ones(400))
    assert not space.U.flags.writeable and not space.C.flags.writeable
    with pytest.raises(ValueError):
        space.U[0, 0] = 1.0
    with pytest.raises(AttributeError, match="immutable"):
        space.k = 3
    assert isinstance(space, RecycleSpace) and space.n == 400 and space.k == 10
    assert "RecycleSpace(n=400, k=10" in repr(space)


def test_callback_once_per_iteration():
    A = convdiff(20)
    b = np.ones(400)
    calls = []
    res = gcrodr(A, b, rtol=1e-8, k=8, m=24, callback=lambda xk: calls.append(xk.copy()))
    assert len(calls) == res.niter
    assert np.allclose(calls[-1], res.x)
    calls.clear()
    res2 = gcrodr(A, b, rtol=1e-8, k=8, m=24, recycle=res.recycle,
                  callback=lambda xk: calls.append(relres(A, xk, b)))
    assert len(calls) == res2.niter
    # the callback sees the true iterate: its residual matches the history
    assert calls[-1] == pytest.approx(res2.residual_norms[-1] / np.linalg.norm(b), rel=1e-6)


def test_maxiter_counts_iterations():
    A = convdiff(30)
    b = np.ones(900)
    res = gcrodr(A, b, rtol=1e-12, k=5, m=15, maxiter=37)
    assert res.niter == 37 and res.info == 37 and not res.converged
    assert len(res.residual_norms) == 38
    assert res.recycle is not None


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(k=20, m=20), ValueError, "k must be smaller than m"),
    (dict(k=30, m=20), ValueError, "k must be smaller than m"),
    (dict(k=0, m=20), ValueError, "k (the number of recycled vectors) must be >= 1"),
    (dict(k=2.5), TypeError, "k must be an integer"),
    (dict(recycle="space"), TypeError, "recycle must be a RecycleSpace"),
    (dict(same_operator="yes"), TypeError, "same_operator"),
    (dict(rtol=-1.0), ValueError, "rtol"),
])
def test_bad_input(kwargs, exc, words):
    A = convdiff(8)
    with pytest.raises(exc, match=words.replace("(", r"\(").replace(")", r"\)")):
        gcrodr(A, np.ones(64), **kwargs)


def test_space_of_wrong_size_or_dtype():
    A = convdiff(10)
    space = gcrodr(A, np.ones(100), k=5, m=20).recycle
    with pytest.raises(ValueError, match="n=100 rows but the system has n=64"):
        gcrodr(convdiff(8), np.ones(64), recycle=space, k=5, m=20)
    with pytest.raises(ValueError, match="dtype float64 but the solve runs in float32"):
        gcrodr(A.astype(np.float32), np.ones(100, np.float32), recycle=space, k=5, m=20)


def test_nan_input():
    A = convdiff(8)
    b = np.ones(64)
    b[3] = np.nan
    with pytest.raises(ValueError, match="b contains NaN"):
        gcrodr(A, b)


@pytest.mark.gpu
def test_gpu_matches_cpu():
    if not lrsolve.cupy_available():
        pytest.skip("needs CuPy and a CUDA device")
    import cupy as cp
    import cupyx.scipy.sparse as csp

    A = convdiff(30, c=1.0)
    b = np.ones(900)
    cpu = gcrodr(A, b, rtol=1e-8, k=10, m=30)
    Ad, bd = csp.csr_matrix(A), cp.asarray(b)
    gpu = gcrodr(Ad, bd, rtol=1e-8, k=10, m=30, check_every=1)
    assert gpu.converged
    assert abs(gpu.niter - cpu.niter) <= 2
    again = gcrodr(Ad, bd, rtol=1e-8, k=10, m=30, recycle=gpu.recycle)
    assert again.converged and again.n_matvec < gpu.n_matvec
    assert float(cp.linalg.norm(bd - Ad @ again.x)) <= 1e-8 * float(cp.linalg.norm(bd))


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-4), (np.float64, 1e-8)])
def test_same_precond_hint(dtype, rtol):
    # a space built with one Jacobi preconditioner, used with another (a perturbed matrix)
    A = convdiff(20, dtype=dtype)
    A2 = (A + 0.05 * sp.eye(400, dtype=dtype)).tocsr().astype(dtype)
    b = np.ones(400, dtype=dtype)
    first = gcrodr(A, b, rtol=rtol, k=10, m=30, precond="jacobi")
    assert first.recycle.S is not None
    runs = {}
    for hint in (None, True, False):
        res = gcrodr(A2, b, rtol=rtol, k=10, m=30, precond="jacobi", recycle=first.recycle,
                     same_precond=hint)
        assert res.converged
        assert relres(A2.astype(np.float64), res.x.astype(np.float64), b) <= rtol
        runs[hint] = res
    # by fingerprint the preconditioner differs: U = M S is recomputed (10 applications) --
    # as with False; True keeps U and S and re-projects C = A2 U only
    assert runs[None].n_precond == runs[False].n_precond
    assert runs[True].n_precond == runs[None].n_precond - 10 + (
        runs[True].niter - runs[None].niter)
    # the kept space is exact: C = A2 U of the returned space
    U, C = runs[True].recycle.U, runs[True].recycle.C
    assert np.linalg.norm(A2 @ U - C) <= 1e3 * np.finfo(dtype).eps * np.linalg.norm(C)
    with pytest.raises(TypeError, match="same_precond"):
        gcrodr(A2, b, recycle=first.recycle, precond="jacobi", same_precond="yes")


@pytest.mark.parametrize("precond", [None, "jacobi"])
def test_recycle_space_with_nan_is_rejected(precond):
    A = convdiff(12)
    b = np.ones(144)
    U = np.random.default_rng(0).standard_normal((144, 4))
    U[3, 2] = np.nan
    with pytest.raises(ValueError, match="recycle.U contains NaN"):
        gcrodr(A, b, k=4, m=10, precond=precond, recycle=RecycleSpace(U, U.copy()))
    with pytest.raises(ValueError, match="recycle.U contains NaN"):
        lrsolve.krylov.rcg(lrsolve.operators.poisson((12, 12)).tocsr(), b, k=4, m=10,
                           precond=precond, recycle=RecycleSpace(U, U.copy()))


def test_fingerprint_of_a_new_object_at_a_freed_address_differs():
    """CPython reuses a freed object's id: a space must not look valid for the next operator."""
    n = 30
    tokens = []
    for s in (1.0, 2.0, 3.0, 4.0):
        op = spla.aslinearoperator(sp.eye(n, format="csr") * s)
        tokens.append(operator_fingerprint(op))
        assert operator_fingerprint(op) == tokens[-1]  # the live object keeps its identity
        del op
    assert len(set(tokens)) == len(tokens)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_space_from_a_freed_operator_is_reprojected(dtype):
    L = convdiff(12, dtype=dtype)
    n = L.shape[0]
    b = np.ones(n, dtype=dtype)
    space = None
    for s in (1.0, 50.0, 1.0):
        A = spla.aslinearoperator((sp.eye(n, dtype=dtype) * s + L).tocsr())
        res = gcrodr(A, b, rtol=1e-5, k=5, m=20, recycle=space)
        assert res.info == 0
        assert res.extra["reprojected"] is (space is not None)
        M = (sp.eye(n, dtype=dtype) * s + L).tocsr()
        assert relres(M, res.x, b) <= 1e-5 * (1 + 1e-3)
        space = res.recycle
        del A


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_singular_matrix_reports_breakdown(dtype):
    A = sp.diags(np.r_[np.ones(9), 0.0]).tocsr().astype(dtype)
    res = gcrodr(A, np.ones(10, dtype=dtype))
    assert res.info == -3 and not res.converged
    assert "singular" in res.message
    n = 64
    A = lrsolve.operators.poisson((8, 8)).tocsr().astype(dtype)
    res = gcrodr(A, np.ones(n, dtype=dtype), M=np.zeros((n, n), dtype=dtype))
    assert res.info == -3 and "singular" in res.message
    # a consistent right-hand side of the singular matrix is still solved
    A = sp.diags(np.r_[np.ones(9), 0.0]).tocsr().astype(dtype)
    res = gcrodr(A, np.r_[np.ones(9), 0.0].astype(dtype))
    assert res.info == 0
    assert np.linalg.norm(A @ res.x - np.r_[np.ones(9), 0.0]) <= 1e-4


def test_bound_method_operators_keep_their_identity():
    class Op:
        def __init__(self, A):
            self.A = A

        def mv(self, x):
            return self.A @ x

    o = Op(convdiff(8))
    assert operator_fingerprint(o.mv) == operator_fingerprint(o.mv)
    assert operator_fingerprint(o.mv) != operator_fingerprint(Op(convdiff(8)).mv)
