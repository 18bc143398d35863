"""Variational autoencoder: a convolutional encoder to a Gaussian posterior, a decoder back.

Paper: Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (arXiv:1312.6114).
The encoder gives q(z | x) = N(μ(x), diag σ²(x)); a reparameterised draw z = μ + σ ⊙ ε,
ε ~ N(0, I) (section 2.4), lets the gradient reach μ and σ; the prior is p(z) = N(0, I) and
the KL term has the closed form of appendix B,
KL(q || p) = -½ Σ_j (1 + log σ_j² - μ_j² - σ_j²).
The decoder returns per-pixel logits: sigmoid(logits) is the Bernoulli mean (binary
cross-entropy likelihood) or the Gaussian mean (squared error); the task chooses.

With `latent_dim = 2` the posterior means of the test images draw a map of the data
(Kingma & Welling's figure 4).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from dllab.errors import ConfigError
from dllab.models.checks import build
from dllab.models.registry import register_model

__all__ = ["ConvVAE", "VAEOutput", "gaussian_kl", "reparameterize"]


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) || N(0, I)) per row, in nats: (B, D) -> (B,) (appendix B)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """z = μ + σ ⊙ ε with ε ~ N(0, I): a draw of q(z | x) that gradients pass through."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + (0.5 * logvar).exp() * eps


class VAEOutput(NamedTuple):
    logits: torch.Tensor  # (B, C, H, W): decoder output for the drawn z
    mu: torch.Tensor  # (B, latent_dim): posterior mean
    logvar: torch.Tensor  # (B, latent_dim): posterior log-variance


class ConvVAE(nn.Module):
    """Two stride-2 convolutions down (28 -> 14 -> 7 px), a hidden layer, μ and log σ²;
    the mirror image up with transposed convolutions. `forward` draws one z per image."""

    def __init__(
        self,
        *,
        latent_dim: int = 2,  # 2: the latent space is the map; 16-32 reconstructs better
        width: int = 32,  # channels of the first conv (the second has twice as many)
        hidden: int = 256,  # units between the conv stack and the latent
        in_channels: int = 1,
        image_size: int = 28,  # divisible by 4 (two stride-2 stages)
    ) -> None:
        super().__init__()
        if image_size % 4:
            raise ConfigError(f"ConvVAE needs image_size divisible by 4, got {image_size}")
        if latent_dim < 1:
            raise ConfigError(f"latent_dim must be >= 1, got {latent_dim}")
        self.latent_dim, s = latent_dim, image_size // 4
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, stride=2, padding=1),  # (B, w, 14, 14)
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),  # (B, 2w, 7, 7)
            nn.ReLU(),
            nn.Flatten(),  # (B, 2w·49)
            nn.Linear(2 * width * s * s, hidden),
            nn.ReLU(),
        )
        self.to_mu = nn.Linear(hidden, latent_dim)
        self.to_logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2 * width * s * s),
            nn.ReLU(),
            nn.Unflatten(1, (2 * width, s, s)),  # (B, 2w, 7, 7)
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),  # (B, w, 14, 14)
            nn.ReLU(),
            nn.ConvTranspose2d(width, in_channels, 4, stride=2, padding=1),  # (B, C, 28, 28)
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [0, 1] (B, C, H, W) -> μ, log σ² (B, latent_dim)."""
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, latent_dim) -> pixel logits (B, C, H, W); sigmoid gives the image."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> VAEOutput:
        mu, logvar = self.encode(x)
        return VAEOutput(self.decode(reparameterize(mu, logvar)), mu, logvar)


def _create_vae(variant: str, kw: dict[str, Any]) -> ConvVAE:
    return build(ConvVAE, variant, kw)


@register_model("conv-vae")
def conv_vae(**kw: Any) -> ConvVAE:
    """Convolutional VAE for 28 px grey images, 2-D latent by default (~0.9 M parameters)."""
    return _create_vae("conv-vae", kw)
