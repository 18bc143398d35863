"""PatchCore: anomaly maps from a memory bank of good patches, on a frozen pretrained backbone.

Roth et al., "Towards Total Recall in Industrial Anomaly Detection", CVPR 2022:

1. a frozen ImageNet backbone turns each image into mid-level feature maps; each position's
   features, averaged over its 3x3 neighbourhood and concatenated across stages (the deeper
   ones upsampled), describe one *patch* (sec. 3.1);
2. the patches of the good training images, cut down by greedy k-center selection to a
   *coreset* that still covers them (sec. 3.2, Alg. 1), are the memory bank;
3. a test patch's anomaly score is its distance to the nearest patch in the bank; the map of
   scores, smoothed by a Gaussian (the paper: sigma 4 px) and upsampled, is the heat map, and
   its maximum the image's score (sec. 3.3).

One addition, for parts that are aligned (a print, a border, a fixture always in the same
place): *positional normalisation*. A nearest-neighbour search ignores where a patch is, so
places that are hard to match on every good part (the image border, where the backbone sees
zero padding; the edges of a printed code) score high on good parts too, and a faint defect
elsewhere cannot outscore them. Scoring a few good parts held out of the bank gives each
position its usual distance and spread; the heat map is then the z-score of the distance at
each position, as PaDiM (Defard et al., ICPR 2021) models each position's own distribution.

The z-score is taken *after* the smoothing, on the smoothed distances of the held-out parts.
Normalised first and smoothed after, the map is an average of fewer independent patches at
the edge (the blur mirrors the map there) than inside, so its spread on good parts was ~1.5x
larger at the edge and corners, and the image's maximum, the score, sat on the border for
half of the good validation parts. Smoothing on the patch grid (sigma / stride cells) before
upsampling is also 16x less work than smoothing the full-size map.

Not a registered model: it wraps any registered backbone that has `feature_maps(x)`, and the
anomaly task (`dllab.tasks.anomaly`) builds it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dllab.errors import DataError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "PatchCore", "gaussian_blur", "greedy_coreset"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # for a backbone whose module states no MEAN/STD
IMAGENET_STD = (0.229, 0.224, 0.225)


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """`maps` (B, H, W) smoothed by a Gaussian of `sigma` px (reflect padding); sigma 0: as is.

    Kernel radius int(4 sigma + 0.5), as anomalib's PatchCore smooths its anomaly maps, at
    most the map's side - 1 (what reflect padding allows).
    """
    if sigma <= 0:
        return maps
    radius = min(int(4 * sigma + 0.5), min(maps.shape[-2:]) - 1)
    x = torch.arange(-radius, radius + 1, dtype=maps.dtype, device=maps.device)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    k = k / k.sum()
    y = maps[:, None]  # (B, 1, H, W)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1))
    return y[:, 0]


def greedy_coreset(
    features: torch.Tensor, size: int, *, projection: int = 128, seed: int = 0
) -> torch.Tensor:
    """Indices (size,) of a k-center coreset of `features` (N, D) (PatchCore Alg. 1).

    Each step adds the point farthest from those chosen, so the chosen ones cover every
    point within the smallest radius this greedy rule finds (a 2-approximation of the best).
    Distances are measured after a seeded Gaussian random projection to `projection` dims
    when D is larger (Johnson-Lindenstrauss: distances are kept up to a small factor).
    """
    n, d = features.shape
    size = min(size, n)
    g = torch.Generator().manual_seed(seed)
    z = features.float()
    if projection < d:
        p = torch.randn(d, projection, generator=g) / math.sqrt(projection)
        z = z @ p.to(z.device)  # (N, projection)
    sq = (z * z).sum(1)  # (N,)
    chosen = torch.empty(size, dtype=torch.long)
    i = int(torch.randint(n, (1,), generator=g))
    nearest = torch.full((n,), math.inf, device=z.device)
    for j in range(size):
        chosen[j] = i
        dist = (sq - 2 * (z @ z[i]) + sq[i]).clamp_min(0)  # squared distance to point i
        nearest = torch.minimum(nearest, dist)
        i = int(nearest.argmax())
    return chosen


class PatchCore(nn.Module):
    """A frozen backbone plus a memory bank of good patches: normalised images (B, 3, S, S) in,
    anomaly maps (B, S, S) out (each pixel's patch distance to the nearest good patch, as a
    z-score of that position's distance on held-out good parts when `fit` was given some).

    `backbone` must have `feature_maps(x) -> list[(B, C_i, H_i, W_i)]`; `layers` picks the
    stages that form a patch (the first sets the map's resolution, `grid` = its (h, w), one
    cell per `stride` input px; `blur_sigma` is in input px, as in the paper). The
    memory bank starts empty (`bank_size` rows of zeros, `fitted` false), the positional
    statistics at mean 0 and spread 1 (no change); `fit(features, held_out)` fills them.

    >>> model = PatchCore(backbone, layers=(1, 2), bank_size=4096, dim=64, grid=(64, 64))
    ... # doctest: +SKIP
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        layers: tuple[int, ...],
        bank_size: int,
        dim: int,
        grid: tuple[int, int],
        blur_sigma: float = 4.0,
        stride: int = 4,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.layers, self.blur_sigma, self.stride = tuple(layers), blur_sigma, stride
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.register_buffer("memory_bank", torch.zeros(bank_size, dim))  # (M, D)
        self.register_buffer("position_mean", torch.zeros(grid))  # (h, w) distance on good
        self.register_buffer("position_std", torch.ones(grid))  # (h, w) its spread
        self.register_buffer("fitted", torch.tensor(False))
        self.register_buffer("threshold", torch.tensor(math.inf))  # image score: defective
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))  # backbone's input
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images (B, 3, S, S) -> the backbone's normalised float input."""
        return (images.float() / 255.0 - self.mean) / self.std

    def train(self, mode: bool = True) -> PatchCore:
        """The backbone stays in eval mode: its BatchNorm statistics are ImageNet's."""
        super().train(mode)
        self.backbone.eval()
        return self

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Patch features (B, D, h, w) at the first chosen stage's resolution (PatchCore 3.1)."""
        maps = self.backbone.feature_maps(x)
        picked = [F.avg_pool2d(maps[i], 3, stride=1, padding=1) for i in self.layers]
        size = picked[0].shape[-2:]
        picked = [
            f if f.shape[-2:] == size else F.interpolate(f, size, mode="bilinear") for f in picked
        ]
        return torch.cat(picked, 1)

    def fit(
        self, features: torch.Tensor, held_out: torch.Tensor | None = None, seed: int = 0
    ) -> None:
        """Fill the bank with a coreset of the patches of `features` (N, D, h, w), then, when
        `held_out` (K, D, h, w) good parts are given (K >= 2), set each position's mean and
        standard deviation of their distances to the bank."""
        m = self.memory_bank.shape[0]
        flat = features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])  # (N h w, D)
        if len(flat) < m:
            raise DataError(f"{len(flat)} training patches cannot fill a bank of {m}")
        idx = greedy_coreset(flat.to(self.memory_bank.device), m, seed=seed)
        self.memory_bank.copy_(flat[idx.to(flat.device)])
        if held_out is not None and len(held_out) >= 2:
            d = self.smoothed_distances(held_out.to(self.memory_bank.device))  # (K, h, w)
            std = d.std(0)
            self.position_mean.copy_(d.mean(0))
            # a floor: a position that never varied must not turn noise into huge z-scores
            self.position_std.copy_(std.clamp_min(0.01 * float(std.mean()) + 1e-12))
        self.fitted.fill_(True)

    def distances(self, e: torch.Tensor) -> torch.Tensor:
        """Distance of each patch of `e` (B, D, h, w) to its nearest neighbour in the bank,
        (B, h, w)."""
        b, d, h, w = e.shape
        flat = e.permute(0, 2, 3, 1).reshape(b, h * w, d)
        scores = torch.stack([torch.cdist(f, self.memory_bank).amin(1) for f in flat])
        return scores.view(b, h, w)

    def smoothed_distances(self, e: torch.Tensor) -> torch.Tensor:
        """`distances(e)` (B, h, w) smoothed by a Gaussian of `blur_sigma` input px."""
        return gaussian_blur(self.distances(e), self.blur_sigma / self.stride)

    def patch_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Each patch's smoothed distance as a z-score of its position's smoothed distances
        on good parts, (B, h, w)."""
        return (self.smoothed_distances(self.embed(x)) - self.position_mean) / self.position_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Anomaly maps (B, H, W) at the input's resolution."""
        s = self.patch_scores(x)[:, None]  # (B, 1, h, w)
        return F.interpolate(s, x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
