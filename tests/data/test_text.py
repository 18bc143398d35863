"""Vocabulary, tokenisers and predict's text inputs."""

from __future__ import annotations

import io
import warnings

import pytest

from dllab.data.text import (
    PAD,
    UNK,
    Vocab,
    char_ngram_tokenize,
    char_tokenize,
    fit_to_context,
    jieba_tokenize,
    read_text_inputs,
    tokenizer,
    word_ngram_tokenize,
)
from dllab.errors import ConfigError, InputError


def test_vocab_orders_by_frequency_then_first_appearance_and_applies_min_freq():
    v = Vocab.build([list("abcab"), list("cax")], min_freq=2)
    # counts: a 3, b 2, c 2, x 1 -> x dropped; b before c (seen first)
    assert v.tokens == [PAD, UNK, "a", "b", "c"]
    assert v.encode("abxz") == [2, 3, 1, 1]
    assert v.decode(v.encode("cab")) == list("cab")
    assert v.unknown_rate([list("ax")]) == pytest.approx(0.5)


def test_vocab_specials_and_max_size():
    v = Vocab.build([list("aaabbc")], specials=["[MASK]"], max_size=4)
    assert v.tokens == [PAD, UNK, "[MASK]", "a"]
    assert Vocab(list(v.tokens)).index == v.index  # plain data round trip
    with pytest.raises(ValueError):
        Vocab(["a", PAD, UNK])


def test_tokenisers_drop_whitespace_and_keep_every_other_character():
    text = "这个 手机\t很好用！"
    assert char_tokenize(text) == list("这个手机很好用！")
    words = jieba_tokenize(text)
    assert "".join(words) == "这个手机很好用！"
    assert len(words) < len(char_tokenize(text))  # jieba groups characters into words
    with pytest.raises(ConfigError, match="char, jieba, char-ngrams"):
        tokenizer("bpe")


def test_char_ngrams_hold_every_1_2_3_gram_once_in_text_order():
    text = "手机 很好用！"
    grams = char_ngram_tokenize(text)
    chars = char_tokenize(text)
    for n in (1, 2, 3):  # exactly the n-grams of the characters, whitespace dropped
        expected = sorted("".join(chars[i : i + n]) for i in range(len(chars) - n + 1))
        assert sorted(g for g in grams if len(g) == n) == expected
    assert [g for g in grams if len(g) == 1] == chars  # in order: a cut list cuts the text
    assert grams[:4] == ["手", "手机", "手机很", "机"]
    assert char_ngram_tokenize("好") == ["好"] and char_ngram_tokenize(" ") == []


def test_word_ngrams_are_jieba_words_and_their_bigrams_in_text_order():
    text = "这个 手机很好用！"
    words = jieba_tokenize(text)
    grams = word_ngram_tokenize(text)
    assert [g for g in grams if " " not in g] == words  # every word once, in order
    bigrams = [g for g in grams if " " in g]
    assert bigrams == [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    assert grams[:3] == [words[0], f"{words[0]} {words[1]}", words[1]]  # interleaved
    assert word_ngram_tokenize("好") == ["好"] and word_ngram_tokenize(" \t") == []


def test_read_text_inputs_strings_stdin_and_empty(monkeypatch):
    assert read_text_inputs(["  好 ", "坏"]) == ["好", "坏"]
    monkeypatch.setattr("sys.stdin", io.StringIO("第一行\n\n  \n第二行\n"))
    assert read_text_inputs(["-"]) == ["第一行", "第二行"]
    with pytest.raises(InputError, match="empty text"):
        read_text_inputs(["   "])
    monkeypatch.setattr("sys.stdin", io.StringIO("\n \n"))
    with pytest.raises(InputError, match="standard input was empty"):
        read_text_inputs(["-"])


def test_fit_to_context_truncates_with_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit_to_context([1, 2], 3) == [1, 2]
    with pytest.warns(UserWarning, match="5 tokens, more than the model's 3; truncated"):
        assert fit_to_context([1, 2, 3, 4, 5], 3) == [1, 2, 3]
