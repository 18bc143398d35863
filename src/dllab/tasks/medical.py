"""3D medical segmentation on MONAI: volumes in, a class per voxel out.

Data (`data.name`):

- `volumes`: synthetic scans (`data/volumes.py`): MONAI's spheres with two (`task.classes`)
  foreground classes, noise and 2.5 mm slices; train, val and test are disjoint seeded series;
- `decathlon`: a user's CT or MR in the Medical Segmentation Decathlon layout (`data.path`,
  `data/decathlon.py`), its `training` cases split at random by the recipe's fractions.

Both go through the same deterministic MONAI transforms once, at setup, and are kept in
memory as tensors (volumes this small fit; DESIGN principle 6): channels first, reoriented to
RAS, resampled to `task.pixdim` mm (bilinear for images, nearest for labels), intensities
windowed to [0, 1] (`task.intensity_range`, for CT in Hounsfield units) or z-scored per
volume, and padded up to `task.roi_size`. Training draws, per batch, `crops_per_volume` random
crops of `roi_size`^3 from each volume, balanced over the classes by
`RandCropByLabelClassesd`; each crop's random state comes from (seed, epoch, rank, position),
so a resumed run draws exactly the crops it would have drawn.

The model is MONAI's 3D U-Net (`models/medical.py`), the loss MONAI's `DiceCELoss` (softmax
Dice + cross-entropy). Validation and test predict whole volumes with
`sliding_window_inference` (windows of `roi_size`^3) and score them with MONAI's Dice and
95th-percentile Hausdorff distance per foreground class: `dice` (MONAI's "mean": per volume
over the classes it contains, then over volumes), `dice_<class>`, and `hd95` in voxels and
`hd95_mm` in mm. The report adds per_class.csv, Dice bars per class, and axial / coronal /
sagittal slices with truth and prediction overlaid for the best and the worst test volume
(`viz/medical_slices.py`). `dllab predict RUN scan.nii.gz` segments a user's scan through the
same transforms and writes the label map on the scan's own grid (`tasks/medical_predict.py`).
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
import sys
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torchmetrics import Metric, MetricCollection

from dllab.errors import ConfigError, InputError
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask, ExampleInput, Prediction, StepOutput, TaskOptions
from dllab.train.batches import IndexBatches, check_eval_share, epoch_order, eval_shard

__all__ = ["MedicalOptions", "MedicalSegmentationTask", "VolumeBatch", "VolumeScores", "scores"]

INSTALL_HINT = "pip install 'dllab[medical]'"


class MedicalOptions(TaskOptions):
    """The recipe's `task:` section for `medical-segmentation`."""

    train_volumes: int = Field(32, ge=1)  # synthetic volumes (data.name = volumes) per split…
    val_volumes: int = Field(4, ge=1)
    test_volumes: int = Field(8, ge=1)
    classes: int = Field(2, ge=1)  # synthetic foreground classes (told apart by brightness)
    objects: int = Field(10, ge=1)  # synthetic spheres per volume
    noise: float = Field(0.3, ge=0)  # synthetic uniform background noise (MONAI's noise_max)
    sigma: float = Field(0.08, ge=0)  # synthetic Gaussian noise on every voxel
    slice_spacing: float = Field(2.5, gt=0)  # synthetic slice thickness (mm; in-plane is 1 mm)
    pixdim: tuple[float, float, float] = (
        1.0,
        1.0,
        1.0,
    )  # voxel size (mm) everything is resampled to
    # CT: Hounsfield window mapped to [0, 1] and clipped (spleen tutorial: [-57, 164]);
    # None: z-score each volume (MR, synthetic), whose intensities have no absolute scale
    intensity_range: tuple[float, float] | None = None
    roi_size: int = Field(48, ge=8)  # side of training crops and inference windows (voxels)
    crops_per_volume: int = Field(
        2, ge=1
    )  # random crops per volume in a batch (MONAI's num_samples)
    sw_batch_size: int = Field(4, ge=1)  # windows per forward pass in sliding-window inference
    sw_overlap: float = Field(0.25, ge=0, lt=1)  # overlap of neighbouring windows


class VolumeBatch(NamedTuple):
    """Volumes (or crops of them) and their labels."""

    images: torch.Tensor  # (B, C, X, Y, Z) float
    labels: torch.Tensor  # (B, 1, X, Y, Z) long class ids
    index: torch.Tensor  # (B,) positions in the split (crops: of their volume)


def _monai() -> Any:
    try:
        import monai
    except ImportError as exc:
        raise ConfigError(f"task medical-segmentation needs MONAI: {INSTALL_HINT}") from exc
    return monai


def _plain(x: Any) -> torch.Tensor:
    """A MONAI MetaTensor (or array) as a plain tensor: no metadata riding along batches."""
    return x.as_tensor() if hasattr(x, "as_tensor") else torch.as_tensor(np.asarray(x))


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_") or "class"


# ---------------------------------------------------------------- metrics
class VolumeScores(NamedTuple):
    """Per volume and foreground class; NaN where the class is absent from the truth."""

    dice: torch.Tensor  # (B, K)
    hd95: torch.Tensor  # (B, K) voxels
    hd95_mm: torch.Tensor  # (B, K) mm


def scores(logits: torch.Tensor, labels: torch.Tensor, pixdim: tuple[float, ...]) -> VolumeScores:
    """MONAI's Dice and HD95 of `argmax(logits)` against `labels`, per volume and class.

    `logits` (B, K+1, X, Y, Z), `labels` (B, 1, X, Y, Z). A class present in the truth but
    never predicted has an infinite HD95 in MONAI; it counts as the volume's diagonal (the
    largest distance there is), so a missed structure cannot improve the mean.
    """
    from monai.metrics import compute_dice, compute_hausdorff_distance
    from monai.networks.utils import one_hot

    k = logits.shape[1]
    pred = one_hot(logits.argmax(1, keepdim=True), k)  # (B, K+1, X, Y, Z)
    truth = one_hot(labels.long(), k)
    present = truth[:, 1:].flatten(2).any(-1)  # (B, K)
    with warnings.catch_warnings():  # empty classes are expected; NaN/inf are handled below
        warnings.simplefilter("ignore")
        dice = compute_dice(pred, truth, include_background=False)
        hd = [
            compute_hausdorff_distance(pred, truth, percentile=95, spacing=s)
            for s in (None, list(pixdim))
        ]
    shape = torch.tensor(labels.shape[2:], dtype=torch.float64)
    out = []
    for h, unit in zip(hd, (torch.ones(3), torch.tensor(pixdim)), strict=True):
        diagonal = float((shape * unit.double()).norm())
        h = torch.where(torch.isfinite(h), h, torch.full_like(h, diagonal))
        out.append(torch.where(present, h, torch.full_like(h, math.nan)))
    dice = torch.where(present, dice, torch.full_like(dice, math.nan))
    return VolumeScores(dice.cpu(), out[0].cpu(), out[1].cpu())


class SegmentationScores(Metric):
    """Dice and HD95 over whole volumes, summed so that DDP ranks add up.

    `dice`, `hd95`, `hd95_mm`: per volume the mean over the classes it contains, then the mean
    over volumes (MONAI's reduction "mean"); `dice_<class>`: per class over the volumes that
    contain it (MONAI's "mean_batch").
    """

    full_state_update = False

    def __init__(self, classes: list[str], pixdim: tuple[float, ...]) -> None:
        super().__init__()
        self.classes, self.pixdim = classes[1:], tuple(pixdim)
        k = len(self.classes)
        for name in ("dice_c", "n_c"):
            self.add_state(name, torch.zeros(k, dtype=torch.float64), dist_reduce_fx="sum")
        for name in ("dice", "hd95", "hd95_mm", "n"):
            self.add_state(name, torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        s = scores(logits, labels, self.pixdim)
        present = ~torch.isnan(s.dice)
        self.dice_c += torch.nan_to_num(s.dice).sum(0).double().to(self.device)
        self.n_c += present.sum(0).double().to(self.device)
        some = present.any(1)  # volumes with at least one foreground class
        for name, v in (("dice", s.dice), ("hd95", s.hd95), ("hd95_mm", s.hd95_mm)):
            per_volume = torch.nan_to_num(v).sum(1) / present.sum(1).clamp(min=1)
            setattr(self, name, getattr(self, name) + per_volume[some].sum().double().item())
        self.n += float(some.sum())

    def compute(self) -> dict[str, torch.Tensor]:
        n = self.n.clamp(min=1)
        out = {"dice": self.dice / n, "hd95": self.hd95 / n, "hd95_mm": self.hd95_mm / n}
        per_class = self.dice_c / self.n_c.clamp(min=1)
        for name, v, seen in zip(self.classes, per_class, self.n_c, strict=True):
            out[f"dice_{_slug(name)}"] = v if seen else torch.tensor(math.nan)
        return {k: v.float() for k, v in out.items()}


# ---------------------------------------------------------------- preprocessing
def prepare_transform(
    pixdim: tuple[float, ...] | list[float],
    intensity_range: tuple[float, float] | list[float] | None,
    roi_size: int,
    keys: tuple[str, ...] = ("image", "label"),
) -> Any:
    """MONAI's deterministic, invertible `Compose` from a volume as loaded to what the model
    sees: channels first, RAS, `pixdim` mm voxels (bilinear for `image`, nearest for
    `label`), intensities windowed to [0, 1] (`intensity_range`) or z-scored per channel
    (None), padded up to `roi_size` a side. Training data and `dllab predict` both go
    through it, and `Invertd` maps a prediction back to the input's grid with it."""
    from monai import transforms as T

    if intensity_range is None:
        intensity = T.NormalizeIntensityd(keys="image", channel_wise=True)
    else:
        lo, hi = intensity_range
        intensity = T.ScaleIntensityRanged(
            keys="image", a_min=lo, a_max=hi, b_min=0.0, b_max=1.0, clip=True
        )
    keys_ = list(keys)
    return T.Compose(
        [
            T.EnsureChannelFirstd(keys=keys_),  # from each tensor's original_channel_dim
            T.Orientationd(keys=keys_, axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S"))),
            T.Spacingd(
                keys=keys_,
                pixdim=tuple(pixdim),
                mode=tuple("nearest" if k == "label" else "bilinear" for k in keys_),
                dtype=(np.float32,) * len(keys_),
            ),
            intensity,
            T.SpatialPadd(keys=keys_, spatial_size=[roi_size] * 3),
        ]
    )


# ---------------------------------------------------------------- the task
@TASKS.register("medical-segmentation")
class MedicalSegmentationTask(BaseTask):
    """Task for `dllab run` recipes that label every voxel of 3D scans."""

    name = "medical-segmentation"
    Options = MedicalOptions
    options: MedicalOptions
    items = "volumes"

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        _monai()
        d = self.recipe.data
        self.checksums_: dict[str, str] = {}
        if d.name == "volumes":
            raw = self._synthetic()
        elif d.name == "decathlon":
            raw = self._decathlon()
        else:
            raise ConfigError(
                f"task medical-segmentation reads data.name 'volumes' or 'decathlon', got {d.name!r}"
            )
        prepare = self._prepare_transform()
        self.images_, self.labels_ = {}, {}
        for split, cases in raw.items():
            done = [prepare(case) for case in cases]
            self.images_[split] = [_plain(c["image"]).float() for c in done]
            self.labels_[split] = [_plain(c["label"]).to(torch.uint8) for c in done]
        self.in_channels_ = int(self.images_["train"][0].shape[0])
        where = "task.val_volumes" if d.name == "volumes" else "data.val_fraction"
        check_eval_share(len(self.images_["val"]), world, where)
        self.rank_, self.world_ = rank, world
        if rank == 0:
            counts = "/".join(str(len(self.images_[s])) for s in ("train", "val", "test"))
            shape = tuple(self.images_["train"][0].shape[1:])
            print(
                f"medical-segmentation: {len(self.classes) - 1} foreground classes; volumes "
                f"train/val/test {counts}, e.g. {shape} voxels of {self.options.pixdim} mm",
                file=sys.stderr,
            )

    def _synthetic(self) -> dict[str, list[dict[str, Any]]]:
        from dllab.data.volumes import VolumeSpec, class_names, synthetic_volumes

        o = self.options
        spec = VolumeSpec(
            size=self.recipe.data.image_size or 64,
            classes=o.classes,
            objects=o.objects,
            noise=o.noise,
            sigma=o.sigma,
            spacing=(1.0, 1.0, o.slice_spacing),
        )
        self.classes_ = class_names(o.classes)
        counts = {"train": o.train_volumes, "val": o.val_volumes, "test": o.test_volumes}
        out = {}
        for i, (split, n) in enumerate(counts.items()):
            seed = self.recipe.split_seed * 3 + i
            try:
                volumes = synthetic_volumes(spec, seed=seed, count=n)
            except ValueError as exc:
                raise ConfigError(f"data.image_size={spec.size}: {exc}") from exc
            out[split] = [_case(v.image[None], v.label, v.affine) for v in volumes]
        return out

    def _decathlon(self) -> dict[str, list[dict[str, Any]]]:
        from dllab.data.decathlon import load_case, read_decathlon

        d = self.recipe.data
        if not d.path:
            raise ConfigError(
                "data.name 'decathlon' needs data.path (the folder with dataset.json)"
            )
        ds = read_decathlon(d.path)
        self.classes_ = ds.labels
        # dataset.json only: hashing every scan (gigabytes of CT) would cost more than training
        spec = ds.root / "dataset.json"
        self.checksums_[str(spec)] = hashlib.sha256(spec.read_bytes()).hexdigest()
        n = len(ds.cases)
        n_test, n_val = (max(1, round(n * f)) for f in (d.test_fraction, d.val_fraction))
        if n - n_test - n_val < 1:
            raise ConfigError(
                f"{ds.root} has {n} labelled cases: too few for train, val and test parts "
                f"(val_fraction {d.val_fraction}, test_fraction {d.test_fraction})"
            )
        g = torch.Generator().manual_seed(self.recipe.split_seed)
        order = torch.randperm(n, generator=g).tolist()
        parts = {
            "test": order[:n_test],
            "val": order[n_test : n_test + n_val],
            "train": order[n_test + n_val :],
        }
        channels = set()
        out = {}
        for split, idx in parts.items():
            out[split] = []
            for i in idx:
                image, label, affine = load_case(ds.cases[i], ds.labels)
                channels.add(image.shape[0])
                out[split].append(_case(image, label, affine))
        if len(channels) > 1:
            raise InputError(f"{ds.root}: images have different channel counts {sorted(channels)}")
        return out

    def _prepare_transform(self) -> Any:
        """The deterministic MONAI transforms, applied once per volume at setup."""
        o = self.options
        return prepare_transform(o.pixdim, o.intensity_range, o.roi_size)

    def data_checksums(self) -> dict[str, str]:
        return dict(self.checksums_)

    @property
    def classes(self) -> list[str]:
        return self.classes_

    def _batches(self, split: str) -> IndexBatches:
        kw = self.batch_kwargs(split)
        if split == "train":
            return self._crop_batches(kw)
        images, labels = self.images_[split], self.labels_[split]
        same = len({tuple(x.shape) for x in images}) == 1
        bs = kw["batch_size"] if same else 1  # volumes of different sizes cannot stack
        n = len(images)

        def plan(epoch: int) -> list[torch.Tensor]:
            # every volume once over the ranks: a padded share would score some twice
            return list(eval_shard(n, kw["rank"], kw["world"]).split(bs))

        def collate(idx: torch.Tensor) -> VolumeBatch:
            x = torch.stack([images[i] for i in idx.tolist()])
            y = torch.stack([labels[i] for i in idx.tolist()]).long()
            return VolumeBatch(x, y, idx)

        return IndexBatches(plan, collate)

    def _crop_batches(self, kw: dict[str, Any]) -> IndexBatches:
        """Batches of `batch_size` volumes, each cut into `crops_per_volume` random crops; a
        batch index tensor is (2, B): the volumes, and the seed of each one's crops."""
        from monai.transforms import RandCropByLabelClassesd

        o = self.options
        images, labels = self.images_["train"], self.labels_["train"]
        n, bs = len(images), kw["batch_size"]
        crop = RandCropByLabelClassesd(
            keys=["image", "label"],
            label_key="label",
            spatial_size=[o.roi_size] * 3,
            num_classes=len(self.classes),
            num_samples=o.crops_per_volume,
            warn=False,  # a class missing from one volume is normal (its crops go elsewhere)
        )

        def plan(epoch: int) -> list[torch.Tensor]:
            order = epoch_order(
                n,
                seed=kw["seed"],
                epoch=epoch,
                shuffle=True,
                rank=kw["rank"],
                world=kw["world"],
            )
            g = torch.Generator().manual_seed(kw["seed"] * 1_000_003 + epoch * 1009 + kw["rank"])
            seeds = torch.randint(0, 2**31 - 1, (len(order),), generator=g)
            return list(torch.stack([order, seeds]).split(bs, dim=1))

        def collate(idx: torch.Tensor) -> VolumeBatch:
            xs, ys, owners = [], [], []
            for i, seed in idx.t().tolist():
                crop.set_random_state(seed=seed)
                for c in crop({"image": images[i], "label": labels[i]}):
                    xs.append(_plain(c["image"]))
                    ys.append(_plain(c["label"]))
                    owners.append(i)
            return VolumeBatch(torch.stack(xs), torch.stack(ys).long(), torch.tensor(owners))

        per_rank = -(-n // kw["world"])  # ceil
        return IndexBatches(plan, collate, length=-(-per_rank // bs))

    # ------------------------------------------------------------ model and steps
    def model_kwargs(self) -> dict[str, Any]:
        return {
            "num_classes": len(self.classes),
            "in_channels": self.in_channels_,
            **self.recipe.model.kwargs,
        }

    def build_model(self) -> nn.Module:
        model = super().build_model()
        factor = math.prod(getattr(model, "strides", ()) or (1,))
        if self.options.roi_size % factor:
            raise ConfigError(
                f"task.roi_size={self.options.roi_size} must be divisible by {factor}, the "
                f"down-sampling of model {self.recipe.model.name!r} (e.g. "
                f"{self.options.roi_size // factor * factor or factor})"
            )
        return model

    @property
    def loss_fn(self) -> nn.Module:
        if "loss_" not in self.__dict__:
            from monai.losses import DiceCELoss

            self.loss_ = DiceCELoss(to_onehot_y=True, softmax=True)
        return self.loss_

    def training_step(self, model: nn.Module, batch: VolumeBatch) -> StepOutput:
        logits = model(batch.images)  # (B, K+1, r, r, r)
        loss = self.loss_fn(logits, batch.labels)
        return StepOutput(loss=loss, count=len(batch.images))

    def _infer(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        from monai.inferers import sliding_window_inference

        o = self.options
        return sliding_window_inference(
            images, [o.roi_size] * 3, o.sw_batch_size, model, overlap=o.sw_overlap
        )

    def validation_step(self, model: nn.Module, batch: VolumeBatch) -> StepOutput:
        logits = _plain(self._infer(model, batch.images))  # (B, K+1, X, Y, Z)
        loss = self.loss_fn(logits, batch.labels)
        return StepOutput(loss=loss, preds=logits, target=batch.labels, count=len(logits))

    def test_step(self, model: nn.Module, batch: VolumeBatch) -> StepOutput:
        out = self.validation_step(model, batch)
        s = scores(out.preds, out.target, self.options.pixdim)
        out.outputs = {
            "pred": out.preds.argmax(1).to(torch.uint8).cpu(),  # (B, X, Y, Z)
            "index": batch.index.cpu(),
            **s._asdict(),
        }
        return out

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({"seg": SegmentationScores(self.classes, self.options.pixdim)})

    # ------------------------------------------------------------ serving
    def metadata(self) -> dict[str, Any]:
        """What rebuilding and feeding the model needs: classes, window, preprocessing."""
        o = self.options
        return {
            "classes": self.classes,
            "num_classes": len(self.classes),
            "in_channels": self.in_channels_,
            "roi_size": o.roi_size,
            "pixdim": list(o.pixdim),
            "orientation": "RAS",
            "intensity_range": list(o.intensity_range) if o.intensity_range else None,
            "sw_overlap": o.sw_overlap,
            "sw_batch_size": o.sw_batch_size,
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
        """Label maps for NIfTI scans, `<scan>.seg.nii.gz` on each scan's own grid (shape and
        affine) with `<scan>.seg.png` beside it, in the current folder, replacing existing
        ones only with `force` (`tasks/medical_predict.py`); the text gives each class's
        share of the voxels."""
        from dllab.tasks.medical_predict import predict_volumes

        return predict_volumes(model, meta, inputs, top_k, force=force)

    @classmethod
    def example_input(cls, meta: dict[str, Any], model: nn.Module) -> ExampleInput:
        """Windows (B, C, r, r, r) of preprocessed volume; the batch axis is dynamic. The
        graph is one window: sliding-window inference tiles a volume with it at run time."""
        r, c = int(meta["roi_size"]), int(meta["in_channels"])
        g = torch.Generator().manual_seed(0)
        return ExampleInput(
            inputs=(torch.randn(2, c, r, r, r, generator=g),),
            probe=(torch.randn(1, c, r, r, r, generator=g),),
            names=["window"],
            axes=[{0: "batch"}],
            notes=[f"one {r}^3 window; tile whole volumes with sliding-window inference"],
        )

    # ------------------------------------------------------------ pictures
    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """per_class.csv, dice_per_class.png, slices_best.png and slices_worst.png."""
        from dllab.viz.medical_slices import plot_dice_bars, plot_slices

        if not outputs:
            return []
        dice = torch.cat([o["dice"] for o in outputs]).numpy()  # (N, K)
        hd = torch.cat([o["hd95"] for o in outputs]).numpy()
        hd_mm = torch.cat([o["hd95_mm"] for o in outputs]).numpy()
        preds = [p for o in outputs for p in o["pred"]]
        index = torch.cat([o["index"] for o in outputs]).tolist()
        names = self.classes[1:]
        paths = [run_dir / "per_class.csv"]
        with open(paths[0], "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["class", "dice", "hd95_voxels", "hd95_mm", "volumes"])
            for k, name in enumerate(names):
                seen = ~np.isnan(dice[:, k])
                row = [np.nanmean(a[:, k]) if seen.any() else math.nan for a in (dice, hd, hd_mm)]
                w.writerow([name, *(round(float(v), 4) for v in row), int(seen.sum())])
        paths.append(plot_dice_bars(dice, names, run_dir / "dice_per_class.png"))
        mean = np.array([np.nanmean(r) if (~np.isnan(r)).any() else np.nan for r in dice])
        ranked = [i for i in np.argsort(-np.nan_to_num(mean, nan=-1.0)).tolist()]
        for tag, pos in (("best", ranked[0]), ("worst", ranked[-1])):
            i = index[pos]
            paths.append(
                plot_slices(
                    self.images_["test"][i][0].numpy(),
                    {"truth": self.labels_["test"][i][0].numpy(), "prediction": preds[pos].numpy()},
                    self.classes,
                    run_dir / f"slices_{tag}.png",
                    title=f"{tag.capitalize()} test volume #{i}: mean Dice {mean[pos]:.3f}",
                )
            )
        return paths


def _case(image: np.ndarray, label: np.ndarray, affine: np.ndarray) -> dict[str, Any]:
    """A volume as MONAI's loaders give it: MetaTensors carrying their affine and channel
    layout (image channels first; label without a channel axis)."""
    from monai.data import MetaTensor

    return {
        "image": MetaTensor(image, affine=affine, meta={"original_channel_dim": 0}),
        "label": MetaTensor(label, affine=affine, meta={"original_channel_dim": "no_channel"}),
    }
