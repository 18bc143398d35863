"""The one line `dllab` prints for a failure, and its exit status.

`cli.main` is the error boundary; this is what it says. A user's mistake (a `DllabError`, a
usage error, an OS error such as a full disk or a read-only folder, a file that is not UTF-8,
a checkpoint that does not fit its model) is one line naming what and where, exit 2. Anything
else is a bug: one line asking for `--debug` and a report, exit 1.
"""

from __future__ import annotations

import errno
import os
import re

from typer._click.exceptions import UsageError  # typer vendors click

from dllab.errors import DllabError

__all__ = ["StopLine", "error_line"]

PREFIX = {"en": "error: ", "zh": "错误："}  # before a DllabError's message, in its language


class StopLine(Exception):
    """One line for stderr and an exit status, raised past typer (which would swallow Ctrl-C)."""

    def __init__(self, line: str, status: int) -> None:
        super().__init__(line)
        self.status = status


_OS_HINTS = {
    errno.ENOSPC: "free some space or choose a folder on another disk",
    errno.EDQUOT: "free some space or choose a folder on another disk",
    errno.EROFS: "choose a folder on a writable disk",
    errno.ENOTDIR: "part of that path is a file, not a folder: choose another path",
    errno.EACCES: "choose a path you are allowed to use, or change its permissions",
    errno.EPERM: "choose a path you are allowed to use, or change its permissions",
    errno.EISDIR: "that is a folder: name a file",
    errno.ENOENT: "check the path",
}


def _path_in_traceback(exc: BaseException) -> str | None:
    """The path the innermost frame was working on (`path`, `self`, `file` locals), if any."""
    tb, found = exc.__traceback__, None
    while tb is not None:
        for name in ("path", "self", "file", "filename", "tmp"):
            value = tb.tb_frame.f_locals.get(name)
            if isinstance(value, os.PathLike):
                found = os.fspath(value)
                break
        tb = tb.tb_next
    return found


def _os_line(code: int, path: object) -> str:
    meaning = os.strerror(code)
    name = errno.errorcode.get(code, str(code))
    hint = _OS_HINTS.get(code)
    return f"{path}: {meaning} ({name})" + (f"; {hint}" if hint else "")


def error_line(exc: Exception) -> tuple[str, int]:
    """What to print for `exc` (after "dllab: ") and the exit status."""
    from dllab.train.checkpoint import state_dict_mismatch

    if isinstance(exc, StopLine):
        return str(exc), exc.status
    if isinstance(exc, UsageError):
        where = f"; see `{exc.ctx.command_path} --help`" if exc.ctx else ""
        return f"error: {exc.format_message().rstrip('.')}{where}", exc.exit_code
    if isinstance(exc, DllabError):
        return f"{PREFIX.get(exc.lang, PREFIX['en'])}{exc}", 2
    if isinstance(exc, OSError):
        path = exc.filename or _path_in_traceback(exc) or "a file"
        if exc.filename2:
            path = f"{path} -> {exc.filename2}"
        return "error: " + _os_line(exc.errno or 0, path), 2
    if isinstance(exc, UnicodeDecodeError):
        path = _path_in_traceback(exc) or "a file"
        byte = exc.object[exc.start : exc.start + 1].hex()
        return (
            f"error: {path} is not UTF-8 text (byte 0x{byte} at offset {exc.start}); "
            "pass a UTF-8 text file (recipes are YAML)",
            2,
        )
    if type(exc).__name__ == "SafetensorError" and (
        code := re.search(r"(?:code:|os error) (\d+)", str(exc))
    ):
        # safetensors reports a failed write (say, a full disk) without the path
        path = _path_in_traceback(exc) or "a checkpoint"
        return "error: " + _os_line(int(code.group(1)), path), 2
    if isinstance(exc, RuntimeError) and (what := state_dict_mismatch(exc)):
        return (
            f"error: the checkpoint does not fit the model: {what}; it was saved by another "
            "model or config: use the run folder (and config.yaml) that made it",
            2,
        )
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return (
        f"internal error: {type(exc).__name__}: {first}; this is a bug in dllab or a plugin: "
        "rerun with --debug and report the traceback",
        1,
    )
