"""English -> Chinese translation of UI messages: the gettext corpus, BPE, a seq2seq model.

Data: the zh_CN gettext catalogues installed on the machine (`data/gettext_pairs.py`: cleaned,
deduplicated, split by a hash of the English text); pairs longer than `task.max_tokens` BPE
tokens on either side are left out of every split (~2%, mostly multi-line help). Tokens: one
joint byte-level BPE learnt on the training split (`data/bpe.py`), saved in the checkpoint.

Model: `transformer-seq2seq` or the `gru-seq2seq` baseline, trained with teacher forcing and
label-smoothed cross-entropy. Validation decodes greedily; the one test pass decodes with beam
search and a length penalty (`models/translate.py`), scores that very output and keeps it (and
a greedy decoding) for the report. Metrics: BLEU with sacrebleu's Chinese tokenisation
(`tokenize="zh"`: each Chinese character is a word) and chrF, over the whole split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from sacrebleu.metrics import BLEU, CHRF
from tokenizers import Tokenizer
from torch import nn
from torchmetrics import Metric, MetricCollection

from dllab.config import Recipe
from dllab.data.bpe import BOS, EOS, PAD, decode_ids, pad_rows, token_pieces, train_bpe
from dllab.data.gettext_pairs import DATASET, PairCorpus, TranslationPair, load_gettext_pairs
from dllab.data.text import fit_to_context, read_text_inputs
from dllab.errors import ConfigError
from dllab.models.decoding import beam_search, stepper_for
from dllab.models.translate import translate_ids, translation_model_options
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask, Prediction, StepOutput, TaskOptions
from dllab.train.batches import (
    IndexBatches,
    epoch_order,
    length_buckets,
    shard_batches,
    sorted_batches,
)

__all__ = [
    "CorpusTranslationScore",
    "PairBatch",
    "TranslationOptions",
    "TranslationTask",
    "corpus_scores",
    "pair_batches",
]


class TranslationOptions(TaskOptions):
    """The recipe's `task:` section for `translation`."""

    bpe_vocab_size: int = Field(4000, gt=0)  # merges + 256 bytes + specials, both languages
    max_tokens: int = Field(48, ge=1)  # longest text (BPE tokens) trained and translated
    beam_size: int = Field(4, ge=1)  # test split and `dllab predict`
    length_penalty: float = Field(0.6, ge=0)  # GNMT alpha; 0 ranks by probability alone


# ---------------------------------------------------------------- batches
class PairBatch(NamedTuple):
    """(source, target) id rows, each tensor cut to its longest row."""

    src: torch.Tensor  # (B, S) PAD on the right
    tgt: torch.Tensor  # (B, T) BOS y_1 .. y_n EOS, then PAD
    index: torch.Tensor  # (B,) positions in the split: the report restores split order


def pair_batches(
    src: torch.Tensor,
    tgt: torch.Tensor,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    window: int = 50,
    rank: int = 0,
    world: int = 1,
) -> IndexBatches:
    """`PairBatch`es of `src (N, S)`, `tgt (N, T)` (padded with PAD on the right).

    Training: a seeded shuffle, then within windows of `window` batches the pairs are sorted
    by length, so a batch holds pairs of similar length (little padding; ~2x faster than
    random batches here), and the batches are shuffled again. The order is a pure function of
    (seed, epoch), so a resumed run skips straight to batch `start`. Evaluation: sorted by
    length, every pair once. Under DDP each rank takes every `world`-th batch.
    """
    lengths = (src != PAD).sum(1) + (tgt != PAD).sum(1)  # (N,)

    def plan(epoch: int) -> list[torch.Tensor]:
        if not shuffle:
            batches = sorted_batches(lengths, batch_size)
        else:
            order = epoch_order(len(src), seed=seed, epoch=epoch, shuffle=True)
            g = torch.Generator().manual_seed(seed * 7_919 + epoch)
            batches = length_buckets(
                order, lengths, batch_size=batch_size, window=window, generator=g
            )
        return shard_batches(batches, rank=rank, world=world)

    def collate(idx: torch.Tensor) -> PairBatch:
        s, t = src[idx], tgt[idx]
        s = s[:, : int((s != PAD).sum(1).max())]
        return PairBatch(src=s, tgt=t[:, : int((t != PAD).sum(1).max())], index=idx)

    length = math.ceil(math.ceil(len(src) / batch_size) / world)
    return IndexBatches(plan, collate, length=length)


# ---------------------------------------------------------------- metrics
class CorpusTranslationScore(Metric):
    """Corpus BLEU (sacrebleu, `tokenize="zh"`) or chrF of decoded token ids.

    `update(preds (B, L), target (B, T))`: output and reference ids, each ending at EOS or
    padding. Per-sentence sufficient statistics (n-gram matches and totals) are summed in a
    tensor state, so the corpus score is exact and synchronises across processes.
    """

    full_state_update = False

    def __init__(self, kind: str, tokenizer: Tokenizer) -> None:
        super().__init__()
        assert kind in ("bleu", "chrf"), kind
        self.kind, self.tokenizer = kind, tokenizer
        self.scorer = BLEU(tokenize="zh") if kind == "bleu" else CHRF()
        width = 10 if kind == "bleu" else 18  # len, ref len, 4 x (matches, totals) | chrF's
        self.add_state("stats", torch.zeros(width, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        hyps = [decode_ids(self.tokenizer, r) for r in preds.long().tolist()]
        refs = [decode_ids(self.tokenizer, r) for r in target.long().tolist()]
        stats = self.scorer._extract_corpus_statistics(hyps, [refs])  # one row a sentence
        self.stats += torch.tensor(np.sum(stats, axis=0), dtype=torch.float64)

    def compute(self) -> torch.Tensor:
        if self.stats.sum() == 0:
            return torch.tensor(0.0)
        score = self.scorer._compute_score_from_stats([int(x) for x in self.stats.tolist()])
        return torch.tensor(score.score, dtype=torch.float64)


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """sacrebleu's corpus BLEU (`tokenize="zh"`) and chrF of strings, one reference each."""
    return {
        "bleu": BLEU(tokenize="zh").corpus_score(list(hypotheses), [list(references)]).score,
        "chrf": CHRF().corpus_score(list(hypotheses), [list(references)]).score,
    }


# ---------------------------------------------------------------- the task
@TASKS.register("translation")
class TranslationTask(BaseTask):
    """Task for `dllab run` recipes that translate English UI messages into Chinese."""

    name = "translation"
    metric_names = ("bleu", "chrf")
    Options = TranslationOptions
    options: TranslationOptions
    not_exportable = (
        "translation decodes with a search over the decoder, which one forward pass does not "
        "capture: `dllab export` writes the encoder and the decoder step as two graphs"
    )

    @classmethod
    def check_model_kwargs(cls, recipe: Recipe) -> None:
        """Refuse task options and unknown model options before the corpus is read."""
        super().check_model_kwargs(recipe)
        unknown = set(recipe.model.kwargs) - translation_model_options(recipe.model.name)
        if unknown:
            raise ConfigError(
                f"unknown model.kwargs {sorted(unknown)} for translation with "
                f"{recipe.model.name}; task options go in the task section: "
                + ", ".join(f"task.{k}" for k in cls.Options.model_fields)
            )

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        d = self.recipe.data
        self.corpus_: PairCorpus = load_gettext_pairs(
            val_fraction=d.val_fraction, test_fraction=d.test_fraction, data_dir=d.data_dir
        )
        train = self.corpus_.train
        if not train:
            raise ConfigError("the training split is empty; lower data.val_fraction/test_fraction")
        self.tokenizer_ = train_bpe(
            [p.source for p in train] + [p.target for p in train], self.options.bpe_vocab_size
        )
        self.too_long_: dict[str, int] = {}  # split -> pairs left out
        names = ("train", "val", "test")
        self.splits_ = {s: self._encode_split(s, getattr(self.corpus_, s)) for s in names}
        self.rank_, self.world_ = rank, world

    def _encode_split(
        self, split: str, pairs: list[TranslationPair]
    ) -> tuple[list[TranslationPair], torch.Tensor, torch.Tensor]:
        limit = self.options.max_tokens
        src = [e.ids for e in self.tokenizer_.encode_batch([p.source for p in pairs])]
        tgt = [e.ids for e in self.tokenizer_.encode_batch([p.target for p in pairs])]
        keep = [i for i in range(len(pairs)) if len(src[i]) <= limit and len(tgt[i]) <= limit]
        self.too_long_[split] = len(pairs) - len(keep)
        return (
            [pairs[i] for i in keep],
            pad_rows([src[i] for i in keep], limit),
            pad_rows([[BOS, *tgt[i], EOS] for i in keep], limit + 2),
        )

    def data_checksums(self) -> dict[str, str]:
        """sha256 of every catalogue read (for env.json)."""
        return dict(self.corpus_.checksums)

    def _batches(self, split: str) -> IndexBatches:
        _, src, tgt = self.splits_[split]
        return pair_batches(src, tgt, **self.batch_kwargs(split))

    # ------------------------------------------------------------ model and steps
    def model_kwargs(self) -> dict[str, Any]:
        kw = dict(self.recipe.model.kwargs)
        vocab = self.tokenizer_.get_vocab_size()
        kw.setdefault("max_len", self.options.max_tokens + 2)  # BOS + tokens + EOS
        return {**kw, "src_vocab_size": vocab, "tgt_vocab_size": vocab, "pad_idx": PAD}

    def training_step(self, model: nn.Module, batch: PairBatch) -> StepOutput:
        src, tgt = batch.src, batch.tgt  # (B, S), (B, T): BOS y_1 .. y_n EOS, then padding
        logits = model(src, tgt[:, :-1])  # (B, T-1, V): teacher forcing
        loss = F.cross_entropy(
            logits.flatten(0, 1).float(),
            tgt[:, 1:].flatten(),
            ignore_index=PAD,
            label_smoothing=self.recipe.train.label_smoothing,
        )
        return StepOutput(loss=loss)

    def _decode_step(
        self, model: nn.Module, batch: PairBatch, beam_size: int
    ) -> tuple[StepOutput, list[list[int]]]:
        """Teacher-forced loss; the decoded ids (greedy for `beam_size` 0) as `preds`."""
        src, tgt = batch.src, batch.tgt
        bare = getattr(model, "module", model)  # DDP wraps the model
        logits = bare(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1).float(), tgt[:, 1:].flatten(), ignore_index=PAD)
        hyps = translate_ids(bare, src, beam_size, self.options.length_penalty)
        return StepOutput(loss=loss, preds=pad_rows(hyps).to(src.device), target=tgt), hyps

    def validation_step(self, model: nn.Module, batch: PairBatch) -> StepOutput:
        return self._decode_step(model, batch, beam_size=0)[0]

    def test_step(self, model: nn.Module, batch: PairBatch) -> StepOutput:
        """Beam search once: BLEU/chrF score these outputs, and `outputs` keeps them (with a
        greedy decoding of the same batch) for translations.md and cross_attention.png."""
        out, beam = self._decode_step(model, batch, self.options.beam_size)
        greedy = translate_ids(getattr(model, "module", model), batch.src)
        tok, pairs = self.tokenizer_, self.splits_["test"][0]
        out.outputs = [
            {
                "index": i,
                "source": pairs[i].source,
                "reference": decode_ids(tok, ref),
                "beam": decode_ids(tok, b),
                "greedy": decode_ids(tok, g),
                "beam_ids": b,
            }
            for i, ref, b, g in zip(
                batch.index.tolist(), batch.tgt.tolist(), beam, greedy, strict=True
            )
        ]
        return out

    def build_metrics(self) -> MetricCollection:
        return MetricCollection(
            {
                "bleu": CorpusTranslationScore("bleu", self.tokenizer_),
                "chrf": CorpusTranslationScore("chrf", self.tokenizer_),
            },
            compute_groups=False,
        )

    # ------------------------------------------------------------ serving
    def metadata(self) -> dict[str, Any]:
        """The tokenizer (as JSON), the corpus counts, and the corpus really read (the
        installed catalogues: `data.name` is not read)."""
        return {
            "tokenizer": self.tokenizer_.to_str(),
            "corpus": self.corpus_.stats.summary(),
            "dataset": DATASET,
        }

    @classmethod
    @torch.no_grad()
    def predict_with(
        cls, model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """Translate English texts (`-`: one a line from stdin) with the checkpoint's tokenizer
        and beam search; `text` is the best translation, `labels`/`scores` up to `top_k`
        hypotheses of the beam and their probabilities.

        Empty text is an InputError; text longer than `max_tokens` BPE tokens is truncated
        with a warning; any character can be encoded (byte-level BPE), so nothing is unknown.
        """
        opts = meta.get("task_options") or meta  # runs from before the task section: top level
        tok = Tokenizer.from_str(meta["tokenizer"])
        device = next(model.parameters()).device
        model.eval()
        out = []
        for text in read_text_inputs(inputs):
            ids = fit_to_context(tok.encode(text).ids, opts["max_tokens"], what=repr(text[:40]))
            hyps = beam_search(
                stepper_for(model),
                torch.tensor([ids], device=device),
                bos=BOS,
                eos=EOS,
                beam_size=opts["beam_size"],
                alpha=opts["length_penalty"],
                max_len=opts["max_tokens"] + 1,
            )[0][:top_k]
            out.append(
                Prediction(
                    source=text,
                    labels=[tok.decode(list(h.tokens)) for h in hyps],
                    scores=[math.exp(h.log_prob) for h in hyps],
                    text=tok.decode(list(hyps[0].tokens)),
                )
            )
        return out

    # ------------------------------------------------------------ pictures
    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """cross_attention.png (four test sentences) and translations.md: corpus counts,
        greedy vs beam scores on the test split, and sample translations."""
        from dllab.viz.cross_attention import plot_cross_attention

        rows = sorted((r for batch in outputs for r in batch), key=lambda r: r["index"])
        spread = rows[:: max(1, len(rows) // 4)][:4]  # the split is sorted: not four alike
        picture = plot_cross_attention(
            self.attention_examples(model, spread),
            run_dir / "cross_attention.png",
            title=f"{self.recipe.model.name}: cross-attention on test sentences",
        )
        return [picture, self.write_translations(rows, run_dir / "translations.md")]

    def write_translations(self, rows: list[dict[str, Any]], path: Path) -> Path:
        """translations.md: the corpus, greedy vs beam BLEU/chrF, the first 30 test pairs."""
        from dllab.viz.translation_report import write_translations

        o, refs = self.options, [r["reference"] for r in rows]
        too_long = " / ".join(f"{k} {v}" for k, v in self.too_long_.items())
        notes = [
            f"corpus: {self.corpus_.stats.summary()}",
            f"longer than {o.max_tokens} BPE tokens, left out: {too_long}",
            f"BPE: byte-level, joint English+Chinese, {self.tokenizer_.get_vocab_size()} tokens",
        ]
        beam = f"beam {o.beam_size}, length penalty {o.length_penalty}"
        scores = {
            "greedy": corpus_scores([r["greedy"] for r in rows], refs),
            beam: corpus_scores([r["beam"] for r in rows], refs),
        }
        return write_translations(rows, scores, path, notes=notes)

    @torch.no_grad()
    def attention_examples(self, model: nn.Module, rows: list[dict[str, Any]]) -> list[Any]:
        """The cross-attention map of each row's (beam) output over its source, averaged
        over heads for the Transformer (last decoder layer): one forward pass each."""
        from dllab.viz.cross_attention import AttentionExample

        device = next(model.parameters()).device
        model.eval()
        examples = []
        for row in rows:
            ids, out = self.tokenizer_.encode(row["source"]).ids, row["beam_ids"]
            src = torch.tensor([ids], device=device)
            _, weights = model(
                src, torch.tensor([[BOS, *out]], device=device), return_attention=True
            )
            w = weights[0].float()
            w = w.mean(0) if w.ndim == 3 else w  # (T, S): heads averaged
            examples.append(
                AttentionExample(
                    source_tokens=token_pieces(self.tokenizer_, ids),
                    output_tokens=[*token_pieces(self.tokenizer_, out), "</s>"],
                    weights=w.cpu().numpy(),
                    title=row["source"],
                )
            )
        return examples
