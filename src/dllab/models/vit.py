"""Vision Transformer: an image as a sequence of patches, read by a Transformer encoder.

Paper: Dosovitskiy et al., "An image is worth 16x16 words: Transformers for image recognition
at scale", ICLR 2021 (arXiv:2010.11929), section 3.1, eq. 1-4: cut the image into
`patch_size` squares, project each linearly (a strided convolution does exactly that), prepend
a learned class token, add learned position embeddings, run pre-norm encoder blocks (the ones
of `transformer.py`, GELU), and classify the class token's final state.

Sized for 28x28 grey images (Fashion-MNIST): 4x4 patches give 49 tokens plus the class token.
Without the paper's pre-training on large data a ViT trails a CNN of the same cost on small
images; the comparison is the point of `fashion-mnist-vit`. Like the image classifiers of
`cnn.py`, it maps `(B, C, H, W)` floats to logits `(B, num_classes)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dllab.errors import ConfigError
from dllab.models.checks import build, check_input
from dllab.models.registry import register_model
from dllab.models.transformer import EncoderLayer, check_attention_shape

__all__ = ["PatchEmbedding", "ViT", "ViTConfig"]


@dataclass
class ViTConfig:
    num_classes: int = 10  # classes of the image
    in_channels: int = 1  # grey
    image_size: int = 28  # side of the square input, a multiple of patch_size
    patch_size: int = 4  # 28 px -> 7 x 7 = 49 patches; the paper's 16 suits 224 px images
    d_model: int = 64  # width of every token vector (the paper's ViT-Base: 768)
    n_heads: int = 4  # 16 numbers per head
    n_layers: int = 6  # encoder blocks
    d_ff: int | None = None  # hidden width of the MLP; None: 4 * d_model, the paper's ratio
    dropout: float = 0.0  # on embeddings, attention and MLP; 0 as in DeiT: minutes underfit
    # True: F.scaled_dot_product_attention (fused kernels, for GPUs). False: the spelled-out
    # softmax(q k^T / sqrt(d)) v; on this CPU in bf16 a vit-tiny step took 0.28 s with it and
    # 0.98 s with the CPU flash kernel, whose backward is slow for 50 tokens of 16 numbers.
    fused_attention: bool = False

    def __post_init__(self) -> None:
        check_attention_shape(self.d_model, self.n_heads)
        if self.image_size % self.patch_size:
            raise ConfigError(
                f"image_size={self.image_size} is not a multiple of patch_size="
                f"{self.patch_size}; pick a patch_size that divides it"
            )


class PatchEmbedding(nn.Module):
    """Cut into `p x p` patches and project each to `d_model` numbers (eq. 1):
    `(B, C, H, W)` -> `(B, H/p * W/p, d_model)`. A conv with kernel = stride = `p` is a linear
    map applied to each patch alone."""

    def __init__(self, in_channels: int, patch_size: int, d_model: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, d_model, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, d, 7, 7) -> (B, 49, d)


class ViT(nn.Module):
    """`forward(x (B, C, H, W))` -> logits `(B, num_classes)`; with `return_attention`, also
    the last block's attention `(B, n_heads, N + 1, N + 1)` over the class token and the `N`
    patches (row 0, columns 1..N reshaped to the patch grid, is what the class token looks at).
    `attention_maps(x)` gives every block's, for attention rollout.
    """

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.input_shape = (cfg.in_channels, cfg.image_size, cfg.image_size)
        self.grid = cfg.image_size // cfg.patch_size  # patches per side
        self.fused_attention = cfg.fused_attention
        d, n = cfg.d_model, self.grid**2
        self.patch_embed = PatchEmbedding(cfg.in_channels, cfg.patch_size, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, d))
        self.dropout = nn.Dropout(cfg.dropout)
        d_ff = cfg.d_ff if cfg.d_ff is not None else 4 * d
        self.blocks = nn.ModuleList(
            EncoderLayer(d, cfg.n_heads, d_ff, cfg.dropout, "gelu", norm_first=True)
            for _ in range(cfg.n_layers)
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        logits, weights = self._run(x, keep_weights=return_attention)
        return (logits, weights[-1]) if return_attention else logits

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Every block's attention weights, first block first: `(L, B, n_heads, N + 1, N + 1)`;
        each row sums to 1 (softmax over the keys)."""
        return torch.stack(self._run(x, keep_weights=True)[1])

    def _run(self, x: torch.Tensor, keep_weights: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits `(B, num_classes)` and, when `keep_weights`, each block's attention."""
        check_input(x, self.input_shape, "vit")
        tokens = self.patch_embed(x)  # (B, N, d)
        cls = self.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, d)
        h = self.dropout(torch.cat([cls, tokens], dim=1) + self.pos_embed)  # (B, N + 1, d)
        # The spelled-out attention (`need_weights`) doubles as the CPU's faster kernel.
        spelled_out = keep_weights or not self.fused_attention
        weights = []
        for block in self.blocks:
            h, w = block(h, need_weights=spelled_out)  # w: (B, n_heads, N + 1, N + 1)
            if keep_weights:
                weights.append(w)
        return self.head(self.norm(h[:, 0])), weights  # the class token decides


def _create_vit(variant: str, sizes: dict[str, int], kw: dict[str, Any]) -> ViT:
    """`ViT(ViTConfig(**sizes, **kw))`: the variant's sizes are defaults that `kw` may change."""
    return ViT(build(ViTConfig, variant, {**sizes, **kw}))


@register_model("vit-tiny")
def vit_tiny(**kw: Any) -> ViT:
    """d_model 64, 6 blocks, 4 heads, 4x4 patches: ~0.3 M weights, for 28x28 grey images."""
    return _create_vit("vit-tiny", {"d_model": 64, "n_layers": 6, "n_heads": 4}, kw)


@register_model("vit-small")
def vit_small(**kw: Any) -> ViT:
    """d_model 128, 6 blocks, 4 heads, 4x4 patches: ~1.2 M weights."""
    return _create_vit("vit-small", {"d_model": 128, "n_layers": 6, "n_heads": 4}, kw)
