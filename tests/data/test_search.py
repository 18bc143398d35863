"""Where datasets are looked for, in which order, and what a missing one says."""

import os
from pathlib import Path

import pytest

from dllab.data import dataset_status, find_all, locate, search_roots
from dllab.data.catalog import dataset_names
from dllab.errors import ConfigError, DataError


def _home() -> Path:
    return Path(os.environ["HOME"])


def test_search_order_is_data_dir_env_cache_then_system(tmp_path, monkeypatch):
    monkeypatch.setenv("DLLAB_DATA", str(tmp_path / "env"))
    roots = search_roots(tmp_path / "explicit")
    assert roots == [
        tmp_path / "explicit",
        tmp_path / "env",
        _home() / ".cache" / "dllab",
        tmp_path / "system",
    ]
    assert search_roots()[0] == tmp_path / "env"


def test_data_dir_wins_over_env_which_wins_over_cache_and_system(tmp_path, monkeypatch, mnist_like):
    places = {
        "explicit": tmp_path / "explicit" / "mnist",
        "env": tmp_path / "env" / "MNIST" / "raw",
        "cache": _home() / ".cache" / "dllab" / "mnist",
        "system": tmp_path / "system" / "mnist",
    }
    for folder in places.values():
        mnist_like(folder, gz=True)
    monkeypatch.setenv("DLLAB_DATA", str(tmp_path / "env"))

    assert locate("mnist", data_dir=tmp_path / "explicit") == places["explicit"]
    assert locate("mnist") == places["env"]
    monkeypatch.delenv("DLLAB_DATA")
    assert locate("mnist") == places["cache"]


def test_system_folder_is_found_when_nothing_else_is(tmp_path, mnist_like):
    mnist_like(tmp_path / "system" / "mnist")
    assert locate("mnist") == tmp_path / "system" / "mnist"


def test_files_may_be_plain_gzipped_or_mixed(tmp_path, mnist_like, write_idx):
    folder = tmp_path / "data" / "mnist"
    arrays = mnist_like(folder, gz=True)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    write_idx(folder / "t10k-labels-idx1-ubyte", arrays["t10k-labels-idx1-ubyte"])
    assert locate("mnist", data_dir=tmp_path / "data") == folder


def test_data_dir_may_be_the_dataset_folder_itself(tmp_path, mnist_like):
    mnist_like(tmp_path / "my-mnist-copy")
    assert locate("mnist", data_dir=tmp_path / "my-mnist-copy") == tmp_path / "my-mnist-copy"


def test_missing_dataset_says_which_files_where_it_looked_and_how_to_fix(tmp_path):
    with pytest.raises(DataError) as error:
        locate("mnist", data_dir=tmp_path / "explicit")
    message = str(error.value)
    assert "\n" not in message
    for name in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert name in message
    assert "mnist/" in message and "MNIST/raw/" in message
    assert str(tmp_path / "explicit") in message and str(tmp_path / "system") in message
    assert "~/.cache/dllab" in message
    assert "run `dllab data download mnist`" in message
    assert message.endswith("copy them to ~/.cache/dllab/mnist")


def test_partial_folder_names_only_the_missing_files(tmp_path, mnist_like):
    folder = tmp_path / "system" / "mnist"
    mnist_like(folder)
    (folder / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DataError) as error:
        locate("mnist")
    message = str(error.value)
    assert "missing t10k-images-idx3-ubyte[.gz];" in message
    assert "train-images-idx3-ubyte" not in message


def test_missing_message_points_at_dllab_data_when_it_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("DLLAB_DATA", str(tmp_path / "big-disk"))
    with pytest.raises(DataError) as error:
        locate("cifar10")
    message = str(error.value)
    assert f"$DLLAB_DATA={tmp_path / 'big-disk'}" in message
    assert message.endswith(f"copy them to {tmp_path / 'big-disk' / 'cifar10'}")


def test_digits_are_found_where_scikit_learn_ships_them():
    folder = locate("digits")
    assert folder.parts[-3:] == ("sklearn", "datasets", "data")
    assert (folder / "digits.csv.gz").is_file()


def test_a_folder_dataset_has_no_fixed_place():
    with pytest.raises(ConfigError, match="path=DIR"):
        locate("folder")


def test_find_all_reports_every_dataset_without_raising(tmp_path, mnist_like):
    mnist_like(tmp_path / "system" / "mnist")
    (tmp_path / "system" / "cifar100").mkdir()
    (tmp_path / "system" / "cifar100" / "train.bin").write_bytes(b"")
    statuses = {s.name: s for s in find_all()}
    assert sorted(statuses) == dataset_names()
    assert statuses["mnist"].found and statuses["mnist"].folder == tmp_path / "system" / "mnist"
    assert not statuses["cifar10"].found and "not found" in statuses["cifar10"].note
    assert statuses["cifar100"].note.startswith("no test.bin, fine_label_names.txt;")
    assert statuses["digits"].found and "sklearn" in statuses["digits"].note
    assert not statuses["folder"].found
    assert all("\n" not in s.line() for s in statuses.values())


def test_dataset_status_rows_say_where_or_what_to_do(tmp_path, mnist_like):
    mnist_like(tmp_path / "system" / "mnist")
    rows = {name: (found, where) for name, found, where in dataset_status()}
    assert rows["mnist"] == (True, str(tmp_path / "system" / "mnist"))
    assert rows["cifar100"][0] is False and "dllab data download cifar100" in rows["cifar100"][1]


def test_package_installed_data_is_counted_or_names_the_packages(tmp_path):
    from dllab.data.catalog import DatasetSpec
    from dllab.data.search import _installed_status

    spec = DatasetSpec(
        "x", "d", "l", "h", folders=(str(tmp_path / "mo"),), packages=("git", "tar", "bash", "wget")
    )
    missing = _installed_status(spec)
    assert not missing.found and missing.note == "not installed; apt-get install git tar bash …"
    (tmp_path / "mo").mkdir()
    (tmp_path / "mo" / "git.mo").write_bytes(b"")
    found = _installed_status(spec)
    assert found.folder == tmp_path / "mo" and found.note == "1 files installed by system packages"
