"""A folder of the user's own images, streamed from disk.

Two layouts are understood: `root/<class>/*.png|jpg…` (splits are drawn by the caller), or
`root/{train,val,test}/<class>/*` (the folders are the splits; missing ones are drawn from
train). Class names are the sorted sub-folder names. Images are read with
`dllab.data.image_io` (upright by EXIF, 16-bit scaled, under the pixel limit), converted to
grey or RGB, and resized to a square (scaled to cover it, then centre-cropped, so nothing is
stretched).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from dllab.data.image_io import (
    READ_ERRORS,
    as_grey8,
    as_rgb8,
    is_grey,
    open_image,
    unreadable_message,
)
from dllab.errors import DataError

__all__ = [
    "IMAGE_SUFFIXES",
    "SPLITS",
    "FolderLayout",
    "ImageFolder",
    "image_properties",
    "read_image",
    "scan_folder",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SPLITS = ("train", "val", "test")


def read_image(path: str | Path, image_size: int, channels: int) -> torch.Tensor:
    """One image as a uint8 tensor (channels, image_size, image_size); DataError if unreadable."""
    path = Path(path)
    try:
        with open_image(path) as im:
            im = as_grey8(im) if channels == 1 else as_rgb8(im)  # upright, 16-bit scaled
            im = ImageOps.fit(im, (image_size, image_size), Image.Resampling.BILINEAR)
            array = np.asarray(im, dtype=np.uint8)
    except READ_ERRORS as e:
        raise DataError(unreadable_message(path, e)) from None
    if channels == 1:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1)  # (H, W, C) -> (C, H, W)


def image_properties(path: Path) -> tuple[int, int]:
    """(shorter side, channels 1 or 3) of one image, read from its header only."""
    try:
        with open_image(path) as im:
            return min(im.size), 1 if is_grey(im.mode) else 3
    except READ_ERRORS as e:
        raise DataError(unreadable_message(path, e)) from None


class ImageFolder(Dataset):
    """A list of (image file, label) read on demand: yields (uint8 (C, H, W), int label)."""

    def __init__(self, samples: list[tuple[Path, int]], image_size: int, channels: int) -> None:
        self.samples = samples
        self.image_size = image_size
        self.channels = channels

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return read_image(path, self.image_size, self.channels), label

    @property
    def labels(self) -> torch.Tensor:
        """(N,) int64 labels, without reading any image."""
        return torch.tensor([label for _, label in self.samples], dtype=torch.long)


@dataclass(frozen=True)
class FolderLayout:
    """What `scan_folder` found: the class names and the files of each split present."""

    classes: list[str]
    splits: dict[str, list[tuple[Path, int]]]  # "all", or some of "train", "val", "test"


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
    )


def scan_folder(root: str | Path) -> FolderLayout:
    """List the classes and image files under `root` (no image is opened).

    Raises DataError when `root` is missing, has no class folders, holds no images, or has
    images of one class only.
    """
    root = Path(root).expanduser()
    layout_hint = "expected ROOT/CLASS/*.png or ROOT/train/CLASS/*.png (also .jpg, …)"
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; {layout_hint}")
    split_dirs = {s: root / s for s in SPLITS if (root / s).is_dir()}
    if split_dirs and "train" not in split_dirs:
        raise DataError(f"{root} has {', '.join(split_dirs)}/ but no train/; {layout_hint}")
    parents = split_dirs or {"all": root}
    classes = sorted({d.name for folder in parents.values() for d in _class_dirs(folder)})
    if not classes:
        raise DataError(f"no class folders in {root}; {layout_hint}")
    index = {name: i for i, name in enumerate(classes)}
    splits = {
        split: [(p, index[d.name]) for d in _class_dirs(folder) for p in _images(d)]
        for split, folder in parents.items()
    }
    first = "train" if split_dirs else "all"
    if not splits[first]:
        raise DataError(f"no images found under {parents[first]}; {layout_hint}")
    found = sorted({classes[label] for _, label in splits[first]})
    if len(found) < 2:  # a classifier needs a second class to tell apart
        raise DataError(
            f"{parents[first]} has images of one class only ({found[0]}/); a classifier "
            f"needs at least 2 class folders with images; {layout_hint}"
        )
    return FolderLayout(classes, splits)
