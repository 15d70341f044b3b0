"""
DCDM: pressure projection of smoke around obstacles
===================================================

The pressure Poisson equation of an incompressible smoke simulation: the
5-point (2-D) or 7-point (3-D) Laplacian on the fluid cells of a box with
random solid obstacles (:func:`lrsolve.deep.obstacle_mask`,
:func:`lrsolve.operators.poisson` with ``mask=``; Neumann at the obstacles,
Dirichlet walls), and a divergence-like right-hand side: a buoyant plume
source at the bottom plus noise.  It is solved with the deep conjugate
direction method :func:`lrsolve.deep.dcdm` (shipped network), with plain CG,
IC(0)-preconditioned CG and, when PyAMG is installed, AMG-preconditioned CG.
A table gives the iterations and the true relative residuals; with
matplotlib the residual histories are plotted (``--out``).

Run: ``python examples/plot_dcdm_smoke.py [--n 128] [--dim 2] [--rtol 1e-6] [--out FILE]``
"""

import argparse
import importlib.util
import time

import numpy as np

import lrsolve


def smoke_scene(n, dim, seed=0):
    """The masked operator and a plume-like right-hand side on an ``n^dim`` grid."""
    shape = (n,) * dim
    mask = lrsolve.deep.obstacle_mask(shape, 5 if dim == 2 else 4, rng=seed)
    A = lrsolve.operators.poisson(shape, mask=mask)
    rng = np.random.default_rng(seed)
    coords = np.meshgrid(*[np.linspace(0, 1, s) for s in shape], indexing="ij")
    # a source near the bottom centre (axis 0 points up) and a little noise
    plume = np.exp(-((coords[0] - 0.15) ** 2 + sum((c - 0.5) ** 2 for c in coords[1:])) / 0.01)
    f = plume + 0.1 * rng.standard_normal(shape)
    return A, mask, f[mask]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--n", type=int, default=128, help="grid points per axis (default 128)")
    parser.add_argument("--dim", type=int, default=2, choices=(2, 3), help="2-D or 3-D")
    parser.add_argument("--rtol", type=float, default=1e-6, help="relative tolerance")
    parser.add_argument("--out", default="dcdm_smoke.png", help="figure file (matplotlib)")
    args = parser.parse_args(argv)

    A, mask, b = smoke_scene(args.n, args.dim)
    bnorm = np.linalg.norm(b)
    Acsr = A.tocsr()
    shape = "x".join([str(args.n)] * args.dim)
    print(f"smoke around obstacles: {shape} grid, {A.shape[0]} fluid cells "
          f"({100 * (1 - mask.mean()):.0f}% solid), rtol={args.rtol:g}")
    runs = [("dcdm", lambda: lrsolve.deep.dcdm(A, b, rtol=args.rtol)),
            ("cg", lambda: lrsolve.cg(A, b, rtol=args.rtol)),
            ("ic0-pcg", lambda: lrsolve.cg(A, b, rtol=args.rtol, precond="ic0"))]
    if importlib.util.find_spec("pyamg") is not None:
        runs.append(("amg-pcg", lambda: lrsolve.cg(A, b, rtol=args.rtol, precond="amg")))
    histories = {}
    print(f"{'method':<10} {'iterations':>10} {'true rel. residual':>19} {'seconds':>8}")
    table = []
    for name, run in runs:
        t0 = time.perf_counter()
        res = run()
        seconds = time.perf_counter() - t0
        relres = np.linalg.norm(b - Acsr @ res.x) / bnorm
        histories[name] = res.residual_norms / bnorm
        table.append(f"{name} {res.niter} {relres:.3e}")
        note = ""
        if name == "dcdm" and res.extra.get("fell_back"):
            note = (f"  ({res.extra['dcdm_iterations']} DCDM iterations, then "
                    f"{res.extra['cg_iterations']} of CG with "
                    f"{res.extra.get('fallback_precond')}: the network stalled)")
        print(f"{name:<10} {res.niter:>10} {relres:>19.2e} {seconds:>8.2f}{note}")
    print()
    print("\n".join(table))  # machine-readable: method, iterations, relative residual

    if importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed: no plot")
        return 0
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
    if args.dim == 2:
        ax0.imshow(mask, origin="lower", cmap="gray")
    else:
        ax0.imshow(mask[:, :, args.n // 2], origin="lower", cmap="gray")
    ax0.set_title("fluid (white) and obstacles")
    for name, h in histories.items():
        ax1.semilogy(h, label=name)
    ax1.axhline(args.rtol, color="k", lw=0.5, ls=":")
    ax1.set_xlabel("iteration")
    ax1.set_ylabel("||b - A x|| / ||b||")
    ax1.set_title(f"pressure projection, {shape} grid")
    ax1.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
