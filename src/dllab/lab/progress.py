"""The learner's record, `./dllab-lab/.progress.json`: checks, results and hints used.

Written atomically (a temporary file, then `os.replace`), so an interrupted command leaves the
old record or the new one. A record that cannot be read is reported, never overwritten: it is
the learner's history.

Each entry carries an HMAC made with a per-workspace key (`.progress.key`, created with the
first signed record; the grading child may not read it). An entry edited by hand no longer
matches: it is reported as edited and its pass does not count (no solution, no checklist
item) until `dllab lab check` passes again. A tamper signal, not a lock: whoever reads the key
can sign anything. A version-1 record (before signing) is trusted once and signed when next
written.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from dllab.lab.errors import LabError

FILENAME = ".progress.json"
KEYFILE = ".progress.key"
VERSION = 2


@dataclass
class Entry:
    passed: bool = False  # passed at least once: the solution is open and the item counts
    last_result: str = ""  # "passed" or "failed" at the latest check, "" before any
    last_score: str = ""  # e.g. "4/6", cases passed at the latest check
    checks: int = 0  # how many times `dllab lab check` graded it
    hints_used: int = 0  # how many hints `dllab lab hint` revealed
    passed_at: str = ""  # when it first passed (UTC, ISO 8601)
    edited: bool = False  # its signature did not match: edited by hand, the pass does not count


def _key(folder: Path, create: bool) -> bytes | None:
    path = Path(folder) / KEYFILE
    if path.exists():
        return bytes.fromhex(path.read_text(encoding="utf-8").strip())
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x", encoding="utf-8") as f:
        f.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text(encoding="utf-8").strip())


def _mac(key: bytes, name: str, fields: dict) -> str:
    body = json.dumps([name, {k: v for k, v in fields.items() if k not in ("mac", "edited")}],
                      sort_keys=True)  # fmt: skip
    return hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()


def _path(folder: Path) -> Path:
    return Path(folder) / FILENAME


def load(folder: Path) -> dict[str, Entry]:
    """Every exercise's entry in `folder`'s record (empty when there is none yet)."""
    path = _path(folder)
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        signed = raw.get("version", 1) >= 2
        key = _key(folder, create=False) if signed else None
        entries = {}
        for name, fields in raw["exercises"].items():
            fields = dict(fields)
            mac = fields.pop("mac", None)
            fields.pop("edited", None)
            edited = signed and (key is None or not isinstance(mac, str)
                                 or not hmac.compare_digest(mac, _mac(key, name, fields)))  # fmt: skip
            entries[name] = Entry(**fields, edited=edited)
        return entries
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LabError(
            f"cannot read the lab record {path} ({type(exc).__name__}: {exc}); "
            "fix the file or move it away to start a new record"
        ) from None


def save(folder: Path, entries: dict[str, Entry]) -> None:
    """Write the record atomically."""
    path = _path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = _key(folder, create=True)
    assert key is not None
    exercises = {}
    for name, entry in sorted(entries.items()):
        fields = asdict(entry)
        del fields["edited"]
        # an edited entry stays unsigned (still reported) until a check rewrites it
        exercises[name] = fields if entry.edited else fields | {"mac": _mac(key, name, fields)}
    payload = {"version": VERSION, "exercises": exercises}
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
    if entry.edited:  # a forged pass is not inherited: the record restarts from this check
        entry = entries[name] = Entry(checks=entry.checks, hints_used=entry.hints_used)
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
