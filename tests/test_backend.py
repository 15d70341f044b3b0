"""The backend switch: input-type dispatch, explicit switch, engines, config report."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import lrsolve
from lrsolve._backend import array_kind, get_backend


def test_import_is_light_and_fast():
    code = (
        "import time, sys; t = time.perf_counter(); import lrsolve; dt = time.perf_counter() - t;"
        "bad = [m for m in ('cupy', 'torch', 'dask', 'pyamg', 'numba', 'tensorly', 'sklearn',"
        " 'matplotlib') if m in sys.modules];"
        "print(dt, bad)"
    )
    # best of three runs: the first may pay for cold file caches
    times = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        dt, bad = out.stdout.split(" ", 1)
        times.append(float(dt))
        assert bad.strip() == "[]", bad
    assert min(times) < 0.5, times


def test_numpy_inputs_select_numpy():
    bk = get_backend(np.ones(3), sp.eye(3), None, 1.0)
    assert bk.name == "numpy" and bk.xp is np
    import scipy

    assert bk.xsp is scipy


def test_kinds():
    assert array_kind(None) is None
    assert array_kind(3.0) is None
    assert array_kind(np.ones(2)) == "numpy"
    assert array_kind(sp.eye(2)) == "numpy"
    assert array_kind(lambda x: x) is None


class FakeCupyArray:
    """Stands in for a cupy.ndarray: detection goes by the type's module name."""


FakeCupyArray.__module__ = "cupy._core.core"


def test_mixing_host_and_device_raises_typeerror():
    with pytest.raises(TypeError, match="mix host"):
        get_backend(np.ones(3), FakeCupyArray())


def test_mixing_raises_from_cg():
    with pytest.raises(TypeError, match="mix host"):
        lrsolve.cg(np.eye(3), FakeCupyArray())


def test_engine_switch_and_context_restores():
    assert lrsolve.get_engine() == "numba"
    with lrsolve.backend(engine="numpy"):
        assert lrsolve.get_engine() == "numpy"
        assert get_backend(np.ones(2)).engine == "numpy"
        with lrsolve.backend(engine="numba"):
            assert get_backend(np.ones(2)).engine == "numba"
        assert lrsolve.get_engine() == "numpy"
    assert lrsolve.get_engine() == "numba"
    lrsolve.set_backend(engine="numpy")
    try:
        assert get_backend(np.ones(2)).engine == "numpy"
    finally:
        lrsolve.set_backend(engine="numba")


def test_context_restores_after_exception():
    with pytest.raises(RuntimeError):
        with lrsolve.backend(engine="numpy"):
            raise RuntimeError("boom")
    assert lrsolve.get_engine() == "numba"


def test_bad_names():
    with pytest.raises(ValueError, match="backend must be one of"):
        lrsolve.set_backend("torch")
    with pytest.raises(ValueError, match="engine must be one of"):
        lrsolve.set_backend(engine="fortran")
    with pytest.raises(ValueError, match="engine must be one of"):
        with lrsolve.backend(engine="c"):
            pass


@pytest.mark.skipif(lrsolve.cupy_available(), reason="CuPy is available here")
def test_cupy_backend_without_cupy_gives_install_hint():
    with pytest.raises(RuntimeError, match="pip install lrsolve\\[gpu\\]"):
        lrsolve.set_backend("cupy")
    assert lrsolve.get_backend_name() == "numpy"


def test_env_var_default(tmp_path):
    code = "import lrsolve; print(lrsolve.get_engine())"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**__import__("os").environ, "LRSOLVE_ENGINE": "numpy"},
    )
    assert out.stdout.strip() == "numpy"


def test_show_config(capsys):
    cfg = lrsolve.show_config(mode="dicts")
    assert cfg["libraries"]["numpy"] == np.__version__
    assert cfg["settings"]["engine"] == "numba"
    assert "numba" in cfg["engines"] and "cupy" in cfg["engines"]
    lrsolve.show_config()
    out = capsys.readouterr().out
    assert "numba" in out and "devices" in out and "cpu" in out
    with pytest.raises(ValueError):
        lrsolve.show_config(mode="xml")


def test_to_numpy():
    a = np.arange(3.0)
    assert lrsolve.to_numpy(a) is a
    np.testing.assert_array_equal(lrsolve.to_numpy([1, 2]), [1, 2])


@pytest.mark.gpu
def test_cupy_inputs_stay_on_device():
    import cupy
    import cupyx.scipy.sparse as csp

    from cases import poisson

    A = csp.csr_matrix(poisson((20, 20)))
    b = cupy.ones(400)
    res = lrsolve.cg(A, b, rtol=1e-10)
    assert isinstance(res.x, cupy.ndarray)
    assert res.converged
    assert float(cupy.linalg.norm(b - A @ res.x)) <= 1e-10 * 20 * 1.0001
    with pytest.raises(TypeError, match="mix host"):
        lrsolve.cg(A, np.ones(400))


@pytest.mark.gpu
def test_set_backend_cupy_moves_host_inputs_once_and_returns_numpy():
    from cases import poisson

    A = poisson((20, 20))
    b = np.ones(400)
    with lrsolve.backend("cupy"):
        res = lrsolve.cg(A, b, rtol=1e-10, precond="jacobi")
    assert isinstance(res.x, np.ndarray)
    assert np.linalg.norm(b - A @ res.x) <= 1e-10 * 20 * 1.0001


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["stencil", "coef", "csr", "dense"])
def test_set_backend_cupy_moves_host_operators_once(kind):
    from lrsolve.operators import as_operator, poisson

    rng = np.random.default_rng(0)
    coef = rng.uniform(0.5, 2.0, (12, 10)) if kind == "coef" else None
    op = poisson((12, 10), coef=coef)
    if kind == "csr":
        op = as_operator(op.tocsr())
    elif kind == "dense":
        op = as_operator(op.tocsr().toarray())
    b = rng.standard_normal(120)
    with lrsolve.backend("cupy"):
        res = lrsolve.cg(op, b, rtol=1e-10)
    assert isinstance(res.x, np.ndarray) and res.converged
    A = op.tocsr()
    assert np.linalg.norm(b - A @ res.x) <= 1e-10 * np.linalg.norm(b) * 1.0001
    assert op.backend.name == "numpy"  # the caller's operator is left as it was
