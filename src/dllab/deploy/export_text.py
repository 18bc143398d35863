"""End-to-end check of an exported text classifier (sentiment): the same labels on test reviews.

`export_onnx` proves the graph's logits equal PyTorch's within 1e-4 on random token ids. A
user sees labels of real texts: this check runs up to 100 of the run's test reviews (the
split its config.yaml draws: the same corpus, fractions and seed) through both engines, each
text turned into ids from the checkpoint's vocabulary and tokeniser as `dllab predict` does,
and compares the argmax labels with the image classifiers' rule (`export_images.
compare_labels`): a label may flip only where PyTorch's two best logits are within `NEAR_TIE`
(counted, not failed). When the reviews can no longer be read, or the run is not a sentiment
run, the texts are seeded random token ids, and the report says so (`texts: {"noise": 100}`).

A graph whose sequence axis was frozen at `max_len` (`export.frozen_sequence`) gets every
batch padded up to it, as model.json tells a user to. A difference raises InputError in one
line; `export_onnx` then writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dllab.deploy.export_graphs import ort_session
from dllab.deploy.export_images import END_TO_END_ITEMS, compare_labels
from dllab.errors import DllabError
from dllab.tasks.example_inputs import text_sizes, token_batch

__all__ = ["end_to_end", "run_texts"]

BATCH = 16  # texts per call: each batch is padded to its own longest text, as predict does


def run_texts(
    run_dir: Path, meta: dict[str, Any], n: int = END_TO_END_ITEMS
) -> tuple[torch.Tensor, torch.Tensor, dict[str, int]]:
    """Token ids `(N, T)` (right-padded), lengths `(N,)` of up to `n` of the run's test
    reviews, encoded with the checkpoint's vocabulary, and where they came from; `n` seeded
    random texts of 1..max_len tokens when the run's reviews cannot be read."""
    try:
        texts = _test_reviews(run_dir)[:n]
    except (DllabError, OSError):
        texts = []  # the data is gone or this is not a reviews run: noise below, said so
    if texts:
        from dllab.data.text import Vocab, tokenizer
        from dllab.data.token_ids import encode_texts, pad_ids

        wrap = tuple(meta["wrap"]) if meta.get("wrap") else None
        vocab, tokenize = Vocab(meta["vocab"]), tokenizer(meta["tokenizer"])
        longest = text_sizes(meta)[2]
        encoded, _ = encode_texts(texts, vocab, tokenize, longest, wrap)
        ids, lengths = pad_ids(encoded, vocab.pad_id)
        return ids, lengths, {"test": len(texts)}
    size, pad, longest = text_sizes(meta)
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, longest + 1, (n,), generator=g).tolist()
    ids, n_tokens = token_batch(size, lengths, pad, seed=0)
    return ids, n_tokens, {"noise": n}


def _test_reviews(run_dir: Path) -> list[str]:
    """The test split's texts of a sentiment run, drawn as its task draws them."""
    from dllab.config import load_resolved
    from dllab.data.reviews import load_reviews, split_reviews

    recipe = load_resolved(run_dir / "config.yaml")
    if recipe.task.name != "sentiment":
        return []
    d = recipe.data
    corpus = load_reviews(d.data_dir)
    split = split_reviews(
        corpus.labels,
        val_fraction=d.val_fraction,
        test_fraction=d.test_fraction,
        seed=recipe.split_seed,
    )
    return [corpus.texts[i] for i in split["test"].tolist()]


def end_to_end(path: Path, model: nn.Module, meta: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The end-to-end report of the text classifier at `path` against `model` on the run's
    test reviews: labels compared by `compare_labels`; InputError when they differ."""
    ids, lengths, counts = run_texts(run_dir, meta)
    session = ort_session(path)
    tokens, n_tokens = (i.name for i in session.get_inputs())
    frozen = session.get_inputs()[0].shape[1]  # an int when the sequence axis is fixed
    pad = text_sizes(meta)[1]
    expected, got = [], []
    model.eval()
    for x, n in zip(ids.split(BATCH), lengths.split(BATCH), strict=True):
        x = x[:, : int(n.max())]  # (B, T): this batch's longest text
        if isinstance(frozen, int):
            x = torch.nn.functional.pad(x, (0, frozen - x.shape[1]), value=pad)
        with torch.no_grad():
            expected.append(model(x, n).float().numpy())
        got.append(session.run(None, {tokens: x.numpy(), n_tokens: n.numpy()})[0])
    report = compare_labels(np.concatenate(expected), np.concatenate(got), item="text")
    return {**report, "texts": counts}
