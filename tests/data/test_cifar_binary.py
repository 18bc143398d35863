"""CIFAR binary records: layout, CIFAR-100's two label bytes, and truncation."""

import numpy as np
import pytest

from dllab.data import parse_cifar, read_cifar, read_class_names
from dllab.errors import DataError


def _images(n: int) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_cifar10_records_round_trip(tmp_path, write_cifar, gz):
    images, labels = _images(5), np.array([0, 9, 3, 3, 1])
    path = write_cifar(tmp_path / "data_batch_1.bin", images, labels, gz=gz)

    got_images, got_labels = read_cifar(path)

    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.shape == (5, 3, 32, 32) and got_labels.dtype == np.int64


def test_pixels_are_red_then_green_then_blue_planes_row_major():
    record = bytes([7]) + bytes([1] * 1024 + [2] * 1024 + [3] * 1024)
    images, labels = parse_cifar(record)
    assert labels.tolist() == [[7]]
    assert [int(images[0, c].mean()) for c in range(3)] == [1, 2, 3]


def test_cifar100_has_coarse_then_fine_label(tmp_path, write_cifar):
    images = _images(3)
    labels = np.array([[4, 30], [1, 99], [19, 0]])  # (coarse, fine)
    path = write_cifar(tmp_path / "train.bin", images, labels)

    _, fine = read_cifar(path, label_bytes=2)
    _, coarse = read_cifar(path, label_bytes=2, label_index=0)

    assert fine.tolist() == [30, 99, 0] and coarse.tolist() == [4, 1, 19]


def test_truncated_cifar_file_is_corrupt(tmp_path, encode_cifar):
    path = tmp_path / "test_batch.bin"
    path.write_bytes(encode_cifar(_images(2), np.array([1, 2]))[:-100])
    with pytest.raises(DataError) as error:
        read_cifar(path)
    message = str(error.value)
    assert str(path) in message and "corrupt" in message and "3073-byte" in message
    assert "\n" not in message


def test_empty_cifar_file_is_corrupt(tmp_path):
    path = tmp_path / "test.bin"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="corrupt"):
        read_cifar(path, label_bytes=2)


def test_class_names_one_per_line_blank_lines_ignored(tmp_path):
    path = tmp_path / "batches.meta.txt"
    path.write_text("airplane\nautomobile\n\nbird \n\n")
    assert read_class_names(path) == ["airplane", "automobile", "bird"]
