"""Training of the DCDM network: Ritz-vector data and the scale-invariant line-search loss."""

from __future__ import annotations

import dataclasses
import math
import numbers
import pathlib
import time

import numpy as np

from ._torch import import_torch

__all__ = ["TrainResult", "train_dcdm", "ritz_vectors", "poisson_scenes"]


# ----------------------------------------------------------------------------- systems
@dataclasses.dataclass
class _System:
    A: object  # scipy CSR on the fluid unknowns
    grid_shape: tuple
    mask: np.ndarray | None  # boolean grid, None = every cell is an unknown


def _as_system(op, grid_shape):
    """A training system: the host CSR matrix, the grid and the mask."""
    import scipy.sparse as sp

    from .._backend import to_numpy

    mask = getattr(op, "mask", None)
    g = getattr(op, "grid_shape", None)
    if g is None:
        if grid_shape is None:
            raise ValueError("grid_shape is needed for a matrix without a grid (e.g. a sparse "
                             "matrix): pass grid_shape=(ny, nx) or (nz, ny, nx)")
        g = tuple(grid_shape)
    g = tuple(int(s) for s in g)
    if grid_shape is not None and tuple(grid_shape) != g:
        raise ValueError(f"the operator's grid {g} differs from grid_shape={tuple(grid_shape)}")
    if len(g) not in (2, 3):
        raise ValueError(f"DCDM needs a 2-D or 3-D grid, got grid_shape={g}")
    if sp.issparse(op):
        A = sp.csr_matrix(op)
    elif hasattr(op, "tocsr"):
        A = op.tocsr()
        if not sp.issparse(A):  # cupyx
            A = A.get()
        A = sp.csr_matrix(A)
    elif hasattr(op, "__array__"):
        A = sp.csr_matrix(np.asarray(to_numpy(op)))
    else:
        raise TypeError("operator_or_generator must give operators with tocsr() (e.g. "
                        "lrsolve.operators.poisson), sparse matrices or dense arrays, got "
                        f"{type(op).__name__}")
    n = A.shape[0] if mask is None else int(np.count_nonzero(mask))
    if A.shape != (n, n) or (mask is None and n != math.prod(g)):
        raise ValueError(f"the matrix of shape {A.shape} does not match the grid {g}"
                         + ("" if mask is None else f" with {n} fluid cells"))
    return _System(A.astype(np.float64), g, None if mask is None else np.asarray(mask, bool))


def poisson_scenes(grid_shape, *, bcs=("dirichlet", "neumann"), max_obstacles=6,
                   empty_fraction=0.25):
    """Return a generator of random Poisson systems: the shipped models' training mix.

    Each call ``gen(rng)`` returns :func:`lrsolve.operators.poisson` on
    ``grid_shape`` with a wall condition drawn from ``bcs`` and, with
    probability ``1 - empty_fraction``, between 1 and ``max_obstacles`` random
    solid obstacles (:func:`lrsolve.deep.obstacle_mask`).

    Parameters
    ----------
    grid_shape : tuple of int
        Grid shape (2 or 3 axes).
    bcs : tuple of str, optional
        Domain wall conditions to draw from (default Dirichlet and Neumann).
    max_obstacles : int, optional
        Most obstacles per scene (default 6).
    empty_fraction : float, optional
        Share of scenes without obstacles (the full box; default 0.25).

    Returns
    -------
    callable
        ``gen(rng) -> operator``.

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> gen = lrsolve.deep.poisson_scenes((16, 16))
    >>> A = gen(np.random.default_rng(0))
    >>> A.shape[0] <= 256
    True
    """
    from ..operators import poisson
    from ._scenes import obstacle_mask

    grid_shape = tuple(int(s) for s in grid_shape)
    bcs = tuple(bcs)

    def gen(rng):
        bc = bcs[int(rng.integers(len(bcs)))]
        if rng.random() < empty_fraction:
            return poisson(grid_shape, bc=bc, mask=np.ones(grid_shape, dtype=bool))
        k = int(rng.integers(1, max_obstacles + 1))
        return poisson(grid_shape, bc=bc, mask=obstacle_mask(grid_shape, k, rng))

    gen.grid_shape = grid_shape
    return gen


# ----------------------------------------------------------------------------- Lanczos
def ritz_vectors(A, n_ritz, rng=None, *, drop_tol=1e-8):
    """Ritz pairs of a symmetric matrix from ``n_ritz`` Lanczos steps (full reorthogonalisation).

    As in the DCDM paper, the Lanczos process starts from ``A v`` for a random
    ``v`` (so it stays in the range of a singular ``A``); Ritz values below
    ``drop_tol`` times the largest are dropped.

    Parameters
    ----------
    A : sparse matrix or ndarray
        Symmetric (semi)definite matrix ``(n, n)``.
    n_ritz : int
        Lanczos steps (at most ``n``).
    rng : int or numpy.random.Generator, optional
        Seed of the start vector.
    drop_tol : float, optional
        Relative threshold of the dropped (near-null) Ritz values.

    Returns
    -------
    values : numpy.ndarray
        Ritz values, ascending.
    vectors : numpy.ndarray
        Orthonormal Ritz vectors ``(n, m)``, one per column.

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> A = lrsolve.operators.poisson((8, 8)).tocsr()
    >>> vals, vecs = lrsolve.deep.ritz_vectors(A, 64, rng=0)
    >>> exact = np.linalg.eigvalsh(A.toarray())
    >>> float(abs(vals[:, None] - exact).min(axis=1).max()) < 1e-8  # every Ritz value is exact
    True
    """
    from scipy.linalg import eigh_tridiagonal

    rng = np.random.default_rng(rng)
    n = A.shape[0]
    if isinstance(n_ritz, bool) or not isinstance(n_ritz, numbers.Integral) or n_ritz < 1:
        raise ValueError(f"n_ritz must be an int >= 1, got {n_ritz!r}")
    m = min(int(n_ritz), n)
    V = np.empty((m, n))  # rows: Lanczos vectors
    alpha = np.empty(m)
    beta = np.empty(m)
    v = A @ rng.standard_normal(n)
    nv = np.linalg.norm(v)
    if nv == 0:
        return np.empty(0), np.empty((n, 0))
    v = v / nv
    k = 0
    for j in range(m):
        V[j] = v
        w = A @ v
        alpha[j] = v @ w
        # full reorthogonalisation, twice (classical Gram-Schmidt)
        for _ in range(2):
            w -= V[: j + 1].T @ (V[: j + 1] @ w)
        beta[j] = np.linalg.norm(w)
        k = j + 1
        if beta[j] <= 1e-10 * max(abs(alpha[: j + 1]).max(), 1e-300):
            break
        v = w / beta[j]
    vals, S = eigh_tridiagonal(alpha[:k], beta[: k - 1])
    vecs = V[:k].T @ S
    keep = vals > drop_tol * max(abs(vals).max(), 1e-300)
    return vals[keep], vecs[:, keep]


def _make_rhs(vecs, count, rng, low_fraction, low_weight):
    """Random combinations of Ritz vectors, the lowest ``low_fraction`` weighted ``low_weight``x."""
    m = vecs.shape[1]
    c = rng.standard_normal((m, count))
    n_low = int(math.ceil(low_fraction * m))
    c[:n_low] *= low_weight
    B = vecs @ c
    B /= np.linalg.norm(B, axis=0, keepdims=True)
    return B.T  # (count, n)


# ----------------------------------------------------------------------------- result
@dataclasses.dataclass
class TrainResult:
    """What :func:`train_dcdm` returns.

    Attributes
    ----------
    model : torch.nn.Module
        The trained network (evaluation mode, CPU, float32).
    loss_history : list of float
        Mean training loss per epoch.
    val_history : list of float
        Validation loss per epoch (10 % of the samples held out).
    initial_loss : float
        Validation loss of the untrained network.
    seconds : float
        Training time (data generation included).
    data_seconds : float
        Time spent on Lanczos and data generation.
    metadata : dict
        Settings of the run (also written next to the checkpoint).

    Examples
    --------
    >>> import lrsolve
    >>> A = lrsolve.operators.poisson((8, 8))
    >>> res = lrsolve.deep.train_dcdm(A, grid_shape=(8, 8), n_ritz=16, n_samples=20,
    ...                               epochs=2, batch_size=10, seed=0)
    >>> len(res.loss_history)
    2
    """

    model: object
    loss_history: list
    val_history: list
    initial_loss: float
    seconds: float
    data_seconds: float
    metadata: dict

    def save(self, path):
        """Save the model and the run's metadata (see :func:`lrsolve.deep.save_model`).

        Parameters
        ----------
        path : str or pathlib.Path
            File name, with or without ``.pt``.

        Returns
        -------
        pathlib.Path
            The ``.pt`` file written.

        Examples
        --------
        >>> import tempfile, pathlib, lrsolve
        >>> res = lrsolve.deep.train_dcdm(lrsolve.operators.poisson((8, 8)), grid_shape=(8, 8),
        ...                               n_ritz=16, n_samples=20, epochs=1, seed=0)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = res.save(pathlib.Path(d) / "net")
        ...     p.name
        'net.pt'
        """
        from ._model import save_model

        meta = dict(self.metadata)
        meta.update({"loss_history": self.loss_history, "val_history": self.val_history,
                     "initial_loss": self.initial_loss, "train_seconds": self.seconds})
        return save_model(self.model, path, meta)


# ----------------------------------------------------------------------------- training
def _torch_matrix(torch, A):
    coo = A.tocoo()
    idx = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    val = torch.from_numpy(coo.data.astype(np.float32))
    return torch.sparse_coo_tensor(idx, val, A.shape, check_invariants=False).coalesce()


def _loss(torch, net, At, B, grid_shape, mask_t, eps=1e-30):
    """Mean over the batch of ``||b - A (q^T b / q^T A q) q||^2`` for ``q = net(b)``."""
    nb = B.shape[0]
    if mask_t is None:
        r = B.reshape((nb,) + grid_shape)
        q = net(r).reshape(nb, -1)
        Q = q
    else:
        r = torch.zeros((nb,) + grid_shape, dtype=B.dtype, device=B.device)
        r[:, mask_t] = B
        q = net(r, mask_t)
        Q = q[:, mask_t]
    AQ = torch.sparse.mm(At, Q.T).T
    qb = (Q * B).sum(1)
    qAq = (Q * AQ).sum(1)
    alpha = qb / torch.clamp(qAq, min=eps)
    res = B - alpha[:, None] * AQ
    return (res * res).sum(1).mean()


def _check_int(name, v, lo=1):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    return int(v)


def train_dcdm(operator_or_generator, *, grid_shape=None, n_ritz=256, n_samples=1000,
               epochs=10, batch_size=16, lr=1e-3, seed=None, rng=None, n_operators=8,
               low_fraction=0.55, low_weight=9.0, model=None, checkpoint=None, resume=False,
               progress=None, threads=None, time_limit=None, device=None, **model_options):
    """Train a DCDM network on Poisson-type systems (the recipe of Kaneda et al., 2023).

    Data: for each training matrix, ``n_ritz`` Lanczos steps (started from
    ``A v``, ``v`` random) give Ritz vectors; right-hand sides are Gaussian
    random combinations of them, with the lowest ``low_fraction`` of the
    spectrum weighted ``low_weight`` times more (9x in the paper), normalised.
    Loss: the residual after an exact line search along the network's
    output ``q = net(b)``, ``||b - A (q^T b / q^T A q) q||^2``, which does not
    depend on the scale of ``q``; ``A`` is applied inside torch as a sparse
    product.  Adam optimiser; 10 % of the samples are held out for validation.

    Parameters
    ----------
    operator_or_generator : operator, sparse matrix, list of them, callable or "poisson"
        The training systems: one operator (e.g.
        ``lrsolve.operators.poisson(shape, mask=...)``) or sparse matrix (with
        ``grid_shape``), a list of them, a callable ``gen(rng)`` returning
        one (called ``n_operators`` times), or ``"poisson"`` for
        :func:`poisson_scenes` on ``grid_shape`` (Dirichlet and Neumann walls,
        random obstacles: the shipped models' mix).
    grid_shape : tuple of int, optional
        Grid of the systems (2 or 3 axes); read from the operators when they
        have one.
    n_ritz : int, optional
        Lanczos steps (Ritz vectors) per matrix (default 256).
    n_samples : int, optional
        Right-hand sides in total, shared among the matrices (default 1000).
    epochs : int, optional
        Passes over the training samples (default 10).
    batch_size : int, optional
        Samples per optimiser step (default 16).
    lr : float, optional
        Adam learning rate (default 1e-3).
    seed : int, optional
        Seed of everything random (data, initial weights, shuffling): the same
        seed and settings give the same network.
    rng : numpy.random.Generator, optional
        Alternative to ``seed`` for the data (the weights then use a seed drawn
        from it).
    n_operators : int, optional
        Calls of a generator (default 8).
    low_fraction, low_weight : float, optional
        Share of the low Ritz values that get the larger weight, and the
        weight (defaults 0.55 and 9, as in the paper).
    model : torch.nn.Module, optional
        Network to continue training (default: :func:`build_model` with
        ``model_options``).  It is not modified: a copy is trained and returned
        as the result's ``model``.
    checkpoint : str or pathlib.Path, optional
        Save the model (and optimiser state in ``<checkpoint>.ckpt``) after
        every epoch.
    resume : bool, optional
        Continue from ``checkpoint`` when it exists (default False).
    progress : bool, optional
        Show a tqdm progress bar (default: when tqdm is installed and stderr
        is a terminal).
    threads : int, optional
        ``torch.set_num_threads`` during training (restored afterwards).
    time_limit : float, optional
        Stop after the epoch during which this many seconds have passed.
    device : str or torch.device, optional
        Where the network trains (``"cpu"``, the default, or ``"cuda"``).  The data (Ritz
        vectors) are always made on the host; the returned model is on the CPU.
    **model_options
        Passed to :func:`build_model` (``channels``, ``levels``, ...).

    Returns
    -------
    TrainResult
        The trained model, loss histories, timings and metadata.

    Examples
    --------
    >>> import lrsolve
    >>> A = lrsolve.operators.poisson((12, 12))
    >>> res = lrsolve.deep.train_dcdm(A, n_ritz=48, n_samples=48, epochs=2, batch_size=8,
    ...                               lr=3e-3, seed=0)
    >>> res.val_history[-1] < res.initial_loss
    True
    """
    torch = import_torch()
    from ._model import build_model, save_model

    try:
        dev = torch.device("cpu" if device is None else device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device must be 'cpu', 'cuda' or a torch.device, got {device!r}") \
            from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: torch sees no CUDA device here; use device='cpu'")
    t0 = time.perf_counter()
    n_ritz = _check_int("n_ritz", n_ritz)
    n_samples = _check_int("n_samples", n_samples, 2)
    epochs = _check_int("epochs", epochs, 0)
    batch_size = _check_int("batch_size", batch_size)
    n_operators = _check_int("n_operators", n_operators)
    if not (isinstance(lr, numbers.Real) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    for name, val in (("low_weight", low_weight), ("low_fraction", low_fraction)):
        if not (isinstance(val, numbers.Real) and math.isfinite(val) and val >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {val!r}")
    if time_limit is not None and not (isinstance(time_limit, numbers.Real)
                                       and time_limit > 0):
        raise ValueError(f"time_limit must be a positive number of seconds or None, got "
                         f"{time_limit!r}")
    if rng is not None and seed is not None:
        raise ValueError("give seed or rng, not both")
    # an int rng is a seed, as elsewhere in lrsolve
    gen_rng = np.random.default_rng(seed if rng is None else rng)
    torch_seed = int(gen_rng.integers(2**31)) if seed is None else int(seed)

    # -- the systems
    src = operator_or_generator
    if isinstance(src, str):
        if src != "poisson":
            raise ValueError(f"operator_or_generator as a string must be 'poisson', got {src!r}")
        if grid_shape is None:
            raise ValueError("operator_or_generator='poisson' needs grid_shape")
        src = poisson_scenes(grid_shape)
    if isinstance(src, (list, tuple)):
        systems = [_as_system(op, grid_shape) for op in src]
    elif callable(src) and not hasattr(src, "tocsr") and not hasattr(src, "shape"):
        systems = [_as_system(src(gen_rng), grid_shape) for _ in range(n_operators)]
    else:
        systems = [_as_system(src, grid_shape)]
    if not systems:
        raise ValueError("operator_or_generator gave no system")
    ndim = len(systems[0].grid_shape)
    if any(len(s.grid_shape) != ndim for s in systems):
        raise ValueError("all training systems must have the same grid dimension")

    # -- the data: Ritz vectors and biased random combinations
    data = []  # (system index, matrix of rhs)
    per = [n_samples // len(systems) + (i < n_samples % len(systems))
           for i in range(len(systems))]
    for i, (s, count) in enumerate(zip(systems, per, strict=True)):
        if count == 0:
            continue
        vals, vecs = ritz_vectors(s.A, n_ritz, gen_rng)
        if vecs.shape[1] == 0:
            raise ValueError(f"training matrix {i} is zero: no Ritz vector")
        data.append((i, _make_rhs(vecs, count, gen_rng, low_fraction, low_weight)))
    data_seconds = time.perf_counter() - t0

    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(_check_int("threads", threads))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed)
            if model is None:
                model = build_model(ndim, **model_options)
            elif model_options:
                raise ValueError("give model or model options, not both")
            else:
                import copy

                # the caller's network (perhaps the cached shipped one that every
                # dcdm(model="auto") uses) is not modified: a copy is trained
                model = copy.deepcopy(model)
            model = model.to(dev)
            mats = [_torch_matrix(torch, s.A).to(dev) for s in systems]
            masks = [None if s.mask is None else torch.from_numpy(np.array(s.mask)).to(dev)
                     for s in systems]
            # split every system's samples 90/10
            train, val = [], []
            for i, B in data:
                Bt = torch.from_numpy(B.astype(np.float32)).to(dev)
                nv = max(1, len(Bt) // 10) if len(Bt) > 1 else 0
                val.append((i, Bt[:nv]))
                train.append((i, Bt[nv:]))
            opt = torch.optim.Adam(model.parameters(), lr=float(lr))
            start_epoch = 0
            hist, vhist = [], []
            ck = None if checkpoint is None else pathlib.Path(checkpoint)
            if ck is not None and ck.suffix == ".pt":
                ck = ck.with_suffix("")
            if resume and ck is not None and ck.with_suffix(".ckpt").exists():
                st = torch.load(ck.with_suffix(".ckpt"), weights_only=False, map_location=dev)
                model.load_state_dict(st["model"])
                opt.load_state_dict(st["opt"])
                start_epoch, hist, vhist = st["epoch"], st["loss"], st["val"]
                torch.set_rng_state(st["torch_rng"])

            def evaluate():
                model.eval()
                tot, cnt = 0.0, 0
                with torch.no_grad():
                    for i, Bt in val:
                        for j in range(0, len(Bt), batch_size):
                            Bb = Bt[j: j + batch_size]
                            s = systems[i]
                            tot += float(_loss(torch, model, mats[i], Bb, s.grid_shape,
                                               masks[i])) * len(Bb)
                            cnt += len(Bb)
                model.train()
                return tot / cnt if cnt else float("nan")  # nothing held out: no value

            initial = evaluate() if not vhist else float("nan")
            batches = []
            for i, Bt in train:
                for j in range(0, len(Bt), batch_size):
                    batches.append((i, j))
            train_by_sys = dict(train)
            bar = _progress(progress, (epochs - start_epoch) * len(batches))
            model.train()
            for ep in range(start_epoch, epochs):
                perm = torch.randperm(len(batches)).tolist()
                tot, cnt = 0.0, 0
                for p in perm:
                    i, j = batches[p]
                    Bt = train_by_sys[i]
                    Bb = Bt[j: j + batch_size]
                    s = systems[i]
                    loss = _loss(torch, model, mats[i], Bb, s.grid_shape, masks[i])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    tot += float(loss.detach()) * len(Bb)
                    cnt += len(Bb)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(epoch=ep + 1, loss=f"{float(loss.detach()):.4f}")
                hist.append(tot / max(cnt, 1))
                vhist.append(evaluate())
                if ck is not None:
                    save_model(model, ck, {"epoch": ep + 1, "loss_history": hist,
                                           "val_history": vhist})
                    torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                                "epoch": ep + 1, "loss": hist, "val": vhist,
                                "torch_rng": torch.get_rng_state()}, ck.with_suffix(".ckpt"))
                if time_limit is not None and time.perf_counter() - t0 > time_limit:
                    break
            if bar is not None:
                bar.close()
    finally:
        torch.set_num_threads(old_threads)
    model = model.to("cpu")
    model.eval()
    meta = {
        "grid_shapes": sorted({tuple(s.grid_shape) for s in systems}),
        "n_systems": len(systems), "n_ritz": n_ritz, "n_samples": n_samples,
        "epochs_done": len(hist), "batch_size": batch_size, "lr": float(lr),
        "seed": seed, "low_fraction": low_fraction, "low_weight": low_weight,
        "torch": torch.__version__,
    }
    return TrainResult(model, hist, vhist, initial, time.perf_counter() - t0, data_seconds, meta)


def _progress(progress, total):
    if progress is False:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if progress:
            raise ImportError("progress=True needs tqdm: pip install tqdm") from None
        return None
    if progress is None:
        import sys

        if not sys.stderr.isatty():
            return None
    return tqdm(total=total, desc="train-dcdm", unit="batch")
