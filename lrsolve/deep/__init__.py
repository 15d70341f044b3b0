"""Learned solvers: the deep conjugate direction method (DCDM).

:func:`dcdm` solves Poisson-type systems on 2-D/3-D grids with search
directions from a small convolutional network (Kaneda et al., ICML 2023),
with shipped pretrained weights and a fallback to preconditioned CG.
The network code needs PyTorch (``pip install 'lrsolve[deep]'``), imported
lazily: importing this module does not import torch.
"""

from ._dcdm import dcdm
from ._model import build_model, load_model, save_model, shipped_models
from ._scenes import obstacle_mask
from ._train import TrainResult, poisson_scenes, ritz_vectors, train_dcdm

__all__ = [
    "dcdm",
    "train_dcdm",
    "TrainResult",
    "build_model",
    "load_model",
    "save_model",
    "shipped_models",
    "obstacle_mask",
    "poisson_scenes",
    "ritz_vectors",
]
