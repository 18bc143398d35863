"""The model registry (see `dllab.registry`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from dllab.errors import ConfigError
from dllab.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a keyword-only model builder under `name`."""
    return MODELS.register(name)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model: `create_model("seed-cnn", num_classes=10)`.

    A value of the wrong kind in `model.kwargs` (`dropout=lots`) fails deep in a builder with
    a TypeError or ValueError; it is the recipe's mistake, so it is one line naming the model
    and its arguments."""
    builder = MODELS.get(name)
    try:
        return builder(**kwargs)
    except (TypeError, ValueError) as e:
        shown = ", ".join(f"{k}={v!r}"[:40] for k, v in kwargs.items())
        raise ConfigError(
            f"model {name!r} cannot be built with {shown}: {e}; check model.kwargs"
        ) from e


def list_models() -> list[str]:
    return MODELS.names()
