"""Semantic segmentation: a class for every pixel of a road scene.

Data (`data.name`), every image and mask resized to `task.image_height` x `task.image_width`:

- `driving-scenes`: generated road scenes with an exact label per pixel
  (`data/driving_scenes.py`): train, val and test under clear conditions from separate seeds,
  plus `test_shifted`, other light and weather over the same geometry, to measure how the
  model generalises and how much AdaBN recovers;
- `cityscapes`: a user's Cityscapes folder (`data.path`: `leftImg8bit/`, `gtFine/`); its
  `val` split is also the test split, as Cityscapes' test labels are not public;
- `camvid`: a user's CamVid folder (`data.path`) with its train, val and test splits.

Loss: cross-entropy weighted per class plus soft Dice (`task.ce_weight`, `task.dice_weight`).
The class weights come from the training masks' pixel frequencies f_c, by default w_c =
1/sqrt(f_c) (`inverse-sqrt`; or SegNet's median-frequency balancing, median(f)/f_c), scaled so
the average pixel weighs 1: a thin class (lane markings, poles) counts more without the
extreme weights of 1/f_c. Dice (a class's overlap over its size) scores every class on the same
scale whatever its area, which cross-entropy alone does not.

Augmentation (training only) goes through torchvision's v2 transforms on the image and its
`tv_tensors.Mask` together, so they stay aligned (masks are resampled nearest-neighbour): a
random crop of 50-100 % of the area at the same aspect, resized back (zoom), a horizontal
flip (a road scene mirrors fine), and colour jitter, which v2 applies to the image only.
With `task.crop_height`/`crop_width` the net then trains on a random window of that size at
the image's own scale, as DeepLab trains on 513x513 windows of 1024x2048 Cityscapes frames: a
window a quarter of the image costs a quarter of the step, thin structures keep their width in
pixels, and evaluation still runs on whole images.

Metrics come from one confusion matrix, kept by torchmetrics' `MulticlassJaccardIndex`
(ignore index 255): `miou` (the mean IoU over classes that occur in the truth or the
prediction: torchmetrics' macro average) and `pixel_accuracy`. The test pass keeps its
predictions for the report: per-class IoU (clear, shifted, shifted after AdaBN), confusion
matrix, overlays of prediction and truth, the worst images and frames per second.
"""

from __future__ import annotations

import copy
import csv
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassJaccardIndex

from dllab.data.driving_scenes import IGNORE  # pixels no class covers (Cityscapes' 255)
from dllab.errors import ConfigError, InputError
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask, ExampleInput, Prediction, StepOutput, TaskOptions
from dllab.train.batches import IndexBatches, check_eval_share, eval_shard, order_for
from dllab.viz.segmentation_overlays import plot_iou_bars, plot_overlays

__all__ = [
    "SegBatch",
    "SegmentationOptions",
    "SegmentationScores",
    "SegmentationTask",
    "adapt_batchnorm",
    "class_weights",
    "dice_loss",
    "segment_images",
]

SPLITS = ("train", "val", "test", "test_shifted")


class SegmentationOptions(TaskOptions):
    """The recipe's `task:` section for `segmentation`."""

    image_height: int = Field(256, ge=16)  # every image and mask is resized to this size
    image_width: int = Field(512, ge=16)
    train_images: int = Field(1000, ge=2)  # generated scenes (data.name driving-scenes) per split
    val_images: int = Field(100, ge=1)
    test_images: int = Field(200, ge=1)
    shifted_images: int = Field(200, ge=2)  # test scenes under other light and weather
    ce_weight: float = Field(1.0, ge=0)  # loss = ce_weight * weighted CE + dice_weight * Dice
    dice_weight: float = Field(1.0, ge=0)
    class_weights: Literal["inverse-sqrt", "median-frequency", "none"] = "inverse-sqrt"
    min_scale: float = Field(0.5, gt=0, le=1)  # random crop: area fraction kept, then resized
    flip: bool = True  # random horizontal flips (a road scene mirrors fine)
    jitter: float = Field(0.3, ge=0, lt=1)  # colour jitter of brightness, contrast, saturation
    # Train on random crops of this size at the images' own scale (None: whole images).
    # Evaluation always sees whole images: a convolutional net takes any size.
    crop_height: int | None = Field(None, ge=16)
    crop_width: int | None = Field(None, ge=16)
    show: int = Field(6, ge=1)  # images in each overlay picture of the report

    @model_validator(mode="after")
    def _some_loss(self) -> SegmentationOptions:
        if self.ce_weight == 0 and self.dice_weight == 0:
            raise ValueError("ce_weight and dice_weight are both 0: nothing would train")
        if (self.crop_height is None) != (self.crop_width is None):
            raise ValueError("set task.crop_height and task.crop_width together, or neither")
        if self.crop_height is not None and (
            self.crop_height > self.image_height or self.crop_width > self.image_width
        ):
            raise ValueError(
                f"task.crop_height x crop_width ({self.crop_height}x{self.crop_width}) must fit "
                f"in the image ({self.image_height}x{self.image_width})"
            )
        return self


class SegBatch(NamedTuple):
    """Images and their masks."""

    images: torch.Tensor  # (B, 3, H, W) float in [0, 1]
    masks: torch.Tensor  # (B, H, W) long train ids, 255 = ignore
    index: torch.Tensor  # (B,) positions in the split


# ---------------------------------------------------------------- loss
def class_weights(
    masks: torch.Tensor, num_classes: int, method: str = "inverse-sqrt"
) -> torch.Tensor:
    """Cross-entropy weights `(num_classes,)` float32 from the pixel frequencies f_c of `masks`.

    `inverse-sqrt`: w_c = 1/sqrt(f_c); `median-frequency` (Eigen & Fergus 2015, SegNet):
    w_c = median(f) / f_c; `none`: ones. Either is then scaled so that sum_c f_c w_c = 1 (the
    average pixel weighs 1, so the loss keeps the scale of plain cross-entropy). A class with
    no pixels gets weight 0. InputError for a mask value that is neither a class nor 255.

    >>> class_weights(torch.tensor([[0, 0, 0, 1]]), 2).tolist()  # 1/sqrt(.75), 1/sqrt(.25)
    [0.8452994227409363, 1.4641016721725464]
    """
    counts = torch.zeros(256, dtype=torch.float64)
    for chunk in masks.reshape(len(masks), -1).split(64):  # bincount of int64: in chunks
        counts += torch.bincount(chunk.reshape(-1).long(), minlength=256).double()
    stray = counts[num_classes:IGNORE].nonzero()
    if len(stray):
        raise InputError(
            f"mask value {int(stray[0]) + num_classes} is not a class (0..{num_classes - 1}) "
            f"nor ignore ({IGNORE}); check the masks and the class table"
        )
    freq = counts[:num_classes] / counts[:num_classes].sum().clamp_min(1)
    present = freq > 0
    w = torch.zeros(num_classes, dtype=torch.float64)
    if method == "none":
        w[:] = 1.0
    elif method == "median-frequency":
        w[present] = freq[present].median() / freq[present]
    else:
        w[present] = freq[present].rsqrt()
    w = w / (freq * w).sum().clamp_min(1e-12) if present.any() else w
    return w.float()


def dice_loss(
    logits: torch.Tensor, target: torch.Tensor, *, ignore_index: int = IGNORE, eps: float = 1.0
) -> torch.Tensor:
    """Soft multi-class Dice loss: 1 - mean over classes of (2 sum p y + eps) / (sum p + sum y
    + eps), with p the softmax of `logits` (B, K, H, W), y the one-hot of `target` (B, H, W),
    sums over the whole batch (batch Dice) and pixels labelled `ignore_index` left out.

    Milletari et al., V-Net (arXiv:1606.04797), eq. 1, over classes; `eps` keeps a class absent
    from the batch finite and its predicted probability pushed down.
    """
    num_classes = logits.shape[1]
    valid = (target != ignore_index).unsqueeze(1)  # (B, 1, H, W)
    probs = logits.softmax(1) * valid  # (B, K, H, W)
    labels = torch.where(valid.squeeze(1), target, 0).long()
    onehot = F.one_hot(labels, num_classes).permute(0, 3, 1, 2).to(probs.dtype) * valid
    inter = (probs * onehot).sum((0, 2, 3))  # (K,)
    size = probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    return 1.0 - ((2.0 * inter + eps) / (size + eps)).mean()


# ---------------------------------------------------------------- metrics
class SegmentationScores(MulticlassJaccardIndex):
    """`miou` and `pixel_accuracy` from the confusion matrix torchmetrics'
    `MulticlassJaccardIndex` accumulates; `per_class()` gives each class's IoU (NaN for a class
    in neither the truth nor the prediction), `confmat` the matrix (rows: truth)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__(
            num_classes,
            average="none",
            ignore_index=IGNORE,
            validate_args=False,  # a scan of every pixel per batch; the task checks its masks
            zero_division=float("nan"),
        )

    def per_class(self) -> torch.Tensor:
        return super().compute()

    def compute(self) -> dict[str, torch.Tensor]:  # type: ignore[override]
        iou = super().compute()
        cm = self.confmat.double()
        return {"miou": iou.nanmean(), "pixel_accuracy": cm.diag().sum() / cm.sum().clamp_min(1)}


def image_miou(pred: torch.Tensor, mask: torch.Tensor, num_classes: int) -> float:
    """mIoU of one image `(H, W)` over the classes in its truth or prediction."""
    valid = mask != IGNORE
    cm = torch.bincount(
        mask[valid].long() * num_classes + pred[valid].long(), minlength=num_classes**2
    ).view(num_classes, num_classes)
    union = cm.sum(0) + cm.sum(1) - cm.diag()
    return float((cm.diag()[union > 0] / union[union > 0]).mean()) if union.any() else 1.0


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> nn.Module:
    """AdaBN (Li, Wang, Shi, Liu, Hou, arXiv:1603.04779): a copy of `model` whose BatchNorm
    running statistics are re-estimated on unlabelled images of a new domain.

    Each BatchNorm's statistics are reset and accumulated as a plain average over `batches`
    (momentum None) by forward passes in train mode without gradients; no weight changes.
    The copy is returned in eval mode; `model` is left as it was.
    """
    adapted = copy.deepcopy(model).eval()
    norms = [m for m in adapted.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over every batch, not an exponential one
        m.train()
    for x in batches:
        adapted(x)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    return adapted.eval()


@TASKS.register("segmentation")
class SegmentationTask(BaseTask):
    """Task for `dllab run` recipes that label every pixel of an image."""

    name = "segmentation"
    Options = SegmentationOptions
    options: SegmentationOptions
    items = "images"
    metric_names = ("miou", "pixel_accuracy")

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        d, o = self.recipe.data, self.options
        if d.image_size is not None:
            raise ConfigError(
                "task segmentation sizes images with task.image_height and task.image_width; "
                "remove data.image_size"
            )
        if d.name == "driving-scenes":
            arrays = self._render()
        elif d.name in ("cityscapes", "camvid"):
            arrays = self._read_files()
        else:
            raise ConfigError(
                "task segmentation reads data.name 'driving-scenes', 'cityscapes' or "
                f"'camvid', got {d.name!r}"
            )
        self.images_ = {
            s: torch.from_numpy(im).permute(0, 3, 1, 2) for s, (im, _) in arrays.items()
        }
        self.masks_ = {s: torch.from_numpy(m) for s, (_, m) in arrays.items()}
        k = len(self.classes_)
        self.class_weights_ = class_weights(self.masks_["train"], k, o.class_weights)
        for split in self.masks_:
            class_weights(self.masks_[split], k)  # every split's labels checked once
        where = "task.val_images" if d.name == "driving-scenes" else f"{d.path}'s val split"
        check_eval_share(len(self.images_["val"]), world, where)
        self.rank_, self.world_ = rank, world
        if rank == 0:
            counts = "/".join(str(len(v)) for v in self.images_.values())
            weights = ", ".join(f"{w:.2f}" for w in self.class_weights_.tolist())
            print(
                f"segmentation: {k} classes, {o.image_height}x{o.image_width} px; images "
                f"{'/'.join(self.images_)} {counts}; class weights ({o.class_weights}) {weights}",
                file=sys.stderr,
            )

    def _render(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        from dllab.data.driving_scenes import CLASSES, render_driving_scenes

        o, seed = self.options, self.recipe.split_seed * len(SPLITS)
        counts = (o.train_images, o.val_images, o.test_images, o.shifted_images)
        self.classes_ = CLASSES
        return {
            split: render_driving_scenes(
                n,
                height=o.image_height,
                width=o.image_width,
                seed=seed + i,
                condition="shifted" if split == "test_shifted" else "clear",
            )
            for i, (split, n) in enumerate(zip(SPLITS, counts, strict=True))
        }

    def _read_files(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        from dllab.data.segmentation_formats import load_masks, read_camvid, read_cityscapes

        d, o = self.recipe.data, self.options
        if not d.path:
            raise ConfigError(f"data.name {d.name!r} needs data.path (the dataset's folder)")
        root, size = Path(d.path), (o.image_height, o.image_width)
        if d.name == "cityscapes":  # test labels are not public: its val split tests
            sets = {"train": read_cityscapes(root, "train"), "val": read_cityscapes(root, "val")}
            sets["test"] = sets["val"]
        else:
            sets = {s: read_camvid(root, s) for s in ("train", "val", "test")}
        self.classes_ = sets["train"].classes
        return {split: load_masks(ds, size) for split, ds in sets.items()}

    @property
    def classes(self) -> list[str]:
        return [c.name for c in self.classes_]

    def _batches(self, split: str) -> IndexBatches:
        images, masks = self.images_[split], self.masks_[split]
        kw = self.batch_kwargs(split)
        n, bs, train = len(images), kw["batch_size"], split == "train"
        augment = self._augmenter() if train else None

        def plan(epoch: int) -> list[torch.Tensor]:
            # Evaluation: every image once over all ranks (no padding to equal shares, which
            # would count some twice in the metrics torchmetrics sums across ranks).
            order = order_for(n, kw, epoch) if train else eval_shard(n, kw["rank"], kw["world"])
            batches = list(order.split(bs))
            # A last training batch of one image would fail BatchNorm over 1x1 maps (ASPP's
            # pooled branch): drop a short last batch, as torchvision's reference does.
            if train and len(batches) > 1 and len(batches[-1]) < bs:
                batches.pop()
            return batches

        def collate(idx: torch.Tensor) -> SegBatch:
            x, y = images[idx], masks[idx]
            if augment is not None:  # global RNG, saved in checkpoints: resume is exact
                pairs = [augment(a, b) for a, b in zip(x, y, strict=True)]
                x = torch.stack([a for a, _ in pairs])
                y = torch.stack([b for _, b in pairs])
            return SegBatch(x.float() / 255.0, y.long(), idx)

        if not train:
            return IndexBatches(plan, collate)  # counted from plan: ranks may differ by one
        per_rank = -(-n // kw["world"])  # ceil
        length = per_rank // bs if per_rank > bs else -(-per_rank // bs)
        return IndexBatches(plan, collate, length=length)

    def _augmenter(self) -> Any:
        """`(image (3, H, W) uint8, mask (H, W) uint8) -> the pair, transformed together`."""
        from torchvision import tv_tensors
        from torchvision.transforms import v2

        o = self.options
        aspect = o.image_width / o.image_height
        steps: list[Any] = [
            v2.RandomResizedCrop(
                (o.image_height, o.image_width), scale=(o.min_scale, 1.0), ratio=(aspect, aspect)
            )
        ]
        if o.crop_height is not None:
            steps.append(v2.RandomCrop((o.crop_height, o.crop_width)))
        if o.flip:
            steps.append(v2.RandomHorizontalFlip())
        if o.jitter:
            steps.append(v2.ColorJitter(o.jitter, o.jitter, o.jitter))  # the image only
        pipeline = v2.Compose(steps)

        def apply(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            a, b = pipeline(tv_tensors.Image(image), tv_tensors.Mask(mask))
            return a.as_subclass(torch.Tensor), b.as_subclass(torch.Tensor)

        return apply

    # ------------------------------------------------------------ model and steps
    def model_kwargs(self) -> dict[str, Any]:
        return {"num_classes": len(self.classes_), "in_channels": 3, **self.recipe.model.kwargs}

    def _loss(self, logits: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, dict]:
        o = self.options
        w = self.class_weights_.to(logits.device)
        ce = F.cross_entropy(logits.float(), masks, weight=w, ignore_index=IGNORE)
        dice = dice_loss(logits.float(), masks)
        loss = o.ce_weight * ce + o.dice_weight * dice
        return loss, {"ce": float(ce.detach()), "dice": float(dice.detach())}

    def training_step(self, model: nn.Module, batch: SegBatch) -> StepOutput:
        loss, logs = self._loss(model(batch.images), batch.masks)
        return StepOutput(loss=loss, logs=logs, count=len(batch.masks))

    def validation_step(self, model: nn.Module, batch: SegBatch) -> StepOutput:
        logits = model(batch.images)
        loss, _ = self._loss(logits, batch.masks)
        return StepOutput(loss=loss, preds=logits.argmax(1), target=batch.masks)

    def test_step(self, model: nn.Module, batch: SegBatch) -> StepOutput:
        out = self.validation_step(model, batch)
        out.outputs = {"pred": out.preds.to("cpu", torch.uint8), "index": batch.index.cpu()}
        return out

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({"segmentation": SegmentationScores(len(self.classes_))})

    # ------------------------------------------------------------ serving
    def metadata(self) -> dict[str, Any]:
        """Classes, their colours and the input size: what predict and export need."""
        o = self.options
        return {
            "classes": self.classes,
            "colors": [list(c.color) for c in self.classes_],
            "num_classes": len(self.classes_),
            "height": o.image_height,
            "width": o.image_width,
            "in_channels": 3,
        }

    @classmethod
    def predict_with(
        cls,
        model: nn.Module,
        meta: dict[str, Any],
        inputs: list[str],
        top_k: int = 5,
        *,
        force: bool = False,
    ) -> list[Prediction]:
        """Colour masks for image files, written as `<name>.mask.png` (the image's own size,
        Cityscapes colours) in the current folder; the text gives each class's share. Every
        destination is checked before any is written (an existing one needs `force`), and
        each is written whole or not at all."""
        import io

        from PIL import Image

        from dllab.data.detection_formats import read_image_rgb
        from dllab.tasks.outputs import plan_outputs
        from dllab.train.checkpoint import atomic_write_bytes

        colors = np.array(meta["colors"], np.uint8)
        planned = [(source, Path.cwd() / f"{Path(source).stem}.mask.png") for source in inputs]
        plan_outputs(((source, [dst]) for source, dst in planned), force=force)
        results = []
        for source, dst in planned:
            (pred,) = segment_images(model, meta, [read_image_rgb(Path(source))])
            png = io.BytesIO()
            Image.fromarray(colors[pred]).save(png, format="PNG")
            atomic_write_bytes(dst, png.getvalue())
            share = np.bincount(pred.ravel(), minlength=len(colors)) / pred.size
            top = np.argsort(-share)[:top_k]
            names = [meta["classes"][i] for i in top]
            text = f"wrote {dst.name}: " + ", ".join(
                f"{n} {share[i]:.0%}" for n, i in zip(names, top, strict=True)
            )
            results.append(
                Prediction(source=source, labels=names, scores=share[top].tolist(), text=text)
            )
        return results

    @classmethod
    def example_input(cls, meta: dict[str, Any], model: nn.Module) -> ExampleInput:
        """Images (B, 3, H, W) in [0, 1] at the recipe's size; the batch axis is dynamic; the
        output is per-pixel logits (B, K, H, W)."""
        h, w = meta["height"], meta["width"]
        g = torch.Generator().manual_seed(0)
        return ExampleInput(
            inputs=(torch.rand(2, 3, h, w, generator=g),),
            probe=(torch.rand(3, 3, h, w, generator=g),),
            names=["images"],
            axes=[{0: "batch"}],
            output="logits",
        )

    # ------------------------------------------------------------ report
    @torch.no_grad()
    def predict_split(self, model: nn.Module, split: str) -> torch.Tensor:
        """Class ids `(N, H, W)` uint8 of a split's images, in eval mode."""
        device = next(model.parameters()).device
        model.eval()
        return torch.cat(
            [
                model(x.float().div(255).to(device)).argmax(1).to("cpu", torch.uint8)
                for x in self.images_[split].split(self.recipe.data.eval_batch_size)
            ]
        )

    def scores(self, preds: torch.Tensor, split: str) -> SegmentationScores:
        """The metric filled with `preds` against `split`'s masks."""
        metric = SegmentationScores(len(self.classes_))
        n = self.recipe.data.eval_batch_size
        for p, t in zip(preds.split(n), self.masks_[split].split(n), strict=True):
            metric.update(p.long(), t.long())  # in parts: int64 masks of a split are large
        return metric

    def adapted(self, model: nn.Module, split: str = "test_shifted") -> nn.Module:
        """`model` after AdaBN on `split`'s images, their labels unused."""
        device = next(model.parameters()).device
        images = self.images_[split]
        parts = -(-len(images) // self.recipe.data.eval_batch_size)
        # Near-equal chunks: none of size 1, which BatchNorm in train mode cannot normalise.
        chunks = images.tensor_split(min(parts, len(images) // 2))
        return adapt_batchnorm(model, (c.float().div(255).to(device) for c in chunks))

    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """per_class.csv, shift.md (clear vs shifted vs AdaBN, FPS), shift.json, and the
        pictures: overlays.png, worst.png, confusion.png, per_class_iou.png and, with a shifted
        split, shifted.png (before and after AdaBN)."""
        from dllab.viz.confusion import plot_confusion

        o, k = self.options, len(self.classes_)
        run_dir.mkdir(parents=True, exist_ok=True)
        pred = torch.cat([d["pred"] for d in outputs])
        index = torch.cat([d["index"] for d in outputs])
        order = index.argsort()
        pred, index = pred[order], index[order]  # the test split in its own order
        clear = self.scores(pred, "test")
        rows = {"test": clear.per_class()}
        result = {"test": {n: float(v) for n, v in clear.compute().items()}}
        shifted = adapted = None
        if "test_shifted" in self.images_:
            shifted = self.predict_split(model, "test_shifted")
            adapted = self.predict_split(self.adapted(model), "test_shifted")
            for name, p in (("shifted", shifted), ("shifted_adabn", adapted)):
                m = self.scores(p, "test_shifted")
                rows[name] = m.per_class()
                result[name] = {n: float(v) for n, v in m.compute().items()}
        result["fps"] = frames_per_second(model, o.image_height, o.image_width)
        result["threads"] = torch.get_num_threads()
        paths = [self._per_class_csv(run_dir / "per_class.csv", rows)]
        paths += self._shift_notes(run_dir, result)
        images = self.images_["test"][index].permute(0, 2, 3, 1).numpy()
        truth = self.masks_["test"][index].numpy()
        colors = np.array([c.color for c in self.classes_], np.uint8)
        first = list(range(min(o.show, len(pred))))
        paths.append(
            plot_overlays(
                [images[i] for i in first],
                [truth[i] for i in first],
                {"prediction": [pred[i].numpy() for i in first]},
                colors,
                self.classes,
                run_dir / "overlays.png",
                title="Test images: truth and prediction (the dataset's class colours)",
            )
        )
        ious = [image_miou(pred[i], self.masks_["test"][index[i]], k) for i in range(len(pred))]
        worst = sorted(range(len(ious)), key=ious.__getitem__)[: o.show]
        paths.append(
            plot_overlays(
                [images[i] for i in worst],
                [truth[i] for i in worst],
                {"prediction": [pred[i].numpy() for i in worst]},
                colors,
                self.classes,
                run_dir / "worst.png",
                title="The worst test images by mIoU",
                notes=[f"image {int(index[i])}: mIoU {ious[i]:.3f}" for i in worst],
            )
        )
        if shifted is not None and adapted is not None:
            n = min(o.show, len(shifted))
            paths.append(
                plot_overlays(
                    list(self.images_["test_shifted"][:n].permute(0, 2, 3, 1).numpy()),
                    list(self.masks_["test_shifted"][:n].numpy()),
                    {
                        "before AdaBN": list(shifted[:n].numpy()),
                        "after AdaBN": list(adapted[:n].numpy()),
                    },
                    colors,
                    self.classes,
                    run_dir / "shifted.png",
                    title="Shifted test split (other light and weather), before and after AdaBN",
                )
            )
        paths.append(
            plot_confusion(
                clear.confmat.numpy(),
                self.classes,
                run_dir / "confusion.png",
                title="Pixels by true and predicted class (test)",
            )
        )
        paths.append(plot_iou_bars(rows, self.classes, run_dir / "per_class_iou.png"))
        return paths

    def _per_class_csv(self, path: Path, rows: dict[str, torch.Tensor]) -> Path:
        pixels = torch.bincount(self.masks_["test"].reshape(-1).long(), minlength=IGNORE + 1)[
            : len(self.classes_)
        ]
        share = pixels.double() / pixels.sum().clamp_min(1)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["class", *(f"iou_{name}" for name in rows), "test_pixel_share"])
            for c, name in enumerate(self.classes):
                # NaN: the class is in neither the truth nor the prediction of that split
                ious = [
                    "-" if v != v else round(float(v), 4) for v in (r[c] for r in rows.values())
                ]
                w.writerow([name, *ious, round(float(share[c]), 5)])
        return path

    def _shift_notes(self, run_dir: Path, result: dict[str, Any]) -> list[Path]:
        json_path = run_dir / "shift.json"
        json_path.write_text(json.dumps(result, indent=2), "utf-8")
        clear = result["test"]["miou"]
        lines = [
            f"Speed: {result['fps']:.1f} frames per second at {self.options.image_height}x"
            f"{self.options.image_width} (batch 1, eval mode, {result['threads']} CPU thread(s)).",
            "",
            "| test split | mIoU | pixel accuracy |",
            "|---|---|---|",
            f"| clear | {clear:.4f} | {result['test']['pixel_accuracy']:.4f} |",
        ]
        if "shifted" in result:
            before, after = result["shifted"]["miou"], result["shifted_adabn"]["miou"]
            lines += [
                f"| shifted (light, weather) | {before:.4f} | "
                f"{result['shifted']['pixel_accuracy']:.4f} |",
                f"| shifted, after AdaBN | {after:.4f} | "
                f"{result['shifted_adabn']['pixel_accuracy']:.4f} |",
                "",
                f"The shift costs {clear - before:.4f} mIoU; AdaBN (BatchNorm statistics "
                f"re-estimated on the unlabelled shifted images) gets back {after - before:+.4f}"
                + (
                    f", {(after - before) / (clear - before):.0%} of the drop."
                    if clear - before >= 0.01  # a share of a negligible drop means nothing
                    else "."
                ),
            ]
        else:
            lines += ["", "This dataset has no shifted split: no AdaBN measurement."]
        md = run_dir / "shift.md"
        md.write_text("\n".join(lines) + "\n", "utf-8")
        return [md, json_path]


@torch.no_grad()
def segment_images(
    model: nn.Module, meta: dict[str, Any], images: list[np.ndarray]
) -> list[np.ndarray]:
    """Class ids `(h, w)` uint8 for RGB uint8 images `(h, w, 3)` of any size: each is resized
    to the model's input, and its scores back to its own size before the argmax."""
    device = next(model.parameters()).device
    model.eval()
    out = []
    for im in images:
        x = torch.from_numpy(im).permute(2, 0, 1)[None].float().div(255)
        x = F.interpolate(x, size=(meta["height"], meta["width"]), mode="bilinear", antialias=True)
        logits = model(x.to(device)).float()
        logits = F.interpolate(logits, size=im.shape[:2], mode="bilinear", align_corners=False)
        out.append(logits.argmax(1)[0].to("cpu", torch.uint8).numpy())
    return out


@torch.no_grad()
def frames_per_second(model: nn.Module, height: int, width: int, repeats: int = 5) -> float:
    """Images per second, batch 1 in eval mode on the current threads (median of `repeats`
    after one warm-up)."""
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    x = torch.rand(1, 3, height, width, device=device)
    model(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - t)
    model.train(was)
    return 1.0 / float(np.median(times))
