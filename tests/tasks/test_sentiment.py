"""Chinese sentiment: a short real training beats the majority class; predict reads text
(strings or stdin), refuses empty text, truncates long text and survives unknown characters;
batches give every text the same logits and resume exactly; pretrained embeddings and
encoders are loaded; task options are checked, and runs from before the task section still
predict and evaluate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from dllab.cli import app
from dllab.config import load_recipe
from dllab.data.text import Vocab
from dllab.errors import ConfigError, InputError
from dllab.experiment import evaluate_run, load_trained, run_recipe
from dllab.models import create_model
from dllab.models.embedding_init import embedding_layer, init_embeddings
from dllab.tasks import create_task
from dllab.tasks.sentiment import predict_texts, token_batches
from dllab.train.checkpoint import load_checkpoint, save_checkpoint
from dllab.train.trainer import Trainer

runner = CliRunner()
SMALL_CNN = [
    "model.kwargs.embed_dim=32",
    "model.kwargs.num_filters=32",
    "task.max_len=100",
]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> Path:
    """A small TextCNN over characters, 100 steps (~10 s): one real run shared by the tests.
    One thread: on a busy 2-core machine a second one spins and made steps 20x slower."""
    recipe = load_recipe(
        "sentiment-zh-textcnn", [*SMALL_CNN, "train.max_steps=100", "train.threads=1"]
    )
    root = tmp_path_factory.mktemp("sentiment")
    return run_recipe(recipe, run_dir=root / "run", echo=lambda _: None, progress=False)


@pytest.fixture(scope="module")
def task():
    t = create_task("sentiment", recipe=load_recipe("sentiment-zh", ["task.max_len=60"]))
    t.setup()
    return t


def test_short_training_beats_the_majority_class(short_run: Path) -> None:
    summary = json.loads((short_run / "summary.json").read_text())
    majority = 9_031 / 17_363  # negative reviews after deduplication
    assert summary["test"]["test/accuracy"] > majority + 0.12
    assert summary["test"]["test/f1"] > 0.6
    data = (short_run / "data.md").read_text()
    assert "47 in both files dropped" in data and "17,410 distinct" in data
    assert (short_run / "confusion.png").stat().st_size > 5_000


@pytest.mark.parametrize(
    ("recipe_name", "bag"),
    [("sentiment-zh-fasttext", "char-ngrams"), ("sentiment-zh-fasttext-words", "word-ngrams")],
)
def test_fasttext_learns_from_its_bag_of_ngrams_in_200_steps(
    tmp_path: Path, recipe_name: str, bag: str
) -> None:
    recipe = load_recipe(recipe_name, ["train.max_steps=200", "train.threads=1"])
    run = run_recipe(recipe, run_dir=tmp_path / "run", echo=lambda _: None, progress=False)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"]["test/accuracy"] > 9_031 / 17_363 + 0.2  # majority: 0.52
    model, meta = load_trained(run)
    assert meta["tokenizer"] == bag  # predict rebuilds the same bag from the run alone
    (neg, pos) = predict_texts(model, meta, ["质量太差了，很失望", "很好用，非常满意"], top_k=1)
    assert (neg.labels[0], pos.labels[0]) == ("negative", "positive")


def test_predict_prints_label_and_probability(short_run: Path) -> None:
    out = runner.invoke(app, ["predict", str(short_run), "这个手机很好用", "--top-k", "1"])
    assert out.exit_code == 0, out.output
    line = out.output.strip()
    assert line.startswith("这个手机很好用: ")
    label, prob = line.split(": ")[1].split()
    assert label in ("positive", "negative") and 0.5 <= float(prob) <= 1.0


def test_predict_reads_stdin_and_refuses_empty_text(short_run: Path) -> None:
    out = runner.invoke(app, ["predict", str(short_run), "-"], input="很好\n\n太差了\n")
    assert out.exit_code == 0, out.output
    lines = out.output.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["很好", "太差了"]
    assert all("positive" in ln and "negative" in ln for ln in lines)  # top-2 of 2 classes
    out = runner.invoke(app, ["predict", str(short_run), "   "])  # `main` turns it into exit 2
    assert isinstance(out.exception, InputError) and "empty text" in str(out.exception)


def test_long_text_is_truncated_with_a_warning_and_unknown_characters_still_predict(
    short_run: Path,
) -> None:
    from dllab.experiment import load_trained

    model, meta = load_trained(short_run)
    with pytest.warns(UserWarning, match="truncated"):
        (long,) = predict_texts(model, meta, ["好" * 5000], top_k=1)
    assert long.source.endswith("…") and len(long.labels) == 1
    with pytest.warns(UserWarning, match="no token"):
        (odd,) = predict_texts(model, meta, ["\U0001f600\U0001f601"], top_k=2)
    assert sorted(odd.labels) == ["negative", "positive"]
    assert sum(odd.scores) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(InputError):
        predict_texts(model, meta, [""], top_k=1)


def test_a_text_gets_the_same_logits_alone_or_in_any_batch(task) -> None:
    torch.manual_seed(0)
    model = create_model(
        "bilstm-attention", vocab_size=len(task.vocab_), embed_dim=8, hidden_size=8
    )
    model.eval()
    x, lengths, y = next(task.train_batches().epoch(0))
    assert x.shape[1] == int(lengths.max()) and len(y) == len(lengths)
    assert bool((x[torch.arange(len(x)), lengths - 1] != 0).all())  # last real token
    batch = model(x, lengths)
    alone = torch.cat([model(x[i : i + 1, : lengths[i]], lengths[i : i + 1]) for i in range(8)])
    torch.testing.assert_close(batch[:8], alone, atol=1e-5, rtol=1e-5)


def test_vocabulary_comes_from_the_training_split_only(task) -> None:
    train_chars = {c for t in task.texts_["train"] for c in t if not c.isspace()}
    assert set(task.vocab_.tokens[2:]) <= train_chars
    only_in_test = {c for t in task.texts_["test"] for c in t} - train_chars
    assert only_in_test  # a few rare characters are only in the test split
    assert not only_in_test & set(task.vocab_.tokens)


def test_attention_picture_over_test_texts(task, tmp_path: Path) -> None:
    model = create_model(
        "bilstm-attention", vocab_size=len(task.vocab_), embed_dim=8, hidden_size=8
    )
    trainer = Trainer()
    trainer.task, trainer.model = task, model
    _, outputs = trainer.test(task.test_batches())  # the one test pass feeds the pictures
    paths = task.visualize(model, tmp_path, outputs)
    assert tmp_path / "attention.png" in paths and tmp_path / "confusion.png" in paths
    rows = json.loads((tmp_path / "attention.json").read_text())
    assert len(rows) >= 3  # two right and one wrong per class, as far as there are some
    for row in rows:
        assert len(row["tokens"]) == len(row["weights"]) and sum(row["weights"]) == pytest.approx(1)
        assert "".join(row["tokens"]) in {t.replace(" ", "") for t in task.texts_["test"]} or any(
            "<unk>" in tok for tok in row["tokens"]
        )


def _save(run_dir: Path, model: torch.nn.Module, meta: dict) -> None:
    save_checkpoint(
        run_dir / "checkpoints" / "best.safetensors",
        {"model": model.state_dict(), "meta": meta, "metrics": {}, "step": 1},
    )


def test_pretrained_embeddings_fill_the_rows_they_know(task, tmp_path: Path) -> None:
    words = ["<pad>", "<unk>", "好", "差", "不在词表里"]
    sg = create_model("skipgram", vocab_size=len(words), embed_dim=8)
    _save(tmp_path, sg, {"task": "word2vec", "model": "skipgram", "vocab": words})
    recipe = load_recipe(
        "sentiment-zh",
        ["task.max_len=60", "model.kwargs.embed_dim=8", "model.kwargs.hidden_size=8"]
        + [f"task.pretrained_embeddings={tmp_path}"],
    )
    t = create_task("sentiment", recipe=recipe)
    t.setup()
    model = t.build_model()
    weight = embedding_layer(model).weight
    good = sg.in_embed.weight[2]
    assert torch.equal(weight[t.vocab_.index["好"]], good)
    assert torch.equal(weight[0], torch.zeros(8))
    assert t.pretrained_["vocab_coverage"] == pytest.approx(2 / (len(t.vocab_) - 2))
    assert "pretrained embeddings" in "\n".join(t.data_lines())
    with pytest.raises(ConfigError, match="embed_dim=8"):
        init_embeddings(torch.nn.Embedding(5, 4), Vocab(words), words[2:], torch.ones(3, 8))


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_pretrained_encoder_brings_its_vocabulary_and_weights(
    tmp_path: Path, positions: str
) -> None:
    vocab = Vocab.build([list("这个手机很好用质量差")], specials=("[CLS]", "[SEP]", "[MASK]"))
    sizes = {"d_model": 16, "n_heads": 2, "n_layers": 1, "max_len": 24, "positions": positions}
    mlm = create_model("bert-mlm-mini", vocab_size=len(vocab), **sizes)
    meta = {
        "task": "masked_lm",
        "model": "bert-mlm-mini",
        "model_kwargs": mlm.config.encoder_kwargs(),
        "vocab": vocab.tokens,
    }
    _save(tmp_path, mlm, meta)
    recipe = load_recipe("sentiment-zh-bert", [f"task.pretrained_encoder={tmp_path}"])
    t = create_task("sentiment", recipe=recipe)
    t.setup()
    model = t.build_model()
    for k, v in mlm.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[k], v)
    ids, lengths, _ = t.encoded_["train"]
    assert bool((ids[:, 0] == vocab.index["[CLS]"]).all())
    assert ids[0, lengths[0] - 1] == vocab.index["[SEP]"]
    # A learned position table caps texts at the pretraining length; rotary positions have no
    # table, so texts keep the recipe's max_len (256) and the model is built for it.
    longest = 24 if positions == "learned" else recipe.task.options["max_len"]
    assert int(lengths.max()) == longest == t.max_len_ == model.config.max_len
    meta = t.model_metadata()
    assert meta["tokenizer"] == "char" and meta["wrap"] == ["[CLS]", "[SEP]"]
    assert "pretrained_encoder" not in meta["model_kwargs"]
    (p,) = predict_texts(model, meta, ["手机很好用"], top_k=2)
    assert sorted(p.labels) == ["negative", "positive"]


def test_split_seed_keeps_the_split_while_train_seed_changes() -> None:
    def split(*overrides: str) -> dict[str, list[int]]:
        t = create_task("sentiment", recipe=load_recipe("sentiment-zh", list(overrides)))
        t.setup()
        return {k: v.tolist() for k, v in t.split_.items()}

    base = split("train.seed=0")
    assert split("train.seed=1", "data.split_seed=0") == base
    assert split("train.seed=1")["test"] != base["test"]


def test_length_buckets_cover_every_text_once_with_less_padding() -> None:
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 120, (1000,), generator=g)
    ids = (torch.arange(120)[None, :] < lengths[:, None]).long() * torch.arange(1, 1001)[:, None]
    labels = torch.arange(1000) % 2

    def batches(buckets: bool) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        tb = token_batches(
            ids, lengths, labels, batch_size=16, shuffle=True, seed=3, buckets=buckets
        )
        out = list(tb.epoch(1))
        assert len(out) == len(tb)
        return out

    plain, bucketed = batches(False), batches(True)
    seen = sorted(int(x[0, 0]) for b in bucketed for x in b[0].split(1))
    assert seen == list(range(1, 1001))  # every text once
    padded = [sum(b[0].numel() for b in bs) for bs in (plain, bucketed)]
    assert padded[1] < 0.7 * padded[0]
    again = token_batches(ids, lengths, labels, batch_size=16, shuffle=True, seed=3, buckets=True)
    assert [b[0].shape for b in again.epoch(1, start=5)] == [b[0].shape for b in bucketed[5:]]


@pytest.mark.parametrize("buckets", [False, True])
@pytest.mark.parametrize(("rank", "world"), [(0, 1), (1, 2)])
def test_token_batches_resume_mid_epoch_with_the_same_batches(buckets, rank, world) -> None:
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(1, 40, (301,), generator=g)
    ids = (torch.arange(40)[None, :] < lengths[:, None]).long() * torch.arange(1, 302)[:, None]
    b = token_batches(
        ids, lengths, torch.arange(301) % 2, batch_size=8, shuffle=True, seed=5, rank=rank,
        world=world, buckets=buckets,
    )  # fmt: skip
    for epoch, k in [(0, 4), (2, 11)]:
        whole, resumed = list(b.epoch(epoch))[k:], list(b.epoch(epoch, start=k))
        assert len(whole) == len(resumed) == len(b) - k
        for x, y in zip(whole, resumed, strict=True):
            assert all(torch.equal(u, v) for u, v in zip(x, y, strict=True))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("task.tokenizer=bpe", "unknown tokenizer 'bpe'; choose one of char, jieba"),
        ("task.max_len=2", "task.max_len: .*greater than or equal to 3"),
        ("task.min_frequency=3", "did you mean 'task.min_freq'"),
        ("model.kwargs.min_freq=3", "move it to the task section.*task.min_freq"),
    ],
)
def test_task_options_are_checked_before_any_data_is_read(override, message) -> None:
    with pytest.raises(ConfigError, match=message):
        create_task("sentiment", recipe=load_recipe("sentiment-zh", [override]))


def test_a_run_from_before_the_task_section_still_predicts_and_evaluates(
    short_run: Path, tmp_path: Path
) -> None:
    """Checkpoint metadata and config.yaml as the old task wrote them: options in
    model.kwargs, no `task_options` in the metadata."""
    old = tmp_path / "old"
    shutil.copytree(short_run, old)
    config = yaml.safe_load((old / "config.yaml").read_text())
    options = {k: v for k, v in config["task"].items() if k != "name"}
    config["task"] = "sentiment"
    config["model"]["kwargs"].update({k: v for k, v in options.items() if v is not None})
    (old / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    best = old / "checkpoints" / "best.safetensors"
    state = load_checkpoint(best)
    state["meta"] = {k: v for k, v in state["meta"].items() if k not in ("task_options", "imports")}
    save_checkpoint(best, state)
    model, meta = load_trained(old)
    assert "task_options" not in meta
    (new,) = predict_texts(*load_trained(short_run), ["这个手机很好用"], top_k=2)
    (got,) = predict_texts(model, meta, ["这个手机很好用"], top_k=2)
    assert got == new
    summary = json.loads((short_run / "summary.json").read_text())
    result = evaluate_run(old)
    assert result["test/accuracy"] == summary["test"]["test/accuracy"]
