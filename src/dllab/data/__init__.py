"""Data: the catalog, finding and checking files, downloading, and loaders.

Datasets are found offline first (`--data-dir`, `$DLLAB_DATA`, ~/.cache/dllab, system
dataset folders, then data a dependency ships); only `download` touches the network.

    from dllab.data import load_image_dataset, find_all, verify
    data = load_image_dataset("fashion-mnist", seed=0)   # ImageData: train/val/test + metadata
"""

from dllab.data.archive import safe_extract
from dllab.data.catalog import CATALOG, ArchiveSpec, DatasetSpec, FileSpec, dataset_names, get_spec
from dllab.data.checksum import digest_content, read_content
from dllab.data.cifar import parse_cifar, read_cifar, read_class_names
from dllab.data.digits import load_digits_arrays
from dllab.data.downloads import download, fetch
from dllab.data.folder import ImageFolder, scan_folder
from dllab.data.idx import parse_idx, read_idx
from dllab.data.integrity import FileCheck, check_files, verify
from dllab.data.search import (
    DatasetStatus,
    dataset_status,
    default_root,
    find_all,
    locate,
    search_roots,
)
from dllab.data.split import hold_out
from dllab.data.stats import channel_stats
from dllab.data.types import ImageData, TensorSplit
from dllab.data.vision import load_image_dataset

__all__ = [
    "CATALOG",
    "ArchiveSpec",
    "DatasetSpec",
    "DatasetStatus",
    "FileCheck",
    "FileSpec",
    "ImageData",
    "ImageFolder",
    "TensorSplit",
    "channel_stats",
    "check_files",
    "dataset_names",
    "dataset_status",
    "default_root",
    "digest_content",
    "download",
    "fetch",
    "find_all",
    "get_spec",
    "hold_out",
    "load_digits_arrays",
    "load_image_dataset",
    "locate",
    "parse_cifar",
    "parse_idx",
    "read_cifar",
    "read_class_names",
    "read_content",
    "read_idx",
    "safe_extract",
    "scan_folder",
    "search_roots",
    "verify",
]
