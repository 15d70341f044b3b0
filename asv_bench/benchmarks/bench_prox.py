"""asv benchmarks for lrsolve.prox: vector prox operators, nuclear prox, Lasso path, FISTA, NMF."""

import numpy as np

try:
    from lrsolve import prox
except ImportError:  # pragma: no cover - asv imports benchmarks before install in old commits
    prox = None


class VectorProx:
    params = [[10**6, 10**7], ["l1", "box", "simplex", "l1ball", "tv1d"]]
    param_names = ["n", "operator"]
    timeout = 300

    def setup(self, n, operator):
        self.x = np.random.default_rng(0).standard_normal(n)
        self.fn = {
            "l1": lambda v: prox.prox_l1(v, 0.5),
            "box": lambda v: prox.project_box(v, -0.5, 0.5),
            "simplex": lambda v: prox.project_simplex(v, 10.0),
            "l1ball": lambda v: prox.project_l1ball(v, 10.0),
            "tv1d": lambda v: prox.prox_tv1d(v, 0.5),
        }[operator]
        self.fn(self.x[:100])  # JIT warm-up

    def time_prox(self, n, operator):
        self.fn(self.x)


class NuclearProx:
    params = [[1000, 2000], ["partial", "full"]]
    param_names = ["m", "method"]
    timeout = 600

    def setup(self, m, method):
        rng = np.random.default_rng(1)
        self.X = rng.standard_normal((m, 40)) @ rng.standard_normal((40, m)) \
            + 0.5 * rng.standard_normal((m, m))
        self.tau = 1.2 * np.sqrt(m)

    def time_prox(self, m, method):
        prox.prox_nuclear(self.X, self.tau, method=method, rank=10, rng=0)


class LassoPath:
    params = [["dense", "sparse"]]
    param_names = ["kind"]
    timeout = 600

    def setup(self, kind):
        import scipy.sparse as sp

        rng = np.random.default_rng(3)
        if kind == "dense":
            n, p = 500, 2000
            Z = rng.standard_normal((n, p))
            X = np.asfortranarray(Z + 0.5 * np.roll(Z, 1, axis=1))
        else:
            n, p = 2000, 10000
            X = sp.random(n, p, density=0.01, random_state=0, format="csc")
            X = (X @ (sp.eye(p) + 0.5 * sp.eye(p, k=1))).tocsc()
        w = np.zeros(p)
        w[rng.choice(p, 20, replace=False)] = 1.0
        self.X, self.y = X, X @ w + 0.5 * rng.standard_normal(n)
        prox.lasso_path(self.X, self.y, n_alphas=2)  # JIT warm-up

    def time_path(self, kind):
        prox.lasso_path(self.X, self.y, eps=1e-2, n_alphas=100, tol=1e-6)

    def track_total_epochs(self, kind):
        return int(prox.lasso_path(self.X, self.y, eps=1e-2, n_alphas=100, tol=1e-6).n_iters.sum())


class FistaRestart:
    params = [["adaptive", "none"]]
    param_names = ["restart"]

    def setup(self, restart):
        rng = np.random.default_rng(2)
        m, n = 300, 200
        U, _ = np.linalg.qr(rng.standard_normal((m, n)))
        V, _ = np.linalg.qr(rng.standard_normal((n, n)))
        A = (U * np.logspace(0, -2, n)) @ V.T
        b = A @ (rng.standard_normal(n) * (rng.random(n) < 0.1))
        self.f, self.g, self.n = prox.LeastSquares(A, b), prox.L1(1e-4), n

    def track_gradient_evaluations(self, restart):
        r = None if restart == "none" else restart
        return prox.proximal_gradient(self.f, self.g, np.zeros(self.n), restart=r, tol=1e-8,
                                      maxiter=50000).n_grad


class NMF:
    params = [["accelerated", "plain"]]
    param_names = ["hals"]

    def setup(self, hals):
        rng = np.random.default_rng(4)
        self.X = rng.random((500, 10)) @ rng.random((10, 400))
        self.inner = None if hals == "accelerated" else 1
        prox.nmf(self.X, 10, maxiter=2)  # JIT warm-up

    def time_nmf(self, hals):
        prox.nmf(self.X, 10, maxiter=100, tol=0, inner_sweeps=self.inner)

    def track_objective(self, hals):
        return float(prox.nmf(self.X, 10, maxiter=100, tol=0,
                              inner_sweeps=self.inner).objective[-1])


class FistaLassoPath:
    """The array-code (CuPy-ready) path, run on NumPy: warm-started FISTA with restart."""

    timeout = 300

    def setup(self):
        rng = np.random.default_rng(5)
        n, p = 200, 500
        Z = rng.standard_normal((n, p))
        self.X = Z + 0.5 * np.roll(Z, 1, axis=1)
        w = np.zeros(p)
        w[rng.choice(p, 10, replace=False)] = 1.0
        self.y = self.X @ w + 0.1 * rng.standard_normal(n)

    def time_path(self):
        prox.lasso_path(self.X, self.y, eps=1e-2, n_alphas=30, tol=1e-6, solver="fista",
                        maxiter=20000)

    def track_total_iterations(self):
        return int(prox.lasso_path(self.X, self.y, eps=1e-2, n_alphas=30, tol=1e-6,
                                   solver="fista", maxiter=20000).n_iters.sum())
