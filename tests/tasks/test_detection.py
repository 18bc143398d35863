"""The detection task on the Trainer: a user's YOLO folder trains, evaluates with COCO mAP
through torchmetrics, draws its report pictures and predicts images and videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dllab.config import load_recipe
from dllab.data.detection_formats import write_yolo
from dllab.data.scenes import ObjectPool, SceneSpec, render_clip, render_scene
from dllab.errors import ConfigError, InputError
from dllab.tasks import create_task
from dllab.tasks.detection import DetectionMAP, DetectionTask
from dllab.train.trainer import Trainer

CLASSES = [f"digit {i}" for i in range(10)]


def _box(*xyxy: float) -> torch.Tensor:
    return torch.tensor([xyxy], dtype=torch.float32)


def test_map_matches_the_coco_definition_on_a_hand_case() -> None:
    metric = DetectionMAP()
    # Image 1: two objects of class 0, one found exactly: AP = 51/101 at every threshold
    # (precision 1 up to recall 0.5 on COCO's 101 recall points, then nothing).
    metric.update(
        [{"boxes": _box(0, 0, 10, 10), "scores": torch.tensor([0.9]), "labels": torch.tensor([0])}],
        [
            {
                "boxes": torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]),
                "labels": torch.tensor([0, 0]),
            }
        ],
    )
    got = metric.compute()
    assert got["map"].item() == pytest.approx(51 / 101, abs=1e-4)
    assert got["map_50"].item() == pytest.approx(51 / 101, abs=1e-4)
    metric.reset()
    # One object found with IoU 0.62: a hit at thresholds 0.50, 0.55, 0.60 only -> 3/10.
    metric.update(
        [
            {
                "boxes": _box(0, 0, 10, 6.2),
                "scores": torch.tensor([0.8]),
                "labels": torch.tensor([1]),
            }
        ],
        [{"boxes": _box(0, 0, 10, 10), "labels": torch.tensor([1])}],
    )
    got = metric.compute()
    assert got["map_50"].item() == pytest.approx(1.0)
    assert got["map"].item() == pytest.approx(0.3, abs=1e-4)
    assert set(got) == {"map", "map_50", "map_75", "mar_100"}


@pytest.fixture(scope="module")
def yolo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scene_folder(tmp_path_factory.mktemp("yolo"), max_objects=2, train=8)


def write_scene_folder(root: Path, *, max_objects: int, train: int) -> Path:
    """A YOLO folder of 64 px digit scenes: `train` images, 4 for val and 4 for test."""
    pool = ObjectPool.from_digits()
    spec = SceneSpec(image_size=64, max_objects=max_objects, min_size=16, max_size=40, clutter=0)
    for split, n in (("train", train), ("val", 4), ("test", 4)):
        scenes = [render_scene(pool, spec, seed=len(split), index=i) for i in range(n)]
        write_yolo(
            root,
            split,
            [s.image for s in scenes],
            [s.boxes for s in scenes],
            [s.labels for s in scenes],
            CLASSES,
        )
    return root


def _task(root: Path, model: str = "yolo-n") -> DetectionTask:
    recipe = load_recipe(
        "detection-scenes",
        [
            "data.name=yolo",
            f"data.path={root}",
            "data.image_size=64",
            "data.batch_size=4",
            "data.eval_batch_size=4",
            f"model.name={model}",
        ],
    )
    task = create_task("detection", recipe=recipe)
    task.setup()
    return task


@pytest.mark.parametrize("model", ["yolo-n", "fcos-ref"])
def test_yolo_folder_trains_tests_and_draws(yolo_folder: Path, tmp_path: Path, model: str) -> None:
    task = _task(yolo_folder, model)
    assert task.classes == CLASSES
    assert task.images_["train"].shape == (8, 3, 64, 64)
    net = task.build_model()
    trainer = Trainer(max_steps=3)
    trainer.fit(task, net, torch.optim.AdamW(net.parameters(), 1e-3))
    metrics, outputs = trainer.test(task.test_batches())
    assert {"test/map", "test/map_50", "test/loss"} <= set(metrics)
    assert 0.0 <= metrics["test/map"] <= 1.0
    paths = task.visualize(net, tmp_path, outputs)
    names = {p.name for p in paths}
    assert names == {"pr_curve.png", "per_class.csv", "predictions.png", "misses.png"}
    assert all(p.stat().st_size > 0 for p in paths)
    rows = (tmp_path / "per_class.csv").read_text().splitlines()
    assert rows[0] == "class,ap_50_95,objects" and len(rows) == 1 + len(CLASSES)


def test_metadata_rebuilds_the_model_and_predicts_files(
    yolo_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    task = _task(yolo_folder)
    net = task.build_model().eval()
    meta = task.model_metadata()
    rebuilt = DetectionTask.model_from_metadata(meta)
    rebuilt.load_state_dict(net.state_dict())
    image = tmp_path / "scene.png"
    Image.fromarray(np.full((50, 80, 3), 128, np.uint8)).save(image)
    (pred,) = DetectionTask.predict_with(rebuilt, {**meta, "conf": 0.0}, [str(image)])
    assert pred.source == str(image) and pred.text
    assert len(pred.labels) == len(pred.scores) > 0
    clip = render_clip(ObjectPool.from_digits(), SceneSpec(image_size=64), frames=5, seed=1)
    video = clip.write(tmp_path / "clip.mp4")
    monkeypatch.chdir(tmp_path)
    (pred,) = DetectionTask.predict_with(rebuilt, meta, [str(video)])
    out = tmp_path / "clip.tracked.mp4"
    assert "5 frames" in pred.text and out.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.glob("*.mp4")) == ["clip.mp4", "clip.tracked.mp4"]
    made = out.read_bytes()  # a second predict never replaces it (and leaves no .part file)
    with pytest.raises(InputError, match="clip.tracked.mp4 already exists"):
        DetectionTask.predict_with(rebuilt, meta, [str(video)])
    assert out.read_bytes() == made and not list(tmp_path.glob(".*part*"))


def test_example_input_feeds_the_model(yolo_folder: Path) -> None:
    task = _task(yolo_folder)
    net = task.build_model().eval()
    ex = DetectionTask.example_input(task.model_metadata(), net)
    assert net(*ex.inputs).shape[0] == 2 and net(*ex.probe).shape[0] == 3


def test_unknown_data_source_is_a_config_error() -> None:
    recipe = load_recipe("detection-scenes", ["data.name=cifar10"])
    with pytest.raises(ConfigError, match="'scenes', 'yolo' or 'coco'"):
        create_task("detection", recipe=recipe).setup()
