"""The deep conjugate direction method (DCDM): learned search directions, safe fallback to PCG."""

from __future__ import annotations

import contextlib
import math
import numbers

import numpy as np

from .._backend import array_kind
from .._validation import check_maxiter, check_tolerances
from ._torch import import_torch

__all__ = ["dcdm"]

_DEVICE_NETS: dict = {}


def _grid_map(sys, A, grid_shape, mask):
    """Return ``(grid_shape, mask or None)`` for the unknowns of the system."""
    n = sys.n
    if mask is not None:
        kind = array_kind(mask)
        m = mask.get() if kind == "cupy" else np.asarray(mask)
        if m.dtype != np.bool_:
            raise TypeError(f"mask must be a boolean grid array (True = fluid), got dtype "
                            f"{m.dtype}; pass mask.astype(bool)")
        if m.ndim not in (2, 3):
            raise ValueError(f"mask must be a 2-D or 3-D grid, got shape {m.shape}")
        if grid_shape is not None and tuple(grid_shape) != m.shape:
            raise ValueError(f"grid_shape={tuple(grid_shape)} differs from mask.shape={m.shape}; "
                             "give one of them")
        if int(m.sum()) != n:
            raise ValueError(f"mask has {int(m.sum())} fluid (True) cells but the system has {n} "
                             "unknowns; the unknowns must be the fluid cells in C order")
        return m.shape, m
    if grid_shape is not None:
        try:
            g = tuple(int(s) for s in grid_shape)
        except TypeError:
            raise TypeError(f"grid_shape must be a tuple of 2 or 3 ints, got {grid_shape!r}") \
                from None
        if len(g) not in (2, 3):
            raise ValueError(f"grid_shape must have 2 or 3 entries, got {g}")
        if math.prod(g) != n:
            raise ValueError(f"grid_shape={g} has {math.prod(g)} cells but the system has {n} "
                             "unknowns; pass mask= for a system on the fluid cells only")
        return g, None
    g = getattr(A, "grid_shape", None)
    if g is not None:
        m = getattr(A, "mask", None)
        if m is not None:
            return tuple(m.shape), np.asarray(m)
        if len(g) not in (2, 3):
            raise ValueError(f"DCDM needs a 2-D or 3-D grid, the operator's grid is {g}")
        return tuple(g), None
    raise ValueError("dcdm needs the grid of the unknowns: pass grid_shape=(ny, nx) or "
                     "(nz, ny, nx), or mask= for a fluid-only system, or build A with "
                     "lrsolve.operators.poisson")


def _device_net(torch, net, device):
    if device.type == "cpu":
        return net
    import weakref

    # the device copy is remade when the network's weights changed in place (torch counts
    # in-place updates per tensor) or when the id belongs to a new network; the cache
    # holds the networks weakly, so it keeps none of them alive
    key = (id(net), str(device))
    version = tuple(int(p._version) for p in net.parameters())
    hit = _DEVICE_NETS.get(key)
    if hit is None or hit[0]() is not net or hit[1] != version:
        import copy

        for k in [k for k, v in _DEVICE_NETS.items() if v[0]() is None]:
            del _DEVICE_NETS[k]
        hit = (weakref.ref(net), version, copy.deepcopy(net).to(device))
        _DEVICE_NETS[key] = hit
    return hit[2]


def _default_precond(op):
    from ..precond import available

    names = available()
    try:
        op.tocsr()
        has_csr = True
    except TypeError:
        has_csr = False
    order = []
    if has_csr and "ic0" in names:
        order.append("ic0")
    order += ["jacobi", None]
    return order



@contextlib.contextmanager
def _full_fp32(torch, device):
    """Convolutions in full float32 on CUDA (cuDNN's TF32 default loses 3 digits and
    makes the directions, and the iteration counts, differ from the CPU's)."""
    if device.type != "cuda":
        yield
        return
    prev = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = prev

def dcdm(A, b, x0=None, *, model="auto", rtol=1e-5, atol=0.0, maxiter=None, k=2,
         grid_shape=None, mask=None, callback=None, fallback=True, precond="auto",
         window=10, min_reduction=0.9, smoother="jacobi"):
    """Solve ``A x = b`` by the deep conjugate direction method (DCDM).

    The method of Kaneda et al. (2023) for Poisson-type systems on a grid:
    each iteration maps the normalised residual ``r / ||r||`` on the grid
    through a convolutional network to a search direction ``q`` (an
    approximation of ``A^{-1} r`` up to scale), ``A``-orthogonalises ``q``
    against the last ``k`` directions, takes the exact line-search step
    ``x += (q^T r / q^T A q) q`` and recomputes the true residual
    ``r = b - A x``.  The energy norm of the error decreases at every step.

    With ``fallback=True`` the run switches to preconditioned CG
    (:func:`lrsolve.cg`) from the current iterate when the residual has not
    been reduced by the factor ``min_reduction`` over the last ``window``
    iterations (see ``smoother`` for a safeguard that delays it; on 2-D
    obstacle scenes at 64^2-128^2 the shipped network still falls back after
    about 10 iterations: ``result.extra["fell_back"]`` says so), or
    when a direction is not a descent direction (``q^T A q <= 0`` or ``q``
    orthogonal to ``r``).  ``converged`` is True only when the true
    residual meets the tolerance.

    Parameters
    ----------
    A : {sparse matrix, ndarray, LinearOperator, lrsolve operator}
        Symmetric positive (semi)definite matrix ``(n, n)`` whose unknowns are
        the cells of a 2-D or 3-D grid (all of them, or the fluid cells of
        ``mask``), e.g. from :func:`lrsolve.operators.poisson`.
    b : ndarray
        Right-hand side ``(n,)``, NumPy or CuPy.
    x0 : ndarray, optional
        Starting guess (default zeros); not modified.
    model : {"auto", "poisson2d", "poisson3d"}, path or torch.nn.Module, optional
        The network: ``"auto"`` (default) picks the shipped model of the
        grid's dimension; or a name, a ``.pt`` file from
        :func:`lrsolve.deep.save_model`, or a network.
    rtol, atol : float, optional
        Stop when ``||b - A x|| <= max(rtol * ||b||, atol)`` (defaults 1e-5, 0).
    maxiter : int, optional
        Most iterations, DCDM and fallback CG together (default ``10 * n``).
    k : int, optional
        Previous directions to ``A``-orthogonalise against (default 2, as in
        the paper).
    grid_shape : tuple of int, optional
        Grid of the unknowns when all cells are unknowns (C order); read from
        ``A`` when it is a Poisson operator.
    mask : array_like of bool, optional
        Fluid mask (``True`` = fluid) when the unknowns are the fluid cells
        only, as in ``lrsolve.operators.poisson(shape, mask=mask)``: vectors
        are scattered into the grid with zeros in the solid cells and
        gathered back.  Read from ``A`` when it is a masked Poisson operator.
    callback : callable, optional
        ``callback(xk)`` once per iteration (also during the fallback).
    fallback : bool, optional
        Switch to preconditioned CG on stagnation (default True).  With
        False a stagnating run stops with ``info = -3``.
    precond : str, tuple, Preconditioner or None, optional
        Preconditioner of the fallback CG (default ``"auto"``: ``"ic0"`` when
        ``A`` has an explicit matrix, else ``"jacobi"``).
    window : int, optional
        Iterations of the stagnation test (default 10).
    min_reduction : float, optional
        Residual reduction expected over ``window`` iterations (default 0.9:
        less than 10 % progress in 10 iterations is stagnation).
    smoother : {"jacobi", None}, optional
        ``"jacobi"`` (default): after the network's step, a second step along
        the Jacobi direction ``D^{-1} r`` (also ``A``-orthogonalised and with
        an exact line search), which removes the error components the network
        misses; one product with ``A`` more per iteration.  ``None``: the
        paper's method, the network's direction only.

    Returns
    -------
    SolveResult
        Unpacks as ``x, info``; ``x`` has the type of ``b`` and the solve
        dtype (float32 or float64).  ``extra`` holds ``fell_back`` (bool),
        ``fallback_iteration`` (the DCDM iterations before the switch, or
        None), ``fallback_reason``, ``dcdm_iterations``, ``cg_iterations``,
        ``model`` and ``device``.

    Raises
    ------
    ImportError
        When PyTorch is not installed (``pip install 'lrsolve[deep]'``).

    See Also
    --------
    lrsolve.cg : Preconditioned conjugate gradients (the fallback).
    lrsolve.deep.train_dcdm : Train a network for other systems.

    Notes
    -----
    The network runs in float32 under :func:`torch.inference_mode`; its
    output is cast back to the solve dtype.  For CuPy inputs the residual is
    handed to torch on the same GPU through DLPack (no host copy) and the
    direction comes back the same way.  Each iteration costs one network
    evaluation and two products with ``A`` (three with ``smoother="jacobi"``).

    References
    ----------
    .. [1] A. Kaneda, O. Akar, J. Chen, V. A. T. Kala, D. Hyde, J. Teran, "A deep
       conjugate direction method for iteratively solving linear systems",
       ICML 2023, PMLR 202:15720-15736.

    Examples
    --------
    >>> import numpy as np, lrsolve
    >>> mask = lrsolve.deep.obstacle_mask((48, 48), 3, rng=1)
    >>> A = lrsolve.operators.poisson((48, 48), mask=mask)
    >>> b = np.random.default_rng(0).standard_normal(A.shape[0])
    >>> res = lrsolve.deep.dcdm(A, b, rtol=1e-6)
    >>> res.converged
    True
    >>> bool(np.linalg.norm(b - A @ res.x) <= 1e-6 * np.linalg.norm(b))
    True
    """
    torch = import_torch()
    from ..krylov import cg
    from ..krylov._system import Tally, make_system
    from ._model import load_model

    sys = make_system(A, b, x0, name="dcdm")
    bk, op, xp = sys.bk, sys.op, sys.xp
    if np.dtype(sys.dtype).kind == "c":
        raise TypeError("dcdm solves real systems; got complex data (use lrsolve.cg)")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    name = precond[0] if (isinstance(precond, tuple) and precond
                          and isinstance(precond[0], str)) else precond
    if isinstance(name, str) and name != "auto":  # checked now, not after the DCDM steps
        from ..precond import available

        if name not in available():
            raise ValueError(f"precond must be 'auto', None, one of {available()} (or a "
                             f"(name, options) pair) or a Preconditioner, got {precond!r}")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
        raise ValueError(f"k must be an int >= 0 (directions to orthogonalise against), got {k!r}")
    if isinstance(window, bool) or not isinstance(window, numbers.Integral) or window < 1:
        raise ValueError(f"window must be an int >= 1, got {window!r}")
    if not (isinstance(min_reduction, numbers.Real) and 0 < min_reduction <= 1):
        raise ValueError(f"min_reduction must be in (0, 1], got {min_reduction!r}")
    n = sys.n
    maxiter = check_maxiter(maxiter, 10 * n)
    grid, fmask = _grid_map(sys, A, grid_shape, mask)
    net = load_model(model, ndim=len(grid))
    model_name = model if isinstance(model, str) else getattr(model, "name", type(model).__name__)

    if bk.is_gpu:
        device = torch.device("cuda", int(xp.cuda.Device().id))
    else:
        device = torch.device("cpu")
    dnet = _device_net(torch, net, device)
    mask_t = None if fmask is None else torch.from_numpy(np.array(fmask, dtype=bool)).to(device)

    def to_torch(v):
        return torch.from_dlpack(v) if bk.is_gpu else torch.from_numpy(v)

    def from_torch(t):
        if bk.is_gpu:
            return xp.from_dlpack(t.contiguous())
        return t.numpy()

    def direction(r, rnorm):
        # normalised in the solve dtype first: a float32 cast of r itself would overflow or
        # underflow for a badly scaled b (|b| ~ 1e40 or 1e-40)
        rt = to_torch(r * (1.0 / rnorm)).to(torch.float32)
        with torch.inference_mode(), _full_fp32(torch, device):
            if mask_t is None:
                out = dnet(rt.reshape((1,) + grid))[0].reshape(-1)
            else:
                g = torch.zeros((1,) + grid, dtype=torch.float32, device=device)
                g[0][mask_t] = rt
                out = dnet(g, mask_t)[0][mask_t]
            out = out.to(torch.float64 if sys.dtype == np.float64 else torch.float32)
        return xp.array(from_torch(out), dtype=sys.dtype, copy=True)

    def dot(u, v):
        return float(xp.vdot(u, v))

    bvec, x = sys.b, sys.x
    bnorm = math.sqrt(dot(bvec, bvec))
    tol = check_tolerances(rtol, atol, bnorm)
    tally = Tally(sys, tol)
    extra = {"fell_back": False, "fallback_iteration": None, "fallback_reason": None,
             "dcdm_iterations": 0, "cg_iterations": 0, "model": str(model_name),
             "device": str(device)}

    def result(info, converged, niter, hist, message, true_res, n_precond=0):
        res = tally.result(info, converged, niter, hist, message, true_res)
        return type(res)(**{**res.__dict__, "n_precond": n_precond, "extra": extra})

    if bnorm == 0.0:
        x[...] = 0
        return result(0, True, 0, [0.0], "b is zero: the solution is x = 0", 0.0)
    r = xp.empty_like(bvec)
    rr = float(op.residual(x, bvec, r))
    tally.mv += 1
    rnorm = math.sqrt(rr)
    hist = [rnorm]
    P, AP, PAP = [], [], []
    it = 0
    reason = None
    eps = float(np.finfo(sys.dtype).eps)
    dinv = None
    if smoother == "jacobi":
        try:
            diag = op.diagonal()
        except TypeError:
            diag = None
        if diag is None or not bool((diag > 0).all()):
            dinv = xp.ones_like(bvec)
        else:
            dinv = (1.0 / diag).astype(sys.dtype)
    elif smoother is not None:
        raise ValueError(f"smoother must be None or 'jacobi', got {smoother!r}")
    while rnorm > tol and it < maxiter:
        if not math.isfinite(rnorm):
            reason = f"non-finite residual at iteration {it}"
            break
        kinds = ("net",) if dinv is None else ("net", "smoother")
        step_ok = False
        new_dirs = []
        for kind in kinds:
            # the smoother acts on the residual left by the network's step
            q = direction(r, rnorm) if kind == "net" else dinv * r
            for p, ap, pap in zip(P + [d for d, _, _ in new_dirs], AP + [a for _, a, _ in new_dirs],
                                  PAP + [c for _, _, c in new_dirs], strict=True):
                q -= (dot(q, ap) / pap) * p
            Aq = op.matvec(q)
            tally.mv += 1
            qAq = dot(q, Aq)
            qr = dot(q, r)
            qn = math.sqrt(dot(q, q))
            if not (math.isfinite(qAq) and math.isfinite(qr)):
                reason = f"non-finite direction at iteration {it + 1}"
                break
            if not qAq > 0 or abs(qr) <= 100 * eps * qn * rnorm:
                continue
            # exact line search; r is kept up to date for the next candidate
            alpha = qr / qAq
            x += alpha * q
            r -= alpha * Aq
            new_dirs.append((q, Aq, qAq))
            step_ok = True
        if reason is not None:
            break
        if not step_ok:
            reason = f"not a descent direction at iteration {it + 1}"
            break
        rr = float(op.residual(x, bvec, r))  # the true residual, every iteration
        tally.mv += 1
        it += 1
        rnorm = math.sqrt(rr)
        hist.append(rnorm)
        for q, Aq, qAq in new_dirs:
            P.append(q)
            AP.append(Aq)
            PAP.append(qAq)
        while len(P) > k * len(kinds):
            del P[0], AP[0], PAP[0]
        if callback is not None:
            callback(x)
        if rnorm > tol and it > window:
            before = min(hist[: -window])
            if min(hist[-window:]) > min_reduction * before:
                reason = (f"the residual fell by less than {min_reduction:g}x over the last "
                          f"{window} iterations ({min(hist[-window:]):.3g} vs {before:.3g})")
                break
    extra["dcdm_iterations"] = it
    if rnorm <= tol:
        return result(0, True, it, hist, f"converged in {it} DCDM iterations", rnorm)
    if reason is None:  # maxiter
        return result(it, False, it, hist,
                      f"maxiter={maxiter} iterations reached without meeting the tolerance",
                      rnorm)
    if not fallback or it >= maxiter:
        return result(-3, False, it, hist, f"DCDM stopped: {reason}", rnorm)

    # -- fallback: preconditioned CG from the current iterate
    extra.update(fell_back=True, fallback_iteration=it, fallback_reason=reason)
    choices = _default_precond(op) if (isinstance(precond, str) and precond == "auto") \
        else [precond]
    last_exc = None
    for pc in choices:
        try:
            cres = cg(op, bvec, x0=x, rtol=rtol, atol=atol, maxiter=maxiter - it, precond=pc,
                      callback=callback)
        except (ValueError, TypeError, NotImplementedError, ArithmeticError,
                np.linalg.LinAlgError) as exc:
            if len(choices) == 1:
                raise
            last_exc = exc
            continue
        break
    else:  # pragma: no cover - jacobi and None do not fail on a valid system
        raise last_exc
    sys.x = cres.x
    tally.mv += cres.n_matvec
    extra["cg_iterations"] = cres.niter
    extra["fallback_precond"] = pc if isinstance(pc, (str, type(None))) else type(pc).__name__
    allhist = hist + list(cres.residual_norms[1:])
    niter = it + cres.niter
    info = 0 if cres.converged else (niter if cres.info > 0 else cres.info)
    msg = (f"DCDM ran {it} iterations, then fell back to CG (precond={extra['fallback_precond']}) "
           f"because {reason}; CG: {cres.message}")
    return result(info, cres.converged, niter, allhist, msg, cres.true_residual_norm,
                  cres.n_precond)
