"""Issue 13, item 5: image edge cases in a folder of the user's own images
(`data.name=folder`). An unreadable file (a truncated PNG or JPEG, an empty file, text named
.png), a 14000x14000 PNG over Pillow's pixel limit, or a folder with one class is refused in
one stderr line naming the file (or folder) and the fix, exit status 2, with the images
untouched and no run folder left. What is unusual but fine (every PIL mode: L, LA, P, RGBA,
CMYK, 16-bit, 1-bit…, a 1x1 image, non-ASCII names) is read, and a folder of all of them
trains.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dllab.data.folder import read_image

from ._cases import cases, cli
from .conftest import hashes, one_line

QUICK = ["train.max_steps=2", "schedule.name=none", "data.image_size=8"]


def _folder(root: Path, per_class: int = 6) -> Path:
    """root/{train,val,test}/{a,b}/*.png: small RGB images, enough for a 2-step run."""
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("val", 2), ("test", 2)):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / label / f"{i}.png")
    return root


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _huge_png(path: Path, side: int = 14_000) -> None:
    """A valid PNG header for side x side grey pixels (196 Mpx); a few hundred bytes on disk."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (side + 1))  # the first row only: opening reads no further
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _truncated_png(path: Path) -> None:
    noise = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # half the pixel data


def _truncated_jpeg(path: Path) -> None:
    noise = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, format="JPEG")
    path.write_bytes(path.read_bytes()[:400])


BAD_FILES = cases(
    ("truncated-png", "0_cut.png", _truncated_png, "cannot read image"),
    ("truncated-jpeg", "0_cut.jpg", _truncated_jpeg, "cannot read image"),
    ("empty-file", "0_empty.png", lambda p: p.write_bytes(b""), "cannot read image"),
    ("text-named-png", "0_notes.png", lambda p: p.write_text("hello\n"), "cannot read image"),
    ("over-the-pixel-limit", "0_huge.png", _huge_png, "DLLAB_MAX_IMAGE_PIXELS"),
)


@pytest.mark.parametrize(("name", "write", "words"), BAD_FILES)
def test_an_unreadable_image_is_one_line_naming_it(tmp_path, name, write, words):
    images = _folder(tmp_path / "images")
    write(images / "train" / "a" / name)
    before = hashes(tmp_path)
    out = cli("run", "quickstart", "data.name=folder", "data.path=images", *QUICK, cwd=tmp_path)
    line = one_line(out)
    assert name in line and words in line, line
    assert hashes(tmp_path) == before  # the images as they were, and no run folder


def test_a_folder_with_one_class_is_refused_before_training(tmp_path, dllab):
    images = tmp_path / "images"
    for split in ("train", "val", "test"):
        (images / split / "cat").mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (12, 12), (i, 0, 0)).save(images / split / "cat" / f"{i}.png")
    before = hashes(tmp_path)
    out = dllab("run", "quickstart", "data.name=folder", "data.path=images", *QUICK, cwd=tmp_path)
    line = one_line(out)
    assert "one class" in line and "cat" in line and "2" in line, line
    assert hashes(tmp_path) == before


def _mode(mode: str):
    """An image of `mode` (what a user's folder may hold), from 12x12 RGB noise."""

    def make(path: Path) -> None:
        rgb = Image.fromarray(
            np.random.default_rng(2).integers(0, 255, (12, 12, 3), dtype=np.uint8)
        )
        if mode == "I;16":
            Image.fromarray(np.asarray(rgb.convert("L"), np.uint16) * 257).save(path)
        elif mode == "P-transparent":
            rgb.convert("P").save(path, transparency=0)
        else:
            rgb.convert(mode).save(path)

    return make


MODES = cases(
    ("grey-L", "m.png", _mode("L")),
    ("grey-alpha-LA", "m.png", _mode("LA")),
    ("palette-P", "m.png", _mode("P")),
    ("palette-transparent", "m.png", _mode("P-transparent")),
    ("rgba", "m.png", _mode("RGBA")),
    ("cmyk-jpeg", "m.jpg", _mode("CMYK")),
    ("16-bit-png", "m.png", _mode("I;16")),
    ("1-bit", "m.png", _mode("1")),
    ("32-bit-int-tiff", "m.tif", _mode("I")),
    ("float-tiff", "m.tif", _mode("F")),
    ("one-pixel", "m.png", lambda p: Image.new("RGB", (1, 1), (9, 9, 9)).save(p)),
    ("wide-strip", "m.png", lambda p: Image.new("L", (300, 2), 5).save(p)),
    ("unicode-name", "猫 café ü.png", _mode("RGB")),
)


@pytest.mark.parametrize(("name", "write"), MODES)
def test_an_unusual_image_reads_as_grey_and_as_rgb(tmp_path, name, write):
    path = tmp_path / name
    write(path)
    before = hashes(path)
    for channels in (1, 3):
        image = read_image(path, 8, channels)
        assert image.shape == (channels, 8, 8) and str(image.dtype) == "torch.uint8"
    assert hashes(path) == before


def test_a_folder_of_every_mode_and_unicode_names_trains(tmp_path, dllab):
    images = _folder(tmp_path / "images")
    for i, (params, _) in enumerate(zip(MODES, range(len(MODES)), strict=True)):
        name, write = params.values
        label = "a" if i % 2 else "b"
        write(images / "train" / label / f"{i}-{name}")
    (images / "test" / "ünïcode 类").mkdir()  # a class whose name is not ASCII
    _mode("RGB")(images / "test" / "ünïcode 类" / "x.png")
    (images / "train" / "ünïcode 类").mkdir()
    for i in range(3):
        _mode("LA")(images / "train" / "ünïcode 类" / f"{i}.png")
    before = hashes(images)
    out = dllab(
        "run", "quickstart", "data.name=folder", "data.path=images", *QUICK, "--run-dir", "r",
        cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["steps"] == 2
    assert hashes(images) == before
