"""The deep conjugate direction method (lrsolve.deep): solver, network, training, weights."""

import argparse
import importlib.util
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import lrsolve
from lrsolve.deep import dcdm, obstacle_mask
from lrsolve.operators import poisson

torch = pytest.importorskip("torch")

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # small grids: one thread is as fast, and far faster on a shared, oversubscribed machine
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _rhs(A, seed=0, dtype=np.float64):
    b = np.random.default_rng(seed).standard_normal(A.shape[0])
    if not A.positive_definite:
        b -= b.mean()  # consistent with the constant null space
    return b.astype(dtype)


def _relres(A, x, b):
    x = np.asarray(x, dtype=np.float64)
    return np.linalg.norm(A.tocsr().astype(np.float64) @ x - b) / np.linalg.norm(b)


# ----------------------------------------------------------------------------- the solver
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bc", ["dirichlet", "neumann"])
def test_shipped_2d_model_cuts_iterations_on_held_out_obstacles(bc, dtype):
    # geometries never seen in training (other seeds, other size than the 32^2 training grid)
    mask = obstacle_mask((40, 40), 4, rng=2024)
    A = poisson((40, 40), mask=mask, bc=bc, dtype=dtype)
    b = _rhs(A, 1, dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-6
    res = dcdm(A, b, rtol=rtol)
    cg = lrsolve.cg(A, b, rtol=rtol)
    assert res.converged and res.info == 0
    assert res.x.dtype == dtype
    assert _relres(A, res.x, b) <= rtol * 1.01
    assert res.true_residual_norm <= res.tolerance
    # fewer iterations than plain CG, fallback included (see docs/benchmarks/deep.md)
    assert res.niter < cg.niter, (res.niter, cg.niter, res.message)
    # the history holds the true residual of every iteration
    assert len(res.residual_norms) == res.niter + 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shipped_3d_model_cuts_iterations_on_held_out_obstacles(dtype):
    mask = obstacle_mask((14, 14, 14), 2, rng=77)
    A = poisson((14, 14, 14), mask=mask, dtype=dtype)
    b = _rhs(A, 2, dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-6
    res = dcdm(A, b, rtol=rtol)
    cg = lrsolve.cg(A, b, rtol=rtol)
    assert res.converged, res.message
    assert res.x.dtype == dtype
    assert _relres(A, res.x, b) <= rtol * 1.01
    assert res.niter < cg.niter, (res.niter, cg.niter, res.message)


def test_fallback_on_a_system_the_model_was_not_made_for(rng):
    # a random SPD matrix with a wide spectrum, its unknowns laid on a 12x12 grid
    n = 144
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (Q * np.logspace(0, 4, n)) @ Q.T
    A = (A + A.T) / 2
    b = rng.standard_normal(n)
    # the paper's method (network directions only): it stagnates here and falls back
    res = dcdm(A, b, grid_shape=(12, 12), rtol=1e-8, maxiter=2000, smoother=None)
    assert res.extra["fell_back"], res.message
    assert "fell back to CG" in res.message
    assert res.extra["fallback_iteration"] == res.extra["dcdm_iterations"] >= 1
    assert res.extra["dcdm_iterations"] + res.extra["cg_iterations"] == res.niter
    assert res.converged and res.info == 0
    assert np.linalg.norm(A @ res.x - b) <= 1e-8 * np.linalg.norm(b)
    # without the fallback the same run stops and says so, never claiming convergence
    stop = dcdm(A, b, grid_shape=(12, 12), rtol=1e-8, fallback=False, smoother=None)
    assert not stop.converged and stop.info == -3
    assert "DCDM stopped" in stop.message


def test_never_converged_without_meeting_the_tolerance():
    A = poisson((32, 32), mask=obstacle_mask((32, 32), 3, rng=5))
    b = _rhs(A)
    res = dcdm(A, b, rtol=1e-12, maxiter=3)
    assert not res.converged and res.info == 3 and res.niter == 3
    assert res.true_residual_norm > res.tolerance
    assert np.isclose(res.true_residual_norm, np.linalg.norm(A @ res.x - b))


def test_mask_mapping_matches_the_operator_and_plain_csr():
    mask = obstacle_mask((40, 40), 4, rng=9)
    A = poisson((40, 40), mask=mask)
    b = _rhs(A, 3)
    r1 = dcdm(A, b, rtol=1e-8)
    r2 = dcdm(A.tocsr(), b, mask=mask, rtol=1e-8)  # a plain matrix + the mask
    assert r1.niter == r2.niter
    np.testing.assert_allclose(r1.x, r2.x, rtol=1e-10, atol=1e-12)
    assert r1.converged and _relres(A, r1.x, b) <= 1e-8
    # a full-grid system through grid_shape
    full = poisson((24, 28))
    bf = _rhs(full, 4)
    r3 = dcdm(full.tocsr(), bf, grid_shape=(24, 28), rtol=1e-8)
    r4 = dcdm(full, bf, rtol=1e-8)
    assert r3.converged and r3.niter == r4.niter
    # the residual fed to the network is scattered with zeros at solid cells
    seen = []
    net = lrsolve.deep.load_model("auto", ndim=2)

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config = net.config

        def forward(self, r, m=None):
            seen.append((r.clone(), None if m is None else m.clone()))
            return net(r, m)

    dcdm(A, b, model=Spy(), maxiter=1)
    r_grid, m_grid = seen[0]
    assert tuple(r_grid.shape) == (1, 40, 40)
    assert torch.all(r_grid[0][~torch.from_numpy(mask)] == 0)
    assert torch.equal(m_grid.cpu(), torch.from_numpy(mask))
    np.testing.assert_allclose(r_grid[0].numpy()[mask], b / np.linalg.norm(b), rtol=1e-5,
                               atol=1e-7)


def test_x0_and_inputs_are_not_modified():
    A = poisson((32, 32), mask=obstacle_mask((32, 32), 2, rng=11))
    b = _rhs(A, 5)
    x0 = np.full(A.shape[0], 0.1)
    b_copy, x0_copy = b.copy(), x0.copy()
    res = dcdm(A, b, x0=x0, rtol=1e-7)
    assert res.converged
    np.testing.assert_array_equal(b, b_copy)
    np.testing.assert_array_equal(x0, x0_copy)
    # starting at the solution: no iteration
    again = dcdm(A, b, x0=res.x, rtol=1e-6)
    assert again.converged and again.niter == 0


def test_callback_called_once_per_iteration():
    A = poisson((32, 32))
    b = _rhs(A, 6)
    calls = []
    res = dcdm(A, b, rtol=1e-6, callback=lambda xk: calls.append(np.linalg.norm(b - A @ xk)))
    assert len(calls) == res.niter
    np.testing.assert_allclose(calls, res.residual_norms[1:], rtol=1e-8)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"k": -1}, ValueError, "k must be"),
        ({"window": 0}, ValueError, "window must be"),
        ({"smoother": "ssor"}, ValueError, "smoother must be"),
        ({"grid_shape": (10, 10)}, ValueError, "grid_shape"),
        ({"mask": np.ones((4, 4), bool)}, ValueError, "fluid"),
        ({"mask": np.ones((16, 16), int)}, TypeError, "boolean"),
        ({"model": "nonexistent_model"}, ValueError, "shipped model"),
        ({"model": 3}, TypeError, "model must be"),
        ({"callback": 5}, TypeError, "callback"),
    ],
)
def test_bad_input_raises_clear_errors(kwargs, exc, match):
    A = poisson((16, 16))
    with pytest.raises(exc, match=match):
        dcdm(A, np.ones(256), **kwargs)


def test_grid_needed_for_a_plain_matrix():
    import scipy.sparse as sp

    with pytest.raises(ValueError, match="grid_shape=.*or mask="):
        dcdm(sp.eye(16, format="csr"), np.ones(16))
    with pytest.raises(ValueError, match="3-D model"):
        dcdm(poisson((6, 6, 6)), np.ones(216), model="poisson2d")


def test_no_torch_gives_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" now fails
    with pytest.raises(ImportError, match=r"pip install 'lrsolve\[deep\]'"):
        dcdm(poisson((8, 8)), np.ones(64))
    with pytest.raises(ImportError, match=r"pip install 'lrsolve\[deep\]'"):
        lrsolve.deep.build_model(2)


def test_import_lrsolve_does_not_import_torch():
    code = "import sys, lrsolve, lrsolve.deep; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- network
@pytest.mark.parametrize("shape", [(15, 22), (7, 9, 5)])
def test_network_any_grid_size_and_zero_at_solid_cells(shape):
    net = lrsolve.deep.build_model(len(shape), seed=0)
    mask = torch.rand(shape) > 0.3
    r = torch.randn((2,) + shape)
    out = net(r, mask)
    assert out.shape == r.shape
    assert torch.all(out[:, ~mask] == 0)
    # scale invariant: the residual is normalised inside
    torch.testing.assert_close(net(3.0 * r, mask), out, rtol=1e-4, atol=1e-5)


def test_shipped_weights_are_small_and_documented():
    shipped = lrsolve.deep.shipped_models()
    assert set(shipped) == {2, 3}
    wdir = ROOT / "lrsolve" / "deep" / "weights"
    import json

    for name in shipped.values():
        assert (wdir / f"{name}.pt").stat().st_size < 1_000_000
        meta = json.loads((wdir / f"{name}.json").read_text())
        assert meta["command"].startswith("lrsolve train-dcdm")
        assert meta["config"]["channels"] == 16
        assert meta["val_history"][-1] < meta["initial_loss"]


# ----------------------------------------------------------------------------- training
def test_ritz_vectors_match_the_lowest_eigenpairs():
    import scipy.sparse.linalg as sla

    A = poisson((12, 13)).tocsr()
    vals, vecs = lrsolve.deep.ritz_vectors(A, 156, rng=0)
    lo = sla.eigsh(A, k=4, which="SA", return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(lo), vals[:4], rtol=1e-8)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(vecs.shape[1]), atol=1e-8)
    np.testing.assert_allclose(A @ vecs[:, 0], vals[0] * vecs[:, 0], atol=1e-8)
    # singular (Neumann): the null space is dropped
    vn, _ = lrsolve.deep.ritz_vectors(poisson((6, 6), bc="neumann").tocsr(), 36, rng=0)
    assert vn.min() > 1e-6


def test_small_training_run_lowers_the_loss(tmp_path):
    A = poisson((12, 12), mask=obstacle_mask((12, 12), 1, rng=0, radius=(0.1, 0.2), margin=1))
    res = lrsolve.deep.train_dcdm([A, poisson((12, 12), bc="neumann")], n_ritz=48,
                                  n_samples=72, epochs=3, batch_size=8, lr=3e-3, seed=1,
                                  checkpoint=tmp_path / "ck")
    assert len(res.loss_history) == 3
    assert res.val_history[-1] < 0.9 * res.initial_loss
    assert res.loss_history[-1] < res.loss_history[0]
    assert (tmp_path / "ck.pt").exists() and (tmp_path / "ck.ckpt").exists()
    # the trained network loads and drives the solver
    p = res.save(tmp_path / "net")
    out = dcdm(A, _rhs(A), model=p, rtol=1e-6)
    assert out.converged


def test_training_is_reproducible_with_a_seed(tmp_path):
    kw = dict(grid_shape=(8, 8), n_ritz=16, n_samples=24, epochs=1, batch_size=8, seed=3)
    r1 = lrsolve.deep.train_dcdm("poisson", **kw)
    r2 = lrsolve.deep.train_dcdm("poisson", **kw)
    s1, s2 = r1.model.state_dict(), r2.model.state_dict()
    assert list(s1) == list(s2)
    for k1 in s1:
        v1, v2 = s1[k1], s2[k1]
        assert torch.equal(v1, v2), k1
    assert r1.loss_history == r2.loss_history


def test_training_bad_input():
    with pytest.raises(ValueError, match="grid_shape"):
        lrsolve.deep.train_dcdm("poisson", n_samples=10)
    with pytest.raises(ValueError, match="n_ritz"):
        lrsolve.deep.train_dcdm(poisson((8, 8)), n_ritz=0)
    with pytest.raises(ValueError, match="grid_shape is needed"):
        import scipy.sparse as sp

        lrsolve.deep.train_dcdm(sp.eye(16, format="csr"))


def test_cli_parser_wires_and_runs(tmp_path, capsys):
    from lrsolve.deep._cli import add_train_parser

    parser = argparse.ArgumentParser(prog="lrsolve")
    add_train_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train-dcdm", "--grid", "8", "8", "--n-operators", "2",
                              "--n-ritz", "16", "--n-samples", "20", "--epochs", "1",
                              "--no-progress", "--out", str(tmp_path / "m")])
    assert args.func(args) == 0
    assert (tmp_path / "m.pt").exists()
    assert '"epochs": 1' in capsys.readouterr().out
    bad = parser.parse_args(["train-dcdm", "--grid", "8", "--out", str(tmp_path / "x")])
    assert bad.func(bad) == 2


def test_obstacle_mask_reproducible_and_valid():
    m1 = obstacle_mask((30, 40), 5, rng=3)
    m2 = obstacle_mask((30, 40), 5, rng=3)
    np.testing.assert_array_equal(m1, m2)
    assert m1.dtype == bool and m1[:2].all() and m1[:, -2:].all() and not m1.all()
    m3 = obstacle_mask((12, 12, 12), 2, rng=1, kinds="box")
    assert m3.shape == (12, 12, 12) and 0 < m3.mean() < 1
    with pytest.raises(ValueError, match="kinds"):
        obstacle_mask((8, 8), 1, kinds=("star",))


# ----------------------------------------------------------------------------- example
@pytest.mark.slow
def test_example_plot_dcdm_smoke(tmp_path):
    script = ROOT / "examples" / "plot_dcdm_smoke.py"
    proc = subprocess.run([sys.executable, str(script), "--n", "32", "--out",
                           str(tmp_path / "c.png")], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            rows[parts[0]] = (int(parts[1]), float(parts[2]))
    assert {"dcdm", "cg", "ic0-pcg"} <= set(rows), proc.stdout
    for name, (_, relres) in rows.items():
        assert relres <= 1e-6, (name, relres)
    assert rows["dcdm"][0] < rows["cg"][0]
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "c.png").stat().st_size > 1000


# ----------------------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_and_cuda_agree_with_cpu(dtype):
    import cupy

    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    mask = obstacle_mask((48, 48), 3, rng=21)
    A = poisson((48, 48), mask=mask, dtype=dtype)
    Ad = poisson((48, 48), mask=mask, dtype=dtype, backend="cupy")
    b = _rhs(A, 7, dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-7
    host = dcdm(A, b, rtol=rtol)
    dev = dcdm(Ad, cupy.asarray(b), rtol=rtol)
    assert isinstance(dev.x, cupy.ndarray) and dev.x.dtype == dtype
    assert dev.converged and dev.extra["device"].startswith("cuda")
    # the convolutions and the sparse products sum in another order on the GPU: DCDM keeps
    # only k=2 directions A-orthogonal, which amplifies rounding (an H100 run with a CSR
    # kernel of another summation order gave 156 iterations against the CPU's 135), so the
    # counts agree loosely; the solutions agree to the tolerance (below)
    assert abs(dev.niter - host.niter) <= max(2, 0.2 * host.niter)
    np.testing.assert_allclose(cupy.asnumpy(dev.x), host.x, rtol=0, atol=50 * rtol *
                               float(np.abs(host.x).max()))
    # host inputs under the cupy backend come back as NumPy arrays
    with lrsolve.backend("cupy"):
        hio = dcdm(A, b, rtol=rtol)
    assert isinstance(hio.x, np.ndarray) and hio.converged


@pytest.mark.gpu
def test_training_on_cuda_lowers_the_loss(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    A = poisson((12, 12), mask=obstacle_mask((12, 12), 1, rng=0, radius=(0.1, 0.2), margin=1))
    res = lrsolve.deep.train_dcdm([A, poisson((12, 12), bc="neumann")], n_ritz=48,
                                  n_samples=72, epochs=3, batch_size=8, lr=3e-3, seed=1,
                                  device="cuda", checkpoint=tmp_path / "ck")
    assert res.val_history[-1] < 0.9 * res.initial_loss
    assert next(res.model.parameters()).device.type == "cpu"
    out = dcdm(A, _rhs(A), model=res.save(tmp_path / "net"), rtol=1e-6)
    assert out.converged


def test_training_device_errors():
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda'"):
        lrsolve.deep.train_dcdm(poisson((8, 8)), n_ritz=8, n_samples=8, epochs=1, device="gpu")
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        lrsolve.deep.train_dcdm(poisson((8, 8)), n_ritz=8, n_samples=8, epochs=1, device="meta")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            lrsolve.deep.train_dcdm(poisson((8, 8)), n_ritz=8, n_samples=8, epochs=1,
                                    device="cuda")


@pytest.mark.parametrize("scale", [1e40, 1e-40])
def test_dcdm_does_not_depend_on_the_scale_of_b(scale):
    """The residual is normalised in the solve dtype before the float32 network sees it."""
    A = poisson((16, 16))
    b = _rhs(A)
    ref = dcdm(A, b, rtol=1e-6, fallback=False)
    res = dcdm(A, scale * b, rtol=1e-6, fallback=False)
    assert ref.converged and res.converged
    assert abs(res.niter - ref.niter) <= 1
    np.testing.assert_allclose(res.x / scale, ref.x, rtol=1e-4, atol=1e-8)


def test_training_leaves_the_given_network_alone():
    net = lrsolve.deep.load_model("auto", ndim=2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    res = lrsolve.deep.train_dcdm("poisson", grid_shape=(8, 8), n_ritz=8, n_samples=16,
                                  epochs=1, batch_size=8, seed=0, model=net, lr=0.1)
    assert res.model is not net
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert lrsolve.deep.load_model("auto", ndim=2) is net  # the cache still holds it
    changed = any(not torch.equal(v, before[k]) for k, v in res.model.state_dict().items())
    assert changed


def test_validation_loss_is_nan_when_nothing_is_held_out():
    A = poisson((8, 8))  # two systems of one sample each: none can give one to validation
    res = lrsolve.deep.train_dcdm([A, A], n_ritz=8, n_samples=2, epochs=1, batch_size=8,
                                  seed=0)
    assert np.isnan(res.initial_loss) and np.isnan(res.val_history[-1])
    assert np.isfinite(res.loss_history[-1])


def test_unknown_fallback_preconditioner_is_rejected_up_front():
    A = poisson((16, 16))
    with pytest.raises(ValueError, match="precond must be 'auto'"):
        dcdm(A, _rhs(A), precond="bogus")
    with pytest.raises(ValueError, match="precond must be 'auto'"):
        dcdm(A, _rhs(A), precond=("bogus", {}))


def test_training_argument_checks():
    kw = dict(grid_shape=(8, 8), n_ritz=8, n_samples=8, epochs=1, batch_size=8)
    a = lrsolve.deep.train_dcdm("poisson", rng=0, **kw)  # an int rng is a seed
    b = lrsolve.deep.train_dcdm("poisson", rng=np.random.default_rng(0), **kw)
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    for bad, msg in ((dict(low_weight=float("nan")), "low_weight"),
                     (dict(low_fraction=float("nan")), "low_fraction"),
                     (dict(time_limit="5"), "time_limit")):
        with pytest.raises(ValueError, match=msg):
            lrsolve.deep.train_dcdm("poisson", **kw, **bad)
