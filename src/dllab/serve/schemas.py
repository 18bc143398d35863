"""Request and response bodies of the API (pydantic, strict: an unknown field is a 422).

A text arrives as a string (`text`). An image arrives either as PNG/JPEG bytes in base64 (`image`) or as raw pixel values
(`pixels`, 0..255, `(H, W)` grey or `(H, W, C)` colour, the layout of a decoded image).
`key` makes the A/B assignment sticky: the same key always meets the same variant.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "FeedbackRequest",
    "FeedbackResponse",
    "ImageRequest",
    "ModelInfo",
    "PredictResponse",
    "TextRequest",
]

Pixels = list[list[float]] | list[list[list[float]]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageRequest(_Strict):
    """One image to classify."""

    image: str | None = Field(None, description="PNG or JPEG file bytes, base64-encoded")
    pixels: Pixels | None = Field(
        None, description="pixel values 0..255 as (H, W) grey or (H, W, C) colour"
    )
    key: str | None = Field(
        None, max_length=256, description="sticky A/B key (a user or session id)"
    )
    top_k: int = Field(3, ge=1, le=100, description="how many labels to return")

    @model_validator(mode="after")
    def _one_input(self) -> ImageRequest:
        if (self.image is None) == (self.pixels is None):
            raise ValueError("give exactly one of 'image' (base64 PNG/JPEG) or 'pixels'")
        return self


class TextRequest(_Strict):
    """One text to classify (sentiment runs)."""

    text: str = Field(description="the text; longer than the model's max_len is cut")
    key: str | None = Field(
        None, max_length=256, description="sticky A/B key (a user or session id)"
    )
    top_k: int = Field(3, ge=1, le=100, description="how many labels to return")

    @model_validator(mode="after")
    def _not_empty(self) -> TextRequest:
        if not self.text.strip():
            raise ValueError("'text' is empty: give some characters to classify")
        return self


class PredictResponse(_Strict):
    """The served variant's answer; `id` is what `/feedback` refers to."""

    id: str
    variant: str
    labels: list[str]
    scores: list[float]
    latency_ms: float


class FeedbackRequest(_Strict):
    """The true label of an earlier request, once it is known."""

    id: str = Field(min_length=1, max_length=64)
    label: str = Field(min_length=1)


class FeedbackResponse(_Strict):
    id: str
    variants: dict[str, bool]  # variant -> whether its prediction was right


class ModelInfo(_Strict):
    """What /info says of the served model: enough for a client (the demo page) to build its
    input form and label choices."""

    task: str
    model: str
    input: Literal["image", "text"]
    classes: list[str]
    variants: dict[str, str]  # variant -> run folder
