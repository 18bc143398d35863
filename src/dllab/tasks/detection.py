"""Object detection: images in, boxes with classes and scores out.

Data (`data.name`):

- `scenes`: synthetic scenes of real objects (Fashion-MNIST items and digits) on real
  textures, with exact boxes (`data/scenes.py`); train, val and test scenes paste objects
  from disjoint image pools, so no test object was seen in training;
- `yolo`: a user's folder in YOLO layout (`data.path`); its `train`, `val` and `test` splits,
  or a seeded split of `train` where `val`/`test` are missing;
- `coco`: one COCO JSON file (`data.path`), split at random by the recipe's fractions.

Images are resized (stretched) to `data.image_size` squares, kept in memory as uint8 and
scaled to [0, 1] per batch. A batch is the images plus a list of per-image target dicts
(`boxes` xyxy pixels, `labels`), which the Trainer moves to the device as they are.

Models follow the detector interface of `models/detector.py` (`forward` -> raw, `loss`,
`detect`), so ours (`yolo-n`, `yolo-s`) and torchvision's FCOS (`fcos-ref`) run the same way.
Metrics are COCO's, from torchmetrics' `MeanAveragePrecision` (pycocotools backend): `map`
(mAP@0.5:0.95), `map_50`, `map_75` and `mar_100`. The test pass keeps its detections for
the report: pr_curve.png, per_class.csv (AP per class), predictions.png and misses.png.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.detection import MeanAveragePrecision

from dllab.data.detection_formats import DetectionSet, read_coco, read_image_rgb, read_yolo
from dllab.errors import ConfigError, InputError
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask, ExampleInput, Prediction, StepOutput, TaskOptions
from dllab.train.batches import IndexBatches, order_for

__all__ = ["DetBatch", "DetectionMAP", "DetectionOptions", "DetectionTask", "detect_images"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


class DetectionOptions(TaskOptions):
    """The recipe's `task:` section for `detection`."""

    train_scenes: int = Field(4000, ge=1)  # synthetic scenes (data.name = scenes) per split…
    val_scenes: int = Field(300, ge=1)
    test_scenes: int = Field(500, ge=1)
    max_objects: int = Field(6, ge=1)  # labelled objects per scene, at most
    min_size: int = Field(14, ge=4)  # object sizes (longest side, px) in a scene
    max_size: int = Field(56, ge=4)
    clutter: int = Field(4, ge=0)  # unlabelled distractors per scene
    conf: float = Field(0.001, ge=0, lt=1)  # score floor for mAP (COCO practice: keep ~all)
    iou: float = Field(0.6, gt=0, le=1)  # NMS overlap above which the lower score goes
    max_det: int = Field(100, ge=1)  # detections kept per image (COCO's maxDets)
    show_conf: float = Field(0.3, gt=0, lt=1)  # pictures, predict and video draw boxes above
    # training images zoomed 0.6-1.4x and shifted up to 10 % with their boxes
    # (`data/box_augment.py`): fixed scenes seen for many epochs stop being memorised
    augment: bool = False


class DetBatch(NamedTuple):
    """Images and their objects."""

    images: torch.Tensor  # (B, 3, S, S) float in [0, 1]
    targets: list[dict[str, torch.Tensor]]  # per image: boxes (N, 4) xyxy px, labels (N,)
    index: torch.Tensor  # (B,) positions in the split


class DetectionMAP(MeanAveragePrecision):
    """COCO mAP through torchmetrics, reported as scalars: `map` (IoU 0.5:0.95), `map_50`,
    `map_75` and `mar_100`. Per-class AP goes to the report's per_class.csv instead, so each
    validation line stays readable with 20 classes."""

    def __init__(self) -> None:
        super().__init__(iou_type="bbox", class_metrics=False, backend="pycocotools")

    def compute(self) -> dict[str, torch.Tensor]:  # type: ignore[override]
        r = super().compute()
        return {k: r[k] for k in ("map", "map_50", "map_75", "mar_100")}


def _bare(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)  # under DDP the interface lives on the module


@TASKS.register("detection")
class DetectionTask(BaseTask):
    """Task for `dllab run` recipes that find and name objects in images."""

    name = "detection"
    Options = DetectionOptions
    options: DetectionOptions
    items = "images"

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        d = self.recipe.data
        self.checksums_: dict[str, str] = {}
        if d.name == "scenes":
            self._setup_scenes()
        elif d.name in ("yolo", "coco"):
            self._setup_files()
        else:
            raise ConfigError(
                f"task detection reads data.name 'scenes', 'yolo' or 'coco', got {d.name!r}"
            )
        self.rank_, self.world_ = rank, world
        if rank == 0:
            counts = {k: len(v) for k, v in self.images_.items()}
            objects = sum(len(t["labels"]) for t in self.targets_["train"])
            print(
                f"detection: {len(self.classes)} classes, {self.size_} px; images "
                f"train/val/test {counts['train']}/{counts['val']}/{counts['test']}; "
                f"{objects} training objects",
                file=sys.stderr,
            )

    def _setup_scenes(self) -> None:
        from dllab.data.scenes import SceneSpec, object_pools, render_scenes

        d, o = self.recipe.data, self.options
        self.size_ = d.image_size or 128
        pools, self.checksums_ = object_pools(d.data_dir, seed=self.recipe.split_seed)
        spec = SceneSpec(
            image_size=self.size_,
            max_objects=o.max_objects,
            min_size=o.min_size,
            max_size=min(o.max_size, self.size_),
            clutter=o.clutter,
        )
        counts = {"train": o.train_scenes, "val": o.val_scenes, "test": o.test_scenes}
        self.classes_ = pools["train"].classes
        self.images_, self.targets_ = {}, {}
        for split, n in counts.items():
            seed = self.recipe.split_seed * 3 + ("train", "val", "test").index(split)
            scenes = render_scenes(pools[split], spec, seed=seed, count=n)
            self.images_[split] = torch.from_numpy(np.stack([s.image for s in scenes])).permute(
                0, 3, 1, 2
            )
            self.targets_[split] = [
                {"boxes": torch.from_numpy(s.boxes), "labels": torch.from_numpy(s.labels)}
                for s in scenes
            ]

    def _setup_files(self) -> None:
        d = self.recipe.data
        if not d.path:
            raise ConfigError(f"data.name {d.name!r} needs data.path (the folder or JSON file)")
        self.size_ = d.image_size or 320
        g = torch.Generator().manual_seed(self.recipe.split_seed)
        if d.name == "coco":
            sets = self._fractions(read_coco(d.path), g)
        else:
            root = Path(d.path)
            have = {s for s in ("train", "val", "test") if (root / "images" / s).is_dir()}
            if "train" not in have:
                raise InputError(f"{root}/images/train not found; YOLO layout needs a train split")
            sets = {s: read_yolo(root, s) for s in have}
            if have != {"train", "val", "test"}:
                sets = {**self._fractions(sets["train"], g, keep=sets), **sets}
        self.classes_ = sets["train"].classes
        self.images_, self.targets_ = {}, {}
        for split, ds in sets.items():
            self.images_[split], self.targets_[split] = self._load(ds)

    def _fractions(
        self, ds: DetectionSet, g: torch.Generator, keep: dict[str, DetectionSet] | None = None
    ) -> dict[str, DetectionSet]:
        """Seeded val/test parts carved from `ds` for the splits `keep` does not have."""
        d, keep = self.recipe.data, keep or {}
        order = torch.randperm(len(ds.images), generator=g).tolist()
        n_test = 0 if "test" in keep else max(1, round(len(order) * d.test_fraction))
        n_val = 0 if "val" in keep else max(1, round(len(order) * d.val_fraction))
        if len(order) - n_test - n_val < 1:
            raise ConfigError(f"{len(order)} images cannot give train, val and test parts")
        pick = lambda idx: DetectionSet([ds.images[i] for i in idx], ds.classes)  # noqa: E731
        out = {"train": pick(order[n_test + n_val :])}
        if n_test:
            out["test"] = pick(order[:n_test])
        if n_val:
            out["val"] = pick(order[n_test : n_test + n_val])
        return out

    def _load(self, ds: DetectionSet) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        s = self.size_
        images, targets = [], []
        for item in ds.images:
            image = torch.from_numpy(read_image_rgb(item.path)).permute(2, 0, 1)[None].float()
            images.append(F.interpolate(image, size=(s, s), mode="bilinear", antialias=True)[0])
            scale = torch.tensor([s / item.width, s / item.height] * 2)
            boxes = torch.from_numpy(item.boxes).float() * scale
            targets.append({"boxes": boxes, "labels": torch.from_numpy(item.labels)})
        stacked = torch.stack(images).round().clamp(0, 255).to(torch.uint8)
        return stacked, targets

    def data_checksums(self) -> dict[str, str]:
        return dict(self.checksums_)

    @property
    def classes(self) -> list[str]:
        return self.classes_

    def _batches(self, split: str) -> IndexBatches:
        images, targets = self.images_[split], self.targets_[split]
        kw = self.batch_kwargs(split)
        n, bs = len(images), kw["batch_size"]

        def plan(epoch: int) -> list[torch.Tensor]:
            order = order_for(n, kw, epoch)
            return list(order.split(bs))

        jitter = None
        if split == "train" and self.options.augment:
            from dllab.data.box_augment import scale_translate

            jitter = scale_translate()

        def collate(idx: torch.Tensor) -> DetBatch:
            x = images[idx].float() / 255.0
            ys = [targets[i] for i in idx.tolist()]
            if jitter is not None:
                pairs = [jitter(image, y) for image, y in zip(x, ys, strict=True)]
                x, ys = torch.stack([p[0] for p in pairs]), [p[1] for p in pairs]
            return DetBatch(x, ys, idx)

        per_rank = -(-n // kw["world"])  # ceil
        length = -(-per_rank // bs)
        return IndexBatches(plan, collate, length=length)

    # ------------------------------------------------------------ model and steps
    def model_kwargs(self) -> dict[str, Any]:
        return {
            "num_classes": len(self.classes),
            "image_size": self.size_,
            **self.recipe.model.kwargs,
        }

    def training_step(self, model: nn.Module, batch: DetBatch) -> StepOutput:
        raw = model(batch.images)
        loss, logs = _bare(model).loss(raw, batch.targets, tuple(batch.images.shape[-2:]))
        return StepOutput(loss=loss, logs=logs, count=len(batch.targets))

    def validation_step(self, model: nn.Module, batch: DetBatch) -> StepOutput:
        hw = tuple(batch.images.shape[-2:])
        raw = model(batch.images)
        det = _bare(model)
        loss, _ = det.loss(raw, batch.targets, hw)
        o = self.options
        preds = det.detect(raw, hw, conf=o.conf, iou=o.iou, max_det=o.max_det)
        return StepOutput(loss=loss, preds=preds, target=batch.targets)

    def test_step(self, model: nn.Module, batch: DetBatch) -> StepOutput:
        out = self.validation_step(model, batch)
        cpu = lambda ds: [{k: v.detach().cpu() for k, v in d.items()} for d in ds]  # noqa: E731
        out.outputs = {"preds": cpu(out.preds), "targets": cpu(out.target), "index": batch.index}
        return out

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({"detection": DetectionMAP()})

    # ------------------------------------------------------------ serving
    def metadata(self) -> dict[str, Any]:
        """Classes, input side and post-processing: what predict, export and video need."""
        o = self.options
        return {
            "classes": self.classes,
            "num_classes": len(self.classes),
            "image_size": self.size_,
            "in_channels": 3,
            "conf": o.show_conf,
            "iou": o.iou,
            "max_det": o.max_det,
        }

    @classmethod
    def predict_with(
        cls, model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """Boxes for image files; a video file (.mp4, …) is annotated with tracked boxes into
        `<name>.tracked.mp4` in the current folder, and its end-to-end FPS is printed."""
        results = []
        for source in inputs:
            if Path(source).suffix.lower() in VIDEO_SUFFIXES:
                from dllab.vision.video import annotate_with_model

                dst = Path.cwd() / f"{Path(source).stem}.tracked.mp4"
                if dst.exists():
                    raise InputError(
                        f"{dst} already exists; move or delete it first (dllab never replaces "
                        "a file it did not just make)"
                    )
                stats = annotate_with_model(model, meta, source, dst)
                results.append(
                    Prediction(
                        source=source,
                        text=(
                            f"wrote {dst}: {stats['frames']} frames, {stats['fps']:.1f} FPS end "
                            f"to end (decode, inference, NMS, tracking, drawing), "
                            f"{stats['tracks']} tracks"
                        ),
                    )
                )
                continue
            image = read_image_rgb(Path(source))
            (det,) = detect_images(model, meta, [image])
            names = [meta["classes"][int(c)] for c in det["labels"]]
            boxes = ["[" + ", ".join(f"{v:.0f}" for v in b) + "]" for b in det["boxes"].tolist()]
            text = "; ".join(
                f"{n} {s:.2f} {b}"
                for n, s, b in zip(names, det["scores"].tolist(), boxes, strict=True)
            )
            results.append(
                Prediction(
                    source=source,
                    labels=names,
                    scores=det["scores"].tolist(),
                    text=text or "no objects",
                )
            )
        return results

    @classmethod
    def example_input(cls, meta: dict[str, Any], model: nn.Module) -> ExampleInput:
        """Images (B, 3, S, S) in [0, 1]; the batch axis is dynamic; the output is the raw
        head tensor, decoded and suppressed by `detect` after the runtime."""
        s = meta["image_size"]
        g = torch.Generator().manual_seed(0)
        return ExampleInput(
            inputs=(torch.rand(2, 3, s, s, generator=g),),
            probe=(torch.rand(3, 3, s, s, generator=g),),
            names=["images"],
            axes=[{0: "batch"}],
            output="raw",
        )

    # ------------------------------------------------------------ pictures
    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """pr_curve.png, per_class.csv, predictions.png and misses.png from the test pass."""
        from dllab.viz.detection import missed_objects, plot_detections, plot_pr_curves

        preds = [p for o in outputs for p in o["preds"]]
        targets = [t for o in outputs for t in o["targets"]]
        index = (
            torch.cat([o["index"] for o in outputs])
            if outputs
            else torch.zeros(0, dtype=torch.long)
        )
        paths = []
        m = MeanAveragePrecision(
            iou_type="bbox", class_metrics=True, backend="pycocotools", extended_summary=True
        )
        m.update(preds, targets)
        r = m.compute()
        # precision: (IoU thresholds 10, recall points 101, classes, area ranges, max dets)
        prec = r["precision"][0, :, :, 0, -1].numpy()  # IoU 0.5, all areas, 100 dets
        present = r["classes"].reshape(-1).tolist()
        full = -np.ones((prec.shape[0], len(self.classes)))
        full[:, present] = prec
        paths.append(
            plot_pr_curves(
                np.linspace(0, 1, prec.shape[0]),
                full,
                self.classes,
                run_dir / "pr_curve.png",
                title=f"Precision-recall at IoU 0.5 (mAP@0.5 {float(r['map_50']):.3f})",
            )
        )
        ap = dict(zip(present, r["map_per_class"].reshape(-1).tolist(), strict=True))
        counts = torch.bincount(
            torch.cat([t["labels"].long() for t in targets] or [torch.zeros(0, dtype=torch.long)]),
            minlength=len(self.classes),
        )
        with open(run_dir / "per_class.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["class", "ap_50_95", "objects"])
            for k, name in enumerate(self.classes):
                w.writerow([name, round(ap.get(k, -1.0), 4), int(counts[k])])
        paths.append(run_dir / "per_class.csv")
        shown = [self._confident(p) for p in preds]
        images = self.images_["test"][index]
        k = min(12, len(images))
        paths.append(
            plot_detections(
                images[:k],
                shown[:k],
                self.classes,
                run_dir / "predictions.png",
                title=f"Test scenes: detections with score >= {self.options.show_conf}",
            )
        )
        misses = missed_objects(shown, targets)
        worst = sorted(range(len(misses)), key=lambda i: -int(misses[i].sum()))[:8]
        worst = [i for i in worst if misses[i].any()]
        paths.append(
            plot_detections(
                images[worst],
                [shown[i] for i in worst],
                self.classes,
                run_dir / "misses.png",
                title="Worst misses: missed objects dashed red, found ones dashed white",
                targets=[targets[i] for i in worst],
                misses=[misses[i] for i in worst],
            )
        )
        return paths

    def _confident(self, pred: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        keep = pred["scores"] >= self.options.show_conf
        return {k: v[keep] for k, v in pred.items()}


@torch.no_grad()
def detect_images(
    model: nn.Module, meta: dict[str, Any], images: list[np.ndarray]
) -> list[dict[str, torch.Tensor]]:
    """Detections for RGB uint8 images (H, W, 3) of any size, in their own pixel coordinates:
    each is stretched to the model's square input and its boxes are scaled back."""
    s = meta["image_size"]
    device = next(model.parameters()).device
    x = torch.stack(
        [
            F.interpolate(
                torch.from_numpy(im).permute(2, 0, 1)[None].float(), size=(s, s), mode="bilinear"
            )[0]
            for im in images
        ]
    )
    model.eval()
    raw = model((x / 255.0).to(device))
    dets = _bare(model).detect(
        raw, (s, s), conf=meta["conf"], iou=meta["iou"], max_det=meta["max_det"]
    )
    out = []
    for im, d in zip(images, dets, strict=True):
        h, w = im.shape[:2]
        scale = torch.tensor([w / s, h / s] * 2, device=d["boxes"].device)
        out.append({k: v.float().cpu() if k != "labels" else v.cpu() for k, v in d.items()})
        out[-1]["boxes"] = (d["boxes"].float() * scale).cpu()
    return out
