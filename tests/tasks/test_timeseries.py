"""Forecasting pieces: time-ordered splits and windows, the training-only normaliser, the
baselines, the metrics, the forecaster's scaling options, the window sizes as task options,
the one test pass feeding the forecast table, and prediction from a CSV."""

import numpy as np
import pytest
import torch

from dllab.config import load_recipe
from dllab.data.series import load_series, read_values, time_split, window_origins, windows
from dllab.errors import ConfigError, InputError
from dllab.models import create_model
from dllab.tasks import create_task
from dllab.tasks.timeseries import (
    ARIMA_SPECS,
    ForecastError,
    ForecastSkill,
    Normaliser,
    arima_forecasts,
    predict_series,
    seasonal_naive,
)


@pytest.fixture(scope="module")
def sunspots_task():
    task = create_task("timeseries", recipe=load_recipe("sunspots-lstm"))
    task.setup()
    return task


def _target_steps(origins: np.ndarray, horizon: int) -> set[int]:
    return {int(t) + h for t in origins for h in range(horizon)}


# ---------------------------------------------------------------- splits and windows
def test_time_split_is_contiguous_and_in_time_order():
    split = time_split(309, val_fraction=0.1, test_fraction=0.2)
    assert (split.train.start, split.train.stop) == (0, 216)
    assert (split.val.start, split.val.stop) == (216, 247)
    assert (split.test.start, split.test.stop) == (247, 309)


def test_windows_read_the_past_and_predict_the_future():
    values = np.arange(50.0)
    origins = window_origins(range(30, 50), context=8, horizon=4)
    x, y = windows(values, origins, context=8, horizon=4)
    assert origins[0] == 30 and origins[-1] == 46  # the last targets end at the last value
    assert x.shape == (17, 8) and y.shape == (17, 4)
    assert np.all(x[:, -1] + 1 == y[:, 0])  # targets start right after the inputs end
    assert np.all(x.max(1) < origins) and np.all(y.min(1) >= origins)


def test_a_part_too_short_for_one_window_says_what_to_change():
    with pytest.raises(ConfigError, match="horizon 11.*raise data.val_fraction"):
        window_origins(range(216, 226), context=33, horizon=11)


def test_train_val_test_targets_never_overlap_and_keep_time_order(sunspots_task):
    h = sunspots_task.horizon_
    train, val, test = (sunspots_task.origins_[s] for s in ("train", "val", "test"))
    steps = [_target_steps(o, h) for o in (train, val, test)]
    assert not (steps[0] & steps[1]) and not (steps[0] & steps[2]) and not (steps[1] & steps[2])
    assert max(steps[0]) < min(steps[1]) and max(steps[1]) < min(steps[2])
    split = sunspots_task.split_
    assert steps[2] <= set(split.test) and steps[1] <= set(split.val)
    assert max(steps[2]) == len(sunspots_task.series_) - 1  # the test part is used to its end


def test_batches_hold_the_windows_standardised_with_training_statistics(sunspots_task):
    x, y = next(iter(sunspots_task.val_batches().epoch(0)))
    raw_x, raw_y, _ = sunspots_task.split_windows("val")
    norm = sunspots_task.norm_
    assert y.shape == (len(raw_y), 3, sunspots_task.horizon_)  # truth, seasonal naive, ARIMA
    np.testing.assert_allclose(norm.inverse(x.double().numpy()), raw_x, atol=1e-3)
    np.testing.assert_allclose(norm.inverse(y[:, 0].double().numpy()), raw_y, atol=1e-3)


# ---------------------------------------------------------------- normaliser
def test_normaliser_is_fitted_on_the_training_part_only(sunspots_task, monkeypatch):
    values = sunspots_task.series_.values
    train = sunspots_task.split_.train
    assert sunspots_task.norm_.mean == pytest.approx(values[: train.stop].mean())
    assert sunspots_task.norm_.std == pytest.approx(values[: train.stop].std())

    # Changing every value after the training part leaves the statistics exactly as they were.
    series = sunspots_task.series_
    changed = type(series)(**{**series.__dict__, "values": values.copy()})
    changed.values[train.stop :] *= 10.0
    monkeypatch.setattr("dllab.tasks.timeseries.load_series", lambda name: changed)
    other = create_task("timeseries", recipe=load_recipe("sunspots-lstm"))
    other.setup()
    assert other.norm_ == sunspots_task.norm_


def test_normaliser_round_trips_and_survives_a_constant_series():
    norm = Normaliser.fit(np.array([2.0, 4.0, 6.0]))
    v = np.array([1.0, 10.0])
    np.testing.assert_allclose(norm.inverse(norm(v)), v)
    assert Normaliser.fit(np.full(5, 3.0)).std == 1.0


# ---------------------------------------------------------------- baselines
def test_seasonal_naive_is_exact_on_a_periodic_series():
    period, horizon = 7, 17  # a horizon over two periods long wraps around
    values = np.tile(np.random.default_rng(0).normal(size=period), 10)
    origins = window_origins(range(40, 70), context=period, horizon=horizon)
    x, y = windows(values, origins, context=period, horizon=horizon)
    np.testing.assert_array_equal(seasonal_naive(x, period, horizon), y)


def test_seasonal_naive_repeats_the_last_season():
    history = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    assert seasonal_naive(history, 2, 5).tolist() == [[4.0, 5.0, 4.0, 5.0, 4.0]]
    with pytest.raises(ConfigError, match="context to >= 12"):
        seasonal_naive(np.zeros(5), 12, 3)


def test_rolling_origin_arima_only_sees_values_before_the_origin():
    from statsmodels.tsa.arima.model import ARIMA
    from threadpoolctl import threadpool_limits

    values = load_series("sunspots").values
    spec, origins = ARIMA_SPECS["sunspots"], np.array([220, 260, 298])
    got = arima_forecasts(values, 216, origins, 11, spec)
    with threadpool_limits(limits=1, user_api="blas"):  # tiny matrices: threads only spin
        fitted = ARIMA(values[:216], order=spec.order, trend=spec.trend).fit()
        for row, t in zip(got, origins, strict=True):
            np.testing.assert_allclose(row, fitted.apply(values[:t]).forecast(11), rtol=1e-6)
    changed = values.copy()
    changed[261:] += 100.0  # the future of origin 260 must not change its forecast
    np.testing.assert_allclose(
        arima_forecasts(changed, 216, origins[:2], 11, spec), got[:2], rtol=1e-9
    )


# ---------------------------------------------------------------- metrics
def test_forecast_metrics_match_numpy_per_column():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(10, 4))
    forecasts = truth[:, None] + rng.normal(size=(10, 3, 4))  # model, naive, arima
    preds, target = torch.from_numpy(forecasts), torch.from_numpy(truth)
    for column in range(3):
        err = forecasts[:, column] - truth
        mae, rmse = ForecastError("mae", column), ForecastError("rmse", column)
        for part in range(0, 10, 4):  # several batches
            mae.update(preds[part : part + 4], target[part : part + 4])
            rmse.update(preds[part : part + 4], target[part : part + 4])
        assert float(mae.compute()) == pytest.approx(np.abs(err).mean())
        assert float(rmse.compute()) == pytest.approx(np.sqrt((err**2).mean()))
    skill = ForecastSkill(column=1)
    skill.update(preds, target)
    mae_model = np.abs(forecasts[:, 0] - truth).mean()
    mae_naive = np.abs(forecasts[:, 1] - truth).mean()
    assert float(skill.compute()) == pytest.approx(1 - mae_model / mae_naive)


def test_validation_reports_model_and_baselines_in_original_units(sunspots_task):
    from dllab.train.trainer import Trainer

    torch.manual_seed(0)
    model = sunspots_task.build_model()
    trainer = Trainer()
    trainer.task, trainer.model = sunspots_task, model
    result = trainer.evaluate(sunspots_task.test_batches(), prefix="test")
    x, y, _ = sunspots_task.split_windows("test")
    naive = seasonal_naive(x, 11, 11)
    assert result["test/mae_seasonal_naive"] == pytest.approx(np.abs(naive - y).mean(), rel=1e-5)
    assert result["test/mae_arima"] == pytest.approx(
        np.abs(sunspots_task.arima_["test"] - y).mean(), rel=1e-5
    )
    assert {"test/mae", "test/rmse", "test/rmse_arima", "test/skill"} <= set(result)


# ---------------------------------------------------------------- the forecaster
@pytest.mark.parametrize("window_norm", ["none", "last", "revin"])
def test_forecaster_maps_windows_to_the_horizon_and_trains(window_norm):
    torch.manual_seed(0)
    model = create_model("lstm-forecaster", context=12, horizon=5, window_norm=window_norm)
    x = torch.randn(4, 12)
    out = model(x)
    assert out.shape == (4, 5) and torch.isfinite(out).all()
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_window_norms_make_the_forecast_follow_shifts_and_scales():
    torch.manual_seed(0)
    x = torch.randn(3, 24)
    last = create_model("lstm-forecaster", window_norm="last").eval()
    torch.testing.assert_close(last(x + 5.0), last(x) + 5.0, atol=1e-4, rtol=0)
    revin = create_model("lstm-forecaster", window_norm="revin").eval()
    torch.testing.assert_close(revin(3.0 * x + 5.0), 3.0 * revin(x) + 5.0, atol=1e-2, rtol=1e-3)


def test_unknown_window_norm_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="none, last, revin"):
        create_model("lstm-forecaster", window_norm="minmax")


def test_context_shorter_than_the_period_is_a_config_error():
    task = create_task("timeseries", recipe=load_recipe("sunspots-lstm", ["task.context=5"]))
    with pytest.raises(ConfigError, match="task.context=5 is shorter than the sunspots period"):
        task.setup()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("task.horizon=0", "task.horizon: .*greater than or equal to 1"),
        ("task.contxt=12", "did you mean 'task.context'"),
        ("model.kwargs.context=33", "move it to the task section.*task.context"),
    ],
)
def test_window_sizes_are_task_options_checked_before_any_data_is_read(override, message):
    with pytest.raises(ConfigError, match=message):
        create_task("timeseries", recipe=load_recipe("sunspots-lstm", [override]))


def test_window_sizes_default_to_three_periods_in_and_one_out():
    recipe = load_recipe("sunspots-lstm", ["task.context=null", "task.horizon=null"])
    task = create_task("timeseries", recipe=recipe)
    task.setup()
    meta = task.model_metadata()
    assert (meta["context"], meta["horizon"]) == (33, 11)  # the 11-year cycle
    assert (meta["model_kwargs"]["context"], meta["model_kwargs"]["horizon"]) == (33, 11)
    assert meta["task_options"] == {"context": None, "horizon": None}


def test_one_test_pass_feeds_the_metrics_and_the_forecast_table(sunspots_task, tmp_path):
    from dllab.train.trainer import Trainer

    torch.manual_seed(0)
    model = sunspots_task.build_model()
    trainer = Trainer()
    trainer.task, trainer.model = sunspots_task, model
    result, outputs = trainer.test(sunspots_task.test_batches())
    out = sunspots_task.test_forecasts(outputs)
    x, y, origins = sunspots_task.split_windows("test")
    z = torch.from_numpy(sunspots_task.norm_(x)).float()
    with torch.no_grad():
        expected = sunspots_task.norm_.inverse(model.eval()(z).double().numpy())
    np.testing.assert_array_equal(out["origin"], origins)
    np.testing.assert_allclose(out["lstm"], expected, rtol=1e-6)
    assert result["test/mae"] == pytest.approx(np.abs(out["lstm"] - y).mean(), rel=1e-5)
    paths = sunspots_task.visualize(model, tmp_path, outputs)
    assert paths == [tmp_path / "forecast.png", tmp_path / "forecasts.csv"]
    rows = (tmp_path / "forecasts.csv").read_text().splitlines()
    assert len(rows) == 1 + y.size
    assert rows[1].split(",")[4] == f"{out['lstm'][0, 0]:.4f}"


# ---------------------------------------------------------------- data and prediction
def test_co2_is_monthly_without_gaps():
    co2 = load_series("co2")
    assert len(co2) == 526 and co2.period == 12 and np.isfinite(co2.values).all()
    np.testing.assert_allclose(np.diff(co2.times), 1 / 12, atol=1e-9)
    assert 310 < co2.values.min() < co2.values.max() < 380
    assert len(co2.checksum) == 64


def test_unknown_series_suggests_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'sunspots'"):
        load_series("sunspot")


def test_read_values_takes_a_header_and_blank_lines(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("value\n1.5\n\n2\n3e1\n")
    assert read_values(str(path)).tolist() == [1.5, 2.0, 30.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [("1\n2\nabc\n", "line 3: 'abc' is not a number"), ("1\nnan\n", "line 2.*finite")],
)
def test_read_values_names_the_bad_line(tmp_path, text, message):
    path = tmp_path / "s.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_values(str(path))


def test_predict_forecasts_the_next_horizon_from_the_last_context_values(sunspots_task, tmp_path):
    torch.manual_seed(0)
    model = sunspots_task.build_model().eval()
    meta = sunspots_task.model_metadata()
    values = sunspots_task.series_.values
    path = tmp_path / "recent.csv"
    path.write_text("\n".join(str(v) for v in values[-40:]))
    (pred,) = predict_series(model, meta, [str(path)])
    assert pred.labels == [f"t+{h}" for h in range(1, 12)]
    z = torch.from_numpy(sunspots_task.norm_(values[-33:])).float()[None]
    expected = sunspots_task.norm_.inverse(model(z).detach().double().numpy()[0])
    np.testing.assert_allclose(pred.scores, expected, rtol=1e-5)

    (tmp_path / "short.csv").write_text("1\n2\n3\n")
    with pytest.raises(InputError, match="has 3 values.*at least 33"):
        predict_series(model, meta, [str(tmp_path / "short.csv")])
    with pytest.raises(InputError, match="not found"):
        predict_series(model, meta, [str(tmp_path / "missing.csv")])
