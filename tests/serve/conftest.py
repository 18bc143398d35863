"""A trained quickstart run (A), a variant of it that always answers "7" (B), and real
`dllab serve` processes on free 127.0.0.1 ports."""

from __future__ import annotations

import base64
import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from dllab.train.checkpoint import load_checkpoint, save_checkpoint
from tests import _warm

B_CLASS = 7  # the class variant B always predicts


@pytest.fixture(scope="session")
def serve_runs(tmp_path_factory, dllab) -> tuple[Path, Path]:
    """(A, B): A is a one-epoch quickstart run; B is A with a bias that makes it say "7"."""
    root = tmp_path_factory.mktemp("serve")
    out = dllab("run", "quickstart", "train.max_epochs=1", "--run-dir", "runs/a", cwd=root)
    assert out.returncode == 0, out.stderr
    a, b = root / "runs" / "a", root / "runs" / "b"
    shutil.copytree(a, b, ignore=shutil.ignore_patterns(".lock"))
    ckpt = b / "checkpoints" / "best.safetensors"
    state = load_checkpoint(ckpt)
    n = state["meta"]["num_classes"]
    last_bias = [k for k, v in state["model"].items() if k.endswith("bias") and v.shape == (n,)][-1]
    state["model"][last_bias][B_CLASS] += 1000.0
    save_checkpoint(ckpt, state)
    return a, b


def digit(i: int = 0) -> np.ndarray:
    """Test digit `i` of scikit-learn's digits as 0..255 uint8 (8, 8): a real input."""
    from sklearn.datasets import load_digits

    return (load_digits().images[i] * 255 / 16).round().astype(np.uint8)


def png_b64(pixels: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: _warm.WarmProcess
    url: str

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kw)

    def log(self) -> str:
        return self.proc.stdout() + self.proc.stderr()

    def metric(self, line_start: str) -> float:
        """The value of the first /metrics line that starts with `line_start`."""
        text = httpx.get(self.url + "/metrics").text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(line_start)
        )

    def stop(self) -> int:
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait(30)
        finally:
            self.proc.close()


def start_server(*args: str, cwd: Path) -> Server:
    """`dllab serve ARGS --port P` in a process of its own (forked warm: tests/_warm.py),
    returned once /ready answers 200."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = _warm.start("module", "dllab", "serve", *args, "--port", str(port), cwd=cwd, env=env)
    server = Server(proc, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = server.log()
            proc.close()
            raise AssertionError(f"dllab serve exited {proc.returncode}: {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.url + "/ready", timeout=1).status_code == 200:
                return server
        time.sleep(0.2)
    log = server.log()
    server.stop()
    raise AssertionError(f"dllab serve not ready in 120 s: {log}")
