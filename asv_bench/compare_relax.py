"""Side-by-side measurements of lrsolve.relax, in one run, as ratios.

Run from the repository root::

    python asv_bench/compare_relax.py            # the issue's setting (a few minutes)
    python asv_bench/compare_relax.py --quick    # small sizes (< 1 min), a smoke test

(The targets are stated for 500 systems; ``--quick`` runs 60 and reports them only for form.)

Sections (the performance targets of issue 3, item 5):

* ``bandit``  A sequence of related SPD systems (Darcy flow with independent log-normal
              permeabilities, and variable-coefficient Poisson with random inclusions),
              solved by SSOR-preconditioned CG with rtol 1e-8 while Tsallis-INF picks omega
              from ``linspace(1, 1.95, 20)``.  Every omega is also run on every system, to get
              the best fixed omega in hindsight.  Ratio: the bandit's total iterations over the
              best fixed omega's (target <= 1.05 after 500 systems).  Because the iteration
              counts are deterministic, the bandit is also replayed on the recorded
              (system x omega) table with 20 more seeds (mean and worst ratio).
* ``overhead`` Seconds in ``choose`` + ``update`` over seconds in the solves (target <= 0.01).
* ``sweep``   One SOR sweep with the Numba kernel over the plain-SciPy path
              (``spsolve_triangular``) on a 2-D Poisson CSR matrix (no target; information).

The sequences use seed 1; the bandit's default settings were chosen on seed-0 sequences.
Writes ``compare_relax[-quick]-<date>.log`` and ``.json`` next to this script.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "benchmarks"))
import lrsolve  # noqa: E402

from common import laplacian_csr  # noqa: E402

ROWS = []
LINES = []


def say(msg=""):
    print(msg, flush=True)
    LINES.append(msg)


def record(section, case, quantity, value, peer, peer_value, ratio, target, note=""):
    met = None if target is None else bool(ratio <= target)
    ROWS.append(dict(section=section, case=case, quantity=quantity, lrsolve=value, peer=peer,
                     peer_value=peer_value, ratio=ratio, target=target, met=met, note=note))
    tgt = "" if target is None else f"target <= {target}  {'MET' if met else 'MISSED'}"
    say(f"[{section}] {case}: {quantity} = {value:.6g} vs {peer} {peer_value:.6g} -> "
        f"ratio {ratio:.4f}  {tgt} {note}")


def replay(F, grid, seeds):
    """Run fresh bandits on the recorded iteration table (exact: the solves are deterministic)."""
    best = F.sum(axis=0).min()
    ratios, at = [], {}
    marks = [m for m in (100, 250, 500, 1000) if m <= F.shape[0]]
    for s in seeds:
        b = lrsolve.relax.TsallisINF(grid, rng=s)
        tot = 0
        for t in range(F.shape[0]):
            a = b.choose()
            tot += F[t, a]
            b.update(a, F[t, a])
            if t + 1 in marks:
                at.setdefault(t + 1, []).append(tot / F[: t + 1].sum(axis=0).min())
        ratios.append(tot / best)
    return np.array(ratios), {k: float(np.mean(v)) for k, v in at.items()}


def bandit_section(kind, n_systems, n, grid):
    if kind == "darcy":
        systems = lrsolve.problems.darcy_sequence(n_systems, (n, n), rng=1)
    else:
        gens = np.random.default_rng(1).spawn(n_systems)
        systems = [lrsolve.problems.poisson_variable((n, n), rng=g) for g in gens]
    lrsolve.cg(systems[0].A, systems[0].b, maxiter=2, precond="ssor")  # JIT warm-up
    from lrsolve.relax._bandit import tsallis_weights

    tsallis_weights(np.arange(3.0), 1.0)  # JIT warm-up of the bandit kernel (disk-cached)
    t0 = time.perf_counter()
    res = lrsolve.relax.tune_omega(systems, omegas=grid, rtol=1e-8, rng=0, hindsight=True)
    wall = time.perf_counter() - t0
    F = res.fixed_iterations
    totals = F.sum(axis=0)
    case = f"{kind} {n}x{n}, {n_systems} systems, {len(grid)} omegas"
    say(f"-- {case} (wall {wall:.1f} s including the hindsight solves)")
    say("   fixed omega totals: " + ", ".join(f"{w:.2f}:{t}" for w, t in zip(grid, totals,
                                                                         strict=True)))
    say(f"   uniform-random omega would take {F.mean(axis=1).sum() / totals.min():.4f} x best; "
        f"instance-optimal omega {F.min(axis=1).sum() / totals.min():.4f} x best")
    record("bandit", case, "total iterations (seed 0, online)", res.total_iterations,
           f"best fixed omega={res.best_fixed_omega:.2f}", res.best_fixed_iterations,
           res.total_iterations / res.best_fixed_iterations, 1.05)
    ratios, at = replay(F, grid, range(1, 21))
    record("bandit", case, "mean ratio over 20 replayed bandit seeds", float(ratios.mean()),
           "best fixed", 1.0, float(ratios.mean()), 1.05,
           note=f"(worst seed {ratios.max():.4f}; mean ratio after " +
           ", ".join(f"{k}: {v:.4f}" for k, v in at.items()) + " systems)")
    dec, sol = res.extra["decision_times"], res.extra["solve_times"]
    record("overhead", case, "median bandit seconds per decision", float(np.median(dec)),
           "median solve seconds", float(np.median(sol)), float(np.median(dec) / np.median(sol)),
           0.01, note=f"(total time ratio {res.decision_time / res.solve_time:.4f})")
    return dict(case=case, fixed_totals=totals.tolist(), grid=list(map(float, grid)),
                bandit_total=res.total_iterations, best_fixed_omega=res.best_fixed_omega,
                best_fixed_total=res.best_fixed_iterations, replay_ratios=ratios.tolist(),
                replay_at=at, decision_time=res.decision_time, solve_time=res.solve_time,
                omegas_chosen=res.omegas.tolist())


def overhead_section(n, n_systems):
    """Decision overhead next to larger solves (no hindsight: only the bandit's solves)."""
    systems = lrsolve.problems.darcy_sequence(n_systems, (n, n), rng=2)
    res = lrsolve.relax.tune_omega(systems, rng=0)
    dec, sol = res.extra["decision_times"], res.extra["solve_times"]
    record("overhead", f"darcy {n}x{n}, {n_systems} systems, 20 omegas",
           "median bandit seconds per decision", float(np.median(dec)), "median solve seconds",
           float(np.median(sol)), float(np.median(dec) / np.median(sol)), 0.01,
           note=f"(total time ratio {res.decision_time / res.solve_time:.4f})")


def sweep_section(n):
    from lrsolve._kernels import get_kernel
    from lrsolve._kernels._reference_relax import TriangularSweeps

    A = laplacian_csr((n, n))
    b = np.ones(A.shape[0])
    dpos = get_kernel("csr_diag_pos", "numba")(A.indptr, A.indices)
    dinv = 1.0 / A.diagonal()
    kern = get_kernel("sor_sweep", "numba")
    x = np.zeros(A.shape[0])
    kern(A.data, A.indptr, A.indices, dpos, dinv, 1.5, b, x, False)  # compile
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        kern(A.data, A.indptr, A.indices, dpos, dinv, 1.5, b, x, False)
    t_numba = (time.perf_counter() - t0) / reps
    tri = TriangularSweeps(A, 1.5)
    y = np.zeros(A.shape[0])
    tri.sweep(b, y)
    t0 = time.perf_counter()
    for _ in range(reps):
        tri.sweep(b, y)
    t_ref = (time.perf_counter() - t0) / reps
    record("sweep", f"2-D Poisson {n}x{n} CSR", "seconds per SOR sweep (numba)", t_numba,
           "spsolve_triangular path", t_ref, t_numba / t_ref, None)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, < 1 minute")
    ap.add_argument("--n-systems", type=int, default=None, help="systems per sequence")
    ap.add_argument("--grid-size", type=int, default=None, help="grid points per axis")
    args = ap.parse_args(argv)
    n_sys = args.n_systems or (60 if args.quick else 500)
    n = args.grid_size or (16 if args.quick else 32)
    grid = lrsolve.relax.default_omegas()
    say(f"compare_relax {'--quick ' if args.quick else ''}on {platform.node()} "
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs), "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"lrsolve {lrsolve.__version__}, numpy {np.__version__}")
    sections = {}
    for kind in ("darcy", "poisson_variable"):
        sections[kind] = bandit_section(kind, n_sys, n, grid)
    overhead_section(32 if args.quick else 64, 20 if args.quick else 100)
    sweep_section(128 if args.quick else 512)
    stamp = f"{datetime.date.today():%Y-%m-%d}"
    base = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        f"compare_relax{'-quick' if args.quick else ''}-{stamp}")
    with open(base + ".json", "w") as f:
        json.dump(dict(rows=ROWS, sections=sections, machine=platform.platform(),
                       cpus=os.cpu_count(), quick=args.quick), f, indent=1)
    with open(base + ".log", "w") as f:
        f.write("\n".join(LINES) + "\n")
    print(f"wrote {base}.log and {base}.json")


if __name__ == "__main__":
    main()
