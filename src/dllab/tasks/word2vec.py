"""Word embeddings: skip-gram with negative sampling on the People's Daily text, with gensim's
`Word2Vec` trained on the same sentences as the reference.

The corpus is already segmented into words; `unit: char` reads it one character a token
instead (vectors for initialising character-level models). Sentences are deduplicated, then
split at random (seeded) into train, validation and test sentences; the vocabulary is the
training tokens seen at least `min_count` times, as in word2vec.

Ours (`models/skipgram.py`) follows Mikolov et al. 2013: every epoch draws fresh training
pairs (subsampling of frequent words, a random window per centre word) and fresh noise words
from the unigram^0.75 distribution. Metrics on held-out pairs (drawn once, with fixed noise
words, from the held-out sentences): `loss`, the skip-gram negative-sampling loss per pair,
and `pair_accuracy`, how often the true context word outscores all its noise words (chance:
1 / (1 + negatives)).

gensim's twin (`models/gensim_twin.py`: `Word2Vec(sg=1, negative=K)` with the same sentences,
window, size, min_count, sample and epochs) is trained once per run, by the main process, when
the report first needs it (`visualize`, which alone knows the run folder), and kept in the
run's `gensim/` folder; a later report reads it back. Training, validation and `dllab eval`
never need it. The report compares the two on the same held-out test pairs (`vs_gensim.json`,
neighbours.md): gensim's `loss` and `pair_accuracy`, `neighbour_overlap` (the share of each
query word's nearest neighbours, cosine, that ours and gensim's agree on) and
`gensim_self_overlap` (the same between two gensim runs with different seeds: the agreement
one can hope for).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn
from torchmetrics import Metric, MetricCollection

from dllab.data.checksum import read_content
from dllab.data.peoples_daily import peoples_daily_path
from dllab.data.text import Vocab, read_text_inputs
from dllab.data.word_corpus import flatten, sentence_tokens
from dllab.errors import ConfigError
from dllab.models.gensim_twin import GensimReference, GensimSettings, gensim_reference
from dllab.models.skipgram import (
    SkipGramConfig,
    keep_probabilities,
    noise_distribution,
    skipgram_pairs,
)
from dllab.models.word_vectors import nearest, overlap, sgns_loss_and_hit
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask, Prediction, StepOutput, TaskOptions, cat_outputs
from dllab.train.batches import IndexBatches, epoch_order

__all__ = ["SkipGramPairs", "Word2VecOptions", "Word2VecTask", "pair_batches"]

HELD_OUT_PAIRS = 50_000  # at most this many pairs per held-out split: enough, and fast


class Word2VecOptions(TaskOptions):
    """The recipe's `task:` section for `word2vec` (gensim's twin takes the same settings)."""

    unit: Literal["word", "char"] = "word"  # the corpus's segmented words, or characters
    window: int = Field(5, ge=1)  # largest distance of a context word (word2vec.c's default)
    negatives: int = Field(5, ge=1)  # noise words per pair (the paper: 5-20 for small corpora)
    min_count: int = Field(5, ge=1)  # rarer tokens are dropped from the text (word2vec.c's)
    sample: float = Field(1e-3, ge=0)  # subsampling threshold t (word2vec.c's); 0: keep all
    neighbours: int = Field(10, ge=1)  # nearest neighbours compared between ours and gensim
    gensim_twice: bool = True  # a second gensim run (seed + 1) for gensim_self_overlap


# ---------------------------------------------------------------- batches
class SkipGramPairs:
    """The training stream, `plan(epoch)` + `collate(items)` for `IndexBatches`: batches of
    `(B, 2 + K)` ids, centre, context, then K noise words.

    Each epoch draws new pairs (subsampling and windows) and shuffles them with a generator
    seeded by (seed, epoch), and each batch draws its noise words from one seeded by (seed,
    epoch, batch); so the stream is a pure function of the seed and a resumed run continues
    it exactly. Every epoch has the same number of batches: the pair count of epoch 0 (other
    epochs differ by a fraction of a percent; they are cut or wrapped to it). Item
    `e * per_rank + i` is this rank's `i`-th pair of epoch `e`.
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
        pairs_per_epoch = len(self._pairs(0)[0])
        if pairs_per_epoch == 0:
            raise ConfigError("the training text yields no skip-gram pairs; lower task.min_count")
        self.batches = -(-pairs_per_epoch // (batch_size * world))
        self.per_rank = self.batches * batch_size  # pairs of an epoch on this rank
        self.epoch_: tuple[int, torch.Tensor, torch.Tensor] | None = None  # the last drawn

    def _pairs(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        center, context = skipgram_pairs(self.ids, self.sentence, self.window, self.keep, g)
        order = torch.randperm(len(center), generator=g)
        return center[order], context[order]

    def plan(self, epoch: int) -> list[torch.Tensor]:
        start = epoch * self.per_rank
        return list(torch.arange(start, start + self.per_rank).split(self.batch_size))

    def collate(self, items: torch.Tensor) -> torch.Tensor:
        epoch, first = divmod(int(items[0]), self.per_rank)
        if self.epoch_ is None or self.epoch_[0] != epoch:
            center, context = self._pairs(epoch)
            take = torch.arange(self.per_rank * self.world) % len(center)  # cut or wrap
            take = take[self.rank :: self.world]
            self.epoch_ = (epoch, center[take], context[take])
        _, center, context = self.epoch_
        at, n = items - epoch * self.per_rank, len(items)
        b = first // self.batch_size
        g = torch.Generator().manual_seed((self.seed * 100_003 + epoch) * 1_000_003 + b)
        noise = torch.multinomial(self.noise, n * self.negatives, True, generator=g)
        return torch.cat([center[at, None], context[at, None], noise.view(n, -1)], dim=1)


def pair_batches(ids: torch.Tensor, sentence: torch.Tensor, **kwargs: Any) -> IndexBatches:
    """The training pairs as a batch stream (`SkipGramPairs`' arguments)."""
    pairs = SkipGramPairs(ids, sentence, **kwargs)
    return IndexBatches(pairs.plan, pairs.collate, length=pairs.batches)


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


# ---------------------------------------------------------------- metrics
class PairMean(Metric):
    """Mean of `preds (B,)` over every evaluated pair."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.total += preds.double().sum()
        self.count += preds.shape[0]

    def compute(self) -> torch.Tensor:
        return self.total / self.count.clamp(min=1)


# ---------------------------------------------------------------- the task
@TASKS.register("word2vec")
class Word2VecTask(BaseTask):
    """Task for `dllab run` recipes that learn word (or character) vectors by skip-gram."""

    name = "word2vec"
    metric_names = ("pair_accuracy",)
    Options = Word2VecOptions
    options: Word2VecOptions
    not_exportable = (
        "word2vec runs hold embedding tables, not a model to run; read the vectors from the "
        "run folder"
    )

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        d, t, opts = self.recipe.data, self.recipe.train, self.options
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
        self.vocab_ = Vocab.build(self.sentences_["train"], min_freq=opts.min_count)
        if len(self.vocab_) < 3:
            raise ConfigError(
                f"no token occurs {opts.min_count} times in the training text; lower task.min_count"
            )
        self.train_ids_ = flatten(self.sentences_["train"], self.vocab_)
        counts = torch.bincount(self.train_ids_[0], minlength=len(self.vocab_))  # specials: 0
        self.keep_ = keep_probabilities(counts, opts.sample)
        self.noise_ = noise_distribution(counts)
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
        self.rank_, self.world_ = rank, world

    def data_checksums(self) -> dict[str, str]:
        """sha256 of the corpus file this run read (for env.json)."""
        path = peoples_daily_path(self.recipe.data.data_dir)
        return {path.name: read_content(path)[1]}

    def _batches(self, split: str) -> IndexBatches:
        o, rank, world = self.options, *self.shard(split)
        if split == "train":
            return pair_batches(
                *self.train_ids_,
                keep=self.keep_,
                noise=self.noise_,
                window=o.window,
                negatives=o.negatives,
                batch_size=self.recipe.data.batch_size,
                seed=self.recipe.train.seed,
                rank=rank,
                world=world,
            )
        x, size = self.held_out_[split], self.recipe.data.eval_batch_size

        def plan(epoch: int) -> list[torch.Tensor]:  # in order, every pair once
            order = epoch_order(len(x), seed=0, epoch=epoch, shuffle=False, rank=rank, world=world)
            return list(order.split(size))

        return IndexBatches(plan, lambda idx: x[idx])

    # ------------------------------------------------------------ model and steps
    def model_kwargs(self) -> dict[str, Any]:
        return {"vocab_size": len(self.vocab_), **self.recipe.model.kwargs}

    def build_model(self) -> nn.Module:
        if self.recipe.model.kwargs.get("sparse") and self.recipe.optim.name != "sgd":
            raise ConfigError(
                f"model.kwargs.sparse=true needs optim.name=sgd ({self.recipe.optim.name} "
                "cannot take sparse gradients); set model.kwargs.sparse=false for it"
            )
        return super().build_model()

    def training_step(self, model: nn.Module, batch: torch.Tensor) -> StepOutput:
        loss = model(batch[:, 0], batch[:, 1], batch[:, 2:]).mean()
        return StepOutput(loss=loss)

    def validation_step(self, model: nn.Module, batch: torch.Tensor) -> StepOutput:
        bare = getattr(model, "module", model)  # (B, 2 + K): centre, context, noise words
        loss, hit = sgns_loss_and_hit(bare.scores(batch[:, 0], batch[:, 1:]))
        return StepOutput(loss=loss.mean(), preds=hit, target=loss.detach())

    def test_step(self, model: nn.Module, batch: torch.Tensor) -> StepOutput:
        """The validation step, keeping each pair's loss and hit for the comparison."""
        out = self.validation_step(model, batch)
        out.outputs = {"loss": out.target.float().cpu(), "hit": out.preds.cpu()}
        return out

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({"pair_accuracy": PairMean()})

    # ------------------------------------------------------------ serving
    def metadata(self) -> dict[str, Any]:
        """The vocabulary; the corpus read whatever `data.name` says."""
        return {"vocab": self.vocab_.tokens, "dataset": "peoples-daily"}

    @classmethod
    def predict_with(
        cls, model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """The `top_k` nearest neighbours (cosine) of each input token; an unknown token gets a
        text saying so, not an error, so one typo does not lose a list of words."""
        vocab = Vocab(meta["vocab"])
        opts = meta.get("task_options") or meta["options"]  # "options": older runs
        vectors = model.vectors.detach().float().cpu()
        out = []
        for word in read_text_inputs(inputs):
            if word not in vocab.index or vocab.index[word] < 2:
                known = f"{len(vocab) - 2:,} {opts['unit']}s seen >= {opts['min_count']} times"
                text = f"{word!r} is not in the vocabulary ({known})"
                out.append(Prediction(source=word, text=text))
                continue
            k = min(top_k, len(vocab) - 3)
            sims, ids = nearest(vectors, torch.tensor([vocab.index[word]]), k)
            labels = vocab.decode(ids[0].tolist())
            out.append(Prediction(source=word, labels=labels, scores=sims[0].tolist()))
        return out

    # ------------------------------------------------------------ gensim and pictures
    def _queries(self) -> torch.Tensor:
        """Ids of the report's query words that the vocabulary holds."""
        from dllab.viz.word2vec_report import QUERIES

        index = self.vocab_.index
        return torch.tensor([index[w] for w in QUERIES[self.options.unit] if w in index])

    def gensim(self, run_dir: Path) -> GensimReference:
        """gensim's twin of this run, kept in `run_dir/gensim/` (trained there the first
        time, by the one process that writes the report; read back after that)."""
        t, o = self.recipe.train, self.options
        settings = GensimSettings(
            self._dim(), o.window, o.negatives, o.min_count, o.sample, t.max_epochs, t.seed,
            workers=t.threads or 1, twice=o.gensim_twice,
        )  # fmt: skip
        return gensim_reference(
            run_dir / "gensim",
            self.sentences_["train"],
            self.vocab_.tokens,
            settings,
            pairs=self.held_out_["test"],
            queries=self._queries(),
            k=self._top(),
        )

    def _dim(self) -> int:
        return int(self.recipe.model.kwargs.get("embed_dim", SkipGramConfig.embed_dim))

    def _top(self) -> int:
        return min(self.options.neighbours, len(self.vocab_) - 3)

    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """vs_gensim.json (ours and gensim's twin on the same test pairs and query words),
        neighbours.md and .csv (side by side), pca.png, and vectors.bin (our vectors in
        word2vec's binary format, which gensim reads)."""
        from dllab.data.word2vec_format import write_word2vec_binary
        from dllab.viz import word2vec_report as report
        from dllab.viz.embeddings import plot_word_groups

        ref, o, t, tok = self.gensim(run_dir), self.options, self.recipe.train, self.vocab_.tokens
        ours, queries, k = model.vectors.detach().float().cpu(), self._queries(), self._top()
        mine, theirs = nearest(ours, queries, k), nearest(ref.vectors, queries, k)
        test = cat_outputs(outputs)  # each test pair's loss and hit, in order
        compare = {
            "pairs": len(self.held_out_["test"]),
            "loss": float(test["loss"].double().mean()) if test else None,
            "pair_accuracy": float(test["hit"].double().mean()) if test else None,
            **{f"gensim_{name}": value for name, value in ref.scores.items()},
            "top": k,
            "neighbour_overlap": overlap(mine[1], theirs[1]),
            "gensim_self_overlap": None if math.isnan(ref.self_overlap) else ref.self_overlap,
            "train_seconds": report.train_seconds(run_dir),
            "gensim_seconds": ref.seconds,
        }
        paths = [run_dir / "vs_gensim.json"]
        paths[0].write_text(json.dumps(compare, indent=2), encoding="utf-8")
        notes = [
            f"corpus: People's Daily 1998-01, {self.corpus_note_}; "
            f"{sum(len(s) for s in self.sentences_['train']):,} training tokens, "
            f"vocabulary {len(self.vocab_) - 2:,} (min_count {o.min_count})",
            f"both: skip-gram, negative sampling ({o.negatives} noise words, unigram^0.75), "
            f"window {o.window}, size {self._dim()}, sample {o.sample}, {t.max_epochs} epochs",
            *report.comparison_notes(compare, self.recipe.data.batch_size, t.threads or 1),
        ]
        words = [tok[i] for i in queries.tolist()]
        table = (mine[1], mine[0]), (theirs[1], theirs[0])
        title = f"Nearest neighbours ({o.unit} vectors, cosine), ours beside gensim"
        md = report.write_neighbours_md(title, notes, words, tok, *table, run_dir / "neighbours.md")
        paths += [md, report.write_neighbours_csv(words, tok, *table, run_dir / "neighbours.csv")]
        groups = {
            name: [w for w in group if w in self.vocab_.index]
            for name, group in report.GROUPS[o.unit].items()
        }
        index = {w: self.vocab_.index[w] for ws in groups.values() for w in ws}
        paths.append(
            plot_word_groups(
                {"ours (skip-gram)": ours, "gensim Word2Vec": ref.vectors},
                index,
                groups,
                run_dir / "pca.png",
                title=f"People's Daily {o.unit} vectors, 2-D PCA of a few groups",
            )
        )
        paths.append(write_word2vec_binary(tok[2:], ours[2:], run_dir / "vectors.bin"))
        return paths
