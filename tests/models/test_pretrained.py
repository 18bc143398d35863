"""Pretrained weights go into a run's checkpoint and come back out through `pretrained.py`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dllab.data.text import Vocab
from dllab.errors import CheckpointError
from dllab.models import create_model
from dllab.models.bert import BertConfig
from dllab.models.pretrained import align_vectors, load_encoder, load_word_vectors
from dllab.train.checkpoint import save_checkpoint

BERT_SMALL = {"d_model": 16, "n_heads": 2, "n_layers": 2, "max_len": 12}


def _save_run(run_dir: Path, model: torch.nn.Module, meta: dict) -> None:
    save_checkpoint(
        run_dir / "checkpoints" / "best.safetensors",
        {"model": model.state_dict(), "meta": meta, "metrics": {}, "step": 1},
    )


def test_word_vectors_round_trip_without_specials(tmp_path: Path) -> None:
    vocab = Vocab(["<pad>", "<unk>", "中国", "经济", "北京"])
    model = create_model("skipgram", vocab_size=len(vocab), embed_dim=4)
    with torch.no_grad():
        model.in_embed.weight.copy_(torch.arange(20.0).view(5, 4))
    meta = {"task": "word2vec", "model": "skipgram", "vocab": vocab.tokens}
    _save_run(tmp_path, model, meta)

    tokens, vectors = load_word_vectors(tmp_path)

    assert tokens == ["中国", "经济", "北京"]
    assert torch.equal(vectors, torch.arange(8.0, 20.0).view(3, 4))


@pytest.mark.parametrize("layout", ["encoder", "model_kwargs"])
def test_encoder_round_trip_fits_a_classifier(tmp_path: Path, layout: str) -> None:
    """Runs keep the encoder's whole config as `encoder` (the builder's arguments in
    `model_kwargs`); runs from before the task section kept it as `model_kwargs`."""
    torch.manual_seed(0)
    vocab = Vocab.build([list("今天天气很好")], specials=("[CLS]", "[SEP]", "[MASK]"))
    kwargs = {"vocab_size": len(vocab), **BERT_SMALL}
    mlm = create_model("bert-mlm-mini", **kwargs)
    cfg = mlm.config.encoder_kwargs()
    meta = {"task": "masked_lm", "model": "bert-mlm-mini", "vocab": vocab.tokens}
    if layout == "encoder":
        meta.update(model_kwargs=kwargs, encoder=cfg)
    else:
        meta.update(model_kwargs=cfg)
    _save_run(tmp_path, mlm, meta)

    tokens, state, config = load_encoder(tmp_path)
    clf = create_model("bert-classifier", num_classes=3, **config).eval()
    clf.encoder.load_state_dict(state)  # strict: every key fits

    assert tokens == vocab.tokens and tokens[2:5] == ["[CLS]", "[SEP]", "[MASK]"]
    assert BertConfig(**config) == mlm.config
    x = torch.tensor([[2, 7, 8, 9, 3, 0]])
    with torch.no_grad():
        assert torch.equal(clf.encoder(x), mlm.eval().encoder(x))


def test_wrong_kind_of_run_is_a_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoints"):
        load_word_vectors(tmp_path)
    model = create_model("skipgram", vocab_size=3, embed_dim=2)
    _save_run(tmp_path, model, {"task": "word2vec", "vocab": ["<pad>", "<unk>", "a"]})
    with pytest.raises(CheckpointError, match="not a 'masked_lm' run"):
        load_encoder(tmp_path)


def test_align_vectors_copies_hits_and_fills_the_rest() -> None:
    vectors = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    out, hits = align_vectors(["<pad>", "<unk>", "坏", "新", "好"], ["好", "坏"], vectors)
    assert hits == 2
    assert out[2].tolist() == [3.0, 4.0] and out[4].tolist() == [1.0, 2.0]
    assert out[0].abs().sum() == 0 and out.shape == (5, 2)
