"""Named entities of the People's Daily corpus as character-level BIO tags, and back.

The corpus tags words (`data/peoples_daily.py`); NER here tags characters, because Chinese has
no spaces and a model that reads characters needs no word segmenter at prediction time. Three
types are kept: persons (`nr` -> PER), places (`ns` -> LOC) and organisations (`nt` -> ORG).
The first character of an entity is `B-TYPE`, the others `I-TYPE`, everything else `O`
(Ramshaw, Marcus, "Text chunking using transformation-based learning", 1995).

Person names need one rule. In this version of the corpus a surname and a given name are two
adjacent `nr` words (江/nr 泽民/nr), so a surname joins the `nr` word right after it into one
person. Lists of leaders are runs of such pairs without punctuation (江/nr 泽民/nr 李/nr 鹏/nr
…), so runs are not merged whole: a one-character word, or a known two-character compound
surname (欧阳, 诸葛 …), is a surname; any other `nr` word is a person on its own (克林顿/nr,
迪里拜尔/nr). Adjacent places (北京/ns 石景山/ns) stay separate entities, as tagged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "COMPOUND_SURNAMES",
    "ENTITY_TYPES",
    "TAGS",
    "Entity",
    "entities_to_tags",
    "entity_counts",
    "sentence_entities",
    "tags_to_entities",
    "to_bio",
]

ENTITY_TYPES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}  # corpus tag -> entity type
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]  # the tag ids, in order

# Two-character surnames (复姓) that the corpus splits from the given name like 欧阳/nr 海/nr.
COMPOUND_SURNAMES = frozenset(
    {
        "欧阳", "诸葛", "司马", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "夏侯",
        "司徒", "端木", "独孤", "宇文", "长孙", "西门", "呼延", "令狐", "南宫", "轩辕",
        "澹台", "申屠", "闻人", "万俟", "鲜于", "百里", "东郭", "司空", "淳于", "濮阳",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Entity:
    """An entity over characters `[start, end)` of a sentence."""

    label: str  # PER, LOC or ORG
    start: int
    end: int

    def text_in(self, text: str) -> str:
        return text[self.start : self.end]


def _is_surname(word: str) -> bool:
    return len(word) == 1 or word in COMPOUND_SURNAMES


def sentence_entities(words: Sequence[str], tags: Sequence[str]) -> tuple[list[Entity], int]:
    """Entities of one corpus sentence, by character offsets into `"".join(words)`, and how
    many of its persons were formed from a surname and a given name.

    >>> sentence_entities(["主席", "江", "泽民", "在", "北京"], ["n", "nr", "nr", "p", "ns"])
    ([Entity(label='PER', start=2, end=5), Entity(label='LOC', start=6, end=8)], 1)
    """
    starts = [0]
    for w in words:
        starts.append(starts[-1] + len(w))
    entities, merged, i = [], 0, 0
    while i < len(words):
        label = ENTITY_TYPES.get(tags[i])
        if label is None:
            i += 1
            continue
        j = i + 1  # the entity covers words [i, j)
        if tags[i] == "nr" and j < len(words) and tags[j] == "nr" and _is_surname(words[i]):
            j, merged = j + 1, merged + 1
        entities.append(Entity(label, starts[i], starts[j]))
        i = j
    return entities, merged


def entities_to_tags(length: int, entities: Iterable[Entity]) -> list[str]:
    """BIO tags for a text of `length` characters; entities must not overlap.

    >>> entities_to_tags(5, [Entity("PER", 0, 3)])
    ['B-PER', 'I-PER', 'I-PER', 'O', 'O']
    """
    tags = ["O"] * length
    for e in entities:
        assert 0 <= e.start < e.end <= length, f"{e} outside a text of {length} characters"
        assert all(t == "O" for t in tags[e.start : e.end]), f"{e} overlaps another entity"
        tags[e.start] = f"B-{e.label}"
        tags[e.start + 1 : e.end] = [f"I-{e.label}"] * (e.end - e.start - 1)
    return tags


def tags_to_entities(tags: Sequence[str]) -> list[Entity]:
    """Entities of a BIO tag sequence, read as seqeval reads it by default (conlleval): an
    `I-X` that does not continue an `X` entity starts a new one.

    >>> tags_to_entities(["B-LOC", "I-LOC", "O", "I-PER", "B-PER"])
    [Entity(label='LOC', start=0, end=2), Entity(label='PER', start=3, end=4), \
Entity(label='PER', start=4, end=5)]
    """
    entities: list[Entity] = []
    label, start = None, 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, kind = tag.partition("-")
        continues = prefix == "I" and kind == label
        if label is not None and not continues:
            entities.append(Entity(label, start, i))
            label = None
        if prefix in ("B", "I") and not continues:
            label, start = kind, i
    return entities


def to_bio(words: Sequence[str], tags: Sequence[str]) -> tuple[str, list[str]]:
    """A corpus sentence as (text, one BIO tag per character)."""
    text = "".join(words)
    entities, _ = sentence_entities(words, tags)
    return text, entities_to_tags(len(text), entities)


def entity_counts(sentences: Iterable[tuple[Sequence[str], Sequence[str]]]) -> dict[str, int]:
    """Entities per type over `(words, tags)` sentences, and `PER_from_pairs`: persons formed
    from a surname and a given name (for the report, so the merging rule is visible)."""
    counts: Counter[str] = Counter()
    for words, tags in sentences:
        entities, merged = sentence_entities(words, tags)
        counts.update(e.label for e in entities)
        counts["PER_from_pairs"] += merged
    return {k: counts[k] for k in ("PER", "LOC", "ORG", "PER_from_pairs")}
