"""VGG: stacks of 3x3 convolutions, configurations A (11 layers), B (13), D (16) and E (19).

Paper: Simonyan, Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015 (arXiv:1409.1556), table 1. The `-bn` variants put BatchNorm (Ioffe,
Szegedy, ICML 2015) after every conv, which is what lets VGG-16/19 train without the paper's
stage-wise initialisation.

Adapted for 28-32 px inputs: a max-pool that would shrink a 1x1 map is skipped (28 px goes
28 -> 14 -> 7 -> 3 -> 1 and skips the fifth), an adaptive average pool brings any size to
1x1, and the three FC layers are 512 wide instead of 4096, since the features entering them
are 512 numbers instead of 7 * 7 * 512.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from dllab.models.checks import build
from dllab.models.registry import register_model

__all__ = ["CFGS", "VGG", "make_layers"]

# Table 1: a number is a 3x3 conv with that many output channels, "M" a 2x2 max-pool.
CFGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M"]
    + [512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_layers(
    cfg: Sequence[int | str], *, in_channels: int, image_size: int, batch_norm: bool
) -> nn.Sequential:
    """Turn a table-1 column into layers: `(B, in_channels, S, S) -> (B, 512, s, s)`.

    `s` is `S` halved once per pool, except that pools are skipped once the map is 1x1.
    """
    layers: list[nn.Module] = []
    channels, side = in_channels, image_size
    for v in cfg:
        if v == "M":
            if side >= 2:  # a 2x2 pool on a 1x1 map would leave nothing
                layers.append(nn.MaxPool2d(2))
                side //= 2
            continue
        assert isinstance(v, int)
        # BatchNorm's shift makes a conv bias redundant.
        layers.append(nn.Conv2d(channels, v, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG features from `cfg`, a global average pool and three FC layers with dropout."""

    def __init__(
        self,
        *,
        cfg: Sequence[int | str],
        batch_norm: bool = False,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        hidden: int = 512,  # FC width; the paper's 4096 would be 97% of the weights here
        dropout: float = 0.5,  # the paper's rate, on the first two FC layers
    ) -> None:
        super().__init__()
        self.features = make_layers(
            cfg, in_channels=in_channels, image_size=image_size, batch_norm=batch_norm
        )  # (B, 512, 1, 1) at 28 or 32 px
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # identity at 28 or 32 px; averages larger maps
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, 512)
            nn.Linear(512, hidden),  # (B, hidden)
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),  # (B, hidden)
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),  # (B, num_classes)
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # He et al. 2015 init as in torchvision: PyTorch's default leaves 16-19 plain conv
        # layers with vanishing activations, so VGG-16/19 without BN would not start learning.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


def _create_vgg(variant: str, cfg: str, batch_norm: bool, kw: dict[str, Any]) -> VGG:
    return build(VGG, variant, kw, cfg=CFGS[cfg], batch_norm=batch_norm)


@register_model("vgg11")
def vgg11(**kw: Any) -> VGG:
    """VGG-11, configuration A; options: `hidden`, `dropout`."""
    return _create_vgg("vgg11", "A", False, kw)


@register_model("vgg13")
def vgg13(**kw: Any) -> VGG:
    """VGG-13, configuration B; options: `hidden`, `dropout`."""
    return _create_vgg("vgg13", "B", False, kw)


@register_model("vgg16")
def vgg16(**kw: Any) -> VGG:
    """VGG-16, configuration D; options: `hidden`, `dropout`."""
    return _create_vgg("vgg16", "D", False, kw)


@register_model("vgg19")
def vgg19(**kw: Any) -> VGG:
    """VGG-19, configuration E; options: `hidden`, `dropout`."""
    return _create_vgg("vgg19", "E", False, kw)


@register_model("vgg11-bn")
def vgg11_bn(**kw: Any) -> VGG:
    """VGG-11 with BatchNorm after every conv; options: `hidden`, `dropout`."""
    return _create_vgg("vgg11-bn", "A", True, kw)


@register_model("vgg13-bn")
def vgg13_bn(**kw: Any) -> VGG:
    """VGG-13 with BatchNorm after every conv; options: `hidden`, `dropout`."""
    return _create_vgg("vgg13-bn", "B", True, kw)


@register_model("vgg16-bn")
def vgg16_bn(**kw: Any) -> VGG:
    """VGG-16 with BatchNorm after every conv; options: `hidden`, `dropout`."""
    return _create_vgg("vgg16-bn", "D", True, kw)


@register_model("vgg19-bn")
def vgg19_bn(**kw: Any) -> VGG:
    """VGG-19 with BatchNorm after every conv; options: `hidden`, `dropout`."""
    return _create_vgg("vgg19-bn", "E", True, kw)
