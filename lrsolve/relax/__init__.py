"""Stationary relaxation solvers (SOR, SSOR) and bandit tuning of the relaxation parameter.

.. autosummary::

   sor
   ssor
   TsallisINF
   ContextualTsallisINF
   tune_omega
   TuneResult
   solve_with_omega
   default_omegas
"""

from ._bandit import ContextualTsallisINF, TsallisINF, default_omegas
from ._stationary import sor, ssor
from ._tune import TuneResult, solve_with_omega, tune_omega

__all__ = [
    "sor",
    "ssor",
    "TsallisINF",
    "ContextualTsallisINF",
    "tune_omega",
    "TuneResult",
    "solve_with_omega",
    "default_omegas",
]
