"""The one training loop every project shares.

The loop is kept on one screen (`fit` + `_train_batch`); everything optional — schedules,
checkpoints, early stopping, logging, progress — is a callback (`train/callbacks.py`).
The Trainer owns only what must happen inside a step: mixed precision, gradient
accumulation, clipping, the NaN/Inf guard, the wall-clock budget and the position in the
data (epoch, batch), which is what makes mid-epoch resume exact.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from dllab.errors import ConfigError, TrainingDiverged
from dllab.tasks.base import StepOutput, Task
from dllab.train import distributed
from dllab.train.callbacks import Callback
from dllab.train.rng import rng_state, set_rng_state


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    batch: int = 0  # micro-batches consumed in the current epoch (the sampler position)
    step: int = 0  # optimizer steps taken
    train_seconds: float = 0.0  # wall time in training, validation and paused time excluded
    stop_reason: str = ""


class Trainer:
    """Runs a Task: `Trainer(max_epochs=3, callbacks=[...]).fit(task, model, optimizer)`."""

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
        optimizer: torch.optim.Optimizer,
        resume: dict[str, Any] | None = None,
    ) -> TrainState:
        self.task, self.optimizer = task, optimizer
        self.model = self._wrap(model.to(self.device, memory_format=self.memory_format))
        self.train_data = task.train_batches()
        self.steps_per_epoch = -(-len(self.train_data) // self.accumulate)
        self.total_steps = min(self.steps_per_epoch * self.max_epochs, self.max_steps or 10**12)
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

    def _train_batch(self, batch: Any) -> None:
        self.state.batch += 1
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
            metrics["step"] = self.state.step
            self.last_val = metrics
            self._call("on_validation_end", metrics)
        return metrics

    @torch.no_grad()
    def evaluate(self, batches: Any, prefix: str) -> dict[str, float]:
        """Loss and the task's metrics over `batches` (synchronised across ranks)."""
        was_training = self.model.training
        self.model.eval()
        metrics = self.task.metrics().to(self.device)
        total, count = 0.0, 0
        for batch in batches.epoch(0):
            with self._autocast():
                out: StepOutput = self.task.validation_step(self.model, self._to_device(batch))
            n = len(out.target) if out.target is not None else 1
            total, count = total + float(out.loss) * n, count + n
            if out.preds is not None:
                metrics.update(out.preds.float(), out.target)
        total, count = distributed.all_sum([total, float(count)])
        result = {f"{prefix}/loss": total / max(count, 1)}
        result.update({f"{prefix}/{k}": float(v) for k, v in metrics.compute().items()})
        self.model.train(was_training)
        return result

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
        if self.precision == "fp32":
            return contextlib.nullcontext()
        if self.precision == "fp16" and self.device.type != "cuda":
            raise ConfigError("train.precision=fp16 needs CUDA; use bf16 on CPU")
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _to_device(self, batch: Any) -> Any:
        if isinstance(batch, torch.Tensor):
            batch = batch.to(self.device, non_blocking=True)
            # `.contiguous(channels_last)` keeps NCHW strides when C == 1 (both layouts are
            # "contiguous" then), and oneDNN would run the whole net in NCHW: restride.
            cl = self.memory_format == torch.channels_last
            if cl and batch.ndim == 4 and batch.stride(1) != 1:
                layout = torch.empty_like(batch, memory_format=torch.channels_last)
                batch = layout.copy_(batch)
            return batch
        if isinstance(batch, list | tuple):
            return type(batch)(self._to_device(b) for b in batch)
        return batch

    def _wrap(self, model: nn.Module) -> nn.Module:
        if not distributed.init_distributed(self.device):
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
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "callbacks": {type(cb).__name__: cb.state_dict() for cb in self.callbacks},
            "rng": rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.state = TrainState(**state["trainer"])
        self.bare_model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        for cb in self.callbacks:
            cb.load_state_dict(state["callbacks"].get(type(cb).__name__, {}))
        set_rng_state(state["rng"])
