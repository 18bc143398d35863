"""Optimisers from the recipe. Weight decay skips biases and normalisation weights.

A model may ask for parameter groups of its own by defining `param_groups()`, a list of
`{"name": str, "params": [...], "lr_mult": float}`: each group trains at `lr_mult` times the
recipe's `optim.lr` (a pretrained backbone slower than its new head: discriminative learning
rates). Frozen parameters (`requires_grad=False`) are left out either way. Every other model
gets the two groups it always had: decayed weights, then biases and norms without decay.
Schedules that scale each group's own rate (cosine, warmup-cosine, step…) keep the ratios;
torch's one-cycle sets one peak for every group and so does not.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dllab.config import OptimConfig

__all__ = ["build_optimizer", "param_groups"]


def _split_decay(params: list[nn.Parameter], weight_decay: float) -> list[dict[str, Any]]:
    """Matrices and filters with `weight_decay`; biases and norm scales (ndim <= 1) without."""
    live = [p for p in params if p.requires_grad]
    return [
        {"params": [p for p in live if p.ndim > 1], "weight_decay": weight_decay},
        {"params": [p for p in live if p.ndim <= 1], "weight_decay": 0.0},
    ]


def param_groups(cfg: OptimConfig, model: nn.Module) -> list[dict[str, Any]]:
    """The optimiser's parameter groups for `model` (see the module docstring).

    >>> lin = nn.Linear(3, 2)
    >>> [len(g["params"]) for g in param_groups(OptimConfig(weight_decay=0.1), lin)]
    [1, 1]
    """
    hook = getattr(model, "param_groups", None)
    if not callable(hook):
        return _split_decay(list(model.parameters()), cfg.weight_decay)
    groups = []
    for group in hook():
        for part in _split_decay(list(group["params"]), cfg.weight_decay):
            if part["params"]:  # a wholly frozen group (a linear probe's backbone) drops out
                lr_mult = float(group.get("lr_mult", 1.0))
                name = group.get("name", f"group{len(groups)}")
                groups.append({**part, "lr": cfg.lr * lr_mult, "lr_mult": lr_mult, "name": name})
    return groups


def build_optimizer(cfg: OptimConfig, model: nn.Module) -> torch.optim.Optimizer:
    groups = param_groups(cfg, model)
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)
