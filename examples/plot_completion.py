"""Complete a synthetic ratings matrix: test RMSE versus time for each method.

A ratings matrix (users x items, integer ratings 1..5) is drawn from a
low-rank model with user and item biases plus noise; 80% of the ratings train
the models and 20% are held out.  ``altmin`` (exact and CG row updates, with
biases), ``softimpute`` and ``scaled_gd`` are run, the test RMSE after every
sweep is recorded through the ``validation`` argument, and a table (method,
sweeps, seconds, final test RMSE) is printed.  With matplotlib installed the
curves are saved to ``--out``.

Run it with ``python examples/plot_completion.py --out completion.png``.
"""

import argparse
import time

import numpy as np

from lrsolve.completion import altmin, observations, scaled_gd, softimpute


def synthetic_ratings(users, items, ratings, rank=5, rng=0):
    """Integer ratings 1..5 of a biased low-rank model, at ``ratings`` random positions."""
    g = np.random.default_rng(rng)
    U = g.standard_normal((users, rank)) * 0.5
    V = g.standard_normal((items, rank)) * 0.5
    bu = 0.4 * g.standard_normal(users)
    bi = 0.4 * g.standard_normal(items)
    lin = g.choice(users * items, size=ratings, replace=False)
    r, c = np.divmod(lin, items)
    x = 3.5 + bu[r] + bi[c] + np.sum(U[r] * V[c], axis=1) + 0.5 * g.standard_normal(ratings)
    return r, c, np.clip(np.rint(x), 1, 5)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=943)
    p.add_argument("--items", type=int, default=1682)
    p.add_argument("--ratings", type=int, default=100_000)
    p.add_argument("--rank", type=int, default=5)
    p.add_argument("--out", default=None, help="save the plot to this file (needs matplotlib)")
    args = p.parse_args(argv)

    r, c, v = synthetic_ratings(args.users, args.items, args.ratings, args.rank)
    test = np.random.default_rng(1).random(len(v)) < 0.2
    shape = (args.users, args.items)
    train = observations((r[~test], c[~test], v[~test]), shape=shape)
    val = (r[test], c[test], v[test])
    mean = float(v[~test].mean())

    runs = {
        "altmin-exact": lambda: altmin(train, args.rank, reg=0.08, biases=True, maxiter=15,
                                       validation=val, rng=0),
        "altmin-cg": lambda: altmin(train, args.rank, reg=0.08, biases=True, solver="cg",
                                    maxiter=15, validation=val, rng=0),
        # softimpute and scaled_gd have no bias terms: give them centred ratings
        "softimpute": lambda: softimpute((r[~test], c[~test], v[~test] - mean), shape=shape,
                                         lam=None, rank_max=20, maxiter=40, tol=1e-4, early_stop=3,
                                         validation=(r[test], c[test], v[test] - mean), rng=0),
        "scaled_gd": lambda: scaled_gd((r[~test], c[~test], v[~test] - mean), 2, shape=shape,
                                       damping=1.0, step=0.3, maxiter=40, tol=1e-5,
                                       validation=(r[test], c[test], v[test] - mean), rng=0),
    }
    # compile the kernels outside the timings (a first run of a session pays for it)
    small = observations((r[:2000], c[:2000], v[:2000]), shape=shape)
    for solver in ("exact", "cg"):
        altmin(small, args.rank, reg=0.08, biases=True, solver=solver, maxiter=2, rng=0)
    print(f"{'method':<14} {'sweeps':>6} {'seconds':>9} {'test_rmse':>10}")
    curves = {}
    for name, run in runs.items():
        t0 = time.perf_counter()
        res = run()
        elapsed = time.perf_counter() - t0
        h = res.history
        curves[name] = (np.cumsum(h["time"]), h["val_rmse"])
        print(f"{name:<14} {res.n_iter:>6d} {elapsed:>9.3f} {h['val_rmse'][-1]:>10.4f}")
    print(f"\nbaseline (global mean): test RMSE {np.sqrt(np.mean((v[test] - mean) ** 2)):.4f}")

    if args.out:
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed: no plot")
            return
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, (t, rmse) in curves.items():
            ax.plot(t, rmse, marker="o", ms=3, label=name)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("test RMSE")
        ax.set_xscale("log")
        ax.set_title(f"{args.users} x {args.items}, {args.ratings} ratings")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.out, dpi=100)


if __name__ == "__main__":
    main()
