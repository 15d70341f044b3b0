"""Tree tensor networks in the hierarchical Tucker format (HT-SVD, leaves to root).

A binary *dimension tree* splits the modes recursively: ``((0, 1), (2, 3))`` for an
order-4 tensor.  Every leaf ``n`` carries a basis ``U_n`` of shape ``(I_n, r_n)``; every
inner node ``t`` with children ``l`` and ``r`` carries a transfer tensor ``B_t`` of
shape ``(r_l, r_r, r_t)``, so that the node's basis is ``U_t = (U_l (x) U_r) B_t``
(``r_root = 1``).  Tucker (a star) and the tensor train (a caterpillar tree) are the
two extreme shapes of such a tree.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._backend import get_backend
from ._common import as_tensor, check_tol, eps_of
from ._containers import _Factorised
from ._tucker import _check_rank_tol, _choose_rank, _to_host

__all__ = ["HTTensor", "hierarchical_tucker", "dimension_tree"]

_REFINE = 2


# ----------------------------------------------------------------------------- trees
def dimension_tree(ndim, kind="balanced"):
    """A binary dimension tree over ``ndim`` modes, as a nested tuple.

    Parameters
    ----------
    ndim : int
        Order of the tensor (at least 2).
    kind : {"balanced", "tt"}, optional
        ``"balanced"`` halves the mode list recursively (the first half gets the extra
        mode); ``"tt"`` is the caterpillar ``(0, (1, (2, ...)))`` whose inner ranks are
        the tensor-train ranks.

    Returns
    -------
    tuple
        Nested pairs whose leaves are the mode indices ``0 .. ndim - 1``.

    Examples
    --------
    >>> from lrsolve.tensor import dimension_tree
    >>> dimension_tree(4)
    ((0, 1), (2, 3))
    >>> dimension_tree(4, "tt")
    (0, (1, (2, 3)))
    """
    if isinstance(ndim, bool) or not isinstance(ndim, numbers.Integral) or ndim < 2:
        raise ValueError(f"ndim must be an integer >= 2, got {ndim!r}")
    if kind not in ("balanced", "tt"):
        raise ValueError(f"kind must be 'balanced' or 'tt', got {kind!r}")

    def build(modes):
        if len(modes) == 1:
            return modes[0]
        if kind == "tt":
            return (modes[0], build(modes[1:]))
        h = (len(modes) + 1) // 2
        return (build(modes[:h]), build(modes[h:]))

    return build(list(range(int(ndim))))


class _Node:
    __slots__ = ("index", "modes", "children", "parent")

    def __init__(self, index, modes, children):
        self.index = index
        self.modes = modes
        self.children = children
        self.parent = None


def _parse_tree(tree, ndim):
    """Nodes in postorder (children before parents; the root last)."""
    if tree is None:
        tree = dimension_tree(ndim)
    elif isinstance(tree, str):
        tree = dimension_tree(ndim, tree)
    nodes = []
    seen = []

    def visit(t):
        if isinstance(t, (bool, np.bool_)):
            raise TypeError(f"tree leaves must be mode indices (ints), got {t!r}")
        if isinstance(t, numbers.Integral):
            n = int(t)
            if not 0 <= n < ndim:
                raise ValueError(
                    f"tree names mode {n}, but the tensor has modes 0 .. {ndim - 1}"
                )
            seen.append(n)
            node = _Node(len(nodes), (n,), ())
            nodes.append(node)
            return node
        if not isinstance(t, (tuple, list)) or len(t) != 2:
            raise ValueError(
                f"tree must be nested pairs of mode indices, e.g. ((0, 1), (2, 3)); got the "
                f"node {t!r} (every inner node needs exactly two children)"
            )
        left, right = visit(t[0]), visit(t[1])
        node = _Node(len(nodes), left.modes + right.modes, (left.index, right.index))
        nodes.append(node)
        left.parent = right.parent = node.index
        return node

    visit(tree)
    if sorted(seen) != list(range(ndim)):
        missing = sorted(set(range(ndim)) - set(seen))
        dup = sorted({n for n in seen if seen.count(n) > 1})
        raise ValueError(
            f"tree must name every mode 0 .. {ndim - 1} exactly once; missing {missing}, "
            f"repeated {dup}"
        )
    if len(nodes) == 1:
        raise ValueError("tree needs at least two modes")
    return nodes


def _canonical(nodes, i=None):
    node = nodes[-1] if i is None else nodes[i]
    if not node.children:
        return node.modes[0]
    return tuple(_canonical(nodes, c) for c in node.children)


# ----------------------------------------------------------------------------- container
class HTTensor(_Factorised):
    """A tree tensor network in the hierarchical Tucker format.

    Parameters
    ----------
    tree : nested tuple
        Binary dimension tree with the mode indices as leaves (see
        :func:`dimension_tree`).
    leaves : sequence of array_like
        ``leaves[n]`` is the basis of mode ``n``, of shape ``(I_n, r_n)``.
    transfers : sequence of array_like
        One transfer tensor per inner node, in postorder (children before parents, the
        root last), of shape ``(r_left, r_right, r_node)`` with ``r_root = 1``.

    Attributes
    ----------
    leaves, transfers : list of array
        ``leaves, transfers = ht`` unpacks them.
    tree : tuple
        The dimension tree.
    errors, n_iter, converged, diagnostics
        Fit information (``None``/empty for a plain container); see
        :func:`hierarchical_tucker`.

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import HTTensor
    >>> ht = HTTensor((0, 1), [np.ones((3, 1)), np.ones((2, 1))], [np.ones((1, 1, 1))])
    >>> ht.shape, ht.rank, ht.size
    ((3, 2), {(0,): 1, (1,): 1}, 6)
    >>> float(ht.to_tensor().sum())
    6.0
    """

    _kind = "ht"

    def __init__(self, tree, leaves, transfers):
        leaves, transfers = list(leaves), list(transfers)
        bk = get_backend(*leaves, *transfers, native=True)
        xp = bk.xp
        self.leaves = [xp.asarray(u) for u in leaves]
        self.transfers = [xp.asarray(b) for b in transfers]
        nodes = _parse_tree(tree, len(self.leaves))
        self._nodes = nodes
        self.tree = _canonical(nodes)
        inner = [t for t in nodes if t.children]
        if len(inner) != len(self.transfers):
            raise ValueError(
                f"the tree has {len(inner)} inner nodes but {len(self.transfers)} transfer "
                "tensors were given (one per inner node, in postorder)"
            )
        for n, u in enumerate(self.leaves):
            if u.ndim != 2:
                raise ValueError(f"leaves[{n}] must be a matrix (I_n, r_n), got shape {u.shape}")
        ranks = {}
        for t in nodes:
            if not t.children:
                ranks[t.index] = int(self.leaves[t.modes[0]].shape[1])
        self._transfer_of = {}
        for j, t in enumerate(inner):
            B = self.transfers[j]
            self._transfer_of[t.index] = j
            want = (ranks[t.children[0]], ranks[t.children[1]])
            if B.ndim != 3 or tuple(B.shape[:2]) != want:
                raise ValueError(
                    f"transfers[{j}] (node {t.modes}) has shape {tuple(B.shape)}; it must be "
                    f"(r_left, r_right, r_node) with (r_left, r_right) = {want}"
                )
            ranks[t.index] = int(B.shape[2])
        if ranks[nodes[-1].index] != 1:
            raise ValueError(
                f"the root transfer tensor must have last dimension 1, got "
                f"{tuple(self.transfers[-1].shape)}"
            )
        self._ranks = ranks
        self._init_result()

    def _arrays(self):
        return self.leaves + self.transfers

    def __iter__(self):
        return iter((self.leaves, self.transfers))

    def __len__(self):
        return 2

    def __getitem__(self, i):  # ht[0], ht[1]: as the unpacking
        return (self.leaves, self.transfers)[i]

    @property
    def shape(self):
        """Shape of the represented tensor."""
        return tuple(int(u.shape[0]) for u in self.leaves)

    @property
    def rank(self):
        """Rank of every non-root node, keyed by the node's modes (a dict)."""
        return {t.modes: self._ranks[t.index] for t in self._nodes[:-1]}

    @property
    def size(self):
        """Number of stored parameters (entries of the leaves and transfer tensors)."""
        return int(sum(int(np.prod(a.shape)) for a in self._arrays()))

    def _basis(self, i):
        """``U_t`` of node i as a matrix (prod of its mode sizes in tree order, r_t)."""
        xp = self.xp
        t = self._nodes[i]
        if not t.children:
            return self.leaves[t.modes[0]]
        Ul, Ur = self._basis(t.children[0]), self._basis(t.children[1])
        B = self.transfers[self._transfer_of[i]]
        rl, rr, rt = B.shape
        # (Ul (x) Ur) B computed as Ul @ B(rl, rr*rt) then contract with Ur
        T = Ul @ xp.reshape(B, (rl, rr * rt))  # (Il, rr*rt)
        T = xp.reshape(T, (Ul.shape[0], rr, rt))
        T = xp.einsum("jb,ibt->ijt", Ur, T)  # (Il, Ir, rt)
        return xp.reshape(T, (Ul.shape[0] * Ur.shape[0], rt))

    def to_tensor(self):
        """Form the full tensor.

        Returns
        -------
        array
            Dense tensor of shape :attr:`shape`.

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import HTTensor
        >>> ht = HTTensor((0, 1), [np.eye(2), np.eye(2)], [np.eye(2).reshape(2, 2, 1)])
        >>> ht.to_tensor()
        array([[1., 0.],
               [0., 1.]])
        """
        xp = self.xp
        root = self._nodes[-1]
        full = self._basis(root.index)  # modes in tree order
        order = root.modes
        full = xp.reshape(full, tuple(self.shape[n] for n in order))
        return xp.transpose(full, tuple(np.argsort(order)))

    def norm(self):
        """Frobenius norm from the Gram matrices of the node bases (no full tensor).

        Returns
        -------
        float
            The norm of the represented tensor.

        Examples
        --------
        >>> import numpy as np
        >>> from lrsolve.tensor import HTTensor
        >>> HTTensor((0, 1), [np.ones((2, 1)), np.ones((2, 1))], [np.ones((1, 1, 1))]).norm()
        2.0
        """
        xp = self.xp
        grams = {}
        for t in self._nodes:
            if not t.children:
                u = self.leaves[t.modes[0]]
                grams[t.index] = u.T @ u
            else:
                B = self.transfers[self._transfer_of[t.index]]
                Gl, Gr = grams.pop(t.children[0]), grams.pop(t.children[1])
                grams[t.index] = xp.einsum("abs,ac,bd,cdt->st", B, Gl, Gr, B)
        return float(np.sqrt(max(float(grams[self._nodes[-1].index][0, 0]), 0.0)))


# ----------------------------------------------------------------------------- HT-SVD
def _node_spectrum(xp, M, use_gram):
    """Left singular vectors and squared singular values (descending) of the matrix M."""
    m, n = M.shape
    if use_gram and m <= n:
        w, V = xp.linalg.eigh(M @ M.T)
        return V[:, ::-1], _to_host(xp, xp.maximum(w[::-1], 0)).astype(np.float64)
    U, s, _ = xp.linalg.svd(M, full_matrices=False)
    return U, _to_host(xp, s * s).astype(np.float64)


def _check_ht_rank(rank, nodes, shape):
    """Per-node maximum ranks (dict node index -> int or None) from an int or a dict."""
    inner = nodes[:-1]
    if rank is None:
        return {t.index: None for t in inner}
    if isinstance(rank, bool):
        raise TypeError(f"rank must be an int or a dict {{modes: rank}}, got {rank!r}")
    if isinstance(rank, numbers.Integral):
        if rank < 1:
            raise ValueError(f"rank must be >= 1, got {rank}")
        return {t.index: int(rank) for t in inner}
    if isinstance(rank, dict):
        by_modes = {tuple(sorted(t.modes)): t for t in inner}
        out = {t.index: None for t in inner}
        for key, r in rank.items():
            k = (key,) if isinstance(key, numbers.Integral) else tuple(sorted(key))
            if k not in by_modes:
                raise ValueError(
                    f"rank names the node {key!r}, which is not a non-root node of the tree; "
                    f"the nodes are {sorted(by_modes)}"
                )
            if isinstance(r, bool) or not isinstance(r, numbers.Integral) or r < 1:
                raise ValueError(f"rank[{key!r}] must be an integer >= 1, got {r!r}")
            t = by_modes[k]
            rows = int(np.prod([shape[n] for n in t.modes], dtype=np.int64))
            cols = int(np.prod(shape, dtype=np.int64)) // rows
            if r > min(rows, cols):
                raise ValueError(
                    f"rank[{key!r}] = {r} is larger than the data allows: the node's "
                    f"matricization is {rows} x {cols}; lower it to {min(rows, cols)}"
                )
            out[t.index] = int(r)
        # the root's two children are complementary matricizations (one is the transpose
        # of the other): they have the same rank, so a cap on one caps the other
        a, b = nodes[-1].children
        caps = [c for c in (out[a], out[b]) if c is not None]
        if caps:
            out[a] = out[b] = min(caps)
        return out
    raise TypeError(f"rank must be an int or a dict {{modes: rank}}, got {type(rank).__name__}")


def _ht_size(nodes, shape, r):
    """Parameters of an HT tensor with node ranks r (dict; the root has rank 1)."""
    total = 0
    for t in nodes:
        rt = 1 if t.parent is None else r[t.index]
        if not t.children:
            total += shape[t.modes[0]] * rt
        else:
            total += r[t.children[0]] * r[t.children[1]] * rt
    return total


def _global_ranks(nodes, shape, spectra, budget):
    """Node ranks minimising the HT size with the sum of discarded energies <= budget.

    Greedy packing with the exact size: starting from the full ranks of the spectra,
    repeatedly lower the rank whose unit saves the most parameters per unit of energy.
    """
    r = {}
    for t in nodes[:-1]:
        r[t.index] = max(int(np.count_nonzero(spectra[t.index] > 0)), 1)
    used = 0.0
    size = _ht_size(nodes, shape, r)
    while True:
        best, best_rate, best_size = None, math.inf, None
        for t in nodes[:-1]:
            i = t.index
            if r[i] <= 1:
                continue
            e = float(spectra[i][r[i] - 1])
            if used + e > budget:
                continue
            r[i] -= 1
            new = _ht_size(nodes, shape, r)
            r[i] += 1
            rate = e / max(size - new, 1)
            if rate < best_rate:
                best, best_rate, best_size = i, rate, new
        if best is None:
            return r
        used += float(spectra[best][r[best] - 1])
        r[best] -= 1
        size = best_size


def hierarchical_tucker(X, rank=None, *, tol=None, tree=None, allocation="global",
                        svd="auto"):
    """Tree tensor network (hierarchical Tucker) decomposition by HT-SVD.

    The leaves-to-root algorithm of Grasedyck (2010) with sequential truncation: the
    leaf bases come from the mode Gram matrices, the tensor is projected onto them,
    then every inner node's basis comes from the matricization of the projected core
    over its two children, up to the root.  The result is an orthogonal projection of
    ``X``, and its squared error is at most the sum of the discarded squared singular
    values (equal to it when no two nodes share a level of the tree).

    Parameters
    ----------
    X : array_like
        Tensor of order >= 2 (NumPy or CuPy).
    rank : int or dict, optional
        Maximum rank of every non-root node (an int), or ``{modes: rank}`` for chosen
        nodes, keyed by a mode index (a leaf) or a tuple of modes (an inner node).
        Default with ``tol=None``: exact (full) ranks.
    tol : float, optional
        Relative error guarantee ``||X - T|| <= tol ||X||``.
    tree : nested tuple or {"balanced", "tt"}, optional
        The dimension tree (see :func:`dimension_tree`); default balanced.
    allocation : {"global", "equal"}, optional
        How ``tol`` is spent.  ``"equal"``: every truncation may discard
        ``tol^2 ||X||^2 / (2N - 2)`` (Grasedyck's rule).  ``"global"``: the error budget
        ``tol^2 ||X||^2`` is packed over all nodes at once: the node spectra of a
        near-lossless pass feed a greedy that lowers the rank whose unit saves the most
        parameters (exact HT size) per unit of discarded energy; since the discarded
        energies only bound the error, the budget of the packing is then raised while
        the exact error of the truncation (``||X||^2 - ||T||^2``) stays within ``tol``
        (a few more passes).  The result is kept when it has no more parameters than
        the equal split (else the equal split is returned).  Both meet ``tol``;
        ``"global"`` usually needs fewer parameters at the same achieved error and
        takes 5 to 20 times as long (a few dozen HT-SVD passes; e.g. 7.5 s against
        0.8 s on a 128 x 128 x 14 x 20 tensor); pass ``"equal"`` for the fast rule.
    svd : {"auto", "gram", "svd"}, optional
        ``"gram"``: ``eigh`` of the Gram matrix of each matricization; ``"svd"``: thin
        SVDs; ``"auto"``: Gram unless ``tol`` is below what a Gram spectrum resolves.

    Returns
    -------
    HTTensor
        Orthonormal leaf bases and transfer tensors; ``errors`` holds the relative error
        (from ``||X||^2 - ||T||^2``, or the discarded energies where that difference is
        below rounding) and ``diagnostics["discarded"]`` the energy discarded at every
        node.

    Raises
    ------
    ValueError
        ``rank`` and ``tol`` both given, a rank above what a node's matricization
        allows, a tree that is not binary or does not name every mode once.

    See Also
    --------
    tensor_train : the caterpillar tree (``tree="tt"``) in TT form.
    sthosvd : the star tree (Tucker).

    References
    ----------
    .. [1] L. Grasedyck, "Hierarchical singular value decomposition of tensors",
       SIAM J. Matrix Anal. Appl. 31 (2010).

    Examples
    --------
    >>> import numpy as np
    >>> from lrsolve.tensor import hierarchical_tucker
    >>> x = np.linspace(0, 1, 6)
    >>> X = 1 / (1 + x[:, None, None, None] + x[None, :, None, None]
    ...          + x[None, None, :, None] + x[None, None, None, :])
    >>> ht = hierarchical_tucker(X, tol=1e-6)
    >>> ht.tree
    ((0, 1), (2, 3))
    >>> bool(ht.relative_error(X) <= 1e-6), ht.size < X.size
    (True, True)
    """
    bk, X = as_tensor(X)
    xp = bk.xp
    _check_rank_tol(rank, tol)
    tol = check_tol("tol", tol, target=True)
    if allocation not in ("global", "equal"):
        raise ValueError(f"allocation must be 'global' or 'equal', got {allocation!r}")
    if svd not in ("auto", "gram", "svd"):
        raise ValueError(f"svd must be 'auto', 'gram' or 'svd', got {svd!r}")
    shape = tuple(int(s) for s in X.shape)
    N = len(shape)
    nodes = _parse_tree(tree, N)
    maxrank = _check_ht_rank(rank, nodes, shape)
    use_gram = svd == "gram" or (
        svd == "auto" and (tol is None or tol >= 100 * math.sqrt(eps_of(X.dtype)))
    )
    normX2 = float(xp.vdot(X.ravel(), X.ravel()))
    total = (tol * tol * normX2) if tol is not None else 0.0
    n_trunc = len(nodes) - 1

    if tol is None:
        def rule(t, s2):
            cap = maxrank[t.index]
            return len(s2) if cap is None else min(cap, len(s2))

        run = _leaves_to_root(xp, X, nodes, rule, use_gram)
    else:
        equal = total / n_trunc
        run = _leaves_to_root(xp, X, nodes, lambda t, s2: _choose_rank(s2, equal), use_gram)
        if allocation == "global":
            # spectra of a near-lossless pass (1% of the budget), then one packing of the
            # whole budget over all nodes, then the truncation with those ranks
            fine = 0.01 * equal
            probe = _leaves_to_root(xp, X, nodes, lambda t, s2: _choose_rank(s2, fine),
                                    use_gram)
            # the discarded energies bound the error loosely (nodes of one level share
            # a core): the exact error ||X||^2 - ||T||^2 of each candidate steers the
            # budget up until the error uses the tolerance
            def steer(spectra, budget):
                best, lo, hi = None, 0.0, None
                for _ in range(8):
                    ranks = _global_ranks(nodes, shape, spectra, budget)
                    cand = _leaves_to_root(xp, X, nodes, lambda t, s2, rk=ranks: rk[t.index],
                                           use_gram)
                    if cand["err2"] <= total:
                        if best is None or cand["size"] < best["size"]:
                            best = cand
                        lo = budget
                        if cand["err2"] >= 0.98 * total:
                            break
                        budget = (budget * total / max(cand["err2"], 1e-300) if hi is None
                                  else 0.5 * (budget + hi))
                    else:
                        hi = budget
                        budget = 0.5 * (lo + hi)
                return best

            best = steer(probe["spectra"], max(total - probe["used"], 0.0))
            for _ in range(_REFINE):
                if best is None:
                    break
                # the inner nodes' spectra of the truncated cores are smaller than those of
                # the near-lossless pass: pack again on them
                spectra = {t.index: (probe if not t.children else best)["spectra"][t.index]
                           for t in nodes[:-1]}
                again = steer(spectra, max(total - best["err2"], 0.0) + best["used"])
                if again is None or again["size"] >= best["size"]:
                    break
                best = again
            if best is not None:
                best = _polish(xp, X, nodes, shape, best, total, use_gram)
            if best is not None and best["size"] <= run["size"]:
                run = best
    out = HTTensor(_canonical(nodes), [bk.to_output(u) for u in run["leaves"]],
                   [bk.to_output(B) for B in run["transfers"]])
    err = math.sqrt(max(run["err2"], 0.0) / normX2) if normX2 > 0 else 0.0
    out.errors = np.array([err])
    out.n_iter = 0
    out.converged = True
    out.diagnostics = {"discarded": run["discarded"],
                       "allocation": allocation if tol is not None else None}
    return out


def _polish(xp, X, nodes, shape, best, total, use_gram, rounds=3):
    """Lower single ranks while the exact error stays within the budget (a local search).

    Nodes are tried in the order of the parameters one unit of their rank costs; each
    trial is one leaves-to-root pass with fixed ranks.
    """
    ranks = dict(best["ranks"])
    for _ in range(rounds):
        improved = False
        saving = {}
        for t in nodes[:-1]:
            trial = dict(ranks)
            trial[t.index] -= 1
            saving[t.index] = _ht_size(nodes, shape, ranks) - _ht_size(nodes, shape, trial)
        for t in sorted(nodes[:-1], key=lambda t: -saving[t.index]):
            if ranks[t.index] <= 1:
                continue
            trial = dict(ranks)
            trial[t.index] -= 1
            cand = _leaves_to_root(xp, X, nodes, lambda u, s2, rk=trial: rk[u.index], use_gram)
            if cand["err2"] <= total and cand["size"] < best["size"]:
                best, ranks, improved = cand, cand["ranks"], True
        if not improved:
            break
    return best


def _leaves_to_root(xp, X, nodes, rule, use_gram):
    """One leaves-to-root HT-SVD pass; ``rule(node, s2) -> rank`` picks every rank.

    Nodes of one level (height in the tree) are truncated from the same core, as in
    HOSVD; the levels follow each other as in ST-HOSVD.
    """
    N = X.ndim
    height, levels = {}, {}
    for t in nodes:
        height[t.index] = 0 if not t.children else 1 + max(height[c] for c in t.children)
    for t in nodes[:-1]:
        levels.setdefault(height[t.index], []).append(t)
    root = nodes[-1]
    normX2 = float(xp.vdot(X.ravel(), X.ravel()))
    core = X  # axes labelled by node index
    axes = _leaf_indices(nodes, N)
    leaves = [None] * N
    transfers, spectra, discarded, ranks = {}, {}, {}, {}
    used = 0.0
    for h in sorted(levels):
        mats = []
        for t in levels[h]:
            if not t.children:
                a = axes.index(t.index)
                M = xp.reshape(xp.moveaxis(core, a, 0), (core.shape[a], -1))
            else:
                a, b = axes.index(t.children[0]), axes.index(t.children[1])
                Y = xp.moveaxis(core, (a, b), (0, 1))
                M = xp.reshape(Y, (Y.shape[0] * Y.shape[1], -1))
            U, s2 = _node_spectrum(xp, M, use_gram)
            mats.append((t, U, s2))
        for t, U, s2 in mats:
            r = max(min(int(rule(t, s2)), U.shape[1]), 1)
            Ur = U[:, :r]
            tail = float(s2[r:].sum())
            used += tail
            spectra[t.index] = s2
            ranks[t.index] = r
            discarded[t.modes] = tail
            if not t.children:
                a = axes.index(t.index)
                leaves[t.modes[0]] = Ur
                core = xp.moveaxis(xp.tensordot(Ur.T, core, axes=([1], [a])), 0, a)
            else:
                a, b = axes.index(t.children[0]), axes.index(t.children[1])
                rl, rr = core.shape[a], core.shape[b]
                transfers[t.index] = xp.reshape(Ur, (rl, rr, r))
                Y = xp.moveaxis(core, (a, b), (0, 1))
                rest = Y.shape[2:]
                Y = Ur.T @ xp.reshape(Y, (rl * rr, -1))
                core = xp.reshape(Y, (r,) + tuple(rest))
                axes = [t.index] + [x for x in axes if x not in (t.children[0], t.children[1])]
    # the root: the remaining core has the root's two children as its axes
    a, b = axes.index(root.children[0]), axes.index(root.children[1])
    Broot = xp.moveaxis(core, (a, b), (0, 1))
    transfers[root.index] = xp.reshape(Broot, Broot.shape[:2] + (1,))
    inner = [transfers[t.index] for t in nodes if t.children]
    # T = P X with P an orthogonal projection: ||X - T||^2 = ||X||^2 - ||T||^2; use it
    # where the difference is well above rounding, else the (tight) discarded bound
    normT2 = float(xp.vdot(Broot.ravel(), Broot.ravel()))
    gap = normX2 - normT2
    err2 = min(used, gap) if gap > 1e3 * eps_of(X.dtype) * normX2 else used
    size = sum(int(np.prod(u.shape)) for u in leaves) + sum(int(np.prod(B.shape)) for B in inner)
    return dict(leaves=leaves, transfers=inner, spectra=spectra, discarded=discarded,
                used=used, err2=err2, size=size, ranks=ranks)


def _leaf_indices(nodes, N):
    """Node index of the leaf of every mode, in mode order (the initial core's axes)."""
    idx = [None] * N
    for t in nodes:
        if not t.children:
            idx[t.modes[0]] = t.index
    return idx
