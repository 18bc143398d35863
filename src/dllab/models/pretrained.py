"""Pretrained weights from finished runs, for models that start from them.

Two kinds of run feed others:

- a `word2vec` run (`dllab run skipgram-peoples-daily`, `skipgram-chars-zh`): word or
  character vectors learned by skip-gram; `load_word_vectors(run_dir)` returns them, and
  `align_vectors` lays them out in another vocabulary's order to initialise an `nn.Embedding`;
- a `masked_lm` run (`dllab run mlm-zh`): a BERT encoder pretrained by masked language
  modelling; `load_encoder(run_dir)` returns its vocabulary, weights and sizes, ready for
  `create_model("bert-classifier", num_classes=…, **config)` and
  `model.encoder.load_state_dict(state)`.

Both read the run's best checkpoint (`checkpoints/best.safetensors`, else `last`), whose
metadata holds the vocabulary, so nothing but the run folder is needed. Example, fine-tuning
the pretrained encoder on a 2-class task:

    tokens, state, config = load_encoder(Path("runs/mlm-zh"))
    vocab = Vocab(tokens)                       # <pad> 0, <unk> 1, [CLS] 2, [SEP] 3, [MASK] 4
    model = create_model("bert-classifier", num_classes=2, **config)
    model.encoder.load_state_dict(state)
    ids = [vocab.index["[CLS]"], *vocab.encode(char_tokenize(text)), vocab.index["[SEP]"]]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dllab.errors import CheckpointError
from dllab.train.checkpoint import load_checkpoint

__all__ = ["align_vectors", "load_encoder", "load_word_vectors"]

SPECIALS = ("<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]")  # never returned as word vectors


def _checkpoint(run_dir: Path, task: str) -> dict[str, Any]:
    """The best (else last) checkpoint of `run_dir`, checked to come from `task`."""
    run_dir = Path(run_dir)
    folder = run_dir / "checkpoints"
    path = folder / "best.safetensors"
    if not path.is_file():
        path = folder / "last.safetensors"
    if not path.is_file():
        raise CheckpointError(
            f"{run_dir} has no checkpoints/best.safetensors or last.safetensors; give a run "
            f"folder of a finished `{task}` run (e.g. dllab run ... --run-dir {run_dir})"
        )
    state = load_checkpoint(path)
    meta = state.get("meta") or {}
    if meta.get("task") != task or "vocab" not in meta or "model" not in state:
        raise CheckpointError(
            f"{run_dir} is a {meta.get('task', 'unknown')!r} run, not a {task!r} run with a "
            f"vocabulary; give the run folder of a `{task}` recipe"
        )
    return state


def load_word_vectors(run_dir: Path) -> tuple[list[str], torch.Tensor]:
    """Tokens and their vectors `(V, D)` float32 from a `word2vec` (skip-gram) run.

    `tokens[i]` has vector `vectors[i]`; the vocabulary's specials (`<pad>`, `<unk>`) are left
    out, so every row was trained. The vectors are the input ("centre") embeddings, as gensim
    keeps; they are not normalised.
    """
    state = _checkpoint(run_dir, "word2vec")
    vocab: list[str] = state["meta"]["vocab"]
    weights = state["model"]["in_embed.weight"].float()
    keep = [i for i, t in enumerate(vocab) if t not in SPECIALS]
    return [vocab[i] for i in keep], weights[keep].clone()


def load_encoder(run_dir: Path) -> tuple[list[str], dict[str, torch.Tensor], dict[str, Any]]:
    """Vocabulary, encoder weights and encoder sizes of a `masked_lm` run.

    Returns `(tokens, state_dict, config)`: `tokens` the whole vocabulary in id order (specials
    first: `<pad>`, `<unk>`, `[CLS]`, `[SEP]`, `[MASK]`; `Vocab(tokens)` rebuilds it);
    `state_dict` for `BertEncoder` (what `model.encoder.load_state_dict` takes); `config` the
    `BertConfig` fields (`vocab_size`, `d_model`, `n_heads`, `n_layers`, `d_ff`, `dropout`,
    `max_len`, `pad_idx`, `positions`) as keyword arguments for `create_model("bert-classifier", ...)`.
    Texts were pretrained as `[CLS] characters… [SEP]`, at most `max_len` tokens.
    """
    state = _checkpoint(run_dir, "masked_lm")
    prefix = "encoder."
    encoder = {k[len(prefix) :]: v for k, v in state["model"].items() if k.startswith(prefix)}
    meta = state["meta"]
    # The encoder's whole config: `encoder`; runs from before the task section kept it as
    # their `model_kwargs`.
    config = dict(meta.get("encoder") or meta["model_kwargs"])
    return list(meta["vocab"]), encoder, config


def align_vectors(
    vocab: list[str], tokens: list[str], vectors: torch.Tensor, std: float | None = None
) -> tuple[torch.Tensor, int]:
    """Rows of `vectors` laid out in `vocab`'s order, for `nn.Embedding.weight`: `(len(vocab),
    D)` and the number of `vocab` tokens found in `tokens`.

    Tokens without a pretrained vector get random N(0, std) rows (std: that of the pretrained
    vectors, so they are neither louder nor quieter); `<pad>` gets zeros.

    >>> w, hits = align_vectors(["<pad>", "<unk>", "好"], ["好", "坏"], torch.ones(2, 3))
    >>> hits, w[2].tolist(), w[0].tolist()
    (1, [1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    """
    index = {t: i for i, t in enumerate(tokens)}
    std = float(vectors.std()) if std is None else std
    out = torch.randn(len(vocab), vectors.shape[1]) * std
    hits = 0
    for row, token in enumerate(vocab):
        if token in index:
            out[row] = vectors[index[token]]
            hits += 1
        elif token == "<pad>":
            out[row] = 0.0
    return out, hits
