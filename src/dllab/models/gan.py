"""GANs for small grey images: DCGAN, the WGAN-GP critic, and class-conditional variants.

- DCGAN: Radford, Metz, Chintala, "Unsupervised representation learning with deep
  convolutional generative adversarial networks", ICLR 2016 (arXiv:1511.06434): strided
  (transposed) convolutions instead of pooling, BatchNorm, ReLU in the generator and
  LeakyReLU(0.2) in the discriminator, a tanh output, weights drawn from N(0, 0.02). For
  28 px images the usual two-upsampling form (7 -> 14 -> 28) replaces the paper's 64 px stack.
- WGAN-GP critic: Gulrajani et al., "Improved training of Wasserstein GANs", NeurIPS 2017
  (arXiv:1704.00028), section 4: the gradient penalty is taken per sample, so the critic must
  not mix samples with BatchNorm; the paper recommends layer normalisation (`critic_norm`).
- Conditional: the generator reads the label's embedding concatenated to z (Mirza, Osindero,
  "Conditional generative adversarial nets", arXiv:1411.1784); the critic uses the projection
  of Miyato, Koyama, "cGANs with projection discriminator", ICLR 2018: D(x, y) = psi(phi(x)) +
  <embed(y), phi(x)>.

`GAN` holds the generator, the critic and what a run must keep with the weights so that a
resumed run continues exactly: the fixed latent grid drawn at every validation, the number of
generator and critic updates, and the grids sampled so far (the report's animation).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from dllab.errors import ConfigError
from dllab.models.checks import build
from dllab.models.registry import register_model

__all__ = ["GAN", "Critic", "Generator"]

Norm = Literal["batch", "layer", "none"]


def _norm(kind: Norm, channels: int) -> nn.Module:
    """BatchNorm (DCGAN), layer norm over (C, H, W) as one-group GroupNorm (WGAN-GP), or none."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


def _dcgan_init(module: nn.Module) -> None:
    """Section 4 of the DCGAN paper: every weight from N(0, 0.02); BatchNorm scales N(1, 0.02)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z (and a label) -> image in [-1, 1]: a linear projection to `(2w, S/4, S/4)`, then two
    stride-2 transposed convolutions. Shape comments are for 28 px and `width` w."""

    def __init__(
        self,
        *,
        latent_dim: int = 64,
        width: int = 64,
        out_channels: int = 1,
        image_size: int = 28,
        num_classes: int = 0,  # > 0: conditional, the label's embedding joins z
    ) -> None:
        super().__init__()
        self.latent_dim, self.side = latent_dim, image_size // 4
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        in_dim = latent_dim * (2 if num_classes else 1)
        self.project = nn.Sequential(
            nn.Linear(in_dim, 2 * width * self.side**2, bias=False),  # (B, 2w * 7 * 7)
            nn.BatchNorm1d(2 * width * self.side**2),
            nn.ReLU(inplace=True),
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False),  # (B, w, 14, 14)
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, out_channels, 4, 2, 1),  # (B, C, 28, 28)
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if labels is None:
                raise ConfigError("a conditional generator needs labels (one class per z)")
            z = torch.cat([z, self.embed(labels)], dim=1)  # (B, 2 * latent_dim)
        h = self.project(z).view(len(z), -1, self.side, self.side)  # (B, 2w, 7, 7)
        return self.up(h)


class Critic(nn.Module):
    """Image (and a label) -> one unbounded score per image (a logit for DCGAN's loss, a
    Wasserstein critic value for WGAN-GP). The first conv is never normalised (DCGAN)."""

    def __init__(
        self,
        *,
        width: int = 64,
        in_channels: int = 1,
        image_size: int = 28,
        num_classes: int = 0,  # > 0: projection discriminator
        norm: Norm = "batch",
    ) -> None:
        super().__init__()
        side = image_size // 4
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, 2, 1),  # (B, w, 14, 14)
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=norm != "batch"),  # (B, 2w, 7, 7)
            _norm(norm, 2 * width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),  # (B, 2w * 7 * 7)
        )
        n_features = 2 * width * side**2
        self.head = nn.Linear(n_features, 1)
        self.embed = nn.Embedding(num_classes, n_features) if num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)  # (B, F)
        score = self.head(h).squeeze(1)  # (B,)
        if self.embed is not None:
            if labels is None:
                raise ConfigError("a conditional critic needs labels (one class per image)")
            score = score + (self.embed(labels) * h).sum(dim=1)  # the projection term
        return score


class GAN(nn.Module):
    """A generator and its critic, plus the state a run keeps with them (all in `state_dict`).

    `forward(z, labels)` is the generator; `sample(n)` draws images in [0, 1]. `record_frame`
    samples the fixed latent grid into `frames` (at most `max_frames`; when full, every other
    frame is dropped, so the animation always spans the whole run).
    """

    def __init__(
        self,
        *,
        latent_dim: int = 64,  # size of z; 64 is ample for 28 px grey images
        width: int = 64,  # channels of the generator's last and the critic's first conv
        in_channels: int = 1,
        image_size: int = 28,  # a multiple of 4 (two stride-2 stages)
        num_classes: int = 10,
        conditional: bool = False,  # feed the class to both networks
        critic_norm: Norm = "batch",  # "layer" or "none" for WGAN-GP (per-sample penalty)
        grid_size: int = 64,  # images in the fixed validation grid (conditional: a multiple of classes)
        max_frames: int = 48,  # grids kept for the animation (64 grids of 28 px: 3 MB)
    ) -> None:
        super().__init__()
        if image_size % 4:
            raise ConfigError(
                f"a DCGAN needs image_size divisible by 4 (28, 32…); got {image_size}"
            )
        if critic_norm not in ("batch", "layer", "none"):
            raise ConfigError(f"critic_norm must be batch, layer or none; got {critic_norm!r}")
        classes = num_classes if conditional else 0
        self.latent_dim, self.num_classes, self.conditional = latent_dim, num_classes, conditional
        self.generator = Generator(
            latent_dim=latent_dim,
            width=width,
            out_channels=in_channels,
            image_size=image_size,
            num_classes=classes,
        )
        self.critic = Critic(
            width=width,
            in_channels=in_channels,
            image_size=image_size,
            num_classes=classes,
            norm=critic_norm,
        )
        self.apply(_dcgan_init)
        self.register_buffer("fixed_z", torch.randn(grid_size, latent_dim))
        self.register_buffer("fixed_labels", torch.arange(grid_size) % max(num_classes, 1))
        self.register_buffer("generator_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("critic_steps", torch.zeros((), dtype=torch.long))
        shape = (max_frames, grid_size, in_channels, image_size, image_size)
        self.register_buffer("frames", torch.zeros(shape, dtype=torch.uint8))
        self.register_buffer("frame_steps", torch.full((max_frames,), -1, dtype=torch.long))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z `(B, latent_dim)` (and labels `(B,)` when conditional) -> images `(B, C, H, W)` in
        [-1, 1]."""
        return self.generator(z, labels if self.conditional else None)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        batch_size: int = 1000,
    ) -> torch.Tensor:
        """`n` images `(n, C, H, W)` in [0, 1] (labels: `(n,)`, default classes in turn)."""
        device = self.fixed_z.device
        if labels is None:
            labels = torch.arange(n, device=device) % max(self.num_classes, 1)
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        out = [
            self(zb, lb)
            for zb, lb in zip(z.split(batch_size), labels.split(batch_size), strict=True)
        ]
        return (torch.cat(out) + 1) / 2

    @torch.no_grad()
    def record_frame(self) -> bool:
        """Sample the fixed grid into `frames`, once per generator step; True if recorded."""
        steps = self.frame_steps
        n = int((steps >= 0).sum())
        if n and int(steps[n - 1]) == int(self.generator_steps):
            return False
        if n == len(steps):  # full: keep every other frame
            keep = torch.arange(0, n, 2, device=steps.device)
            m = len(keep)
            self.frames[:m] = self.frames[keep].clone()
            steps[:m] = steps[keep].clone()
            steps[m:] = -1
            n = m
        images = (self(self.fixed_z, self.fixed_labels) + 1) / 2  # (G, C, H, W) in [0, 1]
        self.frames[n] = (images.clamp(0, 1) * 255).round().to(torch.uint8)
        steps[n] = self.generator_steps
        return True

    def recorded_frames(self) -> tuple[torch.Tensor, list[int]]:
        """The grids sampled so far `(F, G, C, H, W)` uint8 and the generator step of each."""
        n = int((self.frame_steps >= 0).sum())
        return self.frames[:n].cpu(), [int(s) for s in self.frame_steps[:n]]


def _create_gan(variant: str, kw: dict[str, Any], **fixed: Any) -> GAN:
    return build(GAN, variant, kw, **fixed)


@register_model("dcgan")
def dcgan(**kw: Any) -> GAN:
    """DCGAN for 28-32 px images (width 64): 546 k generator and 139 k critic parameters."""
    return _create_gan("dcgan", kw)


@register_model("dcgan-small")
def dcgan_small(**kw: Any) -> GAN:
    """DCGAN at half width (32; 240 k + 37 k parameters): ~55 ms per step on one CPU core."""
    return _create_gan("dcgan-small", {"width": 32, **kw})
