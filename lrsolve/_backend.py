"""Backend dispatch: the inputs' array type picks NumPy+SciPy or CuPy+cupyx.

Rules
-----
* A CuPy array, a ``cupyx.scipy.sparse`` matrix, a cupyx ``LinearOperator`` or
  an lrsolve operator living on the GPU selects the ``cupy`` backend.
* NumPy arrays, SciPy sparse matrices/arrays, SciPy ``LinearOperator`` objects,
  lists and scalars select the ``numpy`` backend -- unless the user asked for
  ``set_backend("cupy")``: then host inputs are moved to the device once, the
  computation runs there and results come back as NumPy arrays.
* Mixing the two raises :class:`TypeError`.  Nothing is ever copied between
  host and device inside an iteration.

CuPy is detected by the module name of the input's type, so ``import lrsolve``
never imports CuPy (nor torch, nor dask).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from . import _config

__all__ = [
    "Backend",
    "get_backend",
    "set_backend",
    "backend",
    "show_config",
    "cupy_available",
    "to_numpy",
]


# --------------------------------------------------------------------------- detection
def _module_root(obj) -> str:
    return type(obj).__module__.partition(".")[0]


def array_kind(obj) -> str | None:
    """Return ``"cupy"``, ``"numpy"`` or ``None`` (no information) for one input."""
    if obj is None or isinstance(obj, (bool, int, float, complex, str)):
        return None
    kind = getattr(obj, "_lrsolve_backend", None)
    if isinstance(kind, str):
        return kind
    root = _module_root(obj)
    if root in ("cupy", "cupyx"):
        return "cupy"
    if isinstance(obj, (np.ndarray, np.generic, list, tuple)):
        return "numpy"
    if root == "scipy":
        return "numpy"
    if callable(obj):
        return None
    return None


@functools.cache
def _cupy_modules():
    """Import cupy and cupyx.scipy (only ever called when the cupy backend is used)."""
    try:
        cupy = importlib.import_module("cupy")
        cupyx_scipy = importlib.import_module("cupyx.scipy")
        importlib.import_module("cupyx.scipy.sparse")
        importlib.import_module("cupyx.scipy.sparse.linalg")
        importlib.import_module("cupyx.scipy.linalg")
    except Exception as exc:  # ImportError, CUDA driver errors
        raise RuntimeError(
            "the 'cupy' backend needs CuPy with a working CUDA device: "
            "install it with `pip install lrsolve[gpu]` (or the cupy wheel matching your CUDA), "
            f"or use set_backend('numpy'). Import failed with: {exc!r}"
        ) from exc
    return cupy, cupyx_scipy


@functools.cache
def cupy_available() -> bool:
    """Return True when CuPy imports and sees at least one CUDA device.

    Returns
    -------
    bool
        Whether the ``cupy`` backend can be used on this machine.

    Examples
    --------
    >>> import lrsolve
    >>> isinstance(lrsolve.cupy_available(), bool)
    True
    """
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        cupy, _ = _cupy_modules()
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


# --------------------------------------------------------------------------- backend record
@dataclass(frozen=True)
class Backend:
    """Where and how one call computes.

    Attributes
    ----------
    name : {"numpy", "cupy"}
        Array library of the computation.
    xp : module
        ``numpy`` or ``cupy``.
    xsp : module
        ``scipy`` or ``cupyx.scipy``.
    engine : {"numba", "numpy", "cupy"}
        Which kernel module runs the fused loops.
    host_io : bool
        True when the inputs live on the host but the computation runs on the
        device: inputs are moved once and results returned as NumPy arrays.
    """

    name: str
    xp: ModuleType
    xsp: ModuleType
    engine: str
    host_io: bool = False

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy"

    def asarray(self, x, dtype=None):
        """Return ``x`` as an array of this backend (a host->device copy only for host_io)."""
        if self.name == "cupy" and array_kind(x) == "numpy" and not self.host_io:
            raise TypeError(
                "a NumPy array was given next to CuPy inputs; convert it with cupy.asarray(...) "
                "first (lrsolve never copies between host and device silently)"
            )
        return self.xp.asarray(x, dtype=dtype)

    def to_output(self, x):
        """Convert a result to the caller's array type."""
        if self.host_io and x is not None:
            return self.xp.asnumpy(x)
        return x

    def to_host(self, x):
        """Return a NumPy copy of ``x`` (used for histories and scalars only)."""
        if self.name == "cupy":
            return self.xp.asnumpy(x)
        return np.asarray(x)

    def synchronize(self):
        """Wait for the device (no-op on the CPU)."""
        if self.name == "cupy":
            self.xp.cuda.get_current_stream().synchronize()


@functools.cache
def _make_backend(name: str, engine: str, host_io: bool) -> Backend:
    if name == "numpy":
        import scipy
        import scipy.linalg  # noqa: F401
        import scipy.sparse  # noqa: F401
        import scipy.sparse.linalg  # noqa: F401

        if engine == "numba" and not numba_available():
            engine = "numpy"
        return Backend("numpy", np, scipy, engine, False)
    cupy, cupyx_scipy = _cupy_modules()
    return Backend("cupy", cupy, cupyx_scipy, "cupy", host_io)


@functools.cache
def numba_available() -> bool:
    """Return True when Numba imports (the ``numba`` engine falls back to ``numpy`` otherwise)."""
    if os.environ.get("LRSOLVE_DISABLE_NUMBA", "") not in ("", "0"):
        return False
    try:
        importlib.import_module("numba")
    except Exception:  # pragma: no cover - numba is a hard dependency
        import warnings

        warnings.warn(
            "numba failed to import; lrsolve falls back to its plain NumPy engine",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    return True


def get_backend(*objs: Any, engine: str | None = None, native: bool = False) -> Backend:
    """Return the :class:`Backend` that the given inputs select.

    Parameters
    ----------
    *objs : array_like, sparse matrix, LinearOperator, callable or None
        The inputs of one call.  ``None``, scalars and plain callables carry no
        information.
    engine : {"numba", "numpy"}, optional
        CPU engine; defaults to the current setting (see :func:`set_backend`).
    native : bool, default False
        Ignore the ``set_backend("cupy")`` switch: host inputs select NumPy.  Used by
        containers, which keep the arrays they are given where they are.

    Returns
    -------
    Backend

    Raises
    ------
    TypeError
        When NumPy/SciPy and CuPy inputs are mixed.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, lrsolve
    >>> bk = lrsolve.get_backend(sp.eye(3), np.ones(3))
    >>> bk.name, bk.xp.__name__
    ('numpy', 'numpy')
    """
    kinds = {k for k in map(array_kind, objs) if k is not None}
    if len(kinds) > 1:
        names = ", ".join(
            f"argument {i}: {type(o).__module__}.{type(o).__name__}"
            for i, o in enumerate(objs)
            if array_kind(o) is not None
        )
        raise TypeError(
            "inputs mix host (NumPy/SciPy) and device (CuPy) arrays "
            f"({names}); move them to one side first, e.g. with cupy.asarray(...) or "
            "lrsolve.to_numpy(...)"
        )
    engine = engine if engine is not None else _config.get_engine()
    if engine not in _config.ENGINES:
        raise ValueError(f"engine must be one of {_config.ENGINES}, got {engine!r}")
    if "cupy" in kinds:
        return _make_backend("cupy", "cupy", False)
    if _config.get_backend_name() == "cupy" and not native:
        return _make_backend("cupy", "cupy", True)
    return _make_backend("numpy", engine, False)


def to_numpy(x):
    """Return ``x`` as a NumPy array (copies device arrays to the host).

    Parameters
    ----------
    x : array_like
        A NumPy or CuPy array (or anything ``numpy.asarray`` accepts).

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> lrsolve.to_numpy([1.0, 2.0])
    array([1., 2.])
    """
    if array_kind(x) == "cupy":
        return x.get()
    return np.asarray(x)


# --------------------------------------------------------------------------- switch
def _check_choice(name, engine):
    if name is not None and name not in _config.BACKENDS:
        raise ValueError(f"backend must be one of {_config.BACKENDS}, got {name!r}")
    if engine is not None and engine not in _config.ENGINES:
        raise ValueError(f"engine must be one of {_config.ENGINES}, got {engine!r}")
    if name == "cupy":
        _cupy_modules()  # fail now, with the install hint, rather than inside a solver


def set_backend(name: str | None = None, *, engine: str | None = None) -> None:
    """Choose where host inputs are computed and which CPU engine runs.

    Parameters
    ----------
    name : {"numpy", "cupy"}, optional
        ``"cupy"`` moves NumPy/SciPy inputs to the GPU once per call and returns
        NumPy results; ``"numpy"`` (the default) computes them on the CPU.  CuPy
        inputs are always computed on the GPU.
    engine : {"numba", "numpy"}, optional
        CPU engine: fused Numba kernels (default) or the plain NumPy reference.

    See Also
    --------
    backend : the same switch as a context manager.

    Examples
    --------
    >>> import lrsolve
    >>> lrsolve.set_backend(engine="numpy")
    >>> lrsolve.get_engine()
    'numpy'
    >>> lrsolve.set_backend(engine="numba")
    """
    _check_choice(name, engine)
    if name is not None:
        _config._BACKEND.set(name)
    if engine is not None:
        _config._ENGINE.set(engine)


@contextlib.contextmanager
def backend(name: str | None = None, *, engine: str | None = None):
    """Context manager form of :func:`set_backend`; restores the previous choice on exit.

    Parameters
    ----------
    name : {"numpy", "cupy"}, optional
        Where host inputs are computed inside the block.
    engine : {"numba", "numpy"}, optional
        CPU engine inside the block.

    Yields
    ------
    None

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> with lrsolve.backend(engine="numpy"):
    ...     x, info = lrsolve.cg(A, np.array([1.0, 2.0]))
    >>> info
    0
    """
    _check_choice(name, engine)
    tokens = []
    if name is not None:
        tokens.append((_config._BACKEND, _config._BACKEND.set(name)))
    if engine is not None:
        tokens.append((_config._ENGINE, _config._ENGINE.set(engine)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


# --------------------------------------------------------------------------- config report
def _dist_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def show_config(mode: str = "stdout"):
    """Show the engines, library versions and devices lrsolve can use.

    Optional libraries are reported from their installed metadata and are not
    imported, except CuPy, which is imported only to list CUDA devices.

    Parameters
    ----------
    mode : {"stdout", "dicts"}
        Print a report (default) or return it as a dictionary.

    Returns
    -------
    dict or None
        The report when ``mode="dicts"``.

    Examples
    --------
    >>> import lrsolve
    >>> cfg = lrsolve.show_config(mode="dicts")
    >>> cfg["settings"]["engine"] in ("numba", "numpy")
    True
    """
    import platform

    from . import __version__

    info: dict = {
        "lrsolve": __version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} ({os.cpu_count()} CPUs)",
        "settings": {"backend": _config.get_backend_name(), "engine": _config.get_engine()},
        "libraries": {},
        "engines": {},
        "devices": [],
    }
    for dist in ("numpy", "scipy", "numba", "pyamg", "tqdm", "matplotlib", "tensorly", "torch"):
        info["libraries"][dist] = _dist_version(dist)
    cupy_dist = next(
        (d for d in ("cupy", "cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x") if _dist_version(d)),
        None,
    )
    info["libraries"]["cupy"] = _dist_version(cupy_dist) if cupy_dist else None
    info["engines"]["numpy"] = "available"
    if numba_available():
        import numba

        info["engines"]["numba"] = (
            f"available (numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads, "
            f"threading layer {numba.config.THREADING_LAYER})"
        )
    else:
        info["engines"]["numba"] = "not available"
    if cupy_available():
        cupy, _ = _cupy_modules()
        info["engines"]["cupy"] = (
            f"available (CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()})"
        )
        for i in range(cupy.cuda.runtime.getDeviceCount()):
            props = cupy.cuda.runtime.getDeviceProperties(i)
            name = props["name"]
            name = name.decode() if isinstance(name, bytes) else name
            info["devices"].append(f"cuda:{i} {name} ({props['totalGlobalMem'] / 2**30:.1f} GiB)")
    else:
        info["engines"]["cupy"] = "not available (no CuPy or no CUDA device)"
    if mode == "dicts":
        return info
    if mode != "stdout":
        raise ValueError(f"mode must be 'stdout' or 'dicts', got {mode!r}")
    print(f"lrsolve {info['lrsolve']}  (Python {info['python']}, {info['machine']})")
    print(f"settings: backend={info['settings']['backend']}  engine={info['settings']['engine']}")
    print("engines:")
    for k, v in info["engines"].items():
        print(f"  {k:<8} {v}")
    print("libraries:")
    for k, v in info["libraries"].items():
        print(f"  {k:<11} {v or 'not installed'}")
    print("devices:")
    print("  cpu")
    for d in info["devices"]:
        print(f"  {d}")
    return None
