"""Texts as padded token ids: training texts are cut silently and counted, texts to predict on
are cut with a warning; whitespace still gives a token; BERT's wrap fits within max_len."""

from __future__ import annotations

import pytest
import torch

from dllab.data.text import Vocab, char_tokenize
from dllab.data.token_ids import encode_inputs, encode_texts, pad_ids

VOCAB = Vocab(["<pad>", "<unk>", "[CLS]", "[SEP]", "好", "差"])


def test_training_texts_are_cut_to_max_len_and_counted() -> None:
    encoded, cut = encode_texts(["好差好差", "差", "  "], VOCAB, char_tokenize, max_len=3)
    assert encoded == [[4, 5, 4], [5], [1]] and cut == 1  # whitespace: one <unk>
    wrapped, cut = encode_texts(["好差好差", ""], VOCAB, list, 4, wrap=("[CLS]", "[SEP]"))
    assert wrapped == [[2, 4, 5, 3], [2, 3]] and cut == 1  # [CLS] and [SEP] count in max_len


def test_texts_to_predict_warn_when_cut_or_all_unknown() -> None:
    with pytest.warns(UserWarning, match="truncated"):
        assert encode_inputs(["好差好差"], VOCAB, list, 3) == [[4, 5, 4]]
    with pytest.warns(UserWarning, match="no token"):
        assert encode_inputs(["甲乙"], VOCAB, list, 4, wrap=("[CLS]", "[SEP]")) == [[2, 1, 1, 3]]


def test_pad_ids_pads_on_the_right_and_keeps_lengths() -> None:
    ids, lengths = pad_ids([[4, 5, 4], [5]])
    assert torch.equal(ids, torch.tensor([[4, 5, 4], [5, 0, 0]]))
    assert lengths.tolist() == [3, 1] and ids.dtype == torch.long
