"""asv benchmarks for lrsolve.completion (time per sweep, accuracy, peak memory)."""

import numpy as np

try:
    import lrsolve
    from lrsolve.completion import altmin, observations, softimpute
except ImportError:  # pragma: no cover - asv imports benchmarks before install in old commits
    lrsolve = None


def _problem(m, n, k, nnz, seed=0):
    g = np.random.default_rng(seed)
    U = g.standard_normal((m, k)) / k**0.25
    V = g.standard_normal((n, k)) / k**0.25
    lin = g.permutation(np.unique(g.integers(0, m * n, size=int(nnz * 1.001) + 10)))[:nnz]
    r, c = np.divmod(lin, n)
    return r, c, np.sum(U[r] * V[c], axis=1)


class ALSSweep:
    """Time of one ALS sweep (exact vs cg) against |Omega| and the rank."""

    params = [[200_000, 1_000_000], [16, 64], ["exact", "cg"]]
    param_names = ["nnz", "rank", "solver"]
    timeout = 300

    def setup(self, nnz, rank, solver):
        r, c, v = _problem(50_000, 20_000, 10, nnz)
        self.obs = observations((r, c, v), shape=(50_000, 20_000))
        altmin(self.obs, rank, solver=solver, maxiter=1, init="random", rng=0)  # JIT warm-up

    def time_sweep(self, nnz, rank, solver):
        altmin(self.obs, rank, solver=solver, maxiter=1, init="random", tol=0.0, rng=0)

    def peakmem_sweep(self, nnz, rank, solver):
        altmin(self.obs, rank, solver=solver, maxiter=1, init="random", tol=0.0, rng=0)


class BuildIndex:
    """Normalising COO triplets (counting sort by rows and by columns)."""

    params = [[1_000_000]]
    param_names = ["nnz"]

    def setup(self, nnz):
        self.data = _problem(200_000, 100_000, 2, nnz)
        observations(self.data[:3])

    def time_observations(self, nnz):
        observations(self.data, shape=(200_000, 100_000))


class Ratings:
    """MovieLens-100K-sized synthetic ratings: time and test RMSE of altmin / softimpute."""

    timeout = 300

    def setup(self):
        g = np.random.default_rng(0)
        U = g.standard_normal((943, 5)) * 0.5
        V = g.standard_normal((1682, 5)) * 0.5
        lin = g.choice(943 * 1682, size=100_000, replace=False)
        r, c = np.divmod(lin, 1682)
        x = 3.5 + np.sum(U[r] * V[c], axis=1) + 0.5 * g.standard_normal(len(r))
        v = np.clip(np.rint(x), 1, 5)
        test = g.random(len(v)) < 0.2
        self.train = (r[~test], c[~test], v[~test])
        self.test = (r[test], c[test], v[test])
        altmin(self.train, 2, shape=(943, 1682), maxiter=1)

    def time_altmin(self):
        altmin(self.train, 10, shape=(943, 1682), reg=0.08, biases=True, maxiter=12, rng=0)

    def track_altmin_test_rmse(self):
        res = altmin(self.train, 10, shape=(943, 1682), reg=0.08, biases=True, maxiter=12, rng=0)
        return res.rmse(*self.test)

    def time_softimpute(self):
        softimpute(self.train, shape=(943, 1682), rank_max=20, maxiter=20, rng=0)


class SoftImputeMomentum:
    """SoftImpute at 5% sampling: textbook iteration vs momentum (test RMSE after 30 iterations)."""

    params = [[True, False]]
    param_names = ["accelerate"]
    timeout = 300

    def setup(self, accelerate):
        n, k = 2000, 10
        nnz = int(0.05 * n * n)
        r, c, v = _problem(n, n, k, nnz + nnz // 4, seed=3)
        v = v + 0.1 * np.random.default_rng(4).standard_normal(len(v))
        self.train = observations((r[:nnz], c[:nnz], v[:nnz]), shape=(n, n))
        self.test = (r[nnz:], c[nnz:], v[nnz:])
        softimpute(self.train, rank_max=20, maxiter=2, rng=0)  # JIT warm-up

    def _run(self, accelerate):
        return softimpute(self.train, rank_max=20, maxiter=30, tol=0.0, accelerate=accelerate,
                          rng=0)

    def time_softimpute_30_iterations(self, accelerate):
        self._run(accelerate)

    def track_test_rmse_after_30_iterations(self, accelerate):
        return self._run(accelerate).rmse(*self.test)


class ScaledGDIllConditioned:
    """ScaledGD on a condition-number-100 rank-3 completion: relative error after 300 steps."""

    params = [["incremental", "svd"]]
    param_names = ["init"]

    def setup(self, init):
        g = np.random.default_rng(0)
        m, n = 150, 120
        U = np.linalg.qr(g.standard_normal((m, 3)))[0]
        V = np.linalg.qr(g.standard_normal((n, 3)))[0]
        self.M = (U * [100.0, 10.0, 1.0]) @ V.T
        lin = g.choice(m * n, size=7000, replace=False)
        r, c = np.divmod(lin, n)
        self.obs = observations((r, c, self.M[r, c]), shape=(m, n))

    def _run(self, init):
        from lrsolve.completion import scaled_gd

        return scaled_gd(self.obs, 3, init=init, maxiter=300, tol=1e-12, rng=0)

    def time_scaled_gd(self, init):
        self._run(init)

    def track_relative_error(self, init):
        X = self._run(init).to_dense()
        return float(np.linalg.norm(X - self.M) / np.linalg.norm(self.M))
