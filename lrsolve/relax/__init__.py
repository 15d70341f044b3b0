"""Stationary relaxation solvers (SOR, SSOR) and bandit tuning of the relaxation parameter."""

__all__: list = []
