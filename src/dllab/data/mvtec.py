"""The MVTec-AD folder layout: good parts to fit on, test parts with defect masks.

The layout (Bergmann et al., "MVTec AD — A Comprehensive Real-World Dataset for Unsupervised
Anomaly Detection", CVPR 2019) is what inspection data are usually shared in, so a user's own
line-camera images work once they are arranged like this::

    ROOT/train/good/*.png                     defect-free parts only
    ROOT/test/good/*.png                      defect-free parts to test on
    ROOT/test/<defect>/*.png                  one folder per defect type
    ROOT/ground_truth/<defect>/<stem>_mask.png  mask of each defective image (0 = good)

ROOT may also hold several such categories (`ROOT/bottle/train/…`): pass `category`.
The synthetic data (`dllab.data.defects`) are written in this layout and read by this same
loader. Images are read as RGB and resized (not cropped: a defect at the edge must stay in
view) to `image_size` squares; masks are resized with nearest neighbour. The whole category
is held in memory as uint8 tensors (a few hundred images). Anything wrong — a missing or
unreadable image, a defect image without its mask, a mask of another size, an empty mask —
raises `DataError` naming the file and the fix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from dllab.data.folder import IMAGE_SUFFIXES
from dllab.data.split import hold_out
from dllab.errors import DataError

__all__ = ["GOOD", "AnomalyData", "AnomalySplit", "load_mvtec", "split_validation"]

GOOD = "good"
_LAYOUT = "expected ROOT/train/good/*.png, ROOT/test/<defect>/*.png, ROOT/ground_truth/<defect>/"


@dataclass
class AnomalySplit:
    """Images with their masks and defect types, held in memory."""

    images: torch.Tensor  # (N, 3, S, S) uint8
    masks: torch.Tensor  # (N, S, S) bool; all False for good parts
    kinds: torch.Tensor  # (N,) int64: 0 = good, i = defect_types[i - 1]
    files: list[str]  # paths relative to the category root, for reports

    def __len__(self) -> int:
        return len(self.kinds)

    def take(self, index: torch.Tensor) -> AnomalySplit:
        """The rows `index` (N',) of this split."""
        return AnomalySplit(
            self.images[index],
            self.masks[index],
            self.kinds[index],
            [self.files[i] for i in index.tolist()],
        )


@dataclass
class AnomalyData:
    """One category: good training parts and a labelled test split."""

    root: Path
    train: AnomalySplit  # good parts only
    test: AnomalySplit
    defect_types: list[str]  # sorted defect folder names under test/ (good excluded)
    image_size: int
    checksums: dict[str, str] = field(default_factory=dict)  # relative path -> sha256

    @property
    def kind_names(self) -> list[str]:
        """Names indexed by `kinds`: "good" then the defect types."""
        return [GOOD, *self.defect_types]


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def _open(path: Path, mode: str) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert(mode)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(
            f"cannot read image {path} ({e}); replace it with a valid PNG/JPEG or remove it"
        ) from None


def _read(path: Path, size: int, digests: dict[str, str], root: Path) -> tuple[np.ndarray, tuple]:
    """(S, S, 3) uint8 and the original (width, height)."""
    digests[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    im = _open(path, "RGB")
    original = im.size
    if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(im, dtype=np.uint8), original


def _read_mask(
    path: Path, image: Path, original: tuple, size: int, digests: dict[str, str], root: Path
) -> np.ndarray:
    if not path.is_file():
        raise DataError(
            f"defect image {image} has no mask {path}; add the mask (0 = good, >0 = defect) "
            "or move the image out of test/"
        )
    digests[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    im = _open(path, "L")
    if im.size != original:
        raise DataError(
            f"mask {path} is {im.size[0]}x{im.size[1]} but its image {image} is "
            f"{original[0]}x{original[1]}; masks must match their images pixel for pixel"
        )
    mask = np.asarray(im) > 0
    if not mask.any():
        raise DataError(
            f"mask {path} is empty but its image is filed as a defect; mark the defect, or "
            "move the image to test/good/"
        )
    if im.size != (size, size):
        small = Image.fromarray(mask.astype(np.uint8) * 255).resize(
            (size, size), Image.Resampling.NEAREST
        )
        mask = np.asarray(small) > 0
    return mask


def _category_root(root: Path, category: str | None) -> Path:
    if category and root.is_dir() and not (root / category).is_dir():
        found = sorted(p.name for p in root.iterdir() if (p / "train" / GOOD).is_dir())
        fix = (
            f"choose one of {', '.join(found)}"
            if found
            else "if the folder is itself one category, set task.category=null"
        )
        raise DataError(f"{root} has no category folder {category!r}; {fix}")
    if category:
        root = root / category
    if not root.is_dir():
        raise DataError(f"defect image folder {root} does not exist; {_LAYOUT}")
    if not (root / "train" / GOOD).is_dir():
        categories = sorted(p.name for p in root.iterdir() if (p / "train" / GOOD).is_dir())
        if categories:
            raise DataError(
                f"{root} holds category folders ({', '.join(categories)}); choose one "
                f"(task.category={categories[0]})"
            )
        raise DataError(f"{root} has no train/good/ folder; {_LAYOUT}")
    return root


def load_mvtec(root: str | Path, *, image_size: int, category: str | None = None) -> AnomalyData:
    """Read one MVTec-AD-style category into memory, images resized to `image_size`.

    >>> data = load_mvtec("mvtec/bottle", image_size=256)   # doctest: +SKIP
    >>> data.test.images.shape, data.defect_types            # doctest: +SKIP
    (torch.Size([83, 3, 256, 256]), ['broken_large', 'broken_small', 'contamination'])
    """
    root = _category_root(Path(root).expanduser(), category)
    digests: dict[str, str] = {}
    train_files = _images_in(root / "train" / GOOD)
    if not train_files:
        raise DataError(f"{root / 'train' / GOOD} holds no images; {_LAYOUT}")
    test_dir = root / "test"
    if not test_dir.is_dir():
        raise DataError(f"{root} has no test/ folder; {_LAYOUT}")
    defect_types = sorted(
        p.name for p in test_dir.iterdir() if p.is_dir() and p.name != GOOD and p.name[0] != "."
    )
    train = np.stack([_read(p, image_size, digests, root)[0] for p in train_files])
    images, masks, kinds, files = [], [], [], []
    for kind, name in enumerate([GOOD, *defect_types]):
        folder = test_dir / name
        if not folder.is_dir():
            continue
        for path in _images_in(folder):
            image, original = _read(path, image_size, digests, root)
            if kind == 0:
                mask = np.zeros((image_size, image_size), bool)
            else:
                mask_path = root / "ground_truth" / name / f"{path.stem}_mask.png"
                mask = _read_mask(mask_path, path, original, image_size, digests, root)
            images.append(image)
            masks.append(mask)
            kinds.append(kind)
            files.append(str(path.relative_to(root)))
    if not images:
        raise DataError(f"{test_dir} holds no images; {_LAYOUT}")
    if 0 not in kinds or len(set(kinds)) < 2:
        raise DataError(
            f"{test_dir} needs both good/ parts and at least one defect folder to measure "
            "a detector; add the missing ones"
        )
    as_chw = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))  # noqa: E731
    return AnomalyData(
        root=root,
        train=AnomalySplit(
            as_chw(train),
            torch.zeros(len(train), image_size, image_size, dtype=torch.bool),
            torch.zeros(len(train), dtype=torch.long),
            [str(p.relative_to(root)) for p in train_files],
        ),
        test=AnomalySplit(
            as_chw(np.stack(images)),
            torch.from_numpy(np.stack(masks)),
            torch.tensor(kinds, dtype=torch.long),
            files,
        ),
        defect_types=defect_types,
        image_size=image_size,
        checksums=digests,
    )


def split_validation(
    test: AnomalySplit, fraction: float, seed: int
) -> tuple[AnomalySplit, AnomalySplit]:
    """(validation, test): a seeded share of the test parts, stratified by defect type.

    MVTec-AD has no validation split (its training parts are all good), so the threshold
    and the best checkpoint are chosen on parts held out of test, as anomalib does.
    """
    keep, held = hold_out(test.kinds, fraction, torch.Generator().manual_seed(seed))
    return test.take(held), test.take(keep)
