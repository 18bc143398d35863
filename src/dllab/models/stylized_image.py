"""Neural style transfer's model side: the image being optimised and what it is compared by.

Gatys, Ecker, Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016
(arXiv:1508.06576): the result is not the output of a network but an image whose pixels are
optimised so that, in a frozen pretrained network,

- its features at one deeper layer match the content image's (content loss, their eq. 1);
- the Gram matrices of its features at several layers match the style image's (style loss,
  eqs. 3-5): feature correlations summed over positions, which keep texture and drop layout;
- optionally its neighbouring pixels differ little (total variation, Mahendran & Vedaldi,
  CVPR 2015), which removes the high-frequency noise pixel optimisation leaves.

The features are EfficientNet-Lite0's ImageNet ones (`efficientnet_lite.py`), taken where the
network has a ReLU6: the stem and the first 1x1 expansion of each stage, the counterpart of
VGG's `relu1_1` … `relu5_1` that Gatys et al. use. Not its stage outputs: those are linear
bottlenecks summed into a residual stream: on them (style weight 0.1) the style loss of
chelsea x brick fell by 73 % in 300 steps and the result stayed a lightly streaked photo,
where on the ReLU6 taps (weight 10) it fell by 98 % and the bricks show. Wang, Li,
Vasconcelos ("Rethinking and Improving the Robustness of Image Style Transfer", CVPR 2021)
trace the weak stylisation of residual networks to such peaky, low-entropy maps.

Not registered with `create_model`: the style-transfer task (`dllab.tasks.style_transfer`)
builds `StylizedImage` from the content image's size, and its recipe's `model:` names the
network the features come from.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from dllab.errors import ConfigError
from dllab.models.efficientnet_lite import MEAN, STD, EfficientNetLite

__all__ = [
    "LiteFeatureTaps",
    "StylizedImage",
    "content_loss",
    "gram_matrix",
    "style_loss",
    "total_variation",
]

Parametrization = Literal["sigmoid", "clamp"]
# What each tap is, for errors and the report: (where, channels, stride).
TAPS = (
    ("stem", 32, 2),
    ("stage 1 expansion", 96, 2),
    ("stage 2 expansion", 144, 4),
    ("stage 3 expansion", 240, 8),
    ("stage 4 expansion", 480, 16),
    ("stage 5 expansion", 672, 16),
    ("stage 6 expansion", 1152, 32),
)
EPS = 0.01  # sigmoid start: content pixels kept within [EPS, 1 - EPS], where it still has slope


# ---------------------------------------------------------------------------- losses
def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Feature correlations `(B, C, C)` of maps `(B, C, H, W)`, divided by the H·W positions.

    G[b, i, j] = Σ_p F[b, i, p] F[b, j, p] / (H W) (Gatys et al. eq. 3, normalised so that a
    style image of another size gives comparable values).

    >>> gram_matrix(torch.ones(1, 2, 3, 3)).tolist()
    [[[1.0, 1.0], [1.0, 1.0]]]
    """
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)  # (B, C, HW)
    return flat @ flat.transpose(1, 2) / (h * w)  # (B, C, C)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of two feature maps (Gatys et al. eq. 1, as a mean)."""
    return F.mse_loss(features, target)


def style_loss(features: list[torch.Tensor], grams: list[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the mean squared difference of Gram matrices.

    With `gram_matrix`'s 1/(H W) this is Gatys et al.'s E_l = Σ (G - A)² / (4 N² M²) times 4,
    each layer weighted 1 / (number of layers), as their w_l.
    """
    terms = [F.mse_loss(gram_matrix(f), g) for f, g in zip(features, grams, strict=True)]
    return torch.stack(terms).mean()


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of vertically and of horizontally neighbouring pixels, summed.

    >>> float(total_variation(torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])))
    1.0
    """
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()


# ---------------------------------------------------------------------------- the pixels
class StylizedImage(nn.Module):
    """The image being optimised, `forward() -> (1, C, H, W)` in [0, 1]: the only parameter.

    `sigmoid`: the parameter holds logits and the image is their sigmoid, so every step of any
    optimiser stays a valid image (its gradient shrinks near black and white, so a start
    from the content is squeezed into [0.01, 0.99]); `clamp`: the parameter is the image,
    projected back into [0, 1] before each use (projected gradient descent, as the PyTorch
    tutorial clamps after each L-BFGS step).
    """

    def __init__(
        self, *, height: int, width: int, channels: int = 3, parametrization: str = "sigmoid"
    ) -> None:
        super().__init__()
        if parametrization not in ("sigmoid", "clamp"):
            raise ConfigError(f"parametrization must be sigmoid or clamp; got {parametrization!r}")
        self.parametrization = parametrization
        self.pixels = nn.Parameter(torch.zeros(1, channels, height, width))  # (1, C, H, W)

    @torch.no_grad()
    def start_from(self, image: torch.Tensor) -> StylizedImage:
        """Set the pixels to `image` (1, C, H, W) in [0, 1] (the content, or noise)."""
        if self.parametrization == "sigmoid":
            self.pixels.copy_(torch.logit(image.clamp(EPS, 1 - EPS)))
        else:
            self.pixels.copy_(image.clamp(0, 1))
        return self

    def forward(self) -> torch.Tensor:
        if self.parametrization == "sigmoid":
            return torch.sigmoid(self.pixels)
        with torch.no_grad():
            self.pixels.clamp_(0, 1)  # the projection, before the image is used
        return self.pixels


# ---------------------------------------------------------------------------- the features
class LiteFeatureTaps(nn.Module):
    """The ReLU6 activations of a frozen EfficientNet-Lite at the taps asked for.

    `forward(image)` takes `(B, 3, H, W)` in [0, 1] (normalised here as the ImageNet weights
    expect) and returns one map per entry of `taps`, in that order; tap 0 is the stem, tap k
    (1-6) the first expansion of stage k (`TAPS`: channels 32, 96, 144, 240, 480, 672, 1152 at
    strides 2, 2, 4, 8, 16, 16, 32). The network runs only as deep as the deepest tap.
    The backbone is frozen: no parameter wants a gradient and BatchNorm stays in eval mode
    (its ImageNet statistics, whatever `train()` asks), so the losses are fixed functions.
    """

    def __init__(self, backbone: nn.Module, taps: list[int]) -> None:
        super().__init__()
        if not isinstance(backbone, EfficientNetLite):
            raise ConfigError(
                "style transfer takes its features from model.name=efficientnet-lite0; got "
                f"a {type(backbone).__name__}"
            )
        bad = [t for t in taps if not 0 <= t < len(TAPS)]
        if bad:
            raise ConfigError(f"feature taps must be 0..{len(TAPS) - 1}; got {bad}")
        self.backbone, self.taps = backbone, list(taps)
        for p in backbone.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)
        self.train(False)

    def train(self, mode: bool = True) -> LiteFeatureTaps:
        """Always eval mode: frozen BatchNorm statistics and no dropout."""
        return super().train(False)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        net = self.backbone
        x = net.stem((image - self.mean) / self.std)  # (B, 32, H/2, W/2)
        found = {0: x}
        deepest = max(self.taps)
        for k, stage in enumerate(net.stages[:deepest]):
            first, rest = stage[0], stage[1:]
            y = first.expand(x) if first.expand is not None else x
            if k > 0:
                found[k] = y  # (B, C_k, H/s_k, W/s_k), after ReLU6
            y = first.project(first.depthwise(y))
            x = x + y if first.residual else y
            x = rest(x)
        if deepest >= 1:  # the deepest tap's expansion: the stage itself is not needed
            found[deepest] = net.stages[deepest][0].expand(x)
        return [found[t] for t in self.taps]
