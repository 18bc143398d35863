"""Callbacks: everything optional around the Trainer's loop.

Few, named hooks, all called as `hook(trainer, ...)` from one place (`Trainer._call`). A
callback with state implements `state_dict`/`load_state_dict`, so a resumed run continues
exactly (scheduler position, best score, patience counter, log length).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from dllab.errors import ConfigError
from dllab.train.checkpoint import save_checkpoint
from dllab.train.distributed import is_main_process

if TYPE_CHECKING:
    from dllab.train.trainer import Trainer


class Callback:
    """No-op hooks; override the ones you need."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first step (and before a resumed state is loaded)."""

    def on_train_batch_end(self, trainer: Trainer, out: Any) -> None:
        """After each optimizer step."""

    def on_epoch_end(self, trainer: Trainer) -> None:
        """After the last batch of an epoch, before its validation."""

    def on_validation_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        """After each validation pass, with `val/...` metrics."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """After training stops, whatever the reason."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""


def _better(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value > best + min_delta if mode == "max" else value < best - min_delta


class LRSchedule(Callback):
    """Steps a torch scheduler after every optimizer step (plateau: after validation).

    With `max_time`, the schedule is at step `max(steps taken, total * time spent / max_time)`:
    whichever of the step and the time budget runs out first, the schedule ends with it
    (budget-aware schedules: Li, Yumer, Ramanan, "Budgeted training", ICLR 2020). Without
    it, a cosine sized for a fast machine is cut mid-way on a slow one, its rate still high.
    The scheduler is stepped up to that position (several times when the clock is ahead), so
    its state stays torch's own and a resumed run continues from it. Under DDP each rank
    reads its own clock; they differ by at most a step or two of the schedule.
    """

    def __init__(
        self, scheduler: Any, monitor: str = "val/accuracy", max_time: float | None = None
    ) -> None:
        # `scheduler` may be a function of the Trainer, called once the Trainer has planned
        # its steps (`trainer.total_steps`), so they are counted in one place.
        self.scheduler, self.monitor, self.max_time = scheduler, monitor, max_time

    @property
    def plateau(self) -> bool:
        return isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)

    def on_fit_start(self, trainer: Trainer) -> None:
        if not hasattr(self.scheduler, "state_dict"):
            self.scheduler = self.scheduler(trainer)

    def position(self, trainer: Trainer) -> int:
        """The schedule step this optimizer step should be at (at most `total - 1`)."""
        step = trainer.state.step
        if self.max_time:
            step = max(step, int(trainer.total_steps * trainer.elapsed() / self.max_time))
        return min(step, trainer.total_steps - 1)

    def on_train_batch_end(self, trainer: Trainer, out: Any) -> None:
        if self.plateau:
            return
        target = self.position(trainer)
        while self.scheduler.last_epoch < target:
            self.scheduler.step()

    def on_validation_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        if self.plateau and self.monitor in metrics:
            self.scheduler.step(metrics[self.monitor])

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.scheduler.load_state_dict(state)


def _first_lr(optimizer: Any) -> float:
    """The learning rate to log: the first group's (of the first optimiser, when a task
    steps several itself)."""
    if isinstance(optimizer, dict):
        optimizer = next(iter(optimizer.values()), None)
    groups = getattr(optimizer, "param_groups", None)
    return groups[0]["lr"] if groups else 0.0  # a task with nothing to step (a memory bank)


def monitored(metrics: dict[str, float], monitor: str) -> float:
    """The validation value `train.monitor` names (a task that does not declare its metric
    names is checked here, at its first validation)."""
    if monitor not in metrics:
        names = ", ".join(sorted(k for k in metrics if k != "step"))
        raise ConfigError(
            f"train.monitor={monitor!r} is not reported by validation; choose one of {names}"
        )
    return metrics[monitor]


class Checkpoint(Callback):
    """Keeps `last.safetensors` (every N steps and each validation) and `best.safetensors`.

    Best is judged on the validation metric only — never on the test split. Writes are atomic.
    `config` (the resolved recipe's fingerprint, `experiment.config_record`) goes into
    `last.safetensors`, so `--resume` can tell whether config.yaml was edited since.
    """

    def __init__(
        self,
        folder: Path,
        *,
        every: int = 0,
        monitor: str = "val/accuracy",
        mode: str = "max",
        metadata: dict[str, Any] | None = None,
        config: dict[str, str] | None = None,
    ) -> None:
        self.folder, self.every, self.monitor, self.mode = folder, every, monitor, mode
        self.metadata = metadata or {}
        self.config = config
        self.best: float | None = None
        self.best_step = -1

    def on_train_batch_end(self, trainer: Trainer, out: Any) -> None:
        if self.every and trainer.state.step % self.every == 0:
            self.save_last(trainer)

    def on_validation_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        value = monitored(metrics, self.monitor)
        if _better(value, self.best, self.mode):
            self.best, self.best_step = value, trainer.state.step
            if is_main_process():
                save_checkpoint(
                    self.folder / "best.safetensors",
                    {
                        "model": trainer.bare_model.state_dict(),
                        "meta": self.metadata,
                        "metrics": metrics,
                        "step": trainer.state.step,
                    },
                )
        self.save_last(trainer)

    def save_last(self, trainer: Trainer) -> None:
        if is_main_process():
            state = trainer.state_dict()
            state["meta"] = self.metadata
            if self.config is not None:
                state["config"] = self.config
            save_checkpoint(self.folder / "last.safetensors", state)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_step": self.best_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_step = state.get("best"), state.get("best_step", -1)


class EarlyStopping(Callback):
    """Stops when the validation metric has not improved for `patience` validations."""

    def __init__(self, monitor: str, mode: str, patience: int, min_delta: float = 0.0) -> None:
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, min_delta
        self.best: float | None = None
        self.bad = 0

    def on_validation_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        value = monitored(metrics, self.monitor)
        if _better(value, self.best, self.mode, self.min_delta):
            self.best, self.bad = value, 0
        else:
            self.bad += 1
            if self.bad >= self.patience:
                trainer.stop(f"early_stopping ({self.monitor} flat for {self.bad} validations)")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.bad = state.get("best"), state.get("bad", 0)


class JsonlLogger(Callback):
    """Appends one JSON object per log point to metrics.jsonl (train every N steps, val)."""

    def __init__(self, path: Path, every: int = 20) -> None:
        self.path, self.every = path, every
        self.lines = 0
        self._sum, self._n = 0.0, 0

    def on_fit_start(self, trainer: Trainer) -> None:
        if is_main_process():
            self.path.touch()

    def on_train_batch_end(self, trainer: Trainer, out: Any) -> None:
        self._sum, self._n = self._sum + float(out.loss), self._n + 1
        if trainer.state.step % self.every == 0:
            record = {
                "train/loss": self._sum / self._n,
                "lr": _first_lr(trainer.optimizer),
                **out.logs,
            }
            self._sum, self._n = 0.0, 0
            self.write(trainer, record)

    def on_validation_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        self.write(trainer, {k: v for k, v in metrics.items() if k != "step"})

    def write(self, trainer: Trainer, values: dict[str, float]) -> None:
        if not is_main_process():
            return
        s = trainer.state
        epoch = s.epoch + s.batch / max(len(trainer.train_data), 1)
        record = {
            "step": s.step,
            "epoch": round(epoch, 4),
            "time": round(s.train_seconds, 3),
            **values,
        }
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        self.lines += 1

    def state_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "sum": self._sum, "n": self._n}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Drop lines written after the checkpoint, so a resumed log has no duplicates."""
        self.lines = state.get("lines", 0)
        self._sum, self._n = state.get("sum", 0.0), state.get("n", 0)
        if is_main_process() and self.path.exists():
            kept = self.path.read_text("utf-8").splitlines(keepends=True)[: self.lines]
            self.path.write_text("".join(kept), encoding="utf-8")


class TensorBoardLogger(Callback):
    """Scalars for TensorBoard: `tensorboard --logdir RUN_DIR/tensorboard`.

    A resumed run continues the step count. The killed process may have logged steps after
    its last checkpoint, which the resumed one logs again: the writer opens with
    `purge_step` just after the checkpoint's step, and TensorBoard drops the earlier
    session's events from there on, so each step appears once.
    """

    def __init__(self, folder: Path, every: int = 20) -> None:
        self.folder, self.every = folder, every
        self.trainer: Trainer | None = None
        self.purge_step: int | None = None
        self.writer: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.trainer is not None:  # the Trainer restored its step before its callbacks
            self.purge_step = self.trainer.state.step + 1  # steps after the checkpoint's

    def _writer(self) -> Any:
        if self.writer is None and is_main_process():
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.folder), purge_step=self.purge_step)
        return self.writer

    def on_train_batch_end(self, trainer: Trainer, out: Any) -> None:
        if trainer.state.step % self.every == 0 and (writer := self._writer()):
            writer.add_scalar("train/loss", float(out.loss), trainer.state.step)
            writer.add_scalar("lr", _first_lr(trainer.optimizer), trainer.state.step)

    def on_validation_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        if writer := self._writer():
            for k, v in metrics.items():
                if k != "step":
                    writer.add_scalar(k, v, trainer.state.step)
            writer.flush()

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.writer:
            self.writer.close()


class ProgressBar(Callback):
    """A live bar with ETA and metrics on a terminal; plain lines when output is not a TTY."""

    def __init__(self, stream: Any = None, lines_per_epoch: int = 4) -> None:
        self.stream = stream or sys.stdout
        self.lines_per_epoch = lines_per_epoch
        self.progress = None
        self.task_id = None
        self.loss = float("nan")

    def on_fit_start(self, trainer: Trainer) -> None:
        self.enabled = is_main_process()
        self.t0 = time.perf_counter()
        if self.enabled and self.stream.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                transient=False,
            )
            self.progress.start()
            self.task_id = self.progress.add_task("train", total=trainer.total_steps, info="")

    def on_train_batch_end(self, trainer: Trainer, out: Any) -> None:
        if not self.enabled:
            return
        self.loss = (
            float(out.loss) if math.isnan(self.loss) else 0.9 * self.loss + 0.1 * float(out.loss)
        )
        s = trainer.state
        info = f"epoch {s.epoch + 1} loss {self.loss:.4f}" + self._val(trainer)
        if self.progress is not None:
            self.progress.update(self.task_id, completed=s.step, info=info)
            return
        every = max(1, trainer.steps_per_epoch // self.lines_per_epoch, trainer.total_steps // 20)
        if s.step % every == 0:
            done = s.step / max(trainer.total_steps, 1)
            spent = time.perf_counter() - self.t0
            eta = spent / max(done, 1e-9) - spent if done > 0 else float("nan")
            print(
                f"step {s.step}/{trainer.total_steps} ({done:.0%}) {info} "
                f"elapsed {spent:.0f}s eta {eta:.0f}s",
                file=self.stream,
                flush=True,
            )

    def on_validation_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        if self.enabled and self.progress is None:
            shown = " ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k != "step")
            s = trainer.state  # epochs counted from 1, as in the progress lines
            epoch = s.epoch + 1 if s.batch else s.epoch  # batch 0: the epoch just ended
            done = not s.batch or s.batch >= len(trainer.train_data)
            when = f"{'after' if done else 'in'} epoch {epoch}"
            print(
                f"validation {when} (step {s.step}): {shown}",
                file=self.stream,
                flush=True,
            )

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.progress is not None:
            self.progress.stop()

    @staticmethod
    def _val(trainer: Trainer) -> str:
        shown = [
            f"{k.split('/')[-1]} {v:.4f}"
            for k, v in trainer.last_val.items()
            if k.startswith("val/")
        ]
        return (" | val " + " ".join(shown)) if shown else ""
