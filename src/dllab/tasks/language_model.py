"""Character-level language modelling: a GPT learns to continue Chinese news text.

Data: the sentences of the People's Daily January 1998 corpus (`data/peoples_daily.py`),
deduplicated, then split by sentence with a seeded shuffle into train, validation and test
(held-out) parts (`data/lm_text.py`); each part keeps the corpus order and joins its sentences
with a newline, so "\\n" is the end-of-sentence character. The vocabulary holds the characters
seen at least `min_freq` times in the training part; every other character reads as `<unk>` in
every part, so the model learns how likely an unseen character is instead of meeting `<unk>`
first in test.

Training batches are random contiguous windows of `max_len + 1` characters of the training
text (input and next-character target). An epoch is as many windows as cover the training text
once, drawn from a generator seeded by (seed, epoch), so a resumed run sees the same windows.
The held-out parts are cut into non-overlapping windows, so every character after the first
is predicted exactly once.

Metrics over a whole held-out part: `nll` (mean negative log-likelihood per character, nats),
`perplexity` = exp(total NLL / characters), not a mean of per-batch perplexities, and
`perplexity_unigram`, the perplexity of the training part's character frequencies (add-one
smoothed) on the same characters: the baseline a language model must beat by far.

Options (the recipe's `task:` section, `LanguageModelOptions`): `min_freq`, the vocabulary's
threshold, and `sampling`, how `dllab predict` and `samples.md` continue a prompt, stored with
the model (`Sampling`). The model's own `max_len` is the context, and the training window.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torchmetrics import Metric, MetricCollection

from dllab.data.lm_text import IGNORE, heldout_blocks, split_sentences
from dllab.data.peoples_daily import dedupe, load_peoples_daily, peoples_daily_path
from dllab.data.text import UNK, Vocab, char_tokenize, read_text_inputs
from dllab.errors import ConfigError
from dllab.models.gpt import GPTConfig
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask, Prediction, StepOutput, TaskOptions
from dllab.train.batches import IndexBatches, TensorBatches

__all__ = [
    "LanguageModelOptions",
    "LanguageModelTask",
    "Sampling",
    "TokenNLL",
    "continue_text",
    "random_blocks",
    "unigram_log_probs",
]

EOS = "\n"  # sentences are joined by newlines: the newline ends a sentence
LOGITS_BUDGET = 2**25  # logits one evaluation batch may hold (128 MB in fp32): caps the rows


class Sampling(TaskOptions):
    """How a prompt is continued (`dllab predict`, samples.md); stored in the checkpoint."""

    temperature: float = Field(0.8, ge=0)  # < 1 sharpens the distribution; 0: greedy
    top_k: int | None = Field(50, ge=1)  # draw only among the 50 likeliest characters (of ~4,000)
    top_p: float | None = Field(0.95, gt=0, le=1)  # ... and the fewest that hold 95% of the mass
    max_new_tokens: int = Field(100, ge=1)  # at most this many; a sentence ends earlier at "\n"
    seed: int = 0  # same prompt, model and seed: same text


class LanguageModelOptions(TaskOptions):
    """The recipe's `task:` section for `language_model`."""

    min_freq: int = Field(2, ge=1)  # characters seen fewer times in training read as <unk>
    sampling: Sampling = Field(default_factory=Sampling)  # `dllab predict` and samples.md


# ---------------------------------------------------------------- data
def unigram_log_probs(train_ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """log P(char) from the training part's counts, add-one smoothed: `(V,)` float64.

    `<pad>` (id 0) is never a target and gets no mass.
    """
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + 1.0
    counts[0] = 0.0
    return (counts / counts.sum()).log()


def random_blocks(
    ids: torch.Tensor,
    *,
    block_size: int,
    batch_size: int,
    seed: int = 0,
    rank: int = 0,
    world: int = 1,
) -> IndexBatches:
    """Training batches `(x (B, T), y (B, T))` of random windows of `block_size + 1` characters;
    `y` is `x` shifted by one.

    An item is the window starting at a character: `plan(e)` draws every start of epoch `e`
    from a generator seeded by (seed, e), so a run resumed mid-epoch skips to batch `b` and sees
    exactly the windows it would have seen. An epoch is `ceil(N / (block_size * batch_size *
    world))` batches: about one pass over the text. Under DDP each rank takes its own column of
    the same draw.
    """
    if len(ids) < block_size + 1:
        raise ConfigError(
            f"the training text has {len(ids)} characters, fewer than one window of "
            f"{block_size + 1}: lower model.kwargs.max_len"
        )
    batches = max(1, math.ceil(len(ids) / (block_size * batch_size * world)))
    offsets = torch.arange(block_size + 1)

    def plan(epoch: int) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        n = batches * world * batch_size
        starts = torch.randint(0, len(ids) - block_size, (n,), generator=g)
        return list(starts.view(batches, world, batch_size)[:, rank])

    def collate(starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        windows = ids[starts[:, None] + offsets]  # (B, T + 1)
        return windows[:, :-1], windows[:, 1:]

    return IndexBatches(plan, collate, length=batches)


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
class LanguageModelTask(BaseTask):
    """Task for `dllab run` recipes that train a character-level GPT on People's Daily."""

    name = "language_model"
    metric_names = ("perplexity", "nll", "perplexity_unigram")
    Options = LanguageModelOptions
    options: LanguageModelOptions
    not_exportable = (
        "a language model generates token after token with a KV cache, a loop that one forward "
        "pass does not capture: `dllab export` writes prefill and decode-step graphs"
    )

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        d = self.recipe.data
        if d.name != "peoples-daily":
            raise ConfigError(
                f"task language_model reads the People's Daily text; got data.name={d.name!r}: "
                "use data.name=peoples-daily"
            )
        self.block_size_ = int(self.recipe.model.kwargs.get("max_len", GPTConfig.max_len))
        min_freq = self.options.min_freq
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

    def _batches(self, split: str) -> IndexBatches | TensorBatches:
        rank, world = self.shard(split)
        if split == "train":
            return random_blocks(
                self.ids_["train"],
                block_size=self.block_size_,
                batch_size=self.recipe.data.batch_size,
                seed=self.recipe.train.seed,
                rank=rank,
                world=world,
            )
        x, y = heldout_blocks(self.ids_[split], self.block_size_)
        # Evaluation holds (rows, T, V) logits at once: keep them within LOGITS_BUDGET.
        rows = LOGITS_BUDGET // (self.block_size_ * len(self.vocab_))
        size = max(1, min(self.recipe.data.eval_batch_size, rows))
        return TensorBatches(x, y, batch_size=size, shuffle=False, rank=rank, world=world)

    # ------------------------------------------------------------ model and steps
    def model_kwargs(self) -> dict[str, Any]:
        return {
            **self.recipe.model.kwargs,
            "vocab_size": len(self.vocab_),
            "max_len": self.block_size_,
        }

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
        n = int((y != IGNORE).sum())  # characters predicted: what the split's loss averages over
        return StepOutput(loss=nll.sum() / max(n, 1), preds=nll, target=y, count=n)

    def build_metrics(self) -> MetricCollection:
        return MetricCollection(
            {
                "perplexity": TokenNLL("perplexity"),
                "nll": TokenNLL("nll"),
                "perplexity_unigram": TokenNLL("perplexity", unigram=self.unigram_),
            },
            compute_groups=False,  # same inputs, different outputs: never merge their states
        )

    # ------------------------------------------------------------ serving
    def metadata(self) -> dict[str, Any]:
        """The vocabulary and the data's counts (the sampling is in `task_options`)."""
        return {"vocab": self.vocab_.tokens, "data": self.data_summary_}

    @classmethod
    def predict_with(
        cls, model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """Continue each prompt (text, or `-` for one a line of stdin) to the end of its
        sentence, with the run's sampling (`task_options.sampling`; a caller may replace
        entries). `top_k` (labels to show) is not used: the sampling's own `top_k` decides."""
        vocab, sampling = Vocab(meta["vocab"]), saved_sampling(meta)
        max_len = model.config.max_len
        return [
            Prediction(
                source=text,
                text=_read_part(text, max_len) + continue_text(model, vocab, text, sampling),
            )
            for text in read_text_inputs(inputs)
        ]

    # ------------------------------------------------------------ pictures
    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """heldout.png (held-out loss and perplexity during training, against the unigram
        model) and samples.md (seeded continuations at several temperatures, top-k, top-p)."""
        from dllab.viz.heldout import plot_heldout

        unigram = self._unigram_perplexity("val")
        curve = plot_heldout(run_dir / "metrics.jsonl", unigram, run_dir / "heldout.png")
        return [curve, self.write_samples(model, run_dir / "samples.md")]

    def _unigram_perplexity(self, split: str) -> float:
        targets = self.ids_[split][1:]
        return math.exp(float(-self.unigram_[targets].mean()))

    def write_samples(self, model: nn.Module, path: Path) -> Path:
        """Seeded continuations of a few prompts under several samplings, as Markdown."""
        s, d = self.options.sampling, self.data_summary_
        # every setting continues as far as the run's own (the text below says so)
        plain = {"top_k": None, "top_p": None, "max_new_tokens": s.max_new_tokens}
        settings = [
            ("greedy (temperature 0)", Sampling(temperature=0, **plain)),
            *((f"temperature {t}", Sampling(temperature=t, **plain)) for t in (0.5, 0.8, 1.0)),
            ("temperature 1.0, top-k 10", Sampling(temperature=1.0, **{**plain, "top_k": 10})),
            ("temperature 1.0, top-p 0.9", Sampling(temperature=1.0, **{**plain, "top_p": 0.9})),
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
                    seeded = sampling.model_copy(update={"seed": seed})
                    text = continue_text(model, self.vocab_, prompt, seeded)
                    lines.append(f"- seed {seed}: **{prompt}**{text}")
            lines.append("")
        path.write_text("\n".join(lines), encoding="utf-8")
        return path


def saved_sampling(meta: dict[str, Any]) -> Sampling:
    """The sampling a checkpoint was saved with (`meta["sampling"]` in runs from before the
    task section)."""
    saved = (meta.get("task_options") or {}).get("sampling", meta.get("sampling"))
    return Sampling(**(saved or {}))


# ---------------------------------------------------------------- generation
def _read_part(prompt: str, max_len: int) -> str:
    """The part of a prompt the model reads: all of it, or "…" and its last `max_len`
    characters when it is longer than the context (a 1 MB prompt is not printed back)."""
    return prompt if len(prompt) <= max_len else "…" + prompt[-max_len:]


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
        stop=eos,  # the sentence ends there: nothing after it is shown
    )[0, len(ids) :].tolist()
    model.train(was_training)
    if eos is not None and eos in out:
        out = out[: out.index(eos)]
    return "".join(vocab.decode(out))
