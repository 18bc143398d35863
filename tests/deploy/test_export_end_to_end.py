"""An exported image classifier or detector gives the same answers as PyTorch on the run's test
images (labels; boxes, labels and scores after NMS), recorded in model.json; a difference fails
the export and leaves nothing in place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from dllab.config import Recipe, load_recipe, recipe_to_yaml
from dllab.data.detection_formats import write_yolo
from dllab.data.scenes import ObjectPool, SceneSpec, render_scene
from dllab.deploy import export_images
from dllab.deploy.export import export_onnx
from dllab.deploy.export_images import (
    BOX_TOLERANCE,
    NEAR_TIE,
    SCORE_TOLERANCE,
    compare_detections,
    compare_labels,
    run_images,
)
from dllab.errors import InputError
from dllab.experiment import build_task, load_trained, task_class
from dllab.train.checkpoint import save_checkpoint

pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")


def untrained_run(recipe: Recipe, run: Path, jitter: float = 0.0) -> Path:
    """A run folder as training writes it (config.yaml, best checkpoint with the task's
    metadata) around a freshly initialised model, each weight moved by seeded noise of scale
    `jitter`: what export reads, without the training."""
    torch.manual_seed(0)
    task = build_task(recipe)
    task.setup()
    meta = task.model_metadata()
    model = task_class(meta).model_from_metadata(meta)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * jitter)
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(recipe_to_yaml(recipe))
    save_checkpoint(
        run / "checkpoints/best.safetensors",
        {"model": model.state_dict(), "meta": meta, "metrics": {}, "step": 0},
    )
    return run


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """quickstart's CNN on scikit-learn's 8x8 digits (359 test images), untrained."""
    return untrained_run(load_recipe("quickstart"), tmp_path_factory.mktemp("e2e-cls") / "run")


@pytest.fixture(scope="module")
def scenes_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """yolo-n on 64 px digit scenes (a YOLO folder), untrained; `show_conf` 0.03 so that it
    still reports boxes to compare (~10 an image)."""
    root = tmp_path_factory.mktemp("e2e-det")
    pool = ObjectPool.from_digits()
    spec = SceneSpec(image_size=64, max_objects=3, min_size=16, max_size=40, clutter=0)
    for split, n in (("train", 4), ("val", 2), ("test", 6)):
        scenes = [render_scene(pool, spec, seed=len(split), index=i) for i in range(n)]
        write_yolo(
            root / "data",
            split,
            [s.image for s in scenes],
            [s.boxes for s in scenes],
            [s.labels for s in scenes],
            [f"digit {i}" for i in range(10)],
        )
    overrides = [
        "data.name=yolo",
        f"data.path={root / 'data'}",
        "data.image_size=64",
        "data.batch_size=4",
        "data.eval_batch_size=8",
        "task.show_conf=0.03",
    ]
    # A fresh head scores every class alike, and a box for each: jitter tells them apart.
    return untrained_run(load_recipe("detection-scenes", overrides), root / "run", jitter=0.05)


# ---------------------------------------------------------------- classification
def test_classifier_export_gives_pytorchs_labels_on_100_test_images(digits_run: Path) -> None:
    res = export_onnx(digits_run)
    e2e = res.end_to_end
    assert e2e["items"] == 100 and e2e["images"] == {"test": 100}
    assert e2e["same_labels"] + e2e["flipped_near_ties"] >= 100
    assert e2e["max_abs_diff"] <= 1e-4
    described = json.loads((res.path.parent / "model.json").read_text())
    assert described["onnx"]["end_to_end"] == e2e
    # serve/backends.py reads the graph's inputs from there: the layout is unchanged
    assert described["onnx"]["inputs"][0]["name"] == "input"


class _WrongLabels:
    """An onnxruntime session whose logits are rolled by one class: every label is wrong."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def get_inputs(self) -> Any:
        return self.session.get_inputs()

    def run(self, names: Any, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [np.roll(self.session.run(names, feed)[0], 1, axis=1)]


def test_classifier_whose_runtime_labels_differ_fails_and_writes_nothing(
    digits_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = export_images.ort_session
    monkeypatch.setattr(export_images, "ort_session", lambda p: _WrongLabels(real(p)))
    out = tmp_path / "out" / "model.onnx"
    with pytest.raises(InputError, match="different labels on .* of 100 test images"):
        export_onnx(digits_run, out)
    assert sorted(p.name for p in out.parent.iterdir()) == []


def test_labels_may_flip_only_where_the_top_two_logits_nearly_tie() -> None:
    expected = np.array([[1.0, 1.0 + NEAR_TIE / 2, 0.0], [3.0, 0.0, 0.0]], np.float32)
    flipped = expected[:, [1, 0, 2]]  # the first image's near tie flips
    report = compare_labels(expected, np.stack([flipped[0], expected[1]]))
    assert report["near_ties"] == 1 and report["flipped_near_ties"] == 1
    assert report["same_labels"] == 1
    with pytest.raises(InputError, match="1 of 2 test images"):
        compare_labels(expected, np.stack([expected[0], flipped[1] + [0, 4, 0]]))


def test_images_of_a_run_whose_data_is_gone_are_seeded_noise(tmp_path: Path) -> None:
    images, counts = run_images(tmp_path / "no-such-run", channels=3, size=8, n=5)
    assert counts == {"noise": 5} and images.shape == (5, 3, 8, 8)
    assert images.dtype.is_floating_point is False


# ---------------------------------------------------------------- detection
def test_detector_export_finds_pytorchs_boxes_after_nms(scenes_run: Path) -> None:
    res = export_onnx(scenes_run)
    e2e = res.end_to_end
    assert e2e["images"] == {"test": 6, "val": 2, "train": 4} and e2e["items"] == 12
    assert e2e["boxes"] > 0, "no boxes compared: the check proved nothing"
    assert e2e["conf"] == 0.03  # predict's threshold, below the video's 0.1
    assert e2e["max_box_diff_px"] <= BOX_TOLERANCE and e2e["max_score_diff"] <= SCORE_TOLERANCE
    described = json.loads((res.path.parent / "model.json").read_text())
    assert described["onnx"]["end_to_end"] == e2e
    assert described["onnx"]["inputs"][0]["name"] == "images"


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda b, s, lab: (b, s, (lab + 1) % 10), "disagree on an object"),
        (lambda b, s, lab: (b, s + 0.01, lab), "scores 1.0e-02 apart"),
        (lambda b, s, lab: (b + 0.05, s, lab), "no onnxruntime box within"),
        (lambda b, s, lab: (b[1:], s[1:], lab[1:]), "different objects|disagree on an object"),
    ],
)
def test_detector_whose_runtime_boxes_differ_fails(
    scenes_run: Path, monkeypatch: pytest.MonkeyPatch, corrupt: Any, message: str
) -> None:
    import dllab.vision.video as video

    path = scenes_run / "export" / "model.onnx"
    if not path.exists():
        export_onnx(scenes_run)
    real = video.onnx_detector

    def wrong(onnx_path: Any, meta: dict[str, Any], conf: float) -> Any:
        detect = real(onnx_path, meta, conf)
        return lambda frame: corrupt(*detect(frame))

    monkeypatch.setattr(video, "onnx_detector", wrong)
    model, meta = load_trained(scenes_run)
    with pytest.raises(InputError, match=message):
        export_images.end_to_end(path, model, meta, scenes_run)


def test_a_box_at_the_threshold_kept_by_one_engine_is_counted_not_failed() -> None:
    box = np.array([[1.0, 2.0, 10.0, 12.0]])
    kept = (box, np.array([0.1 + SCORE_TOLERANCE / 2]), np.array([3]))
    dropped = (box[:0], np.array([]), np.array([], int))
    report = compare_detections([kept], [dropped], conf=0.1)
    assert report["near_threshold"] == 1 and report["boxes"] == 0
    with pytest.raises(InputError, match="PyTorch's class 3 box .* has no onnxruntime box"):
        compare_detections([(box, np.array([0.5]), np.array([3]))], [dropped], conf=0.1)
    with pytest.raises(InputError, match="onnxruntime's class 3 box .* has no PyTorch box"):
        compare_detections([dropped], [(box, np.array([0.5]), np.array([3]))], conf=0.1)
