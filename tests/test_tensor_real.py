"""lrsolve.tensor on the real tensors of shared/data/tensors (regression cases)."""

import importlib.util

import numpy as np
import pytest

from lrsolve import tensor as lt

from conftest import data_path

needs_tl = pytest.mark.skipif(importlib.util.find_spec("tensorly") is None, reason="needs tensorly")


@pytest.fixture(scope="module")
def claus():
    import scipy.io

    d = scipy.io.loadmat(str(data_path("tensors", "claus.mat")))
    return d["X"].astype(np.float64), d["y"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_claus_cp_rank3_recovers_concentrations(claus, dtype):
    X, y = claus
    Xd = X.astype(dtype)
    model = lt.cp(Xd, 3, rng=0, maxiter=500, tol=1e-9 if dtype == np.float64 else 1e-6)
    weights, (A, B, C) = model
    scores = A * weights
    corr = np.abs(np.corrcoef(scores.T.astype(np.float64), y.T)[:3, 3:])
    # each known concentration (Trp, Tyr, Phe) matches one component, up to permutation and scale
    best = corr.max(axis=0)
    assert sorted(np.argmax(corr, axis=0)) == [0, 1, 2]
    assert np.all(best > 0.99), best
    assert model.relative_error(Xd) < 0.03
    assert model.diagnostics["core_consistency"] > 90  # three fluorophores: a trilinear model


@needs_tl
def test_covid_cp_agrees_with_tensorly():
    from tensorly.decomposition import parafac

    X = np.load(data_path("tensors", "COVID19_data.npy"))
    ours = lt.cp(X, 2, tol=1e-12, maxiter=3000)
    w, f = parafac(X, 2, init="svd", tol=1e-12, n_iter_max=3000)
    e_tl = lt.CPTensor(w, f).relative_error(X)
    assert abs(ours.relative_error(X) - e_tl) <= 1e-6 * e_tl


def test_kinetic_cp_with_missing_mask():
    X = np.load(data_path("tensors", "Kinetic.npy"))
    observed = ~np.load(data_path("tensors", "Kinetic_missing.npy"))  # file: True = missing
    rng = np.random.default_rng(0)
    held = observed & (rng.random(X.shape) < 0.02)  # hide 2% of the observed entries
    fit_mask = observed & ~held
    X_in = X.copy()
    model = lt.cp(X_in, 2, mask=fit_mask, maxiter=40, tol=1e-8, rng=0, diagnostics=False)
    np.testing.assert_array_equal(X_in, X)  # input untouched
    assert np.all(np.diff(model.errors) <= 1e-9)  # EM never increases the observed error
    assert model.errors[-1] < 0.06
    R = model.to_tensor()
    held_err = np.linalg.norm((X - R)[held]) / np.linalg.norm(X[held])
    assert held_err < 2 * model.errors[-1]  # the model predicts entries it did not see
    assert np.all(np.isfinite(R))


def test_il2_nonneg_cp_with_nan_mask():
    X = np.load(data_path("tensors", "IL2_Response_Tensor.npy"))
    mask = np.isfinite(X)
    assert (~mask).sum() == 192
    model = lt.cp(X, 3, mask=mask, nonneg=True, maxiter=300, rng=0, init="random")
    assert all(float(f.min()) >= 0 for f in model.factors)
    assert np.all(np.diff(model.errors) <= 1e-9)
    assert model.errors[-1] < 0.3 and model.errors[-1] < 0.5 * model.errors[0]


@pytest.mark.parametrize("tol", [0.1, 0.3])
def test_bread_tucker_tol_guarantee(tol):
    import scipy.io

    X = scipy.io.loadmat(str(data_path("tensors", "brod.mat")))["X"]
    X = np.asarray(X, dtype=np.float64).reshape((10, 11, 8), order="F")  # MATLAB N-way unfolding
    for out in (lt.sthosvd(X, tol=tol), lt.hosvd(X, tol=tol), lt.tucker(X, tol=tol)):
        assert out.relative_error(X) <= tol
    tt = lt.tensor_train(X, tol=tol)
    assert tt.relative_error(X) <= tol
