"""Named-entity recognition: Chinese characters in, persons, places and organisations out.

The People's Daily corpus (`data/peoples_daily.py`) becomes one BIO tag per character
(`data/bio.py`). Repeated sentences are removed *before* splitting, so no test sentence is
also a training sentence; a seeded permutation then holds out `data.test_fraction` for the
test and `data.val_fraction` for validation. The character vocabulary (and the optional
character-bigram one, `data/ner_text.py`) is built on the training part alone; rarer than
`task.min_freq` is `<unk>`.

Batches hold sentences of similar length (shuffled, then sorted by length within chunks of 50
batches), so a batch is padded little and the LSTM runs few wasted steps (`TagBatch`).

Metrics are entity-level, as seqeval counts them (an entity is right only if its type and
both ends are): `precision`, `recall`, `f1` over all types (micro) and `f1_PER`, `f1_LOC`,
`f1_ORG` etc. per type. The one test pass keeps its decoded tags for the report
(`viz/ner_report.py`: per_type.csv, per_type.png, examples.md).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, NamedTuple

import torch
from pydantic import Field
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from torchmetrics import Metric, MetricCollection

from dllab.data.bio import TAGS, Entity, entity_counts, tags_to_entities, to_bio
from dllab.data.checksum import digest_content
from dllab.data.ner_text import bigrams, encode_text, format_entities, normalize_text
from dllab.data.peoples_daily import dedupe, load_peoples_daily, peoples_daily_path
from dllab.data.text import Vocab, fit_to_context, read_text_inputs
from dllab.errors import ConfigError
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask, Prediction, StepOutput, TaskOptions
from dllab.train.batches import IndexBatches, length_buckets, shard_batches, sorted_batches

__all__ = ["EntityF1", "NEROptions", "NERTask", "TagBatch", "tag_batches"]

PAD_TAG = -1


class NEROptions(TaskOptions):
    """The recipe's `task:` section for `ner`."""

    min_freq: int = Field(2, ge=1)  # characters seen fewer times in training are <unk>
    bigram_min_freq: int = Field(0, ge=0)  # bigrams kept if seen this often; 0: no bigram input
    max_len: int = Field(1024, ge=1)  # longest text `predict` reads (corpus max: 1019)


# ---------------------------------------------------------------- batches
class TagBatch(NamedTuple):
    """Sentences of similar length, padded on the right."""

    chars: torch.Tensor  # (B, T) character ids, 0 at padding
    bigrams: torch.Tensor  # (B, T) bigram ids (all 0 without bigram input)
    lengths: torch.Tensor  # (B,)
    tags: torch.Tensor  # (B, T) tag ids, -1 at padding
    index: torch.Tensor  # (B,) positions in the split: the report restores corpus order


def tag_batches(
    chars: list[torch.Tensor],
    bigram_ids: list[torch.Tensor],
    tags: list[torch.Tensor],
    *,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    chunk: int = 50,
    rank: int = 0,
    world: int = 1,
) -> IndexBatches:
    """Length-bucketed `TagBatch`es in an order that is a pure function of (seed, epoch).

    Training: shuffle, sort by length within chunks of `chunk` batches, shuffle the batches
    (one generator for both shuffles). Evaluation: sorted by length. Under DDP each rank takes
    every `world`-th batch.
    """
    lengths = torch.tensor([len(c) for c in chars])  # (N,)

    def plan(epoch: int) -> list[torch.Tensor]:
        if not shuffle:
            batches = sorted_batches(lengths, batch_size)
        else:
            g = torch.Generator().manual_seed(seed * 100_003 + epoch)
            order = torch.randperm(len(chars), generator=g)
            batches = length_buckets(
                order, lengths, batch_size=batch_size, window=chunk, generator=g
            )
        return shard_batches(batches, rank=rank, world=world)

    def collate(idx: torch.Tensor) -> TagBatch:
        rows = idx.tolist()
        return TagBatch(
            chars=pad_sequence([chars[i] for i in rows], batch_first=True),
            bigrams=pad_sequence([bigram_ids[i] for i in rows], batch_first=True),
            lengths=lengths[idx],
            tags=pad_sequence([tags[i] for i in rows], batch_first=True, padding_value=PAD_TAG),
            index=idx,
        )

    length = math.ceil(math.ceil(len(chars) / batch_size) / world)
    return IndexBatches(plan, collate, length=length)


# ---------------------------------------------------------------- metric
def _to_tag_lists(ids: torch.Tensor, lengths: torch.Tensor) -> list[list[str]]:
    return [[TAGS[i] for i in seq] for seq in ids.long().split(lengths.tolist())]


KINDS = sorted({t[2:] for t in TAGS if t != "O"})  # entity types: LOC, ORG, PER


class EntityF1(Metric):
    """Entity-level precision, recall and F1 (seqeval), overall (micro) and per type.

    `update(preds (B, T), target (B, T))`: tag ids, target -1 at padding (preds there are
    ignored). `compute()` -> {"precision", "recall", "f1", "precision_PER", …, "f1_ORG"}.
    """

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("preds", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")
        self.add_state("lengths", default=[], dist_reduce_fx="cat")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        real = target >= 0  # (B, T); right-padded, so a row's real tags come first
        self.preds.append(preds[real].long())
        self.target.append(target[real].long())
        self.lengths.append(real.sum(1))

    def compute(self) -> dict[str, torch.Tensor]:
        from seqeval.metrics import classification_report

        cat = lambda xs: torch.cat(xs) if isinstance(xs, list) else xs  # noqa: E731
        lengths = cat(self.lengths).cpu()
        y_true = _to_tag_lists(cat(self.target).cpu(), lengths)
        y_pred = _to_tag_lists(cat(self.preds).cpu(), lengths)
        report = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
        micro = report["micro avg"]
        out = {k: micro[k] for k in ("precision", "recall")}
        out["f1"] = micro["f1-score"]
        for kind in KINDS:
            row = report.get(kind, {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
            out[f"precision_{kind}"] = row["precision"]
            out[f"recall_{kind}"] = row["recall"]
            out[f"f1_{kind}"] = row["f1-score"]
        return {k: torch.tensor(float(v)) for k, v in out.items()}


# ---------------------------------------------------------------- the task
@TASKS.register("ner")
class NERTask(BaseTask):
    """Task for `dllab run` recipes that tag entities in the People's Daily corpus."""

    name = "ner"
    metric_names = (
        "precision",
        "recall",
        "f1",
        *(f"{score}_{kind}" for kind in KINDS for score in ("precision", "recall", "f1")),
    )
    Options = NEROptions
    options: NEROptions
    not_exportable = (
        "NER decodes its tag scores with the CRF's Viterbi search, which one forward pass does "
        "not capture: `dllab export` writes the emissions graph and runs Viterbi beside it"
    )

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1, path: str | Path | None = None) -> None:
        d, opts = self.recipe.data, self.options
        if d.name != "peoples-daily":
            raise ConfigError(f"task ner reads data.name 'peoples-daily', got {d.name!r}")
        self.path_ = Path(path) if path is not None else peoples_daily_path(d.data_dir)
        corpus = load_peoples_daily(self.path_)
        sentences = dedupe(corpus.sentences, key=lambda s: s.text)
        self.counts_ = {
            "lines": corpus.lines,
            "malformed_tokens": corpus.malformed_tokens,
            "sentences": len(corpus.sentences),
            "duplicates_removed": len(corpus.sentences) - len(sentences),
            **entity_counts((s.words, s.tags) for s in sentences),
        }
        g = torch.Generator().manual_seed(self.recipe.split_seed)
        perm = torch.randperm(len(sentences), generator=g).tolist()
        n_test = round(len(sentences) * d.test_fraction)
        n_val = round(len(sentences) * d.val_fraction)
        if len(sentences) - n_test - n_val < 1 or n_test < 1 or n_val < 1:
            raise ConfigError(
                f"{len(sentences)} sentences cannot give a training, validation and test part "
                f"with val_fraction={d.val_fraction}, test_fraction={d.test_fraction}"
            )
        parts = {
            "test": perm[:n_test],
            "val": perm[n_test : n_test + n_val],
            "train": perm[n_test + n_val :],
        }
        self.texts_ = {
            k: [to_bio(sentences[i].words, sentences[i].tags) for i in v] for k, v in parts.items()
        }
        train_texts = [t for t, _ in self.texts_["train"]]
        self.vocab_ = Vocab.build(train_texts, min_freq=opts.min_freq)
        self.bigram_vocab_ = (
            Vocab.build((bigrams(t) for t in train_texts), min_freq=opts.bigram_min_freq)
            if opts.bigram_min_freq
            else None
        )
        for k in ("train", "val", "test"):
            self.counts_[k] = len(parts[k])
        self.counts_["test_unknown_chars"] = round(
            self.vocab_.unknown_rate(t for t, _ in self.texts_["test"]), 5
        )
        self.rank_, self.world_ = rank, world
        if rank == 0:
            c = self.counts_
            print(
                f"ner: {c['sentences']} sentences, {c['duplicates_removed']} repeats removed, "
                f"{c['malformed_tokens']} malformed tokens; entities PER {c['PER']} "
                f"({c['PER_from_pairs']} from surname + given name), LOC {c['LOC']}, "
                f"ORG {c['ORG']}; train/val/test {c['train']}/{c['val']}/{c['test']}; "
                f"{len(self.vocab_)} characters"
                + (f", {len(self.bigram_vocab_)} bigrams" if self.bigram_vocab_ else ""),
                file=sys.stderr,
            )

    def data_checksums(self) -> dict[str, str]:
        """sha256 of the corpus file this run read (for env.json)."""
        return {self.path_.name: digest_content(self.path_)[0]}

    def _encoded(self, split: str) -> tuple[list[torch.Tensor], ...]:
        chars, bis, tags = [], [], []
        index = {t: i for i, t in enumerate(TAGS)}
        for text, bio in self.texts_[split]:
            c, b = encode_text(text, self.vocab_, self.bigram_vocab_)
            chars.append(torch.tensor(c))
            bis.append(torch.tensor(b))
            tags.append(torch.tensor([index[t] for t in bio]))
        return chars, bis, tags

    def _batches(self, split: str) -> IndexBatches:
        return tag_batches(*self._encoded(split), **self.batch_kwargs(split))

    # ------------------------------------------------------------ model and steps
    def model_kwargs(self) -> dict[str, Any]:
        return {
            **self.recipe.model.kwargs,
            "vocab_size": len(self.vocab_),
            "num_tags": len(TAGS),
            "bigram_vocab_size": len(self.bigram_vocab_) if self.bigram_vocab_ else 0,
        }

    @staticmethod
    def _crf(model: nn.Module) -> nn.Module:
        return getattr(model, "module", model)  # DDP wraps it; loss/decode live on the model

    def training_step(self, model: nn.Module, batch: TagBatch) -> StepOutput:
        emissions = model(batch.chars, batch.lengths, batch.bigrams)  # (B, T, K)
        return StepOutput(loss=self._crf(model).loss(emissions, batch.tags, batch.lengths))

    def validation_step(self, model: nn.Module, batch: TagBatch) -> StepOutput:
        crf, tags, lengths = self._crf(model), batch.tags, batch.lengths
        emissions = model(batch.chars, lengths, batch.bigrams)
        paths = crf.decode(emissions, lengths)
        preds = torch.full_like(tags, PAD_TAG)
        for row, path in enumerate(paths):
            preds[row, : len(path)] = torch.tensor(path)
        return StepOutput(loss=crf.loss(emissions, tags, lengths), preds=preds, target=tags)

    def test_step(self, model: nn.Module, batch: TagBatch) -> StepOutput:
        """The validation step, keeping each sentence's decoded tag ids for the report."""
        out = self.validation_step(model, batch)
        preds, lengths = out.preds.cpu(), batch.lengths.tolist()
        out.outputs = {
            "index": batch.index.tolist(),
            "tags": [row[:n].tolist() for row, n in zip(preds, lengths, strict=True)],
        }
        return out

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({"entities": EntityF1()})

    # ------------------------------------------------------------ serving
    def metadata(self) -> dict[str, Any]:
        """Both vocabularies, the tags, the longest text `predict` reads, the corpus counts."""
        return {
            "vocab": self.vocab_.tokens,
            "bigram_vocab": self.bigram_vocab_.tokens if self.bigram_vocab_ else None,
            "tags": list(TAGS),
            "max_len": self.options.max_len,
            "corpus": self.counts_,
        }

    @classmethod
    @torch.no_grad()
    def predict_with(
        cls, model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """Entities in each raw text (or each line of stdin for `-`), with character spans into
        the text as given (`top_k` is not used). Whitespace is skipped, ASCII is read as its
        full-width form, characters the model never saw are `<unk>`, and text past `max_len`
        characters is truncated with a warning."""
        chars = Vocab(meta["vocab"])
        bigram_vocab = Vocab(meta["bigram_vocab"]) if meta.get("bigram_vocab") else None
        device = next(model.parameters()).device
        model.eval()
        results = []
        for source in read_text_inputs(inputs):
            keep = [i for i, c in enumerate(source) if not c.isspace()]  # positions in `source`
            keep = keep[: len(fit_to_context(keep, meta["max_len"], what="text"))]
            text = normalize_text("".join(source[i] for i in keep))
            c, b = encode_text(text, chars, bigram_vocab)
            lengths = torch.tensor([len(c)])
            emissions = model(
                torch.tensor([c], device=device), lengths, torch.tensor([b], device=device)
            )
            path = cls._crf(model).decode(emissions, lengths)[0]
            found = tags_to_entities([meta["tags"][t] for t in path])
            # Back to offsets in the text as given (whitespace included).
            spans = [Entity(e.label, keep[e.start], keep[e.end - 1] + 1) for e in found]
            results.append(
                Prediction(
                    source=source,
                    labels=[e.label for e in spans],
                    scores=[1.0] * len(spans),
                    text=format_entities(source, spans),
                )
            )
        return results

    # ------------------------------------------------------------ pictures
    def test_rows(self, outputs: list[Any]) -> list[tuple[str, list[str], list[str]]]:
        """(text, gold tags, predicted tags) of every test sentence, in corpus order, from the
        test pass's `outputs`."""
        pred = {
            i: [TAGS[t] for t in path]
            for o in outputs
            for i, path in zip(o["index"], o["tags"], strict=True)
        }
        return [(text, gold, pred[i]) for i, (text, gold) in enumerate(self.texts_["test"])]

    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """per_type.csv and per_type.png (test P/R/F1 per type), and examples.md: the corpus
        counts and test sentences with their gold and predicted entities."""
        from dllab.viz.ner_report import (
            per_type_table,
            plot_per_type,
            write_examples,
            write_per_type,
        )

        rows = self.test_rows(outputs)
        table = per_type_table(rows)
        return [
            write_per_type(table, run_dir / "per_type.csv"),
            plot_per_type(table, run_dir / "per_type.png"),
            write_examples(rows, self.counts_, run_dir / "examples.md"),
        ]
