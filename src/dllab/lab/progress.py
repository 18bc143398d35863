"""The learner's record, `./dllab-lab/.progress.json`: checks, results and hints used.

Written atomically (a temporary file, then `os.replace`), so an interrupted command leaves the
old record or the new one. A record that cannot be read is reported, never overwritten: it is
the learner's history.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from dllab.lab.errors import LabError

FILENAME = ".progress.json"
VERSION = 1


@dataclass
class Entry:
    passed: bool = False  # passed at least once: the solution is open and the item counts
    last_result: str = ""  # "passed" or "failed" at the latest check, "" before any
    last_score: str = ""  # e.g. "4/6", cases passed at the latest check
    checks: int = 0  # how many times `dllab lab check` graded it
    hints_used: int = 0  # how many hints `dllab lab hint` revealed
    passed_at: str = ""  # when it first passed (UTC, ISO 8601)


def _path(folder: Path) -> Path:
    return Path(folder) / FILENAME


def load(folder: Path) -> dict[str, Entry]:
    """Every exercise's entry in `folder`'s record (empty when there is none yet)."""
    path = _path(folder)
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {name: Entry(**fields) for name, fields in raw["exercises"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LabError(
            f"cannot read the lab record {path} ({type(exc).__name__}: {exc}); "
            "fix the file or move it away to start a new record"
        ) from None


def save(folder: Path, entries: dict[str, Entry]) -> None:
    """Write the record atomically."""
    path = _path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"version": VERSION, "exercises": {k: asdict(v) for k, v in sorted(entries.items())}}
    fd, tmp = tempfile.mkstemp(prefix=".progress-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_check(folder: Path, name: str, passed: bool, score: str) -> Entry:
    """Record one check of `name`; returns the updated entry."""
    entries = load(folder)
    entry = entries.setdefault(name, Entry())
    entry.checks += 1
    entry.last_result = "passed" if passed else "failed"
    entry.last_score = score
    if passed and not entry.passed:
        entry.passed = True
        entry.passed_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    save(folder, entries)
    return entry


def record_hint(folder: Path, name: str, available: int) -> int:
    """Reveal one more hint of `name` (up to `available`); returns how many are now revealed."""
    entries = load(folder)
    entry = entries.setdefault(name, Entry())
    entry.hints_used = min(entry.hints_used + 1, available)
    save(folder, entries)
    return entry.hints_used
