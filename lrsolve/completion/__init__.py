"""Low-rank matrix completion: alternating minimization, SoftImpute, ScaledGD."""

__all__: list = []
