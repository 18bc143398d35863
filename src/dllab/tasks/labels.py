"""`LabelTask`: what every task that puts one label on an input shares (images, reviews).

Cross-entropy on logits, accuracy and macro F1, a test pass that keeps each item's predicted
class and its probability, and the confusion matrix with per-class precision, recall and F1.
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

from dllab.tasks.base import BaseTask, StepOutput

__all__ = ["LabelTask", "write_per_class"]


class LabelTask(BaseTask):
    """A task whose model returns class logits; subclasses provide `classes`."""

    items = "items"  # what the confusion matrix's title counts ("images", "reviews")

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
