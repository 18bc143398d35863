"""EfficientNet-Lite: EfficientNet made for mobile CPUs, with ImageNet weights for transfer.

Paper: Tan, Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
ICML 2019 (arXiv:1905.11946), table 1 (the B0 layout of MBConv blocks, Sandler et al. 2018).
The Lite variants (tensorflow/tpu, models/official/efficientnet/lite, 2020) drop
squeeze-and-excitation and swap swish for ReLU6, so that they quantise well and run fast on
CPUs; Lite0 has B0's seven stages, 4.65 M parameters and 0.39 GFLOPs at 224 px.

Weights: `pretrained=True` loads the ImageNet weights of the TF reference (75.1 % top-1), from
the `[vision]` extra's package, converted once to safetensors (`imagenet_weights.py`).
Preprocessing for them: RGB on the 0..1 scale, `(x - MEAN) / STD` with MEAN = STD = 0.5 (the TF
reference's `(x - 127) / 128`; timm's `tf_efficientnet_lite0` config), and for ImageNet itself
a 224 px centre crop of the image resized to 256 px (crop 0.875, bicubic).

Faithful to the checkpoint (`tf_same=True`): TF "SAME" padding (a stride-2 conv puts its extra
pixel right and below) and BatchNorm eps 1e-3, which is timm's `tf_efficientnet_lite0`;
`tf_same=False` is PyTorch's symmetric padding and eps 1e-5, timm's `efficientnet_lite0`. Both
label ImageNet photos correctly with these weights; the tests prove each equal to its timm twin.

Transfer regimes (`regime`), compared by `benchmarks/transfer.py`:
- `probe`: the pretrained backbone is frozen (no gradients, BatchNorm always in eval mode), only
  the new classifier trains: a linear probe on frozen features (with `pretrained=False`, on
  frozen random features: a baseline, and how a probe run is rebuilt around its checkpoint);
- `finetune`: everything trains, the backbone at `backbone_lr_mult` times the recipe's rate
  (discriminative learning rates: the pretrained layers should move less than the new head);
  with `freeze_bn` its BatchNorm statistics stay the ImageNet ones, because batch statistics
  of a few dozen images are noisy and make training and evaluation disagree; the BatchNorm
  scales and shifts still train; with `head_warmup_steps` the first steps train the new head
  alone on the frozen backbone, then everything trains: LP-FT (Kumar et al., "Fine-Tuning can
  Distort Pretrained Features and Underperform Out-of-Distribution", ICLR 2022, arXiv:2202.10054),
  because a random head's large gradients otherwise flow into, and distort, the pretrained
  features before the head is any good;
- `scratch`: random weights, one learning rate, BatchNorm as usual (the baseline).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from dllab.errors import ConfigError
from dllab.models.checks import build
from dllab.models.registry import register_model

__all__ = [
    "MEAN",
    "PREPROCESS",
    "STAGES",
    "STD",
    "ConvBNAct",
    "EfficientNetLite",
    "MBConv",
    "imagenet_input",
]

MEAN = (0.5, 0.5, 0.5)  # per RGB channel, on the 0..1 scale: what the ImageNet weights expect
STD = (0.5, 0.5, 0.5)
PREPROCESS = {"mean": MEAN, "std": STD, "image_size": 224, "crop_pct": 0.875, "resample": "bicubic"}

# Lite0's stages (paper table 1): (repeats, kernel, stride, expand ratio, output channels).
# Output strides of the seven stages: 2, 4, 8, 16, 16, 32, 32 (the stem halves first).
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM, HEAD = 32, 1280  # channels; fixed in the Lite variants, not scaled with width
Regime = Literal["probe", "finetune", "scratch"]
REGIMES = ("probe", "finetune", "scratch")


def tf_same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero-pad `x` as TF's "SAME": output side ceil(H / stride), extra pixel right/below."""
    pads = []
    for side in (x.shape[-1], x.shape[-2]):  # F.pad lists the last axis first
        total = max((math.ceil(side / stride) - 1) * stride + kernel - side, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class ConvBNAct(nn.Module):
    """Conv (no bias) -> BatchNorm -> ReLU6 (or nothing: the linear bottleneck's projection)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int = 1,
        stride: int = 1,
        groups: int = 1,
        act: bool = True,
        tf_same: bool = True,
    ) -> None:
        super().__init__()
        # For stride 1 and an odd kernel, SAME is symmetric: only strided convs pad by hand.
        self.same_pad = tf_same and stride > 1
        padding = 0 if self.same_pad else kernel // 2
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel, stride, padding, groups=groups, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3 if tf_same else 1e-5)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same_pad:
            x = tf_same_pad(x, self.conv.kernel_size[0], self.conv.stride[0])
        return self.act(self.bn(self.conv(x)))


class MBConv(nn.Module):
    """Inverted residual (MobileNetV2): 1x1 expand -> k x k depthwise -> 1x1 linear project,
    plus the input when the shape is kept. No squeeze-and-excitation in the Lite variants."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        stride: int,
        expand: int,
        tf_same: bool = True,
    ) -> None:
        super().__init__()
        hidden = in_channels * expand
        self.expand = ConvBNAct(in_channels, hidden, tf_same=tf_same) if expand != 1 else None
        self.depthwise = ConvBNAct(hidden, hidden, kernel, stride, groups=hidden, tf_same=tf_same)
        self.project = ConvBNAct(hidden, out_channels, act=False, tf_same=tf_same)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x  # (B, C*e, H, W)
        y = self.project(self.depthwise(y))  # (B, C_out, H/s, W/s)
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0: `(B, C, H, W)` normalised images -> logits `(B, num_classes)`.

    Any input side works (the head pools globally); the seven stages end at 1/2 … 1/32 of it,
    so 28 px images end at 1 x 1: upsample small images (Fashion-MNIST: 64 px) first.
    `in_channels=1` with `pretrained=True` sums the stem's RGB filters into one, so a grey
    image gives exactly what the same image copied to R, G and B would. With `num_classes`
    other than 1000 the classifier is new (random); the ImageNet one is loaded only for 1000.
    """

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,  # unused: global pooling accepts any size (stated for recipes)
        pretrained: bool = False,  # load the ImageNet weights (needs the [vision] extra)
        regime: Regime | None = None,  # probe | finetune | scratch; None: finetune if pretrained
        backbone_lr_mult: float = 0.1,  # finetune: backbone lr = this x the recipe's lr
        freeze_bn: bool = True,  # finetune: keep the backbone's BatchNorm statistics fixed
        head_warmup_steps: int = 0,  # finetune: train steps with the backbone frozen (LP-FT)
        dropout: float = 0.2,  # before the classifier, as the reference trains Lite0
        tf_same: bool = True,  # TF padding and BN eps, as the weights were trained (see top)
    ) -> None:
        super().__init__()
        regime = regime or ("finetune" if pretrained else "scratch")
        _check_regime(regime, pretrained, in_channels, backbone_lr_mult, head_warmup_steps)
        self.regime, self.backbone_lr_mult = regime, backbone_lr_mult
        self.head_warmup_steps = head_warmup_steps
        if head_warmup_steps:  # in the checkpoint, so that a resumed run knows where it was
            self.register_buffer("warmup_steps_done", torch.zeros((), dtype=torch.long))
        # Which backbone BatchNorm layers stay in eval mode while the model trains.
        self.frozen_bn = regime == "probe" or (regime == "finetune" and freeze_bn)

        self.stem = ConvBNAct(in_channels, STEM, 3, 2, tf_same=tf_same)  # (B, 32, H/2, W/2)
        stages, channels = [], STEM
        for repeats, kernel, stride, expand, out in STAGES:
            blocks = [
                MBConv(
                    channels if i == 0 else out,
                    out,
                    kernel,
                    stride if i == 0 else 1,
                    expand,
                    tf_same,
                )
                for i in range(repeats)
            ]
            stages.append(nn.Sequential(*blocks))
            channels = out
        self.stages = nn.ModuleList(stages)  # (B, 320, H/32, W/32) at the end
        self.head = ConvBNAct(channels, HEAD, tf_same=tf_same)  # (B, 1280, H/32, W/32)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(HEAD, num_classes)  # (B, num_classes)
        self._init_weights()
        if pretrained:
            self.load_imagenet(in_channels, num_classes)
            if num_classes != 1000:
                # A new head on pretrained features starts at zero, every class equally likely.
                # The TF init above is sized for 1000 classes: for 10 its bound is 10x larger,
                # and on features up to 6 it gave logits with a spread near 13 and a first loss
                # of 13.6, which a short probe phase did not undo (fine-tuning collapsed to
                # 0.43 on one seeded 50-a-class subset where the probe reached 0.70).
                nn.init.zeros_(self.classifier.weight)
                nn.init.zeros_(self.classifier.bias)
        if regime == "probe":
            for p in self.backbone_parameters():
                p.requires_grad_(False)

    # ------------------------------------------------------------ weights
    def _init_weights(self) -> None:
        """The TF reference's init: conv N(0, 2 / fan_out) with fan_out = k*k*out/groups (so
        depthwise filters are not made tiny), BatchNorm 1/0, classifier U(+-1/sqrt(out))."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                k = m.kernel_size[0] * m.kernel_size[1]
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (k * m.out_channels // m.groups)))
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def load_imagenet(self, in_channels: int, num_classes: int) -> None:
        """Copy in the ImageNet weights (grey stem: RGB filters summed; new classifier unless
        1000 classes)."""
        from dllab.models.imagenet_weights import load_lite0_weights

        state = load_lite0_weights([s[0] for s in STAGES], [s[3] != 1 for s in STAGES])
        if in_channels == 1:  # conv(g, g, g) = (W_r + W_g + W_b) * g
            state["stem.conv.weight"] = state["stem.conv.weight"].sum(1, keepdim=True)
        if num_classes != 1000:
            del state["classifier.weight"], state["classifier.bias"]
        missing, unexpected = self.load_state_dict(state, strict=False)
        new = {"classifier.weight", "classifier.bias", "warmup_steps_done"}
        assert not unexpected and set(missing) <= new

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Everything but the classifier: what ImageNet pretraining provides."""
        return [p for n, p in self.named_parameters() if not n.startswith("classifier.")]

    # ------------------------------------------------------------ transfer hooks
    def param_groups(self) -> list[dict[str, Any]]:
        """Parameter groups for `train.optim.build_optimizer`, which multiplies the recipe's
        lr by each `lr_mult` (and still exempts biases and norms from weight decay)."""
        backbone_mult = self.backbone_lr_mult if self.regime == "finetune" else 1.0
        return [  # the head first: logs show group 0's rate, the recipe's own
            {"name": "classifier", "params": list(self.classifier.parameters()), "lr_mult": 1.0},
            {"name": "backbone", "params": self.backbone_parameters(), "lr_mult": backbone_mult},
        ]

    def train(self, mode: bool = True) -> EfficientNetLite:
        """As nn.Module's, but frozen BatchNorm layers stay in eval mode (their statistics are
        neither used from the batch nor updated) whatever the Trainer asks."""
        super().train(mode)
        if mode and self.frozen_bn:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    # ------------------------------------------------------------ forward
    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of each of the seven stages, at strides 2, 4, 8, 16, 16, 32, 32 (for a
        224 px input: 16x112², 24x56², 40x28², 80x14², 112x14², 192x7², 320x7²)."""
        x = self.stem(x)
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return maps

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features `(B, 1280)`: what the classifier sees."""
        return self.head(self.feature_maps(x)[-1]).mean((2, 3))  # (B, 1280, H/32, W/32) -> pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.head_warmup_steps:
            done = int(self.warmup_steps_done)
            if done < self.head_warmup_steps:  # LP-FT's probe phase: no backbone gradients
                self.warmup_steps_done += 1  # one per training forward pass (micro-batch)
                self.train(False)  # the backbone runs as in a probe: BatchNorm in eval mode
                with torch.no_grad():
                    x = self.features(x)
                self.train(True)
                # No gradient reaches the backbone: the optimisers skip parameters whose grad
                # is None, so neither Adam's moments nor weight decay move them.
                return self.classifier(self.dropout(x))
        return self.classifier(self.dropout(self.features(x)))


def _check_regime(
    regime: str, pretrained: bool, in_channels: int, lr_mult: float, warmup: int
) -> None:
    if regime not in REGIMES:
        raise ConfigError(f"regime must be one of {', '.join(REGIMES)}; got {regime!r}")
    if regime == "scratch" and pretrained:
        raise ConfigError("regime 'scratch' starts from random weights; set pretrained=false")
    if pretrained and in_channels not in (1, 3):
        raise ConfigError(
            f"the ImageNet stem takes RGB (in_channels=3) or grey (1: its filters summed); "
            f"got in_channels={in_channels}"
        )
    if lr_mult <= 0:
        raise ConfigError(f"backbone_lr_mult must be > 0 (use regime=probe to freeze); {lr_mult}")
    if warmup < 0 or (warmup and regime != "finetune"):
        raise ConfigError(
            f"head_warmup_steps (LP-FT) must be >= 0 and is for regime 'finetune'; got "
            f"{warmup} with regime {regime!r}"
        )


@torch.no_grad()
def imagenet_input(image: Any, size: int = 224) -> torch.Tensor:
    """An RGB image (PIL or uint8 `(H, W, 3)` array) as the `(1, 3, size, size)` input the
    ImageNet weights expect: shorter side resized to size / 0.875 (bicubic), centre crop,
    then `(x - MEAN) / STD`. Example: `model(imagenet_input(skimage.data.chelsea()))`."""
    import numpy as np
    from PIL import Image

    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    img = img.convert("RGB")
    scale = size / PREPROCESS["crop_pct"] / min(img.size)
    w, h = round(img.width * scale), round(img.height * scale)
    img = img.resize((w, h), Image.Resampling.BICUBIC)
    left, top = (w - size) // 2, (h - size) // 2
    img = img.crop((left, top, left + size, top + size))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def _create_efficientnet_lite(variant: str, kw: dict[str, Any]) -> EfficientNetLite:
    return build(EfficientNetLite, variant, kw)


@register_model("efficientnet-lite0")
def efficientnet_lite0(**kw: Any) -> EfficientNetLite:
    """EfficientNet-Lite0 (4.65 M parameters); `pretrained=True` for the ImageNet weights."""
    return _create_efficientnet_lite("efficientnet-lite0", kw)
