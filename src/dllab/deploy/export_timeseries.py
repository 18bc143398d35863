"""End-to-end check of an exported forecaster: the same forecasts on the run's test windows.

`export_onnx` proves the graph's output equals PyTorch's within 1e-4 on random standardised
windows. A user sees forecasts in the series' own units: this check runs the run's test
windows (up to 100; the test part of the series as its config.yaml splits it, every origin
whose horizon lies inside it) through both engines, standardised with the checkpoint's mean
and std and the forecasts scaled back, as `dllab predict` does, and compares them value by
value. When the series can no longer be loaded, the windows are seeded noise (said in the
report: `windows: {"noise": 100}`).

Tolerance: the graph's parity, `FORECAST_TOLERANCE` (1e-4) in standardised units, is
`FORECAST_TOLERANCE * std` in the series' units (std: the training part's, from the
checkpoint), so the rule scales with the series: 1e-4 of its spread, whatever its unit. A
forecast farther apart raises InputError in one line; `export_onnx` then writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dllab.deploy.export_graphs import ort_session
from dllab.deploy.export_images import END_TO_END_ITEMS
from dllab.errors import DllabError, InputError

__all__ = ["FORECAST_TOLERANCE", "compare_forecasts", "end_to_end", "run_windows"]

FORECAST_TOLERANCE = 1e-4  # max abs difference, standardised units (x std in the series' units)


def run_windows(
    run_dir: Path, meta: dict[str, Any], n: int = END_TO_END_ITEMS
) -> tuple[np.ndarray, dict[str, int]]:
    """Up to `n` test windows `(W, context)` of the run's series, in its original units, and
    where they came from; `n` seeded windows of noise around the training mean when the
    series or the run's config can no longer be read."""
    context = int(meta["context"])
    try:
        x = _test_windows(run_dir, meta)[:n]
    except (DllabError, OSError):
        x = np.empty((0, context))  # the data is gone: noise below, and the report says so
    if len(x) and x.shape[1] == context:
        return x, {"test": len(x)}
    rng = np.random.default_rng(0)
    noise = meta["mean"] + meta["std"] * rng.standard_normal((n, context))
    return noise, {"noise": n}


def _test_windows(run_dir: Path, meta: dict[str, Any]) -> np.ndarray:
    """The inputs `(W, context)` of the test windows, as the timeseries task cuts them."""
    from dllab.config import load_resolved
    from dllab.data.series import load_series, time_split, window_origins, windows

    d = load_resolved(run_dir / "config.yaml").data
    values = load_series(meta["series"]).values
    part = time_split(len(values), val_fraction=d.val_fraction, test_fraction=d.test_fraction)
    context, horizon = int(meta["context"]), int(meta["horizon"])
    origins = window_origins(part.test, context=context, horizon=horizon)
    return windows(values, origins, context=context, horizon=horizon)[0]


def compare_forecasts(expected: np.ndarray, got: np.ndarray, std: float) -> dict[str, Any]:
    """Compare PyTorch's forecasts `expected` `(W, H)` with onnxruntime's `got`, both in the
    series' units: InputError if any value differs by more than `FORECAST_TOLERANCE * std`,
    else the report."""
    tolerance = FORECAST_TOLERANCE * std
    if got.shape != expected.shape:
        raise InputError(
            f"onnxruntime gives forecasts of shape {got.shape}, PyTorch {expected.shape}, on "
            f"{len(expected)} test windows"
        )
    diff = np.nan_to_num(np.abs(got - expected), nan=np.inf)  # (W, H); NaN fails
    worst = float(diff.max()) if diff.size else 0.0
    if worst > tolerance:
        w, h = np.unravel_index(int(diff.argmax()), diff.shape)
        raise InputError(
            f"onnxruntime and PyTorch give different forecasts on {int((diff > tolerance).sum())}"
            f" of {diff.size} values of {len(expected)} test windows (window {w}, step "
            f"t+{h + 1}: {got[w, h]:.6g} vs {expected[w, h]:.6g}, {worst:.2e} apart > "
            f"{tolerance:.2e} = {FORECAST_TOLERANCE:.0e} x the series' std {std:.4g})"
        )
    return {
        "items": len(expected),
        "compared": "forecasts in the series' units, every step",
        "max_abs_diff": worst,
        "tolerance": tolerance,
        "relative_tolerance": FORECAST_TOLERANCE,
        "std": std,
        "rule": "every forecast value within relative_tolerance x std (the training part's "
        "standard deviation) of PyTorch's",
    }


def end_to_end(path: Path, model: nn.Module, meta: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The end-to-end report of the forecaster at `path` against `model` on the run's test
    windows; InputError when a forecast differs by more than the tolerance."""
    mean, std = float(meta["mean"]), float(meta["std"])
    x, counts = run_windows(run_dir, meta)
    z = ((x - mean) / std).astype(np.float32)  # (W, context), as predict_series scales
    session = ort_session(path)
    name = session.get_inputs()[0].name
    model.eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(z)).float().numpy()  # (W, H) standardised
    got = session.run(None, {name: z})[0]
    report = compare_forecasts(
        expected.astype(np.float64) * std + mean, got.astype(np.float64) * std + mean, std
    )
    return {**report, "unit": meta.get("unit", ""), "windows": counts}
