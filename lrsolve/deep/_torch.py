"""Lazy access to PyTorch (the optional ``deep`` extra)."""

from __future__ import annotations

import importlib

INSTALL_HINT = "pip install 'lrsolve[deep]'"


def import_torch():
    """Return the ``torch`` module, or raise an ImportError that says how to install it."""
    try:
        return importlib.import_module("torch")
    except ImportError as exc:  # ModuleNotFoundError or a broken install
        raise ImportError(
            "lrsolve.deep needs PyTorch, which is not installed (or does not import: "
            f"{exc}); install it with: {INSTALL_HINT}"
        ) from exc
