"""End-to-end check of an exported segmenter: the same class for every pixel of test images.

`export_onnx` proves the graph's logits `(B, K, H, W)` equal PyTorch's within 1e-4 on random
images. A user sees a class per pixel and the mIoU: this check runs up to 100 of the run's
test images (its config.yaml's scenes or folder, at the model's input size) through both
engines from the raw uint8 pixels (`x / 255`, as `dllab predict` feeds them), and compares:

- the argmax class of every pixel. Where PyTorch's two best logits are within `NEAR_TIE` of
  each other (each logit may differ by 1e-4, their gap by twice that; the image classifiers'
  rule, `export_images.compare_labels`), the class may flip: counted (`near_ties`,
  `flipped_near_ties`), not failed. A flip anywhere else fails;
- the number of flips: at most `FLIP_SHARE` of the pixels, even at near ties, so a graph that
  flattens the logits (every pixel a near tie) cannot pass on ties alone;
- the mIoU against the truth masks, each engine's: equal within `MIOU_TOLERANCE`.

Generated driving scenes are rendered for the test split and the fewest others the options
allow (scene `i` is the same whatever a split's size), not a thousand training scenes again.
When the data can no longer be read, the images are seeded noise and there is no mIoU (said in
the report: `images: {"noise": 100}`).

3D medical segmentation (`medical-segmentation`, MONAI) exports the network of one window
`(B, C, r, r, r)`; `dllab predict` slides it over a whole volume. Here each test volume,
preprocessed by the task's MONAI transforms, goes through `sliding_window_inference` twice,
its windows run by PyTorch, then by onnxruntime, and the stitched logits are compared voxel by
voxel with the same rule (the report's `pixels` are then voxels, `volumes` says how many).

A difference raises InputError in one line; `export_onnx` then writes nothing.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dllab.deploy.export_graphs import ort_session
from dllab.deploy.export_images import END_TO_END_ITEMS, NEAR_TIE
from dllab.errors import DllabError, InputError

__all__ = [
    "FLIP_SHARE",
    "MIOU_TOLERANCE",
    "PixelComparison",
    "end_to_end",
    "run_scenes",
    "run_volumes",
]

FLIP_SHARE = 1e-3  # at most this share of the pixels may flip, all of them at near ties
MIOU_TOLERANCE = 1e-3  # |mIoU(onnxruntime) - mIoU(PyTorch)| against the truth masks
BATCH = 4  # images per call: (4, K, H, W) logits of each engine at a time


def run_scenes(
    run_dir: Path, meta: dict[str, Any], n: int = END_TO_END_ITEMS
) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, int]]:
    """Up to `n` test images uint8 `(N, 3, H, W)` of the run at the model's size, their masks
    `(N, H, W)` (None for noise) and where they came from; `n` seeded noise images when the
    run's data cannot be read."""
    h, w = int(meta["height"]), int(meta["width"])
    try:
        images, masks = _test_split(run_dir, n)
    except (DllabError, OSError):
        images = masks = None  # the data is gone: noise below, and the report says so
    if images is not None and masks is not None and images.shape[1:] == (3, h, w):
        return images[:n], masks[:n], {"test": len(images[:n])}
    g = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=g)
    return noise, None, {"noise": n}


def _test_split(run_dir: Path, n: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The test images and masks of a segmentation run, read as its task reads them."""
    from dllab.config import load_resolved
    from dllab.experiment import build_task

    task = build_task(load_resolved(run_dir / "config.yaml"), resolved=True)
    if task.name != "segmentation":
        return None, None
    o = task.options
    # Only the test scenes matter here: render the fewest others the options allow.
    task.options = o.model_copy(
        update={
            "train_images": 2,
            "val_images": 1,
            "shifted_images": 2,
            "test_images": min(o.test_images, n),
        }
    )
    with contextlib.redirect_stderr(io.StringIO()):  # its one-line summary of the data
        task.setup()
    return task.images_["test"], task.masks_["test"]


class PixelComparison:
    """Both engines' logits compared pixel by pixel, one batch at a time (`update`), then
    judged (`report`): a flip outside a near tie fails at once, the flip count and the mIoU
    difference at the end."""

    def __init__(self, num_classes: int, what: str = "images") -> None:
        self.num_classes = num_classes
        self.what = what  # "images" or "volumes", for the messages
        self.unit = "pixel"  # or "voxel": what `update` was given
        self.images = self.pixels = self.near = self.flipped = 0
        self.max_abs_diff = 0.0
        self.scores_: list[Any] | None = None  # PyTorch's, onnxruntime's mIoU metrics

    def update(
        self, expected: np.ndarray, got: np.ndarray, masks: torch.Tensor | None = None
    ) -> None:
        """Add a batch: PyTorch's logits `expected` and onnxruntime's `got` `(B, K, H, W)`,
        the truth `masks` `(B, H, W)` if known; InputError on a flip outside a near tie."""
        if got.shape != expected.shape:
            raise InputError(
                f"onnxruntime gives logits of shape {got.shape}, PyTorch {expected.shape}, on "
                "the same test images"
            )
        top2 = np.sort(expected, axis=1)[:, -2:]  # (B, 2, H, W)
        gap = top2[:, 1] - top2[:, 0]  # (B, H, W)
        pred, other = expected.argmax(1), got.argmax(1)  # (B, H, W)
        flipped = pred != other
        near = gap <= NEAR_TIE
        wrong = flipped & ~near
        if wrong.any():
            at = tuple(int(v[0]) for v in np.nonzero(wrong))  # (b, y, x) or (b, x, y, z)
            unit = self.unit = "pixel" if wrong.ndim == 3 else "voxel"
            raise InputError(
                f"onnxruntime and PyTorch give different classes to {int(wrong.sum())} of "
                f"{wrong.size} {unit}s in test {self.what} {self.images}.."
                f"{self.images + len(pred) - 1} ({self.what[:-1]} {self.images + at[0]}, {unit} "
                f"{at[1:]}: class {int(other[at])} vs {int(pred[at])}, top-2 logit gap "
                f"{gap[at]:.1e} > {NEAR_TIE:.0e})"
            )
        self.unit = "pixel" if pred.ndim == 3 else "voxel"
        self.images += len(pred)
        self.pixels += pred.size
        self.near += int(near.sum())
        self.flipped += int(flipped.sum())
        self.max_abs_diff = max(self.max_abs_diff, float(np.abs(got - expected).max()))
        if masks is not None:
            from dllab.tasks.segmentation import SegmentationScores

            if self.scores_ is None:
                self.scores_ = [SegmentationScores(self.num_classes) for _ in range(2)]
            for metric, p in zip(self.scores_, (pred, other), strict=True):
                metric.update(torch.from_numpy(p), masks.long())

    def report(self) -> dict[str, Any]:
        """The report over every batch; InputError when more than `FLIP_SHARE` of the pixels
        flipped or the two engines' mIoU differ by more than `MIOU_TOLERANCE`."""
        if self.flipped > FLIP_SHARE * self.pixels:
            raise InputError(
                f"onnxruntime and PyTorch give different classes to {self.flipped} of "
                f"{self.pixels} {self.unit}s of {self.images} test {self.what}, all at near ties (top-2 "
                f"logits within {NEAR_TIE:.0e}), more than the {FLIP_SHARE:.0e} share allowed"
            )
        out: dict[str, Any] = {
            "items": self.images,
            "compared": "argmax class of every pixel; mIoU against the truth",
            "pixels": self.pixels,
            "same_classes": self.pixels - self.flipped,
            "max_abs_diff": self.max_abs_diff,
            "near_tie": NEAR_TIE,
            # PyTorch's top-2 logits within NEAR_TIE: a flip there is allowed, and counted
            "near_ties": self.near,
            "flipped_near_ties": self.flipped,
            "flip_share": FLIP_SHARE,
            "rule": "a pixel whose top-2 logits are within near_tie may flip (counted, not "
            "failed), at most flip_share of the pixels; mIoU within miou_tolerance",
        }
        if self.scores_ is not None:
            expected, got = (float(m.compute()["miou"]) for m in self.scores_)
            if not abs(got - expected) <= MIOU_TOLERANCE:
                raise InputError(
                    f"onnxruntime's mIoU on {self.images} test {self.what} is {got:.6f}, PyTorch's "
                    f"{expected:.6f}: {abs(got - expected):.1e} apart > {MIOU_TOLERANCE:.0e}"
                )
            out |= {"miou_pytorch": expected, "miou_onnxruntime": got}
            out["miou_tolerance"] = MIOU_TOLERANCE
        return out


# ---------------------------------------------------------------- 3D volumes (MONAI)
def run_volumes(
    run_dir: Path, meta: dict[str, Any], n: int = END_TO_END_ITEMS
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None, dict[str, int]]:
    """Up to `n` test volumes `(C, X, Y, Z)` of a medical-segmentation run, preprocessed as
    its task does (MONAI's orientation, spacing and intensity transforms), their labels
    `(1, X, Y, Z)` (None for noise) and where they came from; two seeded noise volumes of
    1.5 windows a side when the run's data cannot be read."""
    from dllab.config import load_resolved
    from dllab.experiment import build_task

    try:
        task = build_task(load_resolved(run_dir / "config.yaml"), resolved=True)
        if task.name == "medical-segmentation":
            # Only the test volumes matter: generate the fewest others (volume i of a split
            # is the same whatever the count); a Decathlon folder is read whole.
            update = {"train_volumes": 1, "val_volumes": 1}
            task.options = task.options.model_copy(update=update)
            with contextlib.redirect_stderr(io.StringIO()):  # its one-line summary of the data
                task.setup()
            images, labels = task.images_["test"][:n], task.labels_["test"][:n]
            return images, labels, {"test": len(images)}
    except (DllabError, OSError):
        pass  # the data is gone: noise below, and the report says so
    side = int(meta["roi_size"]) * 3 // 2  # windows overlap, so the stitching is checked too
    g = torch.Generator().manual_seed(0)
    shape = (int(meta["in_channels"]), side, side, side)
    return [torch.rand(shape, generator=g) for _ in range(2)], None, {"noise": 2}


def _volumes_end_to_end(
    path: Path, model: nn.Module, meta: dict[str, Any], run_dir: Path
) -> dict[str, Any]:
    """Each test volume through MONAI's sliding-window inference twice, the windows run by
    PyTorch then by onnxruntime (the same windows, stitched alike), compared voxel
    by voxel with the same rule as pixels."""
    from monai.inferers import sliding_window_inference

    images, labels, counts = run_volumes(run_dir, meta)
    session = ort_session(path)
    name = session.get_inputs()[0].name

    def onnx_windows(x: torch.Tensor) -> torch.Tensor:  # (b, C, r, r, r) -> (b, K, r, r, r)
        return torch.from_numpy(session.run(None, {name: x.as_subclass(torch.Tensor).numpy()})[0])

    roi = [int(meta["roi_size"])] * 3
    kw = {  # as medical_predict.py slides them
        "sw_batch_size": int(meta.get("sw_batch_size", 4)),
        "overlap": float(meta.get("sw_overlap", 0.25)),
    }
    comparison = PixelComparison(int(meta["num_classes"]), what="volumes")
    model.eval()
    for i, image in enumerate(images):
        x = image[None].float()  # (1, C, X, Y, Z)
        with torch.no_grad():
            expected = sliding_window_inference(x, roi, predictor=model, **kw)
        got = sliding_window_inference(x, roi, predictor=onnx_windows, **kw)
        comparison.update(
            expected.as_subclass(torch.Tensor).float().numpy(),
            got.as_subclass(torch.Tensor).float().numpy(),
            None if labels is None else labels[i].long(),  # (1, X, Y, Z): a batch of one
        )
    return {**comparison.report(), "volumes": counts}


def end_to_end(path: Path, model: nn.Module, meta: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The end-to-end report of the segmenter at `path` against `model` on the run's test
    images (or volumes, for medical-segmentation); InputError when the engines' classes or
    mIoU differ beyond the rule above."""
    if meta.get("task") == "medical-segmentation":
        return _volumes_end_to_end(path, model, meta, run_dir)
    raw, masks, counts = run_scenes(run_dir, meta)
    session = ort_session(path)
    name = session.get_inputs()[0].name
    comparison = PixelComparison(int(meta["num_classes"]))
    model.eval()
    for i in range(0, len(raw), BATCH):
        x = raw[i : i + BATCH].float() / 255.0  # (B, 3, H, W), as predict feeds an image
        with torch.no_grad():
            expected = model(x).float().numpy()
        got = session.run(None, {name: x.numpy()})[0]
        comparison.update(expected, got, None if masks is None else masks[i : i + BATCH])
    return {**comparison.report(), "images": counts}
