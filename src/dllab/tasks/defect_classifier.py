"""Supervised defect classifier with Grad-CAM heat maps (P01 visual defect inspection): the task.

The other way to inspect parts, beside the anomaly detector (`dllab.tasks.anomaly`): when
defective parts *are* available to learn from, fine-tune the ImageNet EfficientNet-Lite0 to say
good or defective (LP-FT as in `fashion-mnist-finetune`: the new head alone first, then the
backbone at a fraction of its rate, BatchNorm statistics kept ImageNet's). The stem and the
first `task.frozen_stages` stages stay at their ImageNet weights: edges and blobs need no
re-learning, and no gradient through the high-resolution layers makes a CPU step ~3x faster.

The image score is the probability of "defective"; the heat map is the Grad-CAM of that class
(`dllab.viz.gradcam`, at `task.cam_stage`), upsampled to the image, scaled to 0..1 per image and
multiplied by the image's probability, so the map's maximum *is* the image score and the
anomaly metrics (image AUROC, pixel AUROC, PRO) read it exactly as they read PatchCore's maps.

Data: the validation and test parts are exactly the anomaly task's (same data, same split), so
the two methods are compared on the same parts. Training parts are the good training parts plus
defective ones: for `synthetic-defects`, `task.train_per_defect` parts of each type drawn from
the generator's *train* streams (never the test parts); for a user's MVTec-style folder (which
has no defective training parts) a stratified `task.train_fraction` of its test parts, moved
out of test before anything is measured.

After each validation pass the threshold is set on the validation scores (the highest that
flags `task.recall` of the defective parts) and kept as a buffer of the model, so the best
checkpoint carries the threshold chosen for it and `dllab predict` says good or defective
from the checkpoint alone. The report is the anomaly task's (`dllab.tasks.inspection`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torchmetrics import MetricCollection

from dllab.data.mvtec import AnomalyData, AnomalySplit
from dllab.data.split import hold_out
from dllab.errors import ConfigError, InputError
from dllab.metrics.anomaly import AnomalyMetrics, threshold_for_recall
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask
from dllab.tasks.inspection import (
    SYNTHETIC,
    InspectionOptions,
    load_inspection_data,
    measure_latency,
    report_test_pass,
    verdicts,
)
from dllab.train.batches import IndexBatches, epoch_order
from dllab.train.protocol import ExampleInput, Prediction, StepOutput

__all__ = ["DefectClassifier", "DefectClassifierTask", "defect_maps"]


# ---------------------------------------------------------------- the model
class DefectClassifier(nn.Module):
    """A two-class image classifier (good, defective) with its preprocessing and its
    validation threshold on P(defective), so a checkpoint is the whole inspector."""

    def __init__(self, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        # P(defective) at or above which a part is flagged; set after every validation pass
        self.register_buffer("threshold", torch.tensor(0.5))

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, S, S) -> the float input the backbone's weights expect."""
        return (images.to(self.mean.device).float() / 255 - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, 2) logits: good, defective

    def param_groups(self) -> list[dict[str, Any]]:
        """The backbone's LP-FT groups (head at the recipe's rate, backbone slower)."""
        return self.net.param_groups()

    def cam_layer(self, stage: int) -> nn.Module:
        """The layer Grad-CAM reads: a backbone stage (0..6), or -1 for the head conv."""
        return self.net.head if stage < 0 else self.net.stages[stage]


def defect_maps(
    model: DefectClassifier, x: torch.Tensor, stage: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(heat maps (B, S, S), logits (B, 2)) for normalised images `x` (B, 3, S, S).

    Each map is the Grad-CAM of "defective" scaled to a maximum of 1, times the image's
    P(defective); a map Grad-CAM leaves all zero (no positive evidence anywhere) is P
    everywhere. So `maps.amax((1, 2))` equals P(defective) exactly.
    """
    from dllab.viz.gradcam import grad_cam

    cam, logits = grad_cam(model, x, model.cam_layer(stage), target=1, return_logits=True)
    p = logits.float().softmax(1)[:, 1].view(-1, 1, 1)  # (B, 1, 1)
    blank = cam.flatten(1).amax(1).view(-1, 1, 1) <= 0
    return torch.where(blank, p.expand_as(cam), cam * p), logits


# ---------------------------------------------------------------- the task
class ClassifierOptions(InspectionOptions):
    # synthetic: defective training parts per defect type (the generator's train streams)
    train_per_defect: int = Field(40, ge=1)
    # your own folder: share of its test parts (stratified by type) moved into training
    train_fraction: float = Field(0.5, gt=0, lt=1)
    frozen_stages: int = Field(3, ge=0, le=7)  # stem + this many stages keep ImageNet weights
    cam_stage: int = Field(-1, ge=-1, le=6)  # Grad-CAM layer: -1 head conv (stride 32), 0..6


@TASKS.register("defect-classifier")
class DefectClassifierTask(BaseTask):
    """Task for `dllab run defects-classifier`: learn good vs defective, locate by Grad-CAM."""

    name = "defect-classifier"
    Options = ClassifierOptions
    options: ClassifierOptions
    # `dllab export` goes through its graph plan instead (deploy/export_defects.py):
    # P(defective) in ONNX, the threshold in model.json, Grad-CAM left out
    not_exportable = "its verdict needs the threshold beside the graph: see export_defects"

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        if world > 1:
            raise ConfigError(f"task {self.name!r} trains in one process; run it without torchrun")
        self.rank_, self.world_ = rank, world
        self.data_, val, test = load_inspection_data(self.recipe, self.options, self.name)
        if self.recipe.data.name == SYNTHETIC:
            defective = _synthetic_defects(self.data_, self.options, self.recipe)
        else:
            keep, moved = hold_out(
                test.kinds,
                self.options.train_fraction,
                torch.Generator().manual_seed(self.recipe.split_seed),
            )
            defective, test = test.take(moved), test.take(keep)
        good = self.data_.train
        train = AnomalySplit(
            torch.cat([good.images, defective.images]),
            torch.cat([good.masks, defective.masks]),
            torch.cat([good.kinds, defective.kinds]),
            good.files + defective.files,
        )
        self.splits_ = {"train": train, "val": val, "test": test}
        self.val_probs_: list[torch.Tensor] = []

    def data_checksums(self) -> dict[str, str]:
        return dict(self.data_.checksums)

    def train_counts(self) -> dict[str, int]:
        """Training parts per kind (the report states them)."""
        kinds = self.splits_["train"].kinds
        return {n: int((kinds == i).sum()) for i, n in enumerate(self.data_.kind_names)}

    def _batches(self, split: str) -> IndexBatches:
        part = self.splits_[split]
        kw = self.batch_kwargs(split)
        seed = self.recipe.train.seed

        def plan(epoch: int) -> list[torch.Tensor]:
            order = epoch_order(len(part), seed=seed, epoch=epoch, shuffle=kw["shuffle"])
            return list(order.split(kw["batch_size"]))

        def collate(idx: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"image": part.images[idx], "mask": part.masks[idx], "kind": part.kinds[idx]}

        return IndexBatches(plan, collate)

    # ------------------------------------------------------------ model
    def model_kwargs(self) -> dict[str, Any]:
        return {"in_channels": 3, **self.recipe.model.kwargs, "num_classes": 2}

    def build_model(self) -> nn.Module:
        from dllab.models import create_model

        net = create_model(self.recipe.model.name, **self.model_kwargs())
        if not hasattr(net, "stages") or not hasattr(net, "param_groups"):
            raise ConfigError(
                f"task {self.name!r} fine-tunes efficientnet-lite0 (stages, head, param "
                f"groups); got model.name={self.recipe.model.name!r}"
            )
        # A zero head starts every part at P(defective) = 0.5. The backbone's own init for a
        # new head (U(+-1/sqrt(classes)), meant for 1000 classes) gives 2-class logits with a
        # std of ~30 on these features: a loss of ~7 at the start and a wrecked probe phase.
        nn.init.zeros_(net.classifier.weight)
        nn.init.zeros_(net.classifier.bias)
        frozen = [net.stem, *net.stages[: self.options.frozen_stages]]
        for p in (p for m in frozen for p in m.parameters()):
            p.requires_grad_(False)
        return DefectClassifier(net, *_preprocessing(net))

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({"anomaly": AnomalyMetrics(self.data_.defect_types)})

    # ------------------------------------------------------------ steps
    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        logits = model(model.normalize(batch["image"]))  # (B, 2)
        target = (batch["kind"] > 0).long().to(logits.device)
        loss = F.cross_entropy(
            logits.float(), target, label_smoothing=self.recipe.train.label_smoothing
        )
        return StepOutput(loss=loss, count=len(target))

    def validation_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        """Heat maps and the loss; after the split's last batch, the threshold for `recall`."""
        maps, logits = defect_maps(model, model.normalize(batch["image"]), self.options.cam_stage)
        defective = (batch["kind"] > 0).long().to(logits.device)
        loss = F.cross_entropy(logits.float(), defective)
        self.val_probs_.append(maps.flatten(1).amax(1).cpu())
        if sum(len(p) for p in self.val_probs_) == len(self.splits_["val"]):
            scores, self.val_probs_ = torch.cat(self.val_probs_), []
            kinds = self.splits_["val"].kinds
            model.threshold.fill_(threshold_for_recall(scores, kinds > 0, self.options.recall))
        target = {"mask": batch["mask"], "kind": batch["kind"]}
        return StepOutput(loss=loss, preds=maps.detach(), target=target, count=len(maps))

    def test_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        maps, logits = defect_maps(model, model.normalize(batch["image"]), self.options.cam_stage)
        defective = (batch["kind"] > 0).long().to(logits.device)
        loss = F.cross_entropy(logits.float(), defective)
        target = {"mask": batch["mask"], "kind": batch["kind"]}
        return StepOutput(
            loss=loss,
            preds=maps.detach(),
            target=target,
            count=len(maps),
            outputs={"maps": maps.detach().float().cpu()},
        )

    # ------------------------------------------------------------ serving
    def metadata(self) -> dict[str, Any]:
        return {
            "defect_types": self.data_.defect_types,
            "category": self.options.category,
            "image_size": self.data_.image_size,
            "cam_stage": self.options.cam_stage,
            "train_parts": self.train_counts(),
        }

    @classmethod
    def model_from_metadata(cls, meta: dict[str, Any]) -> nn.Module:
        """The classifier's shape (weights and threshold come from the checkpoint)."""
        from dllab.models import create_model

        kwargs = {**meta.get("model_kwargs", {}), "pretrained": False}  # all in the checkpoint
        net = create_model(meta["model"], **kwargs)
        return DefectClassifier(net, *_preprocessing(net))

    @classmethod
    @torch.no_grad()
    def predict_with(
        cls, model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """ "defective" or "good" and P(defective), for image files."""
        from dllab.tasks.classification import load_image

        x = torch.stack([load_image(p, 3, meta["image_size"]) for p in inputs])
        model.eval()
        p = model(model.normalize(x)).float().softmax(1)[:, 1].cpu()
        return verdicts(inputs, p.tolist(), float(model.threshold))

    @classmethod
    def example_input(cls, meta: dict[str, Any], model: nn.Module) -> ExampleInput:
        raise InputError(f"cannot export a defect-classifier run to ONNX: {cls.not_exportable}")

    # ------------------------------------------------------------ report
    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """The inspection report (`dllab.tasks.inspection`) from the one test pass."""
        test = self.splits_["test"]
        stage = self.options.cam_stage
        model.eval()
        counts = ", ".join(f"{n} {c}" for n, c in self.train_counts().items())
        paths = report_test_pass(
            self,
            model,
            run_dir,
            outputs,
            latency=measure_latency(
                lambda x: defect_maps(model, x, stage), model.normalize(test.images[:1])
            ),
            score_name="P(defective), the classifier's softmax",
            map_name="Grad-CAM x P(defective)",
        )
        with (run_dir / "inspection.md").open("a", encoding="utf-8") as f:
            f.write(
                f"\nTrained on {len(self.splits_['train'])} parts ({counts}); latency is the "
                "verdict plus its Grad-CAM map (one forward and a backward to the CAM layer).\n"
            )
        return paths


# ---------------------------------------------------------------- helpers
def _preprocessing(net: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The backbone module's own MEAN and STD (EfficientNet-Lite: 0.5, 0.5)."""
    import sys

    from dllab.models.patchcore import IMAGENET_MEAN, IMAGENET_STD

    module = sys.modules[type(net).__module__]
    return tuple(getattr(module, "MEAN", IMAGENET_MEAN)), tuple(
        getattr(module, "STD", IMAGENET_STD)
    )


def _synthetic_defects(data: AnomalyData, options: ClassifierOptions, recipe: Any) -> AnomalySplit:
    """`train_per_defect` defective parts of each type from the generator's train streams
    (seeded by (seed, texture, "train", type, index): disjoint from every test part)."""
    from dllab.data.defects import make_part

    s, size = options.synthetic, data.image_size
    images, masks, kinds, files = [], [], [], []
    for k, kind in enumerate(data.defect_types, start=1):
        for i in range(options.train_per_defect):
            image, mask = make_part(
                options.category,
                kind,
                seed=s.seed,
                index=i,
                split="train",
                size=size,
                contrast=s.contrast,
            )
            images.append(image)
            masks.append(mask)
            kinds.append(k)
            files.append(f"generated/train/{kind}/{i:03d}")
    return AnomalySplit(
        torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy()),
        torch.from_numpy(np.stack(masks)),
        torch.tensor(kinds, dtype=torch.long),
        files,
    )
