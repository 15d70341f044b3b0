"""Learn the SSOR relaxation parameter over a sequence of Darcy systems with a bandit.

A Tsallis-INF bandit ("Learning to Relax") picks omega for each of a sequence
of Darcy-flow systems (random log-normal permeabilities), solved by
SSOR-preconditioned CG, seeing only the iteration counts.  Every omega of the
grid is also run on every system, to find the best fixed omega in hindsight.

Prints a table of total iterations (bandit vs fixed omegas) and, with
matplotlib installed and ``--out`` given, plots the omega chosen per system
and the cumulative iterations.

Run ``python examples/plot_bandit_omega.py --n-systems 200 --out bandit.png``.
"""

from __future__ import annotations

import argparse

import numpy as np

import lrsolve


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-systems", type=int, default=200, help="number of systems")
    parser.add_argument("--shape", type=int, default=24, help="grid points per axis")
    parser.add_argument("--grid", type=int, default=20, help="number of omegas in [1, 1.95]")
    parser.add_argument("--rtol", type=float, default=1e-8, help="relative tolerance")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", default=None, help="write the plot to this file")
    args = parser.parse_args(argv)

    omegas = np.linspace(1.0, 1.95, args.grid)
    systems = lrsolve.problems.darcy_sequence(args.n_systems, (args.shape, args.shape),
                                              rng=args.seed)
    res = lrsolve.relax.tune_omega(systems, omegas=omegas, rtol=args.rtol, rng=args.seed,
                                   hindsight=True)
    totals = res.fixed_iterations.sum(axis=0)

    print(f"{args.n_systems} Darcy systems on a {args.shape}x{args.shape} grid, SSOR-CG, "
          f"rtol={args.rtol:g}")
    print(f"{'omega':>8} {'total iterations':>17} {'vs best':>8}")
    for w, tot in zip(omegas, totals, strict=True):
        print(f"{w:8.3f} {tot:17d} {tot / totals.min():8.3f}")
    ratio = res.total_iterations / res.best_fixed_iterations
    print(f"{'bandit':>8} {res.total_iterations:17d} {ratio:8.3f}")
    print(f"best fixed omega in hindsight: {res.best_fixed_omega:.3f} "
          f"({res.best_fixed_iterations} iterations); bandit / best = {ratio:.3f}")
    print(f"bandit overhead: {res.decision_time / res.solve_time:.2%} of the solve time")

    if args.out:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed: no plot")
            return res
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
        idx = np.arange(1, args.n_systems + 1)
        ax1.plot(idx, res.omegas, ".", ms=4, label="bandit's omega")
        ax1.axhline(res.best_fixed_omega, color="k", lw=1, label="best fixed omega")
        ax1.set_ylabel("omega")
        ax1.legend(loc="lower right")
        ax2.plot(idx, np.cumsum(res.iterations), lw=2, label="bandit")
        for j in sorted({0, int(np.argmin(totals)), len(omegas) - 1}):
            ax2.plot(idx, np.cumsum(res.fixed_iterations[:, j]), lw=1,
                     label=f"fixed omega={omegas[j]:.2f}")
        ax2.set_xlabel("system")
        ax2.set_ylabel("cumulative iterations")
        ax2.legend(loc="upper left")
        fig.suptitle("SSOR-CG with a bandit-tuned omega (Tsallis-INF)")
        fig.tight_layout()
        fig.savefig(args.out, dpi=100)
        print(f"plot written to {args.out}")
    return res


if __name__ == "__main__":
    main()
