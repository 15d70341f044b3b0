"""Tune the launch of the CUDA Poisson stencil: effective bandwidth of ``op.matvec`` at 256^3.

Run on a CUDA machine from the repository root::

    python asv_bench/tune_stencil_gpu.py            # prints a table and the best setting

For every (thread blocks aimed at, block width) pair it times 50 products of the
7-point float64 Laplacian at 256^3 and reports the bandwidth (2 vectors moved per
product) as a fraction of a device-to-device copy of the same vector.  The last line
is the best pair as ``LRSOLVE_STENCIL_BLOCKS=... LRSOLVE_STENCIL_BX=...``.
"""

import sys
import time

import numpy as np

import lrsolve
from lrsolve._kernels import _cupy_stencil as cs


def main():
    if not lrsolve.cupy_available():
        print("no CUDA device / CuPy here")
        return 0
    import cupy

    shape = (256, 256, 256)
    op = lrsolve.operators.poisson(shape, backend="cupy")
    x = cupy.asarray(np.random.default_rng(1).normal(size=op.shape[0]))
    y = cupy.empty_like(x)
    reps = 50

    def timed(fn):
        fn()
        cupy.cuda.get_current_stream().synchronize()
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        cupy.cuda.get_current_stream().synchronize()
        return (time.perf_counter() - t0) / reps

    copy = 2 * x.nbytes / timed(lambda: cupy.copyto(y, x))
    best = None
    print(f"device copy {copy / 1e9:.1f} GB/s")
    for bx in (32, 64, 128, 256):
        for blocks in (1024, 2048, 4096, 8192, 16384):
            cs.BLOCK_X, cs.TARGET_BLOCKS = bx, blocks
            bw = 2 * x.nbytes / timed(lambda: op.matvec(x, y))
            grid, block, cz = cs.launch_config(shape, 1)
            print(f"bx {bx:4d} blocks {blocks:6d} (grid {grid}, cz {cz}): "
                  f"{bw / 1e9:7.1f} GB/s = {bw / copy:.3f} of copy", flush=True)
            if best is None or bw > best[0]:
                best = (bw, blocks, bx)
    print(f"best: LRSOLVE_STENCIL_BLOCKS={best[1]} LRSOLVE_STENCIL_BX={best[2]} "
          f"({best[0] / copy:.3f} of copy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
