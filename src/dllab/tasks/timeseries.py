"""Time-series forecasting: a window of past values in, the next `horizon` values out.

The series is split in time order (train, then validation, then test; `data/series.py`), each
split's windows have their targets inside it, and the standardisation is fitted on the
training part alone, so nothing from the future leaks into training. Every validation and test
window is also forecast by two baselines, in the same run and on exactly the same windows:

- seasonal naive: each future step repeats the value one period (11 years, 12 months) earlier;
- ARIMA (statsmodels), fitted once on the training part, then run forward with those fixed
  parameters so that each origin's multi-step forecast uses only the values before it (rolling
  origin, no refit).

The baselines' forecasts ride along in the evaluation batches (`y[:, 1:]`), so the task's
metrics score the model and the baselines with the same code: `mae`, `rmse` (the model),
`mae_seasonal_naive`, `rmse_seasonal_naive`, `mae_arima`, `rmse_arima`, all in the series'
original units, and `skill` = 1 - MAE / MAE(seasonal naive) (> 0: the model beats it).

Task options (the recipe's `task:` section): `context` and `horizon`, the window's length in
and out (default three periods in, one out); the model is built for the same sizes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torchmetrics import Metric, MetricCollection

from dllab.data.series import Series, load_series, read_values, time_split, window_origins, windows
from dllab.errors import ConfigError, InputError
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask, TaskOptions, cat_outputs
from dllab.tasks.example_inputs import window_input
from dllab.train.batches import TensorBatches
from dllab.train.protocol import ExampleInput, Prediction, StepOutput

BASELINES = ("seasonal_naive", "arima")  # columns 1, 2 of an evaluation batch's targets


@dataclass(frozen=True)
class ArimaSpec:
    order: tuple[int, int, int]
    seasonal_order: tuple[int, int, int, int] = (0, 0, 0, 0)
    trend: str = "c"  # "c": a constant (mean); "n": none (differencing removes the level)

    def __str__(self) -> str:
        """The legend's name: `ARIMA(9, 0, 0)`, `ARIMA(0, 1, 1)x(0, 1, 1)12`."""
        s = self.seasonal_order
        return f"ARIMA{self.order}" + (f"x{s[:3]}{s[3]}" if any(s) else "")


ARIMA_SPECS = {
    # AR(9): the lowest AIC among AR(1)..AR(11) on the sunspot training part (1700-1915).
    "sunspots": ArimaSpec(order=(9, 0, 0)),
    # The "airline" model ARIMA(0,1,1)(0,1,1)_12 (Box & Jenkins 1976), the classic for CO2.
    "co2": ArimaSpec(order=(0, 1, 1), seasonal_order=(0, 1, 1, 12), trend="n"),
}


# ---------------------------------------------------------------- baselines and scaling
def seasonal_naive(history: np.ndarray, period: int, horizon: int) -> np.ndarray:
    """Forecast each future step as the last observed value at the same phase of the season.

    `history (..., T)` with `T >= period`, oldest first -> `(..., horizon)`:
    step `h` (0-based) is `history[..., T - period + h % period]`, i.e. y[T+h] = y[T+h-k*period]
    with the smallest k that reaches back into the history (Hyndman & Athanasopoulos,
    "Forecasting: principles and practice", 3rd ed., section 5.2).

    >>> seasonal_naive(np.array([1.0, 2.0, 3.0, 4.0]), period=3, horizon=4).tolist()
    [2.0, 3.0, 4.0, 2.0]
    """
    if history.shape[-1] < period:
        raise ConfigError(
            f"seasonal naive needs at least one period ({period} steps) of history, got "
            f"{history.shape[-1]}; raise task.context to >= {period}"
        )
    idx = history.shape[-1] - period + np.arange(horizon) % period
    return history[..., idx]


def arima_forecasts(
    values: np.ndarray, train_end: int, origins: np.ndarray, horizon: int, spec: ArimaSpec
) -> np.ndarray:
    """Rolling-origin ARIMA forecasts `(W, horizon)` from each origin in `origins`.

    The parameters are estimated on `values[:train_end]` only. The fitted model then filters
    the whole series with those parameters fixed, and the forecast from origin `t` is its
    dynamic prediction of `values[t : t + horizon]` from the state after `values[t - 1]`:
    exactly what refitting nothing and forecasting from `values[:t]` would give.
    """
    from statsmodels.tsa.arima.model import ARIMA
    from threadpoolctl import threadpool_limits  # comes with scikit-learn

    # The Kalman filter works on matrices of a few rows: a multi-threaded BLAS only adds
    # overhead, and on a busy machine its spinning threads made the fit 50x slower.
    with threadpool_limits(limits=1, user_api="blas"):
        fitted = ARIMA(
            values[:train_end],
            order=spec.order,
            seasonal_order=spec.seasonal_order,
            trend=spec.trend,
        ).fit()
        full = fitted.apply(values)  # same parameters, state updated by every observation
        return np.stack(
            [full.predict(start=int(t), end=int(t) + horizon - 1, dynamic=True) for t in origins]
        )


@dataclass(frozen=True)
class Normaliser:
    """Standardisation `(v - mean) / std` with statistics of the training part only."""

    mean: float
    std: float

    @classmethod
    def fit(cls, train_values: np.ndarray) -> Normaliser:
        std = float(np.std(train_values))
        return cls(float(np.mean(train_values)), std if std > 0 else 1.0)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        return (v - self.mean) / self.std

    def inverse(self, z: Any) -> Any:
        return z * self.std + self.mean


# ---------------------------------------------------------------- metrics
class ForecastError(Metric):
    """MAE or RMSE over every step of every window, of one column of the forecasts.

    `update(preds (B, 1 + K, H), target (B, H))`: column 0 is the model, 1..K the baselines.
    """

    full_state_update = False

    def __init__(self, kind: str, column: int = 0) -> None:
        super().__init__()
        assert kind in ("mae", "rmse"), kind
        self.kind, self.column = kind, column
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        err = preds[:, self.column].double() - target.double()  # (B, H)
        self.total += err.abs().sum() if self.kind == "mae" else err.square().sum()
        self.count += err.numel()

    def compute(self) -> torch.Tensor:
        mean = self.total / self.count.clamp(min=1)
        return mean if self.kind == "mae" else mean.sqrt()


class ForecastSkill(Metric):
    """1 - MAE(model) / MAE(baseline in `column`): 0 is as good as the baseline, 1 perfect."""

    full_state_update = False

    def __init__(self, column: int = 1) -> None:
        super().__init__()
        self.column = column
        self.add_state("model", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("baseline", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        target = target.double()
        self.model += (preds[:, 0].double() - target).abs().sum()
        self.baseline += (preds[:, self.column].double() - target).abs().sum()

    def compute(self) -> torch.Tensor:
        return 1.0 - self.model / self.baseline.clamp(min=1e-12)


# ---------------------------------------------------------------- the task
class TimeSeriesOptions(TaskOptions):
    """The windows a forecaster reads and predicts (the model is built for these sizes)."""

    context: int | None = Field(None, ge=1)  # past steps in a window; None: three periods
    horizon: int | None = Field(None, ge=1)  # future steps forecast at once; None: one period


@TASKS.register("timeseries")
class TimeSeriesTask(BaseTask):
    """Task for `dllab run` recipes that forecast a univariate series (`data.name`)."""

    name = "timeseries"
    metric_names = (
        "mae",
        "rmse",
        *(f"{error}_{b}" for b in BASELINES for error in ("mae", "rmse")),
        "skill",
    )
    Options = TimeSeriesOptions
    options: TimeSeriesOptions

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        d = self.recipe.data
        self.series_: Series = load_series(d.name)
        self.context_, self.horizon_ = self._window_sizes()
        values = self.series_.values
        self.split_ = time_split(
            len(values), val_fraction=d.val_fraction, test_fraction=d.test_fraction
        )
        train = self.split_.train
        self.norm_ = Normaliser.fit(values[train.start : train.stop])
        c, h = self.context_, self.horizon_
        parts = {"train": train, "val": self.split_.val, "test": self.split_.test}
        self.origins_ = {k: window_origins(p, context=c, horizon=h) for k, p in parts.items()}
        evaluated = np.concatenate([self.origins_["val"], self.origins_["test"]])
        assert self.series_.name in ARIMA_SPECS, f"add an ARIMA_SPECS entry for {self.series_.name}"
        arima = arima_forecasts(values, train.stop, evaluated, h, ARIMA_SPECS[self.series_.name])
        n_val = len(self.origins_["val"])
        self.arima_ = {"val": arima[:n_val], "test": arima[n_val:]}
        self.rank_, self.world_ = rank, world

    def _window_sizes(self) -> tuple[int, int]:
        """Context and horizon from the task options, else three periods in and one out."""
        opts, period = self.options, self.series_.period
        context, horizon = opts.context or 3 * period, opts.horizon or period
        if context < period:
            raise ConfigError(
                f"task.context={context} is shorter than the {self.series_.name} period "
                f"({period}); the seasonal-naive baseline needs one period: use >= {period}"
            )
        return context, horizon

    def data_checksums(self) -> dict[str, str]:
        """sha256 of the series values this run read, as float64 (for env.json)."""
        return {self.series_.name: self.series_.checksum}

    def split_windows(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs `(W, context)`, targets `(W, horizon)` and origins `(W,)` of a split, in
        original units."""
        origins = self.origins_[split]
        x, y = windows(self.series_.values, origins, context=self.context_, horizon=self.horizon_)
        return x, y, origins

    def _batches(self, split: str) -> TensorBatches:
        x, y, _ = self.split_windows(split)
        if split == "train":
            targets = self.norm_(y)  # (W, H)
        else:
            naive = seasonal_naive(x, self.series_.period, self.horizon_)
            targets = self.norm_(np.stack([y, naive, self.arima_[split]], axis=1))  # (W, 3, H)
        inputs = torch.from_numpy(self.norm_(x)).float()
        targets = torch.from_numpy(targets).float()
        return TensorBatches(inputs, targets, **self.batch_kwargs(split))

    # ------------------------------------------------------------ model and steps
    def model_kwargs(self) -> dict[str, Any]:
        return {**self.recipe.model.kwargs, "context": self.context_, "horizon": self.horizon_}

    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        x, y = batch  # (B, C), (B, H), standardised
        return StepOutput(loss=F.mse_loss(model(x), y))

    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput:
        return self._scored(model, batch)

    def test_step(self, model: nn.Module, batch: Any) -> StepOutput:
        """Validation's scores, keeping the model's standardised forecasts `(B, H)`."""
        return self._scored(model, batch, keep=True)

    def _scored(self, model: nn.Module, batch: Any, keep: bool = False) -> StepOutput:
        """Loss on the standardised truth; every forecaster in original units for the metrics."""
        x, y = batch  # (B, C), (B, 1 + K, H): truth, then the baselines' forecasts
        pred = model(x)  # (B, H)
        forecasts = torch.cat([pred[:, None].float(), y[:, 1:]], dim=1)  # (B, 1 + K, H)
        return StepOutput(
            loss=F.mse_loss(pred, y[:, 0]),
            preds=self.norm_.inverse(forecasts),
            target=self.norm_.inverse(y[:, 0]),
            outputs={"forecast": pred.float().cpu()} if keep else None,
        )

    def build_metrics(self) -> MetricCollection:
        named: dict[str, Metric] = {"mae": ForecastError("mae"), "rmse": ForecastError("rmse")}
        for column, baseline in enumerate(BASELINES, start=1):
            named[f"mae_{baseline}"] = ForecastError("mae", column)
            named[f"rmse_{baseline}"] = ForecastError("rmse", column)
        named["skill"] = ForecastSkill(column=1)
        # No compute groups: metrics on different columns may look alike after one batch.
        return MetricCollection(named, compute_groups=False)

    # ------------------------------------------------------------ serving
    def metadata(self) -> dict[str, Any]:
        """The window sizes and the scaling `predict` feeds a series with."""
        s = self.series_
        return {
            "context": self.context_,
            "horizon": self.horizon_,
            "mean": self.norm_.mean,
            "std": self.norm_.std,
            "series": s.name,
            "unit": s.unit,
            "period": s.period,
        }

    @classmethod
    def predict_with(
        cls, model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """Next-horizon forecasts from CSV files of recent values (`top_k` is not used)."""
        return predict_series(model, meta, inputs)

    @classmethod
    def example_input(cls, meta: dict[str, Any], model: nn.Module) -> ExampleInput:
        """Standardised windows `(B, context)`; the batch axis is dynamic."""
        return window_input(meta)

    # ------------------------------------------------------------ pictures
    def test_forecasts(self, outputs: list[Any]) -> dict[str, np.ndarray]:
        """Truth and every forecaster's forecasts `(W, H)` over the test windows, original
        units, with their origins `(W,)`: the model's from the test pass, in window order."""
        x, y, origins = self.split_windows("test")
        z = cat_outputs(outputs)["forecast"].numpy().astype(np.float64)
        return {
            "origin": origins,
            "truth": y,
            "lstm": self.norm_.inverse(z),
            "seasonal_naive": seasonal_naive(x, self.series_.period, self.horizon_),
            "arima": self.arima_["test"],
        }

    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """forecast.png (the series, and test forecasts against the truth) and forecasts.csv."""
        from dllab.viz.forecast import plot_forecast

        out = self.test_forecasts(outputs)
        s = self.series_
        picture = plot_forecast(
            s.times,
            s.values,
            train_end=self.split_.train.stop,
            val_end=self.split_.val.stop,
            origins=out["origin"],
            forecasts={
                self.recipe.model.name: out["lstm"],
                f"seasonal naive ({s.period})": out["seasonal_naive"],
                str(ARIMA_SPECS[s.name]): out["arima"],
            },
            path=run_dir / "forecast.png",
            title=f"{s.name}: {self.horizon_}-step forecasts on the test part",
            ylabel=s.unit,
        )
        return [picture, write_forecasts(out, s.times, run_dir / "forecasts.csv")]


def write_forecasts(out: dict[str, np.ndarray], times: np.ndarray, path: Path) -> Path:
    """One row per (origin, step): time of the forecast value, truth and each forecast."""
    names = ["lstm", *BASELINES]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["origin_time", "step", "time", "truth", *names])
        for i, t in enumerate(out["origin"]):
            for h in range(out["truth"].shape[1]):
                cells = [f"{out[n][i, h]:.4f}" for n in ("truth", *names)]
                w.writerow([f"{times[t]:.3f}", h + 1, f"{times[t + h]:.3f}", *cells])
    return path


# ---------------------------------------------------------------- predict from a CSV
@torch.no_grad()
def predict_series(model: nn.Module, meta: dict[str, Any], inputs: list[str]) -> list[Prediction]:
    """The next `horizon` values after each input series, in its original units.

    Each input is a CSV of recent values (one per line, oldest first) with at least `context`
    values; the last `context` are used. Labels are "t+1", "t+2", …; scores the forecasts.
    """
    context, horizon = meta["context"], meta["horizon"]
    norm = Normaliser(meta["mean"], meta["std"])
    rows = []
    for source in inputs:
        values = read_values(source)
        if len(values) < context:
            raise InputError(
                f"{source} has {len(values)} values; this model reads the last {context} "
                f"{meta.get('series', '')} values: give at least {context}, oldest first"
            )
        rows.append(norm(values[-context:]))
    device = next(model.parameters()).device
    model.eval()
    z = model(torch.from_numpy(np.stack(rows)).float().to(device)).float().cpu().numpy()
    forecast = norm.inverse(z.astype(np.float64))  # (N, horizon)
    labels = [f"t+{h}" for h in range(1, horizon + 1)]
    return [
        Prediction(source=source, labels=labels, scores=[float(v) for v in row])
        for source, row in zip(inputs, forecast, strict=True)
    ]
