"""The learner's record, `WORKSPACE/.progress.json`: exercise checks, hints and lessons run.

The workspace is found by `workspace.py`. The record is written atomically (a temporary file,
then `os.replace`) under an exclusive lock (a lesson may finish while `dllab lab check` runs),
so an interrupted command leaves the old record or the new one. A record that cannot be read
is reported, never overwritten: it is the learner's history.

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
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from dllab.lab.errors import LabError
from dllab.lab.workspace import ENV_VAR

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; a rare lost update instead
    fcntl = None  # type: ignore[assignment]

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


@dataclass
class LessonEntry:
    runs: int = 0  # how many times the lesson was started (as a script or a notebook)
    finished: int = 0  # how many of those ran to the end without an error
    last_run: str = ""  # when it was last started (UTC, ISO 8601)
    finished_at: str = ""  # when it first ran to the end
    edited: bool = False  # its signature did not match: edited by hand, not counted


@dataclass
class Record:
    """Everything in one workspace's record."""

    exercises: dict[str, Entry] = field(default_factory=dict)  # exercise name -> entry
    lessons: dict[str, LessonEntry] = field(default_factory=dict)  # lesson name -> entry


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_error(folder: Path, exc: OSError) -> LabError:
    reason = exc.strerror or type(exc).__name__
    return LabError(
        f"cannot write the lab record in {folder} ({reason}); choose a writable folder "
        f"with --dir or ${ENV_VAR}"
    )


def _key(folder: Path, create: bool) -> bytes | None:
    path = Path(folder) / KEYFILE
    if not path.exists():
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        # written whole beside it, then linked into place: two processes creating the key at
        # once agree on the one that got there first, and no one reads a half-written key
        fd, tmp = tempfile.mkstemp(prefix=".progress-key-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(secrets.token_hex(32) + "\n")
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
            except OSError:  # a filesystem without hard links
                with suppress(FileExistsError), open(path, "x", encoding="utf-8") as f:
                    f.write(Path(tmp).read_text(encoding="utf-8"))
        finally:
            Path(tmp).unlink(missing_ok=True)
    return bytes.fromhex(path.read_text(encoding="utf-8").strip())


def _mac(key: bytes, name: str, fields: dict) -> str:
    body = json.dumps([name, {k: v for k, v in fields.items() if k not in ("mac", "edited")}],
                      sort_keys=True)  # fmt: skip
    return hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()


def _path(folder: Path) -> Path:
    return Path(folder) / FILENAME


def _entries(raw: dict, kind: type, key: bytes | None, signed: bool, prefix: str = "") -> dict:
    entries = {}
    for name, fields in raw.items():
        fields = dict(fields)
        mac = fields.pop("mac", None)
        fields.pop("edited", None)
        genuine = (
            key is not None
            and isinstance(mac, str)
            and hmac.compare_digest(mac, _mac(key, prefix + name, fields))
        )
        edited = signed and not genuine
        entries[name] = kind(**fields, edited=edited)
    return entries


def load_record(folder: Path) -> Record:
    """The whole record in `folder` (empty when there is none yet); a bad one raises LabError."""
    path = _path(folder)
    if not path.exists():
        return Record()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        signed = raw.get("version", 1) >= 2
        key = _key(folder, create=False) if signed else None
        return Record(
            exercises=_entries(raw["exercises"], Entry, key, signed),
            # no exercise name has a "/": an exercise and a lesson never share a MAC
            lessons=_entries(raw.get("lessons", {}), LessonEntry, key, signed, "lesson/"),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LabError(
            f"cannot read the lab record {path} ({type(exc).__name__}: {exc}); "
            "fix the file or move it away to start a new record"
        ) from None


def load(folder: Path) -> dict[str, Entry]:
    """Every exercise's entry in `folder`'s record (empty when there is none yet)."""
    return load_record(folder).exercises


def _signed(key: bytes, entries: dict, prefix: str = "") -> dict:
    out = {}
    for name, entry in sorted(entries.items()):
        fields = asdict(entry)
        del fields["edited"]
        # an edited entry stays unsigned (still reported) until a new result rewrites it
        out[name] = fields if entry.edited else fields | {"mac": _mac(key, prefix + name, fields)}
    return out


def save(
    folder: Path, entries: dict[str, Entry], lessons: dict[str, LessonEntry] | None = None
) -> None:
    """Write the record atomically; `lessons=None` keeps the lessons already recorded."""
    path = _path(folder)
    try:
        if lessons is None:
            lessons = load_record(folder).lessons
        path.parent.mkdir(parents=True, exist_ok=True)
        key = _key(folder, create=True)
        assert key is not None
        payload = {
            "version": VERSION,
            "exercises": _signed(key, entries),
            "lessons": _signed(key, lessons, "lesson/"),
        }
        fd, tmp = tempfile.mkstemp(prefix=".progress-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(payload, f, indent=2, ensure_ascii=False)
                f.write("\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise _write_error(Path(folder), exc) from None


@contextmanager
def _updating(folder: Path) -> Iterator[Record]:
    """Load the record, let the caller change it, save it: one writer at a time (an exclusive
    lock on the key file, held across the read and the write)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _key(folder, create=True)
        fd = os.open(folder / KEYFILE, os.O_RDONLY)
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError):
            raise _write_error(folder, exc) from None
        raise LabError(
            f"cannot read the key of the lab record {folder / KEYFILE} ({exc}); move it and "
            f"{FILENAME} away to start a new record"
        ) from None
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        record = load_record(folder)
        yield record
        save(folder, record.exercises, record.lessons)
    finally:
        os.close(fd)  # releases the lock


def record_check(folder: Path, name: str, passed: bool, score: str) -> Entry:
    """Record one check of `name`; returns the updated entry."""
    with _updating(folder) as record:
        entries = record.exercises
        entry = entries.setdefault(name, Entry())
        if entry.edited:  # a forged pass is not inherited: the record restarts from this check
            entry = entries[name] = Entry(checks=entry.checks, hints_used=entry.hints_used)
        entry.checks += 1
        entry.last_result = "passed" if passed else "failed"
        entry.last_score = score
        if passed and not entry.passed:
            entry.passed = True
            entry.passed_at = _now()
    return entry


def record_hint(folder: Path, name: str, available: int) -> int:
    """Reveal one more hint of `name` (up to `available`); returns how many are now revealed."""
    with _updating(folder) as record:
        entry = record.exercises.setdefault(name, Entry())
        entry.hints_used = min(entry.hints_used + 1, available)
    return entry.hints_used


def record_lesson(folder: Path, name: str, finished: bool) -> LessonEntry:
    """Record that lesson `name` started (`finished=False`) or ran to its end (`True`)."""
    with _updating(folder) as record:
        entry = record.lessons.setdefault(name, LessonEntry())
        if entry.edited:
            entry = record.lessons[name] = LessonEntry()
        if finished:
            entry.finished += 1
            entry.finished_at = entry.finished_at or _now()
        else:
            entry.runs += 1
            entry.last_run = _now()
    return entry


def counts(entry: Entry | None) -> bool:
    """A pass that counts: recorded by a check, not written into the record by hand."""
    return entry is not None and entry.passed and not entry.edited


def exercise_status(folder: Path, name: str, entry: Entry | None) -> str:
    """Where the learner stands on exercise `name`: "passed", "failed" (checked, not yet
    passed), "started" (its file exists), "edited" (a hand-edited record) or "todo"."""
    if entry is not None and entry.edited:
        return "edited"
    if counts(entry):
        return "passed"
    if entry is not None and entry.last_result:
        return "failed"
    return "started" if (Path(folder) / f"{name}.py").exists() else "todo"


def lesson_status(entry: LessonEntry | None) -> str:
    """Where the learner stands on a lesson: "done" (ran to its end at least once), "started",
    "edited" (a hand-edited record) or "todo"."""
    if entry is None:
        return "todo"
    if entry.edited:
        return "edited"
    return "done" if entry.finished else "started" if entry.runs else "todo"


# ------------------------------------------------------- for dllab.course.capstone (its record)
def entry_mac(folder: Path, name: str, fields: dict, *, create: bool = False) -> str | None:
    """The HMAC of one entry `name` under the workspace's key, as this record signs its own:
    `dllab.course.capstone` signs `.capstones.json` with it ("capstone/" names, so no MAC is
    shared with an exercise or a lesson). None when there is no key yet and not `create`."""
    key = _key(Path(folder), create=create)
    return None if key is None else _mac(key, name, fields)
