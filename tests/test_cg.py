"""lrsolve.cg: a case catalogue crossed with every preconditioner, plus properties.

Modelled on SciPy's scipy/sparse/linalg/_isolve/tests/test_iterative.py.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

import lrsolve

from cases import CASES, PRECONDS, poisson


def _true_rel_residual(A, x, b):
    A64 = A.astype(np.complex128 if np.iscomplexobj(A) else np.float64)
    x64 = x.astype(A64.dtype)
    b64 = b.astype(A64.dtype)
    return np.linalg.norm(b64 - A64 @ x64) / np.linalg.norm(b64)


_PARAMS = [
    pytest.param(case, pc, id=f"{case!r}-{pc or 'none'}")
    for case in CASES
    for pc in PRECONDS
    if pc not in case.skip
]


@pytest.mark.parametrize("case,pc", _PARAMS)
def test_catalogue_convergence(case, pc):
    if case.data:
        from conftest import data_path

        data_path("matrices", "spd")
    if pc == "amg":
        pytest.importorskip("pyamg")
    if pc is not None and pc not in lrsolve.precond.available():
        pytest.skip(f"preconditioner {pc} not built")
    A, b = case.A, case.b
    A_before = A.copy()
    b_before = b.copy()
    res = lrsolve.cg(A, b, rtol=case.rtol, precond=case.precond(pc), maxiter=5000)
    x, info = res
    assert x.dtype == case.dtype
    rel = _true_rel_residual(A, x, b)
    if pc in case.nonconvergence:
        # honest report: either it converged for real or it says it did not
        assert res.converged == (rel <= case.rtol * 1.01)
    else:
        assert info == 0, res.message
        assert res.converged
        # the true residual (in float64) meets the tolerance; float32 gets the rounding of one b
        slack = 1.0 if case.dtype in (np.float64, np.complex128) else 1.5
        assert rel <= case.rtol * slack, (rel, res)
    assert len(res.residual_norms) == res.niter + 1
    assert res.residual_norms[0] == pytest.approx(np.linalg.norm(b.astype(np.complex128)), rel=1e-5)
    assert res.n_matvec >= res.niter
    # inputs untouched
    if sp.issparse(A):
        assert (A != A_before).nnz == 0
    else:
        np.testing.assert_array_equal(A, A_before)
    np.testing.assert_array_equal(b, b_before)


def test_preconditioners_reduce_iterations():
    A = poisson((48, 48))
    b = np.ones(A.shape[0])
    plain = lrsolve.cg(A, b, rtol=1e-8)
    for pc in ("ic0", "amg", "ssor"):
        if pc == "amg":
            pytest.importorskip("pyamg")
        if pc not in lrsolve.precond.available():
            continue
        res = lrsolve.cg(A, b, rtol=1e-8, precond=pc)
        assert res.converged
        assert res.niter < plain.niter / 1.5, (pc, res.niter, plain.niter)


# --------------------------------------------------------------------------- properties
@pytest.fixture(params=[np.float64, np.float32], ids=["d", "f"])
def problem(request):
    dt = request.param
    A = poisson((16, 16)).astype(dt)
    b = np.random.default_rng(0).normal(size=A.shape[0]).astype(dt)
    return A, b


def _scipy_iters(A, b, **kw):
    count = [0]

    def cb(xk):
        count[0] += 1

    x, info = sla.cg(A, b, callback=cb, **kw)
    return count[0], info


@pytest.mark.parametrize("shape", [(200,), (30, 30), (12, 12, 12)])
def test_iterations_match_scipy(shape, engine):
    A = poisson(shape)
    b = np.random.default_rng(1).normal(size=A.shape[0])
    res = lrsolve.cg(A, b, rtol=1e-8)
    k, info = _scipy_iters(A, b, rtol=1e-8)
    assert info == 0 and res.converged
    assert abs(res.niter - k) <= 1, (res.niter, k)


def test_callback_once_per_iteration(problem, engine):
    A, b = problem
    calls = []
    res = lrsolve.cg(A, b, rtol=1e-5, callback=lambda xk: calls.append(xk.copy()))
    assert len(calls) == res.niter
    # the callback sees the iterate, and the last one is the returned solution
    np.testing.assert_array_equal(calls[-1], res.x)


def test_maxiter(problem):
    A, b = problem
    calls = []
    res = lrsolve.cg(A, b, rtol=1e-12, maxiter=1, callback=lambda xk: calls.append(1))
    assert len(calls) == 1
    assert res.niter == 1 and res.info == 1 and not res.converged
    res = lrsolve.cg(A, b, rtol=1e-12, maxiter=7)
    assert res.niter == 7 and res.info == 7
    assert "maxiter" in res.message


def test_zero_rhs(problem):
    A, b = problem
    res = lrsolve.cg(A, np.zeros_like(b), x0=np.ones_like(b))
    assert res.info == 0 and res.niter == 0
    np.testing.assert_array_equal(res.x, 0)


def test_x0(problem):
    A, b = problem
    exact = np.linalg.solve(A.toarray().astype(np.float64), b.astype(np.float64))
    x0 = exact.astype(b.dtype)
    x0_before = x0.copy()
    res = lrsolve.cg(A, b, x0=x0, rtol=1e-4)
    assert res.niter == 0 and res.converged
    np.testing.assert_array_equal(x0, x0_before)
    # a good x0 saves iterations
    cold = lrsolve.cg(A, b, rtol=1e-5)
    warm = lrsolve.cg(A, b, x0=(exact + 1e-3).astype(b.dtype), rtol=1e-5)
    assert warm.niter < cold.niter
    assert res.x is not x0


def test_atol_rtol_semantics(problem):
    A, b = problem
    bn = np.linalg.norm(b.astype(np.float64))
    res = lrsolve.cg(A, b, rtol=0.0, atol=1e-2 * bn)
    assert res.converged
    assert res.tolerance == pytest.approx(1e-2 * bn)
    assert np.linalg.norm(b - A @ res.x) <= 1e-2 * bn * 1.001
    # the larger of the two wins
    res2 = lrsolve.cg(A, b, rtol=1e-1, atol=1e-3 * bn)
    assert res2.tolerance == pytest.approx(1e-1 * bn)
    assert res2.niter <= res.niter


def test_residual_history_is_consistent(problem):
    A, b = problem
    res = lrsolve.cg(A, b, rtol=1e-5)
    h = res.residual_norms
    assert h[0] == pytest.approx(np.linalg.norm(b.astype(np.float64)), rel=1e-6)
    assert h[-1] <= res.tolerance
    assert res.true_residual_norm <= res.tolerance
    assert res.true_residual_norm == pytest.approx(
        np.linalg.norm((b - A @ res.x).astype(np.float64)), rel=1e-2, abs=1e-6 * h[0]
    )


def test_result_unpacks_like_scipy(problem):
    A, b = problem
    res = lrsolve.cg(A, b)
    x, info = res
    assert info == res.info == res[1]
    assert x is res.x is res[0]
    assert len(res) == 2
    assert "SolveResult" in repr(res)


@pytest.mark.parametrize("kind", ["dense", "csr", "csc", "coo", "csr_array", "linop", "callable"])
def test_input_kinds(kind):
    A = poisson((12, 12))
    b = np.ones(A.shape[0])
    conv = {
        "dense": lambda: A.toarray(),
        "csr": lambda: A,
        "csc": lambda: A.tocsc(),
        "coo": lambda: A.tocoo(),
        "csr_array": lambda: sp.csr_array(A),
        "linop": lambda: sla.aslinearoperator(A),
        "callable": lambda: (lambda v: A @ v),
    }[kind]
    res = lrsolve.cg(conv(), b, rtol=1e-10)
    assert res.converged
    np.testing.assert_allclose(A @ res.x, b, atol=1e-8)


def test_lrsolve_operator_input():
    op = lrsolve.operators.as_operator(poisson((10, 10)))
    res = lrsolve.cg(op, np.ones(100), rtol=1e-10)
    assert res.converged and res.true_residual_norm <= 1e-10 * 10


def test_integer_matrix_is_promoted():
    A = (poisson((8, 8)) * 1).astype(np.int64)
    res = lrsolve.cg(A, np.ones(64), rtol=1e-10)
    assert res.x.dtype == np.float64 and res.converged


def test_column_vector_b():
    A = poisson((8, 8))
    res = lrsolve.cg(A, np.ones((64, 1)), rtol=1e-10)
    assert res.x.shape == (64,) and res.converged


def test_complex_hermitian_matches_dense_solve(engine):
    from cases import hermitian

    A = hermitian(40)
    b = np.arange(40) * (1 + 0.5j)
    res = lrsolve.cg(A, b, rtol=1e-12)
    np.testing.assert_allclose(res.x, np.linalg.solve(A.toarray(), b), rtol=1e-8, atol=1e-10)


# --------------------------------------------------------------------------- breakdown
def test_indefinite_matrix_is_reported():
    A = sp.diags(np.r_[np.ones(10), -np.ones(10)]).tocsr()
    b = np.ones(20)
    res = lrsolve.cg(A, b, maxiter=1000)
    assert res.info == -1 and not res.converged
    assert "not positive definite" in res.message
    assert res.niter < 5


def test_negative_definite_matrix_is_reported():
    res = lrsolve.cg(-poisson((10, 10)), np.ones(100))
    assert res.info == -1 and res.niter == 0


def test_indefinite_preconditioner_is_reported():
    A = poisson((10, 10))
    M = sp.diags(np.r_[np.ones(50), -np.ones(50)])
    res = lrsolve.cg(A, np.ones(100), M=M)
    assert res.info == -2 and "preconditioner" in res.message


def test_stagnation_in_float32_is_reported():
    """rtol below float32 precision: the solver stops and says so instead of looping."""
    A = poisson((20, 20)).astype(np.float32)
    b = np.ones(400, dtype=np.float32)
    res = lrsolve.cg(A, b, rtol=1e-12)
    assert not res.converged
    assert res.info != 0
    assert res.niter < 10 * 400


def test_true_residual_is_checked_before_convergence():
    """A callable A whose products drift: the recursive residual lies, the true one does not."""
    A = poisson((16, 16))
    res = lrsolve.cg(A, np.ones(256), rtol=1e-10, refresh_every=10)
    assert res.converged
    assert np.linalg.norm(np.ones(256) - A @ res.x) <= 1e-10 * 16 * 1.0001
    assert res.n_matvec >= res.niter + res.niter // 10


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "args, kwargs, exc, words",
    [
        ((np.ones((3, 4)), np.ones(3)), {}, ValueError, "square"),
        ((np.ones(3), np.ones(3)), {}, ValueError, "2-D"),
        ((np.eye(3), np.ones(4)), {}, ValueError, "match"),
        ((np.eye(3), np.ones((3, 2))), {}, ValueError, "b must"),
        ((np.eye(3), np.array([1.0, np.nan, 1.0])), {}, ValueError, "b contains NaN"),
        ((np.diag([1.0, np.inf, 1.0]), np.ones(3)), {}, ValueError, "A contains NaN"),
        ((sp.diags([1.0, np.nan, 1.0]).tocsr(), np.ones(3)), {}, ValueError, "A contains NaN"),
        ((np.eye(3), np.ones(3)), {"x0": np.ones(4)}, ValueError, "x0"),
        ((np.eye(3), np.ones(3)), {"x0": np.array([0, np.inf, 0])}, ValueError, "x0 contains"),
        ((np.eye(3), np.array(["a", "b", "c"])), {}, TypeError, "dtype"),
        ((np.eye(3).astype(object), np.ones(3)), {}, TypeError, "dtype"),
        ((np.eye(3), np.ones(3)), {"rtol": -1}, ValueError, "rtol"),
        ((np.eye(3), np.ones(3)), {"atol": -1e-3}, ValueError, "atol"),
        ((np.eye(3), np.ones(3)), {"rtol": None}, TypeError, "rtol"),
        ((np.eye(3), np.ones(3)), {"maxiter": 0}, ValueError, "maxiter"),
        ((np.eye(3), np.ones(3)), {"precond": "nope"}, ValueError, "unknown preconditioner"),
        ((np.eye(3), np.ones(3)), {"precond": "jacobi", "M": np.eye(3)}, ValueError, "either"),
        ((np.eye(3), np.ones(3)), {"M": np.eye(4)}, ValueError, "M"),
        ((np.eye(3), np.ones(3)), {"callback": 3}, TypeError, "callback"),
        (("matrix", np.ones(3)), {}, TypeError, "A must be"),
    ],
)
def test_bad_input(args, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        lrsolve.cg(*args, **kwargs)


def test_positional_keywords_rejected():
    with pytest.raises(TypeError):
        lrsolve.cg(np.eye(3), np.ones(3), None, 1e-5)


def test_inputs_never_modified(problem):
    A, b = problem
    x0 = np.zeros_like(b)
    copies = (A.copy(), b.copy(), x0.copy())
    lrsolve.cg(A, b, x0=x0, precond="jacobi")
    assert (A != copies[0]).nnz == 0
    np.testing.assert_array_equal(b, copies[1])
    np.testing.assert_array_equal(x0, copies[2])


def test_engines_agree():
    A = poisson((20, 20))
    b = np.random.default_rng(3).normal(size=400)
    with lrsolve.backend(engine="numba"):
        r1 = lrsolve.cg(A, b, rtol=1e-10)
    with lrsolve.backend(engine="numpy"):
        r2 = lrsolve.cg(A, b, rtol=1e-10)
    assert abs(r1.niter - r2.niter) <= 1
    np.testing.assert_allclose(r1.x, r2.x, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(r1.residual_norms[:20], r2.residual_norms[:20], rtol=1e-6)


def test_packed_csr_is_bit_exact():
    """float32-representable values and small bandwidth take the compressed kernel."""
    A = poisson((30, 30))
    op = lrsolve.operators.as_operator(A)
    assert op._packed[0] == "_packed"
    x = np.random.default_rng(0).normal(size=900)
    np.testing.assert_array_equal(op.matvec(x), A @ x)
    B = A.copy()
    B.data = B.data + 1e-9  # not float32-exact: plain kernel
    opb = lrsolve.operators.as_operator(B)
    assert opb._packed[1][0].dtype == np.float64
    np.testing.assert_allclose(opb.matvec(x), B @ x, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_x0_mb_matches_scipy(dtype):
    """SciPy's x0='Mb' (start from the preconditioned right-hand side) is accepted."""
    import scipy.sparse.linalg as sla

    A = lrsolve.operators.poisson((8, 8)).tocsr().astype(dtype)
    b = np.linspace(1, 2, 64).astype(dtype)
    M = lrsolve.precond.jacobi(A).aslinearoperator()
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    xs = sla.spsolve(A.astype(np.float64).tocsc(), b.astype(np.float64))
    for ours, theirs in ((lrsolve.cg, sla.cg), (lrsolve.gmres, sla.gmres),
                         (lrsolve.bicgstab, sla.bicgstab), (lrsolve.minres, sla.minres)):
        res = ours(A, b, x0="Mb", M=M, rtol=rtol)
        assert res.info == 0
        assert np.linalg.norm(b - A @ res.x) <= 1.01 * rtol * np.linalg.norm(b)
        if dtype == np.float64:
            ref = theirs(A, b, x0="Mb", M=M, rtol=rtol)[0]
            np.testing.assert_allclose(res.x, xs, rtol=1e-7)
            np.testing.assert_allclose(ref, xs, rtol=1e-7)
    # the start itself: one cg iteration from x0 = M b is SciPy's
    one = lrsolve.cg(A, b, x0="Mb", M=M, maxiter=1)
    ref1 = sla.cg(A, b, x0="Mb", M=M, maxiter=1)[0]
    np.testing.assert_allclose(one.x, ref1, rtol=1e-4 if dtype == np.float32 else 1e-12)
    with pytest.raises(ValueError, match="x0 must be an array, None or 'Mb'"):
        lrsolve.cg(A, b, x0="zeros")
