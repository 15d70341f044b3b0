"""Time the pieces of one GPU CG iteration at 3-D 256^3 (a development probe).

    python asv_bench/probe_gpu_cg.py [--n 256]

Prints milliseconds per call of each kernel a CG iteration launches (the product
in its three forms, the vector updates, the scalar bookkeeping), measured with
CUDA events over repeated calls.
"""

from __future__ import annotations

import argparse
import os

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--tune", action="store_true", help="also time DIA launch shapes")
    args = ap.parse_args()
    import cupy
    import cupyx.scipy.sparse as csp

    import lrsolve
    from lrsolve._kernels import get_kernel

    shape = (args.n,) * 3
    A = csp.csr_matrix(lrsolve.operators.poisson(shape).tocsr())
    n = A.shape[0]
    rng = np.random.default_rng(0)
    x = cupy.asarray(rng.normal(size=n))
    y = cupy.empty_like(x)
    z = cupy.asarray(rng.normal(size=n))
    w = cupy.asarray(rng.normal(size=n))

    def t(fn, label, nbytes=None):
        fn()
        cupy.cuda.get_current_stream().synchronize()
        e0, e1 = cupy.cuda.Event(), cupy.cuda.Event()
        e0.record()
        for _ in range(args.reps):
            fn()
        e1.record()
        e1.synchronize()
        ms = cupy.cuda.get_elapsed_time(e0, e1) / args.reps
        bw = f"  {nbytes / ms / 1e6:7.0f} GB/s" if nbytes else ""
        print(f"{label:40s} {ms:8.4f} ms{bw}", flush=True)
        return ms

    vec = x.nbytes
    t(lambda: cupy.copyto(y, x), "copy", 2 * vec)
    dia = lrsolve.operators.as_operator(A)
    os.environ["LRSOLVE_GPU_DIA"] = "0"
    csr = lrsolve.operators.as_operator(A)
    del os.environ["LRSOLVE_GPU_DIA"]
    mf = lrsolve.operators.poisson(shape, backend="cupy")
    print("dia pack:", dia._dia.values.dtype, dia._dia.offsets, dia._dia.nbytes / 1e6, "MB")
    t(lambda: dia.matvec_dot(x, y), "dia matvec_dot", 2 * vec + dia._dia.nbytes)
    t(lambda: dia.matvec(x, y), "dia matvec", 2 * vec + dia._dia.nbytes)
    t(lambda: csr.matvec_dot(x, y), "cusparse matvec + vdot")
    t(lambda: csr.matvec(x, y), "cusparse matvec")
    t(lambda: mf.matvec_dot(x.reshape(shape), y.reshape(shape)), "stencil matvec_dot", 2 * vec)
    alpha = cupy.asarray(1e-9)
    t(lambda: get_kernel("r_update", "cupy")(z, w, alpha), "r_update (fused norm)", 3 * vec)
    t(lambda: get_kernel("xp_update", "cupy")(x, z, w, alpha, alpha), "xp_update", 5 * vec)
    t(lambda: cupy.vdot(x, y), "vdot", 2 * vec)
    rr = cupy.asarray(1.0)
    pq = cupy.asarray(2.0)
    pq_min = cupy.asarray(np.inf)

    def scalars():  # what lrsolve.cg did before its fused step kernels
        live = cupy.asarray(rr) > 1e-30
        m = cupy.minimum(pq_min, cupy.where(live, pq, cupy.inf))
        a = cupy.where(live, rr / cupy.where(pq == 0, 1.0, pq), 0.0)
        b = rr / cupy.where(rr == 0, 1.0, rr)
        return m, a, b

    t(scalars, "scalar bookkeeping, CuPy operations")
    cg_alpha, cg_beta = get_kernel("cg_alpha", "cupy"), get_kernel("cg_beta", "cupy")
    hist = cupy.zeros(4)

    def fused():
        a = cg_alpha(rr, pq, rr, 1e-30, pq_min)
        cupy.sqrt(rr, out=hist[1])
        return a, cg_beta(pq, rr)

    t(fused, "scalar bookkeeping, fused (lrsolve.cg)")
    if args.tune:
        from lrsolve._kernels import _cupy_dia as K

        for block in (128, 256, 512):
            for rpt in (1, 2, 4, 8):
                for nb in (1024, 2048, 4096, 8192, 1 << 30):
                    K.BLOCK, K.RPT, K.MAX_BLOCKS = block, rpt, nb
                    t(lambda: dia.matvec_dot(x, y), f"dia block={block} rpt={rpt} blocks<={nb}",
                      2 * vec + dia._dia.nbytes)


if __name__ == "__main__":
    main()
