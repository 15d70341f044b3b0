"""The diagonal (DIA) form of banded CSR matrices: packing, products, and CG on the GPU."""

import numpy as np
import pytest
import scipy.sparse as sp

import lrsolve
from lrsolve._kernels._reference_dia import dia_matvec, dia_matvec_dot, dia_pack, dia_residual


def _csr(A):
    A = sp.csr_matrix(A)
    A.sum_duplicates()
    return A


def _banded(n, offsets, rng, dtype, values="normal"):
    diags = []
    for k in offsets:
        m = n - abs(k)
        if values == "normal":
            diags.append(rng.normal(size=m))
        elif values == "float32":
            diags.append(rng.normal(size=m).astype(np.float32).astype(np.float64))
        else:  # few distinct values
            diags.append(rng.integers(-3, 4, size=m).astype(float))
    return _csr(sp.diags(diags, offsets, shape=(n, n), dtype=dtype))


def _matrices(dtype):
    rng = np.random.default_rng(0)
    lap = lrsolve.operators.poisson((7, 6, 5)).tocsr().astype(dtype)
    return {
        "poisson3d": (lap, "table"),
        "poisson2d-var": (
            lrsolve.operators.poisson((9, 8), coef=rng.uniform(1, 2, (9, 8))).tocsr().astype(dtype),
            None,
        ),
        "banded-normal": (_banded(200, (-9, -1, 0, 2, 30), rng, dtype), None),
        "banded-f32-exact": (_banded(300, (-2, 0, 5), rng, np.float64, "float32"), None),
        "banded-few-values": (_banded(150, (-4, 0, 1, 17), rng, dtype, "few"), "table"),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pack_and_products_match_scipy(dtype):
    rng = np.random.default_rng(1)
    for name, (A, form) in _matrices(dtype).items():
        pack = dia_pack(A.data, A.indptr, A.indices, A.shape[0])
        assert pack is not None, name
        if form == "table":
            assert pack.values.dtype == np.uint8 and pack.table is not None, name
        assert pack.nbytes < A.data.nbytes + A.indices.nbytes, name
        # every stored value comes back bit for bit
        dense = np.zeros(A.shape, dtype=np.float64)
        vals = pack.values if pack.table is None else pack.table[pack.values]
        n = A.shape[0]
        for d, o in enumerate(pack.offsets):
            i = np.arange(max(0, -o), min(n, n - o))
            dense[i, i + o] = vals[d, i]
        assert np.array_equal(dense, A.toarray().astype(np.float64)), name
        x = rng.normal(size=n).astype(A.dtype)
        b = rng.normal(size=n).astype(A.dtype)
        out = np.empty(n, dtype=A.dtype)
        dia_matvec(pack, x, out)
        ref = A @ x
        tol = 1e-5 if A.dtype == np.float32 else 1e-13
        scale = np.abs(A).max() * np.abs(x).max() * 8
        assert np.max(np.abs(out - ref)) <= tol * scale, name
        d = dia_matvec_dot(pack, x, out)
        assert abs(float(d) - float(x @ ref)) <= tol * scale * n
        rr = dia_residual(pack, x, b, out)
        assert np.max(np.abs(out - (b - ref))) <= tol * scale, name
        assert abs(float(rr) - float(np.sum((b - ref).astype(np.float64) ** 2))) <= (
            tol * scale * n * 10
        )


def test_pack_value_forms():
    rng = np.random.default_rng(2)
    A = _banded(300, (-2, 0, 5), rng, np.float64, "float32")
    pack = dia_pack(A.data, A.indptr, A.indices, 300)
    assert pack.table is None and pack.values.dtype == np.float32
    A = _banded(300, (-2, 0, 5), rng, np.float64, "normal")
    pack = dia_pack(A.data, A.indptr, A.indices, 300)
    assert pack.table is None and pack.values.dtype == np.float64
    A = _banded(300, (-2, 0, 5), rng, np.float64, "few")
    pack = dia_pack(A.data, A.indptr, A.indices, 300)
    assert pack.values.dtype == np.uint8 and len(pack.table) <= 7


def test_pack_declines_when_dia_does_not_pay():
    rng = np.random.default_rng(3)
    # scattered entries: many diagonals
    A = _csr(sp.random(400, 400, density=0.02, random_state=4) + sp.eye(400))
    assert dia_pack(A.data, A.indptr, A.indices, 400) is None
    # two far diagonals with a handful of entries each: mostly padding
    R = sp.lil_matrix((1000, 1000))
    R.setdiag(rng.normal(size=1000))
    R[0, 900] = 1.0
    R[900, 0] = 1.0
    R[5, 600] = 2.0
    A = _csr(R)
    pack = dia_pack(A.data, A.indptr, A.indices, 1000, max_fill=2.0)
    assert pack is None
    # complex and empty matrices stay in CSR
    C = _csr(sp.eye(10, dtype=np.complex128))
    assert dia_pack(C.data, C.indptr, C.indices, 10) is None
    E = _csr(sp.csr_matrix((10, 10)))
    assert dia_pack(E.data, E.indptr, E.indices, 10) is None


def test_pack_handles_empty_rows_and_does_not_modify_input():
    A = sp.lil_matrix((50, 50))
    for i in range(0, 50, 3):
        A[i, i] = 2.0
        if i + 1 < 50:
            A[i, i + 1] = -1.0
    A = _csr(A)
    before = (A.data.copy(), A.indices.copy(), A.indptr.copy())
    pack = dia_pack(A.data, A.indptr, A.indices, 50)
    assert pack.offsets == (0, 1)
    x = np.arange(50, dtype=float)
    out = np.empty(50)
    dia_matvec(pack, x, out)
    assert np.array_equal(out, A @ x)
    for a, b0 in zip((A.data, A.indices, A.indptr), before, strict=True):
        assert np.array_equal(a, b0)


def test_cuda_sources_format_without_cupy():
    import sys

    from lrsolve._kernels import _cupy_dia

    for real, stored, tab in ((np.float64, np.uint8, True), (np.float32, np.float32, False)):
        for mode in (0, 1, 2):
            src = _cupy_dia.kernel_source(real, stored, 7, tab, mode, block=128, rpt=2)
            assert src.count("{") == src.count("}")
            assert "#define ND 7" in src and "#define BLOCK 128" in src and "#define RPT 2" in src
            assert f"#define TAB {int(tab)}" in src and f"#define MODE {mode}" in src
            assert "block_sum(double acc" in src  # the shared reduction is included
    assert _cupy_dia.BLOCK & (_cupy_dia.BLOCK - 1) == 0  # a power of two (block reduction)
    if not lrsolve.cupy_available():
        assert "cupy" not in sys.modules


# -- GPU -------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_kernels_match_reference(dtype):
    import cupy
    import cupyx.scipy.sparse as csp

    from lrsolve._kernels import get_kernel

    rng = np.random.default_rng(5)
    for name, (A, _form) in _matrices(dtype).items():
        Ad = csp.csr_matrix(A)
        pack = get_kernel("dia_pack", "cupy")(Ad.data, Ad.indptr, Ad.indices, A.shape[0])
        hpack = dia_pack(A.data, A.indptr, A.indices, A.shape[0])
        assert pack.offsets == hpack.offsets, name
        assert np.array_equal(cupy.asnumpy(pack.values), hpack.values), name
        n = A.shape[0]
        x = rng.normal(size=n).astype(A.dtype)
        b = rng.normal(size=n).astype(A.dtype)
        xd, bd = cupy.asarray(x), cupy.asarray(b)
        out = cupy.empty(n, dtype=A.dtype)
        ref = np.empty(n, dtype=A.dtype)
        tol = 1e-5 if A.dtype == np.float32 else 1e-13
        scale = np.abs(A).max() * np.abs(x).max() * 8
        get_kernel("dia_matvec", "cupy")(pack, xd, out)
        dia_matvec(hpack, x, ref)
        assert np.max(np.abs(cupy.asnumpy(out) - ref)) <= tol * scale, name
        d = get_kernel("dia_matvec_dot", "cupy")(pack, xd, out)
        assert isinstance(d, cupy.ndarray) and d.dtype == np.float64
        assert abs(float(d) - float(x.astype(float) @ (A @ x))) <= tol * scale * n
        rr = get_kernel("dia_residual", "cupy")(pack, xd, bd, out)
        r_ref = b.astype(float) - A.astype(float) @ x.astype(float)
        assert np.max(np.abs(cupy.asnumpy(out) - r_ref)) <= tol * scale, name
        assert abs(float(rr) - float(r_ref @ r_ref)) <= tol * scale * n * 10


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_cg_on_dia_matches_cusparse(dtype, monkeypatch):
    import cupy
    import cupyx.scipy.sparse as csp

    A = lrsolve.operators.poisson((24, 20, 16)).tocsr().astype(dtype)
    b = np.random.default_rng(6).normal(size=A.shape[0]).astype(dtype)
    Ad, bd = csp.csr_matrix(A), cupy.asarray(b)
    op = lrsolve.operators.as_operator(Ad)
    assert op._dia is not None and op._dia.values.dtype == np.uint8
    res = lrsolve.cg(Ad, bd, rtol=1e-5, check_every=1)
    monkeypatch.setenv("LRSOLVE_GPU_DIA", "0")
    assert lrsolve.operators.as_operator(Ad)._dia is None
    ref = lrsolve.cg(Ad, bd, rtol=1e-5, check_every=1)
    assert res.converged and ref.converged
    assert abs(res.niter - ref.niter) <= 1
    x = cupy.asnumpy(res.x).astype(np.float64)
    assert np.linalg.norm(b - A.astype(np.float64) @ x) <= 1e-5 * np.linalg.norm(b) * 1.5
    cpu = lrsolve.cg(A, b, rtol=1e-5)
    assert abs(res.niter - cpu.niter) <= 1
