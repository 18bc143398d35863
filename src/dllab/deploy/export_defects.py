"""Defect classifier export: the network's logits and P(defective) in ONNX, the verdict beside it.

A `defect-classifier` run answers "good" or "defective" by comparing P(defective) with the
threshold chosen on its validation parts, and locates the defect with Grad-CAM. The graph
holds the forward pass only: normalised images `(B, 3, S, S)` in (dynamic batch), `logits
(B, 2)` and `p_defective (B,)` out. What the answer needs around it goes into `model.json`
under `onnx`: the threshold, the class names, the input size and the normalisation
(`x / 255`, then `(x - mean) / std` per channel). Grad-CAM is not in the graph: it needs the
gradient of the "defective" logit at a backbone layer, a backward pass that an inference graph
does not hold; `dllab predict` on the run draws the maps.

The end-to-end check runs up to 100 of the run's parts (its test split first, then its
validation and training parts to fill up) through both engines from the raw uint8 images:
PyTorch as `dllab predict` does, onnxruntime after the NumPy normalisation model.json states.

The verdict rule (`compare_verdicts`, shared with `export_anomaly.py`): every part's score
must agree within its tolerance, or the export fails. A part whose score is farther than that
from the threshold then gets the same verdict on both engines; one within it may flip, is
counted in the report (`near_threshold`, `flipped_near_threshold`) and does not fail the
export: a last-digit difference at the boundary is not a different model. Here the tolerance
on P(defective) is per part, `p_tolerance`: the logits' parity (1e-4 each) through the
softmax's slope P(1 - P), plus float32 rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dllab.deploy.export_graphs import Graph, GraphPlan, ort_session
from dllab.errors import DllabError, InputError
from dllab.train.protocol import ExampleInput

__all__ = [
    "DefectProbability",
    "compare_verdicts",
    "inspection_parts",
    "normalise",
    "p_tolerance",
    "plan",
]

TOLERANCE = 1e-4  # logits and P(defective): max abs difference onnxruntime vs PyTorch
# P(defective) = sigmoid(logit gap): the gap differs by <= 2 x TOLERANCE, and P by that times
# the slope P(1 - P), plus a few float32 steps (6e-8 each) of rounding. A flat band would be
# wrong at either end: a threshold chosen for 99 % recall often sits at P = 0.99997, where
# every defective part is within 1e-4 of it, yet the engines agree there to ~1e-8.
P_ROUNDING = 2.4e-7
END_TO_END_ITEMS = 100  # the run's parts run through both engines at export
BATCH = 16  # parts per call in the check
CLASSES = ["good", "defective"]
GRAD_CAM_NOTE = (
    "Grad-CAM heat maps are not in the graph: they need the gradient of the 'defective' "
    "logit at a backbone layer (a backward pass); `dllab predict` on the run draws them"
)


class DefectProbability(nn.Module):
    """A `DefectClassifier` without its preprocessing: normalised images `(B, 3, S, S)` ->
    (logits `(B, 2)`, P(defective) `(B,)`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval()

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(images)  # (B, 2)
        return logits, logits.softmax(1)[:, 1]


def normalise(images: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """uint8 images `(B, 3, S, S)` -> float32 `(x / 255 - mean) / std`, as model.json says."""
    m = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
    return (images.astype(np.float32) / np.float32(255) - m) / s


def inspection_parts(
    run_dir: Path | None, size: int, n: int = END_TO_END_ITEMS
) -> tuple[torch.Tensor, dict[str, int]]:
    """Up to `n` uint8 parts `(N, 3, S, S)` of the run's data (test split first, then
    validation, then training parts) and how many came from each split. When the run's data
    cannot be loaded (moved, or no run folder), `n` seeded noise images, said in the counts."""
    from dllab.experiment import build_task, load_resolved

    if run_dir is not None:
        try:
            task = build_task(load_resolved(run_dir / "config.yaml"), resolved=True)
            task.setup()
        except (DllabError, OSError):
            pass  # the data is gone: noise below, and the report says so
        else:
            taken, counts = [], {}
            for split in ("test", "val", "train"):
                images = task.splits_[split].images[: n - sum(counts.values())]
                if len(images):
                    taken.append(images)
                    counts[split] = len(images)
            return torch.cat(taken), counts
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g), {"noise": n}


def p_tolerance(p: np.ndarray) -> np.ndarray:
    """How far another engine's P(defective) may be from PyTorch's `p` `(N,)`, per part."""
    p = p.astype(np.float64)
    return p * (1 - p) * 2 * TOLERANCE + P_ROUNDING


def compare_verdicts(
    expected: np.ndarray,
    got: np.ndarray,
    threshold: float,
    tolerance: float | np.ndarray,
    score: str,
    engine: str = "onnxruntime",
) -> dict[str, Any]:
    """Compare PyTorch's image scores `expected` `(N,)` with `engine`'s `got`, and their
    verdicts at `threshold` (defective from it up): InputError if a score differs by more
    than `tolerance` (one for all, or one per part); else the report, with the parts within
    their tolerance of the threshold (which may flip) counted."""
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    allowed = np.broadcast_to(np.asarray(tolerance, np.float64), diff.shape)
    over = diff > allowed
    if over.any():
        i = int(np.argmax(diff - allowed))
        raise InputError(
            f"{engine} and PyTorch disagree on {score} for {int(over.sum())} of "
            f"{len(diff)} parts, by up to {diff[i]:.2e} where {allowed[i]:.1e} is allowed"
        )
    flipped = (expected >= threshold) != (got >= threshold)
    return {
        "items": len(expected),
        "compared": score,
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "tolerance": float(allowed.max()) if diff.size else 0.0,
        "threshold": threshold,
        "same_verdicts": int((~flipped).sum()),
        # |score - threshold| <= tolerance: a flip there is allowed, and counted
        "near_threshold": int((np.abs(expected - threshold) <= allowed).sum()),
        "flipped_near_threshold": int(flipped.sum()),
        "rule": "a part within the tolerance of the threshold may flip: counted, not failed",
    }


def plan(model: nn.Module, meta: dict[str, Any], run_dir: Path | None = None) -> GraphPlan:
    """The P(defective) graph, the verdict's metadata and its end-to-end check on the parts of
    `run_dir` (seeded noise without one)."""
    size = int(meta["image_size"])
    mean = model.mean.flatten().tolist()
    std = model.std.flatten().tolist()
    g = torch.Generator().manual_seed(0)

    def images(b: int) -> torch.Tensor:
        raw = torch.randint(0, 256, (b, 3, size, size), dtype=torch.uint8, generator=g)
        return model.normalize(raw)

    spec = ExampleInput((images(4),), (images(3),), ["images"], [{0: "batch"}], output="logits")
    graph = Graph(
        "",
        DefectProbability(model),
        spec,
        ["logits", "p_defective"],
        TOLERANCE,
        output_axes={"logits": {0: "batch"}, "p_defective": {0: "batch"}},
    )
    threshold = float(model.threshold)
    extra = {
        "classes": CLASSES,
        "threshold": threshold,
        "verdict": "defective when p_defective >= threshold, else good",
        "image_size": size,
        "preprocessing": {
            "resize": [size, size],
            "scale": "x / 255 (uint8 RGB, channels first)",
            "mean": mean,
            "std": std,
        },
        "notes": [GRAD_CAM_NOTE],
    }

    def check(paths: dict[str, Path]) -> dict[str, Any]:
        session = ort_session(paths[""])
        return verdict_report(
            model, run_dir, size, lambda x: session.run(["p_defective"], {"images": x})[0]
        )

    return GraphPlan([graph], extra, check)


def verdict_report(
    model: nn.Module,
    run_dir: Path | None,
    size: int,
    p_defective: Callable[[np.ndarray], np.ndarray],
    engine: str = "onnxruntime",
) -> dict[str, Any]:
    """`compare_verdicts` of `model` and an exported file on the parts of `run_dir` (seeded
    noise without them), `p_defective` running the file on normalised parts; shared by the
    ONNX and the LiteRT export."""
    mean, std = model.mean.flatten().tolist(), model.std.flatten().tolist()
    raw, counts = inspection_parts(run_dir, size)
    expected, got = [], []
    for batch in raw.split(BATCH):
        with torch.no_grad():  # as DefectClassifierTask.predict_with scores a part
            expected.append(model(model.normalize(batch)).float().softmax(1)[:, 1].numpy())
        got.append(p_defective(normalise(batch.numpy(), mean, std)))
    expected, got = np.concatenate(expected), np.concatenate(got)
    threshold = float(model.threshold)
    report = compare_verdicts(
        expected, got, threshold, p_tolerance(expected), "p_defective", engine
    )
    per_part = "P(1 - P) x 2e-4 + 2.4e-7 per part (the logits' parity through the softmax)"
    return {**report, "tolerance_per_part": per_part, "parts": counts}
