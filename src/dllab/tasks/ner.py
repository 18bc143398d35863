"""Named-entity recognition: Chinese characters in, persons, places and organisations out.

The People's Daily corpus (`data/peoples_daily.py`) becomes one BIO tag per character
(`data/bio.py`). Repeated sentences are removed *before* splitting, so no test sentence is
also a training sentence; a seeded permutation then holds out `data.test_fraction` for the
test and `data.val_fraction` for validation. The character vocabulary (and the optional
character-bigram one) is built on the training part alone; rarer than `min_freq` is `<unk>`.

Batches hold sentences of similar length (shuffled, then sorted by length within chunks of 50
batches), so a batch is padded little and the LSTM runs few wasted steps. A batch is
`(chars (B, T), bigrams (B, T), lengths (B,), tags (B, T))`, tags -1 at padding.

Metrics are entity-level, as seqeval counts them (an entity is right only if its type and
both ends are): `precision`, `recall`, `f1` over all types (micro) and `f1_PER`, `f1_LOC`,
`f1_ORG` etc. per type. Task options in `model.kwargs`, read here and not passed to the model:
`min_freq` (characters), `bigram_min_freq` (0: no bigram input) and `max_len` (the longest
text `predict` reads before truncating with a warning).
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from torchmetrics import Metric, MetricCollection

from dllab.config import Recipe
from dllab.data.bio import TAGS, Entity, entity_counts, tags_to_entities, to_bio
from dllab.data.checksum import digest_content
from dllab.data.peoples_daily import dedupe, load_peoples_daily, peoples_daily_path
from dllab.data.text import Vocab, fit_to_context, read_text_inputs
from dllab.errors import ConfigError
from dllab.models import create_model
from dllab.tasks import TASKS
from dllab.tasks.base import Prediction, SplitBatches, StepOutput
from dllab.train.batches import length_buckets
from dllab.train.precision import resolve_precision

__all__ = [
    "EntityF1",
    "NERTask",
    "SequenceBatches",
    "bigrams",
    "encode_text",
    "format_entities",
    "normalize_text",
    "predict_entities",
]

TASK_OPTIONS = {"min_freq": 2, "bigram_min_freq": 0, "max_len": 1024}  # defaults, see above
END = "</s>"  # the character after the last one, for the last bigram
PAD_TAG = -1
_FULLWIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}  # ASCII '!'..'~' -> 'ー'..'～'


# ---------------------------------------------------------------- text to ids
def normalize_text(text: str) -> str:
    """ASCII letters, digits and punctuation as the corpus writes them (full width).

    >>> normalize_text("1998年")
    '１９９８年'
    """
    return text.translate(_FULLWIDTH)


def bigrams(chars: Sequence[str]) -> list[str]:
    """Each character with the one after it (`</s>` after the last).

    >>> bigrams("北京市")
    ['北京', '京市', '市</s>']
    """
    return [a + b for a, b in zip(chars, [*chars[1:], END], strict=True)]


def encode_text(text: str, chars: Vocab, bigram_vocab: Vocab | None) -> tuple[list[int], list[int]]:
    """Character ids and bigram ids (all 0 without a bigram vocabulary) of `text`."""
    ids = chars.encode(text)
    return ids, bigram_vocab.encode(bigrams(text)) if bigram_vocab else [0] * len(ids)


# ---------------------------------------------------------------- batches
class SequenceBatches:
    """Length-bucketed batches of variable-length sentences, in an order that is a pure
    function of (seed, epoch), so a resumed run sees the same batches.

    Training: shuffle, sort by length within chunks of `chunk` batches, shuffle the batches.
    Evaluation: sorted by length. Under DDP each rank takes every `world`-th batch.
    """

    def __init__(
        self,
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
    ) -> None:
        self.chars, self.bigram_ids, self.tags = chars, bigram_ids, tags
        self.lengths = torch.tensor([len(c) for c in chars])
        self.batch_size, self.shuffle, self.seed, self.chunk = batch_size, shuffle, seed, chunk
        self.rank, self.world = rank, world

    def _batch_indices(self, epoch: int) -> list[torch.Tensor]:
        n, size = len(self.chars), self.batch_size
        if not self.shuffle:
            order = torch.argsort(self.lengths, stable=True)
            return list(order.split(size))
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        perm = torch.randperm(n, generator=g)
        return length_buckets(perm, self.lengths, batch_size=size, window=self.chunk, generator=g)

    def __len__(self) -> int:
        return math.ceil(math.ceil(len(self.chars) / self.batch_size) / self.world)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
        batches = self._batch_indices(epoch)
        if self.world > 1:
            batches = (batches * 2)[: len(self) * self.world][self.rank :: self.world]
        for idx in batches[start:]:
            yield self.collate(idx.tolist())

    def collate(self, idx: list[int]) -> tuple[torch.Tensor, ...]:
        chars = pad_sequence([self.chars[i] for i in idx], batch_first=True)  # (B, T)
        bi = pad_sequence([self.bigram_ids[i] for i in idx], batch_first=True)  # (B, T)
        tags = pad_sequence(
            [self.tags[i] for i in idx], batch_first=True, padding_value=PAD_TAG
        )  # (B, T)
        return chars, bi, self.lengths[idx], tags


# ---------------------------------------------------------------- metric
def _to_tag_lists(ids: torch.Tensor, lengths: torch.Tensor) -> list[list[str]]:
    return [[TAGS[i] for i in seq] for seq in ids.long().split(lengths.tolist())]


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
        for kind in sorted({t[2:] for t in TAGS if t != "O"}):
            row = report.get(kind, {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
            out[f"precision_{kind}"] = row["precision"]
            out[f"recall_{kind}"] = row["recall"]
            out[f"f1_{kind}"] = row["f1-score"]
        return {k: torch.tensor(float(v)) for k, v in out.items()}


# ---------------------------------------------------------------- the task
@TASKS.register("ner")
class NERTask(SplitBatches):
    """Task for `dllab run` recipes that tag entities in the People's Daily corpus."""

    name = "ner"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe

    # ------------------------------------------------------------ data
    def _options(self) -> dict[str, Any]:
        kw = self.recipe.model.kwargs
        return {k: kw.get(k, v) for k, v in TASK_OPTIONS.items()}

    def setup(self, *, rank: int = 0, world: int = 1, path: str | Path | None = None) -> None:
        d, opts = self.recipe.data, self._options()
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
        self.vocab_ = Vocab.build(train_texts, min_freq=opts["min_freq"])
        self.bigram_vocab_ = (
            Vocab.build((bigrams(t) for t in train_texts), min_freq=opts["bigram_min_freq"])
            if opts["bigram_min_freq"]
            else None
        )
        self.counts_["train"], self.counts_["val"], self.counts_["test"] = (
            len(parts["train"]),
            len(parts["val"]),
            len(parts["test"]),
        )
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

    def _batches(self, split: str) -> SequenceBatches:
        d, train = self.recipe.data, split == "train"
        shard = split != "test"
        return SequenceBatches(
            *self._encoded(split),
            batch_size=d.batch_size if train else d.eval_batch_size,
            shuffle=train,
            seed=self.recipe.train.seed,
            rank=self.rank_ if shard else 0,
            world=self.world_ if shard else 1,
        )

    # ------------------------------------------------------------ model and steps
    def _model_kwargs(self) -> dict[str, Any]:
        kw = {k: v for k, v in self.recipe.model.kwargs.items() if k not in TASK_OPTIONS}
        kw["vocab_size"], kw["num_tags"] = len(self.vocab_), len(TAGS)
        kw["bigram_vocab_size"] = len(self.bigram_vocab_) if self.bigram_vocab_ else 0
        return kw

    def build_model(self) -> nn.Module:
        return create_model(self.recipe.model.name, **self._model_kwargs())

    @staticmethod
    def _crf(model: nn.Module) -> nn.Module:
        return getattr(model, "module", model)  # DDP wraps it; loss/decode live on the model

    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        chars, bi, lengths, tags = batch
        emissions = model(chars, lengths, bi)  # (B, T, K)
        return StepOutput(loss=self._crf(model).loss(emissions, tags, lengths))

    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput:
        chars, bi, lengths, tags = batch
        crf = self._crf(model)
        emissions = model(chars, lengths, bi)
        paths = crf.decode(emissions, lengths)
        preds = torch.full_like(tags, PAD_TAG)
        for row, path in enumerate(paths):
            preds[row, : len(path)] = torch.tensor(path)
        return StepOutput(loss=crf.loss(emissions, tags, lengths), preds=preds, target=tags)

    def metrics(self) -> MetricCollection:
        return MetricCollection({"entities": EntityF1()})

    # ------------------------------------------------------------ serving
    def model_metadata(self) -> dict[str, Any]:
        """Everything `predict` needs: the model, both vocabularies, the tags, the context."""
        return {
            "task": self.name,
            "model": self.recipe.model.name,
            "model_kwargs": self._model_kwargs(),
            "vocab": self.vocab_.tokens,
            "bigram_vocab": self.bigram_vocab_.tokens if self.bigram_vocab_ else None,
            "tags": list(TAGS),
            "max_len": self._options()["max_len"],
            "corpus": self.counts_,
            "dataset": self.recipe.data.name,
            "recipe": self.recipe.name,
        }

    def example_input(self) -> torch.Tensor:
        return torch.ones(1, 16, dtype=torch.long)

    def predict(self, model: nn.Module, inputs: list[str], top_k: int = 5) -> list[Prediction]:
        return predict_entities(model, self.model_metadata(), inputs)

    @staticmethod
    def model_from_metadata(meta: dict[str, Any]) -> nn.Module:
        """Rebuild the (untrained) model a checkpoint's metadata describes."""
        return create_model(meta["model"], **meta["model_kwargs"])

    @staticmethod
    def predict_with(
        model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """Entities with character spans for raw texts (`top_k` is not used)."""
        return predict_entities(model, meta, inputs)

    # ------------------------------------------------------------ pictures
    @torch.no_grad()
    def test_predictions(
        self, model: nn.Module, device: torch.device
    ) -> list[tuple[str, list[str], list[str]]]:
        """(text, gold tags, predicted tags) of every test sentence, in corpus order."""
        model.eval()
        batches = self.test_batches()
        out: dict[int, list[str]] = {}
        # The same precision as the Trainer's test evaluation, so per_type.csv matches it.
        bf16 = resolve_precision(self.recipe.train.precision, device)[0] == "bf16"
        for idx in batches._batch_indices(0):
            chars, bi, lengths, _ = batches.collate(idx.tolist())
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                emissions = model(chars.to(device), lengths, bi.to(device))
            for i, path in zip(
                idx.tolist(), self._crf(model).decode(emissions, lengths), strict=True
            ):
                out[i] = [TAGS[t] for t in path]
        return [(text, gold, out[i]) for i, (text, gold) in enumerate(self.texts_["test"])]

    def visualize(
        self, model: nn.Module, run_dir: Path, device: torch.device | None = None
    ) -> list[Path]:
        """per_type.csv and per_type.png (test P/R/F1 per type), and examples.md: the corpus
        counts and test sentences with their gold and predicted entities."""
        from seqeval.metrics import classification_report

        device = device or next(model.parameters()).device
        rows = self.test_predictions(model, device)
        report = classification_report(
            [g for _, g, _ in rows], [p for _, _, p in rows], output_dict=True, zero_division=0
        )
        kinds = [k for k in ("PER", "LOC", "ORG") if k in report] + ["micro avg"]
        table = [(k if k != "micro avg" else "all", report[k]) for k in kinds]
        return [
            write_per_type(table, run_dir / "per_type.csv"),
            plot_per_type(table, run_dir / "per_type.png"),
            write_examples(rows, self.counts_, run_dir / "examples.md"),
        ]


# ---------------------------------------------------------------- predict and report helpers
def format_entities(text: str, entities: list[Entity]) -> str:
    """`江泽民 PER [0,3)  北京 LOC [5,7)`; spans are character offsets into `text`."""
    if not entities:
        return "(no entities)"
    return "  ".join(f"{e.text_in(text)} {e.label} [{e.start},{e.end})" for e in entities)


@torch.no_grad()
def predict_entities(model: nn.Module, meta: dict[str, Any], inputs: list[str]) -> list[Prediction]:
    """Entities in each raw text (or each line of stdin for `-`), with character spans into the
    text as given. Whitespace is skipped, ASCII is read as its full-width form, characters the
    model never saw are `<unk>`, and text past `max_len` characters is truncated with a
    warning."""
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
        path = getattr(model, "module", model).decode(emissions, lengths)[0]
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


def write_per_type(table: list[tuple[str, dict[str, float]]], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["type", "precision", "recall", "f1", "support"])
        for kind, r in table:
            w.writerow(
                [kind, f"{r['precision']:.4f}", f"{r['recall']:.4f}", f"{r['f1-score']:.4f}",
                 int(r["support"])]
            )  # fmt: skip
    return path


def plot_per_type(table: list[tuple[str, dict[str, float]]], path: Path) -> Path:
    """Grouped bars: precision, recall and F1 of each entity type on the test split."""
    from dllab.viz.figure import new_figure, save_figure

    fig = new_figure(7, 3.2)
    ax = fig.add_subplot()
    width = 0.26
    for j, (key, name) in enumerate((("precision", "precision"), ("recall", "recall"),
                                     ("f1-score", "F1"))):  # fmt: skip
        xs = [i + (j - 1) * width for i in range(len(table))]
        values = [r[key] for _, r in table]
        bars = ax.bar(xs, values, width, label=name)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
    ax.set_xticks(range(len(table)), [f"{k}\n({int(r['support'])})" for k, r in table])
    lo = min(r[k] for _, r in table for k in ("precision", "recall", "f1-score"))
    ax.set_ylim(max(0.0, lo - 0.1), 1.02)
    ax.set_ylabel("score")
    ax.set_title("Entity-level precision, recall, F1 on the test split (support)")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    return save_figure(fig, path)


def write_examples(
    rows: list[tuple[str, list[str], list[str]]], counts: dict[str, Any], path: Path, n: int = 12
) -> Path:
    """Markdown: the corpus counts, then test sentences with gold and predicted entities —
    the first `n` with entities, then up to `n` whose prediction differs from the gold."""
    lines = ["## Corpus", ""]
    lines += [f"- {k}: {v}" for k, v in counts.items()]
    lines += ["", "## Test sentences: gold vs predicted entities", ""]
    with_entities = [r for r in rows if any(t != "O" for t in r[1]) and len(r[0]) <= 120]
    wrong = [r for r in with_entities if r[1] != r[2]]
    for title, chosen in (("Examples", with_entities[:n]), ("Mistakes", wrong[:n])):
        lines += [f"### {title}", ""]
        for text, gold, pred in chosen:
            lines += [
                f"- {text}",
                f"  - gold: {format_entities(text, tags_to_entities(gold))}",
                f"  - pred: {format_entities(text, tags_to_entities(pred))}",
            ]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
