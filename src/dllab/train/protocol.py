"""What the Trainer knows of a task: the step results it receives and the interface it calls.

This module imports no task and no model, so `import dllab.train` stays light and a project
outside the package (a plugin) trains on the same loop. `dllab.tasks.base.BaseTask` supplies
defaults for everything here; a task overrides only what differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torchmetrics import MetricCollection

__all__ = ["ExampleInput", "Prediction", "StepOutput", "Task", "validation_names"]


@dataclass
class StepOutput:
    """What a training, validation or test step hands back to the Trainer.

    `preds` and `target` go to the task's metrics as they are (tensors, or lists of dicts for
    detection); `outputs` is whatever the task wants back from the one test pass to draw its
    pictures (kept on the CPU by the task).
    """

    loss: torch.Tensor  # scalar, differentiable in training (detached in a manual step)
    preds: Any = None  # what the metrics consume (e.g. logits)
    target: Any = None
    logs: dict[str, float] = field(default_factory=dict)  # extra named values to log
    count: int | None = None  # items the loss averages over (default: len(target), else 1)
    outputs: Any = None  # test pass only: kept for `Task.visualize`

    def weight(self) -> int:
        """How much this batch's loss counts in the split's mean loss."""
        if self.count is not None:
            return self.count
        return len(self.target) if self.target is not None else 1


@dataclass
class Prediction:
    """One input's result, as `dllab predict` prints it."""

    source: str
    labels: list[str] = field(default_factory=list)  # top-k, best first
    scores: list[float] = field(default_factory=list)
    text: str | None = None  # free-form result (a translation, entities with spans); shown as is


@dataclass
class ExampleInput:
    """What a model takes, built from checkpoint metadata alone: for export and serving.

    `inputs` is the example a graph is traced with; `probe` holds other sizes along every
    dynamic axis, so a parity check catches an axis an exporter silently froze.
    """

    inputs: tuple[torch.Tensor, ...]
    probe: tuple[torch.Tensor, ...]
    names: list[str]  # input names, one per tensor
    axes: list[dict[int, str]]  # per input: axis -> name of the dynamic size
    output: str = "logits"
    notes: list[str] = field(default_factory=list)  # said in model.json (e.g. a frozen axis)

    def describe(self) -> list[dict[str, Any]]:
        """Inputs for model.json: name, dtype and shape with named dynamic axes."""
        return [
            {
                "name": name,
                "dtype": str(x.dtype).removeprefix("torch."),
                "shape": [axes.get(i, int(n)) for i, n in enumerate(x.shape)],
            }
            for name, x, axes in zip(self.names, self.inputs, self.axes, strict=True)
        ]


class Task(Protocol):
    """The interface the Trainer and `dllab.experiment` call (defaults: `BaseTask`)."""

    name: str
    metrics: MetricCollection  # owned by the task; the Trainer resets, updates and computes it
    automatic_optimization: bool  # False: `training_step` steps `self.optimizers` itself

    def setup(self, *, rank: int = 0, world: int = 1) -> None: ...
    def build_model(self) -> nn.Module: ...
    def data_checksums(self) -> dict[str, str]: ...
    def train_batches(self) -> Any: ...
    def val_batches(self) -> Any: ...
    def test_batches(self) -> Any: ...
    def training_step(self, model: nn.Module, batch: Any) -> StepOutput: ...
    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput: ...
    def test_step(self, model: nn.Module, batch: Any) -> StepOutput: ...
    def model_metadata(self) -> dict[str, Any]: ...
    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]: ...


def validation_names(metric_names: tuple[str, ...]) -> list[str]:
    """What a validation reports for a task declaring `metric_names`: its loss and each
    metric, prefixed `val/` (what `train.monitor` may name)."""
    return ["val/loss", *(f"val/{name}" for name in metric_names)]
