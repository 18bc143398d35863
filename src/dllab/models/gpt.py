"""GPT: a decoder-only Transformer language model, with a KV cache for generation.

Papers: Radford, Narasimhan, Salimans, Sutskever, "Improving language understanding by
generative pre-training", 2018 (GPT); Radford et al., "Language models are unsupervised
multitask learners", 2019 (GPT-2: pre-norm blocks, a final LayerNorm, residual projections
initialised with std 0.02 / sqrt(2 * n_layers)). Written after Karpathy's nanoGPT `model.py`;
the sizes of `gpt-nano`, `gpt-micro` and `gpt-mini` are minGPT's model types of those names.
Weight tying: Press, Wolf, "Using the output embedding to improve language models", EACL 2017.
Sampling: temperature, top-k (Fan et al., ACL 2018) and top-p (Holtzman et al., "The curious
case of neural text degeneration", ICLR 2020).

`forward(idx (B, T))` -> next-token logits `(B, T, vocab_size)`. Given a `KVCache`, the
forward reads only the new tokens and attends over the keys and values it stored for the old
ones, so generating `n` tokens costs `n` one-token steps instead of `n` full passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from dllab.errors import ConfigError, InputError
from dllab.models.attention_kernel import attention
from dllab.models.checks import build
from dllab.models.registry import register_model
from dllab.models.transformer import check_attention_shape

__all__ = ["GPT", "Block", "CausalSelfAttention", "GPTConfig", "KVCache", "sample_logits"]


@dataclass
class GPTConfig:
    vocab_size: int = 5000  # token ids 0..vocab_size-1; the task sets it from its vocabulary
    max_len: int = 256  # context length (nanoGPT's block_size): the most tokens one pass reads
    n_layers: int = 6  # blocks (minGPT's gpt-mini)
    n_heads: int = 6  # 32 numbers per head at d_model 192
    d_model: int = 192  # width of every token vector
    dropout: float = 0.1  # on embeddings, attention weights and residual branches
    bias: bool = True  # biases in Linear and LayerNorm, as GPT-2; False is a bit faster

    def __post_init__(self) -> None:
        check_attention_shape(self.d_model, self.n_heads)


@dataclass
class KVCache:
    """Keys and values of the positions seen so far, one `(B, nh, T_past, hs)` pair per block.

    Start empty (`KVCache()`) and pass the same object to each forward; it grows in place.
    """

    keys: list[torch.Tensor] = field(default_factory=list)
    values: list[torch.Tensor] = field(default_factory=list)

    def __len__(self) -> int:
        """Positions stored so far."""
        return self.keys[0].shape[2] if self.keys else 0

    def update(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Append block `layer`'s new keys and values; return all of them so far."""
        if layer == len(self.keys):
            self.keys.append(k)
            self.values.append(v)
        else:
            self.keys[layer] = torch.cat([self.keys[layer], k], dim=2)
            self.values[layer] = torch.cat([self.values[layer], v], dim=2)
        return self.keys[layer], self.values[layer]


class CausalSelfAttention(nn.Module):
    """Masked multi-head self-attention: position `t` attends to positions `<= t` only."""

    def __init__(self, cfg: GPTConfig, layer: int) -> None:
        super().__init__()
        self.layer = layer  # which slot of a KVCache is this block's
        self.n_heads = cfg.n_heads
        self.dropout = cfg.dropout
        self.c_attn = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=cfg.bias)  # q, k, v at once
        self.c_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)  # (B, T, C) each
        q, k, v = (u.view(b, t, self.n_heads, c // self.n_heads).transpose(1, 2) for u in (q, k, v))
        # (B, nh, T, hs) each
        if cache is not None:
            k, v = cache.update(self.layer, k, v)  # (B, nh, S, hs), S = T_past + T
        s = k.shape[2]
        # The T new queries sit at positions S-T..S-1: each sees every cached key and the new
        # keys up to itself. With nothing cached that is the plain causal mask; one new query
        # sees everything.
        mask = None
        if 1 < t < s:
            mask = torch.ones(t, s, dtype=torch.bool, device=x.device).tril(diagonal=s - t)
        y = attention(  # F.scaled_dot_product_attention, the faster kernel on CPU bf16
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=t == s and t > 1,
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(b, t, c)  # heads side by side: (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """`Linear(C, 4C) -> GELU -> Linear(4C, C) -> dropout`, at each position."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.d_model, 4 * cfg.d_model, bias=cfg.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-norm Transformer block: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`."""

    def __init__(self, cfg: GPTConfig, layer: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg, layer)
        self.ln_2 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


def sample_logits(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token per row from `logits (B, V)`: `(B, 1)` int64.

    `temperature` divides the logits (0 picks the most likely token); `top_k` keeps the `k`
    most likely tokens; `top_p` keeps the fewest most likely tokens whose probabilities sum to
    at least `p` (the nucleus). Seeded by `generator`.
    """
    if temperature < 0 or (top_k is not None and top_k < 1) or not 0 < (top_p or 1) <= 1:
        raise ConfigError(
            f"sampling needs temperature >= 0, top_k >= 1 and 0 < top_p <= 1; got "
            f"temperature={temperature}, top_k={top_k}, top_p={top_p}"
        )
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(dim=-1)  # (B, V)
    if top_p is not None and top_p < 1:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # Drop a token when the more likely ones before it already reach top_p.
        drop = sorted_probs.cumsum(dim=-1) - sorted_probs >= top_p
        probs = probs.scatter(-1, order, sorted_probs.masked_fill(drop, 0.0))
    return torch.multinomial(probs, num_samples=1, generator=generator)


class GPT(nn.Module):
    """Token and position embeddings, `n_layers` pre-norm blocks, LayerNorm, and an LM head
    that shares its weight with the token embedding.

    >>> GPT(GPTConfig(vocab_size=50, n_layers=1, d_model=32, n_heads=2))(
    ...     torch.zeros(2, 5, dtype=torch.long)).shape
    torch.Size([2, 5, 50])
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)  # token embedding
        self.wpe = nn.Embedding(cfg.max_len, cfg.d_model)  # learned positions
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: one matrix reads and writes tokens
        self.apply(_init_weights)
        for name, p in self.named_parameters():
            # GPT-2: each residual branch adds to the stream; scale them so the sum of
            # 2 * n_layers of them keeps unit size.
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layers))

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """`idx (B, T)` -> logits `(B, T, V)`; with `cache`, `idx` holds only the tokens after
        the `len(cache)` it has seen, and the cache grows by `T`."""
        past = len(cache) if cache is not None else 0
        t = idx.shape[1]
        if past + t > self.config.max_len:
            raise InputError(
                f"cannot forward a sequence of length {past + t}: max_len is only "
                f"{self.config.max_len}; crop the input to its last {self.config.max_len} tokens"
            )
        pos = torch.arange(past, past + t, device=idx.device)  # (T,)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, C)
        for block in self.blocks:
            x = block(x, cache)
        return self.lm_head(self.ln_f(x))  # (B, T, V)

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
        stop: int | None = None,
    ) -> torch.Tensor:
        """Append `max_new_tokens` sampled tokens to the prompt `idx (B, T)`: `(B, T + n)`,
        or fewer once every row has sampled the token `stop` (what follows it would be cut
        anyway, and the tokens before it are the same either way).

        Sampling as in `sample_logits`. The KV cache changes the speed, not the tokens; once
        the text outgrows `max_len` the window slides, every position shifts and the cache is
        no longer valid, so each step then reads the whole window. Call `model.eval()` first.
        """
        max_len = self.config.max_len
        cache = KVCache() if use_cache else None
        stopped = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)
        for _ in range(max_new_tokens):
            if cache is not None and idx.shape[1] <= max_len:
                logits = self(idx[:, len(cache) :], cache)  # the prompt first, then one token
            else:
                logits = self(idx[:, -max_len:])
            token = sample_logits(logits[:, -1, :], temperature, top_k, top_p, generator)
            idx = torch.cat([idx, token], dim=1)
            if stop is not None:
                stopped |= token[:, 0] == stop
                if bool(stopped.all()):
                    break
        return idx


def _init_weights(module: nn.Module) -> None:
    """N(0, 0.02) for matrices and embeddings, zero biases (GPT-2)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def _create_gpt(variant: str, sizes: dict[str, int], kw: dict[str, Any]) -> GPT:
    """`GPT(GPTConfig(**sizes, **kw))`: the variant's sizes are defaults that `kw` may change."""
    return GPT(build(GPTConfig, variant, {**sizes, **kw}))


@register_model("gpt-nano")
def gpt_nano(**kw: Any) -> GPT:
    """3 layers, 3 heads, d_model 48 (minGPT's gpt-nano): ~85 k weights besides embeddings."""
    return _create_gpt("gpt-nano", {"n_layers": 3, "n_heads": 3, "d_model": 48}, kw)


@register_model("gpt-micro")
def gpt_micro(**kw: Any) -> GPT:
    """4 layers, 4 heads, d_model 128 (minGPT's gpt-micro): ~0.8 M weights besides embeddings."""
    return _create_gpt("gpt-micro", {"n_layers": 4, "n_heads": 4, "d_model": 128}, kw)


@register_model("gpt-mini")
def gpt_mini(**kw: Any) -> GPT:
    """6 layers, 6 heads, d_model 192 (minGPT's gpt-mini): ~2.7 M weights besides embeddings."""
    return _create_gpt("gpt-mini", {"n_layers": 6, "n_heads": 6, "d_model": 192}, kw)
