"""Exercise checkpoint: save a training state and resume it exactly.

A run that is stopped, saved and resumed must continue as if it had never stopped. That
needs more than the weights: the optimiser's state (Adam's moments, SGD's momentum) and
where the run was (the epoch). The grader trains a model, calls save_checkpoint, keeps
training, then loads your checkpoint into a FRESH model and optimiser and checks that the
same steps give the same weights. Grade it with `dllab lab check checkpoint`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def save_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int
) -> None:
    """Write everything needed to resume training to the file `path`.

    TODO: one dict with the model's and the optimiser's state_dict and the epoch.
    """
    raise NotImplementedError("Need to implement for exercise checkpoint")


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Restore `model` and `optimizer` in place from `path`; return the saved epoch.

    Example:
        >>> save_checkpoint("ckpt.pt", model, optimizer, epoch=7)
        >>> load_checkpoint("ckpt.pt", new_model, new_optimizer)
        7

    TODO: read the dict back and load each part.
    """
    raise NotImplementedError("Need to implement for exercise checkpoint")
