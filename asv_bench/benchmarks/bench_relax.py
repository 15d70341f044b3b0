"""asv benchmarks for lrsolve.relax: SOR/SSOR sweeps, SSOR-CG iterations per omega, bandit cost."""

import numpy as np

from .common import laplacian_csr

try:
    import lrsolve
except ImportError:  # pragma: no cover
    lrsolve = None


class SORSolve:
    params = [[(128, 128)], ["sor", "ssor"], ["numba", "numpy"]]
    param_names = ["shape", "method", "engine"]
    timeout = 300

    def setup(self, shape, method, engine):
        self.A = laplacian_csr(shape)
        self.b = np.ones(self.A.shape[0])
        self.fn = getattr(lrsolve.relax, method)
        self.omega = 2 / (1 + np.sin(np.pi / (shape[0] + 1)))
        with lrsolve.backend(engine=engine):
            self.fn(self.A, self.b, omega=self.omega, maxiter=2)  # JIT warm-up

    def time_50_iterations(self, shape, method, engine):
        with lrsolve.backend(engine=engine):
            self.fn(self.A, self.b, omega=self.omega, rtol=0.0, maxiter=50)


class SSORCGOmega:
    """Iterations of SSOR-preconditioned CG on a Darcy problem per omega (tracks the curve)."""

    params = [[1.0, 1.3, 1.6, 1.9]]
    param_names = ["omega"]

    def setup(self, omega):
        self.p = lrsolve.problems.darcy((64, 64), rng=0)

    def track_iterations(self, omega):
        return lrsolve.cg(self.p.A, self.p.b, rtol=1e-8, precond=("ssor", {"omega": omega})).niter


class BanditDecision:
    """One choose + update of Tsallis-INF over the 20-point grid."""

    def setup(self):
        self.bandit = lrsolve.relax.TsallisINF(rng=0)
        self.cost = 40 + 60 * np.abs(self.bandit.omegas - 1.6)
        for _ in range(10):
            self.time_decision()

    def time_decision(self):
        a = self.bandit.choose()
        self.bandit.update(a, float(self.cost[a]))


class BanditSequence:
    """Total SSOR-CG iterations of tune_omega over 100 Darcy systems (16x16)."""

    timeout = 300

    def setup(self):
        self.seq = lrsolve.problems.darcy_sequence(100, (16, 16), rng=1)

    def track_total_iterations(self):
        return lrsolve.relax.tune_omega(self.seq, rng=0).total_iterations
