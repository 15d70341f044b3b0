"""The masked (fluid/solid) Poisson operator: lrsolve.operators.poisson(shape, mask=...)."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

import lrsolve
from lrsolve.operators import poisson


def _hand_built(mask, bc, h=1.0):
    """Dense matrix by explicit loops over cells and faces (an independent construction)."""
    grid = mask.shape
    cells = [c for c in np.ndindex(grid) if mask[c]]
    index = {c: i for i, c in enumerate(cells)}
    n = len(cells)
    A = np.zeros((n, n))
    bcs = (bc,) * len(grid) if isinstance(bc, str) else bc
    for c, i in index.items():
        for d in range(len(grid)):
            for step in (-1, 1):
                nb = list(c)
                nb[d] += step
                if 0 <= nb[d] < grid[d]:
                    nb = tuple(nb)
                    if mask[nb]:  # fluid-fluid face
                        A[i, i] += 1 / h**2
                        A[i, index[nb]] -= 1 / h**2
                    # fluid-solid face: no flux (Neumann)
                elif bcs[d] == "dirichlet":
                    A[i, i] += 1 / h**2
                elif bcs[d] == "periodic":
                    nb[d] %= grid[d]
                    nb = tuple(nb)
                    if mask[nb] and nb != c:
                        A[i, i] += 1 / h**2
                        A[i, index[nb]] -= 1 / h**2
    return A


@pytest.mark.parametrize("bc", ["dirichlet", "neumann", "periodic", ("dirichlet", "neumann")])
@pytest.mark.parametrize("shape", [(4, 5), (3, 4, 3)])
def test_matches_hand_built_matrix(shape, bc, rng):
    mask = rng.random(shape) > 0.3
    mask.flat[0] = True
    if len(shape) == 3 and not isinstance(bc, str):
        bc = bc + ("dirichlet",)
    A = poisson(shape, bc=bc, mask=mask, spacing=0.5)
    ref = _hand_built(mask, bc, h=0.5)
    np.testing.assert_allclose(A.tocsr().toarray(), ref, rtol=1e-14, atol=1e-12)
    assert A.shape == (mask.sum(), mask.sum())
    assert A.grid_shape == shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bc", ["dirichlet", "neumann", "periodic"])
def test_full_mask_equals_unmasked_operator(bc, dtype, rng):
    shape = (5, 6)
    k = rng.uniform(0.5, 2.0, shape)
    A = poisson(shape, bc=bc, coef=k, dtype=dtype, mask=np.ones(shape, bool))
    B = poisson(shape, bc=bc, coef=k, dtype=dtype)
    assert A.dtype == dtype
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(A.tocsr().toarray(), B.tocsr().toarray(), rtol=tol, atol=tol)
    x = rng.standard_normal(30).astype(dtype)
    np.testing.assert_allclose(A @ x, B @ x, rtol=10 * tol, atol=10 * tol)


def test_symmetric_and_positive_definite_with_dirichlet_walls(rng):
    mask = lrsolve.deep.obstacle_mask((24, 20), 4, rng=3)
    A = poisson((24, 20), mask=mask)
    M = A.tocsr()
    assert abs(M - M.T).max() == 0
    assert A.positive_definite
    lam = np.linalg.eigvalsh(M.toarray())
    assert lam.min() > 0
    # a 3-D one too
    mask3 = lrsolve.deep.obstacle_mask((10, 9, 8), 2, rng=4)
    M3 = poisson((10, 9, 8), mask=mask3).tocsr()
    assert abs(M3 - M3.T).max() == 0
    assert sla.eigsh(M3, k=1, which="SA", return_eigenvectors=False)[0] > 0


def test_neumann_at_solid_faces(rng):
    # one solid cell in the middle of a 5x5 grid: its 4 neighbours lose one face each
    mask = np.ones((5, 5), bool)
    mask[2, 2] = False
    A = poisson((5, 5), mask=mask)
    full = poisson((5, 5))
    d = A.scatter(A.diagonal())
    dfull = full.diagonal().reshape(5, 5)
    for c in [(1, 2), (3, 2), (2, 1), (2, 3)]:
        assert d[c] == dfull[c] - 1
    assert d[0, 0] == dfull[0, 0] and d[2, 2] == 0
    # zero flux: a pressure constant on the fluid has no flux through any solid face, so
    # with Neumann walls A @ 1 = 0 (the constants are the null space)
    An = poisson((5, 5), mask=mask, bc="neumann")
    np.testing.assert_allclose(An @ np.ones(24), 0, atol=1e-14)
    assert not An.positive_definite
    # Dirichlet walls: A @ 1 is non-zero only next to the walls, never next to the obstacle
    row_sums = A.scatter(A @ np.ones(24))
    assert row_sums[1, 2] == 0 and row_sums[2, 1] == 0
    assert row_sums[0, 2] == 1 and row_sums[0, 0] == 2


def test_enclosed_pocket_is_singular_and_cg_solves_a_consistent_system(rng):
    mask = np.ones((9, 9), bool)
    mask[2:7, 2:7] = False  # a solid ring ...
    mask[3:6, 3:6] = True  # ... around a fluid pocket that touches no wall
    A = poisson((9, 9), mask=mask)
    assert not A.positive_definite
    pocket = A.gather(np.pad(np.ones((3, 3), bool), 3)).astype(bool)
    b = rng.standard_normal(A.shape[0])
    b[pocket] -= b[pocket].mean()  # consistent right-hand side
    res = lrsolve.cg(A, b, rtol=1e-10)
    assert res.converged
    assert np.linalg.norm(A @ res.x - b) <= 1e-10 * np.linalg.norm(b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cg_agrees_with_spsolve_and_ic0_works(dtype, rng):
    mask = lrsolve.deep.obstacle_mask((30, 30), 3, rng=7)
    A = poisson((30, 30), mask=mask, dtype=dtype)
    b = rng.standard_normal(A.shape[0]).astype(dtype)
    ref = sp.linalg.spsolve(A.tocsr().astype(np.float64).tocsc(), b.astype(np.float64))
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    for pc in (None, "ic0"):
        res = lrsolve.cg(A, b, rtol=rtol, precond=pc)
        assert res.converged and res.x.dtype == dtype
        err = np.linalg.norm(res.x - ref) / np.linalg.norm(ref)
        assert err < (1e-3 if dtype == np.float32 else 1e-7)


def test_scatter_gather_roundtrip(rng):
    mask = rng.random((4, 3, 5)) > 0.5
    A = poisson((4, 3, 5), mask=mask)
    v = rng.standard_normal(A.shape[0])
    g = A.scatter(v)
    assert g.shape == (4, 3, 5) and np.all(g[~mask] == 0)
    np.testing.assert_array_equal(A.gather(g), v)
    np.testing.assert_array_equal(g[mask], v)


def test_mask_is_copied_and_read_only(rng):
    mask = np.ones((4, 4), bool)
    mask[1, 1] = False
    A = poisson((4, 4), mask=mask)
    mask[1, 1] = True  # the caller's array is theirs
    assert not A.mask[1, 1] and A.shape == (15, 15)
    with pytest.raises(ValueError):
        A.mask[0, 0] = False


@pytest.mark.parametrize(
    "mask, exc, match",
    [
        (np.ones((3, 3), int), TypeError, "boolean"),
        (np.ones((3, 4), bool), ValueError, "grid shape"),
        (np.zeros((4, 4), bool), ValueError, "no fluid"),
        ("fluid", TypeError, "mask must be"),
    ],
)
def test_bad_mask_raises_clear_errors(mask, exc, match):
    with pytest.raises(exc, match=match):
        poisson((4, 4), mask=mask)


def test_existing_api_unchanged():
    A = poisson((3, 3))
    assert isinstance(A, lrsolve.operators.PoissonOperator)
    assert "MaskedPoissonOperator" in repr(poisson((3, 3), mask=np.ones((3, 3), bool)))


@pytest.mark.gpu
def test_masked_operator_on_cupy(rng):
    import cupy

    mask = lrsolve.deep.obstacle_mask((20, 20), 2, rng=1)
    A = poisson((20, 20), mask=mask, backend="cupy")
    Ah = poisson((20, 20), mask=mask)
    x = rng.standard_normal(A.shape[0])
    np.testing.assert_allclose(cupy.asnumpy(A @ cupy.asarray(x)), Ah @ x, rtol=1e-12)
    res = lrsolve.cg(A, cupy.asarray(np.ones(A.shape[0])), rtol=1e-8)
    assert res.converged
