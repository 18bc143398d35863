"""Masked-LM pretraining: a short real training on a slice of the text drives the masked-token
loss well below log(V); the text is packed and masked as promised; predict fills [MASK]s; the
run's encoder loads into a classifier."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import pytest
import torch

from dllab.config import load_recipe
from dllab.data.lm_text import TextSources, load_texts, pack, review_lines
from dllab.data.peoples_daily import parse_lines, peoples_daily_path
from dllab.data.text import Vocab, char_tokenize
from dllab.errors import ConfigError, InputError
from dllab.experiment import load_trained, predict, run_recipe
from dllab.models import create_model
from dllab.models.pretrained import load_encoder
from dllab.tasks import masked_lm

SMALL = [
    "model.kwargs.n_layers=2",
    "model.kwargs.d_model=64",
    "model.kwargs.n_heads=2",
    "model.kwargs.max_len=64",
    "model.kwargs.dropout=0.0",
    "data.batch_size=32",
    "data.val_fraction=0.03",
    "data.test_fraction=0.03",
    "optim.lr=0.005",
    "train.max_steps=200",
    "train.val_every=100",
    "train.checkpoint_every=0",
    "train.threads=1",
]


def text_slice(name: str, data_dir: str | None = None) -> TextSources:
    """The first 2,000 People's Daily sentences and 1,000 review texts."""
    with open(peoples_daily_path(), encoding="utf-8") as f:
        news = [s.text for s in parse_lines(islice(f, 2000)).sentences]
    reviews = review_lines()[0][:1000]
    distinct = dict.fromkeys(
        [*((t, "peoples-daily") for t in news), *((t, "reviews-zh") for t in reviews)]
    )
    texts = list(dict.fromkeys(t for t, _ in distinct))
    source = {}
    for t, src in distinct:
        source.setdefault(t, src)
    return TextSources(texts, {"slice": 3000}, {}, sources=[source[t] for t in texts])


@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> Iterator[Path]:
    """200 steps of a 2-layer, 64-wide BERT on the slice (~15 s of CPU), shared by the tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(masked_lm, "load_texts", text_slice)
        recipe = load_recipe("mlm-zh", SMALL)
        root = tmp_path_factory.mktemp("mlm")
        yield run_recipe(recipe, run_dir=root / "run", echo=lambda _: None, progress=False)


def test_short_training_drives_masked_loss_well_below_log_v(short_run: Path) -> None:
    summary = json.loads((short_run / "summary.json").read_text())
    vocab_size = len(load_encoder(short_run)[0])
    # Measured here: 6.42 against log(2,439) = 7.80, a little under the unigram floor (6.44):
    # so short a training learns mostly which characters are common.
    assert summary["test"]["test/loss"] < math.log(vocab_size) - 1.2, summary["test"]
    assert summary["test"]["test/accuracy"] > 0.03  # measured 0.040; chance: 1 / 2,439
    examples = (short_run / "examples.md").read_text(encoding="utf-8")
    assert "unigram floor" in examples
    # Each shown window has guesses for its masked characters, taken from the one test pass.
    shown = [line for line in examples.splitlines() if line[:2] in {f"{i}." for i in range(1, 7)}]
    assert shown and all("→" in line for line in shown)


def test_the_runs_encoder_loads_into_a_classifier(short_run: Path) -> None:
    tokens, state, config = load_encoder(short_run)
    assert tokens[:5] == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    assert config["d_model"] == 64 and config["vocab_size"] == len(tokens)
    model = create_model("bert-classifier", num_classes=2, **config)
    model.encoder.load_state_dict(state)
    assert model(torch.tensor([[2, 10, 11, 3]])).shape == (1, 2)


def test_a_checkpoint_from_before_the_task_section_still_fills_masks(short_run: Path) -> None:
    """Old metadata kept the encoder's whole config as `model_kwargs` and no `encoder`."""
    model, meta = load_trained(short_run)
    old = {k: v for k, v in meta.items() if k not in ("encoder", "task_options", "imports")}
    old["model_kwargs"] = meta["encoder"]
    text = "中国人[MASK]的[MASK]活"
    (p,) = masked_lm.MaskedLMTask.predict_with(model, old, [text], top_k=3)
    (q,) = masked_lm.MaskedLMTask.predict_with(model, meta, [text], top_k=3)
    assert p == q and "[MASK]" not in (p.text or "")


def test_predict_fills_each_mask_and_refuses_text_without_one(short_run: Path) -> None:
    (p,) = predict(short_run, ["中国人[MASK]的[MASK]活"], top_k=3)
    assert len(p.labels) == 3 and p.scores == sorted(p.scores, reverse=True)
    assert p.text is not None and "[MASK]" not in p.text and len(p.text) == 7
    assert p.text[:3] == "中国人" and p.text[4] == "的"
    with pytest.raises(InputError, match="no \\[MASK\\]"):
        predict(short_run, ["没有要猜的字"])
    with pytest.warns(UserWarning, match="truncated"):
        predict(short_run, ["[MASK]" + "好" * 100])


def test_packing_keeps_every_character_in_order_between_separators() -> None:
    vocab = Vocab.build([list("今天天气很好书")], specials=("[CLS]", "[SEP]", "[MASK]"))
    texts = [list("今天天气很好"), list("好书"), list("天气")]
    rows = pack(texts, vocab, max_len=5)
    assert rows.shape == (4, 5) and bool((rows[:, 0] == vocab.index["[CLS]"]).all())
    stream = [t for t in vocab.decode(rows[:, 1:].flatten().tolist()) if t != "<pad>"]
    assert stream == [*"今天天气很好", "[SEP]", *"好书", "[SEP]", *"天气", "[SEP]"]


def test_review_texts_are_read_without_labels_and_sources_are_checked() -> None:
    texts, checksums = review_lines()
    assert len(texts) == 35_123 and set(checksums) == {"neg.txt", "pos.txt"}
    assert len(load_texts("reviews-zh").texts) == len(set(texts))  # repeats removed
    with pytest.raises(ConfigError, match="masked_lm reads"):
        load_texts("peoples-daily+wikipedia")


def test_review_repeats_add_review_passes_to_training_only(monkeypatch) -> None:
    monkeypatch.setattr(masked_lm, "load_texts", text_slice)

    def task(repeats: int) -> masked_lm.MaskedLMTask:
        t = masked_lm.MaskedLMTask(
            load_recipe("mlm-zh", [*SMALL, f"task.review_repeats={repeats}"])
        )
        t.setup()
        return t

    once, thrice = task(1), task(3)
    assert thrice.vocab_.tokens == once.vocab_.tokens  # counted before the repeats
    for split in ("val", "test"):
        assert torch.equal(thrice.windows_[split], once.windows_[split])
    sources = dict(zip(once.sources_.texts, once.sources_.sources, strict=True))
    reviews = [t for t in once.texts_["train"] if sources[t] == "reviews-zh"]
    assert 0 < len(reviews) < len(once.texts_["train"])
    chars = [char_tokenize(t) for t in once.texts_["train"]]
    expected = pack(chars + [char_tokenize(t) for t in reviews] * 2, once.vocab_, 64)
    assert torch.equal(thrice.windows_["train"], expected)  # two more passes over the reviews
    with pytest.raises(ConfigError, match="task.review_repeats: Input should be greater"):
        task(0)
