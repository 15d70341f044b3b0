"""Side-by-side comparison of lrsolve.prox with its peers, in one run (ratios).

Sections
--------
vector    prox/projections on 1e7 entries vs PyProximal (L1, Box, Simplex, L1Ball, EuclideanBall)
nuclear   nuclear-norm prox (partial SVD) vs a full-SVD prox, result rank <= 50
fista     gradient evaluations to 1e-6 suboptimality: FISTA + adaptive restart vs plain FISTA
lasso     Lasso path (100 alphas to alpha_max/100, gap 1e-6) vs sklearn.lasso_path and skglm
nmf       NMF of claus.mat (201 x 305): HALS (Numba sweeps) vs sklearn NMF(solver="cd"), time to
          the objective sklearn reaches in 300 iterations, and sweep for sweep (plain HALS)

Usage: ``python asv_bench/compare_prox.py [--quick] [--sections vector,nuclear,...]``.
Writes ``compare-prox-[quick-][<tag>-]<date>.log`` and ``.json`` next to this script.
The figures in docs/benchmarks/prox.md were taken with ``OPENBLAS_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import sys
import time

import numpy as np
import scipy.sparse as sp

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import lrsolve  # noqa: E402
from lrsolve import prox  # noqa: E402

LOG: list = []


def log(msg=""):
    print(msg, flush=True)
    LOG.append(msg)


def best_of(fn, repeat=3):
    ts = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return min(ts), out


# ----------------------------------------------------------------------------- vector
def section_vector(quick, args=None):
    import pyproximal

    n = 10**6 if quick else 10**7
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n)
    cases = [
        ("l1", lambda: prox.prox_l1(x, 0.5), lambda: pyproximal.L1(sigma=1.0).prox(x, 0.5)),
        ("box", lambda: prox.project_box(x, -0.5, 0.5),
         lambda: pyproximal.Box(-0.5, 0.5).prox(x, 1.0)),
        ("simplex", lambda: prox.project_simplex(x, 10.0),
         lambda: pyproximal.Simplex(n, 10.0, engine="numba").prox(x, 1.0)),
        ("l1ball", lambda: prox.project_l1ball(x, 10.0),
         lambda: pyproximal.L1Ball(n, 10.0).prox(x, 1.0)),
        ("l2ball", lambda: prox.project_l2ball(x, 10.0),
         lambda: pyproximal.EuclideanBall(0.0, 10.0).prox(x, 1.0)),
    ]
    out = {}
    log(f"## vector prox, n = {n:.0e} (best of 3, JIT excluded)")
    log(f"{'operator':<10}{'lrsolve s':>12}{'pyproximal s':>14}{'speed-up':>10}{'max diff':>12}")
    for name, ours, theirs in cases:
        ours(), theirs()  # warm-up / JIT
        t1, a = best_of(ours)
        t2, b = best_of(theirs)
        diff = float(np.abs(a - b).max())
        out[name] = {"lrsolve_s": t1, "pyproximal_s": t2, "speedup": t2 / t1, "max_diff": diff}
        log(f"{name:<10}{t1:>12.4f}{t2:>14.4f}{t2 / t1:>10.2f}{diff:>12.2e}")
    return {"n": n, "results": out}


# ----------------------------------------------------------------------------- nuclear
def section_nuclear(quick, args=None):
    m = 1000 if quick else (args.nuclear_size if args is not None else 4000)
    r = 40
    rng = np.random.default_rng(1)
    L = rng.standard_normal((m, r)) @ rng.standard_normal((r, m))
    X = L + 0.5 * rng.standard_normal((m, m))
    s_noise = 0.5 * 2 * np.sqrt(m)  # top singular value of the noise ~ 2 sqrt(m) sigma
    tau = 1.2 * s_noise
    t_part, Zp = best_of(lambda: prox.prox_nuclear(X, tau, method="partial", rank=10, rng=0), 1)
    t_full, Zf = best_of(lambda: prox.prox_nuclear(X, tau, method="full"), 1)
    rank = int(np.linalg.matrix_rank(Zp, tol=1e-8 * np.abs(Zp).max()))
    err = float(np.abs(Zp - Zf).max() / np.abs(Zf).max())
    log(f"## nuclear-norm prox, {m}x{m}, result rank {rank}")
    log(f"partial {t_part:.3f} s, full SVD {t_full:.3f} s, speed-up {t_full / t_part:.1f}, "
        f"max rel diff {err:.2e}")
    return {"m": m, "rank": rank, "partial_s": t_part, "full_s": t_full,
            "speedup": t_full / t_part, "max_rel_diff": err}


# ----------------------------------------------------------------------------- fista
def section_fista(quick, args=None):
    rng = np.random.default_rng(2)
    m, n = (300, 200) if quick else (1000, 500)
    U, _ = np.linalg.qr(rng.standard_normal((m, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (U * np.logspace(0, -2, n)) @ V.T  # condition number 100 (1e4 for A^T A)
    b = A @ (rng.standard_normal(n) * (rng.random(n) < 0.1)) + 1e-3 * rng.standard_normal(m)
    f = prox.LeastSquares(A, b)
    g = prox.L1(1e-4)
    ref = prox.proximal_gradient(f, g, np.zeros(n), tol=0, atol=1e-12, maxiter=50000)
    fstar = min(ref.objective.min(), f.value(ref.x) + g.value(ref.x))
    target = fstar + 1e-6 * abs(fstar)
    out = {"m": m, "n": n, "fstar": fstar}
    log(f"## FISTA restart vs plain, {m}x{n}, cond(A) = 100, target F - F* <= 1e-6 * |F*|")
    for name, kw in [("restart", dict(restart="adaptive")), ("function", dict(restart="function")),
                     ("plain", dict(restart=None)), ("ista", dict(accel=False))]:
        def stop(x):
            return f.value(x) + g.value(x) <= target
        res = prox.proximal_gradient(f, g, np.zeros(n), tol=0, maxiter=30000, callback=stop, **kw)
        reached = res.objective[-1] <= target
        out[name] = {"iterations": res.niter, "n_grad": res.n_grad - 1, "reached": bool(reached)}
        log(f"{name:<9} iterations {res.niter:>6}, gradient evaluations {res.n_grad - 1:>6}"
            f"{'' if reached else '  (target not reached)'}")
    return out


# ----------------------------------------------------------------------------- lasso
def _design(n, p, density, rng):
    if density is None:
        Z = rng.standard_normal((n, p))
        X = np.empty((n, p), order="F")
        X[:, 0] = Z[:, 0]
        rho = 0.6
        for j in range(1, p):  # AR(1) correlated features
            X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho**2) * Z[:, j]
    elif n * p <= 5 * 10**8:
        X = sp.random(n, p, density=density, random_state=int(rng.integers(1 << 30)),
                      format="csc")
    else:
        # sp.random samples positions without replacement over all n*p entries (minutes
        # and tens of GB at the size): draw them with replacement instead (the
        # few duplicates are summed), uniform values as sp.random
        k = int(density * n * p)
        X = sp.coo_matrix((rng.random(k), (rng.integers(0, n, k), rng.integers(0, p, k))),
                          shape=(n, p)).tocsc()
        X.sum_duplicates()
        # correlate neighbouring columns: X_j += 0.5 X_{j-1}
        S = sp.eye(p, format="csc") + 0.5 * sp.eye(p, k=1, format="csc")
        X = (X @ S).tocsc()
    w = np.zeros(p)
    idx = rng.choice(p, size=max(5, p // 100), replace=False)
    w[idx] = rng.standard_normal(idx.size)
    y = X @ w + 0.5 * rng.standard_normal(n)
    return X, y


def section_lasso(quick, args=None):
    from sklearn.linear_model import lasso_path as sk_path

    rng = np.random.default_rng(3)
    sizes = [("dense", 500, 2000, None), ("sparse", 2000, 10000, 0.01)] if quick else \
        [("dense", 5000, 20000, None), ("sparse", 20000, 100000, 0.001)]
    if args is not None and args.lasso_scale != 1 and not quick:
        sc = args.lasso_scale
        sizes = [(k, int(n * sc), int(p * sc), d) for k, n, p, d in sizes]
    kinds = args.lasso_kinds.split(",") if args is not None else ["dense", "sparse"]
    sizes = [s for s in sizes if s[0] in kinds]
    out = {}
    log("## Lasso path: 100 alphas to alpha_max/100, tol=1e-6 (sklearn's gap scaling)")
    for kind, n, p, dens in sizes:
        X, y = _design(n, p, dens, rng)
        prox.lasso_path(X[:, :50] if dens is None else X[:, :50], y, n_alphas=3)  # JIT
        t1, P = best_of(lambda: prox.lasso_path(X, y, eps=1e-2, n_alphas=100, tol=1e-6), 1)  # noqa: B023
        t2, S = best_of(lambda: sk_path(X, y, eps=1e-2, n_alphas=100, tol=1e-6), 1)  # noqa: B023
        alphas = P.alphas
        def obj(w, a, X=X, y=y, n=n):
            return 0.5 / n * float(np.sum((y - X @ w) ** 2)) + a * float(np.abs(w).sum())
        rel = max(abs(obj(P.coefs[:, i], a) - obj(S[1][:, i], a)) / obj(S[1][:, i], a)
                  for i, a in enumerate(alphas))
        row = {"n": n, "p": p, "lrsolve_s": t1, "sklearn_s": t2, "speedup_vs_sklearn": t2 / t1,
               "max_rel_obj_diff": rel, "lrsolve_max_gap": float(P.dual_gaps.max()),
               "all_converged": bool(P.converged.all())}
        try:
            if args is not None and args.no_skglm:
                raise RuntimeError("skglm skipped (--no-skglm)")
            from skglm import Lasso as SkglmLasso

            def run_skglm():
                est = SkglmLasso(alpha=alphas[0], tol=1e-6, fit_intercept=False, warm_start=True)  # noqa: B023
                for a in alphas:  # noqa: B023
                    est.alpha = a
                    est.fit(X, y)  # noqa: B023
            run_skglm_small = SkglmLasso(alpha=alphas[0], fit_intercept=False)
            run_skglm_small.fit(X[:, :50], y)  # JIT
            t3, _ = best_of(run_skglm, 1)
            row["skglm_s"] = t3
            row["speedup_vs_skglm"] = t3 / t1
        except Exception as exc:  # pragma: no cover
            row["skglm_error"] = repr(exc)
        out[kind] = row
        log(f"{kind} {n}x{p}: lrsolve {t1:.2f} s, sklearn {t2:.2f} s "
            f"(x{t2 / t1:.2f}), skglm {row.get('skglm_s', float('nan')):.2f} s, "
            f"max rel objective diff {rel:.1e}, converged {row['all_converged']}")
    return out


# ----------------------------------------------------------------------------- nmf
def _claus():
    import scipy.io as sio

    path = HERE.parents[1] / "shared" / "data" / "tensors" / "claus.mat"
    if path.exists():
        T = sio.loadmat(path)["X"]  # (5, 201, 61) -> emission x (sample, excitation)
        return np.maximum(np.transpose(T, (1, 0, 2)).reshape(T.shape[1], -1), 0.0), path.name
    rng = np.random.default_rng(4)  # synthetic stand-in of the same shape
    return rng.random((201, 3)) @ rng.random((3, 305)) + 0.01 * rng.random((201, 305)), \
        "synthetic 201x305"


def section_nmf(quick, args=None):
    from sklearn.decomposition import NMF

    X, source = _claus()
    iters = 100 if quick else 300
    repeat = 3 if quick else 5
    out = {"data": source, "shape": list(X.shape), "sklearn_iterations": iters}
    log(f"## NMF of {source} {X.shape[0]}x{X.shape[1]}: lrsolve HALS vs sklearn NMF(cd), "
        f"{iters} sklearn iterations from NNDSVD, best of {repeat}")
    log(f"{'rank':<6}{'sklearn s':>10}{'lrsolve s':>10}{'sweeps':>8}{'speed-up':>10}"
        f"{'plain s':>9}{'speed-up':>10}{'rel obj (plain)':>17}")
    prox.nmf(X, 2, maxiter=2)  # JIT
    for rank in (3, 4, 6):
        def sk(rank=rank):
            m = NMF(rank, init="nndsvd", solver="cd", tol=0, max_iter=iters)
            W = m.fit_transform(X)
            return 0.5 * float(np.sum((X - W @ m.components_) ** 2))
        t_sk, f_sk = best_of(sk, repeat)
        full = prox.nmf(X, rank, tol=0, maxiter=iters)
        hit = np.nonzero(full.objective <= f_sk * (1 + 1e-12))[0]
        k = int(hit[0]) if hit.size else iters
        t_acc, res = best_of(lambda k=k, rank=rank: prox.nmf(X, rank, tol=0, maxiter=k), repeat)
        t_pl, pl = best_of(lambda rank=rank: prox.nmf(X, rank, tol=0, maxiter=iters,
                                                      inner_sweeps=1), repeat)
        rel = abs(pl.objective[-1] - f_sk) / f_sk
        out[f"rank{rank}"] = {"sklearn_s": t_sk, "sklearn_obj": f_sk, "lrsolve_s": t_acc,
                              "lrsolve_sweeps": k, "lrsolve_obj": float(res.objective[-1]),
                              "speedup": t_sk / t_acc, "plain_s": t_pl,
                              "plain_speedup": t_sk / t_pl, "plain_rel_obj_diff": rel}
        log(f"{rank:<6}{t_sk:>10.3f}{t_acc:>10.3f}{k:>8}{t_sk / t_acc:>10.2f}{t_pl:>9.3f}"
            f"{t_sk / t_pl:>10.2f}{rel:>17.1e}")
    return out


SECTIONS = {"vector": section_vector, "nuclear": section_nuclear, "fista": section_fista,
            "lasso": section_lasso, "nmf": section_nmf}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (< 1 min)")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--tag", default="", help="suffix of the log/json file names")
    ap.add_argument("--nuclear-size", type=int, default=4000, help="matrix size (nuclear)")
    ap.add_argument("--lasso-scale", type=float, default=1.0,
                    help="scale both dimensions of the Lasso designs (1 = issue sizes)")
    ap.add_argument("--lasso-kinds", default="dense,sparse",
                    help="Lasso designs to run (dense, sparse or both)")
    ap.add_argument("--no-skglm", action="store_true", help="leave skglm out (Lasso)")
    args = ap.parse_args(argv)
    stamp = datetime.date.today().isoformat()
    machine = platform.processor() or platform.machine()
    log(f"# compare_prox {stamp} quick={args.quick} machine={machine}"
        f" cpus={os.cpu_count()} lrsolve={lrsolve.__version__}"
        f" load={' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    results = {"quick": args.quick, "date": stamp, "cpus": os.cpu_count()}
    for name in args.sections.split(","):
        results[name] = SECTIONS[name](args.quick, args)
        log()
    log(f"# done, load={' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    tag = ("quick-" if args.quick else "") + (f"{args.tag}-" if args.tag else "")
    (HERE / f"compare-prox-{tag}{stamp}.log").write_text("\n".join(LOG) + "\n")
    (HERE / f"compare-prox-{tag}{stamp}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
