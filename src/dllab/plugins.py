"""Tasks and models from outside the package: a project without a fork.

Two ways in, both of which only *import* a module (importing registers its tasks and models
with `@TASKS.register` / `@register_model`, as dllab's own modules do):

- an installed package declares an entry point in the group `dllab.plugins`
  (`[project.entry-points."dllab.plugins"] peaks = "peaks_task"` in its pyproject.toml);
- a recipe lists modules under `imports:` (`imports: [peaks_task]`), found on `sys.path`
  (the current folder, `PYTHONPATH`).

A run remembers its recipe's imports in the checkpoint metadata, so `eval`, `predict` and
`export` load them again. A module that fails to import is one line naming it and the error.
"""

from __future__ import annotations

import importlib
from importlib import metadata

from dllab.errors import ConfigError

__all__ = ["GROUP", "import_modules", "load_entry_points"]

GROUP = "dllab.plugins"
_loaded: set[str] = set()


def _import(name: str, origin: str) -> None:
    if name in _loaded:
        return
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001  a plugin fails in its own way; say which and why
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ConfigError(
            f"plugin module {name!r} ({origin}) failed to import: {type(exc).__name__}: {first}"
        ) from exc
    _loaded.add(name)


def load_entry_points() -> None:
    """Import every module declared in the `dllab.plugins` entry-point group, once."""
    for ep in metadata.entry_points(group=GROUP):
        _import(ep.value.split(":")[0], f"entry point {ep.name!r}")


def import_modules(names: list[str] | tuple[str, ...]) -> None:
    """Import a recipe's `imports:` (and the installed plugins) before names are looked up."""
    load_entry_points()
    for name in names:
        _import(name, "recipe imports")
