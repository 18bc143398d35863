"""TextCNN: one convolution layer over word vectors, max-over-time pooling, a linear head.

Paper: Kim, "Convolutional neural networks for sentence classification", EMNLP 2014
(arXiv:1408.5882), section 2 and figure 1; defaults follow its section 3.1 (filter widths 3, 4,
5 with 100 feature maps each, dropout 0.5). Left out: the paper's max-norm constraint on the
head's weights, which later replications found to matter little (Zhang, Wallace, "A
sensitivity analysis of ... CNNs for sentence classification", IJCNLP 2017).

Takes token ids `(B, T)` padded on the right with `pad_idx` (and optionally `lengths (B,)`)
and returns logits `(B, num_classes)`. Padding is masked, so a text gives the same logits
however much padding its batch adds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dllab.errors import ConfigError
from dllab.models.checks import build
from dllab.models.registry import register_model
from dllab.models.rnn import sequence_lengths

__all__ = ["TextCNN", "TextCNNConfig"]


@dataclass
class TextCNNConfig:
    vocab_size: int = 5000  # token ids 0..vocab_size-1; the task sets it from its vocabulary
    num_classes: int = 2  # classes of the whole text
    embed_dim: int = 128  # Kim used 300-d word2vec vectors; 128 suffices from scratch
    kernel_sizes: Sequence[int] = (3, 4, 5)  # filter widths in tokens (Kim's)
    num_filters: int = 100  # feature maps per width (Kim's)
    dropout: float = 0.5  # on the pooled features (Kim's)
    pad_idx: int = 0  # padding token, whose embedding is zero and never trained

    def __post_init__(self) -> None:
        if not self.kernel_sizes or min(self.kernel_sizes) < 1:
            raise ConfigError(f"kernel_sizes must be positive widths, got {self.kernel_sizes}")


class TextCNN(nn.Module):
    """Embed, `conv1d(width k) -> ReLU -> max over positions` for each width, concatenate,
    dropout, linear: `tokens (B, T)` -> logits `(B, num_classes)`.

    >>> TextCNN(TextCNNConfig(vocab_size=50))(torch.ones(2, 9, dtype=torch.long)).shape
    torch.Size([2, 2])
    """

    def __init__(self, cfg: TextCNNConfig) -> None:
        super().__init__()
        self.pad_idx = cfg.pad_idx
        self.kernel_sizes = tuple(cfg.kernel_sizes)
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=cfg.pad_idx)
        self.convs = nn.ModuleList(
            nn.Conv1d(cfg.embed_dim, cfg.num_filters, k) for k in self.kernel_sizes
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.num_filters * len(self.kernel_sizes), cfg.num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        t = tokens.shape[1]
        lengths = sequence_lengths(tokens, lengths, self.pad_idx).to(tokens.device)
        positions = torch.arange(max(t, *self.kernel_sizes), device=tokens.device)
        padding = positions[None, :t] >= lengths[:, None]  # (B, T)
        # Padding reads as zero vectors whatever its ids, and texts shorter than the widest
        # filter are padded up to it (as Kim pads every sentence).
        x = self.embedding(tokens).masked_fill(padding[:, :, None], 0.0)  # (B, T, E)
        x = F.pad(x, (0, 0, 0, len(positions) - t)).transpose(1, 2)  # (B, E, T')
        pooled = []
        for k, conv in zip(self.kernel_sizes, self.convs, strict=True):
            h = F.relu(conv(x))  # (B, F, T' - k + 1); window j reads tokens j..j+k-1
            # Pool only windows inside the text (the first one for a text shorter than k),
            # so the amount of padding in the batch cannot change the result.
            last_start = (lengths - k).clamp(min=0)  # (B,)
            outside = positions[None, : h.shape[-1]] > last_start[:, None]  # (B, T' - k + 1)
            pooled.append(h.masked_fill(outside[:, None, :], float("-inf")).amax(dim=-1))
        features = torch.cat(pooled, dim=1)  # (B, F * len(kernel_sizes))
        return self.head(self.dropout(features))


def _create_textcnn(variant: str, kw: dict[str, Any]) -> TextCNN:
    return TextCNN(build(TextCNNConfig, variant, kw))


@register_model("textcnn")
def textcnn(**kw: Any) -> TextCNN:
    """TextCNN (Kim 2014); options: the fields of `TextCNNConfig`."""
    return _create_textcnn("textcnn", kw)
