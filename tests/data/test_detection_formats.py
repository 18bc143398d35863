"""YOLO txt and COCO JSON: round trips with the scene generator, and one-line errors that
name the file and line for every kind of bad label."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dllab.data.detection_formats import read_coco, read_yolo, write_coco, write_yolo
from dllab.data.scenes import ObjectPool, SceneSpec, render_scene
from dllab.errors import InputError


@pytest.fixture(scope="module")
def scenes() -> list:
    pool = ObjectPool.from_digits()
    return [render_scene(pool, SceneSpec(image_size=96), seed=4, index=i) for i in range(5)]


@pytest.fixture
def yolo_root(tmp_path: Path, scenes: list) -> Path:
    classes = [f"digit {i}" for i in range(10)]
    return write_yolo(
        tmp_path / "yolo",
        "train",
        [s.image for s in scenes],
        [s.boxes for s in scenes],
        [s.labels for s in scenes],
        classes,
    )


def test_yolo_round_trip_keeps_boxes_and_labels(yolo_root: Path, scenes: list) -> None:
    ds = read_yolo(yolo_root, "train")
    assert ds.classes == [f"digit {i}" for i in range(10)]
    assert len(ds.images) == len(scenes)
    for item, scene in zip(ds.images, scenes, strict=True):
        assert (item.width, item.height) == (96, 96)
        np.testing.assert_allclose(item.boxes, scene.boxes, atol=1e-3)
        assert item.labels.tolist() == scene.labels.tolist()


def test_coco_round_trip_through_yolo(yolo_root: Path, scenes: list) -> None:
    ds = read_yolo(yolo_root, "train")
    back = read_coco(write_coco(yolo_root / "instances.json", ds))
    assert back.classes == ds.classes
    for a, b in zip(ds.images, back.images, strict=True):
        assert a.path.resolve() == b.path.resolve()
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
        assert a.labels.tolist() == b.labels.tolist()


def test_image_without_label_file_is_background(yolo_root: Path) -> None:
    Image.new("RGB", (40, 30)).save(yolo_root / "images" / "train" / "empty.png")
    ds = read_yolo(yolo_root, "train")
    bg = next(i for i in ds.images if i.path.stem == "empty")
    assert bg.boxes.shape == (0, 4) and (bg.width, bg.height) == (40, 30)


def _label(root: Path, text: str) -> Path:
    path = root / "labels" / "train" / "000001.txt"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("1 0.5 0.5 0.2 0.2\n3 0.95 0.5 0.2 0.2\n", 2, "outside"),
        ("1 0.5 0.5 0.0 0.2\n", 1, "zero or negative"),
        ("1 0.5 0.5 -0.1 0.2\n", 1, "zero or negative"),
        ("1 0.5 0.5 0.2 0.2\n\n12 0.5 0.5 0.2 0.2\n", 3, "unknown class id 12"),
        ("1 0.5 0.5 0.2\n", 1, "expected 'class cx cy w h'"),
    ],
)
def test_bad_yolo_line_names_file_and_line(
    yolo_root: Path, text: str, line: int, words: str
) -> None:
    path = _label(yolo_root, text)
    with pytest.raises(InputError, match=words) as err:
        read_yolo(yolo_root, "train")
    assert f"{path}:{line}:" in str(err.value)
    assert "\n" not in str(err.value)


def test_empty_label_file_is_refused(yolo_root: Path) -> None:
    path = _label(yolo_root, "\n")
    with pytest.raises(InputError, match=f"{path}: empty label file"):
        read_yolo(yolo_root, "train")


def test_label_without_image_is_refused(yolo_root: Path) -> None:
    (yolo_root / "images" / "train" / "000002.png").unlink()
    with pytest.raises(InputError, match=r"000002\.txt:1: no image"):
        read_yolo(yolo_root, "train")


def _coco(tmp_path: Path, **change: object) -> Path:
    Image.new("RGB", (50, 40)).save(tmp_path / "a.png")
    doc = {
        "images": [{"id": 7, "file_name": "a.png", "width": 50, "height": 40}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 3, "bbox": [1, 2, 10, 10]},
            {"id": 2, "image_id": 7, "category_id": 5, "bbox": [20, 5, 20, 30]},
        ],
        "categories": [{"id": 3, "name": "cat"}, {"id": 5, "name": "dog"}],
    }
    for key, value in change.items():
        section, index, field = key.split("__")
        doc[section][int(index)][field] = value
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(doc))
    return path


def test_coco_maps_category_ids_and_converts_xywh(tmp_path: Path) -> None:
    ds = read_coco(_coco(tmp_path))
    assert ds.classes == ["cat", "dog"]
    assert ds.images[0].boxes.tolist() == [[1, 2, 11, 12], [20, 5, 40, 35]]
    assert ds.images[0].labels.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"annotations__1__bbox": [45, 5, 20, 30]}, r"annotations\[1\] \(id 2\): box .* outside"),
        ({"annotations__0__bbox": [1, 2, 0, 10]}, r"annotations\[0\] \(id 1\): box has zero"),
        ({"annotations__1__category_id": 9}, r"annotations\[1\] \(id 2\): unknown category_id 9"),
        ({"images__0__file_name": "gone.png"}, r"images\[0\] \(id 7\): image .*gone.png not found"),
    ],
)
def test_bad_coco_entry_is_named(tmp_path: Path, change: dict, words: str) -> None:
    path = _coco(tmp_path, **change)
    with pytest.raises(InputError, match=words) as err:
        read_coco(path)
    assert str(path) in str(err.value)
