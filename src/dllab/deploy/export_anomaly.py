"""PatchCore export: backbone, nearest-neighbour search and scoring as one ONNX graph.

An `anomaly` run's detector (`dllab.models.patchcore`) is a forward pass after all: the
frozen backbone's patch features, each patch's distance to its nearest neighbour in the memory
bank, the Gaussian blur on the patch grid, the z-score per position and the upsampling to the
image. All of it is in the graph: normalised images `(B, 3, S, S)` in (dynamic batch),
`maps (B, S, S)` and `scores (B,)` (each map's maximum, the image score) out. The memory bank
`(M, D)` and the positional statistics `(h, w)` are constant initializers of the graph.

The one change from `PatchCore.distances`, whose loop over the batch a tracer would unroll
at the example's batch size (freezing that axis): one batched search, written out as the
expansion ||a - b||^2 = ||a||^2 - 2 a.b + ||b||^2 (one MatMul against the bank; ONNX has no
distance operator, and the exporters' own cdist is either this expansion or, for small
inputs, a broadcast difference D times larger), with features and bank centred on the bank's
mean first (less float32 cancellation) and the minimum over the bank taken before the square
root (monotonic). The distance matrix `(B, h*w, M)` is materialised: at 256 px with Lite0
stage 1 (64x64 patches) and a bank of 8192, 134 MB per image, so callers feed a few images
at a time.

The verdict is the task's: defective when `scores >= threshold` (in `model.json`, with the
normalisation). The end-to-end check scores up to 100 of the run's parts on PyTorch's
`PatchCore` (cdist) and on onnxruntime, under `export_defects.compare_verdicts`' rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dllab.deploy.export_defects import compare_verdicts, inspection_parts, normalise
from dllab.deploy.export_graphs import Graph, GraphPlan, ort_session
from dllab.errors import InputError
from dllab.models.patchcore import gaussian_blur
from dllab.train.protocol import ExampleInput

__all__ = ["AnomalyMaps", "plan"]

# Maps and scores are z-scores: a distance divided by its position's spread on good parts, so
# float32 rounding scales with them (they reach the thousands on noise when a spread is
# small), and tolerances are relative to the largest value compared. The graph vs the same
# expansion in PyTorch: 1e-5. The image scores vs PatchCore's torch.cdist, which rounds
# ||a||^2 - 2a.b + ||b||^2 without centring: 1e-4. Measured on a brick run (256 px, ImageNet
# Lite0, bank 983, 90 parts, scores up to 38): 3.7e-4 apart, against 3.8e-4 at 1e-5; both
# float32 paths within 6e-5 of float64 on 12 test parts.
GRAPH_RELATIVE_TOLERANCE = 1e-5  # maps: onnxruntime vs the same expansion in PyTorch
SCORE_RELATIVE_TOLERANCE = 1e-4  # image scores: onnxruntime vs PatchCore (the verdict's band)
BATCH = 4  # images per onnxruntime call in the check (the distance matrix is per image)


class AnomalyMaps(nn.Module):
    """A fitted `PatchCore` with the nearest-neighbour search as a MatMul: normalised images
    `(B, 3, S, S)` -> (maps `(B, S, S)`, scores `(B,)`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval()

    def distances(self, e: torch.Tensor) -> torch.Tensor:
        """Each patch's distance to its nearest bank row, `(B, h, w)`, from `e` (B, D, h, w)."""
        h, w = e.shape[-2:]
        center = self.model.memory_bank.mean(0)  # (D,): a constant of the graph
        bank = self.model.memory_bank - center  # (M, D)
        f = e.flatten(2).transpose(1, 2) - center  # (B, h*w, D)
        cross = f @ bank.t()  # (B, h*w, M)
        nearest = ((bank * bank).sum(1) - 2 * cross).amin(2)  # (B, h*w): min_m ||b||^2 - 2a.b
        squared = (f * f).sum(2) + nearest  # ||a - b_nearest||^2
        return squared.clamp_min(0).sqrt().reshape(-1, int(h), int(w))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        smoothed = gaussian_blur(self.distances(m.embed(images)), m.blur_sigma / m.stride)
        z = (smoothed - m.position_mean) / m.position_std  # (B, h, w)
        maps = F.interpolate(z[:, None], images.shape[-2:], mode="bilinear", align_corners=False)
        maps = maps[:, 0]  # (B, S, S)
        return maps, maps.flatten(1).amax(1)


def plan(model: nn.Module, meta: dict[str, Any], run_dir: Path | None = None) -> GraphPlan:
    """The anomaly-map graph of a fitted PatchCore, the verdict's metadata and its end-to-end
    check on the parts of `run_dir` (seeded noise without one)."""
    if not bool(model.fitted):
        raise InputError(
            "cannot export an anomaly run to ONNX: its memory bank is empty (the run never "
            "reached its first validation); train it to the end, then export"
        )
    detector = meta["detector"]
    size = int(detector["image_size"])
    g = torch.Generator().manual_seed(0)

    def images(b: int) -> torch.Tensor:
        raw = torch.randint(0, 256, (b, 3, size, size), dtype=torch.uint8, generator=g)
        return model.normalize(raw)

    spec = ExampleInput((images(2),), (images(3),), ["images"], [{0: "batch"}], output="maps")
    maps = AnomalyMaps(model)
    with torch.no_grad():
        largest = max(float(maps(x)[0].abs().max()) for x in (*spec.inputs, *spec.probe))
    graph = Graph(
        "",
        maps,
        spec,
        ["maps", "scores"],
        GRAPH_RELATIVE_TOLERANCE * max(1.0, largest),
        output_axes={"maps": {0: "batch"}, "scores": {0: "batch"}},
    )
    threshold = float(model.threshold)
    extra = {
        "classes": ["good", "defective"],
        "threshold": threshold,
        "verdict": "defective when scores >= threshold, else good",
        "image_size": size,
        "preprocessing": {
            "resize": [size, size],
            "scale": "x / 255 (uint8 RGB, channels first)",
            "mean": list(detector["mean"]),
            "std": list(detector["std"]),
        },
        "notes": [
            "the memory bank and the per-position mean and spread are constants of the "
            "graph; the blur and the z-score are inside it",
            "the nearest-neighbour search is a MatMul against the whole bank: memory grows "
            "with batch x patches x bank rows; feed a few images per call",
        ],
    }

    def check(paths: dict[str, Path]) -> dict[str, Any]:
        raw, counts = inspection_parts(run_dir, size)
        session = ort_session(paths[""])
        expected, got = [], []
        for batch in raw.split(BATCH):
            with torch.no_grad():  # as AnomalyTask.predict_with scores a part
                expected.append(model(model.normalize(batch)).flatten(1).amax(1).numpy())
            feed = normalise(batch.numpy(), detector["mean"], detector["std"])
            got.append(session.run(["scores"], {"images": feed})[0])
        want = np.concatenate(expected)
        tolerance = SCORE_RELATIVE_TOLERANCE * max(1.0, float(np.abs(want).max()))
        report = compare_verdicts(want, np.concatenate(got), threshold, tolerance, "scores")
        return {**report, "parts": counts}

    return GraphPlan([graph], extra, check)
