"""Text for the NER tagger: the corpus's full-width ASCII, character bigrams, ids, and the
one-line listing of entities that `dllab predict` and the report print.

The People's Daily corpus writes ASCII letters, digits and punctuation in their full-width
forms, so user text is read that way too (`normalize_text`). The tagger may also read each
character with the one after it (`bigrams`); both become ids through a `Vocab` learnt on the
training split.
"""

from __future__ import annotations

from collections.abc import Sequence

from dllab.data.bio import Entity
from dllab.data.text import Vocab

__all__ = ["END", "bigrams", "encode_text", "format_entities", "normalize_text"]

END = "</s>"  # the character after the last one, for the last bigram
_FULLWIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}  # ASCII '!'..'~' -> '！'..'～'


def normalize_text(text: str) -> str:
    """ASCII letters, digits and punctuation as the corpus writes them (full width).

    >>> normalize_text("1998年")
    '１９９８年'
    """
    return text.translate(_FULLWIDTH)


def bigrams(chars: Sequence[str]) -> list[str]:
    """Each character with the one after it (`</s>` after the last).

    >>> bigrams("北京市")
    ['北京', '京市', '市</s>']
    """
    return [a + b for a, b in zip(chars, [*chars[1:], END], strict=True)]


def encode_text(text: str, chars: Vocab, bigram_vocab: Vocab | None) -> tuple[list[int], list[int]]:
    """Character ids and bigram ids (all 0 without a bigram vocabulary) of `text`."""
    ids = chars.encode(text)
    return ids, bigram_vocab.encode(bigrams(text)) if bigram_vocab else [0] * len(ids)


def format_entities(text: str, entities: list[Entity]) -> str:
    """`江泽民 PER [0,3)  北京 LOC [5,7)`; spans are character offsets into `text`."""
    if not entities:
        return "(no entities)"
    return "  ".join(f"{e.text_in(text)} {e.label} [{e.start},{e.end})" for e in entities)
