"""Text plumbing shared by the text tasks: tokenisers, a vocabulary, and reading user text.

The vocabulary is plain data (a list of tokens) so it travels inside a checkpoint's JSON
metadata, and `dllab predict` rebuilds the exact same token ids without the training corpus.
"""

from __future__ import annotations

import functools
import logging
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dllab.errors import InputError

__all__ = [
    "PAD",
    "UNK",
    "Vocab",
    "char_ngram_tokenize",
    "char_tokenize",
    "fit_to_context",
    "jieba_tokenize",
    "read_text_inputs",
    "tokenizer",
    "word_ngram_tokenize",
]

PAD, UNK = "<pad>", "<unk>"


def char_tokenize(text: str) -> list[str]:
    """One token a character, whitespace dropped: the natural unit for Chinese."""
    return [c for c in text if not c.isspace()]


def jieba_tokenize(text: str) -> list[str]:
    """Words by jieba (dictionary + HMM for unknown words), whitespace dropped."""
    return [w for w in _jieba().lcut(text) if not w.isspace()]


@functools.cache
def _jieba() -> Any:
    """jieba, told once to keep quiet: it announces loading its dictionary otherwise (and
    setting the level at every call cost 15 % of tokenising a corpus, in logging's cache)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def _ngrams_in_order(units: list[str], n: int, sep: str) -> list[str]:
    """Each unit followed by the 2- to `n`-grams that start at it: a bag of n-grams in text
    order, so that cutting the list cuts the text."""
    return [
        sep.join(units[i : i + k])
        for i in range(len(units))
        for k in range(1, n + 1)
        if i + k <= len(units)
    ]


def char_ngram_tokenize(text: str, n: int = 3) -> list[str]:
    """Each character followed by the 2- to `n`-grams that start at it (whitespace dropped
    first): fastText's bag of character n-grams.

    >>> char_ngram_tokenize("很好用")
    ['很', '很好', '很好用', '好', '好用', '用']
    """
    return _ngrams_in_order(char_tokenize(text), n, "")


def word_ngram_tokenize(text: str) -> list[str]:
    """Each jieba word followed by the bigram that starts at it (joined by a space, which no
    word contains): the paper's own bag of words and word bigrams.

    >>> word_ngram_tokenize("手机很好")
    ['手机', '手机 很', '很', '很 好', '好']
    """
    return _ngrams_in_order(jieba_tokenize(text), 2, " ")


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {
    "char": char_tokenize,
    "jieba": jieba_tokenize,
    "char-ngrams": char_ngram_tokenize,  # characters and their 2- and 3-grams (fastText)
    "word-ngrams": word_ngram_tokenize,  # jieba words and word bigrams (fastText)
}


def tokenizer(name: str) -> Callable[[str], list[str]]:
    from dllab.errors import ConfigError

    if name not in TOKENIZERS:
        raise ConfigError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
    return TOKENIZERS[name]


@dataclass
class Vocab:
    """Token <-> id. Ids 0 and 1 are `<pad>` and `<unk>`; other specials follow, then tokens
    by falling frequency (ties by first appearance, so it is deterministic)."""

    tokens: list[str]

    def __post_init__(self) -> None:
        if self.tokens[:2] != [PAD, UNK]:
            raise ValueError("a Vocab starts with <pad>, <unk>")
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(
        cls,
        sequences: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (),
    ) -> Vocab:
        counts: Counter[str] = Counter()
        for seq in sequences:
            counts.update(seq)
        fixed = [PAD, UNK, *specials]
        kept = [t for t, c in counts.most_common() if c >= min_freq and t not in fixed]
        if max_size is not None:
            kept = kept[: max(0, max_size - len(fixed))]
        return cls(fixed + kept)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.index.get(t, 1) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids]

    def unknown_rate(self, sequences: Iterable[Sequence[str]]) -> float:
        """Share of tokens that map to `<unk>` (reported, so a bad vocabulary is visible)."""
        total = unknown = 0
        for seq in sequences:
            total += len(seq)
            unknown += sum(t not in self.index for t in seq)
        return unknown / max(total, 1)


def read_text_inputs(inputs: Sequence[str]) -> list[str]:
    """`dllab predict` inputs for text tasks: the strings themselves, or `-` for one text a line
    of standard input. Empty or whitespace-only text is a user error (exit 2)."""
    texts: list[str] = []
    for item in inputs:
        if item == "-":
            texts.extend(line.rstrip("\n") for line in sys.stdin if line.strip())
            continue
        if not item.strip():
            raise InputError("empty text: give some characters to predict on (or - for stdin)")
        texts.append(item.strip())
    if not texts:
        raise InputError("no text to predict on: standard input was empty")
    return texts


def fit_to_context(ids: list[int], max_len: int, what: str = "text") -> list[int]:
    """Truncate to the model's context with a warning, never a crash."""
    if len(ids) > max_len:
        warnings.warn(
            f"{what} has {len(ids)} tokens, more than the model's {max_len}; truncated",
            stacklevel=2,
        )
        return ids[:max_len]
    return ids
