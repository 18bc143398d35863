"""U-Net: an encoder that halves the image while it widens, a decoder that doubles it back, and
skip connections that hand each decoder stage the encoder's features of the same size.

Paper: Ronneberger, Fischer, Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015 (arXiv:1505.04597), figure 1. Each stage is two 3x3 convolutions;
going down is a 2x2 max-pool, going up a 2x2 transposed convolution ("up-conv") that halves
the channels, then the skip's features are concatenated and two 3x3 convolutions mix them; a
1x1 convolution maps the last features to class scores per pixel.

Two deliberate differences from the paper, as almost every modern U-Net makes them:
- "same" padding instead of valid convolutions, so the output has the input's size and no
  crop of the skip features is needed (the paper's output is 388 px for a 572 px input);
- BatchNorm after each convolution (Ioffe & Szegedy 2015), which the paper predates: it lets
  a small batch of large images train at a higher learning rate.

An input whose sides are not multiples of 2**depth is padded (reflect) up to the next one and
the scores cropped back, so any size works.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from dllab.errors import ConfigError
from dllab.models.checks import build
from dllab.models.registry import register_model

__all__ = ["DoubleConv", "Down", "UNet", "Up"]

Upsample = Literal["transpose", "bilinear"]


class DoubleConv(nn.Module):
    """(3x3 conv -> BatchNorm -> ReLU) twice; the size is kept ("same" padding)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),  # BN has the bias
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Down(nn.Module):
    """One encoder stage: 2x2 max-pool (half the size), then a DoubleConv (more channels)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))  # (B, C, H, W) -> (B, C_out, H/2, W/2)


class Up(nn.Module):
    """One decoder stage: double the size, concatenate the skip, then a DoubleConv.

    `transpose`: a learned 2x2 stride-2 transposed convolution that also halves the channels
    (the paper's up-conv); `bilinear`: fixed bilinear interpolation then a 1x1 convolution to
    halve them (no checkerboard artefacts, fewer parameters).
    """

    def __init__(self, in_channels: int, out_channels: int, upsample: Upsample) -> None:
        super().__init__()
        half = in_channels // 2
        if upsample == "transpose":
            self.up: nn.Module = nn.ConvTranspose2d(in_channels, half, kernel_size=2, stride=2)
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, half, 1),
            )
        self.conv = DoubleConv(half + out_channels, out_channels)  # up-sampled + skip

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)  # (B, C_in, h, w) -> (B, C_in/2, 2h, 2w)
        return self.conv(torch.cat([skip, x], dim=1))  # (B, C_out, 2h, 2w)


class UNet(nn.Module):
    """`(B, in_channels, H, W)` images -> `(B, num_classes, H, W)` class scores (logits).

    Channels are `width * 2**i` at depth i (paper: width 64, depth 4, 31 M parameters;
    width 16 has 1.9 M, a size a 2-core CPU trains at 256x512 in minutes).
    """

    def __init__(
        self,
        *,
        num_classes: int = 2,
        in_channels: int = 3,
        width: int = 16,  # channels of the first stage; each stage down doubles them
        depth: int = 4,  # times the image is halved (paper: 4); inputs are padded to 2**depth
        upsample: Upsample = "transpose",  # the paper's learned up-conv, or bilinear + 1x1
        image_size: int | None = None,  # unused: any size works (stated for recipes)
    ) -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ConfigError(f"U-Net needs depth >= 1 and width >= 1; got {depth}, {width}")
        if upsample not in ("transpose", "bilinear"):
            raise ConfigError(f"upsample must be 'transpose' or 'bilinear'; got {upsample!r}")
        self.depth = depth
        chans = [width * 2**i for i in range(depth + 1)]  # e.g. 16, 32, 64, 128, 256
        self.stem = DoubleConv(in_channels, chans[0])  # (B, w, H, W)
        self.downs = nn.ModuleList(Down(chans[i], chans[i + 1]) for i in range(depth))
        # The bottom (B, w*2**depth, H/2**depth, W/2**depth) climbs back stage by stage.
        self.ups = nn.ModuleList(
            Up(chans[i + 1], chans[i], upsample) for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(chans[0], num_classes, 1)  # (B, num_classes, H, W)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2**self.depth
        pad_h, pad_w = (-h) % m, (-w) % m
        if pad_h or pad_w:  # right and below, so the crop below is a plain slice
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect" if min(h, w) > m else "replicate")
        skips = [self.stem(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = skips.pop()  # the bottom of the U
        for up in self.ups:
            x = up(x, skips.pop())
        return self.head(x)[..., :h, :w]


def _create_unet(variant: str, kw: dict[str, Any]) -> UNet:
    return build(UNet, variant, kw)


@register_model("unet")
def unet(**kw: Any) -> UNet:
    """U-Net with BatchNorm, width 16 and depth 4 by default (1.9 M parameters)."""
    return _create_unet("unet", kw)
