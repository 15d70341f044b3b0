"""Side-by-side performance figures of lrsolve.completion (issue 8), in one run.

Sections (``--only a,b``):

``omega``      time per ALS sweep vs the number of observed entries |Omega| on a synthetic
               200000 x 100000 rank-10 problem (fitted log-log slope, target 0.9..1.1), the
               fit t = a + b |Omega|, and the parts of the fastest sweep (row update, column
               update, residual pass, rest).  ``--rounds R`` times every size in R
               interleaved rounds instead (all problems built first) and reports the
               median and range of the rounds' slopes.  ``--omega-before DIR`` also times
               an older copy of the lrsolve package (``git archive <rev> lrsolve | tar -x
               -C DIR``) in a child process right after the current code at each size.
``rank``       time per sweep vs the rank k (16..128) for the ``cg`` and ``exact`` solvers
               (target: cg grows at most linearly, exact about quadratically).
``softimpute`` lrsolve.softimpute vs fancyimpute's SoftImpute algorithm on 5000 x 5000
               rank 10, at equal test RMSE (target >= 10x).  fancyimpute itself cannot be
               installed here (it needs TensorFlow/cvxpy): its algorithm is reimplemented
               faithfully below (dense filled matrix, SVD of it every iteration, its default
               shrinkage max(s)/50, convergence threshold 0.001 on the missing entries).
``movielens``  MovieLens-100K-format ratings (u1.base / u1.test split): test RMSE <= 0.92 in
               under 2 s.  ``--movielens DIR`` runs it on the real files; a synthetic
               ratings set of the same size (943 x 1682, 100k ratings 1..5) is always run.
               ``--movielens`` takes the ml-100k folder, its parent or GroupLens's
               ``ml-100k.zip`` as downloaded (or set ``$LRSOLVE_MOVIELENS``);
               ``--ml-splits u1,u2,...`` runs several of the five splits.
``memory``     tracemalloc peak of altmin vs (observed triples + factors) (target <= 3x).
``gpu``        (not in the default set; needs CuPy and a CUDA device) one altmin sweep at
               |Omega| = 10^8 (``--quick``: 10^6), rank 64, float32, on a 200000 x 200000
               problem generated on the device (500 entries per row and column): time of a
               1-sweep call (after a first, cold one, reported apart), per-sweep time
               (t(3 sweeps) - t(1 sweep)) / 2 and the sweep times altmin records, for the
               ``exact`` and ``cg`` solvers (target < 1 s), the set-up (COO -> CSR/CSC)
               apart; a CPU (Numba) reference of the same sweep at 10^7 entries, labelled as
               such.  ``LRSOLVE_GPU_DRYRUN=1`` runs the same code with NumPy standing in for
               the device (NumPy engine, the kernels CuPy runs) at small sizes: a check of the
               code path on a machine without a GPU.

Writes ``compare_completion-<date>.log`` and ``.json`` next to this script
(``compare_completion-gpu-...`` when ``gpu`` runs, ``-gpudry-`` for a dry run).
``--quick`` uses small sizes (under a minute): a smoke test of the script.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import pathlib
import platform
import sys
import time
import tracemalloc

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
if "--before-worker" in sys.argv:  # time an older copy of lrsolve (omega --omega-before DIR)
    sys.path.insert(0, str(pathlib.Path(sys.argv[sys.argv.index("--before-worker") + 1])))

import _gpu_device  # noqa: E402  (next to this script)

import lrsolve  # noqa: E402
from lrsolve.completion import altmin, load_movielens, observations, softimpute  # noqa: E402

LOG = []


def log(msg=""):
    print(msg, flush=True)
    LOG.append(msg)


def random_problem(m, n, k, nnz, seed=0, noise=0.0, dtype=np.float64):
    """``nnz`` distinct entries of a rank-k Gaussian matrix (without forming it)."""
    g = np.random.default_rng(seed)
    U = g.standard_normal((m, k)) / k**0.25
    V = g.standard_normal((n, k)) / k**0.25
    lin = np.unique(g.integers(0, m * n, size=int(nnz * 1.001) + 10))
    lin = g.permutation(lin)[:nnz]
    r, c = np.divmod(lin, n)
    del lin
    v = np.empty(len(r))
    step = 1 << 20
    for s in range(0, len(r), step):
        v[s : s + step] = np.sum(U[r[s : s + step]] * V[c[s : s + step]], axis=1)
    if noise:
        v += noise * g.standard_normal(len(v))
    return r, c, v.astype(dtype), U, V


def sweep_time(obs, k, solver, sweeps=3):
    """Fastest of sweeps 2.. (the least disturbed by other jobs on a shared machine)."""
    res = altmin(obs, k, reg=0.05, init="random", solver=solver, maxiter=sweeps, tol=0.0, rng=0)
    t = res.history["time"]
    return float(np.min(t[1:] if len(t) > 1 else t))


#: The kernels of a sweep, timed apart by ``sweep_parts``.
PARTS = ("mc_als_exact", "mc_als_cg", "mc_sq_residual")


def sweep_parts(obs, k, solver, sweeps=4):
    """``sweep_time`` plus the parts of that fastest sweep: (t, row half, column half, residual).

    The kernels are wrapped with timers in the kernel table for the run; a sweep whose
    kernels are not all there (an older lrsolve) gets NaN parts.
    """
    from lrsolve._kernels import _table

    table = _table("numba")
    saved = {name: table.get(name) for name in PARTS}
    calls = []

    def timed(name, fn):
        def call(*a):
            t0 = time.perf_counter()
            r = fn(*a)
            calls.append((name, time.perf_counter() - t0))
            return r

        return call

    for name, fn in saved.items():
        if fn is not None:
            table[name] = timed(name, fn)
    try:
        res = altmin(obs, k, reg=0.05, init="random", solver=solver, maxiter=sweeps, tol=0.0,
                     rng=0)
    finally:
        for name, fn in saved.items():
            if fn is not None:
                table[name] = fn
    t = np.asarray(res.history["time"])
    best = 1 + int(np.argmin(t[1:])) if len(t) > 1 else 0
    if len(calls) != 3 * len(t):
        return float(t[best]), float("nan"), float("nan"), float("nan")
    u, v, r = (c[1] for c in calls[3 * best : 3 * best + 3])
    return float(t[best]), u, v, r


def before_worker(args):
    """Child process of ``--omega-before``: time the older lrsolve first on ``sys.path``."""
    m, n, k = (20000, 10000, 10) if args.quick else (200_000, 100_000, 10)
    warm = observations(random_problem(200, 100, k, 5000)[:3])
    for s in ("exact", "cg"):
        sweep_time(warm, k, s, 1)
    r, c, v, _, _ = random_problem(m, n, k, args.before_nnz, seed=1)
    obs = observations((r, c, v), shape=(m, n))
    del r, c, v
    out = {"exact": sweep_time(obs, k, "exact", args.sweeps),
           "cg": sweep_time(obs, k, "cg", args.sweeps),
           "lrsolve": str(pathlib.Path(lrsolve.__file__).parent)}
    print(json.dumps(out), flush=True)


def time_before(args, nnz):
    import subprocess

    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--before-worker",
           str(args.omega_before), "--before-nnz", str(nnz), "--sweeps", str(args.sweeps)] + (
               ["--quick"] if args.quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fit_slope(x, y):
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


# ----------------------------------------------------------------------------- sections
def fit_affine(x, y):
    """Least-squares ``y = a + b x``: the fixed (per-row) and per-entry costs of a sweep."""
    b, a = np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)
    return float(a), float(b)


def load_exact_kernel(path):
    """``mc_als_exact`` of another version of ``_numba_completion.py`` (a baseline).

    For example ``git show e13242b:lrsolve/_kernels/_numba_completion.py > /tmp/old.py``;
    the file is loaded inside ``lrsolve._kernels`` so that its relative imports resolve.
    """
    import importlib.util

    spec = importlib.util.spec_from_file_location("lrsolve._kernels._baseline_completion", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # Numba's disk cache re-imports it by name
    spec.loader.exec_module(mod)
    return mod.mc_als_exact


@contextlib.contextmanager
def exact_kernel(fn):
    """Run altmin's exact solver with the kernel ``fn`` (None: the current one)."""
    from lrsolve._kernels import _table

    table = _table("numba")
    current = table["mc_als_exact"]
    table["mc_als_exact"] = current if fn is None else fn
    try:
        yield
    finally:
        table["mc_als_exact"] = current


def section_omega(args, out):
    if args.rounds > 1:
        return section_omega_rounds(args, out)
    m, n, k = (20000, 10000, 10) if args.quick else (200_000, 100_000, 10)
    sizes = [100_000, 200_000, 500_000] if args.quick else [1_000_000, 2_000_000, 5_000_000,
                                                            10_000_000, 20_000_000]
    if args.max_omega:
        sizes = [s for s in sizes if s <= args.max_omega]
    base = load_exact_kernel(args.omega_baseline) if args.omega_baseline else None
    before = args.omega_before
    log(f"## time per sweep vs |Omega|: {m} x {n}, rank {k} (float64, reg 0.05), fastest of "
        f"sweeps 2-{args.sweeps}")
    log(f"load average before the section: {_loadavg()}")
    if base is not None:
        log(f"baseline exact kernel ('base'): {args.omega_baseline}, timed right after the "
            "current one at each size")
    if before:
        log(f"'before': the lrsolve copy in {before} (exact and cg), timed in a child process "
            "right after the current code at each size, on the same problem")
    log(f"{'|Omega|':>10} {'exact s/sweep':>14} {'cg s/sweep':>11} {'exact ns/entry':>15} "
        f"{'cg ns/entry':>12}" + (f" {'base s/sweep':>13}" if base is not None else "")
        + (f" {'before exact':>13} {'before cg':>10}" if before else ""))
    warm = observations(random_problem(200, 100, k, 5000)[:3])
    for s in ("exact", "cg"):
        sweep_time(warm, k, s, 1)  # compile outside the timings
    if base is not None:
        with exact_kernel(base):
            sweep_time(warm, k, "exact", 1)
    rows = []
    parts = {"exact": [], "cg": []}
    for nnz in sizes:
        r, c, v, _, _ = random_problem(m, n, k, nnz, seed=1)
        obs = observations((r, c, v), shape=(m, n))
        del r, c, v
        pe = sweep_parts(obs, k, "exact", args.sweeps)
        pc = sweep_parts(obs, k, "cg", args.sweeps)
        parts["exact"].append(pe)
        parts["cg"].append(pc)
        te, tc = pe[0], pc[0]
        row = [nnz, te, tc]
        line = f"{nnz:>10d} {te:>14.3f} {tc:>11.3f} {1e9 * te / nnz:>15.1f} {1e9 * tc / nnz:>12.1f}"
        if base is not None:
            with exact_kernel(base):
                tb = sweep_time(obs, k, "exact", args.sweeps)
            row.append(tb)
            line += f" {tb:>13.3f}"
        del obs
        if before:
            b = time_before(args, nnz)
            row += [b["exact"], b["cg"]]
            line += f" {b['exact']:>13.3f} {b['cg']:>10.3f}"
        rows.append(tuple(row))
        log(line)
    x = [r[0] for r in rows]
    se = fit_slope(x, [r[1] for r in rows])
    sc = fit_slope(x, [r[2] for r in rows])
    log(f"fitted log-log slope: exact {se:.3f}, cg {sc:.3f} (target 0.9..1.1)")
    res = {"shape": [m, n], "rank": k, "rows": rows, "slope_exact": se, "slope_cg": sc,
           "parts": parts, "columns": ["nnz", "exact", "cg"] + (["base"] if base is not None
                                                                else [])
           + (["before_exact", "before_cg"] if before else [])}
    # t = a + b |Omega|: a is the fixed cost of the m + n row solves, b the cost of an entry
    names = ["exact", "cg"] + (["base"] if base is not None else []) + (
        ["before_exact", "before_cg"] if before else [])
    for col, name in enumerate(names, start=1):
        ts = [r[col] for r in rows]
        if len(rows) < 2:
            break
        a, b = fit_affine(x, ts)
        rest = [t - a for t in ts]
        sl = fit_slope(x, rest) if min(rest) > 0 else float("nan")
        if name in ("base", "before_exact", "before_cg"):
            res[f"slope_{name}"] = fit_slope(x, ts)
            log(f"fitted log-log slope: {name} {res[f'slope_{name}']:.3f}")
        log(f"{name:>12}: t = a + b |Omega| with a = {1e3 * a:.1f} ms per sweep "
            f"({1e9 * a / (m + n):.0f} ns per row of the m + n = {m + n}), b = {1e9 * b:.1f} ns "
            f"per entry; slope of t - a: {sl:.3f}")
        res[f"fit_{name}"] = {"a_s": a, "b_s": b, "a_ns_per_row": 1e9 * a / (m + n),
                              "b_ns_per_entry": 1e9 * b, "slope_without_a": sl}
    # the parts of the fastest sweep: row half, column half, residual pass, the rest
    log("parts of the fastest sweep (ms): row-factor update, column-factor update, residual "
        "pass, rest of the sweep")
    for solver in ("exact", "cg"):
        ps = np.array(parts[solver])
        if len(rows) < 2 or not np.isfinite(ps).all():
            break
        cols = {"rows": ps[:, 1], "cols": ps[:, 2], "residual": ps[:, 3],
                "rest": ps[:, 0] - ps[:, 1:].sum(axis=1)}
        for nnz, p in zip(x, ps, strict=True):
            log(f"  {solver:>5} {nnz:>10d}: " + " ".join(f"{1e3 * v:8.1f}" for v in
                                                         (p[1], p[2], p[3], p[0] - p[1:].sum())))
        fits = {}
        for key, ts in cols.items():
            a, b = fit_affine(x, ts)
            fits[key] = {"a_ms": 1e3 * a, "b_ns_per_entry": 1e9 * b}
        log(f"  {solver:>5} a (ms) / b (ns per entry) of the parts: " + ", ".join(
            f"{key} {f['a_ms']:.1f} / {f['b_ns_per_entry']:.1f}" for key, f in fits.items()))
        res[f"parts_fit_{solver}"] = fits
    if base is not None:
        res["baseline"] = str(args.omega_baseline)
    if before:
        res["before"] = str(before)
    log(f"load average after the section: {_loadavg()}")
    out["omega"] = res


def section_omega_rounds(args, out):
    """``omega`` with ``--rounds R``: every size timed in each of R interleaved rounds.

    All problems are built first; each round times every size once (``sweeps`` sweeps, the
    fastest of sweeps 2.. counts), in ascending order in even rounds and descending in odd
    ones, so a change of the machine's background load during the run falls on all sizes
    alike instead of on the sizes that happen to run at that time.  Reported: the slope of
    each round, their median and range, and the slope of the per-size minimum over the
    rounds (each size's least disturbed sweep).
    """
    m, n, k = (20000, 10000, 10) if args.quick else (200_000, 100_000, 10)
    sizes = [100_000, 200_000, 500_000] if args.quick else [1_000_000, 2_000_000, 5_000_000,
                                                            10_000_000, 20_000_000]
    if args.max_omega:
        sizes = [s for s in sizes if s <= args.max_omega]
    solvers = ("exact", "cg")
    log(f"## time per sweep vs |Omega|, {args.rounds} interleaved rounds: {m} x {n}, rank {k} "
        f"(float64, reg 0.05), fastest of sweeps 2-{args.sweeps} per size and round")
    log(f"load average before the section: {_loadavg()}")
    warm = observations(random_problem(200, 100, k, 5000)[:3])
    for s in solvers:
        sweep_time(warm, k, s, 1)  # compile outside the timings
    probs = []
    for nnz in sizes:
        r, c, v, _, _ = random_problem(m, n, k, nnz, seed=1)
        probs.append(observations((r, c, v), shape=(m, n)))
        del r, c, v
    times = {s: np.full((args.rounds, len(sizes)), np.nan) for s in solvers}
    for rnd in range(args.rounds):
        order = range(len(sizes)) if rnd % 2 == 0 else range(len(sizes) - 1, -1, -1)
        for j in order:
            for s in solvers:
                times[s][rnd, j] = sweep_time(probs[j], k, s, args.sweeps)
        slopes = {s: fit_slope(sizes, times[s][rnd]) for s in solvers}
        log(f"round {rnd + 1} (load {_loadavg()}): " + "; ".join(
            f"{s} " + " ".join(f"{t:.3f}" for t in times[s][rnd]) + f" s, slope {slopes[s]:.3f}"
            for s in solvers))
    del probs
    res = {"shape": [m, n], "rank": k, "sizes": sizes, "rounds": args.rounds}
    log(f"{'|Omega|':>10} " + " ".join(f"{s + ' min':>10} {s + ' median':>12}" for s in solvers))
    for j, nnz in enumerate(sizes):
        log(f"{nnz:>10d} " + " ".join(
            f"{np.min(times[s][:, j]):>10.3f} {np.median(times[s][:, j]):>12.3f}"
            for s in solvers))
    for s in solvers:
        per_round = [fit_slope(sizes, t) for t in times[s]]
        s_min = fit_slope(sizes, times[s].min(axis=0))
        s_med = fit_slope(sizes, np.median(times[s], axis=0))
        a, b = fit_affine(sizes, times[s].min(axis=0))
        log(f"{s:>5}: slope of the per-size minimum {s_min:.3f}, of the per-size median "
            f"{s_med:.3f}; per round median {np.median(per_round):.3f}, range "
            f"{min(per_round):.3f}-{max(per_round):.3f} (target 0.9..1.1); fit of the minimum: "
            f"a = {1e3 * a:.1f} ms, b = {1e9 * b:.1f} ns per entry")
        res[s] = {"times": times[s].tolist(), "slope_min": s_min, "slope_median": s_med,
                  "slopes_per_round": per_round, "fit_min": {"a_s": a, "b_s": b}}
    log(f"load average after the section: {_loadavg()}")
    out["omega"] = res


def _loadavg():
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def section_rank(args, out):
    m, n, nnz = (5000, 4000, 100_000) if args.quick else (50_000, 25_000, 1_000_000)
    ranks = [16, 32, 64] if args.quick else [16, 32, 64, 128]
    log(f"\n## time per sweep vs rank: {m} x {n}, |Omega| = {nnz}")
    log(f"{'k':>5} {'exact s/sweep':>14} {'cg s/sweep':>11} {'exact/cg':>9}")
    rows = []
    for k in ranks:
        r, c, v, _, _ = random_problem(m, n, 10, nnz, seed=2)
        obs = observations((r, c, v), shape=(m, n))
        te = sweep_time(obs, k, "exact", 2)
        tc = sweep_time(obs, k, "cg", 2)
        rows.append((k, te, tc))
        log(f"{k:>5d} {te:>14.3f} {tc:>11.3f} {te / tc:>9.2f}")
    ks = [r[0] for r in rows]
    se = fit_slope(ks, [r[1] for r in rows])
    sc = fit_slope(ks, [r[2] for r in rows])
    log(f"fitted log-log slope in k: exact {se:.2f}, cg {sc:.2f} "
        "(target: cg <= 1.0, exact ~2)")
    out["rank"] = {"shape": [m, n], "nnz": nnz, "rows": rows, "slope_exact": se, "slope_cg": sc}


def fancyimpute_softimpute(X_missing, shrinkage_value=None, max_rank=None, max_iters=100,
                           convergence_threshold=0.001, seed=0):
    """fancyimpute.SoftImpute's algorithm (v0.7), line by line on a dense array with NaNs.

    ``solve``: fill missing with 0, then repeat ``X_reconstruction = svd_step(X_filled)``
    (full ``np.linalg.svd``, or sklearn's ``randomized_svd(n_iter=1)`` when ``max_rank``
    is given), soft-threshold, check convergence on the missing entries, and copy the
    reconstruction into the missing entries.
    """
    from sklearn.utils.extmath import randomized_svd

    missing = np.isnan(X_missing)
    observed = ~missing
    X_filled = np.where(missing, 0.0, X_missing)
    if shrinkage_value is None:
        # fancyimpute: max singular value of the zero-filled matrix / 50
        shrinkage_value = np.linalg.norm(X_filled, 2) / 50 if max_rank is None else \
            randomized_svd(X_filled, 1, n_iter=5, random_state=seed)[1][0] / 50
    X_rec = X_filled
    it = 0
    for it in range(max_iters):  # noqa: B007
        if max_rank:
            U, s, V = randomized_svd(X_filled, max_rank, n_iter=1, random_state=seed)
        else:
            U, s, V = np.linalg.svd(X_filled, full_matrices=False, compute_uv=True)
        s_thresh = np.maximum(s - shrinkage_value, 0)
        rank = (s_thresh > 0).sum()
        s_thresh = s_thresh[:rank]
        X_rec = (U[:, :rank] * s_thresh) @ V[:rank]
        # _converged: on the missing entries
        old = X_filled[missing]
        new = X_rec[missing]
        ssd = np.sum((old - new) ** 2)
        old_norm = np.sqrt((old**2).sum())
        converged = (np.sqrt(ssd) / old_norm) < convergence_threshold if old_norm > 0 else False
        X_filled[missing] = X_rec[missing]
        if converged:
            break
    X_filled[observed] = X_missing[observed]
    return X_filled, it + 1, shrinkage_value


def _blas_limit():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(1, user_api="blas")


def section_softimpute(args, out):
    n, k = (1000, 10) if args.quick else (5000, 10)
    nnz = int(0.05 * n * n)
    log(f"\n## SoftImpute: {n} x {n}, rank {k}, |Omega| = {nnz} (5%), noise 0.1; "
        "20% of the entries held out")
    r, c, v, U, V = random_problem(n, n, k, nnz + nnz // 4, seed=3, noise=0.1)
    tr = slice(0, nnz)
    te = slice(nnz, None)
    X = np.full((n, n), np.nan)
    X[r[tr], c[tr]] = v[tr]

    def test_rmse_dense(Z):
        return float(np.sqrt(np.mean((Z[r[te], c[te]] - v[te]) ** 2)))

    rank_max = 2 * k
    # every solver of this section runs with one BLAS thread: on this shared 2-core machine the
    # threaded OpenBLAS LAPACK calls (QR, SVD) of the peer were 50-100x slower than serial ones
    limiter = _blas_limit()
    t0 = time.perf_counter()
    Z, it_f, lam = fancyimpute_softimpute(X.copy(), max_rank=rank_max)
    t_fr = time.perf_counter() - t0
    rm_fr = test_rmse_dense(Z)
    del Z
    log(f"{'method':<44} {'iters':>5} {'seconds':>8} {'test RMSE':>10}")
    log(f"{'fancyimpute SoftImpute(max_rank=20) [reimpl.]':<44} {it_f:>5d} {t_fr:>8.2f} "
        f"{rm_fr:>10.4f}")
    # the default (full SVD every iteration): one iteration timed, the count from above
    t_full = float("nan")
    if not args.skip_full_svd:
        t0 = time.perf_counter()
        np.linalg.svd(np.where(np.isnan(X), 0.0, X), full_matrices=False)
        t_svd = time.perf_counter() - t0
        t_full = t_svd * it_f
        log(f"{'fancyimpute SoftImpute() full SVD [estimate]':<44} {it_f:>5d} {t_full:>8.2f} "
            f"{'(same)':>10}   (one full SVD: {t_svd:.2f} s)")
    del X
    softimpute((r[:1000], c[:1000], v[:1000]), shape=(n, n), lam=lam, rank_max=rank_max,
               maxiter=2)  # compile
    train = (r[tr], c[tr], v[tr])

    def run_si(**kw):
        t0 = time.perf_counter()
        res = softimpute(train, shape=(n, n), lam=lam, rank_max=rank_max, rng=0, **kw)
        return res, time.perf_counter() - t0, res.rmse(r[te], c[te], v[te])

    # 1. the textbook iteration, stopped like the peer (100 iterations or tol 1e-3)
    res0, t_lr0, rm_lr0 = run_si(maxiter=100, tol=1e-3, accelerate=False, n_power=1)
    log(f"{'lrsolve softimpute(accelerate=False, n_power=1)':<44} {res0.n_iter:>5d} "
        f"{t_lr0:>8.2f} {rm_lr0:>10.4f}")
    # 2. the default (accelerated, warm-started range finder without power steps), stopped by
    #    its own test (relative change < 1e-3, the peer's threshold): lower RMSE than the peer
    res1, t_lr1, rm_lr1 = run_si(maxiter=100, tol=1e-3)
    log(f"{'lrsolve softimpute() [default], tol 1e-3':<44} {res1.n_iter:>5d} {t_lr1:>8.2f} "
        f"{rm_lr1:>10.4f}")
    # 3. equal test RMSE: the first iteration count whose test RMSE is at most the peer's
    #    (found with a validation run), then timed on its own without the validation set
    hv = softimpute(train, shape=(n, n), lam=lam, rank_max=rank_max, rng=0, maxiter=100,
                    tol=0.0, validation=(r[te], c[te], v[te])).history["val_rmse"]
    hit = np.flatnonzero(hv <= rm_fr)
    it_eq = int(hit[0]) + 1 if hit.size else 100
    res, t_lr, rm_lr = run_si(maxiter=it_eq, tol=0.0)
    log(f"{'lrsolve softimpute() [default], equal RMSE':<44} {res.n_iter:>5d} {t_lr:>8.2f} "
        f"{rm_lr:>10.4f}")
    t0 = time.perf_counter()
    res2 = altmin((r[tr], c[tr], v[tr]), k, shape=(n, n), reg=0.02, maxiter=15, tol=1e-4, rng=0)
    t_al = time.perf_counter() - t0
    rm_al = res2.rmse(r[te], c[te], v[te])
    log(f"{'lrsolve.completion.altmin (rank 10)':<44} {res2.n_iter:>5d} {t_al:>8.2f} "
        f"{rm_al:>10.4f}")
    log(f"speed-up of softimpute vs fancyimpute(max_rank) at equal test RMSE: {t_fr / t_lr:.1f}x "
        f"(test RMSE {rm_lr:.4f} vs {rm_fr:.4f}; target >= 10x); vs fancyimpute default: "
        f"{t_full / t_lr:.1f}x")
    log(f"  to lrsolve's own stopping test: {t_fr / t_lr1:.1f}x (test RMSE {rm_lr1:.4f}); "
        f"textbook iteration (no momentum): {t_fr / t_lr0:.1f}x (test RMSE {rm_lr0:.4f})")
    if limiter is not None:
        limiter.restore_original_limits()
    out["softimpute"] = {"n": n, "rank": k, "nnz": nnz, "lam": lam,
                         "fancy_maxrank": [it_f, t_fr, rm_fr], "fancy_full_est": t_full,
                         "lrsolve": [res.n_iter, t_lr, rm_lr],
                         "lrsolve_tol": [res1.n_iter, t_lr1, rm_lr1],
                         "lrsolve_textbook": [res0.n_iter, t_lr0, rm_lr0],
                         "altmin": [res2.n_iter, t_al, rm_al]}


def synthetic_ratings(users=943, items=1682, ratings=100_000, rank=5, seed=0):
    g = np.random.default_rng(seed)
    U = g.standard_normal((users, rank)) * 0.5
    V = g.standard_normal((items, rank)) * 0.5
    bu = 0.4 * g.standard_normal(users)
    bi = 0.4 * g.standard_normal(items)
    lin = g.choice(users * items, size=ratings, replace=False)
    r, c = np.divmod(lin, items)
    x = 3.5 + bu[r] + bi[c] + np.sum(U[r] * V[c], axis=1) + 0.5 * g.standard_normal(ratings)
    return r, c, np.clip(np.rint(x), 1, 5)


def _ml_run(name, train, test, shape):
    r, c, v = train
    altmin((r[:500], c[:500], v[:500]), 2, shape=shape, biases=True, maxiter=1)  # compile
    t0 = time.perf_counter()
    res = altmin((r, c, v), 10, shape=shape, reg=0.08, biases=True, maxiter=12, tol=1e-4, rng=0)
    t = time.perf_counter() - t0
    rm = res.rmse(*test)
    ok = "yes" if (rm <= 0.92 and t < 2.0) else "NO"
    log(f"{name:<34} {res.n_iter:>5d} {t:>8.3f} {rm:>10.4f}   target met: {ok}")
    return [res.n_iter, t, rm]


def section_movielens(args, out):
    log("\n## MovieLens-100K format: altmin(rank 10, biases, reg 0.08), 80/20 split")
    log(f"{'data':<34} {'iters':>5} {'seconds':>8} {'test RMSE':>10}")
    r, c, v = synthetic_ratings()
    test = np.random.default_rng(1).random(len(v)) < 0.2
    shape = (943, 1682)
    out["movielens_synthetic"] = _ml_run("synthetic 943x1682, 100k ratings",
                                         (r[~test], c[~test], v[~test]),
                                         (r[test], c[test], v[test]), shape)
    base = np.mean(v[~test])
    log(f"{'(global-mean baseline)':<34} {'':>5} {'':>8} "
        f"{np.sqrt(np.mean((v[test] - base) ** 2)):>10.4f}")
    if args.movielens:
        for split in args.ml_splits.split(","):
            base, test = movielens_split(args.movielens, split)
            rb, cb, vb, sb = load_movielens(base)
            rt, ct, vt, st = load_movielens(test)
            shape = (max(sb[0], st[0]), max(sb[1], st[1]))
            out[f"movielens_{split}"] = _ml_run(f"MovieLens-100K {split}.base/{split}.test",
                                                (rb, cb, vb), (rt, ct, vt), shape)


def movielens_split(path, split="u1"):
    """``(base, test)`` files of a split from a folder, its ``ml-100k/`` subfolder or the zip.

    GroupLens's ``ml-100k.zip`` (not redistributable: download it yourself) can be passed as
    it is; its two files are extracted to a temporary folder.
    """
    import tempfile
    import zipfile

    path = pathlib.Path(path).expanduser()
    if path.is_file() and zipfile.is_zipfile(path):
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="ml100k-"))
        with zipfile.ZipFile(path) as z:
            names = {pathlib.PurePosixPath(n).name: n for n in z.namelist()}
            for suffix in ("base", "test"):
                name = f"{split}.{suffix}"
                if name not in names:
                    raise SystemExit(f"--movielens: {path} has no {name}")
                (tmp / name).write_bytes(z.read(names[name]))
        path = tmp
    for d in (path, path / "ml-100k"):
        if (d / f"{split}.base").is_file() and (d / f"{split}.test").is_file():
            return d / f"{split}.base", d / f"{split}.test"
    raise SystemExit(f"--movielens: no {split}.base/{split}.test in {path} (pass the ml-100k "
                     "folder, its parent, or ml-100k.zip from grouplens.org)")


def section_memory(args, out):
    m, n, k, nnz = (20000, 10000, 10, 200_000) if args.quick else (200_000, 100_000, 10,
                                                                   2_000_000)
    r, c, v, _, _ = random_problem(m, n, k, nnz, seed=4)
    altmin((r[:1000], c[:1000], v[:1000]), 2, maxiter=1)  # compile
    for solver in ("exact", "cg"):
        tracemalloc.start()
        res = altmin((r, c, v), k, shape=(m, n), solver=solver, reg=0.05, maxiter=3, tol=0.0,
                     rng=0)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        trip = r.nbytes + c.nbytes + v.nbytes
        fac = res.U.nbytes + res.V.nbytes
        base = trip + fac
        log(f"\n## memory ({solver}): {m} x {n}, |Omega| = {nnz}, rank {k}: tracemalloc peak "
            f"{peak / 2**20:.1f} MiB = {peak / base:.2f} x (triples {trip / 2**20:.1f} MiB + "
            f"factors {fac / 2**20:.1f} MiB); target <= 3x")
        out[f"memory_{solver}"] = {"peak": peak, "base": base, "ratio": peak / base}


# ----------------------------------------------------------------------------- gpu
_dry_run = _gpu_device.dry_run
_device = _gpu_device.device


def device_problem(xp, m, n, k, nnz, seed=0, dtype=np.float32):
    """``nnz`` distinct entries (random order) of a rank-k matrix, drawn on ``xp``'s device."""
    rs = xp.random.RandomState(seed)
    U = (rs.standard_normal((m, k)) / k**0.25).astype(dtype)
    V = (rs.standard_normal((n, k)) / k**0.25).astype(dtype)
    draw = int(nnz * (1.02 + 2 * nnz / (m * n))) + 10  # duplicates: about nnz^2 / (2 m n)
    lin = rs.randint(0, m, size=draw).astype(xp.int64) * n
    lin += rs.randint(0, n, size=draw).astype(xp.int64)
    lin = xp.unique(lin)
    if lin.size < nnz:
        raise RuntimeError(f"drew {lin.size} distinct entries, fewer than {nnz}")
    lin = lin[rs.permutation(lin.size)[:nnz]]
    r = (lin // n).astype(xp.int32)
    c = (lin % n).astype(xp.int32)
    del lin
    v = xp.empty(nnz, dtype=dtype)
    step = 1 << 21
    for s in range(0, nnz, step):
        v[s : s + step] = xp.sum(U[r[s : s + step]] * V[c[s : s + step]], axis=1)
    return r, c, v


def _sweeps(obs, k, sync, engine_ctx, label, long_call=20.0):
    """One ALS sweep timed several ways, for both solvers; rows for the table."""
    kw = dict(reg=0.05, init="random", tol=0.0, rng=0)
    rows = {}
    for solver in ("exact", "cg"):
        with engine_ctx():
            # a first 1-sweep call at this size, reported apart: a small warm-up is not enough
            # (the first full-size sweep took 5.6 s against 0.18 s warm on an H100 at 10^6
            # entries; Numba compiles its threaded kernels only for large inputs)
            sync()
            t0 = time.perf_counter()
            altmin(obs, k, solver=solver, maxiter=1, **kw)
            sync()
            t_cold = time.perf_counter() - t0
            t0 = time.perf_counter()
            r1 = altmin(obs, k, solver=solver, maxiter=1, **kw)
            sync()
            t1 = time.perf_counter() - t0
            t3, h3 = float("nan"), np.array([])
            if t1 < long_call:  # a 1-sweep call over ~20 s: no 3-sweep call (time limit)
                sync()
                t0 = time.perf_counter()
                r3 = altmin(obs, k, solver=solver, maxiter=3, **kw)
                sync()
                t3 = time.perf_counter() - t0
                h3 = r3.history["time"]
        h1 = r1.history["time"]
        per = (t3 - t1) / 2
        rec = float(np.min(h3[1:])) if len(h3) > 1 else float(h1[0])
        rows[solver] = {"t_first_call_1": t_cold, "t_call_1": t1, "t_call_3": t3,
                        "per_sweep": per,
                        "sweep_times_1": h1.tolist(), "sweep_times_3": h3.tolist(),
                        "recorded_sweep": rec, "train_rmse_3": (r3.history["train_rmse"].tolist()
                                                               if len(h3) else [])}
        log(f"{label:<22} {solver:<6} {t_cold:>10.3f} {t1:>10.3f} {t3:>10.3f} {per:>10.3f} "
            f"{rec:>10.3f}")
    return rows


def section_gpu(args, out):
    xp, sync, name = _device()
    dry = xp is np
    k = 16 if dry else 64
    if dry:
        (m, n, nnz), (mc, nc, nnzc) = (1000, 1000, 100_000), (400, 400, 20_000)
    elif args.quick:
        (m, n, nnz), (mc, nc, nnzc) = (5000, 5000, 1_000_000), (1000, 1000, 100_000)
    else:
        (m, n, nnz), (mc, nc, nnzc) = (200_000, 200_000, 100_000_000), (20_000, 20_000,
                                                                         10_000_000)
    # NumPy standing in for the device runs the plain NumPy kernels: the ones CuPy runs
    dev_ctx = (lambda: lrsolve.backend(engine="numpy")) if dry else contextlib.nullcontext
    log(f"\n## GPU: one altmin sweep, |Omega| = {nnz:.3g}, {m} x {n}, rank {k}, float32, "
        f"reg 0.05, random init (target < 1 s per sweep); device: {name}")
    # warm-up at a small size: kernel compilation, cuBLAS/cuSOLVER/cuSPARSE handles
    wr, wc, wv = device_problem(xp, 2000, 1500, k, 100_000, seed=7)
    with dev_ctx():
        wobs = observations((wr, wc, wv), shape=(2000, 1500))
        for solver in ("exact", "cg"):
            altmin(wobs, k, solver=solver, reg=0.05, init="random", maxiter=2, tol=0.0, rng=0)
    del wr, wc, wv, wobs
    sync()
    t0 = time.perf_counter()
    r, c, v = device_problem(xp, m, n, k, nnz, seed=0)
    sync()
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    with dev_ctx():
        obs = observations((r, c, v), shape=(m, n))
    sync()
    t_obs = time.perf_counter() - t0
    del r, c, v
    log(f"problem generated on the device in {t_gen:.2f} s; set-up observations() "
        f"(COO -> CSR + CSC) {t_obs:.3f} s")
    log(f"{'run':<22} {'solver':<6} {'1st call':>10} {'1-sweep':>10} {'3-sweep':>10} "
        f"{'(t3-t1)/2':>10} {'recorded':>10}   (seconds of calls on the set-up observations; "
        "'1st call': 1 sweep, cold; 'recorded': altmin's own sweep time, best of 2..3)")
    dev = "device (dry run)" if dry else "GPU"
    rows = _sweeps(obs, k, sync, dev_ctx, dev)
    del obs
    for solver, row in rows.items():
        per = row["per_sweep"] if np.isfinite(row["per_sweep"]) else row["recorded_sweep"]
        ok = "MET" if per < 1.0 else "MISSED"
        log(f"{dev} {solver}: one sweep {per:.3f} s (target < 1 s: {ok}); with set-up and init "
            f"{t_obs + row['t_call_1']:.3f} s; {1e9 * per / nnz:.2f} ns/entry")
    res = {"device": name, "dry_run": dry, "shape": [m, n], "nnz": nnz, "rank": k,
           "dtype": "float32", "t_generate": t_gen, "t_setup": t_obs, "target_s": 1.0,
           "solvers": rows}
    # CPU reference (Numba engine) of the same sweep at a smaller size, for scale
    log(f"CPU reference (Numba, {os.cpu_count()} CPUs), NOT the target size: |Omega| = "
        f"{nnzc:.3g}, {mc} x {nc}, rank {k}, float32")
    warm = observations(random_problem(200, 100, k, 5000, dtype=np.float32)[:3])
    for solver in ("exact", "cg"):
        sweep_time(warm, k, solver, 1)  # compile outside the timings
    rc, cc, vc, _, _ = random_problem(mc, nc, k, nnzc, seed=5, dtype=np.float32)
    t0 = time.perf_counter()
    obs = observations((rc, cc, vc), shape=(mc, nc))
    t_obs_c = time.perf_counter() - t0
    del rc, cc, vc
    rows_c = _sweeps(obs, k, lambda: None, contextlib.nullcontext, "CPU ref (smaller)")
    for solver, row in rows_c.items():
        per = row["per_sweep"] if np.isfinite(row["per_sweep"]) else row["recorded_sweep"]
        g = rows[solver]
        gper = g["per_sweep"] if np.isfinite(g["per_sweep"]) else g["recorded_sweep"]
        log(f"CPU {solver}: one sweep {per:.3f} s at {nnzc:.3g} entries ({1e9 * per / nnzc:.2f} "
            f"ns/entry; set-up {t_obs_c:.3f} s); per-entry speed-up of the {dev} over the CPU "
            f"{(per / nnzc) / (gper / nnz):.1f}x")
    res["cpu_reference"] = {"shape": [mc, nc], "nnz": nnzc, "t_setup": t_obs_c,
                            "solvers": rows_c}
    out["gpu"] = res


SECTIONS = {"omega": section_omega, "rank": section_rank, "softimpute": section_softimpute,
            "movielens": section_movielens, "memory": section_memory, "gpu": section_gpu}
#: sections run without --only (gpu needs a CUDA device)
DEFAULT = [name for name in SECTIONS if name != "gpu"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (< 1 min)")
    p.add_argument("--only", default=None, help="comma-separated sections: " + ",".join(SECTIONS))
    p.add_argument("--movielens", default=os.environ.get("LRSOLVE_MOVIELENS"),
                   help="ml-100k folder (or its parent, or ml-100k.zip) with u1.base/u1.test; "
                   "default: $LRSOLVE_MOVIELENS")
    p.add_argument("--ml-splits", default="u1",
                   help="comma-separated MovieLens splits to run (u1..u5, default u1)")
    p.add_argument("--max-omega", type=int, default=None, help="largest |Omega| of 'omega'")
    p.add_argument("--sweeps", type=int, default=4,
                   help="omega: sweeps per timing; the fastest of sweeps 2.. counts (default 4)")
    p.add_argument("--rounds", type=int, default=1,
                   help="omega: time every size in R interleaved rounds (all problems built "
                   "first; ascending and descending order alternate) and report the slope of "
                   "the per-size minimum and the per-round slopes (default 1: one pass)")
    p.add_argument("--omega-baseline", default=None,
                   help="omega: also time the exact sweep with the mc_als_exact of this copy of "
                   "lrsolve/_kernels/_numba_completion.py (e.g. from git show)")
    p.add_argument("--omega-before", default=None, metavar="DIR",
                   help="omega: also time exact and cg with the older lrsolve package in DIR "
                   "(e.g. `git archive <rev> lrsolve | tar -x -C DIR`), in a child process "
                   "right after the current code at each size")
    p.add_argument("--before-worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--before-nnz", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--tag", default=None, help="suffix of the log/json names")
    p.add_argument("--skip-full-svd", action="store_true",
                   help="softimpute: do not time the full SVD of fancyimpute's default mode")
    args = p.parse_args(argv)
    if args.before_worker:
        before_worker(args)
        return
    names = DEFAULT if args.only is None else args.only.split(",")
    stamp = datetime.date.today().isoformat()
    tag = args.tag or ("quick" if args.quick else "cpu")
    if "gpu" in names and not args.tag:
        tag = ("gpudry" if _dry_run() else "gpu") + ("-quick" if args.quick else "")
    cfg = lrsolve.show_config(mode="dicts")
    log(f"# lrsolve.completion comparison {stamp} ({'quick' if args.quick else 'full'})")
    log(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"{cfg['engines'].get('numba')}")
    out = {"date": stamp, "quick": args.quick, "config": cfg}
    t0 = time.perf_counter()
    for name in names:
        SECTIONS[name](args, out)
    log(f"\ntotal {time.perf_counter() - t0:.1f} s")
    base = HERE / f"compare_completion-{tag}-{stamp}"
    base.with_suffix(".log").write_text("\n".join(LOG) + "\n")
    base.with_suffix(".json").write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
