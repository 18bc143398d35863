"""MONAI's 3D U-Net through our registry: volumes in, voxel logits out, every weight trained,
and a wrong level layout refused in one line."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("monai")

from dllab.errors import ConfigError  # noqa: E402
from dllab.models import create_model  # noqa: E402


@pytest.mark.parametrize(
    ("name", "channels"),
    [("monai-unet3d", [4, 8, 8, 16, 16]), ("monai-unet3d-s", [4, 8, 8, 16])],
)
def test_volume_maps_to_voxel_logits_and_every_weight_gets_a_gradient(
    name: str, channels: list[int]
) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, in_channels=2, channels=channels)
    x = torch.randn(2, 2, 16, 16, 16)
    logits = model(x)
    assert logits.shape == (2, 3, 16, 16, 16)
    torch.nn.functional.cross_entropy(logits, torch.randint(0, 3, (2, 16, 16, 16))).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_strides_must_match_the_levels() -> None:
    with pytest.raises(ConfigError, match="3 channels give 2 strides, got 3"):
        create_model("monai-unet3d", channels=[8, 16, 32], strides=[2, 2, 2])
    with pytest.raises(ConfigError, match="has no option 'widht'"):
        create_model("monai-unet3d-s", widht=3)
