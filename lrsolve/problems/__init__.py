"""Problem generators shared by users, tests and benchmarks: Darcy, heat, Helmholtz, variable-coefficient Poisson."""

__all__: list = []
