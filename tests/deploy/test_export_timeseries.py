"""ONNX export of a forecaster: windows of floats in, the horizon out, parity with PyTorch."""

import json

import numpy as np
import onnxruntime as ort
import torch

from dllab.config import load_recipe
from dllab.deploy.export import export_onnx
from dllab.experiment import load_trained, run_recipe


def test_sunspots_forecaster_exports_with_a_dynamic_batch(tmp_path):
    recipe = load_recipe("sunspots-lstm", ["train.max_steps=3", "train.max_epochs=1"])
    run = run_recipe(recipe, run_dir=tmp_path / "run", echo=lambda _: None, progress=False)
    res = export_onnx(run)
    assert res.ok, res.max_abs_diff
    assert res.inputs == [{"name": "window", "dtype": "float32", "shape": ["batch", 33]}]
    model, meta = load_trained(run)
    windows = torch.randn(7, meta["context"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(windows).numpy()
    session = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"window": windows.numpy()})[0]
    assert got.shape == (7, 11)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    saved = json.loads((res.path.parent / "model.json").read_text())
    assert saved["task"] == "timeseries" and saved["onnx"]["output"] == "forecast"
