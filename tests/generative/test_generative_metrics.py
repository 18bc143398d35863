"""FID, KID and mode coverage in a classifier's features (`dllab.metrics.generative`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg
from torch import nn

from dllab.errors import ConfigError
from dllab.metrics.generative import (
    FeatureClassifier,
    fid_floor,
    load_feature_classifier,
    sample_quality,
)
from dllab.metrics.generative import _fid_kid as fid_kid

CLASSES = [f"c{k}" for k in range(10)]


def band_classifier() -> FeatureClassifier:
    """A hand-made classifier: feature k is the mean brightness of rows 2k+4..2k+6, the
    logits are the features (so an image with band k lit is class k)."""
    detect = nn.Linear(28 * 28, 10, bias=False)
    with torch.no_grad():
        detect.weight.zero_()
        for k in range(10):
            detect.weight.view(10, 28, 28)[k, 2 * k + 4 : 2 * k + 7, 4:24] = 1 / 60
    head = nn.Linear(10, 10)
    with torch.no_grad():
        head.weight.copy_(torch.eye(10))
        head.bias.zero_()
    model = nn.Sequential(nn.Flatten(), detect, head)
    return FeatureClassifier(model, classes=CLASSES, mean=[0.0], std=[1.0], image_size=28)


def bands(labels: list[int], seed: int = 0) -> torch.Tensor:
    """Float images (N, 1, 28, 28) in [0, 1], the band of each label lit, faint noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(len(labels), 1, 28, 28, generator=g) * 0.15
    for i, k in enumerate(labels):
        x[i, 0, 2 * k + 4 : 2 * k + 7, 4:24] = 0.8 + 0.2 * torch.rand(3, 20, generator=g)
    return x


def reference_fid(a: np.ndarray, b: np.ndarray) -> float:
    """Heusel et al. 2017, eq. 6, with SciPy's matrix square root (the original TTUR code)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_torchmetrics_fid_matches_the_formula_computed_with_scipy() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 8, generator=g, dtype=torch.float64)
    b = torch.randn(300, 8, generator=g, dtype=torch.float64) * 1.3 + 0.4
    fid, _, _ = fid_kid(a, b)
    assert fid == pytest.approx(reference_fid(a.numpy(), b.numpy()), rel=1e-4)
    assert fid > 1.0


def test_fid_and_kid_of_a_set_against_itself_are_about_zero() -> None:
    clf = band_classifier()
    x = bands([k % 10 for k in range(200)])
    q = sample_quality(x, x, clf)
    assert abs(q["fid"]) < 1e-6
    assert abs(q["kid_mean"]) < 0.005  # unbiased: slightly negative on identical sets
    other = bands([k % 10 for k in range(200)], seed=1)
    assert fid_floor(x, other, clf) < 0.01  # two samples of one distribution: close
    collapsed = sample_quality(bands([3] * 200), x, clf)  # one class only: far
    assert collapsed["fid"] > 0.05 and collapsed["kid_mean"] > 0.05


def test_collapse_is_named_when_one_class_takes_over_30_percent() -> None:
    clf = band_classifier()
    real = bands([k % 10 for k in range(100)])
    balanced = sample_quality(bands([k % 10 for k in range(100)], seed=2), real, clf)
    assert balanced["collapse"] is None
    assert balanced["class_histogram"] == pytest.approx({c: 0.1 for c in CLASSES})
    skewed = [7] * 35 + [k % 10 for k in range(65)]  # class 7: 35 + 6 = 41 %
    assert sample_quality(bands(skewed), real, clf)["collapse"] == "c7"
    assert sample_quality(bands([2] * 50), real, clf)["collapse"] == "c2"


def test_accuracy_of_conditional_samples_counts_the_asked_class() -> None:
    clf = band_classifier()
    asked = torch.arange(100) % 10
    drawn = asked.clone()
    drawn[:20] = (drawn[:20] + 1) % 10  # 20 samples of the wrong class
    q = sample_quality(bands(drawn.tolist()), bands(asked.tolist()), clf, labels=asked)
    assert q["accuracy"] == pytest.approx(0.8)
    assert "accuracy" not in sample_quality(bands(drawn.tolist()), bands(asked.tolist()), clf)


def test_images_of_the_wrong_shape_or_range_type_are_one_line() -> None:
    clf = band_classifier()
    with pytest.raises(ConfigError, match=r"float images \(N, 1, 28, 28\)"):
        sample_quality(torch.zeros(4, 3, 28, 28), bands([0, 1]), clf)
    with pytest.raises(ConfigError, match="float images"):
        sample_quality(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), bands([0, 1]), clf)


def test_a_dllab_classifier_run_gives_its_penultimate_features(classifier_run) -> None:
    clf = load_feature_classifier(classifier_run)
    x = bands([k % 10 for k in range(20)])
    feats, logits = clf.features_and_logits(x)
    assert feats.shape == (20, clf.num_features) and logits.shape == (20, 10)
    assert torch.equal(clf.head(feats), logits)  # the features feed the last layer
    assert clf.classes[0] == "T-shirt/top"


def test_without_a_classifier_the_error_names_the_recipe_that_makes_one(tmp_path) -> None:
    for missing in (None, tmp_path / "nowhere"):
        with pytest.raises(ConfigError, match="dllab run fashion-mnist-fast") as err:
            load_feature_classifier(missing)
        assert "\n" not in str(err.value)


def test_a_classifier_of_other_data_or_size_is_refused_in_one_line(classifier_run) -> None:
    with pytest.raises(ConfigError, match="trained on fashion-mnist at 28 px.*mnist at 28") as e:
        load_feature_classifier(classifier_run, dataset="mnist")
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="samples are fashion-mnist at 32 px"):
        load_feature_classifier(classifier_run, image_size=32)
