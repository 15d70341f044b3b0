"""Proximal operators, proximal-gradient and block-coordinate-descent methods, Lasso, NMF."""

__all__: list = []
