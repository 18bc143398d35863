"""Anomaly detection: PRO and AUROC on hand-computed cases, the threshold, and a run."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from dllab.config import load_recipe
from dllab.errors import ConfigError
from dllab.experiment import evaluate_run, predict, run_recipe
from dllab.metrics.anomaly import (
    AnomalyMetrics,
    _area_up_to,
    confusion_at,
    pro_curve,
    pro_score,
    threshold_for_recall,
)
from dllab.tasks.inspection import worst_cases

# Two 2x3 images. Image A has a defect region of 2 pixels, image B one of 1 pixel; 9 pixels
# are good. Scores, highest first: .8 (A, region) .7 (B, region) .5 .4 .35 (good) .3 (A,
# region) .25 .2 .15 .1 .05 .0 (good).
MAPS = np.array([[[0.8, 0.3, 0.5], [0.2, 0.1, 0.0]], [[0.4, 0.05, 0.15], [0.25, 0.35, 0.7]]])
MASKS = np.array([[[1, 1, 0], [0, 0, 0]], [[0, 0, 0], [0, 0, 1]]], bool)


# ---------------------------------------------------------------- PRO
def test_pro_on_a_hand_computed_case():
    """Once the threshold is below .7 (FPR still 0), region B is fully found and region A
    half: PRO = (1 + 1/2) / 2 = 0.75, and it stays 0.75 until FPR 3/9 (at .35), when the
    threshold .3 completes region A (PRO 1). Up to FPR 0.3: 0.3 * 0.75 / 0.3 = 0.75. Up to
    0.4: (1/3 * 0.75 + (0.4 - 1/3) * 1) / 0.4 = 0.791666..."""
    assert pro_score(MAPS, MASKS, max_fpr=0.3) == pytest.approx(0.75)
    assert pro_score(MAPS, MASKS, max_fpr=0.4) == pytest.approx((0.25 + 0.4 - 1 / 3) / 0.4)
    fpr, pro = pro_curve(MAPS, MASKS)
    assert fpr[:4].tolist() == [0.0, 0.0, 0.0, pytest.approx(1 / 9)]
    assert pro[:4].tolist() == [0.0, 0.25, 0.75, 0.75]


def test_pro_curve_matches_a_threshold_sweep_with_ties():
    rng = np.random.default_rng(0)
    maps = rng.integers(0, 12, (3, 9, 9)).astype(float)  # many ties
    masks = np.zeros((3, 9, 9), bool)
    masks[0, 1:3, 1:4] = masks[0, 6, 6] = masks[1, 4:8, 2] = True
    maps[masks] += 3  # defects score a little higher
    fpr, pro = pro_curve(maps, masks)
    labels = [ndimage.label(m, structure=np.ones((3, 3)))[0] for m in masks]
    regions = [(i, lab == k) for i, lab in enumerate(labels) for k in range(1, lab.max() + 1)]
    assert len(regions) == 3
    for j, t in enumerate(np.unique(maps)[::-1], start=1):
        above = maps >= t
        assert fpr[j] == pytest.approx(above[~masks].mean())
        assert pro[j] == pytest.approx(np.mean([above[i][r].mean() for i, r in regions]))
    assert len(fpr) == len(np.unique(maps)) + 1


def test_area_interpolates_at_the_limit():
    x, y = np.array([0.0, 0.2, 0.5]), np.array([0.0, 0.4, 1.0])
    # 0.2 * 0.4 / 2 + 0.1 * (0.4 + 0.6) / 2, with y(0.3) = 0.6
    assert _area_up_to(x, y, 0.3) == pytest.approx(0.09)


def test_pro_is_nan_without_a_defect_and_one_when_perfect():
    assert math.isnan(pro_score(MAPS, np.zeros_like(MASKS)))
    assert pro_score(MASKS.astype(float), MASKS) == pytest.approx(1.0)


# ---------------------------------------------------------------- AUROC, threshold
def _target(masks: np.ndarray, kinds: list[int]) -> dict[str, torch.Tensor]:
    return {"mask": torch.from_numpy(masks), "kind": torch.tensor(kinds)}


def test_metrics_rank_large_scores_and_report_per_type():
    """Distances of 20-40 must not be squashed into ties (torchmetrics reads floats outside
    [0, 1] as logits); per-type keys compare good parts with that type's parts."""
    maps = torch.full((4, 2, 3), 20.0)
    maps[1, 0, 0], maps[2, 1, 1], maps[3, 0, 2] = 40.0, 30.0, 35.0  # 3 defects, 1 good
    masks = np.zeros((4, 2, 3), bool)
    masks[1, 0, 0] = masks[2, 1, 1] = masks[3, 0, 2] = True
    metric = AnomalyMetrics(["dent", "stain"])
    metric.update(maps[:2], _target(masks[:2], [0, 1]))
    metric.update(maps[2:], _target(masks[2:], [2, 2]))
    out = {k: float(v) for k, v in metric.compute().items()}
    assert out["image_auroc"] == 1.0 and out["pixel_auroc"] == 1.0 and out["pro"] == 1.0
    assert out["image_auroc.dent"] == 1.0 and out["image_auroc.stain"] == 1.0
    maps[0, 1, 2] = 50.0  # the good part now outscores every defect
    metric.reset()
    metric.update(maps, _target(masks, [0, 1, 2, 2]))
    assert float(metric.compute()["image_auroc"]) == 0.0


def test_threshold_catches_the_stated_share_of_defects():
    scores = torch.tensor([0.1, 0.2, 0.3, 0.5, 0.6, 0.7, 0.9])
    defective = torch.tensor([0, 0, 1, 0, 1, 1, 1])
    assert threshold_for_recall(scores, defective, 0.99) == pytest.approx(0.3)  # all 4
    assert threshold_for_recall(scores, defective, 0.75) == pytest.approx(0.6)  # 3 of 4
    cm = confusion_at(scores, defective, 0.6)
    assert cm.tolist() == [[3, 0], [1, 3]]  # rows truth (good, defective), cols flagged


def test_worst_cases_show_the_hardest_defects_and_the_worst_false_alarms():
    scores = torch.tensor([0.2, 0.9, 0.4, 0.55, 0.7, 0.8])
    defective = torch.tensor([True, True, False, False, False, False])
    # half defective parts, lowest score first; half good parts, highest score first
    assert worst_cases(scores, defective, 0.5, 4).tolist() == [0, 1, 5, 4]
    assert worst_cases(scores, defective, 0.5, 3).tolist() == [0, 1, 5]
    # only two defective parts: good ones fill the rest
    assert worst_cases(scores, defective, 0.5, 6).tolist() == [0, 1, 5, 4, 3, 2]


# ---------------------------------------------------------------- the recipe, end to end
SMOKE = [
    "data.image_size=64",
    "data.batch_size=4",
    "data.eval_batch_size=8",
    "task.synthetic.train_good=6",
    "task.synthetic.test_good=6",
    "task.synthetic.test_per_defect=2",
    "task.coreset_ratio=0.25",
    "task.holdout_fraction=0.34",  # 2 of the 6 good parts set the positional statistics
    "task.worst_cases=2",
    "model.kwargs.pretrained=false",
    "train.threads=1",
]


def test_the_recipe_fits_tests_and_predicts_from_its_checkpoint(tmp_path):
    recipe = load_recipe("defects-patchcore", [*SMOKE, f"data.data_dir={tmp_path / 'data'}"])
    run = run_recipe(recipe, run_dir=tmp_path / "run", echo=lambda s: None, progress=False)
    summary = json.loads((run / "summary.json").read_text())
    test = summary["test"]
    assert {"test/image_auroc", "test/pixel_auroc", "test/pro", "test/pro.scratch"} <= set(test)
    assert summary["steps"] == 2  # 6 good parts in batches of 4: one pass, nothing else
    inspection = (run / "inspection.md").read_text()
    assert "false-alarm rate" in inspection and "ms per image" in inspection
    assert "| all defects |" in inspection  # the per-type table, with its total row
    assert (run / "worst_cases.png").stat().st_size > 0 and (run / "scores.png").exists()
    # The checkpoint alone holds the detector: eval gives the same numbers, predict a verdict.
    again = evaluate_run(run)
    assert again["test/image_auroc"] == pytest.approx(test["test/image_auroc"])
    part = next((tmp_path / "data").rglob("test/crack/000.png"))
    png = tmp_path / "part.png"
    Image.open(part).save(png)
    [p] = predict(run, [str(png)])
    assert p.labels[0] in {"good", "defective"} and math.isfinite(p.scores[0])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.max_epochs=2", "one pass over the good parts: set train.max_epochs=1"),
        ("task.category=marble", "categories brick, grass, gravel"),
        ("task.layers=[2, 9]", r"task.layers=\[2, 9\]: the backbone has stages 0..6"),
        ("task.holdout_fraction=0.1", "holds out 1 of 6 good training parts; it needs 2 to 5"),
    ],
)
def test_bad_settings_say_how_to_fix_them(tmp_path, override, message):
    recipe = load_recipe("defects-patchcore", [*SMOKE, override, f"data.data_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=message):
        run_recipe(recipe, run_dir=tmp_path / "run", echo=lambda s: None, progress=False)
