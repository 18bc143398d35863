"""The shared image reader: a phone's portrait comes back upright, a 16-bit grey is scaled by
its own range, an 8-bit RGB file is untouched, and a bad file is one line naming it; and every
reader of a user's photograph (folder, classification, detection, serve, style transfer)
goes through it."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dllab.data.image_io import as_grey8, read_image_rgb
from dllab.errors import InputError

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _portrait_jpeg(path: Path) -> Path:
    """A JPEG stored 40 wide x 20 high, red left half and blue right half, tagged EXIF
    orientation 6 (the camera was turned: show it rotated 90° clockwise, 20 wide x 40 high,
    red on top and blue below)."""
    stored = Image.new("RGB", (40, 20), BLUE)
    stored.paste(RED, (0, 0, 20, 20))
    exif = stored.getexif()
    exif[0x0112] = 6  # EXIF Orientation
    stored.save(path, quality=95, exif=exif)
    return path


def _is(pixel: np.ndarray, colour: tuple[int, int, int]) -> bool:
    """`pixel` (RGB, 0..255) is `colour` up to JPEG's error."""
    return bool(np.abs(pixel.astype(int) - np.array(colour)).max() < 60)


def test_a_jpeg_with_exif_orientation_6_comes_back_upright(tmp_path: Path) -> None:
    path = _portrait_jpeg(tmp_path / "phone.jpg")
    with Image.open(path) as opened:
        stored = np.asarray(opened.convert("RGB"))  # (20, 40, 3): as the file holds it
    upright = read_image_rgb(path)
    assert upright.shape == (40, 20, 3) and upright.dtype == np.uint8
    np.testing.assert_array_equal(upright, np.rot90(stored, k=-1))  # a quarter turn clockwise
    assert _is(upright[0, 0], RED) and _is(upright[-1, -1], BLUE)


def test_a_16_bit_png_is_scaled_by_its_own_range(tmp_path: Path) -> None:
    values = np.linspace(1000, 3000, 6 * 11).reshape(6, 11).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "scan16.png")
    rgb = read_image_rgb(tmp_path / "scan16.png")
    expected = np.round((values.astype(np.float64) - 1000) / 2000 * 255).astype(np.uint8)
    assert rgb.shape == (6, 11, 3) and rgb.min() == 0 and rgb.max() == 255
    for channel in range(3):  # grey: the same in R, G and B
        np.testing.assert_array_equal(rgb[..., channel], expected)


def test_a_16_bit_png_read_as_grey_is_scaled_too(tmp_path: Path) -> None:
    values = np.linspace(1000, 3000, 4 * 5).reshape(4, 5).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "scan16.png")
    with Image.open(tmp_path / "scan16.png") as opened:
        grey = np.asarray(as_grey8(opened))
    assert grey.shape == (4, 5) and grey.min() == 0 and grey.max() == 255
    assert np.all(np.diff(grey.astype(int).ravel()) > 0)  # every step of the ramp survives


@pytest.mark.parametrize("dtype, suffix", [("<u2", ".png"), (">u2", ".tif"), ("<i4", ".tif")])
def test_the_folder_loader_counts_every_wide_grey_mode_as_one_channel(
    tmp_path: Path, dtype: str, suffix: str
) -> None:
    """16-bit big-endian TIFFs open as "I;16B": one grey channel, like "I;16" and "I"."""
    from dllab.data.folder import image_properties

    path = tmp_path / f"wide{suffix}"
    Image.fromarray((np.arange(48 * 40).reshape(40, 48) * 7).astype(dtype)).save(path)
    assert image_properties(path) == (40, 1)
    Image.new("RGB", (48, 40)).save(tmp_path / "rgb.png")
    assert image_properties(tmp_path / "rgb.png") == (40, 3)


def test_an_8_bit_rgb_png_is_unchanged_byte_for_byte(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "rgb.png")
    read = read_image_rgb(tmp_path / "rgb.png")
    assert read.dtype == np.uint8 and read.flags.writeable
    np.testing.assert_array_equal(read, pixels)


def _truncated_jpeg(path: Path) -> None:
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, format="JPEG")
    path.write_bytes(path.read_bytes()[:400])


def _truncated_png(path: Path) -> None:
    noise = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("name", "write", "words"),
    [
        ("cut.jpg", _truncated_jpeg, "cannot read image"),
        ("cut.png", _truncated_png, "cannot read image"),
        ("notes.png", lambda p: p.write_text("hello\nworld\n"), "cannot read image"),
        ("gone.png", lambda p: None, "not found"),
    ],
    ids=["truncated-jpeg", "truncated-png", "text-named-png", "missing"],
)
def test_an_unreadable_file_is_one_line_naming_it(tmp_path: Path, name, write, words) -> None:
    path = tmp_path / name
    write(path)
    with pytest.raises(InputError) as caught:
        read_image_rgb(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and words in message, message


def test_a_file_over_the_pixel_limit_is_refused_naming_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after
    monkeypatch.setenv("DLLAB_MAX_IMAGE_PIXELS", "100")
    Image.new("RGB", (20, 20)).save(tmp_path / "big.png")  # 400 px: 4x the limit
    with pytest.raises(InputError) as caught:
        read_image_rgb(tmp_path / "big.png")
    message = str(caught.value)
    assert "\n" not in message and "big.png" in message and "DLLAB_MAX_IMAGE_PIXELS" in message


# ------------------------------------------------- every caller reads the portrait upright
def test_the_folder_loader_reads_a_portrait_upright_in_rgb_and_grey(tmp_path: Path) -> None:
    from dllab.data.folder import read_image

    path = _portrait_jpeg(tmp_path / "phone.jpg")
    rgb = read_image(path, 8, 3).permute(1, 2, 0).numpy()  # (8, 8, 3)
    assert _is(rgb[0, 0], RED) and _is(rgb[0, -1], RED) and _is(rgb[-1, 0], BLUE)
    grey = read_image(path, 8, 1)[0].numpy()  # red is brighter than blue in "L"
    assert grey[0, 0] > grey[-1, 0] + 20 and abs(int(grey[0, 0]) - int(grey[0, -1])) < 10


def test_classification_predict_reads_a_portrait_upright(tmp_path: Path) -> None:
    from dllab.tasks.classification import load_image

    path = _portrait_jpeg(tmp_path / "phone.jpg")
    rgb = load_image(str(path), 3, 8).permute(1, 2, 0).numpy()
    assert _is(rgb[0, 0], RED) and _is(rgb[0, -1], RED) and _is(rgb[-1, 0], BLUE)
    grey = load_image(str(path), 1, 8)[0].numpy()
    assert grey[0, 0] > grey[-1, 0] + 20 and abs(int(grey[0, 0]) - int(grey[0, -1])) < 10


def test_detection_reads_a_portrait_upright_with_its_upright_size(tmp_path: Path) -> None:
    from dllab.data.detection_formats import read_image_rgb as detection_read
    from dllab.data.detection_formats import read_yolo

    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "classes.txt").write_text("thing\n")
    path = _portrait_jpeg(tmp_path / "images" / "train" / "phone.jpg")
    # a YOLO box over the upright top half (Ultralytics' frame): x 0..20, y 0..20 px
    (tmp_path / "labels" / "train" / "phone.txt").write_text("0 0.5 0.25 1.0 0.5\n")
    image = detection_read(path)
    assert image.shape == (40, 20, 3) and _is(image[0, 0], RED) and _is(image[-1, 0], BLUE)
    (item,) = read_yolo(tmp_path, "train").images
    assert (item.width, item.height) == (20, 40)
    np.testing.assert_allclose(item.boxes, [[0, 0, 20, 20]], atol=1e-3)


def test_serve_decodes_an_uploaded_portrait_upright(tmp_path: Path) -> None:
    from dllab.serve.inputs import decode_image

    path = _portrait_jpeg(tmp_path / "phone.jpg")
    meta = {"in_channels": 3, "image_size": 8, "mean": [0.0], "std": [1.0]}  # broadcast
    x = decode_image(base64.b64encode(path.read_bytes()).decode(), meta)  # (3, 8, 8) in 0..1
    rgb = np.round(x.transpose(1, 2, 0) * 255)
    assert _is(rgb[0, 0], RED) and _is(rgb[0, -1], RED) and _is(rgb[-1, 0], BLUE)
    grey = decode_image(base64.b64encode(path.read_bytes()).decode(), {**meta, "in_channels": 1})
    grey = np.round(grey[0] * 255)  # red is brighter than blue in "L"
    assert grey[0, 0] > grey[-1, 0] + 20 and abs(grey[0, 0] - grey[0, -1]) < 10


def test_style_transfer_reads_a_portrait_upright(tmp_path: Path) -> None:
    from dllab.tasks.style_transfer import load_style_image

    path = _portrait_jpeg(tmp_path / "phone.jpg")
    x = load_style_image(str(path), 40, "task.content")  # (1, 3, H, W) in 0..1
    assert tuple(x.shape) == (1, 3, 40, 20)
    rgb = np.round(x[0].permute(1, 2, 0).numpy() * 255)
    assert _is(rgb[0, 0], RED) and _is(rgb[-1, 0], BLUE)


def test_a_png_tagged_with_an_orientation_reports_its_upright_size(tmp_path: Path) -> None:
    from dllab.data.image_io import upright_size

    stored = Image.new("RGB", (40, 20), BLUE)
    exif = stored.getexif()
    exif[0x0112] = 6
    stored.save(tmp_path / "turned.png", exif=exif)  # Pillow writes eXIf before the data
    stored.save(tmp_path / "plain.png")
    with Image.open(tmp_path / "turned.png") as opened:
        assert upright_size(opened) == (20, 40)
    with Image.open(tmp_path / "plain.png") as opened:
        assert upright_size(opened) == (40, 20)


def test_coco_sizes_that_disagree_with_the_upright_image_are_refused(tmp_path: Path) -> None:
    import json

    from dllab.data.detection_formats import read_coco

    _portrait_jpeg(tmp_path / "phone.jpg")  # 40x20 stored, 20x40 upright
    coco = {
        "images": [{"id": 1, "file_name": "phone.jpg", "width": 40, "height": 20}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]}],
        "categories": [{"id": 1, "name": "thing"}],
    }
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    with pytest.raises(InputError, match=r"declares 40x20 but phone.jpg is 20x40 as seen"):
        read_coco(tmp_path / "ann.json")
    coco["images"][0].update(width=20, height=40)  # sized as seen: read
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    assert len(read_coco(tmp_path / "ann.json").images) == 1
