"""Linear operators: matrix-free stencils and wrappers used by the solvers."""

from ._base import Operator, as_operator, aslinearoperator

__all__ = ["Operator", "aslinearoperator", "as_operator"]

try:  # the matrix-free PDE operators
    from ._poisson import MaskedPoissonOperator, PoissonOperator, poisson  # noqa: F401

    __all__ += ["poisson", "PoissonOperator", "MaskedPoissonOperator"]
except ModuleNotFoundError as _exc:  # pragma: no cover - during development only
    if _exc.name != f"{__name__}._poisson":
        raise
