"""An exported text classifier, forecaster or segmenter gives the same answers as PyTorch on the
run's test items (labels of reviews; forecasts within 1e-4 of the series' std; the class of
every pixel but near ties, and the mIoU), recorded in model.json; a graph that computes
something else fails the export in one line and leaves nothing in place."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from dllab.config import load_recipe
from dllab.deploy import export, export_segmentation, export_text, export_timeseries
from dllab.deploy.export import export_onnx
from dllab.deploy.export_images import NEAR_TIE
from dllab.deploy.export_segmentation import MIOU_TOLERANCE, PixelComparison
from dllab.deploy.export_timeseries import FORECAST_TOLERANCE, compare_forecasts
from dllab.errors import InputError
from tests.deploy.test_export_end_to_end import untrained_run
from tests.segmentation.test_segmentation_task import TINY as SEGMENTATION_TINY

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def reviews_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sentiment-zh's BiLSTM with attention, 8 wide, over characters; untrained (its reviews
    split: 1,736 test texts)."""
    recipe = load_recipe(
        "sentiment-zh",
        ["model.kwargs.embed_dim=8", "model.kwargs.hidden_size=8", "task.max_len=64"],
    )
    return untrained_run(recipe, tmp_path_factory.mktemp("e2e-text") / "run", jitter=0.1)


@pytest.fixture(scope="module")
def sunspots_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sunspots-lstm (33 years in, 11 out), untrained: 52 test windows."""
    recipe = load_recipe("sunspots-lstm")
    return untrained_run(recipe, tmp_path_factory.mktemp("e2e-series") / "run", jitter=0.1)


@pytest.fixture(scope="module")
def streets_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-wide U-Net on six 32x64 driving scenes, untrained."""
    recipe = load_recipe("segmentation-unet", [*SEGMENTATION_TINY, "task.test_images=6"])
    return untrained_run(recipe, tmp_path_factory.mktemp("e2e-seg") / "run", jitter=0.1)


@pytest.fixture(scope="module")
def volumes_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small MONAI U-Net on two 24^3 synthetic test volumes (16^3 windows), untrained;
    tests/medical's TINY sizes, copied: importing that module skips without monai."""
    pytest.importorskip("monai")
    tiny = [
        "data.image_size=24",
        "task.roi_size=16",
        "task.train_volumes=1",
        "task.val_volumes=1",
        "task.test_volumes=2",
        "task.objects=4",
        "model.name=monai-unet3d-s",
        "model.kwargs.channels=[8, 16, 32, 64]",
        "train.threads=1",
    ]
    recipe = load_recipe("medical-3d", tiny)
    return untrained_run(recipe, tmp_path_factory.mktemp("e2e-med") / "run", jitter=0.1)


@pytest.fixture
def tracer_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The TorchScript tracer before torch.export, for time only (as tests/medical does):
    torch.export of our U-Net takes ~8 s here, of MONAI's ~20 s; both match PyTorch."""
    order = {k: export.EXPORTERS[k] for k in ("torchscript", "torch.export")}
    monkeypatch.setattr(export, "EXPORTERS", order)


def perturbed_session(path: Any) -> Any:
    """An onnxruntime session over the graph at `path` with every float weight scaled by
    seeded log-normal noise (about +-30 %, signs kept): a graph that computes something else."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    rng = np.random.default_rng(0)
    for init in proto.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype == np.float32 and w.size > 1:
            noisy = w * np.exp(0.3 * rng.standard_normal(w.shape)).astype(np.float32)
            init.CopyFrom(numpy_helper.from_array(noisy, init.name))
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def assert_fails_and_writes_nothing(run: Path, out: Path, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        export_onnx(run, out)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in out.parent.iterdir()) == []


def model_json(res: export.ExportResult) -> dict[str, Any]:
    return json.loads((res.path.parent / "model.json").read_text())


# ---------------------------------------------------------------- sentiment
def test_sentiment_export_gives_pytorchs_labels_on_100_test_reviews(reviews_run: Path) -> None:
    res = export_onnx(reviews_run)
    e2e = res.end_to_end
    assert e2e["items"] == 100 and e2e["texts"] == {"test": 100}
    # the engines agree to ~1e-7 here, far inside any top-2 gap: not one label may flip
    assert e2e["same_labels"] == 100 and e2e["flipped_near_ties"] == 0
    assert 0 < e2e["max_abs_diff"] <= 1e-4  # real logits compared, within the graph's parity
    assert model_json(res)["onnx"]["end_to_end"] == e2e


def test_sentiment_export_whose_graph_computes_otherwise_fails_and_writes_nothing(
    reviews_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_text, "ort_session", perturbed_session)
    out = tmp_path / "out" / "model.onnx"
    assert_fails_and_writes_nothing(reviews_run, out, "different labels on .* of 100 test")


class _FrozenSequence:
    """A session that states a sequence axis fixed at 64 tokens (as a graph exported at
    `max_len` does) and refuses other lengths, over a graph that takes any."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def get_inputs(self) -> Any:
        tokens, lengths = self.session.get_inputs()
        return [SimpleNamespace(name=tokens.name, shape=["batch", 64]), lengths]

    def run(self, names: Any, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        assert feed["tokens"].shape[1] == 64, feed["tokens"].shape
        return self.session.run(names, feed)


def test_a_graph_whose_sequence_axis_is_frozen_gets_texts_padded_to_it(
    reviews_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = export_text.ort_session
    monkeypatch.setattr(export_text, "ort_session", lambda p: _FrozenSequence(real(p)))
    res = export_onnx(reviews_run)
    assert res.end_to_end["items"] == 100 and res.end_to_end["same_labels"] == 100


def test_texts_of_a_run_whose_reviews_are_gone_are_seeded_noise(tmp_path: Path) -> None:
    meta = {"vocab": ["<pad>", "<unk>", "a", "b"], "max_len": 6, "model_kwargs": {"pad_idx": 0}}
    ids, lengths, counts = export_text.run_texts(tmp_path / "no-such-run", meta, n=5)
    assert counts == {"noise": 5} and ids.shape[0] == 5 and int(lengths.min()) >= 1
    assert int(lengths.max()) <= 6 and int(ids.max()) < 4
    assert (ids[torch.arange(ids.shape[1]) >= lengths[:, None]] == 0).all()  # padded with 0


# ---------------------------------------------------------------- forecasting
def test_forecaster_export_gives_pytorchs_forecasts_on_every_test_window(
    sunspots_run: Path,
) -> None:
    res = export_onnx(sunspots_run)
    e2e = res.end_to_end
    assert e2e["windows"] == {"test": 52} and e2e["items"] == 52  # 1947-2008, 11 ahead
    meta = model_json(res)
    assert e2e["tolerance"] == pytest.approx(FORECAST_TOLERANCE * meta["std"])
    assert 0 < e2e["max_abs_diff"] <= e2e["tolerance"]
    assert meta["onnx"]["end_to_end"] == e2e


def test_forecaster_export_whose_graph_computes_otherwise_fails_and_writes_nothing(
    sunspots_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_timeseries, "ort_session", perturbed_session)
    out = tmp_path / "out" / "model.onnx"
    assert_fails_and_writes_nothing(sunspots_run, out, "different forecasts on .* of 52 test")


def test_forecast_tolerance_scales_with_the_series_std() -> None:
    expected = np.array([[10.0, 20.0], [30.0, 40.0]])
    std = 50.0
    close = expected + [[0.0, 0.9 * FORECAST_TOLERANCE * std], [0.0, 0.0]]
    assert compare_forecasts(expected, close, std)["max_abs_diff"] == pytest.approx(0.0045)
    far = expected + [[0.0, 0.0], [1.1 * FORECAST_TOLERANCE * std, 0.0]]
    with pytest.raises(InputError, match=r"1 of 4 values .* \(window 1, step t\+1: "):
        compare_forecasts(expected, far, std)
    with pytest.raises(InputError, match="different forecasts"):  # a NaN is never close
        compare_forecasts(expected, expected + [[np.nan, 0.0], [0.0, 0.0]], std)


def test_windows_of_a_run_whose_series_is_gone_are_seeded_noise(tmp_path: Path) -> None:
    meta = {"context": 4, "horizon": 2, "mean": 100.0, "std": 5.0, "series": "sunspots"}
    x, counts = export_timeseries.run_windows(tmp_path / "no-such-run", meta, n=3)
    assert counts == {"noise": 3} and x.shape == (3, 4)
    assert abs(float(x.mean()) - 100.0) < 15.0


# ---------------------------------------------------------------- segmentation
def test_segmenter_export_gives_pytorchs_class_for_every_pixel(
    streets_run: Path, tracer_first: None
) -> None:
    res = export_onnx(streets_run)
    e2e = res.end_to_end
    assert e2e["images"] == {"test": 6} and e2e["items"] == 6
    assert e2e["pixels"] == 6 * 32 * 64
    assert e2e["same_classes"] == e2e["pixels"] and e2e["flipped_near_ties"] == 0
    assert 0 < e2e["max_abs_diff"] <= 1e-4
    assert abs(e2e["miou_onnxruntime"] - e2e["miou_pytorch"]) <= MIOU_TOLERANCE
    assert model_json(res)["onnx"]["end_to_end"] == e2e


def test_segmenter_export_whose_graph_computes_otherwise_fails_and_writes_nothing(
    streets_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tracer_first: None
) -> None:
    monkeypatch.setattr(export_segmentation, "ort_session", perturbed_session)
    out = tmp_path / "out" / "model.onnx"
    assert_fails_and_writes_nothing(streets_run, out, "different classes to .* pixels in test")


def test_medical_export_gives_pytorchs_class_for_every_voxel_of_the_stitched_volumes(
    volumes_run: Path, tracer_first: None
) -> None:
    res = export_onnx(volumes_run)
    e2e = res.end_to_end
    assert e2e["volumes"] == {"test": 2} and e2e["items"] == 2
    assert e2e["pixels"] == 2 * 24**3  # every voxel, after MONAI's preprocessing
    assert e2e["same_classes"] == e2e["pixels"] and e2e["flipped_near_ties"] == 0
    assert 0 < e2e["max_abs_diff"] <= 1e-4
    assert abs(e2e["miou_onnxruntime"] - e2e["miou_pytorch"]) <= MIOU_TOLERANCE
    assert model_json(res)["onnx"]["end_to_end"] == e2e


def test_medical_export_whose_graph_computes_otherwise_fails_and_writes_nothing(
    volumes_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tracer_first: None
) -> None:
    monkeypatch.setattr(export_segmentation, "ort_session", perturbed_session)
    out = tmp_path / "out" / "model.onnx"
    assert_fails_and_writes_nothing(volumes_run, out, "different classes to .* voxels in test")


def _one_hot_logits(labels: np.ndarray, k: int) -> np.ndarray:
    """Logits `(1, K, 1, N)`: 1 for each pixel's class, 0 elsewhere."""
    return np.eye(k, dtype=np.float32)[labels].T[None, :, None, :]


def test_pixels_may_flip_only_at_near_ties_and_only_a_few() -> None:
    labels = np.zeros(2000, int)
    expected = _one_hot_logits(labels, 3)
    expected[0, 1, 0, 0] = 1.0 - NEAR_TIE / 2  # pixel 0: classes 0 and 1 nearly tie
    flipped = expected.copy()
    flipped[0, 1, 0, 0] = 1.0 + NEAR_TIE / 2  # ... and onnxruntime picks class 1
    comparison = PixelComparison(3)
    comparison.update(expected, flipped)
    report = comparison.report()
    assert (report["near_ties"], report["flipped_near_ties"], report["same_classes"]) == (
        1,
        1,
        1999,
    )
    assert "miou_pytorch" not in report  # no truth, no mIoU
    far = expected.copy()
    far[0, 2, 0, 5] = 2.0  # pixel 5 is class 0 by a wide margin; here it is class 2
    with pytest.raises(InputError, match=r"1 of 2000 pixels .* pixel \(0, 5\): class 2 vs 0"):
        PixelComparison(3).update(expected, far)
    ties = np.zeros_like(expected)  # every pixel a tie: any flip is allowed, but not many
    many = ties.copy()
    many[0, 1, 0, :3] = NEAR_TIE / 2  # 3 of 2000 flip: over the 1e-3 share
    comparison = PixelComparison(3)
    comparison.update(ties, many)
    with pytest.raises(InputError, match="3 of 2000 pixels .* all at near ties"):
        comparison.report()


def test_one_flip_of_a_rare_class_fails_on_the_miou() -> None:
    truth = np.zeros(2000, int)
    truth[:2] = 1  # class 1: two pixels
    expected = _one_hot_logits(truth, 2)
    expected[0, 0, 0, 0] = 1.0 - NEAR_TIE / 2  # pixel 0 is class 1 by a near tie
    got = expected.copy()
    got[0, 0, 0, 0] = 1.0 + NEAR_TIE / 2  # onnxruntime says class 0: IoU(1) 1 -> 0.5
    comparison = PixelComparison(2)
    comparison.update(expected, got, torch.from_numpy(truth).view(1, 1, -1))
    with pytest.raises(InputError, match=r"mIoU on 1 test images is 0\.74.*PyTorch's 1\.0"):
        comparison.report()
    same = PixelComparison(2)
    same.update(expected, expected.copy(), torch.from_numpy(truth).view(1, 1, -1))
    assert same.report()["miou_pytorch"] == same.report()["miou_onnxruntime"] == 1.0


def test_images_of_a_segmentation_run_whose_data_is_gone_are_seeded_noise(tmp_path: Path) -> None:
    meta = {"height": 16, "width": 24}
    images, masks, counts = export_segmentation.run_scenes(tmp_path / "no-such-run", meta, n=2)
    assert counts == {"noise": 2} and images.shape == (2, 3, 16, 24) and masks is None
    assert images.dtype == torch.uint8


def test_volumes_of_a_medical_run_whose_data_is_gone_are_seeded_noise(tmp_path: Path) -> None:
    meta = {"roi_size": 8, "in_channels": 2}
    volumes, labels, counts = export_segmentation.run_volumes(tmp_path / "no-such-run", meta)
    assert counts == {"noise": 2} and labels is None
    assert [tuple(v.shape) for v in volumes] == [(2, 12, 12, 12)] * 2  # windows overlap
