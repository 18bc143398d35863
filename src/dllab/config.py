"""Recipes: YAML files validated by pydantic, with strict dotted `key=value` overrides.

Config flows one way: YAML -> `Recipe` -> plain arguments. Nothing below `cli.py` and this
module reads YAML. Every field says what it does and why its default.
"""

from __future__ import annotations

import math
import reprlib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dllab.errors import ConfigError
from dllab.registry import closest


class _Strict(BaseModel):
    # Unknown keys are errors, not silently ignored: a typo must never train the wrong thing.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Strict):
    name: str = "digits"  # dataset in the catalog (`dllab data list`), or "folder"
    path: str | None = None  # root of the user's image folder when name == "folder"
    data_dir: str | None = None  # first place to look for files (before $DLLAB_DATA)
    # carved from train; picks the best checkpoint and early stopping (never empty: an empty
    # validation set scores 0 and freezes the best checkpoint at the first validation)
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # only for datasets without a test split
    batch_size: int = Field(64, ge=1)  # per device, per micro-batch
    eval_batch_size: int = Field(1000, ge=1)  # evaluation has no backward pass: go big
    augment: Literal["none", "crop", "flip-crop"] = "none"  # random 2-px shifts (+ h-flips)
    num_workers: int = Field(0, ge=0)  # DataLoader workers for streamed folders only
    image_size: int | None = None  # resize folder images to this side (default: dataset's)
    channels: Literal[1, 3] | None = None  # force grey or RGB for folder images
    # Seed of the random train/val/test split (default: train.seed). Fix it to train several
    # seeds on one split (seed studies, ensembles) without moving texts between splits.
    split_seed: int | None = None


class TaskConfig(BaseModel):
    """`task: ner` or `task: {name: ner, min_freq: 2, …}`: the task and its options.

    The options are checked by the task itself (`Task.Options`, strict) when it is built,
    because only the task knows them; here they are kept as given.
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    name: str = "classification"  # registered task (`dllab list tasks`)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @property
    def options(self) -> dict[str, Any]:
        """The task's options: every key of the section but `name`."""
        return dict(self.model_extra or {})

    def __str__(self) -> str:
        return self.name


class ModelConfig(_Strict):
    name: str = "quickstart-cnn"  # registered model (`dllab list models`)
    kwargs: dict[str, Any] = {}  # extra keyword arguments for the builder (e.g. width)


class OptimConfig(_Strict):
    name: Literal["sgd", "adam", "adamw"] = "adamw"  # AdamW: robust default for small CNNs
    lr: float = Field(1e-3, gt=0)  # peak learning rate (schedules scale from it)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)  # SGD only
    nesterov: bool = False  # SGD only
    betas: tuple[float, float] = (0.9, 0.999)  # Adam/AdamW only


# what schedule.follow_time may stretch: schedules with an end
TIMED_SCHEDULES = ("cosine", "warmup-cosine", "onecycle", "linear-decay")


class ScheduleConfig(_Strict):
    name: Literal[
        "none",
        "step",
        "multistep",
        "cosine",
        "warmup-cosine",
        "onecycle",
        "plateau",
        "inverse-sqrt",
        "linear-decay",
    ] = "none"
    warmup_fraction: float = Field(0.05, ge=0, lt=1)  # warmup-cosine: share of steps warming
    warmup_steps: int = Field(4000, ge=1)  # inverse-sqrt: linear warmup, then lr ~ 1/sqrt(step)
    pct_start: float = Field(0.25, gt=0, lt=1)  # onecycle: share of steps rising to the peak
    div_factor: float = Field(25.0, gt=0)  # onecycle: start lr = lr / div_factor
    final_div_factor: float = Field(1e4, gt=0)  # onecycle: end lr = start lr / this
    step_size: int = Field(10, ge=1)  # step: epochs between decays
    milestones: list[int] = []  # multistep: epochs at which to decay
    gamma: float = Field(0.1, gt=0)  # step/multistep/plateau: decay factor
    patience: int = Field(2, ge=0)  # plateau: validations without improvement before decay
    # linear-decay: constant, then a straight line to zero over this share of the steps
    # (CycleGAN and pix2pix: 100 epochs constant, 100 decaying, i.e. 0.5)
    decay_fraction: float = Field(0.5, gt=0, le=1)
    # cosine/warmup-cosine/onecycle/linear-decay: also advance with the share of train.max_time spent, so a
    # machine slower than the one the recipe was sized on still ends the schedule in budget
    follow_time: bool = False
    min_lr: float = Field(0.0, ge=0)  # cosine floor

    def too_short(self, total_steps: int, where: str) -> str | None:
        """Why this schedule cannot run over `total_steps` optimizer steps (None if it can).

        One-cycle divides by the length of each phase, so a phase under one step ends in a
        division by zero inside torch; a warmup longer than the run never reaches the peak.
        """
        if self.name == "onecycle":
            rise = self.pct_start * total_steps
            if rise < 2 or total_steps - rise < 2:
                need = math.ceil(2 / min(self.pct_start, 1 - self.pct_start) - 1e-9)
                return (
                    f"schedule onecycle needs at least 2 steps rising and 2 falling, but "
                    f"{where} gives {total_steps} steps (schedule.pct_start={self.pct_start}); "
                    f"allow at least {need} steps or use schedule.name=cosine"
                )
        if self.name == "inverse-sqrt" and self.warmup_steps > total_steps:
            return (
                f"schedule.warmup_steps={self.warmup_steps} is longer than the {total_steps} "
                f"steps {where} gives: the learning rate would never reach its peak; lower "
                "schedule.warmup_steps"
            )
        return None


class TrainConfig(_Strict):
    max_epochs: int = Field(10, ge=1)
    max_steps: int | None = Field(None, ge=1)  # optimizer steps; stops early when reached
    max_time: float | None = Field(None, gt=0)  # wall-clock budget in seconds
    grad_clip: float | None = Field(None, gt=0)  # max global gradient norm
    accumulate: int = Field(1, ge=1)  # micro-batches per optimizer step
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # bf16 works on CPU; fp16 needs CUDA
    channels_last: bool = False  # NHWC memory layout: ~1.7x faster CNNs on CPU (oneDNN)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    seed: int = 0
    deterministic: bool = False  # deterministic kernels: exact resume, slightly slower
    threads: int | None = Field(None, ge=1)  # torch intra-op threads (default: torch's choice)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"  # auto: CUDA, then MPS, then CPU
    val_every: int = Field(0, ge=0)  # validate every N optimizer steps (0: at each epoch end)
    checkpoint_every: int = Field(0, ge=0)  # also save `last` every N steps (0: epoch ends)
    log_every: int = Field(20, ge=1)  # steps between training-loss log lines
    early_stopping_patience: int | None = Field(None, ge=1)  # validations without improvement
    monitor: str = "val/accuracy"  # validation metric for best checkpoint and early stopping
    monitor_mode: Literal["max", "min"] = "max"


class TargetConfig(_Strict):
    metric: str = "test/accuracy"  # what the recipe promises
    value: float = 0.0  # at least this
    within_seconds: float | None = None  # of training, on the reference 2-core CPU


class Recipe(_Strict):
    name: str
    description: str = ""
    task: TaskConfig = TaskConfig()  # the task and its options (`task: name` is short for it)
    # Modules to import before the task and model are looked up: a project's own task and
    # model files, registered without forking dllab (`dllab.plugins` entry points also work)
    imports: list[str] = []
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    train: TrainConfig = TrainConfig()
    target: TargetConfig | None = None

    @model_validator(mode="after")
    def _follow_time_needs_a_horizon(self) -> Recipe:
        if self.schedule.follow_time and (
            self.schedule.name not in TIMED_SCHEDULES or self.train.max_time is None
        ):
            raise ValueError(
                "schedule.follow_time needs train.max_time and a schedule with an end ("
                f"{', '.join(TIMED_SCHEDULES)}), got schedule.name={self.schedule.name!r}, "
                f"train.max_time={self.train.max_time}"
            )
        return self

    @model_validator(mode="after")
    def _schedule_fits_max_steps(self) -> Recipe:
        steps = self.train.max_steps
        if steps is not None:
            problem = self.schedule.too_short(steps, f"train.max_steps={steps}")
            if problem:
                raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _precision_runs_on_device(self) -> Recipe:
        if self.train.precision == "fp16" and self.train.device in ("cpu", "mps"):
            raise ValueError(
                f"train.precision=fp16 needs CUDA, not train.device={self.train.device}; "
                "use bf16 (or fp32)"
            )
        return self

    @property
    def split_seed(self) -> int:
        """The seed that draws the train/val/test split: `data.split_seed`, else `train.seed`."""
        return self.train.seed if self.data.split_seed is None else self.data.split_seed


def recipe_names() -> list[str]:
    """Names of the recipes shipped inside the package."""
    folder = resources.files("dllab") / "recipes"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise ConfigError(f"{origin} is not valid YAML{where}; fix the file") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{origin} must be a YAML mapping of recipe fields")
    return data


def _recipe_source(name_or_path: str) -> tuple[dict[str, Any], str]:
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise ConfigError(f"recipe file {path} does not exist")
        return _read_yaml(path.read_text(encoding="utf-8"), str(path)), str(path)
    names = recipe_names()
    if name_or_path not in names:
        hint = closest(name_or_path, names)
        raise ConfigError(
            f"unknown recipe {name_or_path!r}; "
            + (hint if hint else "valid recipes: " + ", ".join(names))
            + " (see `dllab list recipes`)"
        )
    text = (resources.files("dllab") / "recipes" / f"{name_or_path}.yaml").read_text("utf-8")
    return _read_yaml(text, f"recipe {name_or_path!r}"), name_or_path


def _valid_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys += _valid_keys(sub, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    valid = _valid_keys(Recipe)
    parts = key.split(".")
    is_kwarg = len(parts) >= 3 and parts[:2] == ["model", "kwargs"]
    is_task_option = len(parts) >= 2 and parts[0] == "task"  # checked by the task when built
    if isinstance(data.get("task"), str) and parts[0] == "task" and len(parts) > 1:
        data["task"] = {"name": data["task"]}
    if key not in valid and key != "task" and not is_kwarg and not is_task_option:
        hint = closest(key, valid)
        raise ConfigError(
            f"unknown override key {key!r}; "
            + (hint if hint else "valid keys: " + ", ".join(valid))
        )
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {key!r}: {part!r} is not a section")
    node[parts[-1]] = value


def _one_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    if not first["loc"]:  # a check across fields (a model validator): its message names them
        return first["msg"].removeprefix("Value error, ")
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']} (got {_shown(first.get('input'))})"


def _shown(value: Any, keep: int = 80) -> str:
    """A wrong value as an error shows it: its repr, cut short (a YAML alias bomb expands to
    gigabytes of repr, and one line must stay one readable line)."""
    short = reprlib.Repr()  # (keyword arguments need Python 3.12)
    short.maxlevel, short.maxstring, short.maxother = 3, keep, keep
    text = short.repr(value)
    return text if len(text) <= keep else text[:keep] + "…"


def parse_overrides(items: list[str]) -> list[tuple[str, Any]]:
    """Turn ["optim.lr=0.01", "train.max_epochs=3"] into typed (key, value) pairs (YAML)."""
    pairs = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not key=value (e.g. train.max_epochs=3)")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        pairs.append((key.strip(), value))
    return pairs


def load_recipe(name_or_path: str, overrides: list[str] | None = None) -> Recipe:
    """Load a shipped recipe by name (or a YAML file) and apply dotted overrides.

    >>> load_recipe("quickstart", ["train.max_epochs=2"]).train.max_epochs
    2
    """
    data, origin = _recipe_source(name_or_path)
    for key, value in parse_overrides(overrides or []):
        _set_dotted(data, key, value)
    return recipe_from_dict(data, origin)


def recipe_from_dict(data: dict[str, Any], origin: str = "recipe") -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_one_line(exc)}") from exc


def recipe_to_yaml(recipe: Recipe) -> str:
    """The resolved recipe as YAML, every default written out (the run's config.yaml)."""
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def load_resolved(path: Path) -> Recipe:
    """Read a run's config.yaml back into a Recipe."""
    if not path.is_file():
        raise ConfigError(f"{path} not found; is {path.parent} a run folder made by `dllab run`?")
    return recipe_from_dict(_read_yaml(path.read_text("utf-8"), str(path)), str(path))
