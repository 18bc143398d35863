"""The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

A big-endian header: two zero bytes, a type code, the number of dimensions, then one 32-bit
size per dimension, then the values. Images are `0x00000803` (uint8, 3 dims: N, rows, cols),
labels `0x00000801` (uint8, 1 dim: N).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from dllab.data.checksum import corrupt, read_content

__all__ = ["parse_idx", "read_idx"]

# IDX type code -> big-endian numpy dtype
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, source: str | Path = "<bytes>", ndim: int | None = None) -> np.ndarray:
    """Decode IDX bytes into a native-endian, writable array of the shape in the header.

    `ndim`, when given, is the number of dimensions expected (3 for images, 1 for labels).
    A bad magic number, a wrong rank or a size that disagrees with the header raises DataError.
    """
    if len(data) < 4:
        raise corrupt(source, f"{len(data)} bytes, too short for an IDX header")
    zero, code, rank = struct.unpack(">HBB", data[:4])
    magic = int.from_bytes(data[:4], "big")
    if zero != 0 or code not in _DTYPES or rank == 0:
        raise corrupt(source, f"bad IDX magic number 0x{magic:08X}; not an IDX file")
    if ndim is not None and rank != ndim:
        expected = 0x0800 | ndim
        raise corrupt(source, f"IDX magic number 0x{magic:08X}, expected 0x{expected:08X}")
    header = 4 + 4 * rank
    if len(data) < header:
        raise corrupt(source, "truncated IDX header")
    shape = struct.unpack(f">{rank}I", data[4:header])
    dtype = np.dtype(_DTYPES[code])
    need = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != need:
        how = "truncated" if len(data) < need else "has trailing bytes"
        raise corrupt(source, f"{how}: {len(data)} bytes, the header {shape} needs {need}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a native-endian copy torch can share


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file, plain or gzipped, into a numpy array.

    Example: `read_idx("train-images-idx3-ubyte.gz", ndim=3)` -> uint8 array (60000, 28, 28).
    """
    data, _ = read_content(path)
    return parse_idx(data, path, ndim)
