"""Side-by-side measurements for sequences of systems (Krylov recycling), in one run, as ratios.

Run from the repository root::

    python asv_bench/compare_sequences.py --quick     # small sizes, under a minute
    python asv_bench/compare_sequences.py             # the issue's settings (long)
    python asv_bench/compare_sequences.py --systems 100 --n 100 --steps 500 --heat-n 64

Sections (the performance targets of issue 3):

* ``skr``    N Darcy systems (``lrsolve.problems.darcy_sequence``, independent log-normal
             fields), rtol 1e-7, the same preconditioner (``--precond``, default Jacobi):
             sorted GCRO-DR(m, k) warm started (``--m 40 --k 10``; ``--recycle
             true|false|auto`` is ``solve_sequence``'s ``recycle``) vs independent
             GMRES(40): products ratio (target >= 10) and wall-time ratio (target >= 5).
* ``strong`` the same systems: the strong baseline -- independent AMG-preconditioned CG,
             warm started from the previous solution, one AMG hierarchy per system -- vs
             sorted GCRO-DR as above, vs the recycled variant with one AMG hierarchy
             per system as well (``rcg`` with ``precond="amg"``), and vs the sequence
             solvers with the first AMG set-up re-used (``reuse_setup=True``: GCRO-DR and
             rcg with a small space, ``--strong-m 12 --strong-k 3``, GCRO-DR also with
             ``--m/--k``, and PCG): wall-time ratio (target >= 1.5).
* ``heat``   SPD heat-equation sequence (``lrsolve.problems.heat_sequence``, 2D), rcg vs
             independent PCG with the same preconditioner, both warm started: iterations
             ratio (target >= 2).
* ``sort``   sorting time / total time of the sorted GCRO-DR run (target < 0.05).
* ``ideal``  a ceiling for the ``skr`` products target (``--precond`` jacobi or none only),
             on the first ``--ideal-systems`` systems: each system solved by GCRO-DR (and
             rcg) given the *exact* eigenvectors of its own preconditioned operator for the
             ``k`` smallest eigenvalues (computed by ``eigsh``, not timed) -- the best a
             carried space of ``k`` vectors can be -- against GMRES(40), full GMRES and
             PCG on the same system.  Products include the ``k`` that make ``C = A U``.

Writes ``compare_sequences-<date>.log`` and ``.json`` next to this script.  Timings on a
shared machine are noisy: ratios measured in one run are what count.
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

import lrsolve
from lrsolve.krylov import solve_sequence

ROWS = []
LOG = []
_LOGFILE = []  # the open log, written line by line (a long run leaves a partial log)


def say(msg=""):
    print(msg, flush=True)
    LOG.append(msg)
    if _LOGFILE:
        _LOGFILE[0].write(msg + "\n")
        _LOGFILE[0].flush()


def record(section, case, quantity, ours, peer, peer_value, ratio, target, note=""):
    met = None if target is None or not np.isfinite(ratio) else bool(ratio >= target)
    ROWS.append(dict(section=section, case=case, quantity=quantity, lrsolve=ours, peer=peer,
                     peer_value=peer_value, ratio=ratio, target=target, met=met, note=note))
    tgt = "" if target is None else f"(target >= {target}: {'met' if met else 'MISSED'})"
    say(f"  {quantity:<28} ours {ours:>11.4g}   {peer:<28} {peer_value:>11.4g}   "
        f"ratio {ratio:7.2f} {tgt}")


def relres_max(problems, xs):
    return max(float(np.linalg.norm(p.b - p.A @ x) / np.linalg.norm(p.b))
               for p, x in zip(problems, xs, strict=True))


def strong_baseline(problems, rtol):
    """Independent AMG-PCG solves (a hierarchy per system), warm started from the previous x."""
    x = None
    niter = matvec = 0
    xs = []
    t0 = time.perf_counter()
    for p in problems:
        res = lrsolve.cg(p.A, p.b, x, rtol=rtol, precond="amg")
        niter += res.niter
        matvec += res.n_matvec
        x = res.x
        xs.append(res.x)
    return time.perf_counter() - t0, niter, matvec, xs


def _precond(name):
    return None if name in (None, "none") else name


def section_skr(problems, args):
    n = problems[0].A.shape[0]
    case = (f"{len(problems)} Darcy (sigma {args.sigma:g}), n={n}, rtol={args.rtol:g}, "
            f"{args.precond}")
    say(f"[skr] {case}")
    # warm-up of the JIT kernels outside the timings
    pc = _precond(args.precond)
    solve_sequence(problems[:2], method="gcrodr", precond=pc, rtol=1e-2, progress=False)
    lrsolve.gmres(problems[0].A, problems[0].b, rtol=1e-2, precond=pc)
    t0 = time.perf_counter()
    rec = solve_sequence(problems, method="gcrodr", precond=pc, rtol=args.rtol,
                         k=args.k, m=args.m, recycle=args.recycle, progress=False,
                         maxiter=args.maxiter)
    t_rec = time.perf_counter() - t0
    say(f"  GCRO-DR({args.m}, {args.k}), recycle={args.recycle!r}: the carried space was used "
        f"by {int(rec.recycled.sum())} of {len(problems)} solves")
    t0 = time.perf_counter()
    ind = solve_sequence(problems, method="gmres", order="given", warm_start=False, m=40,
                         precond=pc, rtol=args.rtol, progress=False,
                         maxiter=args.maxiter)
    t_ind = time.perf_counter() - t0
    say(f"  sorted GCRO-DR: converged {rec.converged}, worst relres "
        f"{relres_max(problems, rec.xs):.2e}; GMRES(40): converged {ind.converged}, worst "
        f"relres {relres_max(problems, ind.xs):.2e}")
    bad = np.flatnonzero(ind.infos != 0)
    if bad.size:
        ok = ind.infos == 0
        ratio_ok = ind.n_matvec[ok].sum() / rec.n_matvec[ok].sum()
        wall_ok = ind.times[ok].sum() / rec.times[ok].sum()
        say(f"  GMRES(40) did not converge on {bad.size} of {len(problems)} systems (info "
            f"{sorted(set(ind.infos[bad].tolist()))}: -3 = stagnation detected); over the "
            f"systems it solved, products ratio {ratio_ok:.2f}, solve-time ratio {wall_ok:.2f}"
            f" (per-system products: median {np.median(ind.n_matvec[ok]):.0f} vs "
            f"{np.median(rec.n_matvec[ok]):.0f}, max {ind.n_matvec[ok].max()} vs "
            f"{rec.n_matvec[ok].max()})")
    mv_r, mv_i = int(rec.n_matvec.sum()), int(ind.n_matvec.sum())
    record("skr", case, "products with A", mv_r, "GMRES(40) independent", mv_i, mv_i / mv_r, 10)
    record("skr", case, "wall time [s]", t_rec, "GMRES(40) independent", t_ind, t_ind / t_rec, 5)
    frac = rec.sort_time / t_rec
    record("sort", case, "sorting time / total", frac, "limit", 0.05,
           0.05 / max(frac, 1e-12), 1.0, note="ratio = 0.05 / fraction: >= 1 means < 5 %")
    return rec, t_rec


def section_strong(problems, args, rec, t_rec):
    n = problems[0].A.shape[0]
    case = f"{len(problems)} Darcy (sigma {args.sigma:g}), n={n}, rtol={args.rtol:g}"
    say(f"[strong] {case}")
    lrsolve.cg(problems[0].A, problems[0].b, rtol=1e-2, precond="amg")  # warm-up
    t_s, it_s, mv_s, xs = strong_baseline(problems, args.rtol)
    say(f"  AMG-PCG warm started: {it_s} iterations, worst relres {relres_max(problems, xs):.2e}")
    if rec is not None:
        record("strong", case, f"GCRO-DR+{args.precond} wall [s]", t_rec,
               "AMG-PCG indep., warm", t_s, t_s / t_rec, 1.5)
    # the sequence solvers with one AMG set-up re-used (Galerkin products per system): with
    # about ten AMG iterations per system a small recycle space pays (--strong-k/--strong-m);
    # GCRO-DR is also run with the SKR section's (m, k) for reference
    runs = [("gcrodr", args.strong_k, args.strong_m), ("gcrodr", args.k, args.m),
            ("rcg", args.strong_k, args.strong_m), ("cg", None, None)]
    for meth, kk, mm in runs:
        t0 = time.perf_counter()
        res = solve_sequence(problems, method=meth, precond="amg", reuse_setup=True,
                             rtol=args.rtol, k=kk or args.k, m=mm or args.m, progress=False,
                             maxiter=args.maxiter)
        t = time.perf_counter() - t0
        label = meth if kk is None else f"{meth}({mm},{kk})"
        say(f"  sorted {label} + AMG, set-up re-used: {int(res.niter.sum())} iterations, "
            f"{int(res.n_matvec.sum())} products, {int(res.full_setup.sum())} full set-ups, "
            f"converged {res.converged}, worst relres {relres_max(problems, res.xs):.2e}")
        record("strong", case, f"{label}+AMG reused wall [s]", t, "AMG-PCG indep., warm", t_s,
               t_s / t, 1.5)
    # the strong baseline's own preconditioner plus recycling and sorting
    t0 = time.perf_counter()
    res = solve_sequence(problems, method="rcg", precond="amg", rtol=args.rtol, k=20, m=40,
                         progress=False, maxiter=args.maxiter)
    t = time.perf_counter() - t0
    say(f"  sorted rcg + AMG per system: {int(res.niter.sum())} iterations, converged "
        f"{res.converged}, worst relres {relres_max(problems, res.xs):.2e}")
    record("strong", case, "rcg+AMG wall [s]", t, "AMG-PCG indep., warm", t_s, t_s / t, 1.5)


def section_ideal(problems, args):
    import scipy.sparse as sps
    import scipy.sparse.linalg as spla

    from lrsolve.krylov import RecycleSpace, gcrodr, rcg

    if args.precond not in ("jacobi", "none"):
        say(f"[ideal] skipped: needs --precond jacobi or none, not {args.precond!r}")
        return
    probs = problems[: args.ideal_systems]
    n = probs[0].A.shape[0]
    case = (f"{len(probs)} Darcy (sigma {args.sigma:g}), n={n}, rtol={args.rtol:g}, "
            f"{args.precond}")
    say(f"[ideal] {case}: exact eigenvectors of each system as its recycle space")
    pc = _precond(args.precond)
    maxiter = args.maxiter or 200 * n
    ks = (10, 20, 40)
    tot = {"gmres40": [0, 0.0], "full": [0, 0.0], "pcg": [0, 0.0]}
    for kk in ks:
        tot[f"gcrodr{kk}"] = [0, 0.0]
        tot[f"rcg{kk}"] = [0, 0.0]
    for p in probs:
        A, b = p.A.tocsr(), p.b
        d = A.diagonal()
        runs = (("gmres40", lrsolve.gmres, {"restart": 40}),
                ("full", lrsolve.gmres, {"restart": min(maxiter, 3000)}),
                ("pcg", lrsolve.cg, {}))
        for key, solver, extra in runs:
            t0 = time.perf_counter()
            res = solver(A, b, rtol=args.rtol, precond=pc, maxiter=maxiter, **extra)
            tot[key][1] += time.perf_counter() - t0
            tot[key][0] += res.n_matvec
        B = sps.diags(d) if pc == "jacobi" else None
        w, V = spla.eigsh(A, k=max(ks), M=B, sigma=0, which="LM")
        V = V[:, np.argsort(w)]
        for kk in ks:
            U = np.ascontiguousarray(V[:, :kk])
            # gcrodr takes the space in the variables of the preconditioned operator
            # (U = M S with M = D^-1): S = D U
            S = np.ascontiguousarray(d[:, None] * U) if pc == "jacobi" else U
            for key, solver, mm, W in ((f"gcrodr{kk}", gcrodr, max(2 * kk, 40), S),
                                       (f"rcg{kk}", rcg, 2 * kk, U)):
                t0 = time.perf_counter()  # the space's images A W are part of the timing
                res = solver(A, b, rtol=args.rtol, precond=pc, k=kk, m=mm, maxiter=maxiter,
                             recycle=RecycleSpace(W, A @ W))
                tot[key][1] += time.perf_counter() - t0
                tot[key][0] += res.n_matvec
    g_mv, g_t = tot["gmres40"]
    say(f"  per system: GMRES(40) {g_mv / len(probs):.0f} products, full GMRES "
        f"{tot['full'][0] / len(probs):.0f}, PCG {tot['pcg'][0] / len(probs):.0f}")
    for key in ("full", "pcg", *[f"{a}{kk}" for kk in ks for a in ("gcrodr", "rcg")]):
        mv, t = tot[key]
        label = {"full": "full GMRES", "pcg": "PCG"}.get(key, key.replace(
            "gcrodr", "GCRO-DR exact k=").replace("rcg", "rcg exact k="))
        record("ideal", case, f"{label} products", mv, "GMRES(40)", g_mv, g_mv / mv, None)
        record("ideal", case, f"{label} wall [s]", t, "GMRES(40)", g_t, g_t / t, None)


def section_heat(args):
    steps, m = args.steps, args.heat_n
    problems = lrsolve.problems.heat_sequence(steps, (m, m), rng=0)
    case = (f"heat 2D {m}x{m}, {steps} steps, rtol={args.rtol:g}, {args.heat_precond}, "
            f"k={args.heat_k}")
    say(f"[heat] {case}")
    t0 = time.perf_counter()
    rec = solve_sequence(problems, method="rcg", order="given", precond=args.heat_precond,
                         rtol=args.rtol, k=args.heat_k, m=2 * args.heat_k, progress=False)
    t_rec = time.perf_counter() - t0
    t0 = time.perf_counter()
    ind = solve_sequence(problems, method="cg", order="given", precond=args.heat_precond,
                         rtol=args.rtol, progress=False)
    t_ind = time.perf_counter() - t0
    say(f"  rcg converged {rec.converged}, PCG converged {ind.converged}; worst relres "
        f"{relres_max(problems, rec.xs):.2e} / {relres_max(problems, ind.xs):.2e}")
    it_r, it_i = int(rec.niter.sum()), int(ind.niter.sum())
    record("heat", case, "iterations", it_r, "PCG independent, warm", it_i, it_i / it_r, 2)
    record("heat", case, "wall time [s]", t_rec, "PCG independent, warm", t_ind, t_ind / t_rec,
           None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 1 min)")
    parser.add_argument("--systems", type=int, default=200, help="Darcy systems (200)")
    parser.add_argument("--n", type=int, default=100, help="Darcy grid n (n x n; 100)")
    parser.add_argument("--sigma", type=float, default=1.0,
                        help="standard deviation of the Darcy log-permeability (1)")
    parser.add_argument("--precond", default="jacobi",
                        help="preconditioner of the skr section ('none' for none)")
    parser.add_argument("--steps", type=int, default=500, help="heat steps (500)")
    parser.add_argument("--heat-n", type=int, default=64, help="heat grid (64)")
    parser.add_argument("--heat-precond", default="jacobi", help="preconditioner of heat")
    parser.add_argument("--heat-k", type=int, default=30,
                        help="recycle size k of rcg in the heat section (m = 2 k; 30)")
    parser.add_argument("--rtol", type=float, default=1e-7)
    parser.add_argument("--maxiter", type=int, default=None)
    parser.add_argument("--only", default="skr,strong,heat", help="comma-separated sections")
    parser.add_argument("--k", type=int, default=10,
                        help="GCRO-DR recycled vectors (10, solve_sequence's default)")
    parser.add_argument("--m", type=int, default=40, help="GCRO-DR cycle length (40)")
    parser.add_argument("--strong-k", type=int, default=3,
                        help="recycled vectors with the re-used AMG set-up (3)")
    parser.add_argument("--strong-m", type=int, default=12,
                        help="cycle length with the re-used AMG set-up (12)")
    parser.add_argument("--recycle", default="true", choices=("true", "false", "auto"),
                        help="solve_sequence(recycle=...) of the skr section (true)")
    parser.add_argument("--ideal-systems", type=int, default=10,
                        help="systems of the ideal section (10)")
    parser.add_argument("--tag", default="", help="added to the log's file name")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads (1: fair on a shared machine)")
    args = parser.parse_args(argv)
    args.recycle = {"true": True, "false": False}.get(args.recycle, args.recycle)
    if args.quick:
        args.systems, args.n, args.steps, args.heat_n = 12, 32, 40, 32
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)
    except ImportError:  # pragma: no cover
        pass
    only = set(args.only.split(","))
    tag = "" if only == {"skr", "strong", "heat"} else "-".join(sorted(only)) + "-"
    if args.tag:
        tag += args.tag + "-"
    stamp = datetime.date.today().isoformat()
    base = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        f"compare_sequences-{'quick-' if args.quick else ''}{tag}{stamp}")
    _LOGFILE.append(open(base + ".log", "w"))  # noqa: SIM115 - closed at the end
    say(f"compare_sequences {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"on {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, numpy {np.__version__}, lrsolve "
        f"{getattr(lrsolve, '__version__', '?')}; args {vars(args)}")
    t_all = time.perf_counter()
    if only & {"skr", "strong", "ideal"}:
        problems = lrsolve.problems.darcy_sequence(args.systems, (args.n, args.n), rng=0,
                                                   sigma=args.sigma)
        rec, t_rec = section_skr(problems, args) if "skr" in only else (None, None)
        if "strong" in only:
            section_strong(problems, args, rec, t_rec)
        if "ideal" in only:
            section_ideal(problems, args)
    if "heat" in only:
        section_heat(args)
    say(f"total {time.perf_counter() - t_all:.1f} s")
    with open(base + ".json", "w") as f:
        json.dump(dict(args=vars(args), rows=ROWS, machine=platform.uname()._asdict()), f,
                  indent=1, default=str)
    say(f"wrote {base}.log and .json")
    _LOGFILE.pop().close()


if __name__ == "__main__":
    sys.exit(main())
