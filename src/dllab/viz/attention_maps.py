"""Where a Vision Transformer looks: the class token's attention over the patch grid.

Two views of the same weights, laid over the input images:

- the last block's attention from the class token to each patch, per head and averaged over
  the heads (row 0 of the attention matrix, columns 1..N, reshaped to the patch grid);
- attention rollout (Abnar & Zuidema, "Quantifying attention flow in transformers", ACL 2020,
  section 3): average the heads of each block, add the identity for the residual connection
  and renormalise, `A'_l = (A_l + I) / 2`, and multiply through the blocks,
  `R = A'_L ... A'_1`; row 0 of `R` says how much each patch flowed into the class token
  through every block, not just the last one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from dllab.viz.figure import new_figure, save_figure

__all__ = ["attention_rollout", "class_token_attention", "plot_attention_maps"]


def class_token_attention(weights: torch.Tensor, grid: int) -> torch.Tensor:
    """What the class token attends to: `(B, heads, N + 1, N + 1)` -> `(B, heads, g, g)`.

    Token 0 is the class token and tokens 1..N the patches in row-major order (`N = g * g`).
    Each map sums to at most 1 (the rest is the class token's attention to itself).

    >>> class_token_attention(torch.full((1, 2, 5, 5), 0.2), grid=2).shape
    torch.Size([1, 2, 2, 2])
    """
    b, h, t, _ = weights.shape
    if t != grid * grid + 1:
        raise ValueError(f"attention over {t} tokens does not fit a {grid}x{grid} patch grid + 1")
    return weights[:, :, 0, 1:].reshape(b, h, grid, grid)


def attention_rollout(maps: torch.Tensor, grid: int) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020) of every block's weights.

    `maps (L, B, heads, N + 1, N + 1)`, first block first -> `(B, g, g)`: the share of the
    class token's final state that flows from each patch; the N + 1 shares (class token
    included) sum to 1.
    """
    n_tokens = maps.shape[-1]
    eye = torch.eye(n_tokens, dtype=torch.float64)
    rollout = eye.expand(maps.shape[1], -1, -1)  # (B, T, T)
    for layer in maps.double():
        a = 0.5 * layer.mean(dim=1) + 0.5 * eye  # (B, T, T): heads averaged, plus the residual
        a = a / a.sum(dim=-1, keepdim=True)
        rollout = a @ rollout  # later blocks on the left: R = A'_L ... A'_1
    return class_token_attention(rollout[:, None].float(), grid)[:, 0]


def _upsample(m: np.ndarray, size: int) -> np.ndarray:
    """A `(g, g)` map to `(size, size)`, bilinear, for overlaying on the image."""
    t = torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))[None, None]
    up = torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return up[0, 0].numpy()


def plot_attention_maps(
    images: np.ndarray | torch.Tensor,
    maps: torch.Tensor,
    path: Path,
    row_titles: Sequence[str] | None = None,
    title: str = "ViT attention of the class token over the patches",
) -> Path:
    """Overlay, for each image (one row each), the attention rollout, the last block's class
    token attention averaged over heads, and each head's, on the input image.

    `images` are uint8 `(B, C, H, W)` (C = 1 or 3, square); `maps` every block's weights
    `(L, B, heads, N + 1, N + 1)` as `ViT.attention_maps` returns them; `row_titles` one line
    per image (e.g. "true coat / pred coat"). The patch grid is square: `N = g * g`. Each map is scaled to its own maximum (the
    colour shows where, not how much). Returns `path`.
    """
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    n_img, heads = images.shape[0], maps.shape[2]
    grid = math.isqrt(maps.shape[-1] - 1)
    if maps.shape[1] != n_img:
        raise ValueError(f"{n_img} images but attention maps for {maps.shape[1]}")
    last = class_token_attention(maps[-1].float(), grid).numpy()  # (B, heads, g, g)
    rolled = attention_rollout(maps, grid).numpy()  # (B, g, g)
    columns = ["input", "rollout, all blocks", "last block, mean"]
    columns += [f"last block, head {h + 1}" for h in range(heads)]
    ncols, size = len(columns), images.shape[-1]
    fig = new_figure(1.7 * ncols, 1.85 * n_img + 0.6)
    fig.suptitle(f"{title}\n(patch grid {grid}x{grid}; brighter = more attention)", fontsize=12)
    for i in range(n_img):
        tile = images[i].transpose(1, 2, 0)  # (H, W, C)
        per_column = [None, rolled[i], last[i].mean(0), *last[i]]
        for j, (name, m) in enumerate(zip(columns, per_column, strict=True)):
            ax = fig.add_subplot(n_img, ncols, i * ncols + j + 1)
            if tile.shape[-1] == 1:
                ax.imshow(tile[..., 0], cmap="gray", vmin=0, vmax=255)
            else:
                ax.imshow(tile)
            if m is not None:
                heat = _upsample(m / max(float(m.max()), 1e-12), size)
                ax.imshow(heat, cmap="inferno", alpha=0.6, vmin=0, vmax=1)
            if i == 0:
                ax.set_title(name, fontsize=8)
            if j == 0 and row_titles is not None:
                ax.set_ylabel(row_titles[i], fontsize=7)
            ax.set_xticks([]), ax.set_yticks([])
    return save_figure(fig, path)
