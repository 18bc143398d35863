"""GPT export with a KV cache: a prefill graph and a decode-step graph.

Generation is a loop: read the prompt once, then one token at a time, each step attending
over the keys and values stored for every earlier position (`models/gpt.py`'s `KVCache`).
Two graphs carry it:

- `model.prefill.onnx`: `tokens (B, T)` -> `logits (B, T, V)`, `present_keys` and
  `present_values` `(L, B, nh, T, hs)` (L blocks, nh heads of hs numbers);
- `model.decode.onnx`: `tokens (B, T)`, `past_keys`, `past_values` `(L, B, nh, P, hs)` ->
  the logits of the T new positions and the cache grown to `P + T`.

Batch, sequence and past are dynamic axes. A graph cannot branch on shapes the way
`CausalSelfAttention` does (no mask, the causal kernel, or a shifted mask), so `KVStep` below
computes the same attention with one explicit mask that is right in every case: query `i`
(position `P + i`) sees keys `0 … P + i`. The weights are the model's own. Two graphs
rather than one with an empty past: `torch.export` specialises a size-0 example axis.

`greedy_onnx` is `GPT.generate` at temperature 0 on the graphs: the prompt through prefill,
then one token at a time through decode, and once the text outgrows `max_len` each step
re-reads the last `max_len` tokens through prefill, exactly as PyTorch slides its window.
The end-to-end check generates 16 tokens from 100 prompts both ways and requires the same
tokens. Sampling with temperature, top-k or top-p draws from these same logits; only greedy
is checked, since sampling twice with one seed in two libraries draws differently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dllab.deploy.export_graphs import Graph, GraphPlan, ort_session
from dllab.errors import InputError
from dllab.train.protocol import ExampleInput

__all__ = ["KVStep", "greedy_onnx", "plan"]

TOLERANCE = 1e-4  # logits and cache: max abs difference onnxruntime vs PyTorch
PROMPTS = 100  # prompts generated from at export, in four groups of lengths
NEW_TOKENS = 16  # tokens generated from each


class KVStep(nn.Module):
    """A GPT's forward over new tokens given the cache of the earlier ones, as plain tensors.

    `tokens (B, T)` [, `past_keys`, `past_values` `(L, B, nh, P, hs)`] -> `logits (B, T, V)`,
    `present_keys`, `present_values` `(L, B, nh, P + T, hs)`. In eval mode (no dropout).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval()

    def forward(
        self,
        tokens: torch.Tensor,
        past_keys: torch.Tensor | None = None,
        past_values: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m = self.model
        b, t = tokens.shape
        past = 0 if past_keys is None else past_keys.shape[3]
        pos = torch.arange(past, past + t, device=tokens.device)  # (T,)
        x = m.wte(tokens) + m.wpe(pos)  # (B, T, C)
        c = x.shape[-1]
        keys_at = torch.arange(past + t, device=tokens.device)  # (S,)
        mask = keys_at[None, :] <= pos[:, None]  # (T, S): query at P+i sees keys 0..P+i
        keys, values = [], []
        for i, block in enumerate(m.blocks):
            attn = block.attn
            q, k, v = attn.c_attn(block.ln_1(x)).split(c, dim=2)  # (B, T, C) each
            q, k, v = (u.view(b, t, attn.n_heads, -1).transpose(1, 2) for u in (q, k, v))
            if past_keys is not None and past_values is not None:
                k = torch.cat([past_keys[i], k], dim=2)  # (B, nh, S, hs)
                v = torch.cat([past_values[i], v], dim=2)
            keys.append(k)
            values.append(v)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, nh, T, hs)
            x = x + attn.c_proj(y.transpose(1, 2).reshape(b, t, c))
            x = x + block.mlp(block.ln_2(x))
        return m.lm_head(m.ln_f(x)), torch.stack(keys), torch.stack(values)


def greedy_onnx(prefill: Any, decode: Any, tokens: np.ndarray, n: int, max_len: int) -> np.ndarray:
    """`GPT.generate(tokens, n, temperature=0)` on onnxruntime sessions: `(B, T)` -> `(B, T + n)`."""
    idx = tokens.astype(np.int64)
    cache: tuple[np.ndarray, np.ndarray] | None = None
    for _ in range(n):
        if idx.shape[1] > max_len:  # the window slides: positions shift, the cache is void
            logits = prefill.run(["logits"], {"tokens": idx[:, -max_len:]})[0]
        elif cache is None:
            logits, *kv = prefill.run(None, {"tokens": idx})
            cache = (kv[0], kv[1])
        else:
            feed = {
                "tokens": idx[:, cache[0].shape[3] :],
                "past_keys": cache[0],
                "past_values": cache[1],
            }
            logits, *kv = decode.run(None, feed)
            cache = (kv[0], kv[1])
        idx = np.concatenate([idx, logits[:, -1].argmax(-1)[:, None]], axis=1)
    return idx


def _tokens(vocab: int, b: int, t: int, seed: int) -> torch.Tensor:
    return torch.randint(0, vocab, (b, t), generator=torch.Generator().manual_seed(seed))


def plan(model: nn.Module, meta: dict[str, Any]) -> GraphPlan:
    """Prefill and decode graphs of a GPT run, and the greedy-generation check."""
    if not hasattr(model, "blocks") or not hasattr(model, "wpe"):
        raise InputError(
            f"cannot export a language_model run to ONNX: model {meta['model']!r} is not a GPT; "
            "the KV-cache graphs need a gpt-* model"
        )
    cfg = model.config
    step = KVStep(model)
    v, hs = cfg.vocab_size, cfg.d_model // cfg.n_heads
    cache_axes = {1: "batch", 3: "past"}
    out_axes = {
        "logits": {0: "batch", 1: "sequence"},
        "present_keys": {1: "batch", 3: "total"},
        "present_values": {1: "batch", 3: "total"},
    }
    outputs = ["logits", "present_keys", "present_values"]
    short = min(5, cfg.max_len - 1)

    def cache(b: int, p: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        shape = (cfg.n_layers, b, cfg.n_heads, p, hs)
        return torch.randn(shape, generator=g), torch.randn(shape, generator=g)

    prefill = Graph(
        "prefill",
        step,
        ExampleInput(
            (_tokens(v, 3, short, 0),),
            (_tokens(v, 2, min(cfg.max_len, 11), 1),),
            ["tokens"],
            [{0: "batch", 1: "sequence"}],
        ),
        outputs,
        TOLERANCE,
        out_axes,
    )
    past = min(4, cfg.max_len - 3)
    decode = Graph(
        "decode",
        step,
        ExampleInput(
            (_tokens(v, 3, 2, 2), *cache(3, past, 3)),
            (_tokens(v, 2, 1, 4), *cache(2, past + 2, 5)),
            ["tokens", "past_keys", "past_values"],
            [{0: "batch", 1: "sequence"}, cache_axes, cache_axes],
        ),
        outputs,
        TOLERANCE,
        out_axes,
    )

    def check(paths: dict[str, Path]) -> dict[str, Any]:
        sessions = ort_session(paths["prefill"]), ort_session(paths["decode"])
        lengths = sorted({min(t, cfg.max_len) for t in (1, 4, 9, 24)})
        same = total = 0
        for i, t in enumerate(lengths):
            rows = PROMPTS // len(lengths) + (i < PROMPTS % len(lengths))
            prompts = _tokens(v, rows, t, 10 + i)
            with torch.no_grad():
                want = model.generate(prompts, NEW_TOKENS, temperature=0).numpy()
            got = greedy_onnx(*sessions, prompts.numpy(), NEW_TOKENS, cfg.max_len)
            same += int((got == want).all(axis=1).sum())
            total += rows
        if same != total:
            raise InputError(
                f"greedy generation on the ONNX graphs differs from PyTorch for "
                f"{total - same} of {total} prompts"
            )
        return {"prompts": total, "new_tokens": NEW_TOKENS, "same_generations": same}

    extra = {
        "cache": {
            "layout": "(n_layers, batch, n_heads, past, head_size)",
            "n_layers": cfg.n_layers,
            "n_heads": cfg.n_heads,
            "head_size": hs,
            "max_len": cfg.max_len,
        },
        "generation": (
            "prefill the prompt, then feed each new token with the cache to decode; past "
            "max_len tokens, re-read the last max_len through prefill (the window slides)"
        ),
    }
    return GraphPlan([prefill, decode], extra, check)
