"""Forecasting end to end: `dllab run sunspots-lstm` leaves baselines, a forecast plot and a
model that `dllab predict` feeds from a CSV; the full recipes beat seasonal naive; a recipe
that still gives the window sizes to the model is refused in one line."""

import json

import pytest

from dllab.data.series import load_series

BASELINE_METRICS = {
    "test/mae",
    "test/rmse",
    "test/mae_seasonal_naive",
    "test/rmse_seasonal_naive",
    "test/mae_arima",
    "test/rmse_arima",
    "test/skill",
}


@pytest.fixture(scope="module")
def sunspots_run(tmp_path_factory, dllab):
    root = tmp_path_factory.mktemp("sunspots")
    out = dllab(
        "run", "sunspots-lstm", "train.max_epochs=2", "--run-dir", "runs/s", cwd=root, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return root / "runs" / "s"


def test_short_run_writes_baselines_and_the_forecast_plot(sunspots_run):
    summary = json.loads((sunspots_run / "summary.json").read_text())
    assert summary["task"] == "timeseries" and summary["epochs"] == 2
    assert set(summary["test"]) >= BASELINE_METRICS
    # The baselines do not depend on the LSTM: these are the numbers of the test part.
    assert summary["test"]["test/mae_seasonal_naive"] == pytest.approx(29.291, abs=1e-3)
    assert summary["test"]["test/mae_arima"] == pytest.approx(23.84, abs=0.05)
    assert (sunspots_run / "forecast.png").stat().st_size > 10_000
    assert (sunspots_run / "forecasts.csv").read_text().startswith("origin_time,step,time,truth")
    report = (sunspots_run / "report.md").read_text()
    assert "](forecast.png)" in report and "mae_arima" in report
    env = json.loads((sunspots_run / "env.json").read_text())
    assert load_series("sunspots").checksum in env["data_checksums"].values()


def test_predict_prints_the_next_eleven_years_from_a_csv(sunspots_run, dllab):
    values = load_series("sunspots").values[-33:]
    csv = sunspots_run.parent / "recent.csv"
    csv.write_text("value\n" + "\n".join(f"{v}" for v in values) + "\n")
    out = dllab("predict", str(sunspots_run), str(csv), cwd=sunspots_run.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("t+") == 11 and "t+11" in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["sunspots-lstm", "co2-lstm"])
def test_full_recipe_beats_seasonal_naive(recipe, tmp_path, dllab):
    out = dllab("run", recipe, "--run-dir", "runs/r", cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "runs" / "r" / "summary.json").read_text())
    test = summary["test"]
    assert test["test/mae"] < test["test/mae_seasonal_naive"]
    assert test["test/rmse"] < test["test/rmse_seasonal_naive"]
    assert summary["target"]["met"] and summary["train_seconds"] < 120


def test_a_recipe_with_window_sizes_in_model_kwargs_exits_2_naming_the_task_option(tmp_path, dllab):
    (tmp_path / "old.yaml").write_text(
        "name: old-sunspots\ntask: timeseries\ndata: {name: sunspots}\n"
        "model: {name: lstm-forecaster, kwargs: {context: 33, horizon: 11, hidden_size: 8}}\n"
    )
    out = dllab("run", "old.yaml", "--run-dir", "runs/old", cwd=tmp_path, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "model.kwargs.context is an option of task 'timeseries'" in out.stderr
    assert "task.context" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs" / "old").exists()  # refused before any work
