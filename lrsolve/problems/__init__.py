"""Problem generators shared by users, tests and benchmarks.

Each generator returns a :class:`Problem` (or a list of them): a sparse CSR
matrix ``A``, a right-hand side ``b`` and the parameter field that defines
``A`` (permeability, conductivity, wave number, coefficient), all on a 2-D
grid of the unit square.  ``A, b = problem`` unpacks it.

.. autosummary::

   Problem
   gaussian_field
   darcy
   darcy_sequence
   heat_sequence
   helmholtz
   helmholtz_sequence
   poisson_variable
"""

from ._generators import (
    darcy,
    darcy_sequence,
    gaussian_field,
    heat_sequence,
    helmholtz,
    helmholtz_sequence,
    poisson_variable,
)
from ._problem import Problem

__all__ = [
    "Problem",
    "gaussian_field",
    "darcy",
    "darcy_sequence",
    "heat_sequence",
    "helmholtz",
    "helmholtz_sequence",
    "poisson_variable",
]
