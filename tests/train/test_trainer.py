"""The Trainer: accumulation, clipping, precision, guards, budgets and hooks, on a toy task."""

import io
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from dllab.errors import TrainingDiverged
from dllab.train.batches import TensorBatches
from dllab.train.callbacks import Callback, Checkpoint, EarlyStopping, ProgressBar
from dllab.train.checkpoint import load_checkpoint
from dllab.train.protocol import StepOutput
from dllab.train.trainer import Trainer


class ToyTask:
    """Two Gaussian blobs per class in 4-D; optionally a loss that turns NaN at a step."""

    name = "toy"

    def __init__(self, n=256, batch=16, nan_at=None, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.y = torch.randint(0, 3, (n,), generator=g)
        self.x = torch.randn(n, 4, generator=g) + F.one_hot(self.y, 4).float() * 3
        self.batch, self.nan_at, self.calls = batch, nan_at, 0

    def train_batches(self):
        return TensorBatches(self.x, self.y, batch_size=self.batch, shuffle=True, seed=1)

    def val_batches(self):
        return TensorBatches(self.x[:64], self.y[:64], batch_size=64, shuffle=False)

    def training_step(self, model, batch):
        x, y = batch
        self.calls += 1
        loss = F.cross_entropy(model(x), y)
        if self.nan_at is not None and self.calls >= self.nan_at:
            loss = loss * float("nan")
        return StepOutput(loss=loss, preds=None, target=y)

    def validation_step(self, model, batch):
        x, y = batch
        logits = model(x)
        return StepOutput(loss=F.cross_entropy(logits, y), preds=logits, target=y)

    @property
    def metrics(self):  # owned by the task: built once, reset and updated by the Trainer
        if not hasattr(self, "_metrics"):
            acc = MulticlassAccuracy(num_classes=3, average="micro")
            self._metrics = MetricCollection({"accuracy": acc})
        return self._metrics


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def test_fit_learns_and_validates_each_epoch():
    seen = []

    class Record(Callback):
        def on_validation_end(self, trainer, metrics):
            seen.append(metrics["val/accuracy"])

    model = _model()
    state = Trainer(max_epochs=3, callbacks=[Record()]).fit(
        ToyTask(), model, torch.optim.Adam(model.parameters(), 0.05)
    )
    assert state.epoch == 3 and state.step == 3 * 16 and len(seen) == 3 and seen[-1] > 0.9


def test_accumulation_equals_a_bigger_batch():
    a, b = _model(), _model()
    task = ToyTask(n=32, batch=8)
    Trainer(max_epochs=1, max_steps=1, accumulate=2).fit(
        task, a, torch.optim.SGD(a.parameters(), 0.1)
    )
    big = ToyTask(n=32, batch=16)
    Trainer(max_epochs=1, max_steps=1).fit(big, b, torch.optim.SGD(b.parameters(), 0.1))
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_gradient_clipping_bounds_the_update():
    model = _model()
    before = [p.detach().clone() for p in model.parameters()]
    Trainer(max_epochs=1, max_steps=1, grad_clip=1e-3).fit(
        ToyTask(), model, torch.optim.SGD(model.parameters(), lr=1.0)
    )
    moved = torch.sqrt(
        sum(((p - q) ** 2).sum() for p, q in zip(model.parameters(), before, strict=True))
    )
    assert moved <= 1e-3 + 1e-6


def test_nan_guard_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    model = _model()
    ckpt = Checkpoint(tmp_path, every=2, monitor="val/accuracy")
    with pytest.raises(TrainingDiverged, match="at step 5"):
        Trainer(max_epochs=2, callbacks=[ckpt]).fit(
            ToyTask(nan_at=5), model, torch.optim.SGD(model.parameters(), 0.1)
        )
    saved = load_checkpoint(tmp_path / "last.safetensors")
    assert saved["trainer"]["step"] == 4
    assert all(torch.isfinite(t).all() for t in saved["model"].values())


def test_early_stopping_and_budgets_stop_with_a_reason():
    model = _model()
    stop = EarlyStopping("val/loss", "min", patience=1, min_delta=10.0)
    state = Trainer(max_epochs=10, callbacks=[stop]).fit(
        ToyTask(), model, torch.optim.SGD(model.parameters(), 0.01)
    )
    assert state.epoch == 2 and state.stop_reason.startswith("early_stopping")
    state = Trainer(max_epochs=10, max_steps=5).fit(
        ToyTask(), model, torch.optim.SGD(model.parameters(), 0.01)
    )
    assert state.step == 5 and state.stop_reason == "max_steps"
    state = Trainer(max_epochs=10_000, max_time=0.3).fit(
        ToyTask(), model, torch.optim.SGD(model.parameters(), 0.01)
    )
    # the stop is decided on one clock reading and train_seconds summed from others: they may
    # differ in the last microsecond (0.2999996 was seen)
    assert state.stop_reason == "max_time" and 0.3 - 1e-3 <= state.train_seconds < 5


def test_best_checkpoint_follows_validation(tmp_path):
    model = _model()
    ckpt = Checkpoint(tmp_path, monitor="val/accuracy")
    vals = []

    class Record(Callback):
        def on_validation_end(self, trainer, metrics):
            vals.append((metrics["val/accuracy"], trainer.state.step))

    Trainer(max_epochs=4, callbacks=[Record(), ckpt]).fit(
        ToyTask(), model, torch.optim.SGD(model.parameters(), 0.05)
    )
    best = load_checkpoint(tmp_path / "best.safetensors")
    top = max(v for v, _ in vals)
    assert best["metrics"]["val/accuracy"] == top
    assert best["step"] == next(s for v, s in vals if v == top)


def test_best_checkpoint_follows_a_metric_to_minimise(tmp_path):
    """monitor_mode=min (quickstart's val/loss): best is the lowest loss, not the highest."""
    model = _model()
    ckpt = Checkpoint(tmp_path, monitor="val/loss", mode="min")
    vals = []

    class Record(Callback):
        def on_validation_end(self, trainer, metrics):
            vals.append((metrics["val/loss"], trainer.state.step))

    Trainer(max_epochs=4, callbacks=[Record(), ckpt]).fit(
        ToyTask(), model, torch.optim.SGD(model.parameters(), 0.05)
    )
    best = load_checkpoint(tmp_path / "best.safetensors")
    low = min(v for v, _ in vals)
    assert len({v for v, _ in vals}) > 1, "the losses must differ for the test to mean anything"
    assert best["metrics"]["val/loss"] == low
    assert best["step"] == next(s for v, s in vals if v == low)


def test_bf16_autocast_on_cpu_and_channels_last():
    model = _model()
    state = Trainer(max_epochs=1, precision="bf16", channels_last=True).fit(
        ToyTask(), model, torch.optim.Adam(model.parameters(), 0.05)
    )
    assert state.step == 16 and all(torch.isfinite(p).all() for p in model.parameters())


def test_hooks_fire_in_order():
    calls = []

    class Spy(Callback):
        def on_fit_start(self, trainer):
            calls.append("start")

        def on_train_batch_end(self, trainer, out):
            calls.append("batch")

        def on_epoch_end(self, trainer):
            calls.append("epoch")

        def on_validation_end(self, trainer, metrics):
            calls.append("val")

        def on_fit_end(self, trainer):
            calls.append("end")

    model = _model()
    Trainer(max_epochs=1, callbacks=[Spy()]).fit(
        ToyTask(n=32, batch=16), model, torch.optim.SGD(model.parameters(), 0.1)
    )
    assert calls == ["start", "batch", "batch", "epoch", "val", "end"]


def test_progress_prints_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    model = _model()
    Trainer(max_epochs=2, callbacks=[ProgressBar(stream=stream)]).fit(
        ToyTask(), model, torch.optim.SGD(model.parameters(), 0.1)
    )
    text = stream.getvalue()
    assert "eta" in text and "validation after epoch 2" in text and "\x1b[" not in text
    assert not math.isnan(float(text.split("loss ")[1].split()[0]))


def test_channels_last_reaches_the_trainer_and_restrides_grey_batches():
    """C == 1 batches look contiguous in both layouts; they must still arrive as NHWC."""
    from dllab.config import load_recipe

    recipe = load_recipe("fashion-mnist-fast")
    assert recipe.train.channels_last
    from dllab.experiment import build_trainer

    class Tiny:
        def train_batches(self):
            return TensorBatches(
                torch.zeros(8, 1, 4, 4), torch.zeros(8), batch_size=4, shuffle=False
            )

        def model_metadata(self):
            return {}

    model = _model()
    opt = torch.optim.SGD(model.parameters(), 0.1)
    trainer = build_trainer(
        recipe, Tiny(), model, opt, Path("unused"), torch.device("cpu"), progress=False
    )
    assert trainer.memory_format == torch.channels_last
    x = torch.randn(16, 1, 28, 28)[torch.arange(8)]  # a gathered batch: NCHW strides
    assert x.stride(1) != 1 and trainer._to_device(x).stride(1) == 1
    assert torch.equal(trainer._to_device(x), x)


def test_progress_and_validation_lines_count_epochs_alike():
    """A validation in the middle of epoch 1 says so (it said "after epoch 0")."""
    stream = io.StringIO()
    model = _model()
    Trainer(max_epochs=1, val_every=8, callbacks=[ProgressBar(stream=stream)]).fit(
        ToyTask(), model, torch.optim.SGD(model.parameters(), 0.1)
    )  # 16 steps: validations at steps 8 (mid-epoch) and 16 (the epoch's end)
    lines = [line for line in stream.getvalue().splitlines() if line.startswith("validation")]
    assert [line.split(":")[0] for line in lines] == [
        "validation in epoch 1 (step 8)",
        "validation after epoch 1 (step 16)",
    ]
    assert all("epoch 1 " in line for line in stream.getvalue().splitlines() if "step" in line)
