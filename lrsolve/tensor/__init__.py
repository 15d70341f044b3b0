"""Tensor decompositions: Tucker, CP, tensor train, tensor ring, and rank selection."""

from . import selection
from .selection import *  # noqa: F401,F403  (rank selection and structure search)

__all__: list = [*selection.__all__]
