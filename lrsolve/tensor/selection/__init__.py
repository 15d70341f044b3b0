"""Rank selection and structure search for tensor decompositions.

* :func:`tucker_core_shape` -- Tucker core shapes under a parameter budget (the Tucker
  packing problem of Ghadiri et al., a sigma^2-greedy, and a HOOI-scored portfolio);
  :func:`tucker_spectra` gives the per-mode spectra from Gram matrices.
* :func:`tucker_rank_for_tol`, :func:`tt_ranks_for_tol`, :func:`tr_ranks_for_tol` --
  tolerance-driven ranks with the error budget allocated globally across modes / cuts.
* :func:`tn_structure_search` -- TT/TR rank (and TR permutation) search: greedy rank
  increments and TnALE alternating local enumeration with warm-started ALS fits.
* :func:`spm` -- symmetric CP by the subspace power method.
* :func:`cp_rank` -- CP rank from the error curve, core consistency and replicability.
"""

from ._core_shape import (
    tr_ranks_for_tol,
    tt_ranks_for_tol,
    tt_spectra,
    tucker_core_shape,
    tucker_rank_for_tol,
    tucker_spectra,
)
from ._cp_rank import CPRankResult, cp_rank, factor_match_score
from ._spm import SymmetricCPResult, spm
from ._structure import StructureSearchResult, tn_structure_search

__all__: list = [
    "tucker_spectra",
    "tucker_core_shape",
    "tucker_rank_for_tol",
    "tt_spectra",
    "tt_ranks_for_tol",
    "tr_ranks_for_tol",
    "tn_structure_search",
    "StructureSearchResult",
    "spm",
    "SymmetricCPResult",
    "cp_rank",
    "CPRankResult",
    "factor_match_score",
]
