"""Tests of lrsolve.problems: structure, discretisation accuracy, randomness, dtype, bad input."""

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from lrsolve import problems as P

DTYPES = [np.float32, np.float64]


def _is_spd(A):
    M = A.toarray().astype(np.float64)
    if not np.array_equal(M, M.T):
        return False
    try:
        np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        return False
    return True


# ----------------------------------------------------------------------------- Problem
def test_problem_unpacks_and_is_frozen():
    p = P.darcy((6, 5), rng=0)
    A, b = p
    assert A is p.A and b is p.b and len(p) == 2 and p[1] is b
    assert p.shape == (6, 5) and p.n == 30 and p.field.shape == (6, 5)
    assert sp.issparse(A) and A.format == "csr" and A.has_canonical_format
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.A = None
    with pytest.raises(ValueError):
        p.field[0, 0] = 1.0  # read-only
    assert "darcy" in repr(p)


# ----------------------------------------------------------------------------- Gaussian fields
def test_gaussian_field_moments_and_correlation():
    n = 63
    h = 1.0 / (n + 1)
    ell = 8 * h
    g = P.gaussian_field((n, n), length_scale=ell, sigma=2.0, rng=3, n_samples=64)
    assert g.shape == (64, n, n)
    np.testing.assert_allclose(g.var(), 4.0, rtol=0.1)
    assert abs(g.mean()) < 0.2
    # empirical correlation at lag l (8 cells) vs exp(-1/2)
    c = np.mean(g[:, :-8, :] * g[:, 8:, :]) / g.var()
    np.testing.assert_allclose(c, np.exp(-0.5), atol=0.06)


def test_gaussian_field_correlation_length_effect():
    corr = []
    for ell in (0.03, 0.1, 0.3):
        g = P.gaussian_field((48, 48), length_scale=ell, rng=0, n_samples=16)
        corr.append(np.mean(g[:, :-4, :] * g[:, 4:, :]) / g.var())
    assert corr[0] < corr[1] < corr[2]


def test_gaussian_field_reproducible():
    a = P.gaussian_field(16, rng=5)
    b = P.gaussian_field(16, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, P.gaussian_field(16, rng=6))


# ----------------------------------------------------------------------------- Darcy
@pytest.mark.parametrize("dtype", DTYPES)
def test_darcy_spd_dtype_and_field(dtype):
    p = P.darcy((10, 12), rng=1, dtype=dtype)
    assert p.A.dtype == dtype and p.b.dtype == dtype
    assert _is_spd(p.A)
    k = p.field
    assert (k > 0).all() and k.dtype == np.float64
    # row sums of an interior row vanish (no zeroth-order term); boundary rows are > 0
    rs = np.asarray(p.A.sum(axis=1)).reshape(p.shape)
    np.testing.assert_allclose(rs[1:-1, 1:-1], 0.0, atol=1e-3 * k.max() * 121 if dtype == np.float32
                               else 1e-9 * k.max() * 121)
    assert (rs[0] > 0).all()


def test_darcy_harmonic_face_coefficient():
    k = np.ones((4, 4))
    k[1, 2] = 9.0
    p = P.darcy((4, 4), field=k)
    h2 = (1 / 5) ** 2
    # face between nodes (1,2) and (1,1): harmonic mean 2*9*1/10 = 1.8
    i, j = 1 * 4 + 2, 1 * 4 + 1
    np.testing.assert_allclose(p.A[i, j], -1.8 / h2)


def test_darcy_reproducible_and_independent():
    a = P.darcy((8, 8), rng=7)
    b = P.darcy((8, 8), rng=7)
    assert (a.A != b.A).nnz == 0
    c = P.darcy((8, 8), rng=8)
    assert (a.A != c.A).nnz > 0
    seq1 = P.darcy_sequence(3, (8, 8), rng=2)
    seq2 = P.darcy_sequence(3, (8, 8), rng=2)
    for s, t in zip(seq1, seq2, strict=True):
        np.testing.assert_array_equal(s.field, t.field)
    assert not np.array_equal(seq1[0].field, seq1[1].field)


def test_darcy_sigma_spreads_permeability():
    lo = P.darcy((32, 32), rng=0, sigma=0.3).field
    hi = P.darcy((32, 32), rng=0, sigma=2.0).field
    assert np.log(hi).std() > 4 * np.log(lo).std()


@pytest.mark.parametrize("dtype", DTYPES)
def test_darcy_manufactured_solution_second_order(dtype):
    """k = 1 + x, u = sin(pi x) sin(pi y): the discrete error falls ~4x per halving of h."""
    pi = np.pi

    def exact(x, y):
        return np.sin(pi * x) * np.sin(pi * y)

    def f(x, y):
        return -pi * np.cos(pi * x) * np.sin(pi * y) + 2 * pi**2 * (1 + x) * exact(x, y)

    errs = []
    for n in (15, 31, 63):
        x = (np.arange(n) + 1.0) / (n + 1)
        X, Y = np.meshgrid(x, x, indexing="ij")
        p = P.darcy((n, n), field=1 + X, source=f, dtype=dtype)
        u = spla.spsolve(p.A.astype(np.float64).tocsc(), p.b.astype(np.float64))
        errs.append(np.abs(u - exact(X, Y).reshape(-1)).max())
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    tol = 1e-4 if dtype == np.float32 else 0
    assert errs[-1] < 1e-3 + tol
    assert rates[-1] > 1.8 and rates.min() > 1.5, (errs, rates)


def test_darcy_bad_input():
    with pytest.raises(ValueError, match="shape must have 2 entries"):
        P.darcy((4, 4, 4))
    with pytest.raises(ValueError, match="field must be > 0"):
        P.darcy((4, 4), field=-np.ones((4, 4)))
    with pytest.raises(ValueError, match="field must have the grid shape"):
        P.darcy((4, 4), field=np.ones((3, 4)))
    with pytest.raises(ValueError, match="length_scale must be finite and > 0"):
        P.darcy((4, 4), length_scale=0)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        P.darcy((4, 4), dtype=np.int64)
    with pytest.raises(TypeError, match="rng must be None, an int seed"):
        P.darcy((4, 4), rng="seed")
    with pytest.raises(ValueError, match="source contains NaN"):
        P.darcy((4, 4), source=np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="n_systems must be a positive integer"):
        P.darcy_sequence(0, (4, 4))


def test_input_field_not_modified():
    k = np.full((5, 5), 2.0)
    p = P.darcy((5, 5), field=k)
    assert p.field is not k
    np.testing.assert_array_equal(k, 2.0)


# ----------------------------------------------------------------------------- heat
@pytest.mark.parametrize("dtype", DTYPES)
def test_heat_sequence_is_a_consistent_trajectory(dtype):
    steps = P.heat_sequence(6, (10, 10), rng=0, dtype=dtype)
    assert len(steps) == 6
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    prev = np.zeros(100)
    for t, p in enumerate(steps, start=1):
        assert p.A.dtype == dtype and p.params["step"] == t
        assert _is_spd(p.A)
        # A_t u_t = b_t = u_{t-1} + dt f_t
        r = p.A.astype(np.float64) @ p.solution.astype(np.float64) - p.b.astype(np.float64)
        assert np.linalg.norm(r) <= rtol * np.linalg.norm(p.b) * 10
        np.testing.assert_allclose(p.b, prev + p.params["dt"] * p.params["source"], rtol=rtol,
                                   atol=rtol * np.abs(p.b).max())
        prev = p.solution.astype(np.float64)
    assert np.abs(steps[-1].solution).max() > 0


def test_heat_sequence_drift():
    fixed = P.heat_sequence(4, (8, 8), rng=1, drift=0.0)
    assert all((fixed[0].A != q.A).nnz == 0 for q in fixed)
    moving = P.heat_sequence(20, (8, 8), rng=1, drift=0.5)
    d1 = spla.norm(moving[1].A - moving[0].A) / spla.norm(moving[0].A)
    d_all = spla.norm(moving[-1].A - moving[0].A) / spla.norm(moving[0].A)
    assert 0 < d1 < d_all / 5  # neighbours are closer than the ends of the run
    # eye + dt * L: the diagonal exceeds one
    assert (moving[0].A.diagonal() > 1).all()


# ----------------------------------------------------------------------------- Helmholtz
def test_helmholtz_symmetric_indefinite_and_manufactured():
    k = 8.0
    n = 31
    x = (np.arange(n) + 1.0) / (n + 1)
    X, Y = np.meshgrid(x, x, indexing="ij")
    u = np.sin(np.pi * X) * np.sin(2 * np.pi * Y)
    f = (5 * np.pi**2 - k**2) * u
    p = P.helmholtz((n, n), wavenumber=k, source=f)
    assert abs(p.A - p.A.T).max() == 0
    ev = np.linalg.eigvalsh(p.A.toarray())
    assert ev.min() < 0 < ev.max()
    sol = spla.spsolve(p.A.tocsc(), p.b)
    assert np.abs(sol - u.reshape(-1)).max() < 0.05 * np.abs(u).max()
    np.testing.assert_array_equal(p.field, k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_helmholtz_convection_nonsymmetric(dtype):
    p = P.helmholtz((12, 12), wavenumber=5.0, convection=(20.0, -10.0), dtype=dtype)
    assert p.A.dtype == dtype
    assert abs(p.A - p.A.T).max() > 0
    # c . grad of a constant vanishes in the interior: compare rows against the pure Helmholtz
    q = P.helmholtz((12, 12), wavenumber=5.0, dtype=np.float64)
    ones = np.ones(144)
    diff = ((p.A.astype(np.float64) - q.A) @ ones).reshape(12, 12)
    np.testing.assert_allclose(diff[1:-1, 1:-1], 0, atol=1e-3)


def test_helmholtz_sequence_and_medium():
    seq = P.helmholtz_sequence(4, (10, 10))
    np.testing.assert_allclose([p.params["wavenumber"] for p in seq], np.linspace(10, 20, 4))
    med = P.helmholtz_sequence(2, (10, 10), wavenumbers=[3.0, 6.0], medium_sigma=0.2, rng=0)
    np.testing.assert_allclose(med[1].field, 2 * med[0].field)
    assert med[0].field.std() > 0
    with pytest.raises(ValueError, match="wavenumbers must hold n=3"):
        P.helmholtz_sequence(3, (8, 8), wavenumbers=[1.0, 2.0])
    with pytest.raises(ValueError, match="wavenumber must be finite and > 0"):
        P.helmholtz((8, 8), wavenumber=-1.0)
    with pytest.raises(TypeError, match="convection must be a pair"):
        P.helmholtz((8, 8), wavenumber=1.0, convection=1.0)


# ----------------------------------------------------------------------------- Poisson
@pytest.mark.parametrize("kind", ["inclusions", "layers", "smooth"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_variable_kinds(kind, dtype):
    p = P.poisson_variable((14, 14), rng=2, coef=kind, contrast=50.0, dtype=dtype)
    assert p.A.dtype == dtype and _is_spd(p.A)
    k = p.field
    assert k.min() >= 1.0 - 1e-12 and k.max() <= 50.0 + 1e-9
    assert k.max() / k.min() > 2
    q = P.poisson_variable((14, 14), rng=2, coef=kind, contrast=50.0, dtype=dtype)
    np.testing.assert_array_equal(k, q.field)


def test_poisson_variable_array_and_errors():
    k = np.linspace(1, 3, 36).reshape(6, 6)
    p = P.poisson_variable((6, 6), coef=k)
    ref = P.darcy((6, 6), field=k)
    assert (p.A != ref.A).nnz == 0
    with pytest.raises(ValueError, match="coef must be one of"):
        P.poisson_variable((6, 6), coef="checkerboard")
    with pytest.raises(ValueError, match="contrast must be >= 1"):
        P.poisson_variable((6, 6), contrast=0.5)
