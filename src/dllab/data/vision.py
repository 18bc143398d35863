"""`load_image_dataset`: any catalog image dataset as train/val/test splits plus metadata.

MNIST, Fashion-MNIST, CIFAR-10/100 and digits are small: they are read into memory as one
uint8 tensor per split, and their files are hashed while they are read (the bytes are in
memory anyway), checked against the catalog, and recorded in `ImageData.checksums`. A folder
of the user's own images streams from disk instead.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dllab.data.catalog import DatasetSpec, get_spec
from dllab.data.checksum import CorruptFile, corrupt, read_content
from dllab.data.cifar import parse_cifar, read_class_names
from dllab.data.digits import load_digits_arrays
from dllab.data.folder import ImageFolder, image_properties, scan_folder
from dllab.data.idx import parse_idx
from dllab.data.integrity import check_digest
from dllab.data.search import locate_files
from dllab.data.split import hold_out, take
from dllab.data.stats import channel_stats
from dllab.data.types import ImageData, TensorSplit
from dllab.errors import ConfigError

__all__ = ["load_image_dataset", "load_recipe_images"]

FOLDER_MAX_SIDE = 224  # default side for folder images: their own size, at most this
FOLDER_STATS_SAMPLE = 2000  # folder images read to estimate mean/std (all of them if fewer)


class _Files:
    """The located files of one dataset, read and checked at most once each."""

    def __init__(self, spec: DatasetSpec, data_dir: str | Path | None) -> None:
        self.spec = spec
        self.paths = locate_files(spec, data_dir)
        self.checksums: dict[str, str] = {}

    def read(self, name: str) -> bytes:
        """Decompressed content of `name`, after checking its size and sha256."""
        data, sha256 = read_content(self.paths[name])
        entry = next(f for f in self.spec.files if f.name == name)
        check_digest(self.paths[name], entry, sha256, len(data), self.spec.name)
        self.checksums[name] = sha256
        return data

    def read_all(self, names: list[str]) -> list[bytes]:
        # zlib and hashlib release the GIL: decompressing and hashing files in threads overlaps.
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            return list(pool.map(self.read, names))

    @property
    def source(self) -> str:
        return str(next(iter(self.paths.values())).parent)


def _split(images: np.ndarray, labels: np.ndarray) -> TensorSplit:
    return TensorSplit(torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)))


def _check_labels(split: TensorSplit, n_classes: int, source: str | Path) -> None:
    if len(split.images) != len(split.labels):
        raise corrupt(source, f"{len(split.images)} images but {len(split.labels)} labels")
    if len(split.labels) and int(split.labels.max()) >= n_classes:
        raise corrupt(source, f"label {int(split.labels.max())} but only {n_classes} classes")


def _read_idx(files: _Files) -> tuple[TensorSplit, TensorSplit, list[str]]:
    names = [f.name for f in files.spec.files]  # train images, train labels, test images, labels
    data = files.read_all(names)
    ranks = [3 if "images" in n else 1 for n in names]
    arrays = [parse_idx(d, files.paths[n], r) for n, d, r in zip(names, data, ranks, strict=True)]
    train = _split(arrays[0][:, None], arrays[1])  # (N, 28, 28) -> (N, 1, 28, 28)
    test = _split(arrays[2][:, None], arrays[3])
    return train, test, list(files.spec.classes)


def _read_cifar(files: _Files, label_bytes: int) -> tuple[TensorSplit, TensorSplit, list[str]]:
    *batches, meta = [f.name for f in files.spec.files]  # train batches…, test batch, names
    data = files.read_all(batches)
    parsed = [
        parse_cifar(d, files.paths[n], label_bytes=label_bytes)
        for n, d in zip(batches, data, strict=True)
    ]
    # The last label byte is CIFAR-10's label and CIFAR-100's fine label.
    train = _split(
        np.concatenate([im for im, _ in parsed[:-1]]),
        np.concatenate([lab[:, -1] for _, lab in parsed[:-1]]),
    )
    test = _split(parsed[-1][0], parsed[-1][1][:, -1])
    files.read(meta)  # record and check its digest
    return train, test, read_class_names(files.paths[meta])


def _read_digits(files: _Files) -> tuple[TensorSplit, list[str]]:
    files.read("digits.csv")  # the digest of what scikit-learn ships, for the record
    images, labels = load_digits_arrays()
    return _split(images, labels), list(files.spec.classes)


def _adapt(split: TensorSplit, image_size: int | None, channels: int | None) -> TensorSplit:
    """Resize (bilinear, antialiased) and convert grey <-> RGB an in-memory split, if asked."""
    images = split.images  # (N, C, H, W) uint8
    if channels is not None and channels != images.shape[1]:
        if channels == 3:
            images = images.expand(-1, 3, -1, -1).contiguous()
        else:  # ITU-R BT.601 luma, as PIL's convert("L")
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (images.float() * weights).sum(1, keepdim=True).round().to(torch.uint8)
    if image_size is not None and image_size != images.shape[-1]:
        resized = F.interpolate(
            images.float(), size=(image_size, image_size), mode="bilinear", antialias=True
        )
        images = resized.round().clamp(0, 255).to(torch.uint8)
    return TensorSplit(images, split.labels)


def _check_options(
    val_fraction: float, test_fraction: float, image_size: int | None, channels: int | None
) -> None:
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if image_size is not None and image_size < 1:
        raise ConfigError(f"image_size must be a positive number of pixels, got {image_size}")
    if channels not in (None, 1, 3):
        raise ConfigError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")


def _in_memory(
    name: str,
    data_dir: str | Path | None,
    val_fraction: float,
    test_fraction: float,
    generator: torch.Generator,
) -> tuple[TensorSplit, TensorSplit, TensorSplit, list[str], _Files]:
    spec = get_spec(name)
    files = _Files(spec, data_dir)
    readers: dict[str, Callable[[], tuple[TensorSplit, TensorSplit, list[str]]]] = {
        "mnist": lambda: _read_idx(files),
        "fashion-mnist": lambda: _read_idx(files),
        "cifar10": lambda: _read_cifar(files, label_bytes=1),
        "cifar100": lambda: _read_cifar(files, label_bytes=2),
    }
    if name == "digits":  # no official split: hold out a seeded test set first
        everything, classes = _read_digits(files)
        rest_idx, test_idx = hold_out(everything.labels, test_fraction, generator)
        full, test = take(everything, rest_idx), take(everything, test_idx)
    elif name in readers:
        try:
            full, test, classes = readers[name]()
        except CorruptFile as e:  # the file reader knew the path; name the dataset too
            raise e.for_dataset(name) from None
    else:
        raise ConfigError(f"dataset {name!r} is in the catalog but has no image loader")
    for split in (full, test):
        _check_labels(split, len(classes), files.source)
    train_idx, val_idx = hold_out(full.labels, val_fraction, generator)
    return take(full, train_idx), take(full, val_idx), test, classes, files


def _load_folder(
    path: str | Path | None,
    val_fraction: float,
    test_fraction: float,
    generator: torch.Generator,
    image_size: int | None,
    channels: int | None,
) -> ImageData:
    if path is None:
        raise ConfigError("dataset 'folder' needs path=DIR, the root of your class folders")
    layout = scan_folder(path)
    splits = dict(layout.splits)
    pool = splits.pop("train", None) or splits.pop("all")
    labels = torch.tensor([label for _, label in pool])
    if "test" not in splits:
        pool_idx, test_idx = hold_out(labels, test_fraction, generator)
        splits["test"] = [pool[i] for i in test_idx.tolist()]
        pool, labels = [pool[i] for i in pool_idx.tolist()], labels[pool_idx]
    if "val" not in splits:
        pool_idx, val_idx = hold_out(labels, val_fraction, generator)
        splits["val"] = [pool[i] for i in val_idx.tolist()]
        pool = [pool[i] for i in pool_idx.tolist()]
    side, mode_channels = image_properties(pool[0][0])
    image_size = image_size or min(side, FOLDER_MAX_SIDE)
    channels = channels or mode_channels
    train, val, test = (
        ImageFolder(samples, image_size, channels)
        for samples in (pool, splits["val"], splits["test"])
    )
    sample = torch.randperm(len(train), generator=generator)[:FOLDER_STATS_SAMPLE]
    mean, std = channel_stats(train[i][0] for i in sample.tolist())
    return ImageData(
        name="folder",
        train=train,
        val=val,
        test=test,
        classes=layout.classes,
        mean=mean,
        std=std,
        image_size=image_size,
        in_channels=channels,
        source=str(Path(path).expanduser()),
    )


def load_image_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    path: str | Path | None = None,
    image_size: int | None = None,
    channels: int | None = None,
) -> ImageData:
    """Load image dataset `name` from the catalog as train/val/test splits.

    MNIST, Fashion-MNIST and CIFAR keep their official test split and hold out a seeded,
    stratified `val_fraction` of train for validation. Digits has no official split: a seeded
    `test_fraction` is held out for test, then `val_fraction` of the rest for validation.
    `folder` reads `path` (its train/val/test sub-folders when present, else seeded splits) and
    streams; the others are in memory as uint8 `(N, C, H, W)` tensors. `image_size` and
    `channels` (1 or 3) resize and convert; by default images keep their own. `mean`/`std` are
    per channel on the 0..1 scale, fitted on the training split (for a folder, on up to 2,000
    training images). A missing, corrupt or mismatching file raises DataError.
    Example: `data = load_image_dataset("fashion-mnist")`; `data.train.images.shape`
    -> (54000, 1, 28, 28).
    """
    _check_options(val_fraction, test_fraction, image_size, channels)
    generator = torch.Generator().manual_seed(seed)
    if name == "folder":
        return _load_folder(path, val_fraction, test_fraction, generator, image_size, channels)
    train, val, test, classes, files = _in_memory(
        name, data_dir, val_fraction, test_fraction, generator
    )
    train, val, test = (_adapt(s, image_size, channels) for s in (train, val, test))
    mean, std = channel_stats(train.images)
    return ImageData(
        name=name,
        train=train,
        val=val,
        test=test,
        classes=classes,
        mean=mean,
        std=std,
        image_size=int(train.images.shape[-1]),
        in_channels=int(train.images.shape[1]),
        checksums=dict(sorted(files.checksums.items())),
        source=files.source,
    )


def load_recipe_images(recipe) -> ImageData:  # recipe: dllab.config.Recipe
    """`load_image_dataset` with a recipe's data section and split seed: what every task on
    labelled images loads."""
    d = recipe.data
    return load_image_dataset(
        d.name,
        data_dir=d.data_dir,
        val_fraction=d.val_fraction,
        test_fraction=d.test_fraction,
        seed=recipe.split_seed,
        path=d.path,
        image_size=d.image_size,
        channels=d.channels,
    )
