"""Random "smoke around obstacles" scenes: fluid/solid masks for the pressure-projection systems."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["obstacle_mask"]


def obstacle_mask(shape, n_obstacles=4, rng=None, *, radius=(0.06, 0.18), kinds=("ball", "box"),
                  margin=2, fill_pockets=True):
    """Return a boolean fluid mask of a box with random solid obstacles inside.

    Balls (discs in 2-D) and axis-aligned boxes are placed at random in the
    interior of the grid; the cells they cover are solid (``False``).  A
    layer of ``margin`` cells along the domain walls stays fluid, so the fluid
    region touches the walls (with a Dirichlet wall the system is then
    positive definite; see :func:`lrsolve.operators.poisson`).

    Parameters
    ----------
    shape : tuple of int
        Grid shape, 2 or 3 axes.
    n_obstacles : int, optional
        Number of obstacles (default 4).
    rng : int or numpy.random.Generator, optional
        Seed or generator (default: a fresh generator).
    radius : tuple of float, optional
        Range of obstacle radii (half-widths for boxes) as fractions of the
        smallest grid side (default ``(0.06, 0.18)``).
    kinds : tuple of str, optional
        Obstacle kinds to draw from: ``"ball"`` and/or ``"box"``.
    margin : int, optional
        Cells along the walls that are kept fluid (default 2).
    fill_pockets : bool, optional
        Make solid every fluid cell that is not connected (through cell faces)
        to a fluid cell at the domain wall, e.g. a pocket enclosed by
        overlapping obstacles (default True).  With Dirichlet walls the
        system is then positive definite.

    Returns
    -------
    numpy.ndarray
        Boolean array of ``shape``, ``True`` at fluid cells.

    Examples
    --------
    >>> import lrsolve
    >>> mask = lrsolve.deep.obstacle_mask((32, 32), 3, rng=0)
    >>> mask.shape, bool(mask[0, 0]), 0.3 < float(mask.mean()) < 1.0
    ((32, 32), True, True)
    """
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of 2 or 3 ints, got {shape!r}") from None
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(f"shape must have 2 or 3 positive entries, got {shape!r}")
    if isinstance(n_obstacles, bool) or not isinstance(n_obstacles, numbers.Integral) \
            or n_obstacles < 0:
        raise ValueError(f"n_obstacles must be an int >= 0, got {n_obstacles!r}")
    lo, hi = (float(r) for r in radius)
    if not 0 < lo <= hi:
        raise ValueError(f"radius must be (min, max) with 0 < min <= max, got {radius!r}")
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not kinds or any(k not in ("ball", "box") for k in kinds):
        raise ValueError(f"kinds must be a tuple of 'ball' and/or 'box', got {kinds!r}")
    rng = np.random.default_rng(rng)
    mask = np.ones(shape, dtype=bool)
    coords = np.meshgrid(*[np.arange(s) + 0.5 for s in shape], indexing="ij")
    side = min(shape)
    for _ in range(int(n_obstacles)):
        r = rng.uniform(lo, hi) * side
        center = [rng.uniform(margin + r, max(margin + r, s - margin - r)) for s in shape]
        kind = kinds[rng.integers(len(kinds))]
        if kind == "ball":
            dist2 = sum((c - x) ** 2 for c, x in zip(coords, center, strict=True))
            solid = dist2 <= r * r
        else:
            half = [r * rng.uniform(0.5, 1.5) for _ in shape]
            solid = np.ones(shape, dtype=bool)
            for c, x, h in zip(coords, center, half, strict=True):
                solid &= np.abs(c - x) <= h
        mask &= ~solid
    if margin > 0:  # keep the walls fluid
        for d, s in enumerate(shape):
            idx = [slice(None)] * len(shape)
            idx[d] = slice(0, min(margin, s))
            mask[tuple(idx)] = True
            idx[d] = slice(max(s - margin, 0), s)
            mask[tuple(idx)] = True
    if fill_pockets:
        from scipy import ndimage

        labels, count = ndimage.label(mask)
        if count > 1:
            border = np.zeros(shape, dtype=bool)
            for d, s in enumerate(shape):
                idx = [slice(None)] * len(shape)
                idx[d] = 0
                border[tuple(idx)] = True
                idx[d] = s - 1
                border[tuple(idx)] = True
            keep = np.unique(labels[border & mask])
            mask = np.isin(labels, keep[keep > 0])
    return mask
