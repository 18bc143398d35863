"""Real data: a short Fashion-MNIST run through the whole pipeline (CI installs the data)."""

import json

import pytest

from dllab.data import find_all

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def fashion_present():
    if not any(s.found and s.name == "fashion-mnist" for s in find_all()):
        pytest.skip("Fashion-MNIST not found (apt-get install dataset-fashion-mnist)")


def test_fast_recipe_learns_real_fashion_mnist_in_a_small_budget(fashion_present, tmp_path, dllab):
    out = dllab(
        "run",
        "fashion-mnist-fast",
        "train.max_steps=120",
        "train.val_every=60",
        "--run-dir",
        "runs/f",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "runs/f/summary.json").read_text())
    assert summary["steps"] == 120 and summary["stop_reason"] == "max_steps"
    assert summary["test"]["test/accuracy"] > 0.80  # 120 steps of 128 images: ~0.85 here
    env = json.loads((tmp_path / "runs/f/env.json").read_text())
    assert len(env["data_checksums"]) == 4
    per_class = (tmp_path / "runs/f/per_class.csv").read_text()
    assert "Ankle boot" in per_class and per_class.count("\n") == 11
