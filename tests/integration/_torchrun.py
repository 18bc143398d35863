"""Running `torchrun` for the DDP tests (not a test module)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

GLOO_ABORT = "terminate called without an active exception"
_PORT = "--master_port="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_torchrun(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`cmd`, a torchrun command with `--master_port=…`, run in `cwd`; once more if a rank died
    of the C++ abort `GLOO_ABORT`.

    That abort is an open, unexplained bug and not these tests' subject: under load about one
    torchrun in 15-30 loses a rank to it after its validation's collectives (seen with and
    without the barrier in `distributed.cleanup`). One fresh try, from a clean folder on a new
    port, keeps any other failure visible, and the faulthandler dump names the Python line if
    it recurs.
    """
    with tempfile.TemporaryDirectory(prefix="dllab-torchrun-") as tmp:  # torchelastic's logs
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1", "TMPDIR": tmp}
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
        if out.returncode != 0 and GLOO_ABORT in out.stderr:
            shutil.rmtree(cwd / "runs", ignore_errors=True)
            cmd = [f"{_PORT}{free_port()}" if c.startswith(_PORT) else c for c in cmd]
            out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
    return out
