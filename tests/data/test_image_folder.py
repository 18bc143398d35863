"""A folder of the user's own images: layouts, conversion, splits, and unreadable files."""

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from dllab.data import ImageFolder, load_image_dataset, scan_folder
from dllab.errors import ConfigError, DataError


def test_flat_class_folders_get_seeded_stratified_splits(tmp_path, write_images):
    write_images(tmp_path / "pets", ["dog", "cat", "bird"], per_class=10)

    data = load_image_dataset("folder", path=tmp_path / "pets", seed=0)

    assert data.classes == ["bird", "cat", "dog"]  # sorted folder names
    assert (len(data.train), len(data.val), len(data.test)) == (22, 2, 6)
    files = [set(p for p, _ in split.samples) for split in (data.train, data.val, data.test)]
    assert not (files[0] & files[1] or files[0] & files[2] or files[1] & files[2])
    assert sorted(data.test.labels.tolist()) == [0, 0, 1, 1, 2, 2]
    again = load_image_dataset("folder", path=tmp_path / "pets", seed=0)
    assert again.test.samples == data.test.samples
    assert data.source == str(tmp_path / "pets") and data.checksums == {}


def test_items_are_uint8_chw_at_the_images_own_size_and_mode(tmp_path, write_images):
    write_images(tmp_path / "rgb", ["a", "b"], size=(12, 10))  # 12 wide, 10 high
    write_images(tmp_path / "grey", ["a", "b"], mode="L")

    rgb = load_image_dataset("folder", path=tmp_path / "rgb")
    image, label = rgb.train[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 10, 10) and isinstance(label, int)
    assert (rgb.image_size, rgb.in_channels) == (10, 3)
    assert load_image_dataset("folder", path=tmp_path / "grey").train[0][0].shape == (1, 10, 10)


def test_image_size_and_channels_are_applied(tmp_path, write_images):
    write_images(tmp_path / "imgs", ["a", "b"], mode="L")
    data = load_image_dataset("folder", path=tmp_path / "imgs", image_size=16, channels=3)
    assert data.train[0][0].shape == (3, 16, 16)
    assert len(data.mean) == 3 and data.in_channels == 3 and data.image_size == 16


def test_train_val_test_folders_are_used_as_they_are(tmp_path, write_images):
    write_images(tmp_path / "ds" / "train", ["a", "b"], per_class=4)
    write_images(tmp_path / "ds" / "val", ["a", "b"], per_class=1)
    write_images(tmp_path / "ds" / "test", ["a", "b"], per_class=2)

    data = load_image_dataset("folder", path=tmp_path / "ds")

    assert (len(data.train), len(data.val), len(data.test)) == (8, 2, 4)
    assert all("/val/" in str(p) for p, _ in data.val.samples)


def test_missing_val_and_test_folders_are_drawn_from_train(tmp_path, write_images):
    write_images(tmp_path / "ds" / "train", ["a", "b"], per_class=10)
    data = load_image_dataset("folder", path=tmp_path / "ds", val_fraction=0.25)
    assert (len(data.train), len(data.val), len(data.test)) == (12, 4, 4)


def test_mean_and_std_come_from_the_training_images(tmp_path):
    for name, value in (("black", 0), ("white", 255)):
        (tmp_path / "bw" / name).mkdir(parents=True)
        for i in range(5):
            Image.new("L", (4, 4), value).save(tmp_path / "bw" / name / f"{i}.png")
    data = load_image_dataset("folder", path=tmp_path / "bw", val_fraction=0.0)
    n_white = sum(label for _, label in data.train.samples)
    assert data.mean[0] == pytest.approx(n_white / len(data.train))


def test_unreadable_image_names_the_file(tmp_path, write_images):
    write_images(tmp_path / "ds", ["a", "b"])
    bad = tmp_path / "ds" / "a" / "broken.png"
    bad.write_bytes(b"not a png at all")
    folder = ImageFolder([(bad, 0)], image_size=8, channels=3)
    with pytest.raises(DataError) as error:
        folder[0]
    message = str(error.value)
    assert str(bad) in message and "\n" not in message
    with pytest.raises(DataError, match="broken.png"):  # found while measuring mean/std
        load_image_dataset("folder", path=tmp_path / "ds", val_fraction=0.0, test_fraction=0.1)


def test_a_dataloader_batches_the_folder(tmp_path, write_images):
    write_images(tmp_path / "ds", ["a", "b"], per_class=4)
    data = load_image_dataset("folder", path=tmp_path / "ds", image_size=8)
    images, labels = next(iter(DataLoader(data.train, batch_size=3)))
    assert images.shape == (3, 3, 8, 8) and images.dtype == torch.uint8 and labels.shape == (3,)


def test_bad_folders_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="path=DIR"):
        load_image_dataset("folder")
    with pytest.raises(DataError, match="does not exist"):
        scan_folder(tmp_path / "nowhere")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        scan_folder(tmp_path / "empty")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match="no class folders"):
        scan_folder(tmp_path / "flat")
    (tmp_path / "only-val" / "val" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no train/"):
        scan_folder(tmp_path / "only-val")
