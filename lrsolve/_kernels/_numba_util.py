"""Numba helpers shared by the kernel modules: lazy compilation, serial/parallel pairs."""

from __future__ import annotations

import functools
import os
import time
import types

#: Vectors shorter than this run the serial variant (thread start-up costs more than it saves).
PARALLEL_MIN = int(os.environ.get("LRSOLVE_PARALLEL_MIN", "50000"))
#: Compiled kernels are cached on disk unless LRSOLVE_NUMBA_CACHE=0.
CACHE = os.environ.get("LRSOLVE_NUMBA_CACHE", "1") not in ("0", "")
#: Tiered compilation: while a threaded variant is neither compiled nor in the disk cache,
#: the serial variant runs until it has spent this many seconds in the kernel (compiling a
#: ``parallel=True`` kernel costs 0.5-1 s each, four times a serial one); then the threaded
#: variant is compiled.  ``LRSOLVE_JIT_TIER=0`` compiles it on first use.
TIER_SECONDS = float(os.environ.get("LRSOLVE_JIT_TIER", "1.0"))


def jit(fn=None, *, parallel=False, inline=False):
    """``numba.njit`` with lrsolve's defaults: lazy, no fastmath, disk cache opt-out.

    ``inline=True``: inlined into its (jitted) callers at Numba's IR level, so that a call
    per row costs no function call and no reference counting of the array arguments.
    """

    def wrap(f):
        import numba

        return numba.njit(f, parallel=parallel, cache=CACHE, fastmath=False, nogil=True,
                          inline="always" if inline else "never")

    return wrap if fn is None else wrap(fn)


def renamed(fn, suffix):
    """A copy of ``fn`` under another name.

    Numba keys its disk cache by qualified name and first line, not by the
    ``parallel`` flag: two dispatchers of one function would share a cache entry
    and whichever variant compiled first would be loaded for both.
    """
    g = types.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__
    )
    g.__qualname__ = fn.__qualname__ + suffix
    g.__module__ = fn.__module__
    g.__doc__ = fn.__doc__
    return g


def _available(dispatcher) -> bool:
    """Whether ``dispatcher`` is compiled in this process or has an entry in the disk cache."""
    if dispatcher.overloads:
        return True
    if not CACHE:
        return False
    try:
        return os.path.exists(dispatcher._cache._cache_file._index_path)
    except AttributeError:  # Numba internals changed: behave as before tiering
        return True


class Tiered:
    """A serial and a threaded (``parallel=True``) dispatcher of one kernel.

    ``run(n, *args)`` picks the serial variant below :data:`PARALLEL_MIN`
    elements and the threaded one above, except while the threaded one would
    have to be compiled from scratch: then the serial variant keeps running until
    it has spent :data:`TIER_SECONDS` in the kernel, so that a short first call
    does not pay for compiling threaded code it barely uses.
    """

    __slots__ = ("serial", "parallel", "_ready", "_spent")

    def __init__(self, serial, parallel):
        self.serial = serial
        self.parallel = parallel
        self._ready = None
        self._spent = 0.0

    def run(self, n, *args):
        """Run the variant chosen for ``n`` elements on ``args``."""
        if n < PARALLEL_MIN:
            return self.serial(*args)
        ready = self._ready
        if ready is None:
            ready = self._ready = TIER_SECONDS <= 0 or _available(self.parallel)
        if ready:
            return self.parallel(*args)
        warm = bool(self.serial.overloads)  # do not count the serial compile itself
        t0 = time.perf_counter()
        out = self.serial(*args)
        if warm:
            self._spent += time.perf_counter() - t0
            if self._spent >= TIER_SECONDS:
                self._ready = True
        return out


def tiered(fn) -> Tiered:
    """Compile ``fn`` as a serial and, from a renamed copy, a threaded kernel."""
    return Tiered(jit(fn), jit(renamed(fn, "_parallel"), parallel=True))


def dual(fn):
    """Compile ``fn`` twice (serial and ``parallel=True``); pick by the first array's length.

    The first positional argument whose ``shape`` is 1-D decides; ``fn`` must use
    ``numba.prange`` for its parallel loops.  See :class:`Tiered` for when the
    threaded variant is compiled.
    """
    pair = tiered(fn)

    @functools.wraps(fn)
    def call(*args):
        n = 0
        for a in args:
            shape = getattr(a, "shape", None)
            if shape:
                n = shape[0]
                break
        return pair.run(n, *args)

    call.serial = pair.serial
    call.parallel = pair.parallel
    call.tiered = pair
    return call
