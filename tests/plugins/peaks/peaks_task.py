"""A plugin task: locate 0-3 peaks in a noisy 1-D signal (dict batches, variable-length targets).

It lives outside dllab and registers itself on import (`imports: [peaks_task]` in a recipe).
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from pydantic import Field
from torchmetrics import MetricCollection
from torchmetrics.aggregation import MeanMetric

from dllab.errors import InputError
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask, ExampleInput, Prediction, StepOutput, TaskOptions
from dllab.train.batches import IndexBatches, epoch_order


class PeaksOptions(TaskOptions):
    length: int = Field(64, ge=16)  # samples per signal
    signals: int = Field(600, ge=30)  # generated, split 80/10/10
    max_peaks: int = Field(3, ge=1, le=5)


def make_signals(n: int, length: int, max_peaks: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    xs, peaks, t = torch.randn(n, length, generator=g) * 0.1, [], torch.arange(length)
    for i in range(n):
        k = int(torch.randint(0, max_peaks + 1, (1,), generator=g))
        pos = torch.randperm(length // 8 - 2, generator=g)[:k].sort().values * 8 + 8
        for p in pos:
            xs[i] += torch.exp(-0.5 * ((t - p) / 1.5) ** 2)
        peaks.append(pos)
    return xs, peaks


def find_peaks(logits: torch.Tensor) -> list[torch.Tensor]:
    """Positions whose score is above 0 and a local maximum, per row of (B, L) logits."""
    pooled = F.max_pool1d(logits[:, None], 5, stride=1, padding=2).squeeze(1)
    keep = (logits > 0) & (logits == pooled)
    return [row.nonzero().flatten() for row in keep]


class LocatedF1(MeanMetric):
    """Per-signal F1 of predicted peaks within 2 samples of a true one (1 when both empty)."""

    def update(self, preds, target):
        for p, t in zip(preds, target, strict=True):
            if len(p) == 0 and len(t) == 0:
                super().update(torch.tensor(1.0))
                continue
            hit = sum(bool(((t - q).abs() <= 2).any()) for q in p)
            super().update(torch.tensor(2 * hit / max(len(p) + len(t), 1)))


@TASKS.register("peaks")
class PeaksTask(BaseTask):
    name = "peaks"
    Options = PeaksOptions

    def setup(self, *, rank=0, world=1):
        super().setup(rank=rank, world=world)
        o = self.options
        x, peaks = make_signals(o.signals, o.length, o.max_peaks, self.recipe.split_seed)
        n_val = n_test = o.signals // 10
        cut = {
            "train": (0, o.signals - 2 * n_val),
            "val": (o.signals - 2 * n_val, o.signals - n_test),
        }
        cut["test"] = (o.signals - n_test, o.signals)
        self.data_ = {s: (x[a:b], peaks[a:b]) for s, (a, b) in cut.items()}

    def _batches(self, split):
        x, peaks = self.data_[split]
        train, size = split == "train", self.recipe.data.batch_size

        def plan(epoch):
            order = epoch_order(len(x), seed=self.recipe.train.seed, epoch=epoch, shuffle=train)
            return list(order.split(size))

        return IndexBatches(plan, lambda i: {"signal": x[i], "peaks": [peaks[j] for j in i]})

    def _loss(self, logits, peaks):
        target = torch.zeros_like(logits)
        for row, pos in zip(target, peaks, strict=True):
            row[pos] = 1.0
        return F.binary_cross_entropy_with_logits(logits, target, pos_weight=torch.tensor(20.0))

    def training_step(self, model, batch):
        return StepOutput(
            loss=self._loss(model(batch["signal"]), batch["peaks"]), count=len(batch["peaks"])
        )

    def validation_step(self, model, batch):
        logits = model(batch["signal"])
        loss = self._loss(logits, batch["peaks"])
        return StepOutput(loss=loss, preds=find_peaks(logits.float()), target=batch["peaks"])

    def test_step(self, model, batch):
        out = self.validation_step(model, batch)
        out.outputs = {"signal": batch["signal"].cpu(), "found": out.preds, "true": out.target}
        return out

    def build_metrics(self):
        return MetricCollection({"located_f1": LocatedF1()})

    def metadata(self):
        return {"length": self.options.length}

    @classmethod
    def predict_with(cls, model, meta, inputs, top_k=5):
        rows = []
        for path in inputs:
            try:
                values = [float(v) for v in Path(path).read_text().replace(",", " ").split()]
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot read {path} as numbers: {exc}") from exc
            if len(values) != meta["length"]:
                raise InputError(
                    f"{path} has {len(values)} values; the model reads {meta['length']}"
                )
            (found,) = find_peaks(model(torch.tensor([values])).float())
            rows.append(
                Prediction(source=path, text="peaks at " + ", ".join(map(str, found.tolist())))
            )
        return rows

    @classmethod
    def example_input(cls, meta, model):
        g = torch.Generator().manual_seed(0)
        signal = lambda b: torch.randn(b, meta["length"], generator=g)  # noqa: E731
        return ExampleInput(
            (signal(4),), (signal(3),), ["signal"], [{0: "batch"}], output="peak_logits"
        )

    def visualize(self, model, run_dir, outputs):
        from dllab.viz.figure import new_figure, save_figure

        first = outputs[0]
        fig = new_figure(8, 5)
        for k, ax in enumerate(fig.subplots(3, 1, sharex=True)):
            ax.plot(first["signal"][k])
            ax.vlines(first["true"][k], 0, 1.2, colors="g", label="true")
            ax.plot(first["found"][k], [1.25] * len(first["found"][k]), "rv", label="found")
        ax.legend()
        fig.suptitle("Test signals: true peaks (green) and found (red)")
        return [save_figure(fig, run_dir / "peaks.png")]
