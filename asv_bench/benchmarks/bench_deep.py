"""asv benchmarks for lrsolve.deep.dcdm (time, iterations) next to IC(0)-PCG."""

import numpy as np

try:
    import lrsolve
except ImportError:  # pragma: no cover - asv imports benchmarks before install in old commits
    lrsolve = None


def _scene(shape, seed=2026):
    mask = lrsolve.deep.obstacle_mask(shape, 6 if len(shape) == 2 else 5, rng=seed)
    A = lrsolve.operators.poisson(shape, mask=mask)
    b = np.random.default_rng(seed).standard_normal(A.shape[0])
    return A, b


class DCDMPoisson:
    params = [[(128, 128), (256, 256), (32, 32, 32)], ["dcdm", "cg", "ic0"]]
    param_names = ["shape", "method"]
    timeout = 600

    def setup(self, shape, method):
        try:
            import torch  # noqa: F401
        except ImportError:
            raise NotImplementedError from None
        self.A, self.b = _scene(shape)
        if method == "dcdm":
            self.run = lambda: lrsolve.deep.dcdm(self.A, self.b, rtol=1e-6)
            lrsolve.deep.dcdm(self.A, self.b, maxiter=1)  # load the model
        else:
            pc = None if method == "cg" else method
            self.run = lambda: lrsolve.cg(self.A, self.b, rtol=1e-6, precond=pc)
            lrsolve.cg(self.A, self.b, maxiter=2, precond=pc)  # JIT warm-up

    def time_solve(self, shape, method):
        self.run()

    def track_iterations(self, shape, method):
        return self.run().niter


class DCDMInference:
    """One network evaluation (the cost that replaces a preconditioner application)."""

    params = [[(256, 256), (32, 32, 32)]]
    param_names = ["shape"]

    def setup(self, shape):
        try:
            import torch
        except ImportError:
            raise NotImplementedError from None
        self.torch = torch
        self.net = lrsolve.deep.load_model("auto", ndim=len(shape))
        self.r = torch.randn((1,) + tuple(shape))

    def time_forward(self, shape):
        with self.torch.inference_mode():
            self.net(self.r)
