"""lrsolve.krylov.gmres and fgmres: non-symmetric cases, SciPy agreement, properties.

Modelled on SciPy's scipy/sparse/linalg/_isolve/tests/test_iterative.py.
"""

import functools

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
import scipy.sparse.linalg as sla

import lrsolve
from lrsolve.krylov._gmres import fgmres, gmres

from cases import poisson
from conftest import data_path

SOLVERS = [gmres, fgmres]


# --------------------------------------------------------------------------- problems
def convdiff2d(n, c=20.0):
    """-Laplace(u) + c (u_x + u_y / 2) on the unit square, centred differences."""
    h = 1.0 / (n + 1)
    L = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) / h**2
    D = sp.diags([-1.0, 1.0], [-1, 1], shape=(n, n)) / (2 * h)
    I = sp.eye(n)
    return (sp.kron(L, I) + sp.kron(I, L) + c * (sp.kron(D, I) + 0.5 * sp.kron(I, D))).tocsr()


def complex_nonhermitian(n=60, seed=0):
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    return 4.0 * np.eye(n) + G / np.sqrt(n)


@functools.cache
def nonsym(name):
    path = data_path("matrices", "nonsym", f"{name}.mtx")
    return scipy.io.mmread(path).tocsr().astype(np.float64)


def diag_inverse(A):
    """Jacobi for matrices whose diagonal has any sign (the registry's jacobi wants > 0)."""
    d = A.diagonal().copy()
    d[d == 0] = 1
    return sp.diags(1.0 / d).tocsr().astype(A.dtype)


def rhs(n, dtype, seed=7):
    rng = np.random.default_rng(seed)
    b = rng.normal(size=n)
    if np.dtype(dtype).kind == "c":
        b = b + 1j * rng.normal(size=n)
    return b.astype(dtype)


def rel_res(A, x, b):
    dt = np.complex128 if np.iscomplexobj(A) or np.iscomplexobj(b) else np.float64
    A64 = A.astype(dt)
    return np.linalg.norm(b.astype(dt) - A64 @ x.astype(dt)) / np.linalg.norm(b.astype(dt))


def scipy_inner_iters(A, b, **kw):
    count = [0]

    def cb(_):
        count[0] += 1

    x, info = sla.gmres(A, b, callback=cb, callback_type="pr_norm", **kw)
    return count[0], info, x


# --------------------------------------------------------------------------- catalogue
# (name, builder, preconditioner builder or name)
_CASES = [
    ("convdiff", lambda: convdiff2d(20), None),
    ("convdiff-jacobi", lambda: convdiff2d(20), "jacobi"),
    ("orsirr_1-diag", lambda: nonsym("orsirr_1"), diag_inverse),
    ("hor_131-diag", lambda: nonsym("hor_131"), diag_inverse),
    ("sherman5-diag", lambda: nonsym("sherman5"), diag_inverse),
    ("complex", lambda: complex_nonhermitian(), None),
]


def _dtypes(name):
    if name == "complex":
        return [np.complex128, np.complex64]
    return [np.float64, np.float32]


_PARAMS = [
    pytest.param(solver, name, build, pc, dt,
                 id=f"{solver.__name__}-{name}-{np.dtype(dt).char}")
    for solver in SOLVERS
    for name, build, pc in _CASES
    for dt in _dtypes(name)
]


@pytest.mark.parametrize("solver,name,build,pc,dtype", _PARAMS)
def test_catalogue_convergence(solver, name, build, pc, dtype):
    A = build()
    A = A.astype(dtype)
    b = rhs(A.shape[0], dtype)
    rtol = 1e-4 if dtype in (np.float32, np.complex64) else 1e-8
    kw = {"precond": pc} if isinstance(pc, str) else ({"M": pc(A)} if pc else {})
    A_before, b_before = A.copy(), b.copy()
    res = solver(A, b, rtol=rtol, maxiter=3000, **kw)
    assert res.info == 0 and res.converged, res.message
    assert res.x.dtype == dtype
    rel = rel_res(A, res.x, b)
    slack = 1.0 if dtype in (np.float64, np.complex128) else 1.5
    assert rel <= rtol * slack, (rel, res)
    assert res.true_residual_norm <= res.tolerance
    assert len(res.residual_norms) == res.niter + 1
    assert res.residual_norms[0] == pytest.approx(np.linalg.norm(b.astype(np.complex128)),
                                                  rel=1e-5)
    assert res.n_matvec >= res.niter + 1
    if sp.issparse(A):
        assert (A != A_before).nnz == 0
    else:
        np.testing.assert_array_equal(A, A_before)
    np.testing.assert_array_equal(b, b_before)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nearly_singular_reports_honestly(solver, dtype):
    """fs_183_1 (cond ~ 1e13): it may fail, but then it must say so, and never spin."""
    A = nonsym("fs_183_1").astype(dtype)
    b = rhs(A.shape[0], dtype)
    rtol = 1e-8 if dtype == np.float64 else 1e-4
    res = solver(A, b, rtol=rtol, maxiter=2000)
    rel = rel_res(A, res.x, b)
    assert res.converged == (res.info == 0)
    if res.converged:
        assert rel <= rtol * 1.5
    else:
        assert res.info != 0 and res.message
        assert rel > rtol
        assert res.true_residual_norm == pytest.approx(rel * np.linalg.norm(b.astype(float)),
                                                       rel=1e-2)
    assert res.niter <= 2000


# --------------------------------------------------------------------------- SciPy agreement
@pytest.mark.parametrize("n,c", [(16, 0.0), (20, 20.0), (24, 80.0)])
@pytest.mark.parametrize("solver", SOLVERS)
def test_matches_scipy(n, c, solver, engine):
    A = convdiff2d(n, c)
    b = rhs(A.shape[0], np.float64)
    res = solver(A, b, rtol=1e-8, restart=20)
    k, info, xs = scipy_inner_iters(A, b, rtol=1e-8, restart=20, maxiter=1000)
    assert info == 0 and res.converged
    assert res.niter <= k + 2, (res.niter, k)
    np.testing.assert_allclose(res.x, xs, rtol=0, atol=1e-6 * np.abs(xs).max())


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_complex_matches_dense_solve_and_scipy(dtype):
    A = complex_nonhermitian(80, seed=3).astype(dtype)
    b = rhs(80, dtype)
    rtol = 1e-10 if dtype == np.complex128 else 1e-4
    res = gmres(A, b, rtol=rtol)
    exact = np.linalg.solve(A.astype(np.complex128), b.astype(np.complex128))
    assert res.converged and res.x.dtype == dtype
    err = np.linalg.norm(res.x - exact) / np.linalg.norm(exact)
    assert err <= (1e-8 if dtype == np.complex128 else 1e-3)
    k, info, _ = scipy_inner_iters(A, b, rtol=rtol, restart=20)
    assert res.niter <= k + 2


def test_spd_poisson_agrees_with_cg():
    A = poisson((20, 20))
    b = rhs(400, np.float64)
    c = lrsolve.cg(A, b, rtol=1e-10)
    # full GMRES minimises the residual over the same Krylov space as CG
    g = gmres(A, b, rtol=1e-10, restart=400)
    assert c.converged and g.converged
    assert g.niter <= c.niter + 1
    np.testing.assert_allclose(g.x, c.x, rtol=0, atol=1e-8 * np.abs(c.x).max())
    # restarted GMRES gets there too
    g20 = gmres(A, b, rtol=1e-10, restart=20, maxiter=5000)
    assert g20.converged
    np.testing.assert_allclose(g20.x, c.x, rtol=0, atol=1e-7 * np.abs(c.x).max())


# --------------------------------------------------------------------------- properties
@pytest.fixture(params=[np.float64, np.float32], ids=["d", "f"])
def problem(request):
    dt = request.param
    A = convdiff2d(12, 30.0).astype(dt)
    return A, rhs(A.shape[0], dt)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("with_prec", [False, True])
def test_callback_once_per_iteration(problem, solver, with_prec):
    A, b = problem
    calls = []
    kw = {"precond": "jacobi"} if with_prec else {}
    res = solver(A, b, rtol=1e-4, restart=7, callback=lambda xk: calls.append(xk.copy()), **kw)
    assert res.converged
    assert len(calls) == res.niter
    np.testing.assert_array_equal(calls[-1], res.x)
    # the callback sees the GMRES iterate: its residual is the estimate in the history
    # (the entry at the end of a cycle is the true residual, the same up to rounding)
    for k in (0, 3, len(calls) - 1):
        r = np.linalg.norm((b - A @ calls[k]).astype(np.float64))
        assert r == pytest.approx(res.residual_norms[k + 1], rel=1e-2)


@pytest.mark.parametrize("restart", [1, 5, 20, 10**6])
def test_restart_semantics(restart):
    A = convdiff2d(10, 10.0)
    b = rhs(100, np.float64)
    res = gmres(A, b, rtol=1e-8, restart=restart, maxiter=5000)
    assert res.converged
    m = min(restart, 100)
    cycles = -(-res.niter // m)
    # one product per inner iteration, plus one true residual per cycle
    assert res.n_matvec == res.niter + cycles
    h = res.residual_norms
    if m >= res.niter:  # a single cycle: the minimal residual never increases
        assert np.all(np.diff(h) <= 1e-12 * h[0])
    k, info, _ = scipy_inner_iters(A, b, rtol=1e-8, restart=m, maxiter=5000)
    assert res.niter <= k + 2


def test_full_gmres_converges_in_at_most_n_steps():
    A = convdiff2d(6, 50.0)  # n = 36
    b = rhs(36, np.float64)
    res = gmres(A, b, rtol=1e-12, restart=36)
    assert res.converged and res.niter <= 36


@pytest.mark.parametrize("solver", SOLVERS)
def test_maxiter_counts_inner_iterations(problem, solver):
    A, b = problem
    calls = []
    res = solver(A, b, rtol=1e-12, restart=5, maxiter=7, callback=lambda xk: calls.append(1))
    assert res.niter == 7 and res.info == 7 and not res.converged
    assert len(calls) == 7
    assert "maxiter" in res.message
    assert res.n_matvec == 7 + 2  # two cycles (5 + 2), one true residual each
    res = solver(A, b, rtol=1e-12, maxiter=1)
    assert res.niter == 1 and res.info == 1
    # the iterate after 7 steps is the GMRES(5) one: the true residual is the last entry
    r = np.linalg.norm((b - A @ solver(A, b, rtol=1e-12, restart=5, maxiter=7).x)
                       .astype(np.float64))
    assert r == pytest.approx(solver(A, b, rtol=1e-12, restart=5, maxiter=7)
                              .residual_norms[-1], rel=1e-3)


@pytest.mark.parametrize("check_every", [3, 10, 25])
def test_batched_checks_match(check_every):
    """The GPU path (new Hessenberg columns reduced in batches) on the CPU."""
    A = convdiff2d(16, 20.0)
    b = rhs(256, np.float64)
    ref = gmres(A, b, rtol=1e-8)
    res = gmres(A, b, rtol=1e-8, check_every=check_every)
    assert res.converged
    assert ref.niter <= res.niter <= ref.niter + check_every
    assert len(res.residual_norms) == res.niter + 1
    np.testing.assert_allclose(res.residual_norms[: ref.niter], ref.residual_norms[: ref.niter],
                               rtol=1e-6)


def test_fgmres_with_varying_preconditioner():
    """A few inner CG steps: a different (nonlinear) preconditioner at every step."""
    n = 30
    L = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    I = sp.eye(n)
    lap = (sp.kron(L, I) + sp.kron(I, L)).tocsr()
    A = (lap + 0.3 * sp.kron(sp.diags([-1.0, 1.0], [-1, 1], shape=(n, n)), I)).tocsr()
    b = np.ones(n * n)
    calls = [0]

    def inner(r):
        calls[0] += 1
        return lrsolve.cg(lap, r, rtol=1e-2, maxiter=5).x

    res = fgmres(A, b, M=inner, rtol=1e-8)
    assert res.converged and rel_res(A, res.x, b) <= 1e-8
    assert calls[0] == res.n_precond == res.niter
    plain = gmres(A, b, rtol=1e-8)
    assert plain.converged
    assert res.niter < plain.niter / 2
    # gmres assumes a fixed M: with this one it does not converge in as few steps, and it
    # reports it instead of claiming success
    bad = gmres(A, b, M=inner, rtol=1e-8, maxiter=res.niter)
    assert not bad.converged and bad.info != 0


def test_fgmres_equals_gmres_for_fixed_preconditioner(problem):
    A, b = problem
    g = gmres(A, b, rtol=1e-6, precond="jacobi")
    f = fgmres(A, b, rtol=1e-6, precond="jacobi")
    assert g.converged and f.converged
    assert abs(g.niter - f.niter) <= 1
    tol = 1e-6 if A.dtype == np.float64 else 1e-3
    np.testing.assert_allclose(f.x, g.x, rtol=0, atol=tol * np.abs(g.x).max())


def test_right_preconditioning_reports_true_residual():
    A = nonsym("orsirr_1")
    b = rhs(A.shape[0], np.float64)
    res = gmres(A, b, rtol=1e-8, M=diag_inverse(A), maxiter=3000)
    # the history is of the unpreconditioned residual b - A x
    assert res.residual_norms[0] == pytest.approx(np.linalg.norm(b))
    assert res.residual_norms[-1] == pytest.approx(np.linalg.norm(b - A @ res.x), rel=1e-6)


# --------------------------------------------------------------------------- breakdown
@pytest.mark.parametrize("solver", SOLVERS)
def test_lucky_breakdown(solver):
    """Three distinct eigenvalues: the Krylov space is invariant after three steps."""
    A = sp.diags(np.repeat([1.0, 2.0, 3.0], 10)).tocsr()
    b = rhs(30, np.float64)
    res = solver(A, b, rtol=1e-12)
    assert res.converged and res.niter == 3
    np.testing.assert_allclose(res.x, b / A.diagonal(), rtol=1e-12)


def test_singular_inconsistent_is_reported():
    A = sp.diags([1.0, 2.0, 0.0]).tocsr()
    res = gmres(A, np.ones(3))
    assert res.info == -3 and not res.converged
    assert res.true_residual_norm == pytest.approx(1.0)
    assert res.niter <= 3


def test_stagnation_is_reported():
    """The cyclic shift with b = e1: GMRES(m) makes no progress until m = n."""
    n = 50
    S = sp.diags([np.ones(n - 1)], [-1], shape=(n, n)).tolil()
    S[0, n - 1] = 1.0
    S = S.tocsr()
    b = np.zeros(n)
    b[0] = 1.0
    res = gmres(S, b, restart=10)
    assert res.info == -3 and "stagnated" in res.message
    assert res.niter == 10
    full = gmres(S, b, restart=n)
    assert full.converged and full.niter == n


def test_float32_below_precision_stops():
    A = convdiff2d(16, 20.0).astype(np.float32)
    b = rhs(256, np.float32)
    res = gmres(A, b, rtol=1e-12, maxiter=20000)
    assert not res.converged and res.info != 0
    assert res.niter < 20000


def test_non_finite_operator_is_reported():
    def A(v):
        out = 2.0 * v
        out[0] = np.nan
        return out

    res = gmres(A, np.ones(10))
    assert res.info == -3 and not res.converged


# --------------------------------------------------------------------------- basics
@pytest.mark.parametrize("solver", SOLVERS)
def test_zero_rhs(problem, solver):
    A, b = problem
    res = solver(A, np.zeros_like(b), x0=np.ones_like(b))
    assert res.info == 0 and res.niter == 0
    np.testing.assert_array_equal(res.x, 0)


@pytest.mark.parametrize("solver", SOLVERS)
def test_x0(problem, solver):
    A, b = problem
    exact = sla.spsolve(A.astype(np.float64).tocsc(), b.astype(np.float64))
    x0 = exact.astype(b.dtype)
    before = x0.copy()
    res = solver(A, b, x0=x0, rtol=1e-3)
    assert res.niter == 0 and res.converged and res.x is not x0
    np.testing.assert_array_equal(x0, before)
    cold = solver(A, b, rtol=1e-5)
    warm = solver(A, b, x0=(exact * (1 + 1e-3)).astype(b.dtype), rtol=1e-5)
    assert warm.converged and warm.niter < cold.niter
    assert warm.n_matvec == warm.niter + 1 + -(-warm.niter // 20)


def test_atol_rtol_semantics(problem):
    A, b = problem
    bn = np.linalg.norm(b.astype(np.float64))
    res = gmres(A, b, rtol=0.0, atol=1e-2 * bn)
    assert res.converged and res.tolerance == pytest.approx(1e-2 * bn)
    assert np.linalg.norm((b - A @ res.x).astype(np.float64)) <= 1e-2 * bn * 1.001
    res2 = gmres(A, b, rtol=1e-1, atol=1e-3 * bn)
    assert res2.tolerance == pytest.approx(1e-1 * bn)
    assert res2.niter <= res.niter


@pytest.mark.parametrize("kind", ["dense", "csc", "linop", "callable", "operator"])
def test_input_kinds(kind):
    A = convdiff2d(8, 10.0)
    b = np.ones(64)
    conv = {
        "dense": lambda: A.toarray(),
        "csc": lambda: A.tocsc(),
        "linop": lambda: sla.aslinearoperator(A),
        "callable": lambda: (lambda v: A @ v),
        "operator": lambda: lrsolve.operators.as_operator(A),
    }[kind]
    res = gmres(conv(), b, rtol=1e-10)
    assert res.converged
    np.testing.assert_allclose(A @ res.x, b, atol=1e-8)
    x, info = res
    assert info == 0 and x is res.x


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"restart": 0}, ValueError, "restart"),
        ({"restart": -3}, ValueError, "restart"),
        ({"restart": 2.5}, ValueError, "restart"),
        ({"restart": True}, ValueError, "restart"),
        ({"restart": None}, ValueError, "restart"),
        ({"maxiter": 0}, ValueError, "maxiter"),
        ({"maxiter": 1.5}, TypeError, "maxiter"),
        ({"check_every": 0}, ValueError, "check_every"),
        ({"rtol": -1}, ValueError, "rtol"),
        ({"atol": None}, TypeError, "atol"),
        ({"callback": 3}, TypeError, "callback"),
        ({"precond": "nope"}, ValueError, "unknown preconditioner"),
        ({"precond": "jacobi", "M": np.eye(3)}, ValueError, "either"),
        ({"x0": np.ones(4)}, ValueError, "x0"),
    ],
)
def test_bad_input(solver, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        solver(np.eye(3) + np.eye(3, k=1), np.ones(3), **kwargs)


@pytest.mark.parametrize("solver", SOLVERS)
def test_bad_shapes(solver):
    with pytest.raises(ValueError, match="match"):
        solver(np.eye(3), np.ones(4))
    with pytest.raises(TypeError):
        solver(np.eye(3), np.ones(3), None, 1e-5)


# --------------------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_gpu_matches_cpu(solver, dtype):
    import cupy as cp
    import cupyx.scipy.sparse as csp

    A = convdiff2d(20, 20.0).astype(dtype)
    if dtype == np.complex128:
        A = (A + 0.5j * sp.eye(A.shape[0])).tocsr()
    b = rhs(A.shape[0], dtype)
    rtol = 1e-4 if dtype == np.float32 else 1e-8
    cpu = solver(A, b, rtol=rtol)
    calls = []
    gpu = solver(csp.csr_matrix(A), cp.asarray(b), rtol=rtol, precond="jacobi",
                 callback=lambda xk: calls.append(1))
    assert isinstance(gpu.x, cp.ndarray) and gpu.x.dtype == dtype
    assert gpu.converged and len(calls) == gpu.niter
    assert rel_res(A, cp.asnumpy(gpu.x), b) <= rtol * 1.5
    plain = solver(csp.csr_matrix(A), cp.asarray(b), rtol=rtol)  # check_every = 10
    assert plain.converged and cpu.niter <= plain.niter <= cpu.niter + 10
    np.testing.assert_allclose(cp.asnumpy(plain.x), cpu.x, rtol=0,
                               atol=(1e-3 if dtype == np.float32 else 1e-6)
                               * np.abs(cpu.x).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_callback_type_pr_norm_matches_scipy(dtype):
    """SciPy's callback_type='pr_norm': the relative residual norm every inner iteration
    (without a preconditioner the same sequence as SciPy's)."""
    import scipy.sparse.linalg as sla

    A = lrsolve.operators.poisson((10, 10)).tocsr().astype(dtype)
    b = np.ones(100, dtype=dtype)
    ours, theirs = [], []
    res = lrsolve.gmres(A, b, callback=ours.append, callback_type="pr_norm", rtol=1e-5)
    sla.gmres(A, b, callback=theirs.append, callback_type="pr_norm", rtol=1e-5, restart=20)
    assert res.info == 0 and len(ours) == res.niter
    n = min(len(ours), len(theirs), 10)
    np.testing.assert_allclose(ours[:n], theirs[:n], rtol=1e-3 if dtype == np.float32 else 1e-9)
    xs = []
    lrsolve.gmres(A, b, callback=xs.append, callback_type="x", rtol=1e-5)
    assert len(xs) == res.niter and xs[-1].shape == (100,)
    with pytest.raises(ValueError, match="callback_type must be"):
        lrsolve.gmres(A, b, callback_type="foo")
