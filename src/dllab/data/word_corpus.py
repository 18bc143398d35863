"""People's Daily as token lists for word vectors: distinct sentences of words (the corpus's
own segmentation) or characters, and a vocabulary's view of them as one row of ids."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dllab.data.peoples_daily import dedupe, load_peoples_daily, peoples_daily_path
from dllab.data.text import Vocab, char_tokenize

__all__ = ["flatten", "sentence_tokens"]


def sentence_tokens(unit: str, data_dir: str | None = None) -> tuple[list[list[str]], str]:
    """Distinct People's Daily sentences as token lists (`unit` "word" or "char"), empty ones
    dropped, and a one-line account of what was read."""
    corpus = load_peoples_daily(peoples_daily_path(data_dir))
    sentences = dedupe(corpus.sentences, key=lambda s: s.text)
    tokens = [list(s.words) if unit == "word" else char_tokenize(s.text) for s in sentences]
    note = f"{corpus.summary()}; {len(sentences)} distinct"
    return [t for t in tokens if t], note


def flatten(sentences: Sequence[Sequence[str]], vocab: Vocab) -> tuple[torch.Tensor, torch.Tensor]:
    """The sentences as one row of ids `(N,)` and each token's sentence number `(N,)`;
    tokens outside the vocabulary are removed (as word2vec does), not mapped to `<unk>`.

    >>> v = Vocab(["<pad>", "<unk>", "好", "书"])
    >>> [t.tolist() for t in flatten([["好", "的", "书"], ["书"]], v)]
    [[2, 3, 3], [0, 0, 1]]
    """
    ids, sent = [], []
    for i, s in enumerate(sentences):
        known = [vocab.index[t] for t in s if t in vocab.index]
        ids.extend(known)
        sent.extend([i] * len(known))
    return torch.tensor(ids, dtype=torch.long), torch.tensor(sent, dtype=torch.long)
