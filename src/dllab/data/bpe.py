"""A joint byte-level BPE for translation, and the token-id plumbing around it.

One tokenizer (HuggingFace `tokenizers`) is learnt on the training split's English *and*
Chinese. Joint, because many target tokens are copies of source tokens: placeholders (`%s`),
option names (`--force`), identifiers (`max_wal_size`) and product names get the same id on
both sides. Byte-level, because then every string can be encoded (no `<unk>`, whatever the
user types) and decoding gives back exactly the text that was encoded. `Tokenizer.to_str()`
is plain JSON, so it travels inside a checkpoint's metadata.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "SPECIALS",
    "UNK",
    "decode_ids",
    "pad_rows",
    "token_pieces",
    "train_bpe",
    "until_eos",
]

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>"]  # ids 0..3, in this order


def train_bpe(texts: Sequence[str], vocab_size: int) -> Tokenizer:
    """A byte-level BPE learnt on `texts` (deterministic for the same texts in the same order).

    >>> tok = train_bpe(["Open file", "打开文件"], 300)
    >>> tok.decode(tok.encode("Open 文件").ids)
    'Open 文件'
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: nothing unknown
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    assert [tok.token_to_id(s) for s in SPECIALS] == [PAD, UNK, BOS, EOS]
    return tok


def token_pieces(tok: Tokenizer, ids: Sequence[int]) -> list[str]:
    """Each token as text, for plots (a piece that cuts a character in two shows '�')."""
    return [tok.decode([i], skip_special_tokens=False) for i in ids]


def pad_rows(rows: Sequence[Sequence[int]], width: int | None = None) -> torch.Tensor:
    """Token lists -> `(N, width)` int64, right-padded with PAD."""
    width = width or max((len(r) for r in rows), default=1)
    out = torch.full((len(rows), max(width, 1)), PAD, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def until_eos(ids: Sequence[int]) -> list[int]:
    """Token ids up to (not including) the first EOS or PAD; BOS dropped."""
    out = []
    for i in ids:
        if i in (EOS, PAD):
            break
        if i != BOS:
            out.append(i)
    return out


def decode_ids(tok: Tokenizer, ids: Sequence[int]) -> str:
    """The text of a decoded or reference row (ids up to its first EOS or padding).

    >>> tok = train_bpe(["Open file"], 300)
    >>> decode_ids(tok, [BOS, *tok.encode("Open").ids, EOS, PAD])
    'Open'
    """
    return tok.decode(until_eos(ids))
