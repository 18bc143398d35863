"""Driving scenes: seeded, every class drawn, labels aligned with what the image shows, thin
lane markings, and a shifted condition that changes the look but not the labels."""

from __future__ import annotations

import numpy as np
import pytest

from dllab.data.driving_scenes import (
    CLASSES,
    IGNORE,
    _Camera,
    _Canvas,
    _car,
    colorize,
    render_driving_scene,
    render_driving_scenes,
)
from dllab.errors import ConfigError

H, W = 64, 128
ID = {c.name: k for k, c in enumerate(CLASSES)}


@pytest.fixture(scope="module")
def clear() -> tuple[np.ndarray, np.ndarray]:
    return render_driving_scenes(6, height=H, width=W, seed=7)


@pytest.fixture(scope="module")
def shifted() -> tuple[np.ndarray, np.ndarray]:
    return render_driving_scenes(6, height=H, width=W, seed=7, condition="shifted")


def test_class_table_follows_cityscapes_and_mapillary() -> None:
    by_name = {c.name: (c.label_id, c.color) for c in CLASSES}
    assert by_name["road"] == (7, (128, 64, 128))
    assert by_name["car"] == (26, (0, 0, 142))
    assert by_name["sky"] == (23, (70, 130, 180))
    assert by_name["lane marking"] == (34, (255, 255, 255))  # Mapillary's colour, unused id
    assert len({c.label_id for c in CLASSES}) == len(CLASSES) and len(CLASSES) <= IGNORE


def test_a_scene_is_a_pure_function_of_seed_and_index(clear) -> None:
    images, masks = clear
    again_images, again_masks = render_driving_scenes(3, height=H, width=W, seed=7)
    assert np.array_equal(again_images, images[:3]) and np.array_equal(again_masks, masks[:3])
    image, mask = render_driving_scene(height=H, width=W, seed=7, index=4)
    assert np.array_equal(image, images[4]) and np.array_equal(mask, masks[4])
    other, _ = render_driving_scenes(1, height=H, width=W, seed=8)
    assert not np.array_equal(other[0], images[0])
    assert images.dtype == np.uint8 and images.shape == (6, H, W, 3)
    assert masks.dtype == np.uint8 and masks.shape == (6, H, W)


def test_every_class_appears_in_a_small_batch(clear) -> None:
    _, masks = clear
    counts = np.bincount(masks.ravel(), minlength=256)
    assert counts[: len(CLASSES)].min() > 0, counts[: len(CLASSES)]
    assert counts[len(CLASSES) :].sum() == 0  # every pixel has a class


def test_sky_is_on_top_and_the_road_ahead_at_the_bottom(clear) -> None:
    _, masks = clear
    rows = np.arange(H)[None, :, None]
    sky, road = masks == ID["sky"], masks == ID["road"]
    assert not sky[:, H // 2 :].any()  # the horizon is above the middle
    assert not road[:, : H // 3].any()
    assert (rows * sky).sum() / sky.sum() < (rows * road).sum() / road.sum() - H / 3
    bottom_centre = masks[:, -1, W // 2 - 2 : W // 2 + 2]  # the camera drives in a lane
    assert np.isin(bottom_centre, [ID["road"], ID["lane marking"]]).all()


def _mean(images: np.ndarray, masks: np.ndarray, name: str) -> np.ndarray:
    return images[masks == ID[name]].astype(float).mean(0)


def test_classes_look_like_what_they_are_in_clear_weather(clear) -> None:
    images, masks = clear
    sky, road = _mean(images, masks, "sky"), _mean(images, masks, "road")
    veg, lane = _mean(images, masks, "vegetation"), _mean(images, masks, "lane marking")
    assert sky[2] > sky[0] + 20 and sky.mean() > road.mean() + 40  # blue and bright
    assert np.ptp(road) < 20  # asphalt is grey
    assert veg[1] > veg[0] and veg[1] > veg[2]  # leaves are green
    assert lane.mean() > road.mean() + 50  # paint is brighter than asphalt


def test_labels_sit_exactly_on_what_is_drawn(clear) -> None:
    """Lane paint is much brighter than the road beside it; moving the mask by 2 pixels
    (a misaligned label) loses most of that contrast."""
    images, masks = clear
    grey = images.astype(float).mean(-1)
    lane, road = masks == ID["lane marking"], masks == ID["road"]
    aligned = grey[lane].mean() - grey[road].mean()
    shifted_lane = np.roll(lane, 2, axis=2) & ~lane
    misaligned = grey[shifted_lane].mean() - grey[road].mean()
    assert aligned > 50 and misaligned < aligned / 2


def test_lane_markings_are_thin_and_thinner_with_distance() -> None:
    _, masks = render_driving_scenes(4, height=256, width=512, seed=3)
    lane = masks == ID["lane marking"]
    runs = []
    for m in lane:
        for row in (m[-1], m[int(0.6 * 256)]):
            edges = np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0]))
            runs.append((edges[1::2] - edges[::2]).tolist())
    bottom = [r for k, r in enumerate(runs) if k % 2 == 0 and r]
    middle = [r for k, r in enumerate(runs) if k % 2 == 1 and r]
    widest_bottom = max(max(r) for r in bottom)
    assert 2 <= widest_bottom <= 8  # a few pixels at the bottom of a 512-wide image
    assert np.median([x for r in middle for x in r]) < np.median([x for r in bottom for x in r])


def _car_rows(s: float, d: float = 0.0) -> tuple[int, int]:
    """(top row, bottom row + 1) of a car drawn alone at distance s on an empty canvas."""
    cam = _Camera(f=300.0, cx=256.0, cy=100.0, hc=1.5, yaw=0.0)
    h, w = 256, 512
    canvas = _Canvas(
        np.zeros((h, w, 3), np.float32),
        np.full((h, w), ID["sky"], np.uint8),
        np.full((h, w), np.inf, np.float32),
        np.zeros((h, w), np.float32),
        np.zeros((h, w), np.float32),
    )
    ground = (np.zeros((h, w), np.float32), np.zeros((h, w), np.float32))
    _car(canvas, cam, ground, np.random.default_rng(0), d, s, False)
    rows = np.flatnonzero((canvas.label == ID["car"]).any(1))
    assert np.isfinite(canvas.depth[canvas.label == ID["car"]]).all()
    return int(rows[0]), int(rows[-1]) + 1


@pytest.mark.parametrize("s", [8.0, 15.0, 30.0])
def test_a_car_stands_on_the_road_at_its_depth_and_scale(s: float) -> None:
    """Perspective: a car at depth Z touches the ground at row cy + f*hc/Z, and twice as far
    away it is half as tall, so size is proportional to the distance below the horizon."""
    top, bottom = _car_rows(s)
    assert abs(bottom - (100 + 300 * 1.5 / s)) <= 1.5
    far_top, far_bottom = _car_rows(2 * s)
    assert (far_bottom - far_top) == pytest.approx((bottom - top) / 2, abs=1.5)


def test_shifted_weather_changes_the_image_not_the_labels(clear, shifted) -> None:
    images, masks = clear
    dark_images, dark_masks = shifted
    assert np.array_equal(dark_masks, masks)  # same geometry, same labels
    assert dark_images.mean() < images.mean() - 20  # dusk
    assert dark_images.mean(-1).std() < 0.75 * images.mean(-1).std()  # fog lowers contrast
    sky = _mean(dark_images, masks, "sky")
    assert sky[2] < sky[0] + 10  # an orange-grey evening sky, not a blue one


def test_colorize_paints_cityscapes_colours() -> None:
    mask = np.array([[ID["road"], ID["car"], IGNORE]], np.uint8)
    assert colorize(mask).tolist() == [[[128, 64, 128], [0, 0, 142], [0, 0, 0]]]


def test_unknown_condition_is_refused() -> None:
    with pytest.raises(ConfigError, match="condition must be one of"):
        render_driving_scenes(1, height=H, width=W, seed=0, condition="night")
