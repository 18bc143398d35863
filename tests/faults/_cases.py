"""Helpers shared by the fault suite's case files (not a test module).

`cli` runs the real entry point, `dllab.cli.main`, inside the test process: most faults are
refused while the recipe is resolved, and a fresh interpreter would spend ~4 s importing torch
and torchmetrics for each of them. It sees what a user sees: argv, the working folder and the
environment are the command's own, warnings are shown on stderr as a plain interpreter would,
and the exit status comes from `SystemExit`. Cases that train, or need a process of their own
(signals, resource limits, another user, a mount namespace), use the `dllab` subprocess fixture.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import warnings
from functools import cache
from pathlib import Path
from unittest import mock

import pytest

# Python's own warning filters at start-up (pytest turns DeprecationWarning on): a warning a
# user would see on stderr must reach stderr here too, and one a user would not see must not.
_STARTUP_FILTERS = [
    ("default", None, DeprecationWarning, "__main__", 0),
    ("ignore", None, DeprecationWarning, None, 0),
    ("ignore", None, PendingDeprecationWarning, None, 0),
    ("ignore", None, ImportWarning, None, 0),
    ("ignore", None, ResourceWarning, None, 0),
]


def _show(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`dllab ARGS` run in this process; the result reads like `subprocess.run`'s."""
    from dllab.cli import main

    out, err = io.StringIO(), io.StringIO()
    status: object = 0
    with (
        contextlib.chdir(cwd),
        mock.patch.dict(os.environ, env or {}),
        mock.patch.object(sys, "argv", ["dllab", *args]),
        warnings.catch_warnings(),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        warnings.filters[:] = [(a, None, c, m, n) for a, _, c, m, n in _STARTUP_FILTERS]
        warnings.showwarning = _show
        try:
            main()
        except SystemExit as exc:
            status = exc.code
    code = status if isinstance(status, int) else (0 if status is None else 1)
    return subprocess.CompletedProcess(["dllab", *args], code, out.getvalue(), err.getvalue())


def as_a_user() -> list[str]:
    """A command prefix under which file permissions apply: root ignores them, so root drops
    the two capabilities that let it (`setpriv`); anyone else needs nothing."""
    if os.getuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


@cache
def can_unshare_mounts() -> bool:
    """Whether this machine lets us mount in a private namespace (root with CAP_SYS_ADMIN)."""
    probe = "mount -t tmpfs -o size=64k tmpfs /mnt && touch /mnt/x"
    try:
        done = subprocess.run(["unshare", "--mount", "sh", "-c", probe], capture_output=True)
    except OSError:
        return False
    return done.returncode == 0


def xfail(reason: str) -> pytest.MarkDecorator:
    """A case that does not hold yet: it must fail until fixed (then the mark goes)."""
    return pytest.mark.xfail(strict=True, reason=reason)


def cases(*rows: tuple) -> list:
    """Parametrize rows written as (id, value, …[, mark]): one readable row per case."""
    params = []
    for name, *values in rows:
        marks = [v for v in values if isinstance(v, pytest.MarkDecorator)]
        values = [v for v in values if not isinstance(v, pytest.MarkDecorator)]
        params.append(pytest.param(*values, id=name, marks=marks))
    return params
