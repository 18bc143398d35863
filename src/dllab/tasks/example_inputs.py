"""Example inputs built from checkpoint metadata alone, shared by the text and series tasks.

`Task.example_input(meta, model)` returns what the model takes, for export and serving; the
image task builds its own. A text model takes token ids and lengths; a forecaster windows.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from dllab.errors import InputError
from dllab.train.protocol import ExampleInput

__all__ = ["text_sizes", "token_batch", "token_input", "window_input"]


def token_batch(
    vocab_size: int, lengths: list[int], pad_idx: int = 0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids `(B, max(lengths))` padded on the right with `pad_idx`, and `lengths`.

    Ids are drawn from the vocabulary without the padding id, so every position up to a
    row's length is a real token (as the tasks' `pad_ids` make them).
    """
    g = torch.Generator().manual_seed(seed)
    t = max(lengths)
    ids = torch.randint(0, vocab_size - 1, (len(lengths), t), generator=g)
    ids = ids + (ids >= pad_idx).long()  # skip pad_idx
    n = torch.tensor(lengths)
    return ids.masked_fill(torch.arange(t)[None, :] >= n[:, None], pad_idx), n


def text_sizes(meta: dict[str, Any]) -> tuple[int, int, int]:
    """Vocabulary size, padding id and longest text (`max_len`; 64 if unsaid) of a run."""
    kw = meta.get("model_kwargs", {})
    vocab = int(kw.get("vocab_size") or len(meta["vocab"]))
    return vocab, int(kw.get("pad_idx", 0)), int(meta.get("max_len") or 64)


def token_input(meta: dict[str, Any], model: nn.Module) -> ExampleInput:
    """Token ids `(B, T)` and `lengths (B,)`; batch and sequence axes are dynamic.

    The example has 8 tokens; the probe has another batch size and, when the model's context
    (`max_len`) allows, more tokens (an exporter that froze T fails it).
    """
    if "lengths" not in inspect.signature(model.forward).parameters:
        raise InputError(
            f"cannot export model {meta['model']!r}: dllab export feeds text models token "
            "ids and lengths, and its forward takes no `lengths`"
        )
    vocab, pad, longest = text_sizes(meta)
    t, tp = min(8, longest), min(19, longest)
    ids, n = token_batch(vocab, [t, max(1, t - 3), max(1, t // 2), 1], pad, seed=0)
    pids, pn = token_batch(vocab, [max(1, tp - 6), tp, 2], pad, seed=1)
    return ExampleInput(
        inputs=(ids, n),
        probe=(pids, pn),
        names=["tokens", "lengths"],
        axes=[{0: "batch", 1: "sequence"}, {0: "batch"}],
    )


def window_input(meta: dict[str, Any]) -> ExampleInput:
    """Standardised windows of past values `(B, context)`; the batch axis is dynamic."""
    g = torch.Generator().manual_seed(0)
    context = int(meta["context"])
    return ExampleInput(
        inputs=(torch.randn(4, context, generator=g),),
        probe=(torch.randn(3, context, generator=g),),
        names=["window"],
        axes=[{0: "batch"}],
        output="forecast",
    )
