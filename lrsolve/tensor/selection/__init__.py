"""Rank selection and structure search for tensor decompositions."""

__all__: list = []
