"""Translating with the two seq2seq families: which models translate, and how long they may
search (over `models/decoding.py`'s greedy and beam searches).

Token ids are those of the translation BPE (`data/bpe.py`: PAD, BOS, EOS = 0, 2, 3).
"""

from __future__ import annotations

from dataclasses import fields

import torch
from torch import nn

from dllab.data.bpe import BOS, EOS, PAD
from dllab.errors import ConfigError
from dllab.models.decoding import beam_search, greedy_search, stepper_for
from dllab.models.seq2seq import Seq2SeqConfig
from dllab.models.transformer import TransformerConfig

__all__ = ["TRANSLATION_MODELS", "translate_ids", "translation_model_options"]

TRANSLATION_MODELS = {"transformer-seq2seq": TransformerConfig, "gru-seq2seq": Seq2SeqConfig}


def translation_model_options(model_name: str) -> set[str]:
    """The options a translation model's config takes; ConfigError for a model that cannot
    translate."""
    if model_name not in TRANSLATION_MODELS:
        raise ConfigError(
            f"model {model_name!r} cannot translate; use {' or '.join(TRANSLATION_MODELS)}"
        )
    return {f.name for f in fields(TRANSLATION_MODELS[model_name])}


@torch.no_grad()
def translate_ids(
    model: nn.Module, src: torch.Tensor, beam_size: int = 0, alpha: float = 0.6
) -> list[list[int]]:
    """Output token ids (no BOS/EOS) for `src (B, S)`: greedy when `beam_size` is 0, else the
    best hypothesis of a beam search. At most `2 S + 4` tokens (fairseq's `max_len_a/b`):
    the Chinese side is rarely longer in tokens than the English, and an output that has not
    ended by then is looping; this bounds the cost of a poorly trained model."""
    stepper = stepper_for(model)
    limit = min(stepper.max_len, 2 * src.shape[1] + 4)
    if beam_size <= 0:
        return greedy_search(stepper, src, bos=BOS, eos=EOS, pad=PAD, max_len=limit)
    found = beam_search(
        stepper, src, bos=BOS, eos=EOS, beam_size=beam_size, alpha=alpha, max_len=limit
    )
    return [list(hyps[0].tokens) for hyps in found]
