"""asv benchmarks for lrsolve.cg (history of time, iterations and matvecs)."""

import numpy as np

from .common import laplacian_csr

try:
    import lrsolve
except ImportError:  # pragma: no cover - asv imports benchmarks before install in old commits
    lrsolve = None


class CGPoisson:
    params = [[(256, 256), (48, 48, 48)], ["none", "jacobi", "ic0", "chebyshev", "amg"]]
    param_names = ["shape", "precond"]
    timeout = 300

    def setup(self, shape, precond):
        if precond != "none" and precond not in lrsolve.precond.available():
            raise NotImplementedError
        self.A = laplacian_csr(shape)
        self.b = np.ones(self.A.shape[0])
        self.pc = None if precond == "none" else precond
        lrsolve.cg(self.A, self.b, maxiter=2, precond=self.pc)  # JIT warm-up

    def time_solve(self, shape, precond):
        lrsolve.cg(self.A, self.b, rtol=1e-8, precond=self.pc)

    def track_iterations(self, shape, precond):
        return lrsolve.cg(self.A, self.b, rtol=1e-8, precond=self.pc).niter

    def track_matvecs(self, shape, precond):
        return lrsolve.cg(self.A, self.b, rtol=1e-8, precond=self.pc).n_matvec


class AMGVCycle:
    """One AMG V-cycle on one PyAMG hierarchy: lrsolve's Gauss-Seidel cycle vs PyAMG's."""

    params = [[(512, 512), (64, 64, 64)], ["lrsolve", "pyamg"]]
    param_names = ["shape", "cycle"]
    timeout = 300

    def setup(self, shape, cycle):
        try:
            import pyamg
        except ImportError:
            raise NotImplementedError from None
        A = laplacian_csr(shape)
        self.b = np.random.default_rng(0).standard_normal(A.shape[0])
        ml = pyamg.smoothed_aggregation_solver(A)
        if cycle == "lrsolve":
            self.apply = lrsolve.precond.amg(A, ml=ml).apply
        else:
            self.apply = ml.aspreconditioner(cycle="V").matvec
        self.apply(self.b)

    def time_vcycle(self, shape, cycle):
        self.apply(self.b)


class CGvsSciPy:
    """Per-iteration cost next to scipy.sparse.linalg.cg (50 iterations each)."""

    params = [
        [(512, 512), (64, 64, 64)],
        ["lrsolve-numba", "lrsolve-numpy", "scipy", "matrix-free"],
    ]
    param_names = ["shape", "solver"]
    timeout = 300

    def setup(self, shape, solver):
        import scipy.sparse.linalg as sla

        self.A = laplacian_csr(shape)
        self.b = np.ones(self.A.shape[0])
        if solver == "scipy":
            self.run = lambda: sla.cg(self.A, self.b, rtol=1e-12, maxiter=50)
        elif solver == "matrix-free":
            op = lrsolve.operators.poisson(shape)
            self.run = lambda: lrsolve.cg(op, self.b, rtol=1e-12, maxiter=50)
        else:
            engine = solver.split("-")[1]

            def run():
                with lrsolve.backend(engine=engine):
                    lrsolve.cg(self.A, self.b, rtol=1e-12, maxiter=50)

            self.run = run
        self.run()

    def time_50_iterations(self, shape, solver):
        self.run()


class JitCompile:
    """Seconds of the first call in a fresh process (numba cache disabled: the worst case)."""

    timeout = 120
    unit = "seconds"

    def track_first_call_cold(self):
        import subprocess
        import sys

        code = (
            "import time, numpy as np, scipy.sparse as sp, lrsolve;"
            "A = sp.diags([-1., 2., -1.], [-1, 0, 1], shape=(100, 100), format='csr');"
            "t = time.perf_counter(); lrsolve.cg(A, np.ones(100)); print(time.perf_counter() - t)"
        )
        env = dict(__import__("os").environ, LRSOLVE_NUMBA_CACHE="0")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        return float(out.stdout.strip().splitlines()[-1])


class CGGpu:
    """GPU per-iteration cost next to ``cupyx.scipy.sparse.linalg.cg`` (skipped without CUDA).

    ``csr``: a cupyx CSR matrix (lrsolve stores a banded one by diagonals);
    ``csr-cusparse``: the same with ``LRSOLVE_GPU_DIA=0``; ``matrix-free``: the stencil.
    """

    params = [[(128, 128, 128)], ["csr", "csr-cusparse", "matrix-free", "cupyx"]]
    param_names = ["shape", "solver"]
    timeout = 300

    def setup(self, shape, solver):
        if lrsolve is None or not lrsolve.cupy_available():
            raise NotImplementedError  # asv's way to skip: no CUDA device here
        import os

        import cupy
        import cupyx.scipy.sparse as csp
        import cupyx.scipy.sparse.linalg as csla

        A = csp.csr_matrix(laplacian_csr(shape))
        b = cupy.ones(A.shape[0])
        if solver == "cupyx":
            kw = {"tol": 1e-30} if "tol" in csla.cg.__code__.co_varnames else {"rtol": 1e-30}
            run = lambda: csla.cg(A, b, maxiter=50, **kw)  # noqa: E731
        elif solver == "matrix-free":
            op = lrsolve.operators.poisson(shape, backend="cupy")
            run = lambda: lrsolve.cg(op, b, rtol=1e-30, maxiter=50)  # noqa: E731
        else:
            flag = "0" if solver == "csr-cusparse" else "1"

            def run():
                old = os.environ.get("LRSOLVE_GPU_DIA")
                os.environ["LRSOLVE_GPU_DIA"] = flag
                try:
                    lrsolve.cg(A, b, rtol=1e-30, maxiter=50)
                finally:
                    if old is None:
                        del os.environ["LRSOLVE_GPU_DIA"]
                    else:
                        os.environ["LRSOLVE_GPU_DIA"] = old

        def timed():
            run()
            cupy.cuda.get_current_stream().synchronize()

        self.run = timed
        self.run()

    def time_50_iterations(self, shape, solver):
        self.run()
