"""A small BERT: a Transformer encoder pretrained by masked language modelling.

Paper: Devlin, Chang, Lee, Toutanova, "BERT: pre-training of deep bidirectional transformers
for language understanding", NAACL 2019 (arXiv:1810.04805). Section numbers refer to it.

- `BertEncoder`: token embeddings plus learned position embeddings, then pre-norm encoder
  layers (`models/transformer.py`'s `EncoderLayer`, GELU as in BERT) and a final LayerNorm.
  Pre-norm instead of BERT's post-norm: it trains without a long warmup at this size (Xiong et
  al., arXiv:2002.04745). No segment embeddings: we pretrain on single texts, without BERT's
  next-sentence task (which RoBERTa, arXiv:1907.11692, found not to help).
- `mask_tokens`: the corruption of section 3.1: 15 % of the real tokens are chosen; of those
  80 % become `[MASK]`, 10 % a random token and 10 % stay unchanged, and the model must
  predict every chosen token's original id.
- `BertForMaskedLM` (`bert-mlm-mini`): the encoder plus BERT's MLM head (dense, GELU,
  LayerNorm, then a projection tied to the input token embedding, plus a bias).
- `BertClassifier` (`bert-classifier`): the same encoder plus pooling (`[CLS]` vector or the
  mean over real tokens) and a linear head, for fine-tuning on labelled texts.

Inputs are token ids `(B, T)` padded on the right with `pad_idx`; by the convention of the
`masked_lm` task a text is `[CLS] tokens… [SEP]`. Padding never changes what real positions
compute. Load pretrained weights with `dllab.models.pretrained.load_encoder`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from dllab.errors import ConfigError
from dllab.models.checks import build
from dllab.models.registry import register_model
from dllab.models.transformer import (
    EncoderLayer,
    TransformerConfig,
    TransformerEmbedding,
    check_attention_shape,
    rotary_table,
)

__all__ = [
    "BertClassifier",
    "BertClassifierConfig",
    "BertConfig",
    "BertEncoder",
    "BertForMaskedLM",
    "mask_tokens",
]

IGNORE = -100  # label of positions the MLM loss skips (F.cross_entropy's ignore_index)


@dataclass
class BertConfig:
    vocab_size: int = 6000  # token ids 0..vocab_size-1; the task sets it from its vocabulary
    d_model: int = 256  # width of every token vector (BERT-base: 768)
    n_heads: int = 4  # 64 numbers per head, as BERT-base
    n_layers: int = 4  # 4 x 256 fine-tunes in minutes on 2 CPU cores (BERT-base: 12)
    d_ff: int | None = None  # feed-forward width; None: 4 * d_model (as BERT)
    dropout: float = 0.1  # BERT's, on embeddings, attention weights and residual branches
    max_len: int = 128  # longest input in tokens, [CLS] and [SEP] included (BERT: 512)
    pad_idx: int = 0  # padding token (Vocab puts <pad> at 0)
    # "learned" (BERT's table of positions) or "rotary" (RoFormer: queries and keys rotated by
    # their position, so attention sees relative offsets from the first step; RoFormer's
    # masked-LM loss fell faster, section 4.5.2).
    positions: str = "learned"

    def __post_init__(self) -> None:
        check_attention_shape(self.d_model, self.n_heads, self.positions)
        if self.positions == "sinusoidal":
            raise ConfigError("BERT positions are 'learned' or 'rotary'")
        if self.vocab_size < 2 or self.n_layers < 1 or self.max_len < 2:
            raise ConfigError(
                f"BERT needs vocab_size >= 2, n_layers >= 1 and max_len >= 2; got "
                f"{self.vocab_size}, {self.n_layers} and {self.max_len}"
            )

    def transformer(self) -> TransformerConfig:
        """The same sizes as a `TransformerConfig`, for the shared embedding and layers."""
        return TransformerConfig(
            src_vocab_size=self.vocab_size,
            tgt_vocab_size=self.vocab_size,
            d_model=self.d_model,
            n_heads=self.n_heads,
            n_layers=self.n_layers,
            d_ff=self.d_ff,
            dropout=self.dropout,
            activation="gelu",
            norm_first=True,
            positions=self.positions,
            max_len=self.max_len,
            pad_idx=self.pad_idx,
        )

    def encoder_kwargs(self) -> dict[str, Any]:
        """The fields of this config only (not a subclass's head options), as plain data."""
        return {k: v for k, v in asdict(self).items() if k in BertConfig.__dataclass_fields__}


@dataclass
class BertClassifierConfig(BertConfig):
    num_classes: int = 2  # classes of the whole text
    pooling: str = "cls"  # "cls": the [CLS] position's vector (BERT, 4.1); "mean": real tokens
    classifier_dropout: float = 0.1  # on the pooled vector, before the linear head

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pooling not in ("cls", "mean"):
            raise ConfigError(f"pooling {self.pooling!r} is not one of cls, mean")


# ---------------------------------------------------------------- masking
def mask_tokens(
    tokens: torch.Tensor,
    *,
    mask_id: int,
    first_token_id: int,
    vocab_size: int,
    probability: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking (section 3.1, "Task #1: Masked LM"): `(inputs, labels)`, both `(B, T)`.

    Only ids `>= first_token_id` may be chosen (specials and padding have the lowest ids and
    are never chosen); each is chosen with `probability`. A chosen position becomes `mask_id`
    with probability 0.8, a random token id in `first_token_id..vocab_size-1` with 0.1, and
    keeps its id with 0.1; its label is the original id. Unchosen positions get label -100.

    >>> x, y = mask_tokens(torch.tensor([[2, 7, 8, 3]]), mask_id=4, first_token_id=5,
    ...                    vocab_size=10, probability=1.0)
    >>> y.tolist()
    [[-100, 7, 8, -100]]
    """
    shape, device = tokens.shape, tokens.device
    uniform = torch.rand(shape, generator=generator, device=device)
    chosen = (tokens >= first_token_id) & (uniform < probability)
    labels = tokens.masked_fill(~chosen, IGNORE)
    # A second draw splits the chosen positions 80 / 10 / 10.
    action = torch.rand(shape, generator=generator, device=device)
    to_mask = chosen & (action < 0.8)
    to_random = chosen & (action >= 0.8) & (action < 0.9)
    random_ids = torch.randint(
        first_token_id, vocab_size, shape, generator=generator, device=device
    )
    inputs = tokens.masked_fill(to_mask, mask_id)
    inputs = torch.where(to_random, random_ids, inputs)
    return inputs, labels


# ---------------------------------------------------------------- the encoder
class BertEncoder(nn.Module):
    """Embedding (tokens scaled by sqrt(d), plus learned positions), pre-norm encoder layers,
    final LayerNorm: `tokens (B, T)` -> `(B, T, d)`. Padding is `tokens == pad_idx` unless a
    mask `(B, T)`, True at padding, is given.
    """

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        tcfg = cfg.transformer()
        self.pad_idx = cfg.pad_idx
        self.embedding = TransformerEmbedding(cfg.vocab_size, tcfg)
        args = (cfg.d_model, cfg.n_heads, tcfg.ff_width, cfg.dropout, "gelu", True)
        rotary = rotary_table(tcfg)  # None for learned positions; else one table for every layer
        self.layers = nn.ModuleList(EncoderLayer(*args, rotary) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(
        self,
        tokens: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Hidden states `(B, T, d)`; with `need_weights`, also the last layer's attention
        weights `(B, nh, T, T)` (for plots)."""
        if padding_mask is None:
            padding_mask = tokens == self.pad_idx
        x = self.embedding(tokens)  # (B, T, d)
        weights = None
        for i, layer in enumerate(self.layers):
            last = i == len(self.layers) - 1
            x, weights = layer(x, padding_mask, need_weights=need_weights and last)
        x = self.norm(x)
        if need_weights:
            assert weights is not None
            return x, weights
        return x


def init_bert_weights(module: nn.Module) -> None:
    """BERT's initialisation: N(0, 0.02) for matrices and embeddings, zero biases, and a zero
    padding vector."""
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].zero_()


class MaskedLMHead(nn.Module):
    """`LayerNorm(GELU(dense(h))) @ E^T + b`, with `E` the encoder's token embedding (tied)."""

    def __init__(self, d_model: int, token_embedding: nn.Embedding) -> None:
        super().__init__()
        self.dense = nn.Linear(d_model, d_model)
        self.activation = nn.GELU()
        self.norm = nn.LayerNorm(d_model)
        vocab_size = token_embedding.num_embeddings
        self.decoder = nn.Linear(d_model, vocab_size)
        self.decoder.weight = token_embedding.weight  # tied: one matrix reads and writes tokens

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.norm(self.activation(self.dense(h))))  # (..., V)


class BertForMaskedLM(nn.Module):
    """Encoder plus MLM head: `tokens (B, T)` -> logits `(B, T, V)`, or `(N, V)` for only the
    `N` positions where `select (B, T)` is True (the masked ones: the other 85 % need no
    vocabulary-sized projection).

    >>> m = BertForMaskedLM(BertConfig(vocab_size=20, d_model=16, n_heads=2, n_layers=1))
    >>> m(torch.tensor([[2, 7, 4, 3, 0]])).shape
    torch.Size([1, 5, 20])
    """

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.config = cfg
        self.encoder = BertEncoder(cfg)
        self.apply(init_bert_weights)
        self.head = MaskedLMHead(cfg.d_model, self.encoder.embedding.tokens)
        nn.init.normal_(self.head.dense.weight, std=0.02)
        nn.init.zeros_(self.head.dense.bias)
        nn.init.zeros_(self.head.decoder.bias)

    def forward(self, tokens: torch.Tensor, select: torch.Tensor | None = None) -> torch.Tensor:
        h = self.encoder(tokens)  # (B, T, d)
        return self.head(h if select is None else h[select])


class BertClassifier(nn.Module):
    """Encoder, pooling, dropout, linear head: `tokens (B, T)` -> logits `(B, num_classes)`.

    `pooling="cls"` reads position 0 (the `[CLS]` token the texts start with); `"mean"`
    averages the real (non-padding) positions. `lengths (B,)`, when given, marks padding
    instead of `tokens == pad_idx`.

    >>> cfg = BertClassifierConfig(vocab_size=20, d_model=16, n_heads=2, n_layers=1)
    >>> BertClassifier(cfg)(torch.tensor([[2, 7, 3, 0], [2, 9, 8, 3]])).shape
    torch.Size([2, 2])
    """

    def __init__(self, cfg: BertClassifierConfig) -> None:
        super().__init__()
        self.config = cfg
        self.encoder = BertEncoder(cfg)
        self.dropout = nn.Dropout(cfg.classifier_dropout)
        self.head = nn.Linear(cfg.d_model, cfg.num_classes)
        self.apply(init_bert_weights)

    def padding_mask(self, tokens: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        if lengths is None:
            return tokens == self.config.pad_idx
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        return positions[None, :] >= lengths.to(tokens.device)[:, None]  # (B, T)

    def forward(
        self,
        tokens: torch.Tensor,
        lengths: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits `(B, num_classes)`; with `return_attention`, also `(B, T)` weights over the
        tokens: the last layer's attention, averaged over heads, read from what the pooling
        reads (the `[CLS]` row, or the mean of the real rows). A picture of where the last
        layer looks, not an explanation of the decision."""
        padding = self.padding_mask(tokens, lengths)
        if return_attention:
            h, weights = self.encoder(tokens, padding, need_weights=True)  # weights (B, nh, T, T)
        else:
            h = self.encoder(tokens, padding)  # (B, T, d)
        real = (~padding).unsqueeze(-1).to(h.dtype)  # (B, T, 1)
        if self.config.pooling == "cls":
            pooled = h[:, 0]  # (B, d)
        else:
            pooled = (h * real).sum(1) / real.sum(1).clamp(min=1)  # (B, d)
        logits = self.head(self.dropout(pooled))
        if not return_attention:
            return logits
        per_query = weights.mean(1)  # (B, T, T): rows are queries
        if self.config.pooling == "cls":
            return logits, per_query[:, 0]
        rows = real.to(per_query.dtype)  # (B, T, 1)
        return logits, (per_query * rows).sum(1) / rows.sum(1).clamp(min=1)


def _create_bert(factory: type, config: type, variant: str, kw: dict[str, Any]) -> nn.Module:
    return factory(build(config, variant, kw))


@register_model("bert-mlm-mini")
def bert_mlm_mini(**kw: Any) -> BertForMaskedLM:
    """4 layers, 4 heads, d_model 256, 128 tokens, MLM head; options: `BertConfig`'s fields."""
    return _create_bert(BertForMaskedLM, BertConfig, "bert-mlm-mini", kw)  # type: ignore[return-value]


@register_model("bert-classifier")
def bert_classifier(**kw: Any) -> BertClassifier:
    """The `bert-mlm-mini` encoder with a pooled linear head; options: `BertClassifierConfig`'s
    fields (give the pretrained encoder's config from `load_encoder` to fine-tune it)."""
    return _create_bert(BertClassifier, BertClassifierConfig, "bert-classifier", kw)  # type: ignore[return-value]
