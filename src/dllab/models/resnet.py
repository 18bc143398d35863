"""ResNet: deep residual networks.

Paper: He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016
(arXiv:1512.03385). Two families from it:

- `resnet18`, `resnet34`, `resnet50`: the ImageNet networks of table 1, built by torchvision
  with random weights (never pretrained). For images under 64 px the 7x7 stride-2 stem and its
  max-pool would shrink a 28 px image to 7 px before the first block, so they are replaced by
  one 3x3 stride-1 conv, the usual CIFAR adaptation.
- `resnet20`, `resnet56`: the CIFAR-10 networks of section 4.2: a 3x3 conv with 16 channels,
  three stages of n basic blocks with 16, 32 and 64 channels (the last two start with stride
  2), global average pooling and one FC layer: 6n + 2 weighted layers. Where a block changes
  shape the shortcut is option B, a 1x1 conv + BatchNorm projection, rather than the paper's
  CIFAR choice A (zero-padded identity): B is what torchvision's `BasicBlock` implements and
  costs two small convs per network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from dllab.errors import ConfigError
from dllab.models.checks import build
from dllab.models.registry import register_model

if TYPE_CHECKING:  # torchvision costs seconds to import; only these builders need it
    from torchvision.models.resnet import ResNet

__all__ = ["CifarResNet", "small_input_resnet"]


class CifarResNet(nn.Module):
    """The 6n+2-layer ResNet of section 4.2, built from torchvision's `BasicBlock`.

    Works for any image size (the head pools globally); shape comments are for 28 px.
    """

    def __init__(
        self,
        *,
        depth: int,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,  # unused: global average pooling accepts any size
    ) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ConfigError(f"a CIFAR ResNet has 6n+2 layers (20, 32, 44, 56…); got {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1, bias=False),  # (B, 16, 28, 28)
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
        )
        self.layer1 = self._stage(16, 16, n, stride=1)  # (B, 16, 28, 28)
        self.layer2 = self._stage(16, 32, n, stride=2)  # (B, 32, 14, 14)
        self.layer3 = self._stage(32, 64, n, stride=2)  # (B, 64, 7, 7)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),  # (B, 64, 1, 1)
            nn.Flatten(),  # (B, 64)
            nn.Linear(64, num_classes),  # (B, num_classes)
        )
        # He et al. 2015 init, as the paper and torchvision use.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _stage(in_channels: int, out_channels: int, n: int, stride: int) -> nn.Sequential:
        """`n` basic blocks; the first one changes shape and so gets the option-B shortcut."""
        from torchvision.models.resnet import BasicBlock

        shortcut = None
        if stride != 1 or in_channels != out_channels:
            shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        blocks = [BasicBlock(in_channels, out_channels, stride, shortcut)]
        blocks += [BasicBlock(out_channels, out_channels) for _ in range(n - 1)]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.head(x)


def small_input_resnet(
    *, arch: str, num_classes: int = 10, in_channels: int = 1, image_size: int = 28
) -> ResNet:
    """torchvision's `arch` ("resnet18", "resnet34", "resnet50") with a stem fit for the input.

    Under 64 px: conv1 becomes 3x3 stride 1 and the max-pool goes, so a 28 px image reaches the
    four stages at 28, 14, 7 and 4 px. From 64 px: the 7x7 stride-2 stem stays, only its input
    channels follow `in_channels`. Weights are always random.
    """
    import torchvision

    model: ResNet = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
    if image_size < 64:
        model.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


def _create_resnet(variant: str, kw: dict[str, Any]) -> ResNet:
    return build(small_input_resnet, variant, kw, arch=variant)


def _create_cifar_resnet(variant: str, depth: int, kw: dict[str, Any]) -> CifarResNet:
    return build(CifarResNet, variant, kw, depth=depth)


@register_model("resnet18")
def resnet18(**kw: Any) -> ResNet:
    """ResNet-18 (torchvision, random weights), stem adapted to small inputs."""
    return _create_resnet("resnet18", kw)


@register_model("resnet34")
def resnet34(**kw: Any) -> ResNet:
    """ResNet-34 (torchvision, random weights), stem adapted to small inputs."""
    return _create_resnet("resnet34", kw)


@register_model("resnet50")
def resnet50(**kw: Any) -> ResNet:
    """ResNet-50 (torchvision, random weights, bottleneck blocks), stem adapted to small inputs."""
    return _create_resnet("resnet50", kw)


@register_model("resnet20")
def resnet20(**kw: Any) -> CifarResNet:
    """CIFAR ResNet-20 (n = 3, ~0.27 M parameters), option-B shortcuts."""
    return _create_cifar_resnet("resnet20", 20, kw)


@register_model("resnet56")
def resnet56(**kw: Any) -> CifarResNet:
    """CIFAR ResNet-56 (n = 9, ~0.86 M parameters), option-B shortcuts."""
    return _create_cifar_resnet("resnet56", 56, kw)
