"""ONNX export from a run folder: parity with PyTorch, metadata carried, atomic output."""

import json

import pytest
import torch

from dllab.config import load_recipe, recipe_to_yaml
from dllab.deploy.export import export_onnx
from dllab.errors import CheckpointError
from dllab.models import create_model
from dllab.train.checkpoint import save_checkpoint

META = {
    "task": "classification",
    "model": "bn-cnn",
    "model_kwargs": {"width": 8},
    "classes": [f"c{i}" for i in range(10)],
    "num_classes": 10,
    "in_channels": 1,
    "image_size": 28,
    "mean": [0.3],
    "std": [0.35],
    "dataset": "fashion-mnist",
    "recipe": "fashion-mnist-fast",
}


@pytest.fixture
def run_dir(tmp_path):
    torch.manual_seed(0)
    model = create_model("bn-cnn", width=8)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(recipe_to_yaml(load_recipe("fashion-mnist-fast")))
    save_checkpoint(
        run / "checkpoints/best.safetensors",
        {"model": model.state_dict(), "meta": META, "metrics": {}, "step": 0},
    )
    return run


def test_export_matches_pytorch_and_carries_metadata(run_dir):
    res = export_onnx(run_dir)
    assert res.ok and res.max_abs_diff <= 1e-4
    assert json.loads((res.path.parent / "model.json").read_text())["classes"][3] == "c3"
    assert [p.name for p in res.path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_export_of_a_mismatched_checkpoint_is_a_checkpoint_error(run_dir):
    bad = {**META, "model_kwargs": {"width": 16}}  # weights are for width 8
    model = create_model("bn-cnn", width=8)
    save_checkpoint(
        run_dir / "checkpoints/best.safetensors",
        {"model": model.state_dict(), "meta": bad, "metrics": {}, "step": 0},
    )
    with pytest.raises(CheckpointError, match="does not fit model 'bn-cnn'"):
        export_onnx(run_dir)
    assert not (run_dir / "export" / "model.onnx").exists()
