"""The Transformer, written to be read: attention, positions, encoder and decoder layers.

Paper: Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser, Polosukhin, "Attention Is
All You Need", NeurIPS 2017 (arXiv:1706.03762). Section numbers below refer to it.

- `MultiHeadAttention` (3.2.2) projects queries, keys and values, splits them into heads and
  hands them to `F.scaled_dot_product_attention`, which computes
  `softmax(q k^T / sqrt(d_head) + mask) v` (3.2.1) with a fused kernel.
- Positions: `SinusoidalPositions` (3.5), `LearnedPositions` (as in BERT and GPT-2) and
  `RotaryEmbedding` (Su et al., "RoFormer", arXiv:2104.09864, eq. 34), which rotates queries
  and keys instead of adding to the embeddings.
- `EncoderLayer` and `DecoderLayer` (3.1) in post-norm (the paper: `norm(x + sublayer(x))`) or
  pre-norm (`x + sublayer(norm(x))`; Xiong et al., arXiv:2002.04745, trains without warmup
  tricks). With weights copied over they compute exactly what `nn.TransformerEncoderLayer`
  and `nn.TransformerDecoderLayer` (`batch_first=True`) compute;
  `tests/models/test_transformer_parity.py` proves it.
- `Transformer`, registered as `transformer-seq2seq`: the encoder-decoder model for
  translation, with `encode`/`decode` for beam search and `greedy_decode`.

Masks follow `nn.Transformer`: a padding mask is `(B, S)` bool, True at padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dllab.errors import ConfigError, InputError
from dllab.models.attention_kernel import attention
from dllab.models.checks import build
from dllab.models.registry import register_model

__all__ = [
    "DecoderLayer",
    "EncoderLayer",
    "FeedForward",
    "LearnedPositions",
    "MultiHeadAttention",
    "RotaryEmbedding",
    "SinusoidalPositions",
    "Transformer",
    "TransformerConfig",
    "TransformerDecoder",
    "TransformerEmbedding",
    "TransformerEncoder",
    "attention_mask",
    "check_attention_shape",
]

POSITIONS = ("sinusoidal", "learned", "rotary")
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}


@dataclass
class TransformerConfig:
    src_vocab_size: int = 8000  # source tokens (a BPE vocabulary); the task sets it
    tgt_vocab_size: int = 8000  # target tokens; equal to the source's for a joint BPE
    d_model: int = 256  # width of every token vector; the paper's base model has 512
    n_heads: int = 4  # d_model / n_heads = 64 per head, the paper's head size
    n_layers: int = 3  # per stack (encoder and decoder); 3 trains in minutes on a CPU
    d_ff: int | None = None  # hidden width of the feed-forward block; None: 4 * d_model (3.3)
    dropout: float = 0.1  # the paper's P_drop (5.4)
    activation: str = "relu"  # the paper's; "gelu" as in BERT and GPT
    norm_first: bool = True  # pre-norm trains stably at small scale; False is the paper's
    positions: str = "sinusoidal"  # "sinusoidal" (3.5), "learned" or "rotary" (RoFormer)
    max_len: int = 256  # longest sequence the positions cover
    pad_idx: int = 0  # padding token of both vocabularies
    tie_embeddings: bool = True  # share the target embedding and the output projection (3.4)
    # With a joint source+target vocabulary (one BPE for both languages), the source embedding
    # too (three-way tying, fairseq's --share-all-embeddings): fewer weights to learn from little data.
    share_all_embeddings: bool = False

    def __post_init__(self) -> None:
        check_attention_shape(self.d_model, self.n_heads, self.positions)
        if self.share_all_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ConfigError(
                f"share_all_embeddings needs one vocabulary for both sides; got "
                f"src_vocab_size={self.src_vocab_size}, tgt_vocab_size={self.tgt_vocab_size}"
            )
        if self.activation not in ACTIVATIONS:
            raise ConfigError(
                f"activation {self.activation!r} is not one of {', '.join(ACTIVATIONS)}"
            )

    @property
    def ff_width(self) -> int:
        return self.d_ff if self.d_ff is not None else 4 * self.d_model


def check_attention_shape(d_model: int, n_heads: int, positions: str | None = None) -> None:
    """Raise `ConfigError` unless `d_model` splits into `n_heads` heads that `positions` fits."""
    if n_heads < 1 or d_model % n_heads:
        raise ConfigError(
            f"d_model={d_model} does not split into n_heads={n_heads} heads; "
            "pick d_model a multiple of n_heads"
        )
    if positions is not None and positions not in POSITIONS:
        raise ConfigError(f"positions {positions!r} is not one of {', '.join(POSITIONS)}")
    if positions == "rotary" and (d_model // n_heads) % 2:
        raise ConfigError(
            f"rotary positions rotate pairs of numbers, so the head size must be even; "
            f"got d_model / n_heads = {d_model // n_heads}"
        )


def attention_mask(
    key_padding_mask: torch.Tensor | None, causal: bool, t: int, s: int, device: torch.device
) -> torch.Tensor | None:
    """Boolean mask for `F.scaled_dot_product_attention`: True where a query may attend.

    `key_padding_mask` is `(B, S)`, True at padding; `causal` lets query `i` see keys `<= i`.
    Returns `(B, 1, T, S)`, `(T, S)`, or None when nothing is masked.
    """
    allowed = None
    if causal:
        allowed = torch.ones(t, s, dtype=torch.bool, device=device).tril()  # (T, S)
    if key_padding_mask is not None:
        keys = ~key_padding_mask[:, None, None, :].to(device)  # (B, 1, 1, S)
        allowed = keys if allowed is None else keys & allowed  # (B, 1, T, S)
    return allowed


class RotaryEmbedding(nn.Module):
    """Rotary positions (RoFormer, eq. 34): rotate pair `(x[2i], x[2i+1])` of a query or key at
    position `m` by the angle `m * theta_i`, `theta_i = base^(-2i / head_dim)`.

    Then `q_m . k_n` depends on `m - n` only, so attention sees relative positions.
    `(B, nh, T, hs) -> (B, nh, T, hs)`; `offset` is the position of the first of the `T`.
    """

    def __init__(self, head_dim: int, max_len: int, base: float = 10000.0) -> None:
        super().__init__()
        theta = base ** (-torch.arange(0, head_dim, 2).float() / head_dim)  # (hs/2,)
        angles = torch.outer(torch.arange(max_len).float(), theta)  # (max_len, hs/2)
        # Buffers, not parameters; not saved, since they follow from the shape.
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        t = x.shape[-2]
        cos, sin = self.cos[offset : offset + t], self.sin[offset : offset + t]  # (T, hs/2)
        x1, x2 = x[..., 0::2], x[..., 1::2]  # the two numbers of each pair: (B, nh, T, hs/2)
        rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
        return rotated.flatten(-2).type_as(x)  # pairs back in place: (B, nh, T, hs)


class SinusoidalPositions(nn.Module):
    """`PE(pos, 2i) = sin(pos / 10000^(2i/d))`, `PE(pos, 2i+1) = cos(...)` (section 3.5).

    `(B, T, d) -> (B, T, d)`: adds the encodings of positions `0..T-1`. No parameters.
    """

    def __init__(self, d_model: int, max_len: int) -> None:
        super().__init__()
        position = torch.arange(max_len).float()[:, None]  # (max_len, 1)
        inv_freq = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * inv_freq)
        pe[:, 1::2] = torch.cos(position * inv_freq[: d_model // 2])
        self.register_buffer("pe", pe, persistent=False)  # (max_len, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pe[: x.shape[1]]


class LearnedPositions(nn.Module):
    """One trained vector per position, as in BERT and GPT-2: `(B, T, d) -> (B, T, d)`."""

    def __init__(self, d_model: int, max_len: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(max_len, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.embedding(torch.arange(x.shape[1], device=x.device))


class MultiHeadAttention(nn.Module):
    """`concat(head_1..head_h) W_O`, `head_i = attention(q W_Q_i, k W_K_i, v W_V_i)` (3.2.2).

    `query (B, T, d)`, `key` and `value (B, S, d)` -> `(B, T, d)` and, when `need_weights`,
    the attention weights `(B, nh, T, S)` (else None), as `nn.MultiheadAttention` returns.
    `rotary` rotates queries and keys (self-attention only: in cross-attention the two sides'
    positions are not comparable).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        dropout: float = 0.0,
        rotary: RotaryEmbedding | None = None,
    ) -> None:
        super().__init__()
        check_attention_shape(d_model, n_heads)
        self.n_heads = n_heads
        self.dropout = dropout  # on the attention weights, inside the kernel
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.rotary = rotary

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2)  # (B, nh, T, hs)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        b, t, d = query.shape
        s = key.shape[1]
        q = self._heads(self.q_proj(query))  # (B, nh, T, hs)
        k = self._heads(self.k_proj(key))  # (B, nh, S, hs)
        v = self._heads(self.v_proj(value))  # (B, nh, S, hs)
        if self.rotary is not None:
            q, k = self.rotary(q), self.rotary(k)
        mask = attention_mask(key_padding_mask, causal, t, s, q.device)  # True where allowed
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            # The same computation spelled out, to see the weights (for plots, not training).
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, nh, T, S)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            y = F.dropout(weights, p) @ v  # (B, nh, T, hs)
        else:
            y = attention(q, k, v, attn_mask=mask, dropout_p=p)  # fused where faster
        y = y.transpose(1, 2).reshape(b, t, d)  # heads side by side again: (B, T, d)
        return self.out_proj(y), weights


class FeedForward(nn.Module):
    """`linear2(dropout(activation(linear1(x))))`, applied to each position alone (3.3)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float, activation: str) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)  # (B, T, d_ff)
        self.activation = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ff, d_model)  # (B, T, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


class EncoderLayer(nn.Module):
    """Self-attention, then feed-forward, each wrapped in a residual connection and LayerNorm.

    Returns `(y, weights)`: `y (B, T, d)` for `x (B, T, d)`, and the self-attention weights
    `(B, nh, T, T)` when `need_weights` (else None). Same arguments, defaults and sub-module names (`self_attn`, `norm1`, `norm2`, `dropout1`,
    `dropout2`) as `nn.TransformerEncoderLayer(batch_first=True)`, so the two read alike.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        rotary: RotaryEmbedding | None = None,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout, rotary)
        self.ff = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)  # on each sublayer's output, before the sum (5.4)
        self.dropout2 = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        def attend(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            y, w = self.self_attn(h, h, h, key_padding_mask, causal, need_weights)
            return self.dropout1(y), w

        if self.norm_first:
            y, weights = attend(self.norm1(x))
            x = x + y
            x = x + self.dropout2(self.ff(self.norm2(x)))
        else:
            y, weights = attend(x)
            x = self.norm1(x + y)
            x = self.norm2(x + self.dropout2(self.ff(x)))
        return x, weights


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention over the encoder's output (`memory`), then
    feed-forward; each with a residual connection and LayerNorm (section 3.1).

    Returns `(y, weights)`: `y (B, T, d)` for `x (B, T, d)` and `memory (B, S, d)`, and the
    cross-attention weights `(B, nh, T, S)` when `need_weights` (else None). Mirrors `nn.TransformerDecoderLayer(batch_first=True)`.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        rotary: RotaryEmbedding | None = None,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout, rotary)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout)  # no rotary: see above
        self.ff = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        tgt_key_padding_mask: torch.Tensor | None = None,
        memory_key_padding_mask: torch.Tensor | None = None,
        causal: bool = True,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        def self_block(h: torch.Tensor) -> torch.Tensor:
            return self.dropout1(self.self_attn(h, h, h, tgt_key_padding_mask, causal)[0])

        def cross_block(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            y, w = self.cross_attn(
                h, memory, memory, memory_key_padding_mask, need_weights=need_weights
            )
            return self.dropout2(y), w

        if self.norm_first:
            x = x + self_block(self.norm1(x))
            y, weights = cross_block(self.norm2(x))
            x = x + y
            x = x + self.dropout3(self.ff(self.norm3(x)))
        else:
            x = self.norm1(x + self_block(x))
            y, weights = cross_block(x)
            x = self.norm2(x + y)
            x = self.norm3(x + self.dropout3(self.ff(x)))
        return x, weights


class TransformerEmbedding(nn.Module):
    """Token embedding scaled by `sqrt(d_model)` (3.4), plus positions, then dropout (5.4).

    `tokens (B, T) -> (B, T, d)`. With rotary positions nothing is added here: the attention
    layers rotate queries and keys instead.
    """

    def __init__(self, vocab_size: int, cfg: TransformerConfig) -> None:
        super().__init__()
        self.max_len = cfg.max_len
        self.scale = math.sqrt(cfg.d_model)
        self.tokens = nn.Embedding(vocab_size, cfg.d_model, padding_idx=cfg.pad_idx)
        positions: dict[str, type[nn.Module]] = {
            "sinusoidal": SinusoidalPositions,
            "learned": LearnedPositions,
        }
        kind = positions.get(cfg.positions)
        self.positions = kind(cfg.d_model, cfg.max_len) if kind else nn.Identity()
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[1] > self.max_len:
            raise InputError(
                f"cannot read a sequence of {tokens.shape[1]} tokens; this model's max_len "
                f"is {self.max_len}: truncate the text or build it with a larger max_len"
            )
        return self.dropout(self.positions(self.tokens(tokens) * self.scale))


def rotary_table(cfg: TransformerConfig) -> RotaryEmbedding | None:
    """The rotary angles that every layer of a stack shares, or None without rotary positions."""
    if cfg.positions != "rotary":
        return None
    return RotaryEmbedding(cfg.d_model // cfg.n_heads, cfg.max_len)


class TransformerEncoder(nn.Module):
    """Embedding, `n_layers` encoder layers, and a final LayerNorm when pre-norm (whose layers
    leave their sum unnormalised). `tokens (B, S)` -> `(B, S, d)`.
    """

    def __init__(self, cfg: TransformerConfig, vocab_size: int) -> None:
        super().__init__()
        self.embedding = TransformerEmbedding(vocab_size, cfg)
        args = (cfg.d_model, cfg.n_heads, cfg.ff_width, cfg.dropout, cfg.activation)
        rotary = rotary_table(cfg)  # one table of angles, shared by every layer
        self.layers = nn.ModuleList(
            EncoderLayer(*args, cfg.norm_first, rotary) for _ in range(cfg.n_layers)
        )
        self.norm = nn.LayerNorm(cfg.d_model) if cfg.norm_first else nn.Identity()

    def forward(
        self, tokens: torch.Tensor, padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = self.embedding(tokens)  # (B, S, d)
        for layer in self.layers:
            x, _ = layer(x, padding_mask)
        return self.norm(x)


class TransformerDecoder(nn.Module):
    """Embedding, `n_layers` decoder layers, final LayerNorm when pre-norm.

    `tokens (B, T)`, `memory (B, S, d)` -> `(B, T, d)` and the last layer's cross-attention
    weights `(B, nh, T, S)` when `need_weights`.
    """

    def __init__(self, cfg: TransformerConfig, vocab_size: int) -> None:
        super().__init__()
        self.embedding = TransformerEmbedding(vocab_size, cfg)
        args = (cfg.d_model, cfg.n_heads, cfg.ff_width, cfg.dropout, cfg.activation)
        rotary = rotary_table(cfg)  # one table of angles, shared by every layer
        self.layers = nn.ModuleList(
            DecoderLayer(*args, cfg.norm_first, rotary) for _ in range(cfg.n_layers)
        )
        self.norm = nn.LayerNorm(cfg.d_model) if cfg.norm_first else nn.Identity()

    def forward(
        self,
        tokens: torch.Tensor,
        memory: torch.Tensor,
        memory_padding_mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.embedding(tokens)  # (B, T, d)
        weights = None
        for i, layer in enumerate(self.layers):
            last = i == len(self.layers) - 1
            # No target padding mask: padding comes after the real tokens, which the causal
            # mask already hides from them; the loss ignores the padded positions.
            x, weights = layer(x, memory, None, memory_padding_mask, True, need_weights and last)
        return self.norm(x), weights


class Transformer(nn.Module):
    """Encoder-decoder Transformer for sequence-to-sequence tasks such as translation.

    `forward(src (B, S), tgt_in (B, T))` -> logits `(B, T, tgt_vocab_size)` for the next
    target token at each position (teacher forcing: `tgt_in` is the target shifted right,
    starting with BOS). Padding of `src` is `src == pad_idx` unless `src_lengths` is given.

    >>> m = Transformer(TransformerConfig(src_vocab_size=50, tgt_vocab_size=60, d_model=32))
    >>> m(torch.ones(2, 7, dtype=torch.long), torch.ones(2, 5, dtype=torch.long)).shape
    torch.Size([2, 5, 60])
    """

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.config = cfg
        self.encoder = TransformerEncoder(cfg, cfg.src_vocab_size)
        self.decoder = TransformerDecoder(cfg, cfg.tgt_vocab_size)
        self.lm_head = nn.Linear(cfg.d_model, cfg.tgt_vocab_size, bias=False)
        self.apply(_init_weights)
        if cfg.tie_embeddings:
            # One matrix both reads and writes target tokens (3.4; Press & Wolf, 2017).
            self.lm_head.weight = self.decoder.embedding.tokens.weight
        if cfg.share_all_embeddings:
            self.encoder.embedding.tokens.weight = self.decoder.embedding.tokens.weight

    def padding_mask(
        self, src: torch.Tensor, src_lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`(B, S)` bool, True at padding: from `src_lengths` if given, else `src == pad_idx`."""
        if src_lengths is None:
            return src == self.config.pad_idx
        positions = torch.arange(src.shape[1], device=src.device)
        return positions[None, :] >= src_lengths.to(src.device)[:, None]

    def encode(
        self, src: torch.Tensor, src_lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`src (B, S)` -> memory `(B, S, d)` and its padding mask `(B, S)`."""
        mask = self.padding_mask(src, src_lengths)
        return self.encoder(src, mask), mask

    def decode(
        self,
        tgt_in: torch.Tensor,
        memory: torch.Tensor,
        memory_padding_mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`tgt_in (B, T)` -> next-token logits `(B, T, V)` and the last layer's cross-attention
        `(B, nh, T, S)` when `need_weights`. Beam search calls this once per step."""
        x, weights = self.decoder(tgt_in, memory, memory_padding_mask, need_weights)
        return self.lm_head(x), weights

    def forward(
        self,
        src: torch.Tensor,
        tgt_in: torch.Tensor,
        src_lengths: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits `(B, T, V)`; with `return_attention`, also the cross-attention maps
        `(B, nh, T, S)` of the last decoder layer."""
        memory, mask = self.encode(src, src_lengths)
        logits, weights = self.decode(tgt_in, memory, mask, need_weights=return_attention)
        if return_attention:
            assert weights is not None
            return logits, weights
        return logits

    @torch.no_grad()
    def greedy_decode(
        self,
        src: torch.Tensor,
        *,
        bos_idx: int,
        eos_idx: int,
        max_len: int | None = None,
        src_lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Pick the most likely token at each step: `src (B, S)` -> `(B, L)` target tokens
        without BOS, each row ending at its EOS and padded with `pad_idx` after it;
        `L <= max_len` (default: the model's `max_len - 1`). Call `model.eval()` first."""
        limit = min(max_len or self.config.max_len, self.config.max_len - 1)
        memory, mask = self.encode(src, src_lengths)
        out = torch.full((src.shape[0], 1), bos_idx, dtype=torch.long, device=src.device)
        done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(limit):
            logits, _ = self.decode(out, memory, mask)
            token = logits[:, -1].argmax(-1)  # (B,)
            token = token.masked_fill(done, self.config.pad_idx)
            out = torch.cat([out, token[:, None]], dim=1)
            done |= token == eos_idx
            if done.all():
                break
        return out[:, 1:]


def _init_weights(module: nn.Module) -> None:
    """Xavier-uniform matrices (as `nn.Transformer` does), N(0, d^-1/2) token embeddings
    (so that after the sqrt(d) scale they have unit size) and a zero padding vector."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=module.embedding_dim**-0.5)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()


def _create_transformer(variant: str, defaults: dict[str, Any], kw: dict[str, Any]) -> Transformer:
    """`Transformer(TransformerConfig(**defaults, **kw))`, with `kw` checked and winning."""
    return Transformer(build(TransformerConfig, variant, {**defaults, **kw}))


@register_model("transformer-seq2seq")
def transformer_seq2seq(**kw: Any) -> Transformer:
    """Encoder-decoder Transformer; options: the fields of `TransformerConfig`."""
    return _create_transformer("transformer-seq2seq", {}, kw)
