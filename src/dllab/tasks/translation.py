"""English -> Chinese translation of UI messages: the gettext corpus, BPE, a seq2seq model.

Data: the zh_CN gettext catalogues installed on the machine (`data/gettext_pairs.py`: cleaned,
deduplicated, split by a hash of the English text). Pairs longer than `max_tokens` BPE tokens
on either side are left out of every split (counted; ~2% of them, mostly multi-line help).

Tokens: one byte-level BPE (HuggingFace `tokenizers`) learnt on the training split's English
*and* Chinese. Joint, because many target tokens are copies of source tokens: placeholders
(`%s`), option names (`--force`), identifiers (`max_wal_size`) and product names get the same
id on both sides. Byte-level, because then every string can be encoded (no `<unk>`, whatever
the user types) and decoding gives back exactly the text that was encoded. The tokenizer is
saved as its JSON inside the checkpoint's metadata, so `dllab predict` needs nothing else.

Model: `transformer-seq2seq` (models/transformer.py) or the `gru-seq2seq` baseline
(models/seq2seq.py), trained with teacher forcing and label-smoothed cross-entropy
(`train.label_smoothing`). Validation decodes greedily; the test split with beam search and a
length penalty (models/decoding.py). Metrics: BLEU with sacrebleu's Chinese tokenisation
(`tokenize="zh"`: each Chinese character is a word) and chrF, over the whole split.

Task options ride in `model.kwargs` and are taken out before the model is built:
`bpe_vocab_size` (8000), `max_tokens` (48), `beam_size` (4), `length_penalty` (0.6).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sacrebleu.metrics import BLEU, CHRF
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from torch import nn
from torchmetrics import Metric, MetricCollection

from dllab.config import Recipe
from dllab.data.gettext_pairs import PairCorpus, TranslationPair, load_gettext_pairs
from dllab.data.text import fit_to_context, read_text_inputs
from dllab.errors import ConfigError
from dllab.models import create_model
from dllab.models.decoding import beam_search, greedy_search, stepper_for
from dllab.tasks import TASKS
from dllab.tasks.base import Prediction, SplitBatches, StepOutput
from dllab.train.batches import epoch_order, length_buckets

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>"]  # ids 0..3, in this order
TASK_OPTIONS = {  # taken out of model.kwargs; the rest goes to the model builder
    "bpe_vocab_size": 4000,  # merges + 256 bytes + specials, shared by English and Chinese
    "max_tokens": 48,  # longest text (BPE tokens) trained and translated; keeps ~98% of pairs
    "beam_size": 4,  # test split and `dllab predict`
    "length_penalty": 0.6,  # GNMT alpha; 0 ranks by probability alone
}


# ---------------------------------------------------------------- BPE
def train_bpe(texts: Sequence[str], vocab_size: int) -> Tokenizer:
    """A byte-level BPE learnt on `texts` (deterministic for the same texts in the same order).

    >>> tok = train_bpe(["Open file", "打开文件"], 300)
    >>> tok.decode(tok.encode("Open 文件").ids)
    'Open 文件'
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: nothing unknown
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    assert [tok.token_to_id(s) for s in SPECIALS] == [PAD, UNK, BOS, EOS]
    return tok


def token_pieces(tok: Tokenizer, ids: Sequence[int]) -> list[str]:
    """Each token as text, for plots (a piece that cuts a character in two shows '�')."""
    return [tok.decode([i], skip_special_tokens=False) for i in ids]


# ---------------------------------------------------------------- batches
class LengthBatches:
    """Batches of (source, target) id tensors, each cut to its longest row.

    Training: a seeded shuffle, then within windows of 50 batches the pairs are sorted by
    length, so a batch holds pairs of similar length (little padding; ~2x faster than random
    batches here), and the batches are shuffled again. The order is a pure function of
    (seed, epoch), so a resumed run skips straight to batch `start`. Evaluation: sorted by
    length, every pair once. With `beam_size`, each batch carries it as a third tensor, and the
    validation step decodes with beam search instead of greedily (the test split).
    """

    WINDOW = 50  # batches sorted together

    def __init__(
        self,
        src: torch.Tensor,
        tgt: torch.Tensor,
        *,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        beam_size: int = 0,
    ) -> None:
        self.src, self.tgt = src, tgt  # (N, S), (N, T), padded with PAD on the right
        self.lengths = (src != PAD).sum(1) + (tgt != PAD).sum(1)  # (N,)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.rank, self.world, self.beam_size = rank, world, beam_size

    def __len__(self) -> int:
        return math.ceil(math.ceil(len(self.src) / self.batch_size) / self.world)

    def _batches(self, epoch: int) -> list[torch.Tensor]:
        n, size = len(self.src), self.batch_size
        if not self.shuffle:
            order = torch.argsort(self.lengths, stable=True)
            return list(order.split(size))
        order = epoch_order(n, seed=self.seed, epoch=epoch, shuffle=True)
        g = torch.Generator().manual_seed(self.seed * 7_919 + epoch)
        return length_buckets(order, self.lengths, batch_size=size, window=self.WINDOW, generator=g)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
        batches = self._batches(epoch)
        if self.world > 1:  # every rank the same number of batches (repeat from the start)
            batches += batches[: len(self) * self.world - len(batches)]
            batches = batches[self.rank :: self.world]
        for idx in batches[start:]:
            src, tgt = self.src[idx], self.tgt[idx]
            src = src[:, : int((src != PAD).sum(1).max())]
            tgt = tgt[:, : int((tgt != PAD).sum(1).max())]
            if self.beam_size:
                yield src, tgt, torch.tensor(self.beam_size)
            else:
                yield src, tgt


def pad_rows(rows: Sequence[Sequence[int]], width: int | None = None) -> torch.Tensor:
    """Token lists -> `(N, width)` int64, right-padded with PAD."""
    width = width or max((len(r) for r in rows), default=1)
    out = torch.full((len(rows), max(width, 1)), PAD, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


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
        hyps = [self.tokenizer.decode(until_eos(r)) for r in preds.long().tolist()]
        refs = [self.tokenizer.decode(until_eos(r)) for r in target.long().tolist()]
        stats = self.scorer._extract_corpus_statistics(hyps, [refs])  # one row a sentence
        self.stats += torch.tensor(np.sum(stats, axis=0), dtype=torch.float64)

    def compute(self) -> torch.Tensor:
        if self.stats.sum() == 0:
            return torch.tensor(0.0)
        score = self.scorer._compute_score_from_stats([int(x) for x in self.stats.tolist()])
        return torch.tensor(score.score, dtype=torch.float64)


def until_eos(ids: Sequence[int]) -> list[int]:
    """Token ids up to (not including) the first EOS or PAD; BOS dropped."""
    out = []
    for i in ids:
        if i in (EOS, PAD):
            break
        if i != BOS:
            out.append(i)
    return out


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """sacrebleu's corpus BLEU (`tokenize="zh"`) and chrF of strings, one reference each."""
    return {
        "bleu": BLEU(tokenize="zh").corpus_score(list(hypotheses), [list(references)]).score,
        "chrf": CHRF().corpus_score(list(hypotheses), [list(references)]).score,
    }


# ---------------------------------------------------------------- the task
@TASKS.register("translation")
class TranslationTask(SplitBatches):
    """Task for `dllab run` recipes that translate English UI messages into Chinese."""

    name = "translation"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        unknown = set(recipe.model.kwargs) - set(TASK_OPTIONS) - _model_fields(recipe.model.name)
        if unknown:
            raise ConfigError(
                f"unknown model.kwargs {sorted(unknown)} for translation with "
                f"{recipe.model.name}; task options: {', '.join(TASK_OPTIONS)}"
            )
        kw = recipe.model.kwargs
        self.options = {k: type(v)(kw.get(k, v)) for k, v in TASK_OPTIONS.items()}

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
            [p.source for p in train] + [p.target for p in train], self.options["bpe_vocab_size"]
        )
        self.splits_: dict[str, tuple[list[TranslationPair], torch.Tensor, torch.Tensor]] = {}
        self.too_long_: dict[str, int] = {}
        for split in ("train", "val", "test"):
            self.splits_[split] = self._encode_split(split, getattr(self.corpus_, split))
        self.rank_, self.world_ = rank, world

    def _too_long_line(self) -> str:
        return f"longer than {self.options['max_tokens']} BPE tokens, left out: " + " / ".join(
            f"{k} {v}" for k, v in self.too_long_.items()
        )

    def _encode_split(
        self, split: str, pairs: list[TranslationPair]
    ) -> tuple[list[TranslationPair], torch.Tensor, torch.Tensor]:
        limit = self.options["max_tokens"]
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

    def _batches(self, split: str) -> LengthBatches:
        d, seed = self.recipe.data, self.recipe.train.seed
        _, src, tgt = self.splits_[split]
        train, test = split == "train", split == "test"
        return LengthBatches(
            src,
            tgt,
            batch_size=d.batch_size if train else d.eval_batch_size,
            shuffle=train,
            seed=seed,
            rank=0 if test else self.rank_,
            world=1 if test else self.world_,
            beam_size=self.options["beam_size"] if test else 0,
        )

    # ------------------------------------------------------------ model and steps
    def _model_kwargs(self) -> dict[str, Any]:
        kw = {k: v for k, v in self.recipe.model.kwargs.items() if k not in TASK_OPTIONS}
        vocab = self.tokenizer_.get_vocab_size()
        kw.setdefault("max_len", self.options["max_tokens"] + 2)  # BOS + tokens + EOS
        return {**kw, "src_vocab_size": vocab, "tgt_vocab_size": vocab, "pad_idx": PAD}

    def build_model(self) -> nn.Module:
        return create_model(self.recipe.model.name, **self._model_kwargs())

    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        src, tgt = batch[0], batch[1]  # (B, S), (B, T): BOS y_1 .. y_n EOS, then padding
        logits = model(src, tgt[:, :-1])  # (B, T-1, V): teacher forcing
        loss = F.cross_entropy(
            logits.flatten(0, 1).float(),
            tgt[:, 1:].flatten(),
            ignore_index=PAD,
            label_smoothing=self.recipe.train.label_smoothing,
        )
        return StepOutput(loss=loss)

    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput:
        src, tgt = batch[0], batch[1]
        bare = getattr(model, "module", model)  # DDP wraps the model
        logits = bare(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1).float(), tgt[:, 1:].flatten(), ignore_index=PAD)
        beam = int(batch[2]) if len(batch) > 2 else 0
        outputs = translate_ids(bare, src, beam_size=beam, alpha=self.options["length_penalty"])
        return StepOutput(loss=loss, preds=pad_rows(outputs).to(src.device), target=tgt)

    def metrics(self) -> MetricCollection:
        return MetricCollection(
            {
                "bleu": CorpusTranslationScore("bleu", self.tokenizer_),
                "chrf": CorpusTranslationScore("chrf", self.tokenizer_),
            },
            compute_groups=False,
        )

    # ------------------------------------------------------------ serving
    def model_metadata(self) -> dict[str, Any]:
        """Everything `predict` needs: the model, the tokenizer (as JSON) and the search."""
        return {
            "task": self.name,
            "model": self.recipe.model.name,
            "model_kwargs": self._model_kwargs(),
            "tokenizer": self.tokenizer_.to_str(),
            **self.options,
            "dataset": self.recipe.data.name,
            "corpus": self.corpus_.stats.summary(),
            "recipe": self.recipe.name,
        }

    def example_input(self) -> torch.Tensor:
        return torch.tensor([self.tokenizer_.encode("Open file").ids])

    def predict(self, model: nn.Module, inputs: list[str], top_k: int = 5) -> list[Prediction]:
        return predict_translations(model, self.model_metadata(), inputs, top_k)

    @staticmethod
    def model_from_metadata(meta: dict[str, Any]) -> nn.Module:
        """Rebuild the (untrained) model a checkpoint's metadata describes."""
        return create_model(meta["model"], **meta["model_kwargs"])

    @staticmethod
    def predict_with(
        model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """Translate English texts (`-`: one a line from stdin); `text` is the best
        translation, `labels`/`scores` up to `top_k` hypotheses of the beam and their
        probabilities."""
        return predict_translations(model, meta, inputs, top_k)

    # ------------------------------------------------------------ pictures
    @torch.no_grad()
    def test_translations(self, model: nn.Module, device: torch.device) -> list[dict[str, str]]:
        """Source, reference, greedy and beam output of every test pair, in split order."""
        model.eval()
        pairs, src, _ = self.splits_["test"]
        rows = []
        for start in range(0, len(pairs), 256):
            chunk = src[start : start + 256]
            chunk = chunk[:, : int((chunk != PAD).sum(1).max())].to(device)
            greedy = translate_ids(model, chunk, beam_size=0)
            beam = translate_ids(
                model, chunk, self.options["beam_size"], self.options["length_penalty"]
            )
            for p, g, b in zip(pairs[start : start + 256], greedy, beam, strict=True):
                rows.append(
                    {
                        "source": p.source,
                        "reference": p.target,
                        "greedy": self.tokenizer_.decode(g),
                        "beam": self.tokenizer_.decode(b),
                    }
                )
        return rows

    def visualize(
        self, model: nn.Module, run_dir: Path, device: torch.device | None = None
    ) -> list[Path]:
        """cross_attention.png (four test sentences) and translations.md: corpus counts,
        greedy vs beam scores on the test split, and sample translations."""
        from dllab.viz.cross_attention import plot_cross_attention

        device = device or next(model.parameters()).device
        rows = self.test_translations(model, device)
        spread = rows[:: max(1, len(rows) // 4)][:4]  # the split is sorted: not four alike
        examples = self.attention_examples(model, device, [r["source"] for r in spread])
        picture = plot_cross_attention(
            examples,
            run_dir / "cross_attention.png",
            title=f"{self.recipe.model.name}: cross-attention on test sentences",
        )
        return [picture, self.write_translations(rows, run_dir / "translations.md")]

    def attention_examples(self, model: nn.Module, device: torch.device, sources: list[str]):
        """The model's own (beam) output for each source and its cross-attention map, averaged
        over heads for the Transformer (last decoder layer)."""
        from dllab.viz.cross_attention import AttentionExample

        model.eval()
        examples = []
        for source in sources:
            ids = self.tokenizer_.encode(source).ids[: self.options["max_tokens"]]
            src = torch.tensor([ids], device=device)
            out = translate_ids(
                model, src, self.options["beam_size"], self.options["length_penalty"]
            )[0]
            tgt_in = torch.tensor([[BOS, *out]], device=device)
            with torch.no_grad():
                _, weights = model(src, tgt_in, return_attention=True)
            w = weights[0].float()
            w = w.mean(0) if w.ndim == 3 else w  # (T, S): heads averaged
            examples.append(
                AttentionExample(
                    source_tokens=token_pieces(self.tokenizer_, ids),
                    output_tokens=[*token_pieces(self.tokenizer_, out), "</s>"],
                    weights=w.cpu().numpy(),
                    title=source,
                )
            )
        return examples

    def write_translations(self, rows: list[dict[str, str]], path: Path) -> Path:
        greedy = corpus_scores([r["greedy"] for r in rows], [r["reference"] for r in rows])
        beam = corpus_scores([r["beam"] for r in rows], [r["reference"] for r in rows])
        o = self.options
        lines = [
            "# Translations of the test split",
            "",
            f"- corpus: {self.corpus_.stats.summary()}",
            f"- {self._too_long_line()}",
            f"- BPE: byte-level, joint English+Chinese, {self.tokenizer_.get_vocab_size()} tokens",
            "",
            "| search | BLEU (zh) | chrF |",
            "|---|---|---|",
            f"| greedy | {greedy['bleu']:.2f} | {greedy['chrf']:.2f} |",
            f"| beam {o['beam_size']}, length penalty {o['length_penalty']} "
            f"| {beam['bleu']:.2f} | {beam['chrf']:.2f} |",
            "",
            "| English | reference | beam output |",
            "|---|---|---|",
        ]
        for r in rows[:30]:
            cells = (r["source"], r["reference"], r["beam"])
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def _model_fields(model_name: str) -> set[str]:
    """The options a translation model's config takes (for the unknown-key check)."""
    from dataclasses import fields

    from dllab.models.seq2seq import Seq2SeqConfig
    from dllab.models.transformer import TransformerConfig

    config = {"transformer-seq2seq": TransformerConfig, "gru-seq2seq": Seq2SeqConfig}.get(
        model_name
    )
    if config is None:
        raise ConfigError(
            f"model {model_name!r} cannot translate; use transformer-seq2seq or gru-seq2seq"
        )
    return {f.name for f in fields(config)}


# ---------------------------------------------------------------- translating
@torch.no_grad()
def translate_ids(
    model: nn.Module, src: torch.Tensor, beam_size: int = 0, alpha: float = 0.6
) -> list[list[int]]:
    """Output token ids (no BOS/EOS) for `src (B, S)`: greedy when `beam_size` is 0, else the
    best hypothesis of a beam search. At most `2 S + 4` tokens (fairseq's `max_len_a/b`):
    the Chinese side is rarely longer in tokens than the English, and an output that has not
    ended by then is looping; this bounds the cost of a poorly trained model."""
    stepper = stepper_for(model)
    limit = min(stepper.max_len, 2 * src.shape[1] + 4)
    if beam_size <= 0:
        return greedy_search(stepper, src, bos=BOS, eos=EOS, pad=PAD, max_len=limit)
    found = beam_search(
        stepper, src, bos=BOS, eos=EOS, beam_size=beam_size, alpha=alpha, max_len=limit
    )
    return [list(hyps[0].tokens) for hyps in found]


@torch.no_grad()
def predict_translations(
    model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
) -> list[Prediction]:
    """Translate each text with the checkpoint's tokenizer and beam search.

    Empty text is an InputError; text longer than `max_tokens` BPE tokens is truncated with a
    warning; any character can be encoded (byte-level BPE), so nothing is unknown.
    """
    texts = read_text_inputs(inputs)
    tok = Tokenizer.from_str(meta["tokenizer"])
    device = next(model.parameters()).device
    model.eval()
    out = []
    for text in texts:
        ids = fit_to_context(tok.encode(text).ids, meta["max_tokens"], what=repr(text[:40]))
        src = torch.tensor([ids], device=device)
        hyps = beam_search(
            stepper_for(model),
            src,
            bos=BOS,
            eos=EOS,
            beam_size=meta["beam_size"],
            alpha=meta["length_penalty"],
            max_len=meta["max_tokens"] + 1,
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
