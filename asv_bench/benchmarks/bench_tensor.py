"""asv benchmarks for lrsolve.tensor (CP-ALS, HOOI, ST-HOSVD, TT-SVD), with TensorLy alongside."""

import numpy as np

try:
    from lrsolve import tensor as lt
except ImportError:  # pragma: no cover - asv imports benchmarks before install in old commits
    lt = None


def _cp_tensor(shape, rank, seed=0):
    rng = np.random.default_rng(seed)
    X = np.einsum("ir,jr,kr->ijk", *(rng.standard_normal((n, rank)) for n in shape))
    return X + 0.1 * X.std() * rng.standard_normal(shape)


class CPALS:
    """Ten CP-ALS sweeps (random init, no line search) next to tensorly's parafac."""

    params = [[(100, 100, 100)], [10], ["lrsolve", "tensorly"]]
    param_names = ["shape", "rank", "library"]
    timeout = 300

    def setup(self, shape, rank, library):
        self.X = _cp_tensor(shape, rank)
        if library == "tensorly":
            try:
                from tensorly.decomposition import parafac
            except ImportError:
                raise NotImplementedError from None
            self.run = lambda: parafac(
                self.X, rank, init="random", random_state=0, tol=1e-300, n_iter_max=10
            )
        else:
            self.run = lambda: lt.cp(
                self.X,
                rank,
                init="random",
                rng=0,
                tol=0,
                maxiter=10,
                line_search=False,
                diagnostics=False,
            )

    def time_cp_als_10_sweeps(self, shape, rank, library):
        self.run()

    def peakmem_cp_als_10_sweeps(self, shape, rank, library):
        self.run()


class TuckerHOOI:
    """Five HOOI sweeps with a random start on a cardiac-MRI-shaped tensor (scaled down)."""

    params = [["lrsolve", "tensorly"]]
    param_names = ["library"]
    timeout = 300

    def setup(self, library):
        rng = np.random.default_rng(0)
        self.X = rng.standard_normal((128, 128, 14, 20))
        self.core = (29, 39, 14, 4)
        if library == "tensorly":
            try:
                from tensorly.decomposition import tucker
            except ImportError:
                raise NotImplementedError from None
            self.run = lambda: tucker(
                self.X, rank=list(self.core), init="random", random_state=0, n_iter_max=5, tol=1e-20
            )
        else:
            self.run = lambda: lt.tucker(
                self.X, rank=self.core, init="random", rng=0, maxiter=5, tol_iter=0
            )

    def time_hooi_5_sweeps(self, library):
        self.run()


class STHOSVD:
    params = [[(128, 128, 14, 20), (100, 100, 100)]]
    param_names = ["shape"]
    timeout = 300

    def setup(self, shape):
        self.X = np.random.default_rng(0).standard_normal(shape)

    def time_sthosvd_tol(self, shape):
        lt.sthosvd(self.X, tol=0.9)

    def time_tensor_train_tol(self, shape):
        lt.tensor_train(self.X, tol=0.9)

    def track_sthosvd_error(self, shape):
        return lt.sthosvd(self.X, tol=0.9).errors[-1]
