"""Files a `predict` will write, checked before it writes any.

A predict that writes one file per input (a mask, a label map and its picture) must not stop
half-way through a list: two inputs named alike in different folders (`a/scan.nii.gz`,
`b/scan.nii.gz`) would silently replace each other's output, and an existing file is the
user's until they pass `--force`. So every destination is planned, and refused, first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from dllab.errors import InputError

__all__ = ["plan_outputs"]


def plan_outputs(outputs: Iterable[tuple[str, Sequence[Path]]], *, force: bool) -> None:
    """Refuse (InputError, one line) a destination two inputs would share, and one that
    exists already unless `force`. `outputs`: (input as the user named it, its files)."""
    claimed: dict[Path, str] = {}
    for source, paths in outputs:
        for dst in paths:
            if dst in claimed:
                raise InputError(
                    f"{claimed[dst]} and {source} would both write {dst}; predict them one at "
                    "a time or from differently named files"
                )
            if dst.exists() and not force:
                raise InputError(
                    f"{dst} already exists; move or delete it first, or pass --force to replace it"
                )
            claimed[dst] = source
