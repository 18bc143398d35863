"""MONAI's 3D U-Net for volumetric segmentation.

Paper: Kerfoot et al., "Left-Ventricle Quantification Using Residual U-Net", STACOM 2018
(arXiv:1810.00497), the residual U-Net MONAI ships as `monai.networks.nets.UNet`; the U-Net
itself is Ronneberger et al., MICCAI 2015, and its 3D form Çiçek et al., MICCAI 2016
(arXiv:1606.06650). Each level is a strided convolution (down-sampling by learning, not by
max-pooling) with `num_res_units` residual units; the way up is transposed convolutions
with skip connections concatenated, as in MONAI's spleen tutorial and its 3D integration
test (channels 16..256, strides 2, two residual units).

Models take `(B, in_channels, X, Y, Z)` and return logits `(B, num_classes, X, Y, Z)`
(class 0 is background); each spatial side must be divisible by 2**len(strides). MONAI is
imported inside the builder, so `import dllab.models` works without the `[medical]` extra.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from dllab.errors import ConfigError
from dllab.models.checks import build
from dllab.models.registry import register_model

__all__ = ["monai_unet3d"]

INSTALL_HINT = "pip install 'dllab[medical]'"


def monai_unet3d(
    *,
    num_classes: int = 3,  # output channels, background included
    in_channels: int = 1,  # image channels (4 for a multi-modal MR: T1, T1c, T2, FLAIR)
    channels: tuple[int, ...] = (16, 32, 64, 128, 256),  # features per level (MONAI's tutorials)
    strides: tuple[int, ...] = (2, 2, 2, 2),  # down-sampling between levels: len(channels) - 1
    num_res_units: int = 2,  # residual units per level (0: plain conv blocks)
    norm: str = "batch",  # "batch" or "instance" (instance: batches of one volume)
    dropout: float = 0.0,
) -> nn.Module:
    """MONAI's `UNet(spatial_dims=3, …)` with our argument names (`num_classes`)."""
    try:
        from monai.networks.nets import UNet
    except ImportError as exc:
        raise ConfigError(f"the 3D U-Net needs MONAI: {INSTALL_HINT}") from exc
    channels, strides = tuple(channels), tuple(strides)
    if len(strides) != len(channels) - 1:
        raise ConfigError(
            f"monai-unet3d needs one stride per level change: {len(channels)} channels give "
            f"{len(channels) - 1} strides, got {len(strides)} (strides={list(strides)})"
        )
    return UNet(
        spatial_dims=3,
        in_channels=in_channels,
        out_channels=num_classes,
        channels=channels,
        strides=strides,
        num_res_units=num_res_units,
        norm=norm,
        dropout=dropout,
    )


def _create_unet3d(variant: str, kw: dict[str, Any]) -> nn.Module:
    return build(monai_unet3d, variant, kw)


@register_model("monai-unet3d")
def unet3d(**kw: Any) -> nn.Module:
    """MONAI's residual 3D U-Net as in its tutorials: channels 16..256 (4.8 M parameters)."""
    return _create_unet3d("monai-unet3d", kw)


@register_model("monai-unet3d-s")
def unet3d_small(**kw: Any) -> nn.Module:
    """Four levels, channels 16..128, one residual unit (0.6 M parameters), for CPUs."""
    small = {"channels": (16, 32, 64, 128), "strides": (2, 2, 2), "num_res_units": 1}
    return _create_unet3d("monai-unet3d-s", {**small, **kw})
