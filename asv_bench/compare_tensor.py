"""Side-by-side measurements of lrsolve.tensor against TensorLy, in one run, as ratios.

Run from the repository root::

    python asv_bench/compare_tensor.py            # the sizes of the targets (minutes)
    python asv_bench/compare_tensor.py --quick    # small sizes, < 1 min: a smoke test
    python asv_bench/compare_tensor.py --only cp,sthosvd --threads 2
    python3 asv_bench/compare_tensor.py --only gpu            # on a CUDA machine
    LRSOLVE_GPU_DRYRUN=1 python asv_bench/compare_tensor.py --only gpu --quick   # no GPU

Sections (the performance targets of issue 5):

* ``cp``      CP-ALS per-iteration time at 100^3 rank 10 and 300^3 rank 50, lrsolve.tensor.cp
              over tensorly.decomposition.parafac (target <= 0.5), both with random init,
              no line search, tol=0 and a fixed number of sweeps; time per iteration is taken
              between the first and the last callback, so initialisation is excluded alike.
* ``tucker``  HOOI on a 256x256x14x20 tensor with core (29, 39, 14, 4): (1) exactly 20 sweeps
              from a random start each (tensorly with tol=0), tensorly's time over ours
              (target >= 5), both final errors; (2) tensorly called as in the core-shapes
              repository (random init, n_iter_max=20, tol=1e-20, which stops once the error
              repeats exactly) against lrsolve's defaults (ST-HOSVD start, stop when converged),
              time to the same final error.
* ``sthosvd`` ST-HOSVD against TensorLy's SVD initialisation (``tucker(..., n_iter_max=0)``)
              on the same shapes (target >= 10x faster).
* ``memory``  tracemalloc peak of CP-ALS and HOOI over (input + factors) (target <= 2 extra
              inputs, i.e. peak <= 2 x input + factors), TensorLy's peak for reference.
* ``gpu``     (not in the default set; needs CuPy and a CUDA device) CP-ALS at 500^3 rank 50
              (``--quick``: 100^3 rank 10), float64, 1% noise: seconds per sweep of
              lrsolve.tensor.cp on the NumPy array (the CPU path, BLAS threads = all cores
              unless ``--threads``) and on ``cupy.asarray(X)`` (the GPU path), CPU/GPU ratio
              (target >= 10), the relative errors of both after the same sweep (they should
              agree), and a float32 run on the GPU.  ``LRSOLVE_GPU_DRYRUN=1`` runs the same
              code with NumPy standing in for the device at small sizes (a check of the code
              path on a machine without a GPU).

The machine is shared: OpenBLAS threads are set to ``--threads`` (default 1; all cores when
``gpu`` is among the sections) before NumPy is imported, for both libraries alike.  Writes
``compare_tensor-<date>.log`` and ``.json`` next to this script (``compare_tensor-gpu-...``
when ``gpu`` runs, ``compare_tensor-gpudry-...`` for a dry run).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
import tracemalloc


def parse():
    p = argparse.ArgumentParser(description="lrsolve.tensor vs TensorLy, side by side")
    p.add_argument("--quick", action="store_true", help="small sizes (< 1 minute)")
    p.add_argument("--only", default="cp,tucker,sthosvd,memory", help="comma-separated sections")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS threads for both libraries (default 1; all cores when 'gpu' is a section)",
    )
    p.add_argument("--repeat", type=int, default=2, help="repetitions (best time is kept)")
    a = p.parse_args()
    if a.threads is None:
        a.threads = (os.cpu_count() or 1) if "gpu" in a.only.split(",") else 1
    return a


ARGS = parse()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import _gpu_device  # noqa: E402  (next to this script)

from lrsolve import tensor as lt  # noqa: E402

ROWS = []
LOG = []


def out(msg):
    print(msg, flush=True)
    LOG.append(msg)


def record(section, case, quantity, ours, peer_value, ratio, target, note="", peer="tensorly"):
    met = None
    if target is not None and ratio is not None and np.isfinite(ratio):
        met = bool(ratio <= target) if target >= 0 else bool(ratio >= -target)
    ROWS.append(
        dict(
            section=section,
            case=case,
            quantity=quantity,
            lrsolve=ours,
            peer=peer,
            peer_value=peer_value,
            ratio=ratio,
            target=target,
            met=met,
            note=note,
        )
    )
    tgt = "" if target is None else (f"<= {target}" if target >= 0 else f">= {-target}")
    out(
        f"[{section}] {case}: {quantity}: lrsolve {ours:.4g} | {peer} {peer_value:.4g} | "
        f"ratio {ratio:.3f} {tgt} {'MET' if met else ('MISSED' if met is False else '')} {note}"
    )


class Stamps:
    def __init__(self):
        self.t = []

    def __call__(self, *args):
        self.t.append(time.perf_counter())

    def per_iteration(self):
        return (self.t[-1] - self.t[0]) / (len(self.t) - 1)


def low_rank_cp(shape, rank, noise, seed=0):
    rng = np.random.default_rng(seed)
    X = lt.CPTensor(None, [rng.standard_normal((n, rank)) for n in shape]).to_tensor()
    return X + noise * np.linalg.norm(X) / np.sqrt(X.size) * rng.standard_normal(shape)


def low_rank_tucker(shape, ranks, noise, seed=0):
    rng = np.random.default_rng(seed)
    T = lt.TuckerTensor(
        rng.standard_normal(ranks),
        [np.linalg.qr(rng.standard_normal((n, r)))[0] for n, r in zip(shape, ranks, strict=False)],
    )
    X = T.to_tensor()
    return X + noise * np.linalg.norm(X) / np.sqrt(X.size) * rng.standard_normal(shape)


def section_cp():
    from tensorly.decomposition import parafac

    cases = (
        [((60, 60, 60), 5, 10), ((100, 100, 100), 10, 10)]
        if ARGS.quick
        else [((100, 100, 100), 10, 30), ((300, 300, 300), 50, 8)]
    )
    for shape, rank, iters in cases:
        X = low_rank_cp(shape, rank, 0.1)
        best_l, best_t, best_ls = np.inf, np.inf, np.inf
        for _ in range(ARGS.repeat):
            s = Stamps()
            lt.cp(
                X,
                rank,
                init="random",
                rng=0,
                tol=0,
                maxiter=iters,
                line_search=False,
                callback=s,
                diagnostics=False,
            )
            best_l = min(best_l, s.per_iteration())
            s = Stamps()
            lt.cp(
                X,
                rank,
                init="random",
                rng=0,
                tol=0,
                maxiter=iters,
                line_search=True,
                callback=s,
                diagnostics=False,
            )
            best_ls = min(best_ls, s.per_iteration())
            s = Stamps()
            parafac(
                X, rank, init="random", random_state=0, tol=1e-300, n_iter_max=iters, callback=s
            )
            best_t = min(best_t, s.per_iteration())
        case = f"{'x'.join(map(str, shape))} rank {rank}"
        record("cp", case, "s/iteration (no line search)", best_l, best_t, best_l / best_t, 0.5)
        record(
            "cp",
            case,
            "s/iteration (line search on, ours)",
            best_ls,
            best_t,
            best_ls / best_t,
            None,
        )


def section_tucker():
    from tensorly.decomposition import tucker as tl_tucker

    shape, core = (
        ((64, 64, 14, 20), (29, 39, 14, 4)) if ARGS.quick else ((256, 256, 14, 20), (29, 39, 14, 4))
    )
    iters = 20
    X = low_rank_tucker(shape, core, 0.3)
    case = f"{'x'.join(map(str, shape))} core {core}"
    # (1) exactly 20 sweeps each from a random start (tensorly: tol=0 disables its stopping test)
    t_l, t_t = np.inf, np.inf
    for rep in range(ARGS.repeat):
        t0 = time.perf_counter()
        ours = lt.tucker(X, rank=core, init="random", rng=0, maxiter=iters, tol_iter=0)
        t_l = min(t_l, time.perf_counter() - t0)
        if rep == 0:  # tensorly is the slow one: once is enough
            t0 = time.perf_counter()
            tl_core, tl_factors = tl_tucker(
                X, rank=list(core), init="random", random_state=0, n_iter_max=iters, tol=0
            )
            t_t = time.perf_counter() - t0
    e_l = ours.relative_error(X)
    e_t = lt.TuckerTensor(tl_core, tl_factors).relative_error(X)
    record(
        "tucker",
        f"{case}, {iters} sweeps from a random start",
        "seconds (speed-up = tensorly/ours)",
        t_l,
        t_t,
        t_t / t_l,
        -5,
        note=f"final rel. error lrsolve {e_l:.6f} tensorly {e_t:.6f}",
    )
    # (2) the core-shapes repository's call (tol=1e-20 stops once the error repeats exactly)
    # against our defaults (ST-HOSVD start, stop when converged), to the same final error
    t0 = time.perf_counter()
    (
        cs_core,
        cs_factors,
    ) = tl_tucker(X, rank=list(core), init="random", random_state=0, n_iter_max=iters, tol=1e-20)
    t_cs = time.perf_counter() - t0
    e_cs = lt.TuckerTensor(cs_core, cs_factors).relative_error(X)
    t_d = np.inf
    for _ in range(ARGS.repeat):
        t0 = time.perf_counter()
        dflt = lt.tucker(X, rank=core)
        t_d = min(t_d, time.perf_counter() - t0)
    e_d = dflt.relative_error(X)
    record(
        "tucker",
        f"{case}, to the same final error",
        "seconds (tensorly as in the core-shapes repo / lrsolve defaults)",
        t_d,
        t_cs,
        t_cs / t_d,
        -5,
        note=f"ours {dflt.n_iter} sweeps from ST-HOSVD, rel. error {e_d:.6f} vs tensorly "
        f"{e_cs:.6f} (rel. difference {(e_d - e_cs) / e_cs:.1e})",
    )


def section_sthosvd():
    from tensorly.decomposition import tucker as tl_tucker

    cases = (
        [((64, 64, 14, 20), (29, 39, 14, 4)), ((60, 60, 60), (10, 10, 10))]
        if ARGS.quick
        else [
            ((256, 256, 14, 20), (29, 39, 14, 4)),
            ((100, 100, 100), (10, 10, 10)),
            ((300, 300, 300), (50, 50, 50)),
        ]
    )
    for shape, core in cases:
        X = low_rank_tucker(shape, core, 0.3)
        t_l, t_t = np.inf, np.inf
        for _ in range(ARGS.repeat):
            t0 = time.perf_counter()
            st = lt.sthosvd(X, rank=core)
            t_l = min(t_l, time.perf_counter() - t0)
            t0 = time.perf_counter()
            tl_core, tl_factors = tl_tucker(X, rank=list(core), init="svd", n_iter_max=0)
            t_t = min(t_t, time.perf_counter() - t0)
        e_l = st.relative_error(X)
        e_t = lt.TuckerTensor(tl_core, tl_factors).relative_error(X)
        record(
            "sthosvd",
            f"{'x'.join(map(str, shape))} core {core}",
            "seconds (speed-up = tensorly SVD init/ours)",
            t_l,
            t_t,
            t_t / t_l,
            -10,
            note=f"rel. error lrsolve {e_l:.6f} tensorly {e_t:.6f}",
        )


def peak(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def section_memory():
    from tensorly.decomposition import parafac
    from tensorly.decomposition import tucker as tl_tucker

    shape, rank = ((100, 100, 100), 10) if ARGS.quick else ((200, 200, 200), 20)
    X = low_rank_cp(shape, rank, 0.1)
    fac = sum(n * rank for n in shape) * 8
    p_l = peak(lambda: lt.cp(X, rank, maxiter=5, tol=0, rng=0))
    p_t = peak(lambda: parafac(X, rank, n_iter_max=5, tol=1e-300))
    record(
        "memory",
        f"cp {'x'.join(map(str, shape))} rank {rank}",
        "peak / (input + factors)",
        p_l / (X.nbytes + fac),
        p_t / (X.nbytes + fac),
        p_l / p_t,
        None,
        note=f"target: lrsolve <= 2 (input {X.nbytes / 2**20:.0f} MiB)",
    )
    shape, core = (
        ((64, 64, 14, 20), (29, 39, 14, 4)) if ARGS.quick else ((256, 256, 14, 20), (29, 39, 14, 4))
    )
    X = low_rank_tucker(shape, core, 0.3)
    fac = (sum(n * r for n, r in zip(shape, core, strict=False)) + int(np.prod(core))) * 8
    p_l = peak(lambda: lt.tucker(X, rank=core, maxiter=3, tol_iter=0))
    p_t = peak(lambda: tl_tucker(X, rank=list(core), n_iter_max=3, tol=1e-20))
    record(
        "memory",
        f"tucker {'x'.join(map(str, shape))} core {core}",
        "peak / (input + factors)",
        p_l / (X.nbytes + fac),
        p_t / (X.nbytes + fac),
        p_l / p_t,
        None,
        note=f"target: lrsolve <= 2 (input {X.nbytes / 2**20:.0f} MiB)",
    )
    X = np.random.default_rng(0).standard_normal((512, 3, 3, 512))
    p_l = peak(lambda: lt.cp(X, 4, maxiter=5, rng=0))
    out(
        f"[memory] TensorLy #526 case 512x3x3x512 rank 4: lrsolve peak {p_l / 2**20:.1f} MiB "
        f"({p_l / X.nbytes:.2f} x input); TensorLy's SVD init tried 4.5 TiB"
    )


dry_run = _gpu_device.dry_run
device = _gpu_device.device


class SyncStamps(Stamps):
    """Stamps taken after the device's work is done; returning True stops the run."""

    def __init__(self, sync, budget=None):
        super().__init__()
        self.sync, self.budget = sync, budget

    def __call__(self, *args):
        self.sync()
        super().__call__()
        return self.budget is not None and self.t[-1] - self.t[0] > self.budget


def section_gpu():
    xp, sync, name = device()
    dry = xp is np
    if dry:
        shape, rank, iters, cpu_budget = (40, 40, 40), 4, 6, None
    elif ARGS.quick:
        shape, rank, iters, cpu_budget = (100, 100, 100), 10, 10, None
    else:
        # time per sweep is what counts: the CPU stops after the sweep that passes 100 s
        shape, rank, iters, cpu_budget = (500, 500, 500), 50, 10, 100.0
    case = f"{'x'.join(map(str, shape))} rank {rank}"
    out(f"[gpu] device: {name}; CPU path: numpy, BLAS threads {ARGS.threads}")
    kw = dict(init="random", rng=0, tol=0, line_search=False, diagnostics=False)
    gpu_repeat = max(ARGS.repeat, 5)  # device runs take a fraction of a second: best of 5

    # warm-up on the device at a small size (kernel compilation, cuBLAS/cuSOLVER handles)
    Xw = xp.asarray(low_rank_cp((30, 31, 32), 3, 0.01, seed=1))
    for dt in (xp.float64, xp.float32):
        lt.cp(Xw.astype(dt), 3, maxiter=3, callback=SyncStamps(sync), **kw)
    del Xw

    t0 = time.perf_counter()
    X = low_rank_cp(shape, rank, 0.01)
    out(f"[gpu] {case}: tensor generated on the host in {time.perf_counter() - t0:.1f} s")

    # (a) the CPU path: the NumPy array
    s_cpu = SyncStamps(lambda: None, cpu_budget)
    m_cpu = lt.cp(X, rank, maxiter=iters, callback=s_cpu, **kw)
    t_cpu = s_cpu.per_iteration()
    n_cpu = m_cpu.n_iter

    # (b) the GPU path: the same tensor on the device, same host-drawn random start
    t0 = time.perf_counter()
    Xd = xp.asarray(X)
    sync()
    t_h2d = time.perf_counter() - t0
    t_gpu, m_gpu = np.inf, None
    for _ in range(gpu_repeat):
        s = SyncStamps(sync)
        m_gpu = lt.cp(Xd, rank, maxiter=iters, callback=s, **kw)
        t_gpu = min(t_gpu, s.per_iteration())
    # the same sweep for both (the CPU may have stopped early): errors[j] is after sweep j
    j = min(n_cpu, m_gpu.n_iter)
    e_cpu, e_gpu = float(m_cpu.errors[j]), float(m_gpu.errors[j])
    x_cpu = m_cpu.relative_error(X)
    x_gpu = m_gpu.relative_error(Xd)
    sync()
    by_budget = cpu_budget is not None and n_cpu < iters and s_cpu.t[-1] - s_cpu.t[0] > cpu_budget
    cpu_note = (
        f"sweeps: CPU {n_cpu}{f' (stopped at its {cpu_budget:.0f} s budget)' if by_budget else ''}"
        f", GPU {m_gpu.n_iter} of at most {iters} (tol=0 still stops once the error changes by "
        "less than 10 eps)"
    )
    record(
        "gpu",
        f"cp {case} float64",
        "s/iteration (GPU; ratio = CPU/GPU)",
        t_gpu,
        t_cpu,
        t_cpu / t_gpu,
        -10,
        note=f"{cpu_note}; rel. error after sweep {j}: GPU {e_gpu:.6f} CPU {e_cpu:.6f} "
        f"(difference {abs(e_gpu - e_cpu):.1e}); explicit final rel. error GPU {x_gpu:.6f} "
        f"(sweep {m_gpu.n_iter}) CPU {x_cpu:.6f} (sweep {n_cpu}); host-to-device copy "
        f"{t_h2d:.2f} s",
        peer=f"lrsolve CPU (numpy, {ARGS.threads} BLAS threads)",
    )

    # float32 on the device (same start); against the float64 CPU time
    Xs = Xd.astype(xp.float32)
    del Xd
    t_32, m_32 = np.inf, None
    for _ in range(gpu_repeat):
        s = SyncStamps(sync)
        m_32 = lt.cp(Xs, rank, maxiter=iters, callback=s, **kw)
        t_32 = min(t_32, s.per_iteration())
    j = min(n_cpu, m_32.n_iter)
    x_32 = m_32.relative_error(Xs)
    sync()
    record(
        "gpu",
        f"cp {case} float32 (GPU) vs float64 (CPU)",
        "s/iteration (GPU float32; ratio = CPU float64/GPU float32)",
        t_32,
        t_cpu,
        t_cpu / t_32,
        -10,
        note=f"rel. error after sweep {j}: GPU float32 {float(m_32.errors[j]):.6f} CPU float64 "
        f"{float(m_cpu.errors[j]):.6f}; explicit final GPU float32 {x_32:.6f} after "
        f"{m_32.n_iter} sweeps (tol=0 still stops at 10 eps of float32); "
        f"speed-up float32 over float64 on the GPU {t_gpu / t_32:.2f}x",
        peer=f"lrsolve CPU (numpy, {ARGS.threads} BLAS threads)",
    )
    del Xs, X


def main():
    try:
        import tensorly

        tl_version = tensorly.__version__
    except ImportError:  # the gpu section does not need it
        tl_version = "(not installed)"

    sections = {
        "cp": section_cp,
        "tucker": section_tucker,
        "sthosvd": section_sthosvd,
        "memory": section_memory,
        "gpu": section_gpu,
    }
    chosen = [s for s in ARGS.only.split(",") if s]
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    out(
        f"lrsolve.tensor vs tensorly {tl_version}; numpy {np.__version__}; {cpu}, "
        f"{os.cpu_count()} CPUs, BLAS threads {ARGS.threads}; load {os.getloadavg()[0]:.1f}; "
        f"{'quick' if ARGS.quick else 'full'} sizes"
    )
    t0 = time.perf_counter()
    for name in chosen:
        sections[name]()
    out(f"total {time.perf_counter() - t0:.1f} s")
    stamp = datetime.date.today().isoformat()
    gpu_tag = ("-gpudry" if dry_run() else "-gpu") if "gpu" in chosen else ""
    base = os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        f"compare_tensor{gpu_tag}{'-quick' if ARGS.quick else ''}-{stamp}",
    )
    with open(base + ".log", "w") as fh:
        fh.write("\n".join(LOG) + "\n")
    with open(base + ".json", "w") as fh:
        json.dump(
            {
                "machine": cpu,
                "cpus": os.cpu_count(),
                "threads": ARGS.threads,
                "quick": ARGS.quick,
                "rows": ROWS,
            },
            fh,
            indent=1,
        )


if __name__ == "__main__":
    main()
