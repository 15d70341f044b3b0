"""The device of the ``gpu`` sections of the ``compare_*.py`` scripts (imported by them).

``LRSOLVE_GPU_DRYRUN=1`` runs a section's code on NumPy (a smoke test of the script on
a machine without CUDA; its timings mean nothing).
"""

from __future__ import annotations

import os

import numpy as np


def dry_run():
    """True when ``LRSOLVE_GPU_DRYRUN`` asks for NumPy in place of the device."""
    return os.environ.get("LRSOLVE_GPU_DRYRUN", "") not in ("", "0")


def device():
    """``(xp, synchronize, name)``: CuPy and the device, or NumPy under a dry run."""
    if dry_run():
        return np, (lambda: None), "numpy standing in for the device (LRSOLVE_GPU_DRYRUN=1)"
    import cupy

    def sync():
        cupy.cuda.get_current_stream().synchronize()

    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    return cupy, sync, f"{name}, CuPy {cupy.__version__}"
