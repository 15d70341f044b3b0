"""
Lasso regularization path
=========================

Compute a Lasso path (log-spaced alphas from ``alpha_max`` down to
``alpha_max/100``) on a design with correlated features with
:func:`lrsolve.prox.lasso_path` (coordinate descent with gap-safe screening and
working sets) and with :func:`sklearn.linear_model.lasso_path`, print the times
and the largest relative difference of the objectives, and plot the
coefficient paths (matplotlib, saved to ``--out``).  ``--fista`` also runs the
array-code path (``solver="fista"``: warm-started FISTA with restart, the
default for CuPy inputs) on the same grid.

Run: ``python examples/plot_lasso_path.py [--n 300] [--p 1000] [--n-alphas 50] [--fista]
[--out FILE]``
"""

import argparse
import importlib.util
import time

import numpy as np

from lrsolve import prox


def make_data(n, p, rho=0.6, seed=0):
    """AR(1)-correlated Gaussian design and a sparse ground truth."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, p))
    X = np.empty((n, p), order="F")
    X[:, 0] = Z[:, 0]
    for j in range(1, p):
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho**2) * Z[:, j]
    w = np.zeros(p)
    w[rng.choice(p, 10, replace=False)] = rng.standard_normal(10) * 2
    y = X @ w + 0.5 * rng.standard_normal(n)
    return X, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--p", type=int, default=1000)
    parser.add_argument("--n-alphas", type=int, default=50)
    parser.add_argument("--tol", type=float, default=1e-10)
    parser.add_argument("--fista", action="store_true", help="also run solver='fista'")
    parser.add_argument("--out", default="lasso_path.png")
    args = parser.parse_args(argv)

    X, y = make_data(args.n, args.p)
    prox.lasso_path(X[:, :20], y, n_alphas=2)  # compile the kernels first
    t0 = time.perf_counter()
    path = prox.lasso_path(X, y, eps=1e-2, n_alphas=args.n_alphas, tol=args.tol)
    t_ours = time.perf_counter() - t0

    def objective(w, a):
        return 0.5 / args.n * float(np.sum((y - X @ w) ** 2)) + a * float(np.abs(w).sum())

    rel, t_sk = float("nan"), float("nan")
    if importlib.util.find_spec("sklearn") is not None:
        from sklearn.linear_model import lasso_path

        t0 = time.perf_counter()
        _, coefs, _ = lasso_path(X, y, alphas=path.alphas, tol=args.tol, max_iter=100000)
        t_sk = time.perf_counter() - t0
        rel = max(abs(objective(path.coefs[:, i], a) - objective(coefs[:, i], a))
                  / objective(coefs[:, i], a) for i, a in enumerate(path.alphas))
    print(f"Lasso path, X {args.n}x{args.p} (AR(1) rho=0.6), {args.n_alphas} alphas, "
          f"tol={args.tol:g}")
    print(f"{'':<6}{'lrsolve s':>10}{'sklearn s':>10}{'nonzeros':>9}{'max rel obj diff':>18}")
    print(f"path  {t_ours:>10.3f}{t_sk:>10.3f}{int(np.count_nonzero(path.coefs[:, -1])):>9}"
          f"{rel:>18.2e}")
    if args.fista:
        t0 = time.perf_counter()
        fp = prox.lasso_path(X, y, alphas=path.alphas, tol=args.tol, solver="fista",
                             maxiter=100000)
        t_f = time.perf_counter() - t0
        rel_f = max(abs(objective(fp.coefs[:, i], a) - objective(path.coefs[:, i], a))
                    / objective(path.coefs[:, i], a) for i, a in enumerate(path.alphas))
        print(f"fista {t_f:>10.3f}{'':>10}{int(np.count_nonzero(fp.coefs[:, -1])):>9}"
              f"{rel_f:>18.2e}  (vs the CD path; {int(fp.n_iters.sum())} gradient steps)")

    if importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed: no figure")
        return 0
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    active = np.nonzero(np.abs(path.coefs).max(axis=1) > 0)[0]
    ax.semilogx(path.alphas, path.coefs[active].T, lw=1)
    ax.invert_xaxis()
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel("coefficient")
    ax.set_title(f"lrsolve.prox.lasso_path ({len(active)} features enter)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"figure written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
