"""Global magnitude pruning with a short fine-tune, via `torch.nn.utils.prune`.

The smallest `amount` of all conv and linear weights (by absolute value, ranked across
layers, not per layer: Han et al. 2015, "Learning both Weights and Connections") are set
to zero; a few steps of training on the training split let the remaining weights make up
for them while the masks stay in place, then the masks are made permanent.

This is *unstructured* sparsity: the tensors keep their shapes and dense CPU kernels multiply
the zeros like any other number, so the model is no faster and its plain file no smaller.
What it buys is a file that compresses well (a zip of it shrinks by about `amount`) and a
starting point for sparse kernels or structured pruning.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from dllab.train.optim import build_optimizer

PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def prunable_weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, "weight") for every conv and linear layer of `model`."""
    return [(m, "weight") for m in model.modules() if isinstance(m, PRUNABLE)]


def sparsity(model: nn.Module) -> float:
    """Fraction of conv and linear weights that are exactly zero."""
    weights = [getattr(m, name) for m, name in prunable_weights(model)]
    total = sum(w.numel() for w in weights)
    return sum(int((w == 0).sum()) for w in weights) / max(total, 1)


def prune_and_finetune(
    model: nn.Module, task: Any, *, amount: float, steps: int, lr: float
) -> nn.Module:
    """Prune `model` in place (global L1 magnitude, `amount` of its conv/linear weights), then
    train `steps` batches of `task`'s training split with the masks kept (the recipe's
    optimiser at `lr`, cosine-decayed to 0), then make the masks permanent. Returns the model
    in eval mode.

    >>> m = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    >>> round(sparsity(prune_and_finetune(m, None, amount=0.5, steps=0, lr=0.0)), 2)
    0.5
    """
    params = prunable_weights(model)
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
    if steps > 0:
        _finetune(model, task, steps, lr)
    for module, name in params:
        prune.remove(module, name)  # weight = weight_orig * mask, a plain parameter again
    return model.eval()


def _finetune(model: nn.Module, task: Any, steps: int, lr: float) -> None:
    """`steps` training steps on the task's training split; the pruning hooks keep the masked
    weights at zero in every forward (their `weight_orig` gets gradients, the mask does not)."""
    optim_cfg = task.recipe.optim.model_copy(update={"lr": lr})
    optimizer = build_optimizer(optim_cfg, model)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    batches = task.train_batches()
    model.train()
    step, epoch = 0, 0
    while step < steps:
        for batch in batches.epoch(epoch):
            loss = task.training_step(model, batch).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step >= steps:
                break
        epoch += 1
    model.eval()
