"""The `Registry` class (name -> builder) and `closest`, the "did you mean" hint.

The registries themselves live with what they hold: `MODELS` in `dllab/models/registry.py`
(built with `create_model`), `TASKS` in `dllab/tasks/__init__.py` (`create_task`). Datasets
are not a `Registry` but the `CATALOG` of specs in `dllab/data/catalog.py` (`get_spec`),
which uses `closest` for its unknown-name errors, as other lookups do (recipe keys…).

As in torchvision, registering a name twice raises; as in timm, `create(name, **kw)` is the
only constructor call sites use, and an unknown name lists the closest valid ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from dllab.errors import ConfigError

T = TypeVar("T")


def closest(word: str, choices: list[str], n: int = 3) -> str:
    """Return a hint such as "did you mean 'a' or 'b'?" ('' when nothing is close)."""
    near = difflib.get_close_matches(word, choices, n=n, cutoff=0.5)
    if not near:
        return ""
    return "did you mean " + " or ".join(repr(w) for w in near) + "?"


class Registry(Generic[T]):
    """A named collection of builders of one kind (models, tasks, datasets…)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: `@MODELS.register("seed-cnn")`. A duplicate name is a bug and raises."""

        def add(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._builders[name] = builder
            return builder

        return add

    def get(self, name: str) -> Callable[..., T]:
        if name not in self._builders:
            hint = closest(name, self.names())
            raise ConfigError(
                f"unknown {self.kind} {name!r}; {hint or 'valid names: ' + ', '.join(self.names())}"
                + (f" (see `dllab list {self.kind}s`)" if hint else "")
            )
        return self._builders[name]

    def create(self, name: str, **kwargs: Any) -> T:
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        return sorted(self._builders)

    def __contains__(self, name: str) -> bool:
        return name in self._builders
