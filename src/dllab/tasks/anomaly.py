"""Anomaly detection on good parts only (P01 visual defect inspection): the task.

Inspection lines start with many good parts and almost no defects, so the detector learns what
*good* looks like and flags what is far from it: PatchCore (`dllab.models.patchcore`), a
memory bank of good patches on a frozen ImageNet backbone, with each position's distance
normalised by its distances on good parts held out of the bank (`task.holdout_fraction`).

On the shared Trainer the "fit" is one pass without gradient steps: `training_step` collects
patch features (a zero loss, `automatic_optimization = False`, no optimiser), and the first
`validation_step` builds the memory bank and the positional statistics from them and calibrates
the decision threshold on the validation split: the highest score that still flags `recall`
(99 %) of its defective parts. Bank, statistics and threshold are buffers of the model, so
the checkpoint holds the whole detector and `dllab predict` says good or defective from it
alone.

Data: `data.name: synthetic-defects` (`dllab.data.defects`, generated once into the data
folder) or `data.name: folder` with `data.path` at a user's MVTec-AD-style folder
(`dllab.data.mvtec`); `task.category` picks a category (the synthetic ones are the texture
names). The validation split is `data.val_fraction` of the test parts (MVTec-AD has none).
Metrics (`dllab.metrics.anomaly`): image AUROC, pixel AUROC and PRO up to 30 % FPR, overall
and per defect type; `inspection.md` adds the threshold, the confusion matrix, the false-alarm
rate and the latency per image, and `worst_cases.png` overlays the heat maps (the report and
the data loading are shared with the supervised classifier: `dllab.tasks.inspection`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn
from torchmetrics import MetricCollection

from dllab.errors import ConfigError, InputError
from dllab.metrics.anomaly import AnomalyMetrics, threshold_for_recall
from dllab.models.patchcore import IMAGENET_MEAN, IMAGENET_STD, PatchCore
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask
from dllab.tasks.inspection import (
    InspectionOptions,
    load_inspection_data,
    measure_latency,
    report_test_pass,
    verdicts,
)
from dllab.train.batches import IndexBatches, epoch_order
from dllab.train.protocol import ExampleInput, Prediction, StepOutput

__all__ = ["AnomalyTask"]


# ---------------------------------------------------------------- the task
class AnomalyOptions(InspectionOptions):
    method: Literal["patchcore"] = "patchcore"  # the detector (PaDiM scored lower on val)
    layers: list[int] = [1, 2]  # backbone stages forming a patch (Lite0: strides 4 and 8)
    coreset_ratio: float = Field(0.01, gt=0, le=1)  # share of training patches in the bank
    # good training parts kept out of the bank to learn each position's usual distance (the
    # border, a print); 0 scores raw distances as the PatchCore paper does
    holdout_fraction: float = Field(0.2, ge=0, lt=1)
    blur_sigma: float = Field(4.0, ge=0)  # distance smoothing in px (the PatchCore paper's)


@TASKS.register("anomaly")
class AnomalyTask(BaseTask):
    """Task for `dllab run defects-*` recipes: fit on good parts, find and locate defects."""

    name = "anomaly"
    Options = AnomalyOptions
    options: AnomalyOptions
    automatic_optimization = False  # the fit is a feature pass; nothing is stepped
    # `dllab export` goes through its graph plan instead (deploy/export_anomaly.py): the
    # whole detector, memory bank included, as one graph
    not_exportable = "its detector is exported as a graph plan: see export_anomaly"

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        r = self.recipe
        if world > 1:
            raise ConfigError("task 'anomaly' fits in one process; run it without torchrun")
        if r.train.max_epochs != 1:
            raise ConfigError(
                "task 'anomaly' fits in one pass over the good parts: set train.max_epochs=1"
            )
        self.rank_, self.world_ = rank, world
        self.data_, val, test = load_inspection_data(r, self.options, self.name)
        self.splits_ = {"train": self.data_.train, "val": val, "test": test}
        self.features_: list[torch.Tensor] = []

    def data_checksums(self) -> dict[str, str]:
        return dict(self.data_.checksums)

    def _batches(self, split: str) -> IndexBatches:
        part = self.splits_[split]
        size = self.batch_kwargs(split)["batch_size"]

        def plan(epoch: int) -> list[torch.Tensor]:
            return list(epoch_order(len(part), seed=0, epoch=epoch, shuffle=False).split(size))

        def collate(idx: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"image": part.images[idx], "mask": part.masks[idx], "kind": part.kinds[idx]}

        return IndexBatches(plan, collate)

    # ------------------------------------------------------------ model
    def model_kwargs(self) -> dict[str, Any]:
        return {
            "num_classes": 1,  # the backbone's classifier is never used
            "in_channels": 3,
            "image_size": self.data_.image_size,
            **self.recipe.model.kwargs,
        }

    def detector_spec(self, backbone: nn.Module) -> dict[str, Any]:
        """Bank shape and preprocessing: fixed before the fit, so a checkpoint always fits."""
        layers, size = self.options.layers, self.data_.image_size
        with torch.no_grad():
            maps = backbone.eval().feature_maps(torch.zeros(1, 3, size, size))
        if max(layers) >= len(maps) or min(layers) < 0:
            raise ConfigError(f"task.layers={layers}: the backbone has stages 0..{len(maps) - 1}")
        h, w = maps[layers[0]].shape[-2:]
        patches = (len(self.splits_["train"]) - self._held_out_count()) * h * w
        module = sys.modules[type(backbone).__module__]
        return {
            "layers": list(layers),
            "dim": sum(maps[i].shape[1] for i in layers),
            "grid": [h, w],
            "bank_size": max(1, round(self.options.coreset_ratio * patches)),
            "blur_sigma": self.options.blur_sigma,
            "stride": size // w,  # input px per patch-grid cell (the blur is in px)
            "image_size": size,
            "mean": list(getattr(module, "MEAN", IMAGENET_MEAN)),
            "std": list(getattr(module, "STD", IMAGENET_STD)),
        }

    def _held_out_count(self) -> int:
        """Good training parts that set the positional statistics instead of the bank."""
        n = len(self.splits_["train"])
        k = round(self.options.holdout_fraction * n)
        if k and (k < 2 or k > n - 1):
            raise ConfigError(
                f"task.holdout_fraction={self.options.holdout_fraction} holds out {k} of {n} "
                f"good training parts; it needs 2 to {n - 1} (or 0 for none)"
            )
        return k

    def build_model(self) -> nn.Module:
        from dllab.models import create_model

        backbone = create_model(self.recipe.model.name, **self.model_kwargs())
        self.spec_ = self.detector_spec(backbone)
        return _detector(backbone, self.spec_)

    def configure_optimizers(self, model: nn.Module) -> torch.optim.Optimizer:
        """An optimiser over no parameters at lr 0 (the fit takes no gradient step; the
        loggers and checkpoints still find the one optimiser they expect)."""
        return torch.optim.SGD([{"params": []}], lr=0.0)

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({"anomaly": AnomalyMetrics(self.data_.defect_types)})

    # ------------------------------------------------------------ steps
    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        """Collect the batch's patch features (the fit happens at the first validation)."""
        n = len(batch["image"])
        if not bool(model.fitted):
            with torch.no_grad():
                e = model.embed(model.normalize(batch["image"]))  # (B, D, h, w)
            self.features_.append(e.cpu())
        return StepOutput(loss=torch.zeros((), device=batch["image"].device), count=n)

    def fit_detector(self, model: nn.Module) -> None:
        """Build the memory bank and the positional statistics (on a seeded share of the good
        parts, kept out of the bank) from the collected features, then set the threshold that
        flags `recall` of the defective validation parts."""
        if not self.features_:
            raise ConfigError("the detector has no training features; train before validating")
        features = torch.cat(self.features_)  # (N, D, h, w)
        seed = self.recipe.train.seed
        order = torch.randperm(len(features), generator=torch.Generator().manual_seed(seed))
        held = order[: self._held_out_count()]
        keep = order[len(held) :].sort().values
        model.fit(features[keep], features[held] if len(held) else None, seed=seed)
        self.features_ = []
        device = model.memory_bank.device
        self.val_maps_ = [
            model(model.normalize(batch["image"].to(device)))
            for batch in self.val_batches().epoch(0)
        ]  # the validation pass now under way reuses these
        scores = torch.cat([m.flatten(1).amax(1).cpu() for m in self.val_maps_])
        kinds = self.splits_["val"].kinds
        model.threshold.fill_(threshold_for_recall(scores, kinds > 0, self.options.recall))

    def validation_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        if not bool(model.fitted):
            self.fit_detector(model)
        cached = self.__dict__.get("val_maps_")
        if cached:  # the first validation: the calibration pass computed these maps
            maps = cached.pop(0)
            assert maps.shape[0] == batch["image"].shape[0]
        else:
            maps = model(model.normalize(batch["image"]))  # (B, S, S)
        target = {"mask": batch["mask"], "kind": batch["kind"]}
        zero = torch.zeros((), device=maps.device)  # no loss: the fit minimises nothing
        return StepOutput(loss=zero, preds=maps, target=target, count=len(maps))

    def test_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        out = self.validation_step(model, batch)
        out.outputs = {"maps": out.preds.float().cpu(), "kind": batch["kind"].cpu()}
        return out

    # ------------------------------------------------------------ serving
    def metadata(self) -> dict[str, Any]:
        return {
            "detector": self.spec_,
            "defect_types": self.data_.defect_types,
            "category": self.options.category,
        }

    @classmethod
    def model_from_metadata(cls, meta: dict[str, Any]) -> nn.Module:
        """The detector's shape (the weights, bank and threshold come from the checkpoint)."""
        from dllab.models import create_model

        kwargs = {k: v for k, v in meta.get("model_kwargs", {}).items() if k != "regime"}
        kwargs["pretrained"] = False  # every weight is in the checkpoint
        return _detector(create_model(meta["model"], **kwargs), meta["detector"])

    @classmethod
    @torch.no_grad()
    def predict_with(
        cls, model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """ "defective" or "good" and the image's anomaly score, for image files."""
        from dllab.tasks.classification import load_image

        spec = meta["detector"]
        x = torch.stack([load_image(p, 3, spec["image_size"]) for p in inputs])
        device = model.memory_bank.device
        scores = model(model.normalize(x.to(device))).flatten(1).amax(1).float().cpu()
        return verdicts(inputs, scores.tolist(), float(model.threshold))

    @classmethod
    def example_input(cls, meta: dict[str, Any], model: nn.Module) -> ExampleInput:
        raise InputError(f"cannot export an anomaly run to ONNX: {cls.not_exportable}")

    # ------------------------------------------------------------ report
    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """inspection.md (threshold, confusion matrix, false alarms, per-type table, latency),
        per_defect.csv, scores.png and worst_cases.png, from the one test pass."""
        test = self.splits_["test"]
        x = model.normalize(test.images[:1]).to(model.memory_bank.device)
        return report_test_pass(
            self,
            model,
            run_dir,
            outputs,
            latency=measure_latency(model.eval(), x),
            score_name="the heat map's maximum: the normalised patch distance to the bank",
            map_name="anomaly score",
        )


# ---------------------------------------------------------------- helpers
def _detector(backbone: nn.Module, spec: dict[str, Any]) -> PatchCore:
    return PatchCore(
        backbone,
        layers=tuple(spec["layers"]),
        bank_size=spec["bank_size"],
        dim=spec["dim"],
        grid=tuple(spec["grid"]),
        blur_sigma=spec["blur_sigma"],
        stride=spec.get("stride", 4),  # runs saved before it was stated: Lite0 stage 1
        mean=tuple(spec["mean"]),
        std=tuple(spec["std"]),
    )
