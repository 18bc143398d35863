"""Knowledge distillation: a small student learns from a trained teacher's softened outputs.

Hinton et al. (2015): the teacher's probabilities at a temperature T > 1 say which wrong
classes look alike (a shirt is closer to a T-shirt than to a boot), which one-hot labels do
not. The student's loss mixes the KL divergence to those soft targets, scaled by T² so that
its gradients keep their size as T changes, with the usual cross-entropy:

    loss = alpha * T² * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE

The teacher is any finished image-classification run on the same data (same classes, image
size and normalisation); it sees exactly the student's augmented batch. The result is an
ordinary classifier: its checkpoint says `task: classification`, so `predict`, `export`,
`compress` and `serve` take it without the teacher. The teacher is loaded at the first
training step only, so evaluating the student never needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from dllab.errors import ConfigError
from dllab.tasks import TASKS
from dllab.tasks.base import StepOutput, TaskOptions
from dllab.tasks.classification import ClassificationOptions, ClassificationTask

__all__ = ["DistillationOptions", "DistillationTask", "distillation_loss"]


class DistillationOptions(ClassificationOptions):
    """The `task:` section of a distillation recipe."""

    teacher: str  # the teacher's run folder (its best checkpoint is used)
    temperature: float = Field(4.0, gt=0)  # softens both distributions
    alpha: float = Field(0.9, ge=0, le=1)  # weight of the soft (teacher) term


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    target: torch.Tensor,
    temperature: float,
    alpha: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, soft term, hard term) for logits `student` and `teacher` (B, classes)."""
    t = temperature
    soft = F.kl_div(
        F.log_softmax(student.float() / t, dim=1),
        F.log_softmax(teacher.float() / t, dim=1),
        log_target=True,
        reduction="batchmean",
    ) * (t * t)
    hard = F.cross_entropy(student, target)
    return alpha * soft + (1 - alpha) * hard, soft, hard


@TASKS.register("distillation")
class DistillationTask(ClassificationTask):
    """Image classification whose loss also follows a teacher run's soft targets."""

    name = "distillation"
    Options: ClassVar[type[TaskOptions]] = DistillationOptions
    options: DistillationOptions

    teacher_: nn.Module | None = None

    def _teacher(self, device: torch.device) -> nn.Module:
        if self.teacher_ is None:
            self.teacher_ = load_teacher(Path(self.options.teacher), self.metadata())
        return self.teacher_.to(device)

    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        x, y = batch
        x = self.train_inputs(x)  # the teacher sees exactly the student's augmented batch
        logits = model(x)
        with torch.no_grad():
            teacher = self._teacher(x.device)(x)
        o = self.options
        loss, soft, hard = distillation_loss(logits, teacher, y, o.temperature, o.alpha)
        logs = {"soft_loss": float(soft.detach()), "hard_loss": float(hard.detach())}
        return StepOutput(loss=loss, preds=logits, target=y, logs=logs)

    def model_metadata(self) -> dict[str, Any]:
        """A plain classifier's metadata (served and exported as one), with its teacher named."""
        return {
            **super().model_metadata(),
            "task": "classification",
            "distilled_from": str(self.options.teacher),
        }


def load_teacher(run_dir: Path, student: dict[str, Any]) -> nn.Module:
    """The teacher run's best model, frozen; ConfigError unless it was trained on what the
    student sees (classes, channels, size and normalisation)."""
    from dllab.errors import DllabError
    from dllab.experiment import load_trained

    try:
        teacher, meta = load_trained(run_dir)
    except DllabError as exc:
        raise ConfigError(f"task.teacher: {exc}") from exc
    if meta.get("task") != "classification":
        raise ConfigError(
            f"task.teacher {run_dir} is a {meta.get('task')!r} run; a teacher is an image "
            "classification run on the same data"
        )
    for key in ("classes", "in_channels", "image_size"):
        if meta.get(key) != student[key]:
            raise ConfigError(
                f"task.teacher {run_dir} was trained with {key} {meta.get(key)!r}, the student "
                f"sees {student[key]!r}: train the teacher on the same data"
            )
    for key in ("mean", "std"):
        theirs, ours = torch.tensor(meta[key]), torch.tensor(student[key])
        if theirs.shape != ours.shape or not torch.allclose(theirs, ours, atol=1e-4):
            raise ConfigError(
                f"task.teacher {run_dir} normalises with {key} {meta[key]}, the student with "
                f"{student[key]}: set task.mean and task.std to the teacher's"
            )
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.eval()
