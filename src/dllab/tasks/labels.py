"""`LabelTask`: what every task that puts one label on an input shares (images, reviews).

Cross-entropy on logits, accuracy and macro F1, a test pass that keeps each item's predicted
class and its probability, the confusion matrix with per-class precision, recall and F1, and
`few_shot_indices`, the seeded few-shot subsets that transfer-learning recipes train on.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
)

from dllab.errors import ConfigError
from dllab.tasks.base import BaseTask, StepOutput

__all__ = ["LabelTask", "few_shot_indices", "write_per_class"]


def few_shot_indices(
    labels: torch.Tensor, per_class: int, seed: int, classes: list[str] | None = None
) -> torch.Tensor:
    """Sorted int64 indices of `per_class` items of every class of `labels` (N,), drawn with
    `seed`: a stratified, deterministic few-shot subset.

    Each class draws one permutation from a generator seeded once, in class order, and takes
    its first `per_class`: so one seed's subsets are nested (its 10 per class are among its 50)
    and different seeds give different subsets. A class with fewer items is a ConfigError.

    >>> few_shot_indices(torch.tensor([0, 1, 0, 1, 0, 1]), 2, seed=0).tolist()
    [0, 3, 4, 5]
    """
    generator = torch.Generator().manual_seed(seed)
    n_classes = len(classes) if classes is not None else int(labels.max()) + 1
    chosen = []
    for c in range(n_classes):
        members = torch.nonzero(labels == c).flatten()
        if len(members) < per_class:
            name = classes[c] if classes is not None else str(c)
            raise ConfigError(
                f"task.per_class={per_class} but class {name!r} has only {len(members)} "
                f"training items; lower task.per_class to at most {len(members)}"
            )
        chosen.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.cat(chosen).sort().values


class LabelTask(BaseTask):
    """A task whose model returns class logits; subclasses provide `classes`."""

    items = "items"  # what the confusion matrix's title counts ("images", "reviews")
    metric_names = ("accuracy", "f1")

    @property
    def classes(self) -> list[str]:
        raise NotImplementedError

    def test_step(self, model: nn.Module, batch: Any) -> StepOutput:
        """Validation's scores, keeping each item's predicted class and its probability."""
        out = self.validation_step(model, batch)
        conf, pred = out.preds.float().softmax(1).max(1)
        out.outputs = {"pred": pred.cpu(), "conf": conf.cpu(), "true": out.target.cpu()}
        return out

    def build_metrics(self) -> MetricCollection:
        n = len(self.classes)
        return MetricCollection(
            {
                "accuracy": MulticlassAccuracy(num_classes=n, average="micro"),
                "f1": MulticlassF1Score(num_classes=n, average="macro"),
            }
        )

    def confusion_pictures(self, out: dict[str, torch.Tensor], run_dir: Path) -> list[Path]:
        """confusion.png and per_class.csv from the test pass's predictions."""
        from dllab.viz import plot_confusion

        cm = MulticlassConfusionMatrix(num_classes=len(self.classes))(out["pred"], out["true"])
        cm = cm.numpy()
        title = f"Confusion matrix, test split ({len(out['true'])} {self.items})"
        return [
            plot_confusion(cm, self.classes, run_dir / "confusion.png", title=title),
            write_per_class(cm, self.classes, run_dir / "per_class.csv"),
        ]


def write_per_class(cm: np.ndarray, classes: list[str], path: Path) -> Path:
    """Precision, recall, F1 and support per class, from a confusion matrix (rows = true)."""
    tp = np.diag(cm).astype(float)
    precision = tp / np.maximum(cm.sum(0), 1)
    recall = tp / np.maximum(cm.sum(1), 1)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["class", "precision", "recall", "f1", "support"])
        for i, name in enumerate(classes):
            w.writerow(
                [name, f"{precision[i]:.4f}", f"{recall[i]:.4f}", f"{f1[i]:.4f}", int(cm[i].sum())]
            )
    return path
