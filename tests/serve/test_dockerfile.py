"""The Dockerfile of `dllab serve`: its CMD serves a real run and its HEALTHCHECK tells up from
down. Base images cannot be pulled offline, so the image is not built: the two commands are
taken from the file and run here as they are, with the mounted run path, host and port
rewritten to the test's; the rest is checked in the file (multi-stage, non-root, pinned tags).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import free_port

pytestmark = pytest.mark.xdist_group("serve")

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"
MOUNT, PORT = "/models/run", "8000"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def only(steps: list[tuple[str, str]], name: str) -> str:
    found = [args for word, args in steps if word == name]
    assert len(found) == 1, f"expected one {name}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text("utf-8"))


def rewrite(argv: list[str], run: Path, port: int) -> list[str]:
    """The container's command for this machine: the test's run, 127.0.0.1, a free port."""
    swap = {MOUNT: str(run), "0.0.0.0": "127.0.0.1", PORT: str(port)}
    return [swap.get(a, a).replace(f":{PORT}/", f":{port}/") for a in argv]


def venv_env() -> dict[str, str]:
    """PATH starting with this interpreter's bin folder, as the image's PATH starts with the
    venv's: `dllab` and `python` are the ones installed with the tests."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def health(argv: list[str]) -> int:
    return subprocess.run(argv, env=venv_env(), capture_output=True, timeout=30).returncode


def test_image_is_multistage_nonroot_and_pinned(steps) -> None:
    args = {m[0]: m[1] for a in (a for w, a in steps if w == "ARG") if (m := a.split("=", 1))}
    images = [args.get(a.split()[0].strip("${}"), a.split()[0]) for w, a in steps if w == "FROM"]
    assert len(images) >= 2, "a builder stage and a runtime stage"
    assert any(w == "COPY" and "--from=builder" in a for w, a in steps), "runtime copies the venv"
    for image in images:
        assert ":" in image and not image.endswith(":latest"), f"unpinned base image {image}"
    user = only(steps, "USER").split(":")[0]
    assert user not in ("root", "0"), "the server must not run as root"
    assert only(steps, "EXPOSE") == PORT
    assert "download.pytorch.org/whl/cpu" in DOCKERFILE.read_text("utf-8"), "CPU torch"


def test_cpu_torch_pins_match_constraints() -> None:
    """The CPU wheels are pinned in the Dockerfile (their own index): the versions of
    constraints.txt, so the image runs what the tests ran."""
    constraints = (DOCKERFILE.parent / "constraints.txt").read_text("utf-8")
    pins = dict(re.findall(r"^(torch|torchvision)==(\S+)$", constraints, re.M))
    found = dict(re.findall(r"\b(torch|torchvision)==(\S+)", DOCKERFILE.read_text("utf-8")))
    assert found == pins


def test_cmd_serves_the_run_and_healthcheck_follows_it(steps, serve_runs, tmp_path) -> None:
    cmd = json.loads(only(steps, "CMD"))
    check = json.loads(only(steps, "HEALTHCHECK").split(" CMD ", 1)[1])
    assert cmd[:3] == ["dllab", "serve", MOUNT]
    port = free_port()
    serve, probe = rewrite(cmd, serve_runs[0], port), rewrite(check, serve_runs[0], port)
    assert str(port) in " ".join(probe), "the health check must call the served port"

    assert health(probe) != 0, "the health check passed with no server"
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(serve, env=venv_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            pytest.fail(f"the image's CMD did not serve: {log.read_text()}")
        assert health(probe) == 0, log.read_text()
        proc.send_signal(signal.SIGTERM)  # docker stop: drain, then exit
        # uvicorn re-raises the signal once drained (as PID 1 in a container it is ignored: 0)
        assert proc.wait(30) in (0, -signal.SIGTERM), log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert health(probe) != 0, "the health check passed after the server stopped"
