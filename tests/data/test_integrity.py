"""`verify`: sha256 of decompressed content, mismatches named, unpublished digests reported."""

import gzip
import hashlib
from dataclasses import replace

import pytest

from dllab.data import CATALOG, DatasetSpec, FileSpec, check_files, verify
from dllab.errors import DataError

CONTENT = b"hello, dataset\n" * 100
DIGEST = hashlib.sha256(CONTENT).hexdigest()


def _spec(sha256, size=None) -> DatasetSpec:
    return DatasetSpec(
        name="tiny",
        description="a test dataset",
        license="CC0",
        homepage="",
        files=(FileSpec("tiny.bin", sha256, "http://127.0.0.1/tiny.bin", size),),
        folders=("tiny",),
    )


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setitem(CATALOG, "tiny", _spec(DIGEST, len(CONTENT)))
    folder = tmp_path / "data" / "tiny"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize("gz", [False, True])
def test_plain_and_gzipped_files_have_the_same_digest(tiny, tmp_path, gz):
    if gz:
        (tiny / "tiny.bin.gz").write_bytes(gzip.compress(CONTENT))
    else:
        (tiny / "tiny.bin").write_bytes(CONTENT)
    assert verify("tiny", data_dir=tmp_path / "data") == {"tiny.bin": DIGEST}


def test_mismatch_names_the_file_the_expected_and_the_computed_digest(tiny, tmp_path):
    (tiny / "tiny.bin").write_bytes(CONTENT.replace(b"hello", b"HELLO"))
    got = hashlib.sha256(CONTENT.replace(b"hello", b"HELLO")).hexdigest()
    with pytest.raises(DataError) as error:
        verify("tiny", data_dir=tmp_path / "data")
    message = str(error.value)
    assert str(tiny / "tiny.bin") in message
    assert f"expected sha256 {DIGEST}" in message and f"got {got}" in message
    assert "dllab data download tiny" in message and "\n" not in message


def test_wrong_size_is_reported_before_hashing_matters(tiny, tmp_path):
    (tiny / "tiny.bin").write_bytes(CONTENT[:-1])
    with pytest.raises(DataError, match=f"expected {len(CONTENT)}"):
        verify("tiny", data_dir=tmp_path / "data")


def test_a_spec_can_be_given_directly(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "tiny.bin").write_bytes(CONTENT)
    spec = _spec("0" * 64)
    with pytest.raises(DataError, match="checksum mismatch"):
        verify("tiny", data_dir=tmp_path, spec=spec)
    assert verify(
        "tiny", data_dir=tmp_path, spec=replace(spec, files=(FileSpec("tiny.bin", DIGEST),))
    )


def test_unpublished_digest_is_computed_and_said_so(tmp_path):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "tiny.bin").write_bytes(CONTENT)
    [check] = check_files("tiny", data_dir=tmp_path, spec=_spec(None))
    assert not check.published
    assert check.line() == f"tiny.bin: no published checksum; computed {DIGEST}"
    assert verify("tiny", data_dir=tmp_path, spec=_spec(None)) == {"tiny.bin": DIGEST}


def test_verify_writes_nothing_into_the_data_folder(tiny, tmp_path):
    (tiny / "tiny.bin").write_bytes(CONTENT)
    verify("tiny", data_dir=tmp_path / "data")
    assert [p.name for p in tiny.iterdir()] == ["tiny.bin"]


def test_package_installed_data_is_hashed_file_by_file(tmp_path):
    spec = DatasetSpec("x", "d", "l", "h", folders=(str(tmp_path),), packages=("git",))
    with pytest.raises(DataError, match="apt-get install git"):
        check_files("x", spec=spec)
    (tmp_path / "git.mo").write_bytes(b"abc")
    [check] = check_files("x", spec=spec)
    assert check.sha256 == hashlib.sha256(b"abc").hexdigest() and not check.published
    assert check.line().startswith("git.mo: no published checksum; computed ")
