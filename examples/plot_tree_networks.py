"""
Tucker, tensor train and tree tensor networks: error against size
==================================================================

Which format compresses a tensor best depends on how its modes are correlated.
This script compresses one tensor at a range of tolerances with
:func:`~lrsolve.tensor.sthosvd` (Tucker, a star), :func:`~lrsolve.tensor.tensor_train`
(a chain) and :func:`~lrsolve.tensor.hierarchical_tucker` on the balanced tree (with
the error budget split equally over the nodes and packed globally), and prints a
table ``format  tol  n_params  rel_error``.  With matplotlib installed it plots the
relative error against the number of parameters to ``--out``.

The tensor is the ``Kinetic`` fluorescence tensor (64 x 12 x 10 x 60) from
``$LRSOLVE_DATA/tensors/Kinetic.npy`` (default: the ``shared/data`` folder next to the
repository), or, without it, a smooth 256 x 256 image reshaped to an order-8 tensor of
4 x 4 blocks (``--image``).

Run: ``python examples/plot_tree_networks.py [--image] [--small] [--out FILE]``
"""

import argparse
import importlib.util
import os
import pathlib

import numpy as np

from lrsolve import tensor as lt


def smooth_image(n=256, seed=0):
    """A smooth test image: Gaussian blobs, a ramp, an edge and mild texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:1:n * 1j, 0:1:n * 1j]
    img = 0.3 * x + 0.2 * (y > 0.6)
    for _ in range(12):
        cx, cy, w, a = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.03, 0.2), rng.normal()
        img += a * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * w * w))
    return img + 0.01 * rng.standard_normal((n, n))


def quantized(img):
    """256x256 image -> 4^8 tensor, bits of row and column interleaved (4x4 blocks per level)."""
    bits = img.reshape([2] * 16)  # row bits, then column bits
    order = [b for k in range(8) for b in (k, 8 + k)]
    return bits.transpose(order).reshape([4] * 8)


def load(image):
    """The tensor to compress and its name."""
    root = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
    path = pathlib.Path(os.environ.get("LRSOLVE_DATA", root)) / "tensors" / "Kinetic.npy"
    if not image and path.exists():
        return np.load(path), "Kinetic 64x12x10x60"
    return quantized(smooth_image()), "256x256 image as 4^8"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--image", action="store_true", help="use the 4^8 image tensor")
    parser.add_argument("--small", action="store_true", help="three tolerances (a smoke test)")
    parser.add_argument("--out", default="tree_networks.png", help="figure file (matplotlib)")
    args = parser.parse_args(argv)

    X, name = load(args.image)
    tols = [0.1, 0.05, 0.02] if args.small else list(np.geomspace(0.005, 0.2, 10))
    fits = {
        "Tucker (ST-HOSVD)": lambda t: lt.sthosvd(X, tol=t),
        "TT (TT-SVD)": lambda t: lt.tensor_train(X, tol=t),
        "tree, equal split": lambda t: lt.hierarchical_tucker(X, tol=t, allocation="equal"),
        "tree, global": lambda t: lt.hierarchical_tucker(X, tol=t, allocation="global"),
    }
    print(f"{name}: {X.size} entries")
    print(f"{'format':<20} {'tol':>7} {'n_params':>10} {'rel_error':>10}")
    curves = {}
    for label, fit in fits.items():
        pts = []
        for t in tols:
            model = fit(float(t))
            size = int(sum(a.size for a in model._arrays()))
            err = model.relative_error(X)
            assert err <= t * (1 + 1e-9), (label, t, err)
            pts.append((size, err))
            print(f"{label:<20} {t:7.3g} {size:10d} {err:10.4f}")
        curves[label] = pts

    if importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed: no figure")
        return curves
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, pts in curves.items():
        pts = [(s, e) for s, e in sorted(pts) if e > 1e-6]  # an exact fit would flatten the axis
        if not pts:
            continue
        s, e = zip(*pts, strict=True)
        ax.loglog(s, e, "o-", label=label)
    ax.set_xlabel("parameters")
    ax.set_ylabel("relative error")
    ax.set_title(name)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return curves


if __name__ == "__main__":
    main()
