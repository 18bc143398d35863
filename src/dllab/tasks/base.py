"""The Task protocol: how a batch becomes a loss, metrics, predictions and pictures.

One Trainer runs every project; a project contributes a Task (this protocol) and recipes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torchmetrics import MetricCollection


@dataclass
class StepOutput:
    """What a training or validation step hands back to the Trainer."""

    loss: torch.Tensor  # scalar, differentiable in training
    preds: torch.Tensor | None = None  # what the metrics consume (e.g. logits)
    target: torch.Tensor | None = None
    logs: dict[str, float] = field(default_factory=dict)  # extra named values to log


@dataclass
class Prediction:
    """One input's result, as `dllab predict` prints it."""

    source: str
    labels: list[str] = field(default_factory=list)  # top-k, best first
    scores: list[float] = field(default_factory=list)
    text: str | None = None  # free-form result (a translation, entities with spans); shown as is


class SplitBatches:
    """`train_batches`, `val_batches`, `test_batches`, each built once by `_batches(split)`.

    A task that keeps its splits in memory only says how one split becomes batches; the test
    split is evaluated once, by one process, after training (so `_batches` shards the others).
    """

    def _batches(self, split: str) -> Any:
        raise NotImplementedError

    def _split_batches(self, split: str) -> Any:
        cache = self.__dict__.setdefault("batches_", {})
        if split not in cache:
            cache[split] = self._batches(split)
        return cache[split]

    def train_batches(self) -> Any:
        return self._split_batches("train")

    def val_batches(self) -> Any:
        return self._split_batches("val")

    def test_batches(self) -> Any:
        return self._split_batches("test")


class Task(Protocol):
    name: str

    def setup(self, *, rank: int = 0, world: int = 1) -> None: ...
    def build_model(self) -> nn.Module: ...
    def data_checksums(self) -> dict[str, str]: ...
    def train_batches(self) -> Any: ...
    def val_batches(self) -> Any: ...
    def test_batches(self) -> Any: ...
    def training_step(self, model: nn.Module, batch: Any) -> StepOutput: ...
    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput: ...
    def metrics(self) -> MetricCollection: ...
    def predict(self, model: nn.Module, inputs: list[str], top_k: int = 5) -> list[Prediction]: ...
    def example_input(self) -> torch.Tensor: ...
    def model_metadata(self) -> dict[str, Any]: ...
    def visualize(self, model: nn.Module, run_dir: Path) -> list[Path]: ...

    # Rebuilding from a checkpoint alone, for predict/export/serve (no dataset loaded):
    @staticmethod
    def model_from_metadata(meta: dict[str, Any]) -> nn.Module: ...
    @staticmethod
    def predict_with(
        model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]: ...
