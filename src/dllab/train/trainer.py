"""The one training loop every project shares.

The loop is kept on one screen (`fit` + `_train_batch`); everything optional — schedules,
checkpoints, early stopping, logging, progress — is a callback (`train/callbacks.py`).
The Trainer owns only what must happen inside a step: mixed precision, gradient
accumulation, clipping, the NaN/Inf guard, the wall-clock budget and the position in the
data (epoch, batch), which is what makes mid-epoch resume exact.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from dllab.errors import ConfigError, TrainingDiverged
from dllab.train import distributed
from dllab.train.callbacks import Callback
from dllab.train.precision import autocast
from dllab.train.protocol import StepOutput, Task, validation_names
from dllab.train.rng import rng_state, set_rng_state


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    batch: int = 0  # micro-batches consumed in the current epoch (the sampler position)
    step: int = 0  # optimizer steps taken
    train_seconds: float = 0.0  # wall time in training, validation and paused time excluded
    stop_reason: str = ""


Optimizers = torch.optim.Optimizer | dict[str, torch.optim.Optimizer]


class Trainer:
    """Runs a Task: `Trainer(max_epochs=3, callbacks=[...]).fit(task, model, optimizer)`.

    `optimizer` may be a dict of named optimisers for a task that steps them itself
    (`task.automatic_optimization = False`, e.g. a GAN's generator and critic); each one's
    state is checkpointed and restored by name.
    """

    def __init__(
        self,
        *,
        max_epochs: int = 10,
        max_steps: int | None = None,
        max_time: float | None = None,
        grad_clip: float | None = None,
        accumulate: int = 1,
        precision: str = "fp32",
        device: torch.device | str = "cpu",
        val_every: int = 0,
        channels_last: bool = False,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.max_epochs, self.max_steps, self.max_time = max_epochs, max_steps, max_time
        self.grad_clip, self.accumulate, self.precision = grad_clip, accumulate, precision
        self.device = torch.device(device)
        self.val_every = val_every
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.callbacks = list(callbacks)
        self.state = TrainState()
        self.should_stop = False
        self.last_val: dict[str, float] = {}

    # ---------------------------------------------------------------- the loop
    def fit(
        self,
        task: Task,
        model: nn.Module,
        optimizer: Optimizers,
        resume: dict[str, Any] | None = None,
    ) -> TrainState:
        self.task, self.optimizer = task, optimizer
        self.automatic = getattr(task, "automatic_optimization", True)
        if not self.automatic:
            if self.accumulate != 1:
                raise ConfigError(
                    f"task {task.name!r} steps its own optimisers: set train.accumulate=1"
                )
            task.optimizers = optimizer  # what its training_step steps
        self.model = self._wrap(model.to(self.device, memory_format=self.memory_format))
        self.train_data = task.train_batches()
        self.plan(len(self.train_data))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision == "fp16")
        self._call("on_fit_start")
        if resume is not None:
            self.load_state_dict(resume)
        self._paused = 0.0
        self._t0 = time.perf_counter() - self.state.train_seconds
        self.model.train()
        while self.state.epoch < self.max_epochs and not self.should_stop:
            for batch in self.train_data.epoch(self.state.epoch, start=self.state.batch):
                self._train_batch(batch)
                if self.should_stop:
                    break
            else:
                self.state.epoch, self.state.batch = self.state.epoch + 1, 0
                self._call("on_epoch_end")
                if not self.val_every or self.state.step % self.val_every:
                    self.validate()
        if self.last_val.get("step") != self.state.step:
            self.validate()  # stopped mid-epoch: validate the final weights once
        self._call("on_fit_end")
        return self.state

    def plan(self, batches_per_epoch: int) -> None:
        """Optimizer steps per epoch and in all (what schedules are sized on)."""
        self.steps_per_epoch = -(-batches_per_epoch // self.accumulate)
        self.total_steps = min(self.steps_per_epoch * self.max_epochs, self.max_steps or 10**12)

    def _train_batch(self, batch: Any) -> None:
        self.state.batch += 1
        if not self.automatic:
            with self._autocast():
                out = self.task.training_step(self.model, self._to_device(batch))
            self._guard(out)
            self._step_done(out)
            return
        boundary = self.state.batch % self.accumulate == 0 or self.state.batch == len(
            self.train_data
        )
        sync = (
            contextlib.nullcontext()
            if boundary or not isinstance(self.model, DistributedDataParallel)
            else self.model.no_sync()
        )
        with sync, self._autocast():
            out = self.task.training_step(self.model, self._to_device(batch))
            loss = out.loss / self.accumulate
        out.loss = out.loss.detach()  # callbacks log it; they must not hold the graph
        self._guard(out)
        self.scaler.scale(loss).backward()
        if not boundary:
            return
        if self.grad_clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self._step_done(out)

    def _step_done(self, out: StepOutput) -> None:
        self.state.step += 1
        self.state.train_seconds = self.elapsed()
        self._call("on_train_batch_end", out)
        if self.val_every and self.state.step % self.val_every == 0:
            self.validate()
        if self.max_steps and self.state.step >= self.max_steps:
            self.stop("max_steps")
        if self.max_time and self.elapsed() >= self.max_time:
            self.stop("max_time")

    # ---------------------------------------------------------------- pieces
    def validate(self) -> dict[str, float]:
        with self.clock_paused():
            metrics = self.evaluate(self.task.val_batches(), prefix="val")
            _check_declared(self.task, metrics)
            metrics["step"] = self.state.step
            self.last_val = metrics
            self._call("on_validation_end", metrics)
        return metrics

    @torch.no_grad()
    def evaluate(self, batches: Any, prefix: str) -> dict[str, float]:
        """Loss and the task's metrics over `batches` (synchronised across ranks)."""
        return self._run_eval(batches, prefix, self.task.validation_step)[0]

    @torch.no_grad()
    def test(self, batches: Any) -> tuple[dict[str, float], list[Any]]:
        """The one pass over the test split: its metrics and each batch's `outputs`."""
        return self._run_eval(batches, "test", self.task.test_step, keep=True)

    def _run_eval(
        self, batches: Any, prefix: str, step: Any, keep: bool = False
    ) -> tuple[dict[str, float], list[Any]]:
        was_training = self.model.training
        self.model.eval()
        metrics = self.task.metrics.to(self.device)
        metrics.reset()
        total, count, kept = 0.0, 0, []
        for batch in batches.epoch(0):
            with self._autocast():
                out: StepOutput = step(self.model, self._to_device(batch))
            n = out.weight()
            total, count = total + float(out.loss) * n, count + n
            if out.preds is not None:
                metrics.update(_fp32(out.preds), out.target)
            if keep and out.outputs is not None:
                kept.append(out.outputs)
        total, count = distributed.all_sum([total, float(count)])
        result = {f"{prefix}/loss": total / max(count, 1)}
        result.update({f"{prefix}/{k}": _reported(v) for k, v in metrics.compute().items()})
        self.model.train(was_training)
        return result, kept

    def stop(self, reason: str) -> None:
        self.should_stop = True
        self.state.stop_reason = self.state.stop_reason or reason

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0 - self._paused

    @contextlib.contextmanager
    def clock_paused(self) -> Iterator[None]:
        """Time spent inside (validation, benchmark probes) is not training time."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - t

    def _guard(self, out: StepOutput) -> None:
        finite = distributed.all_min(float(torch.isfinite(out.loss).all()))
        if not finite:
            raise TrainingDiverged(
                f"loss became {float(out.loss):.4g} at step {self.state.step + 1} "
                f"(epoch {self.state.epoch + 1}); training stopped and the last good "
                "checkpoint is kept; lower optim.lr or set train.grad_clip"
            )

    def _autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.precision, self.device)

    def _to_device(self, batch: Any) -> Any:
        """Tensors anywhere in tuples, lists, dicts and dataclasses, moved to the device."""
        if isinstance(batch, torch.Tensor):
            batch = batch.to(self.device, non_blocking=True)
            # `.contiguous(channels_last)` keeps NCHW strides when C == 1 (both layouts are
            # "contiguous" then), and oneDNN would run the whole net in NCHW: restride.
            cl = self.memory_format == torch.channels_last
            if cl and batch.ndim == 4 and batch.stride(1) != 1:
                layout = torch.empty_like(batch, memory_format=torch.channels_last)
                batch = layout.copy_(batch)
            return batch
        if isinstance(batch, dict):
            return type(batch)({k: self._to_device(v) for k, v in batch.items()})
        if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple
            return type(batch)(*(self._to_device(b) for b in batch))
        if isinstance(batch, list | tuple):
            return type(batch)(self._to_device(b) for b in batch)
        if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
            moved = {
                f.name: self._to_device(getattr(batch, f.name)) for f in dataclasses.fields(batch)
            }
            return dataclasses.replace(batch, **moved)
        return batch

    def _wrap(self, model: nn.Module) -> nn.Module:
        if not torch.distributed.is_initialized():  # the caller joins the process group
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    @property
    def bare_model(self) -> nn.Module:
        """The model without its DDP wrapper (what checkpoints and exports hold)."""
        return getattr(self.model, "module", self.model)

    def _call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {
            "trainer": asdict(self.state),
            "model": self.bare_model.state_dict(),
            **self._optimizer_states(),
            "scaler": self.scaler.state_dict(),
            "callbacks": {type(cb).__name__: cb.state_dict() for cb in self.callbacks},
            "rng": rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.state = TrainState(**state["trainer"])
        self.bare_model.load_state_dict(state["model"])
        if isinstance(self.optimizer, dict):
            for name, opt in self.optimizer.items():
                opt.load_state_dict(state["optimizers"][name])
        else:
            self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        for cb in self.callbacks:
            cb.load_state_dict(state["callbacks"].get(type(cb).__name__, {}))
        set_rng_state(state["rng"])

    def _optimizer_states(self) -> dict[str, Any]:
        if isinstance(self.optimizer, dict):
            return {"optimizers": {k: o.state_dict() for k, o in self.optimizer.items()}}
        return {"optimizer": self.optimizer.state_dict()}


def _fp32(x: Any) -> Any:
    """Low-precision floats (an autocast forward) as fp32 for the metrics, in any nesting."""
    if isinstance(x, torch.Tensor):
        return x.float() if x.is_floating_point() else x
    if isinstance(x, dict):
        return {k: _fp32(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(_fp32(v) for v in x)
    return x


def _reported(value: torch.Tensor) -> float:
    """A computed metric as a float, to the 7 significant digits fp32 holds: its last-bit
    noise (an F1 of 1.0000001) is not a result."""
    return float(f"{float(value):.7g}")


def _check_declared(task: Task, reported: dict[str, float]) -> None:
    """A task's `metric_names` must be what its validation reports: `train.monitor` was
    checked against them before any data was loaded."""
    declared = getattr(task, "metric_names", None)
    if declared is None:
        return
    expected = set(validation_names(declared))
    if set(reported) != expected:
        raise RuntimeError(
            f"task {task.name!r} declares metric_names {sorted(expected)}, but its validation "
            f"reported {sorted(reported)}: fix the task's metric_names"
        )
