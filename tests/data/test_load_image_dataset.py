"""`load_image_dataset` on small files in the real formats (IDX, CIFAR binary)."""

import hashlib
from dataclasses import replace

import numpy as np
import pytest
import torch

from dllab.data import CATALOG, FileSpec, channel_stats, get_spec, load_image_dataset
from dllab.errors import ConfigError, DataError


@pytest.fixture
def tiny_catalog(monkeypatch):
    """Catalog entries that accept small files: no pinned digests or sizes."""

    def unpin(name: str) -> None:
        spec = get_spec(name)
        files = tuple(FileSpec(f.name, None, f.url) for f in spec.files)
        monkeypatch.setitem(CATALOG, name, replace(spec, files=files))

    for name in ("mnist", "fashion-mnist", "cifar10", "cifar100"):
        unpin(name)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_keeps_its_test_split_and_carves_validation_from_train(
    tmp_path, tiny_catalog, mnist_like, gz
):
    arrays = mnist_like(tmp_path / "mnist", n_train=100, n_test=30, gz=gz)

    data = load_image_dataset("mnist", data_dir=tmp_path, val_fraction=0.1, seed=0)

    assert (len(data.train), len(data.val), len(data.test)) == (90, 10, 30)
    assert data.train.images.shape == (90, 1, 28, 28) and data.train.images.dtype == torch.uint8
    assert data.train.labels.dtype == torch.int64
    np.testing.assert_array_equal(data.test.images[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])
    assert torch.bincount(data.val.labels).tolist() == [1] * 10  # stratified
    assert data.classes == [str(d) for d in range(10)]
    assert (data.image_size, data.in_channels) == (28, 1)
    assert data.source == str(tmp_path / "mnist")


def test_checksums_are_of_decompressed_content(tmp_path, tiny_catalog, mnist_like, encode_idx):
    arrays = mnist_like(tmp_path / "mnist", gz=True)
    data = load_image_dataset("mnist", data_dir=tmp_path)
    expected = {n: hashlib.sha256(encode_idx(a)).hexdigest() for n, a in arrays.items()}
    assert data.checksums == dict(sorted(expected.items()))


def test_mean_and_std_are_fitted_on_the_training_split(tmp_path, tiny_catalog, mnist_like):
    mnist_like(tmp_path / "fashion-mnist")
    data = load_image_dataset("fashion-mnist", data_dir=tmp_path)
    x = data.train.images.double() / 255
    assert data.mean == pytest.approx((x.mean().item(),))
    assert data.std == pytest.approx((x.std(unbiased=False).item(),))
    assert data.classes[0] == "T-shirt/top"


def test_a_file_that_fails_its_checksum_stops_the_load(tmp_path, mnist_like, monkeypatch):
    mnist_like(tmp_path / "mnist")
    spec = get_spec("mnist")
    wrong = tuple(FileSpec(f.name, "0" * 64 if "t10k-im" in f.name else None) for f in spec.files)
    monkeypatch.setitem(CATALOG, "mnist", replace(spec, files=wrong))
    with pytest.raises(DataError) as error:
        load_image_dataset("mnist", data_dir=tmp_path)
    message = str(error.value)
    assert "checksum mismatch" in message and "t10k-images-idx3-ubyte" in message
    assert "dllab data download mnist" in message


def test_real_digests_refuse_small_fake_files(tmp_path, mnist_like):
    mnist_like(tmp_path / "mnist")
    with pytest.raises(DataError, match="bytes of content, expected"):
        load_image_dataset("mnist", data_dir=tmp_path)


def test_labels_beyond_the_class_list_are_corrupt(tmp_path, tiny_catalog, mnist_like, write_idx):
    mnist_like(tmp_path / "mnist")
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte", np.full(20, 42, dtype=np.uint8))
    with pytest.raises(DataError, match="label 42 but only 10 classes"):
        load_image_dataset("mnist", data_dir=tmp_path)


def _cifar_folder(folder, write_cifar, label_bytes, n_classes, per_file=20):
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    if label_bytes == 2:
        names = ["train.bin", "test.bin"]
    written = {}
    for name in names:
        images = rng.integers(0, 256, (per_file, 3, 32, 32), dtype=np.uint8)
        labels = np.arange(per_file) % n_classes
        if label_bytes == 2:
            labels = np.stack([labels // 5, labels], axis=1)  # coarse, fine
        write_cifar(folder / name, images, labels)
        written[name] = (images, labels)
    return written


def test_cifar10_reads_five_batches_and_class_names(tmp_path, tiny_catalog, write_cifar):
    folder = tmp_path / "cifar-10-batches-bin"
    written = _cifar_folder(folder, write_cifar, label_bytes=1, n_classes=10)
    (folder / "batches.meta.txt").write_text(
        "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n"
    )

    data = load_image_dataset("cifar10", data_dir=tmp_path, val_fraction=0.2)

    assert (len(data.train), len(data.val), len(data.test)) == (80, 20, 20)
    assert data.train.images.shape[1:] == (3, 32, 32) and data.in_channels == 3
    assert data.classes[0] == "airplane" and len(data.classes) == 10
    np.testing.assert_array_equal(data.test.images.numpy(), written["test_batch.bin"][0])
    assert set(data.checksums) == {*written, "batches.meta.txt"}
    assert len(data.mean) == 3 and data.source == str(folder)


def test_cifar100_uses_the_fine_labels(tmp_path, tiny_catalog, write_cifar):
    folder = tmp_path / "cifar100"
    written = _cifar_folder(folder, write_cifar, label_bytes=2, n_classes=100, per_file=200)
    (folder / "fine_label_names.txt").write_text("\n".join(f"class{i}" for i in range(100)))

    data = load_image_dataset("cifar100", data_dir=tmp_path, val_fraction=0.0)

    assert data.test.labels.tolist() == written["test.bin"][1][:, 1].tolist()
    assert len(data.classes) == 100 and data.classes[99] == "class99"


def test_in_memory_images_can_be_resized_and_made_rgb(tmp_path, tiny_catalog, mnist_like):
    mnist_like(tmp_path / "mnist")
    data = load_image_dataset("mnist", data_dir=tmp_path, image_size=32, channels=3)
    assert data.train.images.shape[1:] == (3, 32, 32) and data.train.images.dtype == torch.uint8
    assert (data.image_size, data.in_channels) == (32, 3)
    assert data.mean == pytest.approx(channel_stats(data.train.images)[0])


@pytest.mark.parametrize(
    "options",
    [{"val_fraction": 1.0}, {"val_fraction": -0.1}, {"test_fraction": 0.0}, {"channels": 2}],
)
def test_bad_options_are_config_errors(options):
    with pytest.raises(ConfigError):
        load_image_dataset("digits", **options)


def test_unknown_dataset_is_a_config_error():
    with pytest.raises(ConfigError, match="did you mean"):
        load_image_dataset("cifar")
