"""Tests of the preconditioners: ssor, ic0, chebyshev, amg (and jacobi where it fits).

Every test checks a numerical fact: a converged PCG solve verified by the true
residual computed here, agreement of ``apply`` with a dense reference formula,
the symmetry and positive definiteness of ``M``, or an iteration count.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import lrsolve
from lrsolve.precond import AMG, amg, chebyshev, ic0, ssor

NAMES = ("ssor", "ic0", "chebyshev", "amg")
RTOL = {np.float64: 1e-8, np.float32: 1e-4}
EPS = {np.float64: 1e-12, np.float32: 2e-5}  # relative rounding level of one application


# ----------------------------------------------------------------------------- matrices
def poisson2d(m, dtype=np.float64):
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    I = sp.eye(m)
    return (sp.kron(T, I) + sp.kron(I, T)).tocsr().astype(dtype)


def _spd_file(name):
    here = Path(__file__).resolve()
    for root in (here.parents[2] / "shared", Path("/work/shared")):
        p = root / "data" / "matrices" / "spd" / f"{name}.mtx"
        if p.exists():
            return p
    pytest.skip(f"test matrix {name}.mtx not found under shared/data/matrices/spd")


_CACHE: dict = {}


def load(name, dtype=np.float64):
    if name == "poisson":
        return poisson2d(24, dtype)
    if name not in _CACHE:
        _CACHE[name] = scipy.io.mmread(_spd_file(name)).tocsr().astype(np.float64)
    return _CACHE[name].astype(dtype)


def complex_hermitian(m=12, dtype=np.complex128):
    """Poisson + shift + i*(antisymmetric part on the same pattern): Hermitian positive definite."""
    P = poisson2d(m)
    rng = np.random.default_rng(7)
    K = sp.triu(P, k=1).tocsr()
    K.data = rng.uniform(-0.5, 0.5, K.nnz)
    A = (P + sp.eye(P.shape[0]) + 1j * (K - K.T)).tocsr().astype(dtype)
    return A


def make(name, A, **opts):
    return {"ssor": ssor, "ic0": ic0, "chebyshev": chebyshev, "amg": amg}[name](A, **opts)


def dense_M(P, n, dtype):
    """The matrix of the preconditioner, column by column."""
    E = np.eye(n, dtype=dtype)
    return np.column_stack([P.apply(E[:, j].copy()) for j in range(n)])


def true_rel_residual(A, x, b):
    A64 = A.astype(np.complex128 if np.iscomplexobj(A.data) else np.float64)
    x64 = np.asarray(x).astype(A64.dtype)
    b64 = np.asarray(b).astype(A64.dtype)
    return np.linalg.norm(b64 - A64 @ x64) / np.linalg.norm(b64)


# ----------------------------------------------------------------------------- convergence
CASES = [
    (mat, dt)
    for mat in ("poisson", "nos4", "gr_30_30", "bcsstk03", "1138_bus")
    for dt in (np.float64, np.float32)
    # bcsstk03 and 1138_bus have condition numbers ~7e6: float32 cannot reach any useful rtol
    if dt == np.float64 or mat in ("poisson", "nos4", "gr_30_30")
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mat,dtype", CASES)
def test_pcg_converges_true_residual(name, mat, dtype):
    A = load(mat, dtype)
    n = A.shape[0]
    b = np.random.default_rng(1).standard_normal(n).astype(dtype)
    # IC(0) of bcsstk03 breaks down (row 24): it needs the automatic diagonal shift
    P = make(name, A, shift="auto") if (name, mat) == ("ic0", "bcsstk03") else make(name, A)
    assert P.dtype == dtype and P.shape == (n, n)
    res = lrsolve.cg(A, b, rtol=RTOL[dtype], precond=P, maxiter=5000)
    assert res.converged, res.message
    assert res.x.dtype == dtype
    # the tolerance is met by the true residual, computed here in float64
    assert true_rel_residual(A, res.x, b) <= RTOL[dtype] * (1.05 if dtype == np.float64 else 2)
    assert res.niter <= res.n_precond <= res.niter + 1


def test_ic0_breaks_down_on_bcsstk03_without_shift():
    A = load("bcsstk03")
    with pytest.raises(ValueError, match=r"row 24.*shift="):
        ic0(A)
    P = ic0(A, shift="auto")  # retried with 1e-3 * 2^k until it factors
    assert 0 < P.shift < 1
    assert P.shift == pytest.approx(1e-3 * 2 ** round(np.log2(P.shift / 1e-3)))
    with pytest.raises(ValueError, match="row"):
        ic0(A, shift=P.shift / 2.5)
    # the shifted factor satisfies L L^T = A + shift*diag(A) on the pattern of tril(A)
    As = A + P.shift * sp.diags(A.diagonal())
    LLt = (P.L @ P.L.T).toarray()
    pat = sp.tril(A).toarray() != 0
    np.testing.assert_allclose(LLt[pat], As.toarray()[pat], rtol=1e-10, atol=1e-10 * abs(A).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_fewer_iterations_than_cg_on_poisson(name, dtype):
    A = poisson2d(48, dtype)
    b = np.random.default_rng(2).standard_normal(A.shape[0]).astype(dtype)
    rtol = 1e-8 if dtype == np.float64 else 1e-4
    plain = lrsolve.cg(A, b, rtol=rtol)
    res = lrsolve.cg(A, b, rtol=rtol, precond=name)
    assert plain.converged and res.converged
    # IC(0)/SSOR reduce the condition number by a constant factor, AMG to O(1)
    bound = {"ssor": 0.6, "ic0": 0.5, "chebyshev": 0.6, "amg": 0.15}[name]
    assert res.niter <= bound * plain.niter, (res.niter, plain.niter)


def test_ic0_three_times_fewer_iterations_poisson_128():
    A = poisson2d(128)
    b = np.random.default_rng(3).standard_normal(A.shape[0])
    plain = lrsolve.cg(A, b, rtol=1e-8)
    res = lrsolve.cg(A, b, rtol=1e-8, precond="ic0")
    assert res.converged
    assert 3 * res.niter <= plain.niter * 1.05, (res.niter, plain.niter)


def test_modified_ic0_keeps_row_sums_and_beats_ic0():
    A = poisson2d(48)
    P = ic0(A, relax=1.0)
    LLt = (P.L @ P.L.T).tocsr()
    ones = np.ones(A.shape[0])
    # MIC: L L^T has the row sums of A, and equals A off the diagonal on A's pattern
    np.testing.assert_allclose(LLt @ ones, A @ ones, atol=1e-12)
    off = sp.triu(A, k=1).tocoo()
    np.testing.assert_allclose(np.asarray(LLt[off.row, off.col]).ravel(), off.data, atol=1e-12)
    b = np.random.default_rng(21).standard_normal(A.shape[0])
    it = {relax: lrsolve.cg(A, b, rtol=1e-8, precond=("ic0", {"relax": relax})).niter
          for relax in (0.0, 0.5, 1.0)}
    assert it[1.0] < it[0.5] < it[0.0]
    assert it[1.0] <= 0.7 * it[0.0]
    with pytest.raises(ValueError, match="relax"):
        ic0(A, relax=1.5)


# ----------------------------------------------------------------------------- dense references
@pytest.mark.parametrize("mat", ["poisson", "nos4", "gr_30_30", "1138_bus"])
def test_ic0_factor_matches_A_on_pattern(mat):
    A = load(mat)
    P = ic0(A, shift="auto")
    assert P.shift == 0.0  # IC(0) exists for these: no automatic shift
    L = P.L
    assert sp.isspmatrix_csr(L) or sp.issparse(L)
    # lower triangular with the pattern of tril(A)
    assert sp.triu(L, k=1).nnz == 0
    Lt = sp.tril(A).tocsr()
    Lt.sort_indices()
    np.testing.assert_array_equal(L.indptr, Lt.indptr)
    np.testing.assert_array_equal(L.indices, Lt.indices)
    assert np.all(L.diagonal() > 0)
    prod = (L @ L.T).tocsr()
    rows, cols = A.nonzero()
    scale = abs(A).max()
    np.testing.assert_allclose(
        np.asarray(prod[rows, cols]).ravel(), np.asarray(A[rows, cols]).ravel(),
        rtol=1e-10, atol=1e-12 * scale,
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128, np.complex64])
def test_ic0_apply_matches_dense_solve(dtype):
    if np.dtype(dtype).kind == "c":
        A = complex_hermitian(8, dtype)
    else:
        A = load("nos4", dtype)
    P = ic0(A)
    L = P.L.toarray()
    if np.dtype(dtype).kind == "c":
        prod = L @ L.conj().T
        pat = A.toarray() != 0
        np.testing.assert_allclose(prod[pat], A.toarray().astype(np.complex128)[pat], atol=1e-6)
    rng = np.random.default_rng(4)
    r = rng.standard_normal(A.shape[0]).astype(dtype)
    if np.dtype(dtype).kind == "c":
        r = (r + 1j * rng.standard_normal(A.shape[0])).astype(dtype)
    ref = np.linalg.solve(L @ L.conj().T, r.astype(np.complex128))
    z = P.apply(r)
    assert z.dtype == dtype
    np.testing.assert_allclose(z, ref, rtol=0, atol=50 * EPS[_real(dtype)] * abs(ref).max())
    # the fused apply_dot returns Re(r^H z)
    out = np.empty_like(r)
    rz = P.apply_dot(r, out)
    np.testing.assert_allclose(rz, np.vdot(r, out).real, rtol=1e-5)


def _real(dtype):
    return np.float32 if np.dtype(dtype) in (np.float32, np.complex64) else np.float64


@pytest.mark.parametrize("omega", [1.0, 0.6, 1.5, 1.9])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_ssor_apply_matches_dense_formula(omega, dtype):
    A = complex_hermitian(6, dtype) if np.dtype(dtype).kind == "c" else load("nos4", dtype)
    Ad = A.toarray().astype(np.complex128)
    D = np.diag(np.diag(Ad))
    Lo, Up = np.tril(Ad, -1), np.triu(Ad, 1)
    # M^{-1} = w(2-w) (D + wU)^{-1} D (D + wL)^{-1} = (2-w)/w (D/w + U)^{-1} D (D/w + L)^{-1}
    Minv = omega * (2 - omega) * np.linalg.solve(D + omega * Up, D @ np.linalg.inv(D + omega * Lo))
    Minv2 = (2 - omega) / omega * np.linalg.solve(D / omega + Up, D @ np.linalg.inv(D / omega + Lo))
    np.testing.assert_allclose(Minv, Minv2, rtol=1e-9, atol=1e-12 * abs(Minv).max())
    P = ssor(A, omega=omega)
    Md = dense_M(P, A.shape[0], dtype)
    np.testing.assert_allclose(Md, Minv, rtol=0, atol=20 * EPS[_real(dtype)] * abs(Minv).max())


def test_ssor_omega_one_is_symmetric_gauss_seidel():
    A = load("nos4")
    Ad = A.toarray()
    r = np.random.default_rng(5).standard_normal(A.shape[0])
    # forward Gauss-Seidel sweep then backward sweep from x = 0
    x = sla.solve_triangular(np.tril(Ad), r, lower=True)
    x = x + sla.solve_triangular(np.triu(Ad), r - Ad @ x, lower=False)
    np.testing.assert_allclose(ssor(A).apply(r), x, rtol=1e-11, atol=1e-13)


def _cheb_dense(Ad, degree, lmin, lmax):
    """p(A) with 1 - x p(x) = T_k((theta - x)/delta) / T_k(theta/delta), by eigendecomposition."""
    w, V = np.linalg.eigh(Ad)
    theta, delta = (lmax + lmin) / 2, (lmax - lmin) / 2
    Tk = np.polynomial.chebyshev.Chebyshev.basis(degree)
    p = (1 - Tk((theta - w) / delta) / Tk(theta / delta)) / w
    return (V * p) @ V.conj().T, p


@pytest.mark.parametrize("degree", [1, 2, 3, 5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_chebyshev_apply_matches_polynomial(degree, dtype):
    A = complex_hermitian(6, dtype) if np.dtype(dtype).kind == "c" else poisson2d(10, dtype)
    P = chebyshev(A, degree=degree, jacobi=False)
    Ad = A.toarray().astype(np.complex128)
    ref, p = _cheb_dense(Ad, degree, P.lmin, P.lmax)
    assert np.all(p > 0)  # SPD polynomial on the whole spectrum
    Md = dense_M(P, A.shape[0], dtype)
    np.testing.assert_allclose(Md, ref, rtol=0, atol=50 * EPS[_real(dtype)] * abs(ref).max())
    # the Lanczos interval contains the spectrum (up to the safety factor) and lmin = lmax/30
    w = np.linalg.eigvalsh(Ad)
    assert w[-1] <= P.lmax <= 1.2 * w[-1]
    assert P.lmin == pytest.approx(P.lmax / 30)


def test_chebyshev_jacobi_scaling_is_congruence():
    A = load("bcsstk03")
    P = chebyshev(A, degree=4)
    assert P.jacobi
    d = A.diagonal()
    S = (sp.diags(d**-0.5) @ A @ sp.diags(d**-0.5)).toarray()
    ref, _ = _cheb_dense(S, 4, P.lmin, P.lmax)
    ref = np.diag(d**-0.5) @ ref @ np.diag(d**-0.5)
    np.testing.assert_allclose(dense_M(P, A.shape[0], np.float64), ref, atol=1e-9 * abs(ref).max())
    # far better than the unscaled polynomial on this badly scaled matrix
    b = np.ones(A.shape[0])
    scaled = lrsolve.cg(A, b, rtol=1e-8, precond=P)
    unscaled = lrsolve.cg(A, b, rtol=1e-8, precond=("chebyshev", {"degree": 4, "jacobi": False}))
    assert scaled.converged and unscaled.converged
    assert scaled.niter < unscaled.niter / 3


def test_chebyshev_user_interval_and_matrix_free():
    A = poisson2d(16)
    Lop = spla.aslinearoperator(A)  # matrix-free: only products
    P = chebyshev(Lop, degree=4, lmin=0.1, lmax=8.5)
    assert (P.lmin, P.lmax) == (0.1, 8.5) and not P.jacobi
    ref, _ = _cheb_dense(A.toarray(), 4, 0.1, 8.5)
    r = np.random.default_rng(6).standard_normal(A.shape[0])
    np.testing.assert_allclose(P.apply(r), ref @ r, rtol=1e-10, atol=1e-12)
    res = lrsolve.cg(Lop, np.ones(A.shape[0]), rtol=1e-8, precond=P)
    assert res.converged
    assert true_rel_residual(A, res.x, np.ones(A.shape[0])) <= 1.05e-8


# ----------------------------------------------------------------------------- symmetry
SYM_CASES = [(n, dt) for n in NAMES + ("amg-xp",) for dt in (np.float64, np.float32)]


@pytest.mark.parametrize("name,dtype", SYM_CASES)
def test_preconditioner_is_symmetric_positive_definite(name, dtype):
    A = load("gr_30_30", dtype)
    P = amg(A, cycle_backend="xp") if name == "amg-xp" else make(name, A)
    rng = np.random.default_rng(8)
    u = rng.standard_normal(A.shape[0]).astype(dtype)
    v = rng.standard_normal(A.shape[0]).astype(dtype)
    uMv, vMu = float(np.dot(u, P.apply(v))), float(np.dot(v, P.apply(u)))
    scale = np.linalg.norm(u) * np.linalg.norm(P.apply(v))
    assert abs(uMv - vMu) <= 10 * EPS[dtype] * scale
    assert float(np.dot(u, P.apply(u))) > 0
    if dtype == np.float64 and name != "amg":
        Md = dense_M(P, A.shape[0], dtype)
        np.testing.assert_allclose(Md, Md.T, atol=1e-11 * abs(Md).max())
        assert np.linalg.eigvalsh(0.5 * (Md + Md.T))[0] > 0


@pytest.mark.parametrize("name", ["ssor", "ic0", "chebyshev", "amg-xp"])
def test_complex_hermitian(name):
    A = complex_hermitian(12)
    n = A.shape[0]
    P = amg(A, cycle_backend="xp") if name == "amg-xp" else make(name, A)
    rng = np.random.default_rng(9)
    u = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    v = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    # Hermitian: u^H M v = conj(v^H M u); positive: u^H M u > 0
    assert np.vdot(u, P.apply(v)) == pytest.approx(np.conj(np.vdot(v, P.apply(u))), rel=1e-10)
    assert np.vdot(u, P.apply(u)).real > 0
    b = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    plain = lrsolve.cg(A, b, rtol=1e-8)
    res = lrsolve.cg(A, b, rtol=1e-8, precond=P)
    assert res.converged
    assert true_rel_residual(A, res.x, b) <= 1.05e-8
    assert res.niter < plain.niter


# ----------------------------------------------------------------------------- AMG specifics
def test_amg_pyamg_cycle_matches_aspreconditioner_and_pyamg_solve():
    pyamg = pytest.importorskip("pyamg")
    A = poisson2d(64)
    ml = pyamg.smoothed_aggregation_solver(A, max_coarse=10)
    P = amg(A, ml=ml)
    assert P.ml is ml and P.n_levels == len(ml.levels) >= 3
    assert P.operator_complexity == pytest.approx(ml.operator_complexity())
    r = np.random.default_rng(10).standard_normal(A.shape[0])
    ref = ml.aspreconditioner(cycle="V").matvec(r)
    np.testing.assert_allclose(P.apply(r), ref, rtol=1e-12, atol=1e-14 * abs(ref).max())
    # the hierarchy passed as A gives the same object behaviour
    np.testing.assert_allclose(amg(ml).apply(r), ref, rtol=1e-12, atol=1e-14 * abs(ref).max())
    # same iteration count as PyAMG's own CG with the same hierarchy (tolerance relative to b)
    b = np.ones(A.shape[0])
    residuals = []
    ml.solve(b, tol=1e-8, accel="cg", residuals=residuals)
    res = lrsolve.cg(A, b, rtol=1e-8, precond=P)
    assert res.converged
    assert abs(res.niter - (len(residuals) - 1)) <= 1
    with pytest.raises(TypeError, match="ml="):
        amg(A, ml=ml, max_coarse=5)


@pytest.mark.parametrize("smoother", ["chebyshev", "jacobi"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_amg_xp_cycle_on_numpy_is_good_preconditioner(smoother, dtype):
    A = poisson2d(64, dtype)
    P = amg(A, cycle_backend="xp", xp_smoother=smoother)
    assert isinstance(P, AMG) and P.cycle_backend == "xp"
    b = np.random.default_rng(11).standard_normal(A.shape[0]).astype(dtype)
    rtol = RTOL[dtype]
    res = lrsolve.cg(A, b, rtol=rtol, precond=P)
    assert res.converged
    assert res.niter <= (30 if dtype == np.float64 else 15)
    assert true_rel_residual(A, res.x, b) <= rtol * (1.05 if dtype == np.float64 else 2)


def test_amg_xp_cycle_is_spd_small():
    A = poisson2d(12)
    P = amg(A, cycle_backend="xp", max_coarse=10)
    assert P.n_levels >= 2
    Md = dense_M(P, A.shape[0], np.float64)
    np.testing.assert_allclose(Md, Md.T, atol=1e-12 * abs(Md).max())
    w = np.linalg.eigvalsh(Md @ np.eye(A.shape[0]))
    assert w[0] > 0
    # a good preconditioner: the spectrum of M A is clustered
    ev = np.sort(np.linalg.eigvals(Md @ A.toarray()).real)
    assert ev[-1] / ev[0] < 5


def test_amg_without_pyamg_raises_importerror(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyamg", None)
    with pytest.raises(ImportError, match=r"pip install lrsolve\[amg\]"):
        amg(poisson2d(8))


def test_amg_bad_options():
    A = poisson2d(8)
    with pytest.raises(ValueError, match="cycle_backend"):
        amg(A, cycle_backend="gpu")
    with pytest.raises(ValueError, match="xp_smoother"):
        amg(A, cycle_backend="xp", xp_smoother="sor")
    with pytest.raises(ValueError, match="xp_degree"):
        amg(A, cycle_backend="xp", xp_degree=0)
    pyamg = pytest.importorskip("pyamg")
    ml = pyamg.smoothed_aggregation_solver(poisson2d(9))
    with pytest.raises(ValueError, match="shape"):
        amg(A, ml=ml)


# ----------------------------------------------------------------------------- usage forms
@pytest.mark.parametrize("name", NAMES)
def test_usage_by_name_tuple_object_and_scipy_M(name):
    A = poisson2d(20)
    b = np.random.default_rng(12).standard_normal(A.shape[0])
    opts = {"ssor": {"omega": 1.3}, "ic0": {"shift": 0.0}, "chebyshev": {"degree": 4},
            "amg": {"max_coarse": 20}}[name]
    by_name = lrsolve.cg(A, b, rtol=1e-10, precond=name)
    by_tuple = lrsolve.cg(A, b, rtol=1e-10, precond=(name, opts))
    P = make(name, A, **opts)
    by_obj = lrsolve.cg(A, b, rtol=1e-10, precond=P)
    for res in (by_name, by_tuple, by_obj):
        assert res.converged
        assert true_rel_residual(A, res.x, b) <= 1.05e-10
    assert by_tuple.niter == by_obj.niter
    # SciPy's cg with M = the preconditioner's LinearOperator: same iterates
    Lop = P.aslinearoperator()
    assert Lop.shape == A.shape
    x, info = spla.cg(A, b, rtol=1e-10, atol=0.0, M=Lop, maxiter=500)
    assert info == 0
    assert true_rel_residual(A, x, b) <= 1.05e-10
    np.testing.assert_allclose(x, by_obj.x, rtol=0, atol=1e-7 * abs(x).max())
    assert P.setup_time > 0
    assert name in lrsolve.precond.available()
    assert type(P).__name__ in repr(P)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize(
    "name,opts", [("ssor", {"omega": 1.2}), ("ic0", {}), ("ic0", {"relax": 0.9})]
)
def test_numpy_engine_matches_numba_engine(name, opts, dtype):
    # the numpy engine runs the sparse-triangular-solve path that the GPU also uses
    A = complex_hermitian(8, dtype) if np.dtype(dtype).kind == "c" else load("nos4", dtype)
    r = np.random.default_rng(13).standard_normal(A.shape[0]).astype(dtype)
    z_numba = make(name, A, **opts).apply(r)
    with lrsolve.backend(engine="numpy"):
        P = make(name, A, **opts)
        assert P.backend.engine == "numpy"
        z_numpy = P.apply(r)
        out = np.empty_like(r)
        rz = P.apply_dot(r, out)
        b = np.ones(A.shape[0], dtype)
        res = lrsolve.cg(A, b, rtol=RTOL[_real(dtype)], precond=(name, opts))
    assert z_numpy.dtype == dtype
    np.testing.assert_allclose(rz, np.vdot(r, z_numpy).real, rtol=1e-5)
    tol = 50 * EPS[_real(dtype)] * abs(z_numba).max()
    np.testing.assert_allclose(z_numpy, z_numba, rtol=0, atol=tol)
    assert res.converged


@pytest.mark.parametrize("kind", ["dense", "csc", "unsorted_csr", "operator"])
@pytest.mark.parametrize("name", NAMES)
def test_input_formats_and_inputs_not_modified(name, kind):
    A = poisson2d(10)
    if kind == "dense":
        Ain = A.toarray()
    elif kind == "csc":
        Ain = A.tocsc()
    elif kind == "unsorted_csr":
        Ain = A.copy()
        for i in range(Ain.shape[0]):  # reverse the column order inside each row
            s, e = Ain.indptr[i], Ain.indptr[i + 1]
            Ain.indices[s:e] = Ain.indices[s:e][::-1].copy()
            Ain.data[s:e] = Ain.data[s:e][::-1].copy()
        Ain.has_sorted_indices = False
    else:
        Ain = lrsolve.operators.as_operator(A)
    snap = (
        Ain.copy() if kind == "dense"
        else None if kind == "operator"
        else (Ain.data.copy(), Ain.indices.copy(), Ain.indptr.copy())
    )
    P = make(name, Ain)
    r = np.random.default_rng(14).standard_normal(A.shape[0])
    r0 = r.copy()
    z = P.apply(r)
    np.testing.assert_array_equal(r, r0)
    np.testing.assert_allclose(z, make(name, A).apply(r), rtol=1e-12, atol=1e-14)
    if kind == "dense":
        np.testing.assert_array_equal(Ain, snap)
    elif kind != "operator":
        for a, s in zip((Ain.data, Ain.indices, Ain.indptr), snap, strict=True):
            np.testing.assert_array_equal(a, s)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("omega", [0.0, 2.0, -0.5, 2.5, float("nan"), float("inf")])
def test_ssor_omega_out_of_range(omega):
    with pytest.raises(ValueError, match="omega"):
        ssor(poisson2d(4), omega=omega)


def test_ssor_omega_type():
    with pytest.raises(TypeError, match="omega"):
        ssor(poisson2d(4), omega="1.2")


@pytest.mark.parametrize("degree", [0, -1, 1.5, True])
def test_chebyshev_bad_degree(degree):
    with pytest.raises(ValueError, match="degree"):
        chebyshev(poisson2d(4), degree=degree)


def test_chebyshev_bad_interval_and_indefinite():
    A = poisson2d(6)
    with pytest.raises(ValueError, match="lmin"):
        chebyshev(A, lmin=5.0, lmax=1.0)
    with pytest.raises(ValueError, match="lmax"):
        chebyshev(A, lmax=-1.0)
    with pytest.raises(ValueError, match="lanczos_steps"):
        chebyshev(A, lanczos_steps=0)
    with pytest.raises(ValueError, match="positive definite"):
        chebyshev(-A, jacobi=False)
    with pytest.raises(ValueError, match="jacobi"):
        chebyshev(A, jacobi="yes")


@pytest.mark.parametrize("name", ["ssor", "ic0", "amg"])
def test_matrix_free_operator_rejected(name):
    Lop = spla.aslinearoperator(poisson2d(6))
    with pytest.raises(TypeError, match="explicit matrix"):
        make(name, Lop)
    # and by name inside cg, with the same clear error
    with pytest.raises(TypeError, match=f"precond='{name}'"):
        lrsolve.cg(Lop, np.ones(36), precond=name)


@pytest.mark.parametrize("name", NAMES)
def test_non_square_rejected(name):
    with pytest.raises(ValueError, match="square"):
        make(name, sp.random(6, 5, density=0.5, format="csr", random_state=0))


def test_ic0_indefinite_matrix():
    A = poisson2d(6) - 2.5 * sp.eye(36)  # indefinite, positive diagonal
    with pytest.raises(ValueError, match=r"row \d+.*shift="):
        ic0(A)
    # the automatic shift makes some A + s*diag(A) factor; CG then reports A as indefinite
    P = ic0(A, shift="auto")
    assert P.shift > 0.1
    res = lrsolve.cg(A, np.ones(36), precond=P)
    assert not res.converged and res.info == -1
    with pytest.raises(ValueError, match="A\\[0, 0\\]"):
        ic0(-poisson2d(4))
    with pytest.raises(ValueError, match="Hermitian"):
        ic0(sp.csr_matrix(np.array([[4.0, 1.0], [0.0, 4.0]])))
    with pytest.raises(ValueError, match="shift"):
        ic0(poisson2d(4), shift=-1.0)


def test_ic0_kershaw_breakdown_and_auto_shift():
    # Kershaw's SPD matrix: IC(0) meets a negative pivot at the last row
    K = np.array([[3.0, -2, 0, 2], [-2, 3, -2, 0], [0, -2, 3, -2], [2, 0, -2, 3]])
    assert np.linalg.eigvalsh(K)[0] > 0
    with pytest.raises(ValueError, match="row 3"):
        ic0(K)
    P = ic0(K, shift="auto")
    assert P.shift > 0
    res = lrsolve.cg(K, np.ones(4), rtol=1e-12, precond=P)
    assert res.converged
    assert true_rel_residual(sp.csr_matrix(K), res.x, np.ones(4)) <= 1e-12


def test_ssor_nonpositive_diagonal():
    A = poisson2d(4).tolil()
    A[3, 3] = 0.0
    with pytest.raises(ValueError, match=r"A\[3, 3\]"):
        ssor(A.tocsr())


# ----------------------------------------------------------------------------- GPU
gpu = pytest.mark.skipif(not lrsolve.cupy_available(), reason="needs CuPy and a CUDA device")


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_gpu_pcg_matches_cpu(name, dtype):
    import cupy as cp
    import cupyx.scipy.sparse as csp

    A = poisson2d(32, dtype)
    b = np.random.default_rng(15).standard_normal(A.shape[0]).astype(dtype)
    Ad, bd = csp.csr_matrix(A), cp.asarray(b)
    P = make(name, Ad)
    assert P.backend.name == "cupy"
    r = np.random.default_rng(16).standard_normal(A.shape[0]).astype(dtype)
    z_gpu = cp.asnumpy(P.apply(cp.asarray(r)))
    Pc = make(name, A, cycle_backend="xp") if name == "amg" else make(name, A)
    np.testing.assert_allclose(
        z_gpu, Pc.apply(r), rtol=0, atol=100 * EPS[dtype] * abs(z_gpu).max()
    )
    res = lrsolve.cg(Ad, bd, rtol=RTOL[dtype], precond=P)
    assert res.converged
    assert isinstance(res.x, cp.ndarray)
    assert true_rel_residual(A, cp.asnumpy(res.x), b) <= RTOL[dtype] * 2


@pytest.mark.gpu
@gpu
def test_gpu_chebyshev_matrix_free_and_complex():
    import cupy as cp
    import cupyx.scipy.sparse as csp
    import cupyx.scipy.sparse.linalg as cspla

    A = complex_hermitian(10)
    Ad = csp.csr_matrix(A)
    P = chebyshev(cspla.aslinearoperator(Ad), degree=4)
    r = np.random.default_rng(17).standard_normal(A.shape[0]) + 0j
    ref, _ = _cheb_dense(A.toarray(), 4, P.lmin, P.lmax)
    np.testing.assert_allclose(cp.asnumpy(P.apply(cp.asarray(r))), ref @ r, atol=1e-10)
    P2 = ic0(Ad)
    np.testing.assert_allclose(
        cp.asnumpy(P2.apply(cp.asarray(r))), ic0(A).apply(r), rtol=1e-10, atol=1e-12
    )


# ----------------------------------------------------------------------------- AMG re-use
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_amg_with_matrix_is_the_galerkin_hierarchy_of_the_new_matrix(dtype):
    pyamg = pytest.importorskip("pyamg")
    p0, p1 = lrsolve.problems.darcy_sequence(2, (24, 24), rng=3, dtype=dtype)
    M0 = amg(p0.A, max_coarse=10)
    levels0 = [lvl.A.copy() for lvl in M0.ml.levels]
    M1 = M0.with_matrix(p1.A)
    assert isinstance(M1, AMG) and M1.n_levels == M0.n_levels and M1.dtype == dtype
    # the same transfer operators; every level matrix is R A P of the new finer one
    A_l = p1.A.astype(np.float64)
    for lvl0, lvl1 in zip(M0.ml.levels, M1.ml.levels, strict=True):
        assert abs(lvl1.A - A_l).max() <= 1e-12 * abs(A_l).max()
        if hasattr(lvl0, "P"):
            assert lvl1.P is lvl0.P and lvl1.R is lvl0.R
            A_l = lvl0.R @ A_l @ lvl0.P
    # the original hierarchy is untouched
    for a, lvl in zip(levels0, M0.ml.levels, strict=True):
        assert abs(a - lvl.A).max() == 0
    # one V-cycle of the re-used hierarchy equals PyAMG's own cycle on it
    r = np.random.default_rng(0).standard_normal(p1.A.shape[0]).astype(dtype)
    ml1 = pyamg.multilevel.MultilevelSolver(
        [lvl for lvl in M1.ml.levels], coarse_solver="pinv")
    pyamg.relaxation.smoothing.change_smoothers(
        ml1, ("block_gauss_seidel", {"sweep": "symmetric"}),
        ("block_gauss_seidel", {"sweep": "symmetric"}))
    ref = ml1.aspreconditioner() @ r.astype(np.float64)
    np.testing.assert_allclose(M1.apply(r), ref, rtol=RTOL[dtype],
                               atol=RTOL[dtype] * abs(ref).max())
    # and it is a good preconditioner for the new matrix
    res = lrsolve.cg(p1.A, p1.b, rtol=RTOL[dtype], precond=M1)
    fresh = lrsolve.cg(p1.A, p1.b, rtol=RTOL[dtype], precond="amg")
    assert res.converged and res.niter <= 1.5 * fresh.niter + 2
    x = res.x.astype(np.float64)
    b = p1.b.astype(np.float64)
    assert np.linalg.norm(b - p1.A.astype(np.float64) @ x) <= 2 * RTOL[dtype] * np.linalg.norm(b)


def test_amg_with_matrix_bad_input():
    pytest.importorskip("pyamg")
    M = amg(poisson2d(10))
    with pytest.raises(ValueError, match="same shape"):
        M.with_matrix(poisson2d(11))
    bad = poisson2d(10).tolil()
    bad[3, 3] = -1.0
    with pytest.raises(ValueError, match="not positive definite"):
        M.with_matrix(bad.tocsr())


# ------------------------------------------------------------- the lean Gauss-Seidel V-cycle
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "options",
    [
        {},  # PyAMG's SA default: symmetric (block) Gauss-Seidel, BSR coarse levels
        {"presmoother": ("gauss_seidel", {"sweep": "forward", "iterations": 2}),
         "postsmoother": ("gauss_seidel", {"sweep": "backward", "iterations": 2})},
        {"presmoother": ("jacobi", {"omega": 0.6}), "postsmoother": ("jacobi", {"omega": 0.6})},
    ],
    ids=["default", "gs-forward-backward", "jacobi-fallback"],
)
def test_amg_cycle_equals_pyamg_cycle(dtype, options):
    pytest.importorskip("pyamg")
    A = lrsolve.problems.darcy_sequence(1, (30, 30), rng=5, dtype=dtype)[0].A
    M = amg(A, max_coarse=20, **options)
    assert M.n_levels >= 3
    # the lean cycle runs for Gauss-Seidel smoothers; other smoothers use PyAMG's own
    assert (M._gs_cycle is None) == ("jacobi" in str(options))
    r = np.random.default_rng(1).standard_normal(A.shape[0]).astype(dtype)
    ref = M.ml.aspreconditioner(cycle="V") @ r.astype(np.float64)
    z = M.apply(r)
    assert z.dtype == dtype
    np.testing.assert_allclose(z, ref, rtol=0, atol=10 * EPS[dtype] * abs(ref).max())
    res = lrsolve.cg(A, np.ones(A.shape[0], dtype=dtype), rtol=RTOL[dtype], precond=M)
    assert res.converged and res.niter <= 30


def test_amg_with_matrix_shares_csr_transfer_operators():
    pytest.importorskip("pyamg")
    p0, p1, p2 = lrsolve.problems.darcy_sequence(3, (24, 24), rng=2)
    M0 = amg(p0.A, max_coarse=10)
    M1, M2 = M0.with_matrix(p1.A), M0.with_matrix(p2.A)
    # the CSR copies of P and R are made once and shared by every copy's cycle
    for lv0, lv1, lv2 in zip(M0._gs_cycle.levels, M1._gs_cycle.levels, M2._gs_cycle.levels,
                             strict=True):
        assert lv1[3] is lv0[3] and lv2[4] is lv0[4]
        assert lv1[0].format == "csr"
    r = np.random.default_rng(0).standard_normal(p2.A.shape[0])
    ref = M2.ml.aspreconditioner(cycle="V") @ r
    np.testing.assert_allclose(M2.apply(r), ref, rtol=0, atol=1e-12 * abs(ref).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("name", ["jacobi", "ic0"])
def test_unapply_inverts_apply(name, engine, dtype):
    # _unapply is M^{-1} (diag(A), L L^H): M (M^{-1} u) = u, and M^{-1} u = diag(A) u for
    # Jacobi, L (L^H u) for IC(0); recycling solvers use it to carry spaces over
    A = complex_hermitian(8, dtype) if np.dtype(dtype).kind == "c" else load("nos4", dtype)
    u = np.random.default_rng(5).standard_normal(A.shape[0]).astype(dtype)
    u0 = u.copy()
    with lrsolve.backend(engine=engine):
        P = lrsolve.precond.jacobi(A) if name == "jacobi" else make(name, A)
        w = np.empty_like(u)
        P._unapply(u, w)
        back = P.apply(w)
    np.testing.assert_array_equal(u, u0)
    ref = A.diagonal() * u if name == "jacobi" else P.L @ (P.L.conj().T @ u)
    tol = 100 * EPS[_real(dtype)]
    assert np.linalg.norm(w - ref) <= tol * np.linalg.norm(ref)
    assert np.linalg.norm(back - u) <= 1e3 * tol * np.linalg.norm(u)


@pytest.mark.parametrize("name", ["ssor", "chebyshev", "amg"])
def test_unapply_absent_where_no_cheap_inverse(name):
    A = load("nos4", np.float64)
    assert make(name, A)._unapply is None


@pytest.mark.parametrize("name", ["jacobi", "ssor", "ic0", "chebyshev", "amg"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_preconditioner_vector_length_and_scipy_linear_operator(name, dtype):
    A = lrsolve.operators.poisson((6, 6)).tocsr().astype(dtype)
    n = A.shape[0]
    P = getattr(lrsolve.precond, name)(A)
    with pytest.raises(ValueError, match=f"{n} entries"):
        P @ np.ones(n - 3, dtype=dtype)
    # SciPy's LinearOperator contract: (n,), (n, 1) and matrices
    L = P.aslinearoperator()
    X = np.random.default_rng(0).standard_normal((n, 3)).astype(dtype)
    ref = np.stack([P @ X[:, j] for j in range(3)], axis=1)
    np.testing.assert_allclose(L.matvec(X[:, :1])[:, 0], ref[:, 0], rtol=1e-6)
    np.testing.assert_allclose(L @ X, ref, rtol=1e-6)
