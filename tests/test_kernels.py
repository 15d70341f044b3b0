"""Numba kernels against the plain-array reference kernels (the oracle)."""

import numpy as np
import pytest
import scipy.sparse as sp

from lrsolve._kernels import _numba, _reference, get_kernel, kernel_names

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]


def _vec(rng, n, dt):
    v = rng.normal(size=n)
    if np.dtype(dt).kind == "c":
        v = v + 1j * rng.normal(size=n)
    return v.astype(dt)


def _tol(dt):
    return 1e-5 if np.dtype(dt) in (np.float32, np.complex64) else 1e-12


@pytest.fixture(params=["serial", "parallel"])
def variant(request):
    return request.param


def _k(name, variant):
    return getattr(getattr(_numba, name), variant)


@pytest.mark.parametrize("dt", DTYPES)
def test_vector_kernels(dt, variant, rng):
    n = 1001
    x, y = _vec(rng, n, dt), _vec(rng, n, dt)
    assert _k("vdot", variant)(x, y) == pytest.approx(complex(_reference.vdot(x, y)), rel=_tol(dt))
    assert _k("norm2sq", variant)(x) == pytest.approx(float(_reference.norm2sq(x)), rel=_tol(dt))

    x1, r1, x2, r2 = x.copy(), y.copy(), x.copy(), y.copy()
    p, q = _vec(rng, n, dt), _vec(rng, n, dt)
    s1 = _k("cg_update", variant)(x1, r1, p, q, 0.37)
    s2 = _reference.cg_update(x2, r2, p, q, 0.37)
    np.testing.assert_allclose(x1, x2, rtol=_tol(dt), atol=_tol(dt))
    np.testing.assert_allclose(r1, r2, rtol=_tol(dt), atol=_tol(dt))
    assert s1 == pytest.approx(float(s2), rel=_tol(dt) * 10)

    p1, p2 = p.copy(), p.copy()
    _k("xpby", variant)(x, 0.5, p1)
    _reference.xpby(x, 0.5, p2)
    np.testing.assert_allclose(p1, p2, rtol=_tol(dt))

    d = np.abs(_vec(rng, n, np.float64)).astype(np.dtype(dt).type(0).real.dtype) + 1
    z1, z2 = np.empty_like(x), np.empty_like(x)
    s1 = _k("scale_dot", variant)(d, x, z1)
    s2 = _reference.scale_dot(d, x, z2)
    np.testing.assert_allclose(z1, z2, rtol=_tol(dt))
    assert s1 == pytest.approx(float(s2), rel=_tol(dt) * 10)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("packed", [False, True])
def test_csr_kernels(dt, packed, variant, rng):
    n = 500
    A = sp.random(n, n, density=0.02, random_state=1, format="csr") + sp.eye(n)
    if packed:
        A = sp.diags([-1.0, 2.0, -1.0, 0.5], [-1, 0, 1, 40], shape=(n, n), format="csr")
    A = A.astype(dt).tocsr()
    x, b = _vec(rng, n, dt), _vec(rng, n, dt)
    if packed:
        rows = np.repeat(np.arange(n), np.diff(A.indptr))
        arrs = (A.data.real.astype(np.float32), A.indptr, (A.indices - rows).astype(np.int16))
        sfx = "_packed"
    else:
        arrs = (A.data, A.indptr, A.indices)
        sfx = ""
    out1, out2 = np.empty_like(x), np.empty_like(x)
    _k("csr_matvec" + sfx, variant)(*arrs, x, out1)
    _reference.csr_matvec(A.data, A.indptr, A.indices, x, out2)
    np.testing.assert_allclose(out1, out2, rtol=_tol(dt) * 10, atol=_tol(dt) * 10)
    s1 = _k("csr_matvec_dot" + sfx, variant)(*arrs, x, out1)
    s2 = _reference.csr_matvec_dot(A.data, A.indptr, A.indices, x, out2)
    assert s1 == pytest.approx(float(s2), rel=_tol(dt) * 100)
    s1 = _k("csr_residual" + sfx, variant)(*arrs, x, b, out1)
    s2 = _reference.csr_residual(A.data, A.indptr, A.indices, x, b, out2)
    np.testing.assert_allclose(out1, out2, rtol=_tol(dt) * 10, atol=_tol(dt) * 10)
    assert s1 == pytest.approx(float(s2), rel=_tol(dt) * 100)


def test_table():
    assert "cg_update" in kernel_names("numba")
    assert get_kernel("cg_update", "numba") is _numba.cg_update
    assert get_kernel("cg_update", "numpy") is _reference.cg_update
    with pytest.raises(LookupError, match="no kernel"):
        get_kernel("nope", "numba")


def test_tiered_compilation_starts_serial_then_threads(monkeypatch):
    """A cold threaded variant is compiled only after the serial one has done some work."""
    from numba import prange

    from lrsolve._kernels import _numba_util

    def _sumsq_tier_probe(x):
        s = 0.0
        for i in prange(x.shape[0]):
            s += x[i] * x[i]
        return s

    monkeypatch.setattr(_numba_util, "CACHE", False)
    pair = _numba_util.tiered(_sumsq_tier_probe)
    x = np.arange(_numba_util.PARALLEL_MIN, dtype=np.float64)
    want = float(np.dot(x, x))
    monkeypatch.setattr(_numba_util, "TIER_SECONDS", 3600.0)
    assert pair.run(x.size, x) == pytest.approx(want)
    assert pair.run(x.size, x) == pytest.approx(want)
    assert pair.serial.overloads and not pair.parallel.overloads
    assert pair.run(10, x[:10]) == pytest.approx(float(np.dot(x[:10], x[:10])))
    monkeypatch.setattr(_numba_util, "TIER_SECONDS", 1e-12)
    pair.run(x.size, x)  # this call's time crosses the threshold
    assert pair.run(x.size, x) == pytest.approx(want)
    assert pair.parallel.overloads
