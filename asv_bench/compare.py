"""Side-by-side measurements of lrsolve against its peers, in one run, as ratios.

Run from the repository root::

    python asv_bench/compare.py            # everything that fits this machine
    python asv_bench/compare.py --quick    # small sizes, a smoke test of the script
    python asv_bench/compare.py --only cpu-csr,amg

Sections (the performance targets of the foundation issue):

* ``cpu-csr``   3-D Poisson 128^3 and 2-D Poisson 1024^2 as CSR, no preconditioner,
                rtol 1e-8: lrsolve.cg time per iteration / scipy.sparse.linalg.cg's, and both
                iteration counts (target <= 0.5, same count).
* ``cpu-csr-general`` the same per-iteration ratio for a variable-coefficient CSR matrix
                whose values are not exactly representable in float32 (no lossless packing).
* ``cpu-mf``    the matrix-free ``lrsolve.operators.poisson`` in lrsolve.cg, per iteration,
                over SciPy's CSR cg (target <= 0.35).
* ``amg``       precond="amg" total (setup + solve) over PyAMG's own ``solve(accel="cg")``
                with the same hierarchy settings (target <= 1.2), and one V-cycle on the
                same hierarchy over PyAMG's ``aspreconditioner()`` (no target).
* ``ic0``       iterations of IC(0)-PCG over plain CG on 2-D Poisson 512^2 (target <= 1/3).
* ``jit``       first-call overhead in a fresh process, with and without Numba's disk cache
                (target < 3 s).
* ``gpu``       (CUDA only) 3-D 256^3: lrsolve.cg vs cupyx.scipy.sparse.linalg.cg per
                iteration (target <= 0.5) and the matrix-free operator's bandwidth as a
                fraction of the device copy bandwidth (target >= 0.7).

Time per iteration is measured between the first and the last callback, so set-up
(matrix conversion, JIT, preconditioner construction) is excluded for every solver alike;
set-up is reported separately where it matters.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import scipy.sparse.linalg as sla

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "benchmarks"))
import lrsolve  # noqa: E402

from common import IterTimer, laplacian_csr  # noqa: E402

ROWS = []


def record(section, case, quantity, lrsolve_value, peer, peer_value, ratio, target, note=""):
    ok = None
    if target is not None and ratio is not None and np.isfinite(ratio):
        ok = ratio <= target if target >= 0 else ratio >= -target
    row = dict(section=section, case=case, quantity=quantity, lrsolve=lrsolve_value, peer=peer,
               peer_value=peer_value, ratio=ratio, target=target, met=ok, note=note)
    ROWS.append(row)
    tgt = "" if target is None else (f"<= {target}" if target >= 0 else f">= {-target}")
    print(f"[{section}] {case}: {quantity}: lrsolve {lrsolve_value} | {peer} {peer_value} | "
          f"ratio {ratio if ratio is None else round(ratio, 3)} {tgt} {note}", flush=True)


def _scipy_cg(A, b, rtol, maxiter=None):
    t = IterTimer()
    t0 = time.perf_counter()
    x, info = sla.cg(A, b, rtol=rtol, callback=t, maxiter=maxiter)
    total = time.perf_counter() - t0
    return t, info, total


def _lrsolve_cg(A, b, rtol, maxiter=None, **kw):
    t = IterTimer()
    t0 = time.perf_counter()
    res = lrsolve.cg(A, b, rtol=rtol, callback=t, maxiter=maxiter, **kw)
    total = time.perf_counter() - t0
    return t, res, total


# --------------------------------------------------------------------------- sections
def cpu_csr(quick):
    shapes = [(32, 32, 32), (128, 128)] if quick else [(128, 128, 128), (1024, 1024)]
    for shape in shapes:
        A = laplacian_csr(shape)
        b = np.random.default_rng(0).normal(size=A.shape[0])
        lrsolve.cg(A, b, maxiter=2)  # compile
        ts, info, tot_s = _scipy_cg(A, b, 1e-8)
        tl, res, tot_l = _lrsolve_cg(A, b, 1e-8)
        name = "x".join(map(str, shape)) + " CSR"
        record("cpu-csr", name, "ms/iteration", round(tl.per_iteration() * 1e3, 3), "scipy cg",
               round(ts.per_iteration() * 1e3, 3), tl.per_iteration() / ts.per_iteration(), 0.5)
        record("cpu-csr", name, "iterations", res.niter, "scipy cg", ts.count,
               None, None, note=f"difference {res.niter - ts.count}")
        record("cpu-csr", name, "total s (incl. set-up)", round(tot_l, 3), "scipy cg",
               round(tot_s, 3), tot_l / tot_s, None)
        with lrsolve.backend(engine="numpy"):
            tn, resn, _ = _lrsolve_cg(A, b, 1e-8, maxiter=200)
        record("cpu-csr", name, "ms/iteration, engine=numpy (200 it.)",
               round(tn.per_iteration() * 1e3, 3), "scipy cg", round(ts.per_iteration() * 1e3, 3),
               tn.per_iteration() / ts.per_iteration(), None)


def cpu_csr_general(quick):
    """CSR whose values are not float32-exact: the plain (unpacked) Numba kernel runs."""
    shapes = [(32, 32, 32)] if quick else [(128, 128, 128), (1024, 1024)]
    for shape in shapes:
        coef = np.exp(np.random.default_rng(1).normal(size=shape))
        A = lrsolve.operators.poisson(shape, coef=coef).tocsr()
        A.sort_indices()
        b = np.random.default_rng(0).normal(size=A.shape[0])
        lrsolve.cg(A, b, maxiter=2)
        maxiter = 300
        ts, info, _ = _scipy_cg(A, b, 1e-12, maxiter=maxiter)
        tl, res, _ = _lrsolve_cg(A, b, 1e-12, maxiter=maxiter)
        name = "x".join(map(str, shape)) + " CSR, variable coefficients"
        record("cpu-csr", name, f"ms/iteration ({maxiter} it.)",
               round(tl.per_iteration() * 1e3, 3), "scipy cg",
               round(ts.per_iteration() * 1e3, 3), tl.per_iteration() / ts.per_iteration(), 0.5,
               note="values not float32-exact: uncompressed kernel")


def cpu_mf(quick):
    shapes = [(32, 32, 32), (128, 128)] if quick else [(128, 128, 128), (1024, 1024)]
    for shape in shapes:
        A = laplacian_csr(shape)
        op = lrsolve.operators.poisson(shape)
        b = np.random.default_rng(0).normal(size=A.shape[0])
        lrsolve.cg(op, b, maxiter=2)
        maxiter = 300
        ts, info, _ = _scipy_cg(A, b, 1e-12, maxiter=maxiter)
        tl, res, _ = _lrsolve_cg(op, b, 1e-12, maxiter=maxiter)
        name = "x".join(map(str, shape)) + " matrix-free"
        record("cpu-mf", name, f"ms/iteration ({maxiter} it.)",
               round(tl.per_iteration() * 1e3, 3), "scipy cg (CSR)",
               round(ts.per_iteration() * 1e3, 3), tl.per_iteration() / ts.per_iteration(), 0.35)


def amg(quick):
    try:
        import pyamg
    except ImportError:
        print("[amg] pyamg not installed: skipped")
        return
    shapes = [(64, 64)] if quick else [(1024, 1024), (96, 96, 96)]
    for shape in shapes:
        A = laplacian_csr(shape)
        b = np.random.default_rng(0).normal(size=A.shape[0])
        name = "x".join(map(str, shape))
        best_p = best_l = np.inf
        for _ in range(2):
            t0 = time.perf_counter()
            ml = pyamg.smoothed_aggregation_solver(A)
            resid = []
            xp = ml.solve(b, tol=1e-8, accel="cg", residuals=resid)
            tp = time.perf_counter() - t0
            t0 = time.perf_counter()
            res = lrsolve.cg(A, b, rtol=1e-8, precond="amg")
            tl = time.perf_counter() - t0
            best_p, best_l = min(best_p, tp), min(best_l, tl)
        rel_p = np.linalg.norm(b - A @ xp) / np.linalg.norm(b)
        record("amg", name, "total s (setup+solve)", round(best_l, 3), "pyamg solve(accel=cg)",
               round(best_p, 3), best_l / best_p, 1.2,
               note=f"iterations {res.niter} vs {len(resid) - 1}; rel. residual "
                    f"{res.true_residual_norm / np.linalg.norm(b):.1e} vs {rel_p:.1e}")
        # one V-cycle on the same hierarchy: lrsolve's Gauss-Seidel cycle (amg_core called
        # directly, 1 x 1 BSR levels in CSR) against PyAMG's aspreconditioner()
        M = lrsolve.precond.amg(A, ml=ml)
        Mp = ml.aspreconditioner(cycle="V")
        reps = 5 if quick else 20
        tv = {}
        for label, f in (("lrsolve", M.apply), ("pyamg", Mp.matvec)):
            f(b)
            best = np.inf
            for _ in range(3):
                t0 = time.perf_counter()
                for _ in range(reps):
                    z = f(b)
                best = min(best, (time.perf_counter() - t0) / reps)
            tv[label] = (best, z)
        diff = np.abs(tv["lrsolve"][1] - tv["pyamg"][1]).max() / np.abs(tv["pyamg"][1]).max()
        record("amg", name, "one V-cycle ms", round(1e3 * tv["lrsolve"][0], 2),
               "pyamg aspreconditioner", round(1e3 * tv["pyamg"][0], 2),
               tv["lrsolve"][0] / tv["pyamg"][0], None,
               note=f"same hierarchy; max relative difference {diff:.1e}")


def ic0(quick):
    shape = (128, 128) if quick else (512, 512)
    A = laplacian_csr(shape)
    b = np.random.default_rng(0).normal(size=A.shape[0])
    lrsolve.cg(A, b, maxiter=2, precond="ic0")
    t0 = time.perf_counter()
    plain = lrsolve.cg(A, b, rtol=1e-8)
    tp = time.perf_counter() - t0
    t0 = time.perf_counter()
    pc = lrsolve.cg(A, b, rtol=1e-8, precond="ic0")
    ti = time.perf_counter() - t0
    name = "x".join(map(str, shape))
    record("ic0", name, "iterations", pc.niter, "plain cg", plain.niter, pc.niter / plain.niter,
           1 / 3)
    record("ic0", name, "total s", round(ti, 3), "plain cg", round(tp, 3), ti / tp, None)


def jit(quick):
    code = (
        "import time, numpy as np, scipy.sparse as sp, lrsolve;"
        "A = sp.diags([-1., 2., -1.], [-1, 0, 1], shape=(200000, 200000), format='csr');"
        "b = np.ones(200000);"
        "t = time.perf_counter(); lrsolve.cg(A, b, maxiter=5); t1 = time.perf_counter() - t;"
        "t = time.perf_counter(); lrsolve.cg(A, b, maxiter=5); t2 = time.perf_counter() - t;"
        "print(t1 - t2)"
    )
    for label, env in (("no disk cache", {"LRSOLVE_NUMBA_CACHE": "0"}),
                       ("disk cache warm", {})):
        if label == "disk cache warm":  # populate the cache once
            subprocess.run([sys.executable, "-c", code], capture_output=True)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**os.environ, **env})
        dt = float(out.stdout.strip().splitlines()[-1])
        record("jit", f"first cg call, CSR n=200000 ({label})", "compile s", round(dt, 3),
               "-", None, dt / 3.0, 1.0, note="ratio = seconds / 3 s target")


def gpu(quick):
    if not lrsolve.cupy_available():
        print("[gpu] no CUDA device / CuPy here: skipped")
        return
    import cupy
    import cupyx.scipy.sparse as csp
    import cupyx.scipy.sparse.linalg as csla

    shape = (64, 64, 64) if quick else (256, 256, 256)
    name = "x".join(map(str, shape))
    A = csp.csr_matrix(laplacian_csr(shape))
    n = A.shape[0]
    b = cupy.asarray(np.random.default_rng(0).normal(size=n))
    iters = 200

    def timed(fn):
        fn()
        cupy.cuda.get_current_stream().synchronize()
        t0 = time.perf_counter()
        fn()
        cupy.cuda.get_current_stream().synchronize()
        return time.perf_counter() - t0

    tc = timed(lambda: csla.cg(A, b, tol=1e-30, maxiter=iters)
               if "tol" in csla.cg.__code__.co_varnames else
               csla.cg(A, b, rtol=1e-30, maxiter=iters))
    tl = timed(lambda: lrsolve.cg(A, b, rtol=1e-30, maxiter=iters))
    record("gpu", name + " CSR", "ms/iteration", round(tl / iters * 1e3, 4), "cupyx cg",
           round(tc / iters * 1e3, 4), tl / tc, 0.5,
           note="banded CSR stored by diagonals, one-byte value codes (lossless)")
    t0 = time.perf_counter()
    lrsolve.operators.as_operator(A)
    cupy.cuda.get_current_stream().synchronize()
    tpack = time.perf_counter() - t0
    record("gpu", name + " CSR -> DIA set-up", "s", round(tpack, 4), "cupyx cg (200 it.)",
           round(tc, 4), tpack / tc, None, note="once per solve, included in the CSR row's time")
    os.environ["LRSOLVE_GPU_DIA"] = "0"
    try:
        ts = timed(lambda: lrsolve.cg(A, b, rtol=1e-30, maxiter=iters))
    finally:
        del os.environ["LRSOLVE_GPU_DIA"]
    record("gpu", name + " CSR via cuSPARSE (LRSOLVE_GPU_DIA=0)", "ms/iteration",
           round(ts / iters * 1e3, 4), "cupyx cg", round(tc / iters * 1e3, 4), ts / tc, None)
    # a variable-coefficient matrix: every value distinct, DIA keeps float64 values
    coef = np.random.default_rng(2).uniform(1.0, 2.0, size=shape)
    Av = csp.csr_matrix(lrsolve.operators.poisson(shape, coef=coef).tocsr())
    tcv = timed(lambda: csla.cg(Av, b, tol=1e-30, maxiter=iters)
                if "tol" in csla.cg.__code__.co_varnames else
                csla.cg(Av, b, rtol=1e-30, maxiter=iters))
    tlv = timed(lambda: lrsolve.cg(Av, b, rtol=1e-30, maxiter=iters))
    record("gpu", name + " CSR variable coefficient", "ms/iteration", round(tlv / iters * 1e3, 4),
           "cupyx cg", round(tcv / iters * 1e3, 4), tlv / tcv, None,
           note="float64 values by diagonals")
    op = lrsolve.operators.poisson(shape, backend="cupy")
    tm = timed(lambda: lrsolve.cg(op, b, rtol=1e-30, maxiter=iters))
    record("gpu", name + " matrix-free", "ms/iteration", round(tm / iters * 1e3, 4), "cupyx cg",
           round(tc / iters * 1e3, 4), tm / tc, None)
    x = cupy.asarray(np.random.default_rng(1).normal(size=n))
    y = cupy.empty_like(x)
    reps = 50
    tcopy = timed(lambda: [cupy.copyto(y, x) for _ in range(reps)]) / reps
    tmv = timed(lambda: [op.matvec(x, y) for _ in range(reps)]) / reps
    bw_copy = 2 * x.nbytes / tcopy
    bw_mv = 2 * x.nbytes / tmv
    record("gpu", name + " matrix-free matvec", "GB/s", round(bw_mv / 1e9, 1), "device copy",
           round(bw_copy / 1e9, 1), -(bw_mv / bw_copy), None,
           note=f"fraction of copy bandwidth {bw_mv / bw_copy:.2f} (target >= 0.70)")


SECTIONS = {
    "cpu-csr": cpu_csr,
    "cpu-csr-general": cpu_csr_general,
    "cpu-mf": cpu_mf,
    "amg": amg,
    "ic0": ic0,
    "jit": jit,
    "gpu": gpu,
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    ap.add_argument("--json", default=None, help="write the rows to this JSON file")
    args = ap.parse_args(argv)
    try:
        import threadpoolctl

        blas = threadpoolctl.threadpool_info()
    except ImportError:
        blas = None
    import numba
    import scipy

    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads)")
    for name in args.only.split(","):
        SECTIONS[name.strip()](args.quick)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": ROWS, "blas": blas}, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
