"""A detection run exported to ONNX finds the same objects as PyTorch: after decoding and NMS,
ONNX Runtime's boxes, labels and scores equal the eager model's on generated scenes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dllab.config import load_recipe
from dllab.data.scenes import ObjectPool, SceneSpec, render_scene
from dllab.deploy.export import export_onnx
from dllab.experiment import load_trained, run_recipe

from .test_detection import write_scene_folder

pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")

BOX_ATOL = 1e-2  # pixels, in a frame of ~100 px: ORT and eager differ by ~1e-5 in the raw head
SCORE_ATOL = 1e-4
CONF = 0.05  # low, as the tracker uses it, so that there are boxes to compare after 40 steps


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-step yolo-n run on 64 px digit scenes (a YOLO folder), enough to score objects."""
    root = tmp_path_factory.mktemp("det")
    write_scene_folder(root / "data", max_objects=3, train=16)
    recipe = load_recipe(
        "detection-scenes",
        [
            "data.name=yolo",
            f"data.path={root / 'data'}",
            "data.image_size=64",
            "data.batch_size=8",
            "data.eval_batch_size=8",
            "train.max_steps=40",
            "train.max_time=null",
            "schedule.follow_time=false",
            "train.threads=1",
            "optim.lr=0.005",
        ],
    )
    return run_recipe(recipe, run_dir=root / "run", echo=lambda _: None, progress=False)


def test_onnx_boxes_after_nms_match_pytorch_on_generated_scenes(run_dir: Path) -> None:
    from dllab.vision.video import onnx_detector, torch_detector

    res = export_onnx(run_dir)
    assert res.ok, (res.max_abs_diff, res.exporter)  # raw head within 1e-4 (export.TOLERANCE)
    assert res.inputs == [{"name": "images", "dtype": "float32", "shape": ["batch", 3, 64, 64]}]
    model, meta = load_trained(run_dir)
    eager = torch_detector(model, meta, conf=CONF)
    runtime = onnx_detector(res.path, meta, conf=CONF)
    pool = ObjectPool.from_digits()
    # Frames of another size than the model's input: both paths resize and scale boxes back.
    spec = SceneSpec(image_size=96, max_objects=4, min_size=20, max_size=56)
    found = 0
    for i in range(6):
        frame = render_scene(pool, spec, seed=7, index=i).image
        (b1, s1, l1), (b2, s2, l2) = eager(frame), runtime(frame)
        assert len(b1) == len(b2), f"scene {i}: {len(b1)} boxes in PyTorch, {len(b2)} in ORT"
        np.testing.assert_array_equal(l1, l2)
        np.testing.assert_allclose(b2, b1, rtol=0, atol=BOX_ATOL)
        np.testing.assert_allclose(s2, s1, rtol=0, atol=SCORE_ATOL)
        found += len(b1)
    assert found > 0  # otherwise the comparison above proved nothing
