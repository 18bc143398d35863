"""Labelled street images in the two layouts people have: Cityscapes and CamVid.

Cityscapes (label ids in single-channel PNGs)::

    root/leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    root/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png

A pixel's value is a Cityscapes labelId (0..33, the ids of cityscapesScripts' `labels.py`;
34 is our lane marking). Ids of the class table become its train ids; ids Cityscapes knows
but the table lacks (ego vehicle, wall, bicycle, ...) become IGNORE; any other value is an
error, because it means the file is not a labelIds mask (a colour or trainIds mask, say).

CamVid (colour-coded label PNGs, the layout of the widely shared SegNet/Kaggle copy)::

    root/class_dict.csv             name,r,g,b   one class a line, in train-id order
    root/<split>/0001TP_006690.png
    root/<split>_labels/0001TP_006690_L.png

A class named `void` is not a class: its colour becomes IGNORE. A colour the table lacks is an
error naming the file and the colour.

Everything wrong in a user's files (a missing or empty folder, a mask without its image, an
image without its mask, sizes that differ, an unknown id or colour) raises `DataError` with
one line naming the file, so `dllab` exits with status 2.

>>> ds = read_cityscapes("cityscapes", "val")                    # doctest: +SKIP
>>> images, masks = load_masks(ds, (256, 512))                   # doctest: +SKIP
>>> images.shape, masks.shape                                    # doctest: +SKIP
((500, 256, 512, 3), (500, 256, 512))
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from dllab.data.driving_scenes import CLASSES, IGNORE, SegClass
from dllab.errors import DataError

__all__ = [
    "CITYSCAPES_IDS",
    "SegmentationSet",
    "load_masks",
    "read_camvid",
    "read_cityscapes",
    "write_camvid",
    "write_cityscapes",
]

CITYSCAPES_IDS = range(34)  # labelIds defined by Cityscapes (licence plate's -1 is never drawn)
_IMAGE_SUFFIX, _MASK_SUFFIX = "_leftImg8bit.png", "_gtFine_labelIds.png"
_CITYSCAPES_LAYOUT = (
    "Cityscapes layout is leftImg8bit/<split>/<city>/*_leftImg8bit.png with "
    "gtFine/<split>/<city>/*_gtFine_labelIds.png"
)
_CAMVID_LAYOUT = (
    "CamVid layout is <split>/*.png with <split>_labels/*_L.png and class_dict.csv (name,r,g,b)"
)


@dataclass
class SegmentationSet:
    """Image files, their mask files (same order) and the classes the masks' train ids index.

    `encoding` says how a mask file is decoded: "label_ids" (a pixel is a labelId, mapped
    through the classes' `label_id`) or "colors" (a pixel is an RGB colour of a class);
    `void_colors` are colours that become IGNORE.
    """

    images: list[Path]
    masks: list[Path]
    classes: tuple[SegClass, ...]
    encoding: str = "label_ids"
    void_colors: tuple[tuple[int, int, int], ...] = field(default=())

    def __len__(self) -> int:
        return len(self.images)


def _size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header; DataError naming it if unreadable."""
    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read {path} as an image ({type(exc).__name__})") from exc


def _check_pairs(images: list[Path], masks: list[Path]) -> None:
    for image, mask in zip(images, masks, strict=True):
        wi, hi = _size(image)
        wm, hm = _size(mask)
        if (wi, hi) != (wm, hm):
            raise DataError(
                f"{mask}: mask is {wm}x{hm} but its image {image.name} is {wi}x{hi}; "
                "a mask must have its image's size"
            )


# ---------------------------------------------------------------- Cityscapes
def read_cityscapes(
    root: str | Path, split: str, *, classes: tuple[SegClass, ...] = CLASSES
) -> SegmentationSet:
    """The images of `root/leftImg8bit/<split>` paired with their `gtFine` labelIds masks.

    Example: `read_cityscapes("cityscapes", "val").masks[0].name`
    -> 'frankfurt_000000_000294_gtFine_labelIds.png'.
    """
    root = Path(root)
    image_dir, mask_dir = root / "leftImg8bit" / split, root / "gtFine" / split
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise DataError(f"{folder} not found; {_CITYSCAPES_LAYOUT}")
    images = {
        p.relative_to(image_dir).as_posix()[: -len(_IMAGE_SUFFIX)]: p
        for p in sorted(image_dir.glob(f"*/*{_IMAGE_SUFFIX}"))
    }
    masks = {
        p.relative_to(mask_dir).as_posix()[: -len(_MASK_SUFFIX)]: p
        for p in sorted(mask_dir.glob(f"*/*{_MASK_SUFFIX}"))
    }
    if not images and not masks:
        raise DataError(f"{image_dir} holds no *{_IMAGE_SUFFIX} files; {_CITYSCAPES_LAYOUT}")
    for key, mask in masks.items():
        if key not in images:
            raise DataError(f"{mask}: no image {image_dir / (key + _IMAGE_SUFFIX)} for this mask")
    for key, image in images.items():
        if key not in masks:
            raise DataError(f"{image}: no mask {mask_dir / (key + _MASK_SUFFIX)} for this image")
    keys = sorted(images)
    ds = SegmentationSet([images[k] for k in keys], [masks[k] for k in keys], classes)
    _check_pairs(ds.images, ds.masks)
    return ds


def write_cityscapes(
    root: str | Path,
    split: str,
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    *,
    city: str = "synthetic",
    classes: tuple[SegClass, ...] = CLASSES,
) -> Path:
    """Write RGB uint8 images (H, W, 3) and train-id masks (H, W) in the Cityscapes layout
    (masks as labelIds; IGNORE becomes 0, Cityscapes' 'unlabeled'). Returns `root`."""
    root = Path(root)
    image_dir, mask_dir = root / "leftImg8bit" / split / city, root / "gtFine" / split / city
    image_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    to_id = np.zeros(256, np.uint8)
    to_id[: len(classes)] = [c.label_id for c in classes]
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        stem = f"{city}_{i // 1000:06d}_{i % 1000:06d}"
        Image.fromarray(image).save(image_dir / f"{stem}{_IMAGE_SUFFIX}")
        Image.fromarray(to_id[mask]).save(mask_dir / f"{stem}{_MASK_SUFFIX}")
    return root


# ---------------------------------------------------------------- CamVid
def _camvid_classes(path: Path) -> tuple[tuple[SegClass, ...], tuple[tuple[int, int, int], ...]]:
    if not path.is_file():
        raise DataError(f"{path} not found; {_CAMVID_LAYOUT}")
    classes, void = [], []
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if header[:4] != ["name", "r", "g", "b"]:
        raise DataError(f"{path}:1: expected the header 'name,r,g,b', got {','.join(header)!r}")
    seen: dict[tuple[int, int, int], str] = {}
    for no, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        try:
            name, rgb = row[0].strip(), tuple(int(v) for v in row[1:4])
        except (ValueError, IndexError):
            raise DataError(f"{path}:{no}: expected 'name,r,g,b' with 0..255, got {row}") from None
        if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise DataError(f"{path}:{no}: expected 'name,r,g,b' with 0..255, got {row}")
        if rgb in seen:
            raise DataError(f"{path}:{no}: colour {rgb} is already {seen[rgb]!r}")
        seen[rgb] = name
        if name.lower() == "void":
            void.append(rgb)
        else:
            classes.append(SegClass(name, len(classes), rgb))  # label_id: row among classes
    if not classes:
        raise DataError(f"{path}: no classes; write one 'name,r,g,b' line per class")
    return tuple(classes), tuple(void)


def read_camvid(root: str | Path, split: str) -> SegmentationSet:
    """The images of `root/<split>` paired with `root/<split>_labels/*_L.png` colour masks,
    classes from `root/class_dict.csv`.

    Example: `read_camvid("CamVid", "train").classes[0].name` -> 'Animal'.
    """
    root = Path(root)
    classes, void = _camvid_classes(root / "class_dict.csv")
    image_dir, mask_dir = root / split, root / f"{split}_labels"
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise DataError(f"{folder} not found; {_CAMVID_LAYOUT}")
    images = {p.stem: p for p in sorted(image_dir.glob("*.png"))}
    masks = {p.stem[:-2]: p for p in sorted(mask_dir.glob("*_L.png"))}
    if not images and not masks:
        raise DataError(f"{image_dir} holds no .png images; {_CAMVID_LAYOUT}")
    for key, mask in masks.items():
        if key not in images:
            raise DataError(f"{mask}: no image {image_dir / (key + '.png')} for this mask")
    for key, image in images.items():
        if key not in masks:
            raise DataError(f"{image}: no mask {mask_dir / (key + '_L.png')} for this image")
    keys = sorted(images)
    ds = SegmentationSet(
        [images[k] for k in keys], [masks[k] for k in keys], classes, "colors", void
    )
    _check_pairs(ds.images, ds.masks)
    return ds


def write_camvid(
    root: str | Path,
    split: str,
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    *,
    classes: tuple[SegClass, ...] = CLASSES,
) -> Path:
    """Write RGB images and train-id masks in the CamVid layout, with class_dict.csv (a
    `void` row, black, for IGNORE). Returns `root`."""
    root = Path(root)
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / f"{split}_labels").mkdir(parents=True, exist_ok=True)
    rows = ["name,r,g,b"] + [f"{c.name},{c.color[0]},{c.color[1]},{c.color[2]}" for c in classes]
    if (0, 0, 0) not in [c.color for c in classes]:
        rows.append("void,0,0,0")
    (root / "class_dict.csv").write_text("\n".join(rows) + "\n", "utf-8")
    table = np.zeros((256, 3), np.uint8)
    table[: len(classes)] = [c.color for c in classes]
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        stem = f"{split}_{i:06d}"
        Image.fromarray(image).save(root / split / f"{stem}.png")
        Image.fromarray(table[mask]).save(root / f"{split}_labels" / f"{stem}_L.png")
    return root


# ---------------------------------------------------------------- decoding
def _read(path: Path, mode: str) -> np.ndarray:
    try:
        with Image.open(path) as img:
            if mode == "RGB":
                return np.asarray(img.convert("RGB"), np.uint8)
            if img.mode not in ("L", "P", "I", "I;16"):
                raise DataError(
                    f"{path}: a labelIds mask has one channel, this one is {img.mode}; "
                    "give *_gtFine_labelIds.png, not the colour mask"
                )
            return np.asarray(img)
    except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read {path} as an image ({type(exc).__name__})") from exc


def _decode_ids(path: Path, raw: np.ndarray, classes: tuple[SegClass, ...]) -> np.ndarray:
    """labelIds -> train ids: the table's ids to their index, other Cityscapes ids to IGNORE."""
    lut = np.full(max(int(raw.max()) + 1, 256), -1, np.int32)
    lut[list(CITYSCAPES_IDS)] = IGNORE
    for train_id, c in enumerate(classes):
        lut[c.label_id] = train_id
    out = lut[raw]
    if (out < 0).any():
        bad = sorted(int(v) for v in np.unique(raw[out < 0]))
        raise DataError(
            f"{path}: label id(s) {', '.join(map(str, bad[:5]))} are not Cityscapes labelIds "
            f"(0..{CITYSCAPES_IDS[-1]}) nor in the class table; is this a labelIds mask?"
        )
    return out.astype(np.uint8)


def _decode_colors(path: Path, rgb: np.ndarray, ds: SegmentationSet) -> np.ndarray:
    """RGB colours -> train ids by the class table; void colours -> IGNORE."""
    key = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    known = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in enumerate(c.color for c in ds.classes)}
    known.update({(r << 16) | (g << 8) | b: IGNORE for r, g, b in ds.void_colors})
    values, inverse = np.unique(key, return_inverse=True)
    ids = np.empty(len(values), np.uint8)
    for k, v in enumerate(values.tolist()):
        if v not in known:
            colour = (v >> 16, (v >> 8) & 255, v & 255)
            raise DataError(
                f"{path}: colour {colour} is not in the class table (class_dict.csv); "
                "add it there or repaint those pixels"
            )
        ids[k] = known[v]
    return ids[inverse.reshape(key.shape)]


def load_masks(ds: SegmentationSet, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Every image and mask of `ds` resized to `size` = (height, width).

    Returns images uint8 (N, H, W, 3) RGB (area-averaged when shrinking) and masks uint8
    (N, H, W) of train ids (nearest neighbour, so no id is blended into another).
    """
    height, width = size
    if not ds.images:
        raise DataError("the segmentation set holds no images")
    images = np.empty((len(ds), height, width, 3), np.uint8)
    masks = np.empty((len(ds), height, width), np.uint8)
    for i, (image_path, mask_path) in enumerate(zip(ds.images, ds.masks, strict=True)):
        image = _read(image_path, "RGB")
        if ds.encoding == "colors":
            mask = _decode_colors(mask_path, _read(mask_path, "RGB"), ds)
        else:
            mask = _decode_ids(mask_path, _read(mask_path, "ids"), ds.classes)
        if image.shape[:2] != mask.shape:
            raise DataError(
                f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image "
                f"{image_path.name} is {image.shape[1]}x{image.shape[0]}"
            )
        shrink = image.shape[0] > height or image.shape[1] > width
        interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        images[i] = cv2.resize(image, (width, height), interpolation=interp)
        masks[i] = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    return images, masks
