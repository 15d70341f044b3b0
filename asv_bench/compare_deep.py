"""DCDM side by side with CG, IC(0)-PCG and AMG-PCG on smoke-around-obstacle Poisson systems.

Run from the repository root::

    python asv_bench/compare_deep.py --quick            # small grids, < 1 min
    python asv_bench/compare_deep.py                    # the issue's sizes that fit a CPU
    python asv_bench/compare_deep.py --device cuda      # CuPy + torch on the GPU, all sizes

For every grid (2-D 5-point / 3-D 7-point Laplacian on the fluid cells of a box with random
obstacles, Dirichlet walls, Neumann at the obstacles; right-hand side a plume source plus
noise) it solves to ``--rtol`` (default 1e-6) with

* ``lrsolve.deep.dcdm`` (shipped model, ``model="auto"``),
* ``lrsolve.cg`` without preconditioner, with ``precond="ic0"`` and ``precond="amg"``,
* on ``--device cuda`` also ``cupyx.scipy.sparse.linalg.cg``,

and prints iterations, wall-clock seconds (set-up included: IC(0)/AMG set-up, model load)
and the ratios of the targets: DCDM iterations / IC0-PCG (target <= 1/4), / CG
(target <= 1/10), and DCDM iterations at the larger grid / the smaller (target <= 1.3).
Writes ``compare_deep-<device>-<date>.log`` and ``.json`` next to this script.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import sys
import time

import numpy as np

import lrsolve

HERE = os.path.dirname(os.path.abspath(__file__))
LINES = []


def say(text=""):
    print(text, flush=True)
    LINES.append(text)


def scene(shape, seed):
    mask = lrsolve.deep.obstacle_mask(shape, 6 if len(shape) == 2 else 5, rng=seed)
    rng = np.random.default_rng(seed)
    coords = np.meshgrid(*[np.linspace(0, 1, s) for s in shape], indexing="ij")
    plume = np.exp(-((coords[0] - 0.15) ** 2 + sum((c - 0.5) ** 2 for c in coords[1:])) / 0.01)
    f = plume + 0.1 * rng.standard_normal(shape)
    return mask, f[mask]


def run_one(name, fn, xp):
    t0 = time.perf_counter()
    try:
        out = fn()
    except Exception as exc:  # report, do not abort the whole comparison
        return {"method": name, "error": f"{type(exc).__name__}: {exc}"}
    if xp is not None:
        xp.cuda.get_current_stream().synchronize()
    sec = time.perf_counter() - t0
    return {"method": name, "seconds": sec, **out}


def solve_all(shape, device, rtol, seed, methods):
    mask, b = scene(shape, seed)
    xp = None
    backend = None
    if device == "cuda":
        import cupy as xp

        backend = "cupy"
    A = lrsolve.operators.poisson(shape, mask=mask, backend=backend)
    bd = b if xp is None else xp.asarray(b)
    Ah = A.tocsr() if xp is None else A.tocsr().get()
    bnorm = np.linalg.norm(b)

    def relres(x):
        x = x if xp is None else xp.asnumpy(x)
        return float(np.linalg.norm(b - Ah @ x) / bnorm)

    def lr(res):
        return {"iterations": res.niter, "relres": relres(res.x), "converged": res.converged,
                "message": res.message}

    rows = []
    for m in methods:
        if m == "dcdm":
            lrsolve.deep.dcdm(A, bd, maxiter=1)  # load the model, warm up torch
            fn = lambda: {**lr(r := lrsolve.deep.dcdm(A, bd, rtol=rtol)),  # noqa: E731
                          "fell_back": r.extra["fell_back"]}
        elif m == "cg":
            fn = lambda: lr(lrsolve.cg(A, bd, rtol=rtol))  # noqa: E731
        elif m in ("ic0-pcg", "amg-pcg"):
            pc = m.split("-")[0]
            if pc not in lrsolve.precond.available():
                continue
            fn = lambda pc=pc: lr(lrsolve.cg(A, bd, rtol=rtol, precond=pc))  # noqa: E731
        elif m == "cupyx-cg":
            if xp is None:
                continue
            import cupyx.scipy.sparse.linalg as csla

            Ac = A.tocsr()

            def fn(Ac=Ac):
                count = []
                kw = {"maxiter": 100000, "callback": lambda xk: count.append(1)}
                try:
                    x, info = csla.cg(Ac, bd, rtol=rtol, **kw)  # CuPy >= 14
                except TypeError:
                    x, info = csla.cg(Ac, bd, tol=rtol, **kw)
                return {"iterations": len(count), "relres": relres(x), "converged": info == 0}
        rows.append(run_one(m, fn, xp))
    return A.shape[0], rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small grids only (< 1 min)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--sizes2d", type=int, nargs="*", default=None,
                    help="2-D grid sizes (default 256 1024; --quick 48 64)")
    ap.add_argument("--sizes3d", type=int, nargs="*", default=None,
                    help="3-D grid sizes (default 64 128; --quick 12 16)")
    ap.add_argument("--methods", default="dcdm,cg,ic0-pcg,amg-pcg,cupyx-cg")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args(argv)
    s2 = args.sizes2d if args.sizes2d is not None else ([48, 64] if args.quick else [256, 1024])
    s3 = args.sizes3d if args.sizes3d is not None else ([12, 16] if args.quick else [64, 128])
    methods = [m for m in args.methods.split(",") if m]
    if "amg-pcg" in methods and importlib.util.find_spec("pyamg") is None:
        methods.remove("amg-pcg")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    stamp = datetime.date.today().isoformat()
    dev = args.device
    if dev == "cuda":
        name = torch.cuda.get_device_name(0)
    else:
        name = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    say(f"# compare_deep: device {dev} ({name}), torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), numpy {np.__version__}, rtol {args.rtol:g}, "
        f"{stamp}")
    results = []
    for dim, sizes in ((2, s2), (3, s3)):
        prev = None
        for n in sizes:
            shape = (n,) * dim
            nn, rows = solve_all(shape, dev, args.rtol, args.seed, methods)
            byname = {r["method"]: r for r in rows}
            say(f"\n## {dim}-D {'x'.join(map(str, shape))}: {nn} fluid unknowns")
            say(f"{'method':<10} {'iters':>7} {'seconds':>9} {'rel.res':>9}  note")
            for r in rows:
                if "error" in r:
                    say(f"{r['method']:<10} {'-':>7} {'-':>9} {'-':>9}  {r['error']}")
                    continue
                note = "fell back to CG" if r.get("fell_back") else ""
                say(f"{r['method']:<10} {r['iterations']:>7} {r['seconds']:>9.3f} "
                    f"{r['relres']:>9.1e}  {note}")
            ratios = {}
            d = byname.get("dcdm", {})
            for peer in ("ic0-pcg", "cg", "amg-pcg", "cupyx-cg"):
                p = byname.get(peer, {})
                if "iterations" in d and "iterations" in p and p["iterations"]:
                    ratios[f"iters dcdm/{peer}"] = d["iterations"] / p["iterations"]
                    ratios[f"time dcdm/{peer}"] = d["seconds"] / p["seconds"]
            if prev is not None and "iterations" in d and "iterations" in prev:
                ratios["iters dcdm larger/smaller grid"] = d["iterations"] / prev["iterations"]
            prev = d
            for k, v in ratios.items():
                say(f"  {k}: {v:.3f}")
            results.append({"dim": dim, "shape": shape, "n": nn, "rows": rows,
                            "ratios": ratios})
    base = os.path.join(HERE, f"compare_deep-{dev}-{stamp}")
    with open(base + ".json", "w") as f:
        json.dump({"device": dev, "device_name": name, "rtol": args.rtol, "quick": args.quick,
                   "results": results}, f, indent=1, default=str)
    with open(base + ".log", "w") as f:
        f.write("\n".join(LINES) + "\n")
    say(f"\nwrote {base}.log and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
