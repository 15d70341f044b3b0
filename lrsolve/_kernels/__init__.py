"""Private kernel table.

Each engine has its own modules: ``_numba*`` (fused Numba loops for the CPU),
``_cupy*`` (CuPy kernels for the GPU) and ``_reference*`` (plain array code that
runs on NumPy and CuPy alike and is the oracle in the kernel tests).  A kernel
does one sweep; Python owns the loop, the stopping test and the callback.

Every kernel module exposes a ``KERNELS`` dict mapping a kernel name to a
callable.  Modules are found by their name's prefix (``_numba_<family>.py``,
``_cupy_<family>.py``, ``_reference_<family>.py``), so a family adds its kernels
without editing this file; a prefixed module without ``KERNELS`` (a helper such
as ``_numba_util``) is ignored.  :func:`get_kernel` looks the name up for a backend's engine and
falls back to the reference module when an engine has no specialised version.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

__all__ = ["get_kernel", "kernel_names"]

_PREFIX = {"numba": ("_numba",), "cupy": ("_cupy",), "numpy": ()}


def _modules(prefix: str) -> tuple:
    names = [m.name for m in pkgutil.iter_modules(__path__)]
    # the generic module first, then the families in name order (a later one may extend)
    return tuple(sorted(n for n in names if n == prefix or n.startswith(prefix + "_")))


@functools.cache
def _table(engine: str) -> dict:
    table: dict = {}
    mods = _modules("_reference")
    for prefix in _PREFIX[engine]:
        mods += _modules(prefix)
    for mod in mods:
        try:
            module = importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{mod}":
                raise
            continue
        table.update(getattr(module, "KERNELS", {}))
    return table


def get_kernel(name: str, engine: str):
    """Return kernel ``name`` for ``engine`` (``"numba"``, ``"numpy"`` or ``"cupy"``)."""
    try:
        return _table(engine)[name]
    except KeyError:
        raise LookupError(f"no kernel {name!r} for engine {engine!r}") from None


def kernel_names(engine: str):
    """Names of the kernels available for ``engine``."""
    return sorted(_table(engine))
