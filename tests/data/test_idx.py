"""IDX (MNIST format) reading: round trips, gzip, and corrupt files."""

import gzip
import struct

import numpy as np
import pytest

from dllab.data import parse_idx, read_idx
from dllab.errors import DataError


@pytest.mark.parametrize("gz", [False, True])
def test_images_and_labels_round_trip_plain_and_gzipped(tmp_path, write_idx, gz):
    images = np.random.default_rng(1).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9, 2], dtype=np.uint8)
    img_path = write_idx(tmp_path / "train-images-idx3-ubyte", images, gz=gz)
    lab_path = write_idx(tmp_path / "train-labels-idx1-ubyte", labels, gz=gz)

    assert img_path.name.endswith(".gz") == gz
    np.testing.assert_array_equal(read_idx(img_path, ndim=3), images)
    np.testing.assert_array_equal(read_idx(lab_path, ndim=1), labels)
    assert read_idx(img_path).flags.writeable  # torch.from_numpy needs no copy or warning


def test_big_endian_wider_types_come_back_native():
    values = np.array([[1, -2], [300, 40000]], dtype=">i4")
    data = struct.pack(">HBB2I", 0, 0x0C, 2, 2, 2) + values.tobytes()
    out = parse_idx(data)
    assert out.dtype == np.int32 and out.dtype.byteorder in "=<|"
    np.testing.assert_array_equal(out, values)


def _assert_corrupt(error: pytest.ExceptionInfo, path, words: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message
    assert "corrupt" in message and words in message
    assert "dllab data download" in message and "dllab data verify" in message


def test_bad_magic_number_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x12\x34\x08\x03" + bytes(100))
    with pytest.raises(DataError) as error:
        read_idx(path)
    _assert_corrupt(error, path, "0x12340803")


def test_labels_file_where_images_are_expected_is_refused(tmp_path, write_idx):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros(5, dtype=np.uint8))
    with pytest.raises(DataError) as error:
        read_idx(path, ndim=3)
    _assert_corrupt(error, path, "expected 0x00000803")


@pytest.mark.parametrize("cut", [1, 100, 28 * 28 * 3 + 10])
def test_truncated_file_is_corrupt(tmp_path, encode_idx, cut):
    data = encode_idx(np.zeros((4, 28, 28), dtype=np.uint8))
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(data[: len(data) - cut])
    with pytest.raises(DataError) as error:
        read_idx(path)
    _assert_corrupt(error, path, "truncated")


def test_trailing_bytes_are_corrupt(tmp_path, encode_idx):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(encode_idx(np.zeros(3, dtype=np.uint8)) + b"junk")
    with pytest.raises(DataError, match="trailing bytes"):
        read_idx(path)


def test_cut_gzip_stream_is_corrupt(tmp_path, encode_idx):
    packed = gzip.compress(encode_idx(np.zeros((10, 28, 28), dtype=np.uint8)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError) as error:
        read_idx(path)
    _assert_corrupt(error, path, "gzip")
