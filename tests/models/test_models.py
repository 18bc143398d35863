"""Every registered model builds from its name, maps (B, C, H, W) to (B, classes) and trains."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dllab.errors import ConfigError, InputError
from dllab.models import MODELS, create_model, list_models, register_model

MODEL_NAMES = list_models()
# Families that read token ids, not images; tests/models/test_sequence_models.py covers them.
SEQUENCE_FAMILIES = {
    "rnn",
    "textcnn",
    "fasttext",
    "seq2seq",
    "transformer",
    "gpt",
    "forecast",
    "crf",
    "bert",
    "skipgram",
    "cyclegan",  # image to image (tests/generative/test_cyclegan.py)
    "detector",  # boxes, not class logits (tests/models/test_detector.py)
    "detection_reference",
    "unet",  # per-pixel scores (B, K, H, W) (tests/segmentation/)
    "segmentation",
    "medical",  # 3D volumes (tests/medical/)
    "diffusion",  # noise predictions, not logits (tests/generative/)
    "vae",
    "gan",
}
IMAGE_MODELS = [
    name
    for name in MODEL_NAMES
    if MODELS.get(name).__module__.rsplit(".", 1)[-1] not in SEQUENCE_FAMILIES
]


def test_every_family_registers_its_variants() -> None:
    expected = {"mlp", "lenet5", "seed-cnn", "alexnet-small", "bn-cnn", "quickstart-cnn"}
    expected |= {f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "-bn")}
    expected |= {"resnet18", "resnet34", "resnet50", "resnet20", "resnet56"}
    assert expected <= set(MODEL_NAMES)


@pytest.mark.parametrize("name", IMAGE_MODELS)
@pytest.mark.parametrize(("in_channels", "image_size"), [(1, 28), (3, 32), (1, 8)])
def test_forward_maps_images_to_logits(name: str, in_channels: int, image_size: int) -> None:
    model = create_model(name, num_classes=7, in_channels=in_channels, image_size=image_size)
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(2, in_channels, image_size, image_size))
    assert logits.shape == (2, 7)
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_backward_reaches_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_channels=1, image_size=28)
    x, y = torch.randn(2, 1, 28, 28), torch.tensor([3, 7])
    nn.functional.cross_entropy(model(x), y).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"{name}: no gradient for {missing}"


def test_seed_cnn_has_exactly_the_specified_layers() -> None:
    model = create_model("seed-cnn", num_classes=10, in_channels=1, image_size=28)
    layers = [m for m in model.modules() if not isinstance(m, nn.Sequential)][1:]
    convs = [m for m in layers if isinstance(m, nn.Conv2d)]
    fcs = [m for m in layers if isinstance(m, nn.Linear)]

    assert [type(m) for m in layers] == [
        *[nn.Conv2d, nn.ReLU, nn.MaxPool2d] * 3,
        *[nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear],
    ]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 32), (32, 64), (64, 128)]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert all(p.kernel_size == 2 for p in layers if isinstance(p, nn.MaxPool2d))
    assert [(f.in_features, f.out_features) for f in fcs] == [(1152, 512), (512, 10)]
    assert next(m for m in layers if isinstance(m, nn.Dropout)).p == 0.5

    conv_params = (1 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (64 * 128 * 9 + 128)
    fc_params = (128 * 3 * 3 * 512 + 512) + (512 * 10 + 10)
    assert conv_params + fc_params == 688_138
    assert sum(p.numel() for p in model.parameters()) == conv_params + fc_params


def test_seed_cnn_head_follows_image_size() -> None:
    model = create_model("seed-cnn", in_channels=3, image_size=32)
    assert model.classifier[1].in_features == 128 * 4 * 4  # 32 -> 16 -> 8 -> 4


def test_registering_a_taken_name_raises() -> None:
    with pytest.raises(ValueError, match="seed-cnn"):
        register_model("seed-cnn")(lambda **kw: nn.Identity())
    assert create_model("seed-cnn").__class__.__name__ == "SeedCNN"


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="'seed-cnn'"):
        create_model("seed_cnn")


def test_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"'widht'.*did you mean 'width'.*dropout"):
        create_model("bn-cnn", widht=64)


def test_variant_choices_are_not_options() -> None:
    with pytest.raises(ConfigError, match="batch_norm"):
        create_model("vgg11", batch_norm=True)


def test_builders_are_keyword_only() -> None:
    for name in MODEL_NAMES:
        with pytest.raises(TypeError):
            MODELS.get(name)(10)


def test_image_too_small_for_the_pools_says_so() -> None:
    with pytest.raises(ConfigError, match="image_size >= 8.*got 4"):
        create_model("seed-cnn", image_size=4)


def test_input_of_the_wrong_size_names_the_expected_shape() -> None:
    model = create_model("seed-cnn", in_channels=1, image_size=28)
    with pytest.raises(InputError, match=r"\(B, 1, 28, 28\).*\(2, 1, 32, 32\)"):
        model(torch.zeros(2, 1, 32, 32))


@pytest.mark.parametrize(("name", "n"), [("resnet20", 3), ("resnet56", 9)])
def test_cifar_resnet_has_6n_plus_2_layers(name: str, n: int) -> None:
    model = create_model(name, in_channels=3, image_size=32)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    shortcuts = [c for c in convs if c.kernel_size == (1, 1)]
    fcs = [m for m in model.modules() if isinstance(m, nn.Linear)]

    assert len(shortcuts) == 2  # option B: a projection where stages 2 and 3 begin
    assert len(convs) - len(shortcuts) == 6 * n + 1  # stem + 2 convs per block
    assert len(convs) - len(shortcuts) + len(fcs) == 6 * n + 2
    assert len(convs) == (19 + 2 if name == "resnet20" else 55 + 2)


def test_small_image_resnet_keeps_full_resolution_stem() -> None:
    small = create_model("resnet18", in_channels=1, image_size=28)
    large = create_model("resnet18", in_channels=1, image_size=224)

    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, nn.Identity)
    assert large.conv1.kernel_size == (7, 7) and large.conv1.in_channels == 1
    assert isinstance(large.maxpool, nn.MaxPool2d)
