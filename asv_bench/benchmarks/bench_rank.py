"""asv benchmarks for lrsolve.tensor.selection (rank selection and structure search)."""

import numpy as np

try:
    from lrsolve.tensor import selection as sel
except ImportError:  # pragma: no cover - older commits
    sel = None


def _decaying(shape, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal(shape)
    for n, i in enumerate(shape):
        X = np.moveaxis(np.moveaxis(X, n, -1) * (1.0 + np.arange(i)) ** -1.1, -1, n)
    return X


class CoreShapes:
    params = [[(64, 64, 14, 20), (100, 100, 30)], ["packing", "greedy", "portfolio"]]
    param_names = ["shape", "method"]
    timeout = 300

    def setup(self, shape, method):
        self.X = _decaying(shape)
        self.spec = sel.tucker_spectra(self.X)

    def time_spectra(self, shape, method):
        sel.tucker_spectra(self.X)

    def time_core_shape(self, shape, method):
        sel.tucker_core_shape(self.X, 0.05, method=method, spectra=self.spec)

    def time_rank_for_tol(self, shape, method):
        sel.tucker_rank_for_tol(self.X, 0.05, spectra=self.spec)


class StructureSearch:
    params = [["tnale", "greedy"]]
    param_names = ["method"]
    timeout = 300

    def setup(self, method):
        rng = np.random.default_rng(0)
        rk = [2, 3, 2, 2, 3, 2]
        G = [rng.standard_normal((rk[k], 3, rk[(k + 1) % 6])) for k in range(6)]
        T = G[0]
        for g in G[1:]:
            T = np.tensordot(T, g, axes=(T.ndim - 1, 0))
        self.X = np.einsum("a...a->...", T).transpose(rng.permutation(6))

    def time_search(self, method):
        sel.tn_structure_search(self.X, method=method, topology="tr", rng=0)

    def track_evaluations(self, method):
        return sel.tn_structure_search(self.X, method=method, topology="tr", rng=0).n_evals


class TRALSEvaluation:
    """One structure-search evaluation on a 4^8 tensor: 10 TR-ALS sweeps at bond ranks
    up to 12 (transfer-matrix Gram, error from inner products)."""

    params = [[4, 8, 12]]
    param_names = ["rank"]
    timeout = 300

    def setup(self, rank):
        from lrsolve.tensor.selection import _utils as U

        self.U = U
        rng = np.random.default_rng(0)
        self.X = _decaying((4,) * 8)
        self.cores = [rng.standard_normal((rank, 4, rank)) for _ in range(8)]

    def time_tr_als_10_sweeps(self, rank):
        self.U.tr_als(np, self.X, [c.copy() for c in self.cores], n_sweeps=10)


class PortfolioBudgets:
    params = [[0.01, 0.2]]
    param_names = ["budget"]
    timeout = 300

    def setup(self, budget):
        self.X = _decaying((64, 64, 14, 20))
        self.spec = sel.tucker_spectra(self.X)

    def time_portfolio(self, budget):
        sel.tucker_core_shape(self.X, budget, method="portfolio", spectra=self.spec)


class SPM:
    params = [[(4, 12, 40), (4, 20, 133), (4, 30, 300), (3, 30, 30)]]
    param_names = ["order_dim_rank"]
    timeout = 300

    def setup(self, case):
        m, n, R = case
        rng = np.random.default_rng(0)
        A = rng.standard_normal((n, R))
        A /= np.linalg.norm(A, axis=0)
        letters = "abcdefg"[:m]
        expr = "r," + ",".join(c + "r" for c in letters) + "->" + letters
        self.X = np.einsum(expr, np.ones(R), *([A] * m))

    def time_spm(self, case):
        sel.spm(self.X, rng=0)

    def track_power_steps(self, case):
        """Batched power steps (each advances up to ``batch`` starting points)."""
        return sel.spm(self.X, rng=0).extra["power_steps"]
