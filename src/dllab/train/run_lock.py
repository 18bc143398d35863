"""One owner per run folder: an exclusive `flock` on `RUN/.lock`, held for the life of a run.

The kernel drops a `flock` when its process exits, however it exits, so a lock *file* left by
a SIGKILLed run does not block: the next run simply takes the lock over. The file holds the
owner's PID and host, only so that a second process can say who holds the folder. (`flock`
on a network filesystem may be local to one machine; run folders are expected on local disk.)
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from dllab.errors import CheckpointError

LOCK_NAME = ".lock"


class RunLock:
    """An exclusive lock on a run folder; `acquire` raises a CheckpointError if it is held.

    The owner's PID is written by `record_owner`, once the run has checked it may go on: a
    process that is refused writes nothing into the folder.

    >>> lock = RunLock(Path("runs/q")).acquire()  # doctest: +SKIP
    >>> lock.record_owner()  # doctest: +SKIP
    >>> lock.release()  # doctest: +SKIP
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.fd_: int | None = None

    @property
    def path(self) -> Path:
        return self.run_dir / LOCK_NAME

    def acquire(self, recipe_name: str = "RECIPE") -> RunLock:
        """Take the lock (the folder must exist); a held lock names its owner's PID."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise CheckpointError(
                    f"run folder {self.run_dir} is in use by {_owner(self.path)}; once it has "
                    f"finished or stopped, continue it with "
                    f"`dllab run {recipe_name} --resume {self.run_dir}`"
                ) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the owner removed the file while we opened it: lock the new one
        self.fd_ = fd
        return self

    def record_owner(self) -> None:
        """Write this process's PID and host into the held lock file."""
        assert self.fd_ is not None, "acquire the lock first"
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(self.fd_, 0)
        os.pwrite(self.fd_, json.dumps(owner).encode("utf-8"), 0)

    def release(self) -> None:
        """Drop the lock (the file stays: it is harmless once unlocked)."""
        if self.fd_ is not None:
            fcntl.flock(self.fd_, fcntl.LOCK_UN)
            os.close(self.fd_)
            self.fd_ = None


def _owner(path: Path) -> str:
    """'PID 123 on host' as the lock file says, or a vaguer phrase if it cannot be read or
    names a dead process (the new owner has not recorded itself yet)."""
    unknown = "another process that is just starting (PID not recorded yet)"
    try:
        owner = json.loads(path.read_text("utf-8"))
        pid, host = int(owner["pid"]), str(owner["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return unknown
    if host == socket.gethostname() and not _alive(pid):
        return unknown
    return f"PID {pid} on {host}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False
