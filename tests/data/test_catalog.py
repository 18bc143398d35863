"""The catalog: entries, digests that are real hex or honestly absent, and clear errors."""

import re

import pytest

from dllab.data import CATALOG, dataset_names, get_spec
from dllab.errors import ConfigError


def test_catalog_lists_every_dataset():
    assert dataset_names() == [
        *("cifar10", "cifar100", "digits", "fashion-mnist", "folder"),
        *("gettext-en-zh", "mnist", "peoples-daily", "reviews-zh", "synthetic-defects"),
    ]


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_entry_is_described_and_its_digests_are_sha256_or_none(name):
    spec = get_spec(name)
    assert spec.name == name and spec.description and spec.license
    for f in spec.files:
        assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256), f
    if spec.archive is not None:
        assert len(spec.archive.members) == len(spec.files)
        pairs = zip(spec.archive.members, spec.files, strict=True)
        assert all(member.endswith("/" + f.name) for member, f in pairs)
    if spec.files and not spec.bundled_with:
        assert spec.folders and spec.folders[0] == name  # what the error tells users to make
        assert spec.archive is not None or all(f.url for f in spec.files)


def test_mnist_and_fashion_mnist_pin_every_file():
    for name in ("mnist", "fashion-mnist"):
        assert all(f.sha256 and f.size for f in get_spec(name).files)
        assert len(get_spec(name).classes) == 10


def test_fashion_mnist_class_names_are_the_real_ones():
    assert get_spec("fashion-mnist").classes[:3] == ("T-shirt/top", "Trouser", "Pullover")
    assert get_spec("fashion-mnist").classes[-1] == "Ankle boot"


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'mnist'"):
        get_spec("mnsit")
