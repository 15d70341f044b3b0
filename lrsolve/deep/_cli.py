"""The ``lrsolve train-dcdm`` command (wired into :mod:`lrsolve.cli` by ``add_train_parser``)."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

__all__ = ["add_train_parser", "run_train"]


def _pos_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _pos_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def add_train_parser(subparsers):
    """Add the ``train-dcdm`` command to an ``argparse`` sub-parser collection.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``parser.add_subparsers()`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The new sub-parser; its ``func`` default is :func:`run_train`.

    Examples
    --------
    >>> import argparse
    >>> from lrsolve.deep._cli import add_train_parser
    >>> parser = argparse.ArgumentParser(prog="lrsolve")
    >>> p = add_train_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["train-dcdm", "--grid", "32", "32", "--out", "m"])
    >>> args.grid, args.epochs
    ([32, 32], 10)
    """
    p = subparsers.add_parser(
        "train-dcdm",
        help="train a DCDM network on random Poisson scenes (needs torch)",
        description="Train the network of lrsolve.deep.dcdm on Poisson systems with random "
        "obstacles and Dirichlet/Neumann walls (lrsolve.deep.train_dcdm with 'poisson' scenes) "
        "and save it as OUT.pt + OUT.json.",
    )
    p.add_argument("--grid", type=_pos_int, nargs="+", required=True, metavar="N",
                   help="training grid shape, 2 or 3 sizes (e.g. --grid 64 64)")
    p.add_argument("--out", required=True, help="output file name (OUT.pt and OUT.json)")
    p.add_argument("--n-operators", type=_pos_int, default=8, help="random scenes (default 8)")
    p.add_argument("--n-ritz", type=_pos_int, default=256, help="Lanczos steps per scene")
    p.add_argument("--n-samples", type=_pos_int, default=1000, help="right-hand sides in all")
    p.add_argument("--epochs", type=_pos_int, default=10)
    p.add_argument("--batch-size", type=_pos_int, default=16)
    p.add_argument("--lr", type=_pos_float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--levels", type=_pos_int, default=1, help="coarse levels (default 1)")
    p.add_argument("--activation", choices=("relu", "linear"), default="relu",
                   help="network activation (default relu, as in the paper)")
    p.add_argument("--in-channels", type=int, choices=(1, 2), default=2,
                   help="1: residual only; 2 (default): residual and fluid mask")
    p.add_argument("--max-obstacles", type=_pos_int, default=6)
    p.add_argument("--threads", type=_pos_int, default=None, help="torch threads")
    p.add_argument("--device", default="cpu", help="where the network trains: cpu or cuda")
    p.add_argument("--time-limit", type=_pos_float, default=None,
                   help="stop after the epoch in which this many seconds have passed")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (saved every epoch)")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--init", default=None, help="start from this saved model (.pt)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)
    return p


def run_train(args):
    """Handler of ``lrsolve train-dcdm``: train, save, print a summary; return the exit code.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options of the ``train-dcdm`` command.

    Returns
    -------
    int
        0 on success, 2 for bad input.

    Examples
    --------
    >>> import argparse, tempfile, os, contextlib, io
    >>> from lrsolve.deep._cli import add_train_parser, run_train
    >>> parser = argparse.ArgumentParser(prog="lrsolve")
    >>> _ = add_train_parser(parser.add_subparsers(dest="command"))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     args = parser.parse_args(["train-dcdm", "--grid", "8", "8", "--n-operators", "2",
    ...         "--n-ritz", "16", "--n-samples", "20", "--epochs", "1", "--no-progress",
    ...         "--out", os.path.join(d, "m")])
    ...     with contextlib.redirect_stdout(io.StringIO()):
    ...         code = run_train(args)
    ...     sorted(os.listdir(d))
    ['m.json', 'm.pt']
    >>> code
    0
    """
    from ._model import load_model
    from ._train import poisson_scenes, train_dcdm

    grid = tuple(args.grid)
    if len(grid) not in (2, 3):
        print(f"lrsolve train-dcdm: --grid needs 2 or 3 sizes, got {len(grid)}", file=sys.stderr)
        return 2
    gen = poisson_scenes(grid, max_obstacles=args.max_obstacles)
    model = None
    opts = {"levels": args.levels, "activation": args.activation,
            "in_channels": args.in_channels}
    if args.init:
        try:
            model = load_model(args.init, ndim=len(grid))
        except ValueError as exc:
            print(f"lrsolve train-dcdm: {exc}", file=sys.stderr)
            return 2
        import copy

        model = copy.deepcopy(model)
        opts = {}
    t0 = time.perf_counter()
    try:
        res = train_dcdm(
            gen, grid_shape=grid, n_ritz=args.n_ritz, n_samples=args.n_samples,
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
            n_operators=args.n_operators, checkpoint=args.checkpoint, resume=args.resume,
            progress=False if args.no_progress else None, threads=args.threads,
            time_limit=args.time_limit, model=model, device=args.device, **opts,
        )
    except ValueError as exc:
        print(f"lrsolve train-dcdm: {exc}", file=sys.stderr)
        return 2
    argv = getattr(args, "argv", None) or sys.argv[1:]
    meta = {"command": "lrsolve " + " ".join(argv), "wall_seconds": time.perf_counter() - t0}
    res.metadata.update(meta)
    path = res.save(args.out)
    def finite(v):  # JSON has no NaN: a loss with nothing held out is null
        return v if v is not None and math.isfinite(v) else None

    print(json.dumps({"out": str(path), "initial_loss": finite(res.initial_loss),
                      "final_val_loss": finite(res.val_history[-1]) if res.val_history else None,
                      "epochs": len(res.loss_history), "seconds": round(res.seconds, 1)}))
    return 0


def main(argv=None):
    """Run ``train-dcdm`` standalone: ``python -m lrsolve.deep._cli train-dcdm ...``."""
    parser = argparse.ArgumentParser(prog="lrsolve")
    add_train_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.argv = argv
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
