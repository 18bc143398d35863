"""benchmarks/serve_load.py: a one-second load on a real `dllab serve` of a quickstart run
writes its table, with counts that agree with the server's own /metrics; a --url that is not
this machine is refused before anything is sent."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from dllab.errors import InputError

pytest.importorskip("fastapi", reason="needs the [deploy] extra")


pytestmark = pytest.mark.xdist_group("serve")  # shares serve_runs with the server tests


@pytest.fixture
def run(serve_runs) -> Path:
    return serve_runs[0]  # run A: a quickstart run (conftest.py)


def test_short_load_reports_rate_latency_and_batches(run, tmp_path, benchmark_script) -> None:
    out = tmp_path / "out"
    argv = [str(run), "--data", "digits", "--batching", "on", "--seconds", "1", "--rate", "20"]
    argv += ["--concurrency", "8", "--max-latency-ms", "20", "--out", str(out)]
    assert benchmark_script("serve_load").main(argv) == 0

    with (out / "serve_load.csv").open(encoding="utf-8") as f:
        rows = {r["mode"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"open", "closed"}
    for r in rows.values():
        assert int(r["errors"]) == 0 and int(r["ok"]) == int(r["sent"]) > 0, r
        assert float(r["p50_ms"]) <= float(r["p95_ms"]) <= float(r["p99_ms"]) <= float(r["max_ms"])
        # every answered request went through exactly one model call the server counted
        assert round(int(r["model_calls"]) * float(r["mean_batch"])) == int(r["ok"]), r
    assert int(rows["open"]["sent"]) == 20  # rate x seconds, no more
    assert 10 <= float(rows["open"]["req_s"]) <= 21
    assert float(rows["closed"]["mean_batch"]) > 1, "8 clients and a 20 ms window: batches"
    table = (out / "serve_load.md").read_text("utf-8")
    assert "| on | closed | 8 conc. |" in table and "0 errors" in table


@pytest.mark.parametrize(
    "url", ["http://example.com:8000", "http://10.0.0.1:8000", "ftp://localhost"]
)
def test_url_off_this_machine_is_refused(url, tmp_path, benchmark_script) -> None:
    with pytest.raises(InputError, match="only a server on this machine"):
        benchmark_script("serve_load").main(
            ["--url", url, "--data", "digits", "--out", str(tmp_path)]
        )
