"""Small convolutional networks for 8-32 px images.

- `lenet5`: LeCun, Bottou, Bengio, Haffner, "Gradient-based learning applied to document
  recognition", Proc. IEEE 86(11), 1998 (section II.B, figure 2).
- `seed-cnn`: the lab's reference CNN, three conv-pool stages and a two-layer head; its layers
  are fixed so lessons and benchmarks can quote its exact parameter count.
- `alexnet-small`: Krizhevsky, Sutskever, Hinton, "ImageNet classification with deep
  convolutional neural networks", NeurIPS 2012, shrunk for 28-32 px inputs.
- `bn-cnn` and `quickstart-cnn`: conv-BatchNorm-ReLU networks (Ioffe, Szegedy, "Batch
  normalization", ICML 2015) sized to train in a minute or less on a 2-core CPU.

All take `(B, C, H, W)` floats and return logits `(B, num_classes)`; the shape comments are
for 28x28 grey input (8x8 for `quickstart-cnn`, whose default it is).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dllab.errors import ConfigError
from dllab.models.checks import build, check_input
from dllab.models.registry import register_model

__all__ = ["AlexNetSmall", "BNCNN", "LeNet5", "QuickstartCNN", "SeedCNN", "conv_bn_relu"]


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 'same' conv, BatchNorm, ReLU: `(B, in, H, W) -> (B, out, H, W)`.

    The conv has no bias because BatchNorm's shift makes it redundant.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def _require_size(variant: str, image_size: int, minimum: int, why: str) -> None:
    if image_size < minimum:
        raise ConfigError(f"{variant} needs image_size >= {minimum} ({why}); got {image_size}")


class LeNet5(nn.Module):
    """LeNet-5 as in figure 2 of the paper: C1, S2, C3, S4, C5, F6, output.

    Modern reading: ReLU and max-pooling instead of the scaled tanh and trainable subsampling,
    C3 sees all of S2's maps instead of the paper's sparse connection table, and a linear
    output instead of RBF units. Padding and an adaptive pool let any `image_size >= 8` work
    while 28 and 32 px inputs reach C5 with the paper's 5x5 maps.
    """

    def __init__(
        self, *, num_classes: int = 10, in_channels: int = 1, image_size: int = 28
    ) -> None:
        super().__init__()
        _require_size("lenet5", image_size, 8, "two 2x2 pools after 5x5 convs")
        # The paper padded 28 px digits to 32 px; padding C1 by 2 does the same.
        pad1 = 2 if image_size < 32 else 0
        side = (image_size + 2 * pad1 - 4) // 2  # after C1 and S2: 14 for 28 px
        pad3 = 2 if side < 10 else 0  # keeps C3 from eating tiny (8-19 px) inputs whole
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=pad1),  # C1: (B, 6, 28, 28)
            nn.ReLU(),
            nn.MaxPool2d(2),  # S2: (B, 6, 14, 14)
            nn.Conv2d(6, 16, 5, padding=pad3),  # C3: (B, 16, 10, 10)
            nn.ReLU(),
            nn.MaxPool2d(2),  # S4: (B, 16, 5, 5)
            nn.AdaptiveAvgPool2d(5),  # identity at 28 and 32 px; other sizes are resized
            nn.Conv2d(16, 120, 5),  # C5: (B, 120, 1, 1)
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, 120)
            nn.Linear(120, 84),  # F6: (B, 84)
            nn.ReLU(),
            nn.Linear(84, num_classes),  # (B, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class SeedCNN(nn.Module):
    """Three `conv 3x3 -> ReLU -> max-pool 2x2` stages (32, 64, 128 channels), then
    `flatten -> FC 512 -> ReLU -> dropout 0.5 -> FC num_classes`.

    For 28 px the map shrinks 28 -> 14 -> 7 -> 3, so the head sees 128 * 3 * 3 = 1152 features
    and the network has 688,138 parameters. Other sizes get a head of `128 * (size // 8) ** 2`.
    """

    def __init__(
        self, *, num_classes: int = 10, in_channels: int = 1, image_size: int = 28
    ) -> None:
        super().__init__()
        _require_size("seed-cnn", image_size, 8, "three 2x2 max-pools")
        self.input_shape = (in_channels, image_size, image_size)
        side = image_size // 8  # each pool floors: 28 -> 14 -> 7 -> 3
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1),  # (B, 32, 28, 28)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1),  # (B, 64, 14, 14)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 64, 7, 7)
            nn.Conv2d(64, 128, 3, padding=1),  # (B, 128, 7, 7)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 128, 3, 3)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, 1152)
            nn.Linear(128 * side * side, 512),  # (B, 512)
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(512, num_classes),  # (B, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.input_shape, "seed-cnn")
        return self.classifier(self.features(x))


class AlexNetSmall(nn.Module):
    """AlexNet's shape (5 convs, overlapping max-pools, 3 FC layers with dropout) for 28-32 px.

    Changed for small inputs: the 11x11 stride-4 first conv becomes 3x3 stride 1 (a 28 px
    image has no room to stride), channels are halved (48, 128, 192, 192, 128) and the FC
    layers are 1024 wide instead of 4096; local response normalisation is left out, as in
    most later reimplementations, since it barely helps.
    """

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        dropout: float = 0.5,  # the paper's rate, on the first two FC layers
    ) -> None:
        super().__init__()
        # 3x3 stride-2 pools overlap as in section 3.4; padding 1 makes them halve (rounding up).
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 48, 3, padding=1),  # (B, 48, 28, 28)
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),  # (B, 48, 14, 14)
            nn.Conv2d(48, 128, 5, padding=2),  # (B, 128, 14, 14)
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),  # (B, 128, 7, 7)
            nn.Conv2d(128, 192, 3, padding=1),  # (B, 192, 7, 7)
            nn.ReLU(inplace=True),
            nn.Conv2d(192, 192, 3, padding=1),  # (B, 192, 7, 7)
            nn.ReLU(inplace=True),
            nn.Conv2d(192, 128, 3, padding=1),  # (B, 128, 7, 7)
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),  # (B, 128, 4, 4)
        )
        self.avgpool = nn.AdaptiveAvgPool2d(4)  # identity at 28 and 32 px; other sizes resized
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, 2048)
            nn.Dropout(dropout),
            nn.Linear(128 * 4 * 4, 1024),  # (B, 1024)
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(1024, 1024),  # (B, 1024)
            nn.ReLU(inplace=True),
            nn.Linear(1024, num_classes),  # (B, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


class BNCNN(nn.Module):
    """A cheap BatchNorm CNN for 28x28 grey images: three `conv-BN-ReLU -> max-pool 2x2` blocks
    of `width`, `2 * width` and `4 * width` channels, then one linear layer.

    Made for time-to-accuracy on a 2-core CPU. At `width=32` it has the seed CNN's conv cost
    (~7.5 M multiply-adds per 28 px image) but 104 k parameters instead of 688 k, since its head
    is a single linear layer; BatchNorm lets it train at a high learning rate, so it reaches
    a given accuracy in fewer epochs. Cost grows with `width` squared.
    Measured on Fashion-MNIST with SGD + one-cycle (lr 0.1), 2 epochs: 0.917 test accuracy;
    with a global-average-pool head instead of the flatten, 0.892.
    """

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        width: int = 32,  # channels of the first block; 32 is ~0.92 on Fashion-MNIST in 2 epochs
        dropout: float = 0.0,  # before the head; off because BatchNorm already regularises
    ) -> None:
        super().__init__()
        _require_size("bn-cnn", image_size, 8, "three 2x2 max-pools")
        self.input_shape = (in_channels, image_size, image_size)
        side = image_size // 8  # each pool floors: 28 -> 14 -> 7 -> 3
        self.features = nn.Sequential(
            conv_bn_relu(in_channels, width),  # (B, w, 28, 28)
            nn.MaxPool2d(2),  # (B, w, 14, 14)
            conv_bn_relu(width, 2 * width),  # (B, 2w, 14, 14)
            nn.MaxPool2d(2),  # (B, 2w, 7, 7)
            conv_bn_relu(2 * width, 4 * width),  # (B, 4w, 7, 7)
            nn.MaxPool2d(2),  # (B, 4w, 3, 3)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, 4w * 9)
            nn.Dropout(dropout),
            nn.Linear(4 * width * side * side, num_classes),  # (B, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.input_shape, "bn-cnn")
        return self.classifier(self.features(x))


class QuickstartCNN(nn.Module):
    """Two conv-BN-ReLU blocks (32, 64 channels), one max-pool, dropout and a linear head.

    Sized for scikit-learn's 8x8 digits, the offline quickstart: 8 -> 4 px after the pool,
    64 * 4 * 4 = 1024 features, 29 k parameters, well under a second per epoch on a CPU.
    """

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 8,
        dropout: float = 0.25,  # 1,797 digits overfit fast; a light dropout keeps val close
    ) -> None:
        super().__init__()
        _require_size("quickstart-cnn", image_size, 2, "one 2x2 max-pool")
        self.input_shape = (in_channels, image_size, image_size)
        side = image_size // 2
        self.features = nn.Sequential(
            conv_bn_relu(in_channels, 32),  # (B, 32, 8, 8)
            conv_bn_relu(32, 64),  # (B, 64, 8, 8)
            nn.MaxPool2d(2),  # (B, 64, 4, 4)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, 1024)
            nn.Dropout(dropout),
            nn.Linear(64 * side * side, num_classes),  # (B, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.input_shape, "quickstart-cnn")
        return self.classifier(self.features(x))


@register_model("lenet5")
def lenet5(**kw: Any) -> LeNet5:
    """LeNet-5 (LeCun et al. 1998) for any image_size >= 8."""
    return build(LeNet5, "lenet5", kw)


@register_model("seed-cnn")
def seed_cnn(**kw: Any) -> SeedCNN:
    """The lab's reference CNN: 688,138 parameters at 28x28x1; no options beyond the shape."""
    return build(SeedCNN, "seed-cnn", kw)


@register_model("alexnet-small")
def alexnet_small(**kw: Any) -> AlexNetSmall:
    """AlexNet (Krizhevsky et al. 2012) shrunk for 28-32 px; option: `dropout`."""
    return build(AlexNetSmall, "alexnet-small", kw)


@register_model("bn-cnn")
def bn_cnn(**kw: Any) -> BNCNN:
    """Fast BatchNorm CNN for 28x28 grey images; options: `width`, `dropout`."""
    return build(BNCNN, "bn-cnn", kw)


@register_model("quickstart-cnn")
def quickstart_cnn(**kw: Any) -> QuickstartCNN:
    """Tiny BatchNorm CNN for 8x8 digits (the quickstart); option: `dropout`."""
    return build(QuickstartCNN, "quickstart-cnn", kw)
