"""Issue 13, item 5: a corrupt IDX file (MNIST's format): a wrong magic number, cut short,
empty, or a damaged gzip stream. Training on it and `dllab data verify` both refuse it: exit
status 2, one stderr line that names the file and the command that gets a good copy (with
the dataset's real name), and no file changed or run folder created.
"""

from __future__ import annotations

import gzip
import struct

import pytest

from ._cases import cases, cli
from .conftest import hashes, one_line

IMAGES = "train-images-idx3-ubyte"
N = 60_000  # MNIST's training images: the catalog knows the exact size of the file


def _wrong_magic(folder) -> None:  # the right size, but not an IDX header
    content = struct.pack(">IIII", 0x12345678, N, 28, 28) + bytes(N * 784)
    (folder / f"{IMAGES}.gz").write_bytes(gzip.compress(content, compresslevel=1))


def _truncated(folder) -> None:
    (folder / IMAGES).write_bytes(struct.pack(">IIII", 0x803, N, 28, 28) + bytes(1000))


def _empty(folder) -> None:
    (folder / IMAGES).write_bytes(b"")


def _truncated_gzip(folder) -> None:
    whole = gzip.compress(struct.pack(">IIII", 0x803, N, 28, 28) + bytes(100_000))
    (folder / f"{IMAGES}.gz").write_bytes(whole[: len(whole) // 2])


def _gzip_magic_then_garbage(folder) -> None:
    (folder / f"{IMAGES}.gz").write_bytes(b"\x1f\x8b" + b"not a gzip stream at all" * 10)


DAMAGE = cases(
    ("wrong-magic", _wrong_magic, "checksum mismatch"),
    ("truncated", _truncated, "bytes of content"),
    ("empty", _empty, "0 bytes"),
    ("truncated-gzip", _truncated_gzip, "corrupt"),
    ("gzip-magic-then-garbage", _gzip_magic_then_garbage, "corrupt"),
)


@pytest.fixture
def data(tmp_path):
    """tmp_path/d/mnist with the three other files (never read: the images fail first)."""
    folder = tmp_path / "d" / "mnist"
    folder.mkdir(parents=True)
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / name).write_bytes(b"\x00\x00\x08\x01")
    (tmp_path / "empty").mkdir()
    return folder


COMMANDS = {
    "run": lambda d: ["run", "quickstart", "data.name=mnist", f"data.data_dir={d}"],
    "verify": lambda d: ["data", "verify", "mnist", "--data-dir", str(d)],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(("damage", "words"), DAMAGE)
def test_a_corrupt_idx_file_names_the_file_and_the_dataset(
    request, tmp_path, data, command, damage, words
):
    damage(data)
    work = tmp_path / "work"  # where a run folder would go
    work.mkdir()
    (work / "keep.txt").write_text("mine\n")
    env = {"HOME": str(tmp_path / "home"), "DLLAB_DATA": str(tmp_path / "empty")}
    before = hashes(work, data)
    out = cli(*COMMANDS[command](data.parent), cwd=work, env=env)
    line = one_line(out)
    assert IMAGES in line and words in line, line
    assert "dllab data download mnist" in line, line  # the real name, not a placeholder
    assert hashes(work, data) == before  # no run folder either
