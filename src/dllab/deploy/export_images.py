"""End-to-end check of an exported image classifier or detector: the same answers on test images.

`export_onnx` proves the graph's raw outputs equal PyTorch's within 1e-4 on random inputs. A
user sees labels and boxes, on real images: this check runs up to 100 of the run's own test
images (then validation and training images to fill up; seeded noise when the run's data can
no longer be loaded, said in the report) through both engines, from the raw uint8 pixels, as
`dllab predict` and `dllab predict RUN clip.mp4` do, and compares the answers.

- Classification: the argmax label of each image must be the same. Where PyTorch's two best
  logits are within `NEAR_TIE` of each other (each logit may differ by 1e-4, their gap by
  twice that), the label may flip: counted (`near_ties`, `flipped_near_ties`), not failed.
- Detection: `torch_detector` vs `onnx_detector` (decoding and NMS in PyTorch after either
  engine): the same boxes after NMS, matched by label, corners within `BOX_TOLERANCE` pixels
  and scores within `SCORE_TOLERANCE`. A box whose score is within `SCORE_TOLERANCE` of the
  confidence threshold may be kept by one engine only: counted (`near_threshold`), not failed.

A difference raises InputError in one line; `export_onnx` then writes nothing.
Text classification, forecasting and segmentation are checked beside it, each on its own test
data (`export_text.py`, `export_timeseries.py`, `export_segmentation.py`; `export.END_TO_END`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dllab.deploy.export_graphs import ort_session
from dllab.errors import DllabError, InputError

__all__ = [
    "classification_report",
    "compare_detections",
    "compare_labels",
    "end_to_end",
    "run_images",
]

LOGIT_TOLERANCE = 1e-4  # the graph's parity on its logits (export.TOLERANCE)
NEAR_TIE = 2 * LOGIT_TOLERANCE  # top-2 logit gap within which the two engines may disagree
# Boxes are decoded from the raw head (parity 1e-4) by exp/scale to pixels of a ~100-300 px
# input; ~1e-5 px apart in practice (tests/tasks/test_detection_export.py).
BOX_TOLERANCE = 1e-2  # pixels, per corner coordinate
SCORE_TOLERANCE = 1e-4  # per box score (sigmoid of a logit within 1e-4: slope <= 1/4)
VIDEO_CONF = 0.1  # torch_detector's threshold for the tracker: below predict's, so it covers it
END_TO_END_ITEMS = 100  # test images run through both engines at export
BATCH = 16  # images per call in the classification check
CLASSIFIERS = {"classification", "distillation"}


def run_images(
    run_dir: Path, channels: int, size: int, n: int = END_TO_END_ITEMS
) -> tuple[torch.Tensor, dict[str, int]]:
    """Up to `n` uint8 images `(N, C, S, S)` of the run's data (test split first, then
    validation and training) and how many came from each split; `n` seeded noise images when
    the run's data cannot be loaded (moved or deleted), said in the counts."""
    from dllab.experiment import build_task, load_resolved

    try:
        task = build_task(load_resolved(run_dir / "config.yaml"), resolved=True)
        task.setup()
        splits = _raw_splits(task)
    except (DllabError, OSError):
        splits = {}  # the data is gone: noise below, and the report says so
    taken, counts = [], {}
    for split in ("test", "val", "train"):
        images = splits.get(split)
        if images is None:
            continue
        images = images[: n - sum(counts.values())]
        if len(images):
            taken.append(images)
            counts[split] = len(images)
    if taken and taken[0].shape[1:] == (channels, size, size):
        return torch.cat(taken), counts
    g = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g)
    return noise, {"noise": n}


def _raw_splits(task: Any) -> dict[str, torch.Tensor]:
    """The uint8 images `(N, C, S, S)` of each split a classification or detection task holds."""
    if hasattr(task, "images_"):  # detection: every split resized to the model's input
        return dict(task.images_)
    out = {}
    for split in ("test", "val", "train"):
        data = getattr(task.data_, split, None)
        if data is None or not len(data):
            continue
        images = getattr(data, "images", None)
        if images is None:  # an image folder, read image by image
            k = min(len(data), END_TO_END_ITEMS)
            images = torch.stack([data[i][0] for i in range(k)])
        out[split] = images
    return out


# ---------------------------------------------------------------- classification
def compare_labels(
    expected: np.ndarray, got: np.ndarray, item: str = "image", engine: str = "onnxruntime"
) -> dict[str, Any]:
    """Compare PyTorch's logits `expected` `(N, K)` with `engine`'s `got` by argmax label:
    InputError if a label differs where PyTorch's top-2 gap is over `NEAR_TIE`, else the
    report with the near ties counted. `item` names what a row is in the messages."""
    top2 = np.sort(expected, axis=1)[:, -2:] if expected.shape[1] > 1 else None
    gap = top2[:, 1] - top2[:, 0] if top2 is not None else np.full(len(expected), np.inf)
    near = gap <= NEAR_TIE
    flipped = expected.argmax(1) != got.argmax(1)
    wrong = flipped & ~near
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        raise InputError(
            f"{engine} and PyTorch give different labels on {int(wrong.sum())} of "
            f"{len(expected)} test {item}s ({item} {i}: {int(got[i].argmax())} vs "
            f"{int(expected[i].argmax())}, top-2 logit gap {gap[i]:.1e} > {NEAR_TIE:.0e})"
        )
    return {
        "items": len(expected),
        "compared": "argmax label",
        "same_labels": int((~flipped).sum()),
        "max_abs_diff": float(np.abs(got - expected).max()) if expected.size else 0.0,
        "near_tie": NEAR_TIE,
        # PyTorch's top-2 logits within NEAR_TIE: a flip there is allowed, and counted
        "near_ties": int(near.sum()),
        "flipped_near_ties": int(flipped.sum()),
        "rule": f"a {item} whose top-2 logits are within near_tie may flip: counted, not failed",
    }


def classification_report(
    model: nn.Module,
    meta: dict[str, Any],
    run_dir: Path,
    logits: Callable[[np.ndarray], np.ndarray],
    engine: str = "onnxruntime",
) -> dict[str, Any]:
    """`compare_labels` of `model` and an exported file on the run's test images, `logits`
    running the file on a normalised batch; shared by the ONNX and the LiteRT export."""
    c, size = meta["in_channels"], meta["image_size"]
    raw, counts = run_images(run_dir, c, size)
    mean = torch.tensor(meta["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32).view(1, -1, 1, 1)
    expected, got = [], []
    model.eval()
    for batch in raw.split(BATCH):
        x = (batch.float() / 255.0 - mean) / std  # as predict_images preprocesses a file
        with torch.no_grad():
            expected.append(model(x).float().numpy())
        got.append(logits(x.numpy()))
    report = compare_labels(np.concatenate(expected), np.concatenate(got), engine=engine)
    return {**report, "images": counts}


def _classification(
    path: Path, model: nn.Module, meta: dict[str, Any], run_dir: Path
) -> dict[str, Any]:
    session = ort_session(path)
    name = session.get_inputs()[0].name
    return classification_report(model, meta, run_dir, lambda x: session.run(None, {name: x})[0])


# ---------------------------------------------------------------- detection
def compare_detections(
    expected: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    got: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    conf: float,
) -> dict[str, Any]:
    """Compare two engines' detections per image, each (boxes `(N, 4)` xyxy pixels, scores
    `(N,)`, labels `(N,)`) after NMS at `conf`: InputError on the first image whose boxes
    differ, else the report. Each PyTorch box is matched to the nearest onnxruntime box (of
    its label first) within `BOX_TOLERANCE`; a box of either engine left unmatched fails,
    unless its score is within `SCORE_TOLERANCE` of `conf` (the other engine may have dropped
    it): counted as near the threshold."""
    boxes = near = 0
    worst_box = worst_score = 0.0
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        dist = np.abs(g[0][None] - e[0][:, None]).max(-1, initial=0)  # (E, G) corner px
        unmatched = set(range(len(g[0])))
        for k, (score, label) in enumerate(zip(e[1], e[2], strict=True)):
            near_by = [j for j in unmatched if dist[k, j] <= BOX_TOLERANCE]
            if not near_by:
                if score <= conf + SCORE_TOLERANCE:
                    near += 1
                    continue
                raise InputError(
                    f"onnxruntime and PyTorch find different objects in test image {i}: "
                    f"PyTorch's class {int(label)} box (score {score:.3f}) has no onnxruntime "
                    f"box within {BOX_TOLERANCE:.0e} px ({len(g[0])} boxes vs {len(e[0])})"
                )
            j = min(near_by, key=lambda j: (g[2][j] != label, dist[k, j]))  # noqa: B023
            unmatched.remove(j)
            d_box, d_score = float(dist[k, j]), abs(float(g[1][j]) - float(score))
            if g[2][j] != label or d_score > SCORE_TOLERANCE:
                raise InputError(
                    f"onnxruntime and PyTorch disagree on an object in test image {i}: class "
                    f"{int(g[2][j])} vs {int(label)}, scores {d_score:.1e} apart (allowed "
                    f"{SCORE_TOLERANCE:.0e})"
                )
            worst_box, worst_score = max(worst_box, d_box), max(worst_score, d_score)
            boxes += 1
        extra = [j for j in unmatched if g[1][j] > conf + SCORE_TOLERANCE]
        if extra:
            raise InputError(
                f"onnxruntime and PyTorch find different objects in test image {i}: "
                f"onnxruntime's class {int(g[2][extra[0]])} box (score {g[1][extra[0]]:.3f}) "
                f"has no PyTorch box within {BOX_TOLERANCE:.0e} px"
            )
        near += len(unmatched)
    return {
        "items": len(expected),
        "compared": "boxes, labels and scores after NMS",
        "conf": conf,
        "boxes": boxes,
        "max_box_diff_px": worst_box,
        "box_tolerance_px": BOX_TOLERANCE,
        "max_score_diff": worst_score,
        "score_tolerance": SCORE_TOLERANCE,
        "near_threshold": near,
        "rule": "a box whose score is within score_tolerance of conf may be kept by one engine "
        "only: counted, not failed",
    }


def _detection(path: Path, model: nn.Module, meta: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    from dllab.vision.video import onnx_detector, torch_detector

    conf = min(VIDEO_CONF, float(meta.get("conf", VIDEO_CONF)))
    raw, counts = run_images(run_dir, 3, meta["image_size"])
    frames = [np.ascontiguousarray(x.permute(1, 2, 0).numpy()) for x in raw]  # (S, S, 3) RGB
    # onnx_detector gives onnxruntime torch's thread count; one thread here, as ort_session:
    # idle onnxruntime threads spin, and took this check from 0.4 s to 18 s on a busy machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        eager, runtime = torch_detector(model, meta, conf), onnx_detector(path, meta, conf)
        expected, got = [eager(f) for f in frames], [runtime(f) for f in frames]
    finally:
        torch.set_num_threads(threads)
    report = compare_detections(expected, got, conf)
    return {**report, "images": counts}


CHECKS = {**dict.fromkeys(CLASSIFIERS, _classification), "detection": _detection}


def end_to_end(path: Path, model: nn.Module, meta: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The end-to-end report of the graph at `path` against `model` on the run's test images;
    InputError when the engines' answers differ; {} for a task this module does not check."""
    check = CHECKS.get(meta.get("task", ""))
    return check(path, model, meta, run_dir) if check else {}
