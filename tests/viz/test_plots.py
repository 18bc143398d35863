"""Each report figure is a real PNG written atomically, and each picks the right data."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from dllab.viz import (
    curves,
    plot_confusion,
    plot_curves,
    plot_prediction_grid,
    plot_worst_mistakes,
    worst_mistake_indices,
)
from dllab.viz.curves import collect_series, group_metrics

CLASSES = [f"class{i}" for i in range(10)]
SCORES = ("precision", "recall", "f1")
NER_NAMES = ["loss", "lr", *SCORES, *(f"{s}_{t}" for t in ("LOC", "ORG", "PER") for s in SCORES)]


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


def ner_records() -> list[dict]:
    """metrics.jsonl of an NER run: train loss and lr, then val loss and 12 entity scores."""
    rows = []
    for epoch in range(1, 4):
        rows.append({"step": epoch * 10 - 5, "epoch": epoch - 0.5, "train/loss": 2 / epoch})
        rows[-1]["lr"] = 0.01 / epoch
        val = {f"val/{name}": 0.5 + 0.1 * epoch for name in NER_NAMES if name != "lr"}
        rows.append({"step": epoch * 10, "epoch": float(epoch), **val, "val/loss": 3 / epoch})
    return rows


def test_curves_put_ner_per_type_scores_of_one_family_in_one_panel():
    fractions = set(NER_NAMES) - {"loss", "lr"}
    panels = group_metrics(NER_NAMES, fractions)
    assert len(panels) <= 6
    assert [p.title for p in panels][:2] == ["loss", "precision / recall / f1"]
    assert panels[1].metrics == SCORES
    assert panels[2].metrics == ("f1", "f1_LOC", "f1_ORG", "f1_PER")  # f1 first, overall drawn
    assert panels[2].family == "f1"
    assert panels[-1].metrics == ("lr",)
    drawn = [m for p in panels for m in p.metrics]
    assert set(drawn) == set(NER_NAMES)


@pytest.mark.parametrize(
    ("names", "fractions", "expected"),
    [
        (
            ["loss", "lr", "accuracy", "f1"],
            {"accuracy", "f1"},
            [("loss",), ("accuracy", "f1"), ("lr",)],
        ),
        (["loss", "bleu", "chrf"], set(), [("loss",), ("bleu",), ("chrf",)]),  # 0-100 scales
        (
            ["loss", "accuracy", "perplexity"],
            {"accuracy"},
            [("loss",), ("accuracy",), ("perplexity",)],
        ),
        (
            ["loss", "perplexity", "nll", "perplexity_unigram"],
            set(),
            [("loss",), ("perplexity", "perplexity_unigram"), ("nll",)],
        ),
        (
            ["loss", "mae", "rmse", "mae_arima", "rmse_arima", "skill"],
            {"skill"},
            [("loss",), ("skill",), ("mae", "mae_arima"), ("rmse", "rmse_arima")],
        ),
    ],
    ids=["classification", "translation", "masked_lm", "language_model", "timeseries"],
)
def test_curves_group_each_tasks_metrics(names, fractions, expected):
    assert [p.metrics for p in group_metrics(names, fractions)] == expected


def test_curves_keep_loss_first_lr_last_and_at_most_six_panels():
    names = ["lr", *(f"metric{i}" for i in range(9)), "loss"]
    panels = group_metrics(names)
    assert len(panels) == 6
    assert panels[0].metrics == ("loss",)
    assert panels[-1].title == "learning rate"
    assert [p.metrics[0] for p in panels[1:-1]] == ["metric0", "metric1", "metric2", "metric3"]


def test_curves_for_ner_write_a_png_whose_title_clears_every_panel(tmp_path, monkeypatch):
    figures = []

    def save_and_keep(fig, path):
        figures.append(fig)
        return save_figure(fig, path)

    save_figure = curves.save_figure
    monkeypatch.setattr(curves, "save_figure", save_and_keep)
    out = plot_curves(ner_records(), tmp_path / "curves.png", title="ner: training curves")
    assert_png(out)
    (fig,) = figures
    assert len(fig.axes) == 6
    renderer = FigureCanvasAgg(fig).get_renderer()  # the figure is closed: a canvas of its own
    title_bottom = fig._suptitle.get_window_extent(renderer).y0
    assert all(ax.get_tightbbox(renderer).y1 + 5 < title_bottom for ax in fig.axes)  # pixels


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
