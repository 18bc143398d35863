"""The NER task: a generated corpus in the real `word/tag` format (dedupe before split,
vocabulary from training only, bucketed batches, seqeval metrics, predict with spans and its
bad inputs), and a short real training on a slice of the People's Daily corpus."""

import csv
import io
import random
import sys

import pytest
import torch

from dllab.config import load_recipe
from dllab.data.bio import TAGS
from dllab.data.ner_text import bigrams, normalize_text
from dllab.data.peoples_daily import peoples_daily_path
from dllab.errors import ConfigError, InputError
from dllab.tasks import TASKS, create_task
from dllab.tasks.ner import EntityF1
from dllab.train.trainer import Trainer

SURNAMES = ["王", "李", "张", "刘", "陈", "欧阳"]
GIVEN = ["伟", "芳", "建国", "小平", "海", "红光"]
PLACES = ["北京", "上海", "广州", "西藏", "香港"]
ORGS = ["新华社", "国务院", "中共中央", "外交部"]


def corpus_lines(n: int, seed: int = 0) -> list[str]:
    """Sentences in the corpus's own format: `word/TAG`, two spaces between items."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        s, g, p, o = rng.choice(SURNAMES), rng.choice(GIVEN), rng.choice(PLACES), rng.choice(ORGS)
        kind = rng.randrange(3)
        if kind == 0:
            words = [f"{s}/nr", f"{g}/nr", "在/p", f"{p}/ns", "会见/v", f"{o}/nt", "代表/n", "。/w"]
        elif kind == 1:
            words = [f"{o}/nt", f"{p}/ns", "１２月/t", "电/n", "（/w", "记者/n", f"{s}/nr", f"{g}/nr", "）/w"]  # fmt: skip
        else:
            words = ["今天/t", f"{p}/ns", "天气/n", "很/d", "好/a", "。/w"]
        lines.append("  ".join(words))
    return lines


@pytest.fixture()
def small_task(tmp_path):
    lines = corpus_lines(300)
    lines += lines[:40]  # repeats, which must not straddle the split
    path = tmp_path / "199801.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    recipe = load_recipe(
        "ner-peoples-daily",
        ["data.batch_size=8", "data.eval_batch_size=16", "model.kwargs.hidden_size=16",
         "model.kwargs.embed_dim=16", "model.kwargs.bigram_dim=8", "task.max_len=20"],
    )  # fmt: skip
    task = create_task("ner", recipe=recipe)
    task.setup(path=path)
    return task


def test_repeats_are_removed_before_splitting(small_task):
    c = small_task.counts_
    assert c["sentences"] == 340 and c["malformed_tokens"] == 0
    texts = {k: [t for t, _ in small_task.texts_[k]] for k in ("train", "val", "test")}
    assert c["duplicates_removed"] == 340 - len({t for v in texts.values() for t in v})
    assert len(texts["test"]) == round((340 - c["duplicates_removed"]) * 0.1)
    assert not set(texts["train"]) & set(texts["test"])
    assert not set(texts["train"]) & set(texts["val"])
    assert c["PER"] >= c["PER_from_pairs"] > 0  # every generated person is surname + given


def test_vocabulary_comes_from_training_text_only(small_task):
    train_chars = {ch for t, _ in small_task.texts_["train"] for ch in t}
    assert set(small_task.vocab_.tokens[2:]) <= train_chars
    assert small_task.bigram_vocab_ is not None


def test_batches_are_padded_bucketed_and_deterministic(small_task):
    batches = small_task.train_batches()
    first = list(batches.epoch(0))
    assert len(first) == len(batches)
    chars, bi, lengths, tags = first[0].chars, first[0].bigrams, first[0].lengths, first[0].tags
    assert chars.shape == bi.shape == tags.shape and lengths.max() == chars.shape[1]
    for row, n in enumerate(lengths.tolist()):
        assert (chars[row, n:] == 0).all() and (tags[row, n:] == -1).all()
        assert (tags[row, :n] >= 0).all()
    again = list(batches.epoch(0))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    resumed = list(batches.epoch(0, start=3))
    assert torch.equal(resumed[0][0], first[3][0])
    other = list(batches.epoch(1))
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, other, strict=False))


def test_a_resumed_epoch_sees_exactly_the_remaining_batches(small_task):
    small_task.setup(rank=1, world=2, path=small_task.path_)  # a DDP rank's share, too
    batches = small_task.train_batches()
    for epoch, k in ((0, 3), (2, 1)):
        whole, resumed = list(batches.epoch(epoch))[k:], list(batches.epoch(epoch, start=k))
        assert len(resumed) == len(whole) == len(batches) - k
        for a, b in zip(whole, resumed, strict=True):
            assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_entity_f1_is_seqeval_on_the_unpadded_tags():
    from seqeval.metrics import f1_score

    index = {t: i for i, t in enumerate(TAGS)}
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "I-LOC"]]
    pad = lambda rows: torch.tensor([[index[t] for t in r] + [-1] * (4 - len(r)) for r in rows])  # noqa: E731
    target, preds = pad(gold), pad(pred)
    preds[preds < 0] = 3  # whatever a model says at padding must not count
    m = EntityF1()
    m.update(preds.float(), target)
    out = m.compute()
    assert float(out["f1"]) == pytest.approx(f1_score(gold, pred))
    assert float(out["f1_PER"]) == 1.0 and float(out["recall_LOC"]) == 0.0


def test_predict_prints_entities_with_spans_after_a_rebuild_from_metadata(small_task):
    model = small_task.build_model()
    meta = small_task.model_metadata()
    rebuilt = TASKS.get("ner").model_from_metadata(meta)
    rebuilt.load_state_dict(model.state_dict())
    a = TASKS.get("ner").predict_with(model, meta, ["王伟在北京会见新华社代表。"])
    b = TASKS.get("ner").predict_with(rebuilt, meta, ["王伟在北京会见新华社代表。"])
    assert a[0].text == b[0].text
    assert a[0].source == "王伟在北京会见新华社代表。"


def test_spans_index_the_text_as_given_including_spaces(small_task, monkeypatch):
    def fake_decode(self, emissions, lengths):  # every character a one-character person
        return [[TAGS.index("B-PER")] * int(n) for n in lengths]

    model = small_task.build_model()
    monkeypatch.setattr(type(model), "decode", fake_decode)
    (p,) = TASKS.get("ner").predict_with(model, small_task.model_metadata(), ["王 伟"])
    assert p.text == "王 PER [0,1)  伟 PER [2,3)"


def test_a_checkpoint_from_before_the_task_section_still_predicts(small_task):
    """Metadata saved before the `task:` section had no task_options or imports."""
    ner, model, meta = TASKS.get("ner"), small_task.build_model(), small_task.model_metadata()
    assert meta["task_options"] == {"min_freq": 2, "bigram_min_freq": 2, "max_len": 20}
    old = {k: v for k, v in meta.items() if k not in ("task_options", "imports")}
    rebuilt = ner.model_from_metadata(old)
    rebuilt.load_state_dict(model.state_dict())
    text = ["王伟在北京会见新华社代表。"]
    assert (
        ner.predict_with(rebuilt, old, text)[0].text == ner.predict_with(model, meta, text)[0].text
    )


def test_an_old_style_recipe_exits_2_naming_the_task_option(tmp_path, monkeypatch, capsys):
    from dllab.cli import main

    path = tmp_path / "old-ner.yaml"
    path.write_text(
        "name: old-ner\ntask: ner\ndata: {name: peoples-daily}\n"
        "model: {name: bilstm-crf, kwargs: {embed_dim: 16, min_freq: 3}}\n",
        encoding="utf-8",
    )
    run = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", ["dllab", "run", str(path), "--run-dir", str(run)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "model.kwargs.min_freq" in line and "task.min_freq" in line, line
    assert not run.exists()


def test_bad_inputs_to_predict(small_task, monkeypatch):
    model, meta = small_task.build_model(), small_task.model_metadata()
    predict = TASKS.get("ner").predict_with
    with pytest.raises(InputError, match="empty text"):
        predict(model, meta, ["   "])
    monkeypatch.setattr(sys, "stdin", io.StringIO("王伟在北京\n\n新华社\n"))
    assert [p.source for p in predict(model, meta, ["-"])] == ["王伟在北京", "新华社"]
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(InputError, match="standard input was empty"):
        predict(model, meta, ["-"])
    with pytest.warns(UserWarning, match="has 30 tokens, more than the model's 20; truncated"):
        (long,) = predict(model, meta, ["北" * 30])
    assert long.text is not None
    # Characters never seen in training are <unk>, not an error.
    assert small_task.vocab_.encode("龘") == [small_task.vocab_.unk_id]
    assert predict(model, meta, ["龘龘在北京"])[0].text is not None


def test_ascii_is_read_as_the_corpus_writes_it():
    assert normalize_text("2024年ABC") == "２０２４年ＡＢＣ"
    assert bigrams("新华社") == ["新华", "华社", "社</s>"]


def test_wrong_dataset_is_a_config_error():
    recipe = load_recipe("ner-peoples-daily", ["data.name=digits"])
    with pytest.raises(ConfigError, match="peoples-daily"):
        create_task("ner", recipe=recipe).setup()


def test_short_real_training_beats_the_all_outside_baseline(tmp_path):
    """A few hundred steps on 2,500 short real sentences: entity F1 well above the majority
    baseline (every character `O`, entity F1 = 0) and token accuracy above its accuracy."""
    with open(peoples_daily_path(), encoding="utf-8") as f:
        lines = [line for line in f if 0 < len(line) < 160][:2500]
    path = tmp_path / "199801.txt"
    path.write_text("".join(lines), encoding="utf-8")
    recipe = load_recipe(
        "ner-peoples-daily",
        ["data.batch_size=16", "data.test_fraction=0.1", "model.kwargs.hidden_size=48",
         "model.kwargs.embed_dim=48", "model.kwargs.bigram_dim=32", "optim.lr=0.01"],
    )  # fmt: skip
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        task = create_task("ner", recipe=recipe)
        task.setup(path=path)
        model = task.build_model()
        optimizer = torch.optim.Adam(model.parameters(), lr=recipe.optim.lr)
        trainer = Trainer(max_epochs=3, max_time=20.0, grad_clip=5.0)
        trainer.fit(task, model, optimizer)
        test, outputs = trainer.test(task.test_batches())
        pictures = task.visualize(model, tmp_path, outputs)
    finally:
        torch.set_num_threads(threads)
    gold = [t for _, tags in task.texts_["test"] for t in tags]
    majority_accuracy = gold.count("O") / len(gold)
    rows = task.test_rows(outputs)
    accuracy = sum(g == p for _, gs, ps in rows for g, p in zip(gs, ps, strict=True)) / len(gold)
    assert test["test/f1"] >= 0.3, test
    assert accuracy > majority_accuracy + 0.01, (accuracy, majority_accuracy)
    # The report's per-type scores come from the same test pass as the metrics.
    assert [p.name for p in pictures] == ["per_type.csv", "per_type.png", "examples.md"]
    with open(tmp_path / "per_type.csv", encoding="utf-8") as f:
        per_type = {r["type"]: r for r in csv.DictReader(f)}
    assert float(per_type["all"]["f1"]) == pytest.approx(test["test/f1"], abs=5e-5)
    for kind in ("PER", "LOC", "ORG"):
        assert float(per_type[kind]["f1"]) == pytest.approx(test[f"test/f1_{kind}"], abs=5e-5)
