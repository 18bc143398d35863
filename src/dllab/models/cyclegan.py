"""CycleGAN: two generators and two PatchGAN discriminators for unpaired image translation.

Paper: Zhu, Park, Isola, Efros, "Unpaired image-to-image translation using cycle-consistent
adversarial networks", ICCV 2017 (arXiv:1703.10593). Domain A and domain B are two unpaired
image sets; G maps A -> B and F maps B -> A (`gen_ab`, `gen_ba`); D_B tells real B images from
G(A) and D_A real A images from F(B) (`disc_b`, `disc_a`).

- Generator (appendix 7.2; Johnson et al. 2016): c7s1-k, two stride-2 convs (d2k, d4k),
  residual blocks R4k, two fractionally strided convs (u2k, uk) and c7s1-3 with tanh.
  Reflection padding against border artefacts, InstanceNorm without affine parameters (the
  reference implementation's `--norm instance`), convs with biases. The paper uses k = 64 and
  6 blocks at 128 px, 9 at 256 px.
- Discriminator: the 70x70 PatchGAN of pix2pix (Isola et al. 2017): C64-C128-C256-C512 with
  4x4 kernels and LeakyReLU(0.2), no norm on the first, then a 1-channel conv: one score per
  overlapping 70x70 patch. `n_layers` shrinks it for small images: 2 gives 34x34 patches,
  1 gives 16x16 (`receptive_field`).
- Image pool (section 4, after Shrivastava et al. 2017): each discriminator sees, for half of
  the generated images once its pool of 50 is full, an older generated image instead, which
  damps oscillation. The pools are buffers, so they are checkpointed and a resumed run sees
  exactly the history it would have; the choice draws from torch's global generator, which
  the Trainer checkpoints too.

Weights are drawn from N(0, 0.02), as in the reference implementation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dllab.errors import ConfigError
from dllab.models.checks import build
from dllab.models.registry import register_model

__all__ = [
    "CycleGAN",
    "ImagePool",
    "PatchDiscriminator",
    "ResnetGenerator",
    "receptive_field",
]


def _init_normal(module: nn.Module) -> None:
    """N(0, 0.02) weights and zero biases for every conv (the reference's `init_type normal`)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _conv_norm_relu(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    """ck (or dk with stride 2): reflection-padded conv, InstanceNorm, ReLU."""
    return [
        nn.ReflectionPad2d(kernel // 2),
        nn.Conv2d(c_in, c_out, kernel, stride),
        nn.InstanceNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class ResidualBlock(nn.Module):
    """Rk: two 3x3 reflection-padded convs with InstanceNorm; x + block(x)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            *_conv_norm_relu(channels, channels, 3),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """Image `(B, C, H, W)` in [-1, 1] -> image of the same shape in [-1, 1]; H and W must be
    multiples of 4. Shape comments are for 64x128 and width k."""

    def __init__(self, *, width: int = 64, n_blocks: int = 6, channels: int = 3) -> None:
        super().__init__()
        k = width
        self.net = nn.Sequential(
            *_conv_norm_relu(channels, k, 7),  # c7s1-k: (B, k, 64, 128)
            nn.Conv2d(k, 2 * k, 3, 2, 1),  # d2k: (B, 2k, 32, 64)
            nn.InstanceNorm2d(2 * k),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * k, 4 * k, 3, 2, 1),  # d4k: (B, 4k, 16, 32)
            nn.InstanceNorm2d(4 * k),
            nn.ReLU(inplace=True),
            *[ResidualBlock(4 * k) for _ in range(n_blocks)],  # R4k: (B, 4k, 16, 32)
            nn.ConvTranspose2d(4 * k, 2 * k, 3, 2, 1, output_padding=1),  # u2k: (B, 2k, 32, 64)
            nn.InstanceNorm2d(2 * k),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * k, k, 3, 2, 1, output_padding=1),  # uk: (B, k, 64, 128)
            nn.InstanceNorm2d(k),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(3),
            nn.Conv2d(k, channels, 7),  # c7s1-3: (B, C, 64, 128)
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def receptive_field(n_layers: int) -> int:
    """Side in pixels of the patch one PatchGAN score sees: 16, 34, 70, 142 for n = 1..4."""
    field = 1
    strides = [2] * n_layers + [1, 1]  # n stride-2 convs, then two stride-1 convs, all 4x4
    for s in reversed(strides):  # back from one output score to the input
        field = (field - 1) * s + 4
    return field


class PatchDiscriminator(nn.Module):
    """Image `(B, C, H, W)` -> a map of LSGAN scores `(B, 1, H', W')`, one per patch of
    `receptive_field(n_layers)` pixels (n_layers 3: pix2pix's 70x70 PatchGAN)."""

    def __init__(self, *, width: int = 64, n_layers: int = 3, channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = width
        for n in range(1, n_layers + 1):  # the last of these has stride 1 (C512 in the paper)
            c_out = width * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(c, c_out, 4, stride, 1),
                nn.InstanceNorm2d(c_out),
                nn.LeakyReLU(0.2, True),
            ]
            c = c_out
        layers.append(nn.Conv2d(c, 1, 4, 1, 1))  # one score per patch
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ImagePool(nn.Module):
    """The history of generated images a discriminator is shown (Shrivastava et al. 2017).

    `query(images)` fills the pool first, returning each image as it is; once `size` images
    are stored, each new image is, with probability 1/2, swapped for a random stored one
    (which is returned in its place), else returned itself. `size` 0 turns the pool off.
    The images and their count are buffers: saved and restored with the model's weights.
    """

    def __init__(self, size: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))  # (size, C, H, W)
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)` generated images -> `(B, C, H, W)` to show the discriminator."""
        if self.size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            n = int(self.count)
            if n < self.size:
                self.images[n] = image
                self.count += 1
                out.append(image)
            elif float(torch.rand(())) < 0.5:  # global RNG: checkpointed by the Trainer
                i = int(torch.randint(self.size, ()))
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.stack(out)


class CycleGAN(nn.Module):
    """G (`gen_ab`), F (`gen_ba`), D_A (`disc_a`), D_B (`disc_b`), their two image pools and
    the count of updates (all in `state_dict`). `forward(a)` is G: domain A -> domain B.

    `generators` and `discriminators` group the pairs, so each pair is one optimiser's
    parameters, as in the reference implementation.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        image_height: int = 64,  # a multiple of 4 (two stride-2 stages in each generator)
        image_width: int = 128,
        width: int = 64,  # k of the generators' c7s1-k (the paper's 64)
        n_blocks: int = 6,  # residual blocks per generator (the paper's 6 at 128 px)
        disc_width: int = 64,  # channels of the discriminators' first conv (C64)
        disc_layers: int = 3,  # PatchGAN depth: 3 sees 70x70 patches, 2 34x34, 1 16x16
        pool_size: int = 50,  # generated images each discriminator's history keeps (paper: 50)
    ) -> None:
        super().__init__()
        if image_height % 4 or image_width % 4:
            raise ConfigError(
                f"a CycleGAN generator needs sides divisible by 4; got {image_height}x{image_width}"
            )
        if min(image_height, image_width) < receptive_field(disc_layers) // 2:
            raise ConfigError(
                f"disc_layers={disc_layers} sees {receptive_field(disc_layers)} px patches, too "
                f"large for {image_height}x{image_width} images: lower model.kwargs.disc_layers"
            )
        gen = {"width": width, "n_blocks": n_blocks, "channels": in_channels}
        disc = {"width": disc_width, "n_layers": disc_layers, "channels": in_channels}
        self.generators = nn.ModuleDict(
            {"ab": ResnetGenerator(**gen), "ba": ResnetGenerator(**gen)}
        )
        self.discriminators = nn.ModuleDict(
            {"a": PatchDiscriminator(**disc), "b": PatchDiscriminator(**disc)}
        )
        self.apply(_init_normal)
        shape = (in_channels, image_height, image_width)
        self.pool_a, self.pool_b = ImagePool(pool_size, shape), ImagePool(pool_size, shape)
        self.register_buffer("generator_steps", torch.zeros((), dtype=torch.long))

    @property
    def gen_ab(self) -> ResnetGenerator:
        return self.generators["ab"]

    @property
    def gen_ba(self) -> ResnetGenerator:
        return self.generators["ba"]

    @property
    def disc_a(self) -> PatchDiscriminator:
        return self.discriminators["a"]

    @property
    def disc_b(self) -> PatchDiscriminator:
        return self.discriminators["b"]

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        """Domain A images `(B, C, H, W)` in [-1, 1] -> their translation G(a) to domain B."""
        return self.gen_ab(a)


def _create_cyclegan(variant: str, kw: dict[str, Any], **fixed: Any) -> CycleGAN:
    return build(CycleGAN, variant, kw, **fixed)


@register_model("cyclegan")
def cyclegan(**kw: Any) -> CycleGAN:
    """The paper's 128 px networks: k = 64, 6 residual blocks, 70x70 PatchGAN (2 x 7.8 M +
    2 x 2.8 M parameters)."""
    return _create_cyclegan("cyclegan", kw)


@register_model("cyclegan-small")
def cyclegan_small(**kw: Any) -> CycleGAN:
    """For 64 px scenes on a CPU: k = 16, 3 blocks, 34x34 patches (2 x 0.27 M + 2 x 0.17 M)."""
    return _create_cyclegan(
        "cyclegan-small", {"width": 16, "n_blocks": 3, "disc_width": 32, "disc_layers": 2, **kw}
    )
