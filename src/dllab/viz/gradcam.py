"""Grad-CAM: where a classifier looked, from the gradients of its score at one layer.

Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization", ICCV 2017, eq. 1-2: with `A` the activations of a convolutional layer
(K channels) and `y_c` the score of class c,

    alpha_k = mean over positions of d y_c / d A_k          (one weight per channel)
    cam     = ReLU(sum_k alpha_k * A_k)                     (h, w), upsampled to the input

For a network that ends in global average pooling and one linear layer, this is exactly the
class activation map of Zhou et al. (CVPR 2016) divided by h*w, which is how the test checks it.
For a defect classifier, the map shows whether "defective" was said because of the defect.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["grad_cam"]


def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    layer: nn.Module,
    target: int | torch.Tensor | None = None,
    *,
    normalize: bool = True,
    return_logits: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM maps (B, H, W) of `model` on `x` (B, C, H, W) at `layer` (a module inside it).

    `target`: the class to explain, one for all or (B,) per image; default each image's
    predicted class. With `normalize`, each map is divided by its maximum (0..1; an all-zero
    map stays 0). With `return_logits`, also the model's outputs (B, classes) from the same
    forward pass (detached), so a caller that needs both runs the model once. The model's
    parameters get no gradients; its mode is left as it was.

    >>> cam = grad_cam(model, images, model.stages[-1])   # doctest: +SKIP
    """
    store: dict[str, torch.Tensor] = {}

    def keep(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        store["a"] = output

    handle = layer.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)  # so activations need grad even if frozen
            logits = model(x)  # (B, classes)
            if target is None:
                target = logits.argmax(1)
            idx = torch.as_tensor(target, device=logits.device).expand(len(logits))
            score = logits.gather(1, idx[:, None]).sum()  # images are independent: sum
            (grads,) = torch.autograd.grad(score, store["a"])
    finally:
        handle.remove()
    a = store["a"].detach()  # (B, K, h, w)
    alpha = grads.mean((2, 3), keepdim=True)  # (B, K, 1, 1)
    cam = F.relu((alpha * a).sum(1, keepdim=True))  # (B, 1, h, w)
    cam = F.interpolate(cam, x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    if normalize:
        peak = cam.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)
        cam = cam / peak
    return (cam, logits.detach()) if return_logits else cam
