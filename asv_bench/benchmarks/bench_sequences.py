"""asv benchmarks for Krylov recycling on sequences (gcrodr, rcg, solve_sequence)."""

import numpy as np

try:
    import lrsolve
    from lrsolve.krylov import solve_sequence
except ImportError:  # pragma: no cover - asv imports benchmarks before install in old commits
    lrsolve = None


def _darcy(n_systems, n):
    if lrsolve is None or not hasattr(lrsolve, "problems") or not hasattr(
        lrsolve.problems, "darcy_sequence"
    ):
        raise NotImplementedError
    return lrsolve.problems.darcy_sequence(n_systems, (n, n), rng=0)


class DarcySequence:
    """Sorted GCRO-DR vs independent GMRES(40) on a Darcy sequence (the SKR setting)."""

    params = [["gcrodr", "gmres", "rcg"]]
    param_names = ["method"]
    timeout = 600

    def setup(self, method):
        self.problems = _darcy(16, 48)
        self.kw = dict(method=method, precond="jacobi", rtol=1e-7, progress=False)
        if method == "gmres":
            self.kw.update(order="given", warm_start=False)
        solve_sequence(self.problems[:2], **{**self.kw, "rtol": 1e-2})  # JIT warm-up

    def time_sequence(self, method):
        solve_sequence(self.problems, **self.kw)

    def track_matvecs(self, method):
        return int(solve_sequence(self.problems, **self.kw).n_matvec.sum())

    def track_iterations(self, method):
        return int(solve_sequence(self.problems, **self.kw).niter.sum())


class RecycleSameSystem:
    """Re-solving one system with its own recycle space (products counted)."""

    params = [["gcrodr", "rcg"]]
    param_names = ["method"]
    timeout = 300

    def setup(self, method):
        if lrsolve is None:
            raise NotImplementedError
        n = 64
        L = lrsolve.operators.poisson((n, n)).tocsr()
        import scipy.sparse as sp

        self.A = (sp.eye(n * n) + 100.0 * L).tocsr()
        self.b = np.random.default_rng(0).standard_normal(n * n)
        self.solver = getattr(lrsolve.krylov, method)
        self.space = self.solver(self.A, self.b, rtol=1e-8).recycle

    def time_recycled_solve(self, method):
        self.solver(self.A, self.b, rtol=1e-8, recycle=self.space)

    def track_matvec_ratio(self, method):
        first = self.solver(self.A, self.b, rtol=1e-8)
        again = self.solver(self.A, self.b, rtol=1e-8, recycle=first.recycle)
        return again.n_matvec / first.n_matvec


class DarcyAMGReuse:
    """The strong baseline's set-up: AMG per system vs one AMG set-up re-used (PCG)."""

    params = [[False, True], ["off", "auto"]]
    param_names = ["reuse_setup", "recycle"]
    timeout = 600

    def setup(self, reuse_setup, recycle):
        try:
            import pyamg  # noqa: F401
        except ImportError:
            raise NotImplementedError from None
        self.problems = _darcy(16, 64)
        method = "cg" if recycle == "off" else "rcg"
        self.kw = dict(method=method, precond="amg", rtol=1e-7, progress=False)
        if reuse_setup:
            self.kw["reuse_setup"] = True
        if recycle == "auto":
            self.kw["recycle"] = "auto"
        solve_sequence(self.problems[:2], **{**self.kw, "rtol": 1e-2})

    def time_sequence(self, reuse_setup, recycle):
        solve_sequence(self.problems, **self.kw)

    def track_iterations(self, reuse_setup, recycle):
        return int(solve_sequence(self.problems, **self.kw).niter.sum())
