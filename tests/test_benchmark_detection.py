"""benchmarks/detection.py: a seconds-long run on a tiny YOLO folder of digit scenes trains
ours and the FCOS reference one after the other and writes one csv and md row each, with the
runs' own test mAP; without --ultralytics-venv there is no YOLO11n row (and no ultralytics)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from dllab.data.detection_formats import write_yolo
from dllab.data.scenes import ObjectPool, SceneSpec, render_scene

CLASSES = [f"digit {i}" for i in range(10)]


def digit_folder(root: Path) -> Path:
    """64 px digit scenes in YOLO layout: 8 train, 4 val, 4 test images."""
    pool = ObjectPool.from_digits()
    spec = SceneSpec(image_size=64, max_objects=2, min_size=16, max_size=40, clutter=0)
    for split, n in (("train", 8), ("val", 4), ("test", 4)):
        scenes = [render_scene(pool, spec, seed=len(split), index=i) for i in range(n)]
        images, boxes = [s.image for s in scenes], [s.boxes for s in scenes]
        write_yolo(root, split, images, boxes, [s.labels for s in scenes], CLASSES)
    return root


def test_seconds_run_writes_a_row_per_model_and_no_yolo11n_without_its_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, benchmark_script
) -> None:
    folder, out = digit_folder(tmp_path / "scenes"), tmp_path / "out"
    argv = [
        "benchmarks/detection.py",
        "--seconds",
        "1",
        "--threads",
        "1",
        "--repeats",
        "2",
        "--no-onnx",
    ]
    tiny = [f"data.path={folder}", "data.image_size=64", "data.batch_size=4"]
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(out), "data.name=yolo", *tiny])
    benchmark_script("detection").main()
    with (out / "detection.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["role"]) for r in rows] == [
        ("yolo-n", "ours"),
        ("fcos-ref", "reference (torchvision FCOS)"),
    ]
    for r in rows:
        assert r["budget_s"] == "1.0" and r["image_size"] == "64"
        assert 0.0 <= float(r["test_map"]) <= float(r["test_map_50"]) <= 1.0
        assert float(r["params_m"]) > 0.5 and float(r["gflops_320"]) > 0.5
        assert float(r["eager_ms"]) > 0 and r["onnx_ms"] == ""  # --no-onnx: export is slow
    md = (out / "detection.md").read_text(encoding="utf-8")
    for r in rows:  # the table shows the csv's numbers, not others
        assert f"| {r['model']} | {r['role']} |" in md
        assert f"| {r['test_map']} | {r['test_map_50']} |" in md
    assert "yolo11n (ultralytics)" not in md and "ultralytics" not in sys.modules


def test_yolo_scenes_export_as_the_tasks_own_images(tmp_path: Path, benchmark_script) -> None:
    """The YOLO11n row trains and is scored on exactly the images and boxes our rows see."""
    bench = benchmark_script("detection")
    folder = digit_folder(tmp_path / "scenes")
    args = type("Args", (), {"budget": 1.0, "threads": 1, "overrides": []})()
    args.overrides = ["data.name=yolo", f"data.path={folder}", "data.image_size=64"]
    data, tests, task = bench.export_scenes(args, tmp_path / "yolo")
    assert len(tests) == 4
    spec = __import__("yaml").safe_load(data.read_text())
    assert spec["names"] == dict(enumerate(CLASSES)) and spec["test"] == "images/test"
    first = (tmp_path / "yolo" / "labels" / "test" / "000000.txt").read_text().split("\n")[0]
    label, cx, cy, w, h = (float(v) for v in first.split())
    box = task.targets_["test"][0]["boxes"][0].tolist()
    assert int(label) == int(task.targets_["test"][0]["labels"][0])
    assert cx == pytest.approx((box[0] + box[2]) / 2 / 64, abs=1e-4)
    assert w == pytest.approx((box[2] - box[0]) / 64, abs=1e-4)
