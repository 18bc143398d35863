"""Synthetic detection scenes: seeded, boxes exactly around the pasted pixels, bounded
occlusion, and clips whose true tracks are known."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dllab.data.scenes import ObjectPool, SceneSpec, background, render_clip, render_scene


@pytest.fixture(scope="module")
def pool() -> ObjectPool:
    return ObjectPool.from_digits()


def test_a_scene_is_a_pure_function_of_seed_and_index(pool: ObjectPool) -> None:
    spec = SceneSpec(image_size=96)
    a, b = render_scene(pool, spec, seed=3, index=5), render_scene(pool, spec, seed=3, index=5)
    other = render_scene(pool, spec, seed=3, index=6)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
    assert np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.image, other.image)


@pytest.mark.parametrize("index", range(6))
def test_box_is_tight_around_the_pixels_the_object_changed(pool: ObjectPool, index: int) -> None:
    spec = SceneSpec(image_size=96, min_objects=1, max_objects=1, clutter=0, noise=0.0)
    scene = render_scene(pool, spec, seed=11, index=index)
    # The background is the first thing drawn from the scene's generator: redraw it alone.
    bg = background(96, np.random.default_rng([11, index]))
    bg = np.clip(bg * 255.0 + 0.5, 0, 255).astype(np.uint8)
    changed = (scene.image != bg).any(-1)
    ys, xs = np.nonzero(changed)
    assert scene.boxes.shape == (1, 4)
    assert scene.boxes[0].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert not (changed & ~scene.masks[0]).any()  # nothing outside the object's mask moved


def test_occlusion_never_hides_more_than_allowed(pool: ObjectPool) -> None:
    spec = SceneSpec(image_size=96, min_objects=5, max_objects=8, max_occlusion=0.3)
    scenes = [render_scene(pool, spec, seed=0, index=i) for i in range(20)]
    visible = np.concatenate([s.visible for s in scenes])
    assert visible.min() >= 0.7 - 1e-6
    assert (visible < 1).any()  # objects do overlap: occlusion happens


def test_objects_come_at_several_scales_inside_the_image(pool: ObjectPool) -> None:
    spec = SceneSpec(image_size=96, min_size=10, max_size=40)
    boxes = np.concatenate([render_scene(pool, spec, seed=1, index=i).boxes for i in range(30)])
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    assert sides.max() <= 40 and sides.min() >= 4
    assert sides.max() - sides.min() >= 20
    assert boxes.min() >= 0 and boxes.max() <= 96


def test_clip_tracks_move_and_keep_their_ids(pool: ObjectPool, tmp_path: Path) -> None:
    clip = render_clip(pool, SceneSpec(image_size=96), frames=12, objects=3, seed=2)
    assert clip.frames.shape == (12, 96, 96, 3)
    assert all(np.array_equal(i, [0, 1, 2]) for i in clip.ids)
    assert not np.array_equal(clip.boxes[0], clip.boxes[-1])
    path = clip.write(tmp_path / "clip.mp4")
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    cap.release()


def test_classes_are_drawn_evenly_whatever_their_pool_sizes() -> None:
    big = ObjectPool(np.full((300, 8, 8), 200, np.uint8), np.zeros(300, np.int64), ["big"])
    small = ObjectPool(np.full((3, 8, 8), 200, np.uint8), np.zeros(3, np.int64), ["small"])
    pool = ObjectPool.join([big, small])
    spec = SceneSpec(image_size=64, min_objects=4, max_objects=4, min_size=8, max_size=12)
    labels = np.concatenate([render_scene(pool, spec, seed=0, index=i).labels for i in range(50)])
    share = (labels == 1).mean()
    assert 0.35 < share < 0.65  # uniform over items would give 1 %
