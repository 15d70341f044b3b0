"""Tests of the tree tensor networks (hierarchical Tucker): container and HT-SVD."""

import numpy as np
import pytest

import lrsolve
from lrsolve import tensor as lt
from lrsolve.tensor._ht import _parse_tree

from conftest import data_path

DTYPES = [np.float32, np.float64]


def random_ht(rng, shape, tree, rank, dtype=np.float64):
    """A random HT tensor with every non-root rank equal to ``rank`` (where possible)."""
    nodes = _parse_tree(tree, len(shape))
    r, leaves, transfers = {}, [None] * len(shape), []
    for t in nodes:
        if not t.children:
            n = t.modes[0]
            r[t.index] = min(rank, shape[n])
            leaves[n] = rng.standard_normal((shape[n], r[t.index])).astype(dtype)
        else:
            rl, rr = r[t.children[0]], r[t.children[1]]
            rt = 1 if t.parent is None else min(rank, rl * rr)
            r[t.index] = rt
            transfers.append(rng.standard_normal((rl, rr, rt)).astype(dtype))
    return lt.HTTensor(tree, leaves, transfers)


def decaying(rng, shape, dtype=np.float64):
    """A smooth tensor with decaying multilinear spectra plus a little noise."""
    grids = np.meshgrid(*[np.linspace(0, 1, n) for n in shape], indexing="ij", sparse=True)
    X = 1.0 / (1.0 + sum((k + 1) * g for k, g in enumerate(grids)))
    X = X + 1e-4 * rng.standard_normal(shape)
    return X.astype(dtype)


# ----------------------------------------------------------------------------- trees
def test_dimension_tree():
    assert lt.dimension_tree(2) == (0, 1)
    assert lt.dimension_tree(5) == (((0, 1), 2), (3, 4))
    assert lt.dimension_tree(5, "tt") == (0, (1, (2, (3, 4))))
    with pytest.raises(ValueError, match="ndim"):
        lt.dimension_tree(1)
    with pytest.raises(ValueError, match="kind"):
        lt.dimension_tree(3, "star")


# ----------------------------------------------------------------------------- container
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tree", [((0, 1), (2, 3)), (0, (1, (2, 3))), ((3, 1), (0, 2))])
def test_container_full_norm_size(rng, dtype, tree):
    ht = random_ht(rng, (4, 5, 3, 6), tree, 2, dtype)
    full = ht.to_tensor()
    assert full.shape == (4, 5, 3, 6) and full.dtype == dtype
    # entry-wise reference: contract the tree by hand for the balanced tree
    if tree == ((0, 1), (2, 3)):
        (U0, U1, U2, U3), (B01, B23, Br) = ht
        ref = np.einsum("ia,jb,abs,kc,ld,cdt,st->ijkl", U0, U1, B01, U2, U3, B23, Br[:, :, 0])
        np.testing.assert_allclose(full, ref, rtol=1e-4 if dtype == np.float32 else 1e-12)
    rel = 1e-5 if dtype == np.float32 else 1e-12
    assert abs(ht.norm() - np.linalg.norm(full.astype(np.float64))) <= rel * ht.norm()
    assert ht.size == sum(a.size for a in ht.leaves + ht.transfers)
    assert set(ht.rank) == {t.modes for t in _parse_tree(tree, 4)[:-1]}
    leaves, transfers = ht
    assert len(leaves) == 4 and len(transfers) == 3


def test_container_bad_input(rng):
    U = [np.ones((3, 2)), np.ones((4, 2))]
    with pytest.raises(ValueError, match="transfer"):
        lt.HTTensor((0, 1), U, [])
    with pytest.raises(ValueError, match=r"\(r_left, r_right, r_node\)"):
        lt.HTTensor((0, 1), U, [np.ones((2, 3, 1))])
    with pytest.raises(ValueError, match="last dimension 1"):
        lt.HTTensor((0, 1), U, [np.ones((2, 2, 2))])
    with pytest.raises(ValueError, match="every mode"):
        lt.HTTensor((0, 0), U, [np.ones((2, 2, 1))])
    with pytest.raises(ValueError, match="two children"):
        lt.HTTensor((0, 1, 2), U + [np.ones((2, 2))], [np.ones((2, 2, 1))])


# ----------------------------------------------------------------------------- HT-SVD
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tree", [None, "tt", ((0, 2), (1, 3))])
def test_exact_recovery_of_planted_ht(rng, dtype, tree):
    true = random_ht(rng, (5, 6, 4, 7), tree or "balanced", 2)
    X = true.to_tensor().astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    ht = lt.hierarchical_tucker(X, tol=tol, tree=tree)
    assert ht.dtype == dtype
    assert ht.relative_error(X) <= tol
    assert ht.rank == true.rank  # the planted ranks are found
    assert ht.size == true.size


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("allocation", ["equal", "global"])
@pytest.mark.parametrize("tol", [0.3, 0.1, 0.01])
def test_tolerance_is_guaranteed(rng, dtype, allocation, tol):
    X = decaying(rng, (8, 9, 7, 6, 5), dtype)
    ht = lt.hierarchical_tucker(X, tol=tol, allocation=allocation)
    err = ht.relative_error(X.astype(np.float64))
    assert err <= tol * (1 + 1e-5)
    # the reported error is the true one (to rounding), not just a bound
    assert abs(float(ht.errors[-1]) - err) <= (1e-3 if dtype == np.float32 else 1e-8) + 1e-3 * err
    assert ht.diagnostics["allocation"] == allocation


def test_global_allocation_needs_fewer_parameters_on_real_data():
    X = np.load(data_path("tensors", "COVID19_data.npy"))
    eq = lt.hierarchical_tucker(X, tol=0.1, allocation="equal")
    gl = lt.hierarchical_tucker(X, tol=0.1, allocation="global")
    assert gl.relative_error(X) <= 0.1 and eq.relative_error(X) <= 0.1
    assert gl.size < 0.9 * eq.size  # measured: 20942 vs 27494 parameters


def smooth_function(n=8, order=6):
    x = np.linspace(0, 1, n)
    return 1.0 / (1.0 + sum(np.meshgrid(*[x] * order, indexing="ij", sparse=True)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tol", [0.01, 0.05, 0.1])
def test_global_is_never_larger_than_equal_at_the_same_tol(dtype, tol):
    X = smooth_function().astype(dtype)
    eq = lt.hierarchical_tucker(X, tol=tol, allocation="equal")
    gl = lt.hierarchical_tucker(X, tol=tol, allocation="global")
    X64 = X.astype(np.float64)
    assert eq.relative_error(X64) <= tol * (1 + 1e-5)
    assert gl.relative_error(X64) <= tol * (1 + 1e-5)
    assert gl.size <= eq.size


@pytest.mark.parametrize("tol", [0.01, 0.1])
def test_global_at_the_equal_splits_achieved_error(tol):
    # the equal split reaches far less than tol (0.0022 at 0.01); asked for that error
    # (to eight digits: the same model recomputed moves the ninth), the global
    # allocation must not need more parameters; here both are at the lower bound
    X = smooth_function()
    eq = lt.hierarchical_tucker(X, tol=tol, allocation="equal")
    e = eq.relative_error(X)
    assert e < 0.5 * tol
    gl = lt.hierarchical_tucker(X, tol=e * (1 + 1e-8), allocation="global")
    assert gl.relative_error(X) <= e * (1 + 1e-8)
    assert gl.size <= eq.size


def test_caterpillar_tree_has_tensor_train_ranks(rng):
    X = decaying(rng, (6, 7, 5, 6))
    ht = lt.hierarchical_tucker(X, tol=1e-12, tree="tt", svd="svd")
    tt = lt.tensor_train(X, tol=1e-12, svd="svd")
    # inner node {k, ..., N-1} of the caterpillar is TT bond k
    assert [ht.rank[tuple(range(k, 4))] for k in (1, 2)] == list(tt.rank[1:3])


def test_order_two_is_the_truncated_svd(rng):
    A = rng.standard_normal((30, 20)) * 0.7 ** np.arange(20) @ rng.standard_normal((20, 20))
    s = np.linalg.svd(A, compute_uv=False)
    ht = lt.hierarchical_tucker(A, rank=5)
    best = np.sqrt((s[5:] ** 2).sum()) / np.linalg.norm(A)
    assert abs(ht.relative_error(A) - best) < 1e-10
    assert ht.rank == {(0,): 5, (1,): 5}


def test_fixed_ranks(rng):
    X = decaying(rng, (8, 7, 6, 5))
    ht = lt.hierarchical_tucker(X, rank=3)
    assert all(r <= 3 for r in ht.rank.values())
    ht2 = lt.hierarchical_tucker(X, rank={0: 2, (2, 3): 4})
    assert ht2.rank[(0,)] == 2 and ht2.rank[(2, 3)] == 4
    full = lt.hierarchical_tucker(X)
    assert full.relative_error(X) < 1e-12
    # more rank, less error
    assert lt.hierarchical_tucker(X, rank=4).relative_error(X) < ht.relative_error(X)


def test_input_not_modified(rng):
    X = decaying(rng, (6, 5, 4))
    X0 = X.copy()
    lt.hierarchical_tucker(X, tol=0.01, allocation="global")
    np.testing.assert_array_equal(X, X0)


def test_bad_input(rng):
    X = decaying(rng, (6, 5, 4, 3))
    with pytest.raises(ValueError, match="rank and tol"):
        lt.hierarchical_tucker(X, rank=2, tol=0.1)
    with pytest.raises(ValueError, match="every mode"):
        lt.hierarchical_tucker(X, tree=((0, 1), (2, 2)))
    with pytest.raises(ValueError, match="modes 0 .. 3"):
        lt.hierarchical_tucker(X, tree=((0, 1), (2, 4)))
    with pytest.raises(ValueError, match="two children"):
        lt.hierarchical_tucker(X, tree=((0, 1, 2), 3))
    with pytest.raises(ValueError, match="not a non-root node"):
        lt.hierarchical_tucker(X, rank={(0, 2): 2})
    with pytest.raises(ValueError, match="larger than the data allows"):
        lt.hierarchical_tucker(X, rank={3: 5})
    with pytest.raises(ValueError, match="allocation"):
        lt.hierarchical_tucker(X, tol=0.1, allocation="best")
    with pytest.raises(ValueError, match="tol"):
        lt.hierarchical_tucker(X, tol=-1.0)
    with pytest.raises(ValueError, match="order >= 2"):
        lt.hierarchical_tucker(np.ones(4))
    Xn = X.copy()
    Xn[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="X"):
        lt.hierarchical_tucker(Xn)


def test_example_plot_tree_networks(tmp_path):
    import importlib.util
    import os
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, str(root / "examples" / "plot_tree_networks.py"), "--image", "--small",
         "--out", str(tmp_path / "t.png")],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.rsplit(None, 3) for line in proc.stdout.splitlines()]
    rows = [r for r in rows if len(r) == 4 and r[2].isdigit() and r[0].startswith(("T", "tree"))]
    assert len(rows) == 12  # 4 formats x 3 tolerances
    for _label, tol, _size, err in rows:
        assert float(err) <= float(tol) * (1 + 1e-9)
    glob = {float(t): int(n) for lab, t, n, _ in rows if lab.startswith("tree, global")}
    eq = {float(t): int(n) for lab, t, n, _ in rows if lab.startswith("tree, equal")}
    assert all(glob[t] <= eq[t] for t in glob)  # same tolerance, no more parameters
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "t.png").stat().st_size > 1000


@pytest.mark.gpu
@pytest.mark.skipif(not lrsolve.cupy_available(), reason="needs CuPy and a CUDA device")
def test_gpu_matches_cpu(rng):
    import cupy

    X = decaying(rng, (8, 7, 6, 5))
    for alloc in ("equal", "global"):
        c = lt.hierarchical_tucker(X, tol=0.01, allocation=alloc)
        g = lt.hierarchical_tucker(cupy.asarray(X), tol=0.01, allocation=alloc)
        assert type(g.to_tensor()).__module__.startswith("cupy")
        assert g.rank == c.rank
        assert abs(c.relative_error(X) - g.relative_error(cupy.asarray(X))) < 1e-10
