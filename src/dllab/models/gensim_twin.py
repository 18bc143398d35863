"""gensim's `Word2Vec` as the reference twin of our skip-gram: trained once per run, kept in
the run folder, read back after that.

gensim's `Word2Vec(sg=1, negative=K)` gets the same sentences, window, size, min_count, sample
and epochs as ours. Training it takes a minute on the whole corpus, so `gensim_reference`
trains it only when the folder it is given (a run's `gensim/`) does not already hold it for
the same settings, vocabulary and held-out pairs; otherwise it reads it back:

- `gensim/vectors.bin`: gensim's input vectors in word2vec's binary format, in our
  vocabulary's order without its specials (`KeyedVectors.load_word2vec_format` reads it);
- `gensim/gensim.json`: what it was trained with (`key`), its training seconds, its scores on
  the held-out pairs and the neighbour agreement between two gensim seeds.

Its output (negative-sampling) vectors are needed only to score the pairs, so only the scores
are kept.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dllab.data.word2vec_format import read_word2vec_binary, write_word2vec_binary
from dllab.models.word_vectors import nearest, overlap, pair_scores, sgns_loss_and_hit

__all__ = ["GensimReference", "GensimSettings", "gensim_reference", "train_gensim"]

SPECIALS = 2  # our vocabulary's <pad> and <unk>: gensim has no rows for them


@dataclass(frozen=True)
class GensimSettings:
    """What gensim's `Word2Vec(sg=1)` is trained with (ours uses the same)."""

    dim: int  # vector size
    window: int  # largest distance of a context word
    negatives: int  # noise words per pair
    min_count: int  # rarer tokens are dropped
    sample: float  # subsampling threshold t
    epochs: int
    seed: int
    workers: int  # gensim's threads (more than one makes its result vary from run to run)
    twice: bool  # a second run with seed + 1, for `self_overlap`


@dataclass
class GensimReference:
    """gensim's vectors laid out in our vocabulary's order, and what they scored."""

    vectors: torch.Tensor  # (V, D) input vectors; zero rows for our specials
    seconds: float  # training time of one gensim run
    self_overlap: float  # neighbour agreement between two gensim seeds (nan if one run)
    scores: dict[str, float]  # `loss` and `pair_accuracy` on the held-out pairs


def train_gensim(
    sentences: list[list[str]], tokens: list[str], settings: GensimSettings, seed: int
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """gensim `Word2Vec(sg=1)` with `settings` and `seed`: (input vectors, output vectors,
    seconds), rows in the order of `tokens` (our vocabulary, specials first)."""
    from gensim.models import Word2Vec

    s = settings
    t0 = time.perf_counter()
    w2v = Word2Vec(
        sentences=sentences,
        vector_size=s.dim,
        window=s.window,
        min_count=s.min_count,
        sample=s.sample,
        sg=1,
        hs=0,
        negative=s.negatives,
        ns_exponent=0.75,
        epochs=s.epochs,
        seed=seed,
        workers=s.workers,
    )
    seconds = time.perf_counter() - t0
    theirs = w2v.wv.key_to_index
    missing = [t for t in tokens[SPECIALS:] if t not in theirs]
    assert not missing, f"gensim's vocabulary lacks {missing[:5]}: min_count differs?"
    rows = torch.tensor([theirs.get(t, 0) for t in tokens])
    vin = torch.from_numpy(np.asarray(w2v.wv.vectors))[rows].clone()
    vout = torch.from_numpy(np.asarray(w2v.syn1neg))[rows].clone()
    vin[:SPECIALS], vout[:SPECIALS] = 0.0, 0.0
    return vin, vout, seconds


def _digest(x: Any) -> str:
    data = x.numpy().tobytes() if isinstance(x, torch.Tensor) else json.dumps(x).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def gensim_reference(
    folder: Path,
    sentences: list[list[str]],
    tokens: list[str],
    settings: GensimSettings,
    *,
    pairs: torch.Tensor,
    queries: torch.Tensor,
    k: int,
) -> GensimReference:
    """gensim's twin, read from `folder` when it holds one trained for the same settings,
    vocabulary `tokens`, held-out `pairs (P, 2 + K)` and neighbour queries; else trained on
    `sentences`, scored on `pairs` and written to `folder` first."""
    key = {
        **asdict(settings),
        "vocab": _digest(tokens),
        "pairs": _digest(pairs),
        "queries": _digest(queries),
        "k": k,
    }
    saved = _read(folder, key, tokens)
    if saved is not None:
        return saved
    vin, vout, seconds = train_gensim(sentences, tokens, settings, settings.seed)
    loss, hit = sgns_loss_and_hit(pair_scores(vin, vout, pairs))
    self_overlap = float("nan")
    if settings.twice:
        other = train_gensim(sentences, tokens, settings, settings.seed + 1)[0]
        self_overlap = overlap(nearest(vin, queries, k)[1], nearest(other, queries, k)[1])
    scores = {"loss": float(loss.double().mean()), "pair_accuracy": float(hit.double().mean())}
    ref = GensimReference(vin, seconds, self_overlap, scores)
    folder.mkdir(parents=True, exist_ok=True)
    write_word2vec_binary(tokens[SPECIALS:], vin[SPECIALS:], folder / "vectors.bin")
    record = {
        "key": key,
        "seconds": seconds,
        "self_overlap": None if math.isnan(self_overlap) else self_overlap,
        "scores": scores,
    }
    (folder / "gensim.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return ref


def _read(folder: Path, key: dict[str, Any], tokens: list[str]) -> GensimReference | None:
    """The twin kept in `folder`, or None if there is none for `key`."""
    try:
        record = json.loads((folder / "gensim.json").read_text("utf-8"))
        saved_tokens, vectors = read_word2vec_binary(folder / "vectors.bin")
    except (OSError, ValueError):
        return None
    if record.get("key") != key or saved_tokens != tokens[SPECIALS:]:
        return None
    vectors = torch.cat([torch.zeros(SPECIALS, vectors.shape[1]), vectors])
    overlap_ = record["self_overlap"]
    return GensimReference(
        vectors,
        float(record["seconds"]),
        float("nan") if overlap_ is None else float(overlap_),
        dict(record["scores"]),
    )
