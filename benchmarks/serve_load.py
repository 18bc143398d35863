"""How much `dllab serve` answers, and how fast, with micro-batching on against off.

For each setting (batching on: `--max-batch-size` / `--max-latency-ms`; off: batch size 1)
this script starts `dllab serve RUN` itself on a free 127.0.0.1 port, waits for `/ready`,
warms it up, then loads it with a bounded asyncio client (httpx `AsyncClient`) in two ways:

- open loop: one request every 1/`--rate` s for `--seconds`, whatever the server's pace.
  Latency is counted from the moment a request was due, not from when the client got round to
  sending it, so a server that falls behind shows it (no "coordinated omission");
- closed loop: `--concurrency` clients, each sending its next request as soon as the last one
  is answered, for `--seconds`: the most the server answers per second.

Every request is bounded (`--timeout`), every phase is bounded in time and count
(rate x seconds requests at most, and no more than `--max-in-flight` waiting at once; a request
that would exceed it is counted as an error, not queued). Bodies are real test images sent as
base64 PNG: Fashion-MNIST's test set (`--data fashion-mnist`) or scikit-learn's digits
(`--data digits`, for a quickstart run). Batch sizes seen are the server's own
`dllab_batch_size` histogram in `/metrics`, read before and after each phase.

`--url` loads a server that is already running instead (its batching is whatever it was
started with); only 127.0.0.1 or localhost is accepted: this is a load generator, never point
it at someone else's machine. Written to --out: serve_load.csv (one row per setting and mode,
with the 1-minute load average) and serve_load.md (the table, and the issue's goals checked).

    python benchmarks/serve_load.py RUN [--rate 100] [--seconds 60] [--concurrency 16]
        [--batching on off] [--max-batch-size 32] [--max-latency-ms 10] [--threads 1]
        [--data fashion-mnist|digits] [--out benchmarks/results] [--url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import csv
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
from _cli import run_main  # benchmarks/_cli.py: user errors as one line
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from dllab.errors import InputError

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
GOAL_RPS = 150.0  # closed loop, req/s, batching on
GOAL_P99_MS = 20.0  # open loop at GOAL_RATE, batching on
GOAL_RATE = 100.0
FIELDS = [
    "batching",
    "mode",
    "target",
    "seconds",
    "sent",
    "ok",
    "errors",
    "req_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "model_calls",
    "mean_batch",
    "batch_sizes",
    "load_1m",
    "note",
]


# ---------------------------------------------------------------- request bodies
def test_images(name: str, count: int = 256) -> list[np.ndarray]:
    """`count` real test images as uint8 (H, W): Fashion-MNIST's test set or sklearn's digits."""
    if name == "digits":
        from sklearn.datasets import load_digits

        images = (load_digits().images[-count:] * 255 / 16).round().astype(np.uint8)
        return list(images)
    from dllab.data.idx import read_idx
    from dllab.data.search import find_file, locate

    folder = locate("fashion-mnist")  # DataError, one line with the fix, when it is missing
    return list(read_idx(find_file(folder, "t10k-images-idx3-ubyte"), ndim=3)[:count])


def bodies(images: list[np.ndarray]) -> list[bytes]:
    """The JSON bodies of /predict, one per image, encoded once (the client's cost stays low)."""
    out = []
    for pixels in images:
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG")
        b64 = base64.b64encode(buf.getvalue()).decode()
        out.append(f'{{"image": "{b64}", "top_k": 1}}'.encode())
    return out


# ---------------------------------------------------------------- the server
def local_url(url: str) -> str:
    """`url` without a trailing slash; InputError unless it is http on this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOCAL_HOSTS:
        raise InputError(
            f"--url {url!r}: only a server on this machine is loaded "
            f"(http://127.0.0.1:PORT or http://localhost:PORT)"
        )
    return url.rstrip("/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def started_server(run: Path, batch: int, latency_ms: float, threads: int, log: Path):
    """`dllab serve RUN` on a free 127.0.0.1 port; yields its URL once /ready is 200."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "dllab", "serve", str(run), "--port", str(port)]
    argv += ["--max-batch-size", str(batch), "--max-latency-ms", str(latency_ms)]
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/ready", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            tail = " ".join(log.read_text(errors="replace").split())[-300:]
            raise InputError(f"dllab serve {run} did not become ready: {tail}")
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def batch_histogram(url: str) -> tuple[dict[float, float], float, float]:
    """(cumulative count per `le` bound, sum, count) of `dllab_batch_size`, all variants."""
    text = httpx.get(url + "/metrics", timeout=10).text
    buckets: Counter[float] = Counter()
    total = count = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != "dllab_batch_size":
            continue
        for s in family.samples:
            if s.name.endswith("_bucket"):
                buckets[float(s.labels["le"])] += s.value
            elif s.name.endswith("_sum"):
                total += s.value
            elif s.name.endswith("_count"):
                count += s.value
    return dict(buckets), total, count


def batch_summary(before: tuple, after: tuple) -> tuple[int, float, str]:
    """(model calls, mean inputs per call, "<=1:n <=2:n …") between two histogram reads."""
    (b0, s0, c0), (b1, s1, c1) = before, after
    calls = int(c1 - c0)
    mean = (s1 - s0) / calls if calls else 0.0
    parts, below = [], 0.0
    for le in sorted(b1):
        n = b1[le] - b0.get(le, 0.0) - below  # calls in (previous bound, le]
        below += n
        if n:
            parts.append(f"<={le:g}:{int(n)}")
    return calls, mean, " ".join(parts)


# ---------------------------------------------------------------- the client
@dataclass
class Phase:
    """What one load phase saw; latencies in seconds."""

    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def record(self, start: float, outcome: str) -> None:
        if outcome == "ok":
            self.latencies.append(time.perf_counter() - start)
        else:
            self.errors[outcome] += 1


async def post(client: httpx.AsyncClient, body: bytes, start: float, phase: Phase) -> None:
    """One /predict; its latency from `start` (when it was due), or the kind of error."""
    phase.sent += 1
    try:
        r = await client.post("/predict", content=body)
        phase.record(start, "ok" if r.status_code == 200 else f"http {r.status_code}")
    except httpx.HTTPError as exc:
        phase.record(start, type(exc).__name__)


def client_for(url: str, args: argparse.Namespace) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=args.max_in_flight, max_keepalive_connections=64)
    headers = {"content-type": "application/json"}
    return httpx.AsyncClient(base_url=url, timeout=args.timeout, limits=limits, headers=headers)


async def open_loop(url: str, payloads: list[bytes], args: argparse.Namespace) -> Phase:
    """One request every 1/rate s for `seconds`; at most `max_in_flight` outstanding."""
    phase, pending = Phase(), set()
    total = int(args.rate * args.seconds)
    async with client_for(url, args) as client:
        t0 = time.perf_counter()
        for i in range(total):
            due = t0 + i / args.rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if len(pending) >= args.max_in_flight:
                phase.sent += 1
                phase.errors["client: too many in flight"] += 1
                continue
            task = asyncio.create_task(post(client, payloads[i % len(payloads)], due, phase))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        phase.seconds = time.perf_counter() - t0
    return phase


async def closed_loop(url: str, payloads: list[bytes], args: argparse.Namespace) -> Phase:
    """`concurrency` clients back to back for `seconds`: the most the server answers."""
    phase = Phase()
    async with client_for(url, args) as client:
        t0 = time.perf_counter()
        stop = t0 + args.seconds

        async def worker(k: int) -> None:
            i = k
            while time.perf_counter() < stop:
                await post(client, payloads[i % len(payloads)], time.perf_counter(), phase)
                i += args.concurrency

        await asyncio.gather(*(worker(k) for k in range(args.concurrency)))
        phase.seconds = time.perf_counter() - t0
    return phase


def warm_up(url: str, payloads: list[bytes], n: int = 20) -> None:
    """A few requests first, so the first model call's set-up is not in the numbers."""
    with httpx.Client(base_url=url, timeout=30) as client:
        for body in payloads[:n]:
            client.post("/predict", content=body, headers={"content-type": "application/json"})


# ---------------------------------------------------------------- one row
def percentile_ms(latencies: list[float], q: float) -> float:
    return float(np.percentile(latencies, q) * 1e3) if latencies else float("nan")


def measure(url: str, batching: str, mode: str, payloads: list[bytes], args) -> dict:
    """Run one phase against `url` and return its CSV row."""
    before = batch_histogram(url)
    if mode == "open":
        phase, target = asyncio.run(open_loop(url, payloads, args)), f"{args.rate:g} req/s"
    else:
        phase, target = asyncio.run(closed_loop(url, payloads, args)), f"{args.concurrency} conc."
    calls, mean, sizes = batch_summary(before, batch_histogram(url))
    ok = len(phase.latencies)
    lat = phase.latencies
    errors = sum(phase.errors.values())
    return {
        "batching": batching,
        "mode": mode,
        "target": target,
        "seconds": round(phase.seconds, 1),
        "sent": phase.sent,
        "ok": ok,
        "errors": errors,
        "req_s": round(ok / phase.seconds, 1) if phase.seconds else 0.0,
        "p50_ms": round(percentile_ms(lat, 50), 2),
        "p95_ms": round(percentile_ms(lat, 95), 2),
        "p99_ms": round(percentile_ms(lat, 99), 2),
        "max_ms": round(max(lat) * 1e3, 2) if lat else float("nan"),
        "model_calls": calls,
        "mean_batch": round(mean, 2),
        "batch_sizes": sizes,
        "load_1m": round(os.getloadavg()[0], 2),
        "note": "; ".join(f"{k}: {v}" for k, v in phase.errors.most_common()),
    }


# ---------------------------------------------------------------- writing
def goals(rows: list[dict]) -> list[str]:
    """The issue's goals, checked on the batching-on rows that exist."""
    lines = []
    on = {r["mode"]: r for r in rows if r["batching"] != "off"}
    if "closed" in on:
        r = on["closed"]
        verdict = "met" if r["req_s"] >= GOAL_RPS else "not met"
        lines.append(f"- throughput >= {GOAL_RPS:g} req/s: {r['req_s']} req/s, {verdict}")
    if "open" in on and on["open"]["target"] == f"{GOAL_RATE:g} req/s":
        r = on["open"]
        verdict = "met" if r["p99_ms"] < GOAL_P99_MS else "not met"
        lines.append(
            f"- p99 < {GOAL_P99_MS:g} ms at {GOAL_RATE:g} req/s: {r['p99_ms']} ms, {verdict}"
        )
    errors = sum(r["errors"] for r in rows)
    lines.append(f"- 0 errors: {errors} errors in all phases, {'met' if not errors else 'not met'}")
    return lines


def write(rows: list[dict], out: Path, args: argparse.Namespace, target: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "serve_load.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    cols = ["batching", "mode", "target", "seconds", "ok", "errors", "req_s", "p50_ms"]
    cols += ["p95_ms", "p99_ms", "mean_batch", "batch_sizes", "load_1m"]
    lines = [
        "# dllab serve under load",
        "",
        f"Server: {target}. Bodies: {args.data} test images as base64 PNG. "
        f"Each phase {args.seconds:g} s; request timeout {args.timeout:g} s; "
        f"server torch threads {args.threads}; this machine has {os.cpu_count()} CPUs, "
        "shared with the client.",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    lines += ["", "Goals (batching on, Fashion-MNIST CNN, 2 cores, 60 s):", *goals(rows)]
    if args.seconds < 60:
        lines.append(f"- (phases of {args.seconds:g} s here, shorter than the goal's 60 s)")
    lines.append("")
    lines.append(
        "The load average is the machine's 1-minute load when the phase ended: above the "
        "number of CPUs, other work shared them and the numbers understate the server."
    )
    (out / "serve_load.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- main
def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", nargs="?", type=Path, help="a run folder to serve (not with --url)")
    p.add_argument("--url", help="load this running server instead (127.0.0.1/localhost only)")
    p.add_argument("--rate", type=float, default=GOAL_RATE, help="open loop: requests/s")
    p.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    p.add_argument("--concurrency", type=int, default=16, help="closed loop: clients")
    p.add_argument("--modes", nargs="+", choices=["open", "closed"], default=["open", "closed"])
    p.add_argument("--batching", nargs="+", choices=["on", "off"], default=["on", "off"])
    p.add_argument("--max-batch-size", type=int, default=32, help="batching on: largest batch")
    p.add_argument("--max-latency-ms", type=float, default=2.0, help="batching on: wait")
    p.add_argument("--threads", type=int, default=1, help="the server's torch threads")
    p.add_argument("--data", choices=["fashion-mnist", "digits"], default="fashion-mnist")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    p.add_argument("--max-in-flight", type=int, default=256, help="open loop: outstanding cap")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = p.parse_args(argv)
    if (args.run is None) == (args.url is None):
        raise InputError("give a run folder to serve, or --url of a running server (not both)")
    if args.rate <= 0 or args.seconds <= 0 or args.concurrency < 1 or args.max_in_flight < 1:
        raise InputError("--rate and --seconds must be > 0; --concurrency, --max-in-flight >= 1")
    if args.url is not None:
        args.url = local_url(args.url)  # before anything is sent
    if args.run is not None and not (args.run / "config.yaml").is_file():
        raise InputError(f"{args.run} is not a run folder (no config.yaml); train one first")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    payloads = bodies(test_images(args.data))
    rows: list[dict] = []
    if args.url:
        warm_up(args.url, payloads)
        rows = [measure(args.url, "as running", mode, payloads, args) for mode in args.modes]
        target = args.url
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        for batching in args.batching:
            batch = args.max_batch_size if batching == "on" else 1
            log = args.out / f"serve_load-{batching}.log"
            with started_server(args.run, batch, args.max_latency_ms, args.threads, log) as url:
                warm_up(url, payloads)
                for mode in args.modes:
                    row = measure(url, batching, mode, payloads, args)
                    print(" ".join(f"{k}={row[k]}" for k in FIELDS[:-1]), flush=True)
                    rows.append(row)
            log.unlink(missing_ok=True)  # kept only when the server failed
        target = (
            f"`dllab serve {args.run}` (on: --max-batch-size {args.max_batch_size} "
            f"--max-latency-ms {args.max_latency_ms:g}; off: --max-batch-size 1)"
        )
    write(rows, args.out, args, target)
    print((args.out / "serve_load.md").read_text("utf-8"))
    return 0


if __name__ == "__main__":
    run_main(main)
