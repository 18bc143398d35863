"""Request inputs to the model's arrays, with the run's own preprocessing.

One handler per served task: `ImageInputs` (classification: base64 PNG/JPEG or pixel
lists, normalised with the training statistics) and `TextInputs` (sentiment: the run's
tokenizer and vocabulary). A handler encodes one request (`encode`) and collates encoded
requests into the model's batch (`collate`); every mistake is an `InputError` whose message
says what was received and what the model takes, which the app answers with a 422.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

import numpy as np
from PIL import Image

from dllab.data.image_io import READ_ERRORS, as_grey8, as_rgb8
from dllab.errors import InputError
from dllab.serve.batcher import stack
from dllab.serve.schemas import ImageRequest, TextRequest

MAX_PIXELS = 4096 * 4096  # a decoded image larger than this is refused (decompression bombs)


def _normalise(arr: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """uint8-range (C, H, W) -> float32 standardised with the training statistics."""
    mean = np.asarray(meta["mean"], np.float32).reshape(-1, 1, 1)
    std = np.asarray(meta["std"], np.float32).reshape(-1, 1, 1)
    return (arr.astype(np.float32) / 255.0 - mean) / std


def decode_image(data: str, meta: dict[str, Any]) -> np.ndarray:
    """Base64 PNG/JPEG bytes -> (C, H, W) float32, upright by EXIF, a 16-bit grey scaled by its
    range, and resized to the model's size, as `dllab predict` does (`dllab.data.image_io`)."""
    c, size = meta["in_channels"], meta["image_size"]
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(
            "'image' is not valid base64; send the file's bytes base64-encoded"
        ) from exc
    try:
        with Image.open(io.BytesIO(raw)) as img:
            if img.width * img.height > MAX_PIXELS:
                raise InputError(
                    f"'image' is {img.width}x{img.height} pixels, more than {MAX_PIXELS:,}; "
                    "send a smaller image"
                )
            img = (as_grey8(img) if c == 1 else as_rgb8(img)).resize((size, size))
            arr = np.asarray(img, dtype=np.uint8)
    except READ_ERRORS as exc:
        raise InputError(
            f"'image' is not a PNG or JPEG file ({len(raw)} bytes could not be decoded); "
            "send the image file's bytes, base64-encoded"
        ) from exc
    arr = arr[None] if c == 1 else arr.transpose(2, 0, 1)
    return _normalise(arr, meta)


def pixel_array(pixels: list, meta: dict[str, Any]) -> np.ndarray:
    """Nested lists of 0..255 values, (H, W) grey or (H, W, C) -> (C, H, W) float32."""
    c, size = meta["in_channels"], meta["image_size"]
    want = f"({size}, {size})" if c == 1 else f"({size}, {size}, {c})"
    try:
        arr = np.asarray(pixels, dtype=np.float32)
    except ValueError as exc:  # ragged rows
        raise InputError(f"'pixels' rows have different lengths; this model takes {want}") from exc
    if arr.ndim == 2 and c == 1:
        arr = arr[None]
    elif arr.ndim == 3 and arr.shape[2] == c:
        arr = arr.transpose(2, 0, 1)
    else:
        raise InputError(f"'pixels' has shape {arr.shape}; this model takes {want} values 0..255")
    if arr.shape[1:] != (size, size):
        raise InputError(
            f"'pixels' has shape {tuple(np.asarray(pixels).shape)}; this model takes {want}"
        )
    if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 255:
        raise InputError("'pixels' values must be finite and within 0..255")
    return _normalise(arr, meta)


def image_input(req: ImageRequest, meta: dict[str, Any]) -> np.ndarray:
    """The model input `(C, H, W)` float32 of one request."""
    if req.image is not None:
        return decode_image(req.image, meta)
    assert req.pixels is not None
    return pixel_array(req.pixels, meta)


class ImageInputs:
    """Image classification: one `(C, H, W)` float32 per request, stacked."""

    schema = ImageRequest
    collate = staticmethod(stack)

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    def encode(self, req: Any) -> np.ndarray:
        return image_input(req, self.meta)


class TextInputs:
    """Text classification: token ids per request; a batch is right-padded ids `(B, T)` and
    lengths `(B,)` (int64), as `dllab predict` feeds the model."""

    schema = TextRequest

    def __init__(self, meta: dict[str, Any]) -> None:
        from dllab.data.text import Vocab, tokenizer

        self.meta = meta
        self.vocab, self.tokenize = Vocab(meta["vocab"]), tokenizer(meta["tokenizer"])
        self.wrap = tuple(meta["wrap"]) if meta.get("wrap") else None

    def encode(self, req: Any) -> list[int]:
        import warnings

        from dllab.data.token_ids import encode_inputs

        with warnings.catch_warnings():  # a cut text is expected traffic, not a log line each
            warnings.simplefilter("ignore")
            return encode_inputs(
                [req.text.strip()], self.vocab, self.tokenize, self.meta["max_len"], self.wrap
            )[0]

    @staticmethod
    def collate(items: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.array([len(e) for e in items], dtype=np.int64)
        ids = np.zeros((len(items), int(lengths.max())), dtype=np.int64)  # <pad> is id 0
        for i, e in enumerate(items):
            ids[i, : len(e)] = e
        return ids, lengths


HANDLERS: dict[str, type[ImageInputs] | type[TextInputs]] = {
    "classification": ImageInputs,
    "sentiment": TextInputs,
}
