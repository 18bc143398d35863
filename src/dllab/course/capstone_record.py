"""The capstone record: `.capstones.json` in the lab workspace, beside `.progress.json`,
each entry signed with the workspace key (`progress.entry_mac`) so a hand edit shows."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dllab.course.capstone_projects import CapstoneError, CapstoneResult
from dllab.lab import progress as record

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; a rare lost update instead
    fcntl = None  # type: ignore[assignment]

__all__ = ["FILENAME", "CapstoneEntry", "load_capstones", "record_capstone"]

FILENAME = ".capstones.json"
VERSION = 1


@dataclass
class CapstoneEntry:
    passed: bool = False  # passed at least once
    last_result: str = ""  # "passed" or "failed" at the latest grading
    last_score: float | None = None
    best_score: float | None = None
    gradings: int = 0  # how many runs were graded (refused ones are not counted)
    passed_at: str = ""  # when it first passed (UTC, ISO 8601)
    run: str = ""  # the run folder of the best score
    edited: bool = False  # its signature did not match: edited by hand, the pass does not count


def _mac(folder: Path, name: str, fields: dict[str, Any], create: bool) -> str | None:
    return record.entry_mac(folder, f"capstone/{name}", fields, create=create)


def load_capstones(folder: Path) -> dict[str, CapstoneEntry]:
    """Every capstone's entry in the workspace `folder` (empty when none was graded)."""
    path = Path(folder) / FILENAME
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text("utf-8"))["capstones"]
        entries = {}
        for name, fields in raw.items():
            fields = dict(fields)
            mac = fields.pop("mac", None)
            fields.pop("edited", None)
            expected = _mac(folder, name, fields, create=False)
            entries[name] = CapstoneEntry(**fields, edited=mac is None or mac != expected)
        return entries
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CapstoneError(
            f"cannot read the capstone record {path} ({type(exc).__name__}: {exc}); fix the "
            "file or move it away to start a new record"
        ) from None


def _save(folder: Path, entries: dict[str, CapstoneEntry]) -> None:
    payload: dict[str, Any] = {"version": VERSION, "capstones": {}}
    for name, entry in sorted(entries.items()):
        fields = asdict(entry)
        del fields["edited"]
        if not entry.edited:  # an edited entry stays unsigned until a grading rewrites it
            fields["mac"] = _mac(folder, name, fields, create=True)
        payload["capstones"][name] = fields
    fd, tmp = tempfile.mkstemp(prefix=".capstones-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, folder / FILENAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_capstone(folder: Path, result: CapstoneResult) -> CapstoneEntry:
    """Add one grading to the workspace's capstone record (atomic, one writer at a time: the
    same lock on the workspace key as `.progress.json`)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _mac(folder, result.name, {}, create=True)  # the key exists before it is locked
        fd = os.open(folder / record.KEYFILE, os.O_RDONLY)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            entries = load_capstones(folder)
            entry = entries.get(result.name) or CapstoneEntry()
            if entry.edited:  # a forged pass is not inherited
                entry = CapstoneEntry(gradings=entry.gradings)
            entry.gradings += 1
            entry.last_result = "passed" if result.passed else "failed"
            entry.last_score = result.score
            if entry.best_score is None or result.score > entry.best_score:
                entry.best_score, entry.run = result.score, str(Path(result.run_dir).absolute())
            if result.passed and not entry.passed:
                entry.passed = True
                entry.passed_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            entries[result.name] = entry
            _save(folder, entries)
        finally:
            os.close(fd)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise CapstoneError(
            f"cannot write the capstone record in {folder} ({reason}); choose a writable "
            "folder with --dir or $DLLAB_LAB"
        ) from None
    return entry
