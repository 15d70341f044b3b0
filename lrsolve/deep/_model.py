"""The DCDM network: a small fully convolutional 2-D/3-D net with one coarse level.

PyTorch is imported lazily; the module-level names only describe the network.
"""

from __future__ import annotations

import functools
import json
import math
import pathlib

from ._torch import import_torch

__all__ = ["build_model", "load_model", "save_model", "shipped_models"]

WEIGHTS_DIR = pathlib.Path(__file__).resolve().parent / "weights"
SHIPPED = {2: "poisson2d", 3: "poisson3d"}

# configuration keys missing from older files (those without "bias" had biases)
_DEFAULTS = {"channels": 16, "in_channels": 2, "levels": 1, "n_fine": 2, "n_coarse": 3, "n_up": 2,
             "bias": True, "activation": "relu"}


@functools.cache
def _net_class():
    torch = import_torch()
    nn = torch.nn
    F = torch.nn.functional

    class ResBlock(nn.Module):
        def __init__(self, conv, c, relu):
            super().__init__()
            self.c1 = conv(c, c, 3, padding=1)
            self.c2 = conv(c, c, 3, padding=1)
            self.relu = relu

        def forward(self, h):
            if not self.relu:
                return h + self.c2(self.c1(h))
            return h + F.relu(self.c2(F.relu(self.c1(h))))

    class Level(nn.Module):
        """Average-pool down, convolutions (and the next level), upsample; skip added by caller."""

        def __init__(self, conv, c, n_coarse, deeper, relu):
            super().__init__()
            self.down = conv(c, c, 3, padding=1)
            self.blocks = nn.ModuleList([ResBlock(conv, c, relu) for _ in range(n_coarse)])
            self.deeper = deeper
            self.up = conv(c, c, 3, padding=1)
            self.act = F.relu if relu else (lambda h: h)

        def forward(self, h, pool, mode):
            g = self.act(self.down(pool(h, 2)))
            half = len(self.blocks) // 2 if self.deeper is not None else len(self.blocks)
            for blk in self.blocks[:half]:
                g = blk(g)
            if self.deeper is not None:
                g = g + self.deeper(g, pool, mode)
                for blk in self.blocks[half:]:
                    g = blk(g)
            u = F.interpolate(g, size=h.shape[2:], mode=mode, align_corners=False)
            return self.act(self.up(u))

    class DCDMNet(nn.Module):
        """Fully convolutional net mapping a normalised residual (and mask) to a direction."""

        def __init__(self, ndim, channels=16, in_channels=2, levels=1, n_fine=2, n_coarse=3,
                     n_up=2, bias=False, activation="relu"):
            super().__init__()
            if ndim not in (2, 3):
                raise ValueError(f"ndim must be 2 or 3, got {ndim!r}")
            base = nn.Conv2d if ndim == 2 else nn.Conv3d

            def conv(*a, **kw):
                return base(*a, bias=bias, **kw)

            self.ndim = ndim
            self.config = {"ndim": ndim, "channels": channels, "in_channels": in_channels,
                           "levels": levels, "n_fine": n_fine, "n_coarse": n_coarse,
                           "n_up": n_up, "bias": bias, "activation": activation}
            relu = activation == "relu"
            self._act = F.relu if relu else (lambda h: h)
            c = channels
            self.stem = conv(in_channels, c, 3, padding=1)
            self.fine = nn.ModuleList([ResBlock(conv, c, relu) for _ in range(n_fine)])
            level = None
            for _ in range(levels):
                level = Level(conv, c, n_coarse, level, relu)
            self.level = level
            self.post = nn.ModuleList([ResBlock(conv, c, relu) for _ in range(n_up)])
            self.head = conv(c, 1, 1)
            self._pool = F.avg_pool2d if ndim == 2 else F.avg_pool3d
            self._mode = "bilinear" if ndim == 2 else "trilinear"
            self._multiple = 2 ** levels

        def forward(self, r, mask=None):
            """``r``: (B, *grid) residuals; ``mask``: (B, *grid) or (*grid) fluid mask or None."""
            grid = r.shape[1:]
            if mask is None:
                mask = torch.ones_like(r)
            else:
                mask = mask.to(r.dtype).expand_as(r)
            # unit root-mean-square over the fluid cells: the same amplitude on every grid size
            dims = tuple(range(1, r.ndim))
            ms = (r * r).sum(dims, keepdim=True) / mask.sum(dims, keepdim=True).clamp(min=1)
            r = r / torch.sqrt(ms).clamp(min=1e-30)
            x = torch.stack([r, mask], dim=1) if self.config["in_channels"] == 2 \
                else r.unsqueeze(1)
            # pad odd sizes up to a multiple of 2**levels (zeros: solid, no residual)
            m = self._multiple
            pad = []
            for n in reversed(grid):
                pad += [0, (-n) % m]
            if any(pad):
                x = F.pad(x, pad)
            h = self._act(self.stem(x))
            for blk in self.fine:
                h = blk(h)
            if self.level is not None:
                h = h + self.level(h, self._pool, self._mode)
            for blk in self.post:
                h = blk(h)
            out = self.head(h)[:, 0]
            out = out[(slice(None),) + tuple(slice(0, n) for n in grid)]
            return out * mask

    return DCDMNet


def build_model(ndim, *, channels=16, in_channels=2, levels=1, n_fine=2, n_coarse=3, n_up=2,
                bias=False, activation="relu", seed=None):
    """Return a fresh (untrained) DCDM network.

    The network of Kaneda et al. (2023): 3x3(x3) convolutions with
    ``channels`` filters and ReLU, residual blocks, one coarse level
    (2x average-pool down, convolutions, upsample, added to the fine-level
    skip) and a 1x1 convolution head.  It is fully convolutional, so it
    applies to any grid size (odd sizes are zero-padded to a multiple of
    ``2**levels`` and cropped back).  Its input is the normalised residual
    on the grid and, with ``in_channels=2``, the fluid mask; its output is
    zero at solid cells.

    Parameters
    ----------
    ndim : {2, 3}
        Grid dimension.
    channels : int, optional
        Filters per convolution (default 16, as in the paper).
    in_channels : {1, 2}, optional
        1: the residual only; 2 (default): the residual and the fluid mask.
    levels : int, optional
        Coarse levels (default 1, as in the paper).
    n_fine, n_coarse, n_up : int, optional
        Residual blocks (two convolutions each) before the coarse level, on it,
        and after it (defaults 2, 3, 2).
    bias : bool, optional
        Bias terms in the convolutions (default False: the network is then
        positively homogeneous in the residual, like ``A^{-1}``).
    activation : {"relu", "linear"}, optional
        ``"relu"`` (default, as in the paper) or ``"linear"``: no activation,
        so the network is a linear operator of the residual (a learned linear
        preconditioner; it cannot meet residuals unlike its training data).
    seed : int, optional
        Seed of the initial weights.

    Returns
    -------
    torch.nn.Module
        The network, in float32 on the CPU; ``model(r, mask)`` maps a batch
        ``(B, *grid)`` to a batch of directions of the same shape.

    Examples
    --------
    >>> import lrsolve
    >>> net = lrsolve.deep.build_model(2, seed=0)
    >>> sum(p.numel() for p in net.parameters()) < 50_000
    True
    """
    torch = import_torch()
    for name, v in (("channels", channels), ("levels", levels), ("n_fine", n_fine),
                    ("n_coarse", n_coarse), ("n_up", n_up)):
        if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "channels" else 0):
            raise ValueError(f"{name} must be a non-negative int (channels >= 1), got {v!r}")
    if activation not in ("relu", "linear"):
        raise ValueError(f"activation must be 'relu' or 'linear', got {activation!r}")
    if in_channels not in (1, 2):
        raise ValueError(f"in_channels must be 1 (residual) or 2 (residual + mask), got "
                         f"{in_channels!r}")
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return _net_class()(ndim, channels, in_channels, levels, n_fine, n_coarse, n_up,
                                bool(bias), activation)
    return _net_class()(ndim, channels, in_channels, levels, n_fine, n_coarse, n_up, bool(bias),
                        activation)


def save_model(model, path, metadata=None):
    """Save a DCDM network as ``<path>.pt`` (weights) and ``<path>.json`` (configuration).

    Parameters
    ----------
    model : torch.nn.Module
        A network from :func:`build_model` or :func:`train_dcdm`.
    path : str or pathlib.Path
        File name without (or with) the ``.pt`` suffix.
    metadata : dict, optional
        JSON-serialisable facts stored next to the configuration (e.g. the
        training command and time).

    Returns
    -------
    pathlib.Path
        The ``.pt`` file written.

    Examples
    --------
    >>> import tempfile, pathlib, lrsolve
    >>> net = lrsolve.deep.build_model(2, seed=0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = lrsolve.deep.save_model(net, pathlib.Path(d) / "mine")
    ...     net2 = lrsolve.deep.load_model(p)
    >>> net2.config == net.config
    True
    """
    torch = import_torch()
    path = pathlib.Path(path)
    if path.suffix == ".pt":
        path = path.with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32).contiguous()
             for k, v in model.state_dict().items()}
    torch.save(state, path.with_suffix(".pt"))
    meta = {"config": dict(model.config), "format": 1}
    if metadata:
        meta.update(metadata)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return path.with_suffix(".pt")


def shipped_models():
    """Return the names of the pretrained models shipped with lrsolve.

    Returns
    -------
    dict
        ``{grid dimension: name}`` for the models whose weights are present.

    Examples
    --------
    >>> import lrsolve
    >>> sorted(lrsolve.deep.shipped_models())
    [2, 3]
    """
    return {nd: name for nd, name in SHIPPED.items() if (WEIGHTS_DIR / f"{name}.pt").exists()}


@functools.lru_cache(maxsize=8)
def _load_cached(path_str, mtime):
    return _load(pathlib.Path(path_str))


def _load(path):
    torch = import_torch()
    meta_path = path.with_suffix(".json")
    if not meta_path.exists():
        raise ValueError(f"model {path} has no {meta_path.name} next to it (its configuration); "
                         "save models with lrsolve.deep.save_model")
    meta = json.loads(meta_path.read_text())
    cfg = dict(_DEFAULTS)
    cfg.update(meta["config"])
    ndim = cfg.pop("ndim")
    net = _net_class()(ndim, **cfg)
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    net.eval()
    net.metadata = meta
    return net


def load_model(model="auto", ndim=None):
    """Load a DCDM network: a shipped one by name or grid dimension, or a saved file.

    Parameters
    ----------
    model : str, pathlib.Path or torch.nn.Module, optional
        ``"auto"`` (default): the shipped model for ``ndim``; ``"poisson2d"``
        or ``"poisson3d"``: a shipped model; a path to a ``.pt`` file written
        by :func:`save_model`; or a network, returned as it is.
    ndim : {2, 3}, optional
        Grid dimension, needed by ``"auto"``.

    Returns
    -------
    torch.nn.Module
        The network in evaluation mode (float32, CPU); loaded files are cached,
        so do not modify the returned network in place.

    Examples
    --------
    >>> import lrsolve
    >>> net = lrsolve.deep.load_model("auto", ndim=2)
    >>> net.config["ndim"], net.config["channels"]
    (2, 16)
    """
    import_torch()
    if not isinstance(model, (str, pathlib.PurePath)):
        if hasattr(model, "forward") and hasattr(model, "config"):
            return model
        raise TypeError(
            "model must be 'auto', a shipped model name, a path to a .pt file or a network "
            f"from lrsolve.deep.build_model, got {type(model).__name__}"
        )
    if isinstance(model, str) and model == "auto":
        if ndim not in SHIPPED:
            raise ValueError(f"model='auto' needs a 2-D or 3-D grid, got ndim={ndim!r}")
        model = SHIPPED[ndim]
    if isinstance(model, str) and model in SHIPPED.values():
        path = WEIGHTS_DIR / f"{model}.pt"
        if not path.exists():
            raise ValueError(f"the shipped model {model!r} is missing from {WEIGHTS_DIR}; "
                             "reinstall lrsolve or train one with lrsolve.deep.train_dcdm")
    else:
        path = pathlib.Path(model)
        if path.suffix != ".pt":
            path = path.with_suffix(".pt")
        if not path.exists():
            raise ValueError(
                f"model {str(model)!r} is neither a shipped model ({sorted(SHIPPED.values())}) "
                "nor an existing .pt file"
            )
    path = path.resolve()
    net = _load_cached(str(path), path.stat().st_mtime)
    if ndim is not None and net.config["ndim"] != ndim:
        raise ValueError(f"model {path.name} is for {net.config['ndim']}-D grids, the grid is "
                         f"{ndim}-D; pass a {ndim}-D model")
    return net


def n_parameters(model):
    """Number of trainable parameters (a helper for reports)."""
    return int(sum(math.prod(p.shape) for p in model.parameters()))
