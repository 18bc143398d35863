"""One Task per project, built by name through `create_task`."""

from __future__ import annotations

from typing import Any

from dllab.registry import Registry
from dllab.tasks.base import BaseTask, Prediction, StepOutput
from dllab.train.protocol import Task

TASKS: Registry[Task] = Registry("task")


def create_task(name: str, **kwargs: Any) -> Task:
    return TASKS.create(name, **kwargs)


# Importing a task module registers it.
from dllab.tasks import (  # noqa: E402, F401
    anomaly,
    classification,
    cyclegan,
    defect_classifier,
    detection,
    diffusion,
    distillation,
    gan,
    language_model,
    masked_lm,
    medical,
    ner,
    segmentation,
    sentiment,
    style_transfer,
    timeseries,
    translation,
    vae,
    word2vec,
)

__all__ = ["TASKS", "BaseTask", "Prediction", "StepOutput", "Task", "create_task"]
