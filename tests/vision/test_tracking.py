"""Box geometry against torchvision, the tracker on generated clips whose true tracks are
known, the CLEAR-MOT id-switch count, and the timed video pipeline."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torchvision

from dllab.data.scenes import ObjectPool, SceneSpec, render_clip
from dllab.errors import InputError
from dllab.vision.boxes import box_iou, iou_matrix, nms
from dllab.vision.tracking import Tracker, count_id_switches
from dllab.vision.video import read_frames, run_video


def _random_boxes(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 80
    wh = torch.rand(n, 2, generator=g) * 30 + 2
    return torch.cat([xy, xy + wh], 1)


@pytest.mark.parametrize("seed", range(3))
def test_iou_and_nms_equal_torchvision(seed: int) -> None:
    a, b = _random_boxes(40, seed), _random_boxes(30, seed + 10)
    torch.testing.assert_close(box_iou(a, b), torchvision.ops.box_iou(a, b))
    np.testing.assert_allclose(iou_matrix(a.numpy(), b.numpy()), box_iou(a, b).numpy(), atol=1e-6)
    scores = torch.rand(40, generator=torch.Generator().manual_seed(seed))
    for t in (0.3, 0.5, 0.7):
        assert nms(a, scores, t).tolist() == torchvision.ops.nms(a, scores, t).tolist()


@pytest.fixture(scope="module")
def pool() -> ObjectPool:
    return ObjectPool.from_digits()


def _track(clip, drop: set[tuple[int, int]] = frozenset()) -> tuple[list, list]:
    """Run the tracker on the clip's true boxes as detections (score 0.9), with the
    (frame, object) pairs in `drop` given only a weak score (half-hidden objects)."""
    tracker = Tracker()
    ids, boxes = [], []
    for f, (b, lab) in enumerate(zip(clip.boxes, clip.labels, strict=True)):
        scores = np.array([0.2 if (f, k) in drop else 0.9 for k in range(len(b))])
        out = tracker.update(b, scores, lab)
        ids.append(np.array([t.id for t in out]))
        boxes.append(np.array([t.box for t in out]).reshape(-1, 4))
    return ids, boxes


def test_easy_clip_has_no_id_switches(pool: ObjectPool) -> None:
    clip = render_clip(pool, SceneSpec(image_size=96), frames=40, objects=3, speed=2.0, seed=5)
    ids, boxes = _track(clip)
    counts = count_id_switches(clip.ids, clip.boxes, ids, boxes)
    assert counts.id_switches == 0
    assert counts.matches >= counts.objects - 3  # at most the first frame's tracks unreported
    assert counts.mota > 0.95


def test_crossing_objects_keep_their_ids_through_weak_detections(pool: ObjectPool) -> None:
    # Two objects cross head-on in the middle of the frame; while they overlap, the one
    # behind is detected only weakly (ByteTrack's second association must carry it).
    paths = [((0.0, 30.0), (3.0, 0.0)), ((70.0, 34.0), (-3.0, 0.0))]
    spec = SceneSpec(image_size=96, min_size=24, max_size=24)
    clip = render_clip(pool, spec, frames=24, paths=paths, seed=0)
    overlapping = {f for f, b in enumerate(clip.boxes) if iou_matrix(b[:1], b[1:])[0, 0] > 0.1}
    assert overlapping  # the crafted paths do cross
    ids, boxes = _track(clip, drop={(f, 0) for f in overlapping})
    counts = count_id_switches(clip.ids, clip.boxes, ids, boxes)
    assert counts.id_switches == 0
    assert counts.misses == 0  # the weakly seen object stayed tracked while hidden


def test_swapped_hypothesis_ids_are_counted() -> None:
    true_boxes = [np.array([[0, 0, 10, 10], [50, 50, 60, 60]], float)] * 6
    true_ids = [np.array([1, 2])] * 6
    hyp_ids = [np.array([7, 8])] * 3 + [np.array([8, 7])] * 3  # ids swap at frame 3
    counts = count_id_switches(true_ids, true_boxes, hyp_ids, true_boxes)
    assert counts.id_switches == 2
    assert counts.matches == 12 and counts.false_positives == 0 and counts.misses == 0
    # A gap (frame 2 missed) followed by the same id again is not a switch.
    gap = [np.array([7, 8])] * 2 + [np.array([], int)] + [np.array([7, 8])] * 3
    gap_boxes = [b if len(i) else np.zeros((0, 4)) for b, i in zip(true_boxes, gap, strict=True)]
    counts = count_id_switches(true_ids, true_boxes, gap, gap_boxes)
    assert counts.id_switches == 0 and counts.misses == 2


def test_video_pipeline_writes_every_frame_and_times_itself(
    pool: ObjectPool, tmp_path: Path
) -> None:
    clip = render_clip(pool, SceneSpec(image_size=96), frames=15, objects=2, seed=3)
    src = clip.write(tmp_path / "in.mp4")
    frame_no = iter(range(15))

    def oracle(frame: np.ndarray):  # the true boxes as detections
        f = next(frame_no)
        return clip.boxes[f], np.full(len(clip.boxes[f]), 0.9), clip.labels[f]

    stats = run_video(oracle, [f"digit {i}" for i in range(10)], src, tmp_path / "out.mp4")
    assert stats["frames"] == 15 and stats["fps"] > 0 and stats["tracks"] == 2
    assert sum(stats["stage_seconds"].values()) <= stats["seconds"] + 1e-3
    cap = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 15
    cap.release()


def test_undecodable_video_is_one_line_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 10)
    with pytest.raises(InputError, match=r"cannot decode .*broken\.mp4"):
        next(read_frames(bad))
    with pytest.raises(InputError, match="not found"):
        next(read_frames(tmp_path / "missing.mp4"))
