"""fastText: the mean of a text's token and n-gram embeddings, then one linear layer.

Paper: Joulin, Grave, Bojanowski, Mikolov, "Bag of tricks for efficient text classification",
EACL 2017 (arXiv:1607.01759), section 2 and figure 1: a linear model over a low-rank bag of
n-grams, which on sentiment matches models hundreds of times slower. The n-grams come from the
tokenizer (`char-ngrams`: characters with their 2- and 3-grams), and the vocabulary built on
the training split stands in for the paper's hashing trick: n-grams rarer than `min_freq` share
`<unk>`. Left out: the hierarchical softmax (two classes here).

Its errors differ from a pretrained encoder's (it sees which n-grams occur, not their order
beyond three characters), so averaging the two predictions gains more than either alone.

Takes token ids `(B, T)` padded on the right with `pad_idx` and returns logits
`(B, num_classes)`; padding never enters the mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dllab.models.checks import build
from dllab.models.registry import register_model
from dllab.models.rnn import sequence_lengths

__all__ = ["FastText", "FastTextConfig"]


@dataclass
class FastTextConfig:
    vocab_size: int = 5000  # token and n-gram ids; the task sets it from its vocabulary
    num_classes: int = 2
    embed_dim: int = 64  # the paper used 10; with ~200k n-grams AdamW's dense update of the
    # whole table each step grows with it (the recipe takes 16)
    dropout: float = 0.0  # on the averaged vector
    pad_idx: int = 0  # padding: never averaged


class FastText(nn.Module):
    """The mean of the real tokens' embeddings, dropout, linear.

    >>> FastText(FastTextConfig(vocab_size=50))(torch.tensor([[4, 5, 0], [6, 7, 8]])).shape
    torch.Size([2, 2])
    """

    def __init__(self, cfg: FastTextConfig) -> None:
        super().__init__()
        self.pad_idx = cfg.pad_idx
        # One table for tokens and n-grams, the mean of a text's rows its representation.
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=cfg.pad_idx)
        nn.init.uniform_(self.embedding.weight, -1 / cfg.embed_dim, 1 / cfg.embed_dim)
        with torch.no_grad():
            self.embedding.weight[cfg.pad_idx].zero_()
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.embed_dim, cfg.num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        lengths = sequence_lengths(tokens, lengths, self.pad_idx).to(tokens.device)
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        real = (positions[None, :] < lengths[:, None]).unsqueeze(-1)  # (B, T, 1)
        x = self.embedding(tokens).masked_fill(~real, 0.0)  # (B, T, E)
        mean = x.sum(1) / lengths.clamp(min=1)[:, None].to(x.dtype)  # (B, E)
        return self.head(self.dropout(mean))


@register_model("fasttext")
def fasttext(**kw: Any) -> FastText:
    """fastText (Joulin et al. 2017); options: the fields of `FastTextConfig`."""
    return FastText(build(FastTextConfig, "fasttext", kw))
