"""Checking a dataset on disk against the catalog: sha256 of decompressed content and size."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dllab.data.catalog import DatasetSpec, FileSpec, get_spec
from dllab.data.checksum import CorruptFile, digest_content
from dllab.data.search import installed_files, locate_files
from dllab.errors import DataError

__all__ = ["FileCheck", "check_digest", "check_file", "check_files", "verify"]


@dataclass(frozen=True)
class FileCheck:
    """The outcome of checking one file that passed (a mismatch raises instead)."""

    name: str  # catalog name, e.g. "train-images-idx3-ubyte"
    path: Path  # where it was found, plain or .gz
    sha256: str  # computed from the decompressed content
    published: bool  # False: the catalog has no digest to compare with

    def line(self) -> str:
        """One line for `dllab data verify`."""
        if self.published:
            return f"{self.name}: ok (sha256 {self.sha256})"
        return f"{self.name}: no published checksum; computed {self.sha256}"


def check_digest(path: Path, spec: FileSpec, sha256: str, size: int, dataset: str) -> FileCheck:
    """Compare a computed digest and size with the catalog; raise DataError on a mismatch."""
    fix = f"delete it and run `dllab data download {dataset}`"
    if spec.size is not None and size != spec.size:
        raise DataError(
            f"{path} has {size} bytes of content, expected {spec.size}: "
            f"it is truncated or a different file; {fix}"
        )
    if spec.sha256 is not None and sha256 != spec.sha256:
        raise DataError(
            f"checksum mismatch for {path}: expected sha256 {spec.sha256}, got {sha256}; "
            f"the file is corrupt or a different version; {fix}"
        )
    return FileCheck(spec.name, path, sha256, spec.sha256 is not None)


def check_file(path: str | Path, spec: FileSpec, dataset: str) -> FileCheck:
    """Hash one file (streaming, decompressed) and compare it with its catalog entry."""
    path = Path(path)
    try:
        sha256, size = digest_content(path)
    except CorruptFile as e:  # a damaged gzip stream: the fix names the dataset
        raise e.for_dataset(dataset) from None
    return check_digest(path, spec, sha256, size, dataset)


def check_files(
    name: str, data_dir: str | Path | None = None, *, spec: DatasetSpec | None = None
) -> list[FileCheck]:
    """Locate dataset `name` and check every file; raises DataError on the first mismatch."""
    spec = spec or get_spec(name)
    if spec.packages:  # installed by system packages, whatever files they hold: hash each one
        return _check_installed(spec)
    paths = locate_files(spec, data_dir)
    return [check_file(paths[f.name], f, spec.name) for f in spec.files]


def _check_installed(spec: DatasetSpec) -> list[FileCheck]:
    folder, files = installed_files(spec)
    if not files:
        raise DataError(
            f"{spec.name}: nothing installed in {folder}; "
            f"`apt-get install {' '.join(spec.packages)}` installs it"
        )
    return [FileCheck(p.name, p, digest_content(p)[0], published=False) for p in files]


def verify(
    name: str, data_dir: str | Path | None = None, *, spec: DatasetSpec | None = None
) -> dict[str, str]:
    """Return {file name: sha256 of its decompressed content} for dataset `name`.

    Raises DataError when a file is missing, or its size or digest differs from the catalog
    (the message names the file, the expected and the computed value). Files without a
    published digest are hashed and returned all the same; `check_files` tells them apart.
    Example: `verify("fashion-mnist")["t10k-labels-idx1-ubyte"]` -> "0402a96d…".
    """
    return {c.name: c.sha256 for c in check_files(name, data_dir, spec=spec)}
