"""`dllab serve` and `dllab ab report` from the command line: bad input is one line, exit 2;
SIGTERM drains the requests in flight."""

from __future__ import annotations

import contextlib
import io
import shutil
import signal
import socket
import sys
import threading
import time
from unittest import mock

import httpx
import pytest

from dllab.train.checkpoint import load_checkpoint, save_checkpoint

from .conftest import digit, start_server

pytestmark = pytest.mark.xdist_group("serve")


def cli(*args: str) -> tuple[int, str, str]:
    """`dllab ARGS` in this process: (exit status, stdout, stderr)."""
    from dllab.cli import main

    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.object(sys, "argv", ["dllab", *args]),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            main()
        except SystemExit as exc:
            return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_missing_run_folder_is_one_line(tmp_path):
    status, _, err = cli("serve", str(tmp_path / "nope"), "--port", "1")
    assert status == 2 and "nope not found" in one_line(err)


def test_demo_of_a_missing_run_folder_is_one_line_and_opens_no_browser(tmp_path, monkeypatch):
    import webbrowser

    opened = []
    monkeypatch.setattr(webbrowser, "open", opened.append)
    status, _, err = cli("demo", str(tmp_path / "nope"), "--port", "1")
    assert status == 2 and "nope not found" in one_line(err) and opened == []


def test_a_task_not_served_yet_is_one_line(serve_runs, tmp_path):
    run = tmp_path / "ts"
    shutil.copytree(serve_runs[0], run, ignore=shutil.ignore_patterns(".lock"))
    ckpt = run / "checkpoints" / "best.safetensors"
    state = load_checkpoint(ckpt)
    state["meta"]["task"] = "timeseries"
    save_checkpoint(ckpt, state)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status, _, err = cli("serve", str(run), "--port", str(port))
    assert status == 2 and "is a 'timeseries' run; `dllab serve` serves classification" in one_line(
        err
    )


def test_port_in_use_is_one_line(serve_runs):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        status, _, err = cli("serve", str(serve_runs[0]), "--port", str(port))
    assert status == 2 and f"port {port} on 127.0.0.1 is in use" in one_line(err)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--split", "0.9"], "--split needs two or more runs"),
        (["--shadow"], "--shadow needs two or more runs"),
        (["--backend", "tf"], "unknown backend 'tf'"),
    ],
)
def test_bad_options_are_one_line(serve_runs, args, says):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status, _, err = cli("serve", str(serve_runs[0]), *args, "--port", str(port))
    assert status == 2 and says in one_line(err)


def test_ab_report_prints_a_table_and_advice(tmp_path):
    log = tmp_path / "ab.jsonl"
    lines = []
    for v, k in (("A", 60), ("B", 90)):
        for i in range(100):
            lines.append(f'{{"event":"assign","id":"{v}{i}","variant":"{v}","label":"1"}}')
            lines.append(f'{{"event":"feedback","id":"{v}{i}","label":"{1 if i < k else 2}"}}')
    log.write_text("\n".join(lines) + "\n")
    status, out, _ = cli("ab", "report", str(log))
    assert status == 0
    assert "0.6000" in out and "0.9000" in out and "switch to B" in out
    status, _, err = cli("ab", "report", str(tmp_path / "none.jsonl"))
    assert status == 2 and "not found" in one_line(err)


def test_sigterm_lets_requests_in_flight_finish(serve_runs):
    a, _ = serve_runs
    server = start_server(
        str(a), "--max-latency-ms", "1500", "--max-batch-size", "64", cwd=a.parent.parent
    )
    try:
        results: list[int] = []

        def ask() -> None:
            r = httpx.post(server.url + "/predict", json={"pixels": digit(7).tolist()}, timeout=30)
            results.append(r.status_code)

        threads = [threading.Thread(target=ask) for _ in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while server.metric("dllab_predict_in_flight") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.metric("dllab_predict_in_flight") == 3  # waiting in the 1.5 s batch window
        server.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(30)
        assert results == [200, 200, 200]
        assert server.proc.wait(30) in (0, -signal.SIGTERM)
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/health", timeout=2)
    finally:
        server.stop()  # a failed assertion must not leave the server running
