"""Word embeddings: skip-gram with negative sampling on the People's Daily text, and gensim's
`Word2Vec` trained beside it on the same sentences as the reference.

The corpus is already segmented into words; `unit: char` reads it one character a token
instead (vectors for initialising character-level models). Sentences are deduplicated, then
split at random (seeded) into train, validation and test sentences; the vocabulary is the
training tokens seen at least `min_count` times, as in word2vec.

Ours (`models/skipgram.py`) follows Mikolov et al. 2013: every epoch draws fresh training
pairs (subsampling of frequent words, a random window per centre word) and fresh noise words
from the unigram^0.75 distribution. gensim's `Word2Vec(sg=1, negative=K)` gets the same
sentences, window, size, min_count, sample and epochs, in the same run.

Metrics on held-out pairs (drawn once, with fixed noise words, from the held-out sentences),
for ours and for gensim's vectors on exactly the same pairs:

- `loss` / `gensim_loss`: the skip-gram negative-sampling loss per pair;
- `pair_accuracy` / `gensim_pair_accuracy`: how often the true context word outscores all
  its noise words (chance: 1 / (1 + negatives));
- `neighbour_overlap`: the share of each query word's 10 nearest neighbours (cosine) that ours
  and gensim's agree on, averaged over a fixed list of query words; `gensim_self_overlap` is
  the same between two gensim runs with different seeds: the agreement one can hope for.

Options live in `model.kwargs` beside the model's own (gensim's `Word2Vec` takes them as
model parameters too): `unit`, `window`, `negatives`, `min_count`, `sample`.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric, MetricCollection

from dllab.config import Recipe
from dllab.data.peoples_daily import dedupe, load_peoples_daily, peoples_daily_path
from dllab.data.text import Vocab, char_tokenize
from dllab.errors import ConfigError
from dllab.models import create_model
from dllab.models.skipgram import (
    SkipGramConfig,
    keep_probabilities,
    noise_distribution,
    skipgram_pairs,
)
from dllab.tasks import TASKS
from dllab.tasks.base import Prediction, SplitBatches, StepOutput
from dllab.train.batches import TensorBatches

# Query words for the neighbour tables and the overlap metric (all frequent in the corpus).
QUERIES = {
    "word": ("中国", "经济", "北京", "教育", "发展", "人民", "银行", "春节", "足球", "美国",
             "改革", "文化", "科技", "农民", "医院", "电影"),
    "char": ("国", "经", "京", "教", "春", "山", "水", "红", "父", "东", "说", "年", "月",
             "大", "好", "钱"),
}  # fmt: skip
# Word groups for the 2-D PCA picture.
GROUPS = {
    "word": {
        "cities": ("北京", "上海", "天津", "广州", "深圳", "香港", "重庆"),
        "countries": ("美国", "日本", "俄罗斯", "英国", "法国", "德国", "韩国"),
        "economy": ("经济", "市场", "企业", "投资", "金融", "银行", "贸易"),
        "sport": ("足球", "比赛", "运动员", "冠军", "体育", "球队"),
        "festivals": ("春节", "元旦", "新年", "节日", "除夕"),
    },
    "char": {
        "numerals": ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十"),
        "directions": ("东", "西", "南", "北"),
        "nature": ("山", "水", "河", "海", "江", "湖"),
        "family": ("父", "母", "儿", "女", "兄", "弟", "姐", "妹"),
        "colours": ("红", "黄", "蓝", "绿", "白", "黑"),
    },
}
HELD_OUT_PAIRS = 50_000  # at most this many pairs per held-out split: enough, and fast


@dataclass
class Word2VecOptions:
    unit: str = "word"  # "word": the corpus's segmentation; "char": one token a character
    window: int = 5  # largest distance of a context word (word2vec.c's default)
    negatives: int = 5  # noise words per pair (the paper: 5-20 for small corpora)
    min_count: int = 5  # rarer tokens are dropped from the text (word2vec.c's default)
    sample: float = 1e-3  # subsampling threshold t (word2vec.c's default); 0: keep all
    neighbours: int = 10  # nearest neighbours compared between ours and gensim
    gensim_twice: bool = True  # a second gensim run (seed + 1) for gensim_self_overlap

    def __post_init__(self) -> None:
        if self.unit not in ("word", "char"):
            raise ConfigError(f"model.kwargs.unit must be word or char, got {self.unit!r}")
        if self.window < 1 or self.negatives < 1 or self.min_count < 1 or self.neighbours < 1:
            raise ConfigError(
                "model.kwargs.window, negatives, min_count and neighbours must be >= 1"
            )


def split_options(kwargs: dict[str, Any]) -> tuple[Word2VecOptions, dict[str, Any]]:
    """`model.kwargs` -> (the task's options, the rest for the model builder)."""
    names = {f.name for f in fields(Word2VecOptions)}
    options = Word2VecOptions(**{k: v for k, v in kwargs.items() if k in names})
    return options, {k: v for k, v in kwargs.items() if k not in names}


# ---------------------------------------------------------------- corpus
def sentence_tokens(unit: str, data_dir: str | None = None) -> tuple[list[list[str]], str]:
    """Distinct People's Daily sentences as token lists (words or characters) and a one-line
    account of what was read."""
    corpus = load_peoples_daily(peoples_daily_path(data_dir))
    sentences = dedupe(corpus.sentences, key=lambda s: s.text)
    tokens = [list(s.words) if unit == "word" else char_tokenize(s.text) for s in sentences]
    note = f"{corpus.summary()}; {len(sentences)} distinct"
    return [t for t in tokens if t], note


def flatten(sentences: Sequence[Sequence[str]], vocab: Vocab) -> tuple[torch.Tensor, torch.Tensor]:
    """The sentences as one row of ids `(N,)` and each token's sentence number `(N,)`;
    tokens outside the vocabulary are removed (as word2vec does), not mapped to `<unk>`."""
    ids, sent = [], []
    for i, s in enumerate(sentences):
        known = [vocab.index[t] for t in s if t in vocab.index]
        ids.extend(known)
        sent.extend([i] * len(known))
    return torch.tensor(ids, dtype=torch.long), torch.tensor(sent, dtype=torch.long)


def nearest(
    vectors: torch.Tensor, queries: torch.Tensor, k: int, first: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarities and ids `(Q, k)` of the `k` nearest rows to each query id, among
    rows `first..V-1` (the specials before `first` are skipped), the query itself left out."""
    unit = F.normalize(vectors.float(), dim=1)  # (V, D)
    sims = unit[queries] @ unit.T  # (Q, V)
    sims[:, :first] = -2.0
    sims[torch.arange(len(queries)), queries] = -2.0
    return sims.topk(k, dim=1)


# ---------------------------------------------------------------- batches
class PairBatches:
    """Training batches of `(B, 2 + K)` ids: centre, context, then K noise words.

    Each epoch draws new pairs (subsampling and windows) and shuffles them with a generator
    seeded by (seed, epoch), and each batch draws its noise words from one seeded by (seed,
    epoch, batch); so the stream is a pure function of the seed and a resumed run continues
    it exactly. Every epoch has the same number of batches: the pair count of epoch 0 (other
    epochs differ by a fraction of a percent; they are cut or wrapped to it).
    """

    def __init__(
        self,
        ids: torch.Tensor,
        sentence: torch.Tensor,
        *,
        keep: torch.Tensor,
        noise: torch.Tensor,
        window: int,
        negatives: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.ids, self.sentence, self.keep, self.noise = ids, sentence, keep, noise
        self.window, self.negatives, self.batch_size = window, negatives, batch_size
        self.seed, self.rank, self.world = seed, rank, world
        self.pairs_per_epoch = len(self._pairs(0)[0])
        if self.pairs_per_epoch == 0:
            raise ConfigError(
                "the training text yields no skip-gram pairs; lower model.kwargs.min_count"
            )

    def _pairs(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        center, context = skipgram_pairs(self.ids, self.sentence, self.window, self.keep, g)
        order = torch.randperm(len(center), generator=g)
        return center[order], context[order]

    def __len__(self) -> int:
        return -(-self.pairs_per_epoch // (self.batch_size * self.world))

    def epoch(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        center, context = self._pairs(epoch)
        total = len(self) * self.batch_size * self.world
        take = torch.arange(total) % len(center)  # cut or wrap to the fixed length
        center, context = (
            center[take][self.rank :: self.world],
            context[take][self.rank :: self.world],
        )
        for b in range(start, len(self)):
            sl = slice(b * self.batch_size, (b + 1) * self.batch_size)
            g = torch.Generator().manual_seed((self.seed * 100_003 + epoch) * 1_000_003 + b)
            n = len(center[sl])
            noise = torch.multinomial(self.noise, n * self.negatives, True, generator=g)
            yield torch.cat(
                [center[sl, None], context[sl, None], noise.view(n, self.negatives)], dim=1
            )


def held_out_pairs(
    ids: torch.Tensor,
    sentence: torch.Tensor,
    opts: Word2VecOptions,
    keep: torch.Tensor,
    noise: torch.Tensor,
    seed: int,
) -> torch.Tensor:
    """One fixed draw of `(P, 2 + K)` held-out pairs with their noise words (P <= 50,000)."""
    g = torch.Generator().manual_seed(seed)
    center, context = skipgram_pairs(ids, sentence, opts.window, keep, g)
    pick = torch.randperm(len(center), generator=g)[:HELD_OUT_PAIRS]
    noise_ids = torch.multinomial(noise, len(pick) * opts.negatives, True, generator=g)
    return torch.cat(
        [center[pick, None], context[pick, None], noise_ids.view(len(pick), opts.negatives)], 1
    )


# ---------------------------------------------------------------- gensim
@dataclass
class GensimReference:
    """gensim's vectors laid out in our vocabulary's order, and what it cost."""

    vectors: torch.Tensor  # (V, D) input vectors; zero rows for our specials
    outputs: torch.Tensor  # (V, D) output (negative-sampling) vectors
    seconds: float  # training time of one gensim run
    neighbours: torch.Tensor  # (Q, k) neighbour ids of the query words
    self_overlap: float  # neighbour agreement between two gensim seeds (nan if one run)


def train_gensim(
    sentences: list[list[str]],
    vocab: Vocab,
    opts: Word2VecOptions,
    dim: int,
    epochs: int,
    seed: int,
    workers: int,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """gensim `Word2Vec(sg=1)` with our settings: (input vectors, output vectors, seconds),
    rows in `vocab`'s order."""
    from gensim.models import Word2Vec

    t0 = time.perf_counter()
    w2v = Word2Vec(
        sentences=sentences,
        vector_size=dim,
        window=opts.window,
        min_count=opts.min_count,
        sample=opts.sample,
        sg=1,
        hs=0,
        negative=opts.negatives,
        ns_exponent=0.75,
        epochs=epochs,
        seed=seed,
        workers=workers,
    )
    seconds = time.perf_counter() - t0
    theirs = w2v.wv.key_to_index
    missing = [t for t in vocab.tokens[2:] if t not in theirs]
    assert not missing, f"gensim's vocabulary lacks {missing[:5]}: min_count differs?"
    rows = torch.tensor([theirs.get(t, 0) for t in vocab.tokens])
    vin = torch.from_numpy(np.asarray(w2v.wv.vectors))[rows].clone()
    vout = torch.from_numpy(np.asarray(w2v.syn1neg))[rows].clone()
    vin[:2], vout[:2] = 0.0, 0.0  # <pad>, <unk>: gensim has no such rows
    return vin, vout, seconds


def overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean share of common ids between rows of two `(Q, k)` neighbour tables."""
    k = a.shape[1]
    return float(
        np.mean([len(set(x.tolist()) & set(y.tolist())) / k for x, y in zip(a, b, strict=True)])
    )


def pair_scores(vin: torch.Tensor, vout: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """`u_j . v_c` for each row of `x (B, 2 + K)` and its context and noise words: `(B, 1 + K)`."""
    return torch.einsum("bjd,bd->bj", vout[x[:, 1:]], vin[x[:, 0]])


def sgns_loss_and_hit(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pair SGNS loss from scores `(B, 1 + K)` (context first), and whether the context
    outscored every noise word."""
    loss = -F.logsigmoid(scores[:, 0]) - F.logsigmoid(-scores[:, 1:]).sum(1)
    hit = scores[:, 0] > scores[:, 1:].max(1).values
    return loss, hit.float()


# ---------------------------------------------------------------- metrics
class ColumnMean(Metric):
    """Mean of one column of `preds (B, C)` over every evaluated row."""

    full_state_update = False

    def __init__(self, column: int) -> None:
        super().__init__()
        self.column = column
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.total += preds[:, self.column].double().sum()
        self.count += preds.shape[0]

    def compute(self) -> torch.Tensor:
        return self.total / self.count.clamp(min=1)


COLUMNS = (
    "pair_accuracy",
    "gensim_loss",
    "gensim_pair_accuracy",
    "neighbour_overlap",
    "gensim_self_overlap",
)


# ---------------------------------------------------------------- the task
@TASKS.register("word2vec")
class Word2VecTask(SplitBatches):
    """Task for `dllab run` recipes that learn word (or character) vectors by skip-gram."""

    name = "word2vec"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        d, t = self.recipe.data, self.recipe.train
        self.options_, self.model_kwargs_ = split_options(dict(self.recipe.model.kwargs))
        opts = self.options_
        sentences, self.corpus_note_ = sentence_tokens(opts.unit, d.data_dir)
        order = torch.randperm(len(sentences), generator=torch.Generator().manual_seed(t.seed))
        n_test = round(len(sentences) * d.test_fraction)
        n_val = round(len(sentences) * d.val_fraction)
        parts = {
            "test": order[:n_test],
            "val": order[n_test : n_test + n_val],
            "train": order[n_test + n_val :],
        }
        self.sentences_ = {k: [sentences[i] for i in v.tolist()] for k, v in parts.items()}
        train = self.sentences_["train"]
        self.vocab_ = Vocab.build(train, min_freq=opts.min_count)
        if len(self.vocab_) < 3:
            raise ConfigError(
                f"no token occurs {opts.min_count} times in the training text; lower "
                "model.kwargs.min_count"
            )
        ids, sent = flatten(train, self.vocab_)
        counts = torch.bincount(ids, minlength=len(self.vocab_))  # specials: 0
        self.counts_ = counts
        self.keep_ = keep_probabilities(counts, opts.sample)
        self.noise_ = noise_distribution(counts)
        self.train_ids_ = (ids, sent)
        self.held_out_ = {
            split: held_out_pairs(
                *flatten(self.sentences_[split], self.vocab_),
                opts,
                self.keep_,
                self.noise_,
                seed=t.seed + i,
            )
            for i, split in enumerate(("val", "test"), start=1)
        }
        self.queries_ = torch.tensor(
            [self.vocab_.index[w] for w in QUERIES[opts.unit] if w in self.vocab_.index]
        )
        self.rank_, self.world_ = rank, world
        self.gensim_ = self._gensim(train)

    def _dim(self) -> int:
        return int(self.model_kwargs_.get("embed_dim", SkipGramConfig.embed_dim))

    def _gensim(self, train: list[list[str]]) -> GensimReference:
        t, opts = self.recipe.train, self.options_
        args = (train, self.vocab_, opts, self._dim(), t.max_epochs)
        vin, vout, seconds = train_gensim(*args, seed=t.seed, workers=t.threads or 1)
        k = min(opts.neighbours, len(self.vocab_) - 3)
        neighbours = nearest(vin, self.queries_, k)[1]
        self_overlap = float("nan")
        if opts.gensim_twice:
            other = train_gensim(*args, seed=t.seed + 1, workers=t.threads or 1)[0]
            self_overlap = overlap(neighbours, nearest(other, self.queries_, k)[1])
        return GensimReference(vin, vout, seconds, neighbours, self_overlap)

    def data_checksums(self) -> dict[str, str]:
        """sha256 of the corpus file this run read (for env.json)."""
        from dllab.data.checksum import read_content

        path = peoples_daily_path(self.recipe.data.data_dir)
        return {path.name: read_content(path)[1]}

    def _batches(self, split: str) -> PairBatches | TensorBatches:
        # Held-out splits are sharded for validation; the test split is evaluated once,
        # by one process, after training.
        if split != "train":
            return self._held_out_batches(split, shard=split == "val")
        o, t = self.options_, self.recipe.train
        return PairBatches(
            *self.train_ids_,
            keep=self.keep_,
            noise=self.noise_,
            window=o.window,
            negatives=o.negatives,
            batch_size=self.recipe.data.batch_size,
            seed=t.seed,
            rank=self.rank_,
            world=self.world_,
        )

    def _held_out_batches(self, split: str, shard: bool) -> TensorBatches:
        x = self.held_out_[split]
        g = self.gensim_
        theirs = torch.stack(sgns_loss_and_hit(pair_scores(g.vectors, g.outputs, x)), dim=1)
        return TensorBatches(
            x,
            theirs,  # (P, 2): gensim's loss and hit on the same pairs
            batch_size=self.recipe.data.eval_batch_size,
            shuffle=False,
            rank=self.rank_ if shard else 0,
            world=self.world_ if shard else 1,
        )

    # ------------------------------------------------------------ model and steps
    def build_model(self) -> nn.Module:
        if self.model_kwargs_.get("sparse") and self.recipe.optim.name != "sgd":
            raise ConfigError(
                f"model.kwargs.sparse=true needs optim.name=sgd ({self.recipe.optim.name} "
                "cannot take sparse gradients); set model.kwargs.sparse=false for it"
            )
        return create_model(
            self.recipe.model.name, vocab_size=len(self.vocab_), **self.model_kwargs_
        )

    def training_step(self, model: nn.Module, batch: torch.Tensor) -> StepOutput:
        loss = model(batch[:, 0], batch[:, 1], batch[:, 2:]).mean()
        return StepOutput(loss=loss)

    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput:
        x, theirs = batch  # (B, 2 + K), (B, 2)
        bare = getattr(model, "module", model)
        loss, hit = sgns_loss_and_hit(bare.scores(x[:, 0], x[:, 1:]))
        k = self.gensim_.neighbours.shape[1]
        ours = nearest(bare.vectors.detach(), self.queries_.to(x.device), k)[1].cpu()
        agree = overlap(ours, self.gensim_.neighbours)
        constants = torch.tensor([agree, self.gensim_.self_overlap], device=x.device)
        preds = torch.cat([hit[:, None], theirs, constants.expand(len(x), 2)], dim=1)
        return StepOutput(loss=loss.mean(), preds=preds, target=loss.detach())

    def metrics(self) -> MetricCollection:
        return MetricCollection(
            {name: ColumnMean(i) for i, name in enumerate(COLUMNS)}, compute_groups=False
        )

    # ------------------------------------------------------------ serving
    def model_metadata(self) -> dict[str, Any]:
        """What `predict` needs: the model's sizes, the vocabulary and the options."""
        return {
            "task": self.name,
            "model": self.recipe.model.name,
            "model_kwargs": {"vocab_size": len(self.vocab_), **self.model_kwargs_},
            "vocab": self.vocab_.tokens,
            "options": asdict(self.options_),
            "dataset": self.recipe.data.name,
            "recipe": self.recipe.name,
        }

    def example_input(self) -> torch.Tensor:
        return torch.zeros(1, 2 + self.options_.negatives, dtype=torch.long)

    def predict(self, model: nn.Module, inputs: list[str], top_k: int = 5) -> list[Prediction]:
        return predict_neighbours(model, self.model_metadata(), inputs, top_k)

    @staticmethod
    def model_from_metadata(meta: dict[str, Any]) -> nn.Module:
        """Rebuild the (untrained) model a checkpoint's metadata describes."""
        return create_model(meta["model"], **meta["model_kwargs"])

    @staticmethod
    def predict_with(
        model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """Nearest neighbours of each input word, from the saved vectors alone."""
        return predict_neighbours(model, meta, inputs, top_k)

    # ------------------------------------------------------------ pictures and files
    def visualize(
        self, model: nn.Module, run_dir: Path, device: torch.device | None = None
    ) -> list[Path]:
        """neighbours.md and .csv (ours beside gensim's), pca.png, and vectors.bin (our
        vectors in word2vec's binary format, which gensim's `KeyedVectors` reads)."""
        ours = model.vectors.detach().float().cpu()
        k = self.gensim_.neighbours.shape[1]
        sims, ids = nearest(ours, self.queries_, k)
        g_sims, g_ids = nearest(self.gensim_.vectors, self.queries_, k)
        rows = {
            "queries": [self.vocab_.tokens[i] for i in self.queries_.tolist()],
            "ours": (ids, sims),
            "gensim": (g_ids, g_sims),
        }
        seconds = {"ours": _train_seconds(run_dir), "gensim": self.gensim_.seconds}
        paths = [
            self._write_neighbours_md(rows, seconds, run_dir / "neighbours.md"),
            self._write_neighbours_csv(rows, run_dir / "neighbours.csv"),
        ]
        from dllab.viz.embeddings import plot_word_groups

        groups = {
            name: [w for w in words if w in self.vocab_.index]
            for name, words in GROUPS[self.options_.unit].items()
        }
        index = {w: self.vocab_.index[w] for ws in groups.values() for w in ws}
        paths.append(
            plot_word_groups(
                {"ours (skip-gram)": ours, "gensim Word2Vec": self.gensim_.vectors},
                index,
                groups,
                run_dir / "pca.png",
                title=f"People's Daily {self.options_.unit} vectors, 2-D PCA of a few groups",
            )
        )
        paths.append(
            write_word2vec_binary(self.vocab_.tokens[2:], ours[2:], run_dir / "vectors.bin")
        )
        return paths

    def _write_neighbours_md(
        self, rows: dict[str, Any], seconds: dict[str, float | None], path: Path
    ) -> Path:
        ids, sims = rows["ours"]
        g_ids, g_sims = rows["gensim"]
        tok = self.vocab_.tokens
        o = self.options_
        ours_s = f"{seconds['ours']:.1f} s" if seconds["ours"] is not None else "?"
        lines = [
            f"# Nearest neighbours ({o.unit} vectors, cosine), ours beside gensim",
            "",
            f"- corpus: People's Daily 1998-01, {self.corpus_note_}; "
            f"{sum(len(s) for s in self.sentences_['train']):,} training tokens, "
            f"vocabulary {len(self.vocab_) - 2:,} (min_count {o.min_count})",
            f"- both: skip-gram, negative sampling ({o.negatives} noise words, unigram^0.75), "
            f"window {o.window}, size {self._dim()}, sample {o.sample}, "
            f"{self.recipe.train.max_epochs} epochs",
            f"- training time: ours {ours_s} (PyTorch, mini-batches of "
            f"{self.recipe.data.batch_size} pairs), gensim {seconds['gensim']:.1f} s "
            f"({self.recipe.train.threads or 1} worker threads)",
            f"- neighbour overlap (top {ids.shape[1]}): ours vs gensim "
            f"{overlap(ids, g_ids):.3f}; gensim vs gensim with another seed "
            f"{self.gensim_.self_overlap:.3f}",
            "",
            "| word | ours | gensim | common |",
            "|---|---|---|---|",
        ]
        for q, a, sa, b, sb in zip(rows["queries"], ids, sims, g_ids, g_sims, strict=True):
            common = len(set(a.tolist()) & set(b.tolist()))
            mine = " ".join(
                f"{tok[i]} {s:.2f}" for i, s in zip(a.tolist(), sa.tolist(), strict=True)
            )
            theirs = " ".join(
                f"{tok[i]} {s:.2f}" for i, s in zip(b.tolist(), sb.tolist(), strict=True)
            )
            lines.append(f"| {q} | {mine} | {theirs} | {common} |")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def _write_neighbours_csv(self, rows: dict[str, Any], path: Path) -> Path:
        tok = self.vocab_.tokens
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["query", "rank", "ours", "ours_cosine", "gensim", "gensim_cosine"])
            ids, sims = rows["ours"]
            g_ids, g_sims = rows["gensim"]
            for q, a, sa, b, sb in zip(rows["queries"], ids, sims, g_ids, g_sims, strict=True):
                for r in range(len(a)):
                    w.writerow([q, r + 1, tok[a[r]], f"{sa[r]:.4f}", tok[b[r]], f"{sb[r]:.4f}"])
        return path


def _train_seconds(run_dir: Path) -> float | None:
    """Training seconds at the last record of the run's metrics.jsonl (None if absent)."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return None
    last = None
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            last = json.loads(line).get("time", last)
    return last


def write_word2vec_binary(tokens: list[str], vectors: torch.Tensor, path: Path) -> Path:
    """word2vec.c's binary format: a header line `V D`, then per word its UTF-8 bytes, a
    space and D little-endian float32. `gensim.models.KeyedVectors.load_word2vec_format(path,
    binary=True)` reads it."""
    data = vectors.float().numpy().astype("<f4")
    with path.open("wb") as f:
        f.write(f"{len(tokens)} {data.shape[1]}\n".encode())
        for token, row in zip(tokens, data, strict=True):
            f.write(token.encode("utf-8") + b" " + row.tobytes() + b"\n")
    return path


@torch.no_grad()
def predict_neighbours(
    model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
) -> list[Prediction]:
    """The `top_k` nearest neighbours (cosine) of each input token; an unknown token gets a
    text saying so, not an error, so one typo does not lose a list of words."""
    from dllab.data.text import read_text_inputs

    vocab = Vocab(meta["vocab"])
    vectors = model.vectors.detach().float().cpu()
    out = []
    for word in read_text_inputs(inputs):
        if word not in vocab.index or vocab.index[word] < 2:
            out.append(
                Prediction(
                    source=word,
                    text=f"{word!r} is not in the vocabulary ({len(vocab) - 2:,} "
                    f"{meta['options']['unit']}s seen >= {meta['options']['min_count']} times)",
                )
            )
            continue
        k = min(top_k, len(vocab) - 3)
        sims, ids = nearest(vectors, torch.tensor([vocab.index[word]]), k)
        out.append(
            Prediction(source=word, labels=vocab.decode(ids[0].tolist()), scores=sims[0].tolist())
        )
    return out
