"""The ``lrsolve`` command line: ``lrsolve demo``, ``lrsolve solve A.mtx`` and ``lrsolve info``.

Run ``lrsolve --help`` (or ``python -m lrsolve --help``) for the options.  Exit
codes: 0 on success, 1 when a solve did not converge, 2 for bad input (a missing
file, a non-square matrix, an unknown option value).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import time

__all__ = ["main"]

_PRECONDS = ("jacobi", "ssor", "ic0", "chebyshev", "amg")


class CLIError(Exception):
    """Bad input detected by the command line (reported with exit code 2)."""


# ----------------------------------------------------------------------------- helpers
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _nonneg_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _option(text):
    """Parse ``KEY=VALUE`` (VALUE: int, float, true/false/none or a string)."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE such as omega=1.5 or shift=auto, got {text!r}"
        )
    low = value.strip().lower()
    if low in ("true", "false"):
        return key, low == "true"
    if low == "none":
        return key, None
    for conv in (int, float):
        try:
            return key, conv(value)
        except ValueError:
            pass
    return key, value


def _poisson_csr(n):
    """The 5-point Laplacian on an ``n x n`` grid (Dirichlet boundary, unit spacing) as CSR."""
    import lrsolve

    poisson = getattr(lrsolve.operators, "poisson", None)
    if poisson is not None:
        return poisson((n, n)).tocsr(), "lrsolve.operators.poisson"
    import scipy.sparse as sp

    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n), format="csr")
    eye = sp.identity(n, format="csr")
    A = (sp.kron(eye, T) + sp.kron(T, eye)).tocsr()
    A.sort_indices()
    return A, "scipy.sparse.kron"


def _precond_factory(name):
    """Return the public factory ``lrsolve.precond.<name>`` or None."""
    import lrsolve

    factory = getattr(lrsolve.precond, name, None)
    return factory if callable(factory) else None


def _build_precond(name, A, options=None):
    """Build preconditioner ``name`` for ``A``; return ``(precond_argument, setup_seconds)``."""
    options = dict(options or {})
    factory = _precond_factory(name)
    if factory is None:  # registered but not exported as a function: let cg build it
        return (name, options) if options else name, float("nan")
    t0 = time.perf_counter()
    P = factory(A, **options)
    sync = getattr(getattr(P, "backend", None), "synchronize", None)
    if sync is not None:
        sync()
    return P, time.perf_counter() - t0


def _rel_residual(A, x, b):
    import numpy as np

    r = b - A @ x
    return float(np.linalg.norm(r) / np.linalg.norm(b))


def _fmt(value, spec):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def _print_table(rows, header, file=None):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(cells):
        out = [str(cells[0]).ljust(widths[0])]
        out += [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return " | ".join(out)

    print(fmt(header), file=file)
    print("-+-".join("-" * w for w in widths), file=file)
    for r in rows:
        print(fmt(r), file=file)


# ----------------------------------------------------------------------------- demo
def _cmd_demo(args):
    import numpy as np
    import scipy.sparse.linalg as spla

    import lrsolve

    n = args.n
    rtol = args.rtol
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        load = None
    A, source = _poisson_csr(n)
    N = A.shape[0]
    rng = np.random.default_rng(0)
    b = rng.standard_normal(N)
    threads = ""
    if lrsolve.get_engine() == "numba" and importlib.util.find_spec("numba"):
        import numba

        threads = f", {numba.config.NUMBA_NUM_THREADS} threads"
    print(
        f"2D Poisson, {n}x{n} grid: {N:,} unknowns, {A.nnz:,} nonzeros ({source}), "
        f"float64, random b, rtol={rtol:g}"
    )
    print(f"lrsolve {lrsolve.__version__}, engine {lrsolve.get_engine()}{threads}")

    available = set(lrsolve.precond.available())
    names = [p for p in _PRECONDS if p in available]
    names += sorted(available - set(_PRECONDS))
    notes = []
    for p in _PRECONDS:
        if p not in available:
            notes.append(f"{p}: not available in this installation (skipped)")
    if "amg" in names and importlib.util.find_spec("pyamg") is None:
        names.remove("amg")
        notes.append("amg: skipped, PyAMG is not installed (pip install 'lrsolve[amg]')")

    # SciPy first, before any lrsolve set-up: a LAPACK call (e.g. the eigenvalue solve of a
    # Chebyshev set-up) can leave OpenBLAS's thread pool in a state that slows the BLAS-1
    # calls SciPy's cg makes, which would make the baseline look worse than it is
    count = [0]

    def callback(xk):
        count[0] += 1

    t0 = time.perf_counter()
    x, info = spla.cg(A, b, rtol=rtol, atol=0.0, maxiter=10 * N, callback=callback)
    solve = time.perf_counter() - t0
    relres = _rel_residual(A, x, b)
    scipy_row = [
        "scipy.sparse.linalg.cg" + ("" if info == 0 else f" (info={info})"),
        count[0],
        "-",
        f"{solve:.3f}",
        _fmt(1e3 * solve / max(count[0], 1), ".3f"),
        f"{relres:.2e}",
    ]

    # warm-up: compile the Numba kernels (serial and parallel variants) with some
    # iterations on the real problem, so that compile time is not reported as solve
    # time; AMG is skipped (its hierarchy is PyAMG's, and its setup is the costly part)
    t0 = time.perf_counter()
    poisson = getattr(lrsolve.operators, "poisson", None)
    warm_ops = [A] + ([poisson((n, n))] if poisson is not None else [])
    for Aop in warm_ops:
        for p in [None, *names]:
            if p == "amg" or (p is not None and Aop is not A):
                continue
            try:
                arg = _build_precond(p, Aop)[0] if p else None
                # 52 iterations: past the first true-residual refresh (every 50), so the
                # kernels it uses are compiled here too
                lrsolve.cg(Aop, b, rtol=rtol, maxiter=52, precond=arg)
            except Exception:  # reported by the real run below
                pass
    warm = time.perf_counter() - t0

    rows = []
    failures = []
    runs = [("lrsolve cg", A, None)]
    if poisson is not None:  # the same matrix, applied by the matrix-free stencil
        op = poisson((n, n))
        runs.append(("lrsolve cg, matrix-free", op, None))
    runs += [(f"lrsolve cg + {p}", A, p) for p in names]
    for label, Aop, p in runs:
        try:
            if p is None:
                arg, setup = None, float("nan")
            else:
                arg, setup = _build_precond(p, Aop)
            t0 = time.perf_counter()
            res = lrsolve.cg(Aop, b, rtol=rtol, precond=arg)
            solve = time.perf_counter() - t0
        except Exception as exc:  # keep going: show the other methods
            failures.append(f"{label}: {type(exc).__name__}: {exc}")
            rows.append([label, "error", "-", "-", "-", "-"])
            continue
        relres = _rel_residual(A, res.x, b)
        if not res.converged:
            failures.append(f"{label}: {res.message}")
        rows.append([
            label + ("" if res.converged else " (not converged)"),
            res.niter,
            _fmt(setup, ".3f"),
            f"{solve:.3f}",
            _fmt(1e3 * solve / max(res.niter, 1), ".3f"),
            f"{relres:.2e}",
        ])

    rows.append(scipy_row)
    print()
    _print_table(
        rows,
        ["method", "iterations", "setup s", "solve s", "time/iter ms", "true rel. residual"],
    )
    print()
    print(f"Numba warm-up (compilation and 52 iterations per method, not counted above): "
          f"{warm:.2f} s")
    print("true rel. residual = ||b - A x|| / ||b||, recomputed here for every method")
    print("SciPy's cg spends its time in NumPy/BLAS vector calls: when other programs keep the "
          "cores busy,\nOpenBLAS's threads can slow it several-fold; compare with "
          "OPENBLAS_NUM_THREADS=1 lrsolve demo")
    if load is not None and load > 0.5 * (os.cpu_count() or 1):
        print(f"note: the machine was busy when the demo started (load average {load:.1f} on "
              f"{os.cpu_count()} CPUs): the times are unreliable")
    for note in notes:
        print(f"note: {note}")
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if failures else 0


# ----------------------------------------------------------------------------- solve
def _read_matrix(path, what):
    import numpy as np
    import scipy.io
    import scipy.sparse as sp

    if not os.path.exists(path):
        raise CLIError(f"{what} file {path!r} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"{what} {path!r} is a directory; give a Matrix Market (.mtx) file")
    if path.endswith(".npy"):
        try:
            M = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise CLIError(f"cannot read {what} {path!r} as a .npy file: {exc}") from None
    else:
        try:
            M = scipy.io.mmread(path)
        except Exception as exc:
            raise CLIError(
                f"cannot read {what} {path!r} as Matrix Market: {type(exc).__name__}: {exc}"
            ) from None
    if sp.issparse(M):
        M = M.tocsr()
    else:
        M = np.asarray(M)
    if M.dtype.kind in "biu":
        M = M.astype(np.float64)
    elif M.dtype.kind not in "fc":
        raise CLIError(f"{what} {path!r} has dtype {M.dtype}; expected real or complex numbers")
    return M


def _progress_bar(args, maxiter):
    """Return ``(callback, close)`` for a tqdm bar, or ``(None, no-op)``."""
    want = args.progress or (sys.stderr.isatty() and not args.no_progress)
    if not want or args.no_progress:
        return None, lambda: None
    if importlib.util.find_spec("tqdm") is None:
        if args.progress:
            print("note: --progress needs tqdm (pip install 'lrsolve[progress]'); no bar shown",
                  file=sys.stderr)
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=None, unit="it", desc="cg", file=sys.stderr, leave=False,
               mininterval=0.1, bar_format="{desc}: {n_fmt} it [{elapsed}, {rate_fmt}]")

    def callback(xk):
        bar.update(1)

    return callback, bar.close


def _warm_up(precond, options, dtype, bdtype):
    """Run the kernels once on a 16-unknown system so that Numba compiles them."""
    import numpy as np

    import lrsolve

    Aw = _poisson_csr(4)[0].astype(dtype)
    bw = np.ones(Aw.shape[0], dtype=bdtype)
    try:
        P = _build_precond(precond, Aw, options)[0] if precond else None
        lrsolve.cg(Aw, bw, rtol=1e-6, precond=P)
    except Exception:  # errors are reported by the real solve
        pass


def _write_solution(path, x):
    import numpy as np
    import scipy.io

    if path.endswith(".npy"):
        np.save(path, x)
    else:
        with open(path, "wb") as fh:
            scipy.io.mmwrite(fh, x.reshape(-1, 1), comment="solution written by lrsolve solve")


def _cmd_solve(args):
    import numpy as np
    import scipy.sparse as sp

    import lrsolve

    precond = args.precond
    if precond is not None and precond.lower() == "none":
        precond = None
    if precond is not None:
        names = lrsolve.precond.available()
        if precond.lower() not in names:
            extra = ""
            if precond.lower() == "amg" and importlib.util.find_spec("pyamg") is None:
                extra = " (amg needs PyAMG: pip install 'lrsolve[amg]')"
            raise CLIError(
                f"unknown preconditioner --precond {precond!r}; choose one of "
                f"{', '.join(names)} or none{extra}"
            )
        precond = precond.lower()
        if precond == "amg" and importlib.util.find_spec("pyamg") is None:
            raise CLIError("--precond amg needs PyAMG: pip install 'lrsolve[amg]'")
    if args.precond_option and precond is None:
        raise CLIError("--precond-option needs --precond")
    if args.out is not None:
        parent = os.path.dirname(os.path.abspath(args.out))
        if not os.path.isdir(parent):
            raise CLIError(f"cannot write --out {args.out!r}: directory {parent!r} does not exist")

    A = _read_matrix(args.matrix, "matrix")
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise CLIError(
            f"matrix {args.matrix!r} has shape {A.shape}; cg needs a square (symmetric positive "
            "definite) matrix"
        )
    n = A.shape[0]
    if n == 0:
        raise CLIError(f"matrix {args.matrix!r} is empty")
    if not sp.issparse(A):
        A = sp.csr_matrix(A)
    if args.dtype == "float32":
        A = A.astype(np.float32 if A.dtype.kind == "f" else np.complex64)
    elif args.dtype == "float64":
        A = A.astype(np.float64 if A.dtype.kind == "f" else np.complex128)
    if args.rhs is None:
        b = np.ones(n, dtype=A.dtype)
        rhs_text = f"ones({n}) (no --rhs given)"
    else:
        bm = _read_matrix(args.rhs, "rhs")
        if sp.issparse(bm):
            bm = bm.toarray()
        if bm.size != n or (bm.ndim == 2 and 1 not in bm.shape) or bm.ndim > 2:
            raise CLIError(
                f"rhs {args.rhs!r} has shape {bm.shape}; expected a vector of length {n} "
                "to match the matrix"
            )
        bdt = np.result_type(bm.dtype, A.dtype)
        if args.dtype is not None:  # compute in the requested precision
            bdt = A.dtype if bdt.kind == "f" else np.result_type(A.dtype, np.complex64)
        b = bm.reshape(n).astype(bdt, copy=False)
        rhs_text = args.rhs
    maxiter = args.maxiter if args.maxiter is not None else 10 * n

    print(f"matrix   : {args.matrix}  {n} x {n}, {A.nnz:,} nonzeros, {A.dtype}")
    print(f"rhs      : {rhs_text}")

    if args.backend == "cupy" and not lrsolve.cupy_available():
        raise CLIError(
            "--backend cupy needs CuPy and a CUDA device: pip install 'lrsolve[gpu]' (or the "
            "CuPy wheel matching your CUDA), or use --backend numpy"
        )
    with lrsolve.backend(args.backend, engine=args.engine):
        try:
            op = lrsolve.operators.as_operator(A)  # on the GPU: copied to the device once here
        except (ValueError, TypeError) as exc:  # e.g. NaN/Inf entries: bad input, exit 2
            raise CLIError(f"{args.matrix}: {exc}") from None
        bk = op.backend
        b_in = bk.xp.asarray(b) if bk.name == "cupy" else b
        engine = bk.engine
        print(
            f"solver   : cg{' + ' + precond if precond else ''}"
            f"{''.join(f' {k}={v}' for k, v in args.precond_option)}, rtol={args.rtol:g}, "
            f"atol={args.atol:g}, maxiter={maxiter}, backend {bk.name} (engine {engine})"
        )
        warm = 0.0
        if engine == "numba":  # compile the kernels on a tiny system: not counted as setup/solve
            t0 = time.perf_counter()
            _warm_up(precond, dict(args.precond_option), A.dtype, b.dtype)
            try:  # the parallel kernel variants, used for large vectors
                lrsolve.cg(op, b_in, rtol=args.rtol, atol=args.atol, maxiter=2)
            except Exception:  # errors are reported by the real solve
                pass
            warm = time.perf_counter() - t0
        try:
            if precond is None:
                P, setup = None, 0.0
            else:
                P, setup = _build_precond(precond, op, dict(args.precond_option))
        except (ValueError, TypeError) as exc:
            hint = ""
            if "shift" in str(exc) and "shift" not in dict(args.precond_option):
                hint = " (on the command line: --precond-option shift=auto)"
            raise CLIError(f"cannot build the {precond} preconditioner: {exc}{hint}") from None
        callback, close = _progress_bar(args, maxiter)
        t0 = time.perf_counter()
        try:
            res = lrsolve.cg(op, b_in, rtol=args.rtol, atol=args.atol, maxiter=maxiter,
                             precond=P, callback=callback)
        except (ValueError, TypeError) as exc:
            raise CLIError(str(exc)) from None
        finally:
            close()
        bk.synchronize()
        solve = time.perf_counter() - t0

    x = lrsolve.to_numpy(res.x)
    wide = np.complex128 if np.iscomplexobj(A) or np.iscomplexobj(b) else np.float64
    b64 = b.astype(wide)
    bnorm = float(np.linalg.norm(b64))
    rel = float(np.linalg.norm(b64 - A.astype(wide) @ x.astype(wide))) / bnorm if bnorm else 0.0
    status = "converged" if res.converged else "NOT converged"
    print(f"result   : {status}: {res.message} (info {res.info})")
    print(f"iters    : {res.niter} iterations, {res.n_matvec} products with A")
    print(f"residual : ||b - A x|| / ||b|| = {rel:.3e}  (recomputed in double; "
          f"target {res.tolerance / bnorm if bnorm else 0.0:.3e})")
    setup_txt = "included in solve" if isinstance(P, str) else f"{setup:.4f} s"
    per_iter = 1e3 * solve / max(res.niter, 1)
    print(f"time     : setup {setup_txt}, solve {solve:.4f} s ({per_iter:.3f} ms/iteration)"
          + (f"; Numba warm-up {warm:.2f} s not counted" if warm else ""))
    if args.out is not None:
        _write_solution(args.out, x)
        print(f"written  : {args.out}")
    return 0 if res.converged else 1


# ----------------------------------------------------------------------------- info
def _cmd_info(args):
    import lrsolve

    lrsolve.show_config()
    print("preconditioners:", ", ".join(lrsolve.precond.available()))
    return 0


# ----------------------------------------------------------------------------- parser
def _parser():
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="lrsolve",
        description="Iterative solvers on NumPy/Numba (CPU) and CuPy (GPU).",
    )
    parser.add_argument("--version", action="version", version=f"lrsolve {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{demo,solve,info,train-dcdm}")

    demo = sub.add_parser(
        "demo",
        help="solve a 2D Poisson problem with every preconditioner and compare with SciPy",
        description="Solve the 2D Poisson equation (5-point stencil, n x n grid) with lrsolve.cg "
        "without and with each available preconditioner, and with scipy.sparse.linalg.cg; print "
        "iterations, setup and solve times and the true relative residual.",
    )
    demo.add_argument("--n", type=_positive_int, default=256, help="grid size (default 256)")
    demo.add_argument("--rtol", type=_nonneg_float, default=1e-8,
                      help="relative tolerance (default 1e-8)")
    demo.set_defaults(func=_cmd_demo)

    solve = sub.add_parser(
        "solve",
        help="solve A x = b for a symmetric positive definite Matrix Market matrix",
        description="Read A (and optionally b) from Matrix Market files and solve A x = b with "
        "lrsolve.cg.  Exit code 0 when converged, 1 when not, 2 for bad input.",
    )
    solve.add_argument("matrix", help="the matrix A (.mtx; integer entries are read as float)")
    solve.add_argument("--rhs", help="right-hand side b (.mtx or .npy; default: a vector of ones)")
    solve.add_argument("--precond", default=None,
                       help=f"preconditioner: none, {', '.join(_PRECONDS)} (default none)")
    solve.add_argument("-O", "--precond-option", type=_option, action="append", default=[],
                       metavar="KEY=VALUE",
                       help="preconditioner option, repeatable, e.g. -O omega=1.5 (ssor), "
                       "-O shift=auto (ic0), -O degree=4 (chebyshev)")
    solve.add_argument("--rtol", type=_nonneg_float, default=1e-8,
                       help="relative tolerance on ||b - A x|| (default 1e-8)")
    solve.add_argument("--atol", type=_nonneg_float, default=0.0,
                       help="absolute tolerance (default 0)")
    solve.add_argument("--maxiter", type=_positive_int, default=None,
                       help="maximum iterations (default 10 n)")
    solve.add_argument("--backend", choices=("numpy", "cupy"), default=None,
                       help="where to compute (default numpy; cupy moves A and b to the GPU once)")
    solve.add_argument("--engine", choices=("numba", "numpy"), default=None,
                       help="CPU engine (default numba)")
    solve.add_argument("--dtype", choices=("float64", "float32"), default=None,
                       help="compute precision (default: the matrix's)")
    solve.add_argument("--out", default=None,
                       help="write the solution: Matrix Market array, or NumPy .npy when the "
                       "name ends with .npy (default: print the summary only)")
    solve.add_argument("--progress", action="store_true",
                       help="show a tqdm progress bar even when stderr is not a terminal")
    solve.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    solve.set_defaults(func=_cmd_solve)

    info = sub.add_parser("info", help="show versions, engines and devices",
                          description="Print lrsolve.show_config().")
    info.set_defaults(func=_cmd_info)

    from .deep._cli import add_train_parser  # no torch import until the command runs

    add_train_parser(sub)
    return parser


def main(argv=None):
    """Run the ``lrsolve`` command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 1 when a solve did not converge, 2 for
        bad input.

    Examples
    --------
    >>> from lrsolve.cli import main
    >>> main(["demo", "--n", "8"])  # doctest: +ELLIPSIS
    2D Poisson, 8x8 grid: 64 unknowns, ...
    0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except CLIError as exc:
        print(f"lrsolve {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
