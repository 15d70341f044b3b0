"""
A sequence of Darcy solves: sorted GCRO-DR recycling vs independent GMRES
========================================================================

Generate ``--systems`` Darcy problems ``-div(k grad u) = 1`` on an ``n x n``
grid with independent log-normal permeability fields
(:func:`lrsolve.problems.darcy_sequence`), then solve them

* independently by GMRES(40) (the baseline of the SKR paper), and
* with :func:`lrsolve.krylov.solve_sequence`: sorted by similarity of the
  fields, solved one after the other by GCRO-DR(40, 20) recycling its
  subspace and starting from the previous solution,

both with the same Jacobi preconditioner, to ``--rtol``.  Prints a table
(method, total iterations, total products with ``A``, worst relative residual)
and the iterations per system; with matplotlib installed, plots the iterations
per system in the order of the solves (saved to ``--out``).

Run: ``python examples/plot_darcy_sequence.py [--systems 40] [--n 48] [--out FILE]``
"""

import argparse
import importlib.util
import time

import numpy as np

import lrsolve
from lrsolve.krylov import solve_sequence


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--systems", type=int, default=40, help="number of systems")
    parser.add_argument("--n", type=int, default=48, help="grid size n (n x n unknowns)")
    parser.add_argument("--rtol", type=float, default=1e-7, help="relative tolerance")
    parser.add_argument("--precond", default="jacobi", help="preconditioner name")
    parser.add_argument("--out", default="darcy_sequence.png", help="figure file (matplotlib)")
    args = parser.parse_args(argv)

    problems = lrsolve.problems.darcy_sequence(args.systems, (args.n, args.n), rng=0)
    # compile the kernels outside the timings (a first run of a session pays for it)
    warm = problems[:2]
    solve_sequence(warm, method="gcrodr", precond=args.precond, rtol=args.rtol, progress=False)
    solve_sequence(warm, method="gmres", order="given", m=40, precond=args.precond,
                   rtol=args.rtol, warm_start=False, progress=False)
    runs = {}
    t = time.perf_counter()
    # solve_sequence's defaults for GCRO-DR: k = 10, m = 40
    runs["gcrodr-sorted"] = solve_sequence(problems, method="gcrodr", precond=args.precond,
                                           rtol=args.rtol, progress=False)
    t_rec = time.perf_counter() - t
    t = time.perf_counter()
    runs["gmres"] = solve_sequence(problems, method="gmres", order="given", m=40,
                                   precond=args.precond, rtol=args.rtol, warm_start=False,
                                   progress=False)
    t_gm = time.perf_counter() - t

    print(f"{args.systems} Darcy systems, n = {args.n * args.n}, rtol = {args.rtol:g}, "
          f"precond = {args.precond}")
    print(f"{'method':<14} {'iters':>7} {'matvecs':>8} {'worst relres':>13}")
    for name, res in runs.items():
        worst = max(np.linalg.norm(p.b - p.A @ x) / np.linalg.norm(p.b)
                    for p, x in zip(problems, res.xs, strict=True))
        print(f"{name:<14} {res.niter.sum():7d} {res.n_matvec.sum():8d} {worst:13.3e}")
    print()
    print(f"time: gcrodr-sorted {t_rec:.2f} s (sorting {runs['gcrodr-sorted'].sort_time:.3f} s),"
          f" gmres {t_gm:.2f} s; products ratio "
          f"{runs['gmres'].n_matvec.sum() / runs['gcrodr-sorted'].n_matvec.sum():.2f}")
    order = runs["gcrodr-sorted"].order
    print("iterations per system, in the order of the solves:")
    for name, res in runs.items():
        print(f"  {name:<14}", " ".join(str(v) for v in res.niter[order]))

    if importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed: no figure")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, res in runs.items():
        ax.plot(np.arange(1, args.systems + 1), res.niter[order], marker="o", ms=3,
                label=f"{name} (total {res.niter.sum()})")
    ax.set_xlabel("system (in the sorted order of the solves)")
    ax.set_ylabel("iterations")
    ax.set_yscale("log")
    ax.set_title(f"Darcy sequence, n = {args.n}$^2$, rtol {args.rtol:g}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"figure saved to {args.out}")


if __name__ == "__main__":
    main()
