"""Learned solvers: the deep conjugate direction method (DCDM). Needs torch (``pip install 'lrsolve[deep]'``), imported lazily."""

__all__: list = []
