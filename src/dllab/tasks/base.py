"""`BaseTask`: what every task shares, so a project's task file holds only what differs.

A task says how its data become batches and a batch becomes a loss, metrics and pictures.
The base class supplies the rest of the contract the Trainer and the command line use
(`dllab.train.protocol.Task`):

- options: the recipe's `task:` section, validated by the task's `Options` (pydantic, strict:
  an unknown key names the closest valid ones);
- batches: `train_batches`/`val_batches`/`test_batches`, each built once by `_batches(split)`;
- metrics: one `MetricCollection` owned by the task (`build_metrics`), which the Trainer resets,
  updates and computes;
- the metadata trio: `model_metadata` (saved in every checkpoint), `model_from_metadata`
  (rebuild the model with no dataset) and `predict_with` (raw inputs in, results out);
- `example_input(meta)`: the model's inputs built from metadata alone, for export and serving;
- `test_step` (the validation step by default) and `visualize(model, run_dir, outputs)`, fed by
  the one test pass.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, ValidationError
from torch import nn
from torchmetrics import MetricCollection

from dllab.config import Recipe
from dllab.errors import ConfigError, InputError
from dllab.train.protocol import ExampleInput, Prediction, StepOutput

__all__ = ["BaseTask", "ExampleInput", "Prediction", "StepOutput", "TaskOptions", "parse_options"]


class TaskOptions(BaseModel):
    """A task's options (the recipe's `task:` section without `name`); strict like every
    other section: a typo must never train the wrong thing."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def parse_options(options: type[TaskOptions], raw: dict[str, Any], task: str) -> TaskOptions:
    """`raw` validated by `options`; a ConfigError in one line naming the key and the fix."""
    try:
        return options.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            names = list(options.model_fields)
            if not names:
                raise ConfigError(
                    f"unknown key task.{key}: task {task!r} takes no options (only task.name)"
                ) from exc
            near = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
            hint = " or ".join(f"'task.{k}'" for k in near)
            raise ConfigError(
                f"unknown key task.{key} for task {task!r}; "
                + (f"did you mean {hint}? " if hint else "")
                + f"valid keys: {', '.join('task.' + k for k in names)}"
            ) from exc
        if not key:  # a check across options: its own sentence says it all, not the section
            msg = first["msg"].removeprefix("Value error, ")
            raise ConfigError(f"task: {msg}") from exc
        raise ConfigError(f"task.{key}: {first['msg']} (got {first.get('input')!r})") from exc


class BaseTask:
    """Defaults for the task contract; subclasses set `name`, `Options` and override."""

    name: ClassVar[str] = ""
    Options: ClassVar[type[TaskOptions]] = TaskOptions
    automatic_optimization: ClassVar[bool] = True  # False: `training_step` steps optimisers
    # Why `dllab export` refuses this task, when its result is not one forward pass
    not_exportable: ClassVar[str] = "its task defines no example input"
    # The names `metrics` computes (validation reports them as val/<name>, beside val/loss),
    # known before any data is loaded, so a wrong train.monitor is refused before work starts.
    # None: unknown until the first validation (a plugin may leave it so).
    metric_names: ClassVar[tuple[str, ...] | None] = None
    options: TaskOptions

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.check_model_kwargs(recipe)
        self.options = parse_options(self.Options, recipe.task.options, self.name)

    # ------------------------------------------------------------ options
    @classmethod
    def check_model_kwargs(cls, recipe: Recipe) -> None:
        """A recipe written before task options had their section puts them in
        `model.kwargs`: say where each goes now instead of passing it to the model."""
        moved = sorted(set(recipe.model.kwargs) & set(cls.Options.model_fields))
        if moved:
            k = moved[0]
            raise ConfigError(
                f"model.kwargs.{k} is an option of task {cls.name!r}: move it to the task "
                f"section (task: {{name: {cls.name}, {k}: {recipe.model.kwargs[k]!r}}}) or "
                f"override task.{k}=…"
            )

    @classmethod
    def migrate(cls, recipe: Recipe) -> Recipe:
        """A run folder's recipe from before the `task:` section, with its task options moved
        out of `model.kwargs` (new recipes are checked by `check_model_kwargs` instead)."""
        kwargs = dict(recipe.model.kwargs)
        moved = {k: kwargs.pop(k) for k in list(kwargs) if k in cls.Options.model_fields}
        if not moved:
            return recipe
        data = recipe.model_dump(mode="json")
        data["model"]["kwargs"] = kwargs
        data["task"] = {**data["task"], **moved}
        return Recipe.model_validate(data)

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        """Load and prepare the data (constructors store, `setup` computes)."""
        self.rank_, self.world_ = rank, world

    def data_checksums(self) -> dict[str, str]:
        """sha256 of every data file this run read (for env.json)."""
        return {}

    def _batches(self, split: str) -> Any:
        """`split` ("train", "val" or "test") as a batch stream with `epoch(e, start)` and
        `len()`; the test split is evaluated once, by one process, so it is not sharded."""
        raise NotImplementedError(f"task {self.name!r} defines no batches")

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

    def batch_kwargs(self, split: str) -> dict[str, Any]:
        """Size, shuffling, seed and shard of a split's batches, as the recipe says."""
        d, train = self.recipe.data, split == "train"
        rank, world = self.shard(split)
        return {
            "batch_size": d.batch_size if train else d.eval_batch_size,
            "shuffle": train,
            "seed": self.recipe.train.seed,
            "rank": rank,
            "world": world,
        }

    def shard(self, split: str) -> tuple[int, int]:
        """(rank, world) a split is read with: all of the test split on one process."""
        if split == "test":
            return 0, 1
        return getattr(self, "rank_", 0), getattr(self, "world_", 1)

    # ------------------------------------------------------------ model and steps
    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the model builder (sizes taken from the data go here)."""
        return dict(self.recipe.model.kwargs)

    def build_model(self) -> nn.Module:
        from dllab.models import create_model

        return create_model(self.recipe.model.name, **self.model_kwargs())

    def configure_optimizers(self, model: nn.Module) -> Any:
        """The recipe's optimiser; a task that steps several itself (a GAN's generator and
        critic) returns a dict of them and sets `automatic_optimization = False`."""
        from dllab.train.optim import build_optimizer

        return build_optimizer(self.recipe.optim, model)

    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        raise NotImplementedError

    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput:
        raise NotImplementedError

    def test_step(self, model: nn.Module, batch: Any) -> StepOutput:
        """The one pass over the test split; put what `visualize` needs in `outputs`."""
        return self.validation_step(model, batch)

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({})

    @property
    def metrics(self) -> MetricCollection:
        if "metrics_" not in self.__dict__:
            self.metrics_ = self.build_metrics()
        return self.metrics_

    # ------------------------------------------------------------ serving
    def metadata(self) -> dict[str, Any]:
        """What this task adds to the model metadata (vocabulary, classes, sizes…)."""
        return {}

    def model_metadata(self) -> dict[str, Any]:
        """Everything `predict`, `export` and `serve` need to rebuild and feed the model."""
        return {
            "task": self.name,
            "model": self.recipe.model.name,
            "model_kwargs": self.model_kwargs(),
            "task_options": self.options.model_dump(mode="json"),
            "imports": list(self.recipe.imports),
            "dataset": self.recipe.data.name,
            "recipe": self.recipe.name,
            **self.metadata(),
        }

    @classmethod
    def model_from_metadata(cls, meta: dict[str, Any]) -> nn.Module:
        """Rebuild the (untrained) model a checkpoint's metadata describes."""
        from dllab.models import create_model

        return create_model(meta["model"], **meta.get("model_kwargs", {}))

    @classmethod
    def predict_with(
        cls, model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """Results for raw inputs (files, texts) from a saved model's metadata alone."""
        raise InputError(f"a {cls.name} run has no `dllab predict`")

    def predict(self, model: nn.Module, inputs: list[str], top_k: int = 5) -> list[Prediction]:
        return self.predict_with(model, self.model_metadata(), inputs, top_k)

    @classmethod
    def example_input(cls, meta: dict[str, Any], model: nn.Module) -> ExampleInput:
        """The model's inputs, from metadata alone (export, serving); InputError when this
        task's result is not one forward pass of its model."""
        raise InputError(f"cannot export a {cls.name} run to ONNX: {cls.not_exportable}")

    # ------------------------------------------------------------ report
    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """Pictures and tables for the report, from the test pass's `outputs`."""
        return []


def cat_outputs(outputs: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The test pass's per-batch dicts of tensors, concatenated along the batch axis."""
    if not outputs:
        return {}
    return {k: torch.cat([o[k] for o in outputs]) for k in outputs[0]}
