"""Denoising diffusion: a small noise-predicting U-Net, its noise schedules and two samplers.

Papers:
- Ho, Jain, Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020
  (arXiv:2006.11239): the forward process q(x_t | x_0) = N(sqrt(ᾱ_t) x_0, (1 - ᾱ_t) I)
  (eq. 4), the noise-prediction loss ||ε - ε_θ(x_t, t)||² (eq. 14), ancestral sampling
  (algorithm 2) and the linear β schedule 1e-4 .. 0.02 over T = 1000;
- Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021
  (arXiv:2102.09672): the cosine schedule ᾱ_t = f(t) / f(0), f(t) = cos²((t/T + s)/(1 + s)·π/2)
  (eq. 17), whose ᾱ falls slowly near both ends, so fewer steps are wasted on pure noise;
- Song, Meng, Ermon, "Denoising Diffusion Implicit Models", ICLR 2021 (arXiv:2010.02502):
  the DDIM update (eq. 12) on a subsequence of the timesteps; η = 0 is deterministic and
  η = 1 over every step is DDPM's ancestral sampler with the posterior variance β̃_t.

Conventions: images live in [-1, 1]; timesteps are indices 0 .. T-1 (the paper's t = 1 .. T
shifted by one), so `alphas_cumprod[t]` is the paper's ᾱ_{t+1} and "before step 0" means
ᾱ = 1 (clean data). The network is `model(x_t, t) -> ε̂` with `t` a (B,) long tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from dllab.errors import ConfigError
from dllab.models.checks import build
from dllab.models.registry import register_model

__all__ = [
    "DiffusionUNet",
    "NoiseSchedule",
    "cosine_alphas_cumprod",
    "ddim_sample",
    "ddim_step",
    "ddim_timesteps",
    "ddpm_sample",
    "linear_betas",
    "q_sample",
    "timestep_embedding",
]

EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t) -> ε̂


# ---------------------------------------------------------------------------- schedules
def linear_betas(timesteps: int) -> torch.Tensor:
    """Ho et al.'s β_t, linear from 1e-4 to 0.02 at T = 1000 (float64, (T,)).

    For another T both ends scale by 1000 / T (Nichol & Dhariwal's code does the same), so
    the total noise, and ᾱ at the last step, stay about as in the paper.
    >>> linear_betas(1000)[[0, -1]].tolist()
    [0.0001, 0.02]
    """
    scale = 1000 / timesteps
    return torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)


def cosine_alphas_cumprod(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal's ᾱ at t = 0 .. T (float64, (T + 1,)): f(t) / f(0), eq. 17.

    `s` keeps β_1 from being vanishingly small (their 0.008: √β_1 a bit under one pixel step).
    """
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return f / f[0]


@dataclass(frozen=True)
class NoiseSchedule:
    """β_1 .. β_T and what the samplers derive from them, in float64 (cast where used)."""

    betas: torch.Tensor  # (T,)

    @classmethod
    def create(cls, name: Literal["linear", "cosine"], timesteps: int) -> NoiseSchedule:
        """`linear` (Ho et al.) or `cosine` (Nichol & Dhariwal, β clipped at 0.999 as theirs,
        so the last step does not divide by ᾱ_T ≈ 0)."""
        if timesteps < 1:
            raise ConfigError(f"a noise schedule needs at least 1 timestep, got {timesteps}")
        if name == "linear":
            return cls(linear_betas(timesteps))
        if name == "cosine":
            ab = cosine_alphas_cumprod(timesteps)
            return cls((1 - ab[1:] / ab[:-1]).clamp(max=0.999))
        raise ConfigError(f"unknown noise schedule {name!r}; use 'linear' or 'cosine'")

    @property
    def timesteps(self) -> int:
        return len(self.betas)

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """ᾱ_t = Π_{s ≤ t} (1 - β_s), (T,)."""
        return torch.cumprod(1 - self.betas, dim=0)

    def alpha_bar(self, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
        """ᾱ at index `t` (-1: before the first step, ᾱ = 1), shaped to broadcast over `like`
        (B, C, H, W) and in its dtype and device."""
        ab = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod])
        t = torch.as_tensor(t).to(torch.long).cpu()
        out = ab[t + 1].to(like.device, like.dtype)
        return out.view(-1, *([1] * (like.ndim - 1))) if out.ndim else out


def q_sample(
    schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε: one draw of q(x_t | x_0) (Ho et al. eq. 4), per image
    at its own step `t` (B,)."""
    ab = schedule.alpha_bar(t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


# ---------------------------------------------------------------------------- samplers
def _predict_x0(
    x_t: torch.Tensor, eps: torch.Tensor, ab_t: torch.Tensor, clip: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """x̂_0 = (x_t - √(1 - ᾱ_t) ε̂) / √ᾱ_t, and ε̂ again when x̂_0 was clipped to the data's
    [-1, 1] (so the two stay one consistent pair, as `x_t` requires)."""
    x0 = (x_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()
    if clip:
        x0 = x0.clamp(-1, 1)
        eps = (x_t - ab_t.sqrt() * x0) / (1 - ab_t).sqrt()
    return x0, eps


def ddim_step(
    x_t: torch.Tensor,
    eps: torch.Tensor,
    ab_t: torch.Tensor,
    ab_prev: torch.Tensor,
    *,
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
    clip: bool = True,
) -> torch.Tensor:
    """One DDIM update from ᾱ_t to ᾱ_prev (Song et al. eq. 12):

    x_prev = √ᾱ_prev x̂_0 + √(1 - ᾱ_prev - σ²) ε̂ + σ z,
    σ = η √((1 - ᾱ_prev) / (1 - ᾱ_t)) √(1 - ᾱ_t / ᾱ_prev).

    With ᾱ_prev = 1 it returns x̂_0 itself: a model that predicts the true noise recovers x_0.
    """
    x0, eps = _predict_x0(x_t, eps, ab_t, clip)
    sigma = eta * ((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)).sqrt()
    x_prev = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * eps
    if eta > 0:
        assert noise is not None, "a stochastic DDIM step (eta > 0) needs its noise"
        x_prev = x_prev + sigma * noise
    return x_prev


def ddim_timesteps(timesteps: int, steps: int) -> list[int]:
    """`steps` timesteps spread evenly over 0 .. T-1, ascending (T itself when steps ≥ T).

    >>> ddim_timesteps(1000, 5)
    [0, 250, 500, 749, 999]
    """
    steps = min(steps, timesteps)
    grid = torch.linspace(0, timesteps - 1, steps, dtype=torch.float64).round().long()
    return sorted(set(grid.tolist()))


def _t(x: torch.Tensor, t: int) -> torch.Tensor:
    return torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)


def _noise(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


@torch.no_grad()
def ddim_sample(
    model: EpsModel,
    schedule: NoiseSchedule,
    x_T: torch.Tensor,
    *,
    steps: int = 50,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    clip: bool = True,
    record: Iterable[int] = (),
) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """DDIM from the noise `x_T` (B, C, H, W) to samples in [-1, 1], over `steps` of the T
    timesteps (`ddim_timesteps`). η = 0: the same `x_T` always gives the same images; η > 0
    draws fresh noise from `generator` at each step.

    Returns the samples and {t: x_t} for each `t` in `record` that is one of the steps
    (the state the step at t starts from).
    Example: `x, _ = ddim_sample(unet, NoiseSchedule.create("cosine", 1000), torch.randn(8, 1, 28, 28))`.
    """
    keep, seen = set(record), {}
    ts = ddim_timesteps(schedule.timesteps, steps)
    x = x_T
    for i in reversed(range(len(ts))):
        t, prev = ts[i], ts[i - 1] if i else -1
        if t in keep:
            seen[t] = x.clone()
        eps = model(x, _t(x, t))
        z = _noise(x, generator) if eta > 0 else None
        x = ddim_step(
            x,
            eps,
            schedule.alpha_bar(t, x),
            schedule.alpha_bar(prev, x),
            eta=eta,
            noise=z,
            clip=clip,
        )
    return x, seen


@torch.no_grad()
def ddpm_sample(
    model: EpsModel,
    schedule: NoiseSchedule,
    x_T: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    variance: Literal["posterior", "beta"] = "posterior",
    clip: bool = True,
    record: Iterable[int] = (),
) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """DDPM ancestral sampling (Ho et al. algorithm 2) through all T steps, from `x_T`.

    Each step draws x_{t-1} ~ N(μ̃(x_t, x̂_0), σ_t² I) with the posterior mean of eq. 7,
    μ̃ = β_t √ᾱ_{t-1} / (1 - ᾱ_t) x̂_0 + (1 - ᾱ_{t-1}) √α_t / (1 - ᾱ_t) x_t, and σ_t² the
    posterior variance β̃_t = (1 - ᾱ_{t-1}) / (1 - ᾱ_t) β_t or β_t (the paper found both
    alike); the last step adds no noise. Returns the samples in [-1, 1] and {t: x_t} for `record`.
    """
    keep, seen = set(record), {}
    x = x_T
    for t in reversed(range(schedule.timesteps)):
        if t in keep:
            seen[t] = x.clone()
        ab_t, ab_prev = schedule.alpha_bar(t, x), schedule.alpha_bar(t - 1, x)
        beta = 1 - ab_t / ab_prev  # β_t, from the same float64 products as ᾱ
        x0, _ = _predict_x0(x, model(x, _t(x, t)), ab_t, clip)
        mean = (beta * ab_prev.sqrt() * x0 + (1 - ab_prev) * (1 - beta).sqrt() * x) / (1 - ab_t)
        var = beta * (1 - ab_prev) / (1 - ab_t) if variance == "posterior" else beta
        z = _noise(x, generator)
        x = mean + (var.sqrt() * z if t > 0 else 0)
    return x, seen


# ---------------------------------------------------------------------------- blocks
def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (B,) -> (B, dim), as the Transformer's
    positions (Vaswani et al. 2017, section 3.5): sines then cosines of t / 10000^(2i/dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the time embedding added in between (Ho et al.'s block,
    from Wide ResNet); a 1x1 conv on the shortcut where the channels change."""

    def __init__(self, cin: int, cout: int, temb: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(temb, cout)
        self.norm2, self.conv2 = _norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, cout, H, W)
        h = h + self.time(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """One-head self-attention over the pixels of a low-resolution map, residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(2, 3).unbind(1)
        a = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]  # (B, HW, C)
        return x + self.out(a.transpose(1, 2).reshape(b, c, h, w))


# ---------------------------------------------------------------------------- model
class DiffusionUNet(nn.Module):
    """ε_θ(x_t, t): a U-Net in Ho et al.'s layout, small enough to train on a CPU.

    `mults` sets the levels (channels width·m, each level after the first at half the
    resolution): (1, 2, 2) on 28 px runs at 28, 14 and 7 px. `blocks` residual blocks per
    level down, one more up (each takes a skip from the way down); self-attention at the
    lowest resolution when `attention`, and always in the middle.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        image_size: int = 28,
        width: int = 32,  # channels at full resolution
        mults: tuple[int, ...] = (1, 2, 2),  # per level: channels = width * mult
        blocks: int = 1,  # residual blocks per level (down path)
        attention: bool = True,  # self-attention at the lowest resolution
        dropout: float = 0.0,  # inside residual blocks (Ho et al.: 0.1 on CIFAR-10)
    ) -> None:
        super().__init__()
        mults = tuple(mults)
        if image_size % 2 ** (len(mults) - 1):
            raise ConfigError(
                f"image_size {image_size} must be divisible by {2 ** (len(mults) - 1)} "
                f"for {len(mults)} U-Net levels (mults={list(mults)})"
            )
        self.width, temb = width, 4 * width
        self.time_mlp = nn.Sequential(nn.Linear(width, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.conv_in = nn.Conv2d(in_channels, width, 3, padding=1)
        chans = [width]  # channels of each skip, in the order the way down makes them
        self.down = nn.ModuleList()
        c = width
        for level, m in enumerate(mults):
            last = level == len(mults) - 1
            for _ in range(blocks):
                self.down.append(ResBlock(c, width * m, temb, dropout))
                c = width * m
                chans.append(c)
                if last and attention:
                    self.down.append(SelfAttention(c))
            if not last:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))  # halve H, W
                chans.append(c)
        self.mid = nn.ModuleList(
            [ResBlock(c, c, temb, dropout), SelfAttention(c), ResBlock(c, c, temb, dropout)]
        )
        self.up = nn.ModuleList()
        for level, m in reversed(list(enumerate(mults))):
            for _ in range(blocks + 1):
                self.up.append(ResBlock(c + chans.pop(), width * m, temb, dropout))
                c = width * m
                if level == len(mults) - 1 and attention:
                    self.up.append(SelfAttention(c))
            if level:
                self.up.append(
                    nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(c, c, 3, padding=1))
                )
        self.norm_out = _norm(c)
        self.conv_out = nn.Conv2d(c, in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # predicts ε̂ = 0 at first: loss starts at 1
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(timestep_embedding(t, self.width))  # (B, 4·width)
        h = self.conv_in(x)  # (B, width, H, W)
        skips = [h]
        for layer in self.down:
            h = self._layer(layer, h, temb)
            if not isinstance(layer, SelfAttention):
                skips.append(h)
            else:
                skips[-1] = h  # the attended map is the skip of its block
        for layer in self.mid:
            h = self._layer(layer, h, temb)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = torch.cat([h, skips.pop()], dim=1)
            h = self._layer(layer, h, temb)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, C, H, W): ε̂

    @staticmethod
    def _layer(layer: nn.Module, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        return layer(h, temb) if isinstance(layer, ResBlock) else layer(h)


def _create_unet(variant: str, kw: dict[str, Any], **fixed: Any) -> DiffusionUNet:
    return build(DiffusionUNet, variant, kw, **fixed)


@register_model("ddpm-unet")
def ddpm_unet(**kw: Any) -> DiffusionUNet:
    """Noise-predicting U-Net, width 32, levels (1, 2, 2), attention at the lowest level."""
    return _create_unet("ddpm-unet", kw)


@register_model("ddpm-unet-small")
def ddpm_unet_small(**kw: Any) -> DiffusionUNet:
    """Width 16, levels (1, 2, 4), attention only in the middle: ~3x cheaper on a CPU."""
    return _create_unet(
        "ddpm-unet-small", {"width": 16, "mults": (1, 2, 4), "attention": False, **kw}
    )
