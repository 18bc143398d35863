"""Checks that turn a mistake in a model's options or input into a message for people.

Without them a typo in a recipe (`widht: 64`) surfaces as a `TypeError` from deep inside a
constructor, and a wrong image size as "mat1 and mat2 shapes cannot be multiplied".
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from dllab.errors import ConfigError, InputError
from dllab.registry import closest

M = TypeVar("M")

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def build(factory: Callable[..., M], variant: str, options: dict[str, Any], **fixed: Any) -> M:
    """Return `factory(**fixed, **options)` after checking every key of `options`.

    `fixed` holds what the variant itself decides (VGG's layer list, a ResNet's depth), so it
    is not an option; any other key that `factory` does not take raises `ConfigError` naming
    the valid ones. Example: `build(VGG, "vgg11", {"hidden": 256}, cfg=CFGS["A"])`.
    """
    params = inspect.signature(factory).parameters
    valid = [name for name, p in params.items() if p.kind in _NAMED and name not in fixed]
    for key in options:
        if key not in valid:
            hint = closest(key, valid)
            raise ConfigError(
                f"model {variant!r} has no option {key!r}; {hint + ' ' if hint else ''}"
                f"valid options: {', '.join(valid)}"
            )
    return factory(**fixed, **options)


def check_input(x: torch.Tensor, expected: tuple[int, ...], variant: str) -> None:
    """Raise `InputError` unless `x` is `(B, *expected)`.

    Only models whose head has a fixed input size need this; the others pool adaptively.
    """
    if tuple(x.shape[1:]) != expected:
        want = ", ".join(str(d) for d in expected)
        raise InputError(
            f"{variant} was built for input (B, {want}) but got {tuple(x.shape)}; "
            "build it with the in_channels and image_size of the data"
        )
