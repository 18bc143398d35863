"""The model registry (see `dllab.registry`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from dllab.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a keyword-only model builder under `name`."""
    return MODELS.register(name)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model: `create_model("seed-cnn", num_classes=10)`."""
    return MODELS.create(name, **kwargs)


def list_models() -> list[str]:
    return MODELS.names()
