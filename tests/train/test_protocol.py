"""The task contract the Trainer sees: no task or model imported, batches of any shape, a
task that steps its own optimisers, metrics owned by the task, one test pass."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, MetricCollection

from dllab.train.batches import IndexBatches, TensorBatches, shard_batches
from dllab.train.checkpoint import load_checkpoint, save_checkpoint
from dllab.train.protocol import StepOutput
from dllab.train.trainer import Trainer


def test_importing_the_trainer_loads_no_task_and_no_model():
    code = (
        "import sys, dllab.train, dllab.train.trainer, dllab.train.callbacks, "
        "dllab.train.batches, dllab.train.protocol, dllab.train.checkpoint;"
        "print(sorted(m for m in sys.modules if m.startswith(('dllab.tasks', 'dllab.models'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@dataclass
class Boxes:
    boxes: torch.Tensor
    labels: list[str]


def test_batches_of_any_nesting_move_to_the_device():
    batch = {
        "images": torch.zeros(2, 3, 4, 4),
        "targets": [{"boxes": torch.ones(1, 4), "labels": torch.tensor([1])}, {}],
        "pair": (torch.ones(1), 3),
        "meta": Boxes(torch.zeros(2, 4), ["a", "b"]),
    }
    moved = Trainer(device="meta")._to_device(batch)
    assert moved["images"].is_meta and moved["targets"][0]["boxes"].is_meta
    assert moved["targets"][1] == {} and moved["pair"][1] == 3 and moved["pair"][0].is_meta
    assert isinstance(moved["meta"], Boxes) and moved["meta"].boxes.is_meta
    assert moved["meta"].labels == ["a", "b"]


class DictTask:
    """Regression with dict batches and a test pass that keeps per-batch outputs."""

    name = "dict-toy"

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(40, 3, generator=g)
        self.y = self.x.sum(1, keepdim=True)
        self.metrics = MetricCollection({"mae": MeanMetric()})
        self.test_calls = 0

    def _stream(self, shuffle):
        def plan(epoch):
            from dllab.train.batches import epoch_order

            order = epoch_order(40, seed=3, epoch=epoch, shuffle=shuffle)
            return shard_batches(list(order.split(8)), rank=0, world=1)

        return IndexBatches(plan, lambda i: {"x": self.x[i], "y": self.y[i]})

    def train_batches(self):
        return self._stream(True)

    def val_batches(self):
        return self._stream(False)

    test_batches = val_batches

    def training_step(self, model, batch):
        return StepOutput(loss=F.mse_loss(model(batch["x"]), batch["y"]), count=8)

    def validation_step(self, model, batch):
        err = (model(batch["x"]) - batch["y"]).abs()
        return StepOutput(loss=err.pow(2).mean(), preds=err, count=len(err))

    def test_step(self, model, batch):
        self.test_calls += 1
        out = self.validation_step(model, batch)
        out.outputs = {"err": out.preds.detach()}
        return out


def test_metrics_are_the_tasks_and_the_test_pass_runs_once_keeping_outputs():
    task, model = DictTask(), nn.Linear(3, 1)
    trainer = Trainer(max_epochs=2)
    trainer.fit(task, model, torch.optim.SGD(model.parameters(), 0.1))
    metrics, outputs = trainer.test(task.test_batches())
    assert task.test_calls == 5 and len(outputs) == 5
    mean_err = torch.cat([o["err"] for o in outputs]).mean()
    assert metrics["test/mae"] == pytest.approx(float(mean_err), rel=1e-5)


def test_index_batches_resume_mid_epoch_exactly():
    stream = DictTask()._stream(True)
    full = list(stream.epoch(1))
    later = list(stream.epoch(1, start=3))
    assert len(full) == len(stream) == 5
    assert all(torch.equal(a["x"], b["x"]) for a, b in zip(full[3:], later, strict=True))


def test_shard_batches_gives_every_rank_the_same_count():
    batches = [torch.tensor([i]) for i in range(5)]
    shards = [shard_batches(batches, rank=r, world=2) for r in range(2)]
    assert [len(s) for s in shards] == [3, 3]
    assert [int(b) for b in shards[0] + shards[1]] == [0, 2, 4, 1, 3, 0]


class TwoOptimizerTask:
    """A GAN-shaped toy: a generator and a critic, each stepped by the task itself."""

    name = "two-opt"
    automatic_optimization = False

    def __init__(self):
        g = torch.Generator().manual_seed(1)
        self.real = torch.randn(64, 2, generator=g) + 2
        self.metrics = MetricCollection({})

    def train_batches(self):
        return TensorBatches(self.real, torch.zeros(64), batch_size=8, shuffle=True, seed=2)

    def training_step(self, model, batch):
        real, _ = batch
        gen, critic = model.gen, model.critic
        opts = self.optimizers
        fake = gen(torch.randn(len(real), 2))
        d_loss = F.softplus(-critic(real)).mean() + F.softplus(critic(fake.detach())).mean()
        opts["critic"].zero_grad()
        d_loss.backward()
        opts["critic"].step()
        g_loss = F.softplus(-critic(gen(torch.randn(len(real), 2)))).mean()
        opts["generator"].zero_grad()
        g_loss.backward()
        opts["generator"].step()
        return StepOutput(loss=(d_loss + g_loss).detach())

    def val_batches(self):
        return TensorBatches(self.real[:8], torch.zeros(8), batch_size=8, shuffle=False)

    def validation_step(self, model, batch):
        return StepOutput(loss=model.critic(batch[0]).mean())


def _gan():
    torch.manual_seed(0)
    return nn.ModuleDict({"gen": nn.Linear(2, 2), "critic": nn.Linear(2, 1)})


def _fit(task, model, steps, resume=None):
    opts = {
        "generator": torch.optim.Adam(model.gen.parameters(), 1e-2),
        "critic": torch.optim.Adam(model.critic.parameters(), 1e-2),
    }
    trainer = Trainer(max_epochs=3, max_steps=steps)
    trainer.fit(task, model, opts, resume=resume)
    return trainer


def test_a_task_with_two_optimisers_resumes_exactly(tmp_path):
    straight = _gan()
    torch.manual_seed(5)
    _fit(TwoOptimizerTask(), straight, 12)

    first = _gan()
    torch.manual_seed(5)
    half = _fit(TwoOptimizerTask(), first, 5)
    save_checkpoint(tmp_path / "last.safetensors", half.state_dict())
    state = load_checkpoint(tmp_path / "last.safetensors")
    assert set(state["optimizers"]) == {"generator", "critic"}
    assert state["optimizers"]["critic"]["state"], "the critic's Adam moments are saved"
    resumed = _gan()  # fresh weights: everything must come from the checkpoint
    trainer = _fit(TwoOptimizerTask(), resumed, 12, resume=state)
    assert trainer.state.step == 12
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_manual_task_refuses_gradient_accumulation():
    from dllab.errors import ConfigError

    model = _gan()
    with pytest.raises(ConfigError, match="train.accumulate=1"):
        Trainer(max_steps=1, accumulate=2).fit(TwoOptimizerTask(), model, {})


def test_ratios_are_reported_without_fp32_noise_above_one():
    from dllab.train.trainer import _reported

    f1 = torch.tensor(1.0000001)  # one fp32 ulp above 1: what quickstart's val/f1 showed
    assert float(f1) == 1.0000001192092896
    assert _reported(f1) == 1.0
    x = torch.tensor(0.91234567)
    assert _reported(x) == pytest.approx(float(x), rel=1e-7) and len(repr(_reported(x))) <= 9
