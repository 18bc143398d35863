"""The YOLO-style detector and the torchvision FCOS reference: shapes, the task-aligned
assignment, the loss falling until two scenes are found exactly, and decoding."""

from __future__ import annotations

import pytest
import torch

from dllab.data.scenes import ObjectPool, SceneSpec, render_scene
from dllab.models import create_model
from dllab.models.detector import decode_boxes, grid_points, task_aligned_assign
from dllab.vision.boxes import box_iou


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    pool = ObjectPool.from_digits()
    spec = SceneSpec(image_size=64, max_objects=2, max_size=40, clutter=1)
    scenes = [render_scene(pool, spec, seed=0, index=i) for i in range(2)]
    x = torch.stack([torch.from_numpy(s.image).permute(2, 0, 1) for s in scenes]).float() / 255
    targets = [
        {"boxes": torch.from_numpy(s.boxes), "labels": torch.from_numpy(s.labels)} for s in scenes
    ]
    return x, targets


@pytest.mark.parametrize(("name", "per_cell"), [("yolo-n", 4 * 16 + 10), ("fcos-ref", 10 + 5)])
def test_raw_output_has_one_row_per_grid_cell(name: str, per_cell: int) -> None:
    model = create_model(name, num_classes=10, image_size=96).eval()
    raw = model(torch.rand(2, 3, 96, 96))
    cells = 12 * 12 + 6 * 6 + 3 * 3  # strides 8, 16 and 32
    assert raw.shape == (2, cells, per_cell)


def test_grid_points_are_cell_centres_level_by_level() -> None:
    points, strides = grid_points((64, 64), (8, 16, 32))
    assert points[0].tolist() == [4.0, 4.0] and points[1].tolist() == [12.0, 4.0]
    assert points[64].tolist() == [8.0, 8.0]  # first cell of stride 16
    assert strides.tolist() == [8.0] * 64 + [16.0] * 16 + [32.0] * 4


def test_decode_takes_the_expected_distance_of_each_side() -> None:
    logits = torch.full((1, 1, 4, 4), -1e4)
    for side, bin_ in enumerate([1, 2, 3, 0]):  # one-hot distances: l=1, t=2, r=3, b=0 strides
        logits[0, 0, side, bin_] = 0.0
    box = decode_boxes(logits, torch.tensor([[20.0, 20.0]]), torch.tensor([8.0]))
    assert box[0, 0].tolist() == [12.0, 4.0, 44.0, 20.0]


def test_assignment_picks_cells_inside_the_box_and_prefers_better_predictions() -> None:
    points = torch.tensor([[5.0, 5.0], [15.0, 15.0], [25.0, 25.0], [80.0, 80.0]])
    gt = torch.tensor([[[0.0, 0.0, 30.0, 30.0]]])
    pred = torch.tensor([[[0.0, 0.0, 30.0, 30.0], [0, 0, 10, 10], [0, 0, 29, 29], [0, 0, 30, 30]]])
    scores = torch.full((1, 4, 2), 0.5)
    boxes, target, fg = task_aligned_assign(
        scores, pred, points, torch.tensor([[1]]), gt, torch.tensor([[True]]), topk=2
    )
    assert fg[0].tolist() == [True, False, True, False]  # the top 2 inside; cell 3 is outside
    assert target[0, :, 0].abs().sum() == 0  # class 0 never a target
    assert target[0, 0, 1] == pytest.approx(1.0)  # the best cell gets the box's best IoU
    assert 0 < target[0, 2, 1] < 1
    assert torch.equal(boxes[0, 0], gt[0, 0])


# FCOS's centre-ness BCE has a floor (its targets are not 0/1), so its total falls less.
@pytest.mark.parametrize(("name", "steps", "fall"), [("yolo-n", 80, 0.3), ("fcos-ref", 60, 0.5)])
def test_overfits_two_scenes(name: str, steps: int, fall: float, batch) -> None:
    torch.manual_seed(0)
    x, targets = batch
    model = create_model(name, num_classes=10, image_size=64)
    opt = torch.optim.AdamW(model.parameters(), 2e-3)
    losses = []
    for _ in range(steps):
        loss, _ = model.loss(model(x), targets, (64, 64))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < fall * losses[0], losses[:: steps // 4]
    model.eval()
    found = model.detect(model(x), (64, 64), conf=0.3)
    for det, t in zip(found, targets, strict=True):
        iou = box_iou(t["boxes"], det["boxes"])
        same = t["labels"][:, None] == det["labels"][None]
        best = (iou * same).amax(1) if len(det["boxes"]) else torch.zeros(len(t["boxes"]))
        assert (best > 0.5).float().mean() >= 0.5  # most objects found, with the right class


def test_detect_returns_sorted_suppressed_boxes() -> None:
    model = create_model("yolo-n", num_classes=3, image_size=64).eval()
    (det,) = model.detect(model(torch.rand(1, 3, 64, 64)), (64, 64), conf=0.0, max_det=50)
    assert len(det["boxes"]) <= 50
    assert torch.all(det["scores"][:-1] >= det["scores"][1:])
    same = det["labels"][:, None] == det["labels"][None]
    overlap = box_iou(det["boxes"], det["boxes"]) * same
    assert (overlap.triu(1) <= 0.6 + 1e-6).all()  # NMS left no same-class pair above its IoU
