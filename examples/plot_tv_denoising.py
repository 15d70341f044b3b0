"""
Total-variation denoising of a signal
=====================================

Denoise a noisy piecewise-constant signal with the exact 1D total-variation
prox :func:`lrsolve.prox.prox_tv1d` (Condat's direct algorithm), i.e. solve
``min_x 1/2 ||x - y||^2 + lam * sum |x[k+1] - x[k]|`` in one linear-time pass,
and check it against the same problem solved by FISTA on the dual.  Prints the
errors and plots the signals (matplotlib, saved to ``--out``).

Run: ``python examples/plot_tv_denoising.py [--n 2000] [--lam 2.0] [--out FILE]``
"""

import argparse
import importlib.util
import time

import numpy as np

from lrsolve import prox


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--lam", type=float, default=2.0)
    parser.add_argument("--sigma", type=float, default=0.5)
    parser.add_argument("--out", default="tv_denoising.png")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    jumps = np.sort(rng.choice(np.arange(1, args.n), 8, replace=False))
    levels = rng.integers(-3, 4, size=9).astype(float)
    clean = np.repeat(levels, np.diff(np.r_[0, jumps, args.n]))
    noisy = clean + args.sigma * rng.standard_normal(args.n)

    prox.prox_tv1d(noisy[:10], 1.0)  # compile the kernel first
    t0 = time.perf_counter()
    den = prox.prox_tv1d(noisy, args.lam)
    secs = time.perf_counter() - t0

    # the dual: min_u 1/2 ||y - D^T u||^2 over |u| <= lam, by FISTA on a box
    def dvalue(u):
        r = noisy - np.r_[-u[:1], -np.diff(u), u[-1:]]
        return 0.5 * float(r @ r)

    def dgrad(u):
        x = noisy - np.r_[-u[:1], -np.diff(u), u[-1:]]
        return -np.diff(x)

    res = prox.proximal_gradient((dvalue, dgrad), prox.Box(-args.lam, args.lam),
                                 np.zeros(args.n - 1), step=0.25, tol=1e-12, maxiter=20000)
    u = res.x
    den_dual = noisy - np.r_[-u[:1], -np.diff(u), u[-1:]]

    rmse = lambda a: float(np.sqrt(np.mean((a - clean) ** 2)))  # noqa: E731
    print(f"TV denoising, n={args.n}, lam={args.lam}, noise sigma={args.sigma}")
    print(f"rmse noisy: {rmse(noisy):.4f}")
    print(f"rmse denoised: {rmse(den):.4f}")
    print(f"prox_tv1d seconds: {secs:.5f}")
    print(f"max diff vs dual FISTA ({res.niter} it.): {np.abs(den - den_dual).max():.2e}")

    if importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed: no figure")
        return 0
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(noisy, lw=0.5, color="0.6", label="noisy")
    ax.plot(clean, lw=1.5, color="k", label="clean")
    ax.plot(den, lw=1.2, color="C3", label=f"prox_tv1d, lam={args.lam}")
    ax.legend(loc="best")
    ax.set_title("1D total-variation denoising (Condat's direct algorithm)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"figure written to: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
