"""Texts as padded token ids, the input of the text classifiers (`ids (N, T)`, `lengths (N,)`).

Training texts are cut to the model's context silently and counted (the report says how many);
texts given to `dllab predict` are cut with a warning, and one whose every token is unknown
warns that its prediction is a guess. `wrap = ("[CLS]", "[SEP]")` puts those around every
text, as a BERT-style encoder reads it, within the same `max_len`.

>>> from dllab.data.text import Vocab
>>> vocab = Vocab(["<pad>", "<unk>", "好", "差"])
>>> encoded, cut = encode_texts(["好差好", "差"], vocab, list, max_len=2)
>>> encoded, cut
([[2, 3], [3]], 1)
>>> pad_ids(encoded)[0].tolist()
[[2, 3], [3, 0]]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch

from dllab.data.text import Vocab, fit_to_context

__all__ = ["encode_inputs", "encode_texts", "pad_ids", "shown"]


def encode_texts(
    texts: Sequence[str],
    vocab: Vocab,
    tokenize: Callable[[str], list[str]],
    max_len: int,
    wrap: tuple[str, str] | None = None,
) -> tuple[list[list[int]], int]:
    """Token ids of each text, at most `max_len` (wrap tokens included), and how many texts
    were cut."""
    encoded, cut = [], 0
    room = max_len - (2 if wrap else 0)
    for text in texts:
        ids = vocab.encode(tokenize(text))
        if len(ids) > room:
            ids, cut = ids[:room], cut + 1
        encoded.append(_wrapped(ids, vocab, wrap) or [vocab.unk_id])  # whitespace: one token
    return encoded, cut


def encode_inputs(
    texts: Sequence[str],
    vocab: Vocab,
    tokenize: Callable[[str], list[str]],
    max_len: int,
    wrap: tuple[str, str] | None = None,
) -> list[list[int]]:
    """Token ids of texts to predict on: as `encode_texts`, but a cut text warns, and so does
    one without any token the vocabulary knows (it reads as `<unk>`, the prediction a guess)."""
    room = max_len - (2 if wrap else 0)
    encoded = []
    for text in texts:
        ids = fit_to_context(vocab.encode(tokenize(text)), room, what=f"text {shown(text, 20)!r}")
        if ids and all(i == vocab.unk_id for i in ids):
            warnings.warn(
                f"no token of {shown(text, 20)!r} is in the vocabulary; the prediction is a guess",
                stacklevel=2,
            )
        encoded.append(_wrapped(ids or [vocab.unk_id], vocab, wrap))
    return encoded


def _wrapped(ids: list[int], vocab: Vocab, wrap: tuple[str, str] | None) -> list[int]:
    return [vocab.index[wrap[0]], *ids, vocab.index[wrap[1]]] if wrap else ids


def pad_ids(encoded: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`(ids (N, T_max), lengths (N,))`, padded on the right with `pad_id`."""
    lengths = torch.tensor([len(e) for e in encoded], dtype=torch.long)
    ids = torch.full((len(encoded), int(lengths.max()) if len(encoded) else 1), pad_id)
    for i, e in enumerate(encoded):
        ids[i, : len(e)] = torch.tensor(e, dtype=torch.long)
    return ids, lengths


def shown(text: str, width: int = 40) -> str:
    """`text` cut to `width` characters with an ellipsis, to name it in a message."""
    return text if len(text) <= width else text[: width - 1] + "…"
