"""The segmentation models map (B, 3, H, W) images to (B, classes, H, W) scores at any size:
our U-Net, and torchvision's DeepLabV3 and LR-ASPP heads on the EfficientNet-Lite0 backbone."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dllab.errors import ConfigError
from dllab.models import create_model
from dllab.models.efficientnet_lite import EfficientNetLite
from dllab.models.unet import UNet

SEGMENTERS = ["unet", "deeplabv3-lite0", "lraspp-lite0"]


@pytest.mark.parametrize("name", SEGMENTERS)
@pytest.mark.parametrize(("h", "w"), [(32, 64), (37, 50)])
def test_scores_have_the_input_size(name: str, h: int, w: int) -> None:
    kw = {"width": 4} if name == "unet" else {}
    model = create_model(name, num_classes=5, in_channels=3, **kw).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, h, w))
    assert out.shape == (2, 5, h, w) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", SEGMENTERS)
def test_backward_reaches_every_parameter(name: str) -> None:
    kw = {"width": 4} if name == "unet" else {}
    model = create_model(name, num_classes=3, **kw)
    out = model(torch.rand(2, 3, 32, 32))
    nn.functional.cross_entropy(out, torch.randint(0, 3, (2, 32, 32))).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing  # DDP refuses parameters that get no gradient


def test_unet_has_the_paper_layout_with_batchnorm() -> None:
    model = UNet(num_classes=4, in_channels=1, width=8, depth=3)
    assert [d.conv.block[0].out_channels for d in model.downs] == [16, 32, 64]
    ups = [u.up for u in model.ups]
    assert all(isinstance(u, nn.ConvTranspose2d) and u.stride == (2, 2) for u in ups)
    assert [u.out_channels for u in ups] == [32, 16, 8]  # each halves the channels
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 2 * (1 + 3 + 3)
    assert model(torch.rand(1, 1, 24, 40)).shape == (1, 4, 24, 40)


def test_unet_width_scales_the_parameters_about_quadratically() -> None:
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    small, big = count(UNet(width=8)), count(UNet(width=16))
    assert 3.6 < big / small < 4.1
    assert count(UNet(width=16, upsample="bilinear")) < big


def test_unet_skip_connections_carry_detail_the_bottom_cannot() -> None:
    """A pixel's score depends on its own input pixel through the top skip: changing one pixel
    changes the score there, also with a 1-pixel-wide feature the 1/16 bottom cannot resolve."""
    torch.manual_seed(0)
    model = UNet(num_classes=2, width=4).eval()
    x = torch.rand(1, 3, 32, 32)
    y = x.clone()
    y[0, :, 10, 10] += 1.0
    with torch.no_grad():
        diff = (model(x) - model(y)).abs()[0].sum(0)
    assert diff[10, 10] > 0
    assert diff[0, 31] < diff[10, 10]  # far pixels move less than the changed one


def test_bad_unet_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="upsample"):
        create_model("unet", upsample="nearest")
    with pytest.raises(ConfigError, match="widht"):
        create_model("unet", widht=8)


def test_pretrained_backbone_is_lite0_imagenet_and_dilated_to_stride_16() -> None:
    model = create_model("deeplabv3-lite0", num_classes=4, pretrained=True)
    ref = EfficientNetLite(pretrained=True)
    backbone = model.net.backbone
    assert torch.equal(backbone.stem.conv.weight, ref.stem.conv.weight)
    assert torch.equal(
        backbone.stages[6][0].project.conv.weight, ref.stages[6][0].project.conv.weight
    )
    feats = backbone(torch.rand(1, 3, 64, 128))
    assert feats["out"].shape == (1, 320, 4, 8)  # 1/16, not Lite0's 1/32
    assert feats["low"].shape == (1, 40, 8, 16)  # 1/8, LR-ASPP's second input
    groups = {g["name"]: g for g in model.param_groups()}
    n = sum(p.numel() for g in groups.values() for p in g["params"])
    assert n == sum(p.numel() for p in model.parameters())


def test_pretrained_needs_rgb() -> None:
    with pytest.raises(ConfigError, match="RGB"):
        create_model("lraspp-lite0", in_channels=1, pretrained=True)
