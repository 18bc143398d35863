"""Each report figure is a real PNG written atomically, and each picks the right data."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from dllab.viz import (
    plot_confusion,
    plot_curves,
    plot_prediction_grid,
    plot_worst_mistakes,
    worst_mistake_indices,
)
from dllab.viz.curves import collect_series

CLASSES = [f"class{i}" for i in range(10)]


def assert_png(path: Path, min_side: int = 200) -> None:
    with Image.open(path) as image:
        image.verify()  # raises on a truncated or corrupt file
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert min(image.size) >= min_side, image.size
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")], "temp file left"
    assert plt.get_fignums() == [], "figure left open"


@pytest.fixture
def records() -> list[dict]:
    rows = []
    for epoch in range(1, 4):
        for half in (0.5, 1.0):
            e = epoch - 1 + half
            rows.append({"step": int(e * 100), "epoch": e, "train/loss": 1 / e, "lr": 0.1 / e**3})
        val = {"val/loss": 1.2 / epoch, "val/accuracy": 0.5 + 0.1 * epoch}
        rows.append({"step": epoch * 100, "epoch": float(epoch), **val})
    return rows


@pytest.fixture
def predictions() -> tuple[torch.Tensor, list[int], list[int], list[float]]:
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (12, 3, 16, 16), dtype=np.uint8))
    true = [i % 10 for i in range(12)]
    pred = [t if i % 3 else (t + 1) % 10 for i, t in enumerate(true)]  # every third is wrong
    confidence = rng.uniform(0.3, 1.0, 12).tolist()
    return images, true, pred, confidence


def test_curves_write_a_png(tmp_path, records):
    out = plot_curves(records, tmp_path / "curves.png", title="Run 1")
    assert out == tmp_path / "curves.png"
    assert_png(out)


def test_curves_group_metrics_by_name_and_split(records):
    series = collect_series(records)
    assert list(series) == ["loss", "lr", "accuracy"]
    assert set(series["loss"]) == {"train", "val"}
    xs, ys = series["accuracy"]["val"]
    assert xs == [1.0, 2.0, 3.0]
    assert ys == pytest.approx([0.6, 0.7, 0.8])


def test_curves_skip_missing_keys_and_non_numbers():
    records = [
        {"step": 1, "epoch": 0.5, "train/loss": 0.9},
        {"step": 2, "epoch": 1.0, "val/accuracy": 0.8},  # no loss in this one
        {"step": 3, "train/loss": 0.5},  # no epoch: no point
        {"step": 4, "epoch": 1.5, "train/loss": None, "note": "hi", "flag": True},
    ]
    series = collect_series(records)
    assert series == {"loss": {"train": ([0.5], [0.9])}, "accuracy": {"val": ([1.0], [0.8])}}


def test_curves_with_single_points_or_nothing_still_write_a_png(tmp_path):
    assert_png(plot_curves([{"step": 1, "epoch": 1.0, "val/loss": 0.4}], tmp_path / "one.png"))
    assert_png(plot_curves([], tmp_path / "empty.png"), min_side=100)


def test_confusion_writes_a_png_normalized_and_raw(tmp_path):
    rng = np.random.default_rng(0)
    matrix = rng.integers(0, 20, (10, 10)) + np.diag(np.full(10, 100))
    matrix[3] = 0  # a class never seen must not produce NaNs
    assert_png(plot_confusion(matrix, CLASSES, tmp_path / "norm.png"))
    assert_png(plot_confusion(matrix, CLASSES, tmp_path / "raw.png", normalize=False))


def test_confusion_handles_thirty_classes(tmp_path):
    matrix = np.eye(30, dtype=int) * 50 + 1
    assert_png(plot_confusion(matrix, [f"c{i}" for i in range(30)], tmp_path / "cm30.png"))


@pytest.mark.parametrize("shape", [(3, 4), (9,), (2, 3, 3)])
def test_confusion_rejects_a_non_square_matrix(tmp_path, shape):
    with pytest.raises(ValueError, match="square"):
        plot_confusion(np.ones(shape), ["a", "b", "c"], tmp_path / "cm.png")


def test_confusion_rejects_wrong_number_of_class_names(tmp_path):
    with pytest.raises(ValueError, match="class names"):
        plot_confusion(np.ones((3, 3)), ["a", "b"], tmp_path / "cm.png")


def test_prediction_grid_writes_a_png_from_tensor_and_grey_array(tmp_path, predictions):
    images, true, pred, _ = predictions
    assert_png(plot_prediction_grid(images, true, pred, CLASSES, tmp_path / "rgb.png"))
    grey = images[:, :1].numpy()
    assert_png(plot_prediction_grid(grey, true, pred, CLASSES, tmp_path / "grey.png", ncols=4))


def test_prediction_grid_rejects_float_images(tmp_path, predictions):
    images, true, pred, _ = predictions
    with pytest.raises(ValueError, match="uint8"):
        plot_prediction_grid(images.float() / 255, true, pred, CLASSES, tmp_path / "g.png")


def test_worst_mistakes_writes_a_png(tmp_path, predictions):
    images, true, pred, confidence = predictions
    out = plot_worst_mistakes(images, true, pred, confidence, CLASSES, tmp_path / "w.png", k=3)
    assert_png(out)


def test_worst_mistakes_without_mistakes_says_so(tmp_path, predictions):
    images, true, _, confidence = predictions
    out = plot_worst_mistakes(images, true, true, confidence, CLASSES, tmp_path / "none.png")
    assert_png(out, min_side=100)


def test_worst_mistake_indices_picks_the_most_confident_wrong_ones():
    true = [0, 1, 2, 3, 4, 5]
    pred = [0, 2, 2, 0, 1, 5]  # wrong at 1, 3, 4
    confidence = [0.99, 0.6, 0.98, 0.9, 0.7, 0.97]  # the right ones are the most confident
    assert worst_mistake_indices(true, pred, confidence, k=2) == [3, 4]
    assert worst_mistake_indices(true, pred, confidence, k=10) == [3, 4, 1]
    assert worst_mistake_indices(true, true, confidence, k=5) == []


def test_worst_mistake_indices_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="one entry per image"):
        worst_mistake_indices([0, 1], [1, 0], [0.5], k=1)
