"""Character-level language modelling: a GPT learns to continue Chinese news text.

Data: the sentences of the People's Daily January 1998 corpus (`data/peoples_daily.py`),
deduplicated, then split by sentence with a seeded shuffle into train, validation and test
(held-out) parts; each part keeps the corpus order and joins its sentences with a newline, so
"\\n" is the end-of-sentence character. The vocabulary holds the characters seen at least
`min_freq` times in the training part; every other character reads as `<unk>` in every part,
so the model learns how likely an unseen character is instead of meeting `<unk>` first in test.

Training batches are random contiguous windows of `max_len + 1` characters of the training
text (input and next-character target). An epoch is as many windows as cover the training text
once, drawn from a generator seeded by (seed, epoch), so a resumed run sees the same windows.
The held-out parts are cut into non-overlapping windows, so every character after the first
is predicted exactly once.

Metrics over a whole held-out part: `nll` (mean negative log-likelihood per character, nats),
`perplexity` = exp(total NLL / characters), not a mean of per-batch perplexities, and
`perplexity_unigram`, the perplexity of the training part's character frequencies (add-one
smoothed) on the same characters: the baseline a language model must beat by far.

Options in `model.kwargs` besides the GPT's own (`max_len` is the context, and the window
length in training):

- `min_freq` (default 2): the vocabulary's threshold;
- `sampling`: how `dllab predict` and `samples.md` continue a prompt, stored with the model:
  `temperature`, `top_k`, `top_p`, `max_new_tokens`, `seed` (see `Sampling`). Change them for a
  new run with overrides, e.g. `model.kwargs.sampling.temperature=0.5`.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric, MetricCollection

from dllab.config import Recipe
from dllab.data.peoples_daily import dedupe, load_peoples_daily, peoples_daily_path
from dllab.data.text import UNK, Vocab, char_tokenize, read_text_inputs
from dllab.errors import ConfigError
from dllab.models import create_model
from dllab.models.checks import build
from dllab.models.gpt import GPTConfig
from dllab.tasks import TASKS
from dllab.tasks.base import Prediction, SplitBatches, StepOutput
from dllab.train.batches import TensorBatches

__all__ = [
    "LanguageModelTask",
    "RandomBlocks",
    "Sampling",
    "TokenNLL",
    "continue_text",
    "heldout_blocks",
    "split_sentences",
    "unigram_log_probs",
]

EOS = "\n"  # sentences are joined by newlines: the newline ends a sentence
IGNORE = -100  # target of padded positions (F.cross_entropy's default ignore_index)
TASK_KEYS = ("min_freq", "sampling")  # model.kwargs this task reads; the rest go to the model
LOGITS_BUDGET = 2**25  # logits one evaluation batch may hold (128 MB in fp32): caps the rows


@dataclass
class Sampling:
    """How a prompt is continued (`dllab predict`, samples.md); stored in the checkpoint."""

    temperature: float = 0.8  # < 1 sharpens the distribution: fewer odd characters
    top_k: int | None = 50  # draw only among the 50 likeliest characters (of ~4,000)
    top_p: float | None = 0.95  # ... and among the fewest that hold 95% of the probability
    max_new_tokens: int = 100  # at most this many characters; a sentence ends earlier at "\n"
    seed: int = 0  # same prompt, model and seed: same text

    def __post_init__(self) -> None:
        bad = (
            self.temperature < 0
            or (self.top_k is not None and self.top_k < 1)
            or (self.top_p is not None and not 0 < self.top_p <= 1)
            or self.max_new_tokens < 1
        )
        if bad:
            raise ConfigError(
                "model.kwargs.sampling needs temperature >= 0 (0: greedy), top_k >= 1 or null, "
                f"0 < top_p <= 1 or null, max_new_tokens >= 1; got {asdict(self)}"
            )


# ---------------------------------------------------------------- data
def split_sentences(
    sentences: Sequence[str], *, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[str]]:
    """Seeded split of distinct sentences into train / val / test, each in corpus order.

    >>> parts = split_sentences([str(i) for i in range(10)], val_fraction=0.2,
    ...                         test_fraction=0.3, seed=0)
    >>> [len(parts[k]) for k in ("train", "val", "test")]
    [5, 2, 3]
    """
    n = len(sentences)
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    if n_val < 1 or n_test < 1 or n - n_val - n_test < 1:
        raise ConfigError(
            f"{n} sentences cannot be split with data.val_fraction={val_fraction} and "
            f"data.test_fraction={test_fraction}: each part needs at least one sentence"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return {
        k: [sentences[i] for i in sorted(part)]
        for k, part in (("train", train), ("val", val), ("test", test))
    }


def unigram_log_probs(train_ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """log P(char) from the training part's counts, add-one smoothed: `(V,)` float64.

    `<pad>` (id 0) is never a target and gets no mass.
    """
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + 1.0
    counts[0] = 0.0
    return (counts / counts.sum()).log()


def heldout_blocks(ids: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping windows of a held-out text: inputs `(N, T)`, targets `(N, T)`.

    Every character after the first is a target exactly once; the last window is padded
    (inputs `<pad>`, targets `IGNORE`) after its real positions, which a causal model never
    lets the real ones see.

    >>> x, y = heldout_blocks(torch.arange(1, 8), 4)
    >>> x.tolist(), y.tolist()
    ([[1, 2, 3, 4], [5, 6, 0, 0]], [[2, 3, 4, 5], [6, 7, -100, -100]])
    """
    n_targets = len(ids) - 1
    rows = max(1, math.ceil(n_targets / block_size))
    x = torch.zeros(rows * block_size, dtype=torch.long)
    y = torch.full((rows * block_size,), IGNORE, dtype=torch.long)
    x[:n_targets], y[:n_targets] = ids[:-1], ids[1:]
    return x.view(rows, block_size), y.view(rows, block_size)


class RandomBlocks:
    """Training batches of `batch_size` random windows of `block_size + 1` characters each.

    Batch `b` of epoch `e` is a pure function of (seed, e, b), like `TensorBatches`' order, so
    a run resumed mid-epoch skips to batch `b` and sees exactly the windows it would have seen.
    An epoch is `ceil(N / (block_size * batch_size * world))` batches: about one pass over the
    text. Under DDP each rank takes its own column of the same draw.
    """

    def __init__(
        self,
        ids: torch.Tensor,
        *,
        block_size: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        if len(ids) < block_size + 1:
            raise ConfigError(
                f"the training text has {len(ids)} characters, fewer than one window of "
                f"{block_size + 1}: lower model.kwargs.max_len"
            )
        self.ids, self.block_size, self.batch_size = ids, block_size, batch_size
        self.seed, self.rank, self.world = seed, rank, world

    def __len__(self) -> int:
        return max(1, math.ceil(len(self.ids) / (self.block_size * self.batch_size * self.world)))

    def starts(self, epoch: int) -> torch.Tensor:
        """First character of every window this rank reads in `epoch`: `(batches, B)`."""
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        n = len(self) * self.world * self.batch_size
        starts = torch.randint(0, len(self.ids) - self.block_size, (n,), generator=g)
        return starts.view(len(self), self.world, self.batch_size)[:, self.rank]

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield `(x (B, T), y (B, T))` of `epoch` from batch `start`; `y` is `x` shifted by 1."""
        starts, offsets = self.starts(epoch), torch.arange(self.block_size + 1)
        for b in range(start, len(self)):
            windows = self.ids[starts[b][:, None] + offsets]  # (B, T + 1)
            yield windows[:, :-1], windows[:, 1:]


# ---------------------------------------------------------------- metrics
class TokenNLL(Metric):
    """Negative log-likelihood summed over every target character of a split.

    `update(nll (B, T), target (B, T))`: per-position NLL in nats, targets with `IGNORE` where
    there is none. `output` is "perplexity" (exp of the mean) or "nll" (the mean). Given
    `unigram` log-probabilities `(V,)`, it scores that baseline on the same targets instead.
    """

    full_state_update = False

    def __init__(self, output: str = "perplexity", unigram: torch.Tensor | None = None) -> None:
        super().__init__()
        assert output in ("perplexity", "nll"), output
        self.output, self.unigram = output, unigram
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, nll: torch.Tensor, target: torch.Tensor) -> None:
        mask = target != IGNORE
        if self.unigram is not None:
            self.unigram = self.unigram.to(target.device)
            self.total += -self.unigram[target[mask]].sum()
        else:
            self.total += nll[mask].double().sum()
        self.count += mask.sum()

    def compute(self) -> torch.Tensor:
        mean = self.total / self.count.clamp(min=1)
        return mean.exp() if self.output == "perplexity" else mean


# ---------------------------------------------------------------- the task
@TASKS.register("language_model")
class LanguageModelTask(SplitBatches):
    """Task for `dllab run` recipes that train a character-level GPT on People's Daily."""

    name = "language_model"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        d, kw = self.recipe.data, self.recipe.model.kwargs
        if d.name != "peoples-daily":
            raise ConfigError(
                f"task language_model reads the People's Daily text; got data.name={d.name!r}: "
                "use data.name=peoples-daily"
            )
        self.block_size_ = int(kw.get("max_len", GPTConfig.max_len))
        self.sampling_ = build(Sampling, "model.kwargs.sampling", dict(kw.get("sampling") or {}))
        min_freq = int(kw.get("min_freq", 2))
        path = peoples_daily_path(d.data_dir)
        self.checksum_ = hashlib.sha256(path.read_bytes()).hexdigest()
        corpus = load_peoples_daily(path)
        sentences = dedupe([s.text for s in corpus.sentences])
        parts = split_sentences(
            sentences,
            val_fraction=d.val_fraction,
            test_fraction=d.test_fraction,
            seed=self.recipe.split_seed,
        )
        texts = {k: EOS.join(v) + EOS for k, v in parts.items()}
        self.vocab_ = Vocab.build([texts["train"]], min_freq=min_freq)
        self.ids_ = {
            k: torch.tensor(self.vocab_.encode(t), dtype=torch.long) for k, t in texts.items()
        }
        self.unigram_ = unigram_log_probs(self.ids_["train"], len(self.vocab_))
        self.data_summary_ = {
            "lines": corpus.lines,
            "malformed_tokens": corpus.malformed_tokens,
            "sentences": len(corpus.sentences),
            "distinct_sentences": len(sentences),
            **{f"{k}_sentences": len(v) for k, v in parts.items()},
            **{f"{k}_chars": len(t) for k, t in texts.items()},
            **{f"{k}_unknown_rate": self.vocab_.unknown_rate([t]) for k, t in texts.items()},
            "vocab_size": len(self.vocab_),
            "min_freq": min_freq,
        }
        self.rank_, self.world_ = rank, world

    def data_checksums(self) -> dict[str, str]:
        """sha256 of the corpus file this run read (for env.json)."""
        return {"peoples-daily/199801.txt": self.checksum_}

    def _heldout(self, split: str, shard: bool) -> TensorBatches:
        x, y = heldout_blocks(self.ids_[split], self.block_size_)
        # Evaluation holds (rows, T, V) logits at once: keep them within LOGITS_BUDGET.
        rows = LOGITS_BUDGET // (self.block_size_ * len(self.vocab_))
        return TensorBatches(
            x,
            y,
            batch_size=max(1, min(self.recipe.data.eval_batch_size, rows)),
            shuffle=False,
            rank=self.rank_ if shard else 0,
            world=self.world_ if shard else 1,
        )

    def _batches(self, split: str) -> RandomBlocks | TensorBatches:
        # Held-out splits are sharded for validation; the test split is evaluated once,
        # by one process, after training.
        if split != "train":
            return self._heldout(split, shard=split == "val")
        return RandomBlocks(
            self.ids_["train"],
            block_size=self.block_size_,
            batch_size=self.recipe.data.batch_size,
            seed=self.recipe.train.seed,
            rank=self.rank_,
            world=self.world_,
        )

    # ------------------------------------------------------------ model and steps
    def _model_kwargs(self) -> dict[str, Any]:
        kw = {k: v for k, v in self.recipe.model.kwargs.items() if k not in TASK_KEYS}
        return {**kw, "vocab_size": len(self.vocab_), "max_len": self.block_size_}

    def build_model(self) -> nn.Module:
        return create_model(self.recipe.model.name, **self._model_kwargs())

    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        x, y = batch  # (B, T) each
        logits = model(x)  # (B, T, V)
        return StepOutput(loss=F.cross_entropy(logits.flatten(0, 1), y.flatten()))

    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput:
        x, y = batch  # (B, T) each; y is IGNORE on padding
        logits = model(x).float()  # (B, T, V)
        nll = F.cross_entropy(
            logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE, reduction="none"
        ).view_as(y)  # (B, T), 0 where ignored
        loss = nll.sum() / (y != IGNORE).sum().clamp(min=1)
        return StepOutput(loss=loss, preds=nll, target=y)

    def metrics(self) -> MetricCollection:
        return MetricCollection(
            {
                "perplexity": TokenNLL("perplexity"),
                "nll": TokenNLL("nll"),
                "perplexity_unigram": TokenNLL("perplexity", unigram=self.unigram_),
            },
            compute_groups=False,  # same inputs, different outputs: never merge their states
        )

    # ------------------------------------------------------------ serving
    def model_metadata(self) -> dict[str, Any]:
        """Everything `predict` needs: the model, its vocabulary and the sampling defaults."""
        return {
            "task": self.name,
            "model": self.recipe.model.name,
            "model_kwargs": self._model_kwargs(),
            "vocab": self.vocab_.tokens,
            "sampling": asdict(self.sampling_),
            "data": self.data_summary_,
            "dataset": self.recipe.data.name,
            "recipe": self.recipe.name,
        }

    def example_input(self) -> torch.Tensor:
        return torch.zeros(1, self.block_size_, dtype=torch.long)

    def predict(self, model: nn.Module, inputs: list[str], top_k: int = 5) -> list[Prediction]:
        return self.predict_with(model, self.model_metadata(), inputs, top_k)

    @staticmethod
    def model_from_metadata(meta: dict[str, Any]) -> nn.Module:
        """Rebuild the (untrained) model a checkpoint's metadata describes."""
        return create_model(meta["model"], **meta["model_kwargs"])

    @staticmethod
    def predict_with(
        model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """Continue each prompt (text, or `-` for one a line of stdin) to the end of its
        sentence, with the sampling stored in `meta["sampling"]` (the recipe's
        `model.kwargs.sampling`; a caller may replace entries). `top_k` (labels to show) is
        not used: the sampling's own `top_k` decides."""
        vocab, sampling = Vocab(meta["vocab"]), Sampling(**meta.get("sampling", {}))
        return [
            Prediction(source=text, text=text + continue_text(model, vocab, text, sampling))
            for text in read_text_inputs(inputs)
        ]

    # ------------------------------------------------------------ pictures
    def visualize(
        self, model: nn.Module, run_dir: Path, device: torch.device | None = None
    ) -> list[Path]:
        """heldout.png (held-out loss and perplexity during training, against the unigram
        model) and samples.md (seeded continuations at several temperatures, top-k, top-p)."""
        unigram = self._unigram_perplexity("val")
        curve = plot_heldout(run_dir / "metrics.jsonl", unigram, run_dir / "heldout.png")
        return [curve, self.write_samples(model, run_dir / "samples.md")]

    def _unigram_perplexity(self, split: str) -> float:
        targets = self.ids_[split][1:]
        return math.exp(float(-self.unigram_[targets].mean()))

    def write_samples(self, model: nn.Module, path: Path) -> Path:
        """Seeded continuations of a few prompts under several samplings, as Markdown."""
        s, d = self.sampling_, self.data_summary_
        settings = [
            ("greedy (temperature 0)", Sampling(temperature=0, top_k=None, top_p=None)),
            *(
                (f"temperature {t}", Sampling(temperature=t, top_k=None, top_p=None))
                for t in (0.5, 0.8, 1.0)
            ),
            ("temperature 1.0, top-k 10", Sampling(temperature=1.0, top_k=10, top_p=None)),
            ("temperature 1.0, top-p 0.9", Sampling(temperature=1.0, top_k=None, top_p=0.9)),
            (
                f"this run's defaults (`dllab predict`): temperature {s.temperature}, "
                f"top-k {s.top_k}, top-p {s.top_p}",
                s,
            ),
        ]
        n_weights = sum(p.numel() for p in model.parameters())
        lines = [
            f"# Samples: {self.recipe.name}",
            "",
            f"`{self.recipe.model.name}` ({n_weights / 1e6:.2f} M weights), context "
            f"{self.block_size_} characters, vocabulary {len(self.vocab_)} characters "
            f"(seen >= {d['min_freq']} times in training; {d['test_unknown_rate']:.2%} of the "
            f"test characters are `{UNK}`). Trained on {d['train_chars']:,} "
            f"characters ({d['train_sentences']:,} of {d['distinct_sentences']:,} distinct "
            f"sentences); a unigram model scores perplexity "
            f"{self._unigram_perplexity('test'):.1f} on the test part (the run's own "
            "perplexity is in report.md).",
            "",
            "Each prompt (in bold) is continued to the end of its sentence or "
            f"{s.max_new_tokens} characters. Every setting uses the same seeds, three per prompt "
            "(one for greedy decoding, which draws nothing); one seed per prompt would give "
            "every prompt the same random numbers, and so similar continuations.",
            "",
        ]
        prompts = ["中国", "经济", "今天", "北京"]
        for title, sampling in settings:
            lines += [f"## {title}", ""]
            for i, prompt in enumerate(prompts):
                for seed in range(3 * i, 3 * i + (3 if sampling.temperature > 0 else 1)):
                    text = continue_text(model, self.vocab_, prompt, replace(sampling, seed=seed))
                    lines.append(f"- seed {seed}: **{prompt}**{text}")
            lines.append("")
        path.write_text("\n".join(lines), encoding="utf-8")
        return path


# ---------------------------------------------------------------- generation
def continue_text(model: nn.Module, vocab: Vocab, prompt: str, sampling: Sampling) -> str:
    """The model's continuation of `prompt`, to the end of the sentence or `max_new_tokens`.

    The prompt is read as the start of a sentence (after a newline); whitespace is dropped
    (the corpus has none); characters outside the vocabulary read as `<unk>` (with a warning).
    A prompt longer than the model's context is cut to its last `max_len` characters, with a
    warning. Seeded by `sampling.seed`: the same prompt gives the same text.
    """
    max_len = model.config.max_len
    chars = char_tokenize(prompt)
    unknown = sorted({c for c in chars if c not in vocab.index})
    if unknown:
        warnings.warn(
            f"{len(unknown)} characters of the prompt are not in the model's vocabulary "
            f"({''.join(unknown[:10])}); the model reads them as {UNK}",
            stacklevel=2,
        )
    if len(chars) > max_len:
        warnings.warn(
            f"the prompt has {len(chars)} characters, more than the model's context of "
            f"{max_len}; only its last {max_len} are read",
            stacklevel=2,
        )
    eos = vocab.index.get(EOS)
    ids = ([eos] if eos is not None else []) + vocab.encode(chars)
    ids = ids[-max_len:]
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(sampling.seed)
    was_training = model.training
    model.eval()
    out = model.generate(  # generate() runs without autograd
        torch.tensor([ids], device=device),
        sampling.max_new_tokens,
        temperature=sampling.temperature,
        top_k=sampling.top_k,
        top_p=sampling.top_p,
        generator=generator,
    )[0, len(ids) :].tolist()
    model.train(was_training)
    if eos is not None and eos in out:
        out = out[: out.index(eos)]
    return "".join(vocab.decode(out))


def plot_heldout(metrics_path: Path, unigram: float, path: Path) -> Path:
    """Held-out (validation) loss and perplexity against training step, with the training loss
    and the unigram model's level for scale."""
    from dllab.viz.figure import message_figure, new_figure, save_figure

    records = [json.loads(line) for line in metrics_path.read_text("utf-8").splitlines() if line]
    val = [r for r in records if "val/nll" in r]
    train = [r for r in records if "train/loss" in r]
    title = "Held-out (validation) loss and perplexity"
    if not val:
        return save_figure(message_figure("no validation yet", title), path)
    fig = new_figure(10, 3.8)
    fig.suptitle(title, fontsize=13)
    ax = fig.add_subplot(1, 2, 1)
    if train:
        ax.plot(
            [r["step"] for r in train],
            [r["train/loss"] for r in train],
            color="C0",
            alpha=0.6,
            label="train (running mean)",
        )
    ax.plot(
        [r["step"] for r in val], [r["val/nll"] for r in val], "o-", color="C1", label="held-out"
    )
    ax.axhline(math.log(unigram), color="grey", ls="--", label="unigram model")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("NLL per character (nats)")
    ax.set_title("loss")
    ax.legend()
    ax = fig.add_subplot(1, 2, 2)
    ax.plot(
        [r["step"] for r in val],
        [r["val/perplexity"] for r in val],
        "o-",
        color="C1",
        label="held-out",
    )
    ax.axhline(unigram, color="grey", ls="--", label=f"unigram model ({unigram:.0f})")
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("perplexity (log scale)")
    ax.set_title("perplexity = exp(mean NLL)")
    ax.legend()
    return save_figure(fig, path)
