"""
CP, Tucker, tensor-train and tensor-ring fits of fluorescence data
=================================================================

The amino-acid fluorescence tensor (Bro, 1997; 5 samples x 201 emission x 61
excitation wavelengths, ``claus.mat``) holds mixtures of three fluorophores
(tryptophan, tyrosine, phenylalanine), so a rank-3 CP model recovers their
emission and excitation spectra and the concentrations.  The script fits it with
:func:`lrsolve.tensor.cp` (with core consistency), then compresses the same tensor
with :func:`~lrsolve.tensor.tucker`, :func:`~lrsolve.tensor.tensor_train` and
:func:`~lrsolve.tensor.tensor_ring` at a relative-error tolerance, and prints a
table ``method  n_params  rel_error  bound``.  With matplotlib installed the
recovered spectra and concentrations are plotted to ``--out``.

The data are looked up in ``$LRSOLVE_DATA/tensors/claus.mat`` (default: the
``shared/data`` folder next to the repository); without them a synthetic tensor of
the same shape is used.

Run: ``python examples/plot_tensor_decompositions.py [--tol 0.02] [--small] [--out FILE]``
"""

import argparse
import importlib.util
import os
import pathlib
import time

import numpy as np

from lrsolve import tensor as lt


def load_claus():
    """Return ``(X, y, emission_nm, excitation_nm)`` or a synthetic stand-in."""
    root = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
    path = pathlib.Path(os.environ.get("LRSOLVE_DATA", root)) / "tensors" / "claus.mat"
    if path.exists():
        import scipy.io

        d = scipy.io.loadmat(str(path))
        return d["X"].astype(np.float64), d["y"], d["EmAx"].ravel(), d["ExAx"].ravel(), True
    rng = np.random.default_rng(0)
    em, ex = np.linspace(250, 450, 201), np.linspace(240, 300, 61)
    B = np.stack([np.exp(-(((em - c) / w) ** 2)) for c, w in ((350, 30), (305, 15), (285, 12))], 1)
    C = np.stack([np.exp(-(((ex - c) / w) ** 2)) for c, w in ((280, 10), (275, 8), (258, 6))], 1)
    y = rng.random((5, 3))
    X = np.einsum("ir,jr,kr->ijk", y, B, C) + 1e-3 * rng.standard_normal((5, 201, 61))
    return X, y, em, ex, False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--tol", type=float, default=0.02, help="relative error of Tucker/TT/TR")
    parser.add_argument("--small", action="store_true", help="fewer CP iterations (a smoke test)")
    parser.add_argument(
        "--out", default="tensor_decompositions.png", help="figure file (matplotlib)"
    )
    args = parser.parse_args(argv)

    X, y, em, ex, real = load_claus()
    print(f"amino-acid fluorescence tensor {X.shape} ({'claus.mat' if real else 'synthetic'})")
    t0 = time.perf_counter()
    model = lt.cp(X, 3, maxiter=200 if args.small else 1000, tol=1e-10, rng=0)
    t_cp = time.perf_counter() - t0
    weights, (A, B, C) = model
    A = A * weights  # concentration scores
    # match components to the known concentrations (up to permutation and scale)
    corr = np.abs(np.corrcoef(A.T, y.T)[:3, 3:])
    order = [int(np.argmax(corr[:, j])) for j in range(3)]
    print(
        f"CP rank 3: {model.n_iter} sweeps, {t_cp:.2f} s, core consistency "
        f"{model.diagnostics['core_consistency']:.1f}%"
    )
    for j, name in enumerate(("Trp", "Tyr", "Phe")):
        print(f"  {name}: correlation with the known concentration {corr[order[j], j]:.4f}")

    fits = {"cp": (model, 3 * (sum(X.shape) + 1), 0.05)}
    fits["tucker"] = (lt.tucker(X, tol=args.tol), None, args.tol)
    fits["tt"] = (lt.tensor_train(X, tol=args.tol), None, args.tol)
    fits["tr"] = (lt.tensor_ring(X, tol=args.tol), None, args.tol)
    print()
    print(f"{'method':<8} {'n_params':>9} {'rel_error':>10} {'bound':>8}")
    for name, (fit, npar, bound) in fits.items():
        if npar is None:
            parts = [fit.core, *fit.factors] if name == "tucker" else list(fit.cores)
            npar = sum(int(np.size(p)) for p in parts)
        print(f"{name:<8} {npar:>9d} {fit.relative_error(X):>10.4f} {bound:>8.4f}")

    if importlib.util.find_spec("matplotlib") is None:
        print("\nmatplotlib is not installed: no figure")
        return 0
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    names = ("Trp", "Tyr", "Phe")
    for j, r in enumerate(order):
        sign = np.sign(B[:, r].sum()) or 1.0
        axes[0].plot(em, sign * B[:, r], label=names[j])
        axes[1].plot(ex, np.sign(C[:, r].sum()) * C[:, r], label=names[j])
        scale = np.linalg.lstsq(A[:, [r]], y[:, j], rcond=None)[0][0]
        top = float(y[:, j].max())
        axes[2].plot(y[:, j] / top, scale * A[:, r] / top, "o", label=names[j])
    axes[0].set_xlabel("emission (nm)")
    axes[1].set_xlabel("excitation (nm)")
    axes[2].set_xlabel("known concentration / its maximum")
    axes[2].set_ylabel("CP score (least-squares scaled)")
    axes[2].plot([0, 1.05], [0, 1.05], "k:", lw=0.8)
    for ax, title in zip(
        axes, ("emission loadings", "excitation loadings", "concentrations"), strict=False
    ):
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"\nfigure written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
