"""Reading a file's content (gzip or plain, told apart by its magic bytes) and hashing it.

Checksums are the sha256 of the *decompressed* content, so a file verifies the same whether it
sits on disk as `x` or `x.gz`. Hashing streams in 1 MiB chunks; nothing is cached on disk.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dllab.errors import DataError

__all__ = [
    "CorruptFile",
    "corrupt",
    "digest_content",
    "iter_content",
    "open_content",
    "read_content",
]

CHUNK = 1 << 20  # 1 MiB: large enough that hashing runs at memory speed
_GZIP_MAGIC = b"\x1f\x8b"
# What a damaged gzip stream raises: bad header, cut short, or a corrupt deflate block.
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


class CorruptFile(DataError):
    """A damaged data file. A file reader knows the path, not the dataset: the loader that
    asked for the dataset by name re-raises it `for_dataset(name)`, so the fix names it."""

    def __init__(self, path: str | Path, problem: str, dataset: str | None = None) -> None:
        self.path, self.problem, self.dataset = path, problem, dataset
        if dataset:
            fix = (
                f"delete it and run `dllab data download {dataset}`, or check the folder with "
                f"`dllab data verify {dataset}`"
            )
        else:
            fix = (
                "delete it and download it again (`dllab data download` and the dataset's name, "
                "from `dllab data list`), or check its folder with `dllab data verify`"
            )
        super().__init__(f"{path} is corrupt ({problem}); {fix}")

    def for_dataset(self, name: str) -> CorruptFile:
        return CorruptFile(self.path, self.problem, name)


def corrupt(path: str | Path, problem: str) -> CorruptFile:
    """The one error for a damaged data file: what is wrong and how to get a good copy."""
    return CorruptFile(path, problem)


def open_content(path: str | Path) -> BinaryIO:
    """Open `path` for reading its decompressed bytes (gzip is detected by its magic bytes)."""
    path = Path(path)
    with path.open("rb") as f:
        gzipped = f.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if gzipped else path.open("rb")  # type: ignore[return-value]


def iter_content(path: str | Path, chunk: int = CHUNK) -> Iterator[bytes]:
    """Yield the decompressed content of `path` in chunks; a damaged gzip raises DataError."""
    try:
        with open_content(path) as f:
            while block := f.read(chunk):
                yield block
    except _GZIP_ERRORS as e:
        raise corrupt(path, f"bad gzip stream: {e}") from None


def digest_content(path: str | Path) -> tuple[str, int]:
    """Return (sha256 hex digest, size in bytes) of the decompressed content, streaming."""
    h = hashlib.sha256()
    size = 0
    for block in iter_content(path):
        h.update(block)
        size += len(block)
    return h.hexdigest(), size


def read_content(path: str | Path) -> tuple[bytes, str]:
    """Return the whole decompressed content of `path` and its sha256, read once.

    Example: `data, sha = read_content("train-images-idx3-ubyte.gz")`.
    """
    raw = Path(path).read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except _GZIP_ERRORS as e:
            raise corrupt(path, f"bad gzip stream: {e}") from None
    return raw, hashlib.sha256(raw).hexdigest()
