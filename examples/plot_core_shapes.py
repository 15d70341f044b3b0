"""Tucker core shapes under a parameter budget: packing vs greedy vs uniform.

For a tensor with decaying mode spectra, choose the core shape for budgets from 1% to 20%
of the tensor size with the exact Tucker packing problem, the sigma^2-greedy and TensorLy's
uniform scaling, fit each shape with HOOI, and print / plot the relative errors.

Run ``python examples/plot_core_shapes.py --out core_shapes.png`` (``--small`` for a quick run).
"""

import argparse

import numpy as np

from lrsolve.tensor import tucker_core_shape, tucker_spectra
from lrsolve.tensor.selection._utils import hooi, mode_dot


def decaying_tensor(shape, rates, rng):
    """Random orthogonal mixing of a core whose mode spectra decay geometrically."""
    X = rng.standard_normal(shape)
    for n, (i, a) in enumerate(zip(shape, rates, strict=False)):
        X = np.moveaxis(np.moveaxis(X, n, -1) * a ** np.arange(i), -1, n)
    for n, i in enumerate(shape):
        X = mode_dot(np, X, np.linalg.qr(rng.standard_normal((i, i)))[0], n)
    return X


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="a 40x30x10 tensor (seconds)")
    ap.add_argument("--out", default=None, help="write the plot to this file (needs matplotlib)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    shape = (40, 30, 10) if args.small else (80, 70, 14)
    X = decaying_tensor(shape, (0.93, 0.9, 0.75), rng)
    spec = tucker_spectra(X)
    fracs = [0.01, 0.02, 0.05, 0.1, 0.2]
    print(f"{'budget':>8} {'packing':>10} {'greedy':>10} {'uniform':>10}")
    rows = []
    for f in fracs:
        B = int(f * X.size)
        errs = []
        for method in ("packing", "greedy", "uniform"):
            r = tucker_core_shape(X, B, method=method, spectra=spec)
            errs.append(hooi(np, X, r, n_iter=10)[0])
        rows.append((B, *errs))
        print(f"{B:8d} {errs[0]:10.4e} {errs[1]:10.4e} {errs[2]:10.4e}")
    if args.out:
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed; no plot written")
            return
        rows = np.array(rows)
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for j, name in enumerate(("packing", "greedy", "uniform"), start=1):
            ax.plot(rows[:, 0], rows[:, j], "o-", label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameter budget")
        ax.set_ylabel("HOOI relative error")
        ax.set_title(f"Tucker core shapes, tensor {shape}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.out, dpi=100)


if __name__ == "__main__":
    main()
