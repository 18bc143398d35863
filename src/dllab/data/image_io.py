"""The one way a user's photograph is read: upright, 8-bit, under a pixel limit.

Pillow's defaults get two common files wrong. A phone's portrait is stored sideways with an
EXIF orientation tag that viewers obey and `Image.open` ignores; and `convert("RGB")` or
`convert("L")` clips a 16-bit or float grey image to 0..255, which turns most of a 16-bit
picture white. `as_rgb8` and `as_grey8` fix both (EXIF turn, then the grey scaled by its own
range), `open_image` refuses an image over the pixel limit before decoding it, and
`read_image_rgb` does all three for a file and names it in a one-line `InputError`.

Label maps (segmentation masks, MVTec ground truth) must not come through here: their values
are class ids, not intensities, and they are stored the way round they are used.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dllab.errors import DataError, InputError

__all__ = [
    "PIXEL_LIMIT_VARIABLE",
    "READ_ERRORS",
    "as_grey8",
    "as_rgb8",
    "open_image",
    "read_image_rgb",
    "unreadable_message",
    "upright_size",
]

PIXEL_LIMIT_VARIABLE = "DLLAB_MAX_IMAGE_PIXELS"
_TOO_BIG = (Image.DecompressionBombError, Image.DecompressionBombWarning)
# What Pillow raises for a file it cannot decode: a truncated or corrupt stream is an OSError
# or a SyntaxError (raised by some plugins on a broken chunk), a bad header a ValueError.
READ_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError, *_TOO_BIG)
_WIDE_GREY = ("I", "F")  # 32-bit int and float grey; the 16-bit modes all start "I;16"
_TURNED = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_GREY = ("1", "L", "LA", "La")  # 1- and 8-bit grey, with or without alpha


def is_grey(mode: str) -> bool:
    """Whether a Pillow mode holds one grey channel (8-, 16-, 32-bit or float; alpha aside)."""
    return mode in _GREY or _is_wide_grey(mode)


def _is_wide_grey(mode: str) -> bool:
    return mode in _WIDE_GREY or mode.startswith("I;16")


@contextlib.contextmanager
def open_image(source: str | Path | IO[bytes]) -> Iterator[Image.Image]:
    """`Image.open` under the pixel limit (default Pillow's 89.5 Mpx; `DLLAB_MAX_IMAGE_PIXELS`
    raises it), over which an image is refused at once rather than decoded into gigabytes.

    Example: `with open_image("cat.jpg") as im: rgb = as_rgb8(im)`.
    """
    limit = os.environ.get(PIXEL_LIMIT_VARIABLE)
    if limit:
        try:
            Image.MAX_IMAGE_PIXELS = int(limit)
        except ValueError:
            raise DataError(f"{PIXEL_LIMIT_VARIABLE}={limit!r} is not a whole number") from None
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(source) as im:
            yield im


def unreadable_message(path: str | Path, error: BaseException) -> str:
    """One line saying why the image file `path` could not be read (`error`, one of
    `READ_ERRORS`) and what to do about it."""
    if isinstance(error, _TOO_BIG):
        return (
            f"image {path} has more pixels than the limit of {Image.MAX_IMAGE_PIXELS:,} "
            f"(Pillow's guard against decompression bombs); if it is genuine, raise the limit "
            f"with {PIXEL_LIMIT_VARIABLE}=<pixels>, or shrink the image"
        )
    if isinstance(error, FileNotFoundError | IsADirectoryError):
        return f"image {path} not found; give the path of a PNG or JPEG file"
    detail = " ".join(str(error).split()) or type(error).__name__  # Pillow's text on one line
    return f"cannot read image {path} ({detail}); replace it with a valid PNG or JPEG file"


def _upright_8bit(opened: Image.Image) -> Image.Image:
    """`opened` turned by its EXIF orientation, and a wide grey image scaled by its own range
    to 8-bit "L" (any other mode is left for `convert`, which is exact for 8-bit modes)."""
    image = ImageOps.exif_transpose(opened)
    if _is_wide_grey(image.mode):
        grey = np.asarray(image, dtype=np.float32)
        low, high = float(grey.min()), float(grey.max())
        grey = (grey - low) / (high - low) * 255.0 if high > low else np.zeros_like(grey)
        image = Image.fromarray(grey.round().astype(np.uint8))
    return image


def as_rgb8(opened: Image.Image) -> Image.Image:
    """An opened image as 8-bit RGB the way it is meant to be seen: upright by its EXIF
    orientation (a phone's portrait), and a 16-bit or float grey image scaled by its own range
    (its lowest value black, its highest white) instead of clipped.

    Example: a 40x20 JPEG tagged orientation 6 comes back 20x40; a 16-bit PNG of 1000..3000
    comes back 0..255.
    """
    return _upright_8bit(opened).convert("RGB")


def as_grey8(opened: Image.Image) -> Image.Image:
    """`as_rgb8`'s image as 8-bit grey ("L"), for models that take one channel."""
    return _upright_8bit(opened).convert("L")


def upright_size(opened: Image.Image) -> tuple[int, int]:
    """(width, height) of the image as `as_rgb8` returns it, from the header only: a file
    tagged with a quarter-turn EXIF orientation has its stored sides swapped."""
    if opened.format == "PNG":  # Pillow's getexif() decodes a whole PNG to find a late eXIf
        exif = Image.Exif()
        exif.load(opened.info.get("exif") or b"")  # an eXIf chunk before the image data
        orientation = exif.get(0x0112)
    else:
        orientation = opened.getexif().get(0x0112)  # 0x0112: EXIF Orientation
    w, h = opened.size
    return (h, w) if orientation in _TURNED else (w, h)


def read_image_rgb(path: str | Path) -> np.ndarray:
    """An image file as uint8 `(H, W, 3)` RGB, upright and scaled by `as_rgb8`, under the
    pixel limit; an unreadable, truncated or too-large file is an `InputError` naming it.

    Example: `read_image_rgb("cat.jpg").shape` -> `(480, 640, 3)`.
    """
    path = Path(path)
    try:
        with open_image(path) as im:
            return np.array(as_rgb8(im), dtype=np.uint8)  # (H, W, 3), a writable copy
    except READ_ERRORS as exc:
        raise InputError(unreadable_message(path, exc)) from None
