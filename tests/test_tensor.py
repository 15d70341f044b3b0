"""Tests of lrsolve.tensor: algebra, containers, Tucker, CP, TT and TR decompositions."""

import importlib.util
import os
import pathlib
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import lrsolve
from lrsolve import tensor as lt

HAS_TL = importlib.util.find_spec("tensorly") is not None
needs_tl = pytest.mark.skipif(not HAS_TL, reason="needs tensorly")
DTYPES = [np.float32, np.float64]
ROOT = pathlib.Path(__file__).resolve().parents[1]


def _tol(dtype, f64=1e-12, f32=1e-5):
    return f64 if np.dtype(dtype) == np.float64 else f32


def random_cp(rng, shape, rank, dtype=np.float64):
    return lt.CPTensor(None, [rng.standard_normal((n, rank)).astype(dtype) for n in shape])


def random_tucker(rng, shape, ranks, dtype=np.float64):
    core = rng.standard_normal(ranks).astype(dtype)
    factors = [
        np.linalg.qr(rng.standard_normal((n, r)))[0].astype(dtype)
        for n, r in zip(shape, ranks, strict=False)
    ]
    return lt.TuckerTensor(core, factors)


def congruence(A, B):
    """Mean absolute cosine between matched columns (best permutation, greedy)."""
    An = A / np.linalg.norm(A, axis=0)
    Bn = B / np.linalg.norm(B, axis=0)
    C = np.abs(An.T @ Bn)
    used, vals = set(), []
    for i in np.argsort(-C.max(axis=1)):
        j = max((j for j in range(C.shape[1]) if j not in used), key=lambda j: C[i, j])
        used.add(j)
        vals.append(C[i, j])
    return min(vals)


# ----------------------------------------------------------------------------- algebra
@needs_tl
@pytest.mark.parametrize("shape", [(4, 5), (3, 4, 5), (2, 3, 4, 5)])
def test_unfold_fold_mode_dot_match_tensorly(rng, shape):
    import tensorly as tl
    from tensorly.tenalg import mode_dot as tl_mode_dot

    X = rng.standard_normal(shape)
    for n in range(len(shape)):
        np.testing.assert_array_equal(lt.unfold(X, n), tl.unfold(X, n))
        np.testing.assert_array_equal(lt.fold(lt.unfold(X, n), n, shape), X)
        M = rng.standard_normal((3, shape[n]))
        np.testing.assert_allclose(
            lt.mode_dot(X, M, n), tl_mode_dot(X, M, n), rtol=1e-13, atol=1e-13
        )
        np.testing.assert_allclose(
            lt.mode_dot(X, M.T, n, transpose=True), tl_mode_dot(X, M, n), rtol=1e-13, atol=1e-13
        )
        v = rng.standard_normal(shape[n])
        np.testing.assert_allclose(
            lt.mode_dot(X, v, n), tl_mode_dot(X, v, n), rtol=1e-13, atol=1e-13
        )


@needs_tl
def test_multi_mode_dot_and_khatri_rao_match_tensorly(rng):
    from tensorly.tenalg import khatri_rao as tl_kr
    from tensorly.tenalg import multi_mode_dot as tl_mmd

    X = rng.standard_normal((6, 7, 8, 3))
    Ms = [rng.standard_normal((k, n)) for k, n in zip((2, 9, 3, 3), X.shape, strict=False)]
    np.testing.assert_allclose(lt.multi_mode_dot(X, Ms), tl_mmd(X, Ms), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        lt.multi_mode_dot(X, Ms, skip=1), tl_mmd(X, Ms, skip=1), rtol=1e-12, atol=1e-12
    )
    mats = [rng.standard_normal((n, 4)) for n in (3, 5, 2)]
    np.testing.assert_allclose(lt.khatri_rao(mats), tl_kr(mats), rtol=1e-14)
    np.testing.assert_allclose(lt.khatri_rao(mats, skip=1), tl_kr(mats, skip_matrix=1), rtol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 6), (4, 5, 6), (3, 4, 5, 6), (2, 3, 2, 3, 2)])
def test_mttkrp_without_khatri_rao(rng, shape, dtype):
    X = rng.standard_normal(shape).astype(dtype)
    A = [rng.standard_normal((n, 3)).astype(dtype) for n in shape]
    for n in range(len(shape)):
        ref = lt.unfold(X.astype(np.float64), n) @ lt.khatri_rao(
            [a.astype(np.float64) for a in A], skip=n
        )
        out = lt.mttkrp(X, A, n)
        assert out.dtype == dtype
        np.testing.assert_allclose(
            out,
            ref,
            rtol=_tol(dtype, 1e-12, 1e-4),
            atol=_tol(dtype, 1e-12, 1e-4) * np.abs(ref).max(),
        )


def test_algebra_bad_input(rng):
    X = rng.standard_normal((3, 4, 5))
    with pytest.raises(ValueError, match="mode=3 is out of range"):
        lt.unfold(X, 3)
    with pytest.raises(ValueError, match="needs 4 columns"):
        lt.mode_dot(X, np.ones((2, 3)), 1)
    with pytest.raises(ValueError, match="need 3 factors"):
        lt.mttkrp(X, [np.ones((3, 2))], 0)
    with pytest.raises(ValueError, match="all matrices need 2 columns"):
        lt.khatri_rao([np.ones((3, 2)), np.ones((3, 3))])


# ----------------------------------------------------------------------------- containers
@pytest.mark.parametrize("dtype", DTYPES)
def test_container_norms_and_unpacking(rng, dtype):
    tol = _tol(dtype, 1e-12, 1e-5)
    cpt = random_cp(rng, (4, 5, 6), 3, dtype)
    w, f = cpt
    assert w.shape == (3,) and len(f) == 3 and cpt.shape == (4, 5, 6) and cpt.rank == 3
    assert abs(cpt.norm() - np.linalg.norm(cpt.to_tensor())) <= tol * cpt.norm()
    tk = lt.TuckerTensor(
        rng.standard_normal((2, 3, 2)).astype(dtype),
        [
            rng.standard_normal((n, r)).astype(dtype)
            for n, r in zip((4, 5, 6), (2, 3, 2), strict=False)
        ],
    )
    core, factors = tk
    assert tk.rank == (2, 3, 2)
    assert abs(tk.norm() - np.linalg.norm(tk.to_tensor())) <= tol * tk.norm()
    tt = lt.TTTensor(
        [rng.standard_normal(s).astype(dtype) for s in [(1, 4, 2), (2, 5, 3), (3, 6, 1)]]
    )
    G0, G1, G2 = tt
    assert tt.rank == (1, 2, 3, 1) and tt.shape == (4, 5, 6)
    assert abs(tt.norm() - np.linalg.norm(tt.to_tensor())) <= tol * tt.norm()
    tr = lt.TRTensor(
        [rng.standard_normal(s).astype(dtype) for s in [(2, 4, 3), (3, 5, 2), (2, 6, 2)]]
    )
    assert tr.rank == (2, 3, 2, 2) and len(tr) == 3
    assert abs(tr.norm() - np.linalg.norm(tr.to_tensor())) <= tol * tr.norm()
    n = cpt.normalize()
    np.testing.assert_allclose(np.linalg.norm(n.factors[1], axis=0), 1, rtol=tol)
    np.testing.assert_allclose(n.to_tensor(), cpt.to_tensor(), rtol=tol * 100, atol=tol * 100)


@needs_tl
def test_container_tensorly_roundtrip(rng):
    import tensorly as tl

    cpt = random_cp(rng, (4, 5, 6), 3)
    np.testing.assert_allclose(tl.cp_to_tensor(cpt.to_tensorly()), cpt.to_tensor(), rtol=1e-13)
    back = lt.CPTensor.from_tensorly(cpt.to_tensorly())
    np.testing.assert_array_equal(back.factors[2], cpt.factors[2])
    tk = random_tucker(rng, (4, 5, 6), (2, 3, 2))
    np.testing.assert_allclose(tl.tucker_to_tensor(tk.to_tensorly()), tk.to_tensor(), atol=1e-13)
    assert lt.TuckerTensor.from_tensorly(tk.to_tensorly()).rank == (2, 3, 2)
    tt = lt.TTTensor([rng.standard_normal(s) for s in [(1, 4, 2), (2, 5, 3), (3, 6, 1)]])
    np.testing.assert_allclose(
        tl.tt_to_tensor(tt.to_tensorly()), tt.to_tensor(), rtol=1e-12, atol=1e-12
    )
    assert lt.TTTensor.from_tensorly(tt.to_tensorly()).rank == (1, 2, 3, 1)
    tr = lt.TRTensor([rng.standard_normal(s) for s in [(2, 4, 3), (3, 5, 2), (2, 6, 2)]])
    np.testing.assert_allclose(
        tl.tr_to_tensor(tr.to_tensorly()), tr.to_tensor(), rtol=1e-12, atol=1e-12
    )
    assert lt.TRTensor.from_tensorly(tr.to_tensorly()).rank == (2, 3, 2, 2)


def test_container_bad_input():
    with pytest.raises(ValueError, match="factors\\[1\\] has shape"):
        lt.CPTensor(None, [np.ones((2, 2)), np.ones((3, 1))])
    with pytest.raises(ValueError, match="core.shape\\[1\\]"):
        lt.TuckerTensor(np.ones((2, 2)), [np.ones((3, 2)), np.ones((3, 3))])
    with pytest.raises(ValueError, match="boundary ranks 1"):
        lt.TTTensor([np.ones((2, 3, 1))])
    with pytest.raises(ValueError, match="a tensor ring closes"):
        lt.TRTensor([np.ones((2, 3, 3)), np.ones((3, 3, 1))])
    with pytest.raises(ValueError, match="has shape"):
        lt.CPTensor(None, [np.ones((2, 1))]).relative_error(np.ones(3))


# ----------------------------------------------------------------------------- Tucker
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", ["hooi", "hosvd", "sthosvd"])
def test_tucker_exact_recovery(rng, dtype, method):
    T = random_tucker(rng, (9, 10, 11, 6), (2, 3, 4, 2), dtype)
    X = T.to_tensor()
    out = lt.tucker(X, rank=(2, 3, 4, 2), method=method)
    assert out.rank == (2, 3, 4, 2) and out.core.dtype == dtype
    assert out.relative_error(X) < _tol(dtype, 1e-12, 1e-5)
    assert out.errors[-1] < _tol(dtype, 1e-12, 1e-5)
    for U in out.factors:  # orthonormal factors
        np.testing.assert_allclose(U.T @ U, np.eye(U.shape[1]), atol=_tol(dtype, 1e-12, 1e-5))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tol", [0.05, 0.2, 0.5])
def test_tol_guarantees_tucker(rng, dtype, tol):
    T = random_tucker(rng, (12, 13, 14), (4, 5, 6))
    X = (
        T.to_tensor() + 0.05 * rng.standard_normal((12, 13, 14)) * np.linalg.norm(T.core) / 50
    ).astype(dtype)
    for fn in (lt.hosvd, lt.sthosvd):
        out = fn(X, tol=tol)
        assert out.relative_error(X) <= tol * (1 + 1e-5), (fn.__name__, out.rank)
    hooi = lt.tucker(X, tol=tol)
    st = lt.sthosvd(X, tol=tol)
    assert hooi.rank == st.rank
    assert hooi.relative_error(X) <= st.relative_error(X) * (1 + 1e-4) + 1e-6
    # minimality of the first mode truncated by ST-HOSVD: one rank less breaks the budget
    r = list(st.rank)
    if r[0] > 1:
        r[0] -= 1
        assert lt.sthosvd(X, rank=tuple(r), mode_order=[0, 1, 2]).relative_error(X) > tol * 0.5


def test_sthosvd_tolerance_splits_budget_exactly(rng):
    X = rng.standard_normal((15, 16, 17))
    out = lt.sthosvd(X, tol=0.7, svd="svd")
    mode_err = out.diagnostics["mode_errors"]
    assert abs(np.sqrt(mode_err.sum()) - out.relative_error(X)) < 1e-10
    assert out.relative_error(X) <= 0.7


@needs_tl
def test_tucker_rank_forms_match_tensorly():
    from tensorly.tucker_tensor import validate_tucker_rank as tl_rank

    for shape in [(10, 20, 30), (256, 256, 14, 20), (5, 6)]:
        for r in (0.1, 0.5, "same"):
            assert lt.validate_tucker_rank(shape, r) == tuple(
                min(a, s) for a, s in zip(tl_rank(shape, r), shape, strict=False)
            )
    assert lt.validate_tucker_rank((3, 8, 9), 5) == (3, 5, 5)


@needs_tl
def test_tucker_agrees_with_tensorly(rng):
    from tensorly.decomposition import tucker as tl_tucker

    T = random_tucker(rng, (15, 16, 17), (3, 4, 5))
    X = T.to_tensor() + 0.01 * rng.standard_normal((15, 16, 17))
    ours = lt.tucker(X, rank=(3, 4, 5), tol_iter=1e-14, maxiter=200)
    core, factors = tl_tucker(X, rank=[3, 4, 5], init="svd", tol=1e-14, n_iter_max=200)
    e_tl = np.linalg.norm(X - lt.TuckerTensor(core, factors).to_tensor()) / np.linalg.norm(X)
    assert abs(ours.relative_error(X) - e_tl) <= 1e-6 * e_tl


@pytest.mark.parametrize("svd", ["gram", "svd", "randomized"])
def test_tucker_svd_options_and_random_init(rng, svd):
    T = random_tucker(rng, (20, 21, 22), (3, 3, 3))
    X = T.to_tensor() + 1e-3 * rng.standard_normal((20, 21, 22))
    ref = lt.tucker(X, rank=3, svd="svd")
    out = lt.tucker(X, rank=3, svd=svd, rng=0)
    rnd = lt.tucker(X, rank=3, init="random", rng=0, svd=svd)
    for o in (out, rnd):
        assert abs(o.relative_error(X) - ref.relative_error(X)) < 1e-6
    assert len(ref.errors) == ref.n_iter + 1 and ref.converged


def test_tucker_callback_and_init_object(rng):
    T = random_tucker(rng, (8, 9, 10), (2, 2, 2))
    X = T.to_tensor() + 0.1 * rng.standard_normal((8, 9, 10))
    seen = []
    out = lt.tucker(
        X,
        rank=2,
        init="random",
        rng=1,
        tol_iter=0,
        maxiter=6,
        callback=lambda t: seen.append(t.errors[-1]) or len(seen) == 3,
    )
    assert len(seen) == 3 and out.n_iter == 3
    assert np.all(np.diff(out.errors) <= 1e-12)  # HOOI never increases the error
    again = lt.tucker(X, rank=(2, 2, 2), init=out, maxiter=50)
    assert again.errors[-1] <= out.errors[-1] + 1e-12


def test_tucker_budget_delegates(rng):
    X = rng.standard_normal((6, 7, 8))
    try:
        from lrsolve.tensor.selection import tucker_core_shape  # noqa: F401
    except ImportError:
        with pytest.raises(NotImplementedError, match="tucker_core_shape"):
            lt.tucker(X, budget=100)
    else:
        out = lt.tucker(X, budget=200)
        assert (
            np.prod(out.rank) + sum(i * r for i, r in zip(X.shape, out.rank, strict=False)) <= 200
        )


# ----------------------------------------------------------------------------- CP
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(10, 11, 12), (6, 7, 8, 5)])
def test_cp_exact_recovery(rng, dtype, shape):
    true = random_cp(rng, shape, 3, dtype)
    X = true.to_tensor()
    out = lt.cp(X, 3, tol=1e-14 if dtype == np.float64 else 1e-7, maxiter=1000, rng=0)
    assert out.weights.dtype == dtype
    assert out.relative_error(X) < _tol(dtype, 1e-9, 1e-4)
    for A, B in zip(out.factors, true.factors, strict=False):
        assert congruence(A, B) > 1 - _tol(dtype, 1e-8, 1e-3)
    np.testing.assert_allclose(np.linalg.norm(out.factors[0], axis=0), 1, rtol=1e-5)
    assert np.all(np.diff(out.weights) <= 0)
    assert out.diagnostics["core_consistency"] > 99


@needs_tl
@pytest.mark.parametrize("line_search", [False, True])
def test_cp_agrees_with_tensorly(rng, line_search):
    from tensorly.decomposition import parafac as tl_parafac

    true = random_cp(rng, (12, 13, 14), 3)
    X = true.to_tensor() + 0.02 * rng.standard_normal((12, 13, 14))
    ours = lt.cp(X, 3, tol=1e-13, maxiter=2000, line_search=line_search)
    w, f = tl_parafac(X, 3, init="svd", tol=1e-13, n_iter_max=2000)
    e_tl = np.linalg.norm(X - lt.CPTensor(w, f).to_tensor()) / np.linalg.norm(X)
    assert abs(ours.relative_error(X) - e_tl) <= 1e-6 * e_tl
    assert abs(ours.errors[-1] - ours.relative_error(X)) <= 1e-8


def test_cp_line_search_helps_on_collinear_factors(rng):
    base = [rng.standard_normal((n, 1)) for n in (15, 16, 17)]
    facs = [b + 0.3 * rng.standard_normal((b.shape[0], 3)) for b in base]  # collinear: swamp
    X = lt.CPTensor(None, facs).to_tensor()
    plain = lt.cp(X, 3, line_search=False, tol=0, maxiter=300, rng=0, init="random")
    ls = lt.cp(X, 3, line_search=True, tol=0, maxiter=300, rng=0, init="random")
    assert ls.diagnostics["line_search_accepted"] > 0
    assert ls.errors[-1] < 0.5 * plain.errors[-1]  # further out of the swamp in the same sweeps
    assert np.all(np.diff(ls.errors) <= 1e-12)  # accepted iterates never increase the error


@pytest.mark.parametrize("dtype", DTYPES)
def test_cp_nonneg_hals(rng, dtype):
    true = lt.CPTensor(None, [rng.random((n, 3)).astype(dtype) for n in (9, 10, 11)])
    X = true.to_tensor()
    out = lt.cp(X, 3, nonneg=True, tol=_tol(dtype, 1e-12, 1e-7), maxiter=3000, rng=0, init="random")
    assert all(float(f.min()) >= 0 for f in out.factors)
    assert out.relative_error(X) < _tol(dtype, 1e-5, 1e-3)
    assert np.all(np.diff(out.errors) <= _tol(dtype, 1e-10, 1e-5))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cp_missing_entries(rng, dtype):
    true = random_cp(rng, (12, 13, 14), 2, dtype)
    X = true.to_tensor()
    mask = rng.random(X.shape) > 0.3
    Xm = X.copy()
    Xm[~mask] = np.nan
    Xm_copy = Xm.copy()
    out = lt.cp(Xm, 2, mask=mask, tol=_tol(dtype, 1e-13, 1e-7), maxiter=3000, rng=0)
    np.testing.assert_array_equal(np.isnan(Xm), np.isnan(Xm_copy))  # input untouched
    assert out.relative_error(X) < _tol(dtype, 1e-6, 1e-3)  # the missing entries are recovered
    assert out.errors[-1] < _tol(dtype, 1e-6, 1e-3)


def test_cp_never_raises_singular(rng):
    X = lt.CPTensor(None, [rng.standard_normal((n, 1)) for n in (5, 6, 7)]).to_tensor()
    out = lt.cp(X, 4, maxiter=30, rng=0)  # rank far above the true rank 1: singular Grams
    assert np.all(np.isfinite(out.to_tensor())) and out.relative_error(X) < 1e-6
    zero = lt.cp(np.zeros((4, 5, 6)), 2, maxiter=5)
    assert np.all(np.isfinite(zero.to_tensor()))
    out = lt.cp(X, 2, init=lt.CPTensor(None, [np.zeros((n, 2)) for n in X.shape]), maxiter=5)
    assert np.all(np.isfinite(out.to_tensor()))


def test_cp_core_consistency_and_diagnostics():
    rng = np.random.default_rng(0)
    true = random_cp(rng, (10, 11, 12), 2)
    X = true.to_tensor() + 0.01 * rng.standard_normal((10, 11, 12))
    good = lt.cp(X, 2, rng=0)
    over = lt.cp(X, 3, rng=0, maxiter=200)
    assert good.diagnostics["core_consistency"] > 99
    assert over.diagnostics["core_consistency"] < 50  # one component too many
    assert lt.core_consistency(X, good) == pytest.approx(good.diagnostics["core_consistency"])
    d = good.diagnostics
    assert d["gram_condition"].shape == (3,) and np.all(d["gram_condition"] >= 1)
    assert -1 <= d["min_congruence"] <= 1
    np.testing.assert_allclose(d["component_norms"], good.weights)


def test_cp_reproducible_rng_and_callback(rng):
    X = random_cp(rng, (6, 7, 8), 2).to_tensor() + 0.1 * rng.standard_normal((6, 7, 8))
    a = lt.cp(X, 2, init="random", rng=7, maxiter=20)
    b = lt.cp(X, 2, init="random", rng=np.random.default_rng(7), maxiter=20)
    np.testing.assert_array_equal(a.factors[1], b.factors[1])
    seen = []
    out = lt.parafac(
        X, 2, tol=0, maxiter=50, callback=lambda c: seen.append(c.errors[-1]) or len(seen) >= 5
    )
    assert len(seen) == 5 and out.n_iter == 4 and not out.converged


def test_issue_526_shape_runs_lean(rng):
    X = rng.standard_normal((512, 3, 3, 512))
    lt.cp(X[:4, :, :, :4], 2, maxiter=1)  # first call imports SciPy: keep it out of the count
    tracemalloc.start()
    try:
        out = lt.cp(X, 4, maxiter=2, rng=0, diagnostics=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2.2 * X.nbytes, peak / X.nbytes  # far below the TensorLy 4.5 TiB
    assert out.rank == 4 and np.all(np.isfinite(out.weights))


# ----------------------------------------------------------------------------- TT / TR
@pytest.mark.parametrize("dtype", DTYPES)
def test_tt_exact_recovery_and_tol(rng, dtype):
    cores = [
        rng.standard_normal(s).astype(dtype) for s in [(1, 5, 2), (2, 6, 3), (3, 7, 2), (2, 4, 1)]
    ]
    X = lt.TTTensor(cores).to_tensor()
    out = lt.tensor_train(X, rank=(1, 2, 3, 2, 1))
    assert out.rank == (1, 2, 3, 2, 1)
    assert out.relative_error(X) < _tol(dtype, 1e-12, 1e-5)
    assert lt.tensor_train(X, tol=_tol(dtype, 1e-9, 1e-3)).rank == (1, 2, 3, 2, 1)
    Y = rng.standard_normal((6, 7, 8, 5)).astype(dtype)
    for tol in (0.1, 0.4, 0.8):
        tt = lt.tensor_train(Y, tol=tol)
        assert tt.relative_error(Y) <= tol * (1 + 1e-5)
        assert abs(tt.errors[-1] - tt.relative_error(Y)) < _tol(dtype, 1e-8, 1e-3)


@needs_tl
def test_tt_agrees_with_tensorly(rng):
    from tensorly.decomposition import tensor_train as tl_tt

    X = rng.standard_normal((6, 7, 8, 5))
    ours = lt.tensor_train(X, rank=(1, 3, 5, 3, 1), svd="svd")
    theirs = lt.TTTensor(list(tl_tt(X, rank=[1, 3, 5, 3, 1])))
    e1, e2 = ours.relative_error(X), theirs.relative_error(X)
    assert abs(e1 - e2) <= 1e-6 * e2


def test_tt_round(rng):
    G = [rng.standard_normal(s) for s in [(1, 4, 2), (2, 5, 3), (3, 6, 1)]]
    tt = lt.TTTensor(G)
    mid = np.zeros((4, 5, 6))
    mid[:2, :, :3] = G[1]
    mid[2:, :, 3:] = G[1]
    doubled = lt.TTTensor(
        [np.concatenate([G[0], G[0]], axis=2), mid, np.concatenate([G[2], G[2]], axis=0)]
    )
    r = lt.tt_round(doubled, tol=1e-12)
    assert r.rank == (1, 2, 3, 1)
    np.testing.assert_allclose(r.to_tensor(), 2 * tt.to_tensor(), rtol=1e-10, atol=1e-10)
    Y = lt.tensor_train(rng.standard_normal((5, 6, 7, 4)))
    for tol in (0.2, 0.6):
        rr = lt.tt_round(Y, tol=tol)
        assert rr.relative_error(Y.to_tensor()) <= tol * (1 + 1e-8)
    assert lt.tt_round(Y, rank=2).rank == (1, 2, 2, 2, 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tr_recovery(rng, dtype):
    ring = lt.TRTensor(
        [rng.standard_normal(s).astype(dtype) for s in [(2, 8, 3), (3, 9, 2), (2, 10, 2)]]
    )
    X = ring.to_tensor()
    als = lt.tensor_ring(
        X,
        rank=(2, 3, 2),
        method="als",
        init="random",
        rng=0,
        maxiter=1000,
        tol_iter=1e-14 if dtype == np.float64 else 1e-7,
    )
    assert als.rank == (2, 3, 2, 2)
    assert als.relative_error(X) < _tol(dtype, 1e-9, 1e-3)
    svd = lt.tensor_ring(X, tol=_tol(dtype, 1e-10, 1e-4))
    assert svd.relative_error(X) < _tol(dtype, 1e-10, 1e-4)
    Y = rng.standard_normal((6, 7, 8)).astype(dtype)
    for tol in (0.2, 0.6):
        assert lt.tensor_ring(Y, tol=tol).relative_error(Y) <= tol * (1 + 1e-5)


# ----------------------------------------------------------------------------- bad input
def test_bad_input_messages(rng):
    X = rng.standard_normal((4, 5, 6))
    with pytest.raises(ValueError, match="order >= 2"):
        lt.cp(np.ones(5), 1)
    with pytest.raises(ValueError, match="order >= 2"):
        lt.tucker(np.ones(5), rank=1)
    Xn = X.copy()
    Xn[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or Inf"):
        lt.cp(Xn, 2)
    with pytest.raises(ValueError, match="X contains NaN or Inf"):
        lt.tensor_train(Xn, rank=2)
    with pytest.raises(ValueError, match="mask has shape"):
        lt.cp(X, 2, mask=np.ones((4, 5), bool))
    with pytest.raises(ValueError, match="at observed entries"):
        lt.cp(Xn, 2, mask=np.ones(X.shape, bool))
    with pytest.raises(ValueError, match="larger than the data allows"):
        lt.tucker(X, rank=(5, 2, 2))
    with pytest.raises(ValueError, match="larger than the data allows"):
        lt.tucker(X, rank=(4, 1, 1))
    with pytest.raises(ValueError, match="larger than the data allows"):
        lt.cp(X, 25)
    with pytest.raises(ValueError, match="larger than the data allows"):
        lt.tensor_train(X, rank=(1, 5, 2, 1))
    with pytest.raises(ValueError, match="rank and tol were both given"):
        lt.tucker(X, rank=2, tol=0.1)
    with pytest.raises(ValueError, match="rank and tol were both given"):
        lt.tensor_train(X, rank=2, tol=0.1)
    with pytest.raises(ValueError, match="rank and tol were both given"):
        lt.sthosvd(X, rank=2, tol=0.1)
    with pytest.raises(ValueError, match="give rank=, tol= or budget="):
        lt.tucker(X)
    with pytest.raises(TypeError, match="real float32 or float64"):
        lt.cp(X + 1j, 2)
    with pytest.raises(TypeError, match="rank must be a positive integer"):
        lt.cp(X, 2.5)
    with pytest.raises(ValueError, match="rank='auto' does not support mask"):
        lt.cp(X, "auto", mask=np.ones(X.shape, bool))
    with pytest.raises(TypeError, match="rank must be a positive integer"):
        lt.cp(X, "three")
    with pytest.raises(ValueError, match="init must be"):
        lt.cp(X, 2, init="bogus")
    with pytest.raises(ValueError, match="method must be"):
        lt.tucker(X, rank=2, method="bogus")
    with pytest.raises(ValueError, match="tol must be a finite number > 0"):
        lt.tensor_train(X, tol=-1.0)
    with pytest.raises(ValueError, match="svd must be one of"):
        lt.hosvd(X, rank=2, svd="qr")


def test_integer_input_promoted_and_input_not_modified(rng):
    X = rng.integers(0, 5, size=(4, 5, 6))
    Xc = X.copy()
    out = lt.tucker(X, rank=(4, 5, 6), method="sthosvd")
    assert out.core.dtype == np.float64 and out.relative_error(X) < 1e-12
    np.testing.assert_array_equal(X, Xc)


# ----------------------------------------------------------------------------- example
@pytest.mark.slow
def test_example_plot_tensor_decompositions(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "plot_tensor_decompositions.py"),
            "--small",
            "--out",
            str(tmp_path / "t.png"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    rows = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] in ("cp", "tucker", "tt", "tr"):
            rows[parts[0]] = (int(parts[1]), float(parts[2]), float(parts[3]))
    assert set(rows) == {"cp", "tucker", "tt", "tr"}, proc.stdout
    for name, (_, err, tol) in rows.items():
        assert err <= tol, (name, err, tol)
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "t.png").stat().st_size > 1000


# ----------------------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.skipif(not lrsolve.cupy_available(), reason="needs CuPy and a CUDA device")
def test_gpu_matches_cpu(rng):
    import cupy

    true = random_cp(rng, (20, 21, 22), 3)
    X = true.to_tensor() + 1e-3 * rng.standard_normal((20, 21, 22))
    Xd = cupy.asarray(X)
    for fn in (
        lambda A: lt.cp(A, 3, init="random", rng=3, maxiter=50, tol=0),
        lambda A: lt.tucker(A, rank=(3, 3, 3), init="random", rng=3),
        lambda A: lt.tensor_train(A, tol=0.01),
        lambda A: lt.tensor_ring(A, rank=2, method="als", init="random", rng=3, maxiter=20),
        lambda A: lt.cp(A, 3, mask=A > -10, maxiter=20, rng=0),
        lambda A: lt.cp(A, 3, nonneg=True, maxiter=20, rng=0),
    ):
        c, g = fn(X), fn(Xd)
        assert type(g.to_tensor()).__module__.startswith("cupy")
        assert abs(c.relative_error(X) - g.relative_error(Xd)) < 1e-6
    m = lt.mttkrp(Xd, [cupy.asarray(f) for f in true.factors], 1)
    np.testing.assert_allclose(cupy.asnumpy(m), lt.mttkrp(X, true.factors, 1), rtol=1e-10)
    with lrsolve.backend("cupy"):
        out = lt.sthosvd(X, tol=0.01)
    assert isinstance(out.core, np.ndarray)
    assert out.rank == lt.sthosvd(X, tol=0.01).rank


@pytest.mark.parametrize("dtype", DTYPES)
def test_tensor_ring_als_checks_ranks_against_the_data_and_init(dtype):
    X = np.random.default_rng(0).standard_normal((4, 5, 6)).astype(dtype)
    with pytest.raises(ValueError, match=r"rank\[0\] \* rank\[1\] = 400 exceeds the 30 entries"):
        lt.tensor_ring(X, rank=20, method="als")
    t2 = lt.tensor_ring(X, rank=2, method="als", maxiter=5)
    with pytest.raises(ValueError, match=r"init has ranks \(2, 2, 2\) but rank= asks for"):
        lt.tensor_ring(X, rank=3, method="als", init=t2)
    t3 = lt.tensor_ring(X, rank=2, method="als", init=t2, maxiter=20)
    assert t3.rank == (2, 2, 2, 2)
    assert t3.relative_error(X) <= t2.relative_error(X) + 1e-5


def test_derived_tucker_ranks_fit_unbalanced_shapes():
    """An int, a fraction or 'same' is clipped to what a core allows (each rank at most the
    product of the others); an explicit tuple is still checked."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 2, 30))
    t = lt.tucker(X, rank="same")
    assert all(r <= np.prod([q for j, q in enumerate(t.rank) if j != k])
               for k, r in enumerate(t.rank))
    assert lt.tucker(rng.standard_normal((2, 3, 20)), rank=10).rank == (2, 3, 6)
    assert lt.validate_tucker_rank((2, 2, 50), 0.5) == (1, 1, 1)
    Y = rng.standard_normal((2, 3, 20))
    full = lt.tucker(Y, rank=10)
    assert full.relative_error(Y) < 1e-10  # (2, 3, 6) is exact: the mode-2 rank is 6
    with pytest.raises(ValueError, match=r"rank\[2\]=5 is larger than the data allows"):
        lt.validate_tucker_rank((2, 2, 30), (2, 2, 5))


@needs_tl
@pytest.mark.parametrize("dtype", DTYPES)
def test_tensorly_containers_and_names_are_accepted(dtype):
    """TensorLy's CPTensor / TuckerTensor (or plain pairs) as init, and parafac's
    n_iter_max / random_state: a TensorLy user's call works unchanged."""
    from tensorly.decomposition import parafac as tl_parafac
    from tensorly.decomposition import tucker as tl_tucker

    X = np.random.default_rng(0).standard_normal((5, 6, 7)).astype(dtype)
    c0 = tl_parafac(X, 2, n_iter_max=3, init="random", random_state=0)
    warm = lt.cp(X, 2, init=c0, maxiter=1, line_search=False)
    pair = lt.cp(X, 2, init=(c0.weights, c0.factors), maxiter=1, line_search=False)
    np.testing.assert_allclose(warm.to_tensor(), pair.to_tensor(), rtol=1e-5, atol=1e-6)
    a = lt.parafac(X, 2, n_iter_max=30, random_state=3, init="random")
    b = lt.cp(X, 2, maxiter=30, rng=3, init="random")
    np.testing.assert_allclose(a.to_tensor(), b.to_tensor(), rtol=1e-6, atol=1e-6)
    with pytest.raises(TypeError, match="not both"):
        lt.parafac(X, 2, n_iter_max=3, maxiter=3)
    t0 = tl_tucker(X, rank=[2, 3, 3], n_iter_max=2)
    t1 = lt.tucker(X, rank=(2, 3, 3), init=t0, maxiter=5)
    t2 = lt.tucker(X, rank=(2, 3, 3), init=(t0.core, t0.factors), maxiter=5)
    assert abs(t1.relative_error(X) - t2.relative_error(X)) < 1e-6
    assert t1.relative_error(X) <= lt.tucker(X, rank=(2, 3, 3), init="random", rng=0,
                                              maxiter=1).relative_error(X) + 1e-2


@pytest.mark.parametrize("dtype", DTYPES)
def test_fraction_and_same_ranks_for_trains_and_rings(dtype):
    X = np.random.default_rng(0).standard_normal((4, 5, 6, 7)).astype(dtype)
    for r in (0.5, 0.1, "same"):
        frac = 1.0 if r == "same" else r
        tt = lt.tensor_train(X, rank=r)
        size = sum(c.size for c in tt.cores)
        assert size <= frac * X.size
        assert tt.cores[0].dtype == dtype
    ring = lt.tensor_ring(X, rank=0.2, method="als", maxiter=3)
    assert sum(c.size for c in ring.cores) <= 0.2 * X.size
    with pytest.raises(ValueError, match="'same' or a float"):
        lt.tensor_train(X, rank="half")


def test_gram_svd_honours_ranks_beyond_a_deficient_unfolding():
    rng = np.random.default_rng(0)
    X = np.einsum("ia,ajk->ijk", rng.standard_normal((20, 2)), rng.standard_normal((2, 2, 2)))
    for f in (lt.tucker, lt.hosvd, lt.sthosvd):
        t = f(X, rank=(3, 2, 2), svd="gram")
        assert t.rank == (3, 2, 2)
        np.testing.assert_allclose(t.factors[0].T @ t.factors[0], np.eye(3), atol=1e-10)
        assert t.relative_error(X) < 1e-10


@needs_tl
def test_multi_mode_dot_skip_and_repeated_modes_as_tensorly():
    from tensorly.tenalg import khatri_rao as tl_kr
    from tensorly.tenalg import multi_mode_dot as tl_mmd

    X = np.random.default_rng(0).standard_normal((3, 4, 5))
    A0, A1, A2 = np.ones((2, 3)), np.ones((6, 4)), np.ones((7, 5))
    for mats, modes, skip in (([A0, A2], [0, 2], 1), ([A0, A1, A2], None, 2),
                              ([A0, A1, A2], None, 0)):
        np.testing.assert_allclose(lt.multi_mode_dot(X, mats, modes=modes, skip=skip),
                                   tl_mmd(X, mats, modes=modes, skip=skip), rtol=1e-12)
    rep = [np.random.default_rng(1).standard_normal((5, 3)), np.ones((2, 5))]
    np.testing.assert_allclose(lt.multi_mode_dot(X, rep, modes=[0, 0]),
                               tl_mmd(X, rep, modes=[0, 0]), rtol=1e-12)
    with pytest.raises(ValueError, match="skip must be an index into matrices"):
        lt.multi_mode_dot(X, [A0, A1, A2], skip=3)
    with pytest.raises(ValueError, match="needs 3 entries, got 7"):
        lt.multi_mode_dot(X, [np.ones(7)], modes=[0])
    K = [np.random.default_rng(2).standard_normal((n, 2)) for n in (3, 4, 5)]
    np.testing.assert_allclose(lt.khatri_rao(K, skip_matrix=1), tl_kr(K, skip_matrix=1))
    np.testing.assert_allclose(lt.khatri_rao([np.ones(3), np.arange(4.0)]),
                               tl_kr([np.ones((3, 1)), np.arange(4.0)[:, None]]))


def test_ht_root_children_share_a_rank_cap_and_indexing():
    X = np.random.default_rng(0).standard_normal((4, 5, 3, 6))
    a = lt.hierarchical_tucker(X, rank={(0, 1): 2})
    b = lt.hierarchical_tucker(X, rank={(0, 1): 2, (2, 3): 2})
    assert sum(x.size for x in a[0] + a[1]) == sum(x.size for x in b[0] + b[1])
    assert abs(a.relative_error(X) - b.relative_error(X)) < 1e-12
    leaves, transfers = a
    assert a[0] is leaves and a[1] is transfers


@pytest.mark.parametrize("scale", [1e160, 1e-160])
def test_tucker_does_not_depend_on_the_scale_of_x(scale):
    X = np.random.default_rng(0).standard_normal((4, 5, 6))
    for f in (lambda Y: lt.tucker(Y, rank=2), lambda Y: lt.hosvd(Y, rank=2),
              lambda Y: lt.sthosvd(Y, rank=2), lambda Y: lt.tucker(Y, tol=0.5)):
        ref, got = f(X), f(X * scale)
        assert got.rank == ref.rank
        assert got.relative_error(X * scale) == pytest.approx(ref.relative_error(X), rel=1e-8)
        np.testing.assert_allclose(got.to_tensor() / scale, ref.to_tensor(), atol=1e-10)
