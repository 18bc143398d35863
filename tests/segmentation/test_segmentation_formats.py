"""Cityscapes and CamVid layouts: read back exactly what was written, and refuse bad files
with one line naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dllab.data.driving_scenes import CLASSES, IGNORE
from dllab.data.segmentation_formats import (
    SegmentationSet,
    load_masks,
    read_camvid,
    read_cityscapes,
    write_camvid,
    write_cityscapes,
)
from dllab.errors import DataError

H, W = 12, 20
ROAD, CAR, LANE = 0, 7, 8  # train ids in CLASSES


def _pictures(n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8)
    masks = rng.integers(0, len(CLASSES), (n, H, W)).astype(np.uint8)
    return images, masks


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _cityscapes_pair(root: Path, mask: np.ndarray, stem: str = "aachen_000000_000019") -> Path:
    """One image and its labelIds mask (raw ids, as Cityscapes stores them)."""
    _png(root / "leftImg8bit/val/aachen" / f"{stem}_leftImg8bit.png", np.zeros((H, W, 3), np.uint8))
    return _png(root / "gtFine/val/aachen" / f"{stem}_gtFine_labelIds.png", mask)


# ---------------------------------------------------------------- reading back
def test_cityscapes_tree_reads_back_exactly(tmp_path: Path) -> None:
    images, masks = _pictures()
    write_cityscapes(tmp_path, "train", images, masks)
    assert sorted(p.name for p in (tmp_path / "gtFine/train/synthetic").iterdir())[0] == (
        "synthetic_000000_000000_gtFine_labelIds.png"
    )
    # gtFine also holds colour and instance masks and polygons: only labelIds are read
    _png(tmp_path / "gtFine/train/synthetic/synthetic_000000_000000_gtFine_color.png", images[0])
    (tmp_path / "gtFine/train/synthetic/synthetic_000000_000000_gtFine_polygons.json").touch()
    ds = read_cityscapes(tmp_path, "train")
    assert len(ds) == 3 and ds.classes == CLASSES
    got_images, got_masks = load_masks(ds, (H, W))
    assert np.array_equal(got_images, images) and np.array_equal(got_masks, masks)


def test_cityscapes_ids_map_to_train_ids_and_unused_known_ids_to_ignore(tmp_path: Path) -> None:
    raw = np.zeros((H, W), np.uint8)
    raw[0, :4] = [7, 26, 34, 1]  # road, car, lane marking (our id 34), ego vehicle
    raw[1, :3] = [12, 33, 0]  # wall, bicycle, unlabeled: Cityscapes ids outside our table
    _cityscapes_pair(tmp_path, raw)
    _, masks = load_masks(read_cityscapes(tmp_path, "val"), (H, W))
    assert masks[0, 0, :4].tolist() == [ROAD, CAR, LANE, IGNORE]
    assert masks[0, 1, :3].tolist() == [IGNORE] * 3


def test_camvid_tree_reads_back_exactly_with_its_colour_table(tmp_path: Path) -> None:
    images, masks = _pictures()
    masks[0, 0, 0] = IGNORE
    write_camvid(tmp_path, "val", images, masks)
    ds = read_camvid(tmp_path, "val")
    assert [c.name for c in ds.classes] == [c.name for c in CLASSES]
    assert [c.color for c in ds.classes] == [c.color for c in CLASSES]
    got_images, got_masks = load_masks(ds, (H, W))
    assert np.array_equal(got_images, images) and np.array_equal(got_masks, masks)
    assert got_masks[0, 0, 0] == IGNORE  # the void row's black


def test_camvid_class_table_order_gives_the_train_ids(tmp_path: Path) -> None:
    (tmp_path / "class_dict.csv").write_text("name,r,g,b\nSky,128,128,128\nRoad,128,64,128\n")
    label = np.zeros((H, W, 3), np.uint8)
    label[:6] = (128, 128, 128)
    label[6:] = (128, 64, 128)
    _png(tmp_path / "test/0001TP_006690.png", np.zeros((H, W, 3), np.uint8))
    _png(tmp_path / "test_labels/0001TP_006690_L.png", label)
    ds = read_camvid(tmp_path, "test")
    assert [c.name for c in ds.classes] == ["Sky", "Road"]
    _, masks = load_masks(ds, (H, W))
    assert (masks[0, :6] == 0).all() and (masks[0, 6:] == 1).all()


def test_resizing_keeps_mask_ids_unblended(tmp_path: Path) -> None:
    images, _ = _pictures(1)
    masks = np.where(np.random.default_rng(1).random((1, H, W)) < 0.5, ROAD, LANE)
    write_cityscapes(tmp_path, "val", images, masks.astype(np.uint8))
    got_images, got_masks = load_masks(read_cityscapes(tmp_path, "val"), (7, 33))
    assert got_images.shape == (1, 7, 33, 3) and got_masks.shape == (1, 7, 33)
    assert set(np.unique(got_masks)) == {ROAD, LANE}  # nearest: no id in between


# ---------------------------------------------------------------- bad input
def test_mask_of_another_size_than_its_image_is_refused(tmp_path: Path) -> None:
    mask = _cityscapes_pair(tmp_path, np.zeros((H, W + 1), np.uint8))
    with pytest.raises(DataError, match=rf"{mask}: mask is {W + 1}x{H} but its image .* {W}x{H}"):
        read_cityscapes(tmp_path, "val")


def test_label_id_unknown_to_cityscapes_is_refused(tmp_path: Path) -> None:
    raw = np.full((H, W), 7, np.uint8)
    raw[3, 3] = 200
    mask = _cityscapes_pair(tmp_path, raw)
    with pytest.raises(DataError, match=rf"{mask}: label id\(s\) 200 are not Cityscapes"):
        load_masks(read_cityscapes(tmp_path, "val"), (H, W))


def test_colour_mask_given_as_labelids_is_refused(tmp_path: Path) -> None:
    mask = _cityscapes_pair(tmp_path, np.zeros((H, W, 3), np.uint8))
    with pytest.raises(DataError, match=rf"{mask}: a labelIds mask has one channel"):
        load_masks(read_cityscapes(tmp_path, "val"), (H, W))


def test_camvid_colour_outside_its_table_is_refused(tmp_path: Path) -> None:
    images, masks = _pictures(2)
    write_camvid(tmp_path, "train", images, masks)
    bad = tmp_path / "train_labels/train_000001_L.png"
    label = np.array(Image.open(bad))
    label[2, 5] = (1, 2, 3)
    Image.fromarray(label).save(bad)
    with pytest.raises(DataError, match=rf"{bad}: colour \(1, 2, 3\) is not in the class table"):
        load_masks(read_camvid(tmp_path, "train"), (H, W))


def test_mask_without_its_image_is_refused(tmp_path: Path) -> None:
    images, masks = _pictures(2)
    write_cityscapes(tmp_path, "val", images, masks)
    (tmp_path / "leftImg8bit/val/synthetic/synthetic_000000_000001_leftImg8bit.png").unlink()
    mask = tmp_path / "gtFine/val/synthetic/synthetic_000000_000001_gtFine_labelIds.png"
    with pytest.raises(DataError, match=rf"{mask}: no image .* for this mask"):
        read_cityscapes(tmp_path, "val")
    write_camvid(tmp_path / "cv", "val", images, masks)
    (tmp_path / "cv/val/val_000000.png").unlink()
    with pytest.raises(DataError, match=r"val_000000_L.png: no image .* for this mask"):
        read_camvid(tmp_path / "cv", "val")


def test_image_without_its_mask_is_refused(tmp_path: Path) -> None:
    images, masks = _pictures(1)
    write_camvid(tmp_path, "val", images, masks)
    (tmp_path / "val_labels/val_000000_L.png").unlink()
    with pytest.raises(DataError, match=r"val_000000.png: no mask .*val_000000_L.png"):
        read_camvid(tmp_path, "val")


@pytest.mark.parametrize("layout", ["cityscapes", "camvid"])
def test_empty_folder_is_refused_naming_it(tmp_path: Path, layout: str) -> None:
    if layout == "cityscapes":
        (tmp_path / "leftImg8bit/val").mkdir(parents=True)
        (tmp_path / "gtFine/val").mkdir(parents=True)
        with pytest.raises(DataError, match=rf"{tmp_path / 'leftImg8bit/val'} holds no"):
            read_cityscapes(tmp_path, "val")
    else:
        write_camvid(tmp_path, "val", [], [])
        with pytest.raises(DataError, match=rf"{tmp_path / 'val'} holds no .png images"):
            read_camvid(tmp_path, "val")


def test_missing_folder_and_missing_class_table_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=rf"{tmp_path / 'leftImg8bit/test'} not found; Cityscapes"):
        read_cityscapes(tmp_path, "test")
    with pytest.raises(DataError, match=rf"{tmp_path / 'class_dict.csv'} not found; CamVid"):
        read_camvid(tmp_path, "test")
    (tmp_path / "class_dict.csv").write_text("label,red,green,blue\nsky,1,2,3\n")
    with pytest.raises(DataError, match=r"class_dict.csv:1: expected the header 'name,r,g,b'"):
        read_camvid(tmp_path, "test")


def test_mismatch_found_at_load_time_names_the_mask(tmp_path: Path) -> None:
    """A set built by hand skips the reader's size check; loading still refuses it."""
    image = _png(tmp_path / "a.png", np.zeros((H, W, 3), np.uint8))
    mask = _png(tmp_path / "a_L.png", np.zeros((H + 2, W, 3), np.uint8))
    ds = SegmentationSet([image], [mask], CLASSES[:1], "colors", ((0, 0, 0),))
    with pytest.raises(DataError, match=rf"{mask}: mask is {W}x{H + 2}"):
        load_masks(ds, (H, W))
