"""lrsolve.operators.poisson: the matrix-free finite-difference Laplacian.

Every kernel (Numba, the plain NumPy reference, CUDA) is checked against an
explicit matrix; the explicit matrix (``tocsr()``) is checked against
references built independently here (Kronecker sums of 1-D second-difference
matrices; a loop-by-loop assembly of the variable-coefficient operator) and
against the analytical eigenvalues.
"""

import math
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

import lrsolve
from lrsolve._kernels import _numba_stencil, _reference_stencil
from lrsolve.operators import PoissonOperator, as_operator, poisson

BCS = ["dirichlet", "neumann", "periodic"]
SHAPES = [(7,), (4, 6), (3, 4, 5)]


# ----------------------------------------------------------------------------- references
def second_difference(n, h, bc):
    """1-D matrix of -u'' on n points with spacing h (independent of lrsolve)."""
    T = 2.0 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
    if bc == "neumann":
        T[0, 0] -= 1.0
        T[-1, -1] -= 1.0
    elif bc == "periodic" and n > 1:
        T[0, -1] -= 1.0
        T[-1, 0] -= 1.0
    elif bc == "periodic":
        T[0, 0] = 0.0
    return sp.csr_matrix(T / h**2)


def kron_sum(shape, spacing, bcs):
    """sum_d I x ... x T_d x ... x I (C order: the last axis is fastest)."""
    nd = len(shape)
    A = None
    for d in range(nd):
        term = sp.identity(1, format="csr")
        for e in range(nd):
            f = second_difference(shape[e], spacing[e], bcs[e]) if e == d else sp.identity(shape[e])
            term = sp.kron(term, f, format="csr")
        A = term if A is None else A + term
    return A.tocsr()


def variable_coef_2d(k, h, bc):
    """-div(k grad u) on a 2-D grid, assembled node by node with harmonic face means."""
    n0, n1 = k.shape
    N = n0 * n1
    A = np.zeros((N, N))

    def hm(a, b):
        return 2.0 * a * b / (a + b)

    for i in range(n0):
        for j in range(n1):
            p = i * n1 + j
            for axis, (m, idx) in enumerate(((n0, i), (n1, j))):
                for step in (-1, 1):
                    q_idx = idx + step
                    inside = 0 <= q_idx < m
                    if not inside and bc == "neumann":
                        continue
                    if not inside and bc == "dirichlet":
                        A[p, p] += k[i, j] / h[axis] ** 2  # coefficient continued to the wall
                        continue
                    q_idx %= m
                    if q_idx == idx:  # periodic axis of length 1
                        continue
                    qi, qj = (q_idx, j) if axis == 0 else (i, q_idx)
                    f = hm(k[i, j], k[qi, qj]) / h[axis] ** 2
                    A[p, p] += f
                    A[p, qi * n1 + qj] -= f
    return sp.csr_matrix(A)


def analytic_eigs(shape, spacing, bc):
    """Eigenvalues of the constant-coefficient operator from the 1-D ones."""
    ones = []
    for n, h in zip(shape, spacing, strict=True):
        if bc == "dirichlet":
            j = np.arange(1, n + 1)
            lam = 4.0 / h**2 * np.sin(np.pi * j / (2 * (n + 1))) ** 2
        elif bc == "neumann":
            j = np.arange(n)
            lam = 4.0 / h**2 * np.sin(np.pi * j / (2 * n)) ** 2
        else:
            j = np.arange(n)
            lam = 4.0 / h**2 * np.sin(np.pi * j / n) ** 2
        ones.append(lam)
    total = ones[0]
    for lam in ones[1:]:
        total = np.add.outer(total, lam).ravel()
    return np.sort(total)


def _spacing(shape):
    return tuple(0.5 + 0.25 * d for d in range(len(shape)))


def _rand(rng, n, dtype):
    x = rng.standard_normal(n)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(n)
    return x.astype(dtype)


def _tol(*dtypes):
    return 2e-5 if any(np.dtype(d) in (np.float32, np.complex64) for d in dtypes) else 1e-12


# ----------------------------------------------------------------------------- tocsr
@pytest.mark.parametrize("bc", BCS)
@pytest.mark.parametrize("shape", SHAPES + [(1,), (2,), (2, 1), (1, 2, 2), (5, 2, 1)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tocsr_equals_kron_sum(shape, bc, dtype):
    spacing = _spacing(shape)
    op = poisson(shape, spacing=spacing, bc=bc, dtype=dtype)
    A = op.tocsr()
    R = kron_sum(shape, spacing, (bc,) * len(shape))
    assert isinstance(A, sp.csr_matrix) and A.has_canonical_format
    assert A.shape == R.shape == op.shape == (math.prod(shape),) * 2
    assert A.dtype == dtype
    err = abs(A.astype(np.float64) - R).max() if R.nnz else 0.0
    assert err <= _tol(dtype) * abs(R).max()
    # symmetric, with the documented diagonal
    assert abs(A - A.T).max() == 0
    np.testing.assert_allclose(op.diagonal(), R.diagonal(), rtol=_tol(dtype))
    assert op.diagonal().dtype == dtype


def test_tocsr_mixed_boundaries_and_scalar_spacing():
    bcs = ("periodic", "dirichlet", "neumann")
    op = poisson((3, 4, 2), spacing=0.1, bc=bcs)
    R = kron_sum((3, 4, 2), (0.1,) * 3, bcs)
    assert abs(op.tocsr() - R).max() <= 1e-12 * abs(R).max()
    assert op.bc == bcs and op.positive_definite
    assert op.spacing == (0.1, 0.1, 0.1)


@pytest.mark.parametrize("bc", BCS)
@pytest.mark.parametrize("shape", [(5, 4), (1, 3), (2, 2)])
def test_tocsr_variable_coefficient_2d(shape, bc, rng):
    k = np.exp(rng.normal(size=shape))
    h = (0.5, 0.8)
    op = poisson(shape, spacing=h, bc=bc, coef=k)
    R = variable_coef_2d(k, h, bc)
    A = op.tocsr()
    assert abs(A - R).max() <= 1e-12 * abs(R).max()
    assert abs(A - A.T).max() == 0
    np.testing.assert_allclose(op.diagonal(), R.diagonal(), rtol=1e-12)


# ----------------------------------------------------------------------------- kernels
def _check_products(op, dt, rng):
    """matvec, matvec_dot and residual of ``op`` against ``tocsr()`` for vectors of dtype ``dt``."""
    A = op.tocsr().astype(np.complex128)
    x = _rand(rng, op.shape[0], dt)
    b = _rand(rng, op.shape[0], dt)
    ref = A @ x.astype(np.complex128)
    tol = _tol(op.dtype, dt) * (np.abs(ref).max() + 1)
    y = op @ x
    assert y.dtype == np.result_type(op.dtype, dt)
    assert np.abs(y - ref).max() <= tol
    out = np.empty(op.shape[0], dtype=y.dtype)
    s = op.matvec_dot(x, out)
    assert np.abs(out - ref).max() <= tol
    xAx = np.vdot(x.astype(np.complex128), ref).real
    assert float(s) == pytest.approx(xAx, rel=10 * _tol(op.dtype, dt))
    r2 = op.residual(x, b, out)
    want = b - ref
    assert np.abs(out - want).max() <= tol + _tol(dt) * np.abs(b).max()
    assert float(r2) == pytest.approx(np.vdot(want, want).real, rel=10 * _tol(op.dtype, dt))


@pytest.mark.parametrize("var", [False, True], ids=["const", "coef"])
@pytest.mark.parametrize("bc", BCS)
@pytest.mark.parametrize("shape", SHAPES)
def test_matvec_matches_tocsr(shape, bc, var, engine, rng):
    coef = rng.uniform(0.5, 2.0, shape) if var else None
    op = poisson(shape, spacing=_spacing(shape), bc=bc, coef=coef)
    assert op.backend.engine == engine
    # complex vectors on every grid in test_matvec_all_dtype_pairs (slow: more Numba variants)
    dtypes = (np.float32, np.float64) + ((np.complex128,) if len(shape) == 3 else ())
    for dt in dtypes:
        _check_products(op, dt, rng)
    op32 = poisson(shape, spacing=_spacing(shape), bc=bc, coef=coef, dtype=np.float32)
    _check_products(op32, np.float32, rng)


@pytest.mark.slow
@pytest.mark.parametrize("var", [False, True], ids=["const", "coef"])
@pytest.mark.parametrize("shape", SHAPES)
def test_matvec_all_dtype_pairs(shape, var, engine, rng):
    coef = rng.uniform(0.5, 2.0, shape) if var else None
    for bc in BCS:
        for op_dtype in (np.float32, np.float64):
            op = poisson(shape, bc=bc, coef=coef, dtype=op_dtype)
            for dt in (np.float32, np.float64, np.complex64, np.complex128):
                _check_products(op, dt, rng)


@pytest.mark.parametrize("var", [False, True], ids=["const", "coef"])
@pytest.mark.parametrize(
    "shape",
    [
        pytest.param((5000,), marks=pytest.mark.slow),
        pytest.param((60, 37), marks=pytest.mark.slow),
        (9, 10, 33),
    ],
)
def test_numba_parallel_matches_serial_and_reference(shape, var, rng):
    coef = rng.uniform(0.5, 2.0, shape) if var else None
    for bc in BCS:
        op = poisson(shape, bc=bc, coef=coef)
        args = (op._weights, op._codes, op._face_arrays)
        x = rng.standard_normal(shape)
        b = rng.standard_normal(shape)
        ref = _reference_stencil.apply(x, *args)
        for parallel in (False, True):
            out = np.empty(shape)
            s = _numba_stencil.poisson_stencil(x, None, out, 1, *args, parallel=parallel)
            np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-13)
            assert s == pytest.approx(float(np.vdot(x, ref)), rel=1e-12)
            s = _numba_stencil.poisson_stencil(x, b, out, 2, *args, parallel=parallel)
            np.testing.assert_allclose(out, b - ref, rtol=1e-13, atol=1e-13)
            assert s == pytest.approx(float(np.vdot(b - ref, b - ref)), rel=1e-12)


@pytest.mark.slow
def test_numba_parallel_complex(rng):
    op = poisson((6, 7, 40), bc="periodic", coef=rng.uniform(1, 2, (6, 7, 40)))
    args = (op._weights, op._codes, op._face_arrays)
    x = rng.standard_normal(op.grid_shape) + 1j * rng.standard_normal(op.grid_shape)
    out = np.empty_like(x)
    s = _numba_stencil.poisson_stencil(x, None, out, 1, *args, parallel=True)
    ref = (op.tocsr() @ x.ravel()).reshape(x.shape)
    np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-13)
    assert s == pytest.approx(np.vdot(x, ref).real, rel=1e-12)


def test_matvec_handles_strided_and_integer_vectors(rng):
    op = poisson((5, 6))
    A = op.tocsr()
    x = rng.standard_normal(2 * op.shape[0])[::2]  # not contiguous
    np.testing.assert_allclose(op @ x, A @ x, rtol=1e-13, atol=1e-13)
    out = np.empty(2 * op.shape[0])[::2]
    op.matvec(x, out=out)
    np.testing.assert_allclose(out, A @ x, rtol=1e-13, atol=1e-13)
    xi = np.arange(op.shape[0])
    np.testing.assert_allclose(op @ xi, A @ xi, rtol=1e-13)
    X = rng.standard_normal((op.shape[0], 3))
    np.testing.assert_allclose(op @ X, A @ X, rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match="entries"):
        op.matvec(np.ones(7))


def test_constant_vectors_span_the_null_space_of_neumann_and_periodic():
    for bc in ("neumann", "periodic"):
        for var in (None, np.linspace(1, 3, 60).reshape(3, 4, 5)):
            op = poisson((3, 4, 5), bc=bc, coef=var)
            assert not op.positive_definite
            np.testing.assert_array_equal(op @ np.ones(60), 0.0)  # flux form: exactly zero


# ----------------------------------------------------------------------------- spectrum
@pytest.mark.parametrize("bc", BCS)
@pytest.mark.parametrize("shape", [(9,), (4, 5), (3, 2, 4)])
def test_eigenvalues_are_analytic(shape, bc):
    spacing = _spacing(shape)
    A = poisson(shape, spacing=spacing, bc=bc).tocsr().toarray()
    np.testing.assert_array_equal(A, A.T)
    lam = np.linalg.eigvalsh(A)
    want = analytic_eigs(shape, spacing, bc)
    np.testing.assert_allclose(lam, want, rtol=1e-10, atol=1e-10 * want.max())
    if bc == "dirichlet":
        assert lam.min() > 0
    else:
        assert abs(lam.min()) <= 1e-10 * lam.max()  # singular: constants


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_variable_coefficient_dirichlet_is_spd(dtype, rng):
    k = np.exp(2 * rng.normal(size=(6, 7)))
    A = poisson((6, 7), coef=k, dtype=dtype).tocsr().toarray().astype(np.float64)
    np.testing.assert_array_equal(A, A.T)
    assert np.linalg.eigvalsh(A).min() > 0


# ----------------------------------------------------------------------------- solving
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("var", [False, True], ids=["const", "coef"])
@pytest.mark.parametrize("shape", [(50,), (20, 17), (8, 7, 9)])
def test_cg_solves_and_agrees_with_spsolve(shape, var, dtype, engine, rng):
    coef = rng.uniform(0.5, 2.0, shape) if var else None
    op = poisson(shape, spacing=_spacing(shape), coef=coef, dtype=dtype)
    b = rng.standard_normal(op.shape[0]).astype(dtype)
    # float32: a tolerance that float32 arithmetic can reach at cond(A) ~ 1e3
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    res = lrsolve.cg(op, b, rtol=rtol, maxiter=2000)
    assert res.converged, res.message
    assert res.x.dtype == dtype
    A = op.tocsr().astype(np.float64)
    exact = sla.spsolve(A.tocsc(), b.astype(np.float64))
    rel = np.linalg.norm(b - A @ res.x) / np.linalg.norm(b)
    assert rel <= rtol * (1.0 if dtype == np.float64 else 1.5)
    err = np.linalg.norm(res.x - exact) / np.linalg.norm(exact)
    cond = np.linalg.cond(A.toarray()) if A.shape[0] <= 600 else 1e4
    assert err <= 10 * cond * rtol


def test_cg_iterations_equal_csr_and_preconditioners_work(rng):
    op = poisson((24, 24), coef=np.exp(rng.normal(size=(24, 24))))
    b = rng.standard_normal(op.shape[0])
    free = lrsolve.cg(op, b, rtol=1e-8)
    csr = lrsolve.cg(op.tocsr(), b, rtol=1e-8)
    assert free.converged and csr.converged
    assert abs(free.niter - csr.niter) <= 1
    np.testing.assert_allclose(free.x, csr.x, rtol=1e-6, atol=1e-8 * np.abs(csr.x).max())
    jac = lrsolve.cg(op, b, rtol=1e-8, precond="jacobi")
    assert jac.converged and jac.niter < free.niter
    if "ic0" in lrsolve.precond.available():
        ic = lrsolve.cg(op, b, rtol=1e-8, precond="ic0")
        assert ic.converged and ic.niter < jac.niter


def test_cg_complex_rhs(rng):
    op = poisson((12, 10))
    b = _rand(rng, op.shape[0], np.complex128)
    res = lrsolve.cg(op, b, rtol=1e-10)
    assert res.converged and res.x.dtype == np.complex128
    assert np.linalg.norm(b - op.tocsr() @ res.x) <= 1e-10 * np.linalg.norm(b)


@pytest.mark.parametrize("bc", ["neumann", "periodic"])
def test_cg_singular_with_compatible_rhs(bc, rng):
    op = poisson((16, 12), bc=bc, coef=np.exp(rng.normal(size=(16, 12))))
    b = rng.standard_normal(op.shape[0])
    b -= b.mean()  # orthogonal to the null space (constants)
    res = lrsolve.cg(op, b, rtol=1e-9)
    assert res.converged
    assert np.linalg.norm(b - op.tocsr() @ res.x) <= 1e-9 * np.linalg.norm(b)


# ----------------------------------------------------------------------------- input handling
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"shape": (0, 3)}, ValueError, "shape"),
        ({"shape": (4, -2)}, ValueError, "shape"),
        ({"shape": 0}, ValueError, "shape"),
        ({"shape": (2, 2, 2, 2)}, ValueError, "1, 2 or 3"),
        ({"shape": ()}, ValueError, "1, 2 or 3"),
        ({"shape": (2.5, 3)}, TypeError, "shape"),
        ({"shape": "abc"}, TypeError, "shape"),
        ({"shape": None}, TypeError, "shape"),
        ({"shape": (3, 3), "bc": "robin"}, ValueError, "bc"),
        ({"shape": (3, 3), "bc": ("dirichlet",)}, ValueError, "bc"),
        ({"shape": (3, 3), "bc": 3}, ValueError, "bc"),
        ({"shape": (3, 3), "spacing": 0.0}, ValueError, "spacing"),
        ({"shape": (3, 3), "spacing": -1.0}, ValueError, "spacing"),
        ({"shape": (3, 3), "spacing": float("nan")}, ValueError, "spacing"),
        ({"shape": (3, 3), "spacing": (1.0, 0.0)}, ValueError, "spacing"),
        ({"shape": (3, 3), "spacing": (1.0, 1.0, 1.0)}, ValueError, "spacing"),
        ({"shape": (3, 3), "spacing": "1"}, TypeError, "spacing"),
        ({"shape": (3, 3), "coef": np.ones((3, 4))}, ValueError, "coef"),
        ({"shape": (3, 3), "coef": np.ones(9)}, ValueError, "coef"),
        ({"shape": (3, 3), "coef": np.zeros((3, 3))}, ValueError, "coef"),
        ({"shape": (3, 3), "coef": -np.ones((3, 3))}, ValueError, "coef"),
        ({"shape": (3, 3), "coef": np.full((3, 3), np.nan)}, ValueError, "NaN"),
        ({"shape": (3, 3), "coef": np.full((3, 3), np.inf)}, ValueError, "NaN"),
        ({"shape": (3, 3), "coef": np.ones((3, 3), complex)}, TypeError, "coef"),
        ({"shape": (3, 3), "coef": "ones"}, TypeError, "coef"),
        ({"shape": (3, 3), "dtype": np.complex128}, TypeError, "dtype"),
        ({"shape": (3, 3), "dtype": np.int64}, TypeError, "dtype"),
        ({"shape": (3, 3), "backend": "torch"}, ValueError, "backend"),
        ({"shape": (3,), "coef": np.full(3, 1e-60), "dtype": np.float32}, ValueError, "float32"),
    ],
)
def test_bad_input_raises_clear_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        poisson(**kwargs)


def test_coef_is_copied_never_modified(rng):
    k = rng.uniform(1, 2, (5, 6))
    k_before = k.copy()
    op = poisson((5, 6), coef=k)
    op @ rng.standard_normal(30)
    lrsolve.cg(op, np.ones(30))
    np.testing.assert_array_equal(k, k_before)
    assert op.coef is not k
    np.testing.assert_array_equal(op.coef, k)
    assert not op.coef.flags.writeable
    k[...] = 100.0  # later changes of the caller's array do not leak in
    np.testing.assert_array_equal(op.coef, k_before)
    # integer coefficients are accepted (promoted)
    op_int = poisson((2, 3), coef=np.ones((2, 3), dtype=np.int64))
    assert abs(op_int.tocsr() - poisson((2, 3)).tocsr()).max() == 0


def test_attributes_and_repr():
    op = poisson(10, spacing=0.5, bc="Neumann", dtype=np.float32)
    assert isinstance(op, PoissonOperator) and isinstance(op, lrsolve.operators.Operator)
    assert op.grid_shape == (10,) and op.shape == (10, 10) and op.dtype == np.float32
    assert op.bc == "neumann" and op.coef is None and not op.positive_definite
    assert op.backend.name == "numpy" and op._lrsolve_backend == "numpy"
    assert "PoissonOperator" in repr(op) and "(10,)" in repr(op)
    L = op.aslinearoperator()
    x = np.arange(10.0)
    np.testing.assert_allclose(L.matvec(x), op.tocsr() @ x, rtol=1e-6)


def test_explicit_numpy_backend_and_engine_choice():
    with lrsolve.backend(engine="numpy"):
        op = poisson((4, 4))
    assert op.backend.engine == "numpy"
    op2 = poisson((4, 4), backend="numpy")
    assert op2.backend.name == "numpy"
    x = np.random.default_rng(0).standard_normal(16)
    np.testing.assert_allclose(op @ x, op2 @ x, rtol=1e-14)


def test_cupy_kernel_module_imports_without_cupy():
    from lrsolve._kernels import _cupy_stencil

    src = _cupy_stencil.kernel_source(np.float64, np.float32, 2, 3, True, 1)
    assert "typedef double T;" in src and "typedef float F;" in src and "#define NC 2" in src
    for shape in [(256, 256, 256), (1, 70, 300), (7, 3, 5), (1000, 8, 8)]:
        grid, block, cz = _cupy_stencil.launch_config(shape, 1)
        assert block[0] * block[1] == _cupy_stencil.BLOCK
        assert grid[0] * block[0] >= shape[2] and grid[1] * block[1] >= shape[1]
        # the z chunks cover every plane exactly once
        assert grid[2] * cz >= shape[0] and (grid[2] - 1) * cz < shape[0]
        if _cupy_stencil.Z_MARCH and shape == (256, 256, 256):
            assert cz > 1  # a large grid is walked in chunks of planes
    if not lrsolve.cupy_available():
        assert "cupy" not in sys.modules


# ----------------------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.parametrize("var", [False, True], ids=["const", "coef"])
@pytest.mark.parametrize("bc", BCS)
@pytest.mark.parametrize("shape", SHAPES + [(70, 3, 300)])
def test_cupy_kernels_match_tocsr_on_device(shape, bc, var, rng):
    import cupy

    coef = rng.uniform(0.5, 2.0, shape) if var else None
    for op_dtype in (np.float64, np.float32):
        op = poisson(
            shape, spacing=_spacing(shape), bc=bc, coef=coef, dtype=op_dtype, backend="cupy"
        )
        assert op.backend.name == "cupy" and op._lrsolve_backend == "cupy"
        A = op.tocsr()
        assert A.dtype == op_dtype
        host = poisson(shape, spacing=_spacing(shape), bc=bc, coef=coef, dtype=op_dtype)
        assert abs(A.get() - host.tocsr()).max() == 0
        for dt in (np.float32, np.float64, np.complex64, np.complex128):
            x = cupy.asarray(_rand(rng, op.shape[0], dt))
            b = cupy.asarray(_rand(rng, op.shape[0], dt))
            Ac = A.astype(np.result_type(op_dtype, dt))
            ref = Ac @ x.astype(Ac.dtype)
            tol = _tol(op_dtype, dt) * (float(abs(ref).max()) + 1)
            out = cupy.empty(op.shape[0], dtype=np.result_type(op_dtype, dt))
            s = op.matvec_dot(x, out)
            assert isinstance(s, cupy.ndarray) and s.shape == ()  # stays on the device
            assert float(abs(out - ref).max()) <= tol
            xAx = float(cupy.vdot(x.astype(np.complex128), ref.astype(np.complex128)).real)
            assert float(s) == pytest.approx(xAx, rel=10 * _tol(op_dtype, dt), abs=1e-12)
            r2 = op.residual(x, b, out)
            want = b - ref
            assert float(abs(out - want).max()) <= tol + _tol(dt) * float(abs(b).max())
            assert float(r2) == pytest.approx(
                float(cupy.vdot(want, want).real), rel=10 * _tol(op_dtype, dt)
            )
            np.testing.assert_allclose((op @ x).get(), ref.get(), atol=tol)


@pytest.mark.gpu
def test_cupy_cg_and_host_io(rng):
    import cupy

    k = rng.uniform(1, 2, (20, 30))
    op = poisson((20, 30), coef=cupy.asarray(k))  # device coef selects the GPU
    assert op.backend.name == "cupy"
    b = cupy.asarray(rng.standard_normal(600))
    res = lrsolve.cg(op, b, rtol=1e-10)
    assert res.converged and isinstance(res.x, cupy.ndarray)
    assert float(cupy.linalg.norm(b - op.tocsr() @ res.x)) <= 1e-10 * float(cupy.linalg.norm(b))
    np.testing.assert_allclose(op.diagonal().get(), poisson((20, 30), coef=k).diagonal())
    with lrsolve.backend("cupy"):
        op_h = poisson((20, 30), coef=k)  # host data, computed on the device
        res_h = lrsolve.cg(op_h, b.get(), rtol=1e-10)
    assert isinstance(res_h.x, np.ndarray)
    np.testing.assert_allclose(res_h.x, res.x.get(), rtol=1e-8, atol=1e-12)


def test_vectors_of_the_wrong_length_are_rejected_not_read_past_the_end():
    A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(6, 6), format="csr")
    op = as_operator(A)
    for bad in (np.arange(1.0, 3.0), np.ones(8), np.ones((6, 2))[:, 0:1]):
        with pytest.raises(ValueError, match="6 entries"):
            op.matvec(bad)
    with pytest.raises(ValueError, match="6 entries"):
        op @ np.ones(8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_aslinearoperator_takes_column_vectors_and_matrices(dtype):
    A = (sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(7, 7), format="csr")).astype(dtype)
    L = as_operator(A).aslinearoperator()
    X = np.arange(21.0, dtype=dtype).reshape(7, 3)
    np.testing.assert_allclose(L.matvec(X[:, :1]), A @ X[:, :1], rtol=1e-6)
    np.testing.assert_allclose(L @ X, A @ X, rtol=1e-6)
