"""Word embeddings: a short real skip-gram training on a slice of People's Daily, with gensim
trained beside it, puts related words closer than random pairs; gensim's twin is trained once
per run and read back from the run folder after that; the pieces around it (pair stream, saved
vectors, predict, options) keep their promises."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dllab.config import load_recipe, load_resolved
from dllab.data.peoples_daily import parse_lines, peoples_daily_path
from dllab.errors import ConfigError
from dllab.experiment import build_task, evaluate_run, load_trained, predict, run_recipe
from dllab.models import gensim_twin
from dllab.models.pretrained import load_word_vectors
from dllab.tasks import create_task, word2vec
from dllab.tasks.word2vec import pair_batches
from dllab.train.trainer import Trainer

LINES = 4000  # the first 4,000 sentences (~230 k words, ~5 k words seen 5 times)
RELATED = [("改革", "开放"), ("江", "泽民"), ("美国", "日本"), ("金融", "银行"), ("北京", "上海")]
SHORT = [
    "train.max_epochs=2",
    "train.threads=1",
    "data.batch_size=2048",
    "optim.lr=50",  # word2vec's 0.025 per pair x 2048 pairs
    "task.gensim_twice=false",
]


def first_sentences(unit: str, data_dir: str | None = None) -> tuple[list[list[str]], str]:
    with open(peoples_daily_path(), encoding="utf-8") as f:
        corpus = parse_lines(islice(f, LINES))
    return [list(s.words) for s in corpus.sentences], corpus.summary()


@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> Iterator[Path]:
    """Two epochs on the slice, ours and gensim's (~20 s): one run shared by the tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(word2vec, "sentence_tokens", first_sentences)
        recipe = load_recipe("skipgram-peoples-daily", SHORT)
        root = tmp_path_factory.mktemp("word2vec")
        yield run_recipe(recipe, run_dir=root / "run", echo=lambda _: None, progress=False)


def centred_cosine(vectors: torch.Tensor, a: list[int], b: list[int]) -> torch.Tensor:
    """Cosine after removing the mean vector, which a short training leaves common to every
    word (so raw cosines of random pairs are ~0.98 here; Mu, Viswanath, "All-but-the-top",
    ICLR 2018)."""
    centred = vectors - vectors.mean(0)
    return F.cosine_similarity(centred[a], centred[b])


def test_related_words_end_up_closer_than_random_pairs(short_run: Path) -> None:
    tokens, vectors = load_word_vectors(short_run)
    index = {t: i for i, t in enumerate(tokens)}
    a, b = [index[x] for x, _ in RELATED], [index[y] for _, y in RELATED]
    related = centred_cosine(vectors, a, b)
    pairs = torch.randint(0, len(tokens), (2000, 2), generator=torch.Generator().manual_seed(0))
    random = centred_cosine(vectors, pairs[:, 0].tolist(), pairs[:, 1].tolist())
    assert related.mean() > random.mean() + 0.5, (related, random.mean())
    # And each partner is among the nearest 5 % of the vocabulary.
    unit = F.normalize(vectors - vectors.mean(0), dim=1)
    ranks = [int((unit @ unit[i] > unit[j] @ unit[i]).sum()) for i, j in zip(a, b, strict=True)]
    assert max(ranks) < 0.05 * len(tokens), ranks


def test_ours_learns_about_as_well_as_gensim_on_held_out_pairs(short_run: Path) -> None:
    test = json.loads((short_run / "summary.json").read_text())["test"]
    versus = json.loads((short_run / "vs_gensim.json").read_text())
    chance = 1 / 6  # the context against 5 noise words
    assert test["test/pair_accuracy"] > 1.5 * chance
    assert versus["gensim_pair_accuracy"] > 1.5 * chance
    assert test["test/loss"] < 1.1 * versus["gensim_loss"]  # gensim ran on the same pairs
    assert versus["neighbour_overlap"] > 0.2
    # The comparison's numbers for ours come from the same test pass as the summary's.
    assert versus["loss"] == pytest.approx(test["test/loss"], rel=1e-6)
    assert versus["pair_accuracy"] == pytest.approx(test["test/pair_accuracy"], rel=1e-6)
    assert (short_run / "gensim" / "vectors.bin").is_file()


def _no_gensim(*args, **kwargs):
    raise AssertionError("gensim was trained again")


def test_a_second_report_reads_gensim_back_instead_of_training_it(
    short_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(word2vec, "sentence_tokens", first_sentences)
    monkeypatch.setattr(gensim_twin, "train_gensim", _no_gensim)
    before = json.loads((short_run / "vs_gensim.json").read_text())
    task = build_task(load_resolved(short_run / "config.yaml"), resolved=True)
    task.setup()
    model, _ = load_trained(short_run)
    trainer = Trainer(device="cpu")
    trainer.task, trainer.model = task, model
    _, outputs = trainer.test(task.test_batches())
    task.visualize(model, short_run, outputs)  # the report again: gensim is read back
    after = json.loads((short_run / "vs_gensim.json").read_text())
    assert after.keys() == before.keys()
    for key, value in before.items():  # gensim's numbers and seconds read back, ours recomputed
        assert after[key] == (value if value is None else pytest.approx(value, rel=1e-6)), key


def test_eval_never_trains_gensim(short_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(word2vec, "sentence_tokens", first_sentences)
    monkeypatch.setattr(gensim_twin, "train_gensim", _no_gensim)
    summary = json.loads((short_run / "summary.json").read_text())["test"]
    metrics = evaluate_run(short_run)
    assert metrics["test/pair_accuracy"] == pytest.approx(summary["test/pair_accuracy"])


def test_vectors_bin_is_word2vec_format_that_gensim_reads(short_run: Path) -> None:
    from gensim.models import KeyedVectors

    tokens, vectors = load_word_vectors(short_run)
    kv = KeyedVectors.load_word2vec_format(str(short_run / "vectors.bin"), binary=True)
    assert kv.index_to_key == tokens
    assert torch.allclose(torch.from_numpy(kv.vectors), vectors)
    table = (short_run / "neighbours.md").read_text(encoding="utf-8")
    assert "| 中国 |" in table and "gensim" in table
    assert (short_run / "pca.png").stat().st_size > 10_000


def test_predict_prints_neighbours_and_survives_unknown_words(short_run: Path) -> None:
    known, unknown = predict(short_run, ["中国", "不存在的词"], top_k=3)
    assert known.source == "中国" and len(known.labels) == 3 and "中国" not in known.labels
    assert known.scores == sorted(known.scores, reverse=True)
    assert unknown.labels == [] and "not in the vocabulary" in (unknown.text or "")


def test_pair_stream_is_a_function_of_seed_and_epoch_and_resumes_exactly() -> None:
    ids = torch.arange(2, 402) % 50 + 2
    sentence = torch.arange(400) // 20
    keep = torch.full((52,), 0.9)
    noise = torch.ones(52) / 50
    noise[:2] = 0
    args = dict(keep=keep, noise=noise, window=3, negatives=4, batch_size=64, seed=7)
    a, b = pair_batches(ids, sentence, **args), pair_batches(ids, sentence, **args)
    full = list(a.epoch(1))
    assert len(full) == len(a) and all(x.shape[1] == 2 + 4 for x in full)
    assert all(torch.equal(x, y) for x, y in zip(full[3:], b.epoch(1, start=3), strict=True))
    assert not torch.equal(full[0], next(a.epoch(2)))  # a new epoch draws new pairs
    assert int(torch.cat(full)[:, 2:].min()) >= 2  # noise words are never specials
    assert all(torch.equal(x, y) for x, y in zip(full[5:], a.epoch(1, start=5), strict=True))
    ranks = [pair_batches(ids, sentence, **args, rank=r, world=2) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == -(-len(torch.cat(full)) // 128)
    assert not torch.equal(next(ranks[0].epoch(1)), next(ranks[1].epoch(1)))


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="task.unit: Input should be 'word' or 'char'"):
        create_task("word2vec", recipe=load_recipe("skipgram-peoples-daily", ["task.unit=pinyin"]))
    recipe = load_recipe("skipgram-peoples-daily", ["optim.name=adamw"])
    task = create_task("word2vec", recipe=recipe)
    task.vocab_ = list(range(10))
    with pytest.raises(ConfigError, match="sparse=true needs optim.name=sgd"):
        task.build_model()
