"""Tests of lrsolve.completion: recovery, noise, kernels vs oracle, inputs, loader, example."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import lrsolve
from lrsolve._kernels import get_kernel
from lrsolve.completion import (
    CompletionResult,
    Observations,
    SensingOperator,
    altmin,
    load_movielens,
    observations,
    scaled_gd,
    softimpute,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
DTYPES = [np.float32, np.float64]


def lowrank(m, n, k, rng, dtype=np.float64):
    """An incoherent rank-k matrix (Gaussian factors)."""
    return (rng.standard_normal((m, k)) @ rng.standard_normal((k, n)) / np.sqrt(k)).astype(dtype)


def sample(M, count, rng):
    """``count`` distinct entries, every row and column observed at least ``k`` times."""
    m, n = M.shape
    lin = rng.choice(m * n, size=count, replace=False)
    r, c = np.divmod(lin, n)
    return r, c, M[r, c]


def relerr(A, B):
    return float(np.linalg.norm(np.asarray(A, np.float64) - B) / np.linalg.norm(B))


# ----------------------------------------------------------------------------- recovery
@pytest.mark.parametrize("solver", ["exact", "cg"])
def test_exact_recovery_from_n_k_log_n_samples(engine, solver, rng):
    m, n, k = 200, 160, 3
    M = lowrank(m, n, k, rng)
    count = int(4 * (m + n) * k * np.log(max(m, n)))  # O(n k log n); ~24% of the entries
    r, c, v = sample(M, count, rng)
    res = altmin((r, c, v), k, reg=0.0, maxiter=100, tol=1e-13, rng=0, solver=solver)
    assert relerr(res.to_dense(), M) < 1e-6, res
    assert res.converged
    # the training RMSE decreases to ~0 monotonically enough
    h = res.history["train_rmse"]
    assert h[-1] < 1e-6 * np.sqrt(np.mean(v**2)) and h[-1] < h[0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_recovery_float32_and_float64(dtype, rng):
    M = lowrank(120, 100, 2, rng, dtype)
    r, c, v = sample(M, 3000, rng)
    res = altmin((r, c, v), 2, reg=0.0, maxiter=60, tol=1e-12, rng=1)
    assert res.U.dtype == dtype and res.V.dtype == dtype
    assert relerr(res.to_dense(), M) < (2e-4 if dtype == np.float32 else 1e-8)


def test_stable_under_noise(rng):
    m, n, k = 250, 200, 3
    M = lowrank(m, n, k, rng)
    r, c, v = sample(M, 15000, rng)
    errs = []
    for sigma in (0.01, 0.1):
        noisy = v + sigma * rng.standard_normal(v.shape)
        res = altmin((r, c, noisy), k, reg=0.0, maxiter=30, tol=1e-8, rng=0)
        # per-entry RMS error of the estimate: below the noise level (it denoises), of the order
        # of sigma * sqrt(k (m + n) / |Omega|)
        err = np.linalg.norm(res.to_dense() - M) / np.sqrt(m * n)
        errs.append(err)
        assert err < 2 * sigma * np.sqrt(k * (m + n) / len(v)) < 0.7 * sigma, (sigma, err)
    assert 5 < errs[1] / errs[0] < 20  # the error is proportional to the noise


def test_cg_matches_exact_rmse_within_0p2_percent(rng):
    m, n, k = 300, 250, 5
    M = lowrank(m, n, k, rng) + 3.0
    r, c, v = sample(M, 20000, rng)
    v = v + 0.3 * rng.standard_normal(v.shape)
    tr = rng.random(len(v)) < 0.8
    te = ~tr
    out = {}
    for solver in ("exact", "cg"):
        res = altmin((r[tr], c[tr], v[tr]), k, shape=M.shape, reg=0.05, solver=solver,
                     biases=True, maxiter=40, tol=1e-7, rng=0)
        out[solver] = res.rmse(r[te], c[te], v[te])
    assert abs(out["cg"] - out["exact"]) <= 0.002 * out["exact"], out


@pytest.mark.parametrize("dtype", DTYPES)
def test_scaled_gd_completion_and_ill_conditioning(dtype, rng):
    m, n, k = 150, 120, 3
    U = np.linalg.qr(rng.standard_normal((m, k)))[0]
    V = np.linalg.qr(rng.standard_normal((n, k)))[0]
    M = ((U * [10.0, 3.0, 1.0]) @ V.T).astype(dtype)  # condition number 10
    r, c, v = sample(M, 7000, rng)
    res = scaled_gd((r, c, v), k, maxiter=300, tol=1e-12, damping=0.0, rng=0)
    assert relerr(res.to_dense(), M) < (1e-4 if dtype == np.float32 else 1e-8), res
    assert res.U.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [0, 2])
def test_scaled_gd_condition_number_100(dtype, seed):
    """kappa = 100: sigma_3 = sigma_1 / 100 lies far below the sampling noise of P_Omega(M) / p.

    With the one-shot spectral start (``init="svd"``) these two seeds stall at 12% and 10%
    relative error; the staged start (default) adds sigma_3 once sigma_1, sigma_2 are fitted.
    """
    rng = np.random.default_rng(seed)
    m, n, k = 150, 120, 3
    U = np.linalg.qr(rng.standard_normal((m, k)))[0]
    V = np.linalg.qr(rng.standard_normal((n, k)))[0]
    M = ((U * [100.0, 10.0, 1.0]) @ V.T).astype(dtype)
    r, c, v = sample(M, 7000, rng)  # 39% of the entries
    res = scaled_gd((r, c, v), k, maxiter=400, tol=1e-12, rng=seed)
    assert relerr(res.to_dense(), M) < (1e-4 if dtype == np.float32 else 1e-8), res
    # linear rate, not a slow escape from a plateau: 1e-6 relative training error within 250
    h = res.history["train_rmse"]
    hit = np.flatnonzero(h < 1e-6 * np.sqrt(np.mean(v.astype(np.float64) ** 2)))
    assert hit.size and hit[0] < 250, h[::25]
    # stopped while components are still missing: zero columns pad the factors to rank k
    early = scaled_gd((r, c, v), k, maxiter=2, rng=seed)
    assert early.U.shape == (m, k) and early.V.shape == (n, k) and early.U.dtype == dtype
    assert relerr(early.to_dense(), M) < 0.5


def test_scaled_gd_sensing_overparameterized(rng):
    m, n, k = 15, 12, 2
    X = lowrank(m, n, k, rng)
    A = SensingOperator.gaussian((m, n), 6 * (m + n) * k, rng=3)
    y = A(X)
    exact = scaled_gd(A, k, measurements=y, maxiter=300, tol=1e-13)
    assert relerr(exact.to_dense(), X) < 1e-8
    over = scaled_gd(A, 3 * k, measurements=y, init="random", init_scale=1e-3, damping=1e-2,
                     maxiter=2000, tol=1e-13, rng=0)
    assert relerr(over.to_dense(), X) < 1e-3, over


def test_softimpute_matches_dense_reference(rng):
    """Same iterates as the textbook dense SoftImpute (full SVD of the filled matrix)."""
    m, n, k = 60, 40, 2
    M = lowrank(m, n, k, rng)
    mask = rng.random(M.shape) < 0.6
    lam = 1.0
    Z = np.zeros_like(M)
    for _ in range(30):
        filled = np.where(mask, M, Z)
        u, s, vt = np.linalg.svd(filled, full_matrices=False)
        Z = (u * np.maximum(s - lam, 0)) @ vt
    res = softimpute((M, mask), lam=lam, rank_max=40, maxiter=30, tol=0.0, rng=0, accelerate=False)
    assert res.n_iter == 30
    assert relerr(res.to_dense(), Z) < 1e-6
    s_ref = np.linalg.svd(Z, compute_uv=False)
    np.testing.assert_allclose(res.singular_values, s_ref[: res.rank], rtol=1e-6)


def test_softimpute_accelerated_reaches_the_same_fixed_point_faster(rng):
    """Momentum (default) converges to the SoftImpute fixed point ``Z = SVT(P(M) + P^perp(Z))``."""
    m, n, k = 60, 40, 3
    M = lowrank(m, n, k, rng) + 0.05 * rng.standard_normal((m, n))
    mask = rng.random(M.shape) < 0.25  # low sampling rate: the textbook iteration is slow
    lam = 0.5

    def fixed_point_gap(res):
        """Relative change of one dense textbook step (full SVD) from the result (0: optimum)."""
        Z = res.to_dense().astype(np.float64)
        u, s, vt = np.linalg.svd(np.where(mask, M, Z), full_matrices=False)
        return relerr(Z, (u * np.maximum(s - lam, 0)) @ vt)

    for dtype in DTYPES:
        obs = (M.astype(dtype), mask)
        fast = softimpute(obs, lam=lam, rank_max=20, maxiter=1000, tol=1e-6, rng=0)
        assert fast.U.dtype == dtype and fast.converged
        gap = fixed_point_gap(fast)
        assert gap < (1e-5 if dtype == np.float32 else 1e-6), fast
        # the textbook iteration (same iterates as the dense one) is far from it after as many
        slow = softimpute(obs, lam=lam, rank_max=20, maxiter=fast.n_iter, tol=0.0, rng=0,
                          accelerate=False)
        assert fixed_point_gap(slow) > 10 * gap, (fixed_point_gap(slow), gap)


def test_softimpute_early_stop_returns_best_iterate(rng):
    M = lowrank(100, 80, 3, rng)
    r, c, v = sample(M, 2500, rng)
    v = v + 0.5 * rng.standard_normal(v.shape)  # noisy: a small lam overfits
    rt, ct, vt = sample(M, 500, np.random.default_rng(9))
    res = softimpute((r, c, v), shape=M.shape, lam=0.5, rank_max=30, maxiter=300, tol=0.0,
                     validation=(rt, ct, vt), early_stop=3, rng=0)
    h = res.history["val_rmse"]
    assert res.n_iter < 300 and "stopped improving" in res.message
    assert np.argmin(h) == res.n_iter - 4  # 3 iterations without improvement
    np.testing.assert_allclose(res.rmse(rt, ct, vt), h.min(), rtol=1e-10)
    with pytest.raises(ValueError, match="early_stop must be an integer >= 1"):
        softimpute((r, c, v), shape=M.shape, validation=(rt, ct, vt), early_stop=0)


def test_softimpute_default_lambda_and_validation(rng):
    M = lowrank(100, 80, 3, rng)
    r, c, v = sample(M, 4000, rng)
    rt, ct, vt = sample(M, 500, np.random.default_rng(9))
    res = softimpute((r, c, v), shape=M.shape, rank_max=10, validation=(rt, ct, vt), rng=0,
                     progress=True)
    h = res.history
    assert len(h["val_rmse"]) == res.n_iter == len(h["train_rmse"]) == len(h["time"])
    assert h["val_rmse"][-1] < 0.2 * np.sqrt(np.mean(vt**2))
    np.testing.assert_allclose(h["val_rmse"][-1], res.rmse(rt, ct, vt), rtol=1e-10)


# ----------------------------------------------------------------------------- biases, predict
def test_biases_recover_additive_model(rng):
    m, n = 80, 70
    b = rng.standard_normal(m)
    cc = rng.standard_normal(n)
    M = 3.5 + b[:, None] + cc[None, :] + lowrank(m, n, 2, rng)
    r, c, v = sample(M, 3000, rng)
    res = altmin((r, c, v), 2, reg=1e-9, biases=True, maxiter=80, tol=1e-12, rng=0)
    assert relerr(res.to_dense(), M) < 1e-5
    assert res.row_bias.shape == (m,) and res.col_bias.shape == (n,)
    assert res.mean == pytest.approx(np.mean(v))


def test_predict_matches_dense_reference(rng):
    U = rng.standard_normal((7, 3))
    V = rng.standard_normal((5, 3))
    b = rng.standard_normal(7)
    c = rng.standard_normal(5)
    res = CompletionResult(U=U, V=V, row_bias=b, col_bias=c, mean=2.0, shape=(7, 5))
    dense = U @ V.T + b[:, None] + c[None, :] + 2.0
    np.testing.assert_allclose(res.to_dense(), dense, rtol=1e-14)
    rows = rng.integers(0, 7, 40)
    cols = rng.integers(0, 5, 40)
    np.testing.assert_allclose(res.predict(rows, cols), dense[rows, cols], rtol=1e-13)
    Uo, Vo = res
    assert Uo is U and Vo is V
    with pytest.raises(ValueError, match="cols must lie in"):
        res.predict([0], [5])
    with pytest.raises(ValueError, match="equal length"):
        res.predict([0, 1], [0])


def test_validation_history_and_early_stop(rng):
    M = lowrank(150, 120, 3, rng)
    r, c, v = sample(M, 5000, rng)
    v = v + 0.5 * rng.standard_normal(v.shape)
    rt, ct, vt = sample(M, 1000, np.random.default_rng(3))
    seen = []
    res = altmin((r, c, v), 12, shape=M.shape, reg=0.0, init="random", maxiter=40, rng=0,
                 validation=(rt, ct, vt), early_stop=2, tol=0.0, callback=seen.append)
    h = res.history
    assert len(seen) == len(h["train_rmse"]) == res.n_iter
    assert res.n_iter < 40 and res.converged and "validation" in res.message
    best = int(np.argmin(h["val_rmse"]))
    # the returned iterate is the best one
    assert res.rmse(rt, ct, vt) == pytest.approx(h["val_rmse"][best], rel=1e-9)
    assert np.all(np.diff(h["train_rmse"]) <= 1e-12)  # ALS never increases the objective (reg 0)


# ----------------------------------------------------------------------------- input forms
def test_input_forms_agree_and_inputs_untouched(rng):
    M = rng.standard_normal((6, 5))
    mask = rng.random(M.shape) < 0.6
    r, c = np.nonzero(mask)
    v = M[r, c]
    perm = rng.permutation(len(v))
    r_copy, v_copy = r.copy(), v.copy()
    forms = [
        (r[perm], c[perm], v[perm]),
        (M, mask),
        np.where(mask, M, np.nan),
        np.ma.MaskedArray(M, mask=~mask),
        sp.coo_matrix((v, (r, c)), shape=M.shape),
        sp.csr_array((v, (r, c)), shape=M.shape),
    ]
    ref = observations(forms[0], shape=M.shape)
    for f in forms[1:]:
        o = observations(f)
        assert o.shape == M.shape
        for name in ("row_ptr", "row_idx", "row_vals", "col_ptr", "col_idx", "col_vals"):
            np.testing.assert_array_equal(getattr(o, name), getattr(ref, name))
    np.testing.assert_array_equal(r, r_copy)
    np.testing.assert_array_equal(v, v_copy)
    assert observations(ref) is ref
    assert isinstance(ref, Observations) and "nnz=" in repr(ref)
    # CSR holds (row, col)-sorted entries, CSC (col, row)-sorted
    dense = np.zeros(M.shape)
    dense[r, c] = v
    np.testing.assert_array_equal(ref.to_sparse().toarray(), dense)


def test_shape_inferred_and_empty_rows_columns(rng):
    o = observations(([0, 2], [1, 3], [1.0, 2.0]))
    assert o.shape == (3, 4)
    # row 1 and columns 0, 2 have no entries: their factors are 0, never NaN
    M = lowrank(30, 20, 2, rng)
    r, c, v = sample(M, 400, rng)
    keep = (r != 5) & (c != 7)
    for solver in ("exact", "cg"):
        res = altmin((r[keep], c[keep], v[keep]), 2, shape=M.shape, solver=solver, reg=0.1,
                     biases=True, maxiter=5, rng=0)
        assert np.isfinite(res.to_dense()).all()
        assert not res.U[5].any() and res.row_bias[5] == 0
        assert not res.V[7].any() and res.col_bias[7] == 0


def test_duplicates_rejected_or_combined():
    rows, cols, vals = [0, 1, 0], [1, 1, 1], [1.0, 2.0, 5.0]
    with pytest.raises(ValueError, match=r"entry \(0, 1\) is given more than once.*duplicates="):
        observations((rows, cols, vals))
    s = observations((rows, cols, vals), duplicates="sum")
    assert s.nnz == 2 and s.row_vals.tolist() == [6.0, 2.0]
    a = observations((rows, cols, vals), duplicates="mean")
    assert a.row_vals.tolist() == [3.0, 2.0]
    with pytest.raises(ValueError, match="duplicates must be one of"):
        observations((rows, cols, vals), duplicates="max")


@pytest.mark.parametrize(
    "obs, kwargs, exc, match",
    [
        (([0, 3], [0, 1], [1.0, 2.0]), {"shape": (3, 2)}, ValueError, "rows index 3 is out of"),
        (([0, 1], [0, 2], [1.0, 2.0]), {"shape": (3, 2)}, ValueError, "cols index 2 is out of"),
        (([0, -1], [0, 1], [1.0, 2.0]), {}, ValueError, "negative indices"),
        (([0, 1], [0, 1], [1.0, np.nan]), {}, ValueError, "NaN or Inf"),
        (([0, 1], [0, 1], [1.0, np.inf]), {}, ValueError, "NaN or Inf"),
        (([0, 1], [0, 1], [1.0]), {}, ValueError, "same length"),
        (([0, 1], [0, 1], [1.0 + 1j, 2.0]), {}, TypeError, "must be real"),
        (([0.5, 1], [0, 1], [1.0, 2.0]), {}, TypeError, "integer indices"),
        (([], [], []), {}, ValueError, "no observed entries"),
        ((np.ones((2, 2)), np.ones((2, 2))), {}, TypeError, "mask must be a boolean"),
        ((np.ones((2, 2)), np.ones((2, 3), bool)), {}, ValueError, "mask must have the shape"),
        (np.ones(3), {}, ValueError, "2-D array"),
        ("ratings", {}, TypeError, "obs must be"),
        ((1, 2, 3, 4), {}, ValueError, "tuple of length 4"),
        (([0], [0], [1.0]), {"shape": (0, 2)}, ValueError, "positive integers"),
    ],
)
def test_bad_input_messages(obs, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        observations(obs, **kwargs)


def test_bad_solver_arguments(rng):
    obs = observations(([0, 1, 2], [0, 1, 2], [1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=r"rank=4 is larger than min\(m, n\) = 3"):
        altmin(obs, 4)
    with pytest.raises(ValueError, match="rank must be a positive integer"):
        altmin(obs, 0)
    with pytest.raises(ValueError, match="solver must be one of"):
        altmin(obs, 1, solver="lu")
    with pytest.raises(ValueError, match="init must be one of"):
        altmin(obs, 1, init="zeros")
    with pytest.raises(ValueError, match="reg must be a finite number >= 0"):
        altmin(obs, 1, reg=-1.0)
    with pytest.raises(ValueError, match="maxiter must be an integer >= 1"):
        softimpute(obs, maxiter=0)
    with pytest.raises(ValueError, match=r"rank_max=5 is larger"):
        softimpute(obs, rank_max=5)
    with pytest.raises(TypeError, match="accelerate must be True or False"):
        softimpute(obs, accelerate="yes")
    with pytest.raises(ValueError, match="init must be one of"):
        scaled_gd(obs, 1, init="zeros")
    with pytest.raises(ValueError, match="needs measurements"):
        scaled_gd(SensingOperator.gaussian((3, 3), 9, rng=0), 1)
    with pytest.raises(ValueError, match="measurements must have shape"):
        scaled_gd(SensingOperator.gaussian((3, 3), 9, rng=0), 1, measurements=np.ones(4))
    with pytest.raises(ValueError, match="validation has shape"):
        altmin(obs, 1, validation=observations(([0], [0], [1.0])))  # inferred (1, 1) shape
    with pytest.raises(ValueError, match="only used with a SensingOperator"):
        scaled_gd(obs, 1, measurements=np.ones(3))


# ----------------------------------------------------------------------------- kernels vs oracle
def _structure(rng, m, n, nnz, dtype):
    lin = rng.choice(m * n, size=nnz, replace=False)
    r, c = np.divmod(lin, n)
    o = observations((r, c, rng.standard_normal(nnz).astype(dtype)), shape=(m, n))
    return o


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernels_match_oracle(dtype, rng):
    m, n, k = 40, 30, 4
    o = _structure(rng, m, n, 500, dtype)
    # one empty row, to check it is handled
    keep = np.ones(o.nnz, bool)
    keep[o.row_ptr[3]:o.row_ptr[4]] = False
    rows = o.rows()
    o = observations((rows[keep], o.row_idx[keep], o.row_vals[keep]), shape=(m, n))
    F = rng.standard_normal((n, k)).astype(dtype)
    U = rng.standard_normal((m, k)).astype(dtype)
    X0 = rng.standard_normal((m, k)).astype(dtype)
    lam = (0.1 * o.row_counts).astype(dtype)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    args = (o.row_ptr, o.row_idx, o.row_vals)
    res = {}
    for eng in ("numba", "numpy"):
        out_s = np.empty(o.nnz, dtype)
        get_kernel("mc_sampled_dot", eng)(o.row_ptr, o.row_idx, U, F, out_s)
        A = np.empty((m, k, k), dtype)
        b = np.empty((m, k), dtype)
        get_kernel("mc_normal_eq", eng)(*args, F, lam, A, b)
        x_e = np.empty((m, k), dtype)
        get_kernel("mc_als_exact", eng)(*args, F, lam, x_e)
        x_c = np.empty((m, k), dtype)
        get_kernel("mc_als_cg", eng)(*args, F, lam, X0, 2, x_c)
        x_k = np.empty((m, k), dtype)
        get_kernel("mc_als_cg", eng)(*args, F, lam, X0, 3 * k, x_k)
        res[eng] = (out_s, A, b, x_e, x_c, x_k)
    # dense reference
    dense_rows = o.rows()
    np.testing.assert_allclose(res["numpy"][0], np.sum(U[dense_rows] * F[o.row_idx], 1),
                               rtol=tol, atol=tol)
    i = 7
    Fi = F[o.row_idx[o.row_ptr[i]:o.row_ptr[i + 1]]].astype(np.float64)
    Ai = Fi.T @ Fi + lam[i] * np.eye(k)
    bi = Fi.T @ o.row_vals[o.row_ptr[i]:o.row_ptr[i + 1]]
    np.testing.assert_allclose(res["numpy"][1][i], Ai, rtol=tol * 10, atol=tol * 10)
    np.testing.assert_allclose(res["numpy"][3][i], np.linalg.solve(Ai, bi), rtol=tol * 100,
                               atol=tol * 100)
    for a, b_ in zip(res["numba"], res["numpy"], strict=True):
        np.testing.assert_allclose(a, b_, rtol=tol * 100, atol=tol * 100)
    # CG with enough steps reaches the exact solution; empty rows give 0
    np.testing.assert_allclose(res["numba"][5], res["numba"][3], rtol=1e-3 if tol > 1e-6 else 1e-8,
                               atol=1e-3 if tol > 1e-6 else 1e-8)
    assert not res["numba"][3][3].any() and not res["numba"][4][3].any() or lam[3] > 0


def test_build_index_kernels_agree(rng):
    m, n = 50, 40
    lin = rng.choice(m * n, 700, replace=False)
    r, c = np.divmod(lin, n)
    a = get_kernel("mc_build_index", "numba")(r, c, m, n)
    b = get_kernel("mc_build_index", "numpy")(r, c, m, n)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(np.lexsort((c[a[1]], r[a[1]])), np.arange(700))


def test_numba_parallel_variant_matches_serial(rng, monkeypatch):
    from lrsolve._kernels import _numba_completion as nk

    o = _structure(rng, 60, 50, 900, np.float64)
    F = rng.standard_normal((50, 3))
    lam = 0.1 * o.row_counts.astype(np.float64)
    outs = []
    for limit in (10**9, 1):
        monkeypatch.setattr(nk, "PARALLEL_MIN", limit)
        x = np.empty((60, 3))
        nk.mc_als_cg(o.row_ptr, o.row_idx, o.row_vals, F, lam, np.zeros((60, 3)), 2, x)
        outs.append(x)
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_exact_kernel_row_blocks_match_dense_solves(dtype, rng, monkeypatch):
    """The Numba exact kernel factors four rows together and adds two entries per pass,
    and solves rows with at most ``dual_max`` entries by their dual system: rows with
    0..7 entries, a partial last block and chunk, empty rows with and without
    regularisation, k from 1 to 10, dual path never / default (k // 2) / for every row
    with fewer than k entries, serial and threaded variants."""
    from lrsolve._kernels import _numba_completion as nk

    m, n = 131, 40  # 131 rows: the last chunk of 64 rows and its last block of 4 are partial
    counts = np.array([0, 1, 2, 3, 4, 5, 7])[np.arange(m) % 7]
    ptr = np.zeros(m + 1, np.int64)
    ptr[1:] = np.cumsum(counts)
    idx = np.concatenate([rng.choice(n, c, replace=False) for c in counts]).astype(np.int64)
    vals = rng.standard_normal(ptr[-1]).astype(dtype)
    lam = (0.1 * counts + 0.05).astype(dtype)
    lam[(counts == 0) & (np.arange(m) % 2 == 0)] = 0  # empty and unregularised: solution 0
    tol = 1e-3 if dtype == np.float32 else 1e-10
    for k in (1, 3, 10):
        F = rng.standard_normal((n, k)).astype(dtype)
        ref = np.zeros((m, k))
        for i in range(m):
            Fi = F[idx[ptr[i]:ptr[i + 1]]].astype(np.float64)
            yi = vals[ptr[i]:ptr[i + 1]]
            if counts[i] or lam[i]:
                ref[i] = np.linalg.solve(Fi.T @ Fi + lam[i] * np.eye(k), Fi.T @ yi)
        oracle = np.empty((m, k), dtype)
        get_kernel("mc_als_exact", "numpy")(ptr, idx, vals, F, lam, oracle)
        for limit in ((10**9, 1) if dtype == np.float64 else (10**9,)):
            monkeypatch.setattr(nk, "PARALLEL_MIN", limit)
            for dual_max in (0, None, k - 1):
                x = np.full((m, k), np.nan, dtype)
                nk.mc_als_exact(ptr, idx, vals, F, lam, x, dual_max)
                assert x.dtype == dtype
                np.testing.assert_allclose(x, ref, rtol=tol, atol=tol)
                np.testing.assert_allclose(x, oracle, rtol=tol, atol=tol)
                assert not x[counts == 0].any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_sq_residual_kernel_matches_dense_and_oracle(dtype, rng, monkeypatch):
    """The fused residual pass (training RMSE of a sweep): numba serial/threaded vs the
    oracle vs a dense float64 computation, with and without biases and offset."""
    from lrsolve._kernels import _numba_completion as nk

    m, n, k = 1500, 70, 3  # 1500 rows: two partial-sum tasks of 1024 rows
    o = _structure(rng, m, n, 6000, dtype)
    U = rng.standard_normal((m, k)).astype(dtype)
    V = rng.standard_normal((n, k)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    c = rng.standard_normal(n).astype(dtype)
    rows = o.rows()
    pred = np.sum(U[rows].astype(np.float64) * V[o.row_idx], axis=1)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for offset, rb, cb in ((0.0, None, None), (0.7, b, c)):
        p = pred + 0.0 if rb is None else pred + b[rows] + c[o.row_idx]
        want = float(np.sum((o.row_vals - (p + offset)) ** 2))
        args = (o.row_ptr, o.row_idx, o.row_vals, U, V, offset, rb, cb)
        oracle = get_kernel("mc_sq_residual", "numpy")(*args)
        assert oracle == pytest.approx(want, rel=tol)
        for limit in (10**9, 1):
            monkeypatch.setattr(nk, "PARALLEL_MIN", limit)
            got = nk.mc_sq_residual(*args)
            assert isinstance(got, float)
            assert got == pytest.approx(want, rel=tol)
    # the training RMSE that altmin records is this pass's
    from lrsolve.completion import _common

    rmse = _common.train_rmse(o, U, V, 0.7, b, c)
    resid = _common.train_residual(o, U, V, 0.7, b, c)
    assert rmse == pytest.approx(np.sqrt(np.mean(resid.astype(np.float64) ** 2)), rel=tol * 10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cg_kernel_long_rows_and_gathered_rows_agree(dtype, rng, monkeypatch):
    """Rows longer than the gather buffer take the unbuffered CG path: same results."""
    from lrsolve._kernels import _numba_completion as nk

    m, n, k = 70, 40, 4
    o = _structure(rng, m, n, 900, dtype)
    F = rng.standard_normal((n, k)).astype(dtype)
    X0 = rng.standard_normal((m, k)).astype(dtype)
    lam = (0.1 * o.row_counts).astype(dtype)
    args = (o.row_ptr, o.row_idx, o.row_vals, F, lam, X0, 3)
    ref = get_kernel("mc_als_cg", "numpy")(*args, np.empty((m, k), dtype))
    tol = 1e-4 if dtype == np.float32 else 1e-11
    for cap in (nk._GATHER_CAP, 5):  # 5: most rows (about 13 entries) are longer
        monkeypatch.setattr(nk, "_GATHER_CAP", cap)
        got = nk.mc_als_cg(*args, np.empty((m, k), dtype))
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("biases", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_altmin_history_rmse_is_the_training_rmse(biases, dtype, rng):
    """The fused residual pass records the RMSE of the returned factors on the entries."""
    M = lowrank(90, 70, 3, rng, dtype) + 1.5
    r, c, v = sample(M, 2500, rng)
    v = v + 0.2 * rng.standard_normal(v.shape).astype(dtype)
    res = altmin((r, c, v), 3, reg=0.05, biases=biases, maxiter=4, tol=0.0, rng=0)
    pred = res.predict(r, c).astype(np.float64)
    want = np.sqrt(np.mean((v.astype(np.float64) - pred) ** 2))
    assert res.history["train_rmse"][-1] == pytest.approx(want, rel=1e-5 if dtype == np.float32
                                                          else 1e-12)


# ----------------------------------------------------------------------------- loader
def test_load_movielens_synthetic_file(tmp_path, rng):
    nu, ni, nr = 30, 40, 200
    lin = rng.choice(nu * ni, nr, replace=False)
    u, i = np.divmod(lin, ni)
    ratings = rng.integers(1, 6, nr)
    ts = rng.integers(874724710, 893286638, nr)
    path = tmp_path / "u.data"
    lines = zip(u + 1, i + 1, ratings, ts, strict=True)
    path.write_text("".join(f"{a}\t{b}\t{r}\t{t}\n" for a, b, r, t in lines))
    rows, cols, vals, shape, times = load_movielens(path, timestamps=True)
    np.testing.assert_array_equal(rows, u)
    np.testing.assert_array_equal(cols, i)
    np.testing.assert_array_equal(vals, ratings.astype(float))
    np.testing.assert_array_equal(times, ts)
    assert shape == (u.max() + 1, i.max() + 1)
    res = altmin((rows, cols, vals), 2, shape=shape, biases=True, maxiter=3, rng=0)
    assert np.isfinite(res.history["train_rmse"]).all()
    # ML-1M format
    p2 = tmp_path / "ratings.dat"
    p2.write_text("1::3::4::978300760\n2::1::5::978302109\n")
    r2, c2, v2, s2 = load_movielens(p2, sep="::", dtype=np.float32)
    assert r2.tolist() == [0, 1] and c2.tolist() == [2, 0] and s2 == (2, 3)
    assert v2.dtype == np.float32
    bad = tmp_path / "bad.data"
    cases = [
        ("1\t2\t3\n", "4 fields per line"),
        ("0\t2\t3\t5\n", "1-based"),
        # a short line next to a long one: the token count is a multiple of 4, the lines not
        ("1\t2\t5\t881250949\n1\t2\t5\n3\t1\t3\t891717742\t9\n",
         "line 2: expected 4 fields per line"),
        ("1\t2\t5\t1\n1.7\t1\t3\t2\n", "line 2: user id '1.7' is not an integer"),
        ("1\t2\tnan\t1\n", "line 1: the rating is not finite"),
        ("\n\n", "no ratings"),
        ("1\t2\t5\t1\n\n2.5\t1\t4\t2\n", "line 3: user id '2.5'"),  # the file's line
    ]
    for text, msg in cases:
        bad.write_text(text)
        with pytest.raises(ValueError, match=msg):
            load_movielens(bad)
    bad.write_text("1\t2\t5\t1\n\n2\t1\t4\t2\n\n")  # blank lines are skipped
    assert load_movielens(bad)[2].tolist() == [5.0, 4.0]


# ----------------------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.parametrize("solver", ["exact", "cg"])
def test_cupy_matches_numpy(solver, rng):
    import cupy

    M = lowrank(120, 90, 3, rng)
    r, c, v = sample(M, 4000, rng)
    host = altmin((r, c, v), 3, reg=0.01, solver=solver, biases=True, maxiter=10, rng=0, tol=0.0)
    dev = altmin((cupy.asarray(r), cupy.asarray(c), cupy.asarray(v)), 3, reg=0.01, solver=solver,
                 biases=True, maxiter=10, rng=0, tol=0.0)
    assert isinstance(dev.U, cupy.ndarray)
    np.testing.assert_allclose(dev.history["train_rmse"], host.history["train_rmse"], rtol=1e-6)
    np.testing.assert_allclose(dev.U.get(), host.U, rtol=1e-6, atol=1e-8)
    with lrsolve.backend("cupy"):
        mixed = altmin((r, c, v), 3, reg=0.01, solver=solver, maxiter=3, rng=0)
    assert isinstance(mixed.U, np.ndarray)
    si = softimpute((cupy.asarray(r), cupy.asarray(c), cupy.asarray(v)), lam=1.0, rank_max=6,
                    maxiter=20, rng=0)
    si_h = softimpute((r, c, v), lam=1.0, rank_max=6, maxiter=20, rng=0)
    np.testing.assert_allclose(si.singular_values, si_h.singular_values, rtol=1e-6)
    sg = scaled_gd((cupy.asarray(r), cupy.asarray(c), cupy.asarray(v)), 3, maxiter=50, rng=0)
    sg_h = scaled_gd((r, c, v), 3, maxiter=50, rng=0)
    np.testing.assert_allclose(sg.history["train_rmse"], sg_h.history["train_rmse"], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("chunk", [64, 1 << 20])
def test_batched_gpu_form_matches_oracle(dtype, chunk, rng, monkeypatch):
    """The padded batched-GEMM form the GPU runs, executed with NumPy."""
    from lrsolve._kernels import _batched_completion as bc

    monkeypatch.setattr(bc, "CHUNK", chunk)  # 64: many buckets of a few rows each
    m, n, k = 40, 30, 4
    o = _structure(rng, m, n, 500, dtype)
    keep = np.ones(o.nnz, bool)
    keep[o.row_ptr[3]:o.row_ptr[4]] = False  # an empty row
    keep[o.row_ptr[5]:o.row_ptr[6]] = False  # and one with lam = 0 below
    rows = o.rows()
    o = observations((rows[keep], o.row_idx[keep], o.row_vals[keep]), shape=(m, n))
    F = rng.standard_normal((n, k)).astype(dtype)
    X0 = rng.standard_normal((m, k)).astype(dtype)
    lam = (0.1 * o.row_counts).astype(dtype)
    lam[3] = 0.5
    args = (o.row_ptr, o.row_idx, o.row_vals, F, lam)
    tol = 2e-4 if dtype == np.float32 else 1e-10
    for name, extra in (("mc_als_exact", ()), ("mc_als_cg", (X0, 3))):
        ref = get_kernel(name, "numpy")(*args, *extra, np.empty((m, k), dtype))
        got = bc.KERNELS[name](*args, *extra, np.empty((m, k), dtype))
        assert got.dtype == dtype
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
    assert not got[5].any()  # no entries and no regularisation: zero


@pytest.mark.parametrize("dtype", DTYPES)
def test_cg_kernels_solve_short_rows_exactly(dtype, rng, monkeypatch):
    """``mc_als_cg`` gives rows with ``0 < n_i <= exact_max`` entries (and ``lam > 0``) the
    exact solution (the Numba kernel by the row's dual system) and runs CG on the others:
    every engine (Numba serial and threaded, the oracle, the batched GPU form on NumPy)
    agrees, row by row, with the exact solve or with pure CG (``exact_max=0``)."""
    from lrsolve._kernels import _batched_completion as bc
    from lrsolve._kernels import _numba_completion as nk
    from lrsolve._kernels._reference_completion import cg_exact_max

    m, n, k, steps = 26, 30, 6, 2
    counts = np.arange(m) % 13  # rows with 0 .. 12 entries
    r = np.repeat(np.arange(m), counts)
    c = np.concatenate([rng.choice(n, size=q, replace=False) for q in counts])
    o = observations((r, c, rng.standard_normal(len(r)).astype(dtype)), shape=(m, n))
    F = rng.standard_normal((n, k)).astype(dtype)
    X0 = rng.standard_normal((m, k)).astype(dtype)
    lam = (0.1 * o.row_counts).astype(dtype)
    lam[5] = 0  # a short row without regularisation: the minimum-norm solution
    lam[12] = 0  # a long row without regularisation: CG
    args = (o.row_ptr, o.row_idx, o.row_vals, F, lam)
    emax = cg_exact_max(k, steps)
    assert emax == 5
    exact = get_kernel("mc_als_exact", "numpy")(*args, np.empty((m, k), dtype))
    plain = get_kernel("mc_als_cg", "numpy")(*args, X0, steps, np.empty((m, k), dtype),
                                              exact_max=0)
    cnt = np.asarray(o.row_counts)
    short = (cnt > 0) & (cnt <= emax) & (lam > 0)
    under = (cnt > 0) & (cnt < k) & (lam == 0)
    assert short.sum() == 9 and under.sum() == 1 and (~short & ~under & (cnt > 0)).sum() == 14
    ptr, idx, vals = (np.asarray(a) for a in (o.row_ptr, o.row_idx, o.row_vals))
    for i in np.flatnonzero(under):  # min-norm: in the row space of its sampled rows
        exact[i] = np.linalg.pinv(F[idx[ptr[i]:ptr[i + 1]]].astype(np.float64)) @ vals[
            ptr[i]:ptr[i + 1]]
    short |= under
    # CG with two steps is not yet exact on the longer rows: the two answers differ there
    assert np.abs(plain[cnt > 8] - exact[cnt > 8]).max() > 1e-3
    tol = 2e-4 if dtype == np.float32 else 1e-10
    got = {"numpy": get_kernel("mc_als_cg", "numpy")(*args, X0, steps, np.empty((m, k), dtype)),
           "batched": bc.mc_als_cg(*args, X0, steps, np.empty((m, k), dtype))}
    for limit in (10**9, 1):  # serial and threaded Numba
        monkeypatch.setattr(nk, "PARALLEL_MIN", limit)
        got[f"numba{limit}"] = nk.mc_als_cg(*args, X0, steps, np.empty((m, k), dtype))
        np.testing.assert_allclose(
            nk.mc_als_cg(*args, X0, steps, np.empty((m, k), dtype), exact_max=0), plain,
            rtol=tol, atol=tol)
    monkeypatch.setattr(bc, "CHUNK", 64)  # buckets of a few rows, mixed and all-short ones
    got["batched-small"] = bc.mc_als_cg(*args, X0, steps, np.empty((m, k), dtype))
    for name, x in got.items():
        assert x.dtype == dtype, name
        np.testing.assert_allclose(x[short], exact[short], rtol=tol, atol=tol, err_msg=name)
        np.testing.assert_allclose(x[~short], plain[~short], rtol=tol, atol=tol, err_msg=name)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_cupy_kernels_match_oracle(dtype, rng):
    import cupy

    o = _structure(rng, 40, 30, 500, dtype)
    F = rng.standard_normal((30, 4)).astype(dtype)
    lam = (0.1 * o.row_counts).astype(dtype)
    x = np.empty((40, 4), dtype)
    get_kernel("mc_als_exact", "numpy")(o.row_ptr, o.row_idx, o.row_vals, F, lam, x)
    d = cupy.empty((40, 4), dtype)
    dev = [cupy.asarray(a) for a in (o.row_ptr, o.row_idx, o.row_vals, F, lam)]
    get_kernel("mc_als_exact", "cupy")(*dev, d)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(d.get(), x, rtol=tol, atol=tol)
    X0 = rng.standard_normal((40, 4)).astype(dtype)
    get_kernel("mc_als_cg", "numpy")(o.row_ptr, o.row_idx, o.row_vals, F, lam, X0, 3, x)
    get_kernel("mc_als_cg", "cupy")(*dev, cupy.asarray(X0), 3, d)
    np.testing.assert_allclose(d.get(), x, rtol=tol, atol=tol)
    # the fused residual pass of the training RMSE (biases and offset)
    U = rng.standard_normal((40, 4)).astype(dtype)
    b = rng.standard_normal(40).astype(dtype)
    c = rng.standard_normal(30).astype(dtype)
    host = (o.row_ptr, o.row_idx, o.row_vals, U, F)
    want = get_kernel("mc_sq_residual", "numba")(*host, 0.5, b, c)
    got = get_kernel("mc_sq_residual", "cupy")(*[cupy.asarray(a) for a in host], 0.5,
                                               cupy.asarray(b), cupy.asarray(c))
    assert isinstance(got, float) and got == pytest.approx(want, rel=tol)


# ----------------------------------------------------------------------------- example
def _run_example(name, *args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, str(ROOT / "examples" / name), *args],
                          capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def test_example_plot_completion(tmp_path):
    proc = _run_example("plot_completion.py", "--users", "300", "--items", "200",
                        "--ratings", "12000", "--out", str(tmp_path / "c.png"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[1].isdigit():
            rows[parts[0]] = [float(p) for p in parts[1:]]
    assert {"altmin-exact", "altmin-cg", "softimpute", "scaled_gd"} <= set(rows), proc.stdout
    for name, (_, _, rmse) in rows.items():
        assert rmse < 1.0, (name, rmse)  # ratings noise is 0.5: far below the 1.1 of the mean
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "c.png").stat().st_size > 1000


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, n, nnz", [(40, 30, 300), (700, 500, 60000)])
def test_sparse_times_dense_kernels_match_scipy(dtype, m, n, nnz):
    """SoftImpute's products S @ W and S.T @ Y (serial and threaded sizes) against SciPy."""
    g = np.random.default_rng(7)
    flat = g.choice(m * n, nnz, replace=False)
    S = sp.csr_matrix((g.standard_normal(nnz).astype(dtype), np.divmod(flat, n)), shape=(m, n))
    S.sort_indices()
    W = g.standard_normal((n, 6)).astype(dtype)
    Y = g.standard_normal((m, 6)).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for engine in ("numba", "numpy"):
        spmm, spmm_t = get_kernel("mc_spmm", engine), get_kernel("mc_spmm_t", engine)
        a = spmm(S.indptr, S.indices, S.data, W)
        b = spmm_t(S.indptr, S.indices, S.data, Y, n)
        assert a.dtype == dtype and b.dtype == dtype and b.shape == (n, 6)
        np.testing.assert_allclose(a, S @ W, rtol=tol, atol=tol * np.abs(S @ W).max())
        np.testing.assert_allclose(b, S.T @ Y, rtol=tol, atol=tol * np.abs(S.T @ Y).max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_cg_without_regularisation_stays_bounded_on_short_rows(dtype, engine):
    """reg=0 with rows and columns of fewer entries than the rank: their systems are
    singular; the cg solver takes their minimum-norm solution, so the factors stay bounded
    and the fit matches the exact solver's (it used to drift to |U| ~ 1e17)."""
    rng = np.random.default_rng(4)
    m, n = 10, 8
    M = rng.standard_normal((m, 3)) @ rng.standard_normal((3, n))
    mask = rng.random(M.shape) < 0.6
    mask[0] = False
    mask[0, 2] = True  # a row with one entry
    mask[:, 1] = False
    mask[3, 1] = True  # a column with one entry
    r, c = np.nonzero(mask)
    v = M[r, c].astype(dtype)
    with lrsolve.backend(engine=engine):
        ex = altmin((r, c, v), 3, reg=0.0, solver="exact", maxiter=30, rng=0)
        cg = altmin((r, c, v), 3, reg=0.0, solver="cg", maxiter=30, rng=0)
    assert cg.U.dtype == dtype
    assert np.isfinite(cg.U).all() and np.isfinite(cg.V).all()
    assert np.abs(cg.U).max() < 1e3 and np.abs(cg.V).max() < 1e3
    assert cg.history["train_rmse"][-1] <= max(2 * ex.history["train_rmse"][-1], 0.1)


def test_index_edge_cases_and_rmse_length():
    with pytest.raises(ValueError, match="far beyond the 2 observations"):
        observations((np.array([0, 10**12]), np.array([0, 1]), np.array([1.0, 2.0])))
    with pytest.raises(ValueError, match="2\\*\\*63 or more"):
        observations((np.array([0, 2**63 + 5], dtype=np.uint64), np.array([0, 1]),
                      np.array([1.0, 2.0])))
    o = observations((np.array([0, 10**7]), np.array([0, 1]), np.array([1.0, 2.0])))
    assert o.shape == (10**7 + 1, 2)  # within reach: inferred
    res = CompletionResult(U=np.ones((2, 1)), V=np.ones((2, 1)), shape=(2, 2))
    with pytest.raises(ValueError, match="values has 1 entries but rows/cols name 2"):
        res.rmse([0, 1], [1, 0], [1.0])
    assert res.rmse([0, 1], [1, 0], [1.0, 3.0]) == pytest.approx(np.sqrt(2.0))


def test_scaled_gd_bad_step_and_zero_data():
    r, c = np.nonzero(np.ones((10, 8)))
    v = np.random.default_rng(0).standard_normal(len(r))
    with pytest.raises(ValueError, match="step must be > 0"):
        scaled_gd((r, c, v), 2, step=0)
    with pytest.raises(ValueError, match="all zero"):
        scaled_gd((r, c, np.zeros(len(r))), 2)


def test_a_list_of_three_arrays_is_coo():
    r, c, v = np.array([0, 1, 2, 3]), np.array([1, 0, 2, 3]), np.array([1.0, 2.0, 3.0, 4.0])
    a, b = observations([r, c, v]), observations((r, c, v))
    assert a.shape == b.shape == (4, 4) and a.nnz == b.nnz == 4
    assert observations([[0, 1, 2, 3], [1, 0, 2, 3], [1.0, 2.0, 3.0, 4.0]]).shape == (3, 4)
